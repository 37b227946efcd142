//! Enrolment allow and block lists, the certificates devices were enrolled with, and the
//! catalog versions offered to devices (retired versions never are).

use super::{Store, from_db, get, to_db};
use crate::error::StoreError;
use crate::store::TcRow;

/// One allow or block list entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdmissionEntry {
    /// `allow` or `block`.
    pub list: String,
    /// `thumbprint` (64 hex digits), `subject` or `issuer` (a distinguished-name pattern such as
    /// `CN=dev-*, O=Acme`, in which `*` matches any run of characters).
    pub kind: String,
    /// The thumbprint or pattern.
    pub pattern: String,
    /// When it was added (Unix seconds).
    pub added_at: u64,
}

/// The certificate a device was enrolled with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceCertRow {
    /// Device thumbprint.
    pub thumbprint: Vec<u8>,
    /// Subject distinguished name, as `CN=device-0042, O=Acme` (certificate order).
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// End of validity (Unix seconds).
    pub not_after: u64,
    /// The DER certificate.
    pub certificate: Vec<u8>,
}

impl Store {
    /// Adds an allow or block list entry. Returns false when it is already listed.
    pub async fn add_admission(&self, entry: &AdmissionEntry) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO admission_list (list, kind, pattern, added_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&entry.list)
        .bind(&entry.kind)
        .bind(&entry.pattern)
        .bind(to_db(entry.added_at, "time")?)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Removes an allow or block list entry. Returns false when it was not listed.
    pub async fn remove_admission(
        &self,
        list: &str,
        kind: &str,
        pattern: &str,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "DELETE FROM admission_list WHERE list = $1 AND kind = $2 AND pattern = $3",
        )
        .bind(list)
        .bind(kind)
        .bind(pattern)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Both lists, by list, kind and pattern.
    pub async fn admission_list(&self) -> Result<Vec<AdmissionEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT list, kind, pattern, added_at FROM admission_list ORDER BY list, kind, pattern",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AdmissionEntry {
                    list: get(r, "list")?,
                    kind: get(r, "kind")?,
                    pattern: get(r, "pattern")?,
                    added_at: from_db(get(r, "added_at")?, "admission_list.added_at")?,
                })
            })
            .collect()
    }

    /// Stores (or replaces) the certificate a device was enrolled with.
    pub async fn set_device_certificate(&self, row: &DeviceCertRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO device_certificates (thumbprint, subject, issuer, not_after, certificate) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (thumbprint) DO UPDATE SET \
             subject = excluded.subject, issuer = excluded.issuer, \
             not_after = excluded.not_after, certificate = excluded.certificate",
        )
        .bind(&row.thumbprint)
        .bind(&row.subject)
        .bind(&row.issuer)
        .bind(to_db(row.not_after, "time")?)
        .bind(&row.certificate)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The certificate a device was enrolled with, if any.
    pub async fn device_certificate(
        &self,
        thumbprint: &[u8],
    ) -> Result<Option<DeviceCertRow>, StoreError> {
        let row = sqlx::query(
            "SELECT thumbprint, subject, issuer, not_after, certificate FROM device_certificates \
             WHERE thumbprint = $1",
        )
        .bind(thumbprint)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(DeviceCertRow {
                thumbprint: get(&r, "thumbprint")?,
                subject: get(&r, "subject")?,
                issuer: get(&r, "issuer")?,
                not_after: from_db(get(&r, "not_after")?, "device_certificates.not_after")?,
                certificate: get(&r, "certificate")?,
            })
        })
        .transpose()
    }

    /// Marks a catalog version retired (or not). Returns false when there is no such version.
    pub async fn set_tc_retired(
        &self,
        component_id: &[u8],
        sequence_number: u64,
        retired: bool,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE trusted_components SET retired = $1 \
             WHERE component_id = $2 AND sequence_number = $3",
        )
        .bind(i64::from(retired))
        .bind(component_id)
        .bind(to_db(sequence_number, "sequence number")?)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() > 0)
    }

    /// The retired catalog versions, as (component id, sequence number).
    pub async fn retired_tcs(&self) -> Result<Vec<(Vec<u8>, u64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT component_id, sequence_number FROM trusted_components WHERE retired <> 0 \
             ORDER BY component_id, sequence_number",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    get(r, "component_id")?,
                    from_db(get(r, "sequence_number")?, "trusted_components.sequence_number")?,
                ))
            })
            .collect()
    }

    /// Whether a catalog version is retired (`None`: no such version).
    pub async fn tc_retired(
        &self,
        component_id: &[u8],
        sequence_number: u64,
    ) -> Result<Option<bool>, StoreError> {
        let retired: Option<i64> = sqlx::query_scalar(
            "SELECT retired FROM trusted_components WHERE component_id = $1 \
             AND sequence_number = $2",
        )
        .bind(component_id)
        .bind(to_db(sequence_number, "sequence number")?)
        .fetch_optional(self.pool())
        .await?;
        Ok(retired.map(|r| r != 0))
    }

    /// The versions of a component that may be offered, newest first: not retired, and
    /// authenticated by a signer that is still registered.
    pub async fn offerable_versions(&self, component_id: &[u8]) -> Result<Vec<u64>, StoreError> {
        let rows: Vec<i64> = sqlx::query_scalar(
            "SELECT sequence_number FROM trusted_components WHERE component_id = $1 \
             AND retired = 0 AND signer IN (SELECT name FROM tc_signers) \
             ORDER BY sequence_number DESC",
        )
        .bind(component_id)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(|s| from_db(s, "trusted_components.sequence_number")).collect()
    }

    /// One catalog version with its envelope.
    pub async fn tc_version(
        &self,
        component_id: &[u8],
        sequence_number: u64,
    ) -> Result<Option<TcRow>, StoreError> {
        let row = sqlx::query(
            "SELECT component_id, sequence_number, envelope, signer, added_at \
             FROM trusted_components WHERE component_id = $1 AND sequence_number = $2",
        )
        .bind(component_id)
        .bind(to_db(sequence_number, "sequence number")?)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            let envelope: Vec<u8> = get(&r, "envelope")?;
            Ok(TcRow {
                component_id: get(&r, "component_id")?,
                sequence_number: from_db(
                    get(&r, "sequence_number")?,
                    "trusted_components.sequence_number",
                )?,
                envelope_len: envelope.len(),
                envelope,
                signer: get(&r, "signer")?,
                added_at: from_db(get(&r, "added_at")?, "trusted_components.added_at")?,
            })
        })
        .transpose()
    }
}
