//! Stateless QueryRequest tokens (see [`crate::token`]): the TAM secret and the used tokens.
//!
//! The secret is created by the first TAM process that needs it (`INSERT ... ON CONFLICT DO
//! NOTHING`, then read back), so every replica sharing the database uses the same one. A
//! token is accepted once: its hash goes into `used_tokens` under a unique key, and the
//! INSERT's success is the single-use decision, atomic across replicas.

use super::{Store, to_db};
use crate::error::StoreError;

/// Name of the secret row that authenticates QueryRequest tokens.
const QUERY_TOKEN_SECRET: &str = "query-token";

/// Used tokens are kept this long past their expiry before they are purged, so that a
/// replica whose clock runs behind still sees them as used while it would accept them.
pub const USED_TOKEN_MARGIN_SECS: u64 = 3600;

impl Store {
    /// The TAM's QueryRequest token secret: the stored one, or `candidate` when none is stored
    /// yet (then stored). Concurrent callers all get the same bytes.
    pub async fn token_secret(&self, candidate: &[u8], now: u64) -> Result<Vec<u8>, StoreError> {
        sqlx::query(
            "INSERT INTO tam_secrets (name, secret, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(QUERY_TOKEN_SECRET)
        .bind(candidate)
        .bind(to_db(now, "time")?)
        .execute(self.pool())
        .await?;
        let stored: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT secret FROM tam_secrets WHERE name = $1")
                .bind(QUERY_TOKEN_SECRET)
                .fetch_optional(self.pool())
                .await?;
        stored.ok_or(StoreError::Corrupt("tam_secrets"))
    }

    /// Records a QueryRequest token as answered. Returns true when this call recorded it, false
    /// when it was already used. Expired records are not purged here: the server's periodic
    /// purge task calls [`Store::purge_used_tokens`] beside `purge_expired_tokens`.
    pub async fn mark_token_used(
        &self,
        hash: &[u8; 32],
        expires_at: u64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO used_tokens (token_hash, expires_at) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&hash[..])
        .bind(to_db(expires_at, "time")?)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Whether a QueryRequest token was already answered.
    pub async fn token_used(&self, hash: &[u8; 32]) -> Result<bool, StoreError> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM used_tokens WHERE token_hash = $1")
                .bind(&hash[..])
                .fetch_one(self.pool())
                .await?;
        Ok(count > 0)
    }

    /// Deletes used-token records expired more than [`USED_TOKEN_MARGIN_SECS`] before `now`.
    /// Returns how many went.
    pub async fn purge_used_tokens(&self, now: u64) -> Result<u64, StoreError> {
        let horizon = now.saturating_sub(USED_TOKEN_MARGIN_SECS);
        let result = sqlx::query("DELETE FROM used_tokens WHERE expires_at <= $1")
            .bind(to_db(horizon, "time")?)
            .execute(self.pool())
            .await?;
        Ok(result.rows_affected())
    }
}
