//! Verifier configuration (`verifier.toml`): its signing key, the Endorsements (trusted
//! attestation keys) and the Reference Values it appraises Evidence against (RFC 9334 §3.2,
//! §3.3).
//!
//! ```toml
//! listen = "127.0.0.1:8181"
//! key = "verifier-p256.pem"              # PKCS#8 PEM; generated when missing
//! attester_keys = ["agent-attest.pem"]   # SPKI PEM, JWK or COSE_Key files
//! policy_id = "teep-default"
//! [reference]
//! oemids = ["894823"]                    # hex; empty = any
//! hwmodels = ["549dcecc8b987c737b44e40f7c635ce8"]
//! hwversions = ["1.3.4"]
//! manifest_digests = ["a7fd...0609"]     # SHA-256 of accepted manifests, hex
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use teep_cose::{PublicKey, SigningKey};
use teep_eat::{Digest, OemId, ReferenceValues};

use crate::error::VerifierError;

/// COSE algorithm id of SHA-256.
const SHA256: i64 = -16;

/// Configuration of one Verifier process.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct VerifierConfig {
    /// Directory for relative paths.
    pub state_dir: PathBuf,
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// The Verifier's signing key (PKCS#8 PEM; P-256 or Ed25519).
    pub key: PathBuf,
    /// Endorsed attestation public keys.
    pub attester_keys: Vec<PathBuf>,
    /// Reference values.
    pub reference: ReferenceConfig,
    /// Reported as ear.appraisal-policy-id.
    pub policy_id: String,
    /// Reported as iss.
    pub verifier_id: String,
    /// Seconds a challenge-response session lives.
    pub session_ttl_secs: u64,
    /// Most sessions kept at once; new sessions beyond that get 503.
    pub max_sessions: usize,
    /// Evidence without eat_nonce is accepted when its iat lies within this many seconds of
    /// the Verifier's clock (timestamp freshness); 0 disables timestamp freshness.
    pub timestamp_window_secs: u64,
    /// Largest Evidence accepted, bytes.
    pub max_evidence_len: usize,
}

/// Reference values in hex / text form.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ReferenceConfig {
    /// Accepted oemid byte strings, hex.
    pub oemids: Vec<String>,
    /// Accepted hwmodel values, hex.
    pub hwmodels: Vec<String>,
    /// Accepted hwversion texts.
    pub hwversions: Vec<String>,
    /// Accepted SHA-256 manifest digests, hex.
    pub manifest_digests: Vec<String>,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        VerifierConfig {
            state_dir: PathBuf::from("verifier-state"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8181)),
            key: PathBuf::from("verifier-p256.pem"),
            attester_keys: Vec::new(),
            reference: ReferenceConfig::default(),
            policy_id: "teep-rs/default".into(),
            verifier_id: "teep-rs verifier".into(),
            session_ttl_secs: 300,
            max_sessions: 10_000,
            timestamp_window_secs: 300,
            max_evidence_len: 64 * 1024,
        }
    }
}

fn unhex(field: &'static str, s: &str) -> Result<Vec<u8>, VerifierError> {
    hex::decode(s.trim()).map_err(|_| VerifierError::Config(format!("{field}: invalid hex")))
}

impl ReferenceConfig {
    /// The reference values the appraisal uses.
    pub fn values(&self) -> Result<ReferenceValues, VerifierError> {
        let all = |field, list: &[String]| -> Result<Vec<Vec<u8>>, VerifierError> {
            list.iter().map(|s| unhex(field, s)).collect()
        };
        Ok(ReferenceValues {
            oemids: all("oemids", &self.oemids)?.into_iter().map(OemId::Bytes).collect(),
            hwmodels: all("hwmodels", &self.hwmodels)?,
            hwversions: self.hwversions.clone(),
            manifest_digests: all("manifest_digests", &self.manifest_digests)?
                .into_iter()
                .map(|bytes| Digest { algorithm: SHA256, bytes })
                .collect(),
        })
    }
}

impl VerifierConfig {
    /// Parses and validates TOML.
    pub fn from_toml(text: &str) -> Result<Self, VerifierError> {
        let c: VerifierConfig =
            toml::from_str(text).map_err(|e| VerifierError::Config(e.message().to_owned()))?;
        c.validate()?;
        Ok(c)
    }

    /// Reads a TOML file.
    pub fn load(path: &Path) -> Result<Self, VerifierError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| VerifierError::Config(format!("{}: {e}", path.display())))?;
        Self::from_toml(&text)
    }

    /// The configuration as TOML.
    pub fn to_toml(&self) -> String {
        // Plain structs of strings, numbers and paths always serialize.
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks ranges and the reference values' syntax.
    pub fn validate(&self) -> Result<(), VerifierError> {
        if self.session_ttl_secs == 0 || self.max_sessions == 0 || self.max_evidence_len == 0 {
            return Err(VerifierError::Config(
                "session_ttl_secs, max_sessions and max_evidence_len must be positive".into(),
            ));
        }
        self.reference.values().map(|_| ())
    }

    /// Resolves a path relative to `state_dir`.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() { path.to_owned() } else { self.state_dir.join(path) }
    }

    /// Loads the signing key, generating a P-256 key (file mode 0600) when it is missing.
    pub fn load_or_generate_key(&self) -> Result<SigningKey, VerifierError> {
        let path = self.resolve(&self.key);
        match std::fs::read_to_string(&path) {
            Ok(pem) => SigningKey::from_pkcs8_pem(&pem)
                .map_err(|e| VerifierError::Key(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut rng = crate::rng();
                let key = SigningKey::generate_p256(&mut rng);
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                write_private(&path, key.to_pkcs8_pem().as_bytes())?;
                tracing::info!(path = %path.display(), "generated Verifier key");
                Ok(key)
            }
            Err(e) => Err(VerifierError::Key(format!("{}: {e}", path.display()))),
        }
    }

    /// Loads the endorsed attestation keys.
    pub fn load_attester_keys(&self) -> Result<Vec<PublicKey>, VerifierError> {
        self.attester_keys
            .iter()
            .map(|p| {
                let path = self.resolve(p);
                let bytes = std::fs::read(&path)
                    .map_err(|e| VerifierError::Key(format!("{}: {e}", path.display())))?;
                parse_public_key(&bytes)
                    .map_err(|e| VerifierError::Key(format!("{}: {e}", path.display())))
            })
            .collect()
    }
}

/// Reads a public key from SPKI PEM, JWK or COSE_Key bytes.
pub fn parse_public_key(bytes: &[u8]) -> Result<PublicKey, teep_cose::Error> {
    match core::str::from_utf8(bytes).map(str::trim_start) {
        Ok(text) if text.starts_with("-----BEGIN") => PublicKey::from_spki_pem(text),
        Ok(text) if text.starts_with('{') => PublicKey::from_jwk(text),
        _ => PublicKey::from_cose_key(bytes),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}
