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
    /// Seconds a client may take to send a request body; slower ones get 408. Bounds how long
    /// a slow sender holds one of the `max_concurrent_sessions` places.
    pub body_timeout_secs: u64,
    /// TEEP requests handled at the same time by this process; one more gets 503 with
    /// `Retry-After` at once instead of waiting in a queue.
    pub max_concurrent_sessions: u32,
    /// Seconds that requests in flight get to finish after SIGTERM or Ctrl-C; then the
    /// process exits anyway.
    pub shutdown_grace_secs: u64,
    /// Seconds the TEEP listener keeps answering (`/readyz` with 503) after SIGTERM or
    /// Ctrl-C before it stops accepting connections, so that a load balancer notices; 0
    /// closes it at once.
    pub shutdown_drain_secs: u64,
    /// Seconds a client has to send a request's header section, on a new connection and
    /// between the requests of a kept-alive one (so idle connections close after it too);
    /// also bounds the TLS handshake. Slower connections are closed. Every listener.
    pub header_timeout_secs: u64,
    /// Open connections per listener; one more is closed at once.
    pub max_connections: usize,
    /// Log format of `teep tam serve`: `text` or `json` (one object per line).
    pub log_format: LogFormat,
    /// HTTP paths and the TEEP numbering spoken on each.
    pub endpoints: Vec<Endpoint>,
    /// How Agents are admitted.
    pub agents: AgentAdmission,
    /// Serve HTTPS with this certificate (draft-ietf-teep-otrp-over-http §4: HTTPS is
    /// RECOMMENDED). Absent: plain HTTP, for loopback and tests.
    pub tls: Option<TlsFiles>,
    /// Attestation of Agents (background-check model).
    pub attestation: AttestationConfig,
    /// `[admin]`: the admin REST API listener (see docs/admin-api.md); absent: no admin API.
    pub admin: Option<AdminListen>,
}

/// `[admin]`: where the admin REST API ([`crate::api`]) listens and what it accepts.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct AdminListen {
    /// Address of the admin listener (keep it on loopback or a management network).
    pub listen: SocketAddr,
    /// Largest request body other than a payload upload (SUIT envelopes, keys), in bytes.
    pub max_body_bytes: usize,
    /// Largest hosted payload (`PUT /admin/v1/payloads/{name}`), in bytes.
    pub max_payload_bytes: usize,
    /// `[admin.tls]`: serve HTTPS, optionally requiring client certificates.
    pub tls: Option<AdminTls>,
}

impl Default for AdminListen {
    fn default() -> Self {
        AdminListen {
            listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            max_body_bytes: 1 << 20,
            max_payload_bytes: 64 << 20,
            tls: None,
        }
    }
}

/// `[admin.tls]`: HTTPS for the admin listener. Relative paths are under `state_dir`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AdminTls {
    /// Certificate chain, leaf first (PEM).
    pub certificate: PathBuf,
    /// Private key of the leaf certificate (PEM: PKCS#8, SEC1 or PKCS#1).
    pub private_key: PathBuf,
    /// CA certificates (PEM) that client certificates must chain to. When set, a client may
    /// authenticate with a certificate registered to a principal instead of a token
    /// (mutual TLS); clients without a certificate may still use tokens.
    pub client_ca: Option<PathBuf>,
}

/// Log line format.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
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
    /// Manufacturer CA certificates (PEM files): a device whose Agent key is certified by a
    /// chain to one of them can be enrolled with `teep tam device add --cert` (see
    /// [`crate::x509`]).
    pub manufacturer_cas: Vec<PathBuf>,
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
            body_timeout_secs: 30,
            max_concurrent_sessions: 1024,
            shutdown_grace_secs: 30,
            shutdown_drain_secs: 0,
            header_timeout_secs: 10,
            max_connections: 4096,
            log_format: LogFormat::Text,
            endpoints: vec![
                Endpoint { path: "/tam".into(), wire: Wire::Rfc },
                Endpoint { path: "/tam/legacy".into(), wire: Wire::Legacy },
            ],
            agents: AgentAdmission::default(),
            tls: None,
            attestation: AttestationConfig::default(),
            admin: None,
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
        if self.header_timeout_secs == 0 {
            return Err(ConfigError::Invalid("header_timeout_secs must be positive"));
        }
        if self.max_connections == 0 {
            return Err(ConfigError::Invalid("max_connections must be positive"));
        }
        if self.body_timeout_secs == 0 {
            return Err(ConfigError::Invalid("body_timeout_secs must be positive"));
        }
        if self.max_concurrent_sessions == 0 {
            return Err(ConfigError::Invalid("max_concurrent_sessions must be positive"));
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
            if is_reserved_path(&endpoint.path) {
                return Err(ConfigError::Invalid(
                    "endpoint path is reserved: /healthz, /readyz, /metrics, /payloads/... and \
                     /admin/... are served by the TAM itself; choose another path (e.g. /tam)",
                ));
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

    /// How long a client may take to send a request's header section.
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_secs)
    }

    /// How long the TEEP listener keeps answering after shutdown began.
    pub fn shutdown_drain(&self) -> Duration {
        Duration::from_secs(self.shutdown_drain_secs)
    }

    /// Resolves a path relative to `state_dir`.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() { path.to_owned() } else { self.state_dir.join(path) }
    }

    /// Token timeout as a duration.
    pub fn token_timeout(&self) -> Duration {
        Duration::from_secs(self.token_timeout_secs)
    }

    /// Body timeout as a duration.
    pub fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.body_timeout_secs)
    }

    /// Shutdown grace period as a duration.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// The database URL in use with any password replaced by `***`, for logs.
    pub fn database_url_redacted(&self) -> String {
        redact_url(&self.database_url())
    }

    /// Reads the configuration in layers, each overriding the one before: the defaults, the
    /// file (when given), the `TEEP_TAM_*` variables among `env`, and `flags` (pairs of a
    /// [`SETTINGS`] key and its text). A relative `state_dir` from the file is taken relative
    /// to the file's directory, one from the environment or a flag relative to the working
    /// directory.
    ///
    /// Refused, with the name of what is wrong: an unknown key in the file (with its line
    /// and column), an unknown `TEEP_TAM_*` variable, and a value of the wrong type from any
    /// layer. Values are never repeated in errors (a database URL may hold a password).
    pub fn layered(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &[(&str, String)],
    ) -> Result<Self, ConfigError> {
        let (mut table, file_dir) = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })?;
                let in_file = |e: &toml::de::Error| match parse_error(&text, e) {
                    ConfigError::Parse(reason) => {
                        ConfigError::Parse(format!("{}: {reason}", path.display()))
                    }
                    other => other,
                };
                // The file alone must be well-formed: this names the line of an unknown key.
                toml::from_str::<TamConfig>(&text).map_err(|e| in_file(&e))?;
                let table = toml::from_str::<toml::Table>(&text).map_err(|e| in_file(&e))?;
                (table, path.parent().map(Path::to_owned))
            }
            None => (toml::Table::new(), None),
        };

        let mut env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(name, _)| {
                name.starts_with(ENV_PREFIX) && !ENV_NOT_SETTINGS.contains(&&**name)
            })
            .collect();
        env.sort();
        let mut layers = Vec::new();
        for (name, value) in env {
            let setting = SETTINGS.iter().find(|s| s.env_name() == name).ok_or_else(|| {
                let known: Vec<String> = SETTINGS.iter().map(Setting::env_name).collect();
                ConfigError::Parse(format!(
                    "unknown environment variable {name}; the TAM reads {} and {}",
                    known.join(", "),
                    ENV_NOT_SETTINGS.join(", ")
                ))
            })?;
            layers.push((setting, value, name));
        }
        for (key, value) in flags {
            let setting = SETTINGS.iter().find(|s| s.key == *key).ok_or_else(|| {
                ConfigError::Parse(format!("{key} is not a setting flags can change"))
            })?;
            layers.push((setting, value.clone(), setting.flag_name()));
        }

        let mut state_dir_set = false;
        for (setting, text, source) in &layers {
            let value = setting
                .kind
                .parse(text)
                .map_err(|reason| ConfigError::Parse(format!("{source}: {reason}")))?;
            insert(&mut table, setting.key, value)
                .map_err(|reason| ConfigError::Parse(format!("{source}: {reason}")))?;
            state_dir_set |= setting.key == "state_dir";
        }

        let mut config: TamConfig = toml::Value::Table(table).try_into().map_err(|e| {
            // The file alone deserialized, so a layer is to blame: the error names the key
            // ("... in `tls`"), and the last layer that set it or a key inside it is named.
            let text = e.to_string();
            let message = text.trim_end();
            let (reason, path) = match message.rsplit_once("\nin `") {
                Some((reason, path)) => (reason, path.trim_end_matches('`')),
                None => (message, ""),
            };
            let culprit = layers.iter().rev().find(|(setting, _, _)| {
                let key = setting.key;
                !path.is_empty()
                    && (key == path
                        || key.strip_prefix(path).is_some_and(|rest| rest.starts_with('.')))
            });
            match culprit {
                Some((_, _, source)) => ConfigError::Parse(format!("{source}: {reason}")),
                None => ConfigError::Parse(message.replace('\n', " ")),
            }
        })?;
        if !state_dir_set
            && config.state_dir.is_relative()
            && let Some(dir) = file_dir
        {
            config.state_dir = dir.join(&config.state_dir);
        }
        config.validate()?;
        Ok(config)
    }
}

/// Prefix of the environment variables that hold TAM settings.
pub const ENV_PREFIX: &str = "TEEP_TAM_";

/// `TEEP_TAM_*` variables that are not settings: the configuration file's path.
pub const ENV_NOT_SETTINGS: &[&str] = &["TEEP_TAM_CONFIG"];

/// How the text of an environment variable or a flag becomes a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SettingKind {
    /// Taken as it is (addresses, paths, URLs, names).
    Text,
    /// A decimal integer.
    Integer,
    /// `true` or `false` (also `1` or `0`).
    Boolean,
}

impl SettingKind {
    fn parse(self, text: &str) -> Result<toml::Value, String> {
        let text = text.trim();
        match self {
            SettingKind::Text => Ok(toml::Value::String(text.to_owned())),
            SettingKind::Integer => text
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .map(toml::Value::Integer)
                .ok_or_else(|| "expected a non-negative decimal integer".to_owned()),
            SettingKind::Boolean => match text {
                "true" | "1" => Ok(toml::Value::Boolean(true)),
                "false" | "0" => Ok(toml::Value::Boolean(false)),
                _ => Err("expected true or false".to_owned()),
            },
        }
    }
}

/// A setting that the environment and command-line flags can set, named by its key in
/// `tam.toml` (a dot separates a table from its key).
#[derive(Clone, Copy, Debug)]
pub struct Setting {
    /// Key in `tam.toml`, e.g. `listen` or `tls.certificate`.
    pub key: &'static str,
    /// How its text is read.
    pub kind: SettingKind,
}

impl Setting {
    /// `TEEP_TAM_` and the key in capitals, dots as underscores (`TEEP_TAM_TLS_CERTIFICATE`).
    pub fn env_name(&self) -> String {
        format!("{ENV_PREFIX}{}", self.key.replace('.', "_").to_ascii_uppercase())
    }

    /// `--` and the key with dots and underscores as dashes (`--tls-certificate`).
    pub fn flag_name(&self) -> String {
        format!("--{}", self.key.replace(['.', '_'], "-"))
    }
}

const fn setting(key: &'static str, kind: SettingKind) -> Setting {
    Setting { key, kind }
}

/// Every setting that environment variables and flags can set. Lists (`endpoints`, key
/// files of Agents and Verifiers) are set in the file only.
pub const SETTINGS: &[Setting] = &[
    setting("state_dir", SettingKind::Text),
    setting("listen", SettingKind::Text),
    setting("database_url", SettingKind::Text),
    setting("max_db_connections", SettingKind::Integer),
    setting("token_len", SettingKind::Integer),
    setting("token_timeout_secs", SettingKind::Integer),
    setting("max_tokens_per_device", SettingKind::Integer),
    setting("body_limit", SettingKind::Integer),
    setting("body_timeout_secs", SettingKind::Integer),
    setting("max_concurrent_sessions", SettingKind::Integer),
    setting("shutdown_grace_secs", SettingKind::Integer),
    setting("shutdown_drain_secs", SettingKind::Integer),
    setting("header_timeout_secs", SettingKind::Integer),
    setting("max_connections", SettingKind::Integer),
    setting("log_format", SettingKind::Text),
    setting("keys.p256", SettingKind::Text),
    setting("keys.ed25519", SettingKind::Text),
    setting("tls.certificate", SettingKind::Text),
    setting("tls.private_key", SettingKind::Text),
    setting("agents.auto_enroll", SettingKind::Boolean),
    setting("attestation.enabled", SettingKind::Boolean),
    setting("attestation.verifier_url", SettingKind::Text),
    setting("admin.listen", SettingKind::Text),
];

/// Paths the TAM serves itself on the TEEP listener (probes, metrics, hosted payloads) or
/// reserves for the admin API; a TEEP endpoint there would shadow them.
fn is_reserved_path(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    let path = if path.is_empty() { "/" } else { path };
    ["/healthz", "/readyz", "/metrics", "/payloads", "/admin"]
        .iter()
        .any(|r| path == *r || path.strip_prefix(r).is_some_and(|rest| rest.starts_with('/')))
}

/// Sets the dotted `key` in `table`, creating tables on the way.
fn insert(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), String> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let Some(last) = parts.pop() else { return Err("empty key".into()) };
    let mut current = table;
    for part in parts {
        let entry = current
            .entry(part.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = match entry {
            toml::Value::Table(t) => t,
            _ => return Err(format!("`{part}` in the file is not a table")),
        };
    }
    current.insert(last.to_owned(), value);
    Ok(())
}

/// A URL with the password of `user:password@` and of `password=` query parameters
/// replaced by `***`.
fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => {
                    let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
                    let hidden = if userinfo.contains(':') { ":***" } else { "" };
                    format!("{scheme}://{user}{hidden}@{host}{path}")
                }
                None => base.to_owned(),
            }
        }
        None => base.to_owned(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if name.to_ascii_lowercase().contains("password") => {
                    format!("{name}=***")
                }
                _ => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
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
            agents: AgentAdmission {
                auto_enroll: true,
                trust_anchors: vec!["a.pem".into()],
                manufacturer_cas: Vec::new(),
            },
            ..TamConfig::default()
        };
        let back = TamConfig::from_toml(&config.to_toml()).unwrap();
        assert_eq!(back, config);
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn flags_override_env_override_file_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tam.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:1000\"\ntoken_len = 20\nbody_limit = 5000\n\
             state_dir = \"state\"\n",
        )
        .unwrap();

        // File only: file values over defaults, state_dir beside the file.
        let config = TamConfig::layered(Some(&file), env(&[]), &[]).unwrap();
        assert_eq!(config.listen.port(), 1000);
        assert_eq!(config.token_len, 20);
        assert_eq!(config.max_concurrent_sessions, 1024, "default kept");
        assert_eq!(config.state_dir, dir.path().join("state"));

        // The environment beats the file; unrelated variables are ignored.
        let vars = env(&[
            ("TEEP_TAM_LISTEN", "127.0.0.1:2000"),
            ("TEEP_TAM_TOKEN_LEN", "24"),
            ("TEEP_TAM_DATABASE_URL", "postgres://u:secret@127.0.0.1/db"),
            ("TEEP_TAM_TLS_CERTIFICATE", "cert.pem"),
            ("TEEP_TAM_TLS_PRIVATE_KEY", "key.pem"),
            ("TEEP_TAM_AGENTS_AUTO_ENROLL", "true"),
            ("TEEP_TAM_LOG_FORMAT", "json"),
            ("TEEP_TAM_ADMIN_LISTEN", "127.0.0.1:2001"),
            ("TEEP_TAM_CONFIG", "ignored: the file's own path"),
            ("HOME", "/root"),
        ]);
        let config = TamConfig::layered(Some(&file), vars.clone(), &[]).unwrap();
        assert_eq!(config.listen.port(), 2000);
        assert_eq!(config.token_len, 24);
        assert_eq!(config.body_limit, 5000, "file value kept where env is silent");
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.admin.as_ref().unwrap().listen.port(), 2001);
        assert!(config.agents.auto_enroll);
        assert_eq!(config.tls.as_ref().unwrap().certificate, PathBuf::from("cert.pem"));
        assert_eq!(config.database_url_redacted(), "postgres://u:***@127.0.0.1/db");

        // Flags beat the environment; a state_dir flag is taken as given.
        let flags = [("listen", "127.0.0.1:3000".to_owned()), ("state_dir", "elsewhere".into())];
        let config = TamConfig::layered(Some(&file), vars, &flags).unwrap();
        assert_eq!(config.listen.port(), 3000);
        assert_eq!(config.token_len, 24);
        assert_eq!(config.state_dir, PathBuf::from("elsewhere"));

        // No file at all: defaults, environment and flags.
        let config =
            TamConfig::layered(None, env(&[("TEEP_TAM_MAX_CONCURRENT_SESSIONS", "7")]), &[])
                .unwrap();
        assert_eq!(config.max_concurrent_sessions, 7);
        assert_eq!(config.listen, TamConfig::default().listen);
    }

    #[test]
    fn layered_errors_name_their_source_and_never_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tam.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:1000\"\nlisten_address = 1\n").unwrap();
        let err = TamConfig::layered(Some(&file), env(&[]), &[]).unwrap_err().to_string();
        assert!(err.contains("unknown field `listen_address`"), "{err}");
        assert!(err.contains("tam.toml: line 2, column 1"), "{err}");

        std::fs::write(&file, "").unwrap();
        let err = TamConfig::layered(Some(&file), env(&[("TEEP_TAM_LISTN", "x")]), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown environment variable TEEP_TAM_LISTN"), "{err}");
        assert!(err.contains("TEEP_TAM_LISTEN"), "the known names are listed: {err}");

        let err = TamConfig::layered(Some(&file), env(&[("TEEP_TAM_TOKEN_LEN", "many")]), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("TEEP_TAM_TOKEN_LEN: expected a non-negative"), "{err}");

        let flags = [("listen", "secret-host".to_owned())];
        let err = TamConfig::layered(Some(&file), env(&[]), &flags).unwrap_err().to_string();
        assert!(err.contains("--listen: "), "{err}");
        assert!(!err.contains("secret-host"), "{err}");

        let flags = [("log_format", "xml".to_owned())];
        let err = TamConfig::layered(None, env(&[]), &flags).unwrap_err().to_string();
        assert!(err.contains("--log-format: "), "{err}");

        // A table whose other keys are missing names the layer that started it.
        let vars = env(&[("TEEP_TAM_TLS_CERTIFICATE", "cert.pem")]);
        let err = TamConfig::layered(None, vars, &[]).unwrap_err().to_string();
        assert!(err.contains("TEEP_TAM_TLS_CERTIFICATE: missing field `private_key`"), "{err}");

        // Ranges are checked on the merged result.
        let vars = env(&[("TEEP_TAM_MAX_CONCURRENT_SESSIONS", "0")]);
        let err = TamConfig::layered(None, vars, &[]).unwrap_err().to_string();
        assert!(err.contains("max_concurrent_sessions must be positive"), "{err}");

        let err = TamConfig::layered(Some(&dir.path().join("missing.toml")), env(&[]), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.toml"), "{err}");
    }

    #[test]
    fn every_setting_is_a_real_key() {
        for setting in SETTINGS {
            let value = match setting.kind {
                SettingKind::Text => match setting.key {
                    "listen" | "admin.listen" => "127.0.0.1:1",
                    "log_format" => "json",
                    _ => "x",
                },
                SettingKind::Integer => "17",
                SettingKind::Boolean => "false",
            };
            let mut flags = vec![(setting.key, value.to_owned())];
            // A TLS certificate needs its key (and the other way round).
            if setting.key.starts_with("tls.") {
                flags.push(("tls.certificate", "c.pem".into()));
                flags.push(("tls.private_key", "k.pem".into()));
            }
            let result = TamConfig::layered(None, Vec::new(), &flags);
            assert!(result.is_ok(), "{}: {:?}", setting.key, result.err());
        }
    }

    #[test]
    fn redacts_database_passwords() {
        let redact = |url: &str| redact_url(url);
        assert_eq!(redact("postgres://u:pw@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact("postgres://h/db?user=u&password=pw"),
            "postgres://h/db?user=u&password=***"
        );
        assert_eq!(redact("sqlite://state/tam.db?mode=rwc"), "sqlite://state/tam.db?mode=rwc");
        assert_eq!(redact("postgres://u:p@ss@h/db"), "postgres://u:***@h/db");
    }

    #[test]
    fn refuses_reserved_endpoint_paths() {
        for path in ["/payloads/x", "/payloads", "/metrics", "/healthz", "/readyz/", "/admin/v1"] {
            let text = format!("[[endpoints]]\npath = \"{path}\"\nwire = \"rfc\"\n");
            let error = TamConfig::from_toml(&text).unwrap_err().to_string();
            assert!(error.contains("reserved"), "{path}: {error}");
        }
        for path in ["/tam", "/payloadsx", "/teep/metrics"] {
            let text = format!("[[endpoints]]\npath = \"{path}\"\nwire = \"rfc\"\n");
            assert!(TamConfig::from_toml(&text).is_ok(), "{path}");
        }
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
