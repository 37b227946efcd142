//! Load: at least 1 000 concurrent simulated devices (the real TEEP Agent core on a temp-dir
//! software TEE, real signatures, real HTTP over loopback) against one TAM for a bounded time.
//!
//! Every Agent message (QueryResponse, Success) is posted a second time right after the TAM
//! answered the first copy; the TAM must drop each replay (draft-ietf-teep-protocol-26 §8.1
//! token matching: a token is used once) with 204, and its history must count exactly the
//! originals. Asserted: zero failed sessions, zero accepted replays, every device holds the
//! required Trusted Component on both sides.
//!
//! The full run (1 000 devices) signs about ten thousand ECDSA/EdDSA signatures, which takes
//! minutes in an unoptimised build, so it is `#[ignore]`d; run it with
//! `cargo test --release -p teep-tam --test load -- --ignored --nocapture`. The default test
//! runs the same code with 96 devices. `TEEP_LOAD_AGENTS` and `TEEP_LOAD_SECS` (how long each
//! device keeps starting new sessions after its first) override the sizes.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Db, TestTam, example_manifest_id, hex_vector, vector_text};
use teep_agent::software::{KeyKind, SoftwareAgent};
use teep_tam::PolicyTarget;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Awaits every future, in order, with the blocking work spread over the runtime.
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(f);
    }
    let mut out = Vec::new();
    let mut pinned: Vec<_> = set.into_iter().map(Box::pin).collect();
    // Poll all of them together: a simple join_all without the futures crate.
    let mut results: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in pinned.iter_mut().zip(results.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    out.extend(results.into_iter().flatten());
    out
}

/// What one device did.
#[derive(Default)]
struct Tally {
    sessions: u64,
    failures: Vec<String>,
    /// Agent messages posted (originals), by position in the session.
    query_responses: u64,
    successes: u64,
    /// Replays the TAM answered with anything but 204.
    accepted_replays: Vec<String>,
}

/// One TEEP session relayed Broker-style, each Agent message replayed once.
async fn session(
    client: &reqwest::Client,
    url: &str,
    agent: &mut SoftwareAgent,
    tally: &mut Tally,
) -> Result<(), String> {
    let mut body = Vec::new();
    for round in 0..8_u32 {
        let (status, message) = common::post_teep(client, url, &body).await?;
        if !body.is_empty() {
            match round {
                1 => tally.query_responses += 1,
                _ => tally.successes += 1,
            }
            let (replay_status, _) = common::post_teep(client, url, &body).await?;
            if replay_status != 204 {
                tally.accepted_replays.push(format!("round {round}: replay got {replay_status}"));
            }
        }
        match status {
            204 => return Ok(()),
            200 => {}
            other => return Err(format!("round {round}: HTTP {other}")),
        }
        body = agent.handle(&message, now()).map_err(|e| format!("agent: {e}"))?;
        if body.is_empty() {
            return Ok(());
        }
    }
    Err("session did not end within 8 rounds".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_agents_no_failures_no_replays() {
    run(env_or("TEEP_LOAD_AGENTS", 96), Duration::from_secs(env_or("TEEP_LOAD_SECS", 2))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes in a debug build: run with --release -- --ignored"]
async fn thousand_concurrent_agents_no_failures_no_replays() {
    let agents = env_or("TEEP_LOAD_AGENTS", 1000).max(1000);
    run(agents, Duration::from_secs(env_or("TEEP_LOAD_SECS", 10))).await;
}

async fn run(agents: u64, window: Duration) {
    // A pool wide enough for the load; SQLite serialises writers anyway.
    let Some(tam) = TestTam::start_with(Db::Sqlite, |c| c.max_db_connections = 16).await else {
        return;
    };
    let admin = &tam.admin;
    let signer = vector_text("teep-protocol/example-signer-public.pem");
    admin.add_signer("example", signer.as_bytes(), 1).await.unwrap();
    admin.add_tc(&hex_vector("teep-protocol/suit_integrated.hex.txt"), 1).await.unwrap();
    admin.require(&PolicyTarget::AllDevices, &example_manifest_id(), 0).await.unwrap();

    let setup = Instant::now();
    let mut devices = Vec::new();
    for chunk in (0..agents).collect::<Vec<_>>().chunks(32) {
        let made = chunk.iter().map(|i| {
            common::real_device(&tam, if i % 2 == 0 { KeyKind::P256 } else { KeyKind::Ed25519 })
        });
        devices.extend(futures_join_all(made).await);
    }
    eprintln!("{agents} devices set up in {:.1?}", setup.elapsed());

    // All devices start together and each keeps running sessions until the window closes.
    let client = reqwest::Client::builder().pool_max_idle_per_host(2048).build().unwrap();
    let url = Arc::new(tam.url.clone());
    let start = Arc::new(tokio::sync::Barrier::new(devices.len()));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let begun = Instant::now();
    let mut tasks = Vec::new();
    for mut device in devices {
        let (client, url, start) = (client.clone(), Arc::clone(&url), Arc::clone(&start));
        let (in_flight, peak) = (Arc::clone(&in_flight), Arc::clone(&peak));
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            start.wait().await;
            let until = Instant::now() + window;
            loop {
                let now_in = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now_in, Ordering::SeqCst);
                let outcome = session(&client, &url, &mut device.agent, &mut tally).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                tally.sessions += 1;
                if let Err(e) = outcome {
                    tally.failures.push(e);
                }
                if Instant::now() >= until {
                    break;
                }
            }
            (device, tally)
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    let elapsed = begun.elapsed();

    let sessions: u64 = results.iter().map(|(_, t)| t.sessions).sum();
    let failures: Vec<_> = results.iter().flat_map(|(_, t)| t.failures.iter()).collect();
    let replays: Vec<_> = results.iter().flat_map(|(_, t)| t.accepted_replays.iter()).collect();
    eprintln!(
        "{sessions} sessions in {elapsed:.1?} ({:.1}/s), peak {} concurrent, {} failed, {} \
         replays accepted",
        sessions as f64 / elapsed.as_secs_f64(),
        peak.load(Ordering::SeqCst),
        failures.len(),
        replays.len()
    );
    assert!(peak.load(Ordering::SeqCst) as u64 >= agents.min(1000) * 9 / 10, "not concurrent");
    assert!(failures.is_empty(), "failed sessions: {:?}", &failures[..failures.len().min(10)]);
    assert!(replays.is_empty(), "accepted replays: {:?}", &replays[..replays.len().min(10)]);

    // The TAM's history counts only the originals: no replay was processed.
    let store = tam.admin.store();
    for (device, tally) in &results {
        let events = store.events(Some(&device.kid), 10_000).await.unwrap();
        let count = |kind: &str| events.iter().filter(|e| e.kind == kind).count() as u64;
        assert_eq!(count("query-response"), tally.query_responses, "QueryResponses processed");
        assert_eq!(count("success"), tally.successes, "Successes processed");
        assert_eq!(tally.successes, 1, "exactly one install per device");
        assert_eq!(device.agent.tc_list().len(), 1, "Agent holds the component");
        let status = tam.admin.status(&device.kid).await.unwrap();
        assert_eq!(status.components.len(), 1, "TAM records the component");
        assert_eq!(status.components[0].sequence_number, Some(3));
    }
    drop(results);
    tam.finish().await;
}
