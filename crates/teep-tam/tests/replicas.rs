//! Two TAM replicas on one PostgreSQL database serve one fleet (issue 5, "Storage": any
//! process can continue any session, no token is used twice).
//!
//! Two `Tam` instances, each with its own connection pool and its own loopback HTTP server,
//! share one scratch database (prefix `h4_`, dropped afterwards), the TAM keys and, through the
//! database, the QueryRequest token secret. At least 200 real Agent cores (software TEE, real
//! signatures) run their sessions at the same time, alternating between the replicas: the
//! QueryRequest comes from one, the QueryResponse goes to the other, the Success to the first.
//!
//! Every Agent message is also sent to the replica it was not meant for. In a device's first
//! session the QueryResponse and its copy race, sent at once to both replicas: exactly one may
//! produce the Update (draft-ietf-teep-protocol-26 §8.1: the token expires with the first
//! validly signed response). Later copies go after the original and must be dropped (204). The
//! TAM's history must count each original once and no copy, the used-token table must hold
//! one entry per QueryRequest answered, and every device must end with the required Trusted
//! Component on the Agent and in the TAM's record.
//!
//! `TEEP_REPLICA_DEVICES` raises the number of devices (at least 200).

mod common;

use std::sync::Arc;

use common::{Db, ScratchPg, TestTam, example_manifest_id, hex_vector, post_teep, vector_text};
use sqlx::Connection as _;
use teep_agent::software::KeyKind;
use teep_tam::PolicyTarget;

/// Sessions each device runs: the first installs, the second finds nothing to do.
const SESSIONS: u64 = 2;

/// What one device's sessions did, as seen from the Broker side.
#[derive(Default, Debug)]
struct Tally {
    /// QueryResponses sent (originals).
    query_responses: u64,
    /// Successes sent (originals).
    successes: u64,
    /// Copies a replica accepted although the token was already used.
    accepted_copies: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_one_postgres_fleet_and_never_reuse_a_token() {
    let Some(db) = ScratchPg::create("h4_replicas").await else { return };
    let devices: usize = std::env::var("TEEP_REPLICA_DEVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
        .max(200);

    // Two TAMs, separate pools and servers, one database, the same keys.
    let url = db.url.clone();
    let first = TestTam::start_with(Db::Sqlite, |c| {
        c.database_url = Some(url);
        c.max_db_connections = 6;
    })
    .await
    .unwrap();
    let (url, first_config) = (db.url.clone(), first.tam.config().clone());
    let second = TestTam::start_with(Db::Sqlite, |c| {
        c.database_url = Some(url);
        c.max_db_connections = 6;
        c.keys = teep_tam::config::KeyFiles {
            p256: first_config.resolve(&first_config.keys.p256),
            ed25519: first_config.resolve(&first_config.keys.ed25519),
        };
    })
    .await
    .unwrap();
    assert_eq!(first.tam_public_keys(), second.tam_public_keys(), "replicas share the keys");

    // The catalog and the policy, written through the first replica's store.
    let signer = vector_text("teep-protocol/example-signer-public.pem");
    first.admin.add_signer("example", signer.as_bytes(), 1).await.unwrap();
    first.admin.add_tc(&hex_vector("teep-protocol/suit_integrated.hex.txt"), 1).await.unwrap();
    first.admin.require(&PolicyTarget::AllDevices, &example_manifest_id(), 0).await.unwrap();

    let mut fleet = Vec::new();
    for chunk in (0..devices).collect::<Vec<_>>().chunks(32) {
        let mut made = Vec::new();
        for i in chunk {
            let kind = if i.is_multiple_of(2) { KeyKind::P256 } else { KeyKind::Ed25519 };
            // Enrol through either replica: the fleet is one.
            let tam = if i.is_multiple_of(3) { &second } else { &first };
            made.push(common::real_device(tam, kind));
        }
        for device in made {
            fleet.push(device.await);
        }
    }

    // All devices at once; device i opens its sessions on replica i % 2.
    let urls = Arc::new([first.url.clone(), second.url.clone()]);
    let client = reqwest::Client::builder().pool_max_idle_per_host(4 * devices).build().unwrap();
    let start = Arc::new(tokio::sync::Barrier::new(fleet.len()));
    let mut tasks = Vec::new();
    for (i, mut device) in fleet.into_iter().enumerate() {
        let (urls, client, start) = (Arc::clone(&urls), client.clone(), Arc::clone(&start));
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let mut tally = Tally::default();
            let mut result = Ok(());
            for session in 0..SESSIONS {
                let opener = (i + session as usize) % 2;
                result = run_session(&client, &urls, opener, session == 0, &mut device, &mut tally)
                    .await
                    .map_err(|e| format!("device {i}, session {session}: {e}"));
                if result.is_err() {
                    break;
                }
            }
            (device, tally, result)
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    let failures: Vec<&String> = results.iter().filter_map(|(_, _, r)| r.as_ref().err()).collect();
    assert!(failures.is_empty(), "failed sessions: {:?}", &failures[..failures.len().min(10)]);
    let copies: Vec<&String> =
        results.iter().flat_map(|(_, t, _)| t.accepted_copies.iter()).collect();
    assert!(copies.is_empty(), "copies accepted: {:?}", &copies[..copies.len().min(10)]);

    // The shared history counts every original once and no copy; the device ends up with the
    // component on both sides.
    let store = first.admin.store();
    for (device, tally, _) in &results {
        assert_eq!(tally.query_responses, SESSIONS);
        assert_eq!(tally.successes, 1);
        let events = store.events(Some(&device.kid), 1_000).await.unwrap();
        let count = |kind: &str| events.iter().filter(|e| e.kind == kind).count() as u64;
        assert_eq!(count("query-response"), tally.query_responses, "QueryResponses processed");
        assert_eq!(count("update"), 1, "one Update per device");
        assert_eq!(count("success"), tally.successes, "Successes processed");
        assert_eq!(device.agent.tc_list().len(), 1, "the Agent holds the component");
        for tam in [&first, &second] {
            let status = tam.admin.status(&device.kid).await.unwrap();
            assert_eq!(status.components.len(), 1, "the TAM records the component");
            assert_eq!(status.components[0].sequence_number, Some(3));
        }
    }

    // One used-token entry per QueryRequest answered, one consumed Update token per device.
    let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    let used: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM used_tokens").fetch_one(&mut conn).await.unwrap();
    assert_eq!(used as u64, SESSIONS * devices as u64, "used QueryRequest tokens");
    let consumed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tokens WHERE consumed = 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(consumed as u64, devices as u64, "consumed Update tokens");
    let outstanding: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tokens WHERE consumed = 0")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(outstanding, 0, "every Update token was answered");
    conn.close().await.unwrap();
    eprintln!(
        "{devices} devices, {} sessions over 2 replicas, {used} QueryRequest tokens used once",
        SESSIONS * devices as u64
    );

    drop(results);
    second.finish().await;
    first.finish().await;
    drop(db);
}

/// One session opened on replica `opener` and continued on the other; every Agent message is
/// also sent to the replica it was not meant for. `installs` says whether the device still
/// needs the component, so the QueryResponse must produce exactly one Update.
async fn run_session(
    client: &reqwest::Client,
    urls: &[String; 2],
    opener: usize,
    installs: bool,
    device: &mut common::RealDevice,
    tally: &mut Tally,
) -> Result<(), String> {
    let [a, b] = [&urls[opener], &urls[1 - opener]];
    let now = unix_now();

    // QueryRequest from one replica.
    let (status, query_request) = post_teep(client, a, b"").await?;
    if status != 200 {
        return Err(format!("empty POST to the opener: HTTP {status}"));
    }
    let query_response =
        device.agent.handle(&query_request, now).map_err(|e| format!("agent: {e}"))?;
    tally.query_responses += 1;

    if !installs {
        // Nothing to install: the original goes to the other replica, then its copy back to
        // the opener; both answer 204 and only the original may count (checked in history).
        let (status, _) = post_teep(client, b, &query_response).await?;
        if status != 204 {
            return Err(format!("QueryResponse of an up-to-date device: HTTP {status}"));
        }
        let (copy, _) = post_teep(client, a, &query_response).await?;
        if copy != 204 {
            tally.accepted_copies.push(format!("QueryResponse copy got HTTP {copy}"));
        }
        return Ok(());
    }

    // The QueryResponse and its copy race to both replicas: exactly one Update.
    let (to_b, to_a) =
        tokio::join!(post_teep(client, b, &query_response), post_teep(client, a, &query_response));
    let ((status_b, body_b), (status_a, body_a)) = (to_b?, to_a?);
    let (update, issuer) = match (status_b, status_a) {
        (200, 204) => (body_b, 1 - opener),
        (204, 200) => (body_a, opener),
        (200, 200) => {
            tally.accepted_copies.push("QueryResponse answered by both replicas".into());
            return Ok(());
        }
        other => return Err(format!("QueryResponse and its copy: HTTP {other:?}")),
    };
    let success = device.agent.handle(&update, now).map_err(|e| format!("agent: {e}"))?;
    if success.is_empty() {
        return Err("the Agent did not answer the Update".into());
    }
    tally.successes += 1;

    // The Success to the replica that did not send the Update, then a copy to the one that did.
    let (status, _) = post_teep(client, &urls[1 - issuer], &success).await?;
    if status != 204 {
        return Err(format!("Success: HTTP {status}"));
    }
    let (copy, _) = post_teep(client, &urls[issuer], &success).await?;
    if copy != 204 {
        tally.accepted_copies.push(format!("Success copy got HTTP {copy}"));
    }
    if device.agent.tc_list().len() != 1 {
        return Err("the Agent does not hold the component after its Success".into());
    }
    Ok(())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}
