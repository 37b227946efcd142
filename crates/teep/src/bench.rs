//! `teep bench`: load generators.
//!
//! `teep bench tam` drives simulated devices against a TAM: each device is the real TEEP Agent
//! core on a temp-dir software TEE (real keys, real signatures), relayed Broker-style over
//! loopback HTTP (draft-ietf-teep-otrp-over-http-15). The TAM is served
//!
//! * in this process (an SQLite file in a temp dir, or `--database postgres://…`),
//! * by `--tams N` child processes of this executable (`teep tam serve`), which share one
//!   state directory (the TAM keys) and one database (the token secret, devices, tokens), or
//! * by running TAMs (`--tam-uri`, repeated for replicas, with their `--tam-config`, whose
//!   database is used to enrol the devices and whose keys the devices trust).
//!
//! With several TAMs the requests of every session go round-robin over them, so each session
//! is continued by a replica other than the one that opened it (RFC 9397 §4.3: the TAM keeps no
//! session state outside its database). `--registered N` first enrols idle devices in bulk
//! until the database holds N, to measure a TAM whose tables hold a large fleet.
//!
//! It reports sessions per second, latency percentiles and failures, and measures in the same
//! run the crypto floor of a TAM session (draft-ietf-teep-protocol-26 §8.1, §9.1): a
//! QueryRequest signed with COSE_Sign by both TAM keys, the QueryResponse verified, the Update
//! signed and the Success verified; it prints the ratio of the TAM's CPU time per session to
//! that floor. The TAM's CPU is read from /proc (Linux): the threads of the in-process TAM
//! runtime and its SQLite workers, the child processes, or the `--tam-pid`s of running TAMs.
//!
//! A session counts as failed when any request fails, the TAM answers anything but 200 or 204,
//! the Agent rejects a TAM message, or the session ends while the device still lacks the
//! benchmark TC (a TAM that drops a message answers 204, so the outcome is checked on the
//! device). After the load every device must hold the TC on both sides, the Agent's and the
//! TAM's record; devices that do not count as failures too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand, ValueEnum};
use teep_agent::software::config::{ConfigFile, DeviceIdentity, TamEntry};
use teep_agent::software::{InitOptions, KeyKind, SoftwareAgent};
use teep_cose::{Algorithm, PublicKey, SigningKey};
use teep_tam::store::DeviceRow;
use teep_tam::{Admin, ComponentKey, PolicyTarget, Tam, TamConfig, TamKeys, Wire};

/// Name prefix of the in-process TAM's runtime threads (CPU accounting).
const TAM_THREAD: &str = "tam-bench";
/// Thread name prefix of sqlx's SQLite workers (part of the TAM's cost).
const SQLITE_THREAD: &str = "sqlx-sqlite";
/// Idle devices enrolled per transaction by `--registered`: large transactions keep SQLite
/// from rewriting its primary-key index at every commit (see teep-tam's store/bulk.rs).
const REGISTER_CHUNK: usize = 200_000;
/// Label of the idle devices `--registered` enrols.
const IDLE_LABEL: &str = "bench-idle";
/// How long a spawned TAM process may take to answer its first request.
const TAM_START_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause of a device after a failed session, so a dead TAM does not spin the load loop.
const FAILURE_BACKOFF: Duration = Duration::from_millis(100);

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
    /// Devices enrolled in the TAM's database before the load, the simulated Agents included:
    /// idle devices (random Ed25519 public keys without private keys, label `bench-idle`) are enrolled in
    /// bulk until the database holds at least this many.
    #[arg(long, default_value_t = 0)]
    registered: u64,
    /// Serve the TAM from this many `teep tam serve` processes of this executable, sharing
    /// one state directory and one database (more than one needs --database postgres://…);
    /// 0 serves it inside the benchmark process.
    #[arg(long, default_value_t = 0, conflicts_with = "tam_uri")]
    tams: usize,
    /// Database of the TAM served here (default: an SQLite file in a temp dir).
    #[arg(long, conflicts_with = "tam_uri")]
    database: Option<String>,
    /// Pooled database connections of each TAM served here.
    #[arg(long, default_value_t = 8)]
    db_connections: u32,
    /// Worker threads of the in-process TAM runtime.
    #[arg(long, default_value_t = 1)]
    tam_threads: usize,
    /// A running TAM's URI (for example http://127.0.0.1:8080/tam) instead of one served
    /// here. Repeat it for replicas on one database: each session's requests go round-robin.
    #[arg(long, requires = "tam_config")]
    tam_uri: Vec<String>,
    /// tam.toml of the running TAM: its keys are trusted and its database is used to enrol
    /// the devices and publish the benchmark TC.
    #[arg(long)]
    tam_config: Option<PathBuf>,
    /// Process id of a running TAM, to measure its CPU time; repeat it for replicas.
    #[arg(long)]
    tam_pid: Vec<u32>,
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

/// Where the TAM's CPU time is read.
enum Cpu {
    /// Threads of this process whose names start with these prefixes.
    Threads(&'static [&'static str]),
    /// These processes.
    Processes(Vec<u32>),
    /// Not measurable (a running TAM without --tam-pid).
    Unknown,
}

/// The TAM(s) under load.
struct Target {
    /// TEEP endpoints; several when replicas serve one database.
    urls: Vec<String>,
    /// The TAM's public keys, which the Agents trust.
    keys: [PublicKey; 2],
    /// The TAM's database, for enrolment and the catalog.
    admin: Admin,
    cpu: Cpu,
    /// Short description for the report: `in-process`, `2 processes`, `remote`.
    serving: String,
    _in_process: Option<LocalTam>,
    _processes: Option<TamProcesses>,
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

/// `teep tam serve` child processes; killed when dropped.
struct TamProcesses {
    children: Vec<Child>,
    _dir: tempfile::TempDir,
}

impl Drop for TamProcesses {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
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
    Ok(Target {
        urls: vec![format!("http://{address}/tam")],
        keys,
        admin,
        cpu: Cpu::Threads(&[TAM_THREAD, SQLITE_THREAD]),
        serving: "in-process".into(),
        _in_process: Some(LocalTam { stop: Some(stop_tx), thread: Some(thread), _dir: dir }),
        _processes: None,
    })
}

/// Starts `args.tams` `teep tam serve` processes of this executable on one state directory
/// (shared keys) and one database (shared token secret and fleet).
async fn spawned_tams(args: &TamBench) -> anyhow::Result<Target> {
    let count = args.tams;
    let postgres = args.database.as_deref().is_some_and(is_postgres);
    anyhow::ensure!(
        count == 1 || postgres,
        "--tams {count} needs --database postgres://…: replicas share one PostgreSQL database \
         (an SQLite file serves one TAM process)"
    );
    let dir = tempfile::tempdir().context("creating a temp dir for the TAM state")?;
    let config = TamConfig {
        state_dir: dir.path().to_owned(),
        database_url: args.database.clone(),
        max_db_connections: args.db_connections.max(1),
        ..TamConfig::default()
    };
    config.validate()?;
    let keys = TamKeys::load_or_generate(&config).context("TAM keys")?.public_keys();
    let file = dir.path().join("tam.toml");
    std::fs::write(&file, config.to_toml()).context("writing tam.toml")?;
    // Migrate once here, before the replicas start.
    let admin = Admin::connect(&config).await.context("the TAM database")?;

    let exe = std::env::current_exe().context("locating this executable")?;
    let mut processes = TamProcesses { children: Vec::new(), _dir: dir };
    let mut started = Vec::new();
    for i in 0..count {
        let port = free_port()?;
        let log_path = file.with_file_name(format!("tam-{i}.log"));
        let log = std::fs::File::create(&log_path)?;
        let child = std::process::Command::new(&exe)
            .args(["tam", "serve", "-c"])
            .arg(&file)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {} tam serve", exe.display()))?;
        processes.children.push(child);
        started.push((format!("http://127.0.0.1:{port}/tam"), log_path));
    }
    let client = reqwest::Client::new();
    for ((url, log), child) in started.iter().zip(processes.children.iter_mut()) {
        wait_ready(&client, url, child, log).await?;
    }
    let pids = processes.children.iter().map(Child::id).collect();
    Ok(Target {
        urls: started.into_iter().map(|(url, _)| url).collect(),
        keys,
        admin,
        cpu: Cpu::Processes(pids),
        serving: format!("{count} process{}", if count == 1 { "" } else { "es" }),
        _in_process: None,
        _processes: Some(processes),
    })
}

/// A loopback port that was free a moment ago.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Waits until the TAM at `url` answers an empty POST with a QueryRequest.
async fn wait_ready(
    client: &reqwest::Client,
    url: &str,
    child: &mut Child,
    log: &Path,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + TAM_START_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("the TAM process for {url} exited ({status}); its log: {}", log_tail(log));
        }
        let reply = client.post(url).header("accept", teep_tam::http::TEEP_MEDIA_TYPE).send().await;
        if reply.is_ok_and(|r| r.status() == reqwest::StatusCode::OK) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the TAM process for {url} did not answer in time; its log: {}", log_tail(log));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last lines of a child's log, for an error message.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

async fn remote_tams(uris: &[String], config: &Path, pids: &[u32]) -> anyhow::Result<Target> {
    let config = TamConfig::load(config)?;
    let keys = TamKeys::load(&config).context("the running TAM's keys")?.public_keys();
    let admin = Admin::connect(&config).await.context("the running TAM's database")?;
    Ok(Target {
        urls: uris.to_vec(),
        keys,
        admin,
        cpu: if pids.is_empty() { Cpu::Unknown } else { Cpu::Processes(pids.to_vec()) },
        serving: format!("remote ×{}", uris.len()),
        _in_process: None,
        _processes: None,
    })
}

/// What `--registered` did.
#[derive(Default)]
struct Registration {
    /// Devices in the database once the simulated ones are enrolled.
    total: u64,
    /// Idle devices this run enrolled.
    added: u64,
    /// Time spent generating their keys (on a blocking thread, overlapping the inserts).
    keys: Duration,
    /// Time spent in the bulk inserts.
    inserts: Duration,
    /// Wall time of the whole registration.
    wall: Duration,
}

/// Enrols idle devices until the database holds `wanted` devices, counting the `agents`
/// simulated devices still to come. Keys are made on a blocking thread while the previous
/// chunk is inserted.
async fn register_idle(
    admin: &Admin,
    wanted: u64,
    agents: u64,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<Registration> {
    let store = admin.store();
    let present = store.device_count().await?;
    let idle = wanted.saturating_sub(present.saturating_add(agents));
    if idle == 0 {
        return Ok(Registration::default());
    }
    bar.set_length(idle);
    let started = Instant::now();
    let at = now();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<DeviceRow>>(1);
    let producer = tokio::task::spawn_blocking(move || -> anyhow::Result<Duration> {
        let mut spent = Duration::ZERO;
        let mut left = idle;
        while left > 0 {
            let n = usize::try_from(left).unwrap_or(REGISTER_CHUNK).min(REGISTER_CHUNK);
            let made = Instant::now();
            let rows = idle_devices(n, at)?;
            spent += made.elapsed();
            if tx.blocking_send(rows).is_err() {
                break; // the inserting side failed and reports why
            }
            left -= n as u64;
        }
        Ok(spent)
    });
    let (mut added, mut inserts) = (0_u64, Duration::ZERO);
    while let Some(rows) = rx.recv().await {
        let insert = Instant::now();
        added += store.enroll_devices(&rows).await.context("bulk enrolment")?;
        inserts += insert.elapsed();
        bar.inc(rows.len() as u64);
    }
    let keys = producer.await??;
    let detail = format!("{added} idle devices (label {IDLE_LABEL}) enrolled in bulk");
    admin.audit("device.enroll", "teep bench tam", &detail, at).await?;
    Ok(Registration { total: 0, added, keys, inserts, wall: started.elapsed() })
}

/// `n` device rows whose keys are random Ed25519 public keys: 32 random bytes that decode to
/// a curve point. No private key exists for them, so these devices can never open a session;
/// decoding a point costs a fraction of deriving a key pair.
fn idle_devices(n: usize, at: u64) -> anyhow::Result<Vec<DeviceRow>> {
    let mut rows = Vec::with_capacity(n);
    // About half of all 32-byte strings are point encodings.
    let mut candidates = vec![0_u8; 32 * (n + n / 8 + 16)];
    while rows.len() < n {
        getrandom::fill(&mut candidates).map_err(|e| anyhow::anyhow!("random bytes: {e}"))?;
        for candidate in candidates.chunks_exact(32) {
            let Ok(key) = PublicKey::from_ed25519_bytes(candidate.try_into()?) else { continue };
            rows.push(DeviceRow {
                thumbprint: key.thumbprint().to_vec(),
                cose_key: key.to_cose_key(),
                label: Some(IDLE_LABEL.to_owned()),
                wire: Wire::Rfc.as_str().to_owned(),
                blocked: false,
                enrolled_at: at,
                last_seen: None,
                last_error_code: None,
                last_error_msg: None,
                last_error_at: None,
            });
            if rows.len() == n {
                break;
            }
        }
    }
    Ok(rows)
}

/// One simulated device.
struct Device {
    _dir: tempfile::TempDir,
    agent: SoftwareAgent,
    /// RFC 9679 thumbprint of its Agent key, its name at the TAM.
    kid: [u8; 32],
}

async fn device(target: &Target, kind: KeyKind, signer_pem: &str) -> anyhow::Result<Device> {
    let dir = tempfile::tempdir()?;
    let [p256, ed25519] = &target.keys;
    let config = ConfigFile {
        tams: vec![TamEntry {
            uri: target.urls.first().cloned().unwrap_or_default(),
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
        .admin
        .enroll_device(initialized.public_key_pem.as_bytes(), Some("bench"), Wire::Rfc, now())
        .await?;
    Ok(Device { _dir: dir, agent, kid: initialized.kid })
}

fn now() -> u64 {
    crate::unix_now()
}

/// What one session did.
struct SessionOutcome {
    latency: Duration,
    installed: bool,
}

/// One session, Broker-style: request `round` goes to `urls[(first + round) % len]`.
async fn session(
    client: &reqwest::Client,
    urls: &[String],
    first: usize,
    agent: &mut SoftwareAgent,
) -> anyhow::Result<SessionOutcome> {
    let started = Instant::now();
    let had = !agent.tc_list().is_empty();
    let mut body = Vec::new();
    for round in 0..8_usize {
        let url = urls.get((first + round) % urls.len().max(1)).context("no TAM URL")?;
        let mut request = client.post(url).header("accept", teep_tam::http::TEEP_MEDIA_TYPE);
        if !body.is_empty() {
            request = request.header("content-type", teep_tam::http::TEEP_MEDIA_TYPE);
        }
        let reply = request.body(std::mem::take(&mut body)).send().await?;
        match reply.status().as_u16() {
            204 => break,
            200 => {}
            other => bail!("HTTP {other} in round {}", round + 1),
        }
        let message = reply.bytes().await?;
        body = agent.handle(&message, now()).map_err(|e| anyhow::anyhow!("agent: {e}"))?;
        if body.is_empty() {
            break;
        }
        if round == 7 {
            bail!("session did not end within 8 rounds");
        }
    }
    // A TAM that drops a message answers 204 too: the device's state tells.
    if agent.tc_list().is_empty() {
        bail!("session ended without the benchmark TC on the device");
    }
    Ok(SessionOutcome { latency: started.elapsed(), installed: !had })
}

/// Seconds of CPU (user + system) of the TAM, per `cpu`; None where /proc is not available.
fn cpu_seconds(cpu: &Cpu) -> Option<f64> {
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
    let mut total = 0_u64;
    match cpu {
        Cpu::Unknown => return None,
        Cpu::Processes(pids) => {
            for pid in pids {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                total = total.saturating_add(ticks(&stat)?);
            }
        }
        Cpu::Threads(prefixes) => {
            for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
                let path = entry.path();
                let Ok(comm) = std::fs::read_to_string(path.join("comm")) else { continue };
                if prefixes.iter().any(|p| comm.trim().starts_with(p)) {
                    let stat = std::fs::read_to_string(path.join("stat")).ok()?;
                    total = total.saturating_add(ticks(&stat)?);
                }
            }
        }
    }
    Some(total as f64 / TICKS)
}

/// Time of one `op`: the fastest mean of 5 batches of `n / 5` runs. On a shared machine a
/// batch that other processes preempted runs slower; the fastest batch is the closest to the
/// operation's CPU cost, which is what the TAM's CPU time is compared with.
fn time_op(n: u32, mut op: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<Duration> {
    const BATCHES: u32 = 5;
    let per_batch = (n / BATCHES).max(1);
    op()?;
    let mut best = Duration::MAX;
    for _ in 0..BATCHES {
        let started = Instant::now();
        for _ in 0..per_batch {
            op()?;
        }
        best = best.min(started.elapsed() / per_batch);
    }
    Ok(best)
}

/// The signatures and verifications one installing TAM session needs, timed in process.
#[derive(Clone, Copy)]
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

/// A progress bar on standard error, hidden with --quiet or --json.
fn progress(args: &TamBench, len: u64, what: &str) -> indicatif::ProgressBar {
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
}

/// Registers the benchmark TC's signer and the TC, and requires the TC on every device.
/// Idempotent on a running TAM: a signer or TC that is already registered is reused.
async fn publish(admin: &Admin, example: &crate::demo::Example) -> anyhow::Result<()> {
    let at = now();
    let signer = PublicKey::from_spki_pem(&example.signer_public_pem)
        .map_err(|e| anyhow::anyhow!("the benchmark TC's signer key: {e}"))?;
    if !admin.signers().await?.iter().any(|s| s.thumbprint == signer.thumbprint()) {
        admin.add_signer("bench-signer", example.signer_public_pem.as_bytes(), at).await?;
    }
    // The catalog names the TC by its suit-manifest-component-id.
    let manifest = teep_suit::Envelope::decode(&example.envelope)
        .and_then(|e| e.authenticate(&teep_suit::TrustAnchors::new(vec![signer])))
        .map_err(|e| anyhow::anyhow!("the benchmark TC: {e}"))?;
    let identity = manifest.identity().context("the benchmark TC has no component id")?;
    let key = ComponentKey::from_parts(identity.segments()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let listed = admin.tcs().await?.into_iter().any(|row| {
        row.component_id == key.as_cbor() && row.sequence_number == manifest.sequence_number()
    });
    if !listed {
        admin.add_tc(&example.envelope, at).await.context("publishing the benchmark TC")?;
    }
    admin.require(&PolicyTarget::AllDevices, &key, 0).await?;
    Ok(())
}

/// What the sessions of one device did.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    installs: u64,
    floor: Duration,
    /// Failed sessions by reason.
    failures: BTreeMap<String, u64>,
}

impl Tally {
    fn fail(&mut self, reason: String) {
        *self.failures.entry(reason).or_default() += 1;
    }

    fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.installs += other.installs;
        self.floor += other.floor;
        for (reason, n) in other.failures {
            *self.failures.entry(reason).or_default() += n;
        }
    }
}

async fn tam(args: TamBench) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.agents > 0, "--agents must be positive");
    let example = crate::demo::Example::load(&args.vectors)?;
    let target = match (&args.tam_uri[..], &args.tam_config) {
        ([], _) if args.tams > 0 => spawned_tams(&args).await?,
        ([], _) => local_tam(&args).await?,
        (uris, Some(config)) => remote_tams(uris, config, &args.tam_pid).await?,
        (_, None) => bail!("--tam-uri needs --tam-config (the running TAM's tam.toml)"),
    };

    // A large fleet first, so that the simulated devices' rows join a full table.
    let bar = progress(&args, 0, "register");
    let mut registration =
        register_idle(&target.admin, args.registered, args.agents as u64, &bar).await?;
    bar.finish_and_clear();
    publish(&target.admin, &example).await?;

    let kinds: Vec<KeyKind> = (0..args.agents)
        .map(|i| match args.keys {
            AgentKeys::P256 => KeyKind::P256,
            AgentKeys::Ed25519 => KeyKind::Ed25519,
            AgentKeys::Mixed if i.is_multiple_of(2) => KeyKind::P256,
            AgentKeys::Mixed => KeyKind::Ed25519,
        })
        .collect();
    let target = Arc::new(target);
    let devices = set_up_devices(&args, &target, &kinds, &example.signer_public_pem).await?;
    registration.total = target.admin.store().device_count().await?;

    let floor = Floor::measure(args.floor_iterations)?;
    let cpu_before = cpu_seconds(&target.cpu);
    let (mut total, finished, elapsed) = load(&args, &target, devices, &kinds, floor).await?;
    let cpu = cpu_before.zip(cpu_seconds(&target.cpu)).map(|(b, a)| a - b);
    let unconverged = check_devices(&target.admin, &finished, &mut total).await;
    total.latencies.sort_unstable();

    let report = Report { target: &target, registration, floor, total, unconverged, elapsed, cpu };
    if args.json {
        say!("{:#}", report.json(&args));
    } else {
        report.print(&args);
    }
    Ok(if report.failed() == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Creates and enrols the simulated devices (key generation, state files and enrolment run
/// in parallel, 16 at a time).
async fn set_up_devices(
    args: &TamBench,
    target: &Arc<Target>,
    kinds: &[KeyKind],
    signer_pem: &str,
) -> anyhow::Result<Vec<Device>> {
    let bar = progress(args, kinds.len() as u64, "devices");
    let mut devices = Vec::with_capacity(kinds.len());
    for chunk in kinds.chunks(16) {
        let mut made = Vec::new();
        for &kind in chunk {
            let (target, signer) = (Arc::clone(target), signer_pem.to_owned());
            made.push(tokio::spawn(async move { device(&target, kind, &signer).await }));
        }
        for task in made {
            devices.push(task.await.context("device set-up")??);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    Ok(devices)
}

/// Every device runs sessions back to back until the window closes. Returns what they did,
/// the devices, and the time the load took.
async fn load(
    args: &TamBench,
    target: &Target,
    devices: Vec<Device>,
    kinds: &[KeyKind],
    floor: Floor,
) -> anyhow::Result<(Tally, Vec<Device>, Duration)> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.agents).build()?;
    let window = Duration::from_secs(args.duration.max(1));
    let bar = progress(args, window.as_secs(), "load");
    let stop = Arc::new(AtomicBool::new(false));
    let urls = Arc::new(target.urls.clone());
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (index, (mut device, &kind)) in devices.into_iter().zip(kinds).enumerate() {
        let (client, urls, stop) = (client.clone(), Arc::clone(&urls), Arc::clone(&stop));
        tasks.spawn(async move {
            let mut tally = Tally::default();
            while !stop.load(Ordering::Relaxed) {
                match session(&client, &urls, index, &mut device.agent).await {
                    Ok(o) => {
                        tally.latencies.push(o.latency);
                        tally.installs += u64::from(o.installed);
                        tally.floor += floor.session(kind, o.installed);
                    }
                    Err(e) => {
                        tally.fail(format!("{e:#}"));
                        tokio::time::sleep(FAILURE_BACKOFF).await;
                    }
                }
            }
            (tally, device)
        });
    }
    while started.elapsed() < window {
        tokio::time::sleep(Duration::from_millis(250)).await;
        bar.set_position(started.elapsed().as_secs());
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = Tally::default();
    let mut finished = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((tally, device)) => {
                total.merge(tally);
                finished.push(device);
            }
            Err(e) => total.fail(format!("device task ended abnormally: {e}")),
        }
    }
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    Ok((total, finished, elapsed))
}

/// After the load every device must hold the TC and the TAM must know it; each device that
/// does not is counted in `total` as a failure. Returns how many did not.
async fn check_devices(admin: &Admin, devices: &[Device], total: &mut Tally) -> u64 {
    let mut unconverged = 0_u64;
    for device in devices {
        let problem = if device.agent.tc_list().is_empty() {
            Some("after the load: device without the benchmark TC".to_owned())
        } else {
            match admin.status(&device.kid).await {
                Ok(status) if status.components.is_empty() => {
                    Some("after the load: the TAM has no record of the TC on a device".to_owned())
                }
                Ok(_) => None,
                Err(e) => Some(format!("after the load: TAM status of a device: {e}")),
            }
        };
        if let Some(problem) = problem {
            unconverged += 1;
            total.fail(problem);
        }
    }
    unconverged
}

/// The figures of one run.
struct Report<'a> {
    target: &'a Target,
    registration: Registration,
    floor: Floor,
    total: Tally,
    unconverged: u64,
    elapsed: Duration,
    /// Seconds of TAM CPU during the load, when measurable.
    cpu: Option<f64>,
}

impl Report<'_> {
    fn sessions(&self) -> u64 {
        self.total.latencies.len() as u64
    }

    fn failed(&self) -> u64 {
        self.total.failures.values().sum()
    }

    fn rate(&self) -> f64 {
        self.sessions() as f64 / self.elapsed.as_secs_f64()
    }

    /// Latency percentile in milliseconds (`tam` sorts the latencies).
    fn latency(&self, p: f64) -> f64 {
        ms(percentile(&self.total.latencies, p))
    }

    fn max_latency(&self) -> f64 {
        self.total.latencies.last().copied().map(ms).unwrap_or_default()
    }

    /// Mean crypto floor of the sessions that ran.
    fn floor_per_session(&self) -> Duration {
        let n = u32::try_from(self.sessions().max(1)).unwrap_or(u32::MAX);
        self.total.floor.checked_div(n).unwrap_or_default()
    }

    /// Sessions/s one core doing nothing but the TAM's signatures would reach.
    fn floor_rate(&self) -> f64 {
        1.0 / self.floor_per_session().as_secs_f64().max(1e-9)
    }

    fn cpu_per_session(&self) -> Option<f64> {
        self.cpu.map(|c| c / self.sessions().max(1) as f64)
    }

    /// TAM CPU per session over the crypto floor.
    fn cpu_ratio(&self) -> Option<f64> {
        self.cpu_per_session().map(|c| c / self.floor_per_session().as_secs_f64().max(1e-9))
    }

    fn database(&self, args: &TamBench) -> &'static str {
        match &args.database {
            _ if !args.tam_uri.is_empty() => "its own database",
            Some(url) if is_postgres(url) => "PostgreSQL",
            _ => "SQLite",
        }
    }

    fn print_floor(&self) {
        let floor = &self.floor;
        say!(
            "crypto floor (this run): ESP256 sign {:.1} µs, verify {:.1} µs; Ed25519 sign {:.1} \
             µs, verify {:.1} µs; {:.1} µs per session = {:.0} sessions/s per core; achieved \
             {:.3} × that",
            micros(floor.sign_es256),
            micros(floor.verify_es256),
            micros(floor.sign_ed25519),
            micros(floor.verify_ed25519),
            micros(self.floor_per_session()),
            self.floor_rate(),
            self.rate() / self.floor_rate()
        );
    }

    fn json(&self, args: &TamBench) -> serde_json::Value {
        let (floor, registration) = (&self.floor, &self.registration);
        serde_json::json!({
            "tam": self.target.serving,
            "urls": self.target.urls,
            "database": self.database(args),
            "registered_devices": registration.total,
            "registration": { "added": registration.added,
                "seconds": registration.wall.as_secs_f64(),
                "key_seconds": registration.keys.as_secs_f64(),
                "insert_seconds": registration.inserts.as_secs_f64() },
            "agents": args.agents,
            "seconds": self.elapsed.as_secs_f64(),
            "sessions": self.sessions(),
            "installing_sessions": self.total.installs,
            "failures": self.failed(),
            "failure_reasons": self.total.failures,
            "unconverged_devices": self.unconverged,
            "sessions_per_second": self.rate(),
            "latency_ms": { "p50": self.latency(0.5), "p90": self.latency(0.9),
                "p99": self.latency(0.99), "max": self.max_latency() },
            "floor_us": { "sign_esp256": micros(floor.sign_es256),
                "sign_ed25519": micros(floor.sign_ed25519),
                "verify_esp256": micros(floor.verify_es256),
                "verify_ed25519": micros(floor.verify_ed25519),
                "per_session": micros(self.floor_per_session()) },
            "floor_sessions_per_second_per_core": (self.sessions() > 0).then(|| self.floor_rate()),
            "throughput_to_floor": (self.sessions() > 0).then(|| self.rate() / self.floor_rate()),
            "tam_cpu_us_per_session": self.cpu_per_session().map(|c| c * 1e6),
            "ratio_to_floor": self.cpu_ratio(),
        })
    }

    fn print(&self, args: &TamBench) {
        let registration = &self.registration;
        say!(
            "TAM: {} on {}, {} registered devices, {} agents, {:.1} s",
            self.target.serving,
            self.database(args),
            registration.total,
            args.agents,
            self.elapsed.as_secs_f64()
        );
        if registration.added > 0 {
            say!(
                "registered {} idle devices in {:.1} s (keys {:.1} s, bulk inserts {:.1} s)",
                registration.added,
                registration.wall.as_secs_f64(),
                registration.keys.as_secs_f64(),
                registration.inserts.as_secs_f64()
            );
        }
        say!(
            "sessions: {} ({} installing), {:.1}/s, {} failed, {} devices without the TC",
            self.sessions(),
            self.total.installs,
            self.rate(),
            self.failed(),
            self.unconverged
        );
        say!(
            "latency: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.latency(0.5),
            self.latency(0.9),
            self.latency(0.99),
            self.max_latency()
        );
        if self.sessions() == 0 {
            say!("crypto floor: not computed, no session completed");
        } else {
            self.print_floor();
        }
        match (self.cpu_per_session(), self.cpu_ratio()) {
            (Some(cpu), Some(ratio)) => {
                say!("TAM CPU: {:.1} µs per session = {ratio:.2} × the crypto floor", cpu * 1e6)
            }
            _ => say!("TAM CPU: not measured (give --tam-pid for a running TAM; Linux only)"),
        }
        let mut reasons: Vec<_> = self.total.failures.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1));
        for (reason, n) in reasons.iter().take(5) {
            say!("failed {n}×: {reason}");
        }
    }
}
