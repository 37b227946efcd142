//! Operations of a running TAM over loopback: Prometheus metrics by outcome, liveness and
//! readiness (also through a PostgreSQL outage), graceful shutdown with requests in flight,
//! the global bound on concurrent requests (issue 7: one past it gets 503), the body timeout,
//! and the per-device bound on Update tokens, one past it.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Agent, Db, TEEP, TestTam, provision};
use teep_proto::Message;
use teep_tam::metrics::{MessageKind, Metrics, Outcome, Rejection};
use teep_tam::ops::Ops;
use teep_tam::{Admin, Server, Tam, TamConfig, TamKeys};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// A TAM served by a [`Server`] whose operations state and metrics the test can see.
struct Served {
    address: std::net::SocketAddr,
    admin_address: Option<std::net::SocketAddr>,
    tam: Arc<Tam>,
    admin: Admin,
    ops: Arc<Ops>,
    metrics: Arc<Metrics>,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<Result<(), teep_tam::ServeError>>,
    _dir: tempfile::TempDir,
}

impl Served {
    async fn start(tweak: impl FnOnce(&mut TamConfig)) -> Self {
        Self::start_with(tweak, false).await
    }

    /// Also with an admin listener when `with_admin`.
    async fn start_with(tweak: impl FnOnce(&mut TamConfig), with_admin: bool) -> Self {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let mut config = TamConfig { state_dir: dir.path().to_owned(), ..TamConfig::default() };
        tweak(&mut config);
        TamKeys::load_or_generate(&config).unwrap();
        let tam = Arc::new(Tam::open(config).await.unwrap());
        let admin = Admin::new(tam.store().clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut server = Server::new(Arc::clone(&tam), listener);
        let mut admin_address = None;
        if with_admin {
            let admin_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            admin_address = Some(admin_listener.local_addr().unwrap());
            server = server.with_admin_listener(admin_listener);
        }
        let ops = Arc::clone(server.ops());
        let metrics = Arc::clone(server.metrics());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        Served {
            address,
            admin_address,
            tam,
            admin,
            ops,
            metrics,
            client: reqwest::Client::new(),
            stop: Some(stop),
            server,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/tam", self.address)
    }

    async fn post(&self, body: &[u8]) -> reqwest::Response {
        let mut request = self.client.post(self.url()).header("accept", TEEP);
        if !body.is_empty() {
            request = request.header("content-type", TEEP);
        }
        request.body(body.to_vec()).send().await.unwrap()
    }

    async fn query_request(&self, agent: &Agent) -> teep_proto::QueryRequest {
        let response = self.post(b"").await;
        assert_eq!(response.status(), 200);
        agent.query_request(&response.bytes().await.unwrap(), &self.tam.keys().public_keys()[..])
    }

    /// A QueryResponse that the TAM answers with an Update (the agent must be provisioned).
    async fn query_response(&self, agent: &Agent) -> Vec<u8> {
        let request = self.query_request(agent).await;
        agent.query_response(&request, &[], &[])
    }

    /// Waits until `n` requests are in flight.
    async fn wait_in_flight(&self, n: i64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.metrics.requests_in_flight() != n {
            assert!(Instant::now() < deadline, "never {n} requests in flight");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn shut_down(mut self) -> Result<(), teep_tam::ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = tokio::time::timeout(Duration::from_secs(40), self.server)
            .await
            .expect("the server stops")
            .unwrap();
        self.tam.store().close().await;
        result
    }
}

/// Provisions an Agent on a [`Served`] TAM the way `common::provision` does for `TestTam`.
async fn provision_served(served: &Served, agent: &Agent) {
    let now = 1_000;
    let admin = &served.admin;
    admin
        .enroll_device(agent.public_pem().as_bytes(), None, teep_tam::Wire::Rfc, now)
        .await
        .unwrap();
    if admin.signers().await.unwrap().is_empty() {
        let signer = common::vector_text("teep-protocol/example-signer-public.pem");
        admin.add_signer("example", signer.as_bytes(), now).await.unwrap();
        admin.add_tc(&common::hex_vector("teep-protocol/suit_uri.hex.txt"), now).await.unwrap();
        let id = teep_tam::ComponentKey::from_parts(&common::example_component()).unwrap();
        admin.require(&teep_tam::PolicyTarget::AllDevices, &id, 0).await.unwrap();
    }
}

/// A POST whose body arrives in two parts: headers and `first` now, the rest later.
struct SlowPost {
    stream: TcpStream,
    rest: Vec<u8>,
}

impl SlowPost {
    async fn begin(address: std::net::SocketAddr, body: &[u8], first: usize) -> Self {
        let mut stream = TcpStream::connect(address).await.unwrap();
        let head = format!(
            "POST /tam HTTP/1.1\r\nhost: {address}\r\naccept: {TEEP}\r\ncontent-type: {TEEP}\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body[..first]).await.unwrap();
        stream.flush().await.unwrap();
        SlowPost { stream, rest: body[first..].to_vec() }
    }

    /// Sends the rest and reads the answer: (status, body).
    async fn finish(mut self) -> (u16, Vec<u8>) {
        self.stream.write_all(&self.rest).await.unwrap();
        self.stream.flush().await.unwrap();
        read_response(&mut self.stream).await
    }
}

async fn read_response(stream: &mut TcpStream) -> (u16, Vec<u8>) {
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw))
        .await
        .expect("an answer")
        .unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
    (status, raw[split + 4..].to_vec())
}

fn expect_update(agent: &Agent, served: &Served, body: &[u8]) -> teep_proto::Update {
    match agent.open(body, &served.tam.keys().public_keys()[..]) {
        Message::Update(update) => update,
        other => panic!("expected Update, got {:?}", other.kind()),
    }
}

async fn metrics_text(client: &reqwest::Client, base: &str) -> String {
    let response = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    response.text().await.unwrap()
}

fn assert_has(text: &str, needle: &str) {
    assert!(text.contains(needle), "{needle} missing in\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_outcome_and_reason() {
    let Some(tam) = TestTam::start(Db::Sqlite).await else { return };
    let base = tam.url.trim_end_matches("/tam").to_owned();
    let agent = Agent::p256();
    provision(&tam, &agent).await;
    let spec = teep_tam::fleet::RolloutSpec::Percent(10_000);
    let everyone = teep_tam::PolicyTarget::AllDevices;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    tam.admin
        .create_rollout("r1", &common::example_manifest_id(), 3, &everyone, &spec, now)
        .await
        .unwrap();

    // A whole session: QueryRequest, Update, Success.
    let reply = tam.post(b"").await;
    assert_eq!(reply.status(), 200);
    let request = agent.query_request(&reply.bytes().await.unwrap(), &tam.tam_public_keys());
    let response = agent.query_response(&request, &[], &[]);
    let reply = tam.post(&response).await;
    assert_eq!(reply.status(), 200);
    let Message::Update(update) = agent.open(&reply.bytes().await.unwrap(), &tam.tam_public_keys())
    else {
        panic!("expected Update")
    };
    // The Update's token is outstanding until the Success.
    let text = metrics_text(&tam.client, &base).await;
    assert_has(&text, "teep_tam_outstanding_tokens 1\n");
    let success = agent.success(update.token.as_ref().unwrap());
    assert_eq!(tam.post(&success).await.status(), 204);

    // Rejections: the same Success again, the same QueryResponse again, an unknown Agent,
    // a body that is no COSE_Sign1, a wrong media type, a GET.
    assert_eq!(tam.post(&success).await.status(), 204);
    assert_eq!(tam.post(&response).await.status(), 204);
    let stranger = Agent::p256();
    assert_eq!(tam.post(&stranger.query_response(&request, &[], &[])).await.status(), 204);
    assert_eq!(tam.post(b"\x01\x02").await.status(), 204);
    let wrong_type = tam
        .client
        .post(&tam.url)
        .header("accept", TEEP)
        .header("content-type", "application/cbor")
        .body(vec![1])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 415);
    assert_eq!(tam.client.get(&tam.url).send().await.unwrap().status(), 405);

    let text = metrics_text(&tam.client, &base).await;
    for needle in [
        "teep_tam_requests_total{kind=\"connect\",outcome=\"query_request_sent\"} 1\n",
        "teep_tam_requests_total{kind=\"query_response\",outcome=\"update_sent\"} 1\n",
        "teep_tam_requests_total{kind=\"success\",outcome=\"success\"} 1\n",
        "teep_tam_requests_total{kind=\"success\",outcome=\"rejected\"} 1\n",
        "teep_tam_requests_total{kind=\"query_response\",outcome=\"rejected\"} 1\n",
        "teep_tam_requests_total{kind=\"unknown\",outcome=\"rejected\"} 4\n",
        "teep_tam_rejected_total{reason=\"replay\"} 2\n",
        "teep_tam_rejected_total{reason=\"unknown_device\"} 1\n",
        "teep_tam_rejected_total{reason=\"malformed\"} 1\n",
        "teep_tam_rejected_total{reason=\"media_type\"} 1\n",
        "teep_tam_rejected_total{reason=\"method\"} 1\n",
        "teep_tam_request_duration_seconds_count{kind=\"connect\"} 1\n",
        "teep_tam_request_duration_seconds_count{kind=\"success\"} 2\n",
        "teep_tam_outstanding_tokens 0\n",
        "teep_tam_requests_in_flight 0\n",
        "teep_tam_build_info{version=\"",
        "teep_tam_db_connections{state=\"idle\"}",
        "teep_tam_rollout_devices{rollout=\"r1\",state=\"installed\"} 1\n",
        "teep_tam_rollout_devices{rollout=\"r1\",state=\"failed\"} 0\n",
        "teep_tam_rollout_state{rollout=\"r1\",state=\"running\"} 1\n",
    ] {
        assert_has(&text, needle);
    }
    // No token, key or evidence in the exposition: only counters and label names.
    let token_hex = hex::encode(update.token.as_ref().unwrap().as_bytes());
    assert!(!text.contains(&token_hex));

    // OpenMetrics on request.
    let open = tam
        .client
        .get(format!("{base}/metrics"))
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .unwrap();
    assert!(
        open.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics")
    );
    assert!(open.text().await.unwrap().ends_with("# EOF\n"));

    for (path, body) in [("healthz", "ok\n"), ("readyz", "ready\n")] {
        let response = tam.client.get(format!("{base}/{path}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.text().await.unwrap(), body);
    }
    tam.finish().await;
}

/// A TCP relay in front of PostgreSQL that the test can cut and restore: a network outage.
struct Relay {
    port: u16,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Relay {
    async fn start(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let mut pipes = tokio::task::JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                pipes.spawn(async move {
                    let Ok(mut server) = TcpStream::connect("127.0.0.1:5432").await else { return };
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        });
        Relay { port, task: Some(task) }
    }

    /// Closes the listener and every relayed connection (the JoinSet aborts them).
    async fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_a_postgresql_outage_and_recovery() {
    let mut relay = Relay::start(0).await;
    let port = relay.port;
    let Some(tam) = TestTam::start_with(Db::Postgres, |c| {
        let url = c.database_url.take().unwrap();
        c.database_url = Some(url.replace("127.0.0.1:5432", &format!("127.0.0.1:{port}")));
    })
    .await
    else {
        return;
    };
    let base = tam.url.trim_end_matches("/tam").to_owned();
    let readyz = || async {
        let response = tam.client.get(format!("{base}/readyz")).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };
    assert_eq!(readyz().await, (200, "ready\n".into()));

    // Outage: not ready, with a reason, within the probe timeout; still alive.
    relay.cut().await;
    let started = Instant::now();
    let (status, reason) = readyz().await;
    assert_eq!(status, 503, "{reason}");
    assert!(reason.starts_with("database "), "{reason}");
    assert!(started.elapsed() < teep_tam::ops::READY_TIMEOUT + Duration::from_secs(2));
    let health = tam.client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    // A scrape answers within its timeout with the previous values, and counts the failure.
    let started = Instant::now();
    let text = metrics_text(&tam.client, &base).await;
    assert!(started.elapsed() < teep_tam::metrics::SCRAPE_TIMEOUT * 2 + Duration::from_secs(1));
    assert_has(&text, "teep_tam_db_errors_total{operation=\"readiness\"}");
    assert_has(&text, "teep_tam_db_errors_total{operation=\"scrape\"}");

    // Recovery without a restart: ready again, and a session works end to end.
    let _relay = Relay::start(port).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, reason) = readyz().await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still not ready: {reason}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let agent = Agent::p256();
    provision(&tam, &agent).await;
    let reply = tam.post(b"").await;
    let request = agent.query_request(&reply.bytes().await.unwrap(), &tam.tam_public_keys());
    let reply = tam.post(&agent.query_response(&request, &[], &[])).await;
    assert_eq!(reply.status(), 200);
    tam.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_request_in_flight_and_refuses_new_connections() {
    let mut served = Served::start_with(|_| {}, true).await;
    let admin_base = format!("http://{}", served.admin_address.unwrap());
    let agent = Agent::p256();
    provision_served(&served, &agent).await;
    let body = served.query_response(&agent).await;

    // A request in flight: its body is half sent.
    let slow = SlowPost::begin(served.address, &body, body.len() / 2).await;
    served.wait_in_flight(1).await;

    // Shutdown: readiness fails at once, the listener closes.
    served.stop.take().unwrap().send(()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while served.ops.readiness().await.is_ok() {
        assert!(Instant::now() < deadline, "readiness never failed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(served.ops.readiness().await.unwrap_err(), "shutting down");
    loop {
        match TcpStream::connect(served.address).await {
            Err(e) => {
                assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
                break;
            }
            Ok(_) => {
                assert!(Instant::now() < deadline, "the listener still accepts");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    assert!(!served.server.is_finished(), "the server waits for the request in flight");
    // The admin listener still answers, and says why this process is not ready.
    let readyz = served.client.get(format!("{admin_base}/readyz")).send().await.unwrap();
    assert_eq!(readyz.status(), 503);
    assert_eq!(readyz.text().await.unwrap(), "shutting down\n");

    // The request completes with its Update, then the server returns.
    let (status, answer) = slow.finish().await;
    assert_eq!(status, 200);
    let update = expect_update(&agent, &served, &answer);
    assert!(update.token.is_some());
    served.shut_down().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_abandons_a_hung_request_after_the_grace_period() {
    let served = Served::start(|c| c.shutdown_grace_secs = 1).await;
    let slow = SlowPost::begin(served.address, &[0xd2; 64], 10).await;
    served.wait_in_flight(1).await;
    let started = Instant::now();
    served.shut_down().await.unwrap();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(5), "{took:?}");
    drop(slow);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_past_max_concurrent_sessions_gets_503() {
    let served = Served::start(|c| c.max_concurrent_sessions = 2).await;
    let agents = [Agent::p256(), Agent::ed25519()];
    for agent in &agents {
        provision_served(&served, agent).await;
    }
    let mut slow = Vec::new();
    for agent in &agents {
        let body = served.query_response(agent).await;
        slow.push(SlowPost::begin(served.address, &body, 1).await);
    }
    served.wait_in_flight(2).await;

    // The third is refused at once, with Retry-After, and counted.
    let started = Instant::now();
    let refused = served.post(b"").await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert!(started.elapsed() < Duration::from_secs(2), "refused without queueing");
    assert_eq!(served.metrics.rejections(Rejection::Overloaded), 1);

    // The two in flight succeed.
    for (agent, post) in agents.iter().zip(slow) {
        let (status, answer) = post.finish().await;
        assert_eq!(status, 200);
        expect_update(agent, &served, &answer);
    }
    assert_eq!(served.metrics.requests(MessageKind::QueryResponse, Outcome::UpdateSent), 2);

    // Their places are free again.
    served.wait_in_flight(0).await;
    assert_eq!(served.post(b"").await.status(), 200);
    served.shut_down().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_slower_than_body_timeout_gets_408() {
    let served = Served::start(|c| c.body_timeout_secs = 1).await;
    let mut slow = SlowPost::begin(served.address, &[0xd2; 64], 10).await;
    let started = Instant::now();
    let (status, _) = read_response(&mut slow.stream).await;
    assert_eq!(status, 408);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(served.metrics.rejections(Rejection::Timeout), 1);
    served.wait_in_flight(0).await;
    served.shut_down().await.unwrap();
}

/// Issue 7 limit "concurrent sessions per device": with `max_tokens_per_device = 2`, a third
/// Update drops the oldest one's token; the two newest stay acceptable. Token ages are kept
/// in whole seconds (ties are broken by token hash), so the Updates are a second apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_update_past_max_tokens_per_device_drops_the_oldest() {
    let served = Served::start(|c| c.max_tokens_per_device = 2).await;
    let agent = Agent::p256();
    provision_served(&served, &agent).await;
    let mut tokens = Vec::new();
    for i in 0..3 {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        let reply = served.post(&served.query_response(&agent).await).await;
        assert_eq!(reply.status(), 200);
        let update = expect_update(&agent, &served, &reply.bytes().await.unwrap());
        tokens.push(update.token.unwrap());
    }
    let holder = hex::encode(agent.thumbprint());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(served.tam.store().open_tokens(&holder, now).await.unwrap(), 2);

    // The oldest is gone: its Success is dropped as a replay and records nothing.
    assert_eq!(served.post(&agent.success(&tokens[0])).await.status(), 204);
    assert_eq!(served.metrics.rejections(Rejection::Replay), 1);
    assert_eq!(served.metrics.requests(MessageKind::Success, Outcome::Success), 0);
    // The two newest are accepted.
    for token in &tokens[1..] {
        assert_eq!(served.post(&agent.success(token)).await.status(), 204);
    }
    assert_eq!(served.metrics.requests(MessageKind::Success, Outcome::Success), 2);
    served.shut_down().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_admin_listener_metrics_move_there_and_probes_stay_on_both() {
    let served = Served::start_with(|_| {}, true).await;
    let teep = format!("http://{}", served.address);
    let admin = format!("http://{}", served.admin_address.unwrap());
    assert_eq!(served.post(b"").await.status(), 200);

    let get = |url: String| {
        let client = served.client.clone();
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get(format!("{teep}/metrics")).await, 404, "no metrics on the TEEP listener");
    let text = metrics_text(&served.client, &admin).await;
    assert_has(&text, "teep_tam_requests_total{kind=\"connect\",outcome=\"query_request_sent\"} 1");
    for base in [&teep, &admin] {
        assert_eq!(get(format!("{base}/healthz")).await, 200);
        assert_eq!(get(format!("{base}/readyz")).await, 200);
    }
    // The admin API itself wants a token; hosted payloads are on the TEEP listener.
    assert_eq!(get(format!("{admin}/admin/v1/devices")).await, 401);
    assert_eq!(get(format!("{teep}/payloads/absent")).await, 404);
    served.shut_down().await.unwrap();
}

/// Log lines written into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// Every log line of a session (at trace level, as JSON) names tokens by a 4-byte prefix only
/// and carries no key, evidence or message bytes. The runtime has one thread, so the
/// subscriber set here sees the server's tasks too.
#[tokio::test(flavor = "current_thread")]
async fn logs_are_json_and_hold_no_token_or_key() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let served = Served::start(|_| {}).await;
    let agent = Agent::p256();
    provision_served(&served, &agent).await;
    let request = served.query_request(&agent).await;
    let response = agent.query_response(&request, &[], &[]);
    let reply = served.post(&response).await;
    let update = expect_update(&agent, &served, &reply.bytes().await.unwrap());
    let success = agent.success(update.token.as_ref().unwrap());
    assert_eq!(served.post(&success).await.status(), 204);
    assert_eq!(served.post(&success).await.status(), 204, "a replay, logged as a warning");
    assert_eq!(
        served.post(&Agent::p256().seal(&Message::Success(Default::default()))).await.status(),
        204
    );
    served.shut_down().await.unwrap();

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("dropping Success with unknown, expired or replayed token"), "{log}");
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    let lowered = log.to_ascii_lowercase();
    let secrets = [
        ("QueryRequest token", hex::encode(request.token.as_ref().unwrap().as_bytes())),
        ("Update token", hex::encode(update.token.as_ref().unwrap().as_bytes())),
        ("Agent key", hex::encode(agent.key.public_key().to_cose_key())),
        ("message", hex::encode(&response[..32])),
    ];
    for (what, hex) in secrets {
        assert!(!lowered.contains(&hex), "{what} in the log:\n{log}");
        assert!(!lowered.contains(&hex[..16]), "{what}'s first 8 bytes in the log:\n{log}");
    }
}

/// Connects to `address`, sends `sent` and returns how long until the server closed the
/// connection, with what it answered (if anything).
async fn time_until_closed(address: std::net::SocketAddr, sent: &[u8]) -> (Duration, Vec<u8>) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(sent).await.unwrap();
    let started = Instant::now();
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw)).await;
    assert!(read.is_ok(), "the connection stayed open");
    (started.elapsed(), raw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_header_or_a_stalled_admin_body_is_cut_off_on_both_listeners() {
    let served = Served::start_with(
        |c| {
            c.header_timeout_secs = 1;
            c.body_timeout_secs = 1;
        },
        true,
    )
    .await;
    let admin = served.admin_address.unwrap();
    for address in [served.address, admin] {
        // A header that never ends, and a connection that sends nothing.
        for sent in [&b"POST /tam HTTP/1.1\r\nHost: x\r\n"[..], b""] {
            let (took, _) = time_until_closed(address, sent).await;
            assert!(took < Duration::from_secs(4), "{address}: open {took:?}");
        }
        // A kept-alive connection that goes idle after one answer is closed too.
        let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
        let (took, raw) = time_until_closed(address, request).await;
        assert!(raw.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&raw));
        assert!(took < Duration::from_secs(4), "{address}: idle connection open {took:?}");
    }

    // An admin upload whose body stops arriving: 408 within body_timeout_secs, no token
    // needed to be answered, nothing stored.
    let head = "PUT /admin/v1/payloads/x HTTP/1.1\r\nHost: x\r\n\
                content-type: application/octet-stream\r\ncontent-length: 1000\r\n\r\nabc";
    let (took, raw) = time_until_closed(admin, head.as_bytes()).await;
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("body_timeout_secs"), "{text}");
    assert!(took < Duration::from_secs(4), "{took:?}");
    assert!(served.admin.payloads().await.unwrap().is_empty());
    served.shut_down().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_max_connections_are_closed_at_once() {
    let served = Served::start(|c| c.max_connections = 2).await;
    let _held = [
        TcpStream::connect(served.address).await.unwrap(),
        TcpStream::connect(served.address).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (took, raw) = time_until_closed(served.address, b"").await;
    assert!(raw.is_empty() && took < Duration::from_secs(2), "{took:?}");
    drop(_held);
    served.shut_down().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_shutdown_drain_the_teep_listener_answers_readyz_503() {
    let mut served = Served::start(|c| c.shutdown_drain_secs = 2).await;
    let base = format!("http://{}", served.address);
    served.stop.take().unwrap().send(()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while served.ops.readiness().await.is_ok() {
        assert!(Instant::now() < deadline, "readiness never failed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let readyz = served.client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(readyz.status(), 503);
    assert_eq!(readyz.text().await.unwrap(), "shutting down\n");
    let started = Instant::now();
    served.shut_down().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(TcpStream::connect(served_address_closed(&base)).await.is_err());
}

fn served_address_closed(base: &str) -> std::net::SocketAddr {
    base.trim_start_matches("http://").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_database_is_503_with_retry_after_and_counted_by_kind() {
    let served = Served::start(|_| {}).await;
    served.tam.store().close().await;
    let response = served.post(b"").await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let text = served.metrics.render(false);
    assert_has(&text, "kind=\"connect\",outcome=\"failed\"");
    assert!(!text.contains("kind=\"unknown\",outcome=\"failed\""), "{text}");
    let _ = served.shut_down().await;
}
