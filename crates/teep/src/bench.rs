//! `teep bench`: load generators.
//!
//! `teep bench tam` drives simulated devices against a TAM: each device is the real TEEP Agent
//! core on a temp-dir software TEE (real keys, real signatures), relayed Broker-style over
//! loopback HTTP (draft-ietf-teep-otrp-over-http-15). The TAM runs in process (SQLite file in
//! a temp dir, or `--database postgres://…`) or is a running one (`--tam-uri` with its
//! `--tam-config`, whose database is used to enrol the devices and whose keys the devices
//! trust). It reports sessions per second, latency percentiles and failures, and measures in
//! the same run the crypto floor of a TAM session (draft-ietf-teep-protocol-26 §8.1, §9.1): a
//! QueryRequest signed with COSE_Sign by both TAM keys, the QueryResponse verified, the Update
//! signed and the Success verified; it prints the ratio of the TAM's CPU time per session to
//! that floor. The TAM's CPU is read from /proc (Linux): the threads of the in-process TAM
//! runtime and its SQLite workers, or `--tam-pid` for a TAM process.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand, ValueEnum};
use teep_agent::software::config::{ConfigFile, DeviceIdentity, TamEntry};
use teep_agent::software::{InitOptions, KeyKind, SoftwareAgent};
use teep_cose::{Algorithm, PublicKey, SigningKey};
use teep_tam::{Admin, ComponentKey, PolicyTarget, Tam, TamConfig, TamKeys, Wire};

/// Name prefix of the in-process TAM's runtime threads (CPU accounting).
const TAM_THREAD: &str = "tam-bench";
/// Thread name prefix of sqlx's SQLite workers (part of the TAM's cost).
const SQLITE_THREAD: &str = "sqlx-sqlite";

/// `teep bench` subcommands.
#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Load a TAM with simulated Agents; report sessions/s, latency and the crypto floor.
    Tam(TamBench),
}

/// `teep bench tam` options.
#[derive(Args, Debug)]
pub struct TamBench {
    /// Simulated devices, all running sessions concurrently.
    #[arg(long, default_value_t = 64)]
    agents: usize,
    /// Seconds of load after the devices are set up.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Agent key type.
    #[arg(long, value_enum, default_value_t = AgentKeys::P256)]
    keys: AgentKeys,
    /// Database of the in-process TAM (default: an SQLite file in a temp dir).
    #[arg(long, conflicts_with = "tam_uri")]
    database: Option<String>,
    /// Pooled database connections of the in-process TAM.
    #[arg(long, default_value_t = 8)]
    db_connections: u32,
    /// Worker threads of the in-process TAM runtime.
    #[arg(long, default_value_t = 1)]
    tam_threads: usize,
    /// A running TAM's URI (for example http://127.0.0.1:8080/tam) instead of one in process.
    #[arg(long, requires = "tam_config")]
    tam_uri: Option<String>,
    /// tam.toml of the running TAM: its keys are trusted and its database is used to enrol
    /// the devices and publish the benchmark TC.
    #[arg(long)]
    tam_config: Option<PathBuf>,
    /// Process id of the running TAM, to measure its CPU time.
    #[arg(long)]
    tam_pid: Option<u32>,
    /// Folder of the public test vectors (the TC installed and its signer key).
    #[arg(long, env = "TEEP_VECTORS", default_value = crate::demo::DEFAULT_VECTORS)]
    vectors: PathBuf,
    /// Iterations of each operation when measuring the crypto floor.
    #[arg(long, default_value_t = 200)]
    floor_iterations: u32,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Key types of the simulated Agents.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum AgentKeys {
    /// ECDSA P-256 (ESP256 suite).
    P256,
    /// Ed25519.
    Ed25519,
    /// Half and half.
    Mixed,
}

/// Runs a `teep bench` command.
pub async fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Tam(args) => tam(args).await,
    }
}

/// A TAM served for the run.
enum Target {
    /// In process, on its own runtime (killed when dropped).
    Local { url: String, keys: [PublicKey; 2], admin: Admin, _server: LocalTam },
    /// A running TAM.
    Remote { url: String, keys: [PublicKey; 2], admin: Admin },
}

/// The in-process TAM's runtime thread; stops the server when dropped.
struct LocalTam {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for LocalTam {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn local_tam(args: &TamBench) -> anyhow::Result<Target> {
    let dir = tempfile::tempdir().context("creating a temp dir for the TAM")?;
    let config = TamConfig {
        state_dir: dir.path().to_owned(),
        database_url: args.database.clone(),
        max_db_connections: args.db_connections.max(1),
        listen: "127.0.0.1:0".parse()?,
        ..TamConfig::default()
    };
    let keys = TamKeys::load_or_generate(&config).context("TAM keys")?.public_keys();
    let threads = args.tam_threads.max(1);
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::Builder::new().name(TAM_THREAD.into()).spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name(TAM_THREAD)
            .enable_all()
            .build();
        let runtime = match runtime {
            Ok(r) => r,
            Err(e) => {
                let _ = ready_tx.send(Err(anyhow::Error::from(e)));
                return;
            }
        };
        let started = runtime.block_on(async move {
            let tam = Arc::new(Tam::open(config).await?);
            let admin = Admin::new(tam.store().clone());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let address = listener.local_addr()?;
            tokio::spawn(async move {
                if let Err(e) = teep_tam::serve_on(tam, listener, std::future::pending()).await {
                    tracing::error!(error = %e, "benchmark TAM stopped");
                }
            });
            anyhow::Ok((address, admin))
        });
        let _ = ready_tx.send(started);
        let _ = stop_rx.recv();
        runtime.shutdown_background();
    })?;
    let (address, admin) = ready_rx.await.context("the TAM thread ended")??;
    Ok(Target::Local {
        url: format!("http://{address}/tam"),
        keys,
        admin,
        _server: LocalTam { stop: Some(stop_tx), thread: Some(thread), _dir: dir },
    })
}

async fn remote_tam(uri: &str, config: &std::path::Path) -> anyhow::Result<Target> {
    let config = TamConfig::load(config)?;
    let keys = TamKeys::load(&config).context("the running TAM's keys")?.public_keys();
    let admin = Admin::connect(&config).await.context("the running TAM's database")?;
    Ok(Target::Remote { url: uri.to_owned(), keys, admin })
}

impl Target {
    fn url(&self) -> &str {
        match self {
            Target::Local { url, .. } | Target::Remote { url, .. } => url,
        }
    }
    fn keys(&self) -> &[PublicKey; 2] {
        match self {
            Target::Local { keys, .. } | Target::Remote { keys, .. } => keys,
        }
    }
    fn admin(&self) -> &Admin {
        match self {
            Target::Local { admin, .. } | Target::Remote { admin, .. } => admin,
        }
    }
}

/// One simulated device.
struct Device {
    _dir: tempfile::TempDir,
    agent: SoftwareAgent,
}

async fn device(target: &Target, kind: KeyKind, signer_pem: &str) -> anyhow::Result<Device> {
    let dir = tempfile::tempdir()?;
    let [p256, ed25519] = target.keys();
    let config = ConfigFile {
        tams: vec![TamEntry {
            uri: target.url().to_owned(),
            numbering: None,
            public_keys: vec![p256.to_spki_pem(), ed25519.to_spki_pem()],
        }],
        tc_signers: vec![signer_pem.to_owned()],
        device: DeviceIdentity {
            vendor_ids: vec![hex::encode(crate::demo::VENDOR_ID)],
            class_ids: vec![hex::encode(crate::demo::CLASS_ID)],
            device_ids: Vec::new(),
        },
        ..ConfigFile::default()
    };
    let path = dir.path().to_owned();
    let (initialized, agent) = tokio::task::spawn_blocking(move || {
        let initialized =
            teep_agent::software::init(&path, &InitOptions { key_kind: kind, config })
                .map_err(|e| anyhow::anyhow!("agent init: {e}"))?;
        let agent =
            teep_agent::software::open(&path).map_err(|e| anyhow::anyhow!("agent open: {e}"))?;
        anyhow::Ok((initialized, agent))
    })
    .await??;
    target
        .admin()
        .enroll_device(initialized.public_key_pem.as_bytes(), Some("bench"), Wire::Rfc, now())
        .await?;
    Ok(Device { _dir: dir, agent })
}

fn now() -> u64 {
    crate::unix_now()
}

/// What one session did.
struct SessionOutcome {
    latency: Duration,
    installed: bool,
}

async fn session(
    client: &reqwest::Client,
    url: &str,
    agent: &mut SoftwareAgent,
) -> anyhow::Result<SessionOutcome> {
    let started = Instant::now();
    let mut body = Vec::new();
    for round in 1..=8_u32 {
        let mut request = client.post(url).header("accept", teep_tam::http::TEEP_MEDIA_TYPE);
        if !body.is_empty() {
            request = request.header("content-type", teep_tam::http::TEEP_MEDIA_TYPE);
        }
        let reply = request.body(std::mem::take(&mut body)).send().await?;
        match reply.status().as_u16() {
            204 => return Ok(SessionOutcome { latency: started.elapsed(), installed: round > 2 }),
            200 => {}
            other => bail!("HTTP {other} in round {round}"),
        }
        let message = reply.bytes().await?;
        body = agent.handle(&message, now()).map_err(|e| anyhow::anyhow!("agent: {e}"))?;
        if body.is_empty() {
            return Ok(SessionOutcome { latency: started.elapsed(), installed: false });
        }
    }
    bail!("session did not end within 8 rounds")
}

/// Seconds of CPU (user + system) used by the threads whose name starts with one of
/// `prefixes`, or by process `pid`; None where /proc is not available.
fn cpu_seconds(pid: Option<u32>, prefixes: &[&str]) -> Option<f64> {
    // Clock ticks per second: 100 on every Linux configuration in practice (USER_HZ).
    const TICKS: f64 = 100.0;
    let ticks = |stat: &str| -> Option<u64> {
        // Fields after the parenthesised command name; utime and stime are 14 and 15.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        utime.checked_add(stime)
    };
    if let Some(pid) = pid {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        return ticks(&stat).map(|t| t as f64 / TICKS);
    }
    let mut total = 0_u64;
    for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let path = entry.path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else { continue };
        if prefixes.iter().any(|p| comm.trim().starts_with(p)) {
            let stat = std::fs::read_to_string(path.join("stat")).ok()?;
            total = total.saturating_add(ticks(&stat)?);
        }
    }
    Some(total as f64 / TICKS)
}

/// Mean time of one `op`, measured over `n` runs.
fn time_op(n: u32, mut op: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<Duration> {
    op()?;
    let started = Instant::now();
    for _ in 0..n {
        op()?;
    }
    Ok(started.elapsed() / n.max(1))
}

/// The signatures and verifications one installing TAM session needs, timed in process.
struct Floor {
    sign_es256: Duration,
    sign_ed25519: Duration,
    verify_es256: Duration,
    verify_ed25519: Duration,
}

impl Floor {
    fn measure(n: u32) -> anyhow::Result<Self> {
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let p256 = SigningKey::generate_p256(&mut rng);
        let ed = SigningKey::generate_ed25519(&mut rng);
        // A Sig_structure of the size of a QueryResponse's.
        let tbs = vec![0x5a_u8; 200];
        let es_sig = p256.sign(Algorithm::ESP256, &tbs).map_err(anyhow::Error::msg)?;
        let ed_sig = ed.sign(Algorithm::ED25519, &tbs).map_err(anyhow::Error::msg)?;
        let (p256_pub, ed_pub) = (p256.public_key(), ed.public_key());
        let e = |r: Result<(), teep_cose::Error>| r.map_err(anyhow::Error::msg);
        Ok(Floor {
            sign_es256: time_op(n, || {
                p256.sign(Algorithm::ESP256, &tbs).map(drop).map_err(anyhow::Error::msg)
            })?,
            sign_ed25519: time_op(n, || {
                ed.sign(Algorithm::ED25519, &tbs).map(drop).map_err(anyhow::Error::msg)
            })?,
            verify_es256: time_op(n, || e(p256_pub.verify(Algorithm::ESP256, &tbs, &es_sig)))?,
            verify_ed25519: time_op(n, || e(ed_pub.verify(Algorithm::ED25519, &tbs, &ed_sig)))?,
        })
    }

    /// TAM floor of a session with an Agent of `kind`: QueryRequest signed by both keys, the
    /// QueryResponse verified and, when it installs, Update signed and Success verified in
    /// the Agent's suite.
    fn session(&self, kind: KeyKind, installs: bool) -> Duration {
        let (sign, verify) = match kind {
            KeyKind::P256 => (self.sign_es256, self.verify_es256),
            KeyKind::Ed25519 => (self.sign_ed25519, self.verify_ed25519),
        };
        let query = self.sign_es256 + self.sign_ed25519 + verify;
        if installs { query + sign + verify } else { query }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(rank.min(sorted.len() - 1)).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn tam(args: TamBench) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.agents > 0, "--agents must be positive");
    let example = crate::demo::Example::load(&args.vectors)?;
    let target = match (&args.tam_uri, &args.tam_config) {
        (Some(uri), Some(config)) => remote_tam(uri, config).await?,
        _ => local_tam(&args).await?,
    };
    let admin = target.admin().clone();
    let at = now();
    // Idempotent on a running TAM: an existing signer or TC is reused.
    let _ = admin.add_signer("bench-signer", example.signer_public_pem.as_bytes(), at).await;
    let manifest_id = match admin.add_tc(&example.envelope, at).await {
        Ok(row) => row.component_id,
        Err(_) => admin
            .tcs()
            .await?
            .into_iter()
            .find(|row| row.envelope == example.envelope || row.signer == "bench-signer")
            .map(|row| row.component_id)
            .context("the TAM refused the benchmark TC")?,
    };
    let key = ComponentKey::from_cbor(&manifest_id).map_err(|e| anyhow::anyhow!("{e}"))?;
    admin.require(&PolicyTarget::AllDevices, &key, 0).await?;

    let kinds: Vec<KeyKind> = (0..args.agents)
        .map(|i| match args.keys {
            AgentKeys::P256 => KeyKind::P256,
            AgentKeys::Ed25519 => KeyKind::Ed25519,
            AgentKeys::Mixed if i % 2 == 0 => KeyKind::P256,
            AgentKeys::Mixed => KeyKind::Ed25519,
        })
        .collect();
    let progress = |len: u64, what: &str| {
        let bar = if args.quiet || args.json {
            indicatif::ProgressBar::hidden()
        } else {
            indicatif::ProgressBar::new(len)
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:>10} [{elapsed_precise}] {wide_bar} {pos}/{len}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(what.to_owned());
        bar
    };
    let bar = progress(kinds.len() as u64, "devices");
    let target = Arc::new(target);
    let mut devices = Vec::with_capacity(kinds.len());
    for chunk in kinds.chunks(16) {
        // Set-up (key generation, state files, enrolment) runs in parallel within a chunk.
        let mut made = Vec::new();
        for &kind in chunk {
            let (target, signer) = (Arc::clone(&target), example.signer_public_pem.clone());
            made.push(tokio::spawn(async move { device(&target, kind, &signer).await }));
        }
        for task in made {
            devices.push(task.await??);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();

    // Load: every device runs sessions back to back until the window closes.
    let floor = Floor::measure(args.floor_iterations)?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.agents).build()?;
    let window = Duration::from_secs(args.duration.max(1));
    let bar = progress(window.as_secs(), "load");
    let stop = Arc::new(AtomicBool::new(false));
    let cpu_before = cpu_seconds(args.tam_pid, &[TAM_THREAD, SQLITE_THREAD]);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (mut device, kind) in devices.into_iter().zip(kinds.iter().copied()) {
        let (client, url, stop) = (client.clone(), target.url().to_owned(), Arc::clone(&stop));
        tasks.spawn(async move {
            let mut outcomes = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let outcome = session(&client, &url, &mut device.agent).await;
                outcomes.push(outcome.map_err(|e| e.to_string()));
            }
            (kind, outcomes, device)
        });
    }
    while started.elapsed() < window {
        tokio::time::sleep(Duration::from_millis(250)).await;
        bar.set_position(started.elapsed().as_secs());
    }
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let (mut failures, mut installs, mut floor_total) = (Vec::new(), 0_u64, Duration::ZERO);
    while let Some(joined) = tasks.join_next().await {
        let (kind, outcomes, _device) = joined?;
        for outcome in outcomes {
            match outcome {
                Ok(o) => {
                    latencies.push(o.latency);
                    installs += u64::from(o.installed);
                    floor_total += floor.session(kind, o.installed);
                }
                Err(e) => failures.push(e),
            }
        }
    }
    let elapsed = started.elapsed();
    let cpu_after = cpu_seconds(args.tam_pid, &[TAM_THREAD, SQLITE_THREAD]);
    bar.finish_and_clear();

    latencies.sort_unstable();
    let sessions = latencies.len() as u64;
    let rate = sessions as f64 / elapsed.as_secs_f64();
    let tam_cpu = match (cpu_before, cpu_after, &*target) {
        (Some(b), Some(a), Target::Local { .. }) => Some(a - b),
        (Some(b), Some(a), Target::Remote { .. }) if args.tam_pid.is_some() => Some(a - b),
        _ => None,
    };
    let floor_per_session = floor_total.checked_div(sessions.max(1) as u32).unwrap_or_default();
    let cpu_per_session = tam_cpu.map(|c| c / sessions.max(1) as f64);
    let ratio = cpu_per_session.map(|c| c / floor_per_session.as_secs_f64().max(1e-9));
    let database = match (&args.tam_uri, &args.database) {
        (Some(uri), _) => format!("remote {uri}"),
        (None, Some(url)) if url.starts_with("postgres") => "postgresql".to_owned(),
        _ => "sqlite".to_owned(),
    };
    if args.json {
        let summary = serde_json::json!({
            "tam": database,
            "agents": args.agents,
            "seconds": elapsed.as_secs_f64(),
            "sessions": sessions,
            "installing_sessions": installs,
            "failures": failures.len(),
            "sessions_per_second": rate,
            "latency_ms": { "p50": ms(percentile(&latencies, 0.5)),
                "p90": ms(percentile(&latencies, 0.9)), "p99": ms(percentile(&latencies, 0.99)) },
            "floor_us": { "sign_esp256": micros(floor.sign_es256),
                "sign_ed25519": micros(floor.sign_ed25519),
                "verify_esp256": micros(floor.verify_es256),
                "verify_ed25519": micros(floor.verify_ed25519),
                "per_session": micros(floor_per_session) },
            "tam_cpu_us_per_session": cpu_per_session.map(|c| c * 1e6),
            "ratio_to_floor": ratio,
        });
        say!("{summary:#}");
    } else {
        say!("TAM ({database}), {} agents, {:.1} s", args.agents, elapsed.as_secs_f64());
        say!(
            "sessions: {sessions} ({installs} installing), {rate:.1}/s, {} failed",
            failures.len()
        );
        say!(
            "latency: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.9)),
            ms(percentile(&latencies, 0.99))
        );
        say!(
            "crypto floor (this run): ESP256 sign {:.1} µs, verify {:.1} µs; Ed25519 sign {:.1} \
             µs, verify {:.1} µs; {:.1} µs per session on average",
            micros(floor.sign_es256),
            micros(floor.verify_es256),
            micros(floor.sign_ed25519),
            micros(floor.verify_ed25519),
            micros(floor_per_session)
        );
        match (cpu_per_session, ratio) {
            (Some(cpu), Some(ratio)) => {
                say!("TAM CPU: {:.1} µs per session = {ratio:.2} × the crypto floor", cpu * 1e6)
            }
            _ => say!("TAM CPU: not measured (give --tam-pid for a running TAM; Linux only)"),
        }
        for failure in failures.iter().take(5) {
            say!("failure: {failure}");
        }
    }
    Ok(if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
