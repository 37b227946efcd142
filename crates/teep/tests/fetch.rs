//! System tests: payloads fetched by URI (suit-directive-fetch, draft-ietf-suit-manifest-34
//! §8.4.10.4) by the real `teep agent serve`, from a file server this test runs on loopback:
//! through a `--mirror`, and directly with `[fetch] allow_http`.

mod common;

use std::collections::BTreeMap;

use common::{
    AgentSetup, EXAMPLE_MANIFEST, FileServer, World, example_installed, example_signer, vector,
};
use teep_suit::builder::Payload;

/// The payload file of the published suit_uri example, as served at its URI's path.
const TA_FILE: &str = "8d82573a-926d-4754-9353-32dc29997f74.ta";

fn ta_server() -> (FileServer, Vec<u8>) {
    let body = std::fs::read(vector(&format!("teep-protocol/{TA_FILE}"))).expect("ta file");
    let mut files = BTreeMap::new();
    files.insert(TA_FILE.to_owned(), body.clone());
    files.insert("direct/v5.ta".to_owned(), b"fetched directly, version 5".to_vec());
    (FileServer::start(files), body)
}

#[test]
fn suit_uri_installs_through_a_mirror() {
    let (server, body) = ta_server();
    let mirror = format!("https://example.org/={}", server.base());
    let world = World::start(AgentSetup { mirrors: vec![mirror], ..AgentSetup::default() });

    let uri = vector("teep-protocol/suit_uri.hex.txt");
    let out = world.tam(&["tc", "add", uri.to_str().expect("path")]).success();
    assert!(out.stdout.starts_with(&format!("added {EXAMPLE_MANIFEST} sequence 3 (")), "{out}");
    world.tam(&["policy", "require", EXAMPLE_MANIFEST]).success();
    world.policy_check();

    assert_eq!(server.requests(), vec![format!("/{TA_FILE}")]);
    assert_eq!(world.agent_installed(), example_installed(3));
    assert_eq!(world.agent_images(), vec![body]);
    let (installed, status) = world.tam_installed();
    assert_eq!(installed, example_installed(3), "{status}");
}

#[test]
fn uri_without_mirror_is_fetched_directly_when_allowed() {
    let (server, _) = ta_server();
    let payload = b"fetched directly, version 5".to_vec();
    let uri = format!("{}direct/v5.ta", server.base());
    let envelope = common::example_update(5, Payload::uri_for(&uri, &payload), &example_signer());

    // `[fetch] allow_http` lets the Agent fetch this plain-http loopback URI itself.
    let edit = ("allow_http = false", "allow_http = true");
    let setup = AgentSetup { config_edits: vec![edit], ..Default::default() };
    let world = World::start(setup);
    let path = world.file("v5.suit", &envelope);
    world.tam(&["tc", "add", &path]).success();
    world.tam(&["policy", "require", EXAMPLE_MANIFEST]).success();
    world.policy_check();
    assert_eq!(server.requests(), vec!["/direct/v5.ta".to_owned()]);
    assert_eq!(world.agent_installed(), example_installed(5));
    assert_eq!(world.agent_images(), vec![payload]);
}

#[test]
fn plain_http_uri_is_not_fetched_by_default() {
    let (server, _) = ta_server();
    let uri = format!("{}direct/v5.ta", server.base());
    let payload = b"fetched directly, version 5";
    let envelope = common::example_update(5, Payload::uri_for(&uri, payload), &example_signer());

    let world = World::start(AgentSetup::default());
    let path = world.file("v5.suit", &envelope);
    world.tam(&["tc", "add", &path]).success();
    world.tam(&["policy", "require", EXAMPLE_MANIFEST]).success();
    // The session itself completes (the Agent reports the failure to the TAM), and the Broker
    // exits with 1 because the Agent answered with a TEEP Error.
    let out = world.broker(&["policy-check"]).exit(1);
    assert!(out.stdout.contains(&format!("session with {}", world.tam_uri)), "{out}");
    assert_eq!(out.stderr_lines().len(), 1, "{out}");
    assert!(out.stderr.contains("Error"), "{out}");

    assert!(server.requests().is_empty(), "no request without allow_http");
    assert!(world.agent_installed().is_empty());
    assert!(world.agent_images().is_empty());
    // The TAM recorded the Agent's error report.
    let (installed, status) = world.tam_installed();
    assert!(installed.is_empty(), "{status}");
    let last_error = status.stdout.lines().find(|l| l.trim_start().starts_with("last error"));
    assert!(last_error.is_some_and(|l| l.contains("payload fetch failed")), "{status}");
}
