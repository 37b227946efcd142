//! The administration API behind `teep tam signer|tc|device|policy|status`.
//!
//! Everything an operator does goes through [`Admin`], which works directly on the database,
//! so it can run while TAM processes serve (they read the same tables).
//! Adding a Trusted Component checks the signed SUIT envelope against the registered TC
//! signers (draft-ietf-teep-protocol-26 §2: the TAM only distributes manifests signed by a
//! trusted Trusted Component Signer; draft-ietf-suit-manifest-34 §8.3 authentication).

use teep_cose::PublicKey;
use teep_suit::{Envelope, TrustAnchors};

use crate::component::ComponentKey;
use crate::config::{TamConfig, Wire};
use crate::error::AdminError;
use crate::store::{
    ComponentRow, DeviceRow, EventRow, PolicyAction, PolicyRow, SignerRow, Store, TcRow,
};

/// Administrative operations on a TAM database.
#[derive(Clone, Debug)]
pub struct Admin {
    store: Store,
}

/// Which devices a policy rule applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyTarget {
    /// Every device without a rule of its own for the component.
    AllDevices,
    /// One device, by Agent key thumbprint.
    Device([u8; 32]),
}

impl PolicyTarget {
    fn column(&self) -> String {
        match self {
            PolicyTarget::AllDevices => "*".to_owned(),
            PolicyTarget::Device(t) => hex::encode(t),
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
    pub fn new(store: Store) -> Self {
        Admin { store }
    }

    /// Opens the database named by `config` (creating the state directory and schema).
    pub async fn connect(config: &TamConfig) -> Result<Self, AdminError> {
        if config.database_url.is_none() {
            std::fs::create_dir_all(&config.state_dir)
                .map_err(|_| AdminError::InvalidArgument("cannot create the state directory"))?;
        }
        let store = Store::connect(&config.database_url(), config.max_db_connections).await?;
        Ok(Admin { store })
    }

    /// The underlying store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Registers a TC signer key given as SPKI PEM, JWK or COSE_Key bytes.
    pub async fn add_signer(
        &self,
        name: &str,
        key: &[u8],
        now: u64,
    ) -> Result<SignerRow, AdminError> {
        check_name(name).map_err(|_| {
            AdminError::InvalidArgument(
                "signer name must have 1 to 64 printable characters, without control characters",
            )
        })?;
        let key = parse_public_key(key)?;
        let row = SignerRow {
            name: name.to_owned(),
            cose_key: key.to_cose_key(),
            thumbprint: key.thumbprint().to_vec(),
            added_at: now,
        };
        if !self.store.add_signer(&row).await? {
            return Err(AdminError::Exists("signer name or key"));
        }
        Ok(row)
    }

    /// Lists the TC signers.
    pub async fn signers(&self) -> Result<Vec<SignerRow>, AdminError> {
        Ok(self.store.signers().await?)
    }

    /// Removes a TC signer. Refused with [`AdminError::SignerInUse`], naming them, while
    /// catalog entries it authenticated remain; [`Admin::remove_signer_and_tcs`] removes both.
    pub async fn remove_signer(&self, name: &str) -> Result<(), AdminError> {
        if self.store.remove_signer(name).await? {
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
        self.store.remove_signer_and_tcs(name).await?.ok_or(AdminError::NotFound("signer"))
    }

    /// Adds a signed SUIT envelope to the catalog after authenticating it against the
    /// registered TC signers. The component is the manifest's identity
    /// (suit-manifest-component-id, else its first component).
    pub async fn add_tc(&self, envelope: &[u8], now: u64) -> Result<TcRow, AdminError> {
        let signers = self.store.signers().await?;
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
        let manifest = decoded
            .authenticate(&TrustAnchors::new(keys))
            .map_err(|e| AdminError::InvalidEnvelope(e.to_string()))?;
        let identity = manifest.identity().ok_or(AdminError::NoComponentId)?;
        let key = ComponentKey::from_parts(identity.segments())
            .map_err(|_| AdminError::InvalidArgument("component id is too large"))?;
        let signer = names
            .get(manifest.signer_index())
            .cloned()
            .ok_or(AdminError::InvalidEnvelope("signer index out of range".into()))?;
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
        Ok(row)
    }

    /// Lists the catalog (without envelope bytes).
    pub async fn tcs(&self) -> Result<Vec<TcRow>, AdminError> {
        Ok(self.store.tcs().await?)
    }

    /// Marks (or unmarks) a catalog component as remediation: the only kind of component a
    /// device whose attestation failed or is missing may get. The component must be in the
    /// catalog (by its manifest's name or a component the manifest installs).
    pub async fn set_remediation(
        &self,
        id: &ComponentKey,
        remediation: bool,
        now: u64,
    ) -> Result<(), AdminError> {
        let component_id = match self.store.resolve_alias(id.as_cbor()).await? {
            Some(manifest_id) => manifest_id,
            None => id.as_cbor().to_vec(),
        };
        if remediation && self.store.latest_tc(&component_id).await?.is_none() {
            return Err(AdminError::NotFound("trusted component"));
        }
        Ok(self.store.set_remediation(&component_id, remediation, now).await?)
    }

    /// The catalog components marked as remediation.
    pub async fn remediation(&self) -> Result<Vec<ComponentKey>, AdminError> {
        let ids = self.store.remediation_components().await?;
        Ok(ids.iter().filter_map(|id| ComponentKey::from_cbor(id).ok()).collect())
    }

    /// Removes one version, or all versions, of a component from the catalog.
    pub async fn remove_tc(&self, id: &ComponentKey, seq: Option<u64>) -> Result<u64, AdminError> {
        match self.store.remove_tc(id.as_cbor(), seq).await? {
            0 => Err(AdminError::NotFound("trusted component")),
            n => Ok(n),
        }
    }

    /// Enrols a device by its Agent public key (SPKI PEM, JWK or COSE_Key bytes).
    pub async fn enroll_device(
        &self,
        key: &[u8],
        label: Option<&str>,
        wire: Wire,
        now: u64,
    ) -> Result<DeviceRow, AdminError> {
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
        Ok(row)
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
        let row = self.store.device(device).await?.ok_or(AdminError::NotFound("device"))?;
        let key = parse_public_key(key)?;
        if key.to_cose_key() == row.cose_key {
            return Err(AdminError::InvalidArgument(
                "the report key must be distinct from the device's TEEP key",
            ));
        }
        Ok(self.store.set_report_key(device, &key.to_cose_key(), now).await?)
    }

    /// The latest `limit` SUIT reports of a device, newest first.
    pub async fn reports(
        &self,
        device: &[u8; 32],
        limit: u32,
    ) -> Result<Vec<crate::store::ReportRow>, AdminError> {
        Ok(self.store.reports(device, limit).await?)
    }

    /// Lists enrolled devices.
    pub async fn devices(&self) -> Result<Vec<DeviceRow>, AdminError> {
        Ok(self.store.devices().await?)
    }

    /// Finds a device by its full hex thumbprint or a unique hex prefix of at least 8 digits.
    pub async fn resolve_device(&self, hex_id: &str) -> Result<[u8; 32], AdminError> {
        let hex_id = hex_id.to_ascii_lowercase();
        if hex_id.len() < 8 || !hex_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AdminError::InvalidArgument("device id must be at least 8 hex digits"));
        }
        let mut found = None;
        for d in self.store.devices().await? {
            if hex::encode(&d.thumbprint).starts_with(&hex_id) {
                if found.is_some() {
                    return Err(AdminError::InvalidArgument("device id prefix is ambiguous"));
                }
                found = Some(d.thumbprint);
            }
        }
        let found = found.ok_or(AdminError::NotFound("device"))?;
        found.try_into().map_err(|_| AdminError::NotFound("device"))
    }

    /// Blocks (or unblocks) a device: the TAM drops its messages.
    pub async fn set_blocked(&self, device: &[u8; 32], blocked: bool) -> Result<(), AdminError> {
        if !self.store.set_blocked(device, blocked).await? {
            return Err(AdminError::NotFound("device"));
        }
        Ok(())
    }

    /// Removes a device and everything recorded about it.
    pub async fn remove_device(&self, device: &[u8; 32]) -> Result<(), AdminError> {
        if !self.store.remove_device(device).await? {
            return Err(AdminError::NotFound("device"));
        }
        Ok(())
    }

    /// Requires a component (at `min_sequence` or later) on the target devices. A component id
    /// that a catalog manifest installs stands for that manifest.
    pub async fn require(
        &self,
        target: &PolicyTarget,
        id: &ComponentKey,
        min_sequence: u64,
    ) -> Result<(), AdminError> {
        self.set_rule(target, id, PolicyAction::Require, min_sequence).await
    }

    /// Asks for a component to be deleted from the target devices.
    pub async fn delete(&self, target: &PolicyTarget, id: &ComponentKey) -> Result<(), AdminError> {
        self.set_rule(target, id, PolicyAction::Delete, 0).await
    }

    async fn set_rule(
        &self,
        target: &PolicyTarget,
        id: &ComponentKey,
        action: PolicyAction,
        min_sequence: u64,
    ) -> Result<(), AdminError> {
        if let PolicyTarget::Device(t) = target
            && self.store.device(t).await?.is_none()
        {
            return Err(AdminError::NotFound("device"));
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
        let component_id = match self.store.resolve_alias(id.as_cbor()).await? {
            Some(manifest_id) => manifest_id,
            None => id.as_cbor().to_vec(),
        };
        if !self.store.remove_policy(&target.column(), &component_id).await? {
            return Err(AdminError::NotFound("policy rule"));
        }
        Ok(())
    }

    /// Lists every rule.
    pub async fn policies(&self) -> Result<Vec<PolicyRow>, AdminError> {
        Ok(self.store.policies().await?)
    }

    /// Everything known about one device.
    pub async fn status(&self, device: &[u8; 32]) -> Result<DeviceStatus, AdminError> {
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

/// Parses a public key given as SPKI PEM text, JWK JSON or COSE_Key CBOR.
pub fn parse_public_key(bytes: &[u8]) -> Result<PublicKey, AdminError> {
    let invalid = |e: teep_cose::Error| AdminError::InvalidKey(e.to_string());
    match core::str::from_utf8(bytes).map(str::trim_start) {
        Ok(text) if text.starts_with("-----BEGIN") => {
            PublicKey::from_spki_pem(text).map_err(invalid)
        }
        Ok(text) if text.starts_with('{') => PublicKey::from_jwk(text).map_err(invalid),
        _ => PublicKey::from_cose_key(bytes).map_err(invalid),
    }
}
