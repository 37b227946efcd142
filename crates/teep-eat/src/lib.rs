//! Entity Attestation Tokens (RFC 9711) for TEEP (draft-ietf-teep-protocol-26 §4.3 and §6
//! "EAT Profile"), no_std + alloc.
//!
//! * [`ClaimSet`]: the TEEP profile's claims (eat_profile, ueid, oemid, hwmodel, hwversion,
//!   manifests with SUIT_Reference, cnf, eat_nonce, iat), strict decode and preferred encode.
//! * [`sign`] / [`verify`]: CWTs as tagged COSE_Sign1, kid = RFC 9679 thumbprint.
//! * [`appraise`]: a Verifier's appraisal against endorsed keys and reference values.
//! * [`AttestationResult`] (TEEP profile) and [`Ear`] (draft-ietf-rats-ear): Attestation
//!   Results; [`validate`] is the Relying Party's check (trusted Verifier, cnf, freshness).
//! * [`encrypt`] / [`decrypt`]: COSE_Encrypt with ECDH-ES + A128KW ("EAT Encryption", §9.2).
//!
//! Not supported: JSON EATs (the profile is CBOR only), detached EAT bundles, submodules in
//! Evidence, cnf forms other than kid, eat_nonce as an array (the profile says single bstr).
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod appraisal;
pub mod claims;
mod encrypt;
mod error;
mod result;
mod token;

pub use appraisal::{Policy, ReferenceValues, appraise};
pub use claims::{ClaimSet, Digest, HwVersion, ManifestRef, OemId};
pub use encrypt::{EAT_ENCRYPTION_CONTEXT, decrypt, encrypt, is_encrypted};
pub use error::EatError;
pub use result::{
    Appraisal, AttestationResult, EAR_MEDIA_TYPE, EAR_PROFILE, Ear, Status, trust_claim, validate,
};
pub use token::{
    DEFAULT_ALGORITHMS, EAT_CWT_MEDIA_TYPE, Freshness, TEEP_EAT_PROFILE, Verified, peek, sign,
    verify,
};
