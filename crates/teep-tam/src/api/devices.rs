//! `/admin/v1/devices`: enrolled devices, their status (installed components, attestation
//! outcome, SUIT reports, history), blocking and removal. A device is named by the hex RFC
//! 9679 thumbprint of its Agent key, or a unique prefix of at least 8 hex digits; a device
//! administrator sees only the devices in its groups (others are not found).

use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Authed;
use super::catalog::component_text;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use super::policy::RuleView;
use crate::config::Wire;
use crate::store::{DeviceRow, EventRow, ReportRow};

/// A device.
#[derive(Serialize, ToSchema)]
pub struct DeviceView {
    /// Thumbprint of its Agent key, hex.
    pub id: String,
    /// Administrator's label.
    pub label: Option<String>,
    /// TEEP numbering it speaks (`rfc` or `legacy`).
    pub wire: String,
    /// Whether the TAM drops its messages.
    pub blocked: bool,
    /// When it was enrolled (Unix seconds).
    pub enrolled_at: u64,
    /// Last message received (Unix seconds).
    pub last_seen: Option<u64>,
    /// Last TEEP error it reported.
    pub last_error: Option<LastError>,
}

/// The last TEEP error a device reported.
#[derive(Serialize, ToSchema)]
pub struct LastError {
    /// err-code.
    pub code: Option<u64>,
    /// err-msg.
    pub message: Option<String>,
    /// When (Unix seconds).
    pub at: Option<u64>,
}

impl From<DeviceRow> for DeviceView {
    fn from(d: DeviceRow) -> Self {
        let last_error =
            (d.last_error_code.is_some() || d.last_error_msg.is_some()).then_some(LastError {
                code: d.last_error_code,
                message: d.last_error_msg,
                at: d.last_error_at,
            });
        DeviceView {
            id: hex::encode(d.thumbprint),
            label: d.label,
            wire: d.wire,
            blocked: d.blocked,
            enrolled_at: d.enrolled_at,
            last_seen: d.last_seen,
            last_error,
        }
    }
}

/// A device to enrol.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    /// The Agent's public key: SPKI PEM or JWK JSON text.
    pub key: String,
    /// Label (1 to 64 printable characters).
    pub label: Option<String>,
    /// `rfc` (default) or `legacy` numbering.
    pub wire: Option<String>,
}

/// A component the TAM believes is installed.
#[derive(Serialize, ToSchema)]
pub struct InstalledView {
    /// Component id in text form.
    pub component_id: String,
    /// Installed sequence number, if known.
    pub sequence_number: Option<u64>,
    /// Image digest, hex, if reported.
    pub digest: Option<String>,
    /// When it was recorded (Unix seconds).
    pub updated_at: u64,
}

/// The last attestation appraisal.
#[derive(Serialize, ToSchema)]
pub struct AttestationView {
    /// Whether the device was trusted.
    pub trusted: bool,
    /// Why.
    pub reason: String,
    /// `background-check` or `passport`.
    pub model: String,
    /// When (Unix seconds).
    pub appraised_at: u64,
}

/// A SUIT report (without its bytes).
#[derive(Serialize, ToSchema)]
pub struct ReportView {
    /// Identifier (increasing).
    pub id: i64,
    /// When it was received (Unix seconds).
    pub received_at: u64,
    /// The TEEP message that carried it.
    pub message: String,
    /// The manifest it reports on.
    pub manifest_uri: String,
    /// Its digest, hex.
    pub manifest_digest: String,
    /// Whether processing succeeded.
    pub success: bool,
    /// Failure reason.
    pub reason: Option<String>,
    /// How the report was protected.
    pub protection: String,
    /// Whether its signature verified.
    pub verified: bool,
}

impl From<ReportRow> for ReportView {
    fn from(r: ReportRow) -> Self {
        ReportView {
            id: r.id,
            received_at: r.received_at,
            message: r.message,
            manifest_uri: r.manifest_uri,
            manifest_digest: hex::encode(r.manifest_digest),
            success: r.success,
            reason: r.reason,
            protection: r.protection,
            verified: r.verified,
        }
    }
}

/// A history entry.
#[derive(Serialize, ToSchema)]
pub struct EventView {
    /// Identifier (increasing; page with `before`).
    pub id: i64,
    /// When (Unix seconds).
    pub at: u64,
    /// What happened.
    pub kind: String,
    /// Detail.
    pub detail: String,
}

impl From<EventRow> for EventView {
    fn from(e: EventRow) -> Self {
        EventView { id: e.id, at: e.at, kind: e.kind, detail: e.detail }
    }
}

/// Everything known about a device.
#[derive(Serialize, ToSchema)]
pub struct DeviceStatusView {
    /// The device.
    pub device: DeviceView,
    /// Installed components.
    pub components: Vec<InstalledView>,
    /// Rules that apply to it.
    pub policy: Vec<RuleView>,
    /// Latest history, newest first.
    pub history: Vec<EventView>,
    /// Last attestation outcome.
    pub attestation: Option<AttestationView>,
    /// Its SUIT report key (COSE_Key, hex).
    pub report_key: Option<String>,
    /// Latest SUIT reports, newest first.
    pub reports: Vec<ReportView>,
}

/// Parses a `wire` option: `rfc` (default) or `legacy`.
pub(super) fn parse_wire(text: Option<&str>) -> Result<Wire, ApiError> {
    match text {
        None | Some("rfc") => Ok(Wire::Rfc),
        Some("legacy") => Ok(Wire::Legacy),
        Some(_) => Err(ApiError::bad_request("wire must be `rfc` or `legacy`")),
    }
}

#[utoipa::path(get, path = "/devices", tag = "devices",
    responses((status = 200, body = Vec<DeviceView>), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
/// List the devices (a device administrator sees those in its groups).
pub(super) async fn list_devices(Authed(admin): Authed) -> Result<impl IntoResponse, ApiError> {
    let devices: Vec<DeviceView> = admin.devices().await?.into_iter().map(Into::into).collect();
    Ok(axum::Json(devices))
}

#[utoipa::path(post, path = "/devices", tag = "devices", request_body = NewDevice,
    responses((status = 201, body = DeviceView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
/// Enrol a device by its Agent key (operator).
pub(super) async fn enroll_device(
    Authed(admin): Authed,
    ApiJson(body): ApiJson<NewDevice>,
) -> Result<impl IntoResponse, ApiError> {
    let wire = parse_wire(body.wire.as_deref())?;
    let row = admin
        .enroll_device(body.key.as_bytes(), body.label.as_deref(), wire, super::unix_now())
        .await?;
    Ok((StatusCode::CREATED, axum::Json(DeviceView::from(row))))
}

#[utoipa::path(get, path = "/devices/{device}", tag = "devices",
    params(("device" = String, Path, description = "Thumbprint hex (or a unique 8+ digit prefix)")),
    responses((status = 200, body = DeviceStatusView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Everything known about a device.
pub(super) async fn device_status(
    Authed(admin): Authed,
    ApiPath(device): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = admin.resolve_device(&device).await?;
    let s = admin.status(&id).await?;
    Ok(axum::Json(DeviceStatusView {
        device: s.device.into(),
        components: s
            .components
            .into_iter()
            .map(|c| InstalledView {
                component_id: component_text(&c.component_id),
                sequence_number: c.sequence_number,
                digest: c.digest.map(hex::encode),
                updated_at: c.updated_at,
            })
            .collect(),
        policy: s.policy.into_iter().map(Into::into).collect(),
        history: s.events.into_iter().map(Into::into).collect(),
        attestation: s.attestation.map(|a| AttestationView {
            trusted: a.trusted,
            reason: a.reason,
            model: a.model,
            appraised_at: a.appraised_at,
        }),
        report_key: s.report_key.map(hex::encode),
        reports: s.reports.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(delete, path = "/devices/{device}", tag = "devices",
    params(("device" = String, Path, description = "Thumbprint hex (or a unique 8+ digit prefix)")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
/// Remove a device and everything recorded about it.
pub(super) async fn remove_device(
    Authed(admin): Authed,
    ApiPath(device): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = admin.resolve_device(&device).await?;
    admin.remove_device(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/devices/{device}/block", tag = "devices",
    params(("device" = String, Path, description = "Thumbprint hex (or a unique 8+ digit prefix)")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
/// Block a device: the TAM drops its messages.
pub(super) async fn block_device(
    Authed(admin): Authed,
    ApiPath(device): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = admin.resolve_device(&device).await?;
    admin.set_blocked(&id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/devices/{device}/unblock", tag = "devices",
    params(("device" = String, Path, description = "Thumbprint hex (or a unique 8+ digit prefix)")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
/// Unblock a device.
pub(super) async fn unblock_device(
    Authed(admin): Authed,
    ApiPath(device): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = admin.resolve_device(&device).await?;
    admin.set_blocked(&id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A SUIT report key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportKey {
    /// The key: SPKI PEM or JWK JSON text (distinct from the device's TEEP key).
    pub key: String,
}

#[utoipa::path(put, path = "/devices/{device}/report-key", tag = "devices",
    params(("device" = String, Path, description = "Thumbprint hex (or a unique 8+ digit prefix)")),
    request_body = ReportKey,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Enrol (or replace) the key a device signs its SUIT reports with.
pub(super) async fn set_report_key(
    Authed(admin): Authed,
    ApiPath(device): ApiPath<String>,
    ApiJson(body): ApiJson<ReportKey>,
) -> Result<StatusCode, ApiError> {
    let id = admin.resolve_device(&device).await?;
    admin.set_report_key(&id, body.key.as_bytes(), super::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Paging of a list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Most entries to return (1 to 1000, default 50).
    pub limit: Option<u32>,
    /// Only entries with an id below this (the last id of the previous page).
    pub before: Option<i64>,
}

impl Page {
    fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(50),
            Some(n @ 1..=1000) => Ok(n),
            Some(_) => Err(ApiError::bad_request("limit must be within 1..=1000")),
        }
    }
}

#[utoipa::path(get, path = "/devices/{device}/reports", tag = "devices",
    params(("device" = String, Path, description = "Thumbprint hex (or a unique 8+ digit prefix)"),
           Page),
    responses((status = 200, body = Vec<ReportView>), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// The latest SUIT reports of a device, newest first (`before` is ignored).
pub(super) async fn device_reports(
    Authed(admin): Authed,
    ApiPath(device): ApiPath<String>,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<impl IntoResponse, ApiError> {
    let id = admin.resolve_device(&device).await?;
    let reports: Vec<ReportView> =
        admin.reports(&id, page.limit()?).await?.into_iter().map(Into::into).collect();
    Ok(axum::Json(reports))
}

#[utoipa::path(get, path = "/devices/{device}/history", tag = "devices",
    params(("device" = String, Path, description = "Thumbprint hex (or a unique 8+ digit prefix)"),
           Page),
    responses((status = 200, body = Vec<EventView>), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// A device's session history, newest first, in pages.
pub(super) async fn device_history(
    Authed(admin): Authed,
    ApiPath(device): ApiPath<String>,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<impl IntoResponse, ApiError> {
    let id = admin.resolve_device(&device).await?;
    let events: Vec<EventView> = admin
        .device_history(&id, page.limit()?, page.before)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(axum::Json(events))
}
