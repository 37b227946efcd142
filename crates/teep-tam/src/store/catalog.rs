//! Catalog tables: TC signers and Trusted Components (signed SUIT envelopes).

use super::{Store, from_db, get, to_db};
use crate::error::StoreError;

/// A registered Trusted Component signer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignerRow {
    /// Administrator's name for the signer.
    pub name: String,
    /// The signer's public key as a COSE_Key.
    pub cose_key: Vec<u8>,
    /// RFC 9679 thumbprint of `cose_key`.
    pub thumbprint: Vec<u8>,
    /// When it was added (Unix seconds).
    pub added_at: u64,
    /// The developer principal that owns it; `None`: operator-owned.
    pub owner: Option<String>,
}

/// One version of a Trusted Component in the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcRow {
    /// CBOR encoding of the SUIT_Component_Identifier (array of bstr).
    pub component_id: Vec<u8>,
    /// suit-manifest-sequence-number.
    pub sequence_number: u64,
    /// The signed SUIT envelope (empty when listed without payload).
    pub envelope: Vec<u8>,
    /// Size of the envelope in bytes.
    pub envelope_len: usize,
    /// Name of the signer whose key authenticated it.
    pub signer: String,
    /// When it was added (Unix seconds).
    pub added_at: u64,
}

impl Store {
    /// Registers a TC signer. Returns false when the name or key is already registered.
    pub async fn add_signer(&self, row: &SignerRow) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO tc_signers (name, cose_key, thumbprint, added_at, owner) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(&row.name)
        .bind(&row.cose_key)
        .bind(&row.thumbprint)
        .bind(to_db(row.added_at, "time")?)
        .bind(row.owner.clone())
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// All TC signers, by name.
    pub async fn signers(&self) -> Result<Vec<SignerRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, cose_key, thumbprint, added_at, owner FROM tc_signers ORDER BY name",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SignerRow {
                    name: get(r, "name")?,
                    cose_key: get(r, "cose_key")?,
                    thumbprint: get(r, "thumbprint")?,
                    added_at: from_db(get(r, "added_at")?, "tc_signers.added_at")?,
                    owner: get(r, "owner")?,
                })
            })
            .collect()
    }

    /// Removes a TC signer by name, unless catalog entries it authenticated remain (one
    /// statement, so a concurrent `add_tc` cannot slip in between). Returns false when none
    /// was removed: no signer of that name, or it is still in use (see [`Store::tcs_signed_by`]).
    pub async fn remove_signer(&self, name: &str) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "DELETE FROM tc_signers WHERE name = $1 AND NOT EXISTS \
             (SELECT 1 FROM trusted_components WHERE signer = $1)",
        )
        .bind(name)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Removes a TC signer and every catalog entry it authenticated, with the component-id
    /// aliases no remaining entry uses, in one transaction. Returns the number of catalog
    /// entries removed, or `None` when no signer has that name.
    pub async fn remove_signer_and_tcs(&self, name: &str) -> Result<Option<u64>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let signer = sqlx::query("DELETE FROM tc_signers WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if signer.rows_affected() == 0 {
            return Ok(None);
        }
        let tcs = sqlx::query("DELETE FROM trusted_components WHERE signer = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM tc_aliases WHERE NOT EXISTS \
             (SELECT 1 FROM trusted_components WHERE component_id = tc_aliases.manifest_id)",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(tcs.rows_affected()))
    }

    /// Catalog entries (without envelopes) that a signer authenticated.
    pub async fn tcs_signed_by(&self, name: &str) -> Result<Vec<TcRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT component_id, sequence_number, \
             CAST(LENGTH(envelope) AS BIGINT) AS envelope_len, signer, added_at \
             FROM trusted_components WHERE signer = $1 ORDER BY component_id, sequence_number",
        )
        .bind(name)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| tc_row(r, false)).collect()
    }

    /// Adds a Trusted Component version, and `aliases` (the component ids its manifest
    /// installs) as other names of it. Returns false when that component id and sequence
    /// number are already in the catalog. An alias already naming another manifest keeps it.
    pub async fn add_tc(&self, row: &TcRow, aliases: &[Vec<u8>]) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let result = sqlx::query(
            "INSERT INTO trusted_components \
             (component_id, sequence_number, envelope, signer, added_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(&row.component_id)
        .bind(to_db(row.sequence_number, "sequence number")?)
        .bind(&row.envelope)
        .bind(&row.signer)
        .bind(to_db(row.added_at, "time")?)
        .execute(&mut *tx)
        .await?;
        if result.rows_affected() != 1 {
            return Ok(false);
        }
        for alias in core::iter::once(&row.component_id).chain(aliases) {
            sqlx::query(
                "INSERT INTO tc_aliases (alias, manifest_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(alias)
            .bind(&row.component_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The catalog manifest id a component id names (itself when it is one), if any.
    pub async fn resolve_alias(&self, id: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(sqlx::query_scalar("SELECT manifest_id FROM tc_aliases WHERE alias = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// All catalog entries without their envelopes, by component id and sequence number.
    pub async fn tcs(&self) -> Result<Vec<TcRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT component_id, sequence_number, CAST(LENGTH(envelope) AS BIGINT) AS envelope_len, signer, \
             added_at FROM trusted_components ORDER BY component_id, sequence_number",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| tc_row(r, false)).collect()
    }

    /// The highest catalog version of a component, with its envelope. Entries whose signer
    /// is no longer registered (left by a TAM version that allowed removing it) are never
    /// offered.
    pub async fn latest_tc(&self, component_id: &[u8]) -> Result<Option<TcRow>, StoreError> {
        let row = sqlx::query(
            "SELECT component_id, sequence_number, envelope, CAST(LENGTH(envelope) AS BIGINT) AS envelope_len, \
             signer, added_at FROM trusted_components WHERE component_id = $1 \
             AND signer IN (SELECT name FROM tc_signers) \
             ORDER BY sequence_number DESC LIMIT 1",
        )
        .bind(component_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(|r| tc_row(r, true)).transpose()
    }

    /// Removes one version (or, with `None`, every version) of a component.
    pub async fn remove_tc(
        &self,
        component_id: &[u8],
        sequence_number: Option<u64>,
    ) -> Result<u64, StoreError> {
        let result = match sequence_number {
            Some(seq) => {
                sqlx::query(
                    "DELETE FROM trusted_components \
                     WHERE component_id = $1 AND sequence_number = $2",
                )
                .bind(component_id)
                .bind(to_db(seq, "sequence number")?)
                .execute(self.pool())
                .await?
            }
            None => {
                sqlx::query("DELETE FROM trusted_components WHERE component_id = $1")
                    .bind(component_id)
                    .execute(self.pool())
                    .await?
            }
        };
        sqlx::query(
            "DELETE FROM tc_aliases WHERE manifest_id = $1 AND NOT EXISTS \
             (SELECT 1 FROM trusted_components WHERE component_id = $1)",
        )
        .bind(component_id)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected())
    }
}

fn tc_row(r: &sqlx::any::AnyRow, with_envelope: bool) -> Result<TcRow, StoreError> {
    let envelope_len: i64 = get(r, "envelope_len")?;
    Ok(TcRow {
        component_id: get(r, "component_id")?,
        sequence_number: from_db(get(r, "sequence_number")?, "sequence_number")?,
        envelope: if with_envelope { get(r, "envelope")? } else { Vec::new() },
        envelope_len: usize::try_from(envelope_len)
            .map_err(|_| StoreError::Corrupt("trusted_components.envelope"))?,
        signer: get(r, "signer")?,
        added_at: from_db(get(r, "added_at")?, "trusted_components.added_at")?,
    })
}
