//! TAM configuration (`tam.toml`).
//!
//! Every field has a default so that an empty file is a valid configuration: a TAM listening on
//! loopback, storing its state in an SQLite file under the state directory, speaking the RFC
//! numbering of draft-ietf-teep-protocol-26 on `/tam` and the legacy numbering on
//! `/tam/legacy`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// Shortest token the protocol allows (draft-ietf-teep-protocol-26 §4.1 `token`).
pub const MIN_TOKEN_LEN: usize = 8;
/// Longest token the protocol allows.
pub const MAX_TOKEN_LEN: usize = 64;

/// Configuration of one TAM process.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct TamConfig {
    /// Directory that holds the default SQLite database and, by default, the TAM keys.
    pub state_dir: PathBuf,
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Database URL: `sqlite://PATH` (default `sqlite://<state_dir>/tam.db`) or
    /// `postgres://...`.
    pub database_url: Option<String>,
    /// Largest number of pooled database connections.
    pub max_db_connections: u32,
    /// TAM signing keys.
    pub keys: KeyFiles,
    /// Token length in bytes (8..=64).
    pub token_len: usize,
    /// How long an issued token stays valid, in seconds.
    pub token_timeout_secs: u64,
    /// Outstanding (unconsumed, unexpired) tokens kept per device; the oldest are dropped.
    pub max_tokens_per_device: u32,
    /// Largest accepted request body in bytes; larger bodies get 413.
    pub body_limit: usize,
    /// HTTP paths and the TEEP numbering spoken on each.
    pub endpoints: Vec<Endpoint>,
    /// How Agents are admitted.
    pub agents: AgentAdmission,
    /// Serve HTTPS with this certificate (draft-ietf-teep-otrp-over-http §4: HTTPS is
    /// RECOMMENDED). Absent: plain HTTP, for loopback and tests.
    pub tls: Option<TlsFiles>,
}

/// PEM files for HTTPS. Relative paths are under `state_dir`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub certificate: PathBuf,
    /// Private key of the leaf certificate (PKCS#8, SEC1 or PKCS#1).
    pub private_key: PathBuf,
}

/// Paths of the TAM's two signing keys (PKCS#8 PEM), one per mandatory cipher suite.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct KeyFiles {
    /// P-256 key for the suite `[[18, -9]]` (ESP256). Relative paths are under `state_dir`.
    pub p256: PathBuf,
    /// Ed25519 key for the suite `[[18, -19]]`. Relative paths are under `state_dir`.
    pub ed25519: PathBuf,
}

impl Default for KeyFiles {
    fn default() -> Self {
        KeyFiles { p256: PathBuf::from("tam-p256.pem"), ed25519: PathBuf::from("tam-ed25519.pem") }
    }
}

/// TEEP numbering spoken on an endpoint (see `spec/teep-numbering.md`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Wire {
    /// draft-ietf-teep-protocol-26 / IANA code points.
    #[default]
    Rfc,
    /// Code points of draft 25 and earlier; also accepts ES256 (-7) and EdDSA (-8).
    Legacy,
}

impl Wire {
    /// The protocol crate's numbering for this wire.
    pub fn numbering(self) -> teep_proto::Numbering {
        match self {
            Wire::Rfc => teep_proto::Numbering::Rfc,
            Wire::Legacy => teep_proto::Numbering::Legacy,
        }
    }

    /// Name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Wire::Rfc => "rfc",
            Wire::Legacy => "legacy",
        }
    }
}

/// One HTTP path that serves the TEEP protocol.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// URL path, for example `/tam`.
    pub path: String,
    /// Numbering spoken there.
    pub wire: Wire,
}

/// How the TAM treats an Agent key that no administrator enrolled.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AgentAdmission {
    /// When false (default), only devices enrolled through the admin API are served. When true,
    /// an Agent whose key is one of `trust_anchors` is enrolled at its first validly signed
    /// message.
    pub auto_enroll: bool,
    /// Agent public keys (SPKI PEM files) accepted for automatic enrolment.
    pub trust_anchors: Vec<PathBuf>,
}

impl Default for TamConfig {
    fn default() -> Self {
        TamConfig {
            state_dir: PathBuf::from("tam-state"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: None,
            max_db_connections: 8,
            keys: KeyFiles::default(),
            token_len: 16,
            token_timeout_secs: 6 * 3600,
            max_tokens_per_device: 4,
            body_limit: 1 << 20,
            endpoints: vec![
                Endpoint { path: "/tam".into(), wire: Wire::Rfc },
                Endpoint { path: "/tam/legacy".into(), wire: Wire::Legacy },
            ],
            agents: AgentAdmission::default(),
            tls: None,
        }
    }
}

impl TamConfig {
    /// Parses a TOML document and validates it.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: TamConfig =
            toml::from_str(text).map_err(|e| ConfigError::Parse(e.message().to_owned()))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and validates a TOML file. Relative paths inside stay relative to `state_dir`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Io { path: path.to_owned(), reason: e.to_string() })?;
        Self::from_toml(&text)
    }

    /// Serializes the configuration as TOML.
    pub fn to_toml(&self) -> String {
        // Serializing plain structs of strings, integers and paths cannot fail.
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks ranges and consistency.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(MIN_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&self.token_len) {
            return Err(ConfigError::Invalid("token_len must be within 8..=64"));
        }
        if self.token_timeout_secs == 0 {
            return Err(ConfigError::Invalid("token_timeout_secs must be positive"));
        }
        if self.max_tokens_per_device == 0 {
            return Err(ConfigError::Invalid("max_tokens_per_device must be positive"));
        }
        if self.body_limit == 0 {
            return Err(ConfigError::Invalid("body_limit must be positive"));
        }
        if self.max_db_connections == 0 {
            return Err(ConfigError::Invalid("max_db_connections must be positive"));
        }
        if self.endpoints.is_empty() {
            return Err(ConfigError::Invalid("at least one endpoint is needed"));
        }
        for (i, endpoint) in self.endpoints.iter().enumerate() {
            if !endpoint.path.starts_with('/') {
                return Err(ConfigError::Invalid("endpoint paths must start with '/'"));
            }
            if self.endpoints.iter().skip(i + 1).any(|e| e.path == endpoint.path) {
                return Err(ConfigError::Invalid("endpoint paths must be distinct"));
            }
        }
        Ok(())
    }

    /// The database URL in use: the configured one or the SQLite file under `state_dir`.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}?mode=rwc", self.state_dir.join("tam.db").display()),
        }
    }

    /// Resolves a path relative to `state_dir`.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() { path.to_owned() } else { self.state_dir.join(path) }
    }

    /// Token timeout as a duration.
    pub fn token_timeout(&self) -> Duration {
        Duration::from_secs(self.token_timeout_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let config = TamConfig::from_toml("").unwrap();
        assert_eq!(config, TamConfig::default());
        assert_eq!(config.token_len, 16);
        assert!(config.database_url().starts_with("sqlite://tam-state/tam.db"));
    }

    #[test]
    fn round_trips_through_toml() {
        let config = TamConfig {
            database_url: Some("postgres://postgres@127.0.0.1/test".into()),
            agents: AgentAdmission { auto_enroll: true, trust_anchors: vec!["a.pem".into()] },
            ..TamConfig::default()
        };
        let back = TamConfig::from_toml(&config.to_toml()).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn rejects_bad_values() {
        assert!(TamConfig::from_toml("token_len = 7").is_err());
        assert!(TamConfig::from_toml("token_len = 65").is_err());
        assert!(TamConfig::from_toml("token_timeout_secs = 0").is_err());
        assert!(TamConfig::from_toml("unknown_field = 1").is_err());
        let dup = "[[endpoints]]\npath='/a'\nwire='rfc'\n[[endpoints]]\npath='/a'\nwire='legacy'";
        assert!(TamConfig::from_toml(dup).is_err());
        let legacy = "[[endpoints]]\npath='/x'\nwire='legacy'";
        assert_eq!(TamConfig::from_toml(legacy).unwrap().endpoints[0].wire, Wire::Legacy);
    }
}
