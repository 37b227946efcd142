//! The administration API behind `teep tam signer|tc|device|policy|status`.
//!
//! Everything an operator does goes through [`Admin`], which works directly on the database,
//! so it can run while TAM processes serve (they read the same tables).
//! Adding a Trusted Component checks the signed SUIT envelope against the registered TC
//! signers (draft-ietf-teep-protocol-26 §2: the TAM only distributes manifests signed by a
//! trusted Trusted Component Signer; draft-ietf-suit-manifest-34 §8.3 authentication).

use teep_cose::PublicKey;
use teep_suit::{Envelope, TrustAnchors};

use std::collections::HashSet;

use crate::actor::{Actor, Role};
use crate::component::ComponentKey;
use crate::config::{TamConfig, Wire};
use crate::error::AdminError;
use crate::store::{
    AuditRow, ComponentRow, DeviceRow, EventRow, PolicyAction, PolicyRow, SignerRow, Store, TcRow,
};

/// Administrative operations on a TAM database.
#[derive(Clone, Debug)]
pub struct Admin {
    store: Store,
    actor: Actor,
}

/// Which devices a policy rule applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyTarget {
    /// Every device without a rule of its own for the component.
    AllDevices,
    /// One device, by Agent key thumbprint.
    Device([u8; 32]),
    /// The members of a device group, by group name (see [`crate::fleet`]).
    Group(String),
}

impl PolicyTarget {
    pub(crate) fn column(&self) -> String {
        match self {
            PolicyTarget::AllDevices => "*".to_owned(),
            PolicyTarget::Device(t) => hex::encode(t),
            PolicyTarget::Group(name) => crate::store::group_target(name),
        }
    }
}

/// A device with everything the TAM knows about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceStatus {
    /// The device row (key, label, last seen, last error).
    pub device: DeviceRow,
    /// Components the TAM believes are installed.
    pub components: Vec<ComponentRow>,
    /// The rules that apply to it.
    pub policy: Vec<PolicyRow>,
    /// Latest history entries, newest first.
    pub events: Vec<EventRow>,
    /// The last attestation outcome and its reason (None: never attested).
    pub attestation: Option<crate::store::AttestationRow>,
    /// The enrolled SUIT report key (COSE_Key), if any.
    pub report_key: Option<Vec<u8>>,
    /// Latest SUIT reports, newest first.
    pub reports: Vec<crate::store::ReportRow>,
}

impl Admin {
    /// Wraps an open store.
    /// Wraps an open store; the actor is the operator `cli` ([`Actor::cli`]).
    pub fn new(store: Store) -> Self {
        Admin { store, actor: Actor::cli() }
    }

    /// The same database, acting as `actor`: authorisation and the audit log use it.
    pub fn with_actor(&self, actor: Actor) -> Admin {
        Admin { store: self.store.clone(), actor }
    }

    /// Who this handle acts as.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// A refusal naming the actor and what it may not do.
    fn forbidden(&self, what: &str) -> AdminError {
        AdminError::Forbidden(format!("{} may not {what}", self.actor))
    }

    /// Refuses unless the actor is an operator.
    pub fn require_operator(&self) -> Result<(), AdminError> {
        if self.actor.is_operator() {
            Ok(())
        } else {
            Err(AdminError::Forbidden(format!(
                "{} may not do this; it needs the operator role",
                self.actor
            )))
        }
    }

    /// Appends `action` on `target` to the audit log, as this handle's actor. Call it after
    /// the change succeeded; `detail` must not hold secrets.
    pub async fn audit(
        &self,
        action: &str,
        target: &str,
        detail: &str,
        now: u64,
    ) -> Result<(), AdminError> {
        let row = AuditRow {
            id: 0,
            at: now,
            actor: self.actor.name.clone(),
            role: self.actor.role.as_str().to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
            detail: detail.to_owned(),
        };
        Ok(self.store.record_audit(&row).await?)
    }

    /// The latest `limit` audit entries, newest first (only `actor`'s when given).
    pub async fn audit_log(
        &self,
        actor: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditRow>, AdminError> {
        self.require_operator()?;
        Ok(self.store.audit_log(actor, limit).await?)
    }

    /// Opens the database named by `config` (creating the state directory and schema).
    pub async fn connect(config: &TamConfig) -> Result<Self, AdminError> {
        if config.database_url.is_none() {
            std::fs::create_dir_all(&config.state_dir)
                .map_err(|_| AdminError::InvalidArgument("cannot create the state directory"))?;
        }
        let store = Store::connect(&config.database_url(), config.max_db_connections).await?;
        Ok(Admin::new(store))
    }

    /// The underlying store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Registers a TC signer key given as SPKI PEM, JWK or COSE_Key bytes. A developer's
    /// signer is owned by the developer; an operator's by the operator (see
    /// [`Admin::add_signer_owned`] to give it to a developer).
    pub async fn add_signer(
        &self,
        name: &str,
        key: &[u8],
        now: u64,
    ) -> Result<SignerRow, AdminError> {
        self.add_signer_owned(name, key, None, now).await
    }

    /// Registers a TC signer key owned by `owner` (a developer principal; `None`: the actor
    /// itself when it is a developer, else the operator). Only an operator may name another
    /// owner.
    pub async fn add_signer_owned(
        &self,
        name: &str,
        key: &[u8],
        owner: Option<&str>,
        now: u64,
    ) -> Result<SignerRow, AdminError> {
        let owner = match self.actor.role {
            Role::Operator => owner.map(str::to_owned),
            Role::Developer => match owner {
                None => Some(self.actor.name.clone()),
                Some(o) if o == self.actor.name => Some(o.to_owned()),
                Some(_) => {
                    return Err(self.forbidden("give a signer to another principal"));
                }
            },
            Role::DeviceAdmin => return Err(self.forbidden("add TC signers")),
        };
        check_name(name).map_err(|_| {
            AdminError::InvalidArgument(
                "signer name must have 1 to 64 printable characters, without control characters",
            )
        })?;
        let key = parse_public_key(key)?;
        if let Some(owner) = &owner {
            let principal = self.store.principal(owner).await?;
            if principal.is_none_or(|p| p.role != Role::Developer.as_str()) {
                return Err(AdminError::InvalidArgument(
                    "a signer's owner must be an existing developer principal",
                ));
            }
        }
        let row = SignerRow {
            name: name.to_owned(),
            cose_key: key.to_cose_key(),
            thumbprint: key.thumbprint().to_vec(),
            added_at: now,
            owner,
        };
        // The same answer whether the name or the key is taken, and never the owner: a
        // public key can be registered once, but whose signer it is stays private.
        if !self.store.add_signer(&row).await? {
            return Err(AdminError::Exists("signer name or key"));
        }
        let detail = match &row.owner {
            Some(owner) => format!("owner {owner}, key {}", hex::encode(&row.thumbprint)),
            None => format!("key {}", hex::encode(&row.thumbprint)),
        };
        self.audit("signer.add", name, &detail, now).await?;
        Ok(row)
    }

    /// Lists the TC signers the actor may see: all for an operator, its own for a developer.
    pub async fn signers(&self) -> Result<Vec<SignerRow>, AdminError> {
        let all = self.store.signers().await?;
        match self.actor.role {
            Role::Operator => Ok(all),
            Role::Developer => Ok(all.into_iter().filter(|s| self.owns(s)).collect()),
            Role::DeviceAdmin => Err(self.forbidden("see TC signers")),
        }
    }

    /// Whether the actor owns `signer` (an operator owns every signer).
    fn owns(&self, signer: &SignerRow) -> bool {
        self.actor.is_operator() || signer.owner.as_deref() == Some(self.actor.name.as_str())
    }

    /// The names of the signers the actor may use; `None`: every signer (operator).
    async fn own_signer_names(&self) -> Result<Option<HashSet<String>>, AdminError> {
        match self.actor.role {
            Role::Operator => Ok(None),
            Role::Developer => {
                Ok(Some(self.signers().await?.into_iter().map(|s| s.name).collect()))
            }
            Role::DeviceAdmin => Err(self.forbidden("change the catalog")),
        }
    }

    /// Refuses unless the actor may change the signer `name`; another developer's signer is
    /// reported as not found, so its existence does not leak.
    async fn check_signer(&self, name: &str) -> Result<(), AdminError> {
        if let Some(own) = self.own_signer_names().await?
            && !own.contains(name)
        {
            return Err(AdminError::NotFound("signer"));
        }
        Ok(())
    }

    /// Removes a TC signer. Refused with [`AdminError::SignerInUse`], naming them, while
    /// catalog entries it authenticated remain; [`Admin::remove_signer_and_tcs`] removes both.
    pub async fn remove_signer(&self, name: &str) -> Result<(), AdminError> {
        self.check_signer(name).await?;
        if self.store.remove_signer(name).await? {
            self.audit("signer.remove", name, "", unix_now()).await?;
            return Ok(());
        }
        let tcs = self.store.tcs_signed_by(name).await?;
        if tcs.is_empty() {
            return Err(AdminError::NotFound("signer"));
        }
        let components = tcs
            .iter()
            .map(|tc| {
                let id = ComponentKey::from_cbor(&tc.component_id)
                    .map_or_else(|_| hex::encode(&tc.component_id), |k| k.to_string());
                format!("{id}@{}", tc.sequence_number)
            })
            .collect();
        Err(AdminError::SignerInUse { signer: name.to_owned(), components })
    }

    /// Removes a TC signer together with every catalog entry it authenticated. Returns how
    /// many catalog entries went.
    pub async fn remove_signer_and_tcs(&self, name: &str) -> Result<u64, AdminError> {
        self.check_signer(name).await?;
        let removed =
            self.store.remove_signer_and_tcs(name).await?.ok_or(AdminError::NotFound("signer"))?;
        let detail = format!("with {removed} catalog entries");
        self.audit("signer.remove", name, &detail, unix_now()).await?;
        Ok(removed)
    }

    /// Adds a signed SUIT envelope to the catalog after authenticating it against the
    /// registered TC signers (a developer's: against its own signers only). The component is
    /// the manifest's identity (suit-manifest-component-id, else its first component). A
    /// developer may not add versions of a component that another owner's signer published.
    pub async fn add_tc(&self, envelope: &[u8], now: u64) -> Result<TcRow, AdminError> {
        let own = self.own_signer_names().await?;
        let signers: Vec<SignerRow> = self
            .store
            .signers()
            .await?
            .into_iter()
            .filter(|s| own.as_ref().is_none_or(|own| own.contains(&s.name)))
            .collect();
        if signers.is_empty() {
            return Err(AdminError::NoSigners);
        }
        let mut keys = Vec::new();
        let mut names = Vec::new();
        for s in &signers {
            if let Ok(key) = PublicKey::from_cose_key(&s.cose_key) {
                keys.push(key);
                names.push(s.name.clone());
            }
        }
        let decoded =
            Envelope::decode(envelope).map_err(|e| AdminError::InvalidEnvelope(e.to_string()))?;
        let manifest = decoded.authenticate(&TrustAnchors::new(keys)).map_err(|e| match e {
            teep_suit::SuitError::Untrusted => AdminError::UntrustedEnvelope,
            e => AdminError::InvalidEnvelope(e.to_string()),
        })?;
        let identity = manifest.identity().ok_or(AdminError::NoComponentId)?;
        let key = ComponentKey::from_parts(identity.segments())
            .map_err(|_| AdminError::InvalidArgument("component id is too large"))?;
        let signer = names
            .get(manifest.signer_index())
            .cloned()
            .ok_or(AdminError::InvalidEnvelope("signer index out of range".into()))?;
        if let Some(own) = &own {
            let taken = self.store.tc_signers_of(key.as_cbor()).await?;
            if taken.iter().any(|(_, signer)| !own.contains(signer)) {
                return Err(AdminError::Forbidden(format!(
                    "component {key} is published by another owner; choose another component id"
                )));
            }
        }
        let row = TcRow {
            component_id: key.as_cbor().to_vec(),
            sequence_number: manifest.sequence_number(),
            envelope: envelope.to_vec(),
            envelope_len: envelope.len(),
            signer,
            added_at: now,
        };
        let aliases: Vec<Vec<u8>> = manifest
            .components()
            .iter()
            .filter_map(|c| ComponentKey::from_parts(c.segments()).ok())
            .map(|k| k.as_cbor().to_vec())
            .collect();
        if !self.store.add_tc(&row, &aliases).await? {
            return Err(AdminError::Exists("this component id and sequence number"));
        }
        let detail = format!("sequence {}, signer {}", row.sequence_number, row.signer);
        self.audit("tc.add", &key.to_string(), &detail, now).await?;
        Ok(row)
    }

    /// Lists the catalog (without envelope bytes): everything for an operator or device
    /// administrator, only what its own signers authenticated for a developer.
    pub async fn tcs(&self) -> Result<Vec<TcRow>, AdminError> {
        let all = self.store.tcs().await?;
        match self.actor.role {
            Role::Developer => {
                let own = self.own_signer_names().await?.unwrap_or_default();
                Ok(all.into_iter().filter(|tc| own.contains(&tc.signer)).collect())
            }
            Role::Operator | Role::DeviceAdmin => Ok(all),
        }
    }

    /// One catalog version with its signed envelope. Only an operator or the developer whose
    /// signer authenticated it may download it; another developer's is not found.
    pub async fn tc_envelope(&self, id: &ComponentKey, seq: u64) -> Result<TcRow, AdminError> {
        let own =
            self.own_signer_names().await.map_err(|_| self.forbidden("download envelopes"))?;
        let row = self
            .store
            .tc_version(id.as_cbor(), seq)
            .await?
            .filter(|tc| own.as_ref().is_none_or(|own| own.contains(&tc.signer)))
            .ok_or(AdminError::NotFound("trusted component"))?;
        Ok(row)
    }

    /// Marks (or unmarks) a catalog component as remediation: the only kind of component a
    /// device whose attestation failed or is missing may get. The component must be in the
    /// catalog (by its manifest's name or a component the manifest installs). Operator only.
    pub async fn set_remediation(
        &self,
        id: &ComponentKey,
        remediation: bool,
        now: u64,
    ) -> Result<(), AdminError> {
        self.require_operator()?;
        let component_id = match self.store.resolve_alias(id.as_cbor()).await? {
            Some(manifest_id) => manifest_id,
            None => id.as_cbor().to_vec(),
        };
        if remediation && self.store.latest_tc(&component_id).await?.is_none() {
            return Err(AdminError::NotFound("trusted component"));
        }
        self.store.set_remediation(&component_id, remediation, now).await?;
        let detail = if remediation { "marked" } else { "unmarked" };
        self.audit("tc.remediation", &id.to_string(), detail, now).await
    }

    /// The catalog components marked as remediation (operator and device administrators).
    pub async fn remediation(&self) -> Result<Vec<ComponentKey>, AdminError> {
        if self.actor.role == Role::Developer {
            return Err(self.forbidden("see the remediation components"));
        }
        let ids = self.store.remediation_components().await?;
        Ok(ids.iter().filter_map(|id| ComponentKey::from_cbor(id).ok()).collect())
    }

    /// Removes one version, or all versions, of a component from the catalog. A developer
    /// may remove only versions its own signers authenticated (others are not found).
    pub async fn remove_tc(&self, id: &ComponentKey, seq: Option<u64>) -> Result<u64, AdminError> {
        if let Some(own) = self.own_signer_names().await? {
            let versions: Vec<(u64, String)> = self
                .store
                .tc_signers_of(id.as_cbor())
                .await?
                .into_iter()
                .filter(|(s, _)| seq.is_none_or(|seq| *s == seq))
                .collect();
            if !versions.iter().any(|(_, signer)| own.contains(signer)) {
                return Err(AdminError::NotFound("trusted component"));
            }
            if versions.iter().any(|(_, signer)| !own.contains(signer)) {
                return Err(AdminError::Forbidden(format!(
                    "component {id} has versions published by another owner; remove your \
                     versions one at a time"
                )));
            }
        }
        let removed = match self.store.remove_tc(id.as_cbor(), seq).await? {
            0 => return Err(AdminError::NotFound("trusted component")),
            n => n,
        };
        let detail = match seq {
            Some(s) => format!("sequence {s}"),
            None => format!("all {removed} versions"),
        };
        self.audit("tc.remove", &id.to_string(), &detail, unix_now()).await?;
        Ok(removed)
    }

    /// Enrols a device by its Agent public key (SPKI PEM, JWK or COSE_Key bytes). Operator
    /// only: a device administrator manages devices once they are in its groups.
    pub async fn enroll_device(
        &self,
        key: &[u8],
        label: Option<&str>,
        wire: Wire,
        now: u64,
    ) -> Result<DeviceRow, AdminError> {
        self.require_operator()?;
        if let Some(label) = label {
            check_name(label).map_err(|_| {
                AdminError::InvalidArgument(
                    "device label must have 1 to 64 printable characters, without control \
                     characters",
                )
            })?;
        }
        let key = parse_public_key(key)?;
        let row = DeviceRow {
            thumbprint: key.thumbprint().to_vec(),
            cose_key: key.to_cose_key(),
            label: label.map(str::to_owned),
            wire: wire.as_str().to_owned(),
            blocked: false,
            enrolled_at: now,
            last_seen: None,
            last_error_code: None,
            last_error_msg: None,
            last_error_at: None,
        };
        if !self.store.enroll_device(&row).await? {
            return Err(AdminError::Exists("device"));
        }
        let detail = format!("wire {}", row.wire);
        self.audit("device.enroll", &hex::encode(&row.thumbprint), &detail, now).await?;
        Ok(row)
    }

    /// Refuses unless the actor may see and manage `device`: an operator always, a device
    /// administrator when the device is in one of its groups (otherwise the device is not
    /// found, so its existence does not leak), a developer never.
    pub async fn check_device(&self, device: &[u8]) -> Result<(), AdminError> {
        match self.actor.role {
            Role::Operator => Ok(()),
            Role::DeviceAdmin => {
                if self.store.administers_device(&self.actor.name, device).await? {
                    Ok(())
                } else {
                    Err(AdminError::NotFound("device"))
                }
            }
            Role::Developer => Err(self.forbidden("manage devices")),
        }
    }

    /// Enrols (or replaces) the key an enrolled device signs its SUIT reports with
    /// (draft-ietf-suit-report §4: distinct from its TEEP key; SPKI PEM, JWK or COSE_Key).
    /// Once set, the TAM accepts only reports signed with it.
    pub async fn set_report_key(
        &self,
        device: &[u8; 32],
        key: &[u8],
        now: u64,
    ) -> Result<(), AdminError> {
        self.check_device(device).await?;
        let row = self.store.device(device).await?.ok_or(AdminError::NotFound("device"))?;
        let key = parse_public_key(key)?;
        if key.to_cose_key() == row.cose_key {
            return Err(AdminError::InvalidArgument(
                "the report key must be distinct from the device's TEEP key",
            ));
        }
        self.store.set_report_key(device, &key.to_cose_key(), now).await?;
        let detail = format!("key {}", hex::encode(key.thumbprint()));
        self.audit("device.report-key", &hex::encode(device), &detail, now).await
    }

    /// The latest `limit` SUIT reports of a device, newest first.
    pub async fn reports(
        &self,
        device: &[u8; 32],
        limit: u32,
    ) -> Result<Vec<crate::store::ReportRow>, AdminError> {
        self.check_device(device).await?;
        Ok(self.store.reports(device, limit).await?)
    }

    /// Lists the devices the actor may see: all for an operator, those in its groups for a
    /// device administrator.
    pub async fn devices(&self) -> Result<Vec<DeviceRow>, AdminError> {
        let all = self.store.devices().await?;
        match self.actor.role {
            Role::Operator => Ok(all),
            Role::DeviceAdmin => {
                let mine: HashSet<Vec<u8>> = self
                    .store
                    .devices_administered_by(&self.actor.name)
                    .await?
                    .into_iter()
                    .collect();
                Ok(all.into_iter().filter(|d| mine.contains(&d.thumbprint)).collect())
            }
            Role::Developer => Err(self.forbidden("see devices")),
        }
    }

    /// Finds a device the actor may see by its full hex thumbprint or a unique hex prefix of
    /// at least 8 digits.
    pub async fn resolve_device(&self, hex_id: &str) -> Result<[u8; 32], AdminError> {
        let hex_id = hex_id.to_ascii_lowercase();
        if hex_id.len() < 8 || hex_id.len() > 64 || !hex_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AdminError::InvalidArgument(
                "device id must be hex digits (a thumbprint, or a unique prefix of at least 8)",
            ));
        }
        // The prefix names the thumbprints from prefix-then-zeros to prefix-then-f's: one
        // index range scan, however many devices are enrolled.
        let bound = |fill: char| {
            let mut full = hex_id.clone();
            full.extend(std::iter::repeat_n(fill, 64 - hex_id.len()));
            hex::decode(full)
        };
        let (Ok(low), Ok(high)) = (bound('0'), bound('f')) else {
            return Err(AdminError::InvalidArgument("device id must be hex digits"));
        };
        let mut found = None;
        for thumbprint in self.store.thumbprints_between(&low, &high, 64).await? {
            // A device administrator resolves only its own devices, so an ambiguous prefix
            // does not reveal anyone else's.
            match self.check_device(&thumbprint).await {
                Ok(()) => {}
                Err(AdminError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            }
            if found.is_some() {
                return Err(AdminError::InvalidArgument("device id prefix is ambiguous"));
            }
            found = Some(thumbprint);
        }
        let found = found.ok_or(AdminError::NotFound("device"))?;
        found.try_into().map_err(|_| AdminError::NotFound("device"))
    }

    /// Blocks (or unblocks) a device: the TAM drops its messages.
    pub async fn set_blocked(&self, device: &[u8; 32], blocked: bool) -> Result<(), AdminError> {
        self.check_device(device).await?;
        if !self.store.set_blocked(device, blocked).await? {
            return Err(AdminError::NotFound("device"));
        }
        let action = if blocked { "device.block" } else { "device.unblock" };
        self.audit(action, &hex::encode(device), "", unix_now()).await
    }

    /// Removes a device and everything recorded about it.
    pub async fn remove_device(&self, device: &[u8; 32]) -> Result<(), AdminError> {
        self.check_device(device).await?;
        if !self.store.remove_device(device).await? {
            return Err(AdminError::NotFound("device"));
        }
        self.audit("device.remove", &hex::encode(device), "", unix_now()).await
    }

    /// Refuses unless the actor may set rules for `target`: an operator any target, a
    /// device administrator its own groups and the devices in them.
    pub async fn check_target(&self, target: &PolicyTarget) -> Result<(), AdminError> {
        match (self.actor.role, target) {
            (Role::Operator, _) => Ok(()),
            (Role::Developer, _) => Err(self.forbidden("set policy")),
            (Role::DeviceAdmin, PolicyTarget::AllDevices) => {
                Err(self.forbidden("set policy for all devices"))
            }
            (Role::DeviceAdmin, PolicyTarget::Device(t)) => self.check_device(t).await,
            (Role::DeviceAdmin, PolicyTarget::Group(name)) => match self.store.group(name).await? {
                Some(g) if g.owner.as_deref() == Some(self.actor.name.as_str()) => Ok(()),
                _ => Err(AdminError::NotFound("group")),
            },
        }
    }

    /// Requires a component (at `min_sequence` or later) on the target devices. A component id
    /// that a catalog manifest installs stands for that manifest.
    pub async fn require(
        &self,
        target: &PolicyTarget,
        id: &ComponentKey,
        min_sequence: u64,
    ) -> Result<(), AdminError> {
        self.set_rule(target, id, PolicyAction::Require, min_sequence).await?;
        let detail = format!("{id} from sequence {min_sequence}");
        self.audit("policy.require", &target.column(), &detail, unix_now()).await
    }

    /// Asks for a component to be deleted from the target devices.
    pub async fn delete(&self, target: &PolicyTarget, id: &ComponentKey) -> Result<(), AdminError> {
        self.set_rule(target, id, PolicyAction::Delete, 0).await?;
        self.audit("policy.delete", &target.column(), &id.to_string(), unix_now()).await
    }

    async fn set_rule(
        &self,
        target: &PolicyTarget,
        id: &ComponentKey,
        action: PolicyAction,
        min_sequence: u64,
    ) -> Result<(), AdminError> {
        self.check_target(target).await?;
        if let PolicyTarget::Device(t) = target
            && self.store.device(t).await?.is_none()
        {
            return Err(AdminError::NotFound("device"));
        }
        if let PolicyTarget::Group(name) = target
            && self.store.group(name).await?.is_none()
        {
            return Err(AdminError::NotFound("group"));
        }
        // A component installed by a catalog manifest stands for that manifest.
        let component_id = match self.store.resolve_alias(id.as_cbor()).await? {
            Some(manifest_id) => manifest_id,
            None => id.as_cbor().to_vec(),
        };
        let row = PolicyRow { device: target.column(), component_id, action, min_sequence };
        Ok(self.store.set_policy(&row).await?)
    }

    /// Removes a rule.
    pub async fn clear_rule(
        &self,
        target: &PolicyTarget,
        id: &ComponentKey,
    ) -> Result<(), AdminError> {
        self.check_target(target).await?;
        let component_id = match self.store.resolve_alias(id.as_cbor()).await? {
            Some(manifest_id) => manifest_id,
            None => id.as_cbor().to_vec(),
        };
        if !self.store.remove_policy(&target.column(), &component_id).await? {
            return Err(AdminError::NotFound("policy rule"));
        }
        self.audit("policy.clear", &target.column(), &id.to_string(), unix_now()).await
    }

    /// Lists the rules the actor may see: every rule for an operator; for a device
    /// administrator, the rules of its groups and of the devices in them.
    pub async fn policies(&self) -> Result<Vec<PolicyRow>, AdminError> {
        let all = self.store.policies().await?;
        match self.actor.role {
            Role::Operator => Ok(all),
            Role::DeviceAdmin => {
                let mut visible: HashSet<String> = self
                    .store
                    .devices_administered_by(&self.actor.name)
                    .await?
                    .iter()
                    .map(hex::encode)
                    .collect();
                for g in self.store.groups(Some(&self.actor.name)).await? {
                    visible.insert(PolicyTarget::Group(g.name).column());
                }
                Ok(all.into_iter().filter(|r| visible.contains(&r.device)).collect())
            }
            Role::Developer => Err(self.forbidden("see policy")),
        }
    }

    /// Everything known about one device.
    pub async fn status(&self, device: &[u8; 32]) -> Result<DeviceStatus, AdminError> {
        self.check_device(device).await?;
        let row = self.store.device(device).await?.ok_or(AdminError::NotFound("device"))?;
        Ok(DeviceStatus {
            components: self.store.components(device).await?,
            policy: self.store.effective_policy(&hex::encode(device)).await?,
            events: self.store.events(Some(device), 20).await?,
            attestation: self.store.attestation(device).await?,
            report_key: self.store.report_key(device).await?,
            reports: self.store.reports(device, 20).await?,
            device: row,
        })
    }
}

/// The current time in Unix seconds, for audit entries of methods without a `now`.
fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Longest signer name or device label, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Checks a signer name or device label, which the CLI prints as is: 1 to
/// [`MAX_NAME_CHARS`] characters, not only spaces, no control characters (ANSI escapes,
/// newlines) and no invisible formatting characters (bidirectional overrides, zero-width
/// characters) that could disguise what a terminal shows.
pub fn check_name(name: &str) -> Result<(), AdminError> {
    let count = name.chars().count();
    let invisible = |c: char| {
        c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}' | '\u{00ad}')
    };
    if count == 0 || count > MAX_NAME_CHARS {
        return Err(AdminError::InvalidArgument("name must have 1 to 64 characters"));
    }
    if name.trim().is_empty() {
        return Err(AdminError::InvalidArgument("name must not be blank"));
    }
    if name.chars().any(invisible) {
        return Err(AdminError::InvalidArgument(
            "name must not contain control or invisible formatting characters",
        ));
    }
    Ok(())
}

/// The key formats [`parse_public_key`] accepts, for error messages.
pub const KEY_FORMATS: &str =
    "SPKI PEM (-----BEGIN PUBLIC KEY-----), JWK JSON, or a binary COSE_Key file (CLI)";

/// Parses a public key given as SPKI PEM text, JWK JSON or COSE_Key CBOR. The format is
/// chosen by the first bytes; an error names the format tried and the formats accepted.
pub fn parse_public_key(bytes: &[u8]) -> Result<PublicKey, AdminError> {
    let invalid = |format: &str, e: teep_cose::Error| {
        AdminError::InvalidKey(format!(
            "not a valid {format} public key ({e}); {KEY_FORMATS} \
                                        are accepted"
        ))
    };
    match core::str::from_utf8(bytes).map(str::trim_start) {
        Ok(text) if text.starts_with("-----BEGIN") => {
            PublicKey::from_spki_pem(text).map_err(|e| invalid("SPKI PEM", e))
        }
        Ok(text) if text.starts_with('{') => {
            PublicKey::from_jwk(text).map_err(|e| invalid("JWK", e))
        }
        Ok("") => {
            Err(AdminError::InvalidKey(format!("the key is empty; {KEY_FORMATS} are accepted")))
        }
        // A COSE_Key is a CBOR map (first byte 0xa0..=0xbf), never valid UTF-8 text.
        Ok(_) => Err(AdminError::InvalidKey(format!(
            "the key is text, but neither PEM (-----BEGIN ...) nor JSON ({{...}}); {KEY_FORMATS} \
             are accepted"
        ))),
        Err(_) => PublicKey::from_cose_key(bytes).map_err(|e| invalid("COSE_Key", e)),
    }
}
