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
/// Shortest `token_len` this TAM accepts: a stateless QueryRequest token carries a nonce, its
/// expiry and a MAC (see [`crate::token`]), which need at least 16 bytes.
pub const MIN_QUERY_TOKEN_LEN: usize = 16;
/// Longest `token_timeout_secs`: used QueryRequest tokens are remembered until they expire.
pub const MAX_TOKEN_TIMEOUT_SECS: u64 = 30 * 24 * 3600;

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
    /// Token length in bytes (16..=64).
    pub token_len: usize,
    /// How long an issued token stays valid, in seconds (at most 30 days).
    pub token_timeout_secs: u64,
    /// Outstanding (unconsumed, unexpired) Update tokens kept per device; the oldest are
    /// dropped. QueryRequest tokens are stateless and not counted.
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
    /// Attestation of Agents (background-check model).
    pub attestation: AttestationConfig,
}

/// Freshness mechanism offered in the QueryRequest (draft-ietf-teep-protocol-26 §10).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FreshnessName {
    /// The challenge becomes eat_nonce.
    Nonce,
    /// iat within `timestamp_window_secs` of the TAM's clock.
    Timestamp,
}

/// `[attestation]`: the TAM as Relying Party in the background-check model (RFC 9334 §5.2).
/// When enabled, every QueryRequest sets the attestation bit with a challenge; the Evidence
/// goes to the Verifier; the Attestation Result must be signed by one of `verifier_keys`,
/// bound (cnf) to the key that signed the QueryResponse, fresh and affirming. A device that
/// fails gets an Update with ERR_ATTESTATION_REQUIRED and nothing installed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct AttestationConfig {
    /// Request and require attestation.
    pub enabled: bool,
    /// Base URL of the Verifier's challenge-response API (teep verifier or Veraison).
    pub verifier_url: Option<String>,
    /// Public keys (SPKI PEM, JWK or COSE_Key files) that may sign Attestation Results.
    pub verifier_keys: Vec<PathBuf>,
    /// Freshness mechanisms offered, in preference order.
    pub freshness: Vec<FreshnessName>,
    /// Accepted distance between an Attestation Result's iat and the TAM's clock (timestamp
    /// freshness), seconds.
    pub timestamp_window_secs: u64,
    /// Seconds to wait for the Verifier.
    pub verifier_timeout_secs: u64,
    /// The TAM's own attestation key (PKCS#8 PEM; generated when missing, its public key
    /// written next to it as `.pub.pem`). When set, an Agent's ERR_ATTESTATION_REQUIRED with a
    /// challenge is answered with a new QueryRequest carrying the TAM's EAT (§8.1.2). Works
    /// whether or not `enabled` is set.
    pub tam_attester_key: Option<PathBuf>,
}

impl Default for AttestationConfig {
    fn default() -> Self {
        AttestationConfig {
            enabled: false,
            verifier_url: None,
            verifier_keys: Vec::new(),
            freshness: vec![FreshnessName::Nonce],
            timestamp_window_secs: 300,
            verifier_timeout_secs: 10,
            tam_attester_key: None,
        }
    }
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
            attestation: AttestationConfig::default(),
        }
    }
}

impl TamConfig {
    /// Parses a TOML document and validates it. A syntax or type error names its line and
    /// column.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: TamConfig = toml::from_str(text).map_err(|e| parse_error(text, &e))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and validates a TOML file. A relative `state_dir` is taken relative to the
    /// directory of the file (not the process's working directory); other relative paths
    /// inside stay relative to `state_dir`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Io { path: path.to_owned(), reason: e.to_string() })?;
        let mut config = Self::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse(reason) => {
                ConfigError::Parse(format!("{}: {reason}", path.display()))
            }
            other => other,
        })?;
        if config.state_dir.is_relative()
            && let Some(dir) = path.parent()
        {
            config.state_dir = dir.join(&config.state_dir);
        }
        Ok(config)
    }

    /// Serializes the configuration as TOML.
    pub fn to_toml(&self) -> String {
        // Serializing plain structs of strings, integers and paths cannot fail.
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks ranges and consistency.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(MIN_QUERY_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&self.token_len) {
            return Err(ConfigError::Invalid(
                "token_len must be within 16..=64 (a QueryRequest token holds a nonce, its \
                 expiry and a MAC)",
            ));
        }
        if self.token_timeout_secs == 0 || self.token_timeout_secs > MAX_TOKEN_TIMEOUT_SECS {
            return Err(ConfigError::Invalid(
                "token_timeout_secs must be positive and at most 2592000 (30 days)",
            ));
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
        let a = &self.attestation;
        if a.enabled && (a.verifier_url.is_none() || a.verifier_keys.is_empty()) {
            return Err(ConfigError::Invalid(
                "attestation needs verifier_url and at least one verifier key",
            ));
        }
        if a.enabled && a.freshness.is_empty() {
            return Err(ConfigError::Invalid("attestation.freshness must not be empty"));
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

/// A TOML error as "line L, column C: message" (1-based), or the bare message when the error
/// has no position.
fn parse_error(text: &str, error: &toml::de::Error) -> ConfigError {
    let message = error.message().trim_end();
    let Some(span) = error.span() else {
        return ConfigError::Parse(message.to_owned());
    };
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count().saturating_add(1);
    let line_start = before.rfind('\n').map_or(0, |i| i.saturating_add(1));
    let column = before.get(line_start..).map_or(0, |l| l.chars().count()).saturating_add(1);
    ConfigError::Parse(format!("line {line}, column {column}: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_name_line_and_column() {
        let text = "listen = \"127.0.0.1:9000\"\n\ntoken_len = \"long\"\n";
        let err = TamConfig::from_toml(text).unwrap_err().to_string();
        assert!(err.contains("line 3, column 13"), "{err}");
        let err = TamConfig::from_toml("a = 1\n  bogus = 2\n").unwrap_err().to_string();
        assert!(err.contains("line 1, column 1"), "{err}");
        let err = TamConfig::from_toml("x = [1,\n").unwrap_err().to_string();
        assert!(err.contains("line 1, column 8"), "{err}");
    }

    #[test]
    fn relative_state_dir_is_relative_to_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tam.toml");
        std::fs::write(&file, "state_dir = \"state\"\n").unwrap();
        let config = TamConfig::load(&file).unwrap();
        assert_eq!(config.state_dir, dir.path().join("state"));
        assert_eq!(config.resolve(Path::new("k.pem")), dir.path().join("state/k.pem"));
        std::fs::write(&file, "state_dir = \"/abs/state\"\n").unwrap();
        assert_eq!(TamConfig::load(&file).unwrap().state_dir, PathBuf::from("/abs/state"));
        // The file name is part of a parse error.
        std::fs::write(&file, "token_len = []\n").unwrap();
        let err = TamConfig::load(&file).unwrap_err().to_string();
        assert!(err.contains("tam.toml: line 1, column 13"), "{err}");
    }

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
        assert!(TamConfig::from_toml("token_len = 15").is_err());
        assert!(TamConfig::from_toml("token_len = 16").is_ok());
        assert!(TamConfig::from_toml("token_timeout_secs = 2592001").is_err());
        assert!(TamConfig::from_toml("token_len = 65").is_err());
        assert!(TamConfig::from_toml("token_timeout_secs = 0").is_err());
        assert!(TamConfig::from_toml("unknown_field = 1").is_err());
        let dup = "[[endpoints]]\npath='/a'\nwire='rfc'\n[[endpoints]]\npath='/a'\nwire='legacy'";
        assert!(TamConfig::from_toml(dup).is_err());
        let legacy = "[[endpoints]]\npath='/x'\nwire='legacy'";
        assert_eq!(TamConfig::from_toml(legacy).unwrap().endpoints[0].wire, Wire::Legacy);
    }
}
