//! The TEEP Agent state machine (draft-ietf-teep-protocol-26 §8.2 "TEEP Agent Behavior").
//!
//! Sans-I/O: [`Agent::handle`] takes the bytes of one message from a TAM and the current time
//! and returns the bytes of the signed response; storage and payload fetching happen through
//! the [`AgentPlatform`] it owns. The conceptual API of RFC 9397 §6.2.1 that the Broker calls
//! (RequestTA, UnrequestTA, RequestPolicyCheck) only changes the Agent's pending lists.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use teep_cose::{Algorithm, PublicKey, SigningKey};
use teep_proto::{
    CipherSuite, ComponentId, DataItemRequested, ErrCode, FreshnessMechanism, Message, Numbering,
    QueryRequest, QueryResponse, RequestedTcInfo, Success, SystemPropertyClaims, TeepError, Update,
    negotiate,
};
use teep_suit::{Platform, SignerId, SuitDigest, TrustAnchors};

use crate::attester::{Attester, EvidenceRequest, negotiate_freshness};
use crate::error::{AgentError, Rejection};
use crate::evidence;
use crate::wire::{self, Candidate};

/// suit-parameter-image-size (draft-ietf-suit-manifest-34 §8.4.8.6).
const SUIT_PARAMETER_IMAGE_SIZE: i64 = 14;
/// suit-parameter-image-digest.
const SUIT_PARAMETER_IMAGE_DIGEST: i64 = teep_proto::SUIT_PARAMETER_IMAGE_DIGEST;

/// A TAM the Agent trusts (RFC 9397 §4.4: TAM trust anchors).
#[derive(Clone, Debug)]
pub struct TamTrust {
    /// The URI the Broker uses to reach the TAM.
    pub uri: String,
    /// Public keys that may sign the TAM's messages.
    pub keys: Vec<PublicKey>,
    /// The wire numbering this TAM speaks.
    pub numbering: Numbering,
    /// The TC signers whose security domains this TAM manages: its unneeded-manifest-list
    /// may remove only manifests they own (security domains, [`teep_suit::domain`]). Empty:
    /// the TAM may remove any manifest.
    pub signers: Vec<SignerId>,
}

/// The Agent's configuration.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// Trusted TAMs.
    pub tams: Vec<TamTrust>,
    /// Trust anchors for SUIT manifests (TC signers).
    pub tc_signers: Vec<PublicKey>,
    /// Shared HMAC keys that authenticate SUIT manifests by COSE_Mac0.
    pub tc_mac_keys: Vec<teep_suit::MacKey>,
    /// TEEP cipher suites offered, in preference order; those the Agent key cannot sign
    /// with are ignored.
    pub suites: Vec<CipherSuite>,
    /// TEEP protocol versions supported.
    pub versions: Vec<u32>,
    /// Accept ES256 (-7) and EdDSA (-8) signatures (legacy peers).
    pub accept_legacy_algorithms: bool,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            tams: Vec::new(),
            tc_signers: Vec::new(),
            tc_mac_keys: Vec::new(),
            suites: alloc::vec![CipherSuite::SIGN1_ESP256, CipherSuite::SIGN1_ED25519],
            versions: alloc::vec![0],
            accept_legacy_algorithms: false,
        }
    }
}

/// One installed Trusted Component, as reported in tc-list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstalledTc {
    /// The manifest component id (the Trusted Component identity).
    pub manifest_id: teep_suit::ComponentId,
    /// suit-manifest-sequence-number of the installed manifest.
    pub sequence_number: u64,
    /// Digest of the main component image, when the manifest wrote one.
    pub image_digest: Option<SuitDigest>,
    /// Size of that image.
    pub image_size: Option<u64>,
    /// The components the manifest declares.
    pub components: Vec<teep_suit::ComponentId>,
    /// The signer that authorised the manifest (its security domain's owner), if recorded.
    pub owner: Option<SignerId>,
    /// Its security domain manifest; `None`: the default domain of its owner.
    pub domain: Option<teep_suit::ComponentId>,
}

/// A store file that failed its integrity check (names and checks only, never contents).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TamperedFile {
    /// The file, relative to the platform's store (e.g. `components/<h>.img`).
    pub path: String,
    /// Which check failed.
    pub what: String,
}

/// What a platform's integrity checks of its stored state found: files that failed and the
/// manifests taken out of the installed set because of them (so that a TAM reinstalls them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreIntegrity {
    /// Files that failed their check.
    pub tampered: Vec<TamperedFile>,
    /// Store keys (hex SHA-256 of the CBOR manifest component id) of quarantined manifests.
    pub quarantined: Vec<String>,
}

impl StoreIntegrity {
    /// Whether nothing failed.
    pub fn is_clean(&self) -> bool {
        self.tampered.is_empty() && self.quarantined.is_empty()
    }
}

/// What the Agent needs from its device beyond the SUIT [`Platform`].
pub trait AgentPlatform: Platform {
    /// The installed Trusted Components.
    fn installed(&self) -> Vec<InstalledTc>;

    /// What the integrity checks of the stored state found. Default: a platform without
    /// such checks reports nothing.
    fn store_integrity(&self) -> StoreIntegrity {
        StoreIntegrity::default()
    }

    /// Whether a manifest with this id is installed now. Unlike
    /// [`Platform::installed_sequence_number`], which may remember the number of a removed
    /// manifest for rollback protection, this is false after uninstall.
    fn is_installed(&self, manifest_id: &teep_suit::ComponentId) -> bool {
        self.installed().iter().any(|tc| &tc.manifest_id == manifest_id)
    }
}

/// Where the Agent is in its exchange with a TAM.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Session {
    /// No exchange in progress.
    #[default]
    Idle,
    /// A QueryResponse was sent; an Update (or a new QueryRequest) may follow.
    Queried {
        /// Index of the TAM in the configuration.
        tam: usize,
        /// The negotiated cipher suite.
        suite: CipherSuite,
        /// The selected protocol version.
        version: u32,
    },
}

/// The outcome of one item of an Update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemOutcome {
    /// A manifest was installed.
    Installed {
        /// Its manifest id.
        manifest_id: teep_suit::ComponentId,
        /// Its sequence number.
        sequence_number: u64,
    },
    /// A manifest was removed (unneeded-manifest-list).
    Deleted {
        /// Its manifest id.
        manifest_id: teep_suit::ComponentId,
    },
    /// An item failed; nothing of it was written.
    Failed {
        /// What failed.
        reason: String,
    },
}

/// Most components that can wait in the requested list (RequestTA).
pub const MAX_PENDING: usize = 256;
/// Largest component id accepted from the conceptual API, in bytes over all segments.
pub const MAX_COMPONENT_ID_BYTES: usize = 1024;

/// Why a conceptual-API call (RFC 9397 §6.2.1) was refused.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiError {
    /// The requested list is full.
    TooManyPending,
    /// The component id is empty or larger than [`MAX_COMPONENT_ID_BYTES`].
    InvalidComponentId,
}

impl core::fmt::Display for ApiError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::TooManyPending => write!(f, "more than {MAX_PENDING} pending requests"),
            Self::InvalidComponentId => write!(
                f,
                "component id must have 1 or more segments and at most {MAX_COMPONENT_ID_BYTES} bytes"
            ),
        }
    }
}

impl core::error::Error for ApiError {}

fn check_component_id(id: &ComponentId) -> Result<(), ApiError> {
    let bytes =
        id.segments().iter().fold(0usize, |n, s| n.saturating_add(s.len().saturating_add(1)));
    if id.segments().is_empty() || bytes > MAX_COMPONENT_ID_BYTES {
        return Err(ApiError::InvalidComponentId);
    }
    Ok(())
}

/// The TEEP Agent.
pub struct Agent<P> {
    config: AgentConfig,
    key: SigningKey,
    kid: [u8; 32],
    usable_suites: Vec<CipherSuite>,
    platform: P,
    requested: Vec<(ComponentId, Option<String>)>,
    unneeded: Vec<ComponentId>,
    session: Session,
    last_update: Vec<ItemOutcome>,
    attester: Option<alloc::boxed::Box<dyn Attester>>,
    report_sealer: Option<alloc::boxed::Box<dyn crate::report::ReportSealer>>,
    tam_attestation: Option<TamAttestation>,
    passports: crate::passport::Passports,
}

/// Fills a buffer with unpredictable bytes (the platform's random number generator).
pub type RandomSource = alloc::boxed::Box<dyn FnMut(&mut [u8]) + Send>;

/// The Agent's policy of attesting the TAM (draft-ietf-teep-protocol-26 §4.2, §8.1.2): a
/// QueryRequest without the TAM's attestation payload is answered with
/// ERR_ATTESTATION_REQUIRED and a challenge; the next QueryRequest must carry an EAT signed
/// by one of `keys` whose eat_nonce is that challenge and whose cnf names a key of the TAM.
pub struct TamAttestation {
    /// Keys that may sign the TAM's attestation EAT (its attester or a Verifier).
    pub keys: Vec<PublicKey>,
    /// Fills a challenge with unpredictable bytes.
    pub random: RandomSource,
    challenge: Option<Vec<u8>>,
}

impl TamAttestation {
    /// A policy trusting `keys`, drawing challenges from `random`.
    pub fn new(keys: Vec<PublicKey>, random: RandomSource) -> Self {
        Self { keys, random, challenge: None }
    }
}

impl core::fmt::Debug for TamAttestation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TamAttestation").field("keys", &self.keys.len()).finish_non_exhaustive()
    }
}

impl<P> core::fmt::Debug for Agent<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Agent")
            .field("key", &self.key)
            .field("suites", &self.usable_suites)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

fn to_suit(id: &ComponentId) -> teep_suit::ComponentId {
    teep_suit::ComponentId(id.0.clone())
}

fn to_teep(id: &teep_suit::ComponentId) -> ComponentId {
    ComponentId(id.0.clone())
}

impl<P: AgentPlatform> Agent<P> {
    /// An Agent with its configuration, signing key and platform.
    pub fn new(config: AgentConfig, key: SigningKey, platform: P) -> Self {
        let public = key.public_key();
        let usable_suites = config
            .suites
            .iter()
            .filter(|s| s.sign1_algorithm().is_some_and(|alg| public.supports(Algorithm(alg))))
            .cloned()
            .collect();
        Self {
            kid: public.thumbprint(),
            config,
            key,
            usable_suites,
            platform,
            requested: Vec::new(),
            unneeded: Vec::new(),
            session: Session::Idle,
            last_update: Vec::new(),
            attester: None,
            report_sealer: None,
            tam_attestation: None,
            passports: crate::passport::Passports::default(),
        }
    }

    /// Passport model (RFC 9334 §5.1): Evidence bound to `nonce` for the Broker to take to
    /// a Verifier. It is the Evidence a QueryResponse would carry for that challenge: from
    /// the attester (never encrypted: it goes to the Verifier), else the minimal EAT signed
    /// with the TEEP key.
    pub fn passport_evidence(
        &mut self,
        nonce: &[u8],
        now: u64,
    ) -> Result<Vec<u8>, crate::passport::PassportError> {
        use crate::passport::PassportError;
        crate::passport::Passports::check_nonce(nonce)?;
        let Some(attester) = self.attester.as_mut() else {
            let alg = self.usable_suites.first().and_then(CipherSuite::sign1_algorithm);
            let alg = alg.map(Algorithm).unwrap_or(Algorithm::ESP256);
            return evidence::build(&self.key, &self.kid, alg, nonce, now)
                .map_err(|e| PassportError::Evidence(e.to_string()));
        };
        let request = EvidenceRequest {
            freshness: FreshnessMechanism::Nonce,
            nonce: Some(nonce),
            now,
            teep_kid: &self.kid,
            tam_keys: &[],
        };
        let evidence =
            attester.evidence(&request).map_err(|e| PassportError::Evidence(e.to_string()))?;
        Ok(evidence.payload)
    }

    /// Passport model: keeps the Attestation Result the Broker obtained for `nonce`; the
    /// QueryResponse to a QueryRequest with that challenge presents it instead of Evidence.
    pub fn present_attestation_result(
        &mut self,
        nonce: Vec<u8>,
        result: Vec<u8>,
    ) -> Result<(), crate::passport::PassportError> {
        self.passports.insert(nonce, result)
    }

    /// The Agent requiring attestation of the TAM before it answers (see [`TamAttestation`]).
    pub fn with_tam_attestation(mut self, policy: TamAttestation) -> Self {
        self.tam_attestation = Some(policy);
        self
    }

    /// The Agent protecting its SUIT Reports with `sealer` (see [`crate::report`]); without
    /// one, reports are sent as SUIT_Report_Unprotected.
    pub fn with_report_sealer(
        mut self,
        sealer: alloc::boxed::Box<dyn crate::report::ReportSealer>,
    ) -> Self {
        self.report_sealer = Some(sealer);
        self
    }

    /// The bytes of a report for suit-reports: protected when a sealer is set. A report that
    /// cannot be sealed (a local key failure) is left out rather than sent unprotected.
    fn report_bytes(&mut self, report: &teep_suit::SuitReport) -> Option<Vec<u8>> {
        match self.report_sealer.as_mut() {
            Some(sealer) => sealer.seal(report).ok(),
            None => Some(report.encode()),
        }
    }

    /// The Agent with `attester` as its source of Evidence (see [`crate::attester`]).
    pub fn with_attester(mut self, attester: alloc::boxed::Box<dyn Attester>) -> Self {
        self.attester = Some(attester);
        self
    }

    /// Whether an attester is plugged in.
    pub fn has_attester(&self) -> bool {
        self.attester.is_some()
    }

    /// The Agent's kid: RFC 9679 thumbprint of its public key.
    pub fn kid(&self) -> &[u8; 32] {
        &self.kid
    }

    /// The Agent's public key.
    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    /// The configuration.
    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// The platform.
    pub fn platform(&self) -> &P {
        &self.platform
    }

    /// The platform, mutably (e.g. for administration outside the protocol).
    pub fn platform_mut(&mut self) -> &mut P {
        &mut self.platform
    }

    /// The protocol state.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// What the last Update did, item by item.
    pub fn last_update(&self) -> &[ItemOutcome] {
        &self.last_update
    }

    /// The installed Trusted Component that `id` names: by its manifest component id, or
    /// by one of the components its manifest declares.
    pub fn find_installed(&self, id: &ComponentId) -> Option<InstalledTc> {
        let id = to_suit(id);
        let installed = self.platform.installed();
        let by_manifest = installed.iter().position(|tc| tc.manifest_id == id);
        let index =
            by_manifest.or_else(|| installed.iter().position(|tc| tc.components.contains(&id)))?;
        installed.into_iter().nth(index)
    }

    /// Components requested with RequestTA and not installed yet.
    pub fn requested(&self) -> Vec<ComponentId> {
        self.requested
            .iter()
            .filter(|(id, _)| self.find_installed(id).is_none())
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Components given up with UnrequestTA and still installed.
    pub fn unneeded(&self) -> Vec<ComponentId> {
        self.unneeded
            .iter()
            .filter(|id| self.platform.is_installed(&to_suit(id)))
            .cloned()
            .collect()
    }

    fn default_tam_uri(&self) -> Option<String> {
        self.config.tams.first().map(|t| t.uri.clone())
    }

    /// RequestTA (RFC 9397 §6.2.1; draft-ietf-teep-protocol-26 §8.2): `None` when the
    /// component is already installed, otherwise the TAM URI the Broker must contact (the
    /// caller's, or the first configured TAM). `None` also when no TAM is known at all.
    ///
    /// The pending list is bounded ([`MAX_PENDING`] entries, ids of at most
    /// [`MAX_COMPONENT_ID_BYTES`]); beyond that the call fails.
    pub fn request_ta(
        &mut self,
        component_id: ComponentId,
        tam_uri: Option<&str>,
    ) -> Result<Option<String>, ApiError> {
        check_component_id(&component_id)?;
        if self.find_installed(&component_id).is_some() {
            return Ok(None);
        }
        self.unneeded.retain(|id| id != &component_id);
        let Some(uri) = tam_uri.map(String::from).or_else(|| self.default_tam_uri()) else {
            return Ok(None);
        };
        self.requested.retain(|(id, _)| id != &component_id);
        if self.requested.len() >= MAX_PENDING {
            return Err(ApiError::TooManyPending);
        }
        self.requested.push((component_id, Some(uri.clone())));
        Ok(Some(uri))
    }

    /// UnrequestTA: `None` when the component is not installed, otherwise the TAM URI to
    /// contact so that the TAM can send an Update that removes it. The component may be named
    /// by its manifest component id or by a component its manifest declares; the
    /// unneeded-manifest-list always carries the manifest component id (§5.2).
    pub fn unrequest_ta(&mut self, component_id: ComponentId) -> Result<Option<String>, ApiError> {
        check_component_id(&component_id)?;
        self.requested.retain(|(id, _)| id != &component_id);
        let Some(installed) = self.find_installed(&component_id) else {
            return Ok(None);
        };
        let manifest_id = to_teep(&installed.manifest_id);
        if !self.unneeded.contains(&manifest_id) {
            // Bounded by the number of installed manifests.
            self.unneeded.push(manifest_id);
        }
        Ok(self.default_tam_uri())
    }

    /// RequestPolicyCheck: every configured TAM URI.
    pub fn request_policy_check(&self) -> Vec<String> {
        self.config.tams.iter().map(|t| t.uri.clone()).collect()
    }

    /// The tc-list of a QueryResponse (§5.2): one system-property-claims per installed
    /// Trusted Component, with its image digest and size when known.
    pub fn tc_list(&self) -> Vec<SystemPropertyClaims> {
        self.platform
            .installed()
            .iter()
            .map(|tc| {
                let mut parameters = Vec::new();
                if let Some(d) = &tc.image_digest {
                    // suit-parameter-image-digest: bstr .cbor SUIT_Digest.
                    parameters.push((SUIT_PARAMETER_IMAGE_DIGEST, encode_bstr(&encode_digest(d))));
                }
                if let Some(size) = tc.image_size {
                    parameters.push((SUIT_PARAMETER_IMAGE_SIZE, encode_uint(size)));
                }
                if parameters.is_empty() {
                    // The CDDL wants at least one SUIT parameter; an image size of 0 says
                    // "no image" without inventing a digest.
                    parameters.push((SUIT_PARAMETER_IMAGE_SIZE, encode_uint(0)));
                }
                SystemPropertyClaims { component_id: to_teep(&tc.manifest_id), parameters }
            })
            .collect()
    }

    /// Handles one message from any trusted TAM. See [`Agent::handle_from`].
    pub fn handle(&mut self, request: &[u8], now: u64) -> Result<Vec<u8>, AgentError> {
        self.handle_from(None, request, now)
    }

    /// ProcessTeepMessage: verifies `request` (against the keys of the TAM at `tam_uri` when it
    /// is a configured TAM, else against every trusted TAM), runs it, and returns the signed
    /// response. `Err(AgentError::Rejected)` means the message must be dropped unanswered
    /// (§4.1.2). `now` is seconds since the Unix epoch, 0 if unknown.
    pub fn handle_from(
        &mut self,
        tam_uri: Option<&str>,
        request: &[u8],
        now: u64,
    ) -> Result<Vec<u8>, AgentError> {
        if self.usable_suites.is_empty() {
            return Err(AgentError::NoUsableSuite);
        }
        let matching: Vec<usize> =
            match tam_uri.and_then(|uri| self.config.tams.iter().position(|t| t.uri == uri)) {
                Some(i) => alloc::vec![i],
                None => (0..self.config.tams.len()).collect(),
            };
        let candidates: Vec<Candidate<'_>> = matching
            .iter()
            .filter_map(|&i| self.config.tams.get(i))
            .map(|t| Candidate { keys: &t.keys, numbering: t.numbering })
            .collect();
        let opened = wire::open(request, &candidates, &self.allowed_algorithms())?;
        let tam = matching.get(opened.candidate).copied().unwrap_or_default();
        let numbering = self.config.tams.get(tam).map(|t| t.numbering).unwrap_or_default();

        match opened.message {
            Message::QueryRequest(q) => self.on_query_request(tam, numbering, &q, now),
            Message::Update(u) => self.on_update(tam, numbering, opened.algorithm, u),
            other => Err(Rejection::UnexpectedMessage(other.kind()).into()),
        }
    }

    fn allowed_algorithms(&self) -> Vec<Algorithm> {
        let mut algs = alloc::vec![Algorithm::ESP256, Algorithm::ED25519];
        if self.config.accept_legacy_algorithms {
            algs.extend([Algorithm::ES256, Algorithm::EDDSA]);
        }
        algs
    }

    fn seal(
        &self,
        message: Message,
        numbering: Numbering,
        suite: &CipherSuite,
    ) -> Result<Vec<u8>, AgentError> {
        let alg = suite.sign1_algorithm().ok_or(AgentError::NoUsableSuite)?;
        wire::seal(&message, numbering, &self.key, Algorithm(alg))
    }

    /// §8.2.1: answer a QueryRequest with a QueryResponse, or an Error when the suites,
    /// versions or freshness mechanisms have nothing in common.
    fn on_query_request(
        &mut self,
        tam: usize,
        numbering: Numbering,
        q: &QueryRequest,
        now: u64,
    ) -> Result<Vec<u8>, AgentError> {
        self.session = Session::Idle;
        let fallback = self.usable_suites.first().cloned().ok_or(AgentError::NoUsableSuite)?;

        let Some(suite) = negotiate(&self.usable_suites, &q.supported_teep_cipher_suites) else {
            let err = TeepError::unsupported_cipher_suites(q.token.clone(), &self.usable_suites)
                .with_message("no common TEEP cipher suite");
            return self.seal(Message::Error(err), numbering, &fallback);
        };

        let offered = q.versions_or_default();
        let Some(version) =
            self.config.versions.iter().copied().filter(|v| offered.contains(v)).max()
        else {
            let err = TeepError {
                token: q.token.clone(),
                versions: Some(self.config.versions.clone()),
                ..TeepError::new(ErrCode::UNSUPPORTED_MSG_VERSION)
            }
            .with_message("no common TEEP protocol version");
            return self.seal(Message::Error(err), numbering, &suite);
        };

        if let Some(err) = self.check_tam_attestation(tam, q) {
            return self.seal(Message::Error(*err), numbering, &suite);
        }

        let asked = q.data_item_requested;
        let mut response = QueryResponse {
            token: q.token.clone(),
            selected_version: Some(version),
            ..QueryResponse::default()
        };
        if asked.contains(DataItemRequested::ATTESTATION) {
            match self.evidence(tam, q, &suite, now) {
                Ok((format, payload)) => {
                    response.attestation_payload_format = Some(format);
                    response.attestation_payload = Some(payload);
                }
                Err(err) => return self.seal(Message::Error(*err), numbering, &suite),
            }
        }
        if asked.contains(DataItemRequested::TRUSTED_COMPONENTS) {
            response.tc_list = Some(self.tc_list());
        }
        let requested: Vec<RequestedTcInfo> = self
            .requested()
            .into_iter()
            .map(|component_id| RequestedTcInfo { component_id, ..RequestedTcInfo::default() })
            .collect();
        if !requested.is_empty() {
            response.requested_tc_list = Some(requested);
        }
        let unneeded = self.unneeded();
        if !unneeded.is_empty() {
            response.unneeded_manifest_list = Some(unneeded);
        }
        // No extensions are defined (§5.2), so ext-list, whose CDDL needs one entry, stays
        // absent even when the extensions bit is set.

        let bytes = self.seal(Message::QueryResponse(response), numbering, &suite)?;
        self.session = Session::Queried { tam, suite, version };
        Ok(bytes)
    }

    /// TAM attestation (§8.1.2 "If an Error message is received with the error code
    /// ERR_ATTESTATION_REQUIRED ... the TAM MUST send another QueryRequest with an
    /// attestation-payload"): `None` when the policy is off or the TAM's payload verified;
    /// otherwise the Error to send (a new challenge, or the reason verification failed).
    fn check_tam_attestation(
        &mut self,
        tam: usize,
        q: &QueryRequest,
    ) -> Option<alloc::boxed::Box<TeepError>> {
        let policy = self.tam_attestation.as_mut()?;
        let pending = policy.challenge.take();
        if let (Some(payload), Some(challenge)) = (q.attestation_payload.as_deref(), &pending) {
            let tam_keys = self.config.tams.get(tam).map(|t| t.keys.as_slice()).unwrap_or_default();
            let verdict = teep_eat::verify(payload, &policy.keys, teep_eat::DEFAULT_ALGORITHMS)
                .and_then(|v| {
                    v.claims.check_freshness(teep_eat::Freshness::Nonce(challenge))?;
                    let bound = tam_keys.iter().any(|k| v.claims.check_confirmation(k).is_ok());
                    if bound { Ok(()) } else { Err(teep_eat::EatError::ConfirmationMismatch) }
                });
            return match verdict {
                Ok(()) => None,
                Err(e) => Some(alloc::boxed::Box::new(
                    TeepError {
                        token: q.token.clone(),
                        ..TeepError::new(ErrCode::PERMANENT_ERROR)
                    }
                    .with_message(&alloc::format!("TAM attestation refused: {e}")),
                )),
            };
        }
        let mut challenge = alloc::vec![0u8; 32];
        (policy.random)(&mut challenge);
        policy.challenge = Some(challenge.clone());
        Some(alloc::boxed::Box::new(
            TeepError {
                token: q.token.clone(),
                challenge: Some(challenge),
                ..TeepError::new(ErrCode::ATTESTATION_REQUIRED)
            }
            .with_message("the Agent requires attestation of the TAM"),
        ))
    }

    /// Evidence for a QueryRequest with the attestation bit (§4.3, §10): negotiates the
    /// freshness mechanism with the TAM's list, then asks the attester. An Error message to
    /// send instead when nothing fits (ERR_UNSUPPORTED_FRESHNESS_MECHANISMS with our list).
    fn evidence(
        &mut self,
        tam: usize,
        q: &QueryRequest,
        suite: &CipherSuite,
        now: u64,
    ) -> Result<(String, Vec<u8>), alloc::boxed::Box<TeepError>> {
        // Background-check model: the challenge; passport model: the token (§10).
        let nonce = q.challenge.as_deref().or_else(|| q.token.as_ref().map(|t| t.as_bytes()));
        let ours = match &self.attester {
            Some(a) => a.freshness_mechanisms(),
            None => alloc::vec![FreshnessMechanism::Nonce],
        };
        let unsupported = |msg: &str| {
            TeepError {
                token: q.token.clone(),
                supported_freshness_mechanisms: Some(ours.clone()),
                ..TeepError::new(ErrCode::UNSUPPORTED_FRESHNESS_MECHANISMS)
            }
            .with_message(msg)
        };
        let Some(freshness) =
            negotiate_freshness(q.freshness_or_default(), &ours, nonce.is_some(), now > 0)
        else {
            return Err(alloc::boxed::Box::new(unsupported("no common freshness mechanism")));
        };
        // Passport model: a result the Broker obtained for this very challenge.
        if freshness == FreshnessMechanism::Nonce
            && let Some(result) = nonce.and_then(|n| self.passports.take(n))
        {
            return Ok((crate::passport::RESULT_FORMAT.to_string(), result));
        }
        let failed = |e: &dyn core::fmt::Display| {
            alloc::boxed::Box::new(
                TeepError { token: q.token.clone(), ..TeepError::new(ErrCode::PERMANENT_ERROR) }
                    .with_message(&alloc::format!("cannot produce evidence: {e}")),
            )
        };
        let Some(attester) = self.attester.as_mut() else {
            let alg = suite.sign1_algorithm().map(Algorithm).unwrap_or(Algorithm::ESP256);
            let payload =
                evidence::build(&self.key, &self.kid, alg, nonce.unwrap_or_default(), now)
                    .map_err(|e| failed(&e))?;
            return Ok((evidence::EVIDENCE_FORMAT.to_string(), payload));
        };
        let tam_keys = self.config.tams.get(tam).map(|t| t.keys.as_slice()).unwrap_or_default();
        let request = EvidenceRequest {
            freshness,
            nonce: if freshness == FreshnessMechanism::Nonce { nonce } else { None },
            now,
            teep_kid: &self.kid,
            tam_keys,
        };
        let evidence = attester.evidence(&request).map_err(|e| failed(&e))?;
        Ok((evidence.format, evidence.payload))
    }

    /// Whether TAM `tam` may remove the installed manifest `manifest_id`: when the TAM is
    /// bound to TC signers ([`TamTrust::signers`]), the manifest's owner must be one of them.
    fn may_remove(&self, tam: usize, manifest_id: &teep_suit::ComponentId) -> Result<(), String> {
        let signers = self.config.tams.get(tam).map(|t| t.signers.as_slice()).unwrap_or_default();
        if signers.is_empty() {
            return Ok(());
        }
        let owner = self
            .platform
            .installed()
            .into_iter()
            .find(|tc| &tc.manifest_id == manifest_id)
            .and_then(|tc| tc.owner);
        match owner {
            Some(owner) if signers.contains(&owner) => Ok(()),
            _ => Err(alloc::format!(
                "unlinking {manifest_id}: the manifest belongs to a security domain this TAM \
                 does not manage"
            )),
        }
    }

    /// §8.2.2: unlink the unneeded manifests, then run each manifest of the Update; Success
    /// when everything worked, else Error ERR_MANIFEST_PROCESSING_FAILED with the SUIT
    /// reports. Every manifest is installed or removed atomically by the platform.
    fn on_update(
        &mut self,
        tam: usize,
        numbering: Numbering,
        algorithm: Algorithm,
        update: Update,
    ) -> Result<Vec<u8>, AgentError> {
        let suite = match core::mem::take(&mut self.session) {
            Session::Queried { tam: t, suite, .. } if t == tam => suite,
            _ => self
                .usable_suites
                .iter()
                .find(|s| s.sign1_algorithm() == Some(algorithm.0))
                .or(self.usable_suites.first())
                .cloned()
                .ok_or(AgentError::NoUsableSuite)?,
        };
        let mut outcomes = Vec::new();
        let mut reports = Vec::new();
        let mut first_failure: Option<String> = None;

        // 1. unneeded-manifest-list: each removal runs the manifest's suit-uninstall section,
        // authenticated again against the current TC signers.
        let trust =
            self.config.tc_mac_keys.iter().cloned().fold(
                TrustAnchors::new(self.config.tc_signers.clone()),
                TrustAnchors::with_mac_key,
            );
        let uninstall_opts = teep_suit::Options::teep_install();
        for id in update.unneeded_manifest_list.iter().flatten() {
            let manifest_id = to_suit(id);
            if !self.platform.is_installed(&manifest_id) {
                // Already absent: the TAM's goal holds.
                self.unneeded.retain(|u| u != id);
                continue;
            }
            if let Err(reason) = self.may_remove(tam, &manifest_id) {
                first_failure.get_or_insert_with(|| reason.clone());
                outcomes.push(ItemOutcome::Failed { reason });
                continue;
            }
            match teep_suit::uninstall_with(
                &mut self.platform,
                &manifest_id,
                &trust,
                &uninstall_opts,
            ) {
                Ok(()) => {
                    self.unneeded.retain(|u| u != id);
                    outcomes.push(ItemOutcome::Deleted { manifest_id });
                }
                Err(e) => {
                    first_failure.get_or_insert_with(|| {
                        alloc::format!("unlinking {manifest_id}: {}", peer_text(&e))
                    });
                    let reason = alloc::format!("unlinking {manifest_id}: {e}");
                    outcomes.push(ItemOutcome::Failed { reason });
                }
            }
        }

        // 2. manifest-list, only when the unlinking succeeded (§8.2.2).
        if first_failure.is_none() {
            let mut opts = teep_suit::Options::teep_install();
            opts.nonce = update.token.as_ref().map(|t| t.as_bytes().to_vec());
            for envelope in update.manifest_list.iter().flatten() {
                match teep_suit::process(&mut self.platform, envelope, &trust, &opts) {
                    Ok(done) => {
                        let id = to_teep(&done.manifest_id);
                        self.requested.retain(|(r, _)| r != &id);
                        self.unneeded.retain(|u| u != &id);
                        reports.extend(self.report_bytes(&done.report));
                        outcomes.push(ItemOutcome::Installed {
                            manifest_id: done.manifest_id,
                            sequence_number: done.sequence_number,
                        });
                    }
                    Err(failure) => {
                        first_failure.get_or_insert_with(|| {
                            alloc::format!("{}: {}", failure.reason(), peer_text(&failure.error))
                        });
                        let reason = failure.to_string();
                        reports.extend(self.report_bytes(&failure.report));
                        outcomes.push(ItemOutcome::Failed { reason });
                    }
                }
            }
        }
        self.last_update = outcomes;
        let requested = core::mem::take(&mut self.requested);
        self.requested =
            requested.into_iter().filter(|(id, _)| self.find_installed(id).is_none()).collect();

        let suit_reports = if reports.is_empty() { None } else { Some(reports) };
        let message = match first_failure {
            None => Message::Success(Success {
                token: update.token.clone(),
                suit_reports,
                ..Success::default()
            }),
            Some(reason) => Message::Error(
                TeepError {
                    token: update.token.clone(),
                    suit_reports,
                    ..TeepError::new(ErrCode::MANIFEST_PROCESSING_FAILED)
                }
                .with_message(&reason),
            ),
        };
        self.seal(message, numbering, &suite)
    }
}

/// The part of a SUIT error the TAM may see: platform failures carry local details (file
/// paths, OS errors) that stay in the Agent's own logs.
fn peer_text(e: &teep_suit::SuitError) -> String {
    match e {
        teep_suit::SuitError::Platform(teep_suit::PlatformError::Storage(_)) => {
            "storage failure in the TEE".to_string()
        }
        teep_suit::SuitError::Platform(teep_suit::PlatformError::Fetch(_)) => {
            "payload fetch failed".to_string()
        }
        teep_suit::SuitError::Platform(teep_suit::PlatformError::Failed(_)) => {
            "platform operation failed".to_string()
        }
        other => other.to_string(),
    }
}

fn encode_digest(d: &SuitDigest) -> Vec<u8> {
    let mut e = minicbor::Encoder::new(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = e.array(2).and_then(|e| e.i64(d.algorithm)).and_then(|e| e.bytes(&d.bytes));
    e.into_writer()
}

fn encode_bstr(bytes: &[u8]) -> Vec<u8> {
    let mut e = minicbor::Encoder::new(Vec::new());
    let _ = e.bytes(bytes);
    e.into_writer()
}

fn encode_uint(v: u64) -> Vec<u8> {
    let mut e = minicbor::Encoder::new(Vec::new());
    let _ = e.u64(v);
    e.into_writer()
}
