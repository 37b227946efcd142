//! Operations on existing SUIT envelopes for Trusted Component signers (feature `std`): re-sign
//! ([`resign`]), sever members ([`sever`]) and encrypt an integrated payload
//! ([`encrypt_payload`]).
//!
//! - Authentication (draft-ietf-suit-manifest-34 §8.3): the authentication wrapper is
//!   `[digest, block]` with the SUIT_Digest over the bstr-wrapped manifest and a COSE_Sign1
//!   (ESP256 with RFC 6979 deterministic signatures, Ed25519) or COSE_Mac0 (HMAC 256/256) over
//!   it as detached payload. Every operation here re-signs, since it changes the manifest.
//! - Severing (§8.4.12, §8.5): a severable member (dependency-resolution, payload-fetch,
//!   candidate-verification, install, text) is replaced in the manifest by the SUIT_Digest of
//!   its bstr encoding and moved into the envelope under the same key, or detached entirely
//!   (the device then needs it by other means).
//! - Payload encryption (draft-ietf-suit-firmware-encryption §4–§6): the integrated payload is
//!   replaced by its ciphertext and suit-parameter-encryption-info is added to every
//!   set/override-parameters that points suit-parameter-uri at it; the image digest and size
//!   keep describing the plaintext.
//!
//! Everything is re-encoded from the decoded structure; members this module does not touch are
//! copied byte for byte.

use std::string::String;
use std::vec::Vec;

use minicbor::Decoder;
use minicbor::data::Type;
use teep_cose::{Algorithm, PublicKey, RecipientSpec, SigningKey};

use crate::cbor;
use crate::command::{code, param};
use crate::digest::SuitDigest;
use crate::envelope::ENVELOPE_TAG;
use crate::error::SuitError;
use crate::manifest::{SEVERABLE, key};

const KEY_AUTHENTICATION: u64 = 2;
const KEY_MANIFEST: u64 = 3;
const KEY_DELEGATION: u64 = 1;

/// How an envelope is (re-)authenticated.
pub enum Authenticator<'a> {
    /// COSE_Sign1 with a private key (ESP256 deterministic, or Ed25519).
    Sign1 {
        /// The signer's key.
        key: &'a SigningKey,
        /// The algorithm (default: the key's: ESP256 for P-256, Ed25519).
        alg: Option<Algorithm>,
        /// Put the key's RFC 9679 thumbprint as kid.
        with_kid: bool,
    },
    /// COSE_Mac0 HMAC 256/256 with a shared key of at least 32 bytes.
    Mac0 {
        /// The shared key.
        key: &'a [u8],
        /// An optional kid.
        kid: Option<&'a [u8]>,
    },
}

impl core::fmt::Debug for Authenticator<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Authenticator::Sign1 { alg, with_kid, .. } => f
                .debug_struct("Sign1")
                .field("alg", alg)
                .field("with_kid", with_kid)
                .finish_non_exhaustive(),
            Authenticator::Mac0 { kid, .. } => {
                f.debug_struct("Mac0").field("kid", kid).finish_non_exhaustive()
            }
        }
    }
}

impl Authenticator<'_> {
    fn block(&self, digest: &[u8]) -> Result<Vec<u8>, SuitError> {
        Ok(match self {
            Authenticator::Sign1 { key, alg, with_kid } => {
                let alg = alg.unwrap_or_else(|| key.default_algorithm());
                let kid = with_kid.then(|| key.public_key().thumbprint());
                teep_cose::sign1_detached(
                    digest,
                    key,
                    alg,
                    kid.as_ref().map(|k| &k[..]),
                    &[],
                    true,
                )?
            }
            Authenticator::Mac0 { key, kid } => {
                teep_cose::mac0(digest, key, Algorithm::HMAC_256_256, *kid, &[], true, true)?
            }
        })
    }
}

/// Recipients of an encrypted payload.
pub enum Recipient<'a> {
    /// A device public key (P-256): ECDH-ES + A128KW with context 'SUIT Payload Encryption'.
    Device(&'a PublicKey),
    /// A shared key-encryption key (16, 24 or 32 bytes: A128KW, A192KW, A256KW).
    Kek(&'a [u8]),
}

impl core::fmt::Debug for Recipient<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Recipient::Device(k) => f.debug_tuple("Device").field(k).finish(),
            Recipient::Kek(_) => f.write_str("Kek(..)"),
        }
    }
}

/// An envelope taken apart: every member as its encoded CBOR value.
struct Parts {
    tagged: bool,
    delegation: Option<Vec<u8>>,
    /// Manifest members in their order: key and encoded value.
    manifest: Vec<(u64, Vec<u8>)>,
    /// Severed members carried in the envelope: key and the whole bstr item.
    severed: Vec<(u64, Vec<u8>)>,
    /// Integrated payloads and dependencies: name and content.
    integrated: Vec<(String, Vec<u8>)>,
}

impl Parts {
    fn decode(bytes: &[u8]) -> Result<Self, SuitError> {
        cbor::precheck(bytes)?;
        let mut d = Decoder::new(bytes);
        let mut tagged = false;
        if d.datatype().ok() == Some(Type::Tag) {
            let tag = d.tag().map_err(|_| SuitError::Malformed("envelope tag"))?;
            if tag.as_u64() != ENVELOPE_TAG {
                return Err(SuitError::Malformed("unexpected tag on envelope"));
            }
            tagged = true;
        }
        let n = cbor::map_len(&mut d, "SUIT_Envelope")?;
        let mut parts = Parts {
            tagged,
            delegation: None,
            manifest: Vec::new(),
            severed: Vec::new(),
            integrated: Vec::new(),
        };
        let mut manifest = None;
        for _ in 0..n {
            if d.datatype().ok() == Some(Type::String) {
                let name = cbor::text(&mut d, "integrated payload key")?;
                let data = cbor::bytes(&mut d, "integrated payload")?;
                parts.integrated.push((name.into(), data.to_vec()));
                continue;
            }
            match cbor::uint(&mut d, "SUIT_Envelope key")? {
                KEY_AUTHENTICATION => cbor::skip(&mut d, "suit-authentication-wrapper")?,
                KEY_MANIFEST => manifest = Some(cbor::bytes(&mut d, "suit-manifest")?),
                KEY_DELEGATION => {
                    parts.delegation = Some(cbor::raw(&mut d, "suit-delegation")?.to_vec())
                }
                k if SEVERABLE.contains(&k) => {
                    let (whole, _) = cbor::wrapped(&mut d, "severable member")?;
                    parts.severed.push((k, whole.to_vec()));
                }
                other => {
                    return Err(SuitError::UnknownKey {
                        map: "SUIT_Envelope",
                        key: i64::try_from(other).unwrap_or(i64::MAX),
                    });
                }
            }
        }
        let manifest = manifest.ok_or(SuitError::MissingManifest)?;
        let mut d = Decoder::new(manifest);
        let n = cbor::map_len(&mut d, "SUIT_Manifest")?;
        for _ in 0..n {
            let k = cbor::uint(&mut d, "SUIT_Manifest key")?;
            parts.manifest.push((k, cbor::raw(&mut d, "SUIT_Manifest member")?.to_vec()));
        }
        Ok(parts)
    }

    fn member_mut(&mut self, k: u64) -> Option<&mut Vec<u8>> {
        self.manifest.iter_mut().find(|(mk, _)| *mk == k).map(|(_, v)| v)
    }

    /// Encodes the manifest, authenticates it and assembles the envelope (members in
    /// ascending key order, integrated payloads last).
    fn assemble(mut self, auth: &Authenticator<'_>) -> Result<Vec<u8>, SuitError> {
        let mut m = cbor::encoder();
        cbor::infallible(m.map(self.manifest.len() as u64));
        for (k, v) in &self.manifest {
            cbor::infallible(m.u64(*k));
            m.writer_mut().extend_from_slice(v);
        }
        let mut wrapped = cbor::encoder();
        cbor::infallible(wrapped.bytes(&m.into_writer()));
        let wrapped = wrapped.into_writer();
        let digest = SuitDigest::sha256(&wrapped).encode();
        let block = auth.block(&digest)?;
        let mut a = cbor::encoder();
        cbor::infallible(a.array(2).and_then(|e| e.bytes(&digest)).and_then(|e| e.bytes(&block)));
        let auth = a.into_writer();

        self.severed.sort_by_key(|(k, _)| *k);
        let mut e = cbor::encoder();
        if self.tagged {
            cbor::infallible(e.tag(minicbor::data::Tag::new(ENVELOPE_TAG)));
        }
        let count = 2
            + u64::from(self.delegation.is_some())
            + self.severed.len() as u64
            + self.integrated.len() as u64;
        cbor::infallible(e.map(count));
        if let Some(delegation) = &self.delegation {
            cbor::infallible(e.u64(KEY_DELEGATION));
            e.writer_mut().extend_from_slice(delegation);
        }
        cbor::infallible(e.u64(KEY_AUTHENTICATION).and_then(|e| e.bytes(&auth)));
        cbor::infallible(e.u64(KEY_MANIFEST));
        e.writer_mut().extend_from_slice(&wrapped);
        for (k, whole) in &self.severed {
            cbor::infallible(e.u64(*k));
            e.writer_mut().extend_from_slice(whole);
        }
        for (name, data) in &self.integrated {
            cbor::infallible(e.str(name).and_then(|e| e.bytes(data)));
        }
        Ok(e.into_writer())
    }
}

/// Re-authenticates an envelope: recomputes the manifest digest and replaces the
/// authentication wrapper by one block made with `auth`. Severed members and integrated
/// payloads are kept.
pub fn resign(envelope: &[u8], auth: &Authenticator<'_>) -> Result<Vec<u8>, SuitError> {
    Parts::decode(envelope)?.assemble(auth)
}

/// An envelope after [`sever`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Severed {
    /// The re-signed envelope.
    pub envelope: Vec<u8>,
    /// The detached members (key, bstr-wrapped member as the digest covers it); empty unless
    /// detaching was asked for.
    pub detached: Vec<(u64, Vec<u8>)>,
}

/// Severs the severable members `keys` (all inline severable members when empty) of an
/// envelope: each is replaced in the manifest by the SHA-256 SUIT_Digest of its bstr encoding
/// and moved into the envelope, or, with `detach`, returned separately. Re-signs with `auth`.
pub fn sever(
    envelope: &[u8],
    keys: &[u64],
    detach: bool,
    auth: &Authenticator<'_>,
) -> Result<Severed, SuitError> {
    let mut parts = Parts::decode(envelope)?;
    if let Some(k) = keys.iter().find(|k| !SEVERABLE.contains(k)) {
        return Err(SuitError::InvalidInput(if *k == key::UNINSTALL {
            "suit-uninstall is not severable"
        } else {
            "not a severable member (15, 16, 18, 20 or 23)"
        }));
    }
    let inline = |v: &[u8]| v.first().is_some_and(|b| b >> 5 == 2);
    let chosen: Vec<u64> = if keys.is_empty() {
        parts
            .manifest
            .iter()
            .filter(|(k, v)| SEVERABLE.contains(k) && inline(v))
            .map(|(k, _)| *k)
            .collect()
    } else {
        keys.to_vec()
    };
    if chosen.is_empty() {
        return Err(SuitError::InvalidInput("the manifest has no inline severable member"));
    }
    let mut detached = Vec::new();
    for k in chosen {
        let value =
            parts.member_mut(k).ok_or(SuitError::InvalidInput("member not in the manifest"))?;
        if !inline(value) {
            return Err(SuitError::InvalidInput("member already severed"));
        }
        let whole = core::mem::replace(value, SuitDigest::sha256(value).encode());
        if detach {
            detached.push((k, whole));
        } else {
            parts.severed.push((k, whole));
        }
    }
    Ok(Severed { envelope: parts.assemble(auth)?, detached })
}

/// Encrypts the integrated payload `name` (e.g. `#tc`) for `recipients` with `content_alg`
/// (A128GCM, A256GCM, ChaCha20/Poly1305, A128CTR, A256CTR) and re-signs. Every
/// set/override-parameters in suit-install, suit-payload-fetch and the shared sequence
/// (including inside try-each) that sets suit-parameter-uri to `name` gains
/// suit-parameter-encryption-info; at least one must exist, none may already carry one.
/// Severed sections must be encrypted before severing.
pub fn encrypt_payload<R: rand_core::CryptoRng + ?Sized>(
    rng: &mut R,
    envelope: &[u8],
    name: &str,
    recipients: &[Recipient<'_>],
    content_alg: Algorithm,
    auth: &Authenticator<'_>,
) -> Result<Vec<u8>, SuitError> {
    let mut parts = Parts::decode(envelope)?;
    let data = parts
        .integrated
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, d)| d.clone())
        .ok_or(SuitError::MissingIntegratedPayload)?;
    if recipients.is_empty() {
        return Err(SuitError::InvalidInput("no recipient"));
    }
    let specs: Vec<RecipientSpec<'_>> = recipients
        .iter()
        .map(|r| match r {
            Recipient::Device(key) => RecipientSpec::EcdhEsKeyWrap {
                alg: Algorithm::ECDH_ES_A128KW,
                recipient: key,
                kid: None,
                other: Some(crate::interpreter::PAYLOAD_CONTEXT),
            },
            Recipient::Kek(kek) => RecipientSpec::KeyWrap { kek, kid: None },
        })
        .collect();
    let out = teep_cose::encrypt(rng, &data, content_alg, &specs, &[], true)?;
    let ciphertext = out
        .detached_ciphertext
        .ok_or(SuitError::InvalidInput("encryption gave no detached ciphertext"))?;
    let info = out.message;

    let mut changed = 0usize;
    for section in [key::COMMON, key::PAYLOAD_FETCH, key::INSTALL] {
        let Some(value) = parts.member_mut(section) else { continue };
        if value.first().is_none_or(|b| b >> 5 != 2) {
            return Err(SuitError::InvalidInput("encrypt before severing: a section is severed"));
        }
        let mut d = Decoder::new(value);
        let content = cbor::bytes(&mut d, "section")?;
        let new = if section == key::COMMON {
            rewrite_common(content, name, &info, &mut changed)?
        } else {
            rewrite_sequence(content, name, &info, &mut changed, 0)?
        };
        let mut e = cbor::encoder();
        cbor::infallible(e.bytes(&new));
        *value = e.into_writer();
    }
    if changed == 0 {
        return Err(SuitError::InvalidInput(
            "no set/override-parameters sets suit-parameter-uri to the payload's name",
        ));
    }
    for (n, d) in &mut parts.integrated {
        if n == name {
            *d = ciphertext.clone();
        }
    }
    parts.assemble(auth)
}

/// suit-common: rewrites its shared sequence (key 4).
fn rewrite_common(
    common: &[u8],
    name: &str,
    info: &[u8],
    changed: &mut usize,
) -> Result<Vec<u8>, SuitError> {
    let mut d = Decoder::new(common);
    let n = cbor::map_len(&mut d, "SUIT_Common")?;
    let mut e = cbor::encoder();
    cbor::infallible(e.map(n));
    for _ in 0..n {
        let k = cbor::uint(&mut d, "SUIT_Common key")?;
        cbor::infallible(e.u64(k));
        if k == 4 {
            let seq = cbor::bytes(&mut d, "suit-shared-sequence")?;
            let new = rewrite_sequence(seq, name, info, changed, 0)?;
            cbor::infallible(e.bytes(&new));
        } else {
            e.writer_mut().extend_from_slice(cbor::raw(&mut d, "SUIT_Common member")?);
        }
    }
    Ok(e.into_writer())
}

/// A command sequence with encryption-info added where the URI names the payload.
fn rewrite_sequence(
    seq: &[u8],
    name: &str,
    info: &[u8],
    changed: &mut usize,
    depth: usize,
) -> Result<Vec<u8>, SuitError> {
    if depth > 8 {
        return Err(SuitError::TooDeep);
    }
    let mut d = Decoder::new(seq);
    let n = cbor::array_len(&mut d, "command sequence")?;
    if n % 2 != 0 {
        return Err(SuitError::Malformed("command sequence of odd length"));
    }
    let mut e = cbor::encoder();
    cbor::infallible(e.array(n));
    for _ in 0..n / 2 {
        let command = cbor::int(&mut d, "command")?;
        cbor::infallible(e.i64(command));
        match command {
            code::SET_PARAMETERS | code::OVERRIDE_PARAMETERS => {
                let params = rewrite_parameters(&mut d, name, info, changed)?;
                e.writer_mut().extend_from_slice(&params);
            }
            code::TRY_EACH => {
                let count = cbor::array_len(&mut d, "try-each")?;
                cbor::infallible(e.array(count));
                for _ in 0..count {
                    if d.datatype().ok() == Some(Type::Null) {
                        e.writer_mut().extend_from_slice(cbor::raw(&mut d, "try-each")?);
                        continue;
                    }
                    let inner = cbor::bytes(&mut d, "try-each alternative")?;
                    let new = rewrite_sequence(inner, name, info, changed, depth + 1)?;
                    cbor::infallible(e.bytes(&new));
                }
            }
            _ => e.writer_mut().extend_from_slice(cbor::raw(&mut d, "command argument")?),
        }
    }
    Ok(e.into_writer())
}

fn rewrite_parameters(
    d: &mut Decoder<'_>,
    name: &str,
    info: &[u8],
    changed: &mut usize,
) -> Result<Vec<u8>, SuitError> {
    let n = cbor::map_len(d, "parameters")?;
    let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut names_payload = false;
    let mut has_info = false;
    for _ in 0..n {
        let label = cbor::int(d, "parameter label")?;
        let value = cbor::raw(d, "parameter value")?;
        if label == param::URI {
            let mut v = Decoder::new(value);
            names_payload = v.str().is_ok_and(|s| s == name);
        }
        has_info |= label == param::ENCRYPTION_INFO;
        let mut k = cbor::encoder();
        cbor::infallible(k.i64(label));
        entries.push((k.into_writer(), value.to_vec()));
    }
    if names_payload {
        if has_info {
            return Err(SuitError::InvalidInput("the payload is already encrypted"));
        }
        let mut k = cbor::encoder();
        cbor::infallible(k.i64(param::ENCRYPTION_INFO));
        let mut v = cbor::encoder();
        cbor::infallible(v.bytes(info));
        entries.push((k.into_writer(), v.into_writer()));
        // Deterministic order of the encoded labels (RFC 8949 §4.2.1).
        entries.sort();
        *changed = changed.saturating_add(1);
    }
    let mut e = cbor::encoder();
    cbor::infallible(e.map(entries.len() as u64));
    for (k, v) in entries {
        e.writer_mut().extend_from_slice(&k);
        e.writer_mut().extend_from_slice(&v);
    }
    Ok(e.into_writer())
}
