//! Operations endpoints: `/metrics`, `/healthz` and `/readyz`.
//!
//! * `/healthz` (liveness) answers 200 `ok` while the process serves HTTP at all: a failing
//!   database does not make it fail, so an orchestrator restarts only a hung process.
//! * `/readyz` (readiness) answers 200 `ready` when the database answers `SELECT 1` within
//!   [`READY_TIMEOUT`], else 503 with the reason as text; also 503 `shutting down` once
//!   shutdown began, so that a load balancer stops sending new sessions while the ones in
//!   flight finish.
//! * `/metrics` is the Prometheus text exposition of [`Metrics`] (OpenMetrics text when the
//!   scraper's Accept names `application/openmetrics-text`). Values that live in the database
//!   (outstanding tokens) are read at scrape time.
//!
//! None of them needs authentication or reveals a secret. The probes are served on the TEEP
//! listener (where a load balancer checks) and on the admin listener; `/metrics` is served
//! on the admin listener when one is configured, else on the TEEP listener (see
//! [`crate::server`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::metrics::{Metrics, OPENMETRICS_TEXT, PROMETHEUS_TEXT};
use crate::store::Store;

/// Longest wait for the database's answer to a readiness probe.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Health, readiness and metrics of one TAM process.
#[derive(Debug)]
pub struct Ops {
    store: Store,
    metrics: Arc<Metrics>,
    shutting_down: AtomicBool,
}

impl Ops {
    /// Operations state over `store`, exporting `metrics`.
    pub fn new(store: Store, metrics: Arc<Metrics>) -> Self {
        Ops { store, metrics, shutting_down: AtomicBool::new(false) }
    }

    /// The metrics this process exports.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Marks the process as shutting down: readiness fails from now on.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Whether shutdown began.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// `Ok` when this process should receive new sessions; otherwise why not.
    pub async fn readiness(&self) -> Result<(), String> {
        if self.is_shutting_down() {
            return Err("shutting down".into());
        }
        let probe = sqlx::query("SELECT 1").execute(self.store.pool());
        match tokio::time::timeout(READY_TIMEOUT, probe).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => {
                self.metrics.db_error("readiness");
                Err(format!("database unavailable: {e}"))
            }
            Err(_) => {
                self.metrics.db_error("readiness");
                Err(format!("database did not answer within {} ms", READY_TIMEOUT.as_millis()))
            }
        }
    }

    /// The routes `/metrics`, `/healthz` and `/readyz`.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/metrics", get(metrics))
            .with_state(Arc::clone(&self))
            .merge(self.probe_router())
    }

    /// The routes `/healthz` and `/readyz` only.
    pub fn probe_router(self: Arc<Self>) -> Router {
        Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).with_state(self)
    }
}

async fn healthz() -> Response {
    text(StatusCode::OK, "ok\n".into(), "text/plain; charset=utf-8")
}

async fn readyz(State(ops): State<Arc<Ops>>) -> Response {
    match ops.readiness().await {
        Ok(()) => text(StatusCode::OK, "ready\n".into(), "text/plain; charset=utf-8"),
        Err(reason) => {
            let reason = user_facing(&reason.to_string());
            tracing::debug!(%reason, "readiness probe failed");
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{reason}\n"),
                "text/plain; charset=utf-8",
            )
        }
    }
}

async fn metrics(State(ops): State<Arc<Ops>>, headers: HeaderMap) -> Response {
    ops.metrics.refresh(&ops.store, crate::http::unix_now()).await;
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let body = ops.metrics.render(openmetrics);
    text(StatusCode::OK, body, if openmetrics { OPENMETRICS_TEXT } else { PROMETHEUS_TEXT })
}

/// `message` without PostgreSQL's source locations (` at line 948`, the line of the
/// server's C source that raised the error, which sqlx appends): they mean nothing to a user.
pub fn user_facing(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(" at line ") {
        out.push_str(&rest[..at]);
        let after = &rest[at + " at line ".len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            out.push_str(" at line ");
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

fn text(status: StatusCode, body: String, media_type: &'static str) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt as _;

    async fn get(router: &Router, path: &str) -> (StatusCode, String) {
        let request =
            axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap_or_default();
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[test]
    fn user_facing_drops_postgres_source_lines() {
        assert_eq!(
            user_facing("database \"x\" does not exist at line 948: y at line 12"),
            "database \"x\" does not exist: y"
        );
        assert_eq!(user_facing("at line of sight at line x"), "at line of sight at line x");
    }

    #[tokio::test]
    async fn readiness_follows_the_database_and_shutdown() {
        let store = Store::connect("sqlite::memory:", 1).await.unwrap();
        let ops = Arc::new(Ops::new(store.clone(), Arc::new(Metrics::new())));
        let router = Arc::clone(&ops).router();
        assert_eq!(get(&router, "/healthz").await, (StatusCode::OK, "ok\n".into()));
        assert_eq!(get(&router, "/readyz").await, (StatusCode::OK, "ready\n".into()));
        let (status, body) = get(&router, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("teep_tam_outstanding_tokens 0"), "{body}");

        // A closed pool: not ready, still alive, and the failure is counted.
        store.close().await;
        let (status, body) = get(&router, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.starts_with("database unavailable"), "{body}");
        assert_eq!(get(&router, "/healthz").await.0, StatusCode::OK);
        let (_, body) = get(&router, "/metrics").await;
        assert!(body.contains("teep_tam_db_errors_total{operation=\"readiness\"} 1"), "{body}");
        assert!(body.contains("teep_tam_db_errors_total{operation=\"scrape\"} 1"), "{body}");

        ops.begin_shutdown();
        assert_eq!(
            get(&router, "/readyz").await,
            (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n".into())
        );
    }
}
