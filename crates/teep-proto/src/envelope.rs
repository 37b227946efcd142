//! The secure envelope of TEEP messages (draft-ietf-teep-protocol-26 §4.1, §7.1): every
//! message is the payload of a COSE_Sign1 (the negotiated suite) or, for the first
//! QueryRequest, of a COSE_Sign carrying one signature per offered suite.
//!
//! The kid in each signature's unprotected header is the RFC 9679 thumbprint of the signer's
//! public key. Verification runs over the exact bytes received (the COSE layer builds the
//! Sig_structure from the received protected bucket and payload), and only algorithms the
//! caller allows are accepted, so legacy ids (-7 ES256, -8 EdDSA) pass only when listed.

use alloc::vec::Vec;
use core::fmt;

use teep_cose::{Algorithm, CoseSign, PublicKey, Sign1, SigningKey};

use crate::cipher_suite::{COSE_SIGN, COSE_SIGN1, CipherSuite, Operation};
use crate::error::DecodeError;
use crate::message::{Message, MessageLimits};
use crate::registry::Numbering;

/// Why sealing or opening a TEEP message failed.
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Error {
    /// The payload is not a valid TEEP message (or, when sealing, the message breaks a rule).
    Message(DecodeError),
    /// The COSE layer rejected the structure, a header, a key or the signature.
    Cose(teep_cose::Error),
    /// The signature algorithm is not in the caller's allowed list.
    AlgorithmNotAllowed(i64),
    /// No trusted key verifies the signature (no trusted key supports its algorithm, or the
    /// signature is wrong).
    UntrustedSigner,
    /// The COSE structure carries no payload (TEEP messages are never detached).
    DetachedPayload,
    /// `seal_sign` was called without signers.
    NoSigners,
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Error::Message(e)
    }
}

impl From<teep_cose::Error> for Error {
    fn from(e: teep_cose::Error) -> Self {
        Error::Cose(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Message(e) => write!(f, "TEEP message: {e}"),
            Error::Cose(e) => write!(f, "TEEP envelope: {e}"),
            Error::AlgorithmNotAllowed(a) => write!(f, "TEEP envelope: algorithm {a} not allowed"),
            Error::UntrustedSigner => f.write_str("TEEP envelope: no trusted key verifies it"),
            Error::DetachedPayload => f.write_str("TEEP envelope: payload is detached"),
            Error::NoSigners => f.write_str("TEEP envelope: no signer given"),
        }
    }
}

impl core::error::Error for Error {}

impl Error {
    /// The TEEP err-code an Agent reports for this failure (§5.5).
    pub fn err_code(&self) -> crate::registry::ErrCode {
        use crate::registry::ErrCode;
        match self {
            Error::AlgorithmNotAllowed(_) => ErrCode::UNSUPPORTED_CIPHER_SUITES,
            Error::Cose(teep_cose::Error::UnsupportedAlgorithm(_)) => {
                ErrCode::UNSUPPORTED_CIPHER_SUITES
            }
            Error::Message(e) => e.err_code(),
            _ => ErrCode::PERMANENT_ERROR,
        }
    }
}

/// Which COSE structure carried the message.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CoseStructure {
    /// COSE_Sign1 (tag 18).
    Sign1,
    /// COSE_Sign (tag 98), with the index of the signature that verified.
    Sign {
        /// Index of the verified COSE_Signature.
        signature: usize,
    },
}

/// A verified and decoded TEEP message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Opened {
    /// The message.
    pub message: Message,
    /// Index in the caller's trusted keys of the key that verified it.
    pub key_index: usize,
    /// The single-operation COSE_Sign1 suite of the verified algorithm: for a COSE_Sign this
    /// is the suite whose signature verified, the one to answer with (§7.1).
    pub suite: CipherSuite,
    /// The verified algorithm.
    pub algorithm: Algorithm,
    /// The COSE structure received.
    pub structure: CoseStructure,
}

/// Encodes `msg` and signs it into a tagged COSE_Sign1 with `{1: alg}` protected and
/// `{4: thumbprint}` unprotected. The message is validated first.
pub fn seal_sign1(
    msg: &Message,
    numbering: Numbering,
    key: &SigningKey,
    alg: Algorithm,
) -> Result<Vec<u8>, Error> {
    msg.validate()?;
    let payload = msg.encode(numbering);
    let kid = key.public_key().thumbprint();
    Ok(teep_cose::sign1(&payload, key, alg, Some(&kid), &[], true)?)
}

/// Encodes `msg` and signs it into a tagged COSE_Sign with one COSE_Signature per signer
/// (§7.1: the first QueryRequest, one signature per offered suite).
pub fn seal_sign(
    msg: &Message,
    numbering: Numbering,
    signers: &[(&SigningKey, Algorithm)],
) -> Result<Vec<u8>, Error> {
    if signers.is_empty() {
        return Err(Error::NoSigners);
    }
    msg.validate()?;
    let payload = msg.encode(numbering);
    let kids: Vec<[u8; 32]> = signers.iter().map(|(k, _)| k.public_key().thumbprint()).collect();
    let with_kids: Vec<(&SigningKey, Algorithm, Option<&[u8]>)> = signers
        .iter()
        .zip(kids.iter())
        .map(|((key, alg), kid)| (*key, *alg, Some(kid.as_slice())))
        .collect();
    Ok(teep_cose::sign(&payload, &with_kids, true)?)
}

/// Verifies a COSE_Sign1 or COSE_Sign (tagged or untagged) against `trusted` keys, accepting
/// only `allowed` algorithms, then decodes the payload in `numbering` (§4.1.2 steps 1-5).
pub fn open(
    bytes: &[u8],
    numbering: Numbering,
    trusted: &[PublicKey],
    allowed: &[Algorithm],
) -> Result<Opened, Error> {
    open_limited(bytes, numbering, trusted, allowed, &MessageLimits::default())
}

/// [`open`] with the payload decoded under `limits` ([`Message::decode_limited`]).
pub fn open_limited(
    bytes: &[u8],
    numbering: Numbering,
    trusted: &[PublicKey],
    allowed: &[Algorithm],
    limits: &MessageLimits,
) -> Result<Opened, Error> {
    let how = Opening { numbering, trusted, allowed, limits };
    match bytes.first() {
        // Tag 18 (0xd2) is COSE_Sign1; tag 98 (0xd8 0x62) is COSE_Sign.
        Some(0xd2) => open_sign1(&Sign1::decode(bytes)?, &how),
        Some(0xd8) => open_sign(&CoseSign::decode(bytes)?, &how),
        _ => match Sign1::decode(bytes) {
            Ok(s) => open_sign1(&s, &how),
            Err(first) => match CoseSign::decode(bytes) {
                Ok(s) => open_sign(&s, &how),
                Err(_) => Err(Error::Cose(first)),
            },
        },
    }
}

/// What [`open_limited`] checks a message against.
struct Opening<'a> {
    numbering: Numbering,
    trusted: &'a [PublicKey],
    allowed: &'a [Algorithm],
    limits: &'a MessageLimits,
}

fn open_sign1(s: &Sign1<'_>, how: &Opening<'_>) -> Result<Opened, Error> {
    let Opening { numbering, trusted, allowed, limits } = *how;
    let alg = s.algorithm()?;
    if !allowed.contains(&alg) {
        return Err(Error::AlgorithmNotAllowed(alg.0));
    }
    let payload = s.payload.ok_or(Error::DetachedPayload)?;

    // The kid names the key by thumbprint; a kid in another form (older peers) falls back to
    // trying every trusted key that supports the algorithm.
    let by_kid =
        s.kid().and_then(|kid| trusted.iter().position(|k| k.thumbprint().as_slice() == kid));
    let key_index = match by_kid {
        Some(i) => {
            s.verify(trusted.get(i).ok_or(Error::UntrustedSigner)?, &[])
                .map_err(|_| Error::UntrustedSigner)?;
            i
        }
        None => trusted
            .iter()
            .position(|k| k.supports(alg) && s.verify(k, &[]).is_ok())
            .ok_or(Error::UntrustedSigner)?,
    };

    let message = Message::decode_limited(payload, numbering, limits)?;
    Ok(Opened {
        message,
        key_index,
        suite: sign1_suite(alg),
        algorithm: alg,
        structure: CoseStructure::Sign1,
    })
}

fn open_sign(s: &CoseSign<'_>, how: &Opening<'_>) -> Result<Opened, Error> {
    let Opening { numbering, trusted, allowed, limits } = *how;
    let payload = s.payload.ok_or(Error::DetachedPayload)?;
    let (signature, key_index) = match s.verify_any_with(trusted, Some(allowed), &[], payload) {
        Ok(found) => found,
        Err(teep_cose::Error::AlgorithmNotAllowed(a)) => return Err(Error::AlgorithmNotAllowed(a)),
        Err(_) => return Err(Error::UntrustedSigner),
    };
    let alg = s.signatures.get(signature).ok_or(Error::UntrustedSigner)?.algorithm()?;
    let message = Message::decode_limited(payload, numbering, limits)?;
    Ok(Opened {
        message,
        key_index,
        suite: sign1_suite(alg),
        algorithm: alg,
        structure: CoseStructure::Sign { signature },
    })
}

fn sign1_suite(alg: Algorithm) -> CipherSuite {
    CipherSuite::new(alloc::vec![Operation::new(COSE_SIGN1, alg.0)])
}

/// The algorithms of the single-operation COSE_Sign1 (or COSE_Sign) suites in `suites`, in
/// order and without repeats: the `allowed` list for [`open`] and the signers for
/// [`seal_sign`].
pub fn suite_algorithms(suites: &[CipherSuite]) -> Vec<Algorithm> {
    let mut out: Vec<Algorithm> = Vec::new();
    for suite in suites {
        if let [op] = suite.operations()
            && (op.cose_type == COSE_SIGN1 || op.cose_type == COSE_SIGN)
            && !out.contains(&Algorithm(op.algorithm))
        {
            out.push(Algorithm(op.algorithm));
        }
    }
    out
}
