//! COSE (RFC 9052 structures, RFC 9053 algorithms) for TEEP and SUIT, `no_std` + `alloc`.
//!
//! Implemented: COSE_Sign1 and COSE_Sign (ESP256/ES256 on P-256, Ed25519/EdDSA), COSE_Mac0
//! (HMAC 256/256), COSE_Encrypt0 and COSE_Encrypt (AES-GCM, ChaCha20/Poly1305, AES-CTR with a
//! streaming decryptor; recipients direct, AES key wrap, ECDH-ES/SS + AES key wrap and
//! ECDH-ES + HKDF-256 on P-256 with the COSE_KDF_Context), key handling (PKCS#8/SEC1/SPKI PEM,
//! JWK, COSE_Key) and the RFC 9679 COSE Key Thumbprint.
//!
//! # Why COSE is written by hand here
//! The `coset` crate (0.4) was evaluated and not used on peer input: it rejects algorithm and
//! header identifiers outside its built-in table (TEEP and SUIT need ESP256 = -9,
//! Ed25519 = -19 and AES-CTR = -65534..-65532), it panics (assert) when a message meant to have
//! a detached payload carries one, and its recursive decoder needs more than 128 KiB of stack
//! for nesting that is still inside its own limits. This crate instead runs the strict,
//! iterative [`teep_cbor::check`] once on every input, then decodes with `minicbor` borrowing
//! from the input, and builds every Sig_structure from the exact protected bytes received
//! (RFC 9052 §4.4).
//!
//! # Features
//! - `std`: enables the precomputed P-256 basepoint tables of `p256` (about 3x faster ECDSA
//!   signing); everything else is `no_std` + `alloc`.
//!
//! # Not supported (each gives a precise error)
//! P-384/P-521/Ed448 and ES384/ES512, COSE_Mac with recipients and AES-MAC, HMAC other than
//! 256/256, Partial IV with a context Base IV, nested COSE recipients, AES-CBC, compressed EC2
//! points, text header labels and text algorithm names, ECDH static key id (-3).
//!
//! # Strictness
//! - `alg` must be in the protected bucket (of the body for COSE_Sign1, of each
//!   COSE_Signature for COSE_Sign) — [`Error::UnprotectedAlg`].
//! - Header labels outside [`header::KNOWN_LABELS`] are rejected ([`Error::UnknownHeader`]);
//!   a `crit` entry that is not understood is [`Error::UnknownCritical`] (RFC 9052 §3.1).
//! - A label may not appear in both buckets (RFC 9052 §3).
//! - Algorithm aliases (ES256 vs ESP256, EdDSA vs Ed25519) are all accepted by
//!   [`PublicKey::verify`]; restricting them is the caller's policy.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod algorithm;
mod cbor;
mod encrypt;
mod error;
pub mod header;
mod jwk;
pub mod key;
mod mac0;
mod sign;
mod sign1;

pub use algorithm::Algorithm;
pub use encrypt::{
    CoseEncrypt, CtrDecryptor, Encrypt0, Encrypted, MAX_RECIPIENTS, Recipient, RecipientKey,
    RecipientSpec, TAG_ENCRYPT, TAG_ENCRYPT0, content_key_len, enc_structure, encrypt, encrypt0,
    is_non_aead, kdf_context,
};
pub use error::Error;
pub use header::{ContentType, Header};
pub use key::{PublicKey, SigningKey};
pub use mac0::{Mac0, TAG_MAC0, mac_structure0, mac0};
pub use sign::{CoseSign, MAX_SIGNATURES, Signature, TAG_SIGN, sig_structure, sign, sign_with_aad};
pub use sign1::{Sign1, TAG_SIGN1, sig_structure1, sign1, sign1_detached};
