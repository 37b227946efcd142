//! The Broker as a long-running service (`teep broker serve`).
//!
//! RFC 9397 §6.2 gives the Broker two duties the one-shot commands cannot carry: to take
//! RequestTA/UnrequestTA from untrusted applications and installers at any time, and to run
//! RequestPolicyCheck on its own so that the device keeps itself up to date
//! (draft-ietf-teep-otrp-over-http §5.5). [`Daemon`] does both:
//! - a local Unix socket ([`crate::daemon_socket`]) with a configurable mode and group;
//! - a policy check every `policy_check_interval_ms` plus random jitter; after a check in which
//!   any TAM session failed, the next one comes after an exponentially growing delay (with
//!   jitter) until a check succeeds again. Every TAM the Agent names is contacted in each check;
//!   one that is down does not keep the others from being reached ([`Broker::request_policy_check`]);
//! - RequestTA and UnrequestTA retried on network errors, timeouts and 5xx answers;
//! - a clean shutdown: the socket stops accepting, a running operation may finish within
//!   `shutdown_grace_ms`, the socket file is removed.
//!
//! Operations are serialized: one TEEP session at a time, as the Agent runs one at a time.
//!
//! The daemon runs either attestation model ([`DaemonAgent`]): with an [`IpcAgent`] the Agent's
//! Evidence goes to the TAM (background check); with a [`PassportAgent`] (the configuration's
//! `[passport]` section) the Broker first takes it to the Verifier, and each attempt shows in
//! the operation's outcome and in the status.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use teep_agent::ipc::frame::{read_frame, write_frame};
use teep_agent::ipc::{AgentHandle, Client, IpcError, Request, Response};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Mutex, Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{debug, error, info, warn};

use crate::daemon_config::DaemonConfig;
use crate::daemon_socket::{
    ComponentView, DaemonRequest, DaemonResponse, DaemonStatus, FailedSession, MAX_DAEMON_FRAME,
    OperationOutcome, PassportAttempt, SessionOutcome, TamHealth, decode, encode,
};
use crate::passport::{PassportAgent, PassportOutcome};
use crate::{
    AgentSide, Broker, BrokerError, Event, IpcAgent, MessageKind, Report, TransportFailure,
    TrustedComponentId,
};

/// What the daemon needs of its Agent side beyond [`AgentSide`]: the Agent's IPC handle (for
/// the status) and, in the passport model, the attempts made.
pub trait DaemonAgent: AgentSide + 'static {
    /// The handle the Agent is reached through.
    type Handle: AgentHandle;

    /// The Agent's handle.
    fn agent_handle(&self) -> &Self::Handle;

    /// The Verifier Evidence goes to, when this Agent side runs the passport model.
    fn verifier_url(&self) -> Option<&str> {
        None
    }

    /// Passport attempts since the last call (none in the background-check model).
    fn take_passport_outcomes(&mut self) -> Vec<PassportOutcome> {
        Vec::new()
    }
}

impl<H: AgentHandle + 'static> DaemonAgent for IpcAgent<H> {
    type Handle = H;

    fn agent_handle(&self) -> &H {
        self.handle()
    }
}

impl<H: AgentHandle + 'static> DaemonAgent for PassportAgent<H> {
    type Handle = H;

    fn agent_handle(&self) -> &H {
        self.inner().handle()
    }

    fn verifier_url(&self) -> Option<&str> {
        Some(PassportAgent::verifier_url(self))
    }

    fn take_passport_outcomes(&mut self) -> Vec<PassportOutcome> {
        self.take_outcomes()
    }
}

/// Most passport attempts kept for the status.
const MAX_PASSPORT_ATTEMPTS: usize = 16;

/// The Agent behind a Unix socket, reconnected on the next call after the connection broke
/// (the Agent was restarted). A call that fails on a broken connection is not repeated: the
/// Agent may have acted on it.
#[derive(Debug)]
pub struct AgentSocket {
    path: PathBuf,
    client: Mutex<Option<Arc<Client>>>,
}

impl AgentSocket {
    /// A handle for the Agent listening on `path`; connects on first use.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), client: Mutex::new(None) }
    }
}

impl AgentHandle for AgentSocket {
    async fn call(&self, request: Request) -> Result<Response, IpcError> {
        let client = {
            let mut slot = self.client.lock().await;
            match slot.as_ref() {
                Some(client) => Arc::clone(client),
                None => {
                    let client = Client::connect(&self.path)
                        .await
                        .map_err(|e| IpcError::Frame(teep_agent::ipc::FrameError::Io(e)))?;
                    Arc::clone(slot.insert(Arc::new(client)))
                }
            }
        };
        let result = client.call(&request).await;
        if let Err(IpcError::Frame(_)) = &result {
            // The connection is unusable; the next call connects again.
            *self.client.lock().await = None;
        }
        result
    }
}

/// The daemon's view of its schedule and of each TAM.
#[derive(Debug, Default)]
struct Health {
    policy_checks: u64,
    consecutive_failures: u32,
    last_check_unix: Option<u64>,
    next_check_at: Option<Instant>,
    tams: BTreeMap<String, TamHealth>,
    passport: VecDeque<PassportAttempt>,
}

impl Health {
    /// Keeps `attempts` for the status (the latest [`MAX_PASSPORT_ATTEMPTS`]).
    fn record_passport(&mut self, attempts: &[PassportAttempt]) {
        for attempt in attempts {
            if self.passport.len() >= MAX_PASSPORT_ATTEMPTS {
                self.passport.pop_front();
            }
            self.passport.push_back(attempt.clone());
        }
    }
}

/// The Broker daemon: a [`Broker`] behind a local socket and a policy-check timer.
pub struct Daemon<A: DaemonAgent> {
    broker: Mutex<Broker<A>>,
    health: std::sync::Mutex<Health>,
    config: DaemonConfig,
}

impl<A: DaemonAgent> std::fmt::Debug for Daemon<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon").field("config", &self.config).finish_non_exhaustive()
    }
}

impl<A: DaemonAgent> Daemon<A> {
    /// A daemon around `broker`, scheduled by the broker configuration's `[daemon]` section.
    pub fn new(broker: Broker<A>) -> Self {
        let config = broker.config().daemon.clone();
        Self {
            broker: Mutex::new(broker),
            health: std::sync::Mutex::new(Health::default()),
            config,
        }
    }

    /// Binds the configured socket (see [`bind_socket`]) and serves until `shutdown` resolves.
    pub async fn serve(
        self: Arc<Self>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), DaemonError> {
        let Some(path) = self.config.socket.clone() else {
            return Err(DaemonError::NoSocket);
        };
        let listener = bind_socket(&path, self.config.socket_mode, self.config.socket_gid)
            .map_err(|source| DaemonError::Bind { path: path.display().to_string(), source })?;
        info!(socket = %path.display(), "Broker daemon listening");
        self.serve_listener(listener, shutdown).await;
        if let Err(e) = std::fs::remove_file(&path) {
            warn!(socket = %path.display(), error = %e, "cannot remove the daemon socket");
        }
        info!("Broker daemon stopped");
        Ok(())
    }

    /// Serves connections on `listener` and runs the policy-check timer until `shutdown`
    /// resolves; then stops accepting, lets running calls finish within the grace period and
    /// returns.
    pub async fn serve_listener(
        self: Arc<Self>,
        listener: UnixListener,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let timer = tokio::spawn(Arc::clone(&self).policy_check_timer(stop_rx.clone()));
        let mut clients = JoinSet::new();
        let slots = Arc::new(Semaphore::new(self.config.max_clients));

        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let daemon = Arc::clone(&self);
                        let slots = Arc::clone(&slots);
                        clients.spawn(async move {
                            let Ok(_slot) = slots.acquire_owned().await else { return };
                            daemon.serve_client(stream).await;
                        });
                    }
                    Err(e) => {
                        error!(error = %e, "daemon socket accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = clients.join_next(), if !clients.is_empty() => {}
            }
        }

        // Shutdown: no new connections; the timer ends after a running check; clients get
        // the grace period.
        info!("Broker daemon shutting down");
        drop(listener);
        let _ = stop_tx.send(true);
        let grace = self.config.shutdown_grace();
        let drained =
            tokio::time::timeout(grace, async { while clients.join_next().await.is_some() {} })
                .await;
        if drained.is_err() {
            warn!("clients still running after the shutdown grace period; dropping them");
            clients.abort_all();
        }
        if tokio::time::timeout(grace, timer).await.is_err() {
            warn!("a policy check was still running after the shutdown grace period");
        }
    }

    /// The policy-check loop: first check at start (if configured), then one per interval
    /// with jitter, or sooner with backoff after a failure.
    async fn policy_check_timer(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut delay = if self.config.check_on_start {
            Duration::ZERO
        } else {
            self.config.next_check_delay(0, random())
        };
        loop {
            self.set_next_check(Some(Instant::now() + delay));
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
            let failures = match self.policy_check().await {
                Ok(_) => self.consecutive_failures(),
                Err(e) => {
                    warn!(error = %e, "scheduled policy check failed");
                    self.consecutive_failures()
                }
            };
            delay = self.config.next_check_delay(failures, random());
            debug!(failures, delay_ms = delay.as_millis() as u64, "next policy check scheduled");
        }
        self.set_next_check(None);
    }

    /// Runs one RequestPolicyCheck now and records its outcome.
    pub async fn policy_check(&self) -> Result<OperationOutcome, BrokerError> {
        let mut broker = self.broker.lock().await;
        let result = broker.request_policy_check().await;
        let transcript = broker.take_transcript();
        let passport = broker.agent_mut().take_passport_outcomes();
        drop(broker);

        let now = unix_now();
        let passport = attempts_of(passport, now);
        let mut health = self.lock_health();
        health.policy_checks = health.policy_checks.saturating_add(1);
        health.last_check_unix = Some(now);
        health.record_passport(&passport);
        match result {
            Ok(report) => {
                let ok = report.failures.is_empty();
                record_sessions(&mut health, &report, now);
                health.consecutive_failures =
                    if ok { 0 } else { health.consecutive_failures.saturating_add(1) };
                let outcome = OperationOutcome { passport, ..outcome_of(&report, 1) };
                info!(
                    sessions = outcome.sessions.len(),
                    failures = outcome.failures.len(),
                    "policy check done"
                );
                Ok(outcome)
            }
            Err(e) => {
                health.consecutive_failures = health.consecutive_failures.saturating_add(1);
                debug!(events = transcript.len(), "policy check failed");
                Err(e)
            }
        }
    }

    /// RequestTA or UnrequestTA, retried with backoff on retryable transport failures.
    pub async fn component_request(
        &self,
        component: &TrustedComponentId,
        unrequest: bool,
    ) -> Result<OperationOutcome, BrokerError> {
        let mut attempt: u32 = 0;
        let mut passport = Vec::new();
        loop {
            attempt = attempt.saturating_add(1);
            let mut broker = self.broker.lock().await;
            let result = if unrequest {
                broker.unrequest_ta(component).await
            } else {
                broker.request_ta(component).await
            };
            let _ = broker.take_transcript();
            let attempts = attempts_of(broker.agent_mut().take_passport_outcomes(), unix_now());
            drop(broker);
            self.lock_health().record_passport(&attempts);
            passport.extend(attempts);

            match result {
                Ok(report) => {
                    record_sessions(&mut self.lock_health(), &report, unix_now());
                    return Ok(OperationOutcome { passport, ..outcome_of(&report, attempt) });
                }
                Err(BrokerError::Transport { tam_uri, failure })
                    if retryable(&failure) && attempt <= self.config.request_retries =>
                {
                    self.record_failure(&tam_uri, &failure);
                    let delay = self.config.retry_delay(attempt);
                    warn!(%tam_uri, %failure, attempt, delay_ms = delay.as_millis() as u64,
                        "TAM session failed; retrying");
                    tokio::time::sleep(delay).await;
                }
                Err(e) => {
                    if let BrokerError::Transport { tam_uri, failure } = &e {
                        self.record_failure(tam_uri, failure);
                    }
                    return Err(e);
                }
            }
        }
    }

    /// The daemon's state and the Agent's components.
    pub async fn status(&self) -> DaemonStatus {
        let (agent, verifier_url) = {
            let broker = self.broker.lock().await;
            let verifier_url = broker.agent().verifier_url().map(str::to_owned);
            let handle = broker.agent().agent_handle();
            (handle.status().await, verifier_url)
        };
        let health = self.lock_health();
        let mut status = DaemonStatus {
            policy_checks: health.policy_checks,
            consecutive_failures: health.consecutive_failures,
            last_check_unix: health.last_check_unix,
            next_check_in_ms: health.next_check_at.map(|at| {
                u64::try_from(at.saturating_duration_since(Instant::now()).as_millis())
                    .unwrap_or(u64::MAX)
            }),
            tams: health.tams.values().cloned().collect(),
            verifier_url,
            passport: health.passport.iter().cloned().collect(),
            ..DaemonStatus::default()
        };
        match agent {
            Ok(agent) => {
                status.installed = agent
                    .installed
                    .into_iter()
                    .map(|c| ComponentView {
                        component: c.component_id,
                        sequence_number: c.sequence_number,
                    })
                    .collect();
                status.requested = agent.requested;
            }
            Err(e) => status.agent_error = Some(e.to_string()),
        }
        status
    }

    /// Answers one client connection: one request, one response.
    async fn serve_client(&self, mut stream: UnixStream) {
        let read = tokio::time::timeout(
            self.config.client_timeout(),
            read_frame(&mut stream, MAX_DAEMON_FRAME),
        )
        .await;
        let mut refused = false;
        let response = match read {
            Err(_) => DaemonResponse::Error { message: "request not received in time".into() },
            Ok(Err(e)) => match crate::daemon_socket::unreadable_request(&e) {
                Some(answer) => {
                    debug!(error = %e, "daemon client sent an oversized frame");
                    refused = true;
                    answer
                }
                None => {
                    debug!(error = %e, "daemon client sent no valid frame");
                    return;
                }
            },
            Ok(Ok(body)) => match decode::<DaemonRequest>(&body) {
                Ok(request) => self.answer(request).await,
                Err(e) => DaemonResponse::Error { message: e.to_string() },
            },
        };
        match encode(&response) {
            Ok(body) => {
                if let Err(e) = write_frame(&mut stream, &body, MAX_DAEMON_FRAME).await {
                    debug!(error = %e, "daemon client went away before the answer");
                } else if refused {
                    let wait = self.config.client_timeout();
                    crate::daemon_socket::discard_input(&mut stream, wait).await;
                }
            }
            Err(e) => error!(error = %e, "cannot encode a daemon answer"),
        }
    }

    async fn answer(&self, request: DaemonRequest) -> DaemonResponse {
        let result = match request {
            DaemonRequest::Status {} => {
                return DaemonResponse::Status { status: self.status().await };
            }
            DaemonRequest::PolicyCheck {} => self.policy_check().await,
            DaemonRequest::RequestTa { component } => {
                self.component_request(&TrustedComponentId(component), false).await
            }
            DaemonRequest::UnrequestTa { component } => {
                self.component_request(&TrustedComponentId(component), true).await
            }
        };
        match result {
            Ok(outcome) => DaemonResponse::Done { outcome },
            Err(e) => DaemonResponse::Error { message: e.to_string() },
        }
    }

    fn record_failure(&self, tam_uri: &str, failure: &TransportFailure) {
        let mut health = self.lock_health();
        let entry = tam_entry(&mut health, tam_uri);
        entry.consecutive_failures = entry.consecutive_failures.saturating_add(1);
        entry.last_failure = Some(failure.to_string());
    }

    fn consecutive_failures(&self) -> u32 {
        self.lock_health().consecutive_failures
    }

    fn set_next_check(&self, at: Option<Instant>) {
        self.lock_health().next_check_at = at;
    }

    fn lock_health(&self) -> std::sync::MutexGuard<'_, Health> {
        // The health record holds counters only; a panic while it was held leaves them usable.
        self.health.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// No socket path is configured.
    #[error("no daemon socket configured ([daemon] socket or --listen)")]
    NoSocket,
    /// The socket could not be bound.
    #[error("cannot bind the daemon socket {path}: {source}")]
    Bind {
        /// The socket path.
        path: String,
        /// The cause.
        source: io::Error,
    },
}

/// Binds a Unix socket at `path` with `mode` (and group `gid`), replacing a stale socket file.
///
/// The socket is created with mode 0600 and only then opened up to `mode`, so it is never
/// reachable by more users than configured. A socket another process still listens on is left
/// alone, as is anything that is not a socket.
pub fn bind_socket(path: &Path, mode: u32, gid: Option<u32>) -> io::Result<UnixListener> {
    let listener = teep_agent::ipc::bind(path).map_err(|e| match e.kind() {
        io::ErrorKind::AddrInUse => io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{} is in use: another process is listening on it", path.display()),
        ),
        _ => e,
    })?;
    if let Some(gid) = gid {
        std::os::unix::fs::chown(path, None, Some(gid))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o777))?;
    Ok(listener)
}

/// Network errors, timeouts and 5xx answers may pass; other failures will not.
fn retryable(failure: &TransportFailure) -> bool {
    match failure {
        TransportFailure::Network(_) | TransportFailure::Timeout => true,
        TransportFailure::Status { status } => *status >= 500,
        _ => false,
    }
}

fn tam_entry<'a>(health: &'a mut Health, tam_uri: &str) -> &'a mut TamHealth {
    health
        .tams
        .entry(tam_uri.to_owned())
        .or_insert_with(|| TamHealth { tam_uri: tam_uri.to_owned(), ..TamHealth::default() })
}

fn record_sessions(health: &mut Health, report: &Report, now: u64) {
    for session in &report.sessions {
        let entry = tam_entry(health, &session.tam_uri);
        entry.sessions = entry.sessions.saturating_add(1);
        entry.consecutive_failures = 0;
        entry.last_success_unix = Some(now);
    }
    for failed in &report.failures {
        let entry = tam_entry(health, &failed.tam_uri);
        entry.consecutive_failures = entry.consecutive_failures.saturating_add(1);
        entry.last_failure = Some(failed.failure.to_string());
    }
}

impl OperationOutcome {
    /// The outcome of a Broker operation that took `attempts` attempts.
    pub fn of(report: &Report, attempts: u32) -> Self {
        outcome_of(report, attempts)
    }
}

fn outcome_of(report: &Report, attempts: u32) -> OperationOutcome {
    let agent_errors = report
        .events
        .iter()
        .filter(|e| {
            matches!(e, Event::AgentAnswered { message: Some(m) } if m.kind == MessageKind::Error)
        })
        .count();
    OperationOutcome {
        sessions: report
            .sessions
            .iter()
            .map(|s| SessionOutcome { tam_uri: s.tam_uri.clone(), round_trips: s.round_trips })
            .collect(),
        failures: report
            .failures
            .iter()
            .map(|f| FailedSession { tam_uri: f.tam_uri.clone(), failure: f.failure.to_string() })
            .collect(),
        agent_errors: u32::try_from(agent_errors).unwrap_or(u32::MAX),
        attempts,
        transcript: report.events.iter().map(ToString::to_string).collect(),
        passport: Vec::new(),
    }
}

/// The daemon-socket view of passport outcomes seen at `now`.
fn attempts_of(outcomes: Vec<PassportOutcome>, now: u64) -> Vec<PassportAttempt> {
    outcomes.into_iter().map(|outcome| PassportAttempt::new(outcome, now)).collect()
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// A random value for jitter (not for secrets): std's randomly keyed hasher.
fn random() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(Instant::now().elapsed().as_nanos());
    hasher.finish()
}
