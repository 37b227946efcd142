//! The software TEE: the Agent's platform on an ordinary file system (std only).
//!
//! A state directory holds the Agent key, `config.toml` (trust anchors, TAMs, numbering,
//! suites, payload mirrors) and the component store. It stands in for a hardware TEE: the
//! protocol core does not know the difference.

pub mod config;
pub mod fetch;
pub mod init;
pub mod keys;
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

/// Installed Trusted Components for tc-list: one per installed manifest, with the digest of
/// its manifest-id component's image, or else of the first declared component that has one.
impl crate::AgentPlatform for store::SoftwareTee {
    fn installed(&self) -> Vec<crate::InstalledTc> {
        self.manifests()
            .map(|m| {
                let image = self
                    .image(&m.manifest_id)
                    .or_else(|| m.components.iter().find_map(|c| self.image(c)));
                crate::InstalledTc {
                    manifest_id: m.manifest_id.clone(),
                    sequence_number: m.sequence_number,
                    image_digest: image.map(|i| teep_suit::SuitDigest::from_sha256(i.sha256)),
                    image_size: image.map(|i| i.len),
                    components: m.components.clone(),
                }
            })
            .collect()
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
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Config(e) => e.fmt(f),
            Self::Key(which, e) => write!(f, "{which}: {e}"),
            Self::Store(e) => e.fmt(f),
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
    let mut tams = Vec::new();
    for tam in &file.tams {
        tams.push(crate::TamTrust {
            uri: tam.uri.clone(),
            keys: parse_all(&format!("TAM {} key", tam.uri), &tam.public_keys)?,
            numbering: numbering(tam.numbering.unwrap_or(file.numbering)),
        });
    }
    Ok(crate::AgentConfig {
        tams,
        tc_signers: parse_all("TC signer", &file.tc_signers)?,
        suites: file.suites.iter().copied().map(suite).collect(),
        versions: file.versions.clone(),
        accept_legacy_algorithms: file.accept_legacy_algorithms,
    })
}

/// Opens the state directory `dir` created by [`init::init`]: reads the config and the key,
/// recovers the component store, and returns the Agent.
pub fn open(dir: &std::path::Path) -> Result<SoftwareAgent, OpenError> {
    let file = config::ConfigFile::load(&dir.join(init::CONFIG_FILE)).map_err(OpenError::Config)?;
    let config = agent_config(&file)?;
    let key = keys::read_private_key(&dir.join(init::KEY_FILE))
        .map_err(|e| OpenError::Key("agent key".into(), e))?;
    let tee = store::SoftwareTee::open(dir, &file).map_err(OpenError::Store)?;
    Ok(crate::Agent::new(config, key, tee))
}
