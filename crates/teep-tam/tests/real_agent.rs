//! End to end with the real TEEP Agent core (teep-agent's software TEE, in process): the TAM
//! installs the published suit_integrated example, then deletes it, over loopback HTTP.

mod common;

use common::{Db, TestTam, example_manifest_id, hex_vector, vector_text};
use teep_agent::software::{InitOptions, KeyKind};
use teep_tam::{PolicyTarget, Wire};

/// Runs one TEEP session: Broker-style relay between the TAM and the Agent until 204.
async fn session(tam: &TestTam, agent: &mut teep_agent::software::SoftwareAgent) -> usize {
    let mut body = Vec::new();
    for round in 1..=8 {
        let reply = tam.post(&body).await;
        if reply.status() == 204 {
            return round;
        }
        assert_eq!(reply.status(), 200);
        let message = reply.bytes().await.unwrap();
        body = agent.handle(&message, now()).unwrap();
        if body.is_empty() {
            return round;
        }
    }
    panic!("session did not end");
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installs_and_deletes_with_the_real_agent() {
    run(Db::Sqlite, KeyKind::P256).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installs_and_deletes_with_the_real_agent_ed25519_on_postgres() {
    run(Db::Postgres, KeyKind::Ed25519).await;
}

async fn run(db: Db, key_kind: KeyKind) {
    let Some(tam) = TestTam::start(db).await else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = common::real_agent_config(&tam);
    let options = InitOptions { key_kind, config };
    let initialized = teep_agent::software::init(dir.path(), &options).unwrap();
    let mut agent = teep_agent::software::open(dir.path()).unwrap();

    // The operator enrols the device, registers the signer, uploads the TC, sets policy.
    let admin = &tam.admin;
    admin.enroll_device(initialized.public_key_pem.as_bytes(), None, Wire::Rfc, 1).await.unwrap();
    let signer = vector_text("teep-protocol/example-signer-public.pem");
    admin.add_signer("example", signer.as_bytes(), 1).await.unwrap();
    admin.add_tc(&hex_vector("teep-protocol/suit_integrated.hex.txt"), 1).await.unwrap();
    admin.require(&PolicyTarget::AllDevices, &example_manifest_id(), 0).await.unwrap();

    // QueryRequest -> QueryResponse -> Update -> Success -> 204.
    assert_eq!(session(&tam, &mut agent).await, 3);
    let status = admin.status(&initialized.kid).await.unwrap();
    assert_eq!(status.components.len(), 1, "{:?}", status.events);
    assert_eq!(status.components[0].sequence_number, Some(3));
    assert_eq!(agent.tc_list().len(), 1);

    // Nothing left to do: QueryRequest -> QueryResponse -> 204.
    assert_eq!(session(&tam, &mut agent).await, 2);
    let status = admin.status(&initialized.kid).await.unwrap();
    assert!(status.components[0].digest.is_some(), "tc-list digest recorded");

    // Delete by policy: the Update carries unneeded-manifest-list.
    admin.delete(&PolicyTarget::Device(initialized.kid), &example_manifest_id()).await.unwrap();
    assert_eq!(session(&tam, &mut agent).await, 3);
    assert!(agent.tc_list().is_empty());
    assert!(admin.status(&initialized.kid).await.unwrap().components.is_empty());
    tam.finish().await;
}
