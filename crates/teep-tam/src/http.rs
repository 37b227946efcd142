//! The TEEP/HTTP server (draft-ietf-teep-otrp-over-http-15 §4 "Use of HTTP as a Transport"
//! and §6 "TEEP/HTTP Server Behavior").
//!
//! * Only POST is specified for a TAM URI; any other method gets 405 with `Allow: POST`.
//! * An empty body opens a session (ProcessConnect); the request needs only an Accept field
//!   that admits `application/teep+cbor`. A non-empty body is a TEEP message and needs
//!   `Content-Type: application/teep+cbor`, else 415 (§6.1). Without an acceptable Accept field
//!   the answer is 406 (§6.1, "SHOULD fail the request with an appropriate error response").
//! * A response with content carries exactly the four header fields of §4: Content-Type,
//!   `X-Content-Type-Options: nosniff`, `Content-Security-Policy: default-src 'none'` and
//!   `Referrer-Policy: no-referrer`; never Cache-Control (§4: "MUST NOT be used"), never
//!   cookies, never redirects. An empty answer is 204 without a body (§6.2).
//! * Bodies larger than the configured limit get 413 before the TAM sees them; a body that
//!   does not arrive within `body_timeout_secs` gets 408.
//! * At most `max_concurrent_sessions` requests are handled at once; one more gets 503 with
//!   `Retry-After` at once, without waiting in a queue.
//! * A database that cannot be reached (pool timeout, connection failure) is 503 with
//!   `Retry-After`; another local failure is 500 (§6.4: "an appropriate HTTP 5xx error
//!   response").
//! * Every request is counted in [`crate::metrics`] by message kind and outcome.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody as _};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use tokio::sync::Semaphore;

use crate::config::Wire;
use crate::metrics::{self, MessageKind, Metrics, Note, Outcome, Rejection};
use crate::session::{Incoming, Reply, SessionError, Tam};

/// The TEEP media type (draft-ietf-teep-protocol-26 §11.1).
pub const TEEP_MEDIA_TYPE: &str = "application/teep+cbor";

/// Seconds a client refused for load is asked to wait (`Retry-After`, RFC 9110 §10.2.3).
pub const RETRY_AFTER_SECS: u64 = 1;

#[derive(Clone)]
struct Endpoint {
    tam: Arc<Tam>,
    wire: Wire,
    metrics: Arc<Metrics>,
    /// One permit per TEEP request in flight, `max_concurrent_sessions` in all.
    permits: Arc<Semaphore>,
}

/// Builds the router serving every configured TEEP endpoint of `tam`, with metrics nobody
/// reads; [`crate::Server`] serves the same endpoints with its metrics and operations routes.
///
/// Serve it with `into_make_service_with_connect_info::<SocketAddr>()` so that log lines can
/// name the client address.
pub fn router(tam: Arc<Tam>) -> Router {
    teep_routes(tam, Arc::new(Metrics::new())).fallback(not_found)
}

/// The TEEP endpoints of `tam`, counting into `metrics`, without a fallback route (so that
/// other routers can be merged in).
pub(crate) fn teep_routes(tam: Arc<Tam>, metrics: Arc<Metrics>) -> Router {
    let limit = usize::try_from(tam.config().max_concurrent_sessions).unwrap_or(usize::MAX);
    let permits = Arc::new(Semaphore::new(limit.min(Semaphore::MAX_PERMITS)));
    let mut router = Router::new();
    for endpoint in &tam.config().endpoints {
        let state = Endpoint {
            tam: Arc::clone(&tam),
            wire: endpoint.wire,
            metrics: Arc::clone(&metrics),
            permits: Arc::clone(&permits),
        };
        router = router.route(&endpoint.path, any(teep_endpoint).with_state(state));
    }
    router
}

/// 404 for every path that is not a route.
pub(crate) async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}

async fn teep_endpoint(State(endpoint): State<Endpoint>, request: Request) -> Response {
    let started = Instant::now();
    let metrics = &endpoint.metrics;
    let reject = |reason: Rejection, response: Response| {
        metrics.record(MessageKind::Unknown, Outcome::Rejected, Some(reason), started.elapsed());
        response
    };

    if request.method() != Method::POST {
        return reject(
            Rejection::Method,
            bare(StatusCode::METHOD_NOT_ALLOWED, Some(("allow", "POST"))),
        );
    }
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let (parts, body) = request.into_parts();

    if !accepts_teep(&parts.headers) {
        tracing::debug!(?peer, "rejecting request whose Accept excludes application/teep+cbor");
        return reject(Rejection::NotAcceptable, bare(StatusCode::NOT_ACCEPTABLE, None));
    }

    // Issue 7 limit: at most max_concurrent_sessions requests in flight in this process. One
    // more is refused at once (no queue) and asked to come back.
    let Ok(_permit) = Arc::clone(&endpoint.permits).try_acquire_owned() else {
        tracing::debug!(?peer, "refusing request: max_concurrent_sessions in flight");
        return reject(Rejection::Overloaded, overloaded());
    };
    let _in_flight = metrics.in_flight();

    // Refuse an announced oversize body before reading it; the read below enforces the limit
    // for chunked bodies too, and bounds how long a slow sender may take.
    let config = endpoint.tam.config();
    let limit = config.body_limit;
    if content_length(&parts.headers).is_some_and(|len| len > limit as u64) {
        return reject(Rejection::TooLarge, bare(StatusCode::PAYLOAD_TOO_LARGE, None));
    }
    let body = match tokio::time::timeout(config.body_timeout(), read_body(body, limit)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(BodyError::TooLarge)) => {
            return reject(Rejection::TooLarge, bare(StatusCode::PAYLOAD_TOO_LARGE, None));
        }
        Ok(Err(BodyError::Aborted)) => {
            return reject(Rejection::Malformed, bare(StatusCode::BAD_REQUEST, None));
        }
        Err(_) => {
            tracing::debug!(?peer, "request body not received within body_timeout_secs");
            return reject(Rejection::Timeout, bare(StatusCode::REQUEST_TIMEOUT, None));
        }
    };

    let content_type = parts.headers.get(header::CONTENT_TYPE);
    let teep_content = content_type.is_some_and(is_teep_media_type);
    if !body.is_empty() && !teep_content {
        return reject(Rejection::MediaType, bare(StatusCode::UNSUPPORTED_MEDIA_TYPE, None));
    }
    if body.is_empty() && content_type.is_some() && !teep_content {
        return reject(Rejection::MediaType, bare(StatusCode::UNSUPPORTED_MEDIA_TYPE, None));
    }

    let incoming = Incoming {
        body: if body.is_empty() { None } else { Some(&body) },
        wire: endpoint.wire,
        peer,
        now: unix_now(),
    };
    let (result, note) = metrics::observe(endpoint.tam.handle(incoming)).await;
    let (kind, outcome, rejection) = classify(body.is_empty(), &note, &result);
    metrics.record(kind, outcome, rejection, started.elapsed());
    if let Some(trusted) = note.attestation {
        metrics.record_attestation(trusted);
    }
    match result {
        Ok(Reply::Message(bytes)) => teep_response(bytes),
        Ok(Reply::Empty) => bare(StatusCode::NO_CONTENT, None),
        Err(e) => {
            if matches!(e, SessionError::Store(_)) {
                metrics.db_error("session");
            }
            if database_unavailable(&e) {
                tracing::error!(error = %crate::ops::user_facing(&e.to_string()),
                    "database unavailable; answering 503");
                return overloaded();
            }
            tracing::error!(error = %crate::ops::user_facing(&e.to_string()),
                "TAM could not produce an answer");
            bare(StatusCode::INTERNAL_SERVER_ERROR, None)
        }
    }
}

/// The metric labels of an answered request.
fn classify(
    connect: bool,
    note: &Note,
    result: &Result<Reply, SessionError>,
) -> (MessageKind, Outcome, Option<Rejection>) {
    let kind =
        if connect { MessageKind::Connect } else { note.kind.unwrap_or(MessageKind::Unknown) };
    let reply = match result {
        Ok(reply) => reply,
        Err(_) => return (kind, Outcome::Failed, None),
    };
    if let Some(reason) = note.rejection {
        return (kind, Outcome::Rejected, Some(reason));
    }
    let message = matches!(reply, Reply::Message(_));
    let outcome = match kind {
        MessageKind::Connect => Outcome::QueryRequestSent,
        MessageKind::QueryResponse if message => Outcome::UpdateSent,
        MessageKind::QueryResponse => Outcome::NoUpdate,
        MessageKind::Success if !message => Outcome::Success,
        MessageKind::Error if message => Outcome::QueryRequestSent,
        MessageKind::Error => Outcome::Error,
        _ if message => Outcome::UpdateSent,
        _ => return (kind, Outcome::Rejected, Some(Rejection::Dropped)),
    };
    (kind, outcome, None)
}

/// Why a request body could not be read.
pub(crate) enum BodyError {
    /// It grew beyond the limit.
    TooLarge,
    /// The connection failed or the body was malformed.
    Aborted,
}

/// Reads the whole body, refusing it once it grows beyond `limit` bytes.
pub(crate) async fn read_body(mut body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let mut buffer = bytes::BytesMut::new();
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            None => return Ok(buffer.freeze()),
            Some(Err(_)) => return Err(BodyError::Aborted),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    if buffer.len().saturating_add(data.len()) > limit {
                        return Err(BodyError::TooLarge);
                    }
                    buffer.extend_from_slice(&data);
                }
            }
        }
    }
}

/// Whether `error` means the database cannot be reached at the moment (pool exhausted or
/// closed, connection failed), which a retry may cure, unlike a failing statement.
fn database_unavailable(error: &SessionError) -> bool {
    matches!(
        error,
        SessionError::Store(crate::error::StoreError::Database(
            sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::WorkerCrashed
        ))
    )
}

/// 503 with `Retry-After` (draft-ietf-teep-otrp-over-http §6.4: a 5xx for a local
/// condition).
fn overloaded() -> Response {
    let mut response = bare(StatusCode::SERVICE_UNAVAILABLE, None);
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    response
}

/// A 200 response with a TEEP message and the header fields of §4.
fn teep_response(bytes: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(TEEP_MEDIA_TYPE));
    add_security_fields(headers);
    response
}

/// A response without content.
fn bare(status: StatusCode, extra: Option<(&'static str, &'static str)>) -> Response {
    let mut response = status.into_response();
    let headers = response.headers_mut();
    add_security_fields(headers);
    if let Some((name, value)) = extra {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn add_security_fields(headers: &mut HeaderMap) {
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("content-security-policy", HeaderValue::from_static("default-src 'none'"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

/// `application/teep+cbor`, case-insensitive, parameters ignored.
fn is_teep_media_type(value: &HeaderValue) -> bool {
    let Ok(text) = value.to_str() else { return false };
    let essence = text.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case(TEEP_MEDIA_TYPE)
}

/// Whether every Accept field together admits the TEEP media type with a non-zero q.
fn accepts_teep(headers: &HeaderMap) -> bool {
    let mut fields = headers.get_all(header::ACCEPT).iter().peekable();
    if fields.peek().is_none() {
        return false;
    }
    fields.filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|range| {
        let mut params = range.split(';');
        let media = params.next().unwrap_or_default().trim();
        let matches = media.eq_ignore_ascii_case(TEEP_MEDIA_TYPE)
            || media.eq_ignore_ascii_case("application/*")
            || media == "*/*";
        let zero_q = params.any(|p| {
            let p = p.trim();
            let q = p.strip_prefix("q=").or_else(|| p.strip_prefix("Q="));
            q.and_then(|q| q.trim().parse::<f32>().ok()).is_some_and(|q| q <= 0.0)
        });
        matches && !zero_q
    })
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn accept_negotiation() {
        assert!(accepts_teep(&headers(&[("accept", "application/teep+cbor")])));
        assert!(accepts_teep(&headers(&[("accept", "text/html, application/*;q=0.5")])));
        assert!(accepts_teep(&headers(&[("accept", "*/*")])));
        assert!(!accepts_teep(&headers(&[])));
        assert!(!accepts_teep(&headers(&[("accept", "application/json")])));
        assert!(!accepts_teep(&headers(&[("accept", "application/teep+cbor;q=0")])));
    }

    #[test]
    fn media_type_match_ignores_case_and_parameters() {
        assert!(is_teep_media_type(&HeaderValue::from_static("Application/TEEP+CBOR")));
        assert!(is_teep_media_type(&HeaderValue::from_static("application/teep+cbor; x=1")));
        assert!(!is_teep_media_type(&HeaderValue::from_static("application/cbor")));
    }
}
