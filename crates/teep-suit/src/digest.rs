//! SUIT_Digest (draft-ietf-suit-manifest-34 §10, "SUIT Digest Container").
//!
//! ```cddl
//! SUIT_Digest = [
//!   suit-digest-algorithm-id : suit-cose-hash-algs,
//!   suit-digest-bytes : bstr,
//!   * $$SUIT_Digest-extensions
//! ]
//! ```
//! Only SHA-256 (COSE -16), the required algorithm, is implemented; other algorithms decode
//! but do not verify ([`SuitError::UnsupportedDigest`]).

use alloc::vec::Vec;

use minicbor::{Decoder, Encoder};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use crate::cbor;
use crate::error::SuitError;

/// COSE algorithm id of SHA-256.
pub const SHA256: i64 = -16;

/// A SUIT_Digest: algorithm and digest bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuitDigest {
    /// COSE hash algorithm id (-16 = SHA-256).
    pub algorithm: i64,
    /// The digest value.
    pub bytes: Vec<u8>,
}

impl SuitDigest {
    /// SHA-256 over `data`.
    pub fn sha256(data: &[u8]) -> Self {
        Self { algorithm: SHA256, bytes: Sha256::digest(data).to_vec() }
    }

    /// A SHA-256 digest from its value.
    pub fn from_sha256(value: [u8; 32]) -> Self {
        Self { algorithm: SHA256, bytes: value.to_vec() }
    }

    /// Decodes a SUIT_Digest from its encoding (the content of the bstr wrapper).
    pub fn decode(bytes: &[u8]) -> Result<Self, SuitError> {
        cbor::precheck(bytes)?;
        let mut d = Decoder::new(bytes);
        Self::decode_from(&mut d)
    }

    /// Decodes from a decoder positioned on the array (input prechecked).
    pub(crate) fn decode_from(d: &mut Decoder<'_>) -> Result<Self, SuitError> {
        let n = cbor::array_len(d, "SUIT_Digest")?;
        if n < 2 {
            return Err(SuitError::Malformed("SUIT_Digest needs algorithm and bytes"));
        }
        let algorithm = cbor::int(d, "SUIT_Digest algorithm")?;
        let value = cbor::bytes(d, "SUIT_Digest bytes")?;
        // Digest extensions are allowed by the CDDL and carry nothing we use.
        for _ in 2..n {
            cbor::skip(d, "SUIT_Digest extension")?;
        }
        Ok(Self { algorithm, bytes: value.to_vec() })
    }

    /// The CBOR encoding `[alg, bytes]`.
    pub fn encode(&self) -> Vec<u8> {
        let mut enc = cbor::encoder();
        self.encode_into(&mut enc);
        enc.into_writer()
    }

    pub(crate) fn encode_into(&self, enc: &mut Encoder<Vec<u8>>) {
        cbor::infallible(enc.array(2));
        cbor::infallible(enc.i64(self.algorithm));
        cbor::infallible(enc.bytes(&self.bytes));
    }

    /// The SHA-256 value, if this is a well-sized SHA-256 digest.
    pub fn sha256_value(&self) -> Result<[u8; 32], SuitError> {
        if self.algorithm != SHA256 {
            return Err(SuitError::UnsupportedDigest(self.algorithm));
        }
        self.bytes.as_slice().try_into().map_err(|_| SuitError::Malformed("SHA-256 digest length"))
    }

    /// Constant-time check that `data` hashes to this digest.
    pub fn matches(&self, data: &[u8]) -> Result<bool, SuitError> {
        let expected = self.sha256_value()?;
        Ok(matches_sha256(&expected, &Sha256::digest(data).into()))
    }
}

/// Constant-time comparison of two SHA-256 values.
pub(crate) fn matches_sha256(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let d = SuitDigest::sha256(b"Hello, Secure World!");
        assert_eq!(SuitDigest::decode(&d.encode()).ok(), Some(d.clone()));
        assert_eq!(d.matches(b"Hello, Secure World!").ok(), Some(true));
        assert_eq!(d.matches(b"Hello, Secure World?").ok(), Some(false));
    }

    #[test]
    fn other_algorithm_is_unsupported() {
        let d = SuitDigest { algorithm: -43, bytes: alloc::vec![0; 48] };
        assert!(matches!(d.matches(b""), Err(SuitError::UnsupportedDigest(-43))));
    }
}
