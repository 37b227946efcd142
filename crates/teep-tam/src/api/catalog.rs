//! `/admin/v1/signers`, `/admin/v1/tcs`, `/admin/v1/remediation`: TC signers and the catalog
//! of Trusted Components (signed SUIT envelopes, draft-ietf-suit-manifest-34), verified
//! against the registered signers on upload.
//!
//! A component id in a path is its text form (parts separated by `/`, each text or
//! `0x`-prefixed hex) with `/` percent-encoded as `%2F`.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Authed;
use super::error::{ApiBytes, ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::component::ComponentKey;
use crate::store::{SignerRow, TcRow};

/// A TC signer.
#[derive(Serialize, ToSchema)]
pub struct SignerView {
    /// Its name.
    pub name: String,
    /// RFC 9679 thumbprint of its key, hex.
    pub thumbprint: String,
    /// Its public key as a COSE_Key, hex.
    pub cose_key: String,
    /// The developer that owns it; absent: operator-owned.
    pub owner: Option<String>,
    /// When it was added (Unix seconds).
    pub added_at: u64,
}

impl From<SignerRow> for SignerView {
    fn from(s: SignerRow) -> Self {
        SignerView {
            name: s.name,
            thumbprint: hex::encode(s.thumbprint),
            cose_key: hex::encode(s.cose_key),
            owner: s.owner,
            added_at: s.added_at,
        }
    }
}

/// A signer to register.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSigner {
    /// Name (1 to 64 printable characters).
    pub name: String,
    /// The public key: SPKI PEM or JWK JSON text.
    pub key: String,
    /// Developer principal that will own it (operators only; a developer's signer is its
    /// own).
    pub owner: Option<String>,
}

/// How many objects a removal removed.
#[derive(Serialize, ToSchema)]
pub struct Removed {
    /// Catalog entries (or other objects) removed.
    pub removed: u64,
}

/// A catalog entry (without its envelope).
#[derive(Serialize, ToSchema)]
pub struct TcView {
    /// Component id in text form.
    pub component_id: String,
    /// Component id as CBOR (SUIT_Component_Identifier), hex.
    pub component_id_cbor: String,
    /// suit-manifest-sequence-number.
    pub sequence_number: u64,
    /// Size of the signed envelope in bytes.
    pub envelope_len: u64,
    /// The signer whose key authenticated it.
    pub signer: String,
    /// When it was added (Unix seconds).
    pub added_at: u64,
}

impl From<TcRow> for TcView {
    fn from(tc: TcRow) -> Self {
        TcView {
            component_id: component_text(&tc.component_id),
            component_id_cbor: hex::encode(&tc.component_id),
            sequence_number: tc.sequence_number,
            envelope_len: tc.envelope_len as u64,
            signer: tc.signer,
            added_at: tc.added_at,
        }
    }
}

/// The text form of a stored component id (hex of the CBOR if it does not decode).
pub(super) fn component_text(cbor: &[u8]) -> String {
    ComponentKey::from_cbor(cbor).map_or_else(|_| hex::encode(cbor), |k| k.to_string())
}

/// Parses a component id from a path or body.
pub(super) fn component(text: &str) -> Result<ComponentKey, ApiError> {
    ComponentKey::parse_text(text).map_err(|e| {
        ApiError::bad_request(format!(
            "component id {text:?}: {e} (parts separated by '/', each text or 0x-hex; \
             percent-encode '/' as %2F in a path)"
        ))
    })
}

#[utoipa::path(get, path = "/signers", tag = "catalog",
    responses((status = 200, body = Vec<SignerView>), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
/// List the TC signers (a developer sees its own).
pub(super) async fn list_signers(Authed(admin): Authed) -> Result<impl IntoResponse, ApiError> {
    let signers: Vec<SignerView> = admin.signers().await?.into_iter().map(Into::into).collect();
    Ok(axum::Json(signers))
}

#[utoipa::path(post, path = "/signers", tag = "catalog", request_body = NewSigner,
    responses((status = 201, body = SignerView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
/// Register a TC signer key.
pub(super) async fn add_signer(
    Authed(admin): Authed,
    ApiJson(body): ApiJson<NewSigner>,
) -> Result<impl IntoResponse, ApiError> {
    let row = admin
        .add_signer_owned(&body.name, body.key.as_bytes(), body.owner.as_deref(), super::unix_now())
        .await?;
    Ok((StatusCode::CREATED, axum::Json(SignerView::from(row))))
}

/// Options of a signer removal.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RemoveSignerQuery {
    /// Also remove every catalog entry the signer authenticated.
    #[serde(default)]
    pub with_components: bool,
}

#[utoipa::path(delete, path = "/signers/{name}", tag = "catalog",
    params(("name" = String, Path, description = "Signer name"), RemoveSignerQuery),
    responses((status = 200, body = Removed), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
/// Remove a TC signer (refused while catalog entries it authenticated remain, unless
/// `with_components`).
pub(super) async fn remove_signer(
    Authed(admin): Authed,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<RemoveSignerQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let removed = if query.with_components {
        admin.remove_signer_and_tcs(&name).await?
    } else {
        admin.remove_signer(&name).await?;
        0
    };
    Ok(axum::Json(Removed { removed }))
}

#[utoipa::path(get, path = "/tcs", tag = "catalog",
    responses((status = 200, body = Vec<TcView>), (status = 401, body = ErrorBody)))]
/// List the catalog (a developer sees what its signers authenticated).
pub(super) async fn list_tcs(Authed(admin): Authed) -> Result<impl IntoResponse, ApiError> {
    let tcs: Vec<TcView> = admin.tcs().await?.into_iter().map(Into::into).collect();
    Ok(axum::Json(tcs))
}

#[utoipa::path(post, path = "/tcs", tag = "catalog",
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
                 description = "A signed SUIT envelope"),
    responses((status = 201, body = TcView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
/// Add a signed SUIT envelope to the catalog.
pub(super) async fn add_tc(
    Authed(admin): Authed,
    ApiBytes(envelope): ApiBytes,
) -> Result<impl IntoResponse, ApiError> {
    let row = admin.add_tc(&envelope, super::unix_now()).await?;
    Ok((StatusCode::CREATED, axum::Json(TcView::from(row))))
}

/// Which versions to remove.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RemoveTcQuery {
    /// Only this sequence number; absent: every version.
    pub sequence: Option<u64>,
}

#[utoipa::path(delete, path = "/tcs/{component}", tag = "catalog",
    params(("component" = String, Path, description = "Component id (text form, '/' as %2F)"),
           RemoveTcQuery),
    responses((status = 200, body = Removed), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
/// Remove one or all versions of a component from the catalog.
pub(super) async fn remove_tc(
    Authed(admin): Authed,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<RemoveTcQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let removed = admin.remove_tc(&component(&id)?, query.sequence).await?;
    Ok(axum::Json(Removed { removed }))
}

#[utoipa::path(get, path = "/tcs/{component}/{sequence}/envelope", tag = "catalog",
    params(("component" = String, Path, description = "Component id (text form, '/' as %2F)"),
           ("sequence" = u64, Path, description = "Sequence number")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
/// Download a catalog version's signed envelope.
pub(super) async fn tc_envelope(
    Authed(admin): Authed,
    ApiPath((id, sequence)): ApiPath<(String, u64)>,
) -> Result<Response, ApiError> {
    let row = admin.tc_envelope(&component(&id)?, sequence).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], row.envelope).into_response())
}

#[utoipa::path(get, path = "/remediation", tag = "catalog",
    responses((status = 200, body = Vec<String>), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
/// List the components marked as remediation.
pub(super) async fn list_remediation(Authed(admin): Authed) -> Result<impl IntoResponse, ApiError> {
    let ids: Vec<String> = admin.remediation().await?.iter().map(ToString::to_string).collect();
    Ok(axum::Json(ids))
}

#[utoipa::path(put, path = "/remediation/{component}", tag = "catalog",
    params(("component" = String, Path, description = "Component id (text form, '/' as %2F)")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
/// Mark a catalog component as remediation (operator).
pub(super) async fn mark_remediation(
    Authed(admin): Authed,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    admin.set_remediation(&component(&id)?, true, super::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/remediation/{component}", tag = "catalog",
    params(("component" = String, Path, description = "Component id (text form, '/' as %2F)")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
/// Unmark a remediation component (operator).
pub(super) async fn unmark_remediation(
    Authed(admin): Authed,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    admin.set_remediation(&component(&id)?, false, super::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
