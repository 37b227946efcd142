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
//! [fetch]                           # URIs that no mirror matches
//! direct = true                     # fetch them from the URI itself (false: fail instead)
//! allow_http = false                # also plain http:// (default: https only)
//! ca_file = "/etc/teep/ca.pem"      # optional: https servers must chain to these CAs
//!                                   # (default: the platform's trust store)
//!
//! [limits]
//! max_payload_bytes = 268435456
//!
//! [reports]                         # SUIT reports in Success/Error (draft-ietf-suit-report)
//! protect = "sign"                  # "none" (default; `init` writes "sign"), "sign", "encrypt"
//! key_file = "report-key.pem"       # the report key, distinct from the TEEP key
//! encrypt_to = "-----BEGIN PUBLIC KEY-----..."  # the TAM's P-256 key, for "encrypt"
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

/// `[fetch]`: how payload URIs that no `[[mirror]]` matches are fetched
/// (suit-directive-fetch, draft-ietf-suit-manifest-34 §8.4.10.4). Mirrors always win.
///
/// Direct fetches use the same client as http(s) mirrors: no redirects, no proxies, bounded
/// time, and the `[limits] max_payload_bytes` cap, streamed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchSettings {
    /// Fetch a URI without a matching mirror from the URI itself (default `true`). When
    /// `false`, such a URI fails the manifest with a fetch error.
    #[serde(default = "default_true")]
    pub direct: bool,
    /// Allow plain `http://` URIs for direct fetches (default `false`: `https://` only; the
    /// payload's integrity still rests on the manifest's image digest).
    #[serde(default)]
    pub allow_http: bool,
    /// PEM file of the CA certificates that https servers (direct and mirror) must chain to.
    /// When absent, the platform's trust store is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<std::path::PathBuf>,
}

fn default_true() -> bool {
    true
}

impl Default for FetchSettings {
    fn default() -> Self {
        Self { direct: true, allow_http: false, ca_file: None }
    }
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

/// One SUIT_Reference reported in the manifests claim (draft-ietf-suit-report §4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestReference {
    /// suit-report-manifest-uri.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// SHA-256 of the manifest, hex.
    pub sha256: String,
}

/// `[attestation]`: the software attester (draft-ietf-teep-protocol-26 §6 EAT profile).
/// Its key is distinct from the TEEP key; its claims are what a Verifier's reference values
/// must match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationSettings {
    /// Produce Evidence with the software attester (default true). When false, or when the
    /// key file is absent, the Agent falls back to a minimal EAT signed with its TEEP key.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Attestation private key file (PKCS#8 PEM, mode 0600), relative to the state directory.
    #[serde(default = "default_attestation_key")]
    pub key_file: String,
    /// ueid, hex; default: 0x01 (RAND) followed by the attestation key's thumbprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ueid: Option<String>,
    /// oemid, hex (3-byte IEEE OUI or 16 random bytes).
    #[serde(default = "default_oemid")]
    pub oemid: String,
    /// hwmodel, hex (1..=32 bytes).
    #[serde(default = "default_hwmodel")]
    pub hwmodel: String,
    /// hwversion text.
    #[serde(default = "default_hwversion")]
    pub hwversion: String,
    /// Report the SHA-256 of the running Agent executable as the first manifests entry.
    #[serde(default = "default_true")]
    pub measure_agent: bool,
    /// Further SUIT_References (the Agent's dependencies).
    #[serde(default)]
    pub manifests: Vec<ManifestReference>,
    /// Freshness mechanisms supported: "nonce", "timestamp" (preference order).
    #[serde(default = "default_freshness")]
    pub freshness: Vec<String>,
    /// Encrypt Evidence to the TAM's P-256 key (§9.2, "EAT Encryption").
    #[serde(default)]
    pub encrypt: bool,
    /// Require attestation of the TAM: answer its first QueryRequest with
    /// ERR_ATTESTATION_REQUIRED and a challenge (draft-ietf-teep-protocol-26 §8.1.2).
    #[serde(default)]
    pub require_tam_attestation: bool,
    /// Keys (SPKI PEM or JWK text) that may sign the TAM's attestation EAT.
    #[serde(default)]
    pub tam_attester_keys: Vec<String>,
}

fn default_attestation_key() -> String {
    "attest-key.pem".into()
}

fn default_oemid() -> String {
    // The first 16 bytes of SHA-256("teep-rs"): a random-form oemid naming this software.
    let digest = <sha2::Sha256 as sha2::Digest>::digest(b"teep-rs");
    hex::encode(digest.get(..16).unwrap_or_default())
}

fn default_hwmodel() -> String {
    // RFC 9711 §4.2.4 suggests a hash of the model name.
    let digest = <sha2::Sha256 as sha2::Digest>::digest(b"teep-rs software TEE");
    hex::encode(digest.get(..16).unwrap_or_default())
}

fn default_hwversion() -> String {
    env!("CARGO_PKG_VERSION").into()
}

fn default_freshness() -> Vec<String> {
    vec!["nonce".into(), "timestamp".into()]
}

impl Default for AttestationSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            key_file: default_attestation_key(),
            ueid: None,
            oemid: default_oemid(),
            hwmodel: default_hwmodel(),
            hwversion: default_hwversion(),
            measure_agent: true,
            manifests: Vec::new(),
            freshness: default_freshness(),
            encrypt: false,
            require_tam_attestation: false,
            tam_attester_keys: Vec::new(),
        }
    }
}

fn default_suites() -> Vec<SuiteName> {
    vec![SuiteName::Esp256]
}

fn default_versions() -> Vec<u32> {
    vec![0]
}

/// How the Agent protects its SUIT reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportProtection {
    /// SUIT_Report_Unprotected (what TAMs that do not know the report key can read).
    #[default]
    None,
    /// COSE_Sign1 with the report key.
    Sign,
    /// Signed, then encrypted to `encrypt_to` (COSE_Encrypt, ECDH-ES + A128KW).
    Encrypt,
}

/// `[reports]`: protection of the SUIT reports the Agent sends (draft-ietf-suit-report §4,
/// §5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// none, sign or encrypt.
    #[serde(default)]
    pub protect: ReportProtection,
    /// The report private key (PKCS#8 PEM, mode 0600), relative to the state directory.
    #[serde(default = "default_report_key")]
    pub key_file: String,
    /// The recipient of encrypted reports: the TAM's P-256 public key (SPKI PEM or JWK).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypt_to: Option<String>,
}

fn default_report_key() -> String {
    "report-key.pem".into()
}

impl Default for ReportSettings {
    fn default() -> Self {
        Self { protect: ReportProtection::None, key_file: default_report_key(), encrypt_to: None }
    }
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
    /// Fetching of payload URIs that no mirror matches.
    #[serde(default)]
    pub fetch: FetchSettings,
    /// Resource limits.
    #[serde(default)]
    pub limits: Limits,
    /// The software attester.
    #[serde(default)]
    pub attestation: AttestationSettings,
    /// Protection of SUIT reports.
    #[serde(default)]
    pub reports: ReportSettings,
    /// Security domains: device administrators and the signers each TAM manages.
    #[serde(default, skip_serializing_if = "DomainSettings::is_empty")]
    pub domains: DomainSettings,
}

/// `[domains]` (docs/security-domains.md). Keys are SPKI PEM or JWK, like `tc_signers`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainSettings {
    /// TC signer keys that may act on every security domain (device administrators).
    #[serde(default)]
    pub administrators: Vec<String>,
    /// `[[domains.tam]]`: per TAM, the TC signers whose manifests it may delete.
    #[serde(default, rename = "tam")]
    pub tams: Vec<TamDomains>,
}

impl DomainSettings {
    /// Whether nothing is set (the section is then left out of `config.toml`).
    pub fn is_empty(&self) -> bool {
        self.administrators.is_empty() && self.tams.is_empty()
    }
}

/// The TC signers one TAM manages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TamDomains {
    /// The TAM's URI, as in its `[[tam]]` entry.
    pub uri: String,
    /// TC signer keys (SPKI PEM or JWK); the TAM may delete only their manifests.
    pub signers: Vec<String>,
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
            fetch: FetchSettings::default(),
            limits: Limits::default(),
            attestation: AttestationSettings::default(),
            reports: ReportSettings::default(),
            domains: DomainSettings::default(),
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
    /// Parses TOML text and checks every value ([`ConfigFile::check_values`]); whether the
    /// configuration is complete enough to run an Agent is [`ConfigFile::validate`].
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let cfg: Self = toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        cfg.check_values()?;
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
        let cfg = Self::from_toml(&text)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Everything [`ConfigFile::check_values`] checks, and that the Agent has something to
    /// talk to: at least one `[[tam]]` (what `init` and opening a state directory require).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check_values()?;
        if self.tams.is_empty() {
            return Err(ConfigError::Invalid(
                "no [[tam]] entry: the Agent needs at least one TAM (uri and public_keys)".into(),
            ));
        }
        Ok(())
    }

    /// Checks the values that TOML types do not: TAM URIs, hex ids, mirror targets, report
    /// settings, non-empty lists.
    pub fn check_values(&self) -> Result<(), ConfigError> {
        for (i, tam) in self.tams.iter().enumerate() {
            check_tam_uri(&tam.uri).map_err(|why| {
                ConfigError::Invalid(format!("[[tam]] #{} uri {:?}: {why}", i + 1, tam.uri))
            })?;
        }
        if self.reports.protect == ReportProtection::Encrypt && self.reports.encrypt_to.is_none() {
            return Err(ConfigError::Invalid(
                "[reports] protect = \"encrypt\" needs encrypt_to (the TAM's P-256 key)".into(),
            ));
        }
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

/// A TAM URI must be an absolute http or https URL with a host (RFC 9397 §4.4; the Broker
/// posts to it, draft-ietf-teep-over-http).
fn check_tam_uri(uri: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(uri).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("scheme {:?} is not http or https", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("no host".into());
    }
    Ok(())
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
    fn fetch_section_defaults_to_direct_https_only() {
        let cfg = ConfigFile::default();
        assert!(cfg.fetch.direct);
        assert!(!cfg.fetch.allow_http);
        assert_eq!(cfg.fetch.ca_file, None);
        let text = "[fetch]\ndirect = false\nallow_http = true\nca_file = \"/etc/ca.pem\"\n";
        let cfg = ConfigFile::from_toml(text).expect("parse");
        let want =
            FetchSettings { direct: false, allow_http: true, ca_file: Some("/etc/ca.pem".into()) };
        assert_eq!(cfg.fetch, want);
        let again = ConfigFile::from_toml(&cfg.to_toml().expect("toml")).expect("reparse");
        assert_eq!(again.fetch, want);
    }

    #[test]
    fn rejects_bad_values() {
        assert!(ConfigFile::from_toml("suites = []").is_err());
        assert!(ConfigFile::from_toml("suites = [\"rot13\"]").is_err());
        assert!(ConfigFile::from_toml("[device]\nvendor_ids = [\"zz\"]").is_err());
        let m = "[[mirror]]\nprefix = \"https://example.org/\"\ntarget = \"ftp://x\"";
        assert!(ConfigFile::from_toml(m).is_err());
        assert!(ConfigFile::from_toml("[fetch]\ndirect = \"yes\"").is_err());
        assert!(ConfigFile::from_toml("[fetch]\nretries = 3").is_err());
        assert!(ConfigFile::from_toml("numbering = 3").is_err());
    }

    #[test]
    fn tam_uris_and_a_missing_tam_are_reported_by_name() {
        let tam = |uri: &str| TamEntry { uri: uri.into(), numbering: None, public_keys: vec![] };
        let mut cfg = ConfigFile::default();
        let err = cfg.validate().expect_err("no TAM").to_string();
        assert!(err.contains("no [[tam]]"), "{err}");
        cfg.tams.push(tam("https://tam.example/tam"));
        cfg.validate().expect("one https TAM");
        for (bad, why) in [
            ("ftp://tam.example/", "scheme \"ftp\""),
            ("tam.example/tam", "not a URL"),
            ("http://", "not a URL"),
            ("file:///tmp/tam", "scheme \"file\""),
            ("", "not a URL"),
        ] {
            cfg.tams.push(tam(bad));
            let err = cfg.validate().expect_err(bad).to_string();
            assert!(err.contains(&format!("[[tam]] #2 uri {bad:?}")), "{err}");
            assert!(err.contains(why), "{err}");
            // Parsing the file catches it as well.
            assert!(ConfigFile::from_toml(&cfg.to_toml().expect("toml")).is_err(), "{bad}");
            cfg.tams.pop();
        }
        let text = "[reports]\nprotect = \"encrypt\"\n";
        let err = ConfigFile::from_toml(text).expect_err("encrypt without key").to_string();
        assert!(err.contains("encrypt_to"), "{err}");
    }
}
