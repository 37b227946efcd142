//! Principals of the admin REST API, their API tokens and client certificates (migration
//! 0050).
//!
//! A token is stored only as its SHA-256 hash, so a database dump does not reveal usable
//! credentials; finding a token is a lookup by hash (no secret comparison happens in this
//! process, so timing does not leak token bytes). Client certificates are registered by the
//! SHA-256 fingerprint of their DER encoding.

use super::{Store, from_db, get, opt_from_db, to_db};
use crate::error::StoreError;

/// A principal of the admin API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrincipalRow {
    /// Unique name (the actor name in the audit log).
    pub name: String,
    /// Role name (`operator`, `developer`, `device-admin`).
    pub role: String,
    /// When it was created (Unix seconds).
    pub created_at: u64,
    /// A disabled principal's tokens and certificates no longer authenticate.
    pub disabled: bool,
}

/// An API token's metadata; the token itself is never stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiTokenRow {
    /// Public identifier (safe to log and show).
    pub id: String,
    /// The principal it authenticates.
    pub principal: String,
    /// When it was created (Unix seconds).
    pub created_at: u64,
    /// When it stops working (Unix seconds); `None`: never.
    pub expires_at: Option<u64>,
    /// When it last authenticated a request (updated at most once a minute).
    pub last_used: Option<u64>,
    /// Revoked tokens no longer authenticate.
    pub revoked: bool,
}

/// How often `last_used` is written for a busy token, in seconds.
const LAST_USED_GRANULARITY: i64 = 60;

impl Store {
    /// Creates a principal. Returns false when the name is taken.
    pub async fn add_principal(&self, row: &PrincipalRow) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO principals (name, role, created_at, disabled) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&row.name)
        .bind(&row.role)
        .bind(to_db(row.created_at, "time")?)
        .bind(i64::from(row.disabled))
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// All principals, by name.
    pub async fn principals(&self) -> Result<Vec<PrincipalRow>, StoreError> {
        let rows =
            sqlx::query("SELECT name, role, created_at, disabled FROM principals ORDER BY name")
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(principal_row).collect()
    }

    /// One principal by name.
    pub async fn principal(&self, name: &str) -> Result<Option<PrincipalRow>, StoreError> {
        let row =
            sqlx::query("SELECT name, role, created_at, disabled FROM principals WHERE name = $1")
                .bind(name)
                .fetch_optional(self.pool())
                .await?;
        row.as_ref().map(principal_row).transpose()
    }

    /// Disables (or re-enables) a principal. Returns false when there is none of that name.
    pub async fn set_principal_disabled(
        &self,
        name: &str,
        disabled: bool,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query("UPDATE principals SET disabled = $1 WHERE name = $2")
            .bind(i64::from(disabled))
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Stores a new API token by the SHA-256 hash of its secret. Returns false when the id
    /// or hash already exists.
    pub async fn add_api_token(
        &self,
        row: &ApiTokenRow,
        token_hash: &[u8; 32],
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO api_tokens (id, token_hash, principal, created_at, expires_at, \
             last_used, revoked) VALUES ($1, $2, $3, $4, $5, NULL, 0) ON CONFLICT DO NOTHING",
        )
        .bind(&row.id)
        .bind(token_hash.as_slice())
        .bind(&row.principal)
        .bind(to_db(row.created_at, "time")?)
        .bind(row.expires_at.map(|t| to_db(t, "time")).transpose()?)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Token metadata (never the hash), newest first; only `principal`'s when given.
    pub async fn api_tokens(
        &self,
        principal: Option<&str>,
    ) -> Result<Vec<ApiTokenRow>, StoreError> {
        const COLUMNS: &str =
            "SELECT id, principal, created_at, expires_at, last_used, revoked FROM api_tokens";
        let rows = match principal {
            Some(p) => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "{COLUMNS} WHERE principal = $1 ORDER BY created_at DESC, id"
                )))
                .bind(p.to_owned())
                .fetch_all(self.pool())
                .await?
            }
            None => {
                sqlx::query(sqlx::AssertSqlSafe(format!("{COLUMNS} ORDER BY created_at DESC, id")))
                    .fetch_all(self.pool())
                    .await?
            }
        };
        rows.iter().map(token_row).collect()
    }

    /// One token's metadata by id.
    pub async fn api_token(&self, id: &str) -> Result<Option<ApiTokenRow>, StoreError> {
        let row = sqlx::query(
            "SELECT id, principal, created_at, expires_at, last_used, revoked FROM api_tokens \
             WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(token_row).transpose()
    }

    /// Revokes a token by id. Returns false when there is no such token.
    pub async fn revoke_api_token(&self, id: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("UPDATE api_tokens SET revoked = 1 WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(result.rows_affected() > 0)
    }

    /// The enabled principal a token (by hash) authenticates at `now`, with the token's id;
    /// `None` for unknown, revoked or expired tokens and disabled principals. Records the
    /// use (at most once a minute per token, so reads do not turn into writes).
    pub async fn authenticate_token(
        &self,
        token_hash: &[u8; 32],
        now: u64,
    ) -> Result<Option<(String, PrincipalRow)>, StoreError> {
        let now = to_db(now, "time")?;
        let row = sqlx::query(
            "SELECT t.id AS id, p.name AS name, p.role AS role, p.created_at AS created_at, \
             p.disabled AS disabled, t.last_used AS last_used \
             FROM api_tokens t JOIN principals p ON p.name = t.principal \
             WHERE t.token_hash = $1 AND t.revoked = 0 AND p.disabled = 0 \
             AND (t.expires_at IS NULL OR t.expires_at > $2)",
        )
        .bind(token_hash.as_slice())
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id: String = get(&row, "id")?;
        let last_used: Option<i64> = get(&row, "last_used")?;
        if last_used.is_none_or(|t| now.saturating_sub(t) >= LAST_USED_GRANULARITY) {
            sqlx::query("UPDATE api_tokens SET last_used = $1 WHERE id = $2")
                .bind(now)
                .bind(&id)
                .execute(self.pool())
                .await?;
        }
        Ok(Some((id, principal_row(&row)?)))
    }

    /// Registers a client certificate fingerprint (SHA-256 of the DER certificate) for a
    /// principal. Returns false when the fingerprint is already registered.
    pub async fn add_principal_cert(
        &self,
        fingerprint: &[u8; 32],
        principal: &str,
        now: u64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO principal_certs (fingerprint, principal, added_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(fingerprint.as_slice())
        .bind(principal)
        .bind(to_db(now, "time")?)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// The certificate fingerprints registered for a principal.
    pub async fn principal_certs(&self, principal: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT fingerprint FROM principal_certs WHERE principal = $1 ORDER BY fingerprint",
        )
        .bind(principal)
        .fetch_all(self.pool())
        .await?)
    }

    /// Unregisters a certificate fingerprint of a principal. Returns false when it was not
    /// registered to it.
    pub async fn remove_principal_cert(
        &self,
        fingerprint: &[u8],
        principal: &str,
    ) -> Result<bool, StoreError> {
        let result =
            sqlx::query("DELETE FROM principal_certs WHERE fingerprint = $1 AND principal = $2")
                .bind(fingerprint)
                .bind(principal)
                .execute(self.pool())
                .await?;
        Ok(result.rows_affected() > 0)
    }

    /// The enabled principal a client certificate fingerprint is registered to.
    pub async fn authenticate_cert(
        &self,
        fingerprint: &[u8; 32],
    ) -> Result<Option<PrincipalRow>, StoreError> {
        let row = sqlx::query(
            "SELECT p.name AS name, p.role AS role, p.created_at AS created_at, \
             p.disabled AS disabled FROM principal_certs c \
             JOIN principals p ON p.name = c.principal \
             WHERE c.fingerprint = $1 AND p.disabled = 0",
        )
        .bind(fingerprint.as_slice())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(principal_row).transpose()
    }

    /// Sets the owner of a TC signer (`None`: operator-owned). Returns false when there is
    /// no signer of that name.
    pub async fn set_signer_owner(
        &self,
        name: &str,
        owner: Option<&str>,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query("UPDATE tc_signers SET owner = $1 WHERE name = $2")
            .bind(owner.map(str::to_owned))
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(result.rows_affected() > 0)
    }

    /// The versions of a catalog component and the signer that authenticated each.
    pub async fn tc_signers_of(
        &self,
        component_id: &[u8],
    ) -> Result<Vec<(u64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT sequence_number, signer FROM trusted_components WHERE component_id = $1 \
             ORDER BY sequence_number",
        )
        .bind(component_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    from_db(get(r, "sequence_number")?, "trusted_components.sequence_number")?,
                    get(r, "signer")?,
                ))
            })
            .collect()
    }

    /// The devices in groups that `owner` (a device administrator) administers.
    pub async fn devices_administered_by(&self, owner: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT m.device FROM group_members m \
             JOIN device_groups g ON g.name = m.group_name WHERE g.owner = $1",
        )
        .bind(owner)
        .fetch_all(self.pool())
        .await?)
    }

    /// Whether `device` is in a group that `owner` administers.
    pub async fn administers_device(&self, owner: &str, device: &[u8]) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(1 AS BIGINT) FROM group_members m \
             JOIN device_groups g ON g.name = m.group_name \
             WHERE g.owner = $1 AND m.device = $2 LIMIT 1",
        )
        .bind(owner)
        .bind(device)
        .fetch_optional(self.pool())
        .await?;
        Ok(found.is_some())
    }
}

fn principal_row(r: &sqlx::any::AnyRow) -> Result<PrincipalRow, StoreError> {
    let disabled: i64 = get(r, "disabled")?;
    Ok(PrincipalRow {
        name: get(r, "name")?,
        role: get(r, "role")?,
        created_at: from_db(get(r, "created_at")?, "principals.created_at")?,
        disabled: disabled != 0,
    })
}

fn token_row(r: &sqlx::any::AnyRow) -> Result<ApiTokenRow, StoreError> {
    let revoked: i64 = get(r, "revoked")?;
    Ok(ApiTokenRow {
        id: get(r, "id")?,
        principal: get(r, "principal")?,
        created_at: from_db(get(r, "created_at")?, "api_tokens.created_at")?,
        expires_at: opt_from_db(get(r, "expires_at")?, "api_tokens.expires_at")?,
        last_used: opt_from_db(get(r, "last_used")?, "api_tokens.last_used")?,
        revoked: revoked != 0,
    })
}
