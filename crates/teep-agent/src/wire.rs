//! The TEEP secure envelope (draft-ietf-teep-protocol-26 §4.1, §7.1) on the Agent's side:
//! which TAM's keys and numbering to open a message with, and how its answer is sealed.
//! The COSE work itself is `teep_proto::open` / `teep_proto::seal_sign1`.

use alloc::vec::Vec;

use teep_cose::{Algorithm, PublicKey, SigningKey};
use teep_proto::{Message, Numbering};

use crate::error::{AgentError, Rejection};

/// A verified and decoded TEEP message.
#[derive(Debug)]
pub(crate) struct Opened {
    /// The message.
    pub message: Message,
    /// Index of the candidate (TAM) whose key verified it.
    pub candidate: usize,
    /// The algorithm of the verified signature.
    pub algorithm: Algorithm,
}

/// A TAM the message may come from: its keys and numbering.
pub(crate) struct Candidate<'a> {
    pub keys: &'a [PublicKey],
    pub numbering: Numbering,
}

/// Verifies `bytes` against each candidate's keys (§4.1.2 steps 1-5) and decodes it in the
/// numbering of the first candidate whose key verifies it. When no candidate accepts it,
/// the most telling failure is returned: a structural or decoding problem over "untrusted".
pub(crate) fn open(
    bytes: &[u8],
    candidates: &[Candidate<'_>],
    allowed: &[Algorithm],
) -> Result<Opened, Rejection> {
    if candidates.iter().all(|c| c.keys.is_empty()) {
        return Err(Rejection::NoTrustAnchors);
    }
    let mut failure = Rejection::Untrusted;
    for (candidate, c) in candidates.iter().enumerate().filter(|(_, c)| !c.keys.is_empty()) {
        match teep_proto::open(bytes, c.numbering, c.keys, allowed) {
            Ok(opened) => {
                return Ok(Opened {
                    message: opened.message,
                    candidate,
                    algorithm: opened.algorithm,
                });
            }
            Err(teep_proto::Error::UntrustedSigner) => {}
            Err(e) => failure = rejection(e),
        }
    }
    Err(failure)
}

fn rejection(e: teep_proto::Error) -> Rejection {
    match e {
        teep_proto::Error::Cose(e) => Rejection::Cose(e),
        teep_proto::Error::AlgorithmNotAllowed(alg) => Rejection::AlgorithmNotAllowed(alg),
        teep_proto::Error::Message(e) => Rejection::Decode(e),
        teep_proto::Error::DetachedPayload => Rejection::Cose(teep_cose::Error::MissingPayload),
        _ => Rejection::Untrusted,
    }
}

/// Signs `message` as a tagged COSE_Sign1 with the Agent key (kid: RFC 9679 thumbprint).
pub(crate) fn seal(
    message: &Message,
    numbering: Numbering,
    key: &SigningKey,
    alg: Algorithm,
) -> Result<Vec<u8>, AgentError> {
    teep_proto::seal_sign1(message, numbering, key, alg).map_err(|e| match e {
        teep_proto::Error::Cose(e) => AgentError::Sign(e),
        other => AgentError::Encode(other),
    })
}
