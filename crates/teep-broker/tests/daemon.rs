//! The Broker daemon over loopback: real TAMs (teep_tam::serve_on, temporary SQLite files),
//! the real software-TEE Agent in process, the daemon's socket and policy-check timer.
//!
//! Covered: two TAMs with one down (the other still installs; the down one is retried with
//! backoff and picked up when it comes back), the timer's interval after success, RequestTA
//! over the socket, retries on network errors, socket permissions and replacement rules,
//! malformed client input, clean shutdown.

mod common;

use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{VECTORS, example_component, hex_vector, now};
use teep_agent::ipc::InProcess;
use teep_agent::software::{self, config::ConfigFile, config::TamEntry, init};
use teep_broker::daemon::{Daemon, bind_socket};
use teep_broker::daemon_config::DaemonConfig;
use teep_broker::daemon_socket::{DaemonClient, DaemonRequest, DaemonResponse, DaemonStatus};
use teep_broker::{Broker, BrokerConfig, IpcAgent};
use teep_tam::{Admin, ComponentKey, PolicyTarget, Tam, TamConfig, Wire};

const VENDOR_ID: &str = "c0ddd5f15243566087db4f5b0aa26c2f";
const CLASS_ID: &str = "db42f7093d8c55baa8c5265fc5820f4e";

type Agent = software::SoftwareAgent;

/// A TAM's state directory, keys and address; `up` runs it.
struct TamSite {
    config: TamConfig,
    addr: SocketAddr,
    uri: String,
    keys: Vec<String>,
}

impl TamSite {
    /// Keys generated and a loopback port reserved, but nothing listening yet.
    fn prepare(dir: &Path, name: &str) -> Self {
        let config = TamConfig { state_dir: dir.join(name), ..TamConfig::default() };
        let keys = teep_tam::TamKeys::load_or_generate(&config).expect("TAM keys");
        let keys = keys.public_keys().iter().map(|k| k.to_spki_pem()).collect();
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("reserve a port");
        let addr = probe.local_addr().expect("addr");
        drop(probe);
        Self { config, addr, uri: format!("http://{addr}/tam"), keys }
    }
}

/// A running TAM with the example signer and TC, the device enrolled and the TC required.
struct RunningTam {
    admin: Admin,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<(), teep_tam::ServeError>>,
}

impl RunningTam {
    async fn start(site: &TamSite, agent_pem: &str) -> Self {
        let tam = Arc::new(Tam::open(site.config.clone()).await.expect("TAM open"));
        let listener = tokio::net::TcpListener::bind(site.addr).await.expect("bind the TAM");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(teep_tam::serve_on(Arc::clone(&tam), listener, async move {
            let _ = stopped.await;
        }));
        let admin = Admin::new(tam.store().clone());
        let signer = std::fs::read(format!("{VECTORS}/teep-protocol/example-signer-public.pem"))
            .expect("signer");
        admin.add_signer("example", &signer, now()).await.expect("add signer");
        admin
            .add_tc(&hex_vector("teep-protocol/suit_integrated.hex.txt"), now())
            .await
            .expect("add TC");
        admin
            .enroll_device(agent_pem.as_bytes(), Some("d"), Wire::Rfc, now())
            .await
            .expect("enroll");
        let key = ComponentKey::from_parts(&example_component().0).expect("component key");
        admin.require(&PolicyTarget::AllDevices, &key, 0).await.expect("policy");
        Self { admin, stop, server }
    }

    async fn installed(&self, agent_kid: &[u8; 32]) -> Vec<Option<u64>> {
        let status = self.admin.status(agent_kid).await.expect("TAM status");
        status.components.iter().map(|c| c.sequence_number).collect()
    }

    async fn finish(self) {
        let _ = self.stop.send(());
        assert!(matches!(self.server.await, Ok(Ok(()))));
    }
}

/// A software-TEE Agent trusting the TAMs (in this order) and the example signer.
fn agent_in(dir: &Path, tams: &[&TamSite]) -> Agent {
    let signer =
        std::fs::read_to_string(format!("{VECTORS}/teep-protocol/example-signer-public.pem"))
            .expect("signer key");
    let mut config = ConfigFile::default();
    for site in tams {
        config.tams.push(TamEntry {
            uri: site.uri.clone(),
            numbering: None,
            public_keys: site.keys.clone(),
        });
    }
    config.tc_signers.push(signer);
    config.device.vendor_ids.push(VENDOR_ID.into());
    config.device.class_ids.push(CLASS_ID.into());
    init::init(dir, &init::InitOptions { config, ..Default::default() }).expect("agent init");
    software::open(dir).expect("agent open")
}

/// A daemon around the in-process Agent, served on `socket` until the returned sender fires.
struct RunningDaemon {
    client: DaemonClient,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), teep_broker::daemon::DaemonError>>,
}

impl RunningDaemon {
    fn start(agent: Agent, socket: &Path, daemon: DaemonConfig) -> Self {
        let config = BrokerConfig {
            allow_http: true,
            connect_timeout_ms: 500,
            request_timeout_ms: 5_000,
            daemon: DaemonConfig { socket: Some(socket.to_owned()), ..daemon },
            ..BrokerConfig::default()
        };
        let broker = Broker::new(IpcAgent::new(InProcess::new(agent)), config).expect("broker");
        let daemon = Arc::new(Daemon::new(broker));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(daemon.serve(async move {
            let _ = stopped.await;
        }));
        Self { client: DaemonClient::new(socket), stop, task }
    }

    async fn status(&self) -> DaemonStatus {
        for _ in 0..100 {
            match self.client.call(&DaemonRequest::Status {}).await {
                Ok(DaemonResponse::Status { status }) => return status,
                Ok(other) => panic!("status answered {other:?}"),
                // The socket may not be bound yet.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        panic!("the daemon never answered")
    }

    /// Polls the status until `done` holds (10 s at most).
    async fn wait_for(&self, what: &str, done: impl Fn(&DaemonStatus) -> bool) -> DaemonStatus {
        let start = Instant::now();
        loop {
            let status = self.status().await;
            if done(&status) {
                return status;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "timed out: {what}: {status:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn shutdown(self) {
        let _ = self.stop.send(());
        let ended = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
    }
}

fn health<'a>(
    status: &'a DaemonStatus,
    uri: &str,
) -> Option<&'a teep_broker::daemon_socket::TamHealth> {
    status.tams.iter().find(|t| t.tam_uri == uri)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tams_one_down_then_back() {
    teep_broker::install_crypto_provider();
    let dir = tempfile::tempdir().expect("tempdir");
    let down = TamSite::prepare(dir.path(), "tam-b");
    let up = TamSite::prepare(dir.path(), "tam-a");
    // The down TAM comes first in the Agent's list: it must not keep the other from running.
    let agent = agent_in(&dir.path().join("agent"), &[&down, &up]);
    let agent_pem = agent.public_key().to_spki_pem();
    let agent_kid = agent.public_key().thumbprint();
    let tam_a = RunningTam::start(&up, &agent_pem).await;

    // A long interval after success, short backoff after failure.
    let schedule = DaemonConfig {
        policy_check_interval_ms: 3_000,
        jitter_ms: 10,
        retry_initial_ms: 40,
        retry_max_ms: 80,
        ..DaemonConfig::default()
    };
    let socket = dir.path().join("broker.sock");
    let daemon = RunningDaemon::start(agent, &socket, schedule);

    // TAM A installs the component although TAM B is down.
    let status = daemon.wait_for("installed from TAM A", |s| !s.installed.is_empty()).await;
    assert_eq!(status.installed.len(), 1, "{status:?}");
    assert_eq!(status.installed[0].sequence_number, Some(3));
    assert_eq!(tam_a.installed(&agent_kid).await, [Some(3)]);

    // TAM B's failures are retried with backoff: several checks well inside the interval.
    let status = daemon
        .wait_for("backoff retries", |s| {
            health(s, &down.uri).is_some_and(|t| t.consecutive_failures >= 3)
        })
        .await;
    assert!(status.consecutive_failures >= 3, "{status:?}");
    assert!(status.next_check_in_ms.is_some_and(|ms| ms <= 80), "{status:?}");
    let b = health(&status, &down.uri).expect("TAM B health");
    assert!(b.last_failure.as_deref().is_some_and(|f| f.contains("unreachable")), "{b:?}");
    assert!(health(&status, &up.uri).is_some_and(|t| t.sessions >= 3), "{status:?}");

    // TAM B comes up: the next retry reaches it, and the schedule returns to the interval.
    let tam_b = RunningTam::start(&down, &agent_pem).await;
    let status = daemon
        .wait_for("TAM B reached", |s| {
            health(s, &down.uri).is_some_and(|t| t.sessions >= 1 && t.consecutive_failures == 0)
        })
        .await;
    assert_eq!(status.consecutive_failures, 0, "{status:?}");
    assert!(status.next_check_in_ms.is_some_and(|ms| ms > 1_000), "{status:?}");
    // TAM B sees the component that TAM A installed in the Agent's tc-list (without a sequence
    // number: it did not install it).
    assert_eq!(tam_b.installed(&agent_kid).await.len(), 1);

    // Quiet after success: no further check inside the interval.
    let checks = status.policy_checks;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(daemon.status().await.policy_checks, checks);

    daemon.shutdown().await;
    assert!(!socket.exists(), "the daemon removed its socket");
    tam_a.finish().await;
    tam_b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ta_over_the_socket_and_retries() {
    teep_broker::install_crypto_provider();
    let dir = tempfile::tempdir().expect("tempdir");
    let site = TamSite::prepare(dir.path(), "tam");
    let agent = agent_in(&dir.path().join("agent"), &[&site]);
    let agent_pem = agent.public_key().to_spki_pem();
    let socket = dir.path().join("broker.sock");
    let schedule = DaemonConfig {
        check_on_start: false,
        policy_check_interval_ms: 600_000,
        retry_initial_ms: 20,
        retry_max_ms: 40,
        request_retries: 2,
        ..DaemonConfig::default()
    };
    let daemon = RunningDaemon::start(agent, &socket, schedule);
    let status = daemon.status().await;
    assert_eq!(status.policy_checks, 0, "no check at start when check_on_start is false");
    assert!(status.next_check_in_ms.is_some_and(|ms| ms > 500_000), "{status:?}");

    // The TAM is down: RequestTA is tried 1 + request_retries times, then fails.
    let request = DaemonRequest::RequestTa { component: example_component().0 };
    let answer = daemon.client.call(&request).await.expect("answer");
    let DaemonResponse::Error { message } = answer else { panic!("{answer:?}") };
    assert!(message.contains("unreachable"), "{message}");
    let status = daemon.status().await;
    assert_eq!(health(&status, &site.uri).map(|t| t.consecutive_failures), Some(3));

    // With the TAM up, the same call installs the component.
    let tam = RunningTam::start(&site, &agent_pem).await;
    let answer = daemon.client.call(&request).await.expect("answer");
    let DaemonResponse::Done { outcome } = answer else { panic!("{answer:?}") };
    assert_eq!(outcome.attempts, 1);
    assert_eq!(outcome.sessions.len(), 1, "{outcome:?}");
    assert_eq!(outcome.agent_errors, 0, "{outcome:?}");
    assert!(outcome.transcript.iter().any(|l| l.contains("Update")), "{outcome:?}");
    let status = daemon.status().await;
    assert_eq!(status.installed.len(), 1, "{status:?}");
    assert_eq!(health(&status, &site.uri).map(|t| t.consecutive_failures), Some(0));

    // An explicit policy check over the socket.
    let answer = daemon.client.call(&DaemonRequest::PolicyCheck {}).await.expect("answer");
    let DaemonResponse::Done { outcome } = answer else { panic!("{answer:?}") };
    assert_eq!(outcome.sessions.len(), 1);
    assert!(outcome.failures.is_empty());

    daemon.shutdown().await;
    tam.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_mode_replacement_and_malformed_clients() {
    let dir = tempfile::tempdir().expect("tempdir");

    // The configured mode, on a socket.
    for mode in [0o660, 0o600, 0o666] {
        let path = dir.path().join(format!("s{mode:o}.sock"));
        let listener = bind_socket(&path, mode, None).expect("bind");
        let meta = std::fs::symlink_metadata(&path).expect("metadata");
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, mode);
        drop(listener);
    }

    // A stale socket is replaced; a live one and a regular file are not.
    let stale = dir.path().join("s660.sock");
    assert!(bind_socket(&stale, 0o660, None).is_ok(), "stale socket replaced");
    let live = dir.path().join("live.sock");
    let _listener = bind_socket(&live, 0o660, None).expect("bind");
    let in_use = bind_socket(&live, 0o660, None).map(|_| ());
    assert!(in_use.is_err_and(|e| e.kind() == std::io::ErrorKind::AddrInUse));
    let file = dir.path().join("file");
    std::fs::write(&file, b"not a socket").expect("write");
    assert!(bind_socket(&file, 0o660, None).is_err());
    assert_eq!(std::fs::read(&file).expect("read"), b"not a socket");

    // A daemon whose TAM never runs: malformed requests get an error answer, and it keeps
    // serving.
    let site = TamSite::prepare(dir.path(), "tam");
    let agent = agent_in(&dir.path().join("agent"), &[&site]);
    let socket = dir.path().join("broker.sock");
    let schedule =
        DaemonConfig { check_on_start: false, client_timeout_ms: 200, ..Default::default() };
    let daemon = RunningDaemon::start(agent, &socket, schedule);
    let status = daemon.status().await;
    assert!(status.installed.is_empty() && status.agent_error.is_none(), "{status:?}");
    let mode = std::fs::metadata(&socket).expect("socket").permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);

    for body in [&b"{\"call\":\"reboot\"}"[..], b"\xff\xfe", b"[[[[[[[[[[[[[[[["] {
        let answer = raw_call(&socket, body).await;
        assert!(
            answer.starts_with(b"{\"result\":\"error\""),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
    // An announced length past the limit (0xffffffff) gets an error frame saying so, then
    // the connection closes cleanly (no reset).
    for extra in [&b""[..], b"{\"call\":\"status\"}"] {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut stream = tokio::net::UnixStream::connect(&socket).await.expect("connect");
        stream.write_all(&[0xff, 0xff, 0xff, 0xff]).await.expect("write");
        stream.write_all(extra).await.expect("write");
        let answer = teep_agent::ipc::frame::read_frame(&mut stream, 1 << 20).await;
        let answer = String::from_utf8(answer.expect("an error frame")).expect("UTF-8");
        assert!(answer.starts_with("{\"result\":\"error\""), "{answer}");
        assert!(answer.contains("4294967295 bytes refused"), "{answer}");
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.expect("a clean close");
        assert!(rest.is_empty());
    }
    // A client that connects and sends nothing is dropped after client_timeout_ms.
    let idle = tokio::net::UnixStream::connect(&socket).await.expect("connect");
    let answer = daemon.status().await;
    assert!(answer.agent_error.is_none());
    drop(idle);

    daemon.shutdown().await;
    assert!(!socket.exists());
    let gone = DaemonClient::new(&socket).call(&DaemonRequest::Status {}).await;
    assert!(gone.is_err());
}

async fn raw_call(socket: &Path, body: &[u8]) -> Vec<u8> {
    use teep_agent::ipc::frame::{read_frame, write_frame};
    let mut stream = tokio::net::UnixStream::connect(socket).await.expect("connect");
    write_frame(&mut stream, body, 1 << 20).await.expect("write");
    read_frame(&mut stream, 1 << 20).await.expect("read")
}
