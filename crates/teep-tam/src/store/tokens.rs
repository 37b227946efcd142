//! Token table: single-use TEEP tokens (draft-ietf-teep-protocol-26 §4.1, §4.3 `token`).
//!
//! Only a SHA-256 hash of each token is stored. A token is consumed by one conditional
//! `UPDATE ... WHERE consumed = 0 AND expires_at > now` whose affected-row count says whether
//! this caller won; that makes consumption atomic across TAM processes sharing a database.

use super::{Store, to_db};
use crate::error::StoreError;

/// Which TAM message a token was issued in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenPurpose {
    /// Issued in a QueryRequest; answered by QueryResponse or Error.
    Query,
    /// Issued in an Update; answered by Success or Error.
    Update,
}

impl TokenPurpose {
    fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Query => "query",
            TokenPurpose::Update => "update",
        }
    }
}

/// A token to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    /// SHA-256 of the token bytes.
    pub hash: [u8; 32],
    /// Who may answer it: a device's hex thumbprint, or `peer:<address>` for the anonymous
    /// first QueryRequest. Outstanding tokens are bounded per holder.
    pub holder: String,
    /// The message the token was sent in.
    pub purpose: TokenPurpose,
    /// Issue time (Unix seconds).
    pub created_at: u64,
    /// Expiry time (Unix seconds).
    pub expires_at: u64,
    /// What the TAM needs to remember for the answer (for an Update: what it sent), as JSON.
    pub context: Option<String>,
}

impl Store {
    /// Stores a new token, first dropping the holder's expired tokens and then its oldest
    /// outstanding ones so that at most `max_outstanding` remain open including this one.
    pub async fn issue_token(
        &self,
        token: &TokenRecord,
        max_outstanding: u32,
    ) -> Result<(), StoreError> {
        let now = to_db(token.created_at, "time")?;
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM tokens WHERE holder = $1 AND expires_at <= $2")
            .bind(&token.holder)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let keep = i64::from(max_outstanding.saturating_sub(1));
        sqlx::query(
            "DELETE FROM tokens WHERE holder = $1 AND consumed = 0 AND token_hash NOT IN \
             (SELECT token_hash FROM tokens WHERE holder = $1 AND consumed = 0 \
             ORDER BY created_at DESC, token_hash LIMIT $2)",
        )
        .bind(&token.holder)
        .bind(keep)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO tokens (token_hash, holder, purpose, created_at, expires_at, consumed, \
             context) VALUES ($1, $2, $3, $4, $5, 0, $6)",
        )
        .bind(&token.hash[..])
        .bind(&token.holder)
        .bind(token.purpose.as_str())
        .bind(now)
        .bind(to_db(token.expires_at, "time")?)
        .bind(token.context.as_deref())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Consumes an open, unexpired token issued for `purpose` (and, when given, to `holder`).
    ///
    /// Returns the stored context when this call consumed it, `None` when the token is
    /// unknown, already consumed, expired or not for this purpose/holder.
    pub async fn consume_token(
        &self,
        hash: &[u8; 32],
        purpose: TokenPurpose,
        holder: Option<&str>,
        now: u64,
    ) -> Result<Option<Option<String>>, StoreError> {
        let now = to_db(now, "time")?;
        let result = match holder {
            Some(holder) => {
                sqlx::query(
                    "UPDATE tokens SET consumed = 1 WHERE token_hash = $1 AND purpose = $2 \
                     AND consumed = 0 AND expires_at > $3 AND holder = $4",
                )
                .bind(&hash[..])
                .bind(purpose.as_str())
                .bind(now)
                .bind(holder)
                .execute(self.pool())
                .await?
            }
            None => {
                sqlx::query(
                    "UPDATE tokens SET consumed = 1 WHERE token_hash = $1 AND purpose = $2 \
                     AND consumed = 0 AND expires_at > $3",
                )
                .bind(&hash[..])
                .bind(purpose.as_str())
                .bind(now)
                .execute(self.pool())
                .await?
            }
        };
        if result.rows_affected() != 1 {
            return Ok(None);
        }
        let context: Option<String> =
            sqlx::query_scalar("SELECT context FROM tokens WHERE token_hash = $1")
                .bind(&hash[..])
                .fetch_optional(self.pool())
                .await?
                .flatten();
        Ok(Some(context))
    }

    /// Whether a token is known and still open (for diagnostics and tests).
    pub async fn token_is_open(&self, hash: &[u8; 32], now: u64) -> Result<bool, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM tokens WHERE token_hash = $1 AND consumed = 0 \
             AND expires_at > $2",
        )
        .bind(&hash[..])
        .bind(to_db(now, "time")?)
        .fetch_one(self.pool())
        .await?;
        Ok(count > 0)
    }

    /// Number of open tokens held by `holder`.
    pub async fn open_tokens(&self, holder: &str, now: u64) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM tokens WHERE holder = $1 AND consumed = 0 AND expires_at > $2",
        )
        .bind(holder)
        .bind(to_db(now, "time")?)
        .fetch_one(self.pool())
        .await?;
        u64::try_from(count).map_err(|_| StoreError::Corrupt("tokens"))
    }

    /// Deletes every expired token (consumed or not). Returns how many went.
    pub async fn purge_expired_tokens(&self, now: u64) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM tokens WHERE expires_at <= $1")
            .bind(to_db(now, "time")?)
            .execute(self.pool())
            .await?;
        Ok(result.rows_affected())
    }
}
