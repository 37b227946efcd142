//! The audit log: one row per administrative change.

use super::{Store, from_db, get, to_db};
use crate::error::StoreError;

/// One audit log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    /// Increasing identifier (the order of the changes).
    pub id: i64,
    /// When, in Unix seconds.
    pub at: u64,
    /// The principal's name.
    pub actor: String,
    /// Its role (`operator`, `developer`, `device-admin`).
    pub role: String,
    /// What was done, as `object.verb` (`signer.add`, `tc.remove`, `rollout.pause`, ...).
    pub action: String,
    /// What it was done to (a name, a component id, a device thumbprint).
    pub target: String,
    /// Further detail; never secrets.
    pub detail: String,
}

impl Store {
    /// Appends to the audit log.
    pub async fn record_audit(&self, row: &AuditRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, role, action, target, detail) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(to_db(row.at, "time")?)
        .bind(&row.actor)
        .bind(&row.role)
        .bind(&row.action)
        .bind(&row.target)
        .bind(&row.detail)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The latest `limit` entries, newest first; only `actor`'s when given.
    pub async fn audit_log(
        &self,
        actor: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let limit = i64::from(limit);
        let query = match actor {
            Some(actor) => sqlx::query(
                "SELECT id, at, actor, role, action, target, detail FROM audit_log \
                 WHERE actor = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(actor.to_owned())
            .bind(limit),
            None => sqlx::query(
                "SELECT id, at, actor, role, action, target, detail FROM audit_log \
                 ORDER BY id DESC LIMIT $1",
            )
            .bind(limit),
        };
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(AuditRow {
                    id: get(r, "id")?,
                    at: from_db(get(r, "at")?, "audit_log.at")?,
                    actor: get(r, "actor")?,
                    role: get(r, "role")?,
                    action: get(r, "action")?,
                    target: get(r, "target")?,
                    detail: get(r, "detail")?,
                })
            })
            .collect()
    }
}
