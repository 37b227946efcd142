//! The RFC-numbered signed messages of ../shared/vectors/teep-rfc and the published legacy
//! examples of ../shared/vectors/teep-protocol, run through the Agent.

mod common;

use common::*;
use teep_agent::Agent;
use teep_agent::software::config::{ConfigFile, TamEntry};
use teep_agent::software::{self, init, store::SoftwareTee};
use teep_cose::SigningKey;
use teep_proto::{ErrCode, Message, Numbering};

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(vector(rel)).expect("vector")
}

fn text(rel: &str) -> String {
    std::fs::read_to_string(vector(rel)).expect("vector")
}

/// An Agent with the published RFC agent key, trusting the published TAM and TC signer keys.
fn rfc_agent(dir: &std::path::Path) -> Agent<SoftwareTee> {
    let mut cfg = ConfigFile::default();
    cfg.tams.push(TamEntry {
        uri: TAM_URI.into(),
        numbering: None,
        public_keys: vec![text("teep-rfc/tam-esp256-pub.jwk")],
    });
    cfg.tc_signers.push(text("teep-rfc/tc-signer-esp256-pub.jwk"));
    cfg.device.vendor_ids.push(VENDOR_ID.into());
    cfg.device.class_ids.push(CLASS_ID.into());
    init::init(dir, &init::InitOptions { config: cfg.clone(), ..Default::default() })
        .expect("init");
    let key = SigningKey::from_jwk(&text("teep-rfc/agent-esp256-priv.jwk")).expect("agent key");
    let config = software::agent_config(&cfg).expect("config");
    Agent::new(config, key, SoftwareTee::open(dir, &cfg).expect("store"))
}

#[test]
fn rfc_query_request_is_answered_with_evidence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut agent = rfc_agent(dir.path());
    let bytes = read("teep-rfc/query_request.tam.esp256.cose");
    let reply = agent.handle_from(Some(TAM_URI), &bytes, 0).expect("reply");
    let msg = open_response(&reply, &agent.public_key(), Numbering::Rfc);
    let request = teep_cose::Sign1::decode(&bytes).expect("sign1");
    let Ok(Message::QueryRequest(q)) =
        Message::decode(request.payload.expect("payload"), Numbering::Rfc)
    else {
        panic!("vector is a QueryRequest")
    };
    let Message::QueryResponse(r) = msg else { panic!("expected QueryResponse, got {msg:?}") };
    r.check_answers(&q).expect("answers the vector's request");
    assert!(r.token.is_none());
    let challenge = q.challenge.expect("challenge");
    let evidence = r.attestation_payload.expect("evidence");
    let eat = teep_cose::Sign1::decode(&evidence).expect("EAT");
    let claims = eat.payload.expect("claims");
    assert!(claims.windows(challenge.len()).any(|w| w == challenge));
}

/// update0 carries one manifest whose only command section is suit-payload-fetch (16);
/// teep-suit currently refuses manifests without suit-install (see the crate report). Either
/// way the Agent must answer with a signed message that echoes the token and matches what
/// it really installed.
#[test]
fn rfc_update_is_answered_consistently() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut agent = rfc_agent(dir.path());
    let bytes = read("teep-rfc/update0.tam.esp256.cose");
    let reply = agent.handle_from(Some(TAM_URI), &bytes, 0).expect("reply");
    let msg = open_response(&reply, &agent.public_key(), Numbering::Rfc);
    assert_eq!(
        msg.token().map(|t| t.as_bytes()),
        Some(&[0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77][..])
    );
    match msg {
        Message::Success(_) => assert_eq!(agent.tc_list().len(), 1),
        Message::Error(e) => {
            assert_eq!(e.err_code, ErrCode::MANIFEST_PROCESSING_FAILED);
            assert_eq!(e.suit_reports.map(|r| r.len()), Some(1));
            assert!(agent.tc_list().is_empty());
            assert!(files(dir.path(), "components").is_empty());
        }
        other => panic!("expected Success or Error, got {other:?}"),
    }
}

#[test]
fn published_update_example_is_not_reported_installed() {
    // vectors/teep-protocol/update.hex.txt is an unsigned legacy Update whose manifest puts its
    // sequence under key 9 (suit-invoke): sign it as a TAM and check nothing is installed.
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam { numbering: Numbering::Legacy, ..Tam::new() };
    let mut agent = agent_in(dir.path(), config(&tam, vec![]));
    let body = hex_vector("teep-protocol/update.hex.txt");
    let update = Message::decode(&body, Numbering::Legacy).expect("legacy Update");
    let reply = agent.handle(&tam.seal(&update), 0).expect("reply");
    let msg = open_response(&reply, &agent.public_key(), Numbering::Legacy);
    match msg {
        Message::Error(e) => assert_eq!(e.err_code, ErrCode::MANIFEST_PROCESSING_FAILED),
        other => panic!("expected Error, got {other:?}"),
    }
    assert!(agent.tc_list().is_empty());
}
