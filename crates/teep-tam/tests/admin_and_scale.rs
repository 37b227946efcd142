//! Catalog administration, updates to a newer version, the legacy endpoint, and several TAM
//! processes sharing one database.

mod common;

use std::sync::Arc;

use common::{Agent, Db, TestTam, example_component, example_manifest_id, hex_vector, provision};
use teep_proto::Message;
use teep_suit::builder::{ManifestBuilder, Payload};
use teep_tam::{AdminError, PolicyTarget};

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
    catalog_accepts_only_envelopes_from_registered_signers,
    update_to_a_newer_version,
    legacy_endpoint_session,
    concurrent_replays_yield_one_update,
);

async fn catalog_accepts_only_envelopes_from_registered_signers(db: Db) {
    let Some(tam) = TestTam::start(db).await else { return };
    let envelope = hex_vector("teep-protocol/suit_uri.hex.txt");
    assert!(matches!(tam.admin.add_tc(&envelope, 1).await, Err(AdminError::NoSigners)));

    // A signer whose key did not sign it.
    let other = Agent::p256();
    tam.admin.add_signer("other", other.public_pem().as_bytes(), 1).await.unwrap();
    assert!(matches!(tam.admin.add_tc(&envelope, 1).await, Err(AdminError::UntrustedEnvelope)));

    // The published example signer (SPKI PEM); the same key again is refused.
    let pem = common::vector_text("teep-protocol/example-signer-public.pem");
    tam.admin.add_signer("example", pem.as_bytes(), 1).await.unwrap();
    assert!(matches!(
        tam.admin.add_signer("again", pem.as_bytes(), 1).await,
        Err(AdminError::Exists(_))
    ));
    let row = tam.admin.add_tc(&envelope, 1).await.unwrap();
    assert_eq!(row.signer, "example");
    assert_eq!(row.component_id, example_manifest_id().as_cbor());
    assert!(matches!(tam.admin.add_tc(&envelope, 1).await, Err(AdminError::Exists(_))));
    let integrated = hex_vector("teep-protocol/suit_integrated.hex.txt");
    let integrated = tam.admin.add_tc(&integrated, 2).await;
    // suit_integrated has the same identity and sequence number as suit_uri.
    assert!(matches!(integrated, Err(AdminError::Exists(_))));

    // Tampered envelopes and garbage are refused.
    let mut tampered = envelope.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(tam.admin.add_tc(&tampered, 1).await.is_err());
    assert!(tam.admin.add_tc(&[0xa0], 1).await.is_err());
    assert!(tam.admin.add_tc(&[], 1).await.is_err());

    assert_eq!(tam.admin.tcs().await.unwrap().len(), 1);
    assert_eq!(tam.admin.tcs().await.unwrap()[0].envelope_len, envelope.len());
    assert_eq!(tam.admin.signers().await.unwrap().len(), 2);
    tam.admin.remove_signer("other").await.unwrap();
    assert!(tam.admin.remove_signer("other").await.is_err());
    assert_eq!(tam.admin.remove_tc(&example_manifest_id(), None).await.unwrap(), 1);
    assert!(tam.admin.tcs().await.unwrap().is_empty());
    tam.finish().await;
}

async fn update_to_a_newer_version(db: Db) {
    let Some(tam) = TestTam::start(db).await else { return };
    let agent = Agent::p256();
    provision(&tam, &agent).await;

    // First session installs version 3, the only one in the catalog.
    let (update, _) = session_update(&tam, &agent, &[]).await;
    let v3 = hex_vector("teep-protocol/suit_uri.hex.txt");
    assert_eq!(update.manifest_list.as_deref(), Some(&[v3][..]));
    assert_eq!(tam.post(&agent.success(update.token.as_ref().unwrap())).await.status(), 204);
    let status = tam.admin.status(&agent.thumbprint()).await.unwrap();
    assert_eq!(status.components[0].sequence_number, Some(3));

    // A newer version, built and signed by teep-rs with a second registered signer, and a
    // policy asking for at least 4 on this device.
    let signer = Agent::p256();
    tam.admin.add_signer("ours", signer.public_pem().as_bytes(), 1).await.unwrap();
    let component = teep_suit::ComponentId::new(example_component());
    let manifest_id = teep_suit::ComponentId::new(example_manifest_id().parts());
    let newer = ManifestBuilder::new(component, 4)
        .manifest_component_id(manifest_id)
        .vendor_id(hex::decode("C0DDD5F15243566087DB4F5B0AA26C2F").unwrap())
        .class_id(hex::decode("DB42F7093D8C55BAA8C5265FC5820F4E").unwrap())
        .payload(Payload::integrated(b"version 4".to_vec()))
        .sign(&signer.key, None)
        .unwrap();
    let row = tam.admin.add_tc(&newer, 2).await.unwrap();
    assert_eq!((row.sequence_number, row.signer.as_str()), (4, "ours"));
    let target = PolicyTarget::Device(agent.thumbprint());
    tam.admin.require(&target, &example_manifest_id(), 4).await.unwrap();

    // The device reports the component installed; the TAM knows it is at 3 and sends 4.
    let (update, _) = session_update(&tam, &agent, &[example_component()]).await;
    assert_eq!(update.manifest_list.as_deref(), Some(&[newer][..]));
    assert_eq!(tam.post(&agent.success(update.token.as_ref().unwrap())).await.status(), 204);
    let status = tam.admin.status(&agent.thumbprint()).await.unwrap();
    assert_eq!(status.components[0].sequence_number, Some(4));

    // Up to date now: nothing more to send.
    let request = open(&tam, &agent).await;
    let reply = tam.post(&agent.query_response(&request, &[example_component()], &[])).await;
    assert_eq!(reply.status(), 204);
    tam.finish().await;
}

async fn open(tam: &TestTam, agent: &Agent) -> teep_proto::QueryRequest {
    let body = tam.post(b"").await.bytes().await.unwrap();
    agent.query_request(&body, &tam.tam_public_keys())
}

async fn session_update(
    tam: &TestTam,
    agent: &Agent,
    installed: &[Vec<Vec<u8>>],
) -> (teep_proto::Update, Vec<u8>) {
    let request = open(tam, agent).await;
    let reply = tam.post(&agent.query_response(&request, installed, &[])).await;
    assert_eq!(reply.status(), 200);
    let bytes = reply.bytes().await.unwrap().to_vec();
    match agent.open(&bytes, &tam.tam_public_keys()) {
        Message::Update(update) => (update, bytes),
        other => panic!("expected Update, got {:?}", other.kind()),
    }
}

async fn legacy_endpoint_session(db: Db) {
    let Some(tam) = TestTam::start(db).await else { return };
    let mut agent = Agent::p256();
    agent.numbering = teep_proto::Numbering::Legacy;
    agent.alg = teep_cose::Algorithm::ES256;
    provision(&tam, &agent).await;

    // ES256 is not accepted on the RFC endpoint...
    let body = tam.post(b"").await.bytes().await.unwrap();
    let same_key = teep_cose::SigningKey::from_pkcs8_pem(&agent.key.to_pkcs8_pem()).unwrap();
    let mut rfc_agent = Agent { key: same_key, ..Agent::p256() };
    rfc_agent.alg = teep_cose::Algorithm::ES256;
    let request = rfc_agent.query_request(&body, &tam.tam_public_keys());
    let reply = tam.post(&rfc_agent.query_response(&request, &[], &[])).await;
    assert_eq!(reply.status(), 204);

    // ...but is on the legacy one, and the Update comes back in ES256 and legacy numbering.
    let body = tam.post_to(&tam.legacy_url, b"").await.bytes().await.unwrap();
    let request = agent.query_request(&body, &tam.tam_public_keys());
    let reply = tam.post_to(&tam.legacy_url, &agent.query_response(&request, &[], &[])).await;
    assert_eq!(reply.status(), 200);
    let bytes = reply.bytes().await.unwrap();
    let sign1 = teep_cose::Sign1::decode(&bytes).unwrap();
    assert_eq!(sign1.algorithm().unwrap(), teep_cose::Algorithm::ES256);
    let Message::Update(update) = agent.open(&bytes, &tam.tam_public_keys()) else {
        panic!("expected Update")
    };
    let success = agent.success(update.token.as_ref().unwrap());
    assert_eq!(tam.post_to(&tam.legacy_url, &success).await.status(), 204);
    let status = tam.admin.status(&agent.thumbprint()).await.unwrap();
    assert_eq!(status.device.wire, "legacy");
    assert_eq!(status.components.len(), 1);
    tam.finish().await;
}

async fn concurrent_replays_yield_one_update(db: Db) {
    let Some(tam) = TestTam::start(db).await else { return };
    let agent = Agent::p256();
    provision(&tam, &agent).await;
    let request = open(&tam, &agent).await;
    let message = Arc::new(agent.query_response(&request, &[], &[]));
    let tam = Arc::new(tam);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (tam, message) = (Arc::clone(&tam), Arc::clone(&message));
            tokio::spawn(async move { tam.post(&message).await.status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 204, 204, 204, 204, 204, 204, 204]);
    let Ok(tam) = Arc::try_unwrap(tam) else { panic!("tasks still hold the TAM") };
    tam.finish().await;
}

/// Two TAM processes (two pools, two servers) on one database: a session opened on the first
/// continues on the second, and a replay to the first is still refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tams_share_one_postgres_database() {
    let Some(first) = TestTam::start(Db::Postgres).await else { return };
    let url = first.tam.config().database_url.clone().unwrap();
    let Some(second) = TestTam::start_with(Db::Sqlite, |c| {
        c.database_url = Some(url);
        c.keys = teep_tam::config::KeyFiles {
            p256: first.tam.config().resolve(&first.tam.config().keys.p256),
            ed25519: first.tam.config().resolve(&first.tam.config().keys.ed25519),
        };
    })
    .await
    else {
        return;
    };
    let agent = Agent::p256();
    provision(&first, &agent).await;

    let body = first.post(b"").await.bytes().await.unwrap();
    let request = agent.query_request(&body, &first.tam_public_keys());
    let response = agent.query_response(&request, &[], &[]);
    let reply = second.post(&response).await;
    assert_eq!(reply.status(), 200);
    let bytes = reply.bytes().await.unwrap();
    let Message::Update(update) = agent.open(&bytes, &second.tam_public_keys()) else {
        panic!("expected Update")
    };
    assert_eq!(first.post(&response).await.status(), 204);
    assert_eq!(first.post(&agent.success(update.token.as_ref().unwrap())).await.status(), 204);
    assert_eq!(second.admin.status(&agent.thumbprint()).await.unwrap().components.len(), 1);
    second.finish().await;
    first.finish().await;
}
