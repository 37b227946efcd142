//! Broker configuration (TOML through serde).
//!
//! Every field has a default, so an empty file (or [`BrokerConfig::default`]) is a working
//! configuration for HTTPS TAMs whose certificates chain to the system roots.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// Which wire numbering the transcript uses to name TEEP message types.
///
/// Message types 4 and 5 mean different things in draft-ietf-teep-protocol-26 (Success, Error)
/// and in earlier drafts (unassigned, Success). The Broker never decodes messages beyond the
/// type, so this only changes how the transcript labels them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WireNumbering {
    /// draft-ietf-teep-protocol-26 and the IANA registry.
    #[default]
    Rfc,
    /// draft-ietf-teep-protocol-25 and earlier.
    Legacy,
}

/// Configuration of a [`Broker`](crate::Broker) and its HTTP client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// Unix socket of the TEEP Agent process (`teep agent serve`).
    pub agent_socket: Option<PathBuf>,
    /// TAM URI handed to the Agent as metadata in RequestTA and UnrequestTA
    /// (draft-ietf-teep-otrp-over-http §5.1). The Agent may answer with another URI, and then
    /// that one is used.
    pub default_tam_uri: Option<String>,
    /// Replaces a TAM URI the Agent names by another (key: URI from the Agent, value: URI to
    /// POST to). For relocated TAMs and for tests that run the TAM on a loopback port; empty by
    /// default, so the Broker uses the URI passed back as the transport draft requires.
    pub tam_uri_overrides: BTreeMap<String, String>,
    /// PEM file with the CA certificates that TAM server certificates must chain to. When set,
    /// only these roots are trusted; when absent, the platform's roots are.
    pub ca_file: Option<PathBuf>,
    /// Allow plain `http://` TAM URIs (loopback testing, or constrained devices that rely on
    /// the end-to-end protection of TEEP alone, transport draft §3). Off by default.
    pub allow_http: bool,
    /// TCP connect timeout in milliseconds.
    pub connect_timeout_ms: u64,
    /// Timeout of one HTTP exchange (request sent, whole response read) in milliseconds.
    pub request_timeout_ms: u64,
    /// Largest TAM response body accepted, in bytes.
    pub max_response_bytes: usize,
    /// Largest number of HTTP POSTs in one TEEP session.
    pub max_round_trips: u32,
    /// Largest number of TAM sessions one RequestPolicyCheck runs.
    pub max_policy_check_sessions: u32,
    /// Numbering used to name message types in the transcript.
    pub numbering: WireNumbering,
    /// `teep broker serve`: local socket and policy-check schedule.
    pub daemon: crate::daemon_config::DaemonConfig,
    /// Passport model (RFC 9334 §5.1): the Broker takes the Agent's Evidence to this Verifier
    /// and the Agent presents the Attestation Result. Absent: background-check model, the
    /// Agent's Evidence goes to the TAM as it is.
    pub passport: Option<crate::passport::PassportConfig>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            agent_socket: None,
            default_tam_uri: None,
            tam_uri_overrides: BTreeMap::new(),
            ca_file: None,
            allow_http: false,
            connect_timeout_ms: 10_000,
            request_timeout_ms: 60_000,
            max_response_bytes: 64 << 20,
            max_round_trips: 16,
            max_policy_check_sessions: 16,
            numbering: WireNumbering::Rfc,
            daemon: crate::daemon_config::DaemonConfig::default(),
            passport: None,
        }
    }
}

impl BrokerConfig {
    /// Parses a TOML document; unknown keys are rejected.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and parses a TOML file.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Toml(format!("{}: {e}", path.display())))?;
        Self::from_toml(&text)
    }

    /// Serialises the configuration as TOML.
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        toml::to_string(self).map_err(|e| ConfigError::Toml(e.to_string()))
    }

    /// Rejects values that cannot work (zero limits and timeouts).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.connect_timeout_ms == 0 || self.request_timeout_ms == 0 {
            return Err(ConfigError::Invalid("timeouts must be at least 1 ms"));
        }
        if self.max_response_bytes == 0 {
            return Err(ConfigError::Invalid("max_response_bytes must be positive"));
        }
        if self.max_round_trips == 0 || self.max_policy_check_sessions == 0 {
            return Err(ConfigError::Invalid("session limits must be positive"));
        }
        if let Some(passport) = &self.passport {
            passport.validate()?;
        }
        self.daemon.validate()
    }

    /// The connect timeout as a [`Duration`].
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// The per-exchange timeout as a [`Duration`].
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// The URI to POST to for a TAM URI the Agent named.
    pub fn effective_tam_uri<'a>(&'a self, from_agent: &'a str) -> &'a str {
        self.tam_uri_overrides.get(from_agent).map_or(from_agent, String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_toml_is_default() {
        assert_eq!(BrokerConfig::from_toml("").ok(), Some(BrokerConfig::default()));
    }

    #[test]
    fn round_trip_and_overrides() {
        let text = r#"
            agent_socket = "/run/teep/agent.sock"
            ca_file = "/etc/teep/ca.pem"
            allow_http = true
            max_round_trips = 4
            numbering = "legacy"
            [tam_uri_overrides]
            "https://tam.example/tam" = "http://127.0.0.1:8080/tam"
        "#;
        let config = BrokerConfig::from_toml(text);
        let Ok(config) = config else { panic!("parse failed: {config:?}") };
        assert!(config.allow_http);
        assert_eq!(config.max_round_trips, 4);
        assert_eq!(config.numbering, WireNumbering::Legacy);
        assert_eq!(
            config.effective_tam_uri("https://tam.example/tam"),
            "http://127.0.0.1:8080/tam"
        );
        assert_eq!(config.effective_tam_uri("https://other/tam"), "https://other/tam");
        let again = config.to_toml().ok().and_then(|t| BrokerConfig::from_toml(&t).ok());
        assert_eq!(again, Some(config));
    }

    #[test]
    fn passport_section() {
        let config = BrokerConfig::from_toml(
            "[passport]\nverifier_url = \"http://127.0.0.1:8090\"\ntimeout_ms = 2500\n",
        );
        let Ok(config) = config else { panic!("parse failed: {config:?}") };
        let passport = config.passport.clone().unwrap_or_else(|| panic!("no passport"));
        assert_eq!(passport.verifier_url, "http://127.0.0.1:8090");
        assert_eq!(passport.timeout(), Duration::from_millis(2500));
        let again = config.to_toml().ok().and_then(|t| BrokerConfig::from_toml(&t).ok());
        assert_eq!(again, Some(config));

        let default_timeout =
            BrokerConfig::from_toml("[passport]\nverifier_url = \"https://v.example\"\n");
        assert!(
            matches!(default_timeout, Ok(c) if c.passport.as_ref().is_some_and(|p| p.timeout_ms > 0))
        );
        for bad in [
            "[passport]\nverifier_url = \"ftp://v.example\"\n",
            "[passport]\nverifier_url = \"not a url\"\n",
            "[passport]\nverifier_url = \"http://v.example\"\ntimeout_ms = 0\n",
            "[passport]\ntimeout_ms = 10\n",
            "[passport]\nverifier_url = \"http://v.example\"\nbogus = 1\n",
        ] {
            assert!(BrokerConfig::from_toml(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rejects_unknown_keys_and_zero_limits() {
        assert!(matches!(BrokerConfig::from_toml("bogus = 1"), Err(ConfigError::Toml(_))));
        assert!(matches!(
            BrokerConfig::from_toml("max_round_trips = 0"),
            Err(ConfigError::Invalid(_))
        ));
    }
}
