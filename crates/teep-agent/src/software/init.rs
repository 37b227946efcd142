//! `teep agent init`: creating a software-TEE state directory.
//!
//! ```text
//! <dir>/                 mode 0700
//!   sealing.key          the software TEE's sealing key: 32 random bytes, mode 0600
//!   agent-key.pem        the Agent's private key, PKCS#8 PEM sealed (seal.rs), mode 0600
//!   agent-key.pub.pem    its public key (SPKI PEM), to register at TAMs
//!   attest-key.pem       the attestation key (software attester), sealed, mode 0600
//!   attest-key.pub.pem   its public key: the Endorsement to give the Verifier
//!   report-key.pem       the SUIT report signing key, sealed, mode 0600
//!   report-key.pub.pem   its public key, to enrol at the TAM (`--report-key`); init
//!                        writes `[reports] protect = "sign"`
//!   device-key.pem       the P-256 payload decryption key (ECDH-ES + AES-KW), sealed
//!   device-key.pub.pem   its public key, for TC developers who encrypt payloads
//!   keywrap-keys.json    optional AES key-wrap keys (sealed, mode 0600, see keys.rs)
//!   tc-mac-keys.json     optional HMAC keys that authenticate manifests (sealed, 0600)
//!   agent.lock           held (flock) by the process that has the directory open
//!   config.toml          trust anchors, TAM URIs, numbering, suites, mirrors (mode 0600)
//!   agent.sock           the IPC socket while `teep agent serve` runs (mode 0600)
//!   components/ manifests/ staging/ journal/    the component store (every file sealed)
//! ```
//!
//! Every private and secret key is sealed under the sealing key ([`super::seal`]); public
//! keys and `config.toml` are not. An attestation key provisioned as plaintext PEM before
//! `init` (at the configured `key_file`, or an absolute path elsewhere) is sealed into the
//! state directory; a plaintext copy inside the directory is replaced by the sealed one.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use teep_cose::SigningKey;

use super::config::{ConfigError, ConfigFile};
use super::keys::{self, KeyError};
use super::seal::{FileKey, Sealer};
use super::{COMPONENTS_DIR, JOURNAL_DIR, MANIFESTS_DIR, STAGING_DIR};

/// File name of the Agent's private key.
pub const KEY_FILE: &str = "agent-key.pem";
/// File name of the Agent's public key.
pub const PUBLIC_KEY_FILE: &str = "agent-key.pub.pem";
/// File name of the configuration.
pub const CONFIG_FILE: &str = "config.toml";
/// Conventional file name of the IPC socket inside the state directory (`teep agent serve`).
pub const SOCKET_FILE: &str = "agent.sock";
/// File name of the SUIT report key (the `[reports] key_file` default).
pub const REPORT_KEY_FILE: &str = "report-key.pem";
/// File name of the device's payload decryption key (ECDH-ES, P-256).
pub const DEVICE_KEY_FILE: &str = "device-key.pem";
/// File name of the device's payload decryption public key.
pub const DEVICE_PUBLIC_KEY_FILE: &str = "device-key.pub.pem";
/// File name of the AES key-wrap keys.
pub const KEYWRAP_KEYS_FILE: &str = "keywrap-keys.json";
/// File name of the TC signers' HMAC keys (COSE_Mac0 manifest authentication).
pub const TC_MAC_KEYS_FILE: &str = "tc-mac-keys.json";
/// File name of the lock file that keeps two Agents out of one state directory.
pub const LOCK_FILE: &str = "agent.lock";

/// The Agent key algorithm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA P-256 (suite ESP256), the default.
    #[default]
    P256,
    /// Ed25519 (suite Ed25519).
    Ed25519,
}

/// What `init` writes.
#[derive(Clone, Debug, Default)]
pub struct InitOptions {
    /// Which key to generate.
    pub key_kind: KeyKind,
    /// The configuration to write. Its suites are replaced by the one matching the key when
    /// none of them can be used with it.
    pub config: ConfigFile,
}

/// What `init` created.
#[derive(Clone, Debug)]
pub struct Initialized {
    /// The Agent's public key as SPKI PEM.
    pub public_key_pem: String,
    /// The Agent's kid: RFC 9679 thumbprint of its COSE_Key.
    pub kid: [u8; 32],
}

/// Errors of `init`.
#[non_exhaustive]
#[derive(Debug)]
pub enum InitError {
    /// The directory already holds an Agent.
    AlreadyInitialized,
    /// A file operation failed.
    Io(std::io::Error),
    /// Key generation or writing failed.
    Key(KeyError),
    /// The configuration is invalid.
    Config(ConfigError),
}

impl std::fmt::Display for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AlreadyInitialized => f.write_str("the directory already holds an agent"),
            Self::Io(e) => write!(f, "init: {e}"),
            Self::Key(e) => e.fmt(f),
            Self::Config(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for InitError {}

/// Creates the state directory `dir` (or fills an empty existing one).
pub fn init(dir: &Path, options: &InitOptions) -> Result<Initialized, InitError> {
    options.config.validate().map_err(InitError::Config)?;
    if dir.join(KEY_FILE).exists() || dir.join(CONFIG_FILE).exists() {
        return Err(InitError::AlreadyInitialized);
    }
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(InitError::Io)?;
    for sub in [COMPONENTS_DIR, MANIFESTS_DIR, STAGING_DIR, JOURNAL_DIR] {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir.join(sub))
            .map_err(InitError::Io)?;
    }

    // The sealing key first: every private key below is sealed under it. A key file placed
    // before init (by a manufacturer) is kept.
    let platform_key = FileKey::new(dir);
    if !platform_key.exists() {
        platform_key.create().map_err(InitError::Io)?;
    }
    let sealer = Sealer::from_platform(&platform_key).map_err(sealing)?;

    let mut rng = crate::software::rng();
    let key = match options.key_kind {
        KeyKind::P256 => SigningKey::generate_p256(&mut rng),
        KeyKind::Ed25519 => SigningKey::generate_ed25519(&mut rng),
    };
    write_new_key(&sealer, &dir.join(KEY_FILE), &key)?;
    let public = key.public_key();
    let public_key_pem = public.to_spki_pem();
    write_new(&dir.join(PUBLIC_KEY_FILE), public_key_pem.as_bytes(), 0o644)?;

    let mut config = options.config.clone();
    config.suites.retain(|s| crate::software::suite_fits_key(*s, options.key_kind));
    if config.suites.is_empty() {
        config.suites.push(match options.key_kind {
            KeyKind::P256 => super::config::SuiteName::Esp256,
            KeyKind::Ed25519 => super::config::SuiteName::Ed25519,
        });
    }
    // SUIT reports are signed with the report key generated below (draft-ietf-suit-report
    // §4): a TAM that enrolled its public half verifies them, others read them unverified.
    // Edit config.toml for unprotected reports.
    if config.reports.protect == super::config::ReportProtection::None {
        config.reports.protect = super::config::ReportProtection::Sign;
    }
    if config.attestation.enabled {
        seal_attestation_key(dir, &sealer, &mut config)?;
    }
    // The report key is distinct from the TEEP key (draft-ietf-suit-report §4).
    let report = SigningKey::generate_p256(&mut rng);
    let path = dir.join(&config.reports.key_file);
    write_new_key(&sealer, &path, &report)?;
    let pem = report.public_key().to_spki_pem();
    write_new(&path.with_extension("pub.pem"), pem.as_bytes(), 0o644)?;
    // The device decryption key (draft-ietf-suit-firmware-encryption §6, ECDH-ES).
    let device = SigningKey::generate_p256(&mut rng);
    store_device_key(dir, &sealer, &device)?;
    let text = config.to_toml().map_err(InitError::Config)?;
    write_new(&dir.join(CONFIG_FILE), text.as_bytes(), 0o600)?;
    Ok(Initialized { public_key_pem, kid: public.thumbprint() })
}

fn sealing(e: super::seal::SealError) -> InitError {
    InitError::Key(KeyError::Sealed(e))
}

/// Seals a new private key into `path`; refuses to overwrite a file.
fn write_new_key(sealer: &Sealer, path: &Path, key: &SigningKey) -> Result<(), InitError> {
    if path.exists() {
        return Err(InitError::Io(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} already exists", path.display()),
        )));
    }
    keys::write_sealed_private_key(sealer, path, key).map_err(InitError::Key)
}

/// The attestation key (distinct from the TEEP key, draft-ietf-teep-protocol-26 §6; its
/// public half is the Endorsement a Verifier must trust): a provisioned one is sealed into
/// the state directory, otherwise one is generated.
fn seal_attestation_key(
    dir: &Path,
    sealer: &Sealer,
    config: &mut ConfigFile,
) -> Result<(), InitError> {
    let configured = dir.join(&config.attestation.key_file);
    let inside = Path::new(&config.attestation.key_file).components().count() == 1
        && !Path::new(&config.attestation.key_file).is_absolute();
    let name = if inside {
        config.attestation.key_file.clone()
    } else {
        super::config::AttestationSettings::default().key_file
    };
    let path = dir.join(&name);
    let key = if configured.exists() {
        let key = keys::read_private_key(&configured).map_err(InitError::Key)?;
        keys::write_sealed_private_key(sealer, &path, &key).map_err(InitError::Key)?;
        key
    } else {
        let key = SigningKey::generate_p256(&mut crate::software::rng());
        write_new_key(sealer, &path, &key)?;
        key
    };
    config.attestation.key_file = name;
    let public = path.with_extension("pub.pem");
    if !public.exists() {
        write_new(&public, key.public_key().to_spki_pem().as_bytes(), 0o644)?;
    }
    Ok(())
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), InitError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(InitError::Io)?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(InitError::Io)
}

/// Installs `key` (P-256) as the device's payload decryption key of the state directory
/// `dir`, replacing the one `init` generated, and writes its public key next to it.
pub fn set_device_key(dir: &Path, key: &SigningKey) -> Result<(), InitError> {
    let sealer = Sealer::for_dir(dir).map_err(sealing)?;
    store_device_key(dir, &sealer, key)
}

fn store_device_key(dir: &Path, sealer: &Sealer, key: &SigningKey) -> Result<(), InitError> {
    if !key.public_key().supports(teep_cose::Algorithm::ESP256) {
        return Err(InitError::Key(KeyError::Format("the device key must be P-256".into())));
    }
    keys::write_sealed_private_key(sealer, &dir.join(DEVICE_KEY_FILE), key)
        .map_err(InitError::Key)?;
    let public = dir.join(DEVICE_PUBLIC_KEY_FILE);
    let _ = fs::remove_file(&public);
    write_new(&public, key.public_key().to_spki_pem().as_bytes(), 0o644)
}

/// Adds an AES key-wrap key (A128KW/A192KW/A256KW: 16, 24 or 32 bytes) shared with a TC
/// developer, optionally under a key id, to the state directory `dir`.
pub fn add_keywrap_key(dir: &Path, kid: Option<&[u8]>, key: &[u8]) -> Result<(), InitError> {
    let sealer = Sealer::for_dir(dir).map_err(sealing)?;
    keys::add_keywrap_key(&sealer, &dir.join(KEYWRAP_KEYS_FILE), kid, key).map_err(InitError::Key)
}

/// Adds an HMAC 256/256 key (32 to 64 bytes) that authenticates manifests by COSE_Mac0
/// (a TC signer that shares a key with the device) to the state directory `dir`.
pub fn add_tc_mac_key(dir: &Path, kid: Option<&[u8]>, key: &[u8]) -> Result<(), InitError> {
    let sealer = Sealer::for_dir(dir).map_err(sealing)?;
    keys::add_mac_key(&sealer, &dir.join(TC_MAC_KEYS_FILE), kid, key).map_err(InitError::Key)
}
