//! Severed envelopes on the software TEE (draft-ietf-suit-manifest-34 §8.5): an Update whose
//! envelope lacks its severed suit-install gets the member from the full envelope at the
//! manifest's suit-reference-uri, through the Agent's mirrors (a loopback HTTP server started
//! here, or a mirror directory). Without a copy the manifest fails with severing-unsupported;
//! a tampered member fails its digest. Nothing is installed by a failed Update.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use common::*;
use teep_agent::ItemOutcome;
use teep_agent::software::SoftwareAgent;
use teep_agent::software::config::Mirror;
use teep_proto::{ErrCode, Message, Numbering};
use teep_suit::ComponentId;
use teep_suit::builder::{ManifestBuilder, Payload};
use teep_suit::tool::{self, Authenticator};

const TOKEN: &[u8] = b"token-0123456789";
/// The manifest's suit-reference-uri. Only mirrors resolve it: direct fetching is off.
const REFERENCE_URI: &str = "https://tc.invalid/full/app.suit";
const BODY: &[u8] = b"severed Trusted Component";

/// The example-signed manifest (integrated payload, inline suit-install), the envelope the
/// device gets (suit-install detached) and the full envelope (suit-install as an envelope
/// member).
struct Envelopes {
    original: Vec<u8>,
    detached: Vec<u8>,
    full: Vec<u8>,
    member: Vec<u8>,
}

fn envelopes() -> Envelopes {
    let key = teep_cose::SigningKey::from_pkcs8_pem(
        &std::fs::read_to_string(vector("teep-protocol/example-signer-private.pem"))
            .expect("signer"),
    )
    .expect("signer key");
    let original = ManifestBuilder::new(component(), 1)
        .vendor_id(hex::decode(VENDOR_ID).expect("hex"))
        .class_id(hex::decode(CLASS_ID).expect("hex"))
        .payload(Payload::integrated(BODY.to_vec()))
        .reference_uri(REFERENCE_URI)
        .sign(&key, None)
        .expect("build");
    let auth = Authenticator::Sign1 { key: &key, alg: None, with_kid: false };
    let detached = tool::sever(&original, &[20], true, &auth).expect("detach");
    let full = tool::sever(&original, &[20], false, &auth).expect("sever");
    let [(20, member)] = &detached.detached[..] else { panic!("one detached member") };
    Envelopes { original, detached: detached.envelope, full: full.envelope, member: member.clone() }
}

/// A loopback HTTP server answering every GET with `body`; records the request lines.
struct Server {
    base: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(body: Vec<u8>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let base = format!("http://{}/", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut tcp) = stream else { return };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && tcp.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let text = String::from_utf8_lossy(&head);
                seen.lock().expect("lock").push(text.lines().next().unwrap_or("").to_owned());
                let header = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = tcp.write_all(header.as_bytes()).and_then(|()| tcp.write_all(&body));
            }
        });
        Self { base, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("lock").clone()
    }
}

/// An Agent in `dir` whose only way to the reference URI is `mirror` (direct fetching off).
fn agent(dir: &std::path::Path, tam: &Tam, mirror: Option<Mirror>) -> SoftwareAgent {
    let mut cfg = config(tam, mirror.into_iter().collect());
    cfg.fetch.direct = false;
    agent_in(dir, cfg)
}

fn full_mirror(target: String) -> Option<Mirror> {
    Some(Mirror { prefix: "https://tc.invalid/full/".into(), target })
}

/// Sends the Update carrying `envelope`; returns the TEEP answer.
fn update(agent: &mut SoftwareAgent, tam: &Tam, envelope: &[u8]) -> Message {
    let reply = agent.handle(&tam.update(TOKEN, vec![envelope.to_vec()], vec![]), 0);
    open_response(&reply.expect("an answer"), &agent.public_key(), Numbering::Rfc)
}

fn failed_reason(agent: &SoftwareAgent) -> String {
    match agent.last_update() {
        [ItemOutcome::Failed { reason }] => reason.clone(),
        other => panic!("expected one failed item, got {other:?}"),
    }
}

fn assert_nothing_installed(agent: &SoftwareAgent, answer: &Message) {
    assert!(
        matches!(answer, Message::Error(e) if e.err_code == ErrCode::MANIFEST_PROCESSING_FAILED),
        "{answer:?}"
    );
    assert!(agent.tc_list().is_empty());
    assert!(agent.platform().images().next().is_none());
}

fn component() -> ComponentId {
    ComponentId::new([&b"TEEP-Device"[..], b"SecureFS", b"severed", b"ta"])
}

#[test]
fn severed_install_is_fetched_from_a_loopback_mirror() {
    let e = envelopes();
    let server = Server::start(e.full.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let mut agent = agent(dir.path(), &tam, full_mirror(server.base.clone()));

    let answer = update(&mut agent, &tam, &e.detached);
    assert!(matches!(answer, Message::Success(_)), "{answer:?}: {:?}", agent.last_update());
    assert_eq!(agent.tc_list().len(), 1);
    assert_eq!(agent.platform().read_image(&component()).expect("image"), BODY);
    assert_eq!(server.requests(), ["GET /app.suit HTTP/1.1"], "one fetch of the full envelope");
}

#[test]
fn unsevered_original_in_a_mirror_directory_also_serves() {
    // The full version may be the original envelope, its suit-install inline in the manifest.
    let e = envelopes();
    let mirror_dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(mirror_dir.path().join("app.suit"), &e.original).expect("write");
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let target = format!("file://{}/", mirror_dir.path().display());
    let mut agent = agent(dir.path(), &tam, full_mirror(target));

    let answer = update(&mut agent, &tam, &e.detached);
    assert!(matches!(answer, Message::Success(_)), "{answer:?}: {:?}", agent.last_update());
    assert_eq!(agent.tc_list().len(), 1);
}

#[test]
fn without_a_copy_the_manifest_fails_with_severing_unsupported() {
    let e = envelopes();
    let tam = Tam::new();

    // No mirror for the reference URI (and no direct fetching).
    let dir = tempfile::tempdir().expect("tempdir");
    let mut none = agent(dir.path(), &tam, None);
    let answer = update(&mut none, &tam, &e.detached);
    assert_nothing_installed(&none, &answer);
    let reason = failed_reason(&none);
    assert!(reason.contains("severed member 20 missing"), "{reason}");

    // A mirror whose server is down: the port was bound and released.
    let probe = TcpListener::bind("127.0.0.1:0").expect("reserve a port");
    let down = format!("http://{}/", probe.local_addr().expect("addr"));
    drop(probe);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut unreachable = agent(dir.path(), &tam, full_mirror(down));
    let answer = update(&mut unreachable, &tam, &e.detached);
    assert_nothing_installed(&unreachable, &answer);
    assert!(failed_reason(&unreachable).contains("severed member 20 missing"));

    // A server that answers with something that is not an envelope, or an envelope without
    // the member (the detached one itself).
    for body in [b"not CBOR at all".to_vec(), e.detached.clone()] {
        let server = Server::start(body);
        let dir = tempfile::tempdir().expect("tempdir");
        let mut agent = agent(dir.path(), &tam, full_mirror(server.base.clone()));
        let answer = update(&mut agent, &tam, &e.detached);
        assert_nothing_installed(&agent, &answer);
        assert!(failed_reason(&agent).contains("severed member 20 missing"));
        assert_eq!(server.requests().len(), 1);
    }

    // The Error's SUIT report names the reason severing-unsupported.
    let Message::Error(error) = answer else { panic!("an Error") };
    let reports = error.suit_reports.expect("a SUIT report");
    let report = teep_suit::SuitReport::receive(&reports[0], None, None).expect("report").report;
    match report.result {
        teep_suit::ReportResult::Failure { reason, .. } => {
            assert_eq!(reason, teep_suit::Reason::SeveringUnsupported);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_tampered_member_fails_its_digest() {
    let e = envelopes();
    // Flip one byte inside the member as the full envelope carries it.
    let at = e.full.windows(e.member.len()).position(|w| w == e.member).expect("member");
    let mut tampered = e.full.clone();
    let last = at + e.member.len() - 1;
    tampered[last] ^= 0x01;

    let server = Server::start(tampered);
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let mut agent = agent(dir.path(), &tam, full_mirror(server.base.clone()));
    let answer = update(&mut agent, &tam, &e.detached);
    assert_nothing_installed(&agent, &answer);
    let reason = failed_reason(&agent);
    assert!(reason.contains("digest"), "{reason}");
    assert_eq!(server.requests().len(), 1);
}
