//! Authentication of admin API requests: `Authorization: Bearer <token>`, or a client
//! certificate registered to a principal when the admin listener uses mutual TLS.
//!
//! A token is looked up by its SHA-256 hash, so no secret is compared in this process; the
//! log names a token only by its public id. The handle a handler gets acts as the
//! authenticated principal: the Admin layer enforces its role and ownership.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum_server::tls::TlsInfo;

use super::ApiState;
use super::error::ApiError;
use crate::admin::Admin;

/// The [`Admin`] handle acting as the request's authenticated principal.
pub struct Authed(pub Admin);

impl FromRequestParts<ApiState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let now = super::unix_now();
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.trim().split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim())
                .ok_or_else(|| ApiError::unauthorized("Authorization must be `Bearer <token>`"))?;
            return match state.admin.authenticate_token(token, now).await? {
                Some((admin, token_id)) => {
                    tracing::debug!(principal = %admin.actor(), token_id, "admin API request");
                    Ok(Authed(admin))
                }
                None => {
                    tracing::warn!("admin API: unknown, expired or revoked token refused");
                    Err(ApiError::unauthorized(
                        "the token is unknown, expired or revoked, or its principal is disabled",
                    ))
                }
            };
        }
        let certificate =
            parts.extensions.get::<Arc<TlsInfo>>().and_then(|t| t.peer_certificates.first());
        if let Some(der) = certificate {
            return match state.admin.authenticate_certificate(der).await? {
                Some(admin) => {
                    tracing::debug!(principal = %admin.actor(), "admin API request (certificate)");
                    Ok(Authed(admin))
                }
                None => {
                    tracing::warn!("admin API: unregistered client certificate refused");
                    Err(ApiError::unauthorized(
                        "the client certificate is not registered to an enabled principal",
                    ))
                }
            };
        }
        Err(ApiError::unauthorized("no credentials"))
    }
}
