//! SUIT_Envelope and its authentication wrapper (draft-ietf-suit-manifest-34 §8.2, §8.3).
//!
//! ```cddl
//! SUIT_Envelope_Tagged = #6.107(SUIT_Envelope)
//! SUIT_Envelope = {
//!   suit-authentication-wrapper => bstr .cbor SUIT_Authentication,   ; 2
//!   suit-manifest  => bstr .cbor SUIT_Manifest,                      ; 3
//!   SUIT_Severable_Manifest_Members,                                 ; 15 16 18 20 23
//!   * SUIT_Integrated_Payload,                                       ; tstr => bstr
//! }
//! SUIT_Authentication = [ bstr .cbor SUIT_Digest, * bstr .cbor SUIT_Authentication_Block ]
//! ```
//! The digest covers the bstr-wrapped manifest, CBOR head included (§8.3). Each
//! authentication block is a COSE_Sign1 with a detached payload: the encoded SUIT_Digest.
//! Authentication happens before any manifest member is interpreted; its only output is an
//! [`AuthenticatedManifest`], the proof that the checks passed.

use alloc::vec::Vec;

use minicbor::Decoder;
use minicbor::data::Type;
use teep_cose::{Algorithm, Mac0, PublicKey, Sign1};
use zeroize::Zeroizing;

use crate::cbor;
use crate::digest::SuitDigest;
use crate::error::SuitError;
use crate::manifest::{Manifest, Member, SEVERABLE, key};

/// CBOR tag of SUIT_Envelope_Tagged.
pub const ENVELOPE_TAG: u64 = 107;
/// CBOR tag of SUIT_Manifest_Tagged (a bare manifest, never authenticated here).
pub const MANIFEST_TAG: u64 = 1070;
/// COSE_Sign1_Tagged.
const COSE_SIGN1_TAG: u64 = 18;
/// COSE_Mac0_Tagged.
const COSE_MAC0_TAG: u64 = 17;

const KEY_DELEGATION: u64 = 1;
const KEY_AUTHENTICATION: u64 = 2;
const KEY_MANIFEST: u64 = 3;

/// A shared HMAC key that authenticates manifests through COSE_Mac0 blocks
/// (draft-ietf-suit-mti: HMAC-256). Debug never prints the key.
#[derive(Clone)]
pub struct MacKey {
    /// The key identifier, if the key is only to be used for blocks naming it.
    pub kid: Option<Vec<u8>>,
    /// The secret.
    pub key: Zeroizing<Vec<u8>>,
}

impl MacKey {
    /// A MAC key without key identifier.
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        Self { kid: None, key: Zeroizing::new(key.into()) }
    }
}

impl core::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "MacKey {{ kid: {:?}, len: {} }}", self.kid, self.key.len())
    }
}

/// Keys the caller trusts to sign Trusted Component manifests, and the algorithms it allows.
#[derive(Clone, Debug)]
pub struct TrustAnchors {
    /// Trusted signer keys (TC signers, draft-ietf-teep-protocol-26 §2).
    pub signers: Vec<PublicKey>,
    /// Allowed signature algorithms. Default: ESP256, ES256, Ed25519, EdDSA (and HMAC 256/256
    /// for [`TrustAnchors::mac_keys`]).
    pub algorithms: Vec<Algorithm>,
    /// Shared keys accepted for COSE_Mac0 authentication blocks (empty by default).
    pub mac_keys: Vec<MacKey>,
}

impl TrustAnchors {
    /// Trusts `signers` with the default algorithms.
    pub fn new(signers: Vec<PublicKey>) -> Self {
        Self {
            signers,
            algorithms: alloc::vec![
                Algorithm(-9),  // ESP256
                Algorithm(-7),  // ES256
                Algorithm(-19), // Ed25519
                Algorithm(-8),  // EdDSA
                Algorithm(5),   // HMAC 256/256, only with mac_keys
            ],
            mac_keys: Vec::new(),
        }
    }

    /// Also accepts COSE_Mac0 blocks under `key`.
    pub fn with_mac_key(mut self, key: MacKey) -> Self {
        self.mac_keys.push(key);
        self
    }
}

/// A decoded, not yet authenticated SUIT_Envelope borrowing the received bytes.
#[derive(Clone)]
pub struct Envelope<'a> {
    bytes: &'a [u8],
    tagged: bool,
    authentication: Option<&'a [u8]>,
    /// The manifest bstr, head included (what the digest covers), and its content.
    manifest: Option<(&'a [u8], &'a [u8])>,
    severed: Vec<(u64, &'a [u8], &'a [u8])>,
    integrated: Vec<(&'a str, &'a [u8])>,
}

impl<'a> Envelope<'a> {
    /// Decodes the envelope structure (tag 107 optional). Checks strict CBOR and the
    /// envelope shape; does not interpret the manifest.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, SuitError> {
        cbor::precheck(bytes)?;
        let mut d = Decoder::new(bytes);
        let mut tagged = false;
        if d.datatype().ok() == Some(Type::Tag) {
            let tag = d.tag().map_err(|_| SuitError::Malformed("envelope tag"))?;
            match tag.as_u64() {
                ENVELOPE_TAG => tagged = true,
                MANIFEST_TAG => {
                    return Err(SuitError::Unsupported("bare SUIT_Manifest_Tagged (no envelope)"));
                }
                _ => return Err(SuitError::Malformed("unexpected tag on envelope")),
            }
        }
        let n = cbor::map_len(&mut d, "SUIT_Envelope")?;
        let mut env = Envelope {
            bytes,
            tagged,
            authentication: None,
            manifest: None,
            severed: Vec::new(),
            integrated: Vec::new(),
        };
        for _ in 0..n {
            match d.datatype() {
                Ok(Type::String) => {
                    let name = cbor::text(&mut d, "integrated payload key")?;
                    let data = cbor::bytes(&mut d, "integrated payload")?;
                    env.integrated.push((name, data));
                }
                _ => {
                    let k = cbor::int(&mut d, "SUIT_Envelope key")?;
                    env.member(&mut d, k)?;
                }
            }
        }
        Ok(env)
    }

    fn member(&mut self, d: &mut Decoder<'a>, k: i64) -> Result<(), SuitError> {
        let k =
            u64::try_from(k).map_err(|_| SuitError::UnknownKey { map: "SUIT_Envelope", key: k })?;
        match k {
            KEY_AUTHENTICATION => {
                self.authentication = Some(cbor::bytes(d, "suit-authentication-wrapper")?)
            }
            KEY_MANIFEST => self.manifest = Some(cbor::wrapped(d, "suit-manifest")?),
            // Delegation chains (draft-ietf-suit-trust-domains §4) are not followed: only the
            // caller's anchors are trusted, so ignoring them can only reduce trust.
            KEY_DELEGATION => cbor::skip(d, "suit-delegation")?,
            k if SEVERABLE.contains(&k) => {
                let (whole, content) = cbor::wrapped(d, "severable member")?;
                self.severed.push((k, whole, content));
            }
            other => {
                return Err(SuitError::UnknownKey {
                    map: "SUIT_Envelope",
                    key: i64::try_from(other).unwrap_or(i64::MAX),
                });
            }
        }
        Ok(())
    }

    /// Whether the envelope carried tag 107.
    pub fn is_tagged(&self) -> bool {
        self.tagged
    }

    /// The integrated payload named `name` (e.g. `"#tc"`).
    pub fn integrated_payload(&self, name: &str) -> Option<&'a [u8]> {
        self.integrated.iter().find(|(n, _)| *n == name).map(|(_, d)| *d)
    }

    /// The content of the authentication wrapper bstr, if present.
    pub(crate) fn authentication_bytes(&self) -> Option<&'a [u8]> {
        self.authentication
    }

    /// The raw envelope bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Checks the digest and the signatures, then decodes the manifest.
    ///
    /// draft-ietf-suit-manifest-34 §6.2: "The manifest processor MUST verify the signature of
    /// the manifest prior to parsing/executing any section of the manifest."
    pub fn authenticate(
        &self,
        trust: &TrustAnchors,
    ) -> Result<AuthenticatedManifest<'a>, SuitError> {
        let auth = self.authentication.ok_or(SuitError::MissingAuthentication)?;
        let (manifest_whole, manifest_content) = self.manifest.ok_or(SuitError::MissingManifest)?;
        cbor::precheck(auth)?;
        let mut d = Decoder::new(auth);
        let n = cbor::array_len(&mut d, "SUIT_Authentication")?;
        if n < 2 {
            return Err(SuitError::NoAuthenticationBlock);
        }
        let digest_bytes = cbor::bytes(&mut d, "SUIT_Authentication digest")?;
        let digest = SuitDigest::decode(digest_bytes)?;

        // One block verifying under a trusted key suffices; remember the first error that
        // is more precise than "untrusted" for the report.
        let mut signer = None;
        let mut first_error = None;
        for _ in 1..n {
            let block = cbor::bytes(&mut d, "SUIT_Authentication_Block")?;
            match verify_block(block, digest_bytes, trust) {
                Ok(index) => {
                    signer = Some(index);
                    break;
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let signer = match (signer, first_error) {
            (Some(i), _) => i,
            (None, Some(e)) => return Err(e),
            (None, None) => return Err(SuitError::Untrusted),
        };

        // The signature covers the digest; the digest must cover the manifest bytes.
        if !digest.matches(manifest_whole)? {
            return Err(SuitError::ManifestDigestMismatch);
        }
        let manifest = Manifest::decode(manifest_content)?;
        let sections = self.resolve_severed(&manifest)?;
        let indexed = manifest.indexed_components()?;
        Ok(AuthenticatedManifest {
            envelope: self.clone(),
            manifest,
            digest,
            signer,
            sections,
            indexed,
        })
    }

    /// The envelope re-encoded with the severed members `extra` (manifest key, bstr-wrapped
    /// member) added: authentication wrapper, manifest, severed members in ascending key
    /// order, integrated payloads. A delegation chain is left out (it is not followed).
    pub(crate) fn with_severed(&self, extra: &[(u64, Vec<u8>)]) -> Result<Vec<u8>, SuitError> {
        let auth = self.authentication.ok_or(SuitError::MissingAuthentication)?;
        let (manifest_whole, _) = self.manifest.ok_or(SuitError::MissingManifest)?;
        let mut members: Vec<(u64, &[u8])> =
            self.severed.iter().map(|(k, whole, _)| (*k, *whole)).collect();
        for (k, whole) in extra {
            if members.iter().any(|(mk, _)| mk == k) {
                return Err(SuitError::UnexpectedSeveredMember(*k));
            }
            members.push((*k, whole.as_slice()));
        }
        members.sort_by_key(|(k, _)| *k);
        let mut e = cbor::encoder();
        if self.tagged {
            cbor::infallible(e.tag(minicbor::data::Tag::new(ENVELOPE_TAG)));
        }
        cbor::infallible(e.map(2 + members.len() as u64 + self.integrated.len() as u64));
        cbor::infallible(e.u64(KEY_AUTHENTICATION).and_then(|e| e.bytes(auth)));
        cbor::infallible(e.u64(KEY_MANIFEST));
        e.writer_mut().extend_from_slice(manifest_whole);
        for (k, whole) in members {
            cbor::infallible(e.u64(k));
            e.writer_mut().extend_from_slice(whole);
        }
        for (name, data) in &self.integrated {
            cbor::infallible(e.str(name).and_then(|e| e.bytes(data)));
        }
        Ok(e.into_writer())
    }

    /// The digest from the authentication wrapper after checking that it covers the manifest
    /// bytes; signatures are NOT checked. Used for suit-condition-image-match on a dependency
    /// manifest (draft-ietf-suit-trust-domains §6.2) and by inspection tools.
    pub fn checked_manifest_digest(&self) -> Result<SuitDigest, SuitError> {
        let auth = self.authentication.ok_or(SuitError::MissingAuthentication)?;
        let (manifest_whole, _) = self.manifest.ok_or(SuitError::MissingManifest)?;
        cbor::precheck(auth)?;
        let mut d = Decoder::new(auth);
        cbor::array_len(&mut d, "SUIT_Authentication")?;
        let digest = SuitDigest::decode(cbor::bytes(&mut d, "SUIT_Authentication digest")?)?;
        if !digest.matches(manifest_whole)? {
            return Err(SuitError::ManifestDigestMismatch);
        }
        Ok(digest)
    }

    /// Decodes the manifest WITHOUT checking authenticity, for inspection tools
    /// (`teep decode`). Nothing returned here can be executed.
    pub fn inspect_unauthenticated(&self) -> Result<Manifest<'a>, SuitError> {
        let (_, content) = self.manifest.ok_or(SuitError::MissingManifest)?;
        Manifest::decode(content)
    }

    /// Checks every severed member present in the envelope against its digest in the manifest
    /// and returns the content of each command-sequence member (inline or severed).
    fn resolve_severed(&self, manifest: &Manifest<'a>) -> Result<Vec<(u64, &'a [u8])>, SuitError> {
        for (k, whole, _) in &self.severed {
            match manifest.member(*k) {
                Some(Member::Severed(digest)) => {
                    if !digest.matches(whole)? {
                        return Err(SuitError::SeveredMemberDigest(*k));
                    }
                }
                _ => return Err(SuitError::UnexpectedSeveredMember(*k)),
            }
        }
        let mut sections = Vec::new();
        for (k, member) in &manifest.members {
            match member {
                Member::Inline(content) => sections.push((*k, *content)),
                Member::Severed(_) => {
                    if let Some((_, _, content)) = self.severed.iter().find(|(sk, _, _)| sk == k) {
                        cbor::precheck(content)?;
                        sections.push((*k, *content));
                    }
                }
            }
        }
        Ok(sections)
    }
}

impl core::fmt::Debug for Envelope<'_> {
    /// Shows structure and sizes only, never payload bytes.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let severed: Vec<u64> = self.severed.iter().map(|(k, _, _)| *k).collect();
        let integrated: Vec<(&str, usize)> =
            self.integrated.iter().map(|(n, d)| (*n, d.len())).collect();
        f.debug_struct("Envelope")
            .field("len", &self.bytes.len())
            .field("tagged", &self.tagged)
            .field("authentication", &self.authentication.map(<[u8]>::len))
            .field("manifest", &self.manifest.map(|(w, _)| w.len()))
            .field("severed", &severed)
            .field("integrated", &integrated)
            .finish()
    }
}

/// Verifies one authentication block; returns the index of the trusted key that verified it.
fn verify_block(block: &[u8], payload: &[u8], trust: &TrustAnchors) -> Result<usize, SuitError> {
    cbor::precheck(block)?;
    let mut d = Decoder::new(block);
    if d.datatype().ok() == Some(Type::Tag) {
        let tag = d.tag().map_err(|_| SuitError::Malformed("authentication block tag"))?;
        match tag.as_u64() {
            COSE_SIGN1_TAG => {}
            98 => return Err(SuitError::UnsupportedAuthentication("COSE_Sign")),
            COSE_MAC0_TAG => return verify_mac0(block, payload, trust),
            97 => return Err(SuitError::UnsupportedAuthentication("COSE_Mac")),
            _ => return Err(SuitError::UnsupportedAuthentication("unknown COSE tag")),
        }
    } else {
        return Err(SuitError::Malformed("authentication block must be a tagged COSE structure"));
    }
    let sign1 = Sign1::decode(block)?;
    if sign1.payload.is_some() {
        return Err(SuitError::Malformed("authentication block payload must be detached"));
    }
    let alg = sign1.algorithm()?;
    if !trust.algorithms.contains(&alg) {
        return Err(SuitError::Cose(teep_cose::Error::AlgorithmNotAllowed(alg.0)));
    }
    let mut result = Err(SuitError::Untrusted);
    for (i, key) in trust.signers.iter().enumerate() {
        if !key.supports(alg) {
            continue;
        }
        match sign1.verify_detached(key, &[], payload) {
            Ok(()) => return Ok(i),
            Err(teep_cose::Error::BadSignature) => {}
            Err(e) => result = Err(SuitError::Cose(e)),
        }
    }
    result
}

/// Verifies a COSE_Mac0 block (HMAC 256/256) under the caller's MAC keys; the returned index
/// is `signers.len() + i` for `mac_keys[i]`.
fn verify_mac0(block: &[u8], payload: &[u8], trust: &TrustAnchors) -> Result<usize, SuitError> {
    let mac0 = Mac0::decode(block)?;
    if mac0.payload.is_some() {
        return Err(SuitError::Malformed("authentication block payload must be detached"));
    }
    let alg = mac0.algorithm()?;
    if !trust.algorithms.contains(&alg) {
        return Err(SuitError::Cose(teep_cose::Error::AlgorithmNotAllowed(alg.0)));
    }
    let kid = mac0.protected.kid.as_deref().or(mac0.unprotected.kid.as_deref());
    let mut result = Err(SuitError::Untrusted);
    for (i, key) in trust.mac_keys.iter().enumerate() {
        if let (Some(want), Some(have)) = (key.kid.as_deref(), kid)
            && want != have
        {
            continue;
        }
        match mac0.verify_detached(&key.key, &[], payload) {
            Ok(()) => return Ok(trust.signers.len().saturating_add(i)),
            Err(teep_cose::Error::BadMac) => {}
            Err(e) => result = Err(SuitError::Cose(e)),
        }
    }
    result
}

/// A manifest whose digest and signature were checked: the only input the processor runs.
#[derive(Clone, Debug)]
pub struct AuthenticatedManifest<'a> {
    envelope: Envelope<'a>,
    manifest: Manifest<'a>,
    digest: SuitDigest,
    signer: usize,
    sections: Vec<(u64, &'a [u8])>,
    indexed: Vec<crate::ComponentId>,
}

impl<'a> AuthenticatedManifest<'a> {
    /// suit-manifest-sequence-number.
    pub fn sequence_number(&self) -> u64 {
        self.manifest.sequence_number
    }

    /// suit-manifest-component-id, if present.
    pub fn manifest_component_id(&self) -> Option<&crate::ComponentId> {
        self.manifest.manifest_component_id.as_ref()
    }

    /// The manifest identity: manifest-component-id, else the first component.
    pub fn identity(&self) -> Option<&crate::ComponentId> {
        self.manifest.identity()
    }

    /// suit-components.
    pub fn components(&self) -> &[crate::ComponentId] {
        &self.manifest.components
    }

    /// The component list commands index: suit-components, then dependency manifests
    /// addressed after it ([`Manifest::indexed_components`]).
    pub fn indexed_components(&self) -> &[crate::ComponentId] {
        &self.indexed
    }

    /// The decoded manifest.
    pub fn manifest(&self) -> &Manifest<'a> {
        &self.manifest
    }

    /// The manifest digest from the authentication wrapper.
    pub fn digest(&self) -> &SuitDigest {
        &self.digest
    }

    /// Index into [`TrustAnchors::signers`] of the key that verified the manifest.
    pub fn signer_index(&self) -> usize {
        self.signer
    }

    /// The envelope this manifest came from.
    pub fn envelope(&self) -> &Envelope<'a> {
        &self.envelope
    }

    /// The content of command sequence `key` (inline or severed-and-verified), if available.
    pub fn section(&self, key: u64) -> Option<&'a [u8]> {
        self.sections.iter().find(|(k, _)| *k == key).map(|(_, s)| *s)
    }

    /// The shared sequence, if any.
    pub fn shared_sequence(&self) -> Option<&'a [u8]> {
        self.manifest.shared
    }

    /// The severed members the manifest names but the envelope does not carry: manifest key
    /// and the SUIT_Digest the manifest holds for it.
    pub fn missing_severed(&self) -> Vec<(u64, SuitDigest)> {
        self.manifest
            .members
            .iter()
            .filter_map(|(k, m)| match m {
                crate::manifest::Member::Severed(d) if self.section(*k).is_none() => {
                    Some((*k, d.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// Whether member `key` exists in the manifest but its severed content was not supplied.
    pub fn is_severed_missing(&self, key: u64) -> bool {
        self.manifest.has_member(key) && self.section(key).is_none()
    }

    /// suit-install is present (inline or severed).
    pub fn has_install(&self) -> bool {
        self.manifest.has_member(key::INSTALL)
    }
}
