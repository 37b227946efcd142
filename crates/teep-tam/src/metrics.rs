//! Prometheus metrics of a TAM process (text exposition at `/metrics`, see [`crate::ops`]).
//!
//! What is counted, per process (every replica of a fleet exports its own series):
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `teep_tam_requests_total` | counter | `kind`, `outcome` |
//! | `teep_tam_rejected_total` | counter | `reason` |
//! | `teep_tam_request_duration_seconds` | histogram | `kind` |
//! | `teep_tam_requests_in_flight` | gauge | |
//! | `teep_tam_attestations_total` | counter | `result` |
//! | `teep_tam_db_errors_total` | counter | `operation` |
//! | `teep_tam_outstanding_tokens` | gauge (read from the database at scrape) | |
//! | `teep_tam_db_connections` | gauge (pool state at scrape) | `state` |
//! | `teep_tam_rollout_devices` | gauge (database-wide, at scrape) | `rollout`, `state` |
//! | `teep_tam_rollout_state` | gauge, 1 for the rollout's state (at scrape) | `rollout`, `state` |
//! | `teep_tam_build_info` | gauge, always 1 | `version` |
//!
//! A request's `kind` is what it carried: `connect` (an empty POST, ProcessConnect of
//! draft-ietf-teep-protocol-26 §8.1), `query_response`, `success`, `error`, `other` (a TEEP
//! message a TAM does not accept) or `unknown` (rejected before its signature verified, so
//! its type was never read). Its `outcome` is one of [`Outcome`]; every `rejected` outcome
//! also counts one `teep_tam_rejected_total` with its [`Rejection`] reason, so the two agree.
//!
//! The session core ([`crate::session`]) does not hold a metrics handle: it notes what it
//! learned about the request it is handling ([`note_kind`], [`note_rejection`],
//! [`note_attestation`]) in a task-local slot that the HTTP handler opens around each
//! request ([`observe`]). Outside such a scope (direct library calls, tests) the notes are
//! ignored.

use std::cell::Cell;
use std::fmt::Write as _;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::error::StoreError;
use crate::store::Store;

/// Media type of the Prometheus text format 0.0.4.
pub const PROMETHEUS_TEXT: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
/// Media type of the OpenMetrics text format, served when the scraper asks for it.
pub const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Longest wait for each database query of a scrape: a scrape during a database outage
/// answers with the previous values instead of hanging.
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

/// What a TEEP request carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageKind {
    /// An empty POST: the Broker opens a session (ProcessConnect).
    Connect,
    /// A QueryResponse.
    QueryResponse,
    /// A Success.
    Success,
    /// An Error.
    Error,
    /// A verified TEEP message of a type the TAM does not accept.
    Other,
    /// Rejected before the message type was known.
    Unknown,
}

impl MessageKind {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Connect => "connect",
            MessageKind::QueryResponse => "query_response",
            MessageKind::Success => "success",
            MessageKind::Error => "error",
            MessageKind::Other => "other",
            MessageKind::Unknown => "unknown",
        }
    }
}

/// How the TAM answered a TEEP request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// A QueryRequest went out (a session began, or the TAM attested itself).
    QueryRequestSent,
    /// An Update went out.
    UpdateSent,
    /// A QueryResponse was accepted and nothing needed changing: the session ended.
    NoUpdate,
    /// A Success was recorded: the session ended.
    Success,
    /// An Agent's Error was recorded: the session ended.
    Error,
    /// The request was refused or dropped; see [`Rejection`].
    Rejected,
    /// A local failure (database, random generator, signing): HTTP 500.
    Failed,
}

impl Outcome {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::QueryRequestSent => "query_request_sent",
            Outcome::UpdateSent => "update_sent",
            Outcome::NoUpdate => "no_update",
            Outcome::Success => "success",
            Outcome::Error => "error",
            Outcome::Rejected => "rejected",
            Outcome::Failed => "failed",
        }
    }
}

/// Why a TEEP request was refused (HTTP 4xx/503) or dropped (HTTP 204, §8.1 "drops the
/// message if it is not valid").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rejection {
    /// Not a COSE_Sign1, no kid, no token, or a message type a TAM does not accept.
    Malformed,
    /// The kid names no enrolled Agent key.
    UnknownDevice,
    /// The device is blocked.
    Blocked,
    /// The signature does not verify, or the verified payload does not decode.
    BadSignature,
    /// The token or challenge is unknown, expired or already used.
    Replay,
    /// A SUIT Report is malformed, not signed with the enrolled report key, or has a foreign
    /// nonce.
    BadReport,
    /// Attestation freshness could not be established (no challenge to match).
    BadEvidence,
    /// The body exceeds `body_limit` (HTTP 413).
    TooLarge,
    /// The body did not arrive within `body_timeout_secs` (HTTP 408).
    Timeout,
    /// `max_concurrent_sessions` requests were already in flight (HTTP 503).
    Overloaded,
    /// Not a POST (HTTP 405).
    Method,
    /// The Accept field excludes the TEEP media type (HTTP 406).
    NotAcceptable,
    /// The Content-Type is not the TEEP media type (HTTP 415).
    MediaType,
    /// The session core dropped the message without naming a reason.
    Dropped,
}

impl Rejection {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::Malformed => "malformed",
            Rejection::UnknownDevice => "unknown_device",
            Rejection::Blocked => "blocked",
            Rejection::BadSignature => "bad_signature",
            Rejection::Replay => "replay",
            Rejection::BadReport => "bad_report",
            Rejection::BadEvidence => "bad_evidence",
            Rejection::TooLarge => "too_large",
            Rejection::Timeout => "timeout",
            Rejection::Overloaded => "overloaded",
            Rejection::Method => "method",
            Rejection::NotAcceptable => "not_acceptable",
            Rejection::MediaType => "media_type",
            Rejection::Dropped => "dropped",
        }
    }
}

/// What the session core learned about the request it handled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Note {
    /// The verified message type, once known.
    pub kind: Option<MessageKind>,
    /// Why the message was dropped, if it was.
    pub rejection: Option<Rejection>,
    /// Attestation verdict reached while handling it: `Some(true)` trusted.
    pub attestation: Option<bool>,
}

tokio::task_local! {
    static NOTE: Cell<Note>;
}

fn update(change: impl FnOnce(&mut Note)) {
    let _ = NOTE.try_with(|cell| {
        let mut note = cell.get();
        change(&mut note);
        cell.set(note);
    });
}

/// Notes the type of the verified message being handled.
pub(crate) fn note_kind(kind: MessageKind) {
    update(|n| n.kind = Some(kind));
}

/// Notes why the message being handled is dropped. The first reason noted wins.
pub(crate) fn note_rejection(reason: Rejection) {
    update(|n| {
        n.rejection.get_or_insert(reason);
    });
}

/// Notes an attestation verdict (`true`: trusted).
pub(crate) fn note_attestation(trusted: bool) {
    update(|n| n.attestation = Some(trusted));
}

/// Runs `future` with a fresh note slot and returns its output with what was noted.
pub async fn observe<F: Future>(future: F) -> (F::Output, Note) {
    NOTE.scope(Cell::new(Note::default()), async {
        let output = future.await;
        let note = NOTE.try_with(Cell::get).unwrap_or_default();
        (output, note)
    })
    .await
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    kind: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RolloutLabels {
    rollout: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms .. 8 s, doubling.
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

/// The metrics of one TAM process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    rejected: Family<ReasonLabels, Counter>,
    latency: Family<KindLabels, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
    attestations: Family<ResultLabels, Counter>,
    db_errors: Family<OperationLabels, Counter>,
    outstanding_tokens: Gauge,
    db_connections: Family<StateLabels, Gauge>,
    rollout_devices: Family<RolloutLabels, Gauge>,
    rollout_state: Family<RolloutLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates the registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("teep_tam");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "TEEP requests by message kind and outcome",
            requests.clone(),
        );
        let rejected = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "rejected",
            "TEEP requests refused or dropped, by reason",
            rejected.clone(),
        );
        let latency = Family::<KindLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "request_duration_seconds",
            "Time from the start of a TEEP request to its answer, by message kind",
            latency.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "requests_in_flight",
            "TEEP requests being handled now",
            in_flight.clone(),
        );
        let attestations = Family::<ResultLabels, Counter>::default();
        registry.register(
            "attestations",
            "Attestation appraisals by result (trusted or refused)",
            attestations.clone(),
        );
        let db_errors = Family::<OperationLabels, Counter>::default();
        registry.register(
            "db_errors",
            "Database failures by operation (session, readiness, scrape, purge)",
            db_errors.clone(),
        );
        let outstanding_tokens = Gauge::default();
        registry.register(
            "outstanding_tokens",
            "Issued Update tokens neither consumed nor expired (database-wide)",
            outstanding_tokens.clone(),
        );
        let db_connections = Family::<StateLabels, Gauge>::default();
        registry.register(
            "db_connections",
            "Connections of this process's database pool, by state (idle, busy)",
            db_connections.clone(),
        );
        let rollout_devices = Family::<RolloutLabels, Gauge>::default();
        registry.register(
            "rollout_devices",
            "Devices of each rollout by state (offered, installed, failed)",
            rollout_devices.clone(),
        );
        let rollout_state = Family::<RolloutLabels, Gauge>::default();
        registry.register(
            "rollout_state",
            "1 for each rollout's state (running, paused, aborted, completed)",
            rollout_state.clone(),
        );
        let build = Family::<VersionLabels, Gauge>::default();
        build.get_or_create(&VersionLabels { version: env!("CARGO_PKG_VERSION") }).set(1);
        registry.register("build_info", "Version of this TAM build", build);

        Metrics {
            registry,
            requests,
            rejected,
            latency,
            in_flight,
            attestations,
            db_errors,
            outstanding_tokens,
            db_connections,
            rollout_devices,
            rollout_state,
        }
    }

    /// Records one answered TEEP request.
    pub fn record(
        &self,
        kind: MessageKind,
        outcome: Outcome,
        rejection: Option<Rejection>,
        elapsed: Duration,
    ) {
        let labels = RequestLabels { kind: kind.as_str(), outcome: outcome.as_str() };
        self.requests.get_or_create(&labels).inc();
        if outcome == Outcome::Rejected {
            let reason = rejection.unwrap_or(Rejection::Dropped);
            self.rejected.get_or_create(&ReasonLabels { reason: reason.as_str() }).inc();
        }
        self.latency
            .get_or_create(&KindLabels { kind: kind.as_str() })
            .observe(elapsed.as_secs_f64());
    }

    /// Records an attestation verdict.
    pub fn record_attestation(&self, trusted: bool) {
        let result = if trusted { "trusted" } else { "refused" };
        self.attestations.get_or_create(&ResultLabels { result }).inc();
    }

    /// Counts a database failure during `operation`.
    pub fn db_error(&self, operation: &'static str) {
        self.db_errors.get_or_create(&OperationLabels { operation }).inc();
    }

    /// Counts one request as in flight until the guard is dropped (also when the client goes
    /// away and the handler is cancelled).
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// Requests in flight now.
    pub fn requests_in_flight(&self) -> i64 {
        self.in_flight.get()
    }

    /// Total of `teep_tam_requests_total` for one kind and outcome (for tests and logs).
    pub fn requests(&self, kind: MessageKind, outcome: Outcome) -> u64 {
        let labels = RequestLabels { kind: kind.as_str(), outcome: outcome.as_str() };
        self.requests.get(&labels).map_or(0, |c| c.get())
    }

    /// Total of `teep_tam_rejected_total` for one reason.
    pub fn rejections(&self, reason: Rejection) -> u64 {
        self.rejected.get(&ReasonLabels { reason: reason.as_str() }).map_or(0, |c| c.get())
    }

    /// Reads the values computed at scrape time: outstanding tokens (one COUNT), rollout
    /// progress (one grouped query) and the pool state. A failing query counts one `scrape`
    /// database error, skips the queries after it and leaves the previous values.
    pub async fn refresh(&self, store: &Store, now: u64) {
        let pool = store.pool();
        let size = i64::from(pool.size());
        let idle = i64::try_from(pool.num_idle()).unwrap_or(i64::MAX);
        self.db_connections.get_or_create(&StateLabels { state: "idle" }).set(idle);
        self.db_connections
            .get_or_create(&StateLabels { state: "busy" })
            .set(size.saturating_sub(idle).max(0));
        let tokens = tokio::time::timeout(SCRAPE_TIMEOUT, outstanding_tokens(store, now)).await;
        match tokens {
            Ok(Ok(count)) => {
                self.outstanding_tokens.set(count);
            }
            Ok(Err(e)) => {
                self.db_error("scrape");
                tracing::warn!(error = %e, "cannot count outstanding tokens for /metrics");
                return;
            }
            Err(_) => {
                // The database is unreachable: the rollouts query would fail as well.
                self.db_error("scrape");
                tracing::warn!("counting outstanding tokens for /metrics timed out");
                return;
            }
        }
        match tokio::time::timeout(SCRAPE_TIMEOUT, store.rollout_progress_all()).await {
            Err(_) => {
                self.db_error("scrape");
                tracing::warn!("reading rollout progress for /metrics timed out");
            }
            Ok(Ok(rollouts)) => {
                // Rebuilt at each scrape, so that removed rollouts disappear.
                self.rollout_devices.clear();
                self.rollout_state.clear();
                for r in rollouts {
                    let gauge = |family: &Family<RolloutLabels, Gauge>, state, value: u64| {
                        let labels = RolloutLabels { rollout: r.id.clone(), state };
                        family.get_or_create(&labels).set(i64::try_from(value).unwrap_or(i64::MAX));
                    };
                    gauge(&self.rollout_devices, "offered", r.offered);
                    gauge(&self.rollout_devices, "installed", r.installed);
                    gauge(&self.rollout_devices, "failed", r.failed);
                    gauge(&self.rollout_state, r.state.as_str(), 1);
                }
            }
            Ok(Err(e)) => {
                self.db_error("scrape");
                tracing::warn!(error = %e, "cannot read rollout progress for /metrics");
            }
        }
    }

    /// The exposition: OpenMetrics text when `openmetrics`, else Prometheus text 0.0.4.
    pub fn render(&self, openmetrics: bool) -> String {
        let mut text = String::new();
        let result = if openmetrics {
            prometheus_client::encoding::text::encode(&mut text, &self.registry)
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
        };
        if result.is_err() {
            // Writing into a String cannot fail; say so rather than serve half a page.
            text.clear();
            let _ = writeln!(text, "# encoding the metrics failed");
        }
        text
    }
}

/// Keeps one request counted in `teep_tam_requests_in_flight`.
#[derive(Debug)]
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

async fn outstanding_tokens(store: &Store, now: u64) -> Result<i64, StoreError> {
    let count: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM tokens WHERE consumed = 0 AND expires_at > $1")
            .bind(crate::store::to_db(now, "time")?)
            .fetch_one(store.pool())
            .await?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn notes_reach_the_observer_only_inside_a_scope() {
        // Outside a scope: ignored, no panic.
        note_rejection(Rejection::Replay);
        let ((), note) = observe(async {
            note_kind(MessageKind::Success);
            note_rejection(Rejection::Replay);
            note_rejection(Rejection::BadReport);
            note_attestation(false);
        })
        .await;
        assert_eq!(note.kind, Some(MessageKind::Success));
        assert_eq!(note.rejection, Some(Rejection::Replay), "the first reason wins");
        assert_eq!(note.attestation, Some(false));
        let ((), empty) = observe(async {}).await;
        assert_eq!(empty, Note::default());
    }

    #[test]
    fn exposition_names_every_family() {
        let metrics = Metrics::new();
        metrics.record(
            MessageKind::Unknown,
            Outcome::Rejected,
            Some(Rejection::Overloaded),
            Duration::from_millis(3),
        );
        metrics.record(MessageKind::Connect, Outcome::QueryRequestSent, None, Duration::ZERO);
        metrics.record_attestation(true);
        metrics.db_error("session");
        let guard = metrics.in_flight();
        let text = metrics.render(false);
        drop(guard);
        for needle in [
            "teep_tam_requests_total{kind=\"unknown\",outcome=\"rejected\"} 1",
            "teep_tam_requests_total{kind=\"connect\",outcome=\"query_request_sent\"} 1",
            "teep_tam_rejected_total{reason=\"overloaded\"} 1",
            "teep_tam_request_duration_seconds_bucket{kind=\"unknown\",le=\"0.004\"} 1",
            "teep_tam_requests_in_flight 1",
            "teep_tam_attestations_total{result=\"trusted\"} 1",
            "teep_tam_db_errors_total{operation=\"session\"} 1",
            "teep_tam_build_info{version=\"",
            "# TYPE teep_tam_outstanding_tokens gauge",
        ] {
            assert!(text.contains(needle), "{needle} missing in\n{text}");
        }
        assert_eq!(metrics.requests_in_flight(), 0);
        assert_eq!(metrics.rejections(Rejection::Overloaded), 1);
        let open = metrics.render(true);
        assert!(open.ends_with("# EOF\n"), "{open}");
    }
}
