//! Hosted payloads: `/admin/v1/payloads` to manage them, and `GET /payloads/{name}` on the
//! TEEP listener ([`payload_router`]) for devices, with single-range requests
//! (RFC 9110 §14: `Range: bytes=a-b`, `a-` or `-n`; 206 with Content-Range, 416 when
//! unsatisfiable, `If-Range`; a multi-range request gets the whole payload). The ETag is the
//! SHA-256 of the payload; only the requested bytes are read from the database.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Authed;
use super::error::{ApiBytes, ApiError, ApiPath, ErrorBody};
use crate::payloads::check_payload_name;
use crate::store::{PayloadRow, Store};

/// A hosted payload's metadata.
#[derive(Serialize, ToSchema)]
pub struct PayloadView {
    /// Name; devices fetch it from `/payloads/<name>` on the TEEP listener.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes, hex (also the HTTP ETag).
    pub sha256: String,
    /// The developer that owns it; absent: operator-owned.
    pub owner: Option<String>,
    /// When it was uploaded (Unix seconds).
    pub uploaded_at: u64,
}

impl From<PayloadRow> for PayloadView {
    fn from(p: PayloadRow) -> Self {
        PayloadView {
            name: p.name,
            size: p.size,
            sha256: hex::encode(p.sha256),
            owner: p.owner,
            uploaded_at: p.uploaded_at,
        }
    }
}

#[utoipa::path(get, path = "/payloads", tag = "payloads",
    responses((status = 200, body = Vec<PayloadView>), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
/// List the hosted payloads (a developer sees its own).
pub(super) async fn list_payloads(Authed(admin): Authed) -> Result<impl IntoResponse, ApiError> {
    let all: Vec<PayloadView> = admin.payloads().await?.into_iter().map(Into::into).collect();
    Ok(axum::Json(all))
}

#[utoipa::path(get, path = "/payloads/{name}", tag = "payloads",
    params(("name" = String, Path, description = "Payload name")),
    responses((status = 200, body = PayloadView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// One payload's metadata (download it from the TEEP listener's `/payloads/{name}`).
pub(super) async fn show_payload(
    Authed(admin): Authed,
    ApiPath(name): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(PayloadView::from(admin.payload(&name).await?)))
}

#[utoipa::path(put, path = "/payloads/{name}", tag = "payloads",
    params(("name" = String, Path, description = "Payload name: ASCII letters, digits, . _ -")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = PayloadView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 413, body = ErrorBody)))]
/// Upload (or replace) a payload (operator, or developer for its own names).
pub(super) async fn put_payload(
    Authed(admin): Authed,
    ApiPath(name): ApiPath<String>,
    ApiBytes(body): ApiBytes,
) -> Result<impl IntoResponse, ApiError> {
    let row = admin.put_payload(&name, &body, super::unix_now()).await?;
    Ok(axum::Json(PayloadView::from(row)))
}

#[utoipa::path(delete, path = "/payloads/{name}", tag = "payloads",
    params(("name" = String, Path, description = "Payload name")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
/// Delete a payload.
pub(super) async fn remove_payload(
    Authed(admin): Authed,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    admin.remove_payload(&name, super::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /payloads/{name}` (and HEAD) for devices, reading from `store`; merge it into the
/// TEEP listener's router.
pub fn payload_router(store: Store) -> Router {
    Router::new().route("/payloads/{name}", get(download)).with_state(store)
}

/// What part of a payload a request gets.
#[derive(Debug, PartialEq, Eq)]
enum Part {
    /// Everything (no Range, an ignored one, or several ranges).
    Whole,
    /// Bytes `first..=last`.
    Range { first: u64, last: u64 },
    /// Nothing of the payload lies in the requested range.
    Unsatisfiable,
}

/// Interprets a Range header value for a payload of `size` bytes (RFC 9110 §14.1.2). Invalid
/// or unsupported values are ignored, as §14.2 allows.
fn requested_part(range: Option<&str>, size: u64) -> Part {
    let Some(spec) = range.and_then(|r| r.trim().strip_prefix("bytes=")) else {
        return Part::Whole;
    };
    if spec.contains(',') {
        return Part::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return Part::Whole };
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<u64>().ok())
    };
    match (number(first), number(last)) {
        // bytes=-n: the last n bytes.
        (None, Some(Some(n))) if first.is_empty() => {
            if n == 0 || size == 0 {
                Part::Unsatisfiable
            } else {
                Part::Range { first: size.saturating_sub(n), last: size - 1 }
            }
        }
        // bytes=a- : from a to the end.
        (Some(Some(a)), None) if last.is_empty() => {
            if a >= size {
                Part::Unsatisfiable
            } else {
                Part::Range { first: a, last: size - 1 }
            }
        }
        (Some(Some(a)), Some(Some(b))) if a <= b => {
            if a >= size {
                Part::Unsatisfiable
            } else {
                Part::Range { first: a, last: b.min(size - 1) }
            }
        }
        // A number too large for u64 as the end still means "to the end".
        (Some(Some(a)), Some(None)) => {
            if a >= size {
                Part::Unsatisfiable
            } else {
                Part::Range { first: a, last: size - 1 }
            }
        }
        _ => Part::Whole,
    }
}

async fn download(
    State(store): State<Store>,
    ApiPath(name): ApiPath<String>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if check_payload_name(&name).is_err() {
        return Err(not_found());
    }
    // A payload replaced between reading its metadata and its bytes is read again.
    for _ in 0..3 {
        let Some(meta) = store.payload(&name).await? else { return Err(not_found()) };
        let etag = format!("\"{}\"", hex::encode(&meta.sha256));
        let header_text = |h: header::HeaderName| headers.get(h).and_then(|v| v.to_str().ok());
        if header_text(header::IF_NONE_MATCH)
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
        {
            return Ok(with_headers(StatusCode::NOT_MODIFIED, &etag, None, Vec::new()));
        }
        let if_range_matches = header_text(header::IF_RANGE).is_none_or(|v| v.trim() == etag);
        let range = if if_range_matches { header_text(header::RANGE) } else { None };
        let (status, first, len, content_range) = match requested_part(range, meta.size) {
            Part::Whole => (StatusCode::OK, 0, meta.size, None),
            Part::Range { first, last } => (
                StatusCode::PARTIAL_CONTENT,
                first,
                last - first + 1,
                Some(format!("bytes {first}-{last}/{}", meta.size)),
            ),
            Part::Unsatisfiable => {
                let range = format!("bytes */{}", meta.size);
                return Ok(with_headers(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    &etag,
                    Some(range),
                    Vec::new(),
                ));
            }
        };
        if method == Method::HEAD || len == 0 {
            let mut response = with_headers(status, &etag, content_range, Vec::new());
            response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            return Ok(response);
        }
        if let Some(bytes) = store.payload_range(&name, &meta.sha256, first, len).await? {
            tracing::debug!(payload = %name, first, len, "payload served");
            return Ok(with_headers(status, &etag, content_range, bytes));
        }
    }
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the payload is being replaced",
        "retry the download",
    ))
}

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "payload not found", "check the URI in the manifest")
}

fn with_headers(
    status: StatusCode,
    etag: &str,
    content_range: Option<String>,
    body: Vec<u8>,
) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    if let Ok(v) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, v);
    }
    if let Some(v) = content_range.and_then(|r| HeaderValue::from_str(&r).ok()) {
        headers.insert(header::CONTENT_RANGE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let r = |s| requested_part(Some(s), 100);
        assert_eq!(requested_part(None, 100), Part::Whole);
        assert_eq!(r("bytes=0-9"), Part::Range { first: 0, last: 9 });
        assert_eq!(r("bytes=90-200"), Part::Range { first: 90, last: 99 });
        assert_eq!(r("bytes=95-"), Part::Range { first: 95, last: 99 });
        assert_eq!(r("bytes=-10"), Part::Range { first: 90, last: 99 });
        assert_eq!(r("bytes=-1000"), Part::Range { first: 0, last: 99 });
        assert_eq!(r("bytes=0-99999999999999999999999"), Part::Range { first: 0, last: 99 });
        assert_eq!(r("bytes=100-"), Part::Unsatisfiable);
        assert_eq!(r("bytes=100-200"), Part::Unsatisfiable);
        assert_eq!(r("bytes=-0"), Part::Unsatisfiable);
        assert_eq!(requested_part(Some("bytes=0-"), 0), Part::Unsatisfiable);
        for ignored in
            ["bytes=9-1", "bytes=0-1,5-6", "items=0-1", "bytes=x-1", "bytes=-", "bytes=1"]
        {
            assert_eq!(r(ignored), Part::Whole, "{ignored}");
        }
    }
}
