//! Shared fixtures for the teep-rs fuzz targets: fixed keys taken from the published test
//! vectors, an in-memory SUIT [`Platform`], an in-memory TEEP Agent platform, and helpers that
//! sign fuzzed bytes so that a target can reach the code behind signature checks.
//!
//! Everything here is test scaffolding: a fixture that cannot be built is a broken harness,
//! so it panics with a message (the fuzzer reports it as a crash on the first input).

use std::collections::BTreeMap;

use teep_cose::{Algorithm, PublicKey, SigningKey};
use teep_suit::{
    BytesDownload, ComponentId, Identifier, InstallRecord, Platform, PlatformError, SuitDigest,
};

/// Root of the shared test vectors, relative to this crate.
pub const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors");

/// The SUIT / TEEP example signer (draft-ietf-suit-manifest and draft-ietf-teep-protocol
/// examples are signed with it).
pub const EXAMPLE_SIGNER_PEM: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/vectors/teep-protocol/example-signer-private.pem"
));

/// The TAM key of the RFC-numbered TEEP vectors (teep-rfc/).
pub const TAM_JWK: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/vectors/teep-rfc/tam-esp256-priv.jwk"
));

/// The Agent key of the RFC-numbered TEEP vectors (teep-rfc/).
pub const AGENT_JWK: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/vectors/teep-rfc/agent-esp256-priv.jwk"
));

/// A fixed symmetric key used by the MAC and encryption targets (32 bytes; prefixes of it
/// serve as 16- and 24-byte keys).
pub const FIXED_SYMMETRIC_KEY: [u8; 32] = *b"teep-rs fuzz fixed symmetric key";

/// Loads a private key from one of the embedded vector files.
pub fn key_from_pem(pem: &str) -> SigningKey {
    match SigningKey::from_pkcs8_pem(pem) {
        Ok(k) => k,
        Err(e) => panic!("fuzz fixture: bad PEM key: {e}"),
    }
}

/// Loads a private key from one of the embedded JWK files.
pub fn key_from_jwk(jwk: &str) -> SigningKey {
    match SigningKey::from_jwk(jwk) {
        Ok(k) => k,
        Err(e) => panic!("fuzz fixture: bad JWK key: {e}"),
    }
}

/// The example SUIT signer.
pub fn example_signer() -> SigningKey {
    key_from_pem(EXAMPLE_SIGNER_PEM)
}

/// The TAM's P-256 key of the RFC vectors.
pub fn tam_key() -> SigningKey {
    key_from_jwk(TAM_JWK)
}

/// The Agent's P-256 key of the RFC vectors.
pub fn agent_key() -> SigningKey {
    key_from_jwk(AGENT_JWK)
}

/// A fixed Ed25519 key (seed: 32 bytes of 0x42).
pub fn ed25519_key() -> SigningKey {
    SigningKey::from_ed25519_seed(&[0x42; 32])
}

/// Signs `payload` into a tagged COSE_Sign1 with the key's default algorithm and its RFC 9679
/// thumbprint as kid: the TEEP secure envelope around arbitrary (fuzzed) payload bytes.
pub fn seal_raw(payload: &[u8], key: &SigningKey) -> Vec<u8> {
    let kid = key.public_key().thumbprint();
    match teep_cose::sign1(payload, key, key.default_algorithm(), Some(&kid), &[], true) {
        Ok(b) => b,
        Err(e) => panic!("fuzz fixture: sign1 failed: {e}"),
    }
}

/// Wraps `manifest` (arbitrary bytes, meant to be a SUIT_Manifest) into a SUIT_Envelope
/// whose authentication wrapper is validly signed by `key`; `extra` is appended verbatim as
/// further envelope members (its count given by `extra_count`).
pub fn sign_manifest(manifest: &[u8], key: &SigningKey, extra: &[(&str, &[u8])]) -> Vec<u8> {
    let mut wrapped = minicbor::Encoder::new(Vec::new());
    let _ = wrapped.bytes(manifest);
    let wrapped = wrapped.into_writer();
    let digest = SuitDigest::sha256(&wrapped).encode();
    let block = match teep_cose::sign1_detached(&digest, key, Algorithm::ESP256, None, &[], true) {
        Ok(b) => b,
        Err(e) => panic!("fuzz fixture: sign1_detached failed: {e}"),
    };
    let mut auth = minicbor::Encoder::new(Vec::new());
    let _ = auth.array(2).and_then(|e| e.bytes(&digest)).and_then(|e| e.bytes(&block));
    let auth = auth.into_writer();

    let mut e = minicbor::Encoder::new(Vec::new());
    let _ = e.tag(minicbor::data::Tag::new(teep_suit::ENVELOPE_TAG));
    let _ = e.map(2 + extra.len() as u64);
    let _ = e.u64(2).and_then(|e| e.bytes(&auth));
    let _ = e.u64(3);
    let mut out = e.into_writer();
    out.extend_from_slice(&wrapped);
    let mut e = minicbor::Encoder::new(out);
    for (k, v) in extra {
        let _ = e.str(k).and_then(|e| e.bytes(v));
    }
    e.into_writer()
}

/// Trusted SUIT signers: the example signer and the fixed Ed25519 key.
pub fn suit_trust() -> teep_suit::TrustAnchors {
    teep_suit::TrustAnchors::new(vec![example_signer().public_key(), ed25519_key().public_key()])
}

/// Vendor id of the TEEP / SUIT examples (draft-ietf-teep-protocol Appendix).
pub const VENDOR_ID: [u8; 16] = [
    0xC0, 0xDD, 0xD5, 0xF1, 0x52, 0x43, 0x56, 0x60, 0x87, 0xDB, 0x4F, 0x5B, 0x0A, 0xA2, 0x6C, 0x2F,
];
/// Class id of the TEEP / SUIT examples.
pub const CLASS_ID: [u8; 16] = [
    0xDB, 0x42, 0xF7, 0x09, 0x3D, 0x8C, 0x55, 0xBA, 0xA8, 0xC5, 0x26, 0x5F, 0xC5, 0x82, 0x0F, 0x4E,
];
/// Vendor id of the draft-ietf-suit-manifest examples (fa6b4a53-d5ad-5fdf-be9d-e663e4d41ffe).
pub const SUIT_EXAMPLE_VENDOR_ID: [u8; 16] = [
    0xfa, 0x6b, 0x4a, 0x53, 0xd5, 0xad, 0x5f, 0xdf, 0xbe, 0x9d, 0xe6, 0x63, 0xe4, 0xd4, 0x1f, 0xfe,
];
/// Class id of the draft-ietf-suit-manifest examples (1492af14-2569-5e48-bf42-9b2d51f2ab45).
pub const SUIT_EXAMPLE_CLASS_ID: [u8; 16] = [
    0x14, 0x92, 0xaf, 0x14, 0x25, 0x69, 0x5e, 0x48, 0xbf, 0x42, 0x9b, 0x2d, 0x51, 0xf2, 0xab, 0x45,
];

/// Largest staged image the in-memory platform keeps (bounds memory per input).
pub const MAX_STAGED: usize = 1 << 20;

/// Committed state of [`MemPlatform`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemState {
    /// Installed component images.
    pub components: BTreeMap<ComponentId, Vec<u8>>,
    /// Installed manifests: sequence number and declared components.
    pub manifests: BTreeMap<ComponentId, (u64, Vec<ComponentId>)>,
}

/// An in-memory device for the SUIT processor. It also checks the processor's side of the
/// [`Platform`] contract and panics (a fuzzer finding) when it is broken: writes must be
/// sequential from 0 after `stage_begin`, and nothing may be committed after an abort
/// within the same run without new staging.
#[derive(Debug, Default)]
pub struct MemPlatform {
    /// What is visible.
    pub state: MemState,
    staged: BTreeMap<ComponentId, Vec<u8>>,
    staged_unlink: Vec<ComponentId>,
    staged_uninstall: Vec<ComponentId>,
    /// URI -> content served by `fetch`.
    pub mirrors: BTreeMap<String, Vec<u8>>,
    /// Number of commits.
    pub commits: usize,
    /// Number of aborts.
    pub aborts: usize,
}

impl MemPlatform {
    /// A platform that matches both example vendor/class id pairs and serves a few URIs of
    /// the examples from memory (the contents do not match their digests: the digest
    /// conditions get exercised on mismatches; inputs built by the seeds binary use them).
    pub fn example() -> Self {
        let mut mirrors = BTreeMap::new();
        for uri in [
            "https://example.com/file.bin",
            "https://example.com/file1.bin",
            "https://example.com/file2.bin",
            "https://example.org/8d82573a-926d-4754-9353-32dc29997f74.suit",
            "http://example.com/file.bin",
        ] {
            mirrors.insert(uri.to_string(), uri.as_bytes().repeat(4));
        }
        mirrors.insert("fuzz:empty".to_string(), Vec::new());
        mirrors.insert("fuzz:hello".to_string(), b"hello, world\n".to_vec());
        Self { mirrors, ..Self::default() }
    }

    /// Whether nothing is staged.
    pub fn staged_is_empty(&self) -> bool {
        self.staged.is_empty() && self.staged_unlink.is_empty() && self.staged_uninstall.is_empty()
    }
}

impl Platform for MemPlatform {
    type Download = BytesDownload;

    fn fetch(&mut self, uri: &str, _args: Option<&[u8]>) -> Result<BytesDownload, PlatformError> {
        self.mirrors
            .get(uri)
            .cloned()
            .map(BytesDownload::new)
            .ok_or_else(|| PlatformError::Fetch(format!("no mirror for {uri}")))
    }

    fn matches_identifier(&self, kind: Identifier, _c: &ComponentId, value: &[u8]) -> bool {
        match kind {
            Identifier::Vendor => value == VENDOR_ID || value == SUIT_EXAMPLE_VENDOR_ID,
            Identifier::Class => value == CLASS_ID || value == SUIT_EXAMPLE_CLASS_ID,
            _ => false,
        }
    }

    fn component_slot(&self, component: &ComponentId) -> Option<u64> {
        (component.segments().len() > 1).then_some(0)
    }

    fn installed_sequence_number(&self, manifest_id: &ComponentId) -> Option<u64> {
        self.state.manifests.get(manifest_id).map(|(seq, _)| *seq)
    }

    fn stage_begin(&mut self, component: &ComponentId) -> Result<(), PlatformError> {
        self.staged.insert(component.clone(), Vec::new());
        Ok(())
    }

    fn stage_write(
        &mut self,
        c: &ComponentId,
        offset: u64,
        chunk: &[u8],
    ) -> Result<(), PlatformError> {
        let buf = self.staged.get_mut(c).ok_or(PlatformError::UnknownComponent)?;
        assert_eq!(buf.len() as u64, offset, "Platform contract: writes are sequential");
        if buf.len().saturating_add(chunk.len()) > MAX_STAGED {
            return Err(PlatformError::Storage("fuzz platform: image too large".into()));
        }
        buf.extend_from_slice(chunk);
        Ok(())
    }

    fn read(
        &mut self,
        c: &ComponentId,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, PlatformError> {
        let data = self
            .staged
            .get(c)
            .or_else(|| self.state.components.get(c))
            .ok_or(PlatformError::UnknownComponent)?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(data.len());
        let rest = data.get(start..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), rest.get(..n)) {
            dst.copy_from_slice(src);
        }
        Ok(n)
    }

    fn stage_unlink(&mut self, c: &ComponentId) -> Result<(), PlatformError> {
        self.staged_unlink.push(c.clone());
        Ok(())
    }

    fn stage_uninstall(&mut self, manifest_id: &ComponentId) -> Result<(), PlatformError> {
        self.staged_uninstall.push(manifest_id.clone());
        Ok(())
    }

    fn invoke(&mut self, _c: &ComponentId, _args: Option<&[u8]>) -> Result<(), PlatformError> {
        Ok(())
    }

    fn commit(&mut self, record: Option<&InstallRecord<'_>>) -> Result<(), PlatformError> {
        for (c, data) in std::mem::take(&mut self.staged) {
            self.state.components.insert(c, data);
        }
        for c in std::mem::take(&mut self.staged_unlink) {
            self.state.components.remove(&c);
        }
        for m in std::mem::take(&mut self.staged_uninstall) {
            if let Some((_, comps)) = self.state.manifests.remove(&m) {
                for c in comps {
                    self.state.components.remove(&c);
                }
            }
        }
        if let Some(r) = record {
            self.state
                .manifests
                .insert(r.manifest_id.clone(), (r.sequence_number, r.components.to_vec()));
        }
        self.commits += 1;
        Ok(())
    }

    fn abort(&mut self) {
        self.staged.clear();
        self.staged_unlink.clear();
        self.staged_uninstall.clear();
        self.aborts += 1;
    }
}

impl teep_agent::AgentPlatform for MemPlatform {
    fn installed(&self) -> Vec<teep_agent::InstalledTc> {
        self.state
            .manifests
            .iter()
            .map(|(id, (seq, comps))| teep_agent::InstalledTc {
                manifest_id: id.clone(),
                sequence_number: *seq,
                image_digest: comps
                    .first()
                    .and_then(|c| self.state.components.get(c))
                    .map(|img| SuitDigest::sha256(img)),
                image_size: comps
                    .first()
                    .and_then(|c| self.state.components.get(c))
                    .map(|img| img.len() as u64),
                components: comps.clone(),
                owner: None,
                domain: None,
            })
            .collect()
    }
}

/// Trusted TAM keys for the Agent targets: the RFC-vector TAM key and the fixed Ed25519 key.
pub fn tam_public_keys() -> Vec<PublicKey> {
    vec![tam_key().public_key(), ed25519_key().public_key()]
}
