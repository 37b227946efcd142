//! The Verifier's HTTP API, shaped after Veraison's challenge-response API
//! (`/challenge-response/v1`), so that a TAM configured for one works with the other:
//!
//! | request | answer |
//! |---|---|
//! | `POST /challenge-response/v1/newSession?nonce=B64URL` or `?nonceSize=N` | 201, `Location: session/ID`, session JSON |
//! | `POST /challenge-response/v1/session/ID` with the Evidence, `Content-Type` its media type | 200, session JSON with `result` |
//! | `GET /challenge-response/v1/session/ID` | 200, session JSON |
//! | `DELETE /challenge-response/v1/session/ID` | 204 |
//!
//! Session JSON: `{"nonce": B64, "expiry": RFC3339, "accept": [media types], "state":
//! "waiting"|"complete", "evidence": {"type", "value": B64}, "result": B64, "ear": B64}`.
//! Difference from Veraison: `result` is the base64 of the signed TEEP-profile Attestation
//! Result (a CWT), and the EAR is a CWT in `ear`, where Veraison returns an EAR JWT in
//! `result`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64ct::{Base64, Base64Url, Base64UrlUnpadded, Encoding};
use serde::{Deserialize, Serialize};

use crate::service::{
    ACCEPTED_MEDIA_TYPES, Session, SessionError, State as SessionState, Verifier,
};

/// Media type of the session resource (Veraison).
pub const SESSION_MEDIA_TYPE: &str = "application/vnd.veraison.challenge-response-session+json";

/// Base path of the API.
pub const BASE: &str = "/challenge-response/v1";

/// The router.
pub fn router(verifier: Arc<Verifier>) -> Router {
    let limit = verifier.config().max_evidence_len.saturating_add(1024);
    Router::new()
        .route(&format!("{BASE}/newSession"), post(new_session))
        .route(&format!("{BASE}/session/{{id}}"), post(submit).get(get_session).delete(delete))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(limit))
        .with_state(verifier)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewSessionQuery {
    nonce: Option<String>,
    nonce_size: Option<usize>,
}

/// The session resource.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionJson {
    /// Base64 nonce.
    pub nonce: String,
    /// RFC 3339 expiry.
    pub expiry: String,
    /// Accepted Evidence media types.
    pub accept: Vec<String>,
    /// "waiting" or "complete".
    pub state: String,
    /// The submitted Evidence.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub evidence: Option<EvidenceJson>,
    /// Base64 of the signed TEEP-profile Attestation Result.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub result: Option<String>,
    /// Base64 of the signed EAR (CWT).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ear: Option<String>,
    /// The appraisal outcome in words.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}

/// Evidence in the session resource.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct EvidenceJson {
    /// Media type.
    #[serde(rename = "type")]
    pub media_type: String,
    /// Base64 bytes.
    pub value: String,
}

impl SessionJson {
    fn of(s: &Session) -> Self {
        SessionJson {
            nonce: Base64::encode_string(&s.nonce),
            expiry: rfc3339(s.expiry),
            accept: ACCEPTED_MEDIA_TYPES.iter().map(|m| (*m).to_owned()).collect(),
            state: match s.state {
                SessionState::Waiting => "waiting".into(),
                SessionState::Complete => "complete".into(),
            },
            evidence: s.evidence.as_ref().map(|(t, v)| EvidenceJson {
                media_type: t.clone(),
                value: Base64::encode_string(v),
            }),
            result: s.result.as_deref().map(Base64::encode_string),
            ear: s.ear.as_deref().map(Base64::encode_string),
            reason: s.reason.clone(),
        }
    }
}

fn json(status: StatusCode, s: &Session, location: Option<&str>) -> Response {
    let body = serde_json::to_vec(&SessionJson::of(s)).unwrap_or_default();
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(SESSION_MEDIA_TYPE));
    if let Some(loc) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        headers.insert(header::LOCATION, loc);
    }
    response
}

fn problem(e: &SessionError) -> Response {
    let status = match e {
        SessionError::NotFound => StatusCode::NOT_FOUND,
        SessionError::AlreadyComplete => StatusCode::CONFLICT,
        SessionError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        SessionError::BadNonce => StatusCode::BAD_REQUEST,
        SessionError::Busy => StatusCode::SERVICE_UNAVAILABLE,
        SessionError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let body = serde_json::json!({ "title": status.canonical_reason(), "detail": e.to_string() });
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    response
}

fn decode_nonce(text: &str) -> Result<Vec<u8>, SessionError> {
    Base64UrlUnpadded::decode_vec(text)
        .or_else(|_| Base64Url::decode_vec(text))
        .or_else(|_| Base64::decode_vec(text))
        .map_err(|_| SessionError::BadNonce)
}

async fn new_session(
    State(verifier): State<Arc<Verifier>>,
    Query(q): Query<NewSessionQuery>,
) -> Response {
    let nonce = match q.nonce.as_deref().map(decode_nonce).transpose() {
        Ok(n) => n,
        Err(e) => return problem(&e),
    };
    match verifier.new_session(nonce, q.nonce_size, unix_now()) {
        Ok((id, session)) => json(StatusCode::CREATED, &session, Some(&format!("session/{id}"))),
        Err(e) => problem(&e),
    }
}

async fn submit(
    State(verifier): State<Arc<Verifier>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let media_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let Some(media_type) = media_type else {
        return problem(&SessionError::UnsupportedMediaType);
    };
    match verifier.submit(&id, media_type, &body, unix_now()) {
        Ok(session) => json(StatusCode::OK, &session, None),
        Err(e) => problem(&e),
    }
}

async fn get_session(State(verifier): State<Arc<Verifier>>, Path(id): Path<String>) -> Response {
    match verifier.session(&id, unix_now()) {
        Ok(session) => json(StatusCode::OK, &session, None),
        Err(e) => problem(&e),
    }
}

async fn delete(State(verifier): State<Arc<Verifier>>, Path(id): Path<String>) -> Response {
    match verifier.delete(&id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => problem(&e),
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// RFC 3339 UTC time of Unix seconds (civil-from-days, proleptic Gregorian).
pub fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
