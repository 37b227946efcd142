//! Sealed state (issue 6 item 2): the Agent's keys and component store are encrypted and
//! authenticated under the platform key, and every kind of tampering with a file is detected
//! before use and reported: store files are quarantined (their manifest leaves tc-list so that
//! the TAM reinstalls it), key files, the index and the journal stop the Agent.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use teep_agent::software::store::file_stem;
use teep_agent::software::{SoftwareAgent, init};
use teep_proto::{Message, Numbering};
use teep_suit::builder::{ManifestBuilder, Payload};
use teep_suit::{ComponentId, Platform};

const TOKEN: &[u8] = b"seal-token-01234";
/// Appears in the payload of TC `a`; must never appear in the state directory.
const MARKER: &[u8] = b"SEALED-PAYLOAD-MARKER";

fn id(segments: &[&[u8]]) -> ComponentId {
    ComponentId::new(segments.iter().copied())
}

/// Manifest id and component id of the test TC `name`.
fn tc(name: &str) -> (ComponentId, ComponentId) {
    let n = name.as_bytes();
    (id(&[b"TEEP-Device", b"SecureFS", n, b"suit"]), id(&[b"TEEP-Device", b"SecureFS", n, b"ta"]))
}

/// The payload of TC `name` at version `seq`: three chunks and a bit for `a`, so that chunk
/// boundaries are exercised.
fn payload(name: &str, seq: u64) -> Vec<u8> {
    let line = [MARKER, format!(" {name} v{seq} ").as_bytes()].concat();
    let repeat = if name == "a" { 140 * 1024 / line.len() } else { 3 };
    line.repeat(repeat)
}

fn envelope(name: &str, seq: u64) -> Vec<u8> {
    let pem = std::fs::read_to_string(vector("teep-protocol/example-signer-private.pem"))
        .expect("signer key");
    let signer = teep_cose::SigningKey::from_pkcs8_pem(&pem).expect("signer key parses");
    let (manifest, component) = tc(name);
    ManifestBuilder::new(component, seq)
        .manifest_component_id(manifest)
        .vendor_id(hex::decode(VENDOR_ID).expect("hex"))
        .class_id(hex::decode(CLASS_ID).expect("hex"))
        .payload(Payload::integrated(payload(name, seq)))
        .sign(&signer, None)
        .expect("envelope")
}

fn install(agent: &mut SoftwareAgent, tam: &Tam, envelopes: Vec<Vec<u8>>) -> Message {
    let reply = agent.handle(&tam.update(TOKEN, envelopes, vec![]), 0).expect("reply");
    open_response(&reply, &agent.public_key(), Numbering::Rfc)
}

/// A state directory with TCs `a` and `b` installed at sequence 1.
struct Device {
    dir: tempfile::TempDir,
    tam: Tam,
}

impl Device {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let tam = Tam::new();
        let mut agent = agent_in(dir.path(), config(&tam, vec![]));
        let msg = install(&mut agent, &tam, vec![envelope("a", 1), envelope("b", 1)]);
        assert!(matches!(msg, Message::Success(_)), "{msg:?}");
        Self { dir, tam }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn open(&self) -> SoftwareAgent {
        teep_agent::software::open(self.path()).expect("open")
    }

    /// `components/<h>.<ext>` of TC `name`'s component, or `manifests/<h>.<ext>` of its
    /// manifest.
    fn file(&self, name: &str, ext: &str) -> PathBuf {
        let (manifest, component) = tc(name);
        match ext {
            "img" | "meta" => {
                let ext = if ext == "meta" { "json" } else { "img" };
                self.path().join("components").join(format!("{}.{ext}", file_stem(&component)))
            }
            _ => self.path().join("manifests").join(format!("{}.{ext}", file_stem(&manifest))),
        }
    }
}

/// The manifest ids tc-list reports.
fn listed(agent: &SoftwareAgent) -> Vec<ComponentId> {
    agent.platform().manifests().map(|m| m.manifest_id.clone()).collect()
}

fn flip(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).expect("read");
    let at = at.min(bytes.len() - 1);
    bytes[at] ^= 0x01;
    std::fs::write(path, bytes).expect("write");
}

fn relative(device: &Device, path: &Path) -> String {
    path.strip_prefix(device.path()).expect("inside").to_string_lossy().into_owned()
}

/// Reopens `device` and checks that TC `a` is quarantined because of `file`, that `b` is
/// intact, and that the TAM can reinstall `a` at the same sequence number.
fn assert_quarantined(device: &Device, files: &[&Path]) {
    let mut agent = device.open();
    let (a, _) = tc("a");
    let (b, _) = tc("b");
    assert_eq!(listed(&agent), vec![b.clone()], "a is no longer installed");
    assert!(agent.platform().is_quarantined(&a));
    let tampered: Vec<&str> = agent.platform().tampered().iter().map(|t| t.path.as_str()).collect();
    for file in files {
        assert!(tampered.contains(&relative(device, file).as_str()), "{file:?} in {tampered:?}");
    }
    assert_eq!(agent.platform().read_image(&tc("b").1).expect("b intact"), payload("b", 1));

    // The TAM sees a missing from tc-list and reinstalls the same version.
    let msg = install(&mut agent, &device.tam, vec![envelope("a", 1)]);
    assert!(matches!(msg, Message::Success(_)), "reinstall: {msg:?}");
    drop(agent);
    let agent = device.open();
    assert_eq!(listed(&agent).len(), 2);
    assert_eq!(agent.platform().read_image(&tc("a").1).expect("a again"), payload("a", 1));
}

#[test]
fn nothing_of_the_plaintext_is_in_the_state_directory() {
    let device = Device::new();
    let secret = [0x5au8; 32];
    init::add_keywrap_key(device.path(), Some(b"kid-seal"), &secret).expect("key-wrap key");
    init::add_tc_mac_key(device.path(), None, &[0xa5; 32]).expect("MAC key");
    let agent = device.open();
    assert_eq!(listed(&agent).len(), 2);
    drop(agent);

    let mut files = Vec::new();
    let mut dirs = vec![device.path().to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() { dirs.push(path) } else { files.push(path) }
        }
    }
    let hex_secret = hex::encode(secret);
    let needles: [&[u8]; 7] = [
        MARKER,
        b"PRIVATE KEY",
        &secret,
        hex_secret.as_bytes(),
        b"kid-seal",
        b"sequence_number",
        b"component_id",
    ];
    for file in &files {
        let bytes = std::fs::read(file).expect("read");
        for needle in needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{} holds {:?}",
                file.display(),
                String::from_utf8_lossy(needle)
            );
        }
    }
    assert!(files.len() > 10, "{files:?}");
}

#[test]
fn a_flipped_byte_in_an_image_its_metadata_its_record_or_its_envelope_is_detected() {
    for (ext, at) in [("img", 70_000), ("img", 60), ("meta", 50), ("json", 50), ("suit", 100)] {
        let device = Device::new();
        let file = device.file("a", ext);
        flip(&file, at);
        assert_quarantined(&device, &[&file]);
    }
}

#[test]
fn swapped_truncated_and_extended_images_are_detected() {
    let device = Device::new();
    let (a, b) = (device.file("a", "img"), device.file("b", "img"));
    let tmp = device.path().join("swap");
    std::fs::rename(&a, &tmp).expect("swap");
    std::fs::rename(&b, &a).expect("swap");
    std::fs::rename(&tmp, &b).expect("swap");
    let agent = device.open();
    assert!(listed(&agent).is_empty(), "both quarantined");
    assert_eq!(agent.platform().tampered().len(), 2);
    drop(agent);

    for cut in [1, 64 * 1024 + 16] {
        let device = Device::new();
        let file = device.file("a", "img");
        let len = std::fs::metadata(&file).expect("meta").len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .and_then(|f| f.set_len(len - cut))
            .expect("truncate");
        assert_quarantined(&device, &[&file]);
    }

    let device = Device::new();
    let file = device.file("a", "img");
    let mut bytes = std::fs::read(&file).expect("read");
    bytes.extend_from_slice(&[0; 64 * 1024 + 16]);
    std::fs::write(&file, bytes).expect("extend");
    assert_quarantined(&device, &[&file]);
}

#[test]
fn an_older_sealed_copy_of_a_file_is_detected() {
    for ext in ["img", "meta", "json", "suit", "seq"] {
        let device = Device::new();
        let file = device.file("a", ext);
        let old = std::fs::read(&file).expect("v1");
        let mut agent = device.open();
        let msg = install(&mut agent, &device.tam, vec![envelope("a", 2)]);
        assert!(matches!(msg, Message::Success(_)), "{msg:?}");
        drop(agent);
        std::fs::write(&file, old).expect("put the old copy back");

        let mut agent = device.open();
        let tampered: Vec<String> =
            agent.platform().tampered().iter().map(|t| t.path.clone()).collect();
        assert_eq!(tampered, vec![relative(&device, &file)], "{ext}");
        let (a, _) = tc("a");
        if ext == "seq" {
            // The record is intact: it still gives the rollback mark, so v1 stays refused.
            assert_eq!(listed(&agent).len(), 2);
            assert_eq!(agent.platform().installed_sequence_number(&a), Some(2));
            let msg = install(&mut agent, &device.tam, vec![envelope("a", 1)]);
            assert!(!matches!(msg, Message::Success(_)), "rollback refused: {msg:?}");
        } else {
            assert!(!listed(&agent).contains(&a), "{ext}");
            // The TAM may reinstall version 2, never version 1.
            let msg = install(&mut agent, &device.tam, vec![envelope("a", 1)]);
            assert!(!matches!(msg, Message::Success(_)), "{ext}: rollback refused: {msg:?}");
            let msg = install(&mut agent, &device.tam, vec![envelope("a", 2)]);
            assert!(matches!(msg, Message::Success(_)), "{ext}: reinstall: {msg:?}");
            assert_eq!(agent.platform().read_image(&tc("a").1).expect("a"), payload("a", 2));
        }
    }
}

#[test]
fn a_tampered_rollback_mark_of_an_uninstalled_manifest_fails_closed() {
    let device = Device::new();
    let (b, _) = tc("b");
    let mut agent = device.open();
    let reply = agent.handle(&device.tam.update(TOKEN, vec![], vec![b.0.clone()]), 0);
    let msg = open_response(&reply.expect("reply"), &agent.public_key(), Numbering::Rfc);
    assert!(matches!(msg, Message::Success(_)), "{msg:?}");
    drop(agent);
    let seq = device.file("b", "seq");
    flip(&seq, 60);

    let mut agent = device.open();
    assert_eq!(agent.platform().tampered()[0].path, relative(&device, &seq));
    assert_eq!(agent.platform().installed_sequence_number(&b), Some(u64::MAX));
    let msg = install(&mut agent, &device.tam, vec![envelope("b", 1)]);
    assert!(!matches!(msg, Message::Success(_)), "a replay of b v1 is still refused: {msg:?}");
}

#[test]
fn an_image_tampered_while_the_agent_runs_is_not_read() {
    let device = Device::new();
    let agent = device.open();
    flip(&device.file("a", "img"), 100);
    let err = agent.platform().read_image(&tc("a").1).expect_err("tampered");
    assert!(err.to_string().contains("integrity check"), "{err}");
}

#[test]
fn tampered_or_swapped_key_files_stop_the_agent() {
    let files = [
        (init::KEY_FILE, "agent key"),
        (init::REPORT_KEY_FILE, "report key"),
        ("attest-key.pem", "attestation key"),
        (init::DEVICE_KEY_FILE, "device decryption key"),
        (init::KEYWRAP_KEYS_FILE, "key-wrap keys"),
        (init::TC_MAC_KEYS_FILE, "TC MAC keys"),
    ];
    for (file, which) in files {
        let device = Device::new();
        init::add_keywrap_key(device.path(), None, &[1; 16]).expect("key-wrap key");
        init::add_tc_mac_key(device.path(), None, &[2; 32]).expect("MAC key");
        device.open();
        flip(&device.path().join(file), 70);
        let err = teep_agent::software::open(device.path()).expect_err(file).to_string();
        assert!(err.contains(which) && err.contains("integrity check"), "{file}: {err}");
        assert!(err.contains("teep agent init"), "says what to do: {err}");
    }

    // Keys are bound to their file names: swapping two is as bad as flipping a byte.
    let device = Device::new();
    let (agent_key, report_key) =
        (device.path().join(init::KEY_FILE), device.path().join(init::REPORT_KEY_FILE));
    let tmp = device.path().join("swap");
    std::fs::rename(&agent_key, &tmp).expect("swap");
    std::fs::rename(&report_key, &agent_key).expect("swap");
    std::fs::rename(&tmp, &report_key).expect("swap");
    let err = teep_agent::software::open(device.path()).expect_err("swapped").to_string();
    assert!(err.contains("agent key") && err.contains("integrity check"), "{err}");
}

#[test]
fn a_tampered_index_or_journal_stops_the_store() {
    let device = Device::new();
    let index = device.path().join("manifests/store.index");
    let copy = std::fs::read(&index).expect("index");
    flip(&index, 60);
    let err = teep_agent::software::open(device.path()).expect_err("index").to_string();
    assert!(err.contains("store.index") && err.contains("integrity check"), "{err}");

    std::fs::remove_file(&index).expect("remove");
    let err = teep_agent::software::open(device.path()).expect_err("no index").to_string();
    assert!(err.contains("missing"), "{err}");

    // A sealed file of another role in the journal's place.
    std::fs::write(&index, &copy).expect("restore");
    device.open();
    std::fs::write(device.path().join("journal/commit.json"), &copy).expect("fake journal");
    let err = teep_agent::software::open(device.path()).expect_err("journal").to_string();
    assert!(err.contains("journal") && err.contains("integrity check"), "{err}");
}

#[test]
fn a_directory_without_sealing_is_refused_with_what_to_do() {
    let device = Device::new();
    std::fs::remove_file(device.path().join("sealing.key")).expect("remove");
    let err = teep_agent::software::open(device.path()).expect_err("unsealed").to_string();
    assert!(err.contains("sealing.key") && err.contains("teep agent init"), "{err}");

    // Another device's sealing key opens nothing.
    let other = Device::new();
    std::fs::copy(other.path().join("sealing.key"), device.path().join("sealing.key"))
        .expect("copy");
    let err = teep_agent::software::open(device.path()).expect_err("foreign key").to_string();
    assert!(err.contains("integrity check"), "{err}");
}

/// A platform key with a monotonic counter kept in memory (a TPM NV counter, say).
struct CountedKey {
    key: teep_agent::software::seal::FileKey,
    counter: Counter,
}

#[derive(Clone, Default)]
struct Counter(std::sync::Arc<std::sync::Mutex<u64>>);

impl teep_agent::MonotonicCounter for Counter {
    fn value(&mut self) -> Result<u64, teep_agent::PlatformKeyError> {
        Ok(*self.0.lock().expect("counter"))
    }

    fn advance_to(&mut self, value: u64) -> Result<(), teep_agent::PlatformKeyError> {
        let mut v = self.0.lock().expect("counter");
        *v = (*v).max(value);
        Ok(())
    }
}

impl teep_agent::PlatformKey for CountedKey {
    fn sealing_key(&self) -> Result<teep_agent::SealingKey, teep_agent::PlatformKeyError> {
        self.key.sealing_key()
    }

    fn rollback_counter(&mut self) -> Option<&mut dyn teep_agent::MonotonicCounter> {
        Some(&mut self.counter)
    }
}

#[test]
fn a_platform_counter_detects_a_rolled_back_directory() {
    let device = Device::new();
    let counter = Counter::default();
    let open = || {
        let key = CountedKey {
            key: teep_agent::software::seal::FileKey::new(device.path()),
            counter: counter.clone(),
        };
        teep_agent::software::open_with(device.path(), Box::new(key))
    };
    // Keep a copy of the store after the first installs.
    let saved = tempfile::tempdir().expect("tempdir");
    for sub in ["components", "manifests"] {
        std::fs::create_dir(saved.path().join(sub)).expect("mkdir");
        for f in std::fs::read_dir(device.path().join(sub)).expect("read_dir") {
            let f = f.expect("entry");
            std::fs::copy(f.path(), saved.path().join(sub).join(f.file_name())).expect("copy");
        }
    }

    let mut agent = open().expect("open");
    let generation = agent.platform().generation();
    assert!(generation >= 1);
    assert_eq!(*counter.0.lock().expect("counter"), generation, "raised to the index's");
    let msg = install(&mut agent, &device.tam, vec![envelope("a", 2)]);
    assert!(matches!(msg, Message::Success(_)), "{msg:?}");
    assert_eq!(*counter.0.lock().expect("counter"), generation + 1, "raised by the commit");
    drop(agent);

    // Roll the whole store back: every file is a valid sealed file, the counter is not fooled.
    for sub in ["components", "manifests"] {
        std::fs::remove_dir_all(device.path().join(sub)).expect("rm");
        std::fs::create_dir(device.path().join(sub)).expect("mkdir");
        for f in std::fs::read_dir(saved.path().join(sub)).expect("read_dir") {
            let f = f.expect("entry");
            std::fs::copy(f.path(), device.path().join(sub).join(f.file_name())).expect("copy");
        }
    }
    let Err(err) = open() else { panic!("a rolled-back store must not open") };
    assert!(err.to_string().contains("rolled back"), "{err}");
    // Without the counter (the software TEE) the same directory opens: the documented gap.
    let agent = device.open();
    assert_eq!(agent.platform().generation(), generation);
}

#[test]
fn agent_status_over_ipc_lists_tampered_files_and_quarantined_manifests() {
    use teep_agent::ipc::{self, Response};

    // Clean store: nothing reported.
    let device = Device::new();
    let status = ipc::status(&device.open());
    assert!(!status.is_tampered());
    assert!(status.tampered.is_empty() && status.quarantined.is_empty());
    assert_eq!(status.installed.len(), 2);

    // One flipped byte in a's image: the file and the manifest show up, b stays installed.
    let file = device.file("a", "img");
    flip(&file, 60);
    let status = ipc::status(&device.open());
    assert!(status.is_tampered());
    assert_eq!(status.installed.len(), 1);
    assert_eq!(status.tampered.len(), 1, "{:?}", status.tampered);
    assert_eq!(status.tampered[0].path, relative(&device, &file));
    assert!(!status.tampered[0].what.is_empty());
    assert_eq!(status.quarantined, vec![file_stem(&tc("a").0)]);

    // The report survives the IPC encoding (and holds no image bytes).
    let bytes = Response::Status(status.clone()).encode();
    assert!(!bytes.windows(MARKER.len()).any(|w| w == MARKER));
    assert_eq!(Response::decode(&bytes), Ok(Response::Status(status)));
}
