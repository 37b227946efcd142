//! Fleet endpoints over [`crate::fleet`]: device groups, staged rollouts, retired catalog
//! versions, the enrolment allow and block lists, X.509 enrolment and the TAM-wide
//! RequestTA setting. Authorisation is in the Admin layer: a device administrator works on
//! its own groups, their devices and the rollouts targeting them.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiState;
use super::auth::Authed;
use super::catalog::{component, component_text};
use super::devices::{DeviceView, parse_wire};
use super::error::{ApiBytes, ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::admin::{Admin, PolicyTarget};
use crate::fleet::{AdmissionList, AdmissionRule, RolloutProgress, RolloutSpec};
use crate::store::{AdmissionEntry, GROUP_TARGET_PREFIX, GroupRow, RolloutRow, RolloutSelection};
use crate::x509::ManufacturerCas;

/// A device group.
#[derive(Serialize, ToSchema)]
pub struct GroupView {
    /// Name.
    pub name: String,
    /// The device administrator that owns it; absent: the operator.
    pub owner: Option<String>,
    /// Whether members' RequestTA is honoured; absent: the TAM-wide setting.
    pub allow_request: Option<bool>,
    /// When it was created (Unix seconds).
    pub created_at: u64,
    /// Number of member devices.
    pub members: u64,
}

impl From<GroupRow> for GroupView {
    fn from(g: GroupRow) -> Self {
        GroupView {
            name: g.name,
            owner: g.owner,
            allow_request: g.allow_request,
            created_at: g.created_at,
            members: g.members,
        }
    }
}

/// A group with its member devices.
#[derive(Serialize, ToSchema)]
pub struct GroupDetail {
    /// The group.
    #[serde(flatten)]
    pub group: GroupView,
    /// Member device thumbprints, hex.
    pub devices: Vec<String>,
}

/// A group to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    /// Name (1 to 64 printable characters).
    pub name: String,
    /// Owning device administrator (operators only; a device administrator's group is its
    /// own).
    pub owner: Option<String>,
}

/// Whether RequestTA is honoured.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowRequest {
    /// `true` or `false`; for a group, `null` follows the TAM-wide setting.
    pub allow: Option<bool>,
}

#[utoipa::path(get, path = "/groups", tag = "fleet",
    responses((status = 200, body = Vec<GroupView>), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
/// List the groups (a device administrator sees its own).
pub(super) async fn list_groups(Authed(admin): Authed) -> Result<impl IntoResponse, ApiError> {
    let groups: Vec<GroupView> = admin.groups().await?.into_iter().map(Into::into).collect();
    Ok(axum::Json(groups))
}

#[utoipa::path(post, path = "/groups", tag = "fleet", request_body = NewGroup,
    responses((status = 201, body = GroupView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
/// Create a device group.
pub(super) async fn create_group(
    Authed(admin): Authed,
    ApiJson(body): ApiJson<NewGroup>,
) -> Result<impl IntoResponse, ApiError> {
    let row = admin.create_group(&body.name, body.owner.as_deref(), super::unix_now()).await?;
    Ok((StatusCode::CREATED, axum::Json(GroupView::from(row))))
}

#[utoipa::path(get, path = "/groups/{group}", tag = "fleet",
    params(("group" = String, Path, description = "Group name")),
    responses((status = 200, body = GroupDetail), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// A group and its member devices.
pub(super) async fn show_group(
    Authed(admin): Authed,
    ApiPath(name): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let group = admin.group(&name).await?.into();
    let devices = admin.group_devices(&name).await?.iter().map(hex::encode).collect();
    Ok(axum::Json(GroupDetail { group, devices }))
}

#[utoipa::path(delete, path = "/groups/{group}", tag = "fleet",
    params(("group" = String, Path, description = "Group name")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Delete a group with its memberships and rules.
pub(super) async fn delete_group(
    Authed(admin): Authed,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    admin.delete_group(&name, super::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A device id for an operation that may name a device the actor cannot list yet (the
/// Admin layer checks it).
fn device_id(text: &str) -> Result<[u8; 32], ApiError> {
    hex::decode(text)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| ApiError::bad_request("device id must be the full 64-hex-digit thumbprint"))
}

/// Resolves a device id the actor can see (a prefix) or, failing that, a full thumbprint.
async fn resolve(admin: &Admin, text: &str) -> Result<[u8; 32], ApiError> {
    match admin.resolve_device(text).await {
        Ok(id) => Ok(id),
        Err(e) => device_id(text).map_err(|_| e.into()),
    }
}

#[utoipa::path(put, path = "/groups/{group}/devices/{device}", tag = "fleet",
    params(("group" = String, Path, description = "Group name"),
           ("device" = String, Path, description = "Device thumbprint hex")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
/// Add a device to a group.
pub(super) async fn add_group_device(
    Authed(admin): Authed,
    ApiPath((group, device)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = resolve(&admin, &device).await?;
    admin.add_group_device(&group, &id, super::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/groups/{group}/devices/{device}", tag = "fleet",
    params(("group" = String, Path, description = "Group name"),
           ("device" = String, Path, description = "Device thumbprint hex")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Remove a device from a group.
pub(super) async fn remove_group_device(
    Authed(admin): Authed,
    ApiPath((group, device)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = resolve(&admin, &device).await?;
    admin.remove_group_device(&group, &id, super::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/groups/{group}/allow-request", tag = "fleet",
    params(("group" = String, Path, description = "Group name")), request_body = AllowRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Whether the group's members have their RequestTA honoured.
pub(super) async fn set_group_allow_request(
    Authed(admin): Authed,
    ApiPath(group): ApiPath<String>,
    ApiJson(body): ApiJson<AllowRequest>,
) -> Result<StatusCode, ApiError> {
    admin.set_group_allow_request(&group, body.allow, super::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/settings/allow-request", tag = "fleet",
    responses((status = 200, body = AllowRequest), (status = 401, body = ErrorBody)))]
/// The TAM-wide RequestTA setting.
pub(super) async fn allow_request(Authed(admin): Authed) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(AllowRequest { allow: Some(admin.allow_request().await?) }))
}

#[utoipa::path(put, path = "/settings/allow-request", tag = "fleet", request_body = AllowRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
/// Set the TAM-wide RequestTA setting (operator).
pub(super) async fn set_allow_request(
    Authed(admin): Authed,
    ApiJson(body): ApiJson<AllowRequest>,
) -> Result<StatusCode, ApiError> {
    let allow = body.allow.ok_or_else(|| ApiError::bad_request("allow must be true or false"))?;
    admin.set_allow_request(allow, super::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A rollout.
#[derive(Serialize, ToSchema)]
pub struct RolloutView {
    /// Id.
    pub id: String,
    /// Component id in text form.
    pub component_id: String,
    /// The catalog version rolled out.
    pub sequence_number: u64,
    /// `*` or `group:<name>`.
    pub target: String,
    /// Share of the target in basis points (2500 = 25 %); absent: explicit devices.
    pub basis_points: Option<u32>,
    /// `running`, `paused`, `aborted` or `completed`.
    pub state: String,
    /// Who created it.
    pub created_by: String,
    /// When (Unix seconds).
    pub created_at: u64,
    /// Last state change (Unix seconds).
    pub updated_at: u64,
}

impl From<RolloutRow> for RolloutView {
    fn from(r: RolloutRow) -> Self {
        RolloutView {
            id: r.id,
            component_id: component_text(&r.component_id),
            sequence_number: r.sequence_number,
            target: r.target,
            basis_points: match r.selection {
                RolloutSelection::Percent { basis_points } => Some(basis_points),
                RolloutSelection::Devices => None,
            },
            state: r.state.as_str().to_owned(),
            created_by: r.created_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A failed device of a rollout.
#[derive(Serialize, ToSchema)]
pub struct FailedDevice {
    /// Device thumbprint, hex.
    pub device: String,
    /// Why it failed.
    pub reason: String,
}

/// A rollout with its progress.
#[derive(Serialize, ToSchema)]
pub struct RolloutProgressView {
    /// The rollout.
    pub rollout: RolloutView,
    /// Devices it selects now.
    pub selected: u64,
    /// Selected devices without an outcome yet.
    pub pending: u64,
    /// Devices offered the version without an outcome yet.
    pub offered: u64,
    /// Devices that have it.
    pub installed: u64,
    /// Devices that failed, with reasons.
    pub failed: Vec<FailedDevice>,
}

impl From<RolloutProgress> for RolloutProgressView {
    fn from(p: RolloutProgress) -> Self {
        RolloutProgressView {
            rollout: p.rollout.into(),
            selected: p.selected,
            pending: p.pending,
            offered: p.offered,
            installed: p.installed,
            failed: p
                .failed
                .into_iter()
                .map(|(d, reason)| FailedDevice { device: hex::encode(d), reason })
                .collect(),
        }
    }
}

/// A rollout to start: give `basis_points` or `devices`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRollout {
    /// Id (1 to 64 printable characters).
    pub id: String,
    /// Component id in text form.
    pub component: String,
    /// Catalog version to roll out.
    pub sequence_number: u64,
    /// `*` (all devices) or `group:<name>`.
    pub target: String,
    /// Share of the target in basis points (0 to 10000).
    pub basis_points: Option<u32>,
    /// Explicit devices (thumbprints, hex) within the target.
    pub devices: Option<Vec<String>>,
}

/// A new share.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Share {
    /// Share of the target in basis points (0 to 10000; can only grow).
    pub basis_points: u32,
}

fn rollout_target(text: &str) -> Result<PolicyTarget, ApiError> {
    if text == "*" {
        return Ok(PolicyTarget::AllDevices);
    }
    text.strip_prefix(GROUP_TARGET_PREFIX)
        .map(|g| PolicyTarget::Group(g.to_owned()))
        .ok_or_else(|| ApiError::bad_request("a rollout target is `*` or `group:<name>`"))
}

#[utoipa::path(get, path = "/rollouts", tag = "fleet",
    responses((status = 200, body = Vec<RolloutView>), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
/// List the rollouts the actor may see.
pub(super) async fn list_rollouts(Authed(admin): Authed) -> Result<impl IntoResponse, ApiError> {
    let rows: Vec<RolloutView> = admin.rollouts().await?.into_iter().map(Into::into).collect();
    Ok(axum::Json(rows))
}

#[utoipa::path(post, path = "/rollouts", tag = "fleet", request_body = NewRollout,
    responses((status = 201, body = RolloutView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// Start a staged rollout.
pub(super) async fn create_rollout(
    Authed(admin): Authed,
    ApiJson(body): ApiJson<NewRollout>,
) -> Result<impl IntoResponse, ApiError> {
    let spec = match (body.basis_points, &body.devices) {
        (Some(bp), None) => RolloutSpec::Percent(bp),
        (None, Some(devices)) => RolloutSpec::Devices(
            devices.iter().map(|d| device_id(d)).collect::<Result<Vec<_>, _>>()?,
        ),
        _ => return Err(ApiError::bad_request("give exactly one of basis_points and devices")),
    };
    let row = admin
        .create_rollout(
            &body.id,
            &component(&body.component)?,
            body.sequence_number,
            &rollout_target(&body.target)?,
            &spec,
            super::unix_now(),
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(RolloutView::from(row))))
}

#[utoipa::path(get, path = "/rollouts/{id}", tag = "fleet",
    params(("id" = String, Path, description = "Rollout id")),
    responses((status = 200, body = RolloutProgressView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// A rollout and its progress (pending, offered, installed, failed with reasons).
pub(super) async fn rollout_progress(
    Authed(admin): Authed,
    ApiPath(id): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(RolloutProgressView::from(admin.rollout_progress(&id).await?)))
}

#[utoipa::path(post, path = "/rollouts/{id}/pause", tag = "fleet",
    params(("id" = String, Path, description = "Rollout id")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Pause a running rollout: devices not yet offered the version are not offered it.
pub(super) async fn pause_rollout(
    Authed(admin): Authed,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    admin.pause_rollout(&id, super::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/rollouts/{id}/resume", tag = "fleet",
    params(("id" = String, Path, description = "Rollout id")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Resume a paused rollout.
pub(super) async fn resume_rollout(
    Authed(admin): Authed,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    admin.resume_rollout(&id, super::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/rollouts/{id}/abort", tag = "fleet",
    params(("id" = String, Path, description = "Rollout id")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Abort a rollout for good.
pub(super) async fn abort_rollout(
    Authed(admin): Authed,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    admin.abort_rollout(&id, super::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/rollouts/{id}/complete", tag = "fleet",
    params(("id" = String, Path, description = "Rollout id")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Mark a rollout completed.
pub(super) async fn complete_rollout(
    Authed(admin): Authed,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    admin.complete_rollout(&id, super::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/rollouts/{id}/share", tag = "fleet",
    params(("id" = String, Path, description = "Rollout id")), request_body = Share,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Raise the share of a percentage rollout.
pub(super) async fn raise_share(
    Authed(admin): Authed,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Share>,
) -> Result<StatusCode, ApiError> {
    admin.raise_rollout_share(&id, body.basis_points, super::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whether a catalog version is retired.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Retired {
    /// `true`: never offered again; `false`: offered again.
    pub retired: bool,
}

/// A retired catalog version.
#[derive(Serialize, ToSchema)]
pub struct RetiredView {
    /// Component id in text form.
    pub component_id: String,
    /// Sequence number.
    pub sequence_number: u64,
}

#[utoipa::path(put, path = "/tcs/{component}/{sequence}/retired", tag = "catalog",
    params(("component" = String, Path, description = "Component id (text form, '/' as %2F)"),
           ("sequence" = u64, Path, description = "Sequence number")),
    request_body = Retired,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Retire (or un-retire) a catalog version.
pub(super) async fn retire_tc(
    Authed(admin): Authed,
    ApiPath((id, sequence)): ApiPath<(String, u64)>,
    ApiJson(body): ApiJson<Retired>,
) -> Result<StatusCode, ApiError> {
    admin.retire_tc(&component(&id)?, sequence, body.retired, super::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/retired", tag = "catalog",
    responses((status = 200, body = Vec<RetiredView>), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
/// List the retired catalog versions.
pub(super) async fn list_retired(Authed(admin): Authed) -> Result<impl IntoResponse, ApiError> {
    let rows: Vec<RetiredView> = admin
        .retired_tcs()
        .await?
        .into_iter()
        .map(|(k, s)| RetiredView { component_id: k.to_string(), sequence_number: s })
        .collect();
    Ok(axum::Json(rows))
}

/// An allow or block list entry.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdmissionView {
    /// `allow` or `block`.
    pub list: String,
    /// `thumbprint`, `subject` or `issuer`.
    pub kind: String,
    /// The thumbprint (hex) or distinguished-name pattern (`*` matches any run).
    pub pattern: String,
    /// When it was added (Unix seconds; ignored on input).
    #[serde(default)]
    pub added_at: u64,
}

impl From<AdmissionEntry> for AdmissionView {
    fn from(e: AdmissionEntry) -> Self {
        AdmissionView { list: e.list, kind: e.kind, pattern: e.pattern, added_at: e.added_at }
    }
}

/// The entry to remove.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AdmissionKey {
    /// `allow` or `block`.
    pub list: String,
    /// `thumbprint`, `subject` or `issuer`.
    pub kind: String,
    /// The thumbprint (hex) or pattern.
    pub pattern: String,
}

fn admission(entry: &AdmissionKey) -> Result<(AdmissionList, AdmissionRule), ApiError> {
    let list = match entry.list.as_str() {
        "allow" => AdmissionList::Allow,
        "block" => AdmissionList::Block,
        _ => return Err(ApiError::bad_request("list must be `allow` or `block`")),
    };
    let rule = match entry.kind.as_str() {
        "thumbprint" => AdmissionRule::Thumbprint(device_id(&entry.pattern)?),
        "subject" => AdmissionRule::Subject(entry.pattern.clone()),
        "issuer" => AdmissionRule::Issuer(entry.pattern.clone()),
        _ => return Err(ApiError::bad_request("kind must be `thumbprint`, `subject` or `issuer`")),
    };
    Ok((list, rule))
}

#[utoipa::path(get, path = "/admission", tag = "fleet",
    responses((status = 200, body = Vec<AdmissionView>), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
/// The enrolment allow and block lists (operator).
pub(super) async fn list_admission(Authed(admin): Authed) -> Result<impl IntoResponse, ApiError> {
    let rows: Vec<AdmissionView> =
        admin.admission_list().await?.into_iter().map(Into::into).collect();
    Ok(axum::Json(rows))
}

#[utoipa::path(post, path = "/admission", tag = "fleet", request_body = AdmissionView,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// Add an allow or block list entry (operator).
pub(super) async fn add_admission(
    Authed(admin): Authed,
    ApiJson(body): ApiJson<AdmissionView>,
) -> Result<StatusCode, ApiError> {
    let key = AdmissionKey { list: body.list, kind: body.kind, pattern: body.pattern };
    let (list, rule) = admission(&key)?;
    admin.add_admission(list, &rule, super::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/admission", tag = "fleet", params(AdmissionKey),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Remove an allow or block list entry (operator).
pub(super) async fn remove_admission(
    Authed(admin): Authed,
    ApiQuery(query): ApiQuery<AdmissionKey>,
) -> Result<StatusCode, ApiError> {
    let (list, rule) = admission(&query)?;
    admin.remove_admission(list, &rule, super::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Options of an X.509 enrolment.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct X509Query {
    /// Label (1 to 64 printable characters).
    pub label: Option<String>,
    /// `rfc` (default) or `legacy`.
    pub wire: Option<String>,
}

#[utoipa::path(post, path = "/devices/x509", tag = "devices", params(X509Query),
    request_body(content = String, content_type = "application/x-pem-file",
                 description = "Certificate chain, device certificate first"),
    responses((status = 201, body = DeviceView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
/// Enrol a device by a certificate chain to a configured manufacturer CA (operator).
pub(super) async fn enroll_x509(
    State(state): State<ApiState>,
    Authed(admin): Authed,
    ApiQuery(query): ApiQuery<X509Query>,
    ApiBytes(chain): ApiBytes,
) -> Result<impl IntoResponse, ApiError> {
    let wire = parse_wire(query.wire.as_deref())?;
    let cas: Arc<ManufacturerCas> = state.manufacturer_cas.clone();
    let row = admin
        .enroll_device_x509(&chain, &cas, query.label.as_deref(), wire, super::unix_now())
        .await?;
    Ok((StatusCode::CREATED, axum::Json(DeviceView::from(row))))
}

/// A device's enrolment certificate.
#[derive(Serialize, ToSchema)]
pub struct DeviceCertificateView {
    /// Subject name, written `CN=x, O=y` in certificate order.
    pub subject: String,
    /// Issuer name.
    pub issuer: String,
    /// End of validity (Unix seconds).
    pub not_after: u64,
    /// The DER certificate, hex.
    pub certificate: String,
}

#[utoipa::path(get, path = "/devices/{device}/certificate", tag = "devices",
    params(("device" = String, Path, description = "Thumbprint hex (or a unique 8+ digit prefix)")),
    responses((status = 200, body = DeviceCertificateView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// The certificate a device was enrolled with.
pub(super) async fn device_certificate(
    Authed(admin): Authed,
    ApiPath(device): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = admin.resolve_device(&device).await?;
    let row = admin
        .device_certificate(&id)
        .await?
        .ok_or(crate::error::AdminError::NotFound("device certificate"))?;
    Ok(axum::Json(DeviceCertificateView {
        subject: row.subject,
        issuer: row.issuer,
        not_after: row.not_after,
        certificate: hex::encode(row.certificate),
    }))
}

#[utoipa::path(get, path = "/devices/{device}/groups", tag = "devices",
    params(("device" = String, Path, description = "Thumbprint hex (or a unique 8+ digit prefix)")),
    responses((status = 200, body = Vec<String>), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// The groups a device is in (that the actor may see).
pub(super) async fn device_groups(
    Authed(admin): Authed,
    ApiPath(device): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = admin.resolve_device(&device).await?;
    Ok(axum::Json(admin.device_groups(&id).await?))
}
