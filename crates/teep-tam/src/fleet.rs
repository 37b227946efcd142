//! Fleet administration: device groups, group policy, staged rollouts, retired catalog
//! versions, the enrolment allow and block lists, X.509 enrolment and paged device history.
//!
//! These are further [`Admin`] methods. Each checks the actor (contracts of issue 5):
//! the operator may do everything; a device administrator only works on groups it owns, the
//! devices in them, and the policies and rollouts that target them (it may not create
//! all-devices rules or rollouts, nor put a device into its groups that is not already in
//! one of them: the operator assigns devices to device administrators); a Trusted Component
//! developer may retire versions its own signers authenticated and nothing else here. Every
//! change is appended to the audit log after it succeeded.
//!
//! How rules of several groups combine, how rollouts select devices and hold versions back,
//! and what pausing and aborting mean are described in [`crate::policy`].

use crate::actor::Role;
use crate::admin::{Admin, PolicyTarget, check_name};
use crate::component::ComponentKey;
use crate::config::Wire;
use crate::error::AdminError;
use crate::store::{
    AdmissionEntry, DeviceCertRow, DeviceProgress, DeviceRow, EventRow, FULL_SHARE, GroupRow,
    RolloutRow, RolloutSelection, RolloutState, SETTING_ALLOW_REQUEST, group_target,
};
use crate::x509::ManufacturerCas;

/// Which devices a new rollout selects within its target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RolloutSpec {
    /// A deterministic share of the target, in basis points (2500 = 25 %).
    Percent(u32),
    /// These devices (which must be in the target).
    Devices(Vec<[u8; 32]>),
}

/// Progress of one rollout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolloutProgress {
    /// The rollout.
    pub rollout: RolloutRow,
    /// Devices of the target it selects now.
    pub selected: u64,
    /// Selected devices that neither installed nor failed yet (offered or not).
    pub pending: u64,
    /// Devices offered the version without an outcome yet.
    pub offered: u64,
    /// Devices that have the version (or a later one).
    pub installed: u64,
    /// Devices that failed, with the reason.
    pub failed: Vec<([u8; 32], String)>,
}

/// The enrolment list an entry belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdmissionList {
    /// When not empty, automatic enrolment admits only Agents matching an entry.
    Allow,
    /// Agents matching an entry are refused (a thumbprint entry also blocks the enrolled
    /// device).
    Block,
}

impl AdmissionList {
    /// `allow` or `block`.
    pub fn as_str(self) -> &'static str {
        match self {
            AdmissionList::Allow => "allow",
            AdmissionList::Block => "block",
        }
    }
}

/// What an allow or block list entry matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdmissionRule {
    /// One Agent key, by RFC 9679 thumbprint.
    Thumbprint([u8; 32]),
    /// Certificate subject names, written `CN=device-0042, O=Acme` (attributes in
    /// certificate order); `*` matches any run of characters.
    Subject(String),
    /// Certificate issuer names (same pattern form).
    Issuer(String),
}

impl AdmissionRule {
    fn parts(&self) -> (&'static str, String) {
        match self {
            AdmissionRule::Thumbprint(t) => ("thumbprint", hex::encode(t)),
            AdmissionRule::Subject(p) => ("subject", p.clone()),
            AdmissionRule::Issuer(p) => ("issuer", p.clone()),
        }
    }
}

/// Decides whether an Agent may be enrolled automatically or by certificate: refused when a
/// block entry matches its thumbprint (hex), certificate subject or issuer; otherwise
/// admitted when the allow list is empty or an allow entry matches. `Err` says why not.
pub fn admission_verdict(
    entries: &[AdmissionEntry],
    thumbprint_hex: &str,
    subject: Option<&str>,
    issuer: Option<&str>,
) -> Result<(), String> {
    let matches = |e: &AdmissionEntry| match e.kind.as_str() {
        "thumbprint" => e.pattern.eq_ignore_ascii_case(thumbprint_hex),
        "subject" => subject.is_some_and(|s| glob_match(&e.pattern, s)),
        "issuer" => issuer.is_some_and(|s| glob_match(&e.pattern, s)),
        _ => false,
    };
    if let Some(e) = entries.iter().find(|e| e.list == "block" && matches(e)) {
        return Err(format!("on the enrolment block list ({} {})", e.kind, e.pattern));
    }
    let allow: Vec<_> = entries.iter().filter(|e| e.list == "allow").collect();
    if allow.is_empty() || allow.iter().any(|e| matches(e)) {
        Ok(())
    } else {
        Err("not on the enrolment allow list".into())
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn forbidden(admin: &Admin, what: &str) -> AdminError {
    AdminError::Forbidden(format!("{} may not {what}", admin.actor()))
}

fn thumbprint(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0_u8; 32];
    if bytes.len() == 32 {
        out.copy_from_slice(bytes);
    }
    out
}

impl Admin {
    // ----- authorisation helpers -----

    /// The group, if the actor may administer it: the operator any group, a device
    /// administrator the groups it owns. Another owner's group is reported as not found, like
    /// a missing one (as [`Admin::check_device`] does for devices: no existence leak).
    async fn owned_group(&self, name: &str) -> Result<GroupRow, AdminError> {
        if self.actor().role == Role::Developer {
            return Err(forbidden(self, "administer device groups"));
        }
        let group = self.store().group(name).await?.ok_or(AdminError::NotFound("group"))?;
        if self.actor().is_operator() || group.owner.as_deref() == Some(&self.actor().name) {
            Ok(group)
        } else {
            Err(AdminError::NotFound("group"))
        }
    }

    /// Refuses unless the actor may administer `device`: the operator always; a device
    /// administrator when the device is in one of its groups ([`Admin::check_device`]).
    pub async fn authorize_device(&self, device: &[u8]) -> Result<(), AdminError> {
        self.check_device(device).await
    }

    /// Refuses unless the actor may set policy for (or roll out to) `target`
    /// ([`Admin::check_target`]); a group target must also exist, whoever asks.
    pub async fn authorize_target(&self, target: &PolicyTarget) -> Result<(), AdminError> {
        if let PolicyTarget::Group(name) = target {
            return self.owned_group(name).await.map(|_| ());
        }
        self.check_target(target).await
    }

    /// [`Admin::authorize_target`] for a stored target string (`*`, `group:<name>`, hex).
    async fn authorize_stored_target(&self, target: &str) -> Result<(), AdminError> {
        if self.actor().is_operator() {
            return Ok(());
        }
        match target.strip_prefix(crate::store::GROUP_TARGET_PREFIX) {
            Some(name) => self.owned_group(name).await.map(|_| ()),
            None if target == "*" => Err(forbidden(self, "target all devices")),
            None => match hex::decode(target) {
                Ok(t) => self.authorize_device(&t).await,
                Err(_) => Err(forbidden(self, "administer this target")),
            },
        }
    }

    // ----- groups -----

    /// Creates a device group. The operator may name any `owner` (a device-admin principal;
    /// `None`: the operator); a device administrator creates groups it owns (`owner` must be
    /// `None` or itself).
    pub async fn create_group(
        &self,
        name: &str,
        owner: Option<&str>,
        now: u64,
    ) -> Result<GroupRow, AdminError> {
        check_name(name).map_err(|_| {
            AdminError::InvalidArgument(
                "group name must have 1 to 64 printable characters, without control characters",
            )
        })?;
        let owner = match self.actor().role {
            Role::Operator => owner.map(str::to_owned),
            Role::DeviceAdmin => match owner {
                None => Some(self.actor().name.clone()),
                Some(o) if o == self.actor().name => Some(o.to_owned()),
                Some(_) => return Err(forbidden(self, "create groups for someone else")),
            },
            Role::Developer => return Err(forbidden(self, "create device groups")),
        };
        if let Some(owner) = &owner
            && self.actor().is_operator()
        {
            check_name(owner)
                .map_err(|_| AdminError::InvalidArgument("owner must be a principal name"))?;
            // Like a signer's owner: a group's owner must be able to administer it (a device
            // administrator creating its own group is that principal).
            let principal = self.store().principal(owner).await?;
            if principal.is_none_or(|p| p.disabled || p.role != Role::DeviceAdmin.as_str()) {
                return Err(AdminError::InvalidArgument(
                    "a group's owner must be an existing, enabled device-admin principal \
                     (omit the owner for an operator-owned group)",
                ));
            }
        }
        if !self.store().create_group(name, owner.as_deref(), now).await? {
            return Err(AdminError::Exists("group"));
        }
        self.audit(
            "group.create",
            name,
            &format!("owner {}", owner.as_deref().unwrap_or("-")),
            now,
        )
        .await?;
        self.store().group(name).await?.ok_or(AdminError::NotFound("group"))
    }

    /// Deletes a group with its memberships and policy rules. Refused while a running or
    /// paused rollout targets it (abort or complete it first).
    pub async fn delete_group(&self, name: &str, now: u64) -> Result<(), AdminError> {
        self.owned_group(name).await?;
        let target = group_target(name);
        let active = self.store().rollouts().await?.into_iter().any(|r| {
            r.target == target && matches!(r.state, RolloutState::Running | RolloutState::Paused)
        });
        if active {
            return Err(AdminError::InvalidArgument(
                "a running or paused rollout targets this group; abort or complete it first",
            ));
        }
        if !self.store().delete_group(name).await? {
            return Err(AdminError::NotFound("group"));
        }
        self.audit("group.delete", name, "", now).await
    }

    /// The groups the actor may see: all for the operator, its own for a device
    /// administrator.
    pub async fn groups(&self) -> Result<Vec<GroupRow>, AdminError> {
        match self.actor().role {
            Role::Operator => Ok(self.store().groups(None).await?),
            Role::DeviceAdmin => Ok(self.store().groups(Some(&self.actor().name)).await?),
            Role::Developer => Err(forbidden(self, "list device groups")),
        }
    }

    /// One group.
    pub async fn group(&self, name: &str) -> Result<GroupRow, AdminError> {
        self.owned_group(name).await
    }

    /// The members of a group (thumbprints).
    pub async fn group_devices(&self, name: &str) -> Result<Vec<[u8; 32]>, AdminError> {
        self.owned_group(name).await?;
        Ok(self.store().group_members(name).await?.iter().map(|d| thumbprint(d)).collect())
    }

    /// The groups a device is in (those the actor may see).
    pub async fn device_groups(&self, device: &[u8; 32]) -> Result<Vec<String>, AdminError> {
        self.authorize_device(device).await?;
        let mut out = Vec::new();
        for name in self.store().groups_of(device).await? {
            if self.owned_group(&name).await.is_ok() {
                out.push(name);
            }
        }
        Ok(out)
    }

    /// Adds an enrolled device to a group. A device administrator may only add devices
    /// already in one of its groups.
    pub async fn add_group_device(
        &self,
        group: &str,
        device: &[u8; 32],
        now: u64,
    ) -> Result<(), AdminError> {
        self.owned_group(group).await?;
        if self.store().device(device).await?.is_none() {
            return Err(AdminError::NotFound("device"));
        }
        self.authorize_device(device).await?;
        if !self.store().add_group_member(group, device, now).await? {
            return Err(AdminError::Exists("group membership"));
        }
        self.audit("group.add-device", group, &hex::encode(device), now).await
    }

    /// Removes a device from a group.
    pub async fn remove_group_device(
        &self,
        group: &str,
        device: &[u8; 32],
        now: u64,
    ) -> Result<(), AdminError> {
        self.owned_group(group).await?;
        if !self.store().remove_group_member(group, device).await? {
            return Err(AdminError::NotFound("group membership"));
        }
        self.audit("group.remove-device", group, &hex::encode(device), now).await
    }

    /// Whether the group's members have their requested-tc-list (RequestTA) honoured:
    /// `Some(true)`/`Some(false)` override the TAM-wide setting, `None` follows it.
    pub async fn set_group_allow_request(
        &self,
        group: &str,
        allow: Option<bool>,
        now: u64,
    ) -> Result<(), AdminError> {
        self.owned_group(group).await?;
        if !self.store().set_group_allow_request(group, allow).await? {
            return Err(AdminError::NotFound("group"));
        }
        let detail = match allow {
            Some(true) => "allow",
            Some(false) => "refuse",
            None => "inherit",
        };
        self.audit("group.allow-request", group, detail, now).await
    }

    /// The TAM-wide setting for honouring requested-tc-list (default: honoured).
    pub async fn allow_request(&self) -> Result<bool, AdminError> {
        Ok(self.store().setting(SETTING_ALLOW_REQUEST).await?.is_none_or(|v| v != "false"))
    }

    /// Sets the TAM-wide setting for honouring requested-tc-list (operator only).
    pub async fn set_allow_request(&self, allow: bool, now: u64) -> Result<(), AdminError> {
        self.require_operator()?;
        let value = if allow { "true" } else { "false" };
        self.store().set_setting(SETTING_ALLOW_REQUEST, value).await?;
        self.audit("policy.allow-request", "*", value, now).await
    }

    // ----- rollouts -----

    /// Starts a rollout of catalog version `sequence_number` of `component` to `target` (all
    /// devices or a group), selecting a share of it or listed devices. The version must be
    /// in the catalog and not retired.
    pub async fn create_rollout(
        &self,
        id: &str,
        component: &ComponentKey,
        sequence_number: u64,
        target: &PolicyTarget,
        spec: &RolloutSpec,
        now: u64,
    ) -> Result<RolloutRow, AdminError> {
        check_name(id).map_err(|_| {
            AdminError::InvalidArgument(
                "rollout id must have 1 to 64 printable characters, without control characters",
            )
        })?;
        if matches!(target, PolicyTarget::Device(_)) {
            return Err(AdminError::InvalidArgument(
                "a rollout targets all devices or a group; list devices with an explicit \
                 device selection",
            ));
        }
        self.authorize_target(target).await?;
        let component_id = match self.store().resolve_alias(component.as_cbor()).await? {
            Some(manifest_id) => manifest_id,
            None => component.as_cbor().to_vec(),
        };
        match self.store().tc_retired(&component_id, sequence_number).await? {
            None => return Err(AdminError::NotFound("catalog version")),
            Some(true) => {
                return Err(AdminError::InvalidArgument("that catalog version is retired"));
            }
            Some(false) => {}
        }
        let (selection, devices) = match spec {
            RolloutSpec::Percent(bp) if *bp <= FULL_SHARE => {
                (RolloutSelection::Percent { basis_points: *bp }, Vec::new())
            }
            RolloutSpec::Percent(_) => {
                return Err(AdminError::InvalidArgument("a share is at most 100 %"));
            }
            RolloutSpec::Devices(list) if list.is_empty() => {
                return Err(AdminError::InvalidArgument("an explicit rollout needs devices"));
            }
            RolloutSpec::Devices(list) => {
                let members = match target {
                    PolicyTarget::Group(g) => Some(self.store().group_members(g).await?),
                    _ => None,
                };
                for d in list {
                    if self.store().device(d).await?.is_none() {
                        return Err(AdminError::NotFound("device"));
                    }
                    if members.as_ref().is_some_and(|m| !m.iter().any(|x| x == d)) {
                        return Err(AdminError::InvalidArgument(
                            "every listed device must be a member of the target group",
                        ));
                    }
                }
                (RolloutSelection::Devices, list.iter().map(|d| d.to_vec()).collect())
            }
        };
        let row = RolloutRow {
            id: id.to_owned(),
            component_id,
            sequence_number,
            target: target.column(),
            selection,
            state: RolloutState::Running,
            created_by: self.actor().name.clone(),
            created_at: now,
            updated_at: now,
        };
        if !self.store().create_rollout(&row, &devices).await? {
            return Err(AdminError::Exists("rollout"));
        }
        let share = match selection {
            RolloutSelection::Percent { basis_points } => format!("{basis_points} bp"),
            RolloutSelection::Devices => format!("{} devices", devices.len()),
        };
        let detail = format!("{component}@{sequence_number} to {} ({share})", row.target);
        self.audit("rollout.create", id, &detail, now).await?;
        Ok(row)
    }

    async fn owned_rollout(&self, id: &str) -> Result<RolloutRow, AdminError> {
        if self.actor().role == Role::Developer {
            return Err(forbidden(self, "administer rollouts"));
        }
        let row = self.store().rollout(id).await?.ok_or(AdminError::NotFound("rollout"))?;
        self.authorize_stored_target(&row.target).await?;
        Ok(row)
    }

    async fn move_rollout(
        &self,
        id: &str,
        from: &[RolloutState],
        to: RolloutState,
        action: &str,
        refusal: &'static str,
        now: u64,
    ) -> Result<(), AdminError> {
        self.owned_rollout(id).await?;
        if !self.store().set_rollout_state(id, from, to, now).await? {
            return Err(AdminError::InvalidArgument(refusal));
        }
        self.audit(action, id, to.as_str(), now).await
    }

    /// Pauses a running rollout: devices that have not started are offered nothing new.
    pub async fn pause_rollout(&self, id: &str, now: u64) -> Result<(), AdminError> {
        let refusal = "only a running rollout can be paused";
        let (from, to) = (&[RolloutState::Running][..], RolloutState::Paused);
        self.move_rollout(id, from, to, "rollout.pause", refusal, now).await
    }

    /// Resumes a paused rollout.
    pub async fn resume_rollout(&self, id: &str, now: u64) -> Result<(), AdminError> {
        let refusal = "only a paused rollout can be resumed";
        let (from, to) = (&[RolloutState::Paused][..], RolloutState::Running);
        self.move_rollout(id, from, to, "rollout.resume", refusal, now).await
    }

    /// Aborts a running or paused rollout: its version is offered to nobody any more;
    /// devices that installed it keep it (SUIT rollback protection forbids a downgrade).
    pub async fn abort_rollout(&self, id: &str, now: u64) -> Result<(), AdminError> {
        let refusal = "only a running or paused rollout can be aborted";
        let from = &[RolloutState::Running, RolloutState::Paused][..];
        self.move_rollout(id, from, RolloutState::Aborted, "rollout.abort", refusal, now).await
    }

    /// Completes a running or paused rollout: its version becomes the desired version for
    /// the whole target.
    pub async fn complete_rollout(&self, id: &str, now: u64) -> Result<(), AdminError> {
        let refusal = "only a running or paused rollout can be completed";
        let from = &[RolloutState::Running, RolloutState::Paused][..];
        self.move_rollout(id, from, RolloutState::Completed, "rollout.complete", refusal, now).await
    }

    /// Raises the share of a running or paused percentage rollout (lowering is refused: the
    /// devices already selected may have installed the version).
    pub async fn raise_rollout_share(
        &self,
        id: &str,
        basis_points: u32,
        now: u64,
    ) -> Result<(), AdminError> {
        self.owned_rollout(id).await?;
        if basis_points > FULL_SHARE {
            return Err(AdminError::InvalidArgument("a share is at most 100 %"));
        }
        if !self.store().raise_rollout_share(id, basis_points, now).await? {
            return Err(AdminError::InvalidArgument(
                "only the share of a running or paused percentage rollout can be raised, \
                 never lowered",
            ));
        }
        self.audit("rollout.share", id, &format!("{basis_points} bp"), now).await
    }

    /// The rollouts the actor may see.
    pub async fn rollouts(&self) -> Result<Vec<RolloutRow>, AdminError> {
        if self.actor().role == Role::Developer {
            return Err(forbidden(self, "list rollouts"));
        }
        let mut out = Vec::new();
        for row in self.store().rollouts().await? {
            if self.authorize_stored_target(&row.target).await.is_ok() {
                out.push(row);
            }
        }
        Ok(out)
    }

    /// One rollout.
    pub async fn rollout(&self, id: &str) -> Result<RolloutRow, AdminError> {
        self.owned_rollout(id).await
    }

    /// The devices a rollout selects now (its target's members in its share, or its list).
    pub async fn rollout_selected(&self, row: &RolloutRow) -> Result<Vec<[u8; 32]>, AdminError> {
        let members: Vec<Vec<u8>> = match row.target.strip_prefix(crate::store::GROUP_TARGET_PREFIX)
        {
            Some(group) => self.store().group_members(group).await?,
            None => self.store().devices().await?.into_iter().map(|d| d.thumbprint).collect(),
        };
        let chosen: Vec<Vec<u8>> = match row.selection {
            RolloutSelection::Percent { basis_points } => members
                .into_iter()
                .filter(|d| crate::policy::selected(&row.id, d, basis_points))
                .collect(),
            RolloutSelection::Devices => {
                let listed = self.store().rollout_targets(&row.id).await?;
                members.into_iter().filter(|d| listed.contains(d)).collect()
            }
        };
        Ok(chosen.iter().map(|d| thumbprint(d)).collect())
    }

    /// Progress of one rollout: selected, pending, offered, installed and failed devices
    /// (with reasons), derived from the per-device rows.
    pub async fn rollout_progress(&self, id: &str) -> Result<RolloutProgress, AdminError> {
        let rollout = self.owned_rollout(id).await?;
        let selected = self.rollout_selected(&rollout).await?;
        let rows = self.store().rollout_devices(id).await?;
        let mut offered = 0;
        let mut installed = 0;
        let mut failed = Vec::new();
        for r in &rows {
            match r.state {
                DeviceProgress::Offered => offered += 1,
                DeviceProgress::Installed => installed += 1,
                DeviceProgress::Failed => {
                    failed.push((thumbprint(&r.device), r.reason.clone().unwrap_or_default()));
                }
            }
        }
        let done: std::collections::BTreeSet<&[u8]> = rows
            .iter()
            .filter(|r| r.state != DeviceProgress::Offered)
            .map(|r| r.device.as_slice())
            .collect();
        let pending = selected.iter().filter(|d| !done.contains(d.as_slice())).count();
        Ok(RolloutProgress {
            selected: selected.len() as u64,
            pending: pending as u64,
            offered,
            installed,
            failed,
            rollout,
        })
    }

    // ----- catalog: retiring versions -----

    /// Retires (or, with `retired = false`, reinstates) one catalog version: a retired
    /// version is never offered again; devices are offered the newest version that is not.
    /// The operator may retire any version, a developer those its own signers authenticated.
    pub async fn retire_tc(
        &self,
        id: &ComponentKey,
        sequence_number: u64,
        retired: bool,
        now: u64,
    ) -> Result<(), AdminError> {
        let component_id = match self.store().resolve_alias(id.as_cbor()).await? {
            Some(manifest_id) => manifest_id,
            None => id.as_cbor().to_vec(),
        };
        let tc = self
            .store()
            .tc_version(&component_id, sequence_number)
            .await?
            .ok_or(AdminError::NotFound("catalog version"))?;
        match self.actor().role {
            Role::Operator => {}
            Role::DeviceAdmin => return Err(forbidden(self, "change the catalog")),
            Role::Developer => {
                let signers = self.store().signers().await?;
                let owner =
                    signers.iter().find(|s| s.name == tc.signer).and_then(|s| s.owner.clone());
                if owner.as_deref() != Some(&self.actor().name) {
                    return Err(forbidden(self, "retire a component another signer authenticated"));
                }
            }
        }
        self.store().set_tc_retired(&component_id, sequence_number, retired).await?;
        let action = if retired { "tc.retire" } else { "tc.unretire" };
        self.audit(action, &format!("{id}@{sequence_number}"), "", now).await
    }

    /// The retired catalog versions, as (component, sequence number).
    pub async fn retired_tcs(&self) -> Result<Vec<(ComponentKey, u64)>, AdminError> {
        Ok(self
            .store()
            .retired_tcs()
            .await?
            .into_iter()
            .filter_map(|(id, seq)| ComponentKey::from_cbor(&id).ok().map(|k| (k, seq)))
            .collect())
    }

    // ----- enrolment allow and block lists -----

    /// Adds an allow or block list entry (operator only). A blocked thumbprint also blocks
    /// the enrolled device with that key.
    pub async fn add_admission(
        &self,
        list: AdmissionList,
        rule: &AdmissionRule,
        now: u64,
    ) -> Result<(), AdminError> {
        self.require_operator()?;
        let (kind, pattern) = rule.parts();
        if pattern.is_empty() || pattern.chars().any(char::is_control) || pattern.len() > 1024 {
            return Err(AdminError::InvalidArgument(
                "pattern must have 1 to 1024 bytes, without control characters",
            ));
        }
        let entry = AdmissionEntry {
            list: list.as_str().into(),
            kind: kind.into(),
            pattern,
            added_at: now,
        };
        if !self.store().add_admission(&entry).await? {
            return Err(AdminError::Exists("list entry"));
        }
        if let (AdmissionList::Block, AdmissionRule::Thumbprint(t)) = (list, rule) {
            self.store().set_blocked(t, true).await?;
        }
        let action = format!("admission.{}", list.as_str());
        self.audit(&action, &entry.pattern, kind, now).await
    }

    /// Removes an allow or block list entry (operator only). Removing a blocked thumbprint
    /// also unblocks the enrolled device.
    pub async fn remove_admission(
        &self,
        list: AdmissionList,
        rule: &AdmissionRule,
        now: u64,
    ) -> Result<(), AdminError> {
        self.require_operator()?;
        let (kind, pattern) = rule.parts();
        if !self.store().remove_admission(list.as_str(), kind, &pattern).await? {
            return Err(AdminError::NotFound("list entry"));
        }
        if let (AdmissionList::Block, AdmissionRule::Thumbprint(t)) = (list, rule) {
            self.store().set_blocked(t, false).await?;
        }
        let action = format!("admission.un{}", list.as_str());
        self.audit(&action, &pattern, kind, now).await
    }

    /// Both lists (operator only).
    pub async fn admission_list(&self) -> Result<Vec<AdmissionEntry>, AdminError> {
        self.require_operator()?;
        Ok(self.store().admission_list().await?)
    }

    // ----- X.509 enrolment -----

    /// Enrols a device by a certificate chain (PEM, device certificate first) that chains to
    /// one of `cas` at time `now`; the device is named by the thumbprint of the certified
    /// key. Refused when the chain does not verify (expired, untrusted, wrong key type) or
    /// the allow and block lists refuse its key, subject or issuer. Operator only.
    pub async fn enroll_device_x509(
        &self,
        chain: &[u8],
        cas: &ManufacturerCas,
        label: Option<&str>,
        wire: Wire,
        now: u64,
    ) -> Result<DeviceRow, AdminError> {
        self.require_operator()?;
        let verified = cas.verify(chain, now).map_err(|reason| {
            AdminError::InvalidKey(format!("device certificate refused: {reason}"))
        })?;
        let tp = verified.key.thumbprint();
        let entries = self.store().admission_list().await?;
        admission_verdict(
            &entries,
            &hex::encode(tp),
            Some(&verified.subject),
            Some(&verified.issuer),
        )
        .map_err(|reason| AdminError::Forbidden(format!("device {}: {reason}", hex::encode(tp))))?;
        if let Some(label) = label {
            check_name(label).map_err(|_| {
                AdminError::InvalidArgument(
                    "device label must have 1 to 64 printable characters, without control \
                     characters",
                )
            })?;
        }
        let row = DeviceRow {
            thumbprint: tp.to_vec(),
            cose_key: verified.key.to_cose_key(),
            label: label.map(str::to_owned),
            wire: wire.as_str().to_owned(),
            blocked: false,
            enrolled_at: now,
            last_seen: None,
            last_error_code: None,
            last_error_msg: None,
            last_error_at: None,
        };
        if !self.store().enroll_device(&row).await? {
            return Err(AdminError::Exists("device"));
        }
        self.store()
            .set_device_certificate(&DeviceCertRow {
                thumbprint: tp.to_vec(),
                subject: verified.subject.clone(),
                issuer: verified.issuer.clone(),
                not_after: verified.not_after,
                certificate: verified.certificate,
            })
            .await?;
        self.audit(
            "device.enroll",
            &hex::encode(tp),
            &format!("x509 subject {}", verified.subject),
            now,
        )
        .await?;
        Ok(row)
    }

    /// The certificate a device was enrolled with, if any.
    pub async fn device_certificate(
        &self,
        device: &[u8; 32],
    ) -> Result<Option<DeviceCertRow>, AdminError> {
        self.authorize_device(device).await?;
        Ok(self.store().device_certificate(device).await?)
    }

    // ----- history -----

    /// One page of a device's session history, newest first: at most `limit` (1 to 1000)
    /// entries older than the entry id `before` (the first page: `None`). The next page
    /// starts before the last entry's id.
    pub async fn device_history(
        &self,
        device: &[u8; 32],
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<EventRow>, AdminError> {
        self.authorize_device(device).await?;
        if !(1..=1000).contains(&limit) {
            return Err(AdminError::InvalidArgument("limit must be 1 to 1000"));
        }
        Ok(self.store().events_page(Some(device), limit, before).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(list: &str, kind: &str, pattern: &str) -> AdmissionEntry {
        AdmissionEntry {
            list: list.into(),
            kind: kind.into(),
            pattern: pattern.into(),
            added_at: 0,
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("CN=dev-*,O=Acme", "CN=dev-42,O=Acme"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b", "aXXc"));
        assert!(!glob_match("CN=dev", "CN=dev-1"));
    }

    #[test]
    fn block_beats_allow_and_allow_list_restricts() {
        let tp = "ab".repeat(32);
        assert!(admission_verdict(&[], &tp, None, None).is_ok());
        let lists = [entry("allow", "subject", "CN=dev-*"), entry("block", "issuer", "CN=Bad CA")];
        assert!(admission_verdict(&lists, &tp, Some("CN=dev-1"), Some("CN=Good CA")).is_ok());
        let refused = admission_verdict(&lists, &tp, Some("CN=dev-1"), Some("CN=Bad CA"));
        assert!(refused.unwrap_err().contains("block list"));
        let refused = admission_verdict(&lists, &tp, None, None);
        assert!(refused.unwrap_err().contains("allow list"));
        let by_key = [entry("allow", "thumbprint", &tp.to_uppercase())];
        assert!(admission_verdict(&by_key, &tp, None, None).is_ok());
    }
}
