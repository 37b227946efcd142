//! The Verifier's core: challenge-response sessions (shaped after Veraison's
//! `challenge-response/v1` API, itself an instance of draft-ietf-rats-reference-interaction-
//! models §7.1) and the appraisal of the Evidence submitted to them.
//!
//! A session holds a nonce, an expiry and, once Evidence arrived, the Evidence and the signed
//! Attestation Results (TEEP-profile AR and EAR). Sessions are bounded in number and in
//! lifetime; Evidence can be submitted to a session once.

use std::collections::HashMap;
use std::sync::Mutex;

use teep_cose::{PublicKey, SigningKey};
use teep_eat::{Appraisal, AttestationResult, Ear, Freshness, Policy, ReferenceValues, Status};

use crate::config::VerifierConfig;
use crate::error::VerifierError;

/// Media types of Evidence this Verifier appraises.
pub const ACCEPTED_MEDIA_TYPES: &[&str] = &[teep_eat::EAT_CWT_MEDIA_TYPE, "application/eat+cwt"];

/// Shortest and longest nonce (RFC 9711 §4.1: 8..=64 bytes).
pub const NONCE_LEN: core::ops::RangeInclusive<usize> = 8..=64;

/// Where a session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Waiting for Evidence.
    Waiting,
    /// Evidence appraised; results available.
    Complete,
}

/// One challenge-response session.
#[derive(Clone, Debug)]
pub struct Session {
    /// The challenge the Evidence must carry as eat_nonce.
    pub nonce: Vec<u8>,
    /// Unix seconds after which the session is gone.
    pub expiry: u64,
    /// State.
    pub state: State,
    /// Media type and bytes of the submitted Evidence.
    pub evidence: Option<(String, Vec<u8>)>,
    /// The signed TEEP-profile Attestation Result.
    pub result: Option<Vec<u8>>,
    /// The signed EAR.
    pub ear: Option<Vec<u8>>,
    /// The appraisal outcome in words.
    pub reason: Option<String>,
}

/// Why a session operation was refused (mapped to HTTP statuses by the router).
#[non_exhaustive]
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// No such session (or it expired).
    #[error("no such session")]
    NotFound,
    /// Evidence was already submitted.
    #[error("evidence already submitted to this session")]
    AlreadyComplete,
    /// The media type is not one of [`ACCEPTED_MEDIA_TYPES`].
    #[error("unsupported evidence media type")]
    UnsupportedMediaType,
    /// The nonce has the wrong size or encoding.
    #[error("nonce must be 8..=64 bytes")]
    BadNonce,
    /// Too many sessions are open.
    #[error("too many open sessions")]
    Busy,
    /// Evidence larger than the configured limit.
    #[error("evidence too large")]
    TooLarge,
    /// A local failure (random number generator, signing).
    #[error("internal error: {0}")]
    Internal(String),
}

/// The Verifier.
pub struct Verifier {
    config: VerifierConfig,
    key: SigningKey,
    attester_keys: Vec<PublicKey>,
    reference: ReferenceValues,
    sessions: Mutex<HashMap<String, Session>>,
}

impl core::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Verifier")
            .field("key", &self.key)
            .field("attester_keys", &self.attester_keys.len())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A Verifier from its parts.
    pub fn new(
        config: VerifierConfig,
        key: SigningKey,
        attester_keys: Vec<PublicKey>,
    ) -> Result<Self, VerifierError> {
        let reference = config.reference.values()?;
        Ok(Verifier { config, key, attester_keys, reference, sessions: Mutex::default() })
    }

    /// Loads keys (generating the Verifier key when missing) named by `config`.
    pub fn open(config: VerifierConfig) -> Result<Self, VerifierError> {
        config.validate()?;
        std::fs::create_dir_all(&config.state_dir)?;
        let key = config.load_or_generate_key()?;
        let attesters = config.load_attester_keys()?;
        Self::new(config, key, attesters)
    }

    /// The configuration.
    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    /// The public key that signs Attestation Results (the TAM's trust anchor for it).
    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock leaves a consistent map (every update is one insert).
        self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Creates a session with the caller's nonce, or a random one of `nonce_size` bytes.
    pub fn new_session(
        &self,
        nonce: Option<Vec<u8>>,
        nonce_size: Option<usize>,
        now: u64,
    ) -> Result<(String, Session), SessionError> {
        let nonce = match nonce {
            Some(n) => n,
            None => {
                let size = nonce_size.unwrap_or(32);
                if !NONCE_LEN.contains(&size) {
                    return Err(SessionError::BadNonce);
                }
                random(size)?
            }
        };
        if !NONCE_LEN.contains(&nonce.len()) {
            return Err(SessionError::BadNonce);
        }
        let id = hex::encode(random(16)?);
        let session = Session {
            nonce,
            expiry: now.saturating_add(self.config.session_ttl_secs),
            state: State::Waiting,
            evidence: None,
            result: None,
            ear: None,
            reason: None,
        };
        let mut sessions = self.lock();
        sessions.retain(|_, s| s.expiry > now);
        if sessions.len() >= self.config.max_sessions {
            return Err(SessionError::Busy);
        }
        sessions.insert(id.clone(), session.clone());
        Ok((id, session))
    }

    /// The session `id`, unless it expired.
    pub fn session(&self, id: &str, now: u64) -> Result<Session, SessionError> {
        self.lock().get(id).filter(|s| s.expiry > now).cloned().ok_or(SessionError::NotFound)
    }

    /// Deletes a session.
    pub fn delete(&self, id: &str) -> Result<(), SessionError> {
        self.lock().remove(id).map(|_| ()).ok_or(SessionError::NotFound)
    }

    /// Appraises Evidence submitted to session `id` and stores the signed results.
    pub fn submit(
        &self,
        id: &str,
        media_type: &str,
        evidence: &[u8],
        now: u64,
    ) -> Result<Session, SessionError> {
        if !ACCEPTED_MEDIA_TYPES.iter().any(|m| same_media_type(m, media_type)) {
            return Err(SessionError::UnsupportedMediaType);
        }
        if evidence.len() > self.config.max_evidence_len {
            return Err(SessionError::TooLarge);
        }
        let mut session = self.session(id, now)?;
        if session.state != State::Waiting {
            return Err(SessionError::AlreadyComplete);
        }
        let (result, ear) = self.appraise(evidence, &session.nonce, now)?;
        session.reason = Some(match &result.reason {
            Some(r) => r.clone(),
            None => "affirming".into(),
        });
        tracing::info!(session = %id, status = result.status.as_str(),
            reason = session.reason.as_deref().unwrap_or_default(), "appraised evidence");
        let sign = |r: Result<Vec<u8>, teep_eat::EatError>| {
            r.map_err(|e| SessionError::Internal(e.to_string()))
        };
        let alg = self.key.default_algorithm();
        session.result = Some(sign(result.sign(&self.key, alg))?);
        session.ear = Some(sign(teep_eat::sign(&ear.to_claims(), &self.key, alg))?);
        session.evidence = Some((media_type.to_owned(), evidence.to_vec()));
        session.state = State::Complete;
        let mut sessions = self.lock();
        match sessions.get(id) {
            Some(s) if s.state == State::Waiting => {
                sessions.insert(id.to_owned(), session.clone());
                Ok(session)
            }
            Some(_) => Err(SessionError::AlreadyComplete),
            None => Err(SessionError::NotFound),
        }
    }

    /// Appraisal proper: nonce freshness when the Evidence carries eat_nonce, else timestamp
    /// freshness within the configured window (when enabled).
    pub fn appraise(
        &self,
        evidence: &[u8],
        nonce: &[u8],
        now: u64,
    ) -> Result<(AttestationResult, Ear), SessionError> {
        let policy = Policy {
            attester_keys: &self.attester_keys,
            algorithms: teep_eat::DEFAULT_ALGORITHMS,
            reference: &self.reference,
            policy_id: &self.config.policy_id,
            verifier: &self.config.verifier_id,
        };
        let has_nonce = teep_eat::peek(evidence).map(|c| c.eat_nonce.is_some()).unwrap_or(true);
        let freshness = if has_nonce || self.config.timestamp_window_secs == 0 {
            Freshness::Nonce(nonce)
        } else {
            Freshness::Timestamp { now, window: self.config.timestamp_window_secs }
        };
        let result = teep_eat::appraise(evidence, &policy, freshness, now);
        let verdict = |ok: bool| if ok { 2 } else { 96 };
        let affirming = result.status == Status::Affirming;
        let ear = Ear {
            iat: now,
            verifier_build: concat!("teep-verifier ", env!("CARGO_PKG_VERSION")).into(),
            verifier_developer: "teep-rs".into(),
            nonce: Some(nonce.to_vec()),
            submods: vec![(
                "TEEP".into(),
                Appraisal {
                    status: result.status,
                    trust_vector: vec![
                        (teep_eat::trust_claim::INSTANCE_IDENTITY, verdict(affirming)),
                        (teep_eat::trust_claim::HARDWARE, verdict(affirming)),
                        (teep_eat::trust_claim::EXECUTABLES, verdict(affirming)),
                    ],
                    policy_id: Some(self.config.policy_id.clone()),
                },
            )],
        };
        Ok((result, ear))
    }
}

/// Media types compare case-insensitively, ignoring blanks around parameters.
fn same_media_type(a: &str, b: &str) -> bool {
    let norm = |s: &str| -> String {
        s.split(';').map(|p| p.trim().to_ascii_lowercase()).collect::<Vec<_>>().join(";")
    };
    norm(a) == norm(b)
}

fn random(n: usize) -> Result<Vec<u8>, SessionError> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| SessionError::Internal(e.to_string()))?;
    Ok(bytes)
}
