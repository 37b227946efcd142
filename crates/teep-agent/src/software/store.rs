//! The software TEE's component store: a [`teep_suit::Platform`] over files.
//!
//! Layout under the state directory:
//! - `components/<h>.img` and `components/<h>.json`: installed image and its metadata
//!   (component id, SHA-256, length), `<h>` = hex SHA-256 of the CBOR component id;
//! - `manifests/<h>.json` and `manifests/<h>.suit`: the record and envelope of each installed
//!   manifest, keyed by its manifest component id;
//! - `staging/`: files written during one manifest run (`c-` component, `m-` manifest
//!   prefixes), invisible until commit;
//! - `journal/commit.json`: the redo journal of a commit in progress.
//!
//! A commit (draft-ietf-suit-manifest-34 §6: all-or-nothing install) first fsyncs every staged
//! file, then writes the list of renames and deletions as the journal (temp file, fsync,
//! rename), then applies it and removes the journal. Opening the store replays a journal left
//! by a crash and drops leftover staging files, so a crash leaves the old or the new state.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use teep_suit::{ComponentId, Identifier, InstallRecord, Platform, PlatformError};

use super::config::ConfigFile;
use super::fetch::{Fetcher, PayloadDownload};

use super::{COMPONENTS_DIR, JOURNAL_DIR, MANIFESTS_DIR, STAGING_DIR};

const JOURNAL_FILE: &str = "commit.json";

/// Errors opening or recovering the store.
#[non_exhaustive]
#[derive(Debug)]
pub enum StoreError {
    /// A file operation failed.
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: io::Error,
    },
    /// A record or journal file is unreadable.
    Corrupt(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io { what, source } => write!(f, "component store: {what}: {source}"),
            Self::Corrupt(what) => write!(f, "component store corrupt: {what}"),
        }
    }
}

impl std::error::Error for StoreError {}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> StoreError {
    let what = what.into();
    move |source| StoreError::Io { what, source }
}

/// An installed manifest, as recorded at commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestRecord {
    /// The manifest's component id (its TEEP Trusted Component identity).
    pub manifest_id: ComponentId,
    /// suit-manifest-sequence-number.
    pub sequence_number: u64,
    /// COSE algorithm of the manifest digest.
    pub digest_algorithm: i64,
    /// Digest of the bstr-wrapped manifest.
    pub digest: Vec<u8>,
    /// Components the manifest declares.
    pub components: Vec<ComponentId>,
}

/// An installed component image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRecord {
    /// The component id.
    pub component_id: ComponentId,
    /// SHA-256 of the image.
    pub sha256: [u8; 32],
    /// Length in bytes.
    pub len: u64,
}

#[derive(Serialize, Deserialize)]
struct ManifestJson {
    manifest_id: Vec<String>,
    sequence_number: u64,
    digest_algorithm: i64,
    digest: String,
    components: Vec<Vec<String>>,
}

#[derive(Serialize, Deserialize)]
struct ImageJson {
    component_id: Vec<String>,
    sha256: String,
    len: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(tag = "op", rename_all = "lowercase")]
enum JournalOp {
    Rename { from: String, to: String },
    Delete { path: String },
}

fn id_to_hex(id: &ComponentId) -> Vec<String> {
    id.segments().iter().map(hex::encode).collect()
}

fn id_from_hex(segments: &[String]) -> Result<ComponentId, StoreError> {
    let mut out = Vec::new();
    for s in segments {
        out.push(hex::decode(s).map_err(|_| StoreError::Corrupt("component id".into()))?);
    }
    Ok(ComponentId(out))
}

/// File stem of a component or manifest id: hex SHA-256 of its CBOR encoding.
pub fn file_stem(id: &ComponentId) -> String {
    hex::encode(Sha256::digest(id.encode()))
}

enum Staged {
    Image { file: File, path: PathBuf, hasher: Sha256, len: u64 },
    Unlink,
}

/// Device identities for the SUIT identifier conditions.
#[derive(Clone, Debug, Default)]
struct Identity {
    vendor: Vec<Vec<u8>>,
    class: Vec<Vec<u8>>,
    device: Vec<Vec<u8>>,
}

/// The software TEE platform: installed components and manifests in a state directory.
pub struct SoftwareTee {
    root: PathBuf,
    fetcher: Fetcher,
    identity: Identity,
    staged: BTreeMap<ComponentId, Staged>,
    uninstalls: Vec<ComponentId>,
    manifests: BTreeMap<ComponentId, ManifestRecord>,
    images: BTreeMap<ComponentId, ImageRecord>,
    /// The installed image last read, kept open across chunked reads.
    reader: Option<(ComponentId, File)>,
}

impl std::fmt::Debug for SoftwareTee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareTee")
            .field("root", &self.root)
            .field("manifests", &self.manifests.len())
            .field("images", &self.images.len())
            .finish_non_exhaustive()
    }
}

impl SoftwareTee {
    /// Opens the store in `root` (which `init` created): replays an unfinished commit,
    /// drops leftover staging files and loads the installed state.
    pub fn open(root: &Path, config: &ConfigFile) -> Result<Self, StoreError> {
        let decode = |ids: &[String]| -> Vec<Vec<u8>> {
            ids.iter().filter_map(|s| hex::decode(s).ok()).collect()
        };
        let identity = Identity {
            vendor: decode(&config.device.vendor_ids),
            class: decode(&config.device.class_ids),
            device: decode(&config.device.device_ids),
        };
        let fetcher = Fetcher::new(config.mirrors.clone(), config.limits.max_payload_bytes);
        let mut tee = Self {
            root: root.to_path_buf(),
            fetcher,
            identity,
            staged: BTreeMap::new(),
            uninstalls: Vec::new(),
            manifests: BTreeMap::new(),
            images: BTreeMap::new(),
            reader: None,
        };
        for dir in [COMPONENTS_DIR, MANIFESTS_DIR, STAGING_DIR, JOURNAL_DIR] {
            fs::create_dir_all(root.join(dir)).map_err(io_err(format!("create {dir}/")))?;
        }
        tee.recover()?;
        Ok(tee)
    }

    /// The installed manifests, by manifest component id.
    pub fn manifests(&self) -> impl Iterator<Item = &ManifestRecord> {
        self.manifests.values()
    }

    /// Sequence numbers of the installed manifests, in manifest-id order.
    pub fn installed_sequence_numbers(&self) -> Vec<u64> {
        self.manifests.values().map(|m| m.sequence_number).collect()
    }

    /// The installed component images, by component id.
    pub fn images(&self) -> impl Iterator<Item = &ImageRecord> {
        self.images.values()
    }

    /// The installed image of `component`, if any.
    pub fn image(&self, component: &ComponentId) -> Option<&ImageRecord> {
        self.images.get(component)
    }

    /// The installed manifest with this id, if any.
    pub fn manifest(&self, manifest_id: &ComponentId) -> Option<&ManifestRecord> {
        self.manifests.get(manifest_id)
    }

    /// Path of the installed image file of `component` (whether or not it exists).
    pub fn image_path(&self, component: &ComponentId) -> PathBuf {
        self.root.join(COMPONENTS_DIR).join(format!("{}.img", file_stem(component)))
    }

    fn journal_path(&self) -> PathBuf {
        self.root.join(JOURNAL_DIR).join(JOURNAL_FILE)
    }

    /// Finishes a journaled commit, clears staging and reloads the index from disk.
    fn recover(&mut self) -> Result<(), StoreError> {
        self.reader = None;
        let journal = self.journal_path();
        match fs::read(&journal) {
            Ok(bytes) => {
                let ops: Vec<JournalOp> = serde_json::from_slice(&bytes)
                    .map_err(|e| StoreError::Corrupt(format!("journal: {e}")))?;
                tracing::info!(ops = ops.len(), "replaying unfinished commit");
                self.apply(&ops)?;
                fs::remove_file(&journal).map_err(io_err("remove journal"))?;
                sync_dir(&self.root.join(JOURNAL_DIR))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("read journal")(e)),
        }
        self.clear_staging()?;
        self.load_index()
    }

    fn clear_staging(&mut self) -> Result<(), StoreError> {
        self.staged.clear();
        self.uninstalls.clear();
        for dir in [STAGING_DIR, JOURNAL_DIR] {
            let dir = self.root.join(dir);
            for entry in fs::read_dir(&dir).map_err(io_err("list staging"))? {
                let entry = entry.map_err(io_err("list staging"))?;
                let name = entry.file_name();
                if dir.ends_with(JOURNAL_DIR) && name == JOURNAL_FILE {
                    continue;
                }
                fs::remove_file(entry.path()).map_err(io_err("clear staging"))?;
            }
        }
        Ok(())
    }

    fn load_index(&mut self) -> Result<(), StoreError> {
        self.manifests.clear();
        self.images.clear();
        for (dir, is_manifest) in [(MANIFESTS_DIR, true), (COMPONENTS_DIR, false)] {
            let dir = self.root.join(dir);
            for entry in fs::read_dir(&dir).map_err(io_err("list records"))? {
                let path = entry.map_err(io_err("list records"))?.path();
                if path.extension().is_none_or(|e| e != "json") {
                    continue;
                }
                let bytes = read_small(&path)?;
                let corrupt =
                    |e: serde_json::Error| StoreError::Corrupt(format!("{}: {e}", path.display()));
                if is_manifest {
                    let j: ManifestJson = serde_json::from_slice(&bytes).map_err(corrupt)?;
                    let record = ManifestRecord {
                        manifest_id: id_from_hex(&j.manifest_id)?,
                        sequence_number: j.sequence_number,
                        digest_algorithm: j.digest_algorithm,
                        digest: hex::decode(&j.digest)
                            .map_err(|_| StoreError::Corrupt("manifest digest".into()))?,
                        components: j
                            .components
                            .iter()
                            .map(|c| id_from_hex(c))
                            .collect::<Result<_, _>>()?,
                    };
                    self.manifests.insert(record.manifest_id.clone(), record);
                } else {
                    let j: ImageJson = serde_json::from_slice(&bytes).map_err(corrupt)?;
                    let mut sha256 = [0u8; 32];
                    hex::decode_to_slice(&j.sha256, &mut sha256)
                        .map_err(|_| StoreError::Corrupt("image digest".into()))?;
                    let record = ImageRecord {
                        component_id: id_from_hex(&j.component_id)?,
                        sha256,
                        len: j.len,
                    };
                    self.images.insert(record.component_id.clone(), record);
                }
            }
        }
        Ok(())
    }

    /// Applies journal operations; each is idempotent so a replay after a crash is safe.
    fn apply(&self, ops: &[JournalOp]) -> Result<(), StoreError> {
        for op in ops {
            match op {
                JournalOp::Rename { from, to } => {
                    let (from, to) = (self.inside(from)?, self.inside(to)?);
                    match fs::rename(&from, &to) {
                        Ok(()) => {}
                        // Already applied before a crash.
                        Err(e) if e.kind() == io::ErrorKind::NotFound && to.exists() => {}
                        Err(e) => return Err(io_err(format!("rename {}", to.display()))(e)),
                    }
                }
                JournalOp::Delete { path } => match fs::remove_file(self.inside(path)?) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(format!("delete {path}"))(e)),
                },
            }
        }
        for dir in [COMPONENTS_DIR, MANIFESTS_DIR] {
            sync_dir(&self.root.join(dir))?;
        }
        Ok(())
    }

    /// A journal path, which must be `<known dir>/<plain file name>`.
    fn inside(&self, rel: &str) -> Result<PathBuf, StoreError> {
        let mut parts = rel.split('/');
        let ok = match (parts.next(), parts.next(), parts.next()) {
            (Some(dir), Some(name), None) => {
                [COMPONENTS_DIR, MANIFESTS_DIR, STAGING_DIR].contains(&dir)
                    && !name.is_empty()
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
                    && !name.starts_with(['.', '-'])
            }
            _ => false,
        };
        if ok { Ok(self.root.join(rel)) } else { Err(StoreError::Corrupt(format!("path {rel}"))) }
    }

    fn write_staged_file(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.root.join(STAGING_DIR).join(name);
        let mut f = File::create(&path).map_err(io_err(format!("create staging/{name}")))?;
        f.write_all(bytes).map_err(io_err(format!("write staging/{name}")))?;
        f.sync_all().map_err(io_err(format!("sync staging/{name}")))
    }

    /// Builds, persists and applies the journal for the staged state.
    fn commit_inner(&mut self, record: Option<&InstallRecord<'_>>) -> Result<(), StoreError> {
        let ops = self.prepare_commit(record)?;
        self.apply(&ops)?;
        fs::remove_file(self.journal_path()).map_err(io_err("remove journal"))?;
        sync_dir(&self.root.join(JOURNAL_DIR))
    }

    /// Everything up to the commit point: staged files synced, journal published.
    fn prepare_commit(
        &mut self,
        record: Option<&InstallRecord<'_>>,
    ) -> Result<Vec<JournalOp>, StoreError> {
        let mut ops = Vec::new();
        let staged = std::mem::take(&mut self.staged);
        for (component, staged) in staged {
            let stem = file_stem(&component);
            let (img, meta) = (format!("{stem}.img"), format!("{stem}.json"));
            match staged {
                Staged::Image { file, hasher, len, .. } => {
                    file.sync_all().map_err(io_err("sync staged image"))?;
                    let json = ImageJson {
                        component_id: id_to_hex(&component),
                        sha256: hex::encode(hasher.finalize()),
                        len,
                    };
                    let bytes = serde_json::to_vec(&json)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    self.write_staged_file(&format!("c-{meta}"), &bytes)?;
                    for name in [&img, &meta] {
                        ops.push(JournalOp::Rename {
                            from: format!("{STAGING_DIR}/c-{name}"),
                            to: format!("{COMPONENTS_DIR}/{name}"),
                        });
                    }
                }
                Staged::Unlink => {
                    for name in [&img, &meta] {
                        ops.push(JournalOp::Delete { path: format!("{COMPONENTS_DIR}/{name}") });
                    }
                }
            }
        }
        for manifest_id in std::mem::take(&mut self.uninstalls) {
            let stem = file_stem(&manifest_id);
            for ext in ["json", "suit"] {
                ops.push(JournalOp::Delete { path: format!("{MANIFESTS_DIR}/{stem}.{ext}") });
            }
        }
        if let Some(r) = record {
            let stem = file_stem(r.manifest_id);
            let json = ManifestJson {
                manifest_id: id_to_hex(r.manifest_id),
                sequence_number: r.sequence_number,
                digest_algorithm: r.manifest_digest.algorithm,
                digest: hex::encode(&r.manifest_digest.bytes),
                components: r.components.iter().map(id_to_hex).collect(),
            };
            let bytes =
                serde_json::to_vec(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            self.write_staged_file(&format!("m-{stem}.suit"), r.envelope)?;
            self.write_staged_file(&format!("m-{stem}.json"), &bytes)?;
            for ext in ["suit", "json"] {
                ops.push(JournalOp::Rename {
                    from: format!("{STAGING_DIR}/m-{stem}.{ext}"),
                    to: format!("{MANIFESTS_DIR}/{stem}.{ext}"),
                });
            }
        }
        sync_dir(&self.root.join(STAGING_DIR))?;

        // The commit point: once the journal is in place the new state wins.
        let journal_dir = self.root.join(JOURNAL_DIR);
        let tmp = journal_dir.join("commit.tmp");
        let bytes = serde_json::to_vec(&ops).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        {
            let mut f = File::create(&tmp).map_err(io_err("create journal"))?;
            f.write_all(&bytes).map_err(io_err("write journal"))?;
            f.sync_all().map_err(io_err("sync journal"))?;
        }
        fs::rename(&tmp, self.journal_path()).map_err(io_err("publish journal"))?;
        sync_dir(&journal_dir)?;
        Ok(ops)
    }

    fn staged_image(&mut self, component: &ComponentId) -> Result<&mut Staged, PlatformError> {
        self.staged.get_mut(component).ok_or(PlatformError::UnknownComponent)
    }
}

fn read_small(path: &Path) -> Result<Vec<u8>, StoreError> {
    let mut buf = Vec::new();
    File::open(path)
        .and_then(|f| f.take(1 << 20).read_to_end(&mut buf))
        .map_err(io_err(format!("read {}", path.display())))?;
    Ok(buf)
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(format!("sync {}", dir.display())))
}

fn storage(e: impl std::fmt::Display) -> PlatformError {
    PlatformError::Storage(e.to_string())
}

impl Platform for SoftwareTee {
    type Download = PayloadDownload;

    fn fetch(&mut self, uri: &str, _args: Option<&[u8]>) -> Result<PayloadDownload, PlatformError> {
        self.fetcher.open(uri)
    }

    fn matches_identifier(&self, kind: Identifier, _component: &ComponentId, value: &[u8]) -> bool {
        let list = match kind {
            Identifier::Vendor => &self.identity.vendor,
            Identifier::Class => &self.identity.class,
            Identifier::Device => &self.identity.device,
            _ => return false,
        };
        list.iter().any(|id| id.as_slice() == value)
    }

    fn installed_sequence_number(&self, manifest_id: &ComponentId) -> Option<u64> {
        self.manifests.get(manifest_id).map(|m| m.sequence_number)
    }

    fn stage_begin(&mut self, component: &ComponentId) -> Result<(), PlatformError> {
        let path = self.root.join(STAGING_DIR).join(format!("c-{}.img", file_stem(component)));
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(storage)?;
        let staged = Staged::Image { file, path, hasher: Sha256::new(), len: 0 };
        self.staged.insert(component.clone(), staged);
        Ok(())
    }

    fn stage_write(
        &mut self,
        component: &ComponentId,
        offset: u64,
        chunk: &[u8],
    ) -> Result<(), PlatformError> {
        match self.staged_image(component)? {
            Staged::Image { file, hasher, len, .. } => {
                if offset != *len {
                    return Err(PlatformError::Unsupported("non-sequential staged writes"));
                }
                file.write_all(chunk).map_err(storage)?;
                hasher.update(chunk);
                *len = len.saturating_add(chunk.len() as u64);
                Ok(())
            }
            Staged::Unlink => Err(PlatformError::UnknownComponent),
        }
    }

    fn read(
        &mut self,
        component: &ComponentId,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, PlatformError> {
        // Positioned reads (pread) on a kept-open handle: no seek, no reopen per chunk.
        match self.staged.get_mut(component) {
            Some(Staged::Image { file, .. }) => file.read_at(buf, offset).map_err(storage),
            Some(Staged::Unlink) => Err(PlatformError::UnknownComponent),
            None if self.images.contains_key(component) => {
                let cached = matches!(&self.reader, Some((id, _)) if id == component);
                if !cached {
                    let file = File::open(self.image_path(component)).map_err(storage)?;
                    self.reader = Some((component.clone(), file));
                }
                match &self.reader {
                    Some((_, file)) => file.read_at(buf, offset).map_err(storage),
                    None => Err(PlatformError::UnknownComponent),
                }
            }
            None => Err(PlatformError::UnknownComponent),
        }
    }

    fn stage_unlink(&mut self, component: &ComponentId) -> Result<(), PlatformError> {
        if let Some(Staged::Image { path, .. }) =
            self.staged.insert(component.clone(), Staged::Unlink)
        {
            let _ = fs::remove_file(path);
        }
        Ok(())
    }

    fn stage_uninstall(&mut self, manifest_id: &ComponentId) -> Result<(), PlatformError> {
        let record = self.manifests.get(manifest_id).ok_or(PlatformError::UnknownComponent)?;
        let mut unlink = Vec::new();
        for component in &record.components {
            // Keep components that another installed manifest (not being removed) declares.
            let shared = self.manifests.values().any(|m| {
                &m.manifest_id != manifest_id
                    && !self.uninstalls.contains(&m.manifest_id)
                    && m.components.contains(component)
            });
            if !shared {
                unlink.push(component.clone());
            }
        }
        for component in unlink {
            self.stage_unlink(&component)?;
        }
        self.uninstalls.push(manifest_id.clone());
        Ok(())
    }

    fn invoke(
        &mut self,
        component: &ComponentId,
        _args: Option<&[u8]>,
    ) -> Result<(), PlatformError> {
        tracing::debug!(%component, "invoke requested");
        Err(PlatformError::Unsupported("invoke (the software TEE does not execute components)"))
    }

    fn commit(&mut self, record: Option<&InstallRecord<'_>>) -> Result<(), PlatformError> {
        let result = self.commit_inner(record);
        // Whatever happened, make memory match the disk (replaying the journal if the
        // apply step failed half-way).
        let reload = self.recover();
        match (result, reload) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(e), _) | (Ok(()), Err(e)) => {
                tracing::error!(error = %e, "commit failed");
                Err(storage(e))
            }
        }
    }

    fn abort(&mut self) {
        for (_, staged) in std::mem::take(&mut self.staged) {
            if let Staged::Image { path, .. } = staged {
                let _ = fs::remove_file(path);
            }
        }
        self.uninstalls.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use teep_suit::SuitDigest;

    fn id() -> ComponentId {
        ComponentId::new([&b"TEEP-Device"[..], b"ta"])
    }

    fn install(tee: &mut SoftwareTee, body: &[u8], seq: u64) -> Result<Vec<JournalOp>, StoreError> {
        let component = id();
        tee.stage_begin(&component).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        tee.stage_write(&component, 0, body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let digest = SuitDigest::sha256(body);
        let components = [component.clone()];
        let record = InstallRecord {
            manifest_id: &component,
            sequence_number: seq,
            manifest_digest: &digest,
            envelope: b"envelope",
            components: &components,
            written: &components,
        };
        tee.prepare_commit(Some(&record))
    }

    fn open(dir: &Path) -> SoftwareTee {
        SoftwareTee::open(dir, &ConfigFile::default()).expect("open")
    }

    fn installed(tee: &SoftwareTee) -> Option<(u64, Vec<u8>)> {
        let seq = tee.installed_sequence_number(&id())?;
        Some((seq, fs::read(tee.image_path(&id())).ok()?))
    }

    #[test]
    fn crash_before_the_journal_keeps_the_old_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut tee = open(dir.path());
        let ops = install(&mut tee, b"old", 1).expect("prepare");
        tee.apply(&ops).expect("apply");
        fs::remove_file(tee.journal_path()).expect("journal");

        // Stage a new image, then "crash" before the commit point.
        let component = id();
        tee.stage_begin(&component).expect("stage");
        tee.stage_write(&component, 0, b"new").expect("write");
        drop(tee);

        let tee = open(dir.path());
        assert_eq!(installed(&tee), Some((1, b"old".to_vec())));
        assert!(fs::read_dir(dir.path().join(STAGING_DIR)).expect("staging").next().is_none());
    }

    #[test]
    fn crash_after_the_journal_gives_the_new_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut tee = open(dir.path());
        let ops = install(&mut tee, b"old", 1).expect("prepare");
        tee.apply(&ops).expect("apply");
        fs::remove_file(tee.journal_path()).expect("journal");
        let mut tee = open(dir.path());

        // Publish the journal of a new install, apply only its first step, then "crash".
        let ops = install(&mut tee, b"new", 2).expect("prepare");
        let first = ops.first().cloned().into_iter().collect::<Vec<_>>();
        tee.apply(&first).expect("partial apply");
        drop(tee);

        let tee = open(dir.path());
        assert_eq!(installed(&tee), Some((2, b"new".to_vec())));
        assert!(!tee.journal_path().exists());
        assert_eq!(tee.image(&id()).map(|i| i.sha256), Some(Sha256::digest(b"new").into()));
    }

    #[test]
    fn journal_paths_outside_the_store_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tee = open(dir.path());
        for bad in ["../x", "components/../../x", "staging/.hidden", "other/x", "components/a/b"] {
            assert!(tee.inside(bad).is_err(), "{bad}");
        }
        let ops = vec![JournalOp::Delete { path: "../../etc/passwd".into() }];
        fs::write(tee.journal_path(), serde_json::to_vec(&ops).expect("json")).expect("write");
        drop(tee);
        assert!(matches!(
            SoftwareTee::open(dir.path(), &ConfigFile::default()),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn uninstall_removes_the_image_and_the_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut tee = open(dir.path());
        let ops = install(&mut tee, b"img", 1).expect("prepare");
        tee.apply(&ops).expect("apply");
        fs::remove_file(tee.journal_path()).expect("journal");
        let mut tee = open(dir.path());
        assert!(tee.stage_uninstall(&ComponentId::new([b"nope"])).is_err());
        tee.stage_uninstall(&id()).expect("uninstall");
        tee.commit(None).expect("commit");
        assert_eq!(installed(&tee), None);
        assert!(tee.images().next().is_none());
    }
}
