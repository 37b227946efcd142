//! Where the Agent's Evidence comes from (RFC 9334 §3.1 "Attester";
//! draft-ietf-teep-protocol-26 §4.3, §10).
//!
//! The Agent asks an [`Attester`] for Evidence when a QueryRequest sets the attestation bit.
//! A hardware TEE plugs in its own attester; the software TEE's default is
//! [`crate::software::attester::SoftwareAttester`], an EAT signed with an attestation key of
//! its own. Without an attester the Agent falls back to a minimal EAT signed with its TEEP
//! key (see `evidence.rs`), which a Verifier applying the TEEP profile refuses.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use teep_cose::PublicKey;
use teep_proto::FreshnessMechanism;

/// What the Agent asks for.
#[derive(Clone, Copy, Debug)]
pub struct EvidenceRequest<'a> {
    /// The negotiated freshness mechanism.
    pub freshness: FreshnessMechanism,
    /// With [`FreshnessMechanism::Nonce`]: the value for eat_nonce (the QueryRequest
    /// challenge, or its token in the passport model).
    pub nonce: Option<&'a [u8]>,
    /// Current time, Unix seconds (0 when unknown).
    pub now: u64,
    /// RFC 9679 thumbprint of the Agent's TEEP key, for cnf.
    pub teep_kid: &'a [u8; 32],
    /// Keys of the TAM the Evidence goes to, for encrypting it (§9.2).
    pub tam_keys: &'a [PublicKey],
}

/// Evidence and its attestation-payload-format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    /// Media type (attestation-payload-format).
    pub format: String,
    /// The Evidence bytes.
    pub payload: Vec<u8>,
}

/// Why no Evidence could be produced.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttesterError {
    /// The requested freshness mechanism needs something missing (a nonce, the time).
    Freshness(&'static str),
    /// Signing or encrypting failed.
    Crypto(String),
}

impl core::fmt::Display for AttesterError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Freshness(what) => write!(f, "freshness: {what}"),
            Self::Crypto(e) => write!(f, "evidence: {e}"),
        }
    }
}

impl core::error::Error for AttesterError {}

/// A source of Evidence.
pub trait Attester: Send {
    /// The freshness mechanisms this attester supports, in preference order.
    fn freshness_mechanisms(&self) -> Vec<FreshnessMechanism>;

    /// Produces Evidence for one QueryResponse.
    fn evidence(&mut self, request: &EvidenceRequest<'_>) -> Result<Evidence, AttesterError>;
}

impl<A: Attester + ?Sized> Attester for Box<A> {
    fn freshness_mechanisms(&self) -> Vec<FreshnessMechanism> {
        (**self).freshness_mechanisms()
    }

    fn evidence(&mut self, request: &EvidenceRequest<'_>) -> Result<Evidence, AttesterError> {
        (**self).evidence(request)
    }
}

/// Chooses the freshness mechanism (§10): the first mechanism of the TAM's list the
/// attester supports, where nonce needs a value and timestamp needs the time.
pub fn negotiate_freshness(
    tam: &[FreshnessMechanism],
    ours: &[FreshnessMechanism],
    have_nonce: bool,
    have_time: bool,
) -> Option<FreshnessMechanism> {
    tam.iter().copied().find(|m| {
        ours.contains(m)
            && match m {
                FreshnessMechanism::Nonce => have_nonce,
                FreshnessMechanism::Timestamp => have_time,
                FreshnessMechanism::Other(_) => false,
            }
    })
}
