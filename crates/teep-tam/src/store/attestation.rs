//! The last attestation outcome per device (migration 0003).

use super::{Store, from_db, get, to_db};
use crate::error::StoreError;

/// What the TAM last concluded about a device's attestation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttestationRow {
    /// Thumbprint of the device's Agent key.
    pub thumbprint: Vec<u8>,
    /// Whether the device was found trustworthy.
    pub trusted: bool,
    /// Why (the Verifier's or the TAM's reason, or "affirming").
    pub reason: String,
    /// "background-check" (the model in use).
    pub model: String,
    /// When (Unix seconds).
    pub appraised_at: u64,
    /// The ueid the Attestation Result reported.
    pub ueid: Option<Vec<u8>>,
}

impl Store {
    /// Records (replaces) the attestation outcome of a device.
    pub async fn record_attestation(&self, row: &AttestationRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO device_attestation (thumbprint, trusted, reason, model, appraised_at, \
             ueid) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (thumbprint) DO UPDATE SET \
             trusted = excluded.trusted, reason = excluded.reason, model = excluded.model, \
             appraised_at = excluded.appraised_at, ueid = excluded.ueid",
        )
        .bind(&row.thumbprint)
        .bind(i64::from(row.trusted))
        .bind(&row.reason)
        .bind(&row.model)
        .bind(to_db(row.appraised_at, "time")?)
        .bind(row.ueid.as_deref())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The last attestation outcome of a device.
    pub async fn attestation(
        &self,
        thumbprint: &[u8],
    ) -> Result<Option<AttestationRow>, StoreError> {
        let row = sqlx::query(
            "SELECT thumbprint, trusted, reason, model, appraised_at, ueid \
             FROM device_attestation WHERE thumbprint = $1",
        )
        .bind(thumbprint)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(AttestationRow {
            thumbprint: get(&row, "thumbprint")?,
            trusted: get::<i64>(&row, "trusted")? != 0,
            reason: get(&row, "reason")?,
            model: get(&row, "model")?,
            appraised_at: from_db(get(&row, "appraised_at")?, "time")?,
            ueid: get(&row, "ueid")?,
        }))
    }
}
