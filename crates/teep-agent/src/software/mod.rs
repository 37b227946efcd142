//! The software TEE: the Agent's platform on an ordinary file system (std only).
//!
//! A state directory holds the Agent key, `config.toml` (trust anchors, TAMs, numbering,
//! suites, payload mirrors) and the component store. It stands in for a hardware TEE: the
//! protocol core does not know the difference. Private keys and the component store are
//! sealed under the platform key ([`seal`]; the software TEE's is the `sealing.key` file).

pub mod attester;
pub mod config;
pub mod fetch;
pub mod init;
pub mod keys;
pub mod seal;
pub mod store;

pub use init::{InitOptions, Initialized, KeyKind, init};
pub use store::SoftwareTee;

use config::SuiteName;

/// Installed component images and their metadata.
pub const COMPONENTS_DIR: &str = "components";
/// Installed manifest records and envelopes.
pub const MANIFESTS_DIR: &str = "manifests";
/// Staged writes of the manifest run in progress.
pub const STAGING_DIR: &str = "staging";
/// The commit journal.
pub const JOURNAL_DIR: &str = "journal";

/// The operating system's CSPRNG. Panics if the OS cannot provide randomness, which no peer
/// input can cause.
pub(crate) fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// Whether a suite can be used with an Agent key of this kind.
pub(crate) fn suite_fits_key(suite: SuiteName, kind: KeyKind) -> bool {
    match kind {
        KeyKind::P256 => matches!(suite, SuiteName::Esp256 | SuiteName::Es256),
        KeyKind::Ed25519 => matches!(suite, SuiteName::Ed25519 | SuiteName::Eddsa),
    }
}

/// Installed Trusted Components for tc-list: one per installed manifest (dependency manifests
/// included), with the digest of the first declared component that has an image, or else of
/// the image stored under the manifest id itself.
impl crate::AgentPlatform for store::SoftwareTee {
    fn store_integrity(&self) -> crate::StoreIntegrity {
        crate::StoreIntegrity {
            tampered: self
                .tampered()
                .iter()
                .map(|t| crate::TamperedFile { path: t.path.clone(), what: t.what.clone() })
                .collect(),
            quarantined: self.quarantined().map(str::to_string).collect(),
        }
    }

    fn installed(&self) -> Vec<crate::InstalledTc> {
        self.manifests()
            .map(|m| {
                let image = m
                    .components
                    .iter()
                    .find_map(|c| self.image(c))
                    .or_else(|| self.image(&m.manifest_id));
                crate::InstalledTc {
                    manifest_id: m.manifest_id.clone(),
                    sequence_number: m.sequence_number,
                    image_digest: image.map(|i| teep_suit::SuitDigest::from_sha256(i.sha256)),
                    image_size: image.map(|i| i.len),
                    components: m.components.clone(),
                    owner: m.owner,
                    domain: m.domain.clone(),
                }
            })
            .collect()
    }

    fn is_installed(&self, manifest_id: &teep_suit::ComponentId) -> bool {
        self.manifest(manifest_id).is_some()
    }
}

/// The Agent running on the software TEE.
pub type SoftwareAgent = crate::Agent<store::SoftwareTee>;

/// Errors opening a state directory.
#[non_exhaustive]
#[derive(Debug)]
pub enum OpenError {
    /// `config.toml` is missing or invalid.
    Config(config::ConfigError),
    /// The Agent key or a trust anchor is unusable (which one is in the message).
    Key(String, keys::KeyError),
    /// The component store could not be opened or recovered.
    Store(store::StoreError),
    /// The `[attestation]` settings or the attestation key are unusable.
    Attestation(String),
    /// The directory has no sealing key: deleted, or a directory from before sealed storage.
    Unsealed(std::path::PathBuf),
    /// The platform's sealing key is unusable.
    Sealing(seal::SealError),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Config(e) => e.fmt(f),
            Self::Key(which, e) => write!(f, "{which}: {e}"),
            Self::Store(e) => e.fmt(f),
            Self::Attestation(e) => f.write_str(e),
            Self::Unsealed(dir) => write!(
                f,
                "{} is missing: restore it from backup, or re-initialise with `teep agent \
                 init` (installed components are lost; register the new Agent key with the TAM, \
                 which reinstalls them)",
                dir.join(seal::SEALING_KEY_FILE).display(),
            ),
            Self::Sealing(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for OpenError {}

fn suite(name: SuiteName) -> teep_proto::CipherSuite {
    use teep_proto::CipherSuite;
    match name {
        SuiteName::Esp256 => CipherSuite::SIGN1_ESP256,
        SuiteName::Ed25519 => CipherSuite::SIGN1_ED25519,
        SuiteName::Es256 => CipherSuite::SIGN1_ES256_LEGACY,
        SuiteName::Eddsa => CipherSuite::SIGN1_EDDSA_LEGACY,
    }
}

fn numbering(name: config::NumberingName) -> teep_proto::Numbering {
    match name {
        config::NumberingName::Rfc => teep_proto::Numbering::Rfc,
        config::NumberingName::Legacy => teep_proto::Numbering::Legacy,
    }
}

/// The security-domain policy of `[domains]`: the administrators' RFC 9679 thumbprints.
fn domain_policy(file: &config::ConfigFile) -> Result<teep_suit::DomainPolicy, OpenError> {
    let mut administrators = Vec::new();
    for (i, text) in file.domains.administrators.iter().enumerate() {
        let key = keys::parse_public_key(text)
            .map_err(|e| OpenError::Key(format!("[domains] administrator #{i}"), e))?;
        administrators.push(teep_suit::SignerId(key.thumbprint()));
    }
    Ok(teep_suit::DomainPolicy::new(administrators))
}

/// Turns the config file into the core's configuration, parsing every key.
pub fn agent_config(file: &config::ConfigFile) -> Result<crate::AgentConfig, OpenError> {
    let parse_all = |what: &str, texts: &[String]| {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                keys::parse_public_key(t).map_err(|e| OpenError::Key(format!("{what} #{i}"), e))
            })
            .collect::<Result<Vec<_>, _>>()
    };
    for bound in &file.domains.tams {
        if !file.tams.iter().any(|t| t.uri == bound.uri) {
            return Err(OpenError::Config(config::ConfigError::Invalid(format!(
                "[[domains.tam]] uri {:?} names no [[tam]] entry",
                bound.uri
            ))));
        }
    }
    let mut tams = Vec::new();
    for tam in &file.tams {
        let mut signers = Vec::new();
        for bound in file.domains.tams.iter().filter(|b| b.uri == tam.uri) {
            let keys = parse_all(&format!("[[domains.tam]] {} signer", tam.uri), &bound.signers)?;
            signers.extend(keys.iter().map(|k| teep_suit::SignerId(k.thumbprint())));
        }
        tams.push(crate::TamTrust {
            uri: tam.uri.clone(),
            keys: parse_all(&format!("TAM {} key", tam.uri), &tam.public_keys)?,
            numbering: numbering(tam.numbering.unwrap_or(file.numbering)),
            signers,
        });
    }
    Ok(crate::AgentConfig {
        tams,
        tc_signers: parse_all("TC signer", &file.tc_signers)?,
        // Secrets live in their own file, read by `open` (init::TC_MAC_KEYS_FILE).
        tc_mac_keys: Vec::new(),
        suites: file.suites.iter().copied().map(suite).collect(),
        versions: file.versions.clone(),
        accept_legacy_algorithms: file.accept_legacy_algorithms,
    })
}

/// The payload decryption keys of the state directory, sealed under its key file: the device
/// ECDH-ES key and the AES key-wrap keys, each when its file exists.
pub fn decryption_keys(dir: &std::path::Path) -> Result<Vec<teep_suit::DecryptionKey>, OpenError> {
    let sealer = seal::Sealer::for_dir(dir).map_err(OpenError::Sealing)?;
    sealed_decryption_keys(dir, &sealer)
}

/// Like [`decryption_keys`], opened by `sealer`.
pub fn sealed_decryption_keys(
    dir: &std::path::Path,
    sealer: &seal::Sealer,
) -> Result<Vec<teep_suit::DecryptionKey>, OpenError> {
    let mut out = Vec::new();
    let device = dir.join(init::DEVICE_KEY_FILE);
    if device.exists() {
        out.push(
            keys::read_ecdh_key(sealer, &device)
                .map_err(|e| OpenError::Key("device decryption key".into(), e))?,
        );
    }
    let keywrap = dir.join(init::KEYWRAP_KEYS_FILE);
    if keywrap.exists() {
        out.extend(
            keys::read_keywrap_keys(sealer, &keywrap)
                .map_err(|e| OpenError::Key("key-wrap keys".into(), e))?,
        );
    }
    Ok(out)
}

/// Report protection from `[reports]`.
fn report_sealer(
    dir: &std::path::Path,
    sealer: &seal::Sealer,
    settings: &config::ReportSettings,
) -> Result<Option<Box<dyn crate::ReportSealer>>, OpenError> {
    use config::ReportProtection;
    if settings.protect == ReportProtection::None {
        return Ok(None);
    }
    let key = keys::read_sealed_private_key(sealer, &dir.join(&settings.key_file))
        .map_err(|e| OpenError::Key("report key".into(), e))?;
    if settings.protect == ReportProtection::Sign {
        return Ok(Some(Box::new(crate::SignedReports::new(key))));
    }
    let text = settings.encrypt_to.as_deref().ok_or_else(|| {
        OpenError::Config(config::ConfigError::Invalid(
            "[reports] protect = \"encrypt\" needs encrypt_to".into(),
        ))
    })?;
    let recipient = keys::parse_public_key(text)
        .map_err(|e| OpenError::Key("[reports] encrypt_to".into(), e))?;
    Ok(Some(Box::new(EncryptedReports { key, recipient })))
}

/// Signs reports with the report key, then encrypts them to the TAM
/// (draft-ietf-suit-report §5).
struct EncryptedReports {
    key: teep_cose::SigningKey,
    recipient: teep_cose::PublicKey,
}

impl crate::ReportSealer for EncryptedReports {
    fn seal(&mut self, report: &teep_suit::SuitReport) -> Result<Vec<u8>, teep_suit::SuitError> {
        let alg = self.key.default_algorithm();
        report.encrypt(&mut rng(), &self.key, alg, &self.recipient)
    }
}

/// Opens the state directory `dir` created by [`init::init`]: reads the config and the
/// sealed keys, recovers the component store, and returns the Agent.
pub fn open(dir: &std::path::Path) -> Result<SoftwareAgent, OpenError> {
    let platform_key = seal::FileKey::new(dir);
    if !platform_key.exists() {
        return Err(OpenError::Unsealed(dir.to_path_buf()));
    }
    open_with(dir, Box::new(platform_key))
}

/// Opens the state directory `dir` with its state sealed under `platform_key` (a TEE's own
/// key and, if it has one, its monotonic counter).
pub fn open_with(
    dir: &std::path::Path,
    platform_key: Box<dyn crate::PlatformKey + Send>,
) -> Result<SoftwareAgent, OpenError> {
    let file = config::ConfigFile::load(&dir.join(init::CONFIG_FILE)).map_err(OpenError::Config)?;
    let sealer = seal::Sealer::from_platform(platform_key.as_ref()).map_err(OpenError::Sealing)?;
    let mut config = agent_config(&file)?;
    let mac_keys = dir.join(init::TC_MAC_KEYS_FILE);
    if mac_keys.exists() {
        config.tc_mac_keys = keys::read_mac_keys(&sealer, &mac_keys)
            .map_err(|e| OpenError::Key("TC MAC keys".into(), e))?;
    }
    let key = keys::read_sealed_private_key(&sealer, &dir.join(init::KEY_FILE))
        .map_err(|e| OpenError::Key("agent key".into(), e))?;
    let mut tee =
        store::SoftwareTee::open_with(dir, &file, platform_key).map_err(OpenError::Store)?;
    tee.set_decryption_keys(sealed_decryption_keys(dir, &sealer)?);
    tee.set_domain_policy(domain_policy(&file)?);
    let mut agent = crate::Agent::new(config, key, tee);
    if let Some(sealer) = report_sealer(dir, &sealer, &file.reports)? {
        agent = agent.with_report_sealer(sealer);
    }
    if file.attestation.require_tam_attestation {
        let keys = file
            .attestation
            .tam_attester_keys
            .iter()
            .enumerate()
            .map(|(i, t)| {
                keys::parse_public_key(t)
                    .map_err(|e| OpenError::Key(format!("TAM attester key #{i}"), e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let random = Box::new(|buf: &mut [u8]| {
            use rand_core::Rng as _;
            rng().fill_bytes(buf);
        });
        agent = agent.with_tam_attestation(crate::TamAttestation::new(keys, random));
    }
    match attester::SoftwareAttester::load(dir, &sealer, &file.attestation) {
        Ok(Some(a)) => Ok(agent.with_attester(Box::new(a))),
        Ok(None) => Ok(agent),
        Err(e) => Err(OpenError::Attestation(e)),
    }
}
