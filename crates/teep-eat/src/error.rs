//! Errors of EAT decoding, verification and appraisal.

use core::fmt;

/// Why an EAT (Evidence or Attestation Result) was refused.
///
/// The variants separate malformed input ([`EatError::Cbor`], [`EatError::Malformed`]), failed
/// cryptography ([`EatError::Cose`], [`EatError::UntrustedKey`], [`EatError::Decrypt`]) and
/// failed appraisal (the rest).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EatError {
    /// The bytes are not acceptable CBOR (RFC 8949 preferred, definite, no duplicate keys).
    Cbor(teep_cbor::Error),
    /// The COSE wrapper is invalid or its signature does not verify.
    Cose(teep_cose::Error),
    /// Well-formed CBOR that breaks the claim syntax.
    Malformed(&'static str),
    /// A claim the profile requires is absent.
    MissingClaim(&'static str),
    /// eat_profile is absent or names another profile.
    WrongProfile,
    /// No trusted key verified the signature (attester key or Verifier key).
    UntrustedKey,
    /// The signature algorithm is not allowed.
    AlgorithmNotAllowed(i64),
    /// eat_nonce does not equal the expected challenge.
    NonceMismatch,
    /// Timestamp freshness failed: iat absent or outside the accepted window.
    Stale,
    /// cnf does not name the expected key (RFC 8747 §3.4 kid).
    ConfirmationMismatch,
    /// A claim does not match the reference values.
    ReferenceMismatch(&'static str),
    /// The Attestation Result says the attester is not trustworthy.
    NotAffirming,
    /// Decrypting an encrypted EAT failed (wrong key or altered ciphertext).
    Decrypt,
}

impl fmt::Display for EatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cbor(e) => write!(f, "invalid CBOR: {e}"),
            Self::Cose(e) => write!(f, "invalid COSE: {e}"),
            Self::Malformed(what) => write!(f, "malformed claim set: {what}"),
            Self::MissingClaim(name) => write!(f, "required claim {name} is missing"),
            Self::WrongProfile => f.write_str("eat_profile is missing or not the TEEP profile"),
            Self::UntrustedKey => f.write_str("no trusted key verified the signature"),
            Self::AlgorithmNotAllowed(alg) => write!(f, "signature algorithm {alg} not allowed"),
            Self::NonceMismatch => f.write_str("eat_nonce does not match the challenge"),
            Self::Stale => f.write_str("iat is missing or outside the freshness window"),
            Self::ConfirmationMismatch => {
                f.write_str("cnf does not name the key that signed the TEEP message")
            }
            Self::ReferenceMismatch(name) => write!(f, "{name} does not match reference values"),
            Self::NotAffirming => f.write_str("the attestation result is not affirming"),
            Self::Decrypt => f.write_str("cannot decrypt the encrypted EAT"),
        }
    }
}

impl core::error::Error for EatError {}

impl From<teep_cbor::Error> for EatError {
    fn from(e: teep_cbor::Error) -> Self {
        Self::Cbor(e)
    }
}

impl From<minicbor::decode::Error> for EatError {
    fn from(e: minicbor::decode::Error) -> Self {
        Self::Cbor(teep_cbor::decode_error_at(e))
    }
}

impl From<teep_cose::Error> for EatError {
    fn from(e: teep_cose::Error) -> Self {
        match e {
            teep_cose::Error::Cbor(c) => Self::Cbor(c),
            teep_cose::Error::AlgorithmNotAllowed(a) => Self::AlgorithmNotAllowed(a),
            other => Self::Cose(other),
        }
    }
}
