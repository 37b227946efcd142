//! COSE_Encrypt0 and COSE_Encrypt (RFC 9052 §5) with the content algorithms AES-GCM and
//! ChaCha20/Poly1305 (RFC 9053 §4), AES-CTR (RFC 9459, no integrity), and the recipient
//! algorithms direct, AES key wrap (RFC 9053 §6.2.1), ECDH-ES/SS + AES key wrap and
//! ECDH-ES + HKDF-256 (RFC 9053 §6.3, §6.4) on P-256 with the COSE_KDF_Context of
//! RFC 9053 §5.2. The SUIT firmware-encryption profile passes its KDF `other` string
//! ("SUIT Payload Encryption") as SuppPubInfo.other.
//!
//! ```cddl
//! COSE_Encrypt0 = [ Headers, ciphertext : bstr / nil ]
//! COSE_Encrypt = [ Headers, ciphertext : bstr / nil, recipients : [+ COSE_recipient] ]
//! COSE_recipient = [ Headers, ciphertext : bstr / nil, ? recipients : [+ COSE_recipient] ]
//! Enc_structure = [ context : "Encrypt" / "Encrypt0", protected : empty_or_serialized_map,
//!                   external_aad : bstr ]
//! ```
//!
//! Not supported (clear errors): Partial IV with a context Base IV, nested recipients,
//! key wrap or ECDH on curves other than P-256, AES-CBC.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use alloc::vec::Vec;
use core::fmt;
use ctr::cipher::{KeyIvInit, StreamCipher};
use hkdf::Hkdf;
use minicbor::Decoder;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::cbor::{self, done};
use crate::header::{self, Header};
use crate::{Algorithm, Error, PublicKey, SigningKey};

/// CBOR tag of COSE_Encrypt0 (RFC 9052 §2).
pub const TAG_ENCRYPT0: u64 = 16;
/// CBOR tag of COSE_Encrypt (RFC 9052 §2).
pub const TAG_ENCRYPT: u64 = 96;
/// Upper bound on recipients accepted in one COSE_Encrypt.
pub const MAX_RECIPIENTS: u64 = 16;

/// Key length in bytes of a content encryption algorithm.
pub fn content_key_len(alg: Algorithm) -> Result<usize, Error> {
    match alg {
        Algorithm::A128GCM | Algorithm::A128CTR => Ok(16),
        Algorithm::A192GCM | Algorithm::A192CTR => Ok(24),
        Algorithm::A256GCM | Algorithm::A256CTR | Algorithm::CHACHA20_POLY1305 => Ok(32),
        a => Err(Error::UnsupportedAlgorithm(a.0)),
    }
}

/// Whether a content algorithm gives no integrity protection (AES-CTR, RFC 9459).
pub fn is_non_aead(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::A128CTR | Algorithm::A192CTR | Algorithm::A256CTR)
}

fn iv_len(alg: Algorithm) -> usize {
    if is_non_aead(alg) { 16 } else { 12 }
}

/// The content algorithm of an Encrypt/Encrypt0 body. AEAD algorithms must be protected;
/// AES-CTR, which cannot authenticate anything, must be unprotected with an empty protected
/// bucket (RFC 9459).
fn content_alg(protected_bytes: &[u8], p: &Header, u: &Header) -> Result<Algorithm, Error> {
    match (p.alg, u.alg) {
        (Some(a), _) if is_non_aead(a) => Err(Error::Malformed("AES-CTR with a protected header")),
        (Some(a), _) => Ok(a),
        (None, Some(a)) if is_non_aead(a) && protected_bytes.is_empty() => Ok(a),
        (None, Some(_)) => Err(Error::UnprotectedAlg),
        (None, None) => Err(Error::MissingAlg),
    }
}

fn iv_of<'h>(p: &'h Header, u: &'h Header) -> Result<&'h [u8], Error> {
    if p.partial_iv.is_some() || u.partial_iv.is_some() {
        return Err(Error::Unsupported("Partial IV"));
    }
    p.iv.as_deref().or(u.iv.as_deref()).ok_or(Error::Malformed("IV missing"))
}

/// Builds `[context, protected, external_aad]`.
pub fn enc_structure(context: &str, protected: &[u8], external_aad: &[u8]) -> Vec<u8> {
    let mut e = cbor::encoder();
    done(e.array(3));
    done(e.str(context));
    done(e.bytes(protected));
    done(e.bytes(external_aad));
    e.into_writer()
}

fn aead<A: Aead + KeyInit>(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    data: &[u8],
    encrypt: bool,
) -> Result<Vec<u8>, Error> {
    let cipher = A::new_from_slice(key).map_err(|_| Error::InvalidKey("content key length"))?;
    let nonce = aes_gcm::aead::Nonce::<A>::try_from(iv)
        .map_err(|_| Error::Malformed("IV length does not fit the algorithm"))?;
    let payload = Payload { msg: data, aad };
    if encrypt {
        cipher.encrypt(&nonce, payload).map_err(|_| Error::InvalidKey("encryption failed"))
    } else {
        cipher.decrypt(&nonce, payload).map_err(|_| Error::Decrypt)
    }
}

type Aes192Gcm = aes_gcm::AesGcm<aes_gcm::aes::Aes192, aes_gcm::aead::consts::U12>;

/// Runs a content algorithm over a whole buffer. `aad` is the encoded Enc_structure; it must be
/// empty-protected with no external AAD for AES-CTR.
fn content_op(
    alg: Algorithm,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    data: &[u8],
    encrypt: bool,
) -> Result<Vec<u8>, Error> {
    if key.len() != content_key_len(alg)? {
        return Err(Error::InvalidKey("content key length does not fit the algorithm"));
    }
    match alg {
        Algorithm::A128GCM => aead::<aes_gcm::Aes128Gcm>(key, iv, aad, data, encrypt),
        Algorithm::A192GCM => aead::<Aes192Gcm>(key, iv, aad, data, encrypt),
        Algorithm::A256GCM => aead::<aes_gcm::Aes256Gcm>(key, iv, aad, data, encrypt),
        Algorithm::CHACHA20_POLY1305 => {
            aead::<chacha20poly1305::ChaCha20Poly1305>(key, iv, aad, data, encrypt)
        }
        _ => {
            let mut out = data.to_vec();
            CtrDecryptor::new(alg, key, iv)?.apply(&mut out);
            Ok(out)
        }
    }
}

/// Streaming AES-CTR (RFC 9459) with fixed memory: feed ciphertext chunks in order. AES-CTR
/// provides no integrity; the caller must check a digest of the plaintext (SUIT image digest).
pub struct CtrDecryptor(CtrInner);

enum CtrInner {
    A128(ctr::Ctr128BE<aes::Aes128>),
    A192(ctr::Ctr128BE<aes::Aes192>),
    A256(ctr::Ctr128BE<aes::Aes256>),
}

impl CtrDecryptor {
    /// A decryptor for `alg` (A128CTR, A192CTR or A256CTR) with a 16-byte IV.
    pub fn new(alg: Algorithm, key: &[u8], iv: &[u8]) -> Result<Self, Error> {
        let bad_key = |_| Error::InvalidKey("AES-CTR key or IV length");
        if iv.len() != 16 {
            return Err(Error::Malformed("AES-CTR IV must be 16 bytes"));
        }
        let inner = match alg {
            Algorithm::A128CTR => {
                CtrInner::A128(KeyIvInit::new_from_slices(key, iv).map_err(bad_key)?)
            }
            Algorithm::A192CTR => {
                CtrInner::A192(KeyIvInit::new_from_slices(key, iv).map_err(bad_key)?)
            }
            Algorithm::A256CTR => {
                CtrInner::A256(KeyIvInit::new_from_slices(key, iv).map_err(bad_key)?)
            }
            a => return Err(Error::UnsupportedAlgorithm(a.0)),
        };
        Ok(CtrDecryptor(inner))
    }

    /// Decrypts (or encrypts) the next chunk in place.
    pub fn apply(&mut self, chunk: &mut [u8]) {
        match &mut self.0 {
            CtrInner::A128(c) => c.apply_keystream(chunk),
            CtrInner::A192(c) => c.apply_keystream(chunk),
            CtrInner::A256(c) => c.apply_keystream(chunk),
        }
    }
}

impl fmt::Debug for CtrDecryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CtrDecryptor(..)")
    }
}

/// A decoded COSE_Encrypt0.
#[derive(Clone, Debug)]
pub struct Encrypt0<'a> {
    /// The protected bucket exactly as received.
    pub protected_bytes: &'a [u8],
    /// Decoded protected bucket.
    pub protected: Header,
    /// Decoded unprotected bucket.
    pub unprotected: Header,
    /// The ciphertext (with tag for AEADs), or None when detached.
    pub ciphertext: Option<&'a [u8]>,
    /// Whether the input carried tag 16.
    pub tagged: bool,
}

impl<'a> Encrypt0<'a> {
    /// Decodes a COSE_Encrypt0, tagged (16) or untagged.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, Error> {
        cbor::check(bytes)?;
        let mut d = Decoder::new(bytes);
        let tagged = cbor::optional_tag(&mut d, TAG_ENCRYPT0)?;
        cbor::array_of(&mut d, 3, "COSE_Encrypt0 must be an array of 3")?;
        let protected_bytes = d.bytes()?;
        let protected = Header::decode_protected(protected_bytes)?;
        let unprotected = Header::decode_map(&mut d)?;
        header::validate(&protected, &unprotected)?;
        let ciphertext = cbor::bytes_or_nil(&mut d)?;
        Ok(Encrypt0 {
            protected_bytes,
            protected: protected.header,
            unprotected: unprotected.header,
            ciphertext,
            tagged,
        })
    }

    /// The content algorithm.
    pub fn algorithm(&self) -> Result<Algorithm, Error> {
        content_alg(self.protected_bytes, &self.protected, &self.unprotected)
    }

    /// Decrypts the attached ciphertext with the content key.
    pub fn decrypt(&self, cek: &[u8], external_aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let ct = self.ciphertext.ok_or(Error::MissingPayload)?;
        self.decrypt_detached(cek, external_aad, ct)
    }

    /// Decrypts a ciphertext carried outside the structure.
    pub fn decrypt_detached(
        &self,
        cek: &[u8],
        external_aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let alg = self.algorithm()?;
        let aad = body_aad(alg, "Encrypt0", self.protected_bytes, external_aad)?;
        let iv = iv_of(&self.protected, &self.unprotected)?;
        content_op(alg, cek, iv, &aad, ciphertext, false).map(Zeroizing::new)
    }
}

/// The Enc_structure of a body, or an error when AES-CTR is asked to authenticate data.
fn body_aad(
    alg: Algorithm,
    ctx: &str,
    protected: &[u8],
    external: &[u8],
) -> Result<Vec<u8>, Error> {
    if is_non_aead(alg) {
        if !external.is_empty() {
            return Err(Error::Malformed("AES-CTR cannot authenticate external AAD"));
        }
        return Ok(Vec::new());
    }
    Ok(enc_structure(ctx, protected, external))
}

/// Builds a COSE_Encrypt0: AEAD algorithms go in the protected bucket, AES-CTR in the
/// unprotected one; the IV is always unprotected.
pub fn encrypt0(
    plaintext: &[u8],
    cek: &[u8],
    alg: Algorithm,
    iv: &[u8],
    external_aad: &[u8],
    tagged: bool,
) -> Result<Vec<u8>, Error> {
    let (protected, mut unprotected) = body_headers(alg);
    unprotected.iv = Some(iv.to_vec());
    let protected_bytes = protected.to_protected_bytes();
    let aad = body_aad(alg, "Encrypt0", &protected_bytes, external_aad)?;
    let ct = content_op(alg, cek, iv, &aad, plaintext, true)?;
    let mut e = cbor::encoder();
    if tagged {
        done(e.tag(minicbor::data::Tag::new(TAG_ENCRYPT0)));
    }
    done(e.array(3));
    done(e.bytes(&protected_bytes));
    unprotected.encode(&mut e);
    done(e.bytes(&ct));
    Ok(e.into_writer())
}

fn body_headers(alg: Algorithm) -> (Header, Header) {
    if is_non_aead(alg) {
        (Header::default(), Header::with_alg(alg))
    } else {
        (Header::with_alg(alg), Header::default())
    }
}

/// One COSE_recipient of a [`CoseEncrypt`] (nested recipients are not supported).
#[derive(Clone, Debug)]
pub struct Recipient<'a> {
    /// The protected bucket exactly as received.
    pub protected_bytes: &'a [u8],
    /// Decoded protected bucket.
    pub protected: Header,
    /// Decoded unprotected bucket.
    pub unprotected: Header,
    /// The wrapped key (empty or nil for direct and ECDH-ES + HKDF).
    pub ciphertext: Option<&'a [u8]>,
}

/// The key a recipient uses to recover the content key.
#[derive(Clone, Copy)]
pub enum RecipientKey<'k> {
    /// A shared secret: the key-encryption key for A128KW/A192KW/A256KW, or the content key
    /// itself for direct (-6).
    Symmetric(&'k [u8]),
    /// The recipient's P-256 private key for ECDH-ES (+ A*KW or + HKDF-256) and
    /// ECDH-SS + A*KW (the sender's static key taken from header parameter -2).
    Ecdh(&'k SigningKey),
}

impl fmt::Debug for RecipientKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecipientKey::Symmetric(_) => f.write_str("RecipientKey::Symmetric(..)"),
            RecipientKey::Ecdh(k) => write!(f, "RecipientKey::Ecdh({k:?})"),
        }
    }
}

fn key_wrap_len(alg: Algorithm) -> Option<usize> {
    match alg {
        Algorithm::A128KW | Algorithm::ECDH_ES_A128KW | Algorithm::ECDH_SS_A128KW => Some(16),
        Algorithm::A192KW | Algorithm::ECDH_ES_A192KW | Algorithm::ECDH_SS_A192KW => Some(24),
        Algorithm::A256KW | Algorithm::ECDH_ES_A256KW | Algorithm::ECDH_SS_A256KW => Some(32),
        _ => None,
    }
}

/// The AlgorithmID of the COSE_KDF_Context for a key-wrap size (RFC 9053 §5.2).
fn wrap_alg_of(len: usize) -> Algorithm {
    match len {
        16 => Algorithm::A128KW,
        24 => Algorithm::A192KW,
        _ => Algorithm::A256KW,
    }
}

fn aes_kw(kek: &[u8], data: &[u8], wrap: bool) -> Result<Zeroizing<Vec<u8>>, Error> {
    use aes_kw::cipher::KeyInit as _;
    if !data.len().is_multiple_of(8) || data.len() < 16 {
        return Err(if wrap { Error::InvalidKey("key to wrap") } else { Error::Decrypt });
    }
    let out_len = if wrap { data.len() + 8 } else { data.len() - 8 };
    let mut buf = Zeroizing::new(alloc::vec![0u8; out_len]);
    let bad_kek = |_| Error::InvalidKey("key-encryption key length");
    let res = match kek.len() {
        16 => {
            let kw = aes_kw::KwAes128::new_from_slice(kek).map_err(bad_kek)?;
            if wrap {
                kw.wrap_key(data, &mut buf).map(|_| ())
            } else {
                kw.unwrap_key(data, &mut buf).map(|_| ())
            }
        }
        24 => {
            let kw = aes_kw::KwAes192::new_from_slice(kek).map_err(bad_kek)?;
            if wrap {
                kw.wrap_key(data, &mut buf).map(|_| ())
            } else {
                kw.unwrap_key(data, &mut buf).map(|_| ())
            }
        }
        32 => {
            let kw = aes_kw::KwAes256::new_from_slice(kek).map_err(bad_kek)?;
            if wrap {
                kw.wrap_key(data, &mut buf).map(|_| ())
            } else {
                kw.unwrap_key(data, &mut buf).map(|_| ())
            }
        }
        _ => return Err(Error::InvalidKey("key-encryption key length")),
    };
    res.map_err(|_| Error::Decrypt)?;
    Ok(buf)
}

/// Builds the COSE_KDF_Context (RFC 9053 §5.2):
/// `[AlgorithmID, PartyUInfo, PartyVInfo, SuppPubInfo]` with
/// `SuppPubInfo = [keyDataLength, protected, ? other]`.
pub fn kdf_context(
    alg_id: Algorithm,
    key_bytes: usize,
    recipient_protected: &[u8],
    party: &Header,
    other: Option<&[u8]>,
) -> Vec<u8> {
    let mut e = cbor::encoder();
    done(e.array(4));
    done(e.i64(alg_id.0));
    for (identity, nonce, other) in [
        (&party.party_u_identity, &party.party_u_nonce, &party.party_u_other),
        (&party.party_v_identity, &party.party_v_nonce, &party.party_v_other),
    ] {
        done(e.array(3));
        for v in [identity, nonce, other] {
            match v {
                Some(b) => done(e.bytes(b)),
                None => done(e.null()),
            }
        }
    }
    done(e.array(if other.is_some() { 3 } else { 2 }));
    done(e.u64((key_bytes as u64) * 8));
    done(e.bytes(recipient_protected));
    if let Some(o) = other {
        done(e.bytes(o));
    }
    e.into_writer()
}

/// The party-info and salt parameters of a recipient, merged from both buckets.
fn merged_party(p: &Header, u: &Header) -> Header {
    let pick = |a: &Option<Vec<u8>>, b: &Option<Vec<u8>>| a.clone().or_else(|| b.clone());
    Header {
        party_u_identity: pick(&p.party_u_identity, &u.party_u_identity),
        party_u_nonce: pick(&p.party_u_nonce, &u.party_u_nonce),
        party_u_other: pick(&p.party_u_other, &u.party_u_other),
        party_v_identity: pick(&p.party_v_identity, &u.party_v_identity),
        party_v_nonce: pick(&p.party_v_nonce, &u.party_v_nonce),
        party_v_other: pick(&p.party_v_other, &u.party_v_other),
        salt: pick(&p.salt, &u.salt),
        ..Header::default()
    }
}

/// ECDH on P-256 then HKDF-SHA-256 over the context (RFC 9053 §6.3.1, §5.1).
fn ecdh_kdf(
    secret: &p256::NonZeroScalar,
    peer: &PublicKey,
    salt: Option<&[u8]>,
    context: &[u8],
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let point = peer.p256_point().ok_or(Error::InvalidKey("ECDH peer key must be P-256"))?;
    let shared = p256::ecdh::diffie_hellman(secret, point.as_affine());
    let hk = Hkdf::<Sha256>::new(salt, shared.raw_secret_bytes());
    let mut okm = Zeroizing::new(alloc::vec![0u8; len]);
    hk.expand(context, &mut okm).map_err(|_| Error::InvalidKey("HKDF output length"))?;
    Ok(okm)
}

impl Recipient<'_> {
    /// The recipient algorithm (either bucket; ECDH algorithms are checked to be protected
    /// when the key is recovered).
    pub fn algorithm(&self) -> Result<Algorithm, Error> {
        self.protected.alg.or(self.unprotected.alg).ok_or(Error::MissingAlg)
    }

    /// The key identifier, protected bucket first.
    pub fn kid(&self) -> Option<&[u8]> {
        self.protected.kid.as_deref().or(self.unprotected.kid.as_deref())
    }

    /// Recovers the content key for `content_alg`.
    pub fn unwrap_cek(
        &self,
        key: RecipientKey<'_>,
        content_alg: Algorithm,
        kdf_other: Option<&[u8]>,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let alg = self.algorithm()?;
        let ct = self.ciphertext.unwrap_or_default();
        let cek_len = content_key_len(content_alg)?;
        let cek = match (alg, key) {
            (Algorithm::DIRECT, RecipientKey::Symmetric(k)) => {
                if !self.protected_bytes.is_empty() || !ct.is_empty() {
                    return Err(Error::Malformed("direct recipient with protected data"));
                }
                Zeroizing::new(k.to_vec())
            }
            (
                Algorithm::A128KW | Algorithm::A192KW | Algorithm::A256KW,
                RecipientKey::Symmetric(kek),
            ) => {
                // RFC 9053 §6.2.1: the protected bucket must be empty for key wrap.
                if !self.protected_bytes.is_empty() {
                    return Err(Error::Malformed("AES key wrap recipient with protected header"));
                }
                if Some(kek.len()) != key_wrap_len(alg) {
                    return Err(Error::KeyMismatch);
                }
                aes_kw(kek, ct, false)?
            }
            (Algorithm::ECDH_ES_HKDF_256, RecipientKey::Ecdh(sk)) => {
                self.require_protected_alg()?;
                let (secret, peer, party) = self.ecdh_inputs(sk, false)?;
                let ctx =
                    kdf_context(content_alg, cek_len, self.protected_bytes, &party, kdf_other);
                ecdh_kdf(&secret, &peer, party.salt.as_deref(), &ctx, cek_len)?
            }
            (a, RecipientKey::Ecdh(sk)) if key_wrap_len(a).is_some() && a.0 <= -29 => {
                self.require_protected_alg()?;
                let static_sender = a.0 <= -32;
                let wrap_len = key_wrap_len(a).unwrap_or(16);
                let (secret, peer, party) = self.ecdh_inputs(sk, static_sender)?;
                let ctx = kdf_context(
                    wrap_alg_of(wrap_len),
                    wrap_len,
                    self.protected_bytes,
                    &party,
                    kdf_other,
                );
                let kek = ecdh_kdf(&secret, &peer, party.salt.as_deref(), &ctx, wrap_len)?;
                aes_kw(&kek, ct, false)?
            }
            (a, _)
                if key_wrap_len(a).is_some()
                    || a == Algorithm::DIRECT
                    || a == Algorithm::ECDH_ES_HKDF_256 =>
            {
                return Err(Error::KeyMismatch);
            }
            (a, _) => return Err(Error::UnsupportedAlgorithm(a.0)),
        };
        if cek.len() != cek_len {
            return Err(Error::InvalidKey("content key length does not fit the algorithm"));
        }
        Ok(cek)
    }

    fn require_protected_alg(&self) -> Result<(), Error> {
        header::protected_alg(&self.protected, &self.unprotected).map(|_| ())
    }

    fn ecdh_inputs(
        &self,
        sk: &SigningKey,
        static_sender: bool,
    ) -> Result<(p256::NonZeroScalar, PublicKey, Header), Error> {
        let secret = sk.p256_secret().ok_or(Error::InvalidKey("ECDH needs a P-256 key"))?;
        let (p, u) = (&self.protected, &self.unprotected);
        let peer = if static_sender {
            if p.static_key_id.is_some() || u.static_key_id.is_some() {
                return Err(Error::Unsupported("static key id (-3); pass the key in -2"));
            }
            p.static_key.as_deref().or(u.static_key.as_deref())
        } else {
            p.ephemeral_key.as_deref().or(u.ephemeral_key.as_deref())
        };
        let peer = peer.ok_or(Error::Malformed("ECDH recipient without the sender's key"))?;
        let peer = PublicKey::from_cose_key(peer)?;
        Ok((secret, peer, merged_party(p, u)))
    }
}

/// A decoded COSE_Encrypt.
#[derive(Clone, Debug)]
pub struct CoseEncrypt<'a> {
    /// The protected bucket exactly as received.
    pub protected_bytes: &'a [u8],
    /// Decoded protected bucket.
    pub protected: Header,
    /// Decoded unprotected bucket.
    pub unprotected: Header,
    /// The ciphertext, or None when detached (SUIT payloads).
    pub ciphertext: Option<&'a [u8]>,
    /// The recipients (at least one).
    pub recipients: Vec<Recipient<'a>>,
    /// Whether the input carried tag 96.
    pub tagged: bool,
}

impl<'a> CoseEncrypt<'a> {
    /// Decodes a COSE_Encrypt, tagged (96) or untagged.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, Error> {
        cbor::check(bytes)?;
        let mut d = Decoder::new(bytes);
        let tagged = cbor::optional_tag(&mut d, TAG_ENCRYPT)?;
        cbor::array_of(&mut d, 4, "COSE_Encrypt must be an array of 4")?;
        let protected_bytes = d.bytes()?;
        let protected = Header::decode_protected(protected_bytes)?;
        let unprotected = Header::decode_map(&mut d)?;
        header::validate(&protected, &unprotected)?;
        let ciphertext = cbor::bytes_or_nil(&mut d)?;
        let count = cbor::array_len(&mut d)?;
        if count == 0 || count > MAX_RECIPIENTS {
            return Err(Error::Malformed("COSE_Encrypt recipient count"));
        }
        let mut recipients = Vec::new();
        for _ in 0..count {
            match cbor::array_len(&mut d)? {
                3 => {}
                4 => return Err(Error::Unsupported("nested COSE recipients")),
                _ => return Err(Error::Malformed("COSE_recipient must be an array of 3")),
            }
            let rp_bytes = d.bytes()?;
            let rp = Header::decode_protected(rp_bytes)?;
            let ru = Header::decode_map(&mut d)?;
            header::validate(&rp, &ru)?;
            recipients.push(Recipient {
                protected_bytes: rp_bytes,
                protected: rp.header,
                unprotected: ru.header,
                ciphertext: cbor::bytes_or_nil(&mut d)?,
            });
        }
        Ok(CoseEncrypt {
            protected_bytes,
            protected: protected.header,
            unprotected: unprotected.header,
            ciphertext,
            recipients,
            tagged,
        })
    }

    /// The content algorithm.
    pub fn algorithm(&self) -> Result<Algorithm, Error> {
        content_alg(self.protected_bytes, &self.protected, &self.unprotected)
    }

    /// The IV of the content layer.
    pub fn iv(&self) -> Result<&[u8], Error> {
        iv_of(&self.protected, &self.unprotected)
    }

    /// Recovers the content key through the first recipient that `key` opens.
    pub fn unwrap_cek(
        &self,
        key: RecipientKey<'_>,
        kdf_other: Option<&[u8]>,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let alg = self.algorithm()?;
        let mut last = Error::KeyMismatch;
        for r in &self.recipients {
            match r.unwrap_cek(key, alg, kdf_other) {
                Ok(cek) => return Ok(cek),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Decrypts the attached ciphertext.
    pub fn decrypt(
        &self,
        key: RecipientKey<'_>,
        kdf_other: Option<&[u8]>,
        external_aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let ct = self.ciphertext.ok_or(Error::MissingPayload)?;
        self.decrypt_detached(key, kdf_other, external_aad, ct)
    }

    /// Decrypts a detached ciphertext held in memory. For large AES-CTR payloads use
    /// [`CoseEncrypt::ctr_decryptor`] instead.
    pub fn decrypt_detached(
        &self,
        key: RecipientKey<'_>,
        kdf_other: Option<&[u8]>,
        external_aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let alg = self.algorithm()?;
        let aad = body_aad(alg, "Encrypt", self.protected_bytes, external_aad)?;
        let cek = self.unwrap_cek(key, kdf_other)?;
        content_op(alg, &cek, self.iv()?, &aad, ciphertext, false).map(Zeroizing::new)
    }

    /// A streaming decryptor for an AES-CTR content layer (fixed memory, no integrity).
    pub fn ctr_decryptor(
        &self,
        key: RecipientKey<'_>,
        kdf_other: Option<&[u8]>,
    ) -> Result<CtrDecryptor, Error> {
        let alg = self.algorithm()?;
        if !is_non_aead(alg) {
            return Err(Error::Malformed("streaming decryption is only for AES-CTR"));
        }
        let cek = self.unwrap_cek(key, kdf_other)?;
        CtrDecryptor::new(alg, &cek, self.iv()?)
    }
}

/// How [`encrypt`] delivers the content key to one recipient.
#[derive(Clone, Copy)]
pub enum RecipientSpec<'k> {
    /// AES key wrap with a shared key-encryption key (A128KW/A192KW/A256KW by its length).
    KeyWrap {
        /// The key-encryption key.
        kek: &'k [u8],
        /// kid for the unprotected bucket.
        kid: Option<&'k [u8]>,
    },
    /// ECDH-ES + AES key wrap (`alg` one of ECDH-ES + A128KW/A192KW/A256KW) to a P-256 key.
    EcdhEsKeyWrap {
        /// The recipient algorithm.
        alg: Algorithm,
        /// The recipient's public key.
        recipient: &'k PublicKey,
        /// kid for the unprotected bucket.
        kid: Option<&'k [u8]>,
        /// COSE_KDF_Context SuppPubInfo.other (SUIT: "SUIT Payload Encryption").
        other: Option<&'k [u8]>,
    },
}

impl fmt::Debug for RecipientSpec<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecipientSpec::KeyWrap { .. } => f.write_str("RecipientSpec::KeyWrap(..)"),
            RecipientSpec::EcdhEsKeyWrap { alg, .. } => {
                write!(f, "RecipientSpec::EcdhEsKeyWrap({alg:?})")
            }
        }
    }
}

/// Output of [`encrypt`].
#[derive(Clone, Debug)]
pub struct Encrypted {
    /// The encoded COSE_Encrypt (tag 96).
    pub message: Vec<u8>,
    /// The ciphertext when it was requested detached.
    pub detached_ciphertext: Option<Vec<u8>>,
}

/// Encrypts `plaintext` under a fresh content key and IV into a tagged COSE_Encrypt with one
/// recipient per spec.
pub fn encrypt<R: rand_core::CryptoRng + ?Sized>(
    rng: &mut R,
    plaintext: &[u8],
    content_alg: Algorithm,
    recipients: &[RecipientSpec<'_>],
    external_aad: &[u8],
    detached: bool,
) -> Result<Encrypted, Error> {
    if recipients.is_empty() {
        return Err(Error::Malformed("COSE_Encrypt needs a recipient"));
    }
    let mut cek = Zeroizing::new(alloc::vec![0u8; content_key_len(content_alg)?]);
    rng.fill_bytes(&mut cek);
    let mut iv = alloc::vec![0u8; iv_len(content_alg)];
    rng.fill_bytes(&mut iv);

    let (protected, mut unprotected) = body_headers(content_alg);
    unprotected.iv = Some(iv.clone());
    let protected_bytes = protected.to_protected_bytes();
    let aad = body_aad(content_alg, "Encrypt", &protected_bytes, external_aad)?;
    let ct = content_op(content_alg, &cek, &iv, &aad, plaintext, true)?;

    let mut e = cbor::encoder();
    done(e.tag(minicbor::data::Tag::new(TAG_ENCRYPT)));
    done(e.array(4));
    done(e.bytes(&protected_bytes));
    unprotected.encode(&mut e);
    if detached {
        done(e.null());
    } else {
        done(e.bytes(&ct));
    }
    done(e.array(recipients.len() as u64));
    for spec in recipients {
        write_recipient(rng, &mut e, spec, &cek)?;
    }
    Ok(Encrypted { message: e.into_writer(), detached_ciphertext: detached.then_some(ct) })
}

fn write_recipient<R: rand_core::CryptoRng + ?Sized>(
    rng: &mut R,
    e: &mut minicbor::Encoder<Vec<u8>>,
    spec: &RecipientSpec<'_>,
    cek: &[u8],
) -> Result<(), Error> {
    use p256::elliptic_curve::Generate;
    match *spec {
        RecipientSpec::KeyWrap { kek, kid } => {
            let alg = match kek.len() {
                16 => Algorithm::A128KW,
                24 => Algorithm::A192KW,
                32 => Algorithm::A256KW,
                _ => return Err(Error::InvalidKey("key-encryption key length")),
            };
            let wrapped = aes_kw(kek, cek, true)?;
            let mut u = Header::with_alg(alg);
            u.kid = kid.map(<[u8]>::to_vec);
            done(e.array(3));
            done(e.bytes(&[]));
            u.encode(e);
            done(e.bytes(&wrapped));
        }
        RecipientSpec::EcdhEsKeyWrap { alg, recipient, kid, other } => {
            let wrap_len = match alg {
                Algorithm::ECDH_ES_A128KW
                | Algorithm::ECDH_ES_A192KW
                | Algorithm::ECDH_ES_A256KW => key_wrap_len(alg).unwrap_or(16),
                a => return Err(Error::UnsupportedAlgorithm(a.0)),
            };
            let ephemeral = p256::NonZeroScalar::generate_from_rng(rng);
            let epk = p256::PublicKey::from_secret_scalar(&ephemeral);
            let epk = PublicKey::P256(epk.into()).to_cose_key();
            let protected = Header::with_alg(alg).to_protected_bytes();
            let party = Header::default();
            let ctx = kdf_context(wrap_alg_of(wrap_len), wrap_len, &protected, &party, other);
            let kek = ecdh_kdf(&ephemeral, recipient, None, &ctx, wrap_len)?;
            let wrapped = aes_kw(&kek, cek, true)?;
            let u = Header {
                ephemeral_key: Some(epk),
                kid: kid.map(<[u8]>::to_vec),
                ..Header::default()
            };
            done(e.array(3));
            done(e.bytes(&protected));
            u.encode(e);
            done(e.bytes(&wrapped));
        }
    }
    Ok(())
}
