//! Device tables: enrolled Agents, their policy, their installed components and the session
//! history.

use sqlx::any::AnyRow;

use super::{Store, from_db, get, opt_from_db, to_db};
use crate::error::StoreError;

macro_rules! device_columns {
    () => {
        "SELECT thumbprint, cose_key, label, wire, blocked, enrolled_at, last_seen, \
         last_error_code, last_error_msg, last_error_at FROM devices"
    };
}

/// An enrolled device, known by the RFC 9679 thumbprint of its TEEP Agent key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRow {
    /// Thumbprint of the Agent key (SHA-256 over the deterministic COSE_Key).
    pub thumbprint: Vec<u8>,
    /// The Agent's public key as a COSE_Key.
    pub cose_key: Vec<u8>,
    /// Administrator's label.
    pub label: Option<String>,
    /// Numbering the device last used (`rfc` or `legacy`).
    pub wire: String,
    /// Blocked devices are not served.
    pub blocked: bool,
    /// When it was enrolled (Unix seconds).
    pub enrolled_at: u64,
    /// Last validly signed message (Unix seconds).
    pub last_seen: Option<u64>,
    /// err-code of the last Error message.
    pub last_error_code: Option<u64>,
    /// err-msg of the last Error message.
    pub last_error_msg: Option<String>,
    /// When the last Error arrived.
    pub last_error_at: Option<u64>,
}

/// What a policy row asks for a component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyAction {
    /// The device must have the component at `min_sequence` or later.
    Require,
    /// The component must be removed (sent in unneeded-manifest-list).
    Delete,
}

impl PolicyAction {
    fn as_str(self) -> &'static str {
        match self {
            PolicyAction::Require => "require",
            PolicyAction::Delete => "delete",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "require" => Ok(PolicyAction::Require),
            "delete" => Ok(PolicyAction::Delete),
            _ => Err(StoreError::Corrupt("device_policy.action")),
        }
    }
}

/// One policy rule. `device` is a hex thumbprint, `group:<name>` or `*` for every device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRow {
    /// Hex thumbprint of the device, `group:<name>` for a device group, or `*`.
    pub device: String,
    /// CBOR encoding of the SUIT_Component_Identifier.
    pub component_id: Vec<u8>,
    /// Require or delete.
    pub action: PolicyAction,
    /// Lowest acceptable sequence number (for `Require`).
    pub min_sequence: u64,
}

/// A component the TAM believes is installed on a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentRow {
    /// CBOR encoding of the SUIT_Component_Identifier.
    pub component_id: Vec<u8>,
    /// Installed manifest sequence number, when known.
    pub sequence_number: Option<u64>,
    /// Image digest reported by the Agent, when known.
    pub digest: Option<Vec<u8>>,
    /// When this entry last changed (Unix seconds).
    pub updated_at: u64,
}

/// One entry of a device's session history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRow {
    /// Monotonic id.
    pub id: i64,
    /// Device thumbprint, when known.
    pub device: Option<Vec<u8>>,
    /// When (Unix seconds).
    pub at: u64,
    /// Short kind, for example `query-response`, `update`, `success`, `error`.
    pub kind: String,
    /// Human-readable detail (never keys, tokens or payloads).
    pub detail: String,
}

impl Store {
    /// Enrols a device. Returns false when its thumbprint is already enrolled. A thumbprint
    /// on the enrolment block list is enrolled blocked, so blocking survives removal and
    /// re-enrolment.
    pub async fn enroll_device(&self, row: &DeviceRow) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO devices (thumbprint, cose_key, label, wire, blocked, enrolled_at) \
             VALUES ($1, $2, $3, $4, CASE WHEN $5 <> 0 OR EXISTS (SELECT 1 FROM admission_list \
             WHERE list = 'block' AND kind = 'thumbprint' AND pattern = $7) THEN 1 ELSE 0 END, \
             $6) ON CONFLICT DO NOTHING",
        )
        .bind(&row.thumbprint)
        .bind(&row.cose_key)
        .bind(row.label.as_deref())
        .bind(&row.wire)
        .bind(i64::from(row.blocked))
        .bind(to_db(row.enrolled_at, "time")?)
        .bind(hex::encode(&row.thumbprint))
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Looks a device up by thumbprint.
    pub async fn device(&self, thumbprint: &[u8]) -> Result<Option<DeviceRow>, StoreError> {
        let row = sqlx::query(concat!(device_columns!(), " WHERE thumbprint = $1"))
            .bind(thumbprint)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(device_row).transpose()
    }

    /// Thumbprints between `low` and `high` inclusive (byte order), at most `limit`: the
    /// devices whose hex thumbprint starts with a given prefix, by an index range scan.
    pub async fn thumbprints_between(
        &self,
        low: &[u8],
        high: &[u8],
        limit: u32,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows = sqlx::query(
            "SELECT thumbprint FROM devices WHERE thumbprint >= $1 AND thumbprint <= $2 \
             ORDER BY thumbprint LIMIT $3",
        )
        .bind(low)
        .bind(high)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| get(r, "thumbprint")).collect()
    }

    /// All devices, by thumbprint.
    pub async fn devices(&self) -> Result<Vec<DeviceRow>, StoreError> {
        let rows = sqlx::query(concat!(device_columns!(), " ORDER BY thumbprint"))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(device_row).collect()
    }

    /// Blocks or unblocks a device. Returns false when it is not enrolled. Blocking also puts
    /// its thumbprint on the enrolment block list (so removing and re-enrolling it, by hand or
    /// automatically, keeps it blocked); unblocking takes it off.
    pub async fn set_blocked(&self, thumbprint: &[u8], blocked: bool) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let result = sqlx::query("UPDATE devices SET blocked = $1 WHERE thumbprint = $2")
            .bind(i64::from(blocked))
            .bind(thumbprint)
            .execute(&mut *tx)
            .await?;
        if result.rows_affected() == 0 {
            return Ok(false);
        }
        let hex = hex::encode(thumbprint);
        if blocked {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            sqlx::query(
                "INSERT INTO admission_list (list, kind, pattern, added_at) \
                 VALUES ('block', 'thumbprint', $1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(&hex)
            .bind(to_db(now, "time")?)
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(
                "DELETE FROM admission_list WHERE list = 'block' AND kind = 'thumbprint' \
                 AND pattern = $1",
            )
            .bind(&hex)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Removes a device with its policy, installed state, tokens and history.
    pub async fn remove_device(&self, thumbprint: &[u8]) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let hex = hex::encode(thumbprint);
        sqlx::query("DELETE FROM device_policy WHERE device = $1")
            .bind(&hex)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM tokens WHERE holder = $1").bind(&hex).execute(&mut *tx).await?;
        for statement in [
            "DELETE FROM device_components WHERE device = $1",
            "DELETE FROM session_events WHERE device = $1",
            "DELETE FROM suit_reports WHERE device = $1",
            "DELETE FROM device_report_keys WHERE thumbprint = $1",
            "DELETE FROM group_members WHERE device = $1",
            "DELETE FROM rollout_targets WHERE device = $1",
            "DELETE FROM rollout_devices WHERE device = $1",
            "DELETE FROM device_certificates WHERE thumbprint = $1",
        ] {
            sqlx::query(statement).bind(thumbprint).execute(&mut *tx).await?;
        }
        let result = sqlx::query("DELETE FROM devices WHERE thumbprint = $1")
            .bind(thumbprint)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(result.rows_affected() > 0)
    }

    /// Records that a device sent a validly signed message.
    pub async fn touch_device(
        &self,
        thumbprint: &[u8],
        wire: &str,
        now: u64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE devices SET last_seen = $1, wire = $2 WHERE thumbprint = $3")
            .bind(to_db(now, "time")?)
            .bind(wire)
            .bind(thumbprint)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Records the err-code and err-msg of an Error message from a device.
    pub async fn record_device_error(
        &self,
        thumbprint: &[u8],
        code: u64,
        msg: Option<&str>,
        now: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE devices SET last_error_code = $1, last_error_msg = $2, last_error_at = $3 \
             WHERE thumbprint = $4",
        )
        .bind(to_db(code, "err-code")?)
        .bind(msg)
        .bind(to_db(now, "time")?)
        .bind(thumbprint)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Sets (inserts or replaces) a policy rule.
    pub async fn set_policy(&self, row: &PolicyRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO device_policy (device, component_id, action, min_sequence) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (device, component_id) \
             DO UPDATE SET action = excluded.action, min_sequence = excluded.min_sequence",
        )
        .bind(&row.device)
        .bind(&row.component_id)
        .bind(row.action.as_str())
        .bind(to_db(row.min_sequence, "sequence number")?)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Removes a policy rule. Returns false when there was none.
    pub async fn remove_policy(
        &self,
        device: &str,
        component_id: &[u8],
    ) -> Result<bool, StoreError> {
        let result =
            sqlx::query("DELETE FROM device_policy WHERE device = $1 AND component_id = $2")
                .bind(device)
                .bind(component_id)
                .execute(self.pool())
                .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Every policy rule, default (`*`) rules first.
    pub async fn policies(&self) -> Result<Vec<PolicyRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT device, component_id, action, min_sequence FROM device_policy \
             ORDER BY device, component_id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(policy_row).collect()
    }

    /// The rules that apply to one device, one per component: its own rule, else its groups'
    /// rules, else the all-devices rule ([`crate::policy::effective_rules`] says how rules of
    /// several groups combine).
    pub async fn effective_policy(&self, device_hex: &str) -> Result<Vec<PolicyRow>, StoreError> {
        let thumbprint = hex::decode(device_hex).unwrap_or_default();
        let rows = sqlx::query(
            "SELECT device, component_id, action, min_sequence FROM device_policy \
             WHERE device = $1 OR device = '*' OR device IN \
             (SELECT 'group:' || group_name FROM group_members WHERE device = $2) \
             ORDER BY component_id, device",
        )
        .bind(device_hex)
        .bind(thumbprint)
        .fetch_all(self.pool())
        .await?;
        let rows: Vec<PolicyRow> = rows.iter().map(policy_row).collect::<Result<_, _>>()?;
        Ok(crate::policy::effective_rules(device_hex, rows))
    }

    /// Replaces a device's installed set with the tc-list it reported.
    pub async fn replace_components(
        &self,
        thumbprint: &[u8],
        components: &[ComponentRow],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM device_components WHERE device = $1")
            .bind(thumbprint)
            .execute(&mut *tx)
            .await?;
        for c in components {
            upsert_component(&mut tx, thumbprint, c).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Applies the outcome of a successful Update: installs and deletions together.
    pub async fn apply_update(
        &self,
        thumbprint: &[u8],
        installed: &[ComponentRow],
        deleted: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        for c in installed {
            upsert_component(&mut tx, thumbprint, c).await?;
        }
        for id in deleted {
            sqlx::query("DELETE FROM device_components WHERE device = $1 AND component_id = $2")
                .bind(thumbprint)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Components installed on a device, as last reported.
    pub async fn components(&self, thumbprint: &[u8]) -> Result<Vec<ComponentRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT component_id, sequence_number, digest, updated_at FROM device_components \
             WHERE device = $1 ORDER BY component_id",
        )
        .bind(thumbprint)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ComponentRow {
                    component_id: get(r, "component_id")?,
                    sequence_number: opt_from_db(get(r, "sequence_number")?, "sequence_number")?,
                    digest: get(r, "digest")?,
                    updated_at: from_db(get(r, "updated_at")?, "device_components.updated_at")?,
                })
            })
            .collect()
    }

    /// Appends to the session history.
    pub async fn log_event(
        &self,
        device: Option<&[u8]>,
        kind: &str,
        detail: &str,
        now: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO session_events (device, at, kind, detail) VALUES ($1, $2, $3, $4)",
        )
        .bind(device)
        .bind(to_db(now, "time")?)
        .bind(kind)
        .bind(detail)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The latest `limit` history entries of a device (or of all devices), newest first.
    pub async fn events(
        &self,
        device: Option<&[u8]>,
        limit: u32,
    ) -> Result<Vec<EventRow>, StoreError> {
        let limit = i64::from(limit);
        let rows = match device {
            Some(d) => {
                sqlx::query(
                    "SELECT id, device, at, kind, detail FROM session_events WHERE device = $1 \
                     ORDER BY id DESC LIMIT $2",
                )
                .bind(d)
                .bind(limit)
                .fetch_all(self.pool())
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT id, device, at, kind, detail FROM session_events \
                     ORDER BY id DESC LIMIT $1",
                )
                .bind(limit)
                .fetch_all(self.pool())
                .await?
            }
        };
        rows.iter().map(event_row).collect()
    }
}

/// One `session_events` row (columns `id, device, at, kind, detail`).
pub(super) fn event_row(r: &AnyRow) -> Result<EventRow, StoreError> {
    Ok(EventRow {
        id: get(r, "id")?,
        device: get(r, "device")?,
        at: from_db(get(r, "at")?, "session_events.at")?,
        kind: get(r, "kind")?,
        detail: get(r, "detail")?,
    })
}

fn device_row(r: &AnyRow) -> Result<DeviceRow, StoreError> {
    let blocked: i64 = get(r, "blocked")?;
    Ok(DeviceRow {
        thumbprint: get(r, "thumbprint")?,
        cose_key: get(r, "cose_key")?,
        label: get(r, "label")?,
        wire: get(r, "wire")?,
        blocked: blocked != 0,
        enrolled_at: from_db(get(r, "enrolled_at")?, "devices.enrolled_at")?,
        last_seen: opt_from_db(get(r, "last_seen")?, "devices.last_seen")?,
        last_error_code: opt_from_db(get(r, "last_error_code")?, "devices.last_error_code")?,
        last_error_msg: get(r, "last_error_msg")?,
        last_error_at: opt_from_db(get(r, "last_error_at")?, "devices.last_error_at")?,
    })
}

fn policy_row(r: &AnyRow) -> Result<PolicyRow, StoreError> {
    let action: String = get(r, "action")?;
    Ok(PolicyRow {
        device: get(r, "device")?,
        component_id: get(r, "component_id")?,
        action: PolicyAction::parse(&action)?,
        min_sequence: from_db(get(r, "min_sequence")?, "device_policy.min_sequence")?,
    })
}

async fn upsert_component(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    thumbprint: &[u8],
    c: &ComponentRow,
) -> Result<(), StoreError> {
    let seq = c.sequence_number.map(|s| to_db(s, "sequence number")).transpose()?;
    sqlx::query(
        "INSERT INTO device_components (device, component_id, sequence_number, digest, \
         updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (device, component_id) DO UPDATE \
         SET sequence_number = excluded.sequence_number, digest = excluded.digest, \
         updated_at = excluded.updated_at",
    )
    .bind(thumbprint)
    .bind(&c.component_id)
    .bind(seq)
    .bind(c.digest.as_deref())
    .bind(to_db(c.updated_at, "time")?)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
