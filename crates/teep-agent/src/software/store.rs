//! The software TEE's component store: a [`teep_suit::Platform`] over files.
//!
//! Layout under the state directory:
//! - `components/<h>.img` and `components/<h>.json`: installed image and its metadata
//!   (component id, SHA-256, length), `<h>` = hex SHA-256 of the CBOR component id;
//! - `manifests/<h>.json` and `manifests/<h>.suit`: the record and envelope of each installed
//!   manifest, keyed by its manifest component id;
//! - `manifests/<h>.seq`: the highest sequence number ever installed for that manifest id,
//!   kept after uninstall so that a replayed old manifest stays a rollback
//!   (draft-ietf-suit-manifest-34 §8.4.2);
//! - `staging/`: files written during one manifest run (`c-` component, `m-` manifest
//!   prefixes), invisible until commit;
//! - `journal/commit.json`: the redo journal of a commit in progress.
//!
//! A commit (draft-ietf-suit-manifest-34 §6: all-or-nothing install) first fsyncs every staged
//! file, then writes the list of renames and deletions as the journal (temp file, fsync,
//! rename), then applies it and removes the journal. Opening the store replays a journal left
//! by a crash and drops leftover staging files, so a crash leaves the old or the new state.
//!
//! Every file of the store is sealed under the platform key and listed in a sealed index
//! ([`sealed`]): a file that fails its check is reported ([`SoftwareTee::tampered`]) and the
//! manifests it belongs to are not installed any more, so that the TAM reinstalls them.
//!
//! Every step of that path is a [`FaultPoint`] at which a test can make the process abort
//! (selected by the environment variable [`FAULT_POINT_ENV`] at [`SoftwareTee::open`] or by
//! [`SoftwareTee::set_fault_point`]; inert otherwise and never selectable by peer input). The
//! crash test `tests/crash.rs` aborts a child Agent at each of them and checks the store.
//!
//! Dependency manifests (draft-ietf-suit-trust-domains §6.3, §5.2 unlink semantics): the
//! records staged by [`Platform::stage_dependency_record`] are committed in the same journal as
//! the root record, which lists them in its `dependencies`. A manifest stays installed while
//! it was installed directly (`root`) or another installed manifest lists it; its reference
//! count is derived from these persisted edges, so it cannot drift from the records. Removing
//! a manifest removes, in the same commit, every dependency nobody references any more, and
//! the components that no remaining manifest declares.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use teep_suit::{
    Authority, ComponentId, DecryptionKey, DomainPolicy, Identifier, InstallRecord, Platform,
    PlatformError, SignerId, SuitDigest,
};

use super::config::ConfigFile;
use super::fetch::{Fetcher, PayloadDownload};

use super::seal;
use super::{COMPONENTS_DIR, JOURNAL_DIR, MANIFESTS_DIR, STAGING_DIR};

pub mod fault;
pub mod sealed;

pub use fault::{FAULT_POINT_ENV, FaultPoint};
pub use sealed::Tampered;

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
    /// Another process (another Agent) holds the state directory's lock.
    InUse(PathBuf),
    /// [`FAULT_POINT_ENV`] is set to something that names no fault point.
    FaultPoint(String),
    /// The journal or the store index failed its integrity check (which, and why).
    Tampered(String),
    /// The platform's sealing key or monotonic counter is unusable.
    Sealing(String),
    /// The store index is older than the platform's monotonic counter: the state directory
    /// was rolled back.
    RolledBack {
        /// Commits the index records.
        generation: u64,
        /// The counter's value.
        counter: u64,
    },
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io { what, source } => write!(f, "component store: {what}: {source}"),
            Self::Corrupt(what) => write!(f, "component store corrupt: {what}"),
            Self::InUse(dir) => write!(f, "another Agent is using {}", dir.display()),
            Self::FaultPoint(value) => {
                write!(f, "{FAULT_POINT_ENV}={value:?} names no fault point")
            }
            Self::Tampered(what) => write!(
                f,
                "component store failed its integrity check: {what}; the Agent will not use \
                 it: restore the state directory from a backup, or move components/, \
                 manifests/ and journal/ aside to start with an empty store (the TAM then \
                 reinstalls the components; rollback marks are lost)"
            ),
            Self::Sealing(e) => write!(f, "component store: platform key: {e}"),
            Self::RolledBack { generation, counter } => write!(
                f,
                "component store rolled back: its index records {generation} commits but the \
                 platform counter is at {counter}; restore the latest state directory"
            ),
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
    /// Installed directly (manifest-list of an Update), not only as a dependency.
    pub root: bool,
    /// The dependency manifests it installed with it (draft-ietf-suit-trust-domains §6.3).
    pub dependencies: Vec<ComponentId>,
    /// The signer that authorised it (security domains); `None` for records written before
    /// domains existed or without a manifest authority.
    pub owner: Option<SignerId>,
    /// Its security domain manifest; `None`: the default domain of its owner.
    pub domain: Option<ComponentId>,
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
    /// The signer whose manifest wrote it (security domains); `None` when unknown.
    pub owner: Option<SignerId>,
    /// The security domain it was written in; `None`: the owner's default domain.
    pub domain: Option<ComponentId>,
}

#[derive(Serialize, Deserialize)]
struct ManifestJson {
    manifest_id: Vec<String>,
    sequence_number: u64,
    digest_algorithm: i64,
    digest: String,
    components: Vec<Vec<String>>,
    #[serde(default = "yes")]
    root: bool,
    #[serde(default)]
    dependencies: Vec<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    domain: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}

/// `manifests/<h>.seq`: the highest sequence number installed for a manifest id.
#[derive(Serialize, Deserialize)]
struct SequenceJson {
    manifest_id: Vec<String>,
    sequence_number: u64,
}

#[derive(Serialize, Deserialize)]
struct ImageJson {
    component_id: Vec<String>,
    sha256: String,
    len: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    domain: Option<Vec<String>>,
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

fn owner_from_hex(owner: Option<&str>) -> Result<Option<SignerId>, StoreError> {
    let Some(text) = owner else { return Ok(None) };
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text, &mut bytes).map_err(|_| StoreError::Corrupt("owner".into()))?;
    Ok(Some(SignerId(bytes)))
}

fn domain_from_hex(domain: Option<&[String]>) -> Result<Option<ComponentId>, StoreError> {
    domain.map(id_from_hex).transpose()
}

/// File stem of a component or manifest id: hex SHA-256 of its CBOR encoding.
pub fn file_stem(id: &ComponentId) -> String {
    hex::encode(Sha256::digest(id.encode()))
}

enum Staged {
    Image { file: Box<seal::SealedWriter<File>>, path: PathBuf, hasher: Sha256, len: u64 },
    Unlink,
}

/// A dependency manifest record staged during a run.
struct StagedRecord {
    manifest_id: ComponentId,
    sequence_number: u64,
    digest: SuitDigest,
    envelope: Vec<u8>,
    components: Vec<ComponentId>,
    owner: Option<SignerId>,
    domain: Option<ComponentId>,
}

/// Most dependency records one run may stage.
const MAX_STAGED_DEPENDENCIES: usize = 64;

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
    staged_dependencies: Vec<StagedRecord>,
    uninstalls: Vec<ComponentId>,
    manifests: BTreeMap<ComponentId, ManifestRecord>,
    /// Highest sequence number ever committed per manifest id (installed or not).
    highest: BTreeMap<ComponentId, u64>,
    images: BTreeMap<ComponentId, ImageRecord>,
    keys: Vec<DecryptionKey>,
    /// The installed image last read, kept open across chunked reads.
    reader: Option<(ComponentId, seal::SealedReader)>,
    /// Sealing keys, the sealed index and what failed its checks.
    seal: sealed::SealState,
    /// The exclusive lock on the state directory, held while the store is open.
    _lock: File,
    /// The step at which a crash test makes the process abort ([`fault`]).
    fault: Option<FaultPoint>,
    /// Who authorised the manifest running now ([`Platform::set_authority`]).
    authority: Option<Authority>,
    /// Owner and domain of each image staged in this run, as of its `stage_begin`.
    staged_owners: BTreeMap<ComponentId, (Option<SignerId>, Option<ComponentId>)>,
    /// Who may act on which security domain.
    policy: DomainPolicy,
}

impl std::fmt::Debug for SoftwareTee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareTee")
            .field("root", &self.root)
            .field("manifests", &self.manifests.len())
            .field("images", &self.images.len())
            .field("decryption_keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl SoftwareTee {
    /// Opens the store in `root` (which `init` created) sealed under the state directory's
    /// key file ([`seal::FileKey`]): replays an unfinished commit, drops leftover staging
    /// files and loads and checks the installed state.
    pub fn open(root: &Path, config: &ConfigFile) -> Result<Self, StoreError> {
        Self::open_with(root, config, Box::new(seal::FileKey::new(root)))
    }

    /// Like [`SoftwareTee::open`] with the state sealed under `platform_key`.
    pub fn open_with(
        root: &Path,
        config: &ConfigFile,
        platform_key: Box<dyn crate::PlatformKey + Send>,
    ) -> Result<Self, StoreError> {
        let seal = sealed::SealState::new(platform_key)?;
        let decode = |ids: &[String]| -> Vec<Vec<u8>> {
            ids.iter().filter_map(|s| hex::decode(s).ok()).collect()
        };
        let identity = Identity {
            vendor: decode(&config.device.vendor_ids),
            class: decode(&config.device.class_ids),
            device: decode(&config.device.device_ids),
        };
        let fetcher = Fetcher::from_config(config);
        let fault = fault_point_from_env()?;
        let lock = lock_dir(root)?;
        let mut tee = Self {
            root: root.to_path_buf(),
            fetcher,
            identity,
            staged: BTreeMap::new(),
            staged_dependencies: Vec::new(),
            uninstalls: Vec::new(),
            manifests: BTreeMap::new(),
            highest: BTreeMap::new(),
            images: BTreeMap::new(),
            keys: Vec::new(),
            reader: None,
            seal,
            _lock: lock,
            fault,
            authority: None,
            staged_owners: BTreeMap::new(),
            policy: DomainPolicy::default(),
        };
        for dir in [COMPONENTS_DIR, MANIFESTS_DIR, STAGING_DIR, JOURNAL_DIR] {
            fs::create_dir_all(root.join(dir)).map_err(io_err(format!("create {dir}/")))?;
        }
        tee.recover()?;
        Ok(tee)
    }

    /// Selects the step of the commit path at which the process aborts (crash tests only;
    /// `None`: never). [`SoftwareTee::open`] sets it from [`FAULT_POINT_ENV`].
    pub fn set_fault_point(&mut self, point: Option<FaultPoint>) {
        self.fault = point;
    }

    /// Sets who may act on which security domain (default: every signer only on its own).
    pub fn set_domain_policy(&mut self, policy: DomainPolicy) {
        self.policy = policy;
    }

    /// The security-domain policy in force.
    pub fn domain_policy(&self) -> &DomainPolicy {
        &self.policy
    }

    /// The signers owning `component`: the owner of its image and of every installed manifest
    /// that declares it or is stored under its id. Empty when nobody owns it yet.
    pub fn component_owners(&self, component: &ComponentId) -> Vec<SignerId> {
        let image = self.images.get(component).and_then(|i| i.owner);
        let records = self
            .manifests
            .values()
            .filter(|m| &m.manifest_id == component || m.components.contains(component))
            .filter_map(|m| m.owner);
        let mut owners = Vec::new();
        for owner in image.into_iter().chain(records) {
            if !owners.contains(&owner) {
                owners.push(owner);
            }
        }
        owners
    }

    /// The security domain of `component`: the one its image was written in, else that of a
    /// manifest declaring it; `None` for a default domain (see [`Self::component_owners`]).
    pub fn component_domain(&self, component: &ComponentId) -> Option<ComponentId> {
        if let Some(image) = self.images.get(component) {
            return image.domain.clone();
        }
        self.manifests
            .values()
            .find(|m| &m.manifest_id == component || m.components.contains(component))
            .and_then(|m| m.domain.clone())
    }

    /// Refuses access to `component` when the running manifest's signer does not own it.
    fn check_access(&self, component: &ComponentId) -> Result<(), PlatformError> {
        let actor = self.authority.as_ref().map(|a| &a.signer);
        let owners = self.component_owners(component);
        self.policy.check(actor, &owners).inspect_err(|_| {
            tracing::warn!(%component, "refused: component of another security domain");
        })
    }

    /// The installed manifests, by manifest component id.
    pub fn manifests(&self) -> impl Iterator<Item = &ManifestRecord> {
        self.manifests.values()
    }

    /// Sets the keys for encrypted payloads ([`Platform::decryption_keys`]).
    pub fn set_decryption_keys(&mut self, keys: Vec<DecryptionKey>) {
        self.keys = keys;
    }

    /// The highest sequence number ever installed for `manifest_id`, also after it was
    /// uninstalled (what rollback protection compares against).
    pub fn highest_sequence_number(&self, manifest_id: &ComponentId) -> Option<u64> {
        let installed = self.manifests.get(manifest_id).map(|m| m.sequence_number);
        installed.max(self.highest.get(manifest_id).copied())
    }

    /// How many holders keep `manifest_id` installed: 1 if it was installed directly, plus
    /// one per installed manifest that depends on it. 0 when it is not installed.
    pub fn reference_count(&self, manifest_id: &ComponentId) -> usize {
        let Some(record) = self.manifests.get(manifest_id) else {
            return 0;
        };
        let dependents =
            self.manifests.values().filter(|m| m.dependencies.contains(manifest_id)).count();
        dependents.saturating_add(usize::from(record.root))
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
                let bytes = self.seal.open_journal(&bytes)?;
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
        self.staged_owners.clear();
        self.staged_dependencies.clear();
        self.uninstalls.clear();
        self.seal.clear_staged();
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
        self.highest.clear();
        self.images.clear();
        self.load_sealed_index()?;
        for (dir, is_manifest) in [(MANIFESTS_DIR, true), (COMPONENTS_DIR, false)] {
            let dir = self.root.join(dir);
            for entry in fs::read_dir(&dir).map_err(io_err("list records"))? {
                let path = entry.map_err(io_err("list records"))?.path();
                let is_seq = is_manifest && path.extension().is_some_and(|e| e == "seq");
                if path.extension().is_none_or(|e| e != "json") && !is_seq {
                    continue;
                }
                let Some(bytes) = self.open_record(&path)? else { continue };
                let corrupt =
                    |e: serde_json::Error| StoreError::Corrupt(format!("{}: {e}", path.display()));
                if is_seq {
                    let j: SequenceJson = serde_json::from_slice(&bytes).map_err(corrupt)?;
                    self.highest.insert(id_from_hex(&j.manifest_id)?, j.sequence_number);
                } else if is_manifest {
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
                        root: j.root,
                        dependencies: j
                            .dependencies
                            .iter()
                            .map(|c| id_from_hex(c))
                            .collect::<Result<_, _>>()?,
                        owner: owner_from_hex(j.owner.as_deref())?,
                        domain: domain_from_hex(j.domain.as_deref())?,
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
                        owner: owner_from_hex(j.owner.as_deref())?,
                        domain: domain_from_hex(j.domain.as_deref())?,
                    };
                    self.images.insert(record.component_id.clone(), record);
                }
            }
        }
        self.verify_store()
    }

    /// Applies journal operations; each is idempotent so a replay after a crash is safe.
    fn apply(&self, ops: &[JournalOp]) -> Result<(), StoreError> {
        for (i, op) in ops.iter().enumerate() {
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
            fault::check(self.fault, FaultPoint::AfterOp(i.saturating_add(1)));
        }
        for dir in [COMPONENTS_DIR, MANIFESTS_DIR] {
            sync_dir(&self.root.join(dir))?;
        }
        fault::check(self.fault, FaultPoint::Applied);
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

    fn write_staged_file(&mut self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let bytes = &self.seal.seal_staged(name, bytes)?;
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
        sync_dir(&self.root.join(JOURNAL_DIR))?;
        fault::check(self.fault, FaultPoint::JournalRemoved);
        Ok(())
    }

    /// Everything up to the commit point: staged files synced, journal published.
    fn prepare_commit(
        &mut self,
        record: Option<&InstallRecord<'_>>,
    ) -> Result<Vec<JournalOp>, StoreError> {
        fault::check(self.fault, FaultPoint::CommitBegun);
        let mut ops = Vec::new();
        let staged = std::mem::take(&mut self.staged);
        let mut staged_owners = std::mem::take(&mut self.staged_owners);
        let dependencies = std::mem::take(&mut self.staged_dependencies);
        let uninstalls = std::mem::take(&mut self.uninstalls);

        // The manifest records after this commit, and which of them changed.
        let mut next = self.manifests.clone();
        let mut changed: BTreeSet<ComponentId> = BTreeSet::new();
        let mut envelopes: Vec<(ComponentId, &[u8])> = Vec::new();
        let mut sequences: Vec<(ComponentId, u64)> = Vec::new();
        let root_id = record.map(|r| r.manifest_id);
        for d in &dependencies {
            if Some(&d.manifest_id) == root_id {
                continue;
            }
            let old = next.get(&d.manifest_id);
            let entry = ManifestRecord {
                manifest_id: d.manifest_id.clone(),
                sequence_number: d.sequence_number,
                digest_algorithm: d.digest.algorithm,
                digest: d.digest.bytes.clone(),
                components: d.components.clone(),
                root: old.is_some_and(|m| m.root),
                dependencies: old.map(|m| m.dependencies.clone()).unwrap_or_default(),
                owner: d.owner,
                domain: d.domain.clone(),
            };
            next.insert(d.manifest_id.clone(), entry);
            changed.insert(d.manifest_id.clone());
            envelopes.push((d.manifest_id.clone(), &d.envelope));
            sequences.push((d.manifest_id.clone(), d.sequence_number));
        }
        if let Some(r) = record {
            let mut deps: Vec<ComponentId> = Vec::new();
            for d in &dependencies {
                if &d.manifest_id != r.manifest_id && !deps.contains(&d.manifest_id) {
                    deps.push(d.manifest_id.clone());
                }
            }
            let entry = ManifestRecord {
                manifest_id: r.manifest_id.clone(),
                sequence_number: r.sequence_number,
                digest_algorithm: r.manifest_digest.algorithm,
                digest: r.manifest_digest.bytes.clone(),
                components: r.components.to_vec(),
                root: true,
                dependencies: deps,
                owner: self.authority.as_ref().map(|a| a.signer),
                domain: self.authority.as_ref().and_then(|a| a.domain.clone()),
            };
            next.insert(r.manifest_id.clone(), entry);
            changed.insert(r.manifest_id.clone());
            envelopes.push((r.manifest_id.clone(), r.envelope));
            sequences.push((r.manifest_id.clone(), r.sequence_number));
        }
        // Uninstall drops the direct holder; the record goes when nothing else holds it.
        for id in &uninstalls {
            if let Some(m) = next.get_mut(id) {
                m.root = false;
                changed.insert(id.clone());
            }
        }
        collect_garbage(&mut next);

        // Components of removed manifests that no remaining manifest declares.
        let mut unlink: BTreeSet<ComponentId> = BTreeSet::new();
        for (id, old) in &self.manifests {
            if next.contains_key(id) {
                continue;
            }
            // Older stores have no `.seq` file yet: keep the removed number.
            sequences.push((id.clone(), old.sequence_number));
            // Its components, and an image stored under its own id (a dependency envelope
            // fetched into the dependency's component slot).
            for c in old.components.iter().chain([id]) {
                let kept = next.contains_key(c) || next.values().any(|m| m.components.contains(c));
                if !kept && !matches!(staged.get(c), Some(Staged::Image { .. })) {
                    unlink.insert(c.clone());
                }
            }
        }

        for (component, staged) in staged {
            let stem = file_stem(&component);
            let (img, meta) = (format!("{stem}.img"), format!("{stem}.json"));
            match staged {
                Staged::Image { file, hasher, len, .. } => {
                    let mut file = file;
                    file.finish().map_err(io_err("seal staged image"))?;
                    file.sync_all().map_err(io_err("sync staged image"))?;
                    let (owner, domain) = staged_owners.remove(&component).unwrap_or_default();
                    let json = ImageJson {
                        component_id: id_to_hex(&component),
                        sha256: hex::encode(hasher.finalize()),
                        len,
                        owner: owner.map(|o| o.to_string()),
                        domain: domain.as_ref().map(id_to_hex),
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
                    unlink.insert(component);
                }
            }
        }
        for component in unlink {
            let stem = file_stem(&component);
            for ext in ["img", "json"] {
                ops.push(JournalOp::Delete { path: format!("{COMPONENTS_DIR}/{stem}.{ext}") });
            }
        }
        for id in self.manifests.keys().filter(|id| !next.contains_key(*id)) {
            let stem = file_stem(id);
            for ext in ["json", "suit"] {
                ops.push(JournalOp::Delete { path: format!("{MANIFESTS_DIR}/{stem}.{ext}") });
            }
        }
        for (id, envelope) in envelopes {
            if next.contains_key(&id) {
                let stem = file_stem(&id);
                self.write_staged_file(&format!("m-{stem}.suit"), envelope)?;
                ops.push(JournalOp::Rename {
                    from: format!("{STAGING_DIR}/m-{stem}.suit"),
                    to: format!("{MANIFESTS_DIR}/{stem}.suit"),
                });
            }
        }
        for id in &changed {
            let Some(m) = next.get(id) else { continue };
            let json = ManifestJson {
                manifest_id: id_to_hex(&m.manifest_id),
                sequence_number: m.sequence_number,
                digest_algorithm: m.digest_algorithm,
                digest: hex::encode(&m.digest),
                components: m.components.iter().map(id_to_hex).collect(),
                root: m.root,
                dependencies: m.dependencies.iter().map(id_to_hex).collect(),
                owner: m.owner.map(|o| o.to_string()),
                domain: m.domain.as_ref().map(id_to_hex),
            };
            let bytes =
                serde_json::to_vec(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let stem = file_stem(id);
            self.write_staged_file(&format!("m-{stem}.json"), &bytes)?;
            ops.push(JournalOp::Rename {
                from: format!("{STAGING_DIR}/m-{stem}.json"),
                to: format!("{MANIFESTS_DIR}/{stem}.json"),
            });
        }
        // The rollback high-water marks survive uninstall: never deleted, only raised.
        for (id, sequence_number) in sequences {
            if self.highest.get(&id).is_some_and(|&h| h >= sequence_number) {
                continue;
            }
            let json = SequenceJson { manifest_id: id_to_hex(&id), sequence_number };
            let bytes =
                serde_json::to_vec(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let stem = file_stem(&id);
            self.write_staged_file(&format!("m-{stem}.seq"), &bytes)?;
            ops.push(JournalOp::Rename {
                from: format!("{STAGING_DIR}/m-{stem}.seq"),
                to: format!("{MANIFESTS_DIR}/{stem}.seq"),
            });
        }
        self.stage_index(&mut ops)?;
        fault::check(self.fault, FaultPoint::StagingWritten);
        sync_dir(&self.root.join(STAGING_DIR))?;
        fault::check(self.fault, FaultPoint::StagingSynced);

        // The commit point: once the journal is in place the new state wins.
        let journal_dir = self.root.join(JOURNAL_DIR);
        let tmp = journal_dir.join("commit.tmp");
        let bytes = serde_json::to_vec(&ops).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let bytes = self.seal.seal_journal(&bytes);
        {
            let mut f = File::create(&tmp).map_err(io_err("create journal"))?;
            f.write_all(&bytes).map_err(io_err("write journal"))?;
            fault::check(self.fault, FaultPoint::JournalWritten);
            f.sync_all().map_err(io_err("sync journal"))?;
        }
        fault::check(self.fault, FaultPoint::JournalSynced);
        fs::rename(&tmp, self.journal_path()).map_err(io_err("publish journal"))?;
        sync_dir(&journal_dir)?;
        fault::check(self.fault, FaultPoint::JournalPublished);
        Ok(ops)
    }

    fn staged_image(&mut self, component: &ComponentId) -> Result<&mut Staged, PlatformError> {
        self.staged.get_mut(component).ok_or(PlatformError::UnknownComponent)
    }
}

/// The fault point named by [`FAULT_POINT_ENV`], if it is set (crash tests only).
fn fault_point_from_env() -> Result<Option<FaultPoint>, StoreError> {
    let Some(value) = std::env::var_os(FAULT_POINT_ENV) else {
        return Ok(None);
    };
    let text = value.to_string_lossy();
    let point = FaultPoint::parse(&text).ok_or_else(|| StoreError::FaultPoint(text.to_string()))?;
    tracing::warn!(fault_point = %point, "crash test: the Agent aborts at this fault point");
    Ok(Some(point))
}

/// Takes the exclusive lock of the state directory `root` (flock on `agent.lock`), so that two
/// Agents never run on one store.
fn lock_dir(root: &Path) -> Result<File, StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = root.join(super::init::LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(io_err(format!("open {}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::InUse(root.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => Err(io_err(format!("lock {}", path.display()))(e)),
    }
}

/// Removes every record that is neither installed directly nor a dependency of a remaining
/// record, until none is left to remove (at most one pass per record).
fn collect_garbage(records: &mut BTreeMap<ComponentId, ManifestRecord>) {
    loop {
        let referenced: BTreeSet<&ComponentId> =
            records.values().flat_map(|m| m.dependencies.iter()).collect();
        let dead: Vec<ComponentId> = records
            .values()
            .filter(|m| !m.root && !referenced.contains(&m.manifest_id))
            .map(|m| m.manifest_id.clone())
            .collect();
        if dead.is_empty() {
            return;
        }
        for id in dead {
            records.remove(&id);
        }
    }
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

    /// The member from the full envelope at suit-reference-uri, through the fetcher's mirrors
    /// (draft-ietf-suit-manifest-34 §8.5); the processor checks it against `_digest`.
    fn fetch_severed(
        &mut self,
        reference_uri: Option<&str>,
        key: u64,
        _digest: &SuitDigest,
    ) -> Result<Option<Vec<u8>>, PlatformError> {
        Ok(reference_uri.and_then(|uri| self.fetcher.severed_member(uri, key)))
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

    /// The highest sequence number ever installed under this id: an uninstalled manifest
    /// keeps its number, so replaying its old envelope is refused as a rollback.
    fn installed_sequence_number(&self, manifest_id: &ComponentId) -> Option<u64> {
        self.rollback_mark(manifest_id)
    }

    /// The envelope of an installed manifest, so that removal can run its suit-uninstall
    /// section; `None` when it is not installed or its file cannot be read.
    fn installed_envelope(&mut self, manifest_id: &ComponentId) -> Option<Vec<u8>> {
        if !self.manifests.contains_key(manifest_id) {
            return None;
        }
        self.read_envelope(manifest_id)
    }

    /// Security domains: refuses a manifest id or domain owned by another signer, and a
    /// dependency signed by another signer than the manifest processing it.
    fn set_authority(&mut self, authority: Option<&Authority>) -> Result<(), PlatformError> {
        if let Some(a) = authority {
            self.check_rollback_record(&a.manifest_id)?;
            let owner_of = |id: &ComponentId| self.manifests.get(id).and_then(|m| m.owner);
            let manifest_owner = owner_of(&a.manifest_id);
            let domain_owner = a.domain.as_ref().and_then(owner_of);
            let checked =
                self.policy.check_authority(a, manifest_owner.as_ref(), domain_owner.as_ref());
            if let Err(e) = checked {
                tracing::warn!(
                    manifest = %a.manifest_id,
                    signer = %a.signer,
                    "refused: manifest, domain or dependency of another signer"
                );
                return Err(e);
            }
        }
        self.authority = authority.cloned();
        Ok(())
    }

    fn check_component(&self, component: &ComponentId) -> Result<(), PlatformError> {
        self.check_access(component)
    }

    fn stage_begin(&mut self, component: &ComponentId) -> Result<(), PlatformError> {
        self.check_access(component)?;
        let path = self.root.join(STAGING_DIR).join(format!("c-{}.img", file_stem(component)));
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(storage)?;
        let file = self.seal.stage_image(&path, component, file);
        let staged = Staged::Image { file, path, hasher: Sha256::new(), len: 0 };
        self.staged.insert(component.clone(), staged);
        let authority = self.authority.as_ref();
        let owner = (authority.map(|a| a.signer), authority.and_then(|a| a.domain.clone()));
        self.staged_owners.insert(component.clone(), owner);
        Ok(())
    }

    fn stage_write(
        &mut self,
        component: &ComponentId,
        offset: u64,
        chunk: &[u8],
    ) -> Result<(), PlatformError> {
        self.check_access(component)?;
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
        self.check_access(component)?;
        // Positioned reads (pread) on a kept-open handle: no seek, no reopen per chunk.
        match self.staged.get_mut(component) {
            Some(Staged::Image { file, .. }) => file.read_at(buf, offset).map_err(storage),
            Some(Staged::Unlink) => Err(PlatformError::UnknownComponent),
            None if self.images.contains_key(component) => {
                let cached = matches!(&self.reader, Some((id, _)) if id == component);
                if !cached {
                    let file = self.image_reader(component)?;
                    self.reader = Some((component.clone(), file));
                }
                let read = match &self.reader {
                    Some((_, file)) => file.read_at(buf, offset),
                    None => return Err(PlatformError::UnknownComponent),
                };
                read.map_err(|e| {
                    self.reader = None;
                    self.read_failed(component, e)
                })
            }
            None => Err(PlatformError::UnknownComponent),
        }
    }

    fn stage_unlink(&mut self, component: &ComponentId) -> Result<(), PlatformError> {
        self.check_access(component)?;
        if let Some(Staged::Image { path, .. }) =
            self.staged.insert(component.clone(), Staged::Unlink)
        {
            let _ = fs::remove_file(path);
        }
        Ok(())
    }

    /// Stages the removal of the direct install of `manifest_id`; the commit removes the
    /// record, its unreferenced dependencies and the components nobody else declares.
    fn stage_uninstall(&mut self, manifest_id: &ComponentId) -> Result<(), PlatformError> {
        let Some(record) = self.manifests.get(manifest_id) else {
            return Err(PlatformError::UnknownComponent);
        };
        let actor = self.authority.as_ref().map(|a| &a.signer);
        if let Err(e) = self.policy.check(actor, &record.owner) {
            tracing::warn!(manifest = %manifest_id, "refused: removal of another signer's manifest");
            return Err(e);
        }
        if !self.uninstalls.contains(manifest_id) {
            self.uninstalls.push(manifest_id.clone());
        }
        Ok(())
    }

    fn stage_dependency_record(&mut self, record: &InstallRecord<'_>) -> Result<(), PlatformError> {
        self.staged_dependencies.retain(|d| &d.manifest_id != record.manifest_id);
        if self.staged_dependencies.len() >= MAX_STAGED_DEPENDENCIES {
            return Err(PlatformError::Unsupported("more than 64 dependency manifests in one run"));
        }
        self.staged_dependencies.push(StagedRecord {
            manifest_id: record.manifest_id.clone(),
            sequence_number: record.sequence_number,
            digest: record.manifest_digest.clone(),
            envelope: record.envelope.to_vec(),
            components: record.components.to_vec(),
            owner: self.authority.as_ref().map(|a| a.signer),
            domain: self.authority.as_ref().and_then(|a| a.domain.clone()),
        });
        Ok(())
    }

    fn decryption_keys(&self) -> &[DecryptionKey] {
        &self.keys
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
        // A manifest joins a security domain only by processing the domain manifest, which
        // makes it one of the domain's references.
        let domain = self.authority.as_ref().and_then(|a| a.domain.as_ref());
        if let (Some(r), Some(domain)) = (record, domain)
            && domain != r.manifest_id
            && !self.staged_dependencies.iter().any(|d| &d.manifest_id == domain)
        {
            return Err(PlatformError::Unsupported(
                "a security domain that the manifest names but does not process as a dependency",
            ));
        }
        let result = self.commit_inner(record);
        self.authority = None;
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
        self.staged_dependencies.clear();
        self.uninstalls.clear();
        self.staged_owners.clear();
        self.authority = None;
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
        let key = seal::FileKey::new(dir);
        if !key.exists() {
            key.create().expect("sealing key");
        }
        SoftwareTee::open(dir, &ConfigFile::default()).expect("open")
    }

    fn installed(tee: &SoftwareTee) -> Option<(u64, Vec<u8>)> {
        let seq = tee.installed_sequence_number(&id())?;
        Some((seq, tee.read_image(&id()).ok()?))
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
        drop(tee);
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
        let journal = tee.seal.seal_journal(&serde_json::to_vec(&ops).expect("json"));
        fs::write(tee.journal_path(), journal).expect("write");
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
        drop(tee);
        let mut tee = open(dir.path());
        assert!(tee.stage_uninstall(&ComponentId::new([b"nope"])).is_err());
        tee.stage_uninstall(&id()).expect("uninstall");
        tee.commit(None).expect("commit");
        assert_eq!(installed(&tee), None);
        assert!(tee.images().next().is_none());
        // The sequence number outlives the record: a replay of 1 is still a rollback.
        assert_eq!(tee.installed_sequence_number(&id()), Some(1));
        drop(tee);
        let tee = open(dir.path());
        assert_eq!(tee.installed_sequence_number(&id()), Some(1));
        assert!(tee.manifest(&id()).is_none());
    }

    #[test]
    fn a_second_open_of_the_directory_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tee = open(dir.path());
        let second = SoftwareTee::open(dir.path(), &ConfigFile::default());
        let Err(err) = second else { panic!("second open must fail") };
        assert!(matches!(err, StoreError::InUse(_)));
        assert!(err.to_string().starts_with("another Agent is using "), "{err}");
        drop(tee);
        SoftwareTee::open(dir.path(), &ConfigFile::default()).expect("free again");
    }

    fn mid(name: &str) -> ComponentId {
        ComponentId::new([name.as_bytes(), b"suit"])
    }

    fn cid(name: &str) -> ComponentId {
        ComponentId::new([name.as_bytes(), b"img"])
    }

    /// Commits root manifest `root` (sequence `seq`) with component image `<root>/img` and
    /// the dependency manifests `deps` (each with its own image), like one process run.
    fn install_with_deps(tee: &mut SoftwareTee, root: &str, seq: u64, deps: &[(&str, u64)]) {
        let ops = stage_with_deps(tee, root, seq, deps);
        tee.apply(&ops).expect("apply");
        fs::remove_file(tee.journal_path()).expect("journal");
        tee.recover().expect("reload");
    }

    /// Stages like [`install_with_deps`] up to the commit point; returns the journal.
    fn stage_with_deps(
        tee: &mut SoftwareTee,
        root: &str,
        seq: u64,
        deps: &[(&str, u64)],
    ) -> Vec<JournalOp> {
        for (name, dseq) in deps {
            let c = cid(name);
            tee.stage_begin(&c).expect("stage");
            tee.stage_write(&c, 0, name.as_bytes()).expect("write");
            let digest = SuitDigest::sha256(name.as_bytes());
            let components = [c];
            let record = InstallRecord {
                manifest_id: &mid(name),
                sequence_number: *dseq,
                manifest_digest: &digest,
                envelope: name.as_bytes(),
                components: &components,
                written: &components,
            };
            tee.stage_dependency_record(&record).expect("dependency");
        }
        let c = cid(root);
        tee.stage_begin(&c).expect("stage");
        tee.stage_write(&c, 0, root.as_bytes()).expect("write");
        let digest = SuitDigest::sha256(root.as_bytes());
        let components = [c];
        let record = InstallRecord {
            manifest_id: &mid(root),
            sequence_number: seq,
            manifest_digest: &digest,
            envelope: root.as_bytes(),
            components: &components,
            written: &components,
        };
        tee.prepare_commit(Some(&record)).expect("commit point")
    }

    fn uninstall(tee: &mut SoftwareTee, name: &str) {
        tee.stage_uninstall(&mid(name)).expect("stage uninstall");
        tee.commit(None).expect("commit");
    }

    #[test]
    fn shared_dependency_stays_until_its_last_dependent_is_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut tee = open(dir.path());
        install_with_deps(&mut tee, "a", 1, &[("d", 1)]);
        // b brings a newer d: one record, now referenced twice.
        install_with_deps(&mut tee, "b", 1, &[("d", 2)]);
        assert_eq!(tee.reference_count(&mid("d")), 2);
        assert_eq!(tee.manifest(&mid("d")).map(|m| (m.sequence_number, m.root)), Some((2, false)));
        assert_eq!(tee.manifests().count(), 3);

        // Removing a keeps d (b still uses it); the counts survive a reopen.
        uninstall(&mut tee, "a");
        drop(tee);
        let mut tee = open(dir.path());
        assert!(tee.manifest(&mid("a")).is_none() && tee.image(&cid("a")).is_none());
        assert_eq!(tee.reference_count(&mid("d")), 1);
        assert!(tee.image(&cid("d")).is_some());

        // Removing b removes d and its image with it.
        uninstall(&mut tee, "b");
        assert_eq!(tee.manifests().count(), 0);
        assert!(tee.images().next().is_none());
        // Every number stays as a rollback mark.
        for (name, seq) in [("a", 1), ("b", 1), ("d", 2)] {
            assert_eq!(tee.installed_sequence_number(&mid(name)), Some(seq), "{name}");
        }
    }

    #[test]
    fn uninstalling_a_referenced_dependency_only_drops_its_direct_install() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut tee = open(dir.path());
        install_with_deps(&mut tee, "d", 1, &[]);
        install_with_deps(&mut tee, "a", 1, &[("d", 2)]);
        assert_eq!(tee.reference_count(&mid("d")), 2);
        uninstall(&mut tee, "d");
        assert_eq!(tee.reference_count(&mid("d")), 1);
        assert!(tee.image(&cid("d")).is_some());
        uninstall(&mut tee, "a");
        assert_eq!(tee.manifests().count(), 0);
        assert!(tee.images().next().is_none());
    }

    #[test]
    fn a_crash_after_the_journal_commits_root_and_dependency_together() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut tee = open(dir.path());
        let ops = stage_with_deps(&mut tee, "a", 1, &[("d", 1)]);
        let first = ops.first().cloned().into_iter().collect::<Vec<_>>();
        tee.apply(&first).expect("partial apply");
        drop(tee);
        let tee = open(dir.path());
        assert!(tee.manifest(&mid("a")).is_some_and(|m| m.root));
        assert_eq!(tee.reference_count(&mid("d")), 1);
        assert!(tee.image(&cid("a")).is_some() && tee.image(&cid("d")).is_some());
        assert_eq!(tee.installed_sequence_number(&mid("d")), Some(1));
    }

    #[test]
    fn an_update_that_drops_a_dependency_removes_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut tee = open(dir.path());
        install_with_deps(&mut tee, "a", 1, &[("d", 1)]);
        assert!(tee.image(&cid("d")).is_some());
        install_with_deps(&mut tee, "a", 2, &[]);
        assert!(tee.manifest(&mid("d")).is_none());
        assert!(tee.image(&cid("d")).is_none());
        assert_eq!(tee.manifest(&mid("a")).map(|m| m.sequence_number), Some(2));
        assert!(tee.image(&cid("a")).is_some());
    }

    #[test]
    fn aborted_dependency_records_are_not_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut tee = open(dir.path());
        let digest = SuitDigest::sha256(b"x");
        let record = InstallRecord {
            manifest_id: &mid("d"),
            sequence_number: 7,
            manifest_digest: &digest,
            envelope: b"x",
            components: &[],
            written: &[],
        };
        tee.stage_dependency_record(&record).expect("dependency");
        tee.abort();
        install_with_deps(&mut tee, "a", 1, &[]);
        assert!(tee.manifest(&mid("d")).is_none());
        assert_eq!(tee.installed_sequence_number(&mid("d")), None);
        assert!(tee.manifest(&mid("a")).is_some_and(|m| m.dependencies.is_empty()));
    }
}
