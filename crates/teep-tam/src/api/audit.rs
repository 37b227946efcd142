//! `/admin/v1/audit`: the audit log, who changed what and when (operator only).

use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Authed;
use super::error::{ApiError, ApiQuery, ErrorBody};
use crate::store::AuditRow;

/// An audit log entry.
#[derive(Serialize, ToSchema)]
pub struct AuditView {
    /// Increasing identifier.
    pub id: i64,
    /// When (Unix seconds).
    pub at: u64,
    /// The principal.
    pub actor: String,
    /// Its role.
    pub role: String,
    /// What was done (`signer.add`, `tc.remove`, ...).
    pub action: String,
    /// What it was done to.
    pub target: String,
    /// Detail.
    pub detail: String,
}

impl From<AuditRow> for AuditView {
    fn from(r: AuditRow) -> Self {
        AuditView {
            id: r.id,
            at: r.at,
            actor: r.actor,
            role: r.role,
            action: r.action,
            target: r.target,
            detail: r.detail,
        }
    }
}

/// Which entries.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only this principal's changes.
    pub actor: Option<String>,
    /// Most entries (1 to 10000, default 100).
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Vec<AuditView>), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
/// The latest audit entries, newest first (operator).
pub(super) async fn audit_log(
    Authed(admin): Authed,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let limit = match query.limit {
        None => 100,
        Some(n @ 1..=10_000) => n,
        Some(_) => return Err(ApiError::bad_request("limit must be within 1..=10000")),
    };
    let rows: Vec<AuditView> =
        admin.audit_log(query.actor.as_deref(), limit).await?.into_iter().map(Into::into).collect();
    Ok(axum::Json(rows))
}
