//! What the Agent says when its sealed state is damaged (docs/porting.md, "Sealed storage"):
//! a missing sealing key, a file that is not a sealed file at all, and a rollback record that
//! failed its check each get a message that names the problem and the way out.

mod common;

use std::path::Path;

use common::*;
use teep_agent::software::store::file_stem;
use teep_agent::software::{SoftwareAgent, init};
use teep_proto::{Message, Numbering};
use teep_suit::ComponentId;
use teep_suit::builder::{ManifestBuilder, Payload};

const TOKEN: &[u8] = b"seal-msg-token-0";

/// Manifest id and component id of the test TC.
fn tc() -> (ComponentId, ComponentId) {
    let part = |last: &[u8]| ComponentId::new([&b"TEEP-Device"[..], b"SecureFS", b"msg", last]);
    (part(b"suit"), part(b"ta"))
}

fn envelope(seq: u64) -> Vec<u8> {
    let pem = std::fs::read_to_string(vector("teep-protocol/example-signer-private.pem"))
        .expect("signer key");
    let signer = teep_cose::SigningKey::from_pkcs8_pem(&pem).expect("signer key parses");
    let (manifest, component) = tc();
    ManifestBuilder::new(component, seq)
        .manifest_component_id(manifest)
        .vendor_id(hex::decode(VENDOR_ID).expect("hex"))
        .class_id(hex::decode(CLASS_ID).expect("hex"))
        .payload(Payload::integrated(format!("messages TC v{seq}").into_bytes()))
        .sign(&signer, None)
        .expect("envelope")
}

fn update(
    agent: &mut SoftwareAgent,
    tam: &Tam,
    install: Vec<Vec<u8>>,
    delete: Vec<ComponentId>,
) -> Message {
    let delete = delete.into_iter().map(|id| id.0).collect();
    let reply = agent.handle(&tam.update(TOKEN, install, delete), 0).expect("reply");
    open_response(&reply, &agent.public_key(), Numbering::Rfc)
}

/// A state directory with the test TC installed at sequence 1.
fn device() -> (tempfile::TempDir, Tam) {
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let mut agent = agent_in(dir.path(), config(&tam, vec![]));
    let msg = update(&mut agent, &tam, vec![envelope(1)], vec![]);
    assert!(matches!(msg, Message::Success(_)), "{msg:?}");
    (dir, tam)
}

fn open_err(dir: &Path) -> String {
    teep_agent::software::open(dir).expect_err("refused").to_string()
}

#[test]
fn a_deleted_sealing_key_says_it_is_missing_and_how_to_recover() {
    let (dir, _) = device();
    std::fs::remove_file(dir.path().join("sealing.key")).expect("remove");
    let err = open_err(dir.path());
    assert!(err.contains("sealing.key is missing"), "{err}");
    assert!(err.contains("restore it from backup"), "{err}");
    assert!(err.contains("teep agent init") && err.contains("installed components are lost"));
    assert!(!err.contains("without sealed storage"), "{err}");
}

#[test]
fn an_empty_or_headerless_key_file_failed_its_integrity_check() {
    for damage in ["empty", "header"] {
        let (dir, _) = device();
        let key = dir.path().join(init::KEY_FILE);
        if damage == "empty" {
            std::fs::write(&key, b"").expect("empty");
        } else {
            let mut bytes = std::fs::read(&key).expect("read");
            bytes[0] ^= 0x01; // the "TEEPSEAL" magic
            std::fs::write(&key, bytes).expect("write");
        }
        let err = open_err(dir.path());
        assert!(err.contains("agent key"), "{damage}: {err}");
        assert!(err.contains("failed its integrity check"), "{damage}: {err}");
        assert!(err.contains("tampered or damaged"), "{damage}: {err}");
        assert!(!err.contains("before sealed storage"), "{damage}: {err}");
    }
}

#[test]
fn a_headerless_rollback_record_is_reported_as_damaged_and_installs_say_why_they_fail() {
    let (dir, tam) = device();
    let (manifest, _) = tc();

    // Uninstall: the rollback record is all that is left of the manifest.
    let mut agent = teep_agent::software::open(dir.path()).expect("open");
    let msg = update(&mut agent, &tam, vec![], vec![manifest.clone()]);
    assert!(matches!(msg, Message::Success(_)), "{msg:?}");
    drop(agent);
    let seq = dir.path().join("manifests").join(format!("{}.seq", file_stem(&manifest)));
    let mut bytes = std::fs::read(&seq).expect("read");
    bytes[3] ^= 0x01; // inside "TEEPSEAL"
    std::fs::write(&seq, bytes).expect("write");

    let mut agent = teep_agent::software::open(dir.path()).expect("the store opens");
    let tampered = agent.platform().tampered().to_vec();
    assert_eq!(tampered.len(), 1, "{tampered:?}");
    assert!(tampered[0].what.contains("failed its integrity check"), "{tampered:?}");
    assert!(tampered[0].what.contains("tampered or damaged"), "{tampered:?}");

    // Fail closed, even for a higher version, and say why rather than compare with u64::MAX.
    for version in [1, 2] {
        let msg = update(&mut agent, &tam, vec![envelope(version)], vec![]);
        let Message::Error(err) = msg else { panic!("v{version} refused: {msg:?}") };
        let text = err.err_msg.unwrap_or_default();
        assert!(text.contains("rollback record"), "{text}");
        assert!(text.contains("failed its integrity check"), "{text}");
        assert!(text.contains("re-provision"), "{text}");
        assert!(!text.contains(&u64::MAX.to_string()), "{text}");
    }
    assert_eq!(agent.platform().manifests().count(), 0, "nothing installed");
}
