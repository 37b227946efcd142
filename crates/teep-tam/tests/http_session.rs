//! TEEP over HTTP against a real TAM on loopback, on SQLite and on PostgreSQL.

mod common;

use common::{Agent, Db, TEEP, TestTam, example_component, hex_vector, provision};

use teep_proto::{ErrCode, Message};

macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Db::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Db::Postgres).await })*
        }
    };
}

on_both_databases!(
    empty_post_yields_query_request_signed_by_both_tam_keys,
    transport_rules,
    full_session_installs_and_records_state,
    replayed_query_response_is_ignored_and_token_consumed_once,
    badly_signed_response_consumes_nothing,
    unknown_agent_key_is_rejected,
    malformed_bodies_are_dropped_cleanly,
    delete_policy_sends_unneeded_manifest_list,
    error_message_is_recorded,
    tokens_are_bounded_per_holder,
    empty_posts_cannot_evict_a_device_session,
    forged_and_expired_query_tokens_are_dropped,
    blocked_device_is_not_served,
    query_response_without_tc_list_gets_error_update,
);

fn assert_security_headers(response: &reqwest::Response) {
    let h = response.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["content-security-policy"], "default-src 'none'");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert!(h.get("cache-control").is_none());
    assert!(h.get("set-cookie").is_none());
}

async fn open_session(tam: &TestTam, agent: &Agent) -> teep_proto::QueryRequest {
    let response = tam.post(b"").await;
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    agent.query_request(&body, &tam.tam_public_keys())
}

async fn empty_post_yields_query_request_signed_by_both_tam_keys(db: Db) {
    let Some(tam) = TestTam::start(db).await else { return };
    let response = tam.post(b"").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], TEEP);
    assert_security_headers(&response);
    let body = response.bytes().await.unwrap();

    // Each TAM key alone verifies it: a COSE_Sign with one signature per mandatory suite.
    let [p256, ed25519] = tam.keys().public_keys();
    for (agent, key) in [(Agent::p256(), p256), (Agent::ed25519(), ed25519)] {
        let request = agent.query_request(&body, &[key]);
        assert_eq!(request.token.as_ref().unwrap().as_bytes().len(), 16);
        assert_eq!(request.versions.as_deref(), Some(&[0_u32][..]));
        assert!(
            request.data_item_requested.contains(teep_proto::DataItemRequested::TRUSTED_COMPONENTS)
        );
        let suites = &request.supported_teep_cipher_suites;
        assert!(suites.contains(&teep_proto::CipherSuite::SIGN1_ESP256));
        assert!(suites.contains(&teep_proto::CipherSuite::SIGN1_ED25519));
        assert_eq!(request.supported_suit_cose_profiles.len(), 4);
    }
    let token = Agent::p256().query_request(&body, &tam.tam_public_keys()).token.unwrap();
    assert!(tam.tam.query_token_is_open(token.as_bytes(), now()).await.unwrap());

    // Only the Accept header is needed; no Content-Type on an empty POST.
    let bare = tam.client.post(&tam.url).header("accept", TEEP).send().await.unwrap();
    assert_eq!(bare.status(), 200);
    // The legacy endpoint speaks the legacy numbering and also offers ES256/EdDSA.
    let legacy = tam.post_to(&tam.legacy_url, b"").await.bytes().await.unwrap();
    let mut agent = Agent::p256();
    agent.numbering = teep_proto::Numbering::Legacy;
    let request = agent.query_request(&legacy, &tam.tam_public_keys());
    assert!(
        request.supported_teep_cipher_suites.contains(&teep_proto::CipherSuite::SIGN1_ES256_LEGACY)
    );
    tam.finish().await;
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

async fn transport_rules(db: Db) {
    let Some(tam) = TestTam::start_with(db, |c| c.body_limit = 4096).await else { return };
    let c = &tam.client;

    for method in [reqwest::Method::GET, reqwest::Method::PUT, reqwest::Method::DELETE] {
        let r = c.request(method, &tam.url).header("accept", TEEP).send().await.unwrap();
        assert_eq!(r.status(), 405);
        assert_eq!(r.headers()["allow"], "POST");
    }
    let wrong_type = c
        .post(&tam.url)
        .header("accept", TEEP)
        .header("content-type", "application/cbor")
        .body(vec![0xa0])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 415);
    let no_type = c.post(&tam.url).header("accept", TEEP).body(vec![0xa0]).send().await.unwrap();
    assert_eq!(no_type.status(), 415);
    let not_acceptable =
        c.post(&tam.url).header("accept", "application/json").send().await.unwrap();
    assert_eq!(not_acceptable.status(), 406);

    let oversize = tam.post(&vec![0_u8; 4097]).await;
    assert_eq!(oversize.status(), 413);
    // A chunked body announces no length; the limit applies while reading.
    assert_eq!(raw_chunked_post(&tam.url, &[3000, 3000]).await, 413);
    assert_eq!(raw_chunked_post(&tam.url, &[]).await, 200);

    let unknown_path = c.post(tam.url.replace("/tam", "/other")).send().await.unwrap();
    assert_eq!(unknown_path.status(), 404);
    tam.finish().await;
}

/// POSTs a chunked body over a raw socket and returns the status code.
async fn raw_chunked_post(url: &str, chunks: &[usize]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = url.trim_start_matches("http://").split('/').next().unwrap().to_owned();
    let mut stream = tokio::net::TcpStream::connect(&authority).await.unwrap();
    let mut request = format!(
        "POST /tam HTTP/1.1\r\nHost: {authority}\r\nAccept: {TEEP}\r\n\
         Content-Type: {TEEP}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for len in chunks {
        request.extend(format!("{len:x}\r\n").bytes());
        request.extend(std::iter::repeat_n(0_u8, *len));
        request.extend(b"\r\n");
    }
    request.extend(b"0\r\n\r\n");
    // The server may answer 413 and close before reading everything.
    let _ = stream.write_all(&request).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response);
    text.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0)
}

async fn full_session_installs_and_records_state(db: Db) {
    let Some(tam) = TestTam::start(db).await else { return };
    let agent = Agent::p256();
    provision(&tam, &agent).await;

    let request = open_session(&tam, &agent).await;
    let response = tam.post(&agent.query_response(&request, &[], &[])).await;
    assert_eq!(response.status(), 200);
    assert_security_headers(&response);
    let body = response.bytes().await.unwrap();
    // The Update is a COSE_Sign1 in the Agent's suite (ESP256) with the TAM's P-256 key.
    let sign1 = teep_cose::Sign1::decode(&body).unwrap();
    assert_eq!(sign1.algorithm().unwrap(), teep_cose::Algorithm::ESP256);
    let update = match agent.open(&body, &[tam.keys().p256.public_key()]) {
        Message::Update(u) => u,
        other => panic!("expected Update, got {:?}", other.kind()),
    };
    let manifests = update.manifest_list.clone().unwrap();
    assert_eq!(manifests, [hex_vector("teep-protocol/suit_uri.hex.txt")]);
    assert_ne!(update.token, request.token);

    let done = tam.post(&agent.success(update.token.as_ref().unwrap())).await;
    assert_eq!(done.status(), 204);
    assert!(done.bytes().await.unwrap().is_empty());

    let status = tam.admin.status(&agent.thumbprint()).await.unwrap();
    assert_eq!(status.components.len(), 1);
    // Recorded under the manifest's identity, which the policy's component id resolves to.
    let key = teep_tam::ComponentKey::from_parts(&example_component()).unwrap();
    assert_eq!(status.components[0].component_id, common::example_manifest_id().as_cbor());
    assert_eq!(status.components[0].sequence_number, Some(3));
    assert!(status.device.last_seen.is_some());
    let kinds: Vec<_> = status.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["success", "update", "query-response"]);

    // A second session: the component is reported installed, nothing to do -> 204.
    let request = open_session(&tam, &agent).await;
    let again = tam.post(&agent.query_response(&request, &[example_component()], &[])).await;
    assert_eq!(again.status(), 204);

    // Raising the minimum sequence number beyond the catalog: nothing installable, 204.
    tam.admin.require(&teep_tam::PolicyTarget::AllDevices, &key, 4).await.unwrap();
    let request = open_session(&tam, &agent).await;
    let again = tam.post(&agent.query_response(&request, &[example_component()], &[])).await;
    assert_eq!(again.status(), 204);
    tam.finish().await;
}

async fn replayed_query_response_is_ignored_and_token_consumed_once(db: Db) {
    let Some(tam) = TestTam::start(db).await else { return };
    let agent = Agent::p256();
    provision(&tam, &agent).await;
    let request = open_session(&tam, &agent).await;
    let query_token = request.token.as_ref().unwrap().as_bytes().to_vec();
    let message = agent.query_response(&request, &[], &[]);

    let first = tam.post(&message).await;
    assert_eq!(first.status(), 200);
    assert!(!tam.tam.query_token_is_open(&query_token, now()).await.unwrap());
    let events_before = tam.admin.status(&agent.thumbprint()).await.unwrap().events.len();

    for _ in 0..3 {
        let replay = tam.post(&message).await;
        assert_eq!(replay.status(), 204);
        assert!(replay.bytes().await.unwrap().is_empty());
    }
    // Nothing new recorded, and only one Update token was issued for the device.
    let status = tam.admin.status(&agent.thumbprint()).await.unwrap();
    assert_eq!(status.events.len(), events_before);
    let holder = hex::encode(agent.thumbprint());
    assert_eq!(tam.tam.store().open_tokens(&holder, now()).await.unwrap(), 1);
    tam.finish().await;
}

async fn badly_signed_response_consumes_nothing(db: Db) {
    let Some(tam) = TestTam::start(db).await else { return };
    let agent = Agent::p256();
    provision(&tam, &agent).await;
    let request = open_session(&tam, &agent).await;
    let query_token = request.token.as_ref().unwrap().as_bytes().to_vec();
    let good = agent.query_response(&request, &[], &[]);

    // Flip one signature bit: same kid, same token, wrong signature.
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(tam.post(&bad).await.status(), 204);
    // An impostor key with the victim's kid.
    let impostor = Agent::p256();
    let forged = {
        let payload = Message::QueryResponse(teep_proto::QueryResponse {
            token: request.token.clone(),
            ..Default::default()
        })
        .encode(teep_proto::Numbering::Rfc);
        teep_cose::sign1(
            &payload,
            &impostor.key,
            teep_cose::Algorithm::ESP256,
            Some(&agent.thumbprint()),
            &[],
            true,
        )
        .unwrap()
    };
    assert_eq!(tam.post(&forged).await.status(), 204);
    assert!(tam.tam.query_token_is_open(&query_token, now()).await.unwrap());
    assert!(tam.admin.status(&agent.thumbprint()).await.unwrap().device.last_seen.is_none());

    // The real response still works.
    assert_eq!(tam.post(&good).await.status(), 200);
    assert!(!tam.tam.query_token_is_open(&query_token, now()).await.unwrap());
    tam.finish().await;
}

async fn unknown_agent_key_is_rejected(db: Db) {
    let Some(tam) = TestTam::start(db).await else { return };
    let known = Agent::p256();
    provision(&tam, &known).await;
    let stranger = Agent::ed25519();
    let request = open_session(&tam, &stranger).await;
    let query_token = request.token.as_ref().unwrap().as_bytes().to_vec();
    let response = tam.post(&stranger.query_response(&request, &[], &[])).await;
    assert_eq!(response.status(), 204);
    assert!(tam.tam.query_token_is_open(&query_token, now()).await.unwrap());
    assert_eq!(tam.admin.devices().await.unwrap().len(), 1);
    tam.finish().await;

    // With auto-enrolment, a key from the configured trust anchors is admitted.
    let stranger_pem = stranger.public_pem();
    let Some(tam) = TestTam::start_with(db, |c| {
        let path = c.state_dir.join("agent.pem");
        std::fs::write(&path, &stranger_pem).unwrap();
        c.agents.auto_enroll = true;
        c.agents.trust_anchors = vec![path];
    })
    .await
    else {
        return;
    };
    let request = open_session(&tam, &stranger).await;
    let response = tam.post(&stranger.query_response(&request, &[], &[])).await;
    assert_eq!(response.status(), 204);
    let devices = tam.admin.devices().await.unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].thumbprint, stranger.thumbprint());
    assert!(devices[0].last_seen.is_some());
    tam.finish().await;
}

async fn malformed_bodies_are_dropped_cleanly(db: Db) {
    let Some(tam) = TestTam::start(db).await else { return };
    let agent = Agent::p256();
    provision(&tam, &agent).await;
    let request = open_session(&tam, &agent).await;
    let query_token = request.token.as_ref().unwrap().as_bytes().to_vec();
    let good = agent.query_response(&request, &[], &[]);

    let mut random = vec![0_u8; 512];
    getrandom::fill(&mut random).unwrap();
    let garbage_payload = teep_cose::sign1(
        &[0xff, 0x00, 0x13, 0x37],
        &agent.key,
        teep_cose::Algorithm::ESP256,
        Some(&agent.thumbprint()),
        &[],
        true,
    )
    .unwrap();
    let wrong_message = agent.seal(&Message::QueryRequest(request.clone()));
    let mut bodies: Vec<Vec<u8>> = vec![
        random,
        good[..good.len() / 2].to_vec(),
        good[..1].to_vec(),
        garbage_payload,
        wrong_message,
        vec![0x9f; 2000],             // deeply nested indefinite arrays
        vec![0xd2, 0x84, 0x41, 0xa0], // truncated COSE_Sign1
        vec![0xd2, 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // huge length
    ];
    let mut trailing = good.clone();
    trailing.push(0x00);
    bodies.push(trailing);
    for body in &bodies {
        let response = tam.post(body).await;
        assert_eq!(response.status(), 204, "body {:02x?}", &body[..body.len().min(8)]);
    }
    assert!(tam.tam.query_token_is_open(&query_token, now()).await.unwrap());
    assert_eq!(tam.post(&good).await.status(), 200);
    tam.finish().await;
}

async fn delete_policy_sends_unneeded_manifest_list(db: Db) {
    let Some(tam) = TestTam::start(db).await else { return };
    let agent = Agent::ed25519();
    provision(&tam, &agent).await;
    let key = teep_tam::ComponentKey::from_parts(&example_component()).unwrap();
    let target = teep_tam::PolicyTarget::Device(agent.thumbprint());
    tam.admin.delete(&target, &key).await.unwrap();

    let request = open_session(&tam, &agent).await;
    let body = tam.post(&agent.query_response(&request, &[example_component()], &[])).await;
    assert_eq!(body.status(), 200);
    let body = body.bytes().await.unwrap();
    assert_eq!(
        teep_cose::Sign1::decode(&body).unwrap().algorithm().unwrap(),
        teep_cose::Algorithm::ED25519
    );
    let Message::Update(update) = agent.open(&body, &tam.tam_public_keys()) else {
        panic!("expected Update")
    };
    assert!(update.manifest_list.is_none());
    let unneeded = update.unneeded_manifest_list.clone().unwrap();
    assert_eq!(unneeded.len(), 1);
    // unneeded-manifest-list names manifests: the suit-manifest-component-id.
    assert_eq!(unneeded[0].segments(), common::example_manifest_id().parts().as_slice());
    assert_eq!(tam.post(&agent.success(update.token.as_ref().unwrap())).await.status(), 204);
    assert!(tam.admin.status(&agent.thumbprint()).await.unwrap().components.is_empty());
    tam.finish().await;
}

async fn error_message_is_recorded(db: Db) {
    let Some(tam) = TestTam::start(db).await else { return };
    let agent = Agent::p256();
    provision(&tam, &agent).await;
    let request = open_session(&tam, &agent).await;
    let update = tam.post(&agent.query_response(&request, &[], &[])).await.bytes().await.unwrap();
    let Message::Update(update) = agent.open(&update, &tam.tam_public_keys()) else {
        panic!("expected Update")
    };
    let error = teep_proto::TeepError {
        token: update.token.clone(),
        err_msg: Some("image digest mismatch".into()),
        err_code: ErrCode::MANIFEST_PROCESSING_FAILED,
        ..Default::default()
    };
    let response = tam.post(&agent.seal(&Message::Error(error.clone()))).await;
    assert_eq!(response.status(), 204);
    let status = tam.admin.status(&agent.thumbprint()).await.unwrap();
    assert_eq!(status.device.last_error_code, Some(11));
    assert_eq!(status.device.last_error_msg.as_deref(), Some("image digest mismatch"));
    assert!(status.components.is_empty());
    // Replaying the Error changes nothing.
    let before = status.events.len();
    assert_eq!(tam.post(&agent.seal(&Message::Error(error))).await.status(), 204);
    assert_eq!(tam.admin.status(&agent.thumbprint()).await.unwrap().events.len(), before);

    // ERR_UNSUPPORTED_CIPHER_SUITES in answer to a QueryRequest is recorded too.
    let request = open_session(&tam, &agent).await;
    let error = teep_proto::TeepError {
        token: request.token.clone(),
        err_code: ErrCode::UNSUPPORTED_CIPHER_SUITES,
        supported_teep_cipher_suites: Some(vec![teep_proto::CipherSuite::SIGN1_ESP256]),
        ..Default::default()
    };
    assert_eq!(tam.post(&agent.seal(&Message::Error(error))).await.status(), 204);
    let status = tam.admin.status(&agent.thumbprint()).await.unwrap();
    assert_eq!(status.device.last_error_code, Some(5));
    assert!(status.events[0].detail.contains("ERR_UNSUPPORTED_CIPHER_SUITES"));
    tam.finish().await;
}

async fn tokens_are_bounded_per_holder(db: Db) {
    let Some(tam) = TestTam::start_with(db, |c| c.max_tokens_per_device = 3).await else {
        return;
    };
    // QueryRequest tokens are stateless: empty POSTs store nothing for anyone.
    for _ in 0..6 {
        assert_eq!(tam.post(b"").await.status(), 200);
    }
    assert_eq!(tam.tam.store().open_tokens("peer:127.0.0.1", now()).await.unwrap(), 0);
    // Update tokens stay bounded per device: only the 3 newest of 5 remain open.
    let agent = Agent::p256();
    provision(&tam, &agent).await;
    for _ in 0..5 {
        let request = open_session(&tam, &agent).await;
        assert_eq!(tam.post(&agent.query_response(&request, &[], &[])).await.status(), 200);
    }
    let holder = hex::encode(agent.thumbprint());
    assert_eq!(tam.tam.store().open_tokens(&holder, now()).await.unwrap(), 3);
    tam.finish().await;
}

/// Regression: QueryRequest tokens used to be bounded per client address with the oldest
/// evicted, so a few unauthenticated empty POSTs (or other devices behind the same NAT)
/// destroyed a device's session in progress.
async fn empty_posts_cannot_evict_a_device_session(db: Db) {
    let Some(tam) = TestTam::start(db).await else { return };
    let agent = Agent::p256();
    provision(&tam, &agent).await;
    let request = open_session(&tam, &agent).await;
    let query_token = request.token.as_ref().unwrap().as_bytes().to_vec();

    // 1000 empty POSTs from the same address, ten at a time.
    let mut flood = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let client = tam.client.clone();
        let url = tam.url.clone();
        flood.spawn(async move {
            for _ in 0..100 {
                let r = client.post(&url).header("accept", TEEP).send().await.unwrap();
                assert_eq!(r.status(), 200);
            }
        });
    }
    flood.join_all().await;

    assert!(tam.tam.query_token_is_open(&query_token, now()).await.unwrap());
    let reply = tam.post(&agent.query_response(&request, &[], &[])).await;
    assert_eq!(reply.status(), 200, "the device's session survived the flood");
    let Message::Update(update) = agent.open(&reply.bytes().await.unwrap(), &tam.tam_public_keys())
    else {
        panic!("expected Update")
    };
    assert_eq!(update.manifest_list.map(|m| m.len()), Some(1));
    // Still single use.
    assert_eq!(tam.post(&agent.query_response(&request, &[], &[])).await.status(), 204);
    tam.finish().await;
}

/// A token from another TAM secret, an expired token and a token of the right length with a
/// forged MAC are all dropped, and a correctly signed response with them changes nothing.
async fn forged_and_expired_query_tokens_are_dropped(db: Db) {
    let Some(tam) = TestTam::start_with(db, |c| c.token_timeout_secs = 60).await else {
        return;
    };
    let agent = Agent::p256();
    provision(&tam, &agent).await;
    let request = open_session(&tam, &agent).await;
    let real = request.token.clone().unwrap();

    let other = teep_tam::token::TokenSecret::generate().unwrap();
    let foreign = other.issue(16, now() + 60).unwrap();
    let mut flipped = real.as_bytes().to_vec();
    flipped[0] ^= 1;
    for token in [foreign.as_bytes().to_vec(), flipped, vec![0; 16]] {
        let mut forged = request.clone();
        forged.token = Some(teep_proto::Token::from_slice(&token).unwrap());
        let reply = tam.post(&agent.query_response(&forged, &[], &[])).await;
        assert_eq!(reply.status(), 204);
    }
    assert!(tam.admin.status(&agent.thumbprint()).await.unwrap().device.last_seen.is_none());

    // Past its expiry the real token is refused, however well signed the answer.
    let late = teep_tam::Incoming {
        body: Some(&agent.query_response(&request, &[], &[])),
        wire: teep_tam::Wire::Rfc,
        peer: None,
        now: now() + 61,
    };
    assert_eq!(tam.tam.handle(late).await.unwrap(), teep_tam::Reply::Empty);
    assert!(!tam.tam.query_token_is_open(real.as_bytes(), now() + 61).await.unwrap());
    // In time it is accepted, once.
    assert_eq!(tam.post(&agent.query_response(&request, &[], &[])).await.status(), 200);
    tam.finish().await;
}

async fn blocked_device_is_not_served(db: Db) {
    let Some(tam) = TestTam::start(db).await else { return };
    let agent = Agent::p256();
    provision(&tam, &agent).await;
    tam.admin.set_blocked(&agent.thumbprint(), true).await.unwrap();
    let request = open_session(&tam, &agent).await;
    let query_token = request.token.as_ref().unwrap().as_bytes().to_vec();
    assert_eq!(tam.post(&agent.query_response(&request, &[], &[])).await.status(), 204);
    assert!(tam.tam.query_token_is_open(&query_token, now()).await.unwrap());
    tam.admin.set_blocked(&agent.thumbprint(), false).await.unwrap();
    assert_eq!(tam.post(&agent.query_response(&request, &[], &[])).await.status(), 200);
    tam.finish().await;
}

async fn query_response_without_tc_list_gets_error_update(db: Db) {
    let Some(tam) = TestTam::start(db).await else { return };
    let agent = Agent::p256();
    provision(&tam, &agent).await;
    let request = open_session(&tam, &agent).await;
    let response = teep_proto::QueryResponse { token: request.token.clone(), ..Default::default() };
    let reply = tam.post(&agent.seal(&Message::QueryResponse(response))).await;
    assert_eq!(reply.status(), 200);
    let bytes = reply.bytes().await.unwrap();
    let Message::Update(update) = agent.open(&bytes, &tam.tam_public_keys()) else {
        panic!("expected Update")
    };
    assert_eq!(update.err_code, Some(ErrCode::PERMANENT_ERROR));
    assert!(update.err_msg.is_some());
    assert!(update.manifest_list.is_none());
    // The token was spent by the validly signed response.
    let query_token = request.token.as_ref().unwrap().as_bytes().to_vec();
    assert!(!tam.tam.query_token_is_open(&query_token, now()).await.unwrap());
    tam.finish().await;
}

/// Every single-byte mutation and every truncation of a valid QueryResponse is handled
/// without a panic or a local error; at most one of them (one that still verifies) is
/// answered, because the token can be consumed only once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_messages_never_panic() {
    let Some(tam) = TestTam::start(Db::Sqlite).await else { return };
    let agent = Agent::p256();
    provision(&tam, &agent).await;
    let request = open_session(&tam, &agent).await;
    let good = agent.query_response(&request, &[example_component()], &[]);
    let mut answered = 0;
    let mut inputs: Vec<Vec<u8>> = (0..good.len()).map(|i| good[..i].to_vec()).collect();
    for i in 0..good.len() {
        for flip in [0x01_u8, 0x80, 0xff] {
            let mut m = good.clone();
            m[i] ^= flip;
            inputs.push(m);
        }
    }
    for body in &inputs {
        let incoming = teep_tam::Incoming {
            body: if body.is_empty() { None } else { Some(body) },
            wire: teep_tam::Wire::Rfc,
            peer: None,
            now: now(),
        };
        let reply = tam.tam.handle(incoming).await.unwrap();
        if body.is_empty() {
            continue;
        }
        if reply != teep_tam::Reply::Empty {
            answered += 1;
        }
    }
    assert!(answered <= 1, "{answered} mutated messages were answered");
    tam.finish().await;
}
