//! The component store's sealed files: which role and logical name each file is sealed under,
//! and the sealed index that lists every file of the store.
//!
//! Every file under `components/` and `manifests/`, the staged files and the journal are
//! sealed ([`crate::software::seal`]). A file's role and logical name follow from its name:
//!
//! | file | role | logical name |
//! |---|---|---|
//! | `components/<h>.img` (`staging/c-<h>.img`) | image | `<h>` |
//! | `components/<h>.json` (`staging/c-<h>.json`) | image metadata | `<h>` |
//! | `manifests/<h>.json` (`staging/m-<h>.json`) | manifest record | `<h>` |
//! | `manifests/<h>.suit` (`staging/m-<h>.suit`) | envelope | `<h>` |
//! | `manifests/<h>.seq` (`staging/m-<h>.seq`) | sequence number | `<h>` |
//! | `manifests/store.index` (`staging/m-store.index`) | store index | `store.index` |
//! | `journal/commit.json` | journal | `commit` |
//!
//! so a file moved to another name, or another kind's file put in its place, fails to open.
//!
//! The index (`manifests/store.index`) maps the path of every committed file to the salt of
//! its sealed header, which is random for each write: a file replaced by an older sealed copy
//! of itself, a deleted file and a file added outside a commit all disagree with it. The index
//! is written to staging and renamed by the same journal as the files it lists, so a crash
//! leaves an index that matches the files after recovery. Its generation counts commits; a
//! platform with a monotonic counter ([`crate::MonotonicCounter`]) detects an index rolled
//! back with the whole directory.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};
use teep_suit::{ComponentId, PlatformError};
use zeroize::Zeroizing;

use super::{JournalOp, SoftwareTee, StoreError, file_stem, io_err};
use crate::PlatformKey;
use crate::software::seal::{Role, Salt, SealError, SealedReader, SealedWriter, Sealer};
use crate::software::{COMPONENTS_DIR, MANIFESTS_DIR, STAGING_DIR};

/// Largest record, sequence, index or journal file read, in bytes.
const MAX_RECORD: u64 = 16 << 20;
/// Largest envelope file read, in bytes.
const MAX_ENVELOPE: u64 = 1 << 30;

/// File name of the index in `manifests/`.
pub const INDEX_FILE: &str = "store.index";
/// Logical name of the journal.
pub const JOURNAL_NAME: &str = "commit";

/// The role and logical name of a store file from its file name (with or without the staging
/// prefix `c-` / `m-`); `None` for a name the store does not write.
pub fn role_of(file_name: &str) -> Option<(Role, &str)> {
    if file_name == INDEX_FILE || file_name == "m-store.index" {
        return Some((Role::Index, INDEX_FILE));
    }
    let (component, rest) = match file_name.split_at_checked(2) {
        Some(("c-", rest)) => (Some(true), rest),
        Some(("m-", rest)) => (Some(false), rest),
        _ => (None, file_name),
    };
    let (stem, ext) = rest.rsplit_once('.')?;
    if stem.len() != 64 || !stem.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let role = match (component, ext) {
        (None | Some(true), "img") => Role::Image,
        (Some(true), "json") => Role::ImageMeta,
        (Some(false), "json") => Role::ManifestRecord,
        (None | Some(false), "suit") => Role::Envelope,
        (None | Some(false), "seq") => Role::Sequence,
        // `<h>.json` without a prefix: image metadata or manifest record by directory.
        (None, "json") => return Some((Role::ManifestRecord, stem)),
        _ => return None,
    };
    Some((role, stem))
}

/// The role of a committed file `<dir>/<name>`.
pub fn role_in(dir: &str, name: &str) -> Option<(Role, String)> {
    let (role, stem) = role_of(name)?;
    let role = match (dir, role) {
        (COMPONENTS_DIR, Role::Image) => Role::Image,
        (COMPONENTS_DIR, Role::ManifestRecord) => Role::ImageMeta,
        (MANIFESTS_DIR, r @ (Role::ManifestRecord | Role::Envelope | Role::Sequence)) => r,
        (MANIFESTS_DIR, Role::Index) => Role::Index,
        _ => return None,
    };
    Some((role, stem.to_string()))
}

/// The sealed index of the store's committed files.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreIndex {
    /// Commits made so far.
    pub generation: u64,
    /// Path (`components/<h>.img`, ...) -> hex salt of the sealed file.
    pub files: BTreeMap<String, String>,
}

impl StoreIndex {
    /// Whether `path` is listed with this salt.
    pub fn lists(&self, path: &str, salt: &Salt) -> bool {
        self.files.get(path).is_some_and(|s| *s == hex::encode(salt))
    }
}

/// A store file that failed its integrity check (found at open or at a read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tampered {
    /// The file, relative to the state directory (`components/<h>.img`, ...).
    pub path: String,
    /// Which check failed.
    pub what: String,
}

/// The store's sealing state: the sealer, the platform key, the committed index and what
/// failed its checks.
pub(super) struct SealState {
    sealer: Sealer,
    platform_key: Box<dyn PlatformKey + Send>,
    index: StoreIndex,
    /// Staging file name -> salt of the sealed file written there in this run.
    staged_salts: BTreeMap<String, Salt>,
    tampered: Vec<Tampered>,
    /// Stems of manifests taken out of the installed set because a file failed its check.
    quarantined: BTreeSet<String>,
    /// Stems whose rollback mark failed its check with no intact record to recover it from.
    unknown_marks: BTreeSet<String>,
    /// Salts of images whose every chunk was checked by this process.
    verified: BTreeSet<Salt>,
    /// Paths checked by the current load.
    seen: BTreeSet<String>,
}

impl SealState {
    /// Derives the store's keys from `platform_key`.
    pub(super) fn new(platform_key: Box<dyn PlatformKey + Send>) -> Result<Self, StoreError> {
        let sealer = Sealer::from_platform(platform_key.as_ref())
            .map_err(|e| StoreError::Sealing(e.to_string()))?;
        Ok(Self {
            sealer,
            platform_key,
            index: StoreIndex::default(),
            staged_salts: BTreeMap::new(),
            tampered: Vec::new(),
            quarantined: BTreeSet::new(),
            unknown_marks: BTreeSet::new(),
            verified: BTreeSet::new(),
            seen: BTreeSet::new(),
        })
    }

    /// Starts sealing a staged image into `file` (at `path`), remembering its salt.
    pub(super) fn stage_image(
        &mut self,
        path: &Path,
        component: &ComponentId,
        file: File,
    ) -> Box<SealedWriter<File>> {
        let writer = self.sealer.writer(Role::Image, &file_stem(component), file);
        if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
            self.staged_salts.insert(name.to_string(), writer.salt());
        }
        Box::new(writer)
    }

    /// Seals a staged file's contents (role and name from its file name), remembering its salt.
    pub(super) fn seal_staged(&mut self, name: &str, bytes: &[u8]) -> Result<Vec<u8>, StoreError> {
        let (role, logical) =
            role_of(name).ok_or_else(|| StoreError::Corrupt(format!("staging name {name}")))?;
        let (sealed, salt) = self.sealer.seal(role, logical, bytes);
        self.staged_salts.insert(name.to_string(), salt);
        Ok(sealed)
    }

    /// Seals the journal.
    pub(super) fn seal_journal(&self, bytes: &[u8]) -> Vec<u8> {
        self.sealer.seal(Role::Journal, JOURNAL_NAME, bytes).0
    }

    /// Opens the journal; a journal that fails its check stops the store.
    pub(super) fn open_journal(&self, bytes: &[u8]) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        self.sealer
            .open(Role::Journal, JOURNAL_NAME, bytes)
            .map(|(b, _)| b)
            .map_err(|e| StoreError::Tampered(format!("journal/commit.json: {e}")))
    }

    pub(super) fn clear_staged(&mut self) {
        self.staged_salts.clear();
    }
}

impl SoftwareTee {
    /// The store files that failed their integrity check at the last open or reload, and at
    /// reads since. Their components and manifests are not installed (tc-list omits them, so
    /// a TAM reinstalls them).
    pub fn tampered(&self) -> &[Tampered] {
        &self.seal.tampered
    }

    /// Whether the manifest `manifest_id` was taken out of the installed set because one of
    /// its files (or of its components) failed its integrity check.
    pub fn is_quarantined(&self, manifest_id: &ComponentId) -> bool {
        self.seal.quarantined.contains(&file_stem(manifest_id))
    }

    /// Store keys (hex SHA-256 of the CBOR manifest component id) of the manifests taken out
    /// of the installed set by [`is_quarantined`](Self::is_quarantined).
    pub fn quarantined(&self) -> impl Iterator<Item = &str> {
        self.seal.quarantined.iter().map(String::as_str)
    }

    /// The commits made so far (the sealed index's generation).
    pub fn generation(&self) -> u64 {
        self.seal.index.generation
    }

    fn tamper(&mut self, path: String, what: String) {
        tracing::error!(file = %path, check = %what, "store file failed its integrity check");
        if !self.seal.tampered.iter().any(|t| t.path == path) {
            self.seal.tampered.push(Tampered { path, what });
        }
    }

    /// Loads the sealed index and checks it against the platform's monotonic counter.
    pub(super) fn load_sealed_index(&mut self) -> Result<(), StoreError> {
        self.seal.tampered.clear();
        self.seal.quarantined.clear();
        self.seal.unknown_marks.clear();
        self.seal.seen.clear();
        let path = self.root.join(MANIFESTS_DIR).join(INDEX_FILE);
        let index = match fs::metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if self.store_is_empty()? {
                    StoreIndex::default()
                } else {
                    return Err(StoreError::Tampered(format!(
                        "{MANIFESTS_DIR}/{INDEX_FILE} is missing while the store holds files"
                    )));
                }
            }
            Err(e) => return Err(io_err("stat the store index")(e)),
            Ok(_) => {
                let (bytes, _) = self
                    .seal
                    .sealer
                    .open_file(Role::Index, INDEX_FILE, &path, MAX_RECORD)
                    .map_err(|e| match e {
                        SealError::Io(e) => io_err("read the store index")(e),
                        e => StoreError::Tampered(format!("{MANIFESTS_DIR}/{INDEX_FILE}: {e}")),
                    })?;
                serde_json::from_slice(&bytes)
                    .map_err(|e| StoreError::Corrupt(format!("store index: {e}")))?
            }
        };
        let generation = index.generation;
        self.seal.index = index;
        let Some(counter) = self.seal.platform_key.rollback_counter() else {
            return Ok(());
        };
        let value = counter.value().map_err(|e| StoreError::Sealing(e.to_string()))?;
        if value > generation {
            return Err(StoreError::RolledBack { generation, counter: value });
        }
        if value < generation {
            counter.advance_to(generation).map_err(|e| StoreError::Sealing(e.to_string()))?;
        }
        Ok(())
    }

    fn store_is_empty(&self) -> Result<bool, StoreError> {
        for dir in [COMPONENTS_DIR, MANIFESTS_DIR] {
            let mut entries =
                fs::read_dir(self.root.join(dir)).map_err(io_err(format!("list {dir}/")))?;
            if entries.next().is_some() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Opens a committed record, metadata or sequence file at `path`; `None` when it failed
    /// its check (recorded, and logged without its contents).
    pub(super) fn open_record(
        &mut self,
        path: &Path,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let Some((rel, role, name)) = self.store_path(path) else {
            let rel = path.strip_prefix(&self.root).unwrap_or(path).display().to_string();
            self.tamper(rel, "not a file the store writes".into());
            return Ok(None);
        };
        self.seal.seen.insert(rel.clone());
        match self.seal.sealer.open_file(role, &name, path, MAX_RECORD) {
            Ok((bytes, salt)) if self.seal.index.lists(&rel, &salt) => Ok(Some(bytes)),
            Ok(_) => {
                self.tamper(rel, "not the copy the store index lists (older or foreign)".into());
                Ok(None)
            }
            Err(SealError::Io(e)) => Err(io_err(format!("read {rel}"))(e)),
            Err(e) => {
                self.tamper(rel, e.to_string());
                Ok(None)
            }
        }
    }

    /// `components/<h>.json` -> (that path, its role, its logical name).
    fn store_path(&self, path: &Path) -> Option<(String, Role, String)> {
        let name = path.file_name()?.to_str()?;
        let dir = path.parent()?.file_name()?.to_str()?;
        let (role, stem) = role_in(dir, name)?;
        Some((format!("{dir}/{name}"), role, stem))
    }

    /// After the records are loaded: checks every image and envelope, finds files the index
    /// lists that are gone and files it does not list, and takes every manifest touched by a
    /// failed check out of the installed set.
    pub(super) fn verify_store(&mut self) -> Result<(), StoreError> {
        let images: Vec<(ComponentId, u64)> =
            self.images.values().map(|i| (i.component_id.clone(), i.len)).collect();
        for (component, len) in images {
            let rel = format!("{COMPONENTS_DIR}/{}.img", file_stem(&component));
            self.seal.seen.insert(rel.clone());
            let checked = self.open_image(&component, len).and_then(|reader| {
                if self.seal.verified.contains(&reader.salt()) {
                    return Ok(reader.salt());
                }
                reader.verify().map(|()| reader.salt())
            });
            match checked {
                Ok(salt) => {
                    self.seal.verified.insert(salt);
                }
                Err(SealError::Io(e)) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(io_err(format!("read {rel}"))(e));
                }
                Err(e) => self.tamper(rel, e.to_string()),
            }
        }
        let manifests: Vec<ComponentId> = self.manifests.keys().cloned().collect();
        for id in manifests {
            let stem = file_stem(&id);
            let rel = format!("{MANIFESTS_DIR}/{stem}.suit");
            self.seal.seen.insert(rel.clone());
            if let Err(e) = self.check_envelope(&stem) {
                self.tamper(rel, e.to_string());
            }
        }
        self.check_listing()?;
        self.quarantine();
        Ok(())
    }

    /// Files the index lists that were not found, and files it does not list.
    fn check_listing(&mut self) -> Result<(), StoreError> {
        let missing: Vec<String> = self
            .seal
            .index
            .files
            .keys()
            .filter(|p| !self.seal.seen.contains(*p) && !self.sibling_tampered(p))
            .cloned()
            .collect();
        for path in missing {
            let what = if self.root.join(&path).exists() {
                "listed in the store index but belongs to no record"
            } else {
                "listed in the store index but missing"
            };
            self.tamper(path, what.into());
        }
        for dir in [COMPONENTS_DIR, MANIFESTS_DIR] {
            for entry in
                fs::read_dir(self.root.join(dir)).map_err(io_err(format!("list {dir}/")))?
            {
                let entry = entry.map_err(io_err(format!("list {dir}/")))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let rel = format!("{dir}/{name}");
                if name == INDEX_FILE || self.seal.seen.contains(&rel) {
                    continue;
                }
                if !self.seal.index.files.contains_key(&rel) {
                    self.tamper(rel, "not listed in the store index".into());
                }
            }
        }
        Ok(())
    }

    /// Whether a file with the same directory and stem as `path` failed its check already (an
    /// image whose metadata failed is not loaded, so it is not reported a second time).
    fn sibling_tampered(&self, path: &str) -> bool {
        let stem = path.rsplit_once('.').map_or(path, |(stem, _)| stem);
        self.seal.tampered.iter().any(|t| t.path.rsplit_once('.').is_some_and(|(s, _)| s == stem))
    }

    /// Takes manifests with a failed file out of the installed set, and recovers or blocks
    /// the rollback marks that failed their check.
    fn quarantine(&mut self) {
        let mut components = BTreeSet::new();
        let mut manifests = BTreeSet::new();
        let mut marks = BTreeSet::new();
        for t in &self.seal.tampered {
            let Some((dir, name)) = t.path.split_once('/') else { continue };
            match role_in(dir, name) {
                Some((Role::Image | Role::ImageMeta, stem)) => components.insert(stem),
                Some((Role::ManifestRecord | Role::Envelope, stem)) => manifests.insert(stem),
                Some((Role::Sequence, stem)) => marks.insert(stem),
                _ => false,
            };
        }
        self.images.retain(|id, _| !components.contains(&file_stem(id)));
        let hit: Vec<ComponentId> = self
            .manifests
            .values()
            .filter(|m| {
                manifests.contains(&file_stem(&m.manifest_id))
                    || m.components
                        .iter()
                        .chain([&m.manifest_id])
                        .any(|c| components.contains(&file_stem(c)))
            })
            .map(|m| m.manifest_id.clone())
            .collect();
        for stem in marks {
            // While a manifest is installed its number is its rollback mark.
            match self.manifests.values().find(|m| file_stem(&m.manifest_id) == stem) {
                Some(m) => {
                    let seq = m.sequence_number;
                    self.highest.insert(m.manifest_id.clone(), seq);
                }
                None => {
                    tracing::error!(
                        manifest = %stem,
                        "rollback mark unreadable: installs of this manifest id are refused"
                    );
                    self.seal.unknown_marks.insert(stem);
                }
            }
        }
        for id in hit {
            tracing::error!(manifest = %id, "quarantined: a file of this manifest was tampered");
            self.manifests.remove(&id);
            self.seal.quarantined.insert(file_stem(&id));
        }
        self.seal.quarantined.extend(manifests);
    }

    /// Refuses, before anything runs, a manifest whose rollback mark failed its integrity check
    /// with no installed record to rebuild it from: the Agent cannot tell an update from a
    /// rollback of it (fail closed). The text reaches the TAM in the SUIT report and TEEP
    /// Error, so it says what the device needs instead of a sequence-number comparison.
    pub(super) fn check_rollback_record(
        &self,
        manifest_id: &ComponentId,
    ) -> Result<(), PlatformError> {
        if !self.seal.unknown_marks.contains(&file_stem(manifest_id)) {
            return Ok(());
        }
        tracing::error!(
            manifest = %manifest_id,
            "refusing: the rollback record (.seq file) of this manifest failed its integrity \
             check; restore the state directory from a backup, or re-initialise the Agent with \
             `teep agent init` and register its new key with the TAM"
        );
        // err-msg holds 128 bytes (draft-ietf-teep-protocol-26 §5.5) after the prefix "operation
        // failed: platform: platform does not support "; the log above has the recovery.
        Err(PlatformError::Unsupported(
            "a manifest whose rollback record failed its integrity check: re-provision",
        ))
    }

    /// The rollback mark the SUIT processor compares against: the highest number installed;
    /// one less for a quarantined manifest (its TAM may reinstall the same version); the
    /// largest number when the mark itself failed its check (fail closed).
    pub(super) fn rollback_mark(&self, manifest_id: &ComponentId) -> Option<u64> {
        let stem = file_stem(manifest_id);
        if self.seal.unknown_marks.contains(&stem) {
            tracing::error!(
                manifest = %manifest_id,
                "refusing: the rollback mark of this manifest id failed its integrity check"
            );
            return Some(u64::MAX);
        }
        let mark = self.highest_sequence_number(manifest_id);
        if self.seal.quarantined.contains(&stem) {
            return mark.and_then(|m| m.checked_sub(1));
        }
        mark
    }

    /// Opens the installed image of `component` (plaintext length `len`) for reads: checks
    /// its header, size and index entry; every chunk is checked when read.
    fn open_image(&self, component: &ComponentId, len: u64) -> Result<SealedReader, SealError> {
        let stem = file_stem(component);
        let rel = format!("{COMPONENTS_DIR}/{stem}.img");
        let file = File::open(self.root.join(&rel))?;
        let reader = self.seal.sealer.reader(Role::Image, &stem, file, len)?;
        if !self.seal.index.lists(&rel, &reader.salt()) {
            return Err(SealError::Tampered("not the copy the store index lists".into()));
        }
        Ok(reader)
    }

    /// The reader of an installed image for [`teep_suit::Platform::read`].
    pub(super) fn image_reader(
        &mut self,
        component: &ComponentId,
    ) -> Result<SealedReader, PlatformError> {
        let len = self.images.get(component).map(|i| i.len).unwrap_or_default();
        self.open_image(component, len).map_err(|e| self.read_failed(component, e))
    }

    /// Reports a failed read of an installed image: a failed check marks it tampered.
    pub(super) fn read_failed(&mut self, component: &ComponentId, e: SealError) -> PlatformError {
        if matches!(e, SealError::Tampered(_) | SealError::NotSealed) {
            let rel = format!("{COMPONENTS_DIR}/{}.img", file_stem(component));
            self.tamper(rel, e.to_string());
            return PlatformError::Storage(format!(
                "component {component} failed its integrity check; it is not used"
            ));
        }
        PlatformError::Storage(e.to_string())
    }

    /// The whole installed image of `component`, checked (for tools and tests; the SUIT
    /// processor reads through [`teep_suit::Platform::read`]).
    pub fn read_image(&self, component: &ComponentId) -> Result<Vec<u8>, StoreError> {
        let image = self.images.get(component).ok_or_else(|| {
            StoreError::Corrupt(format!("component {component} is not installed"))
        })?;
        let reader = self.open_image(component, image.len).map_err(sealed_error)?;
        let mut out = vec![0u8; usize::try_from(image.len).unwrap_or(usize::MAX)];
        let mut at = 0usize;
        while at < out.len() {
            let n = reader.read_at(&mut out[at..], at as u64).map_err(sealed_error)?;
            if n == 0 {
                break;
            }
            at = at.saturating_add(n);
        }
        Ok(out)
    }

    fn check_envelope(&self, stem: &str) -> Result<(), SealError> {
        let rel = format!("{MANIFESTS_DIR}/{stem}.suit");
        let reader = self.seal.sealer.reader_for_file(
            Role::Envelope,
            stem,
            File::open(self.root.join(&rel))?,
        )?;
        if !self.seal.index.lists(&rel, &reader.salt()) {
            return Err(SealError::Tampered("not the copy the store index lists".into()));
        }
        reader.verify()
    }

    /// The envelope of an installed manifest, checked.
    pub(super) fn read_envelope(&mut self, manifest_id: &ComponentId) -> Option<Vec<u8>> {
        let stem = file_stem(manifest_id);
        let rel = format!("{MANIFESTS_DIR}/{stem}.suit");
        match self.seal.sealer.open_file(Role::Envelope, &stem, &self.root.join(&rel), MAX_ENVELOPE)
        {
            Ok((bytes, salt)) if self.seal.index.lists(&rel, &salt) => Some(bytes.to_vec()),
            Ok(_) => {
                self.tamper(rel, "not the copy the store index lists".into());
                None
            }
            Err(e) => {
                self.tamper(rel, e.to_string());
                None
            }
        }
    }

    /// Writes the index of the state after `ops` to staging and adds its rename to `ops`.
    pub(super) fn stage_index(&mut self, ops: &mut Vec<JournalOp>) -> Result<(), StoreError> {
        let mut next = self.seal.index.clone();
        next.generation = next.generation.saturating_add(1);
        for op in ops.iter() {
            match op {
                JournalOp::Rename { from, to } => {
                    let name = from.rsplit('/').next().unwrap_or(from);
                    let salt = self.seal.staged_salts.get(name).ok_or_else(|| {
                        StoreError::Corrupt(format!("staged file {from} was not sealed"))
                    })?;
                    next.files.insert(to.clone(), hex::encode(salt));
                    // This process wrote it: the load after the commit need not read it all.
                    if to.ends_with(".img") {
                        self.seal.verified.insert(*salt);
                    }
                }
                JournalOp::Delete { path } => {
                    next.files.remove(path);
                }
            }
        }
        let bytes = serde_json::to_vec(&next).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let name = "m-store.index";
        self.write_staged_file(name, &bytes)?;
        ops.push(JournalOp::Rename {
            from: format!("{STAGING_DIR}/{name}"),
            to: format!("{MANIFESTS_DIR}/{INDEX_FILE}"),
        });
        Ok(())
    }
}

/// Opens one committed store file (`components/<h>.img`, `manifests/<h>.suit`, ...) of the
/// state directory `state_dir` without opening the store, e.g. while an Agent process holds
/// it: checks the file's seal (role, name, every chunk), not the store index.
pub fn open_store_file(state_dir: &Path, path: &Path) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let dir = path.parent().and_then(|d| d.file_name()).and_then(|d| d.to_str());
    let (role, stem) = role_in(dir.unwrap_or_default(), name)
        .ok_or_else(|| SealError::Tampered(format!("{} is not a store file", path.display())))?;
    let sealer = Sealer::for_dir(state_dir)?;
    sealer.open_file(role, &stem, path, u64::MAX).map(|(bytes, _)| bytes)
}

fn sealed_error(e: SealError) -> StoreError {
    match e {
        SealError::Io(source) => StoreError::Io { what: "read sealed file".into(), source },
        e => StoreError::Tampered(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_roles() {
        let h = "ab".repeat(32);
        assert_eq!(role_of(&format!("c-{h}.img")), Some((Role::Image, h.as_str())));
        assert_eq!(role_of(&format!("c-{h}.json")), Some((Role::ImageMeta, h.as_str())));
        assert_eq!(role_of(&format!("m-{h}.json")), Some((Role::ManifestRecord, h.as_str())));
        assert_eq!(role_of(&format!("m-{h}.seq")), Some((Role::Sequence, h.as_str())));
        assert_eq!(role_in("components", &format!("{h}.json")).map(|r| r.0), Some(Role::ImageMeta));
        assert_eq!(role_in("manifests", &format!("{h}.suit")).map(|r| r.0), Some(Role::Envelope));
        assert_eq!(role_in("manifests", INDEX_FILE).map(|r| r.0), Some(Role::Index));
        assert_eq!(role_in("components", &format!("{h}.suit")), None);
        assert_eq!(role_of("c-short.img"), None);
        assert_eq!(role_of(&format!("m-{h}.img")), None);
    }
}
