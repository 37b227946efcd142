//! Errors of the Agent core.

use core::fmt;

use teep_proto::{DecodeError, MessageType};

/// Why a TEEP message was dropped without an answer (draft-ietf-teep-protocol-26 §4.1.2:
/// "the TEEP message MUST be rejected"). The caller logs it; the TAM gets nothing.
#[non_exhaustive]
#[derive(Debug)]
pub enum Rejection {
    /// Not a valid COSE_Sign1 / COSE_Sign structure, or a header we do not accept.
    Cose(teep_cose::Error),
    /// The signature algorithm is not allowed by the Agent's configuration.
    AlgorithmNotAllowed(i64),
    /// No trust anchor of the TAM (or of any TAM) verified the signature.
    Untrusted,
    /// The signed payload is not a valid TEEP message.
    Decode(DecodeError),
    /// A message a TAM never sends (QueryResponse, Success, Error).
    UnexpectedMessage(MessageType),
    /// The Agent trusts no TAM key at all.
    NoTrustAnchors,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cose(e) => write!(f, "invalid COSE wrapper: {e}"),
            Self::AlgorithmNotAllowed(alg) => write!(f, "signature algorithm {alg} not allowed"),
            Self::Untrusted => f.write_str("no trusted TAM key verified the signature"),
            Self::Decode(e) => write!(f, "invalid TEEP message: {e}"),
            Self::UnexpectedMessage(t) => write!(f, "unexpected message type {t:?} from a TAM"),
            Self::NoTrustAnchors => f.write_str("no TAM trust anchors configured"),
        }
    }
}

/// Errors returned by [`crate::Agent::handle`].
#[non_exhaustive]
#[derive(Debug)]
pub enum AgentError {
    /// The message was dropped; no response must be sent.
    Rejected(Rejection),
    /// Signing the response failed (a local fault: key or configuration).
    Sign(teep_cose::Error),
    /// The response the Agent built breaks a rule of the draft (a bug in the Agent).
    Encode(teep_proto::Error),
    /// The Agent's configuration offers no suite its key can sign with.
    NoUsableSuite,
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected(r) => write!(f, "message rejected: {r}"),
            Self::Sign(e) => write!(f, "signing the response failed: {e}"),
            Self::Encode(e) => write!(f, "the response is invalid: {e}"),
            Self::NoUsableSuite => f.write_str("no configured cipher suite fits the agent key"),
        }
    }
}

impl core::error::Error for AgentError {}

impl From<Rejection> for AgentError {
    fn from(r: Rejection) -> Self {
        Self::Rejected(r)
    }
}
