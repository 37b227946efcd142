//! The TAM session core (draft-ietf-teep-protocol-26 §8.1 "TAM Behavior").
//!
//! [`Tam::handle`] is the TAM's ProcessConnect (empty body) and ProcessTeepMessage (a TEEP
//! message) in one entry point. It keeps no state between calls except in the database, so
//! any TAM process sharing the database can continue any session.
//!
//! Everything the peer sends is checked before anything changes: the COSE signature must
//! verify with the enrolled key named by the kid (RFC 9679 thumbprint), and only then is the
//! token consumed, atomically and once (§8.1: "expire the token value after receiving the
//! first response from the device that has a valid signature"). A message that fails any
//! check is dropped (§8.1: "drops the message if it is not valid"): the answer is empty (HTTP
//! 204), a warning is logged with at most a token prefix, and no state changes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use teep_cose::{Algorithm, PublicKey};
use teep_proto::{
    CipherSuite, DataItemRequested, ErrCode, FreshnessMechanism, Message, QueryRequest,
    QueryResponse, SuitCoseProfile, Token, Update,
};

use crate::component::ComponentKey;
use crate::config::{AttestationConfig, FreshnessName, TamConfig, Wire};
use crate::error::{KeyError, ServeError, StoreError};
use crate::keys::TamKeys;
use crate::metrics::{MessageKind, Rejection};
use crate::policy::{self, CatalogEntry, DeviceView};
use crate::store::{ComponentRow, DeviceRow, ReportRow, Store, TokenPurpose, TokenRecord};
use crate::store::{DeviceCertRow, DeviceProgress, PolicyAction, RolloutSelection, group_target};
use crate::token::{IssuedToken, RandomError, TokenPrefix, TokenSecret, token_hash};

/// One request as the transport hands it to the TAM.
#[derive(Clone, Copy, Debug)]
pub struct Incoming<'a> {
    /// The HTTP body; `None` when empty (a new session).
    pub body: Option<&'a [u8]>,
    /// Numbering of the endpoint the request arrived on.
    pub wire: Wire,
    /// Client address (kept for the transport's logs; no state is kept per address).
    pub peer: Option<IpAddr>,
    /// Current time, Unix seconds.
    pub now: u64,
}

/// What the transport sends back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A COSE-protected TEEP message.
    Message(Vec<u8>),
    /// Nothing left to send (HTTP 204).
    Empty,
}

/// A local failure: the TAM could not produce an answer (HTTP 500). Peer errors never end up
/// here.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The random number generator failed.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// Signing an outgoing message failed.
    #[error("cannot protect outgoing message: {0}")]
    Seal(String),
}

/// What the TAM remembers with an Update's token, to apply it on Success.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
struct UpdateContext {
    /// (hex CBOR component id, sequence number) sent in manifest-list.
    install: Vec<(String, u64)>,
    /// Hex CBOR component ids sent in unneeded-manifest-list.
    delete: Vec<String>,
}

/// An Agent's device row, key, whether it is enrolled, and the certificate it enrols by.
type AgentKey = (DeviceRow, PublicKey, bool, Option<DeviceCertRow>);

/// The TAM: configuration, database and keys.
pub struct Tam {
    config: TamConfig,
    store: Store,
    keys: TamKeys,
    anchors: Vec<PublicKey>,
    verifier_keys: Vec<PublicKey>,
    verifier: Option<teep_verifier::VerifierClient>,
    attester_key: Option<teep_cose::SigningKey>,
    /// Manufacturer CAs: an unknown Agent whose QueryResponse carries an x5chain to one of
    /// them is auto-enrolled (`[agents] manufacturer_cas`, with `auto_enroll`).
    manufacturer_cas: crate::x509::ManufacturerCas,
    /// The QueryRequest token secret, read from (or first stored in) the database once.
    token_secret: std::sync::OnceLock<TokenSecret>,
}

impl core::fmt::Debug for Tam {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tam").field("keys", &self.keys).finish_non_exhaustive()
    }
}

/// SUIT COSE profiles the TAM offers (draft-ietf-suit-mti).
const SUIT_PROFILES: [SuitCoseProfile; 4] = [
    SuitCoseProfile::SHA256_ESP256_ECDH_A128CTR,
    SuitCoseProfile::SHA256_ED25519_ECDH_A128CTR,
    SuitCoseProfile::SHA256_ESP256_ECDH_A128GCM,
    SuitCoseProfile::SHA256_ED25519_ECDH_CHACHA_POLY,
];

impl Tam {
    /// Assembles a TAM from its parts. `anchors` are the Agent keys accepted for automatic
    /// enrolment (see [`crate::config::AgentAdmission`]).
    pub fn new(config: TamConfig, store: Store, keys: TamKeys, anchors: Vec<PublicKey>) -> Self {
        let verifier = config.attestation.verifier_url.as_deref().and_then(|url| {
            let timeout = std::time::Duration::from_secs(config.attestation.verifier_timeout_secs);
            teep_verifier::VerifierClient::new(url, timeout)
                .map_err(|e| tracing::error!(error = %e, "unusable verifier_url"))
                .ok()
        });
        Tam {
            config,
            store,
            keys,
            anchors,
            verifier_keys: Vec::new(),
            verifier,
            attester_key: None,
            manufacturer_cas: crate::x509::ManufacturerCas::default(),
            token_secret: std::sync::OnceLock::new(),
        }
    }

    /// Sets the keys that may sign Attestation Results (`[attestation] verifier_keys`).
    pub fn with_verifier_keys(mut self, keys: Vec<PublicKey>) -> Self {
        self.verifier_keys = keys;
        self
    }

    /// Opens the database, loads (creating if missing) the keys and the Agent trust anchors
    /// (SPKI PEM, JWK or COSE_Key files) named by `config`.
    pub async fn open(config: TamConfig) -> Result<Self, ServeError> {
        config.validate()?;
        std::fs::create_dir_all(&config.state_dir)?;
        let store = Store::connect(&config.database_url(), config.max_db_connections).await?;
        // Serving never creates keys: a new key would be a TAM identity no Agent trusts.
        let keys = TamKeys::load(&config)?;
        let mut anchors = Vec::new();
        for path in &config.agents.trust_anchors {
            let path = config.resolve(path);
            let bytes = std::fs::read(&path)
                .map_err(|e| KeyError::Io { path: path.clone(), reason: e.to_string() })?;
            let key = crate::admin::parse_public_key(&bytes)
                .map_err(|e| KeyError::Invalid { path: path.clone(), reason: e.to_string() })?;
            anchors.push(key);
        }
        let mut verifier_keys = Vec::new();
        for path in &config.attestation.verifier_keys {
            let path = config.resolve(path);
            let bytes = std::fs::read(&path)
                .map_err(|e| KeyError::Io { path: path.clone(), reason: e.to_string() })?;
            let key = crate::admin::parse_public_key(&bytes)
                .map_err(|e| KeyError::Invalid { path: path.clone(), reason: e.to_string() })?;
            verifier_keys.push(key);
        }
        let attester_key = match &config.attestation.tam_attester_key {
            Some(path) => Some(load_or_generate_attester_key(&config.resolve(path))?),
            None => None,
        };
        let manufacturer_cas = crate::x509::ManufacturerCas::load(&config)?;
        let mut tam = Tam::new(config, store, keys, anchors).with_verifier_keys(verifier_keys);
        tam.attester_key = attester_key;
        tam.manufacturer_cas = manufacturer_cas;
        Ok(tam)
    }

    /// The configuration in use.
    pub fn config(&self) -> &TamConfig {
        &self.config
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The TAM's signing keys.
    pub fn keys(&self) -> &TamKeys {
        &self.keys
    }

    /// Handles one request: ProcessConnect for an empty body, ProcessTeepMessage otherwise.
    pub async fn handle(&self, incoming: Incoming<'_>) -> Result<Reply, SessionError> {
        match incoming.body {
            None => self.connect(&incoming).await,
            Some(body) => self.process(body, &incoming).await,
        }
    }

    /// §8.1: "When the ProcessConnect API is invoked, the TAM sends a QueryRequest message",
    /// signed with COSE_Sign, one signature per algorithm of the offered suites (§9.1).
    async fn connect(&self, incoming: &Incoming<'_>) -> Result<Reply, SessionError> {
        self.query_request_reply(incoming, None).await
    }

    /// A QueryRequest; with `challenge`, it carries the TAM's own attestation EAT bound to
    /// it (§8.1.2, answering ERR_ATTESTATION_REQUIRED).
    async fn query_request_reply(
        &self,
        incoming: &Incoming<'_>,
        challenge: Option<&[u8]>,
    ) -> Result<Reply, SessionError> {
        // The token is stateless (crate::token): issuing it stores nothing, so no
        // unauthenticated client can crowd out another's session.
        let expires_at = incoming.now.saturating_add(self.config.token_timeout_secs);
        let token =
            self.token_secret(incoming.now).await?.issue(self.config.token_len, expires_at)?;
        let mut request =
            query_request(Some(proto_token(&token)?), incoming.wire, &self.config.attestation);
        if let (Some(challenge), Some(attester)) = (challenge, &self.attester_key) {
            request.attestation_payload =
                Some(self.tam_evidence(attester, challenge, incoming.now)?);
            request.attestation_payload_format = Some(teep_eat::EAT_CWT_MEDIA_TYPE.to_owned());
        }
        let signers: Vec<_> = allowed(incoming.wire)
            .into_iter()
            .filter_map(|alg| self.keys.for_algorithm(alg).map(|key| (key, alg)))
            .collect();
        let bytes = teep_proto::seal_sign(
            &Message::QueryRequest(request),
            incoming.wire.numbering(),
            &signers,
        )
        .map_err(|e| SessionError::Seal(e.to_string()))?;
        tracing::debug!(token = %TokenPrefix(token.as_bytes()), wire = incoming.wire.as_str(),
            "sending QueryRequest");
        Ok(Reply::Message(bytes))
    }

    async fn process(&self, body: &[u8], incoming: &Incoming<'_>) -> Result<Reply, SessionError> {
        let numbering = incoming.wire.numbering();

        // Who claims to speak: the kid of the COSE_Sign1 is the Agent key's thumbprint.
        // An unknown Agent may present its certificate chain (x5chain, RFC 9360).
        let (kid, x5chain) = match teep_cose::Sign1::decode(body) {
            Ok(sign1) => (
                sign1.kid().map(<[u8]>::to_vec),
                sign1.protected.x5chain.clone().or_else(|| sign1.unprotected.x5chain.clone()),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "dropping message that is not a COSE_Sign1");
                crate::metrics::note_rejection(Rejection::Malformed);
                return Ok(Reply::Empty);
            }
        };
        let Some(kid) = kid else {
            tracing::warn!("dropping message without kid");
            crate::metrics::note_rejection(Rejection::Malformed);
            return Ok(Reply::Empty);
        };
        let Some((device, key, enrolled, certificate)) =
            self.agent(&kid, x5chain.as_deref(), incoming.now).await?
        else {
            tracing::warn!(kid = %short(&kid), "dropping message from unknown Agent key");
            crate::metrics::note_rejection(Rejection::UnknownDevice);
            return Ok(Reply::Empty);
        };
        if device.blocked {
            tracing::warn!(device = %short(&kid), "dropping message from blocked device");
            crate::metrics::note_rejection(Rejection::Blocked);
            return Ok(Reply::Empty);
        }

        // Verify before anything else looks at the content.
        let opened = match teep_proto::open(
            body,
            numbering,
            std::slice::from_ref(&key),
            &allowed(incoming.wire),
        ) {
            Ok(opened) => opened,
            Err(e) => {
                tracing::warn!(device = %short(&kid), error = %e,
                        "dropping message that does not verify or decode");
                crate::metrics::note_rejection(Rejection::BadSignature);
                return Ok(Reply::Empty);
            }
        };
        if !enrolled {
            // Auto-enrolment happens only once the signature verified.
            self.store.enroll_device(&device).await?;
            if let Some(certificate) = &certificate {
                self.store.set_device_certificate(certificate).await?;
            }
            tracing::info!(device = %short(&kid), "auto-enrolled Agent from trust anchor");
        }
        crate::metrics::note_kind(match &opened.message {
            Message::QueryResponse(_) => MessageKind::QueryResponse,
            Message::Success(_) => MessageKind::Success,
            Message::Error(_) => MessageKind::Error,
            _ => MessageKind::Other,
        });
        let alg = opened.algorithm;
        let token = match (opened.message.token(), &opened.message) {
            (Some(t), _) => t.as_bytes().to_vec(),
            // With the attestation bit the QueryRequest carries a challenge instead of a
            // token (§5.1); the Evidence's eat_nonce names it. Empty: timestamp freshness.
            (None, Message::QueryResponse(r)) if self.config.attestation.enabled => {
                self.challenge_of(r)
            }
            (None, Message::Error(_)) if self.config.attestation.enabled => Vec::new(),
            (None, _) => {
                tracing::warn!(device = %short(&kid), "dropping message without token");
                crate::metrics::note_rejection(Rejection::Malformed);
                return Ok(Reply::Empty);
            }
        };
        let session =
            Session { tam: self, device: &device, incoming, token: &token, alg, key: &key };
        let reply = match opened.message {
            Message::QueryResponse(response) => session.query_response(response).await?,
            Message::Success(success) => session.success(&success).await?,
            Message::Error(error) => session.error(&error).await?,
            other => {
                tracing::warn!(device = %short(&kid), kind = ?other.kind(),
                    "dropping message a TAM does not accept");
                crate::metrics::note_rejection(Rejection::Malformed);
                Reply::Empty
            }
        };
        Ok(reply)
    }

    /// The TAM's attestation EAT: eat_nonce = the Agent's challenge, cnf = the thumbprint of
    /// the TAM's P-256 signing key, iat = now.
    fn tam_evidence(
        &self,
        attester: &teep_cose::SigningKey,
        challenge: &[u8],
        now: u64,
    ) -> Result<Vec<u8>, SessionError> {
        let tam_key = self
            .keys
            .for_algorithm(Algorithm::ESP256)
            .ok_or_else(|| SessionError::Seal("no P-256 TAM key to bind attestation to".into()))?;
        let claims = teep_eat::ClaimSet {
            eat_profile: Some(teep_eat::TEEP_EAT_PROFILE.to_owned()),
            iat: Some(now),
            eat_nonce: Some(challenge.to_vec()),
            cnf_kid: Some(tam_key.public_key().thumbprint().to_vec()),
            ..teep_eat::ClaimSet::default()
        };
        teep_eat::sign(&claims, attester, attester.default_algorithm()).map_err(seal_error)
    }

    /// The challenge a token-less QueryResponse answers: the eat_nonce of its Evidence
    /// (decrypted first when it is an encrypted EAT). Read without verification only to find
    /// the challenge record; the Verifier and [`Session::attest`] check it.
    fn challenge_of(&self, response: &QueryResponse) -> Vec<u8> {
        let Some(payload) = response.attestation_payload.as_deref() else {
            return Vec::new();
        };
        let evidence = match self.evidence_bytes(payload) {
            Ok(e) => e,
            Err(_) => return Vec::new(),
        };
        teep_eat::peek(&evidence).ok().and_then(|c| c.eat_nonce).unwrap_or_default()
    }

    /// The signed EAT inside an attestation payload: decrypted with the TAM's P-256 key when
    /// it is a COSE_Encrypt (draft-ietf-teep-protocol-26 §9.2).
    fn evidence_bytes(&self, payload: &[u8]) -> Result<Vec<u8>, String> {
        if !teep_eat::is_encrypted(payload) {
            return Ok(payload.to_vec());
        }
        let key = self
            .keys
            .for_algorithm(Algorithm::ESP256)
            .ok_or_else(|| "encrypted EAT but the TAM has no P-256 key".to_owned())?;
        teep_eat::decrypt(payload, key).map_err(|e| format!("undecryptable encrypted EAT: {e}"))
    }

    /// Finds the Agent key for `kid`: an enrolled device, or (with auto-enrolment) a trust
    /// anchor or a key certified by `x5chain` to a manufacturer CA ([`crate::x509`]).
    /// Returns the device row, its key, whether it is already enrolled, and the verified
    /// certificate to keep when it enrols by one.
    async fn agent(
        &self,
        kid: &[u8],
        x5chain: Option<&[Vec<u8>]>,
        now: u64,
    ) -> Result<Option<AgentKey>, StoreError> {
        if let Some(row) = self.store.device(kid).await? {
            let key = PublicKey::from_cose_key(&row.cose_key).ok();
            return Ok(key.map(|key| (row, key, true, None)));
        }
        if !self.config.agents.auto_enroll {
            return Ok(None);
        }
        let (key, certificate) =
            match self.anchors.iter().find(|k| k.thumbprint().as_slice() == kid) {
                Some(key) => (key.clone(), None),
                None => {
                    let Some(chain) = x5chain.filter(|_| !self.manufacturer_cas.is_empty()) else {
                        return Ok(None);
                    };
                    match self.manufacturer_cas.verify_der(chain, now) {
                        Ok(v) if v.key.thumbprint().as_slice() == kid => {
                            let row = DeviceCertRow {
                                thumbprint: kid.to_vec(),
                                subject: v.subject,
                                issuer: v.issuer,
                                not_after: v.not_after,
                                certificate: v.certificate,
                            };
                            (v.key, Some(row))
                        }
                        Ok(_) => {
                            tracing::warn!(kid = %short(kid),
                                "refusing x5chain: its key is not the one the kid names");
                            return Ok(None);
                        }
                        Err(reason) => {
                            tracing::warn!(kid = %short(kid), %reason, "refusing x5chain");
                            return Ok(None);
                        }
                    }
                }
            };
        // The enrolment allow and block lists (crate::fleet) apply to automatic enrolment.
        let entries = self.store.admission_list().await?;
        let subject = certificate.as_ref().map(|c| c.subject.as_str());
        let issuer = certificate.as_ref().map(|c| c.issuer.as_str());
        if let Err(reason) =
            crate::fleet::admission_verdict(&entries, &hex::encode(kid), subject, issuer)
        {
            tracing::warn!(kid = %short(kid), %reason, "refusing automatic enrolment");
            return Ok(None);
        }
        let row = DeviceRow {
            thumbprint: kid.to_vec(),
            cose_key: key.to_cose_key(),
            label: Some("auto-enrolled".into()),
            wire: Wire::Rfc.as_str().into(),
            blocked: false,
            enrolled_at: now,
            last_seen: None,
            last_error_code: None,
            last_error_msg: None,
            last_error_at: None,
        };
        Ok(Some((row, key, false, certificate)))
    }

    /// The secret behind stateless QueryRequest tokens, shared through the database by
    /// every TAM process.
    async fn token_secret(&self, now: u64) -> Result<&TokenSecret, SessionError> {
        if let Some(secret) = self.token_secret.get() {
            return Ok(secret);
        }
        let candidate = TokenSecret::generate()?;
        let stored = self.store.token_secret(candidate.as_bytes(), now).await?;
        let secret = TokenSecret::from_bytes(&stored).ok_or(StoreError::Corrupt("tam_secrets"))?;
        Ok(self.token_secret.get_or_init(|| secret))
    }

    /// Whether a QueryRequest token issued by this TAM (or a replica) would still be accepted
    /// at `now`: its MAC verifies, it has not expired and it was not answered yet. For
    /// diagnostics and tests.
    pub async fn query_token_is_open(&self, token: &[u8], now: u64) -> Result<bool, SessionError> {
        let secret = self.token_secret(now).await?;
        if secret.verify(token, now).is_err() {
            return Ok(self.store.token_is_open(&token_hash(token), now).await?);
        }
        Ok(!self.store.token_used(&token_hash(token)).await?)
    }

    async fn issue(
        &self,
        holder: String,
        purpose: TokenPurpose,
        context: Option<String>,
        now: u64,
    ) -> Result<IssuedToken, SessionError> {
        let token = IssuedToken::generate(self.config.token_len)?;
        let record = TokenRecord {
            hash: token.hash(),
            holder,
            purpose,
            created_at: now,
            expires_at: now.saturating_add(self.config.token_timeout_secs),
            context,
        };
        self.store.issue_token(&record, self.config.max_tokens_per_device).await?;
        Ok(token)
    }
}

/// One verified message from one device.
struct Session<'s> {
    tam: &'s Tam,
    device: &'s DeviceRow,
    incoming: &'s Incoming<'s>,
    token: &'s [u8],
    alg: Algorithm,
    /// The Agent key that signed the message (cnf of an Attestation Result must name it).
    key: &'s PublicKey,
}

impl Session<'_> {
    fn device_hex(&self) -> String {
        hex::encode(&self.device.thumbprint)
    }

    /// Consumes the token for `purpose`: `None` when it is unknown, expired or already used.
    /// A QueryRequest token is stateless: its MAC and expiry are checked, then its single use
    /// is decided by the INSERT into the used tokens (§8.1 "expire the token value after
    /// receiving the first response ... that has a valid signature").
    async fn consume(&self, purpose: TokenPurpose) -> Result<Option<Option<String>>, SessionError> {
        let hash = token_hash(self.token);
        let now = self.incoming.now;
        if purpose == TokenPurpose::Query {
            let secret = self.tam.token_secret(now).await?;
            return Ok(match secret.verify(self.token, now) {
                Ok(expires_at) => {
                    self.tam.store.mark_token_used(&hash, expires_at).await?.then_some(None)
                }
                // A stored QueryRequest token from a TAM version before stateless tokens.
                Err(_) => self.tam.store.consume_token(&hash, purpose, None, now).await?,
            });
        }
        let holder = self.device_hex();
        Ok(self.tam.store.consume_token(&hash, purpose, Some(&holder), now).await?)
    }

    async fn seen(&self) -> Result<(), StoreError> {
        let store = &self.tam.store;
        store
            .touch_device(&self.device.thumbprint, self.incoming.wire.as_str(), self.incoming.now)
            .await
    }

    async fn event(&self, kind: &str, detail: &str) -> Result<(), StoreError> {
        self.tam
            .store
            .log_event(Some(&self.device.thumbprint), kind, detail, self.incoming.now)
            .await
    }

    /// The catalog's name for a reported component id: the manifest that installs it, else
    /// the id itself. `None` for ids too large to keep.
    async fn canonical(&self, segments: &[Vec<u8>]) -> Result<Option<ComponentKey>, StoreError> {
        let Ok(key) = ComponentKey::from_parts(segments) else {
            return Ok(None);
        };
        Ok(match self.tam.store.resolve_alias(key.as_cbor()).await? {
            Some(manifest_id) => ComponentKey::from_cbor(&manifest_id).ok().or(Some(key)),
            None => Some(key),
        })
    }

    /// §8.1.1 Handling a QueryResponse Message.
    async fn query_response(&self, response: QueryResponse) -> Result<Reply, SessionError> {
        let prefix = TokenPrefix(self.token);
        let attestation = &self.tam.config.attestation;
        let timestamp_only = self.token.is_empty()
            && attestation.enabled
            && attestation.freshness.contains(&FreshnessName::Timestamp);
        if !timestamp_only && self.consume(TokenPurpose::Query).await?.is_none() {
            if self.token.is_empty() && attestation.enabled {
                // Nothing names a challenge: the Evidence is missing, undecryptable or has
                // no eat_nonce. Record why (the signature is the device's) and drop it.
                let _ = self.attest(&response).await?;
                crate::metrics::note_rejection(Rejection::BadEvidence);
                return Ok(Reply::Empty);
            }
            tracing::warn!(device = %short(&self.device.thumbprint), token = %prefix,
                "dropping QueryResponse with unknown, expired or replayed token or challenge");
            crate::metrics::note_rejection(Rejection::Replay);
            return Ok(Reply::Empty);
        }
        tracing::debug!(device = %short(&self.device.thumbprint), token = %prefix,
            "QueryResponse verified");
        self.seen().await?;

        // §4.3: the Evidence goes to the Verifier; a device that does not attest gets only
        // remediation components (catalog components so marked), else an Update saying so.
        let untrusted =
            if attestation.enabled { self.attest(&response).await?.err() } else { None };

        // §8.1.1: the parameters the QueryRequest asked for must be present and SUIT Report
        // nonces must match the token; otherwise drop it and say why in an Update.
        let asked =
            query_request(Token::from_slice(self.token).ok(), self.incoming.wire, attestation);
        if let Err(e) = response.check_answers(&asked) {
            tracing::warn!(device = %short(&self.device.thumbprint), error = %e,
                "QueryResponse lacks what the QueryRequest asked for");
            return self
                .error_update(ErrCode::PERMANENT_ERROR, "QueryResponse lacks tc-list")
                .await;
        }
        let Some(reports) =
            self.check_reports(response.suit_reports.as_deref(), "query-response").await?
        else {
            return self.error_update(ErrCode::PERMANENT_ERROR, "SUIT Report nonce mismatch").await;
        };
        self.store_reports(&reports).await?;

        // Installed state from tc-list; sequence numbers stay as the TAM recorded them.
        let now = self.incoming.now;
        let mut view = DeviceView::default();
        let known: BTreeMap<Vec<u8>, ComponentRow> = self
            .tam
            .store
            .components(&self.device.thumbprint)
            .await?
            .into_iter()
            .map(|c| (c.component_id.clone(), c))
            .collect();
        let mut rows = Vec::new();
        for claims in response.tc_list.iter().flatten() {
            let Some(key) = self.canonical(claims.component_id.segments()).await? else {
                continue;
            };
            let seq = known.get(key.as_cbor()).and_then(|c| c.sequence_number);
            let digest =
                claims.parameter(teep_proto::SUIT_PARAMETER_IMAGE_DIGEST).map(<[u8]>::to_vec);
            rows.push(ComponentRow {
                component_id: key.as_cbor().to_vec(),
                sequence_number: seq,
                digest,
                updated_at: now,
            });
            view.installed.insert(key, seq);
        }
        // Most QueryResponses report what the TAM already recorded: then nothing is written
        // (a transaction of a DELETE and one INSERT per component saved per session), and
        // `updated_at` keeps meaning "when this entry last changed".
        let reported: BTreeMap<&[u8], &ComponentRow> =
            rows.iter().map(|r| (r.component_id.as_slice(), r)).collect();
        let unchanged = reported.len() == known.len()
            && reported.iter().all(|(id, r)| {
                known
                    .get(*id)
                    .is_some_and(|k| k.sequence_number == r.sequence_number && k.digest == r.digest)
            });
        if !unchanged {
            self.tam.store.replace_components(&self.device.thumbprint, &rows).await?;
        }
        for info in response.requested_tc_list.iter().flatten() {
            if let Some(key) = self.canonical(info.component_id.segments()).await? {
                view.requested.insert(key, info.tc_manifest_sequence_number);
            }
        }
        for id in response.unneeded_manifest_list.iter().flatten() {
            if let Some(key) = self.canonical(id.segments()).await? {
                view.unneeded.insert(key);
            }
        }
        self.event(
            "query-response",
            &format!(
                "installed {}, requested {}, unneeded {}",
                view.installed.len(),
                view.requested.len(),
                view.unneeded.len()
            ),
        )
        .await?;

        // Policy, rollouts and catalog decide the Update (crate::policy).
        let rules = self.tam.store.effective_policy(&self.device_hex()).await?;
        let mut rules: Vec<_> = rules
            .into_iter()
            .filter_map(|r| ComponentKey::from_cbor(&r.component_id).ok().map(|k| (k, r)))
            .collect();
        let (rollouts, progress) = self.rollout_views().await?;
        self.record_rollouts_installed(&rollouts, &progress, &view).await?;
        policy::apply_rollouts(&mut rules, &rollouts);
        if !view.requested.is_empty()
            && !self.tam.store.request_allowed(&self.device.thumbprint).await?
        {
            let names: Vec<String> = view.requested.keys().map(ToString::to_string).collect();
            let detail = format!("requests not honoured by policy: {}", names.join(", "));
            self.event("request-refused", &detail).await?;
            view.requested.clear();
        }
        if untrusted.is_some() {
            // Only remediation: no deletions, and only remediation components installed.
            let remediation: BTreeSet<Vec<u8>> =
                self.tam.store.remediation_components().await?.into_iter().collect();
            rules.retain(|(k, r)| {
                r.action == PolicyAction::Require && remediation.contains(k.as_cbor())
            });
            view.requested.retain(|k, _| remediation.contains(k.as_cbor()));
            view.unneeded.clear();
        }
        let mut wanted: BTreeSet<ComponentKey> = rules.iter().map(|(k, _)| k.clone()).collect();
        wanted.extend(view.requested.keys().cloned());
        let mut catalog = BTreeMap::new();
        for key in wanted {
            // The newest version that is neither retired nor held back by a rollout.
            let versions = self.tam.store.offerable_versions(key.as_cbor()).await?;
            let Some(seq) = policy::choose_version(&key, &versions, &rollouts) else { continue };
            if let Some(tc) = self.tam.store.tc_version(key.as_cbor(), seq).await? {
                let entry =
                    CatalogEntry { sequence_number: tc.sequence_number, envelope: tc.envelope };
                catalog.insert(key, entry);
            }
        }
        let plan = policy::plan(&rules, &view, &catalog);
        for key in &plan.unsatisfiable {
            tracing::warn!(component = %key, "policy requires a component the catalog lacks");
        }
        self.note_unserved_requests(&view, &rules, &catalog, &plan).await?;
        if let Some(reason) = untrusted {
            if plan.install.is_empty() {
                return self.error_update(ErrCode::ATTESTATION_REQUIRED, &reason).await;
            }
            let names: Vec<String> = plan.install.iter().map(|(k, _)| k.to_string()).collect();
            self.event("remediation", &format!("untrusted device gets only {}", names.join(", ")))
                .await?;
        }
        if plan.is_empty() {
            tracing::debug!(device = %short(&self.device.thumbprint), "nothing to update");
            return Ok(Reply::Empty);
        }
        // The device starts every rollout whose version (or a later one) the Update carries.
        for r in rollouts.iter().filter(|r| r.permits()) {
            let carried = plan
                .install
                .iter()
                .any(|(k, e)| k == &r.component && e.sequence_number >= r.sequence_number);
            if carried {
                self.tam.store.mark_rollout_offered(&r.id, &self.device.thumbprint, now).await?;
            }
        }
        self.update(plan).await
    }

    /// The rollouts as they concern this device, and its progress row in each.
    async fn rollout_views(
        &self,
    ) -> Result<(Vec<policy::RolloutView>, BTreeMap<String, DeviceProgress>), StoreError> {
        let store = &self.tam.store;
        let all = store.open_rollouts().await?;
        if all.is_empty() {
            return Ok((Vec::new(), BTreeMap::new()));
        }
        let device = &self.device.thumbprint;
        let groups: BTreeSet<String> =
            store.groups_of(device).await?.iter().map(|g| group_target(g)).collect();
        let listed: BTreeSet<String> = store.rollouts_listing(device).await?.into_iter().collect();
        let progress: BTreeMap<String, DeviceProgress> = store
            .device_rollouts(device)
            .await?
            .into_iter()
            .map(|r| (r.rollout, r.state))
            .collect();
        let views = all
            .into_iter()
            .filter_map(|r| {
                let component = ComponentKey::from_cbor(&r.component_id).ok()?;
                let in_target = r.target == "*" || groups.contains(&r.target);
                let chosen = match r.selection {
                    RolloutSelection::Percent { basis_points } => {
                        policy::selected(&r.id, device, basis_points)
                    }
                    RolloutSelection::Devices => listed.contains(&r.id),
                };
                Some(policy::RolloutView {
                    started: progress.contains_key(&r.id),
                    covers: in_target && chosen,
                    id: r.id,
                    component,
                    sequence_number: r.sequence_number,
                    state: r.state,
                })
            })
            .collect();
        Ok((views, progress))
    }

    /// Records in the device's history (and logs at info) every component the Agent asked for
    /// (requested-tc-list, draft-ietf-teep-protocol-26 §4.4) that this Update will not
    /// install and the device does not have, with the reason, so an operator can answer "why
    /// was my RequestTA ignored?".
    async fn note_unserved_requests(
        &self,
        view: &DeviceView,
        rules: &[(ComponentKey, crate::store::PolicyRow)],
        catalog: &BTreeMap<ComponentKey, CatalogEntry>,
        plan: &policy::Plan,
    ) -> Result<(), StoreError> {
        for (key, minimum) in &view.requested {
            if view.installed.contains_key(key) || plan.install.iter().any(|(k, _)| k == key) {
                continue;
            }
            let deleted = rules.iter().any(|(k, r)| k == key && r.action == PolicyAction::Delete);
            let reason = match (catalog.get(key), minimum) {
                _ if deleted => "refused by policy (a delete rule names it)".to_owned(),
                (None, _) => "not in the catalog (no offerable version)".to_owned(),
                (Some(entry), Some(min)) => format!(
                    "the catalog's newest version is sequence {}, below the requested {min}",
                    entry.sequence_number
                ),
                (Some(_), None) => "not offered by policy".to_owned(),
            };
            tracing::info!(device = %short(&self.device.thumbprint), component = %key,
                %reason, "requested component not installed");
            self.event("request-unserved", &format!("requested {key}: {reason}")).await?;
        }
        Ok(())
    }

    /// Records as installed every rollout covering this device whose version (or a later
    /// one) the TAM knows to be on it.
    async fn record_rollouts_installed(
        &self,
        rollouts: &[policy::RolloutView],
        progress: &BTreeMap<String, DeviceProgress>,
        view: &DeviceView,
    ) -> Result<(), StoreError> {
        for r in rollouts.iter().filter(|r| r.covers) {
            let has = view.installed.get(&r.component).copied().flatten();
            if has.is_some_and(|seq| seq >= r.sequence_number)
                && progress.get(&r.id) != Some(&DeviceProgress::Installed)
            {
                let store = &self.tam.store;
                store
                    .mark_rollout_installed(&r.id, &self.device.thumbprint, self.incoming.now)
                    .await?;
            }
        }
        Ok(())
    }

    /// Attestation of the device (draft-ietf-teep-protocol-26 §4.3): the attestation payload
    /// is Evidence, appraised through the Verifier (background-check model, RFC 9334 §5.2),
    /// or an Attestation Result the Agent obtained itself (passport model, §5.1). Records the
    /// outcome; `Ok(Err(reason))` when the device is not trusted.
    async fn attest(&self, response: &QueryResponse) -> Result<Result<(), String>, SessionError> {
        let outcome = self.appraise(response).await;
        let (trusted, reason, ueid, model) = match &outcome {
            Ok((r, model)) => (true, "affirming".to_owned(), r.claims.ueid.clone(), *model),
            Err(reason) => (false, reason.clone(), None, "background-check"),
        };
        let row = crate::store::AttestationRow {
            thumbprint: self.device.thumbprint.clone(),
            trusted,
            reason: reason.clone(),
            model: model.into(),
            appraised_at: self.incoming.now,
            ueid,
        };
        self.tam.store.record_attestation(&row).await?;
        crate::metrics::note_attestation(trusted);
        let verdict = if trusted { "trusted" } else { "refused" };
        self.event("attestation", &format!("{verdict}: {reason}")).await?;
        if trusted {
            tracing::info!(device = %short(&self.device.thumbprint), "attestation affirmed");
        } else {
            tracing::warn!(device = %short(&self.device.thumbprint), %reason,
                "attestation failed");
        }
        Ok(outcome.map(|_| ()))
    }

    async fn appraise(
        &self,
        response: &QueryResponse,
    ) -> Result<(teep_eat::AttestationResult, &'static str), String> {
        let config = &self.tam.config.attestation;
        let payload = response.attestation_payload.as_deref().ok_or("no attestation payload")?;
        let evidence = self.tam.evidence_bytes(payload)?;
        let freshness = if self.token.is_empty() {
            if !config.freshness.contains(&FreshnessName::Timestamp) {
                return Err("Evidence without the challenge as eat_nonce".into());
            }
            teep_eat::Freshness::Timestamp {
                now: self.incoming.now,
                window: config.timestamp_window_secs,
            }
        } else {
            teep_eat::Freshness::Nonce(self.token)
        };
        let algorithms = teep_eat::DEFAULT_ALGORITHMS;

        // Passport model: the payload already is a result signed by a trusted Verifier.
        let verifiers = &self.tam.verifier_keys;
        if let Ok(result) = teep_eat::AttestationResult::verify(&evidence, verifiers, algorithms) {
            return self.judge(result, freshness).map(|r| (r, "passport"));
        }

        // Background-check model: the Verifier appraises the Evidence.
        let client = self.tam.verifier.as_ref().ok_or("no usable verifier_url")?;
        // Veraison-style sessions always carry a nonce; with timestamp freshness it is a
        // fresh random one that the Evidence does not contain.
        let nonce = match freshness {
            teep_eat::Freshness::Nonce(n) => n.to_vec(),
            teep_eat::Freshness::Timestamp { .. } => {
                IssuedToken::generate(16).map_err(|e| e.to_string())?.as_bytes().to_vec()
            }
        };
        let appraised = client
            .appraise(&nonce, teep_eat::EAT_CWT_MEDIA_TYPE, &evidence)
            .await
            .map_err(|e| format!("verifier: {e}"))?;
        let result = teep_eat::AttestationResult::verify(&appraised.result, verifiers, algorithms)
            .map_err(|e| format!("attestation result refused: {e}"))?;
        self.judge(result, freshness).map(|r| (r, "background-check"))
    }

    /// The Relying Party's checks on a verified Attestation Result: affirming, TEEP profile,
    /// cnf names the key that signed the QueryResponse, fresh.
    fn judge(
        &self,
        result: teep_eat::AttestationResult,
        freshness: teep_eat::Freshness<'_>,
    ) -> Result<teep_eat::AttestationResult, String> {
        match result.check(self.key, freshness) {
            Ok(()) => Ok(result),
            Err(teep_eat::EatError::NotAffirming) => Err(format!(
                "verifier: {} ({})",
                result.status.as_str(),
                result.reason.as_deref().unwrap_or("no reason given")
            )),
            Err(e) => Err(format!("attestation result refused: {e}")),
        }
    }

    /// Sends the Update for `plan`, COSE_Sign1 in the suite the Agent used (§9.1: "the
    /// selected TEEP cipher suite MUST be used in both directions").
    async fn update(&self, plan: policy::Plan) -> Result<Reply, SessionError> {
        let context = UpdateContext {
            install: plan
                .install
                .iter()
                .map(|(k, e)| (hex::encode(k.as_cbor()), e.sequence_number))
                .collect(),
            delete: plan.delete.iter().map(|k| hex::encode(k.as_cbor())).collect(),
        };
        let context =
            serde_json::to_string(&context).map_err(|e| SessionError::Seal(e.to_string()))?;
        let token = self
            .tam
            .issue(self.device_hex(), TokenPurpose::Update, Some(context), self.incoming.now)
            .await?;
        let unneeded: Vec<_> =
            plan.delete.iter().map(|k| teep_proto::ComponentId::new(k.parts())).collect();
        let manifests: Vec<_> = plan.install.iter().map(|(_, e)| e.envelope.clone()).collect();
        let update = Update {
            token: Some(proto_token(&token)?),
            manifest_list: (!manifests.is_empty()).then_some(manifests),
            unneeded_manifest_list: (!unneeded.is_empty()).then_some(unneeded),
            ..Update::default()
        };
        let reply = self.seal_update(update).await?;
        let detail =
            format!("sent {} manifests, {} deletions", plan.install.len(), plan.delete.len());
        self.event("update", &detail).await?;
        tracing::debug!(device = %short(&self.device.thumbprint),
            token = %TokenPrefix(token.as_bytes()), install = plan.install.len(),
            delete = plan.delete.len(), "sending Update");
        Ok(reply)
    }

    /// An Update carrying only err-code and err-msg (§8.1.1, when a QueryResponse is not
    /// acceptable).
    async fn error_update(&self, code: ErrCode, msg: &str) -> Result<Reply, SessionError> {
        let token = self
            .tam
            .issue(self.device_hex(), TokenPurpose::Update, None, self.incoming.now)
            .await?;
        let update = Update {
            token: Some(proto_token(&token)?),
            err_code: Some(code),
            err_msg: Some(msg.to_owned()),
            ..Update::default()
        };
        self.event("update", &format!("sent err-code {}: {msg}", code.rfc_value())).await?;
        self.seal_update(update).await
    }

    async fn seal_update(&self, update: Update) -> Result<Reply, SessionError> {
        let Some(key) = self.tam.keys.for_algorithm(self.alg) else {
            return Err(SessionError::Seal(format!("no TAM key for algorithm {}", self.alg.0)));
        };
        let numbering = self.incoming.wire.numbering();
        teep_proto::seal_sign1(&Message::Update(update), numbering, key, self.alg)
            .map(Reply::Message)
            .map_err(seal_error)
    }

    /// §8.1.2 Handling a Success Message: record what the Update installed and deleted.
    async fn success(&self, success: &teep_proto::Success) -> Result<Reply, SessionError> {
        let Some(reports) = self.check_reports(success.suit_reports.as_deref(), "success").await?
        else {
            return Ok(Reply::Empty);
        };
        let Some(context) = self.consume(TokenPurpose::Update).await? else {
            tracing::warn!(device = %short(&self.device.thumbprint),
                token = %TokenPrefix(self.token),
                "dropping Success with unknown, expired or replayed token");
            crate::metrics::note_rejection(Rejection::Replay);
            return Ok(Reply::Empty);
        };
        self.seen().await?;
        self.store_reports(&reports).await?;
        let context: UpdateContext =
            context.and_then(|c| serde_json::from_str(&c).ok()).unwrap_or_default();
        let now = self.incoming.now;
        let installed: Vec<_> = context
            .install
            .iter()
            .filter_map(|(id, seq)| {
                Some(ComponentRow {
                    component_id: hex::decode(id).ok()?,
                    sequence_number: Some(*seq),
                    digest: None,
                    updated_at: now,
                })
            })
            .collect();
        let deleted: Vec<_> = context.delete.iter().filter_map(|id| hex::decode(id).ok()).collect();
        self.tam.store.apply_update(&self.device.thumbprint, &installed, &deleted).await?;
        for c in &installed {
            let seq = c.sequence_number.unwrap_or_default();
            self.tam
                .store
                .mark_rollouts_installed_by(&self.device.thumbprint, &c.component_id, seq, now)
                .await?;
        }
        let detail = format!("installed {}, deleted {}", installed.len(), deleted.len());
        self.event("success", &detail).await?;
        tracing::debug!(device = %short(&self.device.thumbprint), "Success recorded");
        Ok(Reply::Empty)
    }

    /// §8.1.2 Handling an Error Message: record err-code and err-msg.
    async fn error(&self, error: &teep_proto::TeepError) -> Result<Reply, SessionError> {
        let Some(reports) = self.check_reports(error.suit_reports.as_deref(), "error").await?
        else {
            return Ok(Reply::Empty);
        };
        let mut update_context = None;
        let answered = match self.consume(TokenPurpose::Update).await? {
            // An Error to a QueryRequest with a challenge carries no token (§5.1).
            _ if self.token.is_empty() => "QueryRequest",
            Some(context) => {
                update_context = context;
                "Update"
            }
            None => match self.consume(TokenPurpose::Query).await? {
                Some(_) => "QueryRequest",
                None => {
                    tracing::warn!(device = %short(&self.device.thumbprint),
                        token = %TokenPrefix(self.token),
                        "dropping Error with unknown, expired or replayed token");
                    crate::metrics::note_rejection(Rejection::Replay);
                    return Ok(Reply::Empty);
                }
            },
        };
        self.seen().await?;
        self.store_reports(&reports).await?;
        let code = error.err_code;
        let name = code.name().unwrap_or("unknown");
        let msg = error.err_msg.as_deref();
        self.tam
            .store
            .record_device_error(&self.device.thumbprint, code.rfc_value(), msg, self.incoming.now)
            .await?;
        let mut detail = format!("{name} ({}) in answer to {answered}", code.rfc_value());
        if code == ErrCode::UNSUPPORTED_CIPHER_SUITES {
            let suites: Vec<String> = error
                .supported_teep_cipher_suites
                .iter()
                .flatten()
                .map(|s| format!("{:?}", s.sign1_algorithm()))
                .collect();
            detail.push_str(&format!("; Agent supports sign1 algorithms {}", suites.join(",")));
        }
        if let Some(msg) = msg {
            detail.push_str(&format!(": {msg}"));
        }
        self.event("error", &detail).await?;
        // Rollouts whose version the failed Update carried count the device as failed.
        let context: Option<UpdateContext> =
            update_context.and_then(|c| serde_json::from_str(&c).ok());
        if let Some(context) = context.filter(|c| !c.install.is_empty()) {
            let mut reason = format!("{name} ({})", code.rfc_value());
            if let Some(msg) = msg {
                reason.push_str(&format!(": {msg}"));
            }
            for r in reports.iter().filter(|r| !r.success) {
                let why = r.reason.as_deref().unwrap_or("failed");
                reason.push_str(&format!("; SUIT report {}: {why}", r.manifest_uri));
            }
            for (id, seq) in &context.install {
                let Ok(component_id) = hex::decode(id) else { continue };
                self.tam
                    .store
                    .mark_rollouts_failed_by(
                        &self.device.thumbprint,
                        &component_id,
                        *seq,
                        &reason,
                        self.incoming.now,
                    )
                    .await?;
            }
        }
        tracing::info!(device = %short(&self.device.thumbprint), err_code = code.rfc_value(),
            err = name, "Agent reported an error");
        // §8.1.2: the Agent requires attestation of the TAM.
        if code == ErrCode::ATTESTATION_REQUIRED
            && let Some(challenge) = error.challenge.as_deref()
        {
            if self.tam.attester_key.is_none() {
                self.event("error", "cannot attest the TAM: no tam_attester_key").await?;
                return Ok(Reply::Empty);
            }
            return self.tam.query_request_reply(self.incoming, Some(challenge)).await;
        }
        Ok(Reply::Empty)
    }

    /// §8.1.2: every SUIT Report must be readable and its nonce must match the token;
    /// otherwise the message is dropped (None). When the device has an enrolled report key
    /// (draft-ietf-suit-report §4), every report must be signed with it; without one,
    /// unprotected reports are accepted (the TEEP signature covers them) and signed ones are
    /// read without checking their signature. Encrypted reports are opened with the TAM's
    /// P-256 key (§5).
    async fn check_reports(
        &self,
        reports: Option<&[Vec<u8>]>,
        message: &str,
    ) -> Result<Option<Vec<ReportRow>>, SessionError> {
        let Some(reports) = reports.filter(|r| !r.is_empty()) else {
            return Ok(Some(Vec::new()));
        };
        let enrolled = match self.tam.store.report_key(&self.device.thumbprint).await? {
            Some(cose) => match teep_cose::PublicKey::from_cose_key(&cose) {
                Ok(key) => Some(key),
                Err(_) => return Err(StoreError::Corrupt("device_report_keys.cose_key").into()),
            },
            None => None,
        };
        let recipient = self.tam.keys.for_algorithm(teep_cose::Algorithm::ESP256);
        let mut rows = Vec::new();
        for bytes in reports {
            let received = match teep_suit::SuitReport::receive(bytes, enrolled.as_ref(), recipient)
            {
                Ok(r) if r.report.nonce.as_deref().is_none_or(|n| n == self.token) => r,
                Ok(_) => {
                    tracing::warn!(device = %short(&self.device.thumbprint),
                        "dropping message whose SUIT Report has a foreign nonce");
                    crate::metrics::note_rejection(Rejection::BadReport);
                    return Ok(None);
                }
                Err(e) => {
                    tracing::warn!(device = %short(&self.device.thumbprint), error = %e,
                        "dropping message whose SUIT Report is malformed or not signed with \
                         the enrolled report key");
                    crate::metrics::note_rejection(Rejection::BadReport);
                    return Ok(None);
                }
            };
            let report = &received.report;
            let reason = match &report.result {
                teep_suit::ReportResult::Success => None,
                teep_suit::ReportResult::Failure { reason, .. } => Some(reason.to_string()),
            };
            rows.push(ReportRow {
                id: 0,
                device: self.device.thumbprint.clone(),
                received_at: self.incoming.now,
                message: message.to_owned(),
                manifest_uri: report.reference.manifest_uri.clone(),
                manifest_digest: report.reference.manifest_digest.encode(),
                success: report.is_success(),
                reason,
                protection: received.protection.as_str().to_owned(),
                verified: received.verified,
                report: report.encode(),
            });
        }
        Ok(Some(rows))
    }

    /// Stores the reports of an accepted message.
    async fn store_reports(&self, rows: &[ReportRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        self.tam.store.record_reports(rows).await
    }
}

/// The QueryRequest this TAM sends on `wire`: it asks for the installed Trusted Components
/// with a token, or, when attestation is enabled, also for attestation with the token's
/// bytes as challenge (§5.1: token and challenge are never both present).
fn query_request(
    token: Option<Token>,
    wire: Wire,
    attestation: &AttestationConfig,
) -> QueryRequest {
    if attestation.enabled {
        let nonce = attestation.freshness.contains(&FreshnessName::Nonce);
        let freshness = attestation
            .freshness
            .iter()
            .map(|f| match f {
                FreshnessName::Nonce => FreshnessMechanism::Nonce,
                FreshnessName::Timestamp => FreshnessMechanism::Timestamp,
            })
            .collect();
        return QueryRequest {
            challenge: if nonce { token.map(|t| t.as_bytes().to_vec()) } else { None },
            supported_freshness_mechanisms: Some(freshness),
            data_item_requested: DataItemRequested::ATTESTATION
                .union(DataItemRequested::TRUSTED_COMPONENTS),
            ..query_request(None, wire, &AttestationConfig::default())
        };
    }
    QueryRequest {
        token,
        versions: Some(vec![0]),
        supported_teep_cipher_suites: offered_suites(wire),
        supported_suit_cose_profiles: SUIT_PROFILES.to_vec(),
        data_item_requested: DataItemRequested::TRUSTED_COMPONENTS,
        ..QueryRequest::default()
    }
}

fn seal_error(e: impl core::fmt::Display) -> SessionError {
    SessionError::Seal(e.to_string())
}

/// Suites offered in the QueryRequest: the two mandatory ones, plus their legacy aliases on a
/// legacy endpoint.
fn offered_suites(wire: Wire) -> Vec<CipherSuite> {
    let mut suites = vec![CipherSuite::SIGN1_ESP256, CipherSuite::SIGN1_ED25519];
    if wire == Wire::Legacy {
        suites.extend([CipherSuite::SIGN1_ES256_LEGACY, CipherSuite::SIGN1_EDDSA_LEGACY]);
    }
    suites
}

/// Algorithms accepted from Agents on an endpoint; the QueryRequest carries one signature
/// per algorithm (§9.1).
fn allowed(wire: Wire) -> Vec<Algorithm> {
    match wire {
        Wire::Rfc => vec![Algorithm::ESP256, Algorithm::ED25519],
        Wire::Legacy => {
            vec![Algorithm::ESP256, Algorithm::ED25519, Algorithm::ES256, Algorithm::EDDSA]
        }
    }
}

fn proto_token(token: &IssuedToken) -> Result<Token, SessionError> {
    Token::from_slice(token.as_bytes()).map_err(|e| SessionError::Seal(e.to_string()))
}

/// First eight hex digits of a thumbprint, for logs.
fn short(thumbprint: &[u8]) -> String {
    hex::encode(thumbprint.get(..4).unwrap_or(thumbprint))
}

/// Loads the TAM's attestation key, or generates it (mode 0600) with its public key beside.
fn load_or_generate_attester_key(
    path: &std::path::Path,
) -> Result<teep_cose::SigningKey, KeyError> {
    let io = |e: std::io::Error| KeyError::Io { path: path.to_owned(), reason: e.to_string() };
    match std::fs::read_to_string(path) {
        Ok(pem) => teep_cose::SigningKey::from_pkcs8_pem(&pem)
            .map_err(|e| KeyError::Invalid { path: path.to_owned(), reason: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            let key =
                teep_cose::SigningKey::generate_p256(&mut rand_core::UnwrapErr(getrandom::SysRng));
            let mut pem = zeroize::Zeroizing::new(key.to_pkcs8_pem());
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .and_then(|mut f| f.write_all(pem.as_bytes()))
                .map_err(io)?;
            pem.clear();
            std::fs::write(path.with_extension("pub.pem"), key.public_key().to_spki_pem())
                .map_err(io)?;
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}
