//! Faults: the TAM killed mid-session and restarted on the same database, and the database
//! unavailable for a while, with real Agents (teep-agent's software TEE) over loopback HTTP.
//!
//! * Kill: the TAM runs on a runtime of its own; dropping that runtime ends every task at
//!   once (listener, connections, queries mid-transaction), as a killed process would. A new
//!   TAM opened on the same configuration (keys, database) takes over; devices whose request
//!   failed start a new session. Every device converges: the component installed on the
//!   Agent and recorded by the TAM, and a further session finds nothing to do.
//! * Database outage (SQLite: another process holds the write lock; PostgreSQL: the database
//!   refuses connections and the TAM's are terminated): requests that need the database get
//!   a clean 500 (draft-ietf-teep-otrp-over-http-15 §6.4) and change nothing; once the
//!   database is back, the same TAM process serves again without restart.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Db, TestTam, example_manifest_id, hex_vector, vector_text};
use teep_agent::software::{KeyKind, SoftwareAgent};
use teep_tam::{PolicyTarget, Tam, TamConfig};

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

on_both_databases!(killed_mid_session_and_restarted_every_device_converges, database_outage);

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// A TAM on its own runtime and thread: killing it drops every task it runs.
struct TamProcess {
    address: SocketAddr,
    kill: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TamProcess {
    /// Opens the TAM of `config` and serves it on `address` (port 0: any).
    fn start(config: TamConfig, address: SocketAddr) -> Self {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (kill_tx, kill_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let bound = runtime.block_on(async move {
                let tam = Arc::new(Tam::open(config).await.unwrap());
                let listener = tokio::net::TcpListener::bind(address).await.unwrap();
                let bound = listener.local_addr().unwrap();
                tokio::spawn(async move {
                    let _ = teep_tam::serve_on(tam, listener, std::future::pending()).await;
                });
                bound
            });
            ready_tx.send(bound).unwrap();
            let _ = kill_rx.recv();
            // No graceful anything: every connection, request and query is dropped.
            runtime.shutdown_background();
        });
        let address = ready_rx.recv().unwrap();
        TamProcess { address, kill: Some(kill_tx), thread: Some(thread) }
    }

    fn url(&self) -> String {
        format!("http://{}/tam", self.address)
    }

    fn kill(mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for TamProcess {
    fn drop(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Catalog and policy: every device must hold suit_integrated.
async fn provision(tam: &TestTam) {
    let signer = vector_text("teep-protocol/example-signer-public.pem");
    tam.admin.add_signer("example", signer.as_bytes(), 1).await.unwrap();
    tam.admin.add_tc(&hex_vector("teep-protocol/suit_integrated.hex.txt"), 1).await.unwrap();
    tam.admin.require(&PolicyTarget::AllDevices, &example_manifest_id(), 0).await.unwrap();
}

/// One session; Ok(rounds) when it ended with 204 or an empty Agent answer. `updates` counts
/// Updates received (the kill waits until some sessions are in the middle).
async fn session(
    client: &reqwest::Client,
    url: &str,
    agent: &mut SoftwareAgent,
    updates: &AtomicUsize,
) -> Result<u32, String> {
    let mut body = Vec::new();
    for round in 1..=8_u32 {
        let (status, message) = common::post_teep(client, url, &body).await?;
        match status {
            204 => return Ok(round),
            200 => {}
            other => return Err(format!("HTTP {other}")),
        }
        if round == 2 {
            updates.fetch_add(1, Ordering::SeqCst);
        }
        body = agent.handle(&message, now()).map_err(|e| format!("agent: {e}"))?;
        if body.is_empty() {
            return Ok(round);
        }
    }
    Err("session did not end".into())
}

async fn killed_mid_session_and_restarted_every_device_converges(db: Db) {
    const DEVICES: usize = 24;
    let Some(tam) = TestTam::start(db).await else { return };
    provision(&tam).await;
    let mut devices = Vec::new();
    for i in 0..DEVICES {
        devices.push(
            common::real_device(&tam, if i % 2 == 0 { KeyKind::P256 } else { KeyKind::Ed25519 })
                .await,
        );
    }
    let config = tam.tam.config().clone();
    let first = TamProcess::start(config.clone(), "127.0.0.1:0".parse().unwrap());
    let address = first.address;
    let (url_tx, url_rx) = tokio::sync::watch::channel(first.url());

    // Devices retry a new session after any failure until one completes with the component
    // installed, then run one more that must find nothing to do.
    let client = reqwest::Client::new();
    let updates = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for mut device in devices {
        let (client, url_rx) = (client.clone(), url_rx.clone());
        let (updates, failures) = (Arc::clone(&updates), Arc::clone(&failures));
        tasks.push(tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(45);
            loop {
                assert!(Instant::now() < deadline, "device did not converge");
                let url = url_rx.borrow().clone();
                match session(&client, &url, &mut device.agent, &updates).await {
                    Ok(_) if device.agent.tc_list().len() == 1 => break,
                    Ok(_) => {}
                    Err(_) => {
                        failures.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            device
        }));
    }

    // Kill once a quarter of the devices hold an Update they have not answered yet.
    while updates.load(Ordering::SeqCst) < DEVICES / 4 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill();
    let killed_at = updates.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Restart on the same port when it is free again, else on another one.
    let second = std::panic::catch_unwind(|| TamProcess::start(config.clone(), address))
        .unwrap_or_else(|_| TamProcess::start(config.clone(), "127.0.0.1:0".parse().unwrap()));
    url_tx.send(second.url()).unwrap();

    let mut devices = Vec::new();
    for task in tasks {
        devices.push(task.await.unwrap());
    }
    eprintln!(
        "killed after {killed_at} Updates; {} failed requests retried",
        failures.load(Ordering::SeqCst)
    );
    assert!(failures.load(Ordering::SeqCst) > 0, "the kill interrupted no session");

    // Converged on both sides, and nothing left to do.
    for device in &mut devices {
        let status = tam.admin.status(&device.kid).await.unwrap();
        assert_eq!(status.components.len(), 1, "{:?}", status.events);
        // A device whose Success died with the first TAM is known from its tc-list, which
        // names the component but not its sequence number.
        assert!(matches!(status.components[0].sequence_number, None | Some(3)));
        let rounds = session(&client, &second.url(), &mut device.agent, &updates).await.unwrap();
        assert_eq!(rounds, 2, "QueryRequest -> QueryResponse -> 204");
        assert_eq!(device.agent.tc_list().len(), 1);
    }
    second.kill();
    tam.finish().await;
}

/// Makes the database unavailable to the TAM until the guard is restored.
enum Outage {
    /// Another connection holds SQLite's write lock (BEGIN IMMEDIATE).
    Sqlite(sqlx::AnyConnection),
    /// The PostgreSQL database refuses connections; the TAM's were terminated.
    Postgres { admin: sqlx::AnyConnection, database: String },
}

impl Outage {
    async fn begin(config: &TamConfig) -> Self {
        use sqlx::Connection;
        let url = config.database_url();
        if url.starts_with("sqlite:") {
            let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
            sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut conn).await.unwrap();
            Outage::Sqlite(conn)
        } else {
            let database = url.rsplit('/').next().unwrap().to_owned();
            let mut admin = sqlx::AnyConnection::connect("postgres://postgres@127.0.0.1:5432/test")
                .await
                .unwrap();
            let sql = format!(
                "ALTER DATABASE {database} ALLOW_CONNECTIONS false; \
                 SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{database}' AND pid <> pg_backend_pid()"
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await.unwrap();
            Outage::Postgres { admin, database }
        }
    }

    async fn end(self) {
        use sqlx::Connection;
        match self {
            Outage::Sqlite(mut conn) => {
                sqlx::raw_sql("ROLLBACK").execute(&mut conn).await.unwrap();
                conn.close().await.unwrap();
            }
            Outage::Postgres { mut admin, database } => {
                let sql = format!("ALTER DATABASE {database} ALLOW_CONNECTIONS true");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await.unwrap();
                admin.close().await.unwrap();
            }
        }
    }
}

async fn database_outage(db: Db) {
    let Some(tam) = TestTam::start(db).await else { return };
    provision(&tam).await;
    let mut device = common::real_device(&tam, KeyKind::P256).await;
    let client = reqwest::Client::new();
    let counter = AtomicUsize::new(0);

    // A session before the outage works (and the TAM has its token secret cached).
    let (status, query_request) = common::post_teep(&client, &tam.url, b"").await.unwrap();
    assert_eq!(status, 200);

    let outage = Outage::begin(tam.tam.config()).await;
    let started = Instant::now();
    // The QueryResponse needs the database (device lookup, token consumption): 500, no body.
    let query_response = device.agent.handle(&query_request, now()).unwrap();
    let (status, body) = common::post_teep(&client, &tam.url, &query_response).await.unwrap();
    assert!(status == 500 || status == 503, "got {status}");
    assert!(body.is_empty(), "an error carries no TEEP message");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the error came only after {:?}",
        started.elapsed()
    );
    // Opening a session still answers, cleanly, either way.
    let (status, _) = common::post_teep(&client, &tam.url, b"").await.unwrap();
    assert!(matches!(status, 200 | 500 | 503), "got {status}");
    outage.end().await;

    // The same TAM process recovers: the unchanged QueryResponse (its token was not
    // consumed by the failed attempt) or a new session installs the component.
    let (status, update) = common::post_teep(&client, &tam.url, &query_response).await.unwrap();
    let rounds = if status == 200 {
        let success = device.agent.handle(&update, now()).unwrap();
        let (status, _) = common::post_teep(&client, &tam.url, &success).await.unwrap();
        assert_eq!(status, 204);
        3
    } else {
        assert_eq!(status, 204, "a retried QueryResponse is either served or dropped");
        session(&client, &tam.url, &mut device.agent, &counter).await.unwrap()
    };
    assert_eq!(rounds, 3, "QueryRequest -> QueryResponse -> Update -> Success");
    assert_eq!(device.agent.tc_list().len(), 1);
    let status = tam.admin.status(&device.kid).await.unwrap();
    assert_eq!(status.components.len(), 1, "{:?}", status.events);
    assert_eq!(session(&client, &tam.url, &mut device.agent, &counter).await.unwrap(), 2);
    tam.finish().await;
}
