//! Device groups, their members, TAM-wide fleet settings and the paged session history.
//!
//! A group has an owner (a device-admin principal, or none for the operator) and may say
//! whether its members' requested-tc-list is honoured. Group policy rules are ordinary rows of
//! `device_policy` whose target is [`group_target`]`(name)`.

use super::devices::event_row;
use super::{Store, from_db, get, to_db};
use crate::error::StoreError;
use crate::store::EventRow;

macro_rules! group_columns {
    () => {
        "SELECT name, owner, allow_request, created_at, (SELECT COUNT(*) FROM group_members \
         WHERE group_name = device_groups.name) AS members FROM device_groups"
    };
}

/// Prefix of a group's policy and rollout target (`group:<name>`).
pub const GROUP_TARGET_PREFIX: &str = "group:";

/// The `device_policy.device` / `rollouts.target` value naming a group.
pub fn group_target(name: &str) -> String {
    format!("{GROUP_TARGET_PREFIX}{name}")
}

/// A device group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRow {
    /// Unique name.
    pub name: String,
    /// The device-admin principal administering it; `None`: the operator.
    pub owner: Option<String>,
    /// Whether members' requested-tc-list is honoured; `None`: the TAM-wide setting.
    pub allow_request: Option<bool>,
    /// When it was created (Unix seconds).
    pub created_at: u64,
    /// Number of member devices.
    pub members: u64,
}

/// Name of the TAM-wide setting for honouring requested-tc-list.
pub const SETTING_ALLOW_REQUEST: &str = "allow_request";

impl Store {
    /// Creates a group. Returns false when the name is taken.
    pub async fn create_group(
        &self,
        name: &str,
        owner: Option<&str>,
        now: u64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO device_groups (name, owner, allow_request, created_at) \
             VALUES ($1, $2, NULL, $3) ON CONFLICT DO NOTHING",
        )
        .bind(name)
        .bind(owner)
        .bind(to_db(now, "time")?)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Deletes a group with its memberships and policy rules, in one transaction. Returns
    /// false when there is no such group.
    pub async fn delete_group(&self, name: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let result = sqlx::query("DELETE FROM device_groups WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if result.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM group_members WHERE group_name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM device_policy WHERE device = $1")
            .bind(group_target(name))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// One group.
    pub async fn group(&self, name: &str) -> Result<Option<GroupRow>, StoreError> {
        let row = sqlx::query(concat!(group_columns!(), " WHERE name = $1"))
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(group_row).transpose()
    }

    /// All groups (only `owner`'s when given), by name.
    pub async fn groups(&self, owner: Option<&str>) -> Result<Vec<GroupRow>, StoreError> {
        let rows = match owner {
            Some(owner) => {
                sqlx::query(concat!(group_columns!(), " WHERE owner = $1 ORDER BY name"))
                    .bind(owner.to_owned())
                    .fetch_all(self.pool())
                    .await?
            }
            None => {
                sqlx::query(concat!(group_columns!(), " ORDER BY name"))
                    .fetch_all(self.pool())
                    .await?
            }
        };
        rows.iter().map(group_row).collect()
    }

    /// Sets whether a group's members may have their requested-tc-list honoured (`None`:
    /// follow the TAM-wide setting). Returns false when there is no such group.
    pub async fn set_group_allow_request(
        &self,
        name: &str,
        allow: Option<bool>,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query("UPDATE device_groups SET allow_request = $1 WHERE name = $2")
            .bind(allow.map(i64::from))
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Adds a device to a group. Returns false when it already is a member.
    pub async fn add_group_member(
        &self,
        group: &str,
        device: &[u8],
        now: u64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO group_members (group_name, device, added_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(group)
        .bind(device)
        .bind(to_db(now, "time")?)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Removes a device from a group. Returns false when it was not a member.
    pub async fn remove_group_member(
        &self,
        group: &str,
        device: &[u8],
    ) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM group_members WHERE group_name = $1 AND device = $2")
            .bind(group)
            .bind(device)
            .execute(self.pool())
            .await?;
        Ok(result.rows_affected() > 0)
    }

    /// The thumbprints of a group's members, in order.
    pub async fn group_members(&self, group: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT device FROM group_members WHERE group_name = $1 ORDER BY device",
        )
        .bind(group)
        .fetch_all(self.pool())
        .await?)
    }

    /// The groups a device belongs to, by name.
    pub async fn groups_of(&self, device: &[u8]) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT group_name FROM group_members WHERE device = $1 ORDER BY group_name",
        )
        .bind(device)
        .fetch_all(self.pool())
        .await?)
    }

    /// Reads a TAM-wide setting.
    pub async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT value FROM fleet_settings WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Writes a TAM-wide setting.
    pub async fn set_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO fleet_settings (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Whether a device's requested-tc-list is honoured: its groups' settings decide when any
    /// has one (refusal wins when they disagree), else the TAM-wide setting (default: yes).
    pub async fn request_allowed(&self, device: &[u8]) -> Result<bool, StoreError> {
        let flags: Vec<i64> = sqlx::query_scalar(
            "SELECT g.allow_request FROM device_groups g JOIN group_members m \
             ON m.group_name = g.name WHERE m.device = $1 AND g.allow_request IS NOT NULL",
        )
        .bind(device)
        .fetch_all(self.pool())
        .await?;
        if !flags.is_empty() {
            return Ok(flags.iter().all(|f| *f != 0));
        }
        Ok(self.setting(SETTING_ALLOW_REQUEST).await?.is_none_or(|v| v != "false"))
    }

    /// One page of history, newest first: at most `limit` entries with an id below `before`
    /// (all when `None`), of one device or of all devices.
    pub async fn events_page(
        &self,
        device: Option<&[u8]>,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<EventRow>, StoreError> {
        let limit = i64::from(limit);
        let before = before.unwrap_or(i64::MAX);
        let rows = match device {
            Some(d) => {
                sqlx::query(
                    "SELECT id, device, at, kind, detail FROM session_events \
                     WHERE device = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
                )
                .bind(d)
                .bind(before)
                .bind(limit)
                .fetch_all(self.pool())
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT id, device, at, kind, detail FROM session_events \
                     WHERE id < $1 ORDER BY id DESC LIMIT $2",
                )
                .bind(before)
                .bind(limit)
                .fetch_all(self.pool())
                .await?
            }
        };
        rows.iter().map(event_row).collect()
    }
}

fn group_row(r: &sqlx::any::AnyRow) -> Result<GroupRow, StoreError> {
    let allow: Option<i64> = get(r, "allow_request")?;
    let members: i64 = get(r, "members")?;
    Ok(GroupRow {
        name: get(r, "name")?,
        owner: get(r, "owner")?,
        allow_request: allow.map(|a| a != 0),
        created_at: from_db(get(r, "created_at")?, "device_groups.created_at")?,
        members: from_db(members, "group member count")?,
    })
}
