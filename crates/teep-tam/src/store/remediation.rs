//! Remediation components (issue 4, policy): catalog components an untrusted device may
//! still get (draft-ietf-teep-protocol-26 §4.3 leaves what an unattested device receives to
//! the TAM's policy).

use super::{Store, get, to_db};
use crate::error::StoreError;

impl Store {
    /// Marks (or unmarks) a catalog component, by its CBOR component key, as remediation.
    pub async fn set_remediation(
        &self,
        component_id: &[u8],
        remediation: bool,
        now: u64,
    ) -> Result<(), StoreError> {
        if remediation {
            sqlx::query(
                "INSERT INTO remediation_components (component_id, marked_at) VALUES ($1, $2) \
                 ON CONFLICT (component_id) DO NOTHING",
            )
            .bind(component_id)
            .bind(to_db(now, "time")?)
            .execute(self.pool())
            .await?;
        } else {
            sqlx::query("DELETE FROM remediation_components WHERE component_id = $1")
                .bind(component_id)
                .execute(self.pool())
                .await?;
        }
        Ok(())
    }

    /// The CBOR component keys marked as remediation, sorted.
    pub async fn remediation_components(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows =
            sqlx::query("SELECT component_id FROM remediation_components ORDER BY component_id")
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(|r| get(r, "component_id")).collect()
    }
}
