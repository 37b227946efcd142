//! Errors of this crate.

use core::fmt;

/// Why a COSE operation failed.
///
/// Variants separate malformed peer input ([`Error::Cbor`], [`Error::Malformed`],
/// [`Error::UnknownHeader`], ...), failed cryptographic checks ([`Error::BadSignature`],
/// [`Error::BadMac`], [`Error::Decrypt`]) and caller misuse ([`Error::KeyMismatch`],
/// [`Error::InvalidKey`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not acceptable CBOR.
    Cbor(teep_cbor::Error),
    /// The CBOR is well formed but not the expected COSE structure.
    Malformed(&'static str),
    /// The algorithm is not implemented here.
    UnsupportedAlgorithm(i64),
    /// The algorithm is implemented but not allowed by the caller's policy.
    AlgorithmNotAllowed(i64),
    /// The algorithm is missing from the protected header (only in the unprotected one).
    UnprotectedAlg,
    /// The algorithm header parameter is missing.
    MissingAlg,
    /// A header parameter label this implementation does not know.
    UnknownHeader(i64),
    /// The crit header lists a parameter this implementation does not process.
    UnknownCritical(i64),
    /// A header parameter appears in both the protected and the unprotected bucket.
    DuplicateHeader(i64),
    /// No signature verified.
    BadSignature,
    /// The MAC tag did not verify.
    BadMac,
    /// The key does not fit the algorithm.
    KeyMismatch,
    /// Key material could not be parsed or is invalid.
    InvalidKey(&'static str),
    /// Authenticated decryption or key unwrapping failed.
    Decrypt,
    /// The operation needs a payload that is neither attached nor supplied.
    MissingPayload,
    /// A feature that this crate deliberately does not implement.
    Unsupported(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Cbor(e) => write!(f, "COSE: {e}"),
            Error::Malformed(what) => write!(f, "malformed COSE structure: {what}"),
            Error::UnsupportedAlgorithm(a) => write!(f, "unsupported COSE algorithm {a}"),
            Error::AlgorithmNotAllowed(a) => write!(f, "COSE algorithm {a} not allowed"),
            Error::UnprotectedAlg => f.write_str("COSE algorithm is not in the protected header"),
            Error::MissingAlg => f.write_str("COSE algorithm header parameter missing"),
            Error::UnknownHeader(l) => write!(f, "unknown COSE header parameter {l}"),
            Error::UnknownCritical(l) => write!(f, "critical COSE header parameter {l} unknown"),
            Error::DuplicateHeader(l) => {
                write!(f, "COSE header parameter {l} in both protected and unprotected")
            }
            Error::BadSignature => f.write_str("COSE signature verification failed"),
            Error::BadMac => f.write_str("COSE MAC verification failed"),
            Error::KeyMismatch => f.write_str("key does not match the COSE algorithm"),
            Error::InvalidKey(what) => write!(f, "invalid key: {what}"),
            Error::Decrypt => f.write_str("COSE decryption failed"),
            Error::MissingPayload => f.write_str("COSE payload is detached and was not supplied"),
            Error::Unsupported(what) => write!(f, "unsupported: {what}"),
        }
    }
}

impl core::error::Error for Error {}

impl From<teep_cbor::Error> for Error {
    fn from(e: teep_cbor::Error) -> Self {
        Error::Cbor(e)
    }
}

impl From<minicbor::decode::Error> for Error {
    fn from(e: minicbor::decode::Error) -> Self {
        Error::Cbor(teep_cbor::decode_error_at(e))
    }
}
