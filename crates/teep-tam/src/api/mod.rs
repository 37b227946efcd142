//! The admin REST API (issue 5): everything `teep tam` administers, over HTTP(S) under
//! `/admin/v1`, described by the OpenAPI 3 document served at `/admin/v1/openapi.json`.
//!
//! * Authentication ([`auth`]): `Authorization: Bearer <token>` (tokens stored only as SHA-256
//!   hashes, see [`crate::principals`]), or a client certificate registered to a principal
//!   when `[admin.tls] client_ca` asks for mutual TLS.
//! * Authorisation: every handler calls the [`Admin`] layer acting as the authenticated
//!   principal, which enforces roles and ownership, so the REST API and the CLI agree:
//!   operator everything, developer its own signers and the components they authenticate,
//!   device administrator its own groups, their devices, policies and rollouts.
//! * Bodies are JSON, except SUIT envelopes and payloads, which are raw
//!   `application/octet-stream` bodies. Errors are [`error::ErrorBody`] JSON.
//! * Payload downloads for devices ([`payload_router`]) live on the TEEP listener, without
//!   authentication, with HTTP range requests (RFC 9110 §14).
//!
//! The routes and the OpenAPI document come from the same annotated handlers
//! (utoipa-axum), so the document lists exactly the routes served.

mod audit;
mod auth;
mod catalog;
mod devices;
pub mod error;
mod fleet;
mod payloads;
mod policy;
mod principals;
mod tls;

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Json;
use axum::extract::DefaultBodyLimit;
use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use crate::admin::Admin;
use crate::config::{AdminListen, TamConfig};
use crate::error::ServeError;
use crate::x509::ManufacturerCas;

pub use payloads::payload_router;

/// Path prefix of the admin API.
pub const PREFIX: &str = "/admin/v1";

/// State shared by the admin handlers.
#[derive(Clone, Debug)]
pub(crate) struct ApiState {
    /// The handle requests are authenticated against; each request acts as its principal.
    admin: Admin,
    /// Trust anchors for X.509 enrolment (`[agents] manufacturer_cas`).
    manufacturer_cas: Arc<ManufacturerCas>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "teep-rs TAM admin API",
        description = "Administration of a TEEP Trusted Application Manager: catalog, devices, \
                       policies, rollouts, principals and tokens. See docs/admin-api.md."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "catalog", description = "TC signers, Trusted Components, remediation"),
        (name = "devices", description = "Devices, their status and reports"),
        (name = "fleet", description = "Groups, rollouts, enrolment lists, RequestTA setting"),
        (name = "policy", description = "Desired Trusted Components per target"),
        (name = "access", description = "Principals, API tokens, client certificates"),
        (name = "payloads", description = "Hosted payloads of URI-based components"),
        (name = "audit", description = "Who changed what and when"),
        (name = "meta", description = "This document"),
    )
)]
struct ApiDoc;

/// Declares the bearer-token security scheme.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The admin API routes with `extra` merged in unauthenticated (metrics, health checks),
/// with the default body limits of [`AdminListen`]. Without a configuration no manufacturer
/// CA is known, so X.509 enrolment refuses every chain; [`router_with`] loads them.
pub fn router(admin: Admin, extra: axum::Router) -> axum::Router {
    build(admin, extra, &AdminListen::default(), ManufacturerCas::default())
}

/// The admin API as `config` describes it: body limits from `[admin]`, manufacturer CAs for
/// X.509 enrolment from `[agents]`.
pub fn router_with(
    admin: Admin,
    extra: axum::Router,
    config: &TamConfig,
) -> Result<axum::Router, ServeError> {
    let limits = config.admin.clone().unwrap_or_default();
    Ok(build(admin, extra, &limits, ManufacturerCas::load(config)?))
}

fn build(
    admin: Admin,
    extra: axum::Router,
    limits: &AdminListen,
    manufacturer_cas: ManufacturerCas,
) -> axum::Router {
    let (api, _) = documented_routes(limits.max_payload_bytes).split_for_parts();
    let api = api
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .with_state(ApiState { admin, manufacturer_cas: Arc::new(manufacturer_cas) });
    api.merge(extra)
}

/// The OpenAPI document of the admin API (what `/admin/v1/openapi.json` serves).
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented_routes(AdminListen::default().max_payload_bytes).into_openapi()
}

#[utoipa::path(get, path = "/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "This OpenAPI 3 document", content_type = "application/json")))]
/// The OpenAPI document of the admin API (no authentication needed).
async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    Json(DOCUMENT.get_or_init(openapi).clone())
}

/// Every documented route, under [`PREFIX`].
fn documented_routes(max_payload_bytes: usize) -> OpenApiRouter<ApiState> {
    let v1 = OpenApiRouter::new()
        .routes(routes!(openapi_json))
        .routes(routes!(principals::whoami))
        .routes(routes!(catalog::list_signers, catalog::add_signer))
        .routes(routes!(catalog::remove_signer))
        .routes(routes!(catalog::list_tcs, catalog::add_tc))
        .routes(routes!(catalog::remove_tc))
        .routes(routes!(catalog::tc_envelope))
        .routes(routes!(catalog::list_remediation))
        .routes(routes!(catalog::mark_remediation, catalog::unmark_remediation))
        .routes(routes!(devices::list_devices, devices::enroll_device))
        .routes(routes!(devices::device_status, devices::remove_device))
        .routes(routes!(devices::block_device))
        .routes(routes!(devices::unblock_device))
        .routes(routes!(devices::set_report_key))
        .routes(routes!(devices::device_reports))
        .routes(routes!(devices::device_history))
        .routes(routes!(fleet::enroll_x509))
        .routes(routes!(fleet::device_certificate))
        .routes(routes!(fleet::device_groups))
        .routes(routes!(fleet::list_groups, fleet::create_group))
        .routes(routes!(fleet::show_group, fleet::delete_group))
        .routes(routes!(fleet::add_group_device, fleet::remove_group_device))
        .routes(routes!(fleet::set_group_allow_request))
        .routes(routes!(fleet::allow_request, fleet::set_allow_request))
        .routes(routes!(fleet::list_rollouts, fleet::create_rollout))
        .routes(routes!(fleet::rollout_progress))
        .routes(routes!(fleet::pause_rollout))
        .routes(routes!(fleet::resume_rollout))
        .routes(routes!(fleet::abort_rollout))
        .routes(routes!(fleet::complete_rollout))
        .routes(routes!(fleet::raise_share))
        .routes(routes!(fleet::retire_tc))
        .routes(routes!(fleet::list_retired))
        .routes(routes!(fleet::list_admission, fleet::add_admission, fleet::remove_admission))
        .routes(routes!(policy::list_policies, policy::set_rule, policy::clear_rule))
        .routes(routes!(audit::audit_log))
        .routes(routes!(principals::list_principals, principals::add_principal))
        .routes(routes!(principals::show_principal))
        .routes(routes!(principals::disable_principal))
        .routes(routes!(principals::enable_principal))
        .routes(routes!(principals::list_certificates, principals::add_certificate))
        .routes(routes!(principals::remove_certificate))
        .routes(routes!(principals::list_tokens, principals::create_token))
        .routes(routes!(principals::revoke_token))
        .routes(routes!(payloads::list_payloads))
        .routes(payload_upload(
            routes!(payloads::show_payload, payloads::put_payload, payloads::remove_payload),
            max_payload_bytes,
        ));
    OpenApiRouter::with_openapi(ApiDoc::openapi()).nest(PREFIX, v1)
}

/// Gives the payload upload route its own, larger body limit.
fn payload_upload(
    (schemas, paths, method_router): UtoipaMethodRouter<ApiState>,
    max_payload_bytes: usize,
) -> UtoipaMethodRouter<ApiState> {
    (schemas, paths, method_router.layer(DefaultBodyLimit::max(max_payload_bytes)))
}

/// Serves the admin API on `listener` until `shutdown` completes (then requests in flight
/// get `shutdown_grace_secs` to finish), over HTTPS when `[admin.tls]` is configured, asking
/// for client certificates when it names a `client_ca`. `extra` routes are merged in
/// without authentication.
pub async fn serve_admin<F>(
    admin: Admin,
    config: &TamConfig,
    listener: tokio::net::TcpListener,
    extra: axum::Router,
    shutdown: F,
) -> Result<(), ServeError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let limits = config.admin.clone().unwrap_or_default();
    let body_limits = BodyDeadline {
        timeout: config.body_timeout(),
        max_body_bytes: limits.max_body_bytes,
        max_payload_bytes: limits.max_payload_bytes,
    };
    let app = router_with(admin, extra, config)?
        .layer(axum::middleware::from_fn_with_state(body_limits, body_deadline));
    let address = listener.local_addr()?;
    let tls = limits.tls.as_ref().map(|t| tls::server_config(config, t)).transpose()?;
    tracing::info!(
        %address,
        https = tls.is_some(),
        client_certificates = limits.tls.as_ref().is_some_and(|t| t.client_ca.is_some()),
        "admin API listening"
    );
    let connection_limits = crate::server::ConnectionLimits::of(config);
    let result =
        crate::server::serve_connections(listener, app, tls, connection_limits, shutdown).await;
    tracing::info!(%address, "admin API stopped");
    result.map_err(ServeError::from)
}

/// Loads the admin listener's TLS files (`[admin.tls]`), if any, to report a missing or bad
/// file before anything is served.
pub(crate) fn check_admin_tls(config: &TamConfig) -> Result<(), ServeError> {
    match config.admin.as_ref().and_then(|a| a.tls.as_ref()) {
        Some(t) => tls::server_config(config, t).map(drop),
        None => Ok(()),
    }
}

/// The time and size limits of an admin request body.
#[derive(Clone, Copy, Debug)]
struct BodyDeadline {
    /// `body_timeout_secs`: the whole body must arrive within it.
    timeout: Duration,
    max_body_bytes: usize,
    max_payload_bytes: usize,
}

/// Reads the request body within `body_timeout_secs` (408 otherwise), so that a client that
/// stops sending cannot hold a connection and a handler; bodies beyond the route's limit get
/// 413 before they are buffered further. The handlers then see the complete body.
async fn body_deadline(
    axum::extract::State(limits): axum::extract::State<BodyDeadline>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse as _;
    let (parts, body) = request.into_parts();
    let upload = parts.uri.path().starts_with(&format!("{PREFIX}/payloads/"));
    let limit = if upload { limits.max_payload_bytes } else { limits.max_body_bytes };
    let too_large = || {
        error::ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body larger than {limit} bytes"),
            "send a smaller body; the limits are max_body_bytes and max_payload_bytes in \
             [admin] of tam.toml",
        )
        .into_response()
    };
    let announced = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok());
    if announced.and_then(|v| v.trim().parse::<u64>().ok()).is_some_and(|n| n > limit as u64) {
        return too_large();
    }
    let bytes = match tokio::time::timeout(limits.timeout, crate::http::read_body(body, limit))
        .await
    {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(crate::http::BodyError::TooLarge)) => return too_large(),
        Ok(Err(crate::http::BodyError::Aborted)) => {
            return error::ApiError::bad_request("the request body was cut off").into_response();
        }
        Err(_) => {
            return error::ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} s (body_timeout_secs)",
                    limits.timeout.as_secs()
                ),
                "send the whole body at once; a slow link needs a larger body_timeout_secs",
            )
            .into_response();
        }
    };
    next.run(axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes))).await
}

/// The current time in Unix seconds.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
