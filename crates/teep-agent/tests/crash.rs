//! Crash consistency of the software TEE's component store (issue 6 item 1): an install, update
//! or delete cut at any step of the commit leaves the previous or the new state, never a mix
//! (draft-ietf-suit-manifest-34 §6), and the next Agent run completes or rolls back the commit.
//!
//! The parent builds a chain of Updates (the published suit_integrated example, then updates
//! and a dependency install signed with the published example signer key, then deletes) and
//! keeps a copy of the state directory before each. For every Update and every fault point of
//! the commit path (`teep_agent::software::store::fault`), it re-executes this test binary as a
//! child Agent that handles the Update and aborts at that point, then reopens the directory and
//! checks that it holds exactly the state before or after the Update (which one the fault
//! point decides), with no staging or journal leftovers, and that Updates succeed after it.
//! The replay itself is crashed too: a second child aborts while recovering a published
//! journal.

mod common;

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use teep_agent::software::SoftwareAgent;
use teep_agent::software::store::{FAULT_POINT_ENV, FaultPoint, ImageRecord};
use teep_proto::{Message, Numbering, SystemPropertyClaims};
use teep_suit::ComponentId;
use teep_suit::builder::{Dependency, ManifestBuilder, Payload};

const TOKEN: &[u8] = b"crash-token-0123";
/// The state directory a child Agent opens.
const CHILD_DIR: &str = "TEEP_CRASH_CHILD_DIR";
/// The file holding the Update the child handles; unset: the child only opens (recovers).
const CHILD_MESSAGE: &str = "TEEP_CRASH_CHILD_MESSAGE";
/// SIGABRT, what `std::process::abort` ends the child with.
const SIGABRT: i32 = 6;

/// The child side. Inert in a normal test run; the parent runs it with [`CHILD_DIR`] set.
#[test]
fn child_agent() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else { return };
    let mut agent =
        teep_agent::software::open(Path::new(&dir)).unwrap_or_else(|e| panic!("child open: {e}"));
    let Some(message) = std::env::var_os(CHILD_MESSAGE) else { return };
    let update = std::fs::read(message).expect("child message");
    let reply = agent.handle(&update, 0).expect("child reply");
    let msg = open_response(&reply, &agent.public_key(), Numbering::Rfc);
    assert!(matches!(msg, Message::Success(_)), "child: {msg:?}");
}

/// How a child run ended.
#[derive(Debug, PartialEq, Eq)]
enum Exit {
    /// Aborted at the fault point.
    Aborted,
    /// Never reached the fault point and finished normally.
    Finished,
}

/// Runs the child Agent on `dir`, aborting at `point`, handling `message` if given.
fn run_child(dir: &Path, point: FaultPoint, message: Option<&Path>) -> Exit {
    let exe = std::env::current_exe().expect("test binary");
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", "child_agent", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env(FAULT_POINT_ENV, point.to_string())
        .env_remove(CHILD_MESSAGE);
    if let Some(m) = message {
        cmd.env(CHILD_MESSAGE, m);
    }
    let out = cmd.output().expect("run child");
    if out.status.signal() == Some(SIGABRT) {
        return Exit::Aborted;
    }
    assert!(
        out.status.success(),
        "child at {point} failed: {:?}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Exit::Finished
}

/// Everything the store shows of its state, read back from a freshly opened Agent.
#[derive(Debug, PartialEq, Eq, Clone)]
struct Snapshot {
    tc_list: Vec<SystemPropertyClaims>,
    /// Manifest id -> (sequence number, installed directly, dependencies).
    manifests: BTreeMap<ComponentId, (u64, bool, Vec<ComponentId>)>,
    /// Component -> its record and the bytes of its image file.
    images: Vec<(ImageRecord, Vec<u8>)>,
    /// Rollback marks of every manifest id the scenario uses.
    highest: Vec<Option<u64>>,
    /// File names under each store directory.
    files: Vec<Vec<String>>,
}

fn snapshot(agent: &SoftwareAgent, dir: &Path, ids: &[ComponentId]) -> Snapshot {
    let tee = agent.platform();
    let images = tee
        .images()
        .map(|i| {
            let bytes = tee.read_image(&i.component_id).expect("image file");
            let digest = teep_suit::SuitDigest::sha256(&bytes);
            assert_eq!(digest.bytes, i.sha256, "image matches its recorded digest");
            assert_eq!(bytes.len() as u64, i.len, "image matches its recorded length");
            (i.clone(), bytes)
        })
        .collect();
    Snapshot {
        tc_list: agent.tc_list(),
        manifests: tee
            .manifests()
            .map(|m| (m.manifest_id.clone(), (m.sequence_number, m.root, m.dependencies.clone())))
            .collect(),
        images,
        highest: ids.iter().map(|id| tee.highest_sequence_number(id)).collect(),
        files: ["components", "manifests", "staging", "journal"]
            .iter()
            .map(|sub| files(dir, sub))
            .collect(),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn id(segments: &[&[u8]]) -> ComponentId {
    ComponentId::new(segments.iter().copied())
}

fn uuid() -> Vec<u8> {
    hex::decode("8D82573A926D4754935332DC29997F74").expect("hex")
}

/// The example device's manifest builder for `component` under `manifest_id`.
fn builder(component: ComponentId, manifest_id: ComponentId, seq: u64) -> ManifestBuilder {
    ManifestBuilder::new(component, seq)
        .manifest_component_id(manifest_id)
        .vendor_id(hex::decode(VENDOR_ID).expect("hex"))
        .class_id(hex::decode(CLASS_ID).expect("hex"))
}

/// One Update of the chain and its name for failure messages.
struct Step {
    name: &'static str,
    message: PathBuf,
}

struct Scenario {
    tam: Tam,
    steps: Vec<Step>,
    /// Installs an unrelated TC: what must succeed after every recovery.
    probe: Vec<u8>,
    ids: Vec<ComponentId>,
    _work: tempfile::TempDir,
}

fn scenario() -> Scenario {
    let work = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let pem = std::fs::read_to_string(vector("teep-protocol/example-signer-private.pem"))
        .expect("signer key");
    let signer = teep_cose::SigningKey::from_pkcs8_pem(&pem).expect("signer key parses");
    let device: &[u8] = b"TEEP-Device";
    let fs: &[u8] = b"SecureFS";
    let uuid = uuid();
    let uuid_ref = uuid.as_slice();
    let tc = id(&[device, fs, uuid_ref, b"suit"]);
    let ta = id(&[device, fs, uuid_ref, b"ta"]);
    let tc_config = id(&[device, fs, uuid_ref, b"config"]);
    let (app, app_ta) = (id(&[device, fs, b"app2", b"suit"]), id(&[device, fs, b"app2", b"ta"]));
    let (lib, lib_ta) = (id(&[device, fs, b"lib", b"suit"]), id(&[device, fs, b"lib", b"ta"]));
    let (probe, probe_ta) =
        (id(&[device, fs, b"probe", b"suit"]), id(&[device, fs, b"probe", b"ta"]));

    // 1. The published example: TC sequence 3, "Hello, Secure World!".
    let published = hex_vector("teep-protocol/suit_integrated.hex.txt");
    // 2. An update of it to sequence 4 with a second component.
    let update = builder(ta.clone(), tc.clone(), 4)
        .payload(Payload::integrated(b"Hello again, Secure World! (v4)".to_vec()))
        .component(
            tc_config,
            Payload::Integrated { key: "#config".into(), data: b"{\"v\":4}".to_vec() },
        )
        .sign(&signer, None)
        .expect("update");
    // 3. A second TC that brings a dependency manifest with its own component.
    let dependency = builder(lib_ta.clone(), lib.clone(), 1)
        .payload(Payload::integrated(b"shared library".to_vec()))
        .sign(&signer, None)
        .expect("dependency");
    let with_dependency = builder(app_ta.clone(), app.clone(), 1)
        .payload(Payload::integrated(b"second application".to_vec()))
        .dependency(Dependency { envelope: dependency, prefix: None, uri: None })
        .sign(&signer, None)
        .expect("app with dependency");
    // 4. An update of both the second TC and its dependency.
    let dependency_v2 = builder(lib_ta, lib.clone(), 2)
        .payload(Payload::integrated(b"shared library, version 2".to_vec()))
        .sign(&signer, None)
        .expect("dependency v2");
    let app_v2 = builder(app_ta, app.clone(), 2)
        .payload(Payload::integrated(b"second application, version 2".to_vec()))
        .dependency(Dependency { envelope: dependency_v2, prefix: None, uri: None })
        .sign(&signer, None)
        .expect("app v2");
    let probe_envelope = builder(probe_ta, probe.clone(), 1)
        .payload(Payload::integrated(b"probe".to_vec()))
        .sign(&signer, None)
        .expect("probe");

    let messages = [
        ("install suit_integrated", tam.update(TOKEN, vec![published], vec![])),
        ("update to sequence 4", tam.update(TOKEN, vec![update], vec![])),
        ("install with dependency", tam.update(TOKEN, vec![with_dependency], vec![])),
        ("update app and dependency", tam.update(TOKEN, vec![app_v2], vec![])),
        ("delete the TC", tam.update(TOKEN, vec![], vec![tc.0.clone()])),
        ("delete app and dependency", tam.update(TOKEN, vec![], vec![app.0.clone()])),
    ];
    let steps = messages
        .into_iter()
        .enumerate()
        .map(|(i, (name, bytes))| {
            let message = work.path().join(format!("update-{i}.cbor"));
            std::fs::write(&message, bytes).expect("write message");
            Step { name, message }
        })
        .collect();
    let probe_update = tam.update(TOKEN, vec![probe_envelope], vec![]);
    Scenario { tam, steps, probe: probe_update, ids: vec![tc, app, lib, probe], _work: work }
}

/// The test config, without the software attester: it hashes the running executable at every
/// open, seconds for a debug test binary, and attestation plays no part in a commit.
fn crash_config(tam: &Tam) -> teep_agent::software::config::ConfigFile {
    let mut cfg = config(tam, vec![]);
    cfg.attestation.enabled = false;
    cfg
}

fn handle_ok(agent: &mut SoftwareAgent, message: &[u8], what: &str) {
    let reply = agent.handle(message, 0).expect("reply");
    let msg = open_response(&reply, &agent.public_key(), Numbering::Rfc);
    assert!(matches!(msg, Message::Success(_)), "{what}: {msg:?}");
}

/// The state directories before each step, and the snapshots before and after it.
struct Templates {
    dirs: Vec<tempfile::TempDir>,
    before: Vec<Snapshot>,
    after: Vec<Snapshot>,
}

fn templates(s: &Scenario) -> Templates {
    let live = tempfile::tempdir().expect("tempdir");
    let mut agent = agent_in(live.path(), crash_config(&s.tam));
    let mut t = Templates { dirs: Vec::new(), before: Vec::new(), after: Vec::new() };
    for step in &s.steps {
        let copy = tempfile::tempdir().expect("tempdir");
        copy_dir(live.path(), copy.path());
        t.dirs.push(copy);
        t.before.push(snapshot(&agent, live.path(), &s.ids));
        let message = std::fs::read(&step.message).expect("message");
        handle_ok(&mut agent, &message, step.name);
        // What a restart sees is what the store holds.
        drop(agent);
        agent = teep_agent::software::open(live.path()).expect("reopen");
        let after = snapshot(&agent, live.path(), &s.ids);
        assert_ne!(t.before.last(), Some(&after), "{} changes the store", step.name);
        t.after.push(after);
    }
    t
}

/// Whether a crash at `point` must leave the new state (at or after the commit point).
fn commits(point: FaultPoint) -> bool {
    !matches!(
        point,
        FaultPoint::CommitBegun
            | FaultPoint::StagingWritten
            | FaultPoint::StagingSynced
            | FaultPoint::JournalWritten
            | FaultPoint::JournalSynced
    )
}

/// Crashes step `k` at `point` in a copy of its template and checks the recovered store.
/// Returns how the child ended. `replay_faults`: children that crash while recovering first.
fn crash_and_check(
    s: &Scenario,
    t: &Templates,
    k: usize,
    point: FaultPoint,
    replay_faults: &[FaultPoint],
) -> Exit {
    let step = &s.steps[k];
    let what = format!("{} crashed at {point}", step.name);
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(t.dirs[k].path(), dir.path());
    let exit = run_child(dir.path(), point, Some(&step.message));
    for &replay in replay_faults {
        assert_eq!(run_child(dir.path(), replay, None), Exit::Aborted, "{what}, replay {replay}");
    }

    let mut agent = teep_agent::software::open(dir.path()).expect("recovering open");
    let recovered = snapshot(&agent, dir.path(), &s.ids);
    let expected = if exit == Exit::Finished || commits(point) { &t.after } else { &t.before };
    assert_eq!(&recovered, &expected[k], "{what}");
    assert!(files(dir.path(), "staging").is_empty(), "{what}: staging leftovers");
    assert!(files(dir.path(), "journal").is_empty(), "{what}: journal leftovers");

    // The Agent carries on: a rolled-back Update installs when sent again, and an unrelated
    // install succeeds.
    let message = std::fs::read(&step.message).expect("message");
    if recovered == t.before[k] {
        handle_ok(&mut agent, &message, &format!("{what}, sent again"));
        drop(agent);
        agent = teep_agent::software::open(dir.path()).expect("reopen");
        assert_eq!(snapshot(&agent, dir.path(), &s.ids), t.after[k], "{what}, sent again");
    }
    handle_ok(&mut agent, &s.probe, &format!("{what}, probe"));
    let probe = agent.platform().manifest(&s.ids[3]);
    assert!(probe.is_some_and(|m| m.sequence_number == 1), "{what}: probe installed");
    exit
}

#[test]
fn a_crash_at_every_commit_step_leaves_the_old_or_the_new_state() {
    let started = std::time::Instant::now();
    let s = scenario();
    let t = templates(&s);
    let mut runs = 0usize;
    for k in 0..s.steps.len() {
        // The fixed steps are each reached exactly once per commit.
        for point in FaultPoint::STEPS {
            let exit = crash_and_check(&s, &t, k, point, &[]);
            assert_eq!(exit, Exit::Aborted, "{}: {point} reached", s.steps[k].name);
            runs += 1;
        }
        // One point after each journal operation, until the commit has no more.
        let mut n = 1;
        while crash_and_check(&s, &t, k, FaultPoint::AfterOp(n), &[]) == Exit::Aborted {
            n += 1;
            runs += 1;
            assert!(n < 64, "journal of {} too long", s.steps[k].name);
        }
        assert!(n > 2, "{} journals more than one operation", s.steps[k].name);

        // A crash during the replay of the published journal, twice, still commits.
        let replays = [FaultPoint::AfterOp(1), FaultPoint::AfterOp(2)];
        crash_and_check(&s, &t, k, FaultPoint::JournalPublished, &replays);
        crash_and_check(&s, &t, k, FaultPoint::AfterOp(1), &replays[1..]);
        runs += 2;
    }
    eprintln!("{runs} crashed commits checked in {:?}", started.elapsed());
}

#[test]
fn an_unknown_fault_point_name_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(agent_in(dir.path(), crash_config(&Tam::new())));
    // Through a child, so that this process's environment stays untouched.
    let exe = std::env::current_exe().expect("test binary");
    let out = Command::new(exe)
        .args(["--exact", "child_agent", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir.path())
        .env(FAULT_POINT_ENV, "op-0")
        .env_remove(CHILD_MESSAGE)
        .output()
        .expect("run child");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("names no fault point"), "{stderr}");
}
