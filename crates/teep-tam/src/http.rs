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
//! * Bodies larger than the configured limit get 413 before the TAM sees them.
//! * A local failure (database down) is 500 (§6.4: "an appropriate HTTP 5xx error response").

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

use crate::config::Wire;
use crate::session::{Incoming, Reply, Tam};

/// The TEEP media type (draft-ietf-teep-protocol-26 §11.1).
pub const TEEP_MEDIA_TYPE: &str = "application/teep+cbor";

#[derive(Clone)]
struct Endpoint {
    tam: Arc<Tam>,
    wire: Wire,
}

/// Builds the router serving every configured TEEP endpoint of `tam`.
///
/// Serve it with `into_make_service_with_connect_info::<SocketAddr>()` so that the per-peer
/// bound on anonymous session tokens can see the client address; without it all anonymous
/// sessions share one bound.
pub fn router(tam: Arc<Tam>) -> Router {
    let mut router = Router::new();
    for endpoint in &tam.config().endpoints {
        let state = Endpoint { tam: Arc::clone(&tam), wire: endpoint.wire };
        router = router.route(&endpoint.path, any(teep_endpoint).with_state(state));
    }
    router.fallback(|| async { StatusCode::NOT_FOUND })
}

async fn teep_endpoint(State(endpoint): State<Endpoint>, request: Request) -> Response {
    if request.method() != Method::POST {
        return bare(StatusCode::METHOD_NOT_ALLOWED, Some(("allow", "POST")));
    }
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let (parts, body) = request.into_parts();

    if !accepts_teep(&parts.headers) {
        tracing::debug!(?peer, "rejecting request whose Accept excludes application/teep+cbor");
        return bare(StatusCode::NOT_ACCEPTABLE, None);
    }

    // Refuse an announced oversize body before reading it; the read below enforces the limit
    // for chunked bodies too.
    let limit = endpoint.tam.config().body_limit;
    if content_length(&parts.headers).is_some_and(|len| len > limit as u64) {
        return bare(StatusCode::PAYLOAD_TOO_LARGE, None);
    }
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => return bare(StatusCode::PAYLOAD_TOO_LARGE, None),
    };

    let content_type = parts.headers.get(header::CONTENT_TYPE);
    let teep_content = content_type.is_some_and(is_teep_media_type);
    if !body.is_empty() && !teep_content {
        return bare(StatusCode::UNSUPPORTED_MEDIA_TYPE, None);
    }
    if body.is_empty() && content_type.is_some() && !teep_content {
        return bare(StatusCode::UNSUPPORTED_MEDIA_TYPE, None);
    }

    let incoming = Incoming {
        body: if body.is_empty() { None } else { Some(&body) },
        wire: endpoint.wire,
        peer,
        now: unix_now(),
    };
    match endpoint.tam.handle(incoming).await {
        Ok(Reply::Message(bytes)) => teep_response(bytes),
        Ok(Reply::Empty) => bare(StatusCode::NO_CONTENT, None),
        Err(e) => {
            tracing::error!(error = %e, "TAM could not produce an answer");
            bare(StatusCode::INTERNAL_SERVER_ERROR, None)
        }
    }
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
