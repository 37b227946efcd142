//! `/admin/v1/principals`, `/admin/v1/tokens`, `/admin/v1/whoami`: who may use the admin API
//! and with which credentials. A token is returned once, by `POST /admin/v1/tokens`; listings
//! show only its public id.

use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Authed;
use super::error::{ApiBytes, ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::actor::Role;
use crate::store::{ApiTokenRow, PrincipalRow};

/// A principal.
#[derive(Serialize, ToSchema)]
pub struct PrincipalView {
    /// Name.
    pub name: String,
    /// `operator`, `developer` or `device-admin`.
    pub role: String,
    /// When it was created (Unix seconds).
    pub created_at: u64,
    /// Whether its credentials are refused.
    pub disabled: bool,
}

impl From<PrincipalRow> for PrincipalView {
    fn from(p: PrincipalRow) -> Self {
        PrincipalView { name: p.name, role: p.role, created_at: p.created_at, disabled: p.disabled }
    }
}

/// The authenticated principal.
#[derive(Serialize, ToSchema)]
pub struct WhoAmI {
    /// Name.
    pub name: String,
    /// Role.
    pub role: String,
}

/// A principal to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPrincipal {
    /// Name (1 to 64 printable characters).
    pub name: String,
    /// `operator`, `developer` or `device-admin`.
    pub role: String,
}

/// An API token's metadata (never the token).
#[derive(Serialize, ToSchema)]
pub struct TokenView {
    /// Public id (use it to revoke).
    pub id: String,
    /// The principal it authenticates.
    pub principal: String,
    /// When it was created (Unix seconds).
    pub created_at: u64,
    /// When it stops working (Unix seconds); absent: never.
    pub expires_at: Option<u64>,
    /// When it was last used (Unix seconds, to the minute).
    pub last_used: Option<u64>,
    /// Whether it was revoked.
    pub revoked: bool,
}

impl From<ApiTokenRow> for TokenView {
    fn from(t: ApiTokenRow) -> Self {
        TokenView {
            id: t.id,
            principal: t.principal,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used: t.last_used,
            revoked: t.revoked,
        }
    }
}

/// A token to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenRequest {
    /// The principal it will authenticate.
    pub principal: String,
    /// Lifetime in seconds, 1 to 315360000 (10 years); absent: until revoked.
    pub expires_in_secs: Option<u64>,
}

/// A created token: `token` is shown only here.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    /// The token for `Authorization: Bearer`; store it now, it cannot be shown again.
    pub token: String,
    /// Its metadata.
    #[serde(flatten)]
    pub meta: TokenView,
}

/// A registered client certificate.
#[derive(Serialize, ToSchema)]
pub struct CertificateView {
    /// SHA-256 of the DER certificate, hex.
    pub fingerprint: String,
}

#[utoipa::path(get, path = "/whoami", tag = "access",
    responses((status = 200, body = WhoAmI), (status = 401, body = ErrorBody)))]
/// The authenticated principal and its role.
pub(super) async fn whoami(Authed(admin): Authed) -> impl IntoResponse {
    let actor = admin.actor();
    axum::Json(WhoAmI { name: actor.name.clone(), role: actor.role.as_str().to_owned() })
}

#[utoipa::path(get, path = "/principals", tag = "access",
    responses((status = 200, body = Vec<PrincipalView>), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
/// List the principals (operator).
pub(super) async fn list_principals(Authed(admin): Authed) -> Result<impl IntoResponse, ApiError> {
    let all: Vec<PrincipalView> = admin.principals().await?.into_iter().map(Into::into).collect();
    Ok(axum::Json(all))
}

#[utoipa::path(post, path = "/principals", tag = "access", request_body = NewPrincipal,
    responses((status = 201, body = PrincipalView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
/// Create a principal (operator).
pub(super) async fn add_principal(
    Authed(admin): Authed,
    ApiJson(body): ApiJson<NewPrincipal>,
) -> Result<impl IntoResponse, ApiError> {
    let role = Role::parse(&body.role).ok_or_else(|| {
        ApiError::bad_request("role must be `operator`, `developer` or `device-admin`")
    })?;
    let row = admin.add_principal(&body.name, role, super::unix_now()).await?;
    Ok((StatusCode::CREATED, axum::Json(PrincipalView::from(row))))
}

#[utoipa::path(get, path = "/principals/{name}", tag = "access",
    params(("name" = String, Path, description = "Principal name")),
    responses((status = 200, body = PrincipalView), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
/// One principal (an operator any, others themselves).
pub(super) async fn show_principal(
    Authed(admin): Authed,
    ApiPath(name): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(PrincipalView::from(admin.principal(&name).await?)))
}

#[utoipa::path(post, path = "/principals/{name}/disable", tag = "access",
    params(("name" = String, Path, description = "Principal name")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// Disable a principal: its tokens and certificates stop working (operator). The last
/// enabled operator cannot be disabled (409).
pub(super) async fn disable_principal(
    Authed(admin): Authed,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    admin.set_principal_disabled(&name, true, super::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/principals/{name}/enable", tag = "access",
    params(("name" = String, Path, description = "Principal name")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
/// Re-enable a disabled principal (operator).
pub(super) async fn enable_principal(
    Authed(admin): Authed,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    admin.set_principal_disabled(&name, false, super::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/principals/{name}/certificates", tag = "access",
    params(("name" = String, Path, description = "Principal name")),
    responses((status = 200, body = Vec<CertificateView>), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
/// The client certificates registered for a principal.
pub(super) async fn list_certificates(
    Authed(admin): Authed,
    ApiPath(name): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let certs: Vec<CertificateView> = admin
        .principal_certificates(&name)
        .await?
        .into_iter()
        .map(|f| CertificateView { fingerprint: hex::encode(f) })
        .collect();
    Ok(axum::Json(certs))
}

#[utoipa::path(post, path = "/principals/{name}/certificates", tag = "access",
    params(("name" = String, Path, description = "Principal name")),
    request_body(content = String, content_type = "application/x-pem-file",
                 description = "One certificate, PEM (or DER as application/pkix-cert)"),
    responses((status = 201, body = CertificateView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// Register a client certificate for a principal (operator).
pub(super) async fn add_certificate(
    Authed(admin): Authed,
    ApiPath(name): ApiPath<String>,
    ApiBytes(body): ApiBytes,
) -> Result<impl IntoResponse, ApiError> {
    let fingerprint = admin.add_principal_certificate(&name, &body, super::unix_now()).await?;
    Ok((StatusCode::CREATED, axum::Json(CertificateView { fingerprint: hex::encode(fingerprint) })))
}

#[utoipa::path(delete, path = "/principals/{name}/certificates/{fingerprint}", tag = "access",
    params(("name" = String, Path, description = "Principal name"),
           ("fingerprint" = String, Path, description = "SHA-256 fingerprint, hex")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Unregister a client certificate (operator).
pub(super) async fn remove_certificate(
    Authed(admin): Authed,
    ApiPath((name, fingerprint)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    admin.remove_principal_certificate(&name, &fingerprint, super::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whose tokens.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TokenQuery {
    /// Only this principal's (operators; others always see their own).
    pub principal: Option<String>,
}

#[utoipa::path(get, path = "/tokens", tag = "access", params(TokenQuery),
    responses((status = 200, body = Vec<TokenView>), (status = 401, body = ErrorBody)))]
/// List API tokens (never the tokens themselves).
pub(super) async fn list_tokens(
    Authed(admin): Authed,
    ApiQuery(query): ApiQuery<TokenQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let tokens: Vec<TokenView> =
        admin.tokens(query.principal.as_deref()).await?.into_iter().map(Into::into).collect();
    Ok(axum::Json(tokens))
}

#[utoipa::path(post, path = "/tokens", tag = "access", request_body = NewTokenRequest,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
/// Create an API token for a principal (operator). The token is in this response only.
pub(super) async fn create_token(
    Authed(admin): Authed,
    ApiJson(body): ApiJson<NewTokenRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let now = super::unix_now();
    let expires_at =
        body.expires_in_secs.map(|s| crate::principals::token_expiry(now, s)).transpose()?;
    let created = admin.create_token(&body.principal, expires_at, now).await?;
    let view = CreatedToken { token: created.token, meta: created.row.into() };
    Ok((StatusCode::CREATED, axum::Json(view)))
}

#[utoipa::path(delete, path = "/tokens/{id}", tag = "access",
    params(("id" = String, Path, description = "Token id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
/// Revoke a token (an operator any, others their own). The enabled operators' last working
/// credential cannot be revoked (409).
pub(super) async fn revoke_token(
    Authed(admin): Authed,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    admin.revoke_token(&id, super::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
