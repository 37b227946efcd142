//! Rollouts and their per-device progress.
//!
//! Progress is never kept as counters: every TAM process writes one row per (rollout,
//! device) with idempotent upserts that only move forward (offered → failed → installed,
//! offered → installed; a failed device that later installs becomes installed, an installed
//! one never changes), and the counts are derived from those rows. Two processes serving the
//! same device at once therefore cannot make a count drift.

use super::{Store, from_db, get, to_db};
use crate::error::StoreError;

/// Lifecycle of a rollout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RolloutState {
    /// Selected devices are offered the version.
    Running,
    /// Only devices that already started (were offered it) continue.
    Paused,
    /// Nobody is offered the version any more; devices that installed it keep it.
    Aborted,
    /// The version is the desired version for the whole target and no longer held back.
    Completed,
}

impl RolloutState {
    /// `running`, `paused`, `aborted` or `completed`.
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutState::Running => "running",
            RolloutState::Paused => "paused",
            RolloutState::Aborted => "aborted",
            RolloutState::Completed => "completed",
        }
    }

    /// Parses [`RolloutState::as_str`]'s names.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "running" => Some(RolloutState::Running),
            "paused" => Some(RolloutState::Paused),
            "aborted" => Some(RolloutState::Aborted),
            "completed" => Some(RolloutState::Completed),
            _ => None,
        }
    }
}

/// Which devices of the target a rollout selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RolloutSelection {
    /// A deterministic share of the target, in basis points (0 to 10000 = 0 % to 100 %):
    /// see [`crate::policy::selected`].
    Percent {
        /// Hundredths of a percent.
        basis_points: u32,
    },
    /// The devices listed with the rollout.
    Devices,
}

/// Largest share: 100 %.
pub const FULL_SHARE: u32 = 10_000;

/// A rollout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolloutRow {
    /// Unique name.
    pub id: String,
    /// CBOR component id (the catalog manifest's name).
    pub component_id: Vec<u8>,
    /// The catalog version rolled out.
    pub sequence_number: u64,
    /// `*` (all devices) or `group:<name>`.
    pub target: String,
    /// How devices are selected.
    pub selection: RolloutSelection,
    /// Lifecycle state.
    pub state: RolloutState,
    /// Principal that created it.
    pub created_by: String,
    /// Creation time (Unix seconds).
    pub created_at: u64,
    /// Last state or share change (Unix seconds).
    pub updated_at: u64,
}

/// Where one device stands in a rollout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceProgress {
    /// An Update carried the version; no outcome yet.
    Offered,
    /// The device reported the version (or a later one) installed.
    Installed,
    /// The device answered the Update with an Error or a failed SUIT report.
    Failed,
}

impl DeviceProgress {
    /// `offered`, `installed` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceProgress::Offered => "offered",
            DeviceProgress::Installed => "installed",
            DeviceProgress::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "offered" => Ok(DeviceProgress::Offered),
            "installed" => Ok(DeviceProgress::Installed),
            "failed" => Ok(DeviceProgress::Failed),
            _ => Err(StoreError::Corrupt("rollout_devices.state")),
        }
    }
}

/// One device's row in a rollout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolloutDeviceRow {
    /// Rollout id.
    pub rollout: String,
    /// Device thumbprint.
    pub device: Vec<u8>,
    /// Where it stands.
    pub state: DeviceProgress,
    /// Why it failed.
    pub reason: Option<String>,
    /// When the row last changed (Unix seconds).
    pub updated_at: u64,
}

/// Per-rollout counts derived from the per-device rows (cheap enough for every metrics
/// scrape: one grouped query).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolloutCounts {
    /// Rollout id.
    pub id: String,
    /// Its state.
    pub state: RolloutState,
    /// Devices offered the version without an outcome yet.
    pub offered: u64,
    /// Devices that installed it.
    pub installed: u64,
    /// Devices that failed.
    pub failed: u64,
}

macro_rules! rollout_columns {
    () => {
        "SELECT id, component_id, sequence_number, target, selection, basis_points, state, \
         created_by, created_at, updated_at FROM rollouts"
    };
}

impl Store {
    /// Creates a rollout with its explicit device list (empty for a percentage), in one
    /// transaction. Returns false when the id is taken.
    pub async fn create_rollout(
        &self,
        row: &RolloutRow,
        devices: &[Vec<u8>],
    ) -> Result<bool, StoreError> {
        let (selection, basis_points) = match row.selection {
            RolloutSelection::Percent { basis_points } => ("percent", basis_points),
            RolloutSelection::Devices => ("devices", 0),
        };
        let mut tx = self.pool().begin().await?;
        let result = sqlx::query(
            "INSERT INTO rollouts (id, component_id, sequence_number, target, selection, \
             basis_points, state, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
        )
        .bind(&row.id)
        .bind(&row.component_id)
        .bind(to_db(row.sequence_number, "sequence number")?)
        .bind(&row.target)
        .bind(selection)
        .bind(i64::from(basis_points))
        .bind(row.state.as_str())
        .bind(&row.created_by)
        .bind(to_db(row.created_at, "time")?)
        .bind(to_db(row.updated_at, "time")?)
        .execute(&mut *tx)
        .await?;
        if result.rows_affected() != 1 {
            return Ok(false);
        }
        for device in devices {
            sqlx::query(
                "INSERT INTO rollout_targets (rollout, device) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&row.id)
            .bind(device)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// One rollout.
    pub async fn rollout(&self, id: &str) -> Result<Option<RolloutRow>, StoreError> {
        let row = sqlx::query(concat!(rollout_columns!(), " WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(rollout_row).transpose()
    }

    /// Every rollout, oldest first.
    pub async fn rollouts(&self) -> Result<Vec<RolloutRow>, StoreError> {
        let rows = sqlx::query(concat!(rollout_columns!(), " ORDER BY created_at, id"))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(rollout_row).collect()
    }

    /// The rollouts that still decide what a device is offered (every state but completed:
    /// a completed rollout holds nothing back), oldest first. Sessions read these, so the
    /// list a session loads does not grow with finished rollouts.
    pub async fn open_rollouts(&self) -> Result<Vec<RolloutRow>, StoreError> {
        let rows = sqlx::query(concat!(
            rollout_columns!(),
            " WHERE state <> 'completed' ORDER BY created_at, id"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(rollout_row).collect()
    }

    /// Moves a rollout to `to` if it is in one of `from` (one conditional statement, so two
    /// administrators racing cannot both succeed from the same state). Returns false when
    /// the rollout is absent or in another state.
    pub async fn set_rollout_state(
        &self,
        id: &str,
        from: &[RolloutState],
        to: RolloutState,
        now: u64,
    ) -> Result<bool, StoreError> {
        let mut changed = false;
        for state in from {
            let result = sqlx::query(
                "UPDATE rollouts SET state = $1, updated_at = $2 WHERE id = $3 AND state = $4",
            )
            .bind(to.as_str())
            .bind(to_db(now, "time")?)
            .bind(id)
            .bind(state.as_str())
            .execute(self.pool())
            .await?;
            changed |= result.rows_affected() > 0;
            if changed {
                break;
            }
        }
        Ok(changed)
    }

    /// Raises the share of a percentage rollout. Returns false when the rollout is absent,
    /// not a percentage, not running or paused, or already at a larger share.
    pub async fn raise_rollout_share(
        &self,
        id: &str,
        basis_points: u32,
        now: u64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE rollouts SET basis_points = $1, updated_at = $2 WHERE id = $3 \
             AND selection = 'percent' AND basis_points <= $1 \
             AND state IN ('running', 'paused')",
        )
        .bind(i64::from(basis_points))
        .bind(to_db(now, "time")?)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() > 0)
    }

    /// The explicit device list of a rollout.
    pub async fn rollout_targets(&self, id: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT device FROM rollout_targets WHERE rollout = $1 ORDER BY device",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?)
    }

    /// The rollouts whose explicit device list names `device`.
    pub async fn rollouts_listing(&self, device: &[u8]) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT rollout FROM rollout_targets WHERE device = $1")
            .bind(device)
            .fetch_all(self.pool())
            .await?)
    }

    /// Every per-device row of a rollout.
    pub async fn rollout_devices(&self, id: &str) -> Result<Vec<RolloutDeviceRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT rollout, device, state, reason, updated_at FROM rollout_devices \
             WHERE rollout = $1 ORDER BY device",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(device_row).collect()
    }

    /// The per-rollout rows of one device.
    pub async fn device_rollouts(
        &self,
        device: &[u8],
    ) -> Result<Vec<RolloutDeviceRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT rollout, device, state, reason, updated_at FROM rollout_devices \
             WHERE device = $1 ORDER BY rollout",
        )
        .bind(device)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(device_row).collect()
    }

    /// Records that an Update offered a rollout's version to a device (no change when the
    /// device already has a row).
    pub async fn mark_rollout_offered(
        &self,
        rollout: &str,
        device: &[u8],
        now: u64,
    ) -> Result<(), StoreError> {
        self.write_rollout_device(
            "INSERT INTO rollout_devices (rollout, device, state, reason, updated_at) \
             VALUES ($1, $2, 'offered', NULL, $3) ON CONFLICT DO NOTHING",
            rollout,
            device,
            now,
        )
        .await
    }

    /// Records that a device has a rollout's version (or a later one) installed.
    pub async fn mark_rollout_installed(
        &self,
        rollout: &str,
        device: &[u8],
        now: u64,
    ) -> Result<(), StoreError> {
        self.write_rollout_device(
            "INSERT INTO rollout_devices (rollout, device, state, reason, updated_at) \
             VALUES ($1, $2, 'installed', NULL, $3) ON CONFLICT (rollout, device) DO UPDATE \
             SET state = 'installed', reason = NULL, updated_at = excluded.updated_at \
             WHERE rollout_devices.state <> 'installed'",
            rollout,
            device,
            now,
        )
        .await
    }

    /// Records that a device offered a component at `sequence_number` installed it: every
    /// rollout of that component at or below that version in which the device started
    /// becomes installed for it.
    pub async fn mark_rollouts_installed_by(
        &self,
        device: &[u8],
        component_id: &[u8],
        sequence_number: u64,
        now: u64,
    ) -> Result<(), StoreError> {
        self.set_progress_up_to(
            device,
            component_id,
            sequence_number,
            DeviceProgress::Installed,
            None,
            now,
        )
        .await
    }

    /// Records that a device failed an Update carrying a component at `sequence_number`:
    /// every rollout of that component at or below that version in which the device started
    /// and has not installed becomes failed, with `reason`.
    pub async fn mark_rollouts_failed_by(
        &self,
        device: &[u8],
        component_id: &[u8],
        sequence_number: u64,
        reason: &str,
        now: u64,
    ) -> Result<(), StoreError> {
        self.set_progress_up_to(
            device,
            component_id,
            sequence_number,
            DeviceProgress::Failed,
            Some(reason),
            now,
        )
        .await
    }

    /// Runs `sql`, a write to one (rollout, device) progress row bound as `$1` rollout, `$2`
    /// device and `$3` time.
    async fn write_rollout_device(
        &self,
        sql: &'static str,
        rollout: &str,
        device: &[u8],
        now: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(sql)
            .bind(rollout)
            .bind(device)
            .bind(to_db(now, "time")?)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Sets `state` and `reason` on every not-yet-installed progress row of `device` in a
    /// rollout of `component_id` at or below `sequence_number`.
    async fn set_progress_up_to(
        &self,
        device: &[u8],
        component_id: &[u8],
        sequence_number: u64,
        state: DeviceProgress,
        reason: Option<&str>,
        now: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE rollout_devices SET state = $1, reason = $2, updated_at = $3 \
             WHERE device = $4 AND state <> 'installed' AND rollout IN \
             (SELECT id FROM rollouts WHERE component_id = $5 AND sequence_number <= $6)",
        )
        .bind(state.as_str())
        .bind(reason)
        .bind(to_db(now, "time")?)
        .bind(device)
        .bind(component_id)
        .bind(to_db(sequence_number, "sequence number")?)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Offered, installed and failed counts of every rollout, in one grouped query (for
    /// metrics: cheap however many devices there are, given the rows' primary key).
    pub async fn rollout_progress_all(&self) -> Result<Vec<RolloutCounts>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.id, r.state, \
             CAST(COALESCE(SUM(CASE WHEN d.state = 'offered' THEN 1 ELSE 0 END), 0) AS BIGINT) \
             AS offered, \
             CAST(COALESCE(SUM(CASE WHEN d.state = 'installed' THEN 1 ELSE 0 END), 0) AS BIGINT) \
             AS installed, \
             CAST(COALESCE(SUM(CASE WHEN d.state = 'failed' THEN 1 ELSE 0 END), 0) AS BIGINT) \
             AS failed \
             FROM rollouts r LEFT JOIN rollout_devices d ON d.rollout = r.id \
             GROUP BY r.id, r.state ORDER BY r.id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let state: String = get(r, "state")?;
                Ok(RolloutCounts {
                    id: get(r, "id")?,
                    state: RolloutState::parse(&state)
                        .ok_or(StoreError::Corrupt("rollouts.state"))?,
                    offered: from_db(get(r, "offered")?, "rollout count")?,
                    installed: from_db(get(r, "installed")?, "rollout count")?,
                    failed: from_db(get(r, "failed")?, "rollout count")?,
                })
            })
            .collect()
    }
}

fn rollout_row(r: &sqlx::any::AnyRow) -> Result<RolloutRow, StoreError> {
    let selection: String = get(r, "selection")?;
    let basis_points: i64 = get(r, "basis_points")?;
    let selection = match selection.as_str() {
        "percent" => RolloutSelection::Percent {
            basis_points: u32::try_from(basis_points)
                .ok()
                .filter(|b| *b <= FULL_SHARE)
                .ok_or(StoreError::Corrupt("rollouts.basis_points"))?,
        },
        "devices" => RolloutSelection::Devices,
        _ => return Err(StoreError::Corrupt("rollouts.selection")),
    };
    let state: String = get(r, "state")?;
    Ok(RolloutRow {
        id: get(r, "id")?,
        component_id: get(r, "component_id")?,
        sequence_number: from_db(get(r, "sequence_number")?, "rollouts.sequence_number")?,
        target: get(r, "target")?,
        selection,
        state: RolloutState::parse(&state).ok_or(StoreError::Corrupt("rollouts.state"))?,
        created_by: get(r, "created_by")?,
        created_at: from_db(get(r, "created_at")?, "rollouts.created_at")?,
        updated_at: from_db(get(r, "updated_at")?, "rollouts.updated_at")?,
    })
}

fn device_row(r: &sqlx::any::AnyRow) -> Result<RolloutDeviceRow, StoreError> {
    let state: String = get(r, "state")?;
    Ok(RolloutDeviceRow {
        rollout: get(r, "rollout")?,
        device: get(r, "device")?,
        state: DeviceProgress::parse(&state)?,
        reason: get(r, "reason")?,
        updated_at: from_db(get(r, "updated_at")?, "rollout_devices.updated_at")?,
    })
}
