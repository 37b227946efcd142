//! `config.toml` of the software-TEE state directory.
//!
//! ```toml
//! numbering = "rfc"                 # default wire numbering: "rfc" or "legacy"
//! suites = ["esp256"]               # TEEP cipher suites the Agent offers, in preference order
//! versions = [0]                    # TEEP protocol versions
//! accept_legacy_algorithms = false  # accept ES256 (-7) / EdDSA (-8) from TAMs
//!
//! [[tam]]
//! uri = "http://127.0.0.1:8080/tam"
//! numbering = "legacy"              # optional, overrides the default for this TAM
//! public_keys = ["-----BEGIN PUBLIC KEY-----..."]   # SPKI PEM or JWK text
//!
//! tc_signers = ["-----BEGIN PUBLIC KEY-----..."]    # TC signer trust anchors
//!
//! [device]                          # identities for SUIT vendor/class/device-id conditions
//! vendor_ids = ["c0ddd5f15243566087db4f5b0aa26c2f"]
//! class_ids = ["db42f7093d8c55baa8c5265fc5820f4e"]
//! device_ids = []
//!
//! [[mirror]]                        # where the Agent may fetch payload URIs from
//! prefix = "https://example.org/"
//! target = "file:///srv/payloads/"  # or an http(s) base URL
//!
//! [limits]
//! max_payload_bytes = 268435456
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Wire numbering as written in the config file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NumberingName {
    /// draft-ietf-teep-protocol-26 / IANA numbering.
    #[default]
    Rfc,
    /// Numbering of draft 25 and earlier.
    Legacy,
}

/// A TEEP cipher suite as written in the config file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SuiteName {
    /// [[18, -9]]: COSE_Sign1 with ESP256.
    Esp256,
    /// [[18, -19]]: COSE_Sign1 with Ed25519.
    Ed25519,
    /// [[18, -7]]: COSE_Sign1 with ES256 (legacy peers).
    Es256,
    /// [[18, -8]]: COSE_Sign1 with EdDSA (legacy peers).
    Eddsa,
}

/// One TAM the Agent trusts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TamEntry {
    /// The TAM URI the Broker contacts.
    pub uri: String,
    /// Wire numbering for this TAM; the file's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numbering: Option<NumberingName>,
    /// The TAM's public keys (SPKI PEM or JWK).
    #[serde(default)]
    pub public_keys: Vec<String>,
}

/// Device identity used by SUIT identifier conditions (hex strings).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceIdentity {
    /// suit-parameter-vendor-identifier values this device matches.
    #[serde(default)]
    pub vendor_ids: Vec<String>,
    /// suit-parameter-class-identifier values this device matches.
    #[serde(default)]
    pub class_ids: Vec<String>,
    /// suit-parameter-device-identifier values this device matches.
    #[serde(default)]
    pub device_ids: Vec<String>,
}

/// A payload URI rewrite: URIs starting with `prefix` are fetched from `target` + rest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mirror {
    /// URI prefix as it appears in manifests.
    pub prefix: String,
    /// `file://` directory or `http(s)://` base URL.
    pub target: String,
}

/// Resource limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest payload the Agent fetches, in bytes.
    #[serde(default = "default_max_payload")]
    pub max_payload_bytes: u64,
}

fn default_max_payload() -> u64 {
    256 << 20
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_payload_bytes: default_max_payload() }
    }
}

fn default_suites() -> Vec<SuiteName> {
    vec![SuiteName::Esp256]
}

fn default_versions() -> Vec<u32> {
    vec![0]
}

/// The contents of `config.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigFile {
    /// Default wire numbering.
    #[serde(default)]
    pub numbering: NumberingName,
    /// Cipher suites offered, in preference order.
    #[serde(default = "default_suites")]
    pub suites: Vec<SuiteName>,
    /// TEEP protocol versions supported.
    #[serde(default = "default_versions")]
    pub versions: Vec<u32>,
    /// Accept ES256 (-7) and EdDSA (-8) signatures from TAMs (legacy peers).
    #[serde(default)]
    pub accept_legacy_algorithms: bool,
    /// TC signer trust anchors (SPKI PEM or JWK).
    #[serde(default)]
    pub tc_signers: Vec<String>,
    /// Trusted TAMs.
    #[serde(default, rename = "tam")]
    pub tams: Vec<TamEntry>,
    /// Device identity for SUIT conditions.
    #[serde(default)]
    pub device: DeviceIdentity,
    /// Payload URI mirrors.
    #[serde(default, rename = "mirror")]
    pub mirrors: Vec<Mirror>,
    /// Resource limits.
    #[serde(default)]
    pub limits: Limits,
}

impl Default for ConfigFile {
    fn default() -> Self {
        Self {
            numbering: NumberingName::Rfc,
            suites: default_suites(),
            versions: default_versions(),
            accept_legacy_algorithms: false,
            tc_signers: Vec::new(),
            tams: Vec::new(),
            device: DeviceIdentity::default(),
            mirrors: Vec::new(),
            limits: Limits::default(),
        }
    }
}

/// Errors reading or writing the configuration.
#[non_exhaustive]
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read or written.
    Io(std::io::Error),
    /// The TOML is invalid.
    Parse(String),
    /// A value is invalid (which one, and why).
    Invalid(String),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "config: {e}"),
            Self::Parse(e) => write!(f, "config.toml: {e}"),
            Self::Invalid(e) => write!(f, "config.toml: {e}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl ConfigFile {
    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let cfg: Self = toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Renders as TOML.
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        toml::to_string_pretty(self).map_err(|e| ConfigError::Invalid(e.to_string()))
    }

    /// Reads and parses a config file (at most 1 MiB).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let meta = std::fs::metadata(path).map_err(ConfigError::Io)?;
        if meta.len() > 1 << 20 {
            return Err(ConfigError::Invalid("file larger than 1 MiB".into()));
        }
        let text = std::fs::read_to_string(path).map_err(ConfigError::Io)?;
        Self::from_toml(&text)
    }

    /// Checks the values that TOML types do not: hex ids, mirror targets, non-empty lists.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.suites.is_empty() {
            return Err(ConfigError::Invalid("suites must not be empty".into()));
        }
        if self.versions.is_empty() {
            return Err(ConfigError::Invalid("versions must not be empty".into()));
        }
        let d = &self.device;
        for id in d.vendor_ids.iter().chain(&d.class_ids).chain(&d.device_ids) {
            if hex::decode(id).is_err() {
                return Err(ConfigError::Invalid(format!("device id {id:?} is not hex")));
            }
        }
        for m in &self.mirrors {
            let ok = m.target.starts_with("file://")
                || m.target.starts_with("http://")
                || m.target.starts_with("https://");
            if !ok || m.prefix.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "mirror {:?} -> {:?}: target must be file://, http:// or https://",
                    m.prefix, m.target
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_defaults() {
        let mut cfg = ConfigFile::default();
        cfg.tams.push(TamEntry {
            uri: "http://127.0.0.1:1/tam".into(),
            numbering: Some(NumberingName::Legacy),
            public_keys: vec!["-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----\n".into()],
        });
        cfg.mirrors
            .push(Mirror { prefix: "https://example.org/".into(), target: "file:///x/".into() });
        cfg.device.vendor_ids.push("c0ddd5f15243566087db4f5b0aa26c2f".into());
        let text = cfg.to_toml().expect("toml");
        assert_eq!(ConfigFile::from_toml(&text).ok(), Some(cfg));
        let empty = ConfigFile::from_toml("").ok();
        assert_eq!(empty, Some(ConfigFile::default()));
    }

    #[test]
    fn rejects_bad_values() {
        assert!(ConfigFile::from_toml("suites = []").is_err());
        assert!(ConfigFile::from_toml("suites = [\"rot13\"]").is_err());
        assert!(ConfigFile::from_toml("[device]\nvendor_ids = [\"zz\"]").is_err());
        let m = "[[mirror]]\nprefix = \"https://example.org/\"\ntarget = \"ftp://x\"";
        assert!(ConfigFile::from_toml(m).is_err());
        assert!(ConfigFile::from_toml("numbering = 3").is_err());
    }
}
