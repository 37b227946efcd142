//! `/admin/v1/policies`: which Trusted Components the devices of a target should have
//! (draft-ietf-teep-protocol-26 §8.1 leaves the TAM's policy to the TAM). A target is `*`
//! (every device without a rule of its own), `group:<name>` or a device id (hex thumbprint or
//! unique 8+ digit prefix).

use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Authed;
use super::catalog::{component, component_text};
use super::error::{ApiError, ApiJson, ApiQuery, ErrorBody};
use crate::admin::{Admin, PolicyTarget};
use crate::store::{GROUP_TARGET_PREFIX, PolicyAction, PolicyRow};

/// A policy rule.
#[derive(Serialize, ToSchema)]
pub struct RuleView {
    /// `*`, `group:<name>` or a device thumbprint (hex).
    pub target: String,
    /// Component id in text form.
    pub component_id: String,
    /// `require` or `delete`.
    pub action: String,
    /// Lowest acceptable sequence number (require).
    pub min_sequence: u64,
}

impl From<PolicyRow> for RuleView {
    fn from(r: PolicyRow) -> Self {
        RuleView {
            target: r.device,
            component_id: component_text(&r.component_id),
            action: match r.action {
                PolicyAction::Require => "require",
                PolicyAction::Delete => "delete",
            }
            .to_owned(),
            min_sequence: r.min_sequence,
        }
    }
}

/// A rule to set.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRule {
    /// `*`, `group:<name>` or a device id.
    pub target: String,
    /// Component id in text form.
    pub component: String,
    /// `require` or `delete`.
    pub action: String,
    /// Lowest acceptable sequence number (require; default 0).
    #[serde(default)]
    pub min_sequence: u64,
}

/// A rule to remove.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RuleKey {
    /// `*`, `group:<name>` or a device id.
    pub target: String,
    /// Component id in text form.
    pub component: String,
}

async fn target(admin: &Admin, text: &str) -> Result<PolicyTarget, ApiError> {
    if text == "*" {
        return Ok(PolicyTarget::AllDevices);
    }
    if let Some(group) = text.strip_prefix(GROUP_TARGET_PREFIX) {
        return Ok(PolicyTarget::Group(group.to_owned()));
    }
    Ok(PolicyTarget::Device(admin.resolve_device(text).await?))
}

#[utoipa::path(get, path = "/policies", tag = "policy",
    responses((status = 200, body = Vec<RuleView>), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
/// List the rules (a device administrator sees those of its groups and their devices).
pub(super) async fn list_policies(Authed(admin): Authed) -> Result<impl IntoResponse, ApiError> {
    let rules: Vec<RuleView> = admin.policies().await?.into_iter().map(Into::into).collect();
    Ok(axum::Json(rules))
}

#[utoipa::path(put, path = "/policies", tag = "policy", request_body = NewRule,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Set (or replace) the rule for a target and component.
pub(super) async fn set_rule(
    Authed(admin): Authed,
    ApiJson(body): ApiJson<NewRule>,
) -> Result<StatusCode, ApiError> {
    let id = component(&body.component)?;
    let target = target(&admin, &body.target).await?;
    match body.action.as_str() {
        "require" => admin.require(&target, &id, body.min_sequence).await?,
        "delete" => admin.delete(&target, &id).await?,
        _ => return Err(ApiError::bad_request("action must be `require` or `delete`")),
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/policies", tag = "policy", params(RuleKey),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Remove the rule for a target and component.
pub(super) async fn clear_rule(
    Authed(admin): Authed,
    ApiQuery(key): ApiQuery<RuleKey>,
) -> Result<StatusCode, ApiError> {
    let id = component(&key.component)?;
    let target = target(&admin, &key.target).await?;
    admin.clear_rule(&target, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
