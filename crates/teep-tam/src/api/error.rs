//! JSON errors of the admin API and extractors that report malformed requests as such.
//!
//! Every error is `{ "error": "...", "what_to_do": "..." }` with a status saying what kind:
//! 400 malformed, 401 no or bad credentials, 403 the role or ownership does not allow it,
//! 404 not found (also for another owner's objects, so that their existence does not leak),
//! 409 conflicts with existing state, 413 too large, 415 a body of the wrong content type,
//! 500 an unexpected database failure (logged), 503 the database is unreachable.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use crate::error::{AdminError, StoreError};

/// The body of every error response.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: String,
    /// What the client can do about it.
    pub what_to_do: String,
}

/// An error response of the admin API.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    /// An error with a status, message and advice.
    pub fn new(
        status: StatusCode,
        error: impl Into<String>,
        what_to_do: impl Into<String>,
    ) -> Self {
        ApiError { status, body: ErrorBody { error: error.into(), what_to_do: what_to_do.into() } }
    }

    /// 401: no or bad credentials.
    pub fn unauthorized(error: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            error,
            "send `Authorization: Bearer <token>` with a valid token (an operator creates one \
             with `teep tam token create`), or a registered client certificate",
        )
    }

    /// 400: a malformed request.
    pub fn bad_request(error: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, error, "fix the request; see /admin/v1/openapi.json")
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// An extractor's rejection, keeping its status (400, 413, 415, 422 become 400/413/415).
    fn rejection(status: StatusCode, text: String) -> Self {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                status,
                text,
                "send a smaller body; the limits are max_body_bytes and max_payload_bytes in \
                 [admin] of tam.toml",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                ApiError::new(status, text, "send `Content-Type: application/json` for JSON bodies")
            }
            _ => ApiError::bad_request(text),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match &e {
            // A number the client sent does not fit the database's signed 64-bit integers.
            StoreError::OutOfRange(what) => ApiError::bad_request(format!(
                "{what} is too large: numbers must be at most {} (2^63 - 1)",
                i64::MAX
            )),
            StoreError::Database(
                sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::WorkerCrashed,
            ) => {
                tracing::error!(error = %e, "admin API: database unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the database is unavailable",
                    "retry later; the operator should check the TAM's database",
                )
            }
            _ => {
                tracing::error!(error = %e, "admin API: database error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal database error",
                    "retry; if it persists, the operator should check the TAM's log",
                )
            }
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        let text = e.to_string();
        match e {
            AdminError::Store(e) => e.into(),
            AdminError::InvalidKey(_) => ApiError::new(
                StatusCode::BAD_REQUEST,
                text,
                "send the public key as SPKI PEM text (-----BEGIN PUBLIC KEY-----) or as JWK \
                 JSON in the `key` string",
            ),
            AdminError::InvalidEnvelope(_) | AdminError::NoComponentId => ApiError::new(
                StatusCode::BAD_REQUEST,
                text,
                "send a signed SUIT envelope (application/cbor) whose manifest names its \
                 component; check it with `teep manifest inspect`",
            ),
            AdminError::UntrustedEnvelope => ApiError::new(
                StatusCode::BAD_REQUEST,
                text,
                "register the public key that signed the envelope first (POST /admin/v1/signers \
                 or `teep tam signer add`), then send the envelope again",
            ),
            AdminError::InvalidArgument(_) => ApiError::bad_request(text),
            AdminError::NoSigners => ApiError::new(
                StatusCode::CONFLICT,
                text,
                "register a TC signer whose key signs the envelope first (POST /admin/v1/signers)",
            ),
            AdminError::Exists(what) => {
                ApiError::new(StatusCode::CONFLICT, text, exists_advice(what))
            }
            AdminError::WouldLockOut(_) => ApiError::new(
                StatusCode::CONFLICT,
                text,
                "first create another operator with a token (POST /admin/v1/principals, POST \
                 /admin/v1/tokens), or use `teep tam` on the TAM host",
            ),
            AdminError::SignerInUse { .. } => ApiError::new(
                StatusCode::CONFLICT,
                text,
                "remove those components first, or DELETE the signer with ?with_components=true",
            ),
            AdminError::NotFound(what) => {
                ApiError::new(StatusCode::NOT_FOUND, text, not_found_advice(what))
            }
            AdminError::Forbidden(_) => ApiError::new(
                StatusCode::FORBIDDEN,
                text,
                "ask an operator, or a principal with the needed role, to do it",
            ),
            // Variants added later count as malformed requests until they are mapped here.
            #[allow(unreachable_patterns)]
            _ => ApiError::bad_request(text),
        }
    }
}

/// What to do when creating `what` conflicts with an existing object.
fn exists_advice(what: &str) -> &'static str {
    match what {
        "signer name or key" => {
            "choose another signer name; a public key can be registered as a signer only once \
             (GET /admin/v1/signers lists yours)"
        }
        "this component id and sequence number" => {
            "sign the new version with a higher sequence number"
        }
        "device" => "the key is already enrolled; see GET /admin/v1/devices",
        "group membership" => "the device is already in the group",
        "list entry" => "the entry is already on that list; see GET /admin/v1/admission",
        "certificate" => "that certificate is already registered to a principal",
        "token id" => "retry: two random token ids collided",
        _ => "choose another name or id, or remove the existing one first",
    }
}

/// What to do when `what` was not found.
fn not_found_advice(what: &str) -> &'static str {
    match what {
        "device" => {
            "check the device id (GET /admin/v1/devices); devices outside your groups are not \
             visible"
        }
        "signer" => "check the name (GET /admin/v1/signers); others' signers are not visible",
        "trusted component" | "catalog version" => {
            "check the component id and sequence number (GET /admin/v1/tcs); others' versions \
             are not visible"
        }
        "group" | "group membership" => {
            "check the group name (GET /admin/v1/groups); others' groups are not visible"
        }
        "principal" => "check the name (GET /admin/v1/principals, operators only)",
        "token" => "check the token id (GET /admin/v1/tokens)",
        "rollout" => "check the rollout id (GET /admin/v1/rollouts)",
        "policy rule" => "check the target and component (GET /admin/v1/policies)",
        _ => "check the name or id; objects owned by others are not visible",
    }
}

/// A JSON body; malformed JSON is a 400 in the API's error format.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(r) => Err(ApiError::rejection(r.status(), r.body_text())),
        }
    }
}

/// A raw body (SUIT envelopes, payloads, certificates); too large is a 413.
pub struct ApiBytes(pub bytes::Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match bytes::Bytes::from_request(req, state).await {
            Ok(b) => Ok(ApiBytes(b)),
            Err(r) => Err(ApiError::rejection(r.status(), r.body_text())),
        }
    }
}

/// Path parameters; undecodable ones are a 400.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(r) => Err(ApiError::bad_request(r.body_text())),
        }
    }
}

/// Query parameters; malformed ones are a 400.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(r) => Err(ApiError::bad_request(r.body_text())),
        }
    }
}
