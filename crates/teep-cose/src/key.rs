//! Signature keys: P-256 (ECDSA, RFC 9053 §2.1) and Ed25519 (EdDSA, RFC 9053 §2.2), read from
//! PKCS#8 / SEC1 / SPKI PEM, JWK (RFC 7517) and COSE_Key (RFC 9052 §7), and the COSE Key
//! Thumbprint of RFC 9679 used as `kid` throughout TEEP.
//!
//! Secret keys are zeroized on drop by the backends; their `Debug` shows only the key type and
//! a thumbprint prefix.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use minicbor::Decoder;
use minicbor::data::Type;
use p256::elliptic_curve::Generate;
use p256::pkcs8::LineEnding;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::cbor::{self, done};
use crate::jwk::Jwk;
use crate::{Algorithm, Error};

/// COSE_Key labels and values used here (RFC 9052 §7.1, RFC 9053 §7).
pub mod cose_key {
    /// kty
    pub const KTY: i64 = 1;
    /// kid
    pub const KID: i64 = 2;
    /// alg
    pub const ALG: i64 = 3;
    /// key_ops
    pub const KEY_OPS: i64 = 4;
    /// Base IV
    pub const BASE_IV: i64 = 5;
    /// crv (EC2, OKP)
    pub const CRV: i64 = -1;
    /// x coordinate / public key
    pub const X: i64 = -2;
    /// y coordinate (EC2)
    pub const Y: i64 = -3;
    /// private key
    pub const D: i64 = -4;
    /// kty OKP
    pub const KTY_OKP: i64 = 1;
    /// kty EC2
    pub const KTY_EC2: i64 = 2;
    /// kty Symmetric
    pub const KTY_SYMMETRIC: i64 = 4;
    /// crv P-256
    pub const CRV_P256: i64 = 1;
    /// crv Ed25519
    pub const CRV_ED25519: i64 = 6;
    /// symmetric key value (kty 4)
    pub const K: i64 = -1;
}

/// A private signature key.
pub struct SigningKey(SigningInner);

enum SigningInner {
    P256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

/// A public signature key.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// NIST P-256 ECDSA key.
    P256(p256::ecdsa::VerifyingKey),
    /// Ed25519 key.
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl SigningKey {
    /// A fresh P-256 key.
    pub fn generate_p256<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        SigningKey(SigningInner::P256(p256::ecdsa::SigningKey::generate_from_rng(rng)))
    }

    /// A fresh Ed25519 key.
    pub fn generate_ed25519<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        SigningKey(SigningInner::Ed25519(ed25519_dalek::SigningKey::generate(rng)))
    }

    /// A P-256 key from its 32-byte big-endian scalar.
    pub fn from_p256_scalar(d: &[u8]) -> Result<Self, Error> {
        p256::ecdsa::SigningKey::from_slice(d)
            .map(|k| SigningKey(SigningInner::P256(k)))
            .map_err(|_| Error::InvalidKey("bad P-256 private scalar"))
    }

    /// An Ed25519 key from its 32-byte seed.
    pub fn from_ed25519_seed(seed: &[u8; 32]) -> Self {
        SigningKey(SigningInner::Ed25519(ed25519_dalek::SigningKey::from_bytes(seed)))
    }

    /// Reads a PKCS#8 `PRIVATE KEY` PEM (P-256 or Ed25519) or a SEC1 `EC PRIVATE KEY` PEM.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, Error> {
        if pem.contains("-----BEGIN EC PRIVATE KEY-----") {
            let secret = p256::SecretKey::from_sec1_pem(pem)
                .map_err(|_| Error::InvalidKey("bad SEC1 P-256 private key"))?;
            return Ok(SigningKey(SigningInner::P256(secret.into())));
        }
        if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_pem(pem) {
            return Ok(SigningKey(SigningInner::P256(k)));
        }
        ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
            .map(|k| SigningKey(SigningInner::Ed25519(k)))
            .map_err(|_| Error::InvalidKey("not a P-256 or Ed25519 PKCS#8 private key"))
    }

    /// Writes the key as PKCS#8 PEM (LF line endings). The caller should zeroize the result.
    pub fn to_pkcs8_pem(&self) -> String {
        let pem = match &self.0 {
            SigningInner::P256(k) => k.to_pkcs8_pem(LineEnding::LF),
            SigningInner::Ed25519(k) => k.to_pkcs8_pem(LineEnding::LF),
        };
        // Encoding a valid in-memory key only fails on allocation failure.
        pem.map(|p| p.as_str().to_string()).unwrap_or_default()
    }

    /// Reads a private JWK: `kty` EC with `crv` P-256 and `d`, or `kty` OKP with `crv` Ed25519
    /// and `d`. When `x` (and `y`) are present they must match the private key.
    pub fn from_jwk(json: &str) -> Result<Self, Error> {
        let jwk = Jwk::parse(json)?;
        let d = jwk.bytes::<32>("d")?;
        let key = match (jwk.require("kty")?, jwk.require("crv")?) {
            ("EC", "P-256") => SigningKey::from_p256_scalar(&d[..])?,
            ("OKP", "Ed25519") => SigningKey::from_ed25519_seed(&d),
            _ => return Err(Error::InvalidKey("JWK is not a P-256 or Ed25519 key")),
        };
        if jwk.get("x").is_some() && PublicKey::from_jwk(json)? != key.public_key() {
            return Err(Error::InvalidKey("JWK public part does not match d"));
        }
        Ok(key)
    }

    /// Reads a private COSE_Key (EC2 P-256 or OKP Ed25519 with `d`).
    pub fn from_cose_key(bytes: &[u8]) -> Result<Self, Error> {
        let parsed = CoseKeyFields::decode(bytes)?;
        let d = parsed.d.as_deref().ok_or(Error::InvalidKey("COSE_Key has no private part"))?;
        let key = match (parsed.kty, parsed.crv) {
            (cose_key::KTY_EC2, Some(cose_key::CRV_P256)) => SigningKey::from_p256_scalar(d)?,
            (cose_key::KTY_OKP, Some(cose_key::CRV_ED25519)) => {
                let seed: &[u8; 32] = (&d[..])
                    .try_into()
                    .map_err(|_| Error::InvalidKey("Ed25519 d must be 32 bytes"))?;
                SigningKey::from_ed25519_seed(seed)
            }
            _ => return Err(Error::InvalidKey("COSE_Key is not a P-256 or Ed25519 key")),
        };
        if parsed.x.is_some() && parsed.public_key()? != key.public_key() {
            return Err(Error::InvalidKey("COSE_Key public part does not match d"));
        }
        Ok(key)
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        match &self.0 {
            SigningInner::P256(k) => PublicKey::P256(*k.verifying_key()),
            SigningInner::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
        }
    }

    /// The fully specified algorithm for this key: ESP256 or Ed25519 (RFC 9864).
    pub fn default_algorithm(&self) -> Algorithm {
        match &self.0 {
            SigningInner::P256(_) => Algorithm::ESP256,
            SigningInner::Ed25519(_) => Algorithm::ED25519,
        }
    }

    /// Signs `to_be_signed`. ECDSA uses deterministic nonces (RFC 6979) and yields `r || s`
    /// (64 bytes, RFC 9053 §2.1); Ed25519 yields the 64-byte RFC 8032 signature.
    pub fn sign(&self, alg: Algorithm, to_be_signed: &[u8]) -> Result<Vec<u8>, Error> {
        use p256::ecdsa::signature::Signer;
        check_alg(alg, matches!(self.0, SigningInner::P256(_)))?;
        match &self.0 {
            SigningInner::P256(k) => {
                let sig: p256::ecdsa::Signature =
                    k.try_sign(to_be_signed).map_err(|_| Error::InvalidKey("ECDSA signing"))?;
                Ok(sig.to_bytes().to_vec())
            }
            SigningInner::Ed25519(k) => Ok(k.sign(to_be_signed).to_bytes().to_vec()),
        }
    }
}

impl SigningKey {
    /// The P-256 secret scalar, for ECDH key agreement (RFC 9053 §6.3). None for Ed25519.
    pub(crate) fn p256_secret(&self) -> Option<p256::NonZeroScalar> {
        match &self.0 {
            SigningInner::P256(k) => Some(*k.as_nonzero_scalar()),
            SigningInner::Ed25519(_) => None,
        }
    }
}

/// Whether `alg` is a signature algorithm, and one for the key type (`p256` or Ed25519).
fn check_alg(alg: Algorithm, p256: bool) -> Result<(), Error> {
    match alg {
        Algorithm::ES256 | Algorithm::ESP256 if p256 => Ok(()),
        Algorithm::EDDSA | Algorithm::ED25519 if !p256 => Ok(()),
        a if a.is_signature() => Err(Error::KeyMismatch),
        a => Err(Error::UnsupportedAlgorithm(a.0)),
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({:?})", self.public_key())
    }
}

impl PublicKey {
    /// Reads a public COSE_Key (EC2 P-256 with x and y, or OKP Ed25519 with x).
    pub fn from_cose_key(bytes: &[u8]) -> Result<Self, Error> {
        CoseKeyFields::decode(bytes)?.public_key()
    }

    /// The deterministic COSE_Key holding only the required parameters (RFC 9679 §3):
    /// `{1: 2, -1: 1, -2: x, -3: y}` or `{1: 1, -1: 6, -2: x}`.
    pub fn to_cose_key(&self) -> Vec<u8> {
        let mut e = cbor::encoder();
        match self {
            PublicKey::P256(k) => {
                let point = k.to_sec1_point(false);
                let x = point.x().map(|x| x.as_slice()).unwrap_or_default();
                let y = point.y().map(|y| y.as_slice()).unwrap_or_default();
                done(e.map(4));
                done(e.i64(cose_key::KTY).and_then(|e| e.i64(cose_key::KTY_EC2)));
                done(e.i64(cose_key::CRV).and_then(|e| e.i64(cose_key::CRV_P256)));
                done(e.i64(cose_key::X).and_then(|e| e.bytes(x)));
                done(e.i64(cose_key::Y).and_then(|e| e.bytes(y)));
            }
            PublicKey::Ed25519(k) => {
                done(e.map(3));
                done(e.i64(cose_key::KTY).and_then(|e| e.i64(cose_key::KTY_OKP)));
                done(e.i64(cose_key::CRV).and_then(|e| e.i64(cose_key::CRV_ED25519)));
                done(e.i64(cose_key::X).and_then(|e| e.bytes(k.as_bytes())));
            }
        }
        e.into_writer()
    }

    /// Reads a public JWK (`kty` EC + `crv` P-256 + `x`, `y`; or `kty` OKP + `crv` Ed25519 +
    /// `x`). Other members, including `d`, are ignored.
    pub fn from_jwk(json: &str) -> Result<Self, Error> {
        let jwk = Jwk::parse(json)?;
        match (jwk.require("kty")?, jwk.require("crv")?) {
            ("EC", "P-256") => {
                let (x, y) = (jwk.bytes::<32>("x")?, jwk.bytes::<32>("y")?);
                PublicKey::from_p256_coordinates(&x[..], &y[..])
            }
            ("OKP", "Ed25519") => PublicKey::from_ed25519_bytes(&*jwk.bytes::<32>("x")?),
            _ => Err(Error::InvalidKey("JWK is not a P-256 or Ed25519 key")),
        }
    }

    /// A P-256 key from its affine coordinates (32 bytes each).
    pub fn from_p256_coordinates(x: &[u8], y: &[u8]) -> Result<Self, Error> {
        let bad = Error::InvalidKey("not a P-256 point");
        if x.len() != 32 || y.len() != 32 {
            return Err(bad);
        }
        let mut sec1 = [0u8; 65];
        sec1[0] = 4;
        sec1[1..33].copy_from_slice(x);
        sec1[33..].copy_from_slice(y);
        p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map(PublicKey::P256).map_err(|_| bad)
    }

    /// An Ed25519 key from its 32-byte encoding.
    pub fn from_ed25519_bytes(x: &[u8; 32]) -> Result<Self, Error> {
        ed25519_dalek::VerifyingKey::from_bytes(x)
            .map(PublicKey::Ed25519)
            .map_err(|_| Error::InvalidKey("not an Ed25519 point"))
    }

    /// Reads a `PUBLIC KEY` (SubjectPublicKeyInfo) PEM.
    pub fn from_spki_pem(pem: &str) -> Result<Self, Error> {
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_pem(pem) {
            return Ok(PublicKey::P256(k));
        }
        ed25519_dalek::VerifyingKey::from_public_key_pem(pem)
            .map(PublicKey::Ed25519)
            .map_err(|_| Error::InvalidKey("not a P-256 or Ed25519 SPKI public key"))
    }

    /// Writes a `PUBLIC KEY` PEM (LF line endings).
    pub fn to_spki_pem(&self) -> String {
        let pem = match self {
            PublicKey::P256(k) => k.to_public_key_pem(LineEnding::LF),
            PublicKey::Ed25519(k) => k.to_public_key_pem(LineEnding::LF),
        };
        // Encoding a valid in-memory key only fails on allocation failure.
        pem.unwrap_or_default()
    }

    /// The COSE Key Thumbprint (RFC 9679 §3): SHA-256 over [`PublicKey::to_cose_key`].
    pub fn thumbprint(&self) -> [u8; 32] {
        Sha256::digest(self.to_cose_key()).into()
    }

    /// Whether `alg` is a signature algorithm for this key type: ESP256 or ES256 for P-256,
    /// Ed25519 or EdDSA for Ed25519. Which of the aliases to allow is the caller's policy.
    pub fn supports(&self, alg: Algorithm) -> bool {
        check_alg(alg, matches!(self, PublicKey::P256(_))).is_ok()
    }

    /// Verifies a signature over `to_be_signed`. ECDSA signatures must be `r || s`, 64 bytes.
    /// Ed25519 uses strict verification (RFC 8032 §5.1.7 with canonical encodings, no small
    /// order keys).
    pub fn verify(
        &self,
        alg: Algorithm,
        to_be_signed: &[u8],
        signature: &[u8],
    ) -> Result<(), Error> {
        use p256::ecdsa::signature::Verifier;
        check_alg(alg, matches!(self, PublicKey::P256(_)))?;
        match self {
            PublicKey::P256(k) => {
                let sig = p256::ecdsa::Signature::from_slice(signature)
                    .map_err(|_| Error::BadSignature)?;
                k.verify(to_be_signed, &sig).map_err(|_| Error::BadSignature)
            }
            PublicKey::Ed25519(k) => {
                let sig = ed25519_dalek::Signature::from_slice(signature)
                    .map_err(|_| Error::BadSignature)?;
                k.verify_strict(to_be_signed, &sig).map_err(|_| Error::BadSignature)
            }
        }
    }
}

impl PublicKey {
    /// The P-256 point, for ECDH key agreement. None for Ed25519.
    pub(crate) fn p256_point(&self) -> Option<p256::PublicKey> {
        match self {
            PublicKey::P256(k) => Some((*k).into()),
            PublicKey::Ed25519(_) => None,
        }
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            PublicKey::P256(_) => "P-256",
            PublicKey::Ed25519(_) => "Ed25519",
        };
        let t = self.thumbprint();
        write!(f, "{kind} thumbprint ")?;
        for b in t.iter().take(8) {
            write!(f, "{b:02x}")?;
        }
        f.write_str("…")
    }
}

/// The fields of a COSE_Key this crate uses.
pub(crate) struct CoseKeyFields {
    pub(crate) kty: i64,
    pub(crate) crv: Option<i64>,
    pub(crate) x: Option<Vec<u8>>,
    pub(crate) y: Option<Vec<u8>>,
    pub(crate) d: Option<Zeroizing<Vec<u8>>>,
    /// Symmetric key value (kty 4, label -1).
    pub(crate) k: Option<Zeroizing<Vec<u8>>>,
    pub(crate) kid: Option<Vec<u8>>,
}

impl CoseKeyFields {
    /// Decodes a COSE_Key map (RFC 9052 §7). kid, alg, key_ops and Base IV are accepted and
    /// not enforced; other labels are rejected.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, Error> {
        cbor::check(bytes)?;
        let mut d = Decoder::new(bytes);
        CoseKeyFields::decode_from(&mut d)
    }

    pub(crate) fn decode_from(d: &mut Decoder<'_>) -> Result<Self, Error> {
        let n = d.map()?.ok_or(Error::Malformed("indefinite COSE_Key"))?;
        let mut kty = None;
        // Label -1 is crv for EC2/OKP and k for Symmetric: keep the raw item until kty is known.
        let mut minus1: Option<(Type, i64, Zeroizing<Vec<u8>>)> = None;
        let mut out =
            CoseKeyFields { kty: 0, crv: None, x: None, y: None, d: None, k: None, kid: None };
        for _ in 0..n {
            if !cbor::is_int(d.datatype()?) {
                return Err(Error::InvalidKey("text label in COSE_Key"));
            }
            match d.i64()? {
                cose_key::KTY => {
                    if !cbor::is_int(d.datatype()?) {
                        return Err(Error::InvalidKey("text kty"));
                    }
                    kty = Some(d.i64()?);
                }
                cose_key::KID => out.kid = Some(d.bytes()?.to_vec()),
                cose_key::ALG | cose_key::KEY_OPS | cose_key::BASE_IV => d.skip()?,
                cose_key::CRV => {
                    let t = d.datatype()?;
                    minus1 = Some(if cbor::is_int(t) {
                        (t, d.i64()?, Zeroizing::new(Vec::new()))
                    } else {
                        (t, 0, Zeroizing::new(d.bytes()?.to_vec()))
                    });
                }
                cose_key::X => out.x = Some(d.bytes()?.to_vec()),
                cose_key::Y => {
                    if d.datatype()? == Type::Bool {
                        return Err(Error::Unsupported("compressed EC2 points"));
                    }
                    out.y = Some(d.bytes()?.to_vec());
                }
                cose_key::D => out.d = Some(Zeroizing::new(d.bytes()?.to_vec())),
                _ => return Err(Error::InvalidKey("unknown COSE_Key parameter")),
            }
        }
        out.kty = kty.ok_or(Error::InvalidKey("COSE_Key without kty"))?;
        match (out.kty, minus1) {
            (cose_key::KTY_SYMMETRIC, Some((Type::Bytes, _, k))) => out.k = Some(k),
            (cose_key::KTY_SYMMETRIC, _) => {
                return Err(Error::InvalidKey("symmetric key without k"));
            }
            (_, Some((t, crv, _))) if cbor::is_int(t) => out.crv = Some(crv),
            (_, _) => return Err(Error::InvalidKey("COSE_Key without integer crv")),
        }
        Ok(out)
    }

    pub(crate) fn public_key(&self) -> Result<PublicKey, Error> {
        let x = self.x.as_deref().ok_or(Error::InvalidKey("COSE_Key without x"))?;
        match (self.kty, self.crv) {
            (cose_key::KTY_EC2, Some(cose_key::CRV_P256)) => {
                let y = self.y.as_deref().ok_or(Error::InvalidKey("COSE_Key without y"))?;
                PublicKey::from_p256_coordinates(x, y)
            }
            (cose_key::KTY_OKP, Some(cose_key::CRV_ED25519)) => {
                let x: &[u8; 32] =
                    x.try_into().map_err(|_| Error::InvalidKey("Ed25519 x must be 32 bytes"))?;
                PublicKey::from_ed25519_bytes(x)
            }
            _ => Err(Error::InvalidKey("COSE_Key is not a P-256 or Ed25519 key")),
        }
    }
}
