//! The Agent core on the software TEE: QueryRequest, Update, rejection, rollback, delete.

mod common;

use common::*;
use teep_agent::software::config::Mirror;
use teep_agent::{AgentError, Rejection};
use teep_proto::{
    CipherSuite, DataItemRequested, ErrCode, Message, Numbering, QueryRequest, SystemPropertyClaims,
};

const TOKEN: &[u8] = b"token-0123456789";
const COMPONENTS: DataItemRequested = DataItemRequested::TRUSTED_COMPONENTS;

fn tc_list(msg: &Message) -> Vec<SystemPropertyClaims> {
    match msg {
        Message::QueryResponse(r) => r.tc_list.clone().expect("tc-list"),
        other => panic!("expected QueryResponse, got {other:?}"),
    }
}

fn expect_error(msg: &Message, code: ErrCode) -> &teep_proto::TeepError {
    match msg {
        Message::Error(e) => {
            assert_eq!(e.err_code, code, "{e:?}");
            e
        }
        other => panic!("expected Error, got {other:?}"),
    }
}

#[test]
fn query_request_from_unknown_tam_key_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let mut agent = agent_in(dir.path(), config(&tam, vec![]));
    let stranger = Tam::new();
    let bytes = stranger.query_request(TOKEN, COMPONENTS);
    assert!(matches!(agent.handle(&bytes, 0), Err(AgentError::Rejected(Rejection::Untrusted))));
    // Also when the Broker names the trusted TAM's URI.
    assert!(matches!(
        agent.handle_from(Some(TAM_URI), &bytes, 0),
        Err(AgentError::Rejected(Rejection::Untrusted))
    ));
    // Garbage and a tampered signature are rejected too, without a response.
    assert!(matches!(agent.handle(b"\xff\x00", 0), Err(AgentError::Rejected(_))));
    let mut tampered = tam.query_request(TOKEN, COMPONENTS);
    if let Some(last) = tampered.last_mut() {
        *last ^= 1;
    }
    assert!(matches!(agent.handle(&tampered, 0), Err(AgentError::Rejected(_))));
}

#[test]
fn query_request_gets_query_response_with_tc_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let mut agent = agent_in(dir.path(), config(&tam, vec![]));
    let reply = agent.handle(&tam.query_request(TOKEN, COMPONENTS), 0).expect("reply");
    let msg = open_response(&reply, &agent.public_key(), Numbering::Rfc);
    match &msg {
        Message::QueryResponse(r) => {
            assert_eq!(r.token.as_ref().map(|t| t.as_bytes()), Some(TOKEN));
            assert_eq!(r.selected_version, Some(0));
            assert_eq!(r.tc_list.as_deref(), Some(&[][..]));
            assert!(r.attestation_payload.is_none());
            r.check_answers(&query_request(TOKEN, COMPONENTS)).expect("answers the request");
        }
        other => panic!("expected QueryResponse, got {other:?}"),
    }
}

#[test]
fn attestation_bit_yields_evidence_bound_to_the_challenge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let mut agent = agent_in(dir.path(), config(&tam, vec![]));
    let challenge = b"challenge-abcdefgh".to_vec();
    let q = QueryRequest {
        token: None,
        challenge: Some(challenge.clone()),
        data_item_requested: DataItemRequested::ATTESTATION.union(COMPONENTS),
        ..query_request(TOKEN, COMPONENTS)
    };
    let reply = agent.handle(&tam.seal(&Message::QueryRequest(q.clone())), 1_700_000_000);
    let msg = open_response(&reply.expect("reply"), &agent.public_key(), Numbering::Rfc);
    let Message::QueryResponse(r) = msg else { panic!("expected QueryResponse") };
    r.check_answers(&q).expect("answers the request");
    let evidence = r.attestation_payload.expect("evidence");
    let sign1 = teep_cose::Sign1::decode(&evidence).expect("EAT is a COSE_Sign1");
    // Signed by the attestation key (distinct from the TEEP key), bound by cnf to the TEEP key.
    let attest = std::fs::read_to_string(dir.path().join("attest-key.pub.pem")).expect("pub");
    let attest = teep_cose::PublicKey::from_spki_pem(&attest).expect("attestation key");
    assert!(sign1.verify(&agent.public_key(), &[]).is_err(), "not the TEEP key");
    let eat = teep_eat::verify(&evidence, &[attest], teep_eat::DEFAULT_ALGORITHMS).expect("EAT");
    eat.claims.check_teep_profile().expect("TEEP EAT profile");
    eat.claims.check_confirmation(&agent.public_key()).expect("cnf = TEEP key");
    assert_eq!(eat.claims.iat, Some(1_700_000_000));
    let claims = sign1.payload.expect("claims");
    // eat_nonce (10) carries the challenge.
    let needle = [&[0x0a, 0x52][..], &challenge].concat();
    assert!(claims.windows(needle.len()).any(|w| w == needle), "eat_nonce = challenge");
}

#[test]
fn no_common_suite_or_version_gives_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let mut agent = agent_in(dir.path(), config(&tam, vec![]));

    let q = QueryRequest {
        supported_teep_cipher_suites: vec![CipherSuite::SIGN1_EDDSA_LEGACY],
        ..query_request(TOKEN, COMPONENTS)
    };
    let reply = agent.handle(&tam.seal(&Message::QueryRequest(q)), 0).expect("reply");
    let msg = open_response(&reply, &agent.public_key(), Numbering::Rfc);
    let err = expect_error(&msg, ErrCode::UNSUPPORTED_CIPHER_SUITES);
    assert_eq!(err.supported_teep_cipher_suites, Some(vec![CipherSuite::SIGN1_ESP256]));
    assert_eq!(err.token.as_ref().map(|t| t.as_bytes()), Some(TOKEN));

    let q = QueryRequest { versions: Some(vec![7, 9]), ..query_request(TOKEN, COMPONENTS) };
    let reply = agent.handle(&tam.seal(&Message::QueryRequest(q)), 0).expect("reply");
    let msg = open_response(&reply, &agent.public_key(), Numbering::Rfc);
    let err = expect_error(&msg, ErrCode::UNSUPPORTED_MSG_VERSION);
    assert_eq!(err.versions, Some(vec![0]));
}

#[test]
fn update_with_suit_integrated_installs_and_shows_in_tc_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let mut agent = agent_in(dir.path(), config(&tam, vec![]));
    let envelope = hex_vector("teep-protocol/suit_integrated.hex.txt");

    let reply = agent.handle(&tam.update(TOKEN, vec![envelope], vec![]), 0).expect("reply");
    let msg = open_response(&reply, &agent.public_key(), Numbering::Rfc);
    let Message::Success(s) = &msg else { panic!("expected Success, got {msg:?}") };
    assert_eq!(s.token.as_ref().map(|t| t.as_bytes()), Some(TOKEN));
    assert_eq!(s.suit_reports.as_ref().map(Vec::len), Some(1));

    // The image is on disk, and tc-list reports it with its digest.
    let installed: Vec<_> = agent.platform().images().cloned().collect();
    assert_eq!(installed.len(), 1);
    let image = agent.platform().read_image(&installed[0].component_id).expect("img");
    assert_eq!(image, b"Hello, Secure World!");
    let reply = agent.handle(&tam.query_request(TOKEN, COMPONENTS), 0).expect("reply");
    let list = tc_list(&open_response(&reply, &agent.public_key(), Numbering::Rfc));
    assert_eq!(list.len(), 1);
    let digest = list[0].parameter(3).expect("image digest");
    let expected = hex::decode("8CF71AC86AF31BE184EC7A05A411A8C3A14FD9B77A30D046397481469468ECE8")
        .expect("hex");
    assert!(digest.windows(32).any(|w| w == expected), "digest of the installed image");
    assert_eq!(list[0].component_id.segments().last().map(Vec::as_slice), Some(&b"suit"[..]));
    assert!(files(dir.path(), "staging").is_empty());
    assert!(files(dir.path(), "journal").is_empty());

    // Reopening the directory shows the same state.
    drop(agent);
    let agent = teep_agent::software::open(dir.path()).expect("reopen");
    assert_eq!(agent.tc_list(), list);
}

#[test]
fn suit_uri_installs_through_a_file_mirror() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let mirror = Mirror {
        prefix: "https://example.org/".into(),
        target: format!("file://{}/", vector("teep-protocol").display()),
    };
    let mut agent = agent_in(dir.path(), config(&tam, vec![mirror]));
    let envelope = hex_vector("teep-protocol/suit_uri.hex.txt");
    let reply = agent.handle(&tam.update(TOKEN, vec![envelope], vec![]), 0).expect("reply");
    let msg = open_response(&reply, &agent.public_key(), Numbering::Rfc);
    assert!(matches!(msg, Message::Success(_)), "{msg:?}");
    let ta = std::fs::read(vector(&format!("teep-protocol/{TA_FILE}"))).expect("ta");
    let images: Vec<_> = agent.platform().images().cloned().collect();
    assert_eq!(images.len(), 1);
    let image = agent.platform().read_image(&images[0].component_id).expect("img");
    assert_eq!(image, ta);
}

#[test]
fn suit_uri_installs_through_a_loopback_http_server() {
    let ta = std::fs::read(vector(&format!("teep-protocol/{TA_FILE}"))).expect("ta");
    let (base, server) = serve_once(ta.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let mirror = Mirror { prefix: "https://example.org/".into(), target: base };
    let mut agent = agent_in(dir.path(), config(&tam, vec![mirror]));
    let envelope = hex_vector("teep-protocol/suit_uri.hex.txt");
    let reply = agent.handle(&tam.update(TOKEN, vec![envelope], vec![]), 0).expect("reply");
    let msg = open_response(&reply, &agent.public_key(), Numbering::Rfc);
    assert!(matches!(msg, Message::Success(_)), "{msg:?}");
    let path = server.join().expect("server thread");
    assert_eq!(path, format!("/{TA_FILE}"));
    let images: Vec<_> = agent.platform().images().cloned().collect();
    let image = agent.platform().read_image(&images[0].component_id).expect("img");
    assert_eq!(image, ta);
}

/// A one-request HTTP/1.1 server on 127.0.0.1; returns its base URL and the requested path.
fn serve_once(body: Vec<u8>) -> (String, std::thread::JoinHandle<String>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}/", listener.local_addr().expect("addr"));
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(stream);
        let mut request_line = String::new();
        reader.read_line(&mut request_line).expect("request line");
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).expect("header") <= 2 {
                break;
            }
        }
        let mut stream = reader.into_inner();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).expect("write");
        stream.write_all(&body).expect("write");
        request_line.split_whitespace().nth(1).unwrap_or_default().to_string()
    });
    (base, handle)
}

#[test]
fn bad_manifest_signature_gives_error_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let mut agent = agent_in(dir.path(), config(&tam, vec![]));
    let mut envelope = hex_vector("teep-protocol/suit_integrated.hex.txt");
    // The signature is the 64 bytes after the 0x5840 head in the authentication wrapper.
    let at = envelope.windows(2).position(|w| w == [0x58, 0x40]).expect("signature") + 10;
    envelope[at] ^= 0x55;

    let reply = agent.handle(&tam.update(TOKEN, vec![envelope], vec![]), 0).expect("reply");
    let msg = open_response(&reply, &agent.public_key(), Numbering::Rfc);
    let err = expect_error(&msg, ErrCode::MANIFEST_PROCESSING_FAILED);
    assert_eq!(err.suit_reports.as_ref().map(Vec::len), Some(1));
    assert!(err.err_msg.is_some());
    for sub in ["components", "manifests", "staging", "journal"] {
        assert!(files(dir.path(), sub).is_empty(), "{sub} must stay empty");
    }
    assert!(agent.tc_list().is_empty());
}

#[test]
fn lower_or_equal_sequence_number_gives_error() {
    use teep_suit::ComponentId;
    use teep_suit::builder::{ManifestBuilder, Payload};

    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let signer = teep_cose::SigningKey::generate_p256(&mut rng());
    let mut cfg = config(&tam, vec![]);
    cfg.tc_signers.push(signer.public_key().to_spki_pem());
    let mut agent = agent_in(dir.path(), cfg);

    let component = ComponentId::new([&b"TEEP-Device"[..], b"SecureFS", b"app", b"ta"]);
    let build = |seq: u64, body: &[u8]| {
        ManifestBuilder::new(component.clone(), seq)
            .vendor_id(hex::decode(VENDOR_ID).expect("hex"))
            .class_id(hex::decode(CLASS_ID).expect("hex"))
            .payload(Payload::integrated(body.to_vec()))
            .sign(&signer, None)
            .expect("build")
    };
    let reply = agent.handle(&tam.update(TOKEN, vec![build(5, b"five")], vec![]), 0).expect("v5");
    let msg = open_response(&reply, &agent.public_key(), Numbering::Rfc);
    assert!(matches!(msg, Message::Success(_)), "{msg:?}");

    for seq in [4, 5] {
        let reply = agent.handle(&tam.update(TOKEN, vec![build(seq, b"old")], vec![]), 0);
        let msg = open_response(&reply.expect("reply"), &agent.public_key(), Numbering::Rfc);
        expect_error(&msg, ErrCode::MANIFEST_PROCESSING_FAILED);
    }
    let list = agent.platform().installed_sequence_numbers();
    assert_eq!(list, vec![5]);
    let images: Vec<_> = agent.platform().images().cloned().collect();
    let image = agent.platform().read_image(&images[0].component_id).expect("img");
    assert_eq!(image, b"five");

    let reply = agent.handle(&tam.update(TOKEN, vec![build(6, b"six")], vec![]), 0).expect("v6");
    let msg = open_response(&reply, &agent.public_key(), Numbering::Rfc);
    assert!(matches!(msg, Message::Success(_)), "{msg:?}");
    assert_eq!(agent.platform().installed_sequence_numbers(), vec![6]);
}

#[test]
fn unneeded_manifest_list_deletes_the_component() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let mut agent = agent_in(dir.path(), config(&tam, vec![]));
    let envelope = hex_vector("teep-protocol/suit_integrated.hex.txt");
    agent.handle(&tam.update(TOKEN, vec![envelope], vec![]), 0).expect("install");
    let list = agent.tc_list();
    assert_eq!(list.len(), 1);
    let manifest_id = list[0].component_id.clone();

    // UnrequestTA puts it on the unneeded-manifest-list of the next QueryResponse.
    assert_eq!(agent.unrequest_ta(manifest_id.clone()), Ok(Some(TAM_URI.to_string())));
    let reply = agent.handle(&tam.query_request(TOKEN, COMPONENTS), 0).expect("reply");
    match open_response(&reply, &agent.public_key(), Numbering::Rfc) {
        Message::QueryResponse(r) => {
            assert_eq!(r.unneeded_manifest_list, Some(vec![manifest_id.clone()]))
        }
        other => panic!("{other:?}"),
    }

    let reply = agent.handle(&tam.update(TOKEN, vec![], vec![manifest_id.0.clone()]), 0);
    let msg = open_response(&reply.expect("reply"), &agent.public_key(), Numbering::Rfc);
    assert!(matches!(msg, Message::Success(_)), "{msg:?}");
    assert!(agent.tc_list().is_empty());
    for sub in ["components", "staging", "journal"] {
        assert!(files(dir.path(), sub).is_empty(), "{sub} must be empty");
    }
    // Only the rollback high-water mark of the removed manifest and the store index stay.
    let left = files(dir.path(), "manifests");
    assert!(left.len() == 2 && left[0].ends_with(".seq") && left[1] == "store.index", "{left:?}");
    assert!(agent.unneeded().is_empty());
}

#[test]
fn request_ta_shows_in_requested_tc_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let mut agent = agent_in(dir.path(), config(&tam, vec![]));
    let id = teep_proto::ComponentId(vec![b"TEEP-Device".to_vec(), b"x".to_vec()]);
    assert_eq!(agent.request_ta(id.clone(), None), Ok(Some(TAM_URI.to_string())));
    assert_eq!(agent.request_policy_check(), vec![TAM_URI.to_string()]);
    let reply = agent.handle(&tam.query_request(TOKEN, COMPONENTS), 0).expect("reply");
    match open_response(&reply, &agent.public_key(), Numbering::Rfc) {
        Message::QueryResponse(r) => {
            let list = r.requested_tc_list.expect("requested-tc-list");
            assert_eq!(list.len(), 1);
            assert_eq!(list[0].component_id, id);
        }
        other => panic!("{other:?}"),
    }
    // Installed components are not requested again, whether named by manifest id or by
    // the component the manifest declares; UnrequestTA by component id lists the manifest id.
    let envelope = hex_vector("teep-protocol/suit_integrated.hex.txt");
    agent.handle(&tam.update(TOKEN, vec![envelope], vec![]), 0).expect("install");
    let manifest_id = agent.tc_list()[0].component_id.clone();
    let component = teep_proto::ComponentId(
        agent.find_installed(&manifest_id).expect("installed").components[0].0.clone(),
    );
    assert_ne!(component, manifest_id);
    assert_eq!(agent.request_ta(manifest_id.clone(), None), Ok(None));
    assert_eq!(agent.request_ta(component.clone(), None), Ok(None));
    assert_eq!(agent.unrequest_ta(component), Ok(Some(TAM_URI.to_string())));
    assert_eq!(agent.unneeded(), vec![manifest_id]);
    assert_eq!(agent.requested(), vec![id]);
}

#[test]
fn legacy_numbering_tam_is_answered_in_legacy_numbering() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam { numbering: Numbering::Legacy, ..Tam::new() };
    let mut agent = agent_in(dir.path(), config(&tam, vec![]));
    let envelope = hex_vector("teep-protocol/suit_integrated.hex.txt");
    let reply = agent.handle(&tam.update(TOKEN, vec![envelope], vec![]), 0).expect("reply");
    let msg = open_response(&reply, &agent.public_key(), Numbering::Legacy);
    assert!(matches!(msg, Message::Success(_)), "{msg:?}");
    // The same bytes read with RFC numbering are a different message type (5 = Error).
    let sign1 = teep_cose::Sign1::decode(&reply).expect("sign1");
    assert_eq!(sign1.payload.and_then(|p| p.get(1).copied()), Some(5));
}

#[test]
fn cose_sign_query_request_with_two_suites_is_answered_with_the_agents_suite() {
    use teep_agent::software::init::{InitOptions, KeyKind, init};
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let tam_ed = teep_cose::SigningKey::generate_ed25519(&mut rng());
    let mut cfg = config(&tam, vec![]);
    cfg.tams[0].public_keys.push(tam_ed.public_key().to_spki_pem());
    cfg.suites = vec![teep_agent::software::config::SuiteName::Ed25519];
    init(dir.path(), &InitOptions { key_kind: KeyKind::Ed25519, config: cfg }).expect("init");
    let mut agent = teep_agent::software::open(dir.path()).expect("open");

    let q = Message::QueryRequest(query_request(TOKEN, COMPONENTS));
    let signers =
        [(&tam.key, teep_cose::Algorithm::ESP256), (&tam_ed, teep_cose::Algorithm::ED25519)];
    let bytes = teep_proto::seal_sign(&q, Numbering::Rfc, &signers).expect("COSE_Sign");
    let reply = agent.handle(&bytes, 0).expect("reply");
    let sign1 = teep_cose::Sign1::decode(&reply).expect("sign1");
    assert_eq!(sign1.algorithm().ok(), Some(teep_cose::Algorithm::ED25519));
    let msg = open_response(&reply, &agent.public_key(), Numbering::Rfc);
    assert!(matches!(msg, Message::QueryResponse(_)), "{msg:?}");
}

#[test]
fn legacy_algorithms_need_configuration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let mut agent = agent_in(dir.path(), config(&tam, vec![]));
    let q = Message::QueryRequest(query_request(TOKEN, COMPONENTS));
    let es256 = teep_proto::seal_sign1(&q, Numbering::Rfc, &tam.key, teep_cose::Algorithm::ES256)
        .expect("seal");
    assert!(matches!(
        agent.handle(&es256, 0),
        Err(AgentError::Rejected(Rejection::AlgorithmNotAllowed(-7)))
    ));

    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(&tam, vec![]);
    cfg.accept_legacy_algorithms = true;
    let mut agent = agent_in(dir.path(), cfg);
    assert!(agent.handle(&es256, 0).is_ok());
}

#[test]
fn mutated_and_truncated_messages_never_panic_and_never_install() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let mut agent = agent_in(dir.path(), config(&tam, vec![]));
    let envelope = hex_vector("teep-protocol/suit_integrated.hex.txt");
    let update = tam.update(TOKEN, vec![envelope], vec![]);
    let query = tam.query_request(TOKEN, COMPONENTS);
    let kid = tam.key.public_key().thumbprint();
    for original in [&update, &query] {
        let kid_at = original.windows(32).position(|w| w == kid).expect("kid in the message");
        for cut in 0..original.len() {
            assert!(matches!(agent.handle(&original[..cut], 0), Err(AgentError::Rejected(_))));
        }
        for i in 0..original.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bytes = original.clone();
                bytes[i] ^= flip;
                // A change outside the unprotected header `{4: kid}` (which the signature does
                // not cover) must break the structure or the signature.
                match agent.handle(&bytes, 0) {
                    Err(AgentError::Rejected(_)) => {}
                    Ok(reply) => {
                        assert!((kid_at - 4..kid_at + 32).contains(&i), "byte {i} accepted");
                        open_response(&reply, &agent.public_key(), Numbering::Rfc);
                    }
                    Err(e) => panic!("byte {i}: unexpected {e}"),
                }
            }
        }
    }
    // Only the genuine manifest can have been installed.
    let list = agent.tc_list();
    assert!(list.len() <= 1);
    assert!(agent.platform().installed_sequence_numbers().iter().all(|&n| n == 3));
}

#[test]
fn payload_over_the_size_limit_or_without_mirror_fails_cleanly() {
    let tam = Tam::new();
    let envelope = hex_vector("teep-protocol/suit_uri.hex.txt");
    let mirror = Mirror {
        prefix: "https://example.org/".into(),
        target: format!("file://{}/", vector("teep-protocol").display()),
    };
    // The .ta file is 20 bytes; allow 10.
    let mut small = config(&tam, vec![mirror]);
    small.limits.max_payload_bytes = 10;
    // No mirror at all and direct fetching off: the URI must not be fetched.
    let mut unmapped = config(&tam, vec![]);
    unmapped.fetch.direct = false;
    for cfg in [small, unmapped] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut agent = agent_in(dir.path(), cfg);
        let reply = agent.handle(&tam.update(TOKEN, vec![envelope.clone()], vec![]), 0);
        let msg = open_response(&reply.expect("reply"), &agent.public_key(), Numbering::Rfc);
        let err = expect_error(&msg, ErrCode::MANIFEST_PROCESSING_FAILED);
        // Local details (paths, OS errors) stay in the Agent; the TAM gets the reason.
        let text = err.err_msg.clone().unwrap_or_default();
        assert!(text.contains("payload fetch failed"), "{text}");
        assert!(!text.contains('/'), "{text}");
        assert!(matches!(agent.last_update(), [teep_agent::ItemOutcome::Failed { .. }]));
        for sub in ["components", "manifests", "staging", "journal"] {
            assert!(files(dir.path(), sub).is_empty(), "{sub} must stay empty");
        }
    }
}

#[test]
fn large_payload_streams_from_a_loopback_server() {
    use sha2::Digest;
    use teep_suit::ComponentId;
    use teep_suit::builder::{ManifestBuilder, Payload};

    let body: Vec<u8> =
        (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let (base, server) = serve_once(body.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let signer = teep_cose::SigningKey::generate_p256(&mut rng());
    let mirror = Mirror { prefix: "https://example.org/".into(), target: base };
    let mut cfg = config(&tam, vec![mirror]);
    cfg.tc_signers.push(signer.public_key().to_spki_pem());
    let mut agent = agent_in(dir.path(), cfg);

    let component = ComponentId::new([&b"TEEP-Device"[..], b"big", b"ta"]);
    let envelope = ManifestBuilder::new(component.clone(), 1)
        .vendor_id(hex::decode(VENDOR_ID).expect("hex"))
        .class_id(hex::decode(CLASS_ID).expect("hex"))
        .payload(Payload::uri_for("https://example.org/big.ta", &body))
        .sign(&signer, None)
        .expect("build");
    let reply = agent.handle(&tam.update(TOKEN, vec![envelope], vec![]), 0).expect("reply");
    let msg = open_response(&reply, &agent.public_key(), Numbering::Rfc);
    assert!(matches!(msg, Message::Success(_)), "{msg:?}");
    assert_eq!(server.join().expect("server"), "/big.ta");
    let image = agent.platform().read_image(&component).expect("image");
    assert_eq!(image.len(), body.len());
    assert!(image == body);
    let record = agent.platform().image(&component).expect("record");
    assert_eq!(record.sha256, <[u8; 32]>::from(sha2::Sha256::digest(&body)));
}

#[test]
fn conceptual_api_inputs_are_bounded() {
    use teep_agent::{ApiError, MAX_COMPONENT_ID_BYTES, MAX_PENDING};
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let mut agent = agent_in(dir.path(), config(&tam, vec![]));
    let huge = teep_proto::ComponentId(vec![vec![0; MAX_COMPONENT_ID_BYTES]]);
    assert_eq!(agent.request_ta(huge.clone(), None), Err(ApiError::InvalidComponentId));
    assert_eq!(agent.unrequest_ta(huge), Err(ApiError::InvalidComponentId));
    assert_eq!(
        agent.request_ta(teep_proto::ComponentId(vec![]), None),
        Err(ApiError::InvalidComponentId)
    );
    for i in 0..MAX_PENDING {
        let id = teep_proto::ComponentId(vec![i.to_be_bytes().to_vec()]);
        assert!(agent.request_ta(id, None).is_ok());
    }
    let one_more = teep_proto::ComponentId(vec![b"one more".to_vec()]);
    assert_eq!(agent.request_ta(one_more, None), Err(ApiError::TooManyPending));
    // Asking again for an id already pending is fine.
    let again = teep_proto::ComponentId(vec![0usize.to_be_bytes().to_vec()]);
    assert!(agent.request_ta(again, None).is_ok());
    assert_eq!(agent.requested().len(), MAX_PENDING);
}
