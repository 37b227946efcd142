//! Hosted payloads of URI-based Trusted Components (migration 0050): a SUIT manifest may
//! name its payload by URI (draft-ietf-suit-manifest-34 §8.4.10.2 suit-parameter-uri) and the
//! device fetches it separately. The bytes live in the database so that every TAM replica
//! serves the same payloads; ranges are read with `substr`, which works on SQLite BLOBs and
//! PostgreSQL `bytea` alike, so a resumed download reads only what it asks for.

use super::{Store, from_db, get, to_db};
use crate::error::StoreError;

/// A hosted payload's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayloadRow {
    /// Name under `/payloads/`.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes (the HTTP ETag).
    pub sha256: Vec<u8>,
    /// Developer principal that owns it; `None`: operator-owned.
    pub owner: Option<String>,
    /// When it was uploaded (Unix seconds).
    pub uploaded_at: u64,
}

impl Store {
    /// Stores (or replaces) a payload.
    pub async fn put_payload(&self, row: &PayloadRow, data: &[u8]) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO payloads (name, data, size, sha256, owner, uploaded_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO UPDATE SET \
             data = excluded.data, size = excluded.size, sha256 = excluded.sha256, \
             owner = excluded.owner, uploaded_at = excluded.uploaded_at",
        )
        .bind(&row.name)
        .bind(data)
        .bind(to_db(row.size, "payload size")?)
        .bind(&row.sha256)
        .bind(row.owner.clone())
        .bind(to_db(row.uploaded_at, "time")?)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// One payload's metadata.
    pub async fn payload(&self, name: &str) -> Result<Option<PayloadRow>, StoreError> {
        let row = sqlx::query(
            "SELECT name, size, sha256, owner, uploaded_at FROM payloads WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(payload_row).transpose()
    }

    /// Every payload's metadata, by name.
    pub async fn payloads(&self) -> Result<Vec<PayloadRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, size, sha256, owner, uploaded_at FROM payloads ORDER BY name",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(payload_row).collect()
    }

    /// `len` bytes of a payload from byte `offset`, if the payload still has the digest
    /// `sha256` (it may have been replaced since its metadata was read). The range must lie
    /// within the payload.
    pub async fn payload_range(
        &self,
        name: &str,
        sha256: &[u8],
        offset: u64,
        len: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        // substr counts from 1; a blob of up to 2^31 bytes fits both backends' integers.
        let start = to_db(offset.saturating_add(1), "payload offset")?;
        let len = to_db(len, "payload range")?;
        Ok(sqlx::query_scalar(
            "SELECT substr(data, CAST($2 AS INTEGER), CAST($3 AS INTEGER)) FROM payloads \
             WHERE name = $1 AND sha256 = $4",
        )
        .bind(name)
        .bind(start)
        .bind(len)
        .bind(sha256)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Deletes a payload. Returns false when there was none of that name.
    pub async fn remove_payload(&self, name: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM payloads WHERE name = $1")
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(result.rows_affected() > 0)
    }
}

fn payload_row(r: &sqlx::any::AnyRow) -> Result<PayloadRow, StoreError> {
    Ok(PayloadRow {
        name: get(r, "name")?,
        size: from_db(get(r, "size")?, "payloads.size")?,
        sha256: get(r, "sha256")?,
        owner: get(r, "owner")?,
        uploaded_at: from_db(get(r, "uploaded_at")?, "payloads.uploaded_at")?,
    })
}
