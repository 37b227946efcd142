//! Evidence of the software attester: freshness negotiation (draft-ietf-teep-protocol-26
//! §10), ERR_UNSUPPORTED_FRESHNESS_MECHANISMS, encrypted EATs (§9.2).

mod common;

use common::*;
use teep_proto::{
    DataItemRequested, ErrCode, FreshnessMechanism, Message, Numbering, QueryRequest,
};

const TOKEN: &[u8] = b"token-0123456789";

fn attest_key(dir: &std::path::Path) -> teep_cose::PublicKey {
    let pem = std::fs::read_to_string(dir.join("attest-key.pub.pem")).expect("attestation key");
    teep_cose::PublicKey::from_spki_pem(&pem).expect("spki")
}

fn ask(freshness: Vec<FreshnessMechanism>, challenge: Option<&[u8]>) -> QueryRequest {
    // With the attestation bit the token is absent (§5.1); the challenge is the nonce.
    QueryRequest {
        token: None,
        challenge: challenge.map(<[u8]>::to_vec),
        supported_freshness_mechanisms: Some(freshness),
        data_item_requested: DataItemRequested::ATTESTATION,
        ..query_request(TOKEN, DataItemRequested::ATTESTATION)
    }
}

#[test]
fn timestamp_freshness_gives_iat_without_nonce() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let mut agent = agent_in(dir.path(), config(&tam, vec![]));
    assert!(agent.has_attester());
    let q = ask(vec![FreshnessMechanism::Timestamp], None);
    let reply = agent.handle(&tam.seal(&Message::QueryRequest(q)), 1_800_000_000).expect("reply");
    let Message::QueryResponse(r) = open_response(&reply, &agent.public_key(), Numbering::Rfc)
    else {
        panic!("expected QueryResponse")
    };
    assert_eq!(r.attestation_payload_format.as_deref(), Some(teep_eat::EAT_CWT_MEDIA_TYPE));
    let evidence = r.attestation_payload.expect("evidence");
    let eat = teep_eat::verify(&evidence, &[attest_key(dir.path())], teep_eat::DEFAULT_ALGORITHMS)
        .expect("signed by the attestation key");
    assert_eq!(eat.claims.eat_nonce, None);
    assert_eq!(eat.claims.iat, Some(1_800_000_000));
    let fresh = teep_eat::Freshness::Timestamp { now: 1_800_000_010, window: 60 };
    eat.claims.check_freshness(fresh).expect("fresh");
    eat.claims.check_teep_profile().expect("profile");
}

#[test]
fn unsupported_freshness_is_an_error_with_our_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let mut agent = agent_in(dir.path(), config(&tam, vec![]));
    // A mechanism we do not know, and timestamp without a clock.
    for (offer, now) in [
        (vec![FreshnessMechanism::Other(7)], 1_800_000_000),
        (vec![FreshnessMechanism::Timestamp], 0),
    ] {
        let q = ask(offer, Some(b"challenge-123456"));
        let reply = agent.handle(&tam.seal(&Message::QueryRequest(q)), now).expect("reply");
        let Message::Error(e) = open_response(&reply, &agent.public_key(), Numbering::Rfc) else {
            panic!("expected Error")
        };
        assert_eq!(e.err_code, ErrCode::UNSUPPORTED_FRESHNESS_MECHANISMS);
        assert_eq!(
            e.supported_freshness_mechanisms,
            Some(vec![FreshnessMechanism::Nonce, FreshnessMechanism::Timestamp])
        );
    }
}

#[test]
fn evidence_is_encrypted_to_a_p256_tam_when_configured() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let mut cfg = config(&tam, vec![]);
    cfg.attestation.encrypt = true;
    let mut agent = agent_in(dir.path(), cfg);
    let q = ask(vec![FreshnessMechanism::Nonce], Some(b"challenge-123456"));
    let reply = agent.handle(&tam.seal(&Message::QueryRequest(q)), 0).expect("reply");
    let Message::QueryResponse(r) = open_response(&reply, &agent.public_key(), Numbering::Rfc)
    else {
        panic!("expected QueryResponse")
    };
    let sealed = r.attestation_payload.expect("evidence");
    assert!(teep_eat::is_encrypted(&sealed));
    let signed = teep_eat::decrypt(&sealed, &tam.key).expect("the TAM can decrypt");
    let eat = teep_eat::verify(&signed, &[attest_key(dir.path())], teep_eat::DEFAULT_ALGORITHMS)
        .expect("signed EAT inside");
    assert_eq!(eat.claims.eat_nonce.as_deref(), Some(&b"challenge-123456"[..]));
    let other = teep_cose::SigningKey::generate_p256(&mut rng());
    assert_eq!(teep_eat::decrypt(&sealed, &other), Err(teep_eat::EatError::Decrypt));
}
