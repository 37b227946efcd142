//! TEEP cipher suites and SUIT COSE profiles (draft-ietf-teep-protocol-26 §7.1, §7.2).
//!
//! ```cddl
//! teep-operation-sign1-ed25519 = [ cose-sign1, cose-alg-ed25519 ]
//! teep-operation-sign1-esp256  = [ cose-sign1, cose-alg-esp256 ]
//! teep-cipher-suite-sign1-ed25519 = [ teep-operation-sign1-ed25519 ]
//! teep-cipher-suite-sign1-esp256  = [ teep-operation-sign1-esp256 ]
//! cose-sign1 = 18      ; CoAP Content-Format value
//! cose-alg-esp256  = -9   ; ECDSA using P-256 curve and SHA-256
//! cose-alg-ed25519 = -19  ; EdDSA using Ed25519 curve
//!
//! $suit-cose-profile /= suit-sha256-esp256-ecdh-a128ctr
//! $suit-cose-profile /= suit-sha256-ed25519-ecdh-a128ctr
//! $suit-cose-profile /= suit-sha256-esp256-ecdh-a128gcm
//! $suit-cose-profile /= suit-sha256-ed25519-ecdh-chacha-poly
//! ```
//!
//! Older peers offer `[[18, -7]]` (ES256) and `[[18, -8]]` (EdDSA): the same keys and
//! signatures under the older algorithm ids. They are ordinary suites here; a caller accepts
//! them only by listing them among its own suites.

use alloc::borrow::Cow;
use alloc::vec::Vec;
use core::fmt;

use crate::codec::{Reader, Writer};
use crate::error::DecodeError;

/// CoAP Content-Format of COSE_Sign1 (the operation type of the mandatory suites).
pub const COSE_SIGN1: u64 = 18;
/// CoAP Content-Format of COSE_Sign.
pub const COSE_SIGN: u64 = 98;

/// One operation of a cipher suite: a COSE structure type and an algorithm.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Operation {
    /// The COSE type as a CoAP Content-Format (18 = COSE_Sign1).
    pub cose_type: u64,
    /// The COSE algorithm id (-9 = ESP256, -19 = Ed25519).
    pub algorithm: i64,
}

impl Operation {
    /// An operation of `cose_type` with `algorithm`.
    pub const fn new(cose_type: u64, algorithm: i64) -> Self {
        Operation { cose_type, algorithm }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        const FIELD: &str = "teep-operation";
        let n = r.array(FIELD)?;
        if n != 2 {
            return Err(DecodeError::Length { field: FIELD, len: n, min: 2, max: 2 });
        }
        let cose_type = r.uint("teep-operation.cose-type")?;
        let algorithm = r.int("teep-operation.algorithm")?;
        Ok(Operation { cose_type, algorithm })
    }

    fn encode(&self, w: &mut Writer) {
        w.array(2);
        w.uint(self.cose_type);
        w.int(self.algorithm);
    }
}

/// A TEEP cipher suite: an ordered, non-empty list of operations.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CipherSuite(Cow<'static, [Operation]>);

impl CipherSuite {
    /// `[[18, -9]]`: COSE_Sign1 with ESP256 (mandatory for the TAM).
    pub const SIGN1_ESP256: Self = Self::from_static(&[Operation::new(COSE_SIGN1, -9)]);
    /// `[[18, -19]]`: COSE_Sign1 with Ed25519 (mandatory for the TAM).
    pub const SIGN1_ED25519: Self = Self::from_static(&[Operation::new(COSE_SIGN1, -19)]);
    /// `[[18, -7]]`: COSE_Sign1 with ES256, as legacy peers offer it.
    pub const SIGN1_ES256_LEGACY: Self = Self::from_static(&[Operation::new(COSE_SIGN1, -7)]);
    /// `[[18, -8]]`: COSE_Sign1 with EdDSA, as legacy peers offer it.
    pub const SIGN1_EDDSA_LEGACY: Self = Self::from_static(&[Operation::new(COSE_SIGN1, -8)]);

    /// A suite from a static list of operations.
    pub const fn from_static(ops: &'static [Operation]) -> Self {
        CipherSuite(Cow::Borrowed(ops))
    }

    /// A suite from operations built at run time.
    pub fn new(ops: Vec<Operation>) -> Self {
        CipherSuite(Cow::Owned(ops))
    }

    /// The operations in order.
    pub fn operations(&self) -> &[Operation] {
        &self.0
    }

    /// The algorithm of a single-operation COSE_Sign1 suite, the only shape this crate can
    /// seal and open.
    pub fn sign1_algorithm(&self) -> Option<i64> {
        match self.operations() {
            [op] if op.cose_type == COSE_SIGN1 => Some(op.algorithm),
            _ => None,
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.nonempty_array("teep-cipher-suite")?;
        let mut ops = Vec::new();
        for _ in 0..n {
            ops.push(Operation::decode(r)?);
        }
        Ok(CipherSuite::new(ops))
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.array(self.0.len());
        for op in self.operations() {
            op.encode(w);
        }
    }
}

impl fmt::Debug for CipherSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for CipherSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, op) in self.operations().iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "[{},{}]", op.cose_type, op.algorithm)?;
        }
        f.write_str("]")
    }
}

/// Picks the suite to use: the first of `ours` (in our order of preference) that the peer also
/// lists in `theirs` (§7.1). Suites match operation for operation; ES256 is not treated as
/// ESP256 unless `ours` lists the legacy suite.
pub fn negotiate(ours: &[CipherSuite], theirs: &[CipherSuite]) -> Option<CipherSuite> {
    ours.iter().find(|s| theirs.contains(s)).cloned()
}

/// A SUIT COSE profile: the algorithms used for SUIT Reports and EAT protection (§7.2),
/// `[digest, signature, key-exchange, content-encryption]` for the registered profiles.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SuitCoseProfile(Cow<'static, [i64]>);

impl SuitCoseProfile {
    /// suit-sha256-esp256-ecdh-a128ctr `[-16, -9, -29, -65534]`.
    pub const SHA256_ESP256_ECDH_A128CTR: Self = Self::from_static(&[-16, -9, -29, -65534]);
    /// suit-sha256-ed25519-ecdh-a128ctr `[-16, -19, -29, -65534]`.
    pub const SHA256_ED25519_ECDH_A128CTR: Self = Self::from_static(&[-16, -19, -29, -65534]);
    /// suit-sha256-esp256-ecdh-a128gcm `[-16, -9, -29, 1]`.
    pub const SHA256_ESP256_ECDH_A128GCM: Self = Self::from_static(&[-16, -9, -29, 1]);
    /// suit-sha256-ed25519-ecdh-chacha-poly `[-16, -19, -29, 24]`.
    pub const SHA256_ED25519_ECDH_CHACHA_POLY: Self = Self::from_static(&[-16, -19, -29, 24]);

    /// A profile from a static list of algorithm ids.
    pub const fn from_static(algs: &'static [i64]) -> Self {
        SuitCoseProfile(Cow::Borrowed(algs))
    }

    /// A profile from algorithm ids built at run time.
    pub fn new(algs: Vec<i64>) -> Self {
        SuitCoseProfile(Cow::Owned(algs))
    }

    /// The algorithm ids in order.
    pub fn algorithms(&self) -> &[i64] {
        &self.0
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.nonempty_array("suit-cose-profile")?;
        let mut algs = Vec::new();
        for _ in 0..n {
            algs.push(r.int("suit-cose-profile")?);
        }
        Ok(SuitCoseProfile::new(algs))
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.array(self.0.len());
        for alg in self.algorithms() {
            w.int(*alg);
        }
    }
}

impl fmt::Debug for SuitCoseProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.algorithms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_prefers_our_order_and_matches_exactly() {
        let ours = [CipherSuite::SIGN1_ED25519, CipherSuite::SIGN1_ESP256];
        let theirs = [CipherSuite::SIGN1_ESP256, CipherSuite::SIGN1_ED25519];
        assert_eq!(negotiate(&ours, &theirs), Some(CipherSuite::SIGN1_ED25519));
        assert_eq!(negotiate(&ours, &[CipherSuite::SIGN1_ES256_LEGACY]), None);
        let with_legacy = [CipherSuite::SIGN1_ESP256, CipherSuite::SIGN1_ES256_LEGACY];
        assert_eq!(
            negotiate(&with_legacy, &[CipherSuite::SIGN1_ES256_LEGACY]),
            Some(CipherSuite::SIGN1_ES256_LEGACY)
        );
        let built = CipherSuite::new(alloc::vec![Operation::new(18, -9)]);
        assert_eq!(built, CipherSuite::SIGN1_ESP256);
        assert_eq!(built.sign1_algorithm(), Some(-9));
    }
}
