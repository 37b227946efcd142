//! SUIT reports per device (migration 0020): the enrolled report key of each device and the
//! reports its Agent sent (draft-ietf-suit-report §4; draft-ietf-teep-protocol-26 §4.5, §4.6).
//!
//! The history is bounded: only the latest [`REPORTS_KEPT`] reports of a device are kept.

use super::{Store, from_db, get, to_db};
use crate::error::StoreError;

/// How many reports are kept per device (older ones are pruned on insert).
pub const REPORTS_KEPT: i64 = 200;

/// One SUIT report a device sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportRow {
    /// Monotonic id (0 before it is stored).
    pub id: i64,
    /// Thumbprint of the device's Agent key.
    pub device: Vec<u8>,
    /// When it arrived (Unix seconds).
    pub received_at: u64,
    /// The TEEP message that carried it (`query-response`, `success` or `error`).
    pub message: String,
    /// suit-report-manifest-uri of its SUIT_Reference.
    pub manifest_uri: String,
    /// The encoded SUIT_Digest of the manifest reported on.
    pub manifest_digest: Vec<u8>,
    /// Whether suit-report-result is `true`.
    pub success: bool,
    /// The SUIT_Report_Reasons name of a failure.
    pub reason: Option<String>,
    /// `unprotected`, `signed` or `encrypted`.
    pub protection: String,
    /// Whether its signature was verified under the enrolled report key.
    pub verified: bool,
    /// The SUIT_Report itself (CBOR, as decoded from its protection).
    pub report: Vec<u8>,
}

impl Store {
    /// Sets (replaces) the report key of a device: the COSE_Key its SUIT reports must be
    /// signed with.
    pub async fn set_report_key(
        &self,
        thumbprint: &[u8],
        cose_key: &[u8],
        now: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO device_report_keys (thumbprint, cose_key, added_at) VALUES ($1, $2, $3) \
             ON CONFLICT (thumbprint) DO UPDATE SET cose_key = excluded.cose_key, \
             added_at = excluded.added_at",
        )
        .bind(thumbprint)
        .bind(cose_key)
        .bind(to_db(now, "time")?)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The enrolled report key (COSE_Key) of a device, if any.
    pub async fn report_key(&self, thumbprint: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT cose_key FROM device_report_keys WHERE thumbprint = $1")
            .bind(thumbprint)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| get(&r, "cose_key")).transpose()
    }

    /// Stores the reports of one message and prunes the device's history to
    /// [`REPORTS_KEPT`] entries.
    pub async fn record_reports(&self, rows: &[ReportRow]) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        for row in rows {
            sqlx::query(
                "INSERT INTO suit_reports (device, received_at, message, manifest_uri, \
                 manifest_digest, success, reason, protection, verified, report) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&row.device)
            .bind(to_db(row.received_at, "time")?)
            .bind(&row.message)
            .bind(&row.manifest_uri)
            .bind(&row.manifest_digest)
            .bind(i64::from(row.success))
            .bind(row.reason.as_deref())
            .bind(&row.protection)
            .bind(i64::from(row.verified))
            .bind(&row.report)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(row) = rows.first() {
            sqlx::query(
                "DELETE FROM suit_reports WHERE device = $1 AND id NOT IN (SELECT id FROM \
                 suit_reports WHERE device = $1 ORDER BY id DESC LIMIT $2)",
            )
            .bind(&row.device)
            .bind(REPORTS_KEPT)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The latest `limit` reports of a device, newest first.
    pub async fn reports(
        &self,
        thumbprint: &[u8],
        limit: u32,
    ) -> Result<Vec<ReportRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, device, received_at, message, manifest_uri, manifest_digest, success, \
             reason, protection, verified, report FROM suit_reports WHERE device = $1 \
             ORDER BY id DESC LIMIT $2",
        )
        .bind(thumbprint)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ReportRow {
                    id: get(r, "id")?,
                    device: get(r, "device")?,
                    received_at: from_db(get(r, "received_at")?, "suit_reports.received_at")?,
                    message: get(r, "message")?,
                    manifest_uri: get(r, "manifest_uri")?,
                    manifest_digest: get(r, "manifest_digest")?,
                    success: get::<i64>(r, "success")? != 0,
                    reason: get(r, "reason")?,
                    protection: get(r, "protection")?,
                    verified: get::<i64>(r, "verified")? != 0,
                    report: get(r, "report")?,
                })
            })
            .collect()
    }
}
