//! An in-memory Platform and vector helpers shared by the integration tests.

#![allow(dead_code)]

use std::collections::BTreeMap;

use teep_suit::{
    Authority, BytesDownload, ComponentId, DecryptionKey, Identifier, InstallRecord, Platform,
    PlatformError,
};

pub const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors");

/// Reads a vector file.
pub fn vector(path: &str) -> Vec<u8> {
    std::fs::read(format!("{VECTORS}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Reads a hex vector file (`#` starts a comment; whitespace ignored).
pub fn hex_vector(path: &str) -> Vec<u8> {
    let text = String::from_utf8(vector(path)).expect("utf-8 vector");
    let digits: String = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.chars())
        .filter(|c| c.is_ascii_hexdigit())
        .collect();
    hex::decode(digits).expect("hex vector")
}

pub fn pem(path: &str) -> String {
    String::from_utf8(vector(path)).expect("utf-8 pem")
}

pub const VENDOR_ID: [u8; 16] = [
    0xC0, 0xDD, 0xD5, 0xF1, 0x52, 0x43, 0x56, 0x60, 0x87, 0xDB, 0x4F, 0x5B, 0x0A, 0xA2, 0x6C, 0x2F,
];
pub const CLASS_ID: [u8; 16] = [
    0xDB, 0x42, 0xF7, 0x09, 0x3D, 0x8C, 0x55, 0xBA, 0xA8, 0xC5, 0x26, 0x5F, 0xC5, 0x82, 0x0F, 0x4E,
];

/// Committed state: what is visible.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    pub components: BTreeMap<ComponentId, Vec<u8>>,
    pub manifests: BTreeMap<ComponentId, (u64, Vec<ComponentId>)>,
}

/// An in-memory device: committed state plus a staging area.
#[derive(Debug, Default)]
pub struct MemPlatform {
    pub state: State,
    staged: BTreeMap<ComponentId, Vec<u8>>,
    staged_unlink: Vec<ComponentId>,
    staged_uninstall: Vec<ComponentId>,
    pub mirrors: BTreeMap<String, Vec<u8>>,
    pub vendor_ids: Vec<Vec<u8>>,
    pub class_ids: Vec<Vec<u8>>,
    pub fetches: Vec<String>,
    pub invoked: Vec<ComponentId>,
    pub commits: usize,
    pub aborts: usize,
    pub keys: Vec<DecryptionKey>,
    pub staged_deps: Vec<(ComponentId, u64, Vec<ComponentId>)>,
    /// Whether dependency records are accepted.
    pub dependencies: bool,
    /// Severed members the platform can fetch by reference: manifest key -> member bytes.
    pub severed: BTreeMap<u64, Vec<u8>>,
    /// (reference-uri, key) of every severed member fetch.
    pub severed_fetches: Vec<(Option<String>, u64)>,
    /// Installed envelopes by manifest id (kept at commit, for suit-uninstall).
    pub envelopes: BTreeMap<ComponentId, Vec<u8>>,
    /// Every component unlink staged (a log, never cleared).
    pub unlinks: Vec<ComponentId>,
    /// Every authority the processor announced (a log, never cleared).
    pub authorities: Vec<Option<Authority>>,
    /// Refuse dependencies (authorities with `processed_by`) signed by another signer.
    pub isolate_signers: bool,
}

impl MemPlatform {
    /// A platform matching the TEEP example vendor/class ids.
    pub fn teep_example() -> Self {
        Self {
            vendor_ids: vec![VENDOR_ID.to_vec()],
            class_ids: vec![CLASS_ID.to_vec()],
            dependencies: true,
            ..Self::default()
        }
    }

    pub fn staged_is_empty(&self) -> bool {
        self.staged.is_empty()
            && self.staged_unlink.is_empty()
            && self.staged_uninstall.is_empty()
            && self.staged_deps.is_empty()
    }
}

impl Platform for MemPlatform {
    type Download = BytesDownload;

    fn fetch_severed(
        &mut self,
        reference_uri: Option<&str>,
        key: u64,
        _digest: &teep_suit::SuitDigest,
    ) -> Result<Option<Vec<u8>>, PlatformError> {
        self.severed_fetches.push((reference_uri.map(str::to_owned), key));
        Ok(self.severed.get(&key).cloned())
    }

    fn fetch(&mut self, uri: &str, _args: Option<&[u8]>) -> Result<BytesDownload, PlatformError> {
        self.fetches.push(uri.to_string());
        self.mirrors
            .get(uri)
            .cloned()
            .map(BytesDownload::new)
            .ok_or_else(|| PlatformError::Fetch(format!("no mirror for {uri}")))
    }

    fn matches_identifier(&self, kind: Identifier, _c: &ComponentId, value: &[u8]) -> bool {
        match kind {
            Identifier::Vendor => self.vendor_ids.iter().any(|v| v == value),
            Identifier::Class => self.class_ids.iter().any(|v| v == value),
            _ => false,
        }
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
        assert_eq!(buf.len() as u64, offset, "writes are sequential");
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
        let start = (offset as usize).min(data.len());
        let n = (data.len() - start).min(buf.len());
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    fn set_authority(&mut self, authority: Option<&Authority>) -> Result<(), PlatformError> {
        self.authorities.push(authority.cloned());
        match authority {
            Some(a) if self.isolate_signers && a.processed_by.is_some_and(|p| p != a.signer) => {
                Err(PlatformError::Unauthorized)
            }
            _ => Ok(()),
        }
    }

    fn installed_envelope(&mut self, manifest_id: &ComponentId) -> Option<Vec<u8>> {
        self.envelopes.get(manifest_id).cloned()
    }

    fn stage_unlink(&mut self, c: &ComponentId) -> Result<(), PlatformError> {
        self.unlinks.push(c.clone());
        self.staged_unlink.push(c.clone());
        Ok(())
    }

    fn stage_uninstall(&mut self, manifest_id: &ComponentId) -> Result<(), PlatformError> {
        self.staged_uninstall.push(manifest_id.clone());
        Ok(())
    }

    fn invoke(&mut self, c: &ComponentId, _args: Option<&[u8]>) -> Result<(), PlatformError> {
        self.invoked.push(c.clone());
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
        for (id, seq, comps) in std::mem::take(&mut self.staged_deps) {
            self.state.manifests.insert(id, (seq, comps));
        }
        if let Some(r) = record {
            self.envelopes.insert(r.manifest_id.clone(), r.envelope.to_vec());
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
        self.staged_deps.clear();
        self.aborts += 1;
    }

    fn decryption_keys(&self) -> &[DecryptionKey] {
        &self.keys
    }

    fn stage_dependency_record(&mut self, r: &InstallRecord<'_>) -> Result<(), PlatformError> {
        if !self.dependencies {
            return Err(PlatformError::Unsupported("dependency manifests"));
        }
        self.staged_deps.push((r.manifest_id.clone(), r.sequence_number, r.components.to_vec()));
        Ok(())
    }
}

/// A tiny CBOR tree for hand-built test manifests.
#[derive(Clone, Debug)]
pub enum C {
    U(u64),
    N(i64),
    B(Vec<u8>),
    T(&'static str),
    A(Vec<C>),
    M(Vec<(C, C)>),
    Bool(bool),
    Null,
    /// bstr .cbor
    W(Box<C>),
}

impl C {
    pub fn enc(&self) -> Vec<u8> {
        let mut e = minicbor::Encoder::new(Vec::new());
        self.write(&mut e);
        e.into_writer()
    }

    fn write(&self, e: &mut minicbor::Encoder<Vec<u8>>) {
        match self {
            C::U(v) => drop(e.u64(*v)),
            C::N(v) => drop(e.i64(*v)),
            C::B(v) => drop(e.bytes(v)),
            C::T(v) => drop(e.str(v)),
            C::A(items) => {
                e.array(items.len() as u64).unwrap();
                for i in items {
                    i.write(e);
                }
            }
            C::M(pairs) => {
                e.map(pairs.len() as u64).unwrap();
                for (k, v) in pairs {
                    k.write(e);
                    v.write(e);
                }
            }
            C::Bool(b) => drop(e.bool(*b)),
            C::Null => drop(e.null()),
            C::W(inner) => drop(e.bytes(&inner.enc())),
        }
    }
}

pub fn w(c: C) -> C {
    C::W(Box::new(c))
}

/// The TEEP example signer's private key.
pub fn example_signing_key() -> teep_cose::SigningKey {
    teep_cose::SigningKey::from_pkcs8_pem(&pem("teep-protocol/example-signer-private.pem"))
        .expect("example private key")
}

/// Signs `manifest` (an encoded SUIT_Manifest) into an envelope with extra members.
pub fn envelope(manifest: &C, extra: Vec<(C, C)>, key: &teep_cose::SigningKey) -> Vec<u8> {
    let wrapped = w(manifest.clone()).enc();
    let digest = teep_suit::SuitDigest::sha256(&wrapped).encode();
    let block = teep_cose::sign1_detached(&digest, key, key.default_algorithm(), None, &[], true)
        .expect("sign");
    let auth = C::A(vec![C::B(digest), C::B(block)]);
    let mut pairs = vec![(C::U(2), w(auth)), (C::U(3), w(manifest.clone()))];
    pairs.extend(extra);
    C::M(pairs).enc()
}

/// A manifest with `components`, the example vendor/class checks in the shared sequence and
/// `install` as suit-install.
pub fn manifest(seq: u64, components: Vec<Vec<&[u8]>>, install: Vec<C>) -> C {
    let comps = C::A(
        components
            .into_iter()
            .map(|c| C::A(c.into_iter().map(|s| C::B(s.to_vec())).collect()))
            .collect(),
    );
    let shared = C::A(vec![
        C::U(12),
        C::Bool(true),
        C::U(20),
        C::M(vec![(C::U(1), C::B(VENDOR_ID.to_vec())), (C::U(2), C::B(CLASS_ID.to_vec()))]),
        C::U(1),
        C::U(15),
        C::U(2),
        C::U(15),
    ]);
    let common = C::M(vec![(C::U(2), comps), (C::U(4), w(shared))]);
    C::M(vec![
        (C::U(1), C::U(1)),
        (C::U(2), C::U(seq)),
        (C::U(3), w(common)),
        (C::U(20), w(C::A(install))),
    ])
}
