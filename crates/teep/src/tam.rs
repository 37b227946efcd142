//! `teep tam …`: set up, run and administer a TAM.
//!
//! Every administration command opens the TAM's store (the SQLite file under the state
//! directory, or the configured PostgreSQL URL) directly, so it works while the TAM serves.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use teep_tam::{Admin, ComponentKey, PolicyTarget, TamConfig, TamKeys, Wire};

use crate::unix_now;

/// Where the TAM's configuration is.
#[derive(Args, Debug, Clone)]
pub struct TamLocation {
    /// The TAM configuration file (its `state_dir` holds keys and the SQLite file).
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "TEEP_TAM_CONFIG",
        default_value = "tam-state/tam.toml"
    )]
    config: PathBuf,
}

impl TamLocation {
    /// The configuration file with the `TEEP_TAM_*` environment variables over it.
    fn load(&self) -> anyhow::Result<TamConfig> {
        TamConfig::layered(Some(&self.config), std::env::vars(), &[]).with_context(|| {
            format!(
                "cannot load the TAM configuration {} (create one with `teep tam init`)",
                self.config.display()
            )
        })
    }
}

/// `teep tam` subcommands.
#[derive(Subcommand, Debug)]
pub enum TamCommand {
    /// Create a state directory with a configuration file and the TAM's two signing keys.
    Init {
        /// State directory to create.
        #[arg(long, default_value = "tam-state")]
        state: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Database URL (default: the SQLite file `tam.db` in the state directory), e.g.
        /// `postgres://postgres@127.0.0.1:5432/tam`.
        #[arg(long)]
        database: Option<String>,
    },
    /// Serve TEEP over HTTP until interrupted (SIGINT or SIGTERM: requests in flight finish
    /// first). Settings come from flags, else `TEEP_TAM_*` variables, else the file.
    Serve {
        #[command(flatten)]
        at: TamLocation,
        #[command(flatten)]
        flags: ServeFlags,
    },
    /// Print the TAM's public keys (SPKI PEM), the trust anchors Agents need.
    Keys {
        #[command(flatten)]
        at: TamLocation,
    },
    /// Trusted Component signers, whose keys catalog manifests must verify against.
    Signer {
        #[command(flatten)]
        at: TamLocation,
        #[command(subcommand)]
        command: SignerCommand,
    },
    /// The catalog of Trusted Components (signed SUIT envelopes).
    Tc {
        #[command(flatten)]
        at: TamLocation,
        #[command(subcommand)]
        command: TcCommand,
    },
    /// Devices, known by the RFC 9679 thumbprint of their Agent key.
    Device {
        #[command(flatten)]
        at: TamLocation,
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// Which Trusted Components devices must have, and which they must delete.
    Policy {
        #[command(flatten)]
        at: TamLocation,
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Principals of the admin REST API (operators, developers, device administrators).
    Principal {
        #[command(flatten)]
        at: TamLocation,
        #[command(subcommand)]
        command: crate::tam_access::PrincipalCommand,
    },
    /// API tokens of the admin REST API (shown once; stored hashed).
    Token {
        #[command(flatten)]
        at: TamLocation,
        #[command(subcommand)]
        command: crate::tam_access::TokenCommand,
    },
    /// Device groups: members, owners, and whether RequestTA is honoured.
    Group {
        #[command(flatten)]
        at: TamLocation,
        #[command(subcommand)]
        command: crate::tam_fleet::GroupCommand,
    },
    /// Staged rollouts of a catalog version to a share of a group or to listed devices.
    Rollout {
        #[command(flatten)]
        at: TamLocation,
        #[command(subcommand)]
        command: crate::tam_fleet::RolloutCommand,
    },
    /// Enrolment allow and block lists (thumbprints, certificate subject or issuer).
    Admission {
        #[command(flatten)]
        at: TamLocation,
        #[command(subcommand)]
        command: crate::tam_fleet::AdmissionCommand,
    },
    /// What the TAM knows about one device: components, policy, last error, history.
    Status {
        #[command(flatten)]
        at: TamLocation,
        /// Device thumbprint (hex, or an unambiguous prefix).
        device: String,
    },
}

/// Settings of `teep tam serve` that flags override (each also has a `TEEP_TAM_*` variable
/// and a key in the file; see docs/configuration.md).
#[derive(Args, Debug, Clone, Default)]
pub struct ServeFlags {
    /// Address of the TEEP listener (`listen`).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Address of the admin REST API listener (`admin.listen`); enables it.
    #[arg(long)]
    admin_listen: Option<SocketAddr>,
    /// Database URL (`database_url`), e.g. `postgres://tam@127.0.0.1:5432/tam`.
    #[arg(long, alias = "database")]
    database_url: Option<String>,
    /// State directory of keys and the SQLite file (`state_dir`).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Database connection pool size (`max_db_connections`).
    #[arg(long, alias = "max-connections")]
    max_db_connections: Option<u32>,
    /// TEEP requests handled at once; one more gets 503 (`max_concurrent_sessions`).
    #[arg(long)]
    max_concurrent_sessions: Option<u32>,
    /// Seconds requests in flight get to finish at shutdown (`shutdown_grace_secs`).
    #[arg(long)]
    shutdown_grace_secs: Option<u64>,
    /// HTTPS certificate chain, PEM (`tls.certificate`).
    #[arg(long, requires = "tls_private_key")]
    tls_certificate: Option<PathBuf>,
    /// HTTPS private key, PEM (`tls.private_key`).
    #[arg(long, requires = "tls_certificate")]
    tls_private_key: Option<PathBuf>,
}

impl ServeFlags {
    /// The flags given, as (setting key, text) pairs for [`TamConfig::layered`].
    fn settings(&self) -> Vec<(&'static str, String)> {
        // A path on the command line means what the shell user sees: relative to the working
        // directory (paths in the file stay relative to the file's directory / `state_dir`).
        let path = |p: &PathBuf| {
            std::path::absolute(p).unwrap_or_else(|_| p.clone()).display().to_string()
        };
        [
            ("listen", self.listen.map(|a| a.to_string())),
            ("admin.listen", self.admin_listen.map(|a| a.to_string())),
            ("database_url", self.database_url.clone()),
            ("state_dir", self.state_dir.as_ref().map(path)),
            ("max_db_connections", self.max_db_connections.map(|n| n.to_string())),
            ("max_concurrent_sessions", self.max_concurrent_sessions.map(|n| n.to_string())),
            ("shutdown_grace_secs", self.shutdown_grace_secs.map(|n| n.to_string())),
            ("tls.certificate", self.tls_certificate.as_ref().map(path)),
            ("tls.private_key", self.tls_private_key.as_ref().map(path)),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.map(|v| (key, v)))
        .collect()
    }
}

/// The log format `teep tam serve` is configured with (file or `TEEP_TAM_LOG_FORMAT`), read
/// before logging starts; `None` for other commands or a configuration that does not load
/// (serving then reports why).
pub fn configured_log_format(command: &TamCommand) -> Option<teep_tam::config::LogFormat> {
    match command {
        TamCommand::Serve { at, flags } => {
            TamConfig::layered(Some(&at.config), std::env::vars(), &flags.settings())
                .ok()
                .map(|c| c.log_format)
        }
        _ => None,
    }
}

/// `teep tam signer …`
#[derive(Subcommand, Debug)]
pub enum SignerCommand {
    /// Register a signer key (SPKI PEM, JWK or COSE_Key file).
    Add {
        /// A name for the signer.
        name: String,
        /// The public key file.
        key: PathBuf,
        /// The developer principal that owns the signer and the components it signs
        /// (default: the operator).
        #[arg(long)]
        owner: Option<String>,
    },
    /// List signers.
    List,
    /// Remove a signer (refused while catalog TCs verified with its key exist).
    Remove {
        /// The signer's name.
        name: String,
        /// Also remove every catalog TC that this signer's key verified.
        #[arg(long)]
        force: bool,
    },
}

/// `teep tam tc …`
#[derive(Subcommand, Debug)]
pub enum TcCommand {
    /// Add a signed SUIT envelope (binary, or hex text with `#` comments); it must verify
    /// against a registered signer.
    Add {
        /// The envelope file.
        envelope: PathBuf,
        /// Mark the component as remediation: a device whose attestation failed or is
        /// missing gets remediation components only.
        #[arg(long)]
        remediation: bool,
    },
    /// Mark (or with `--off` unmark) a catalog component as remediation.
    Remediation {
        /// Component id: parts separated by `/`, each text or `0x`-prefixed hex.
        component: String,
        /// Remove the mark.
        #[arg(long)]
        off: bool,
    },
    /// List the catalog.
    List,
    /// Retire one version: it is never offered again (devices get the newest version that
    /// is not retired).
    Retire {
        /// Component id: parts separated by `/`, each text or `0x`-prefixed hex.
        component: String,
        /// The manifest sequence number to retire.
        #[arg(long)]
        sequence: u64,
        /// Offer the version again.
        #[arg(long)]
        undo: bool,
    },
    /// Remove a Trusted Component (all versions, or one sequence number).
    Remove {
        /// Component id: parts separated by `/`, each text or `0x`-prefixed hex.
        component: String,
        /// Only this manifest sequence number.
        #[arg(long)]
        sequence: Option<u64>,
    },
}

/// `teep tam device …`
#[derive(Subcommand, Debug)]
pub enum DeviceCommand {
    /// Enrol a device by its Agent public key (SPKI PEM, JWK or COSE_Key file), or by a
    /// certificate chain to a manufacturer CA (`--cert`).
    Add {
        /// The Agent's public key file.
        #[arg(required_unless_present = "cert", conflicts_with = "cert")]
        key: Option<PathBuf>,
        /// A PEM certificate chain (device certificate first) that chains to one of
        /// `[agents] manufacturer_cas`; the device is the certified key.
        #[arg(long)]
        cert: Option<PathBuf>,
        /// A label for operators.
        #[arg(long)]
        label: Option<String>,
        /// Numbering the device's Agent speaks.
        #[arg(long, value_enum, default_value_t = crate::Wire::Rfc)]
        wire: crate::Wire,
        /// The device's SUIT report public key (the Agent's `report-key.pub.pem`): its SUIT
        /// reports must then be signed with it (draft-ietf-suit-report §4).
        #[arg(long)]
        report_key: Option<PathBuf>,
    },
    /// Enrol or replace the SUIT report key of an enrolled device.
    ReportKey {
        /// Device thumbprint (hex, or a unique prefix of at least 8 digits).
        device: String,
        /// The report public key file (SPKI PEM, JWK or COSE_Key).
        key: PathBuf,
    },
    /// List devices.
    List,
    /// A device's session history, newest first, one page at a time.
    History {
        /// Device thumbprint (hex, or an unambiguous prefix).
        device: String,
        /// Entries per page (1 to 1000).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Only entries older than this entry id (the next page).
        #[arg(long)]
        before: Option<i64>,
    },
    /// Refuse every session of a device.
    Block {
        /// Device thumbprint (hex, or an unambiguous prefix).
        device: String,
    },
    /// Accept a blocked device again.
    Unblock {
        /// Device thumbprint (hex, or an unambiguous prefix).
        device: String,
    },
    /// Forget a device.
    Remove {
        /// Device thumbprint (hex, or an unambiguous prefix).
        device: String,
    },
}

/// `teep tam policy …`
#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Require a Trusted Component (at a minimum manifest sequence number).
    Require {
        /// Component id: parts separated by `/`, each text or `0x`-prefixed hex.
        component: String,
        /// Minimum manifest sequence number.
        #[arg(long, default_value_t = 0)]
        min_sequence: u64,
        /// Only this device (thumbprint or prefix); default: every device.
        #[arg(long, conflicts_with = "group")]
        device: Option<String>,
        /// Only the members of this device group (a device's own rule beats its groups').
        #[arg(long)]
        group: Option<String>,
    },
    /// Delete a Trusted Component (sent in unneeded-manifest-list).
    Delete {
        /// Component id: parts separated by `/`, each text or `0x`-prefixed hex.
        component: String,
        /// Only this device (thumbprint or prefix); default: every device.
        #[arg(long, conflicts_with = "group")]
        device: Option<String>,
        /// Only the members of this device group (a device's own rule beats its groups').
        #[arg(long)]
        group: Option<String>,
    },
    /// Remove a rule.
    Clear {
        /// Component id.
        component: String,
        /// Only this device's rule; default: the rule for every device.
        #[arg(long, conflicts_with = "group")]
        device: Option<String>,
        /// Only this group's rule.
        #[arg(long)]
        group: Option<String>,
    },
    /// List every rule.
    List,
    /// Whether devices' RequestTA (requested-tc-list) is honoured TAM-wide: `on` (default)
    /// or `off`; a group may override it (`teep tam group allow-request`).
    AllowRequest {
        /// `on` or `off`.
        setting: String,
    },
}

/// Runs a `teep tam` command.
pub async fn run(command: TamCommand) -> anyhow::Result<ExitCode> {
    match command {
        TamCommand::Init { state, listen, database } => init(&state, listen, database),
        TamCommand::Serve { at, flags } => serve(&at, &flags).await,
        TamCommand::Keys { at } => {
            let config = at.load()?;
            let keys = TamKeys::load(&config).context("cannot load the TAM keys")?;
            for key in keys.public_keys() {
                say_raw!("{}", key.to_spki_pem());
            }
            Ok(ExitCode::SUCCESS)
        }
        TamCommand::Signer { at, command } => signer(&admin(&at).await?, command).await,
        TamCommand::Tc { at, command } => tc(&admin(&at).await?, command).await,
        TamCommand::Device { at, command } => device(&admin(&at).await?, &at, command).await,
        TamCommand::Group { at, command } => {
            crate::tam_fleet::group(&admin(&at).await?, command).await
        }
        TamCommand::Rollout { at, command } => {
            crate::tam_fleet::rollout(&admin(&at).await?, command).await
        }
        TamCommand::Admission { at, command } => {
            crate::tam_fleet::admission(&admin(&at).await?, command).await
        }
        TamCommand::Policy { at, command } => policy(&admin(&at).await?, command).await,
        TamCommand::Status { at, device } => status(&admin(&at).await?, &device).await,
        TamCommand::Principal { at, command } => {
            crate::tam_access::principal(&admin(&at).await?, command).await
        }
        TamCommand::Token { at, command } => {
            crate::tam_access::token(&admin(&at).await?, command).await
        }
    }
}

fn init(state: &Path, listen: SocketAddr, database: Option<String>) -> anyhow::Result<ExitCode> {
    let file = state.join("tam.toml");
    anyhow::ensure!(!file.exists(), "{} exists already; not overwriting it", file.display());
    std::fs::create_dir_all(state)
        .with_context(|| format!("cannot create the state directory {}", state.display()))?;
    let state = std::fs::canonicalize(state)?;
    let config = TamConfig {
        state_dir: state.clone(),
        listen,
        database_url: database,
        ..Default::default()
    };
    config.validate()?;
    let keys = TamKeys::load_or_generate(&config).context("cannot create the TAM keys")?;
    std::fs::write(&file, config.to_toml())?;
    let anchors = state.join("tam-public-keys.pem");
    let pem: String = keys.public_keys().iter().map(|k| k.to_spki_pem()).collect();
    std::fs::write(&anchors, pem)?;
    say!("TAM state directory: {}", state.display());
    say!("configuration:       {}", file.display());
    say!("public keys (give these to Agents as TAM trust anchors): {}", anchors.display());
    say!("next: `teep tam serve -c {}`", file.display());
    Ok(ExitCode::SUCCESS)
}

async fn serve(at: &TamLocation, flags: &ServeFlags) -> anyhow::Result<ExitCode> {
    let config = TamConfig::layered(Some(&at.config), std::env::vars(), &flags.settings())
        .with_context(|| {
            format!(
                "cannot load the TAM configuration {} (create one with `teep tam init`)",
                at.config.display()
            )
        })?;
    crate::install_crypto_provider();
    let text_logs = config.log_format == teep_tam::config::LogFormat::Text;
    let database = config.database_url_redacted();
    let https = config.tls.is_some();
    let server = teep_tam::Server::bind(config).await.map_err(|e| match e {
        teep_tam::ServeError::Store(_) => anyhow::Error::new(e).context(format!(
            "cannot open the TAM database {database}: check --database-url \
                 (`database_url`), that the database server runs and accepts the credentials"
        )),
        teep_tam::ServeError::Tls(_) => anyhow::Error::new(e).context(
            "HTTPS cannot start (check --tls-certificate / --tls-private-key, or `[tls]` and \
             `[admin.tls]` in tam.toml)",
        ),
        e => anyhow::Error::new(e),
    })?;
    if text_logs {
        // JSON logs stay one object per line: this note is for people at a terminal.
        let scheme = if https { "https" } else { "http" };
        eprintln!("teep tam: serving TEEP on {scheme}://{}", server.local_addr()?);
        if let Some(admin) = server.admin_addr() {
            eprintln!("teep tam: serving the admin API on {admin}");
        }
    }
    server.run(crate::shutdown_signal()).await.context("the TAM stopped")?;
    Ok(ExitCode::SUCCESS)
}

async fn admin(at: &TamLocation) -> anyhow::Result<Admin> {
    let config = at.load()?;
    Admin::connect(&config).await.context("cannot open the TAM store")
}

fn component(text: &str) -> anyhow::Result<ComponentKey> {
    ComponentKey::parse_text(text).map_err(|e| {
        anyhow::anyhow!(
            "component id {text:?}: {e} (write parts separated by `/`, each text or 0x-hex)"
        )
    })
}

async fn target(
    admin: &Admin,
    device: Option<&str>,
    group: Option<String>,
) -> anyhow::Result<PolicyTarget> {
    Ok(match (device, group) {
        (Some(d), _) => PolicyTarget::Device(admin.resolve_device(d).await?),
        (None, Some(g)) => {
            // A rule for a group that does not exist would never apply.
            admin.group(&g).await?;
            PolicyTarget::Group(g)
        }
        (None, None) => PolicyTarget::AllDevices,
    })
}

async fn signer(admin: &Admin, command: SignerCommand) -> anyhow::Result<ExitCode> {
    match command {
        SignerCommand::Add { name, key, owner } => {
            let bytes = crate::input::read(&key, crate::input::KEY_LIMIT)?;
            let row = admin.add_signer_owned(&name, &bytes, owner.as_deref(), unix_now()).await?;
            say!("signer {} added (kid {})", row.name, hex::encode(&row.thumbprint));
        }
        SignerCommand::List => {
            for row in admin.signers().await? {
                let owner = row.owner.as_deref().unwrap_or("operator");
                say!("{}\t{}\t{owner}", row.name, hex::encode(&row.thumbprint));
            }
        }
        SignerCommand::Remove { name, force: false } => {
            match admin.remove_signer(&name).await {
                Ok(()) => {}
                Err(e @ teep_tam::AdminError::SignerInUse { .. }) => {
                    anyhow::bail!("{e} (add --force to remove them with the signer)")
                }
                Err(e) => return Err(e.into()),
            }
            say!("signer {name} removed");
        }
        SignerCommand::Remove { name, force: true } => {
            let n = admin.remove_signer_and_tcs(&name).await?;
            say!("signer {name} removed, with {n} Trusted Component version(s)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn tc(admin: &Admin, command: TcCommand) -> anyhow::Result<ExitCode> {
    match command {
        TcCommand::Add { envelope, remediation } => {
            let raw = crate::input::read(&envelope, crate::input::DOCUMENT_LIMIT)?;
            let bytes = crate::decode::input_bytes(&raw)
                .map_err(|e| anyhow::anyhow!("{}: {e}", envelope.display()))?;
            let row = admin.add_tc(&bytes, unix_now()).await?;
            say!(
                "added {} sequence {} ({} bytes, signed by {})",
                ComponentKey::from_cbor(&row.component_id)
                    .map(|c| c.to_string())
                    .unwrap_or_else(|_| hex::encode(&row.component_id)),
                row.sequence_number,
                row.envelope_len,
                row.signer
            );
            if remediation {
                let key = ComponentKey::from_cbor(&row.component_id)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                admin.set_remediation(&key, true, unix_now()).await?;
                say!("marked {key} as remediation");
            }
        }
        TcCommand::Remediation { component: c, off } => {
            admin.set_remediation(&component(&c)?, !off, unix_now()).await?;
            say!("{c}: remediation {}", if off { "off" } else { "on" });
        }
        TcCommand::Retire { component: c, sequence, undo } => {
            return crate::tam_fleet::retire(admin, &c, sequence, undo).await;
        }
        TcCommand::List => {
            let remediation = admin.remediation().await?;
            let retired = admin.retired_tcs().await?;
            for row in admin.tcs().await? {
                let mut mark = if remediation.iter().any(|k| k.as_cbor() == row.component_id) {
                    "\tremediation"
                } else {
                    ""
                }
                .to_owned();
                if retired
                    .iter()
                    .any(|(k, s)| k.as_cbor() == row.component_id && *s == row.sequence_number)
                {
                    mark.push_str("\tretired");
                }
                say!(
                    "{}\tsequence {}\t{} bytes\tsigner {}{mark}",
                    ComponentKey::from_cbor(&row.component_id)
                        .map(|c| c.to_string())
                        .unwrap_or_else(|_| hex::encode(&row.component_id)),
                    row.sequence_number,
                    row.envelope_len,
                    row.signer
                );
            }
        }
        TcCommand::Remove { component: c, sequence } => {
            let n = admin.remove_tc(&component(&c)?, sequence).await?;
            say!("removed {n} version(s) of {c}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn device(
    admin: &Admin,
    at: &TamLocation,
    command: DeviceCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        DeviceCommand::History { device, limit, before } => {
            return crate::tam_fleet::history(admin, &device, limit, before).await;
        }
        DeviceCommand::Add { key, cert, label, wire, report_key } => {
            let report = match &report_key {
                Some(path) => Some(crate::input::read(path, crate::input::KEY_LIMIT)?),
                None => None,
            };
            let wire = match wire {
                crate::Wire::Rfc => Wire::Rfc,
                crate::Wire::Legacy => Wire::Legacy,
            };
            let row = match (key, cert) {
                (_, Some(chain)) => {
                    let config = at.load()?;
                    crate::tam_fleet::enroll_by_certificate(
                        admin,
                        &config,
                        &chain,
                        label.as_deref(),
                        wire,
                    )
                    .await?
                }
                (Some(key), None) => {
                    let bytes = crate::input::read(&key, crate::input::KEY_LIMIT)?;
                    admin.enroll_device(&bytes, label.as_deref(), wire, unix_now()).await?
                }
                (None, None) => anyhow::bail!("give the Agent's key file or --cert"),
            };
            if let Some(report) = report {
                let id: [u8; 32] = row
                    .thumbprint
                    .as_slice()
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("thumbprint is not 32 bytes"))?;
                if let Err(e) = admin.set_report_key(&id, &report, unix_now()).await {
                    // Enrolment and key go together: do not leave a device without its key.
                    admin.remove_device(&id).await?;
                    return Err(e.into());
                }
            }
            say!("device {} enrolled", hex::encode(&row.thumbprint));
        }
        DeviceCommand::ReportKey { device, key } => {
            let id = admin.resolve_device(&device).await?;
            let bytes = crate::input::read(&key, crate::input::KEY_LIMIT)?;
            admin.set_report_key(&id, &bytes, unix_now()).await?;
            say!("report key of device {} set", hex::encode(id));
        }
        DeviceCommand::List => {
            for row in admin.devices().await? {
                say!(
                    "{}\t{}\t{}{}\tlast seen {}",
                    hex::encode(&row.thumbprint),
                    row.label.as_deref().unwrap_or("-"),
                    row.wire,
                    if row.blocked { "\tBLOCKED" } else { "" },
                    row.last_seen.map(crate::format_time).unwrap_or_else(|| "never".into())
                );
            }
        }
        DeviceCommand::Block { device } => {
            let id = admin.resolve_device(&device).await?;
            admin.set_blocked(&id, true).await?;
            say!("device {} blocked", hex::encode(id));
        }
        DeviceCommand::Unblock { device } => {
            let id = admin.resolve_device(&device).await?;
            admin.set_blocked(&id, false).await?;
            say!("device {} unblocked", hex::encode(id));
        }
        DeviceCommand::Remove { device } => {
            let id = admin.resolve_device(&device).await?;
            admin.remove_device(&id).await?;
            say!("device {} removed", hex::encode(id));
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn policy(admin: &Admin, command: PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Require { component: c, min_sequence, device, group } => {
            let target = target(admin, device.as_deref(), group).await?;
            let key = component(&c)?;
            admin.require(&target, &key, min_sequence).await?;
            say!("required {c} (sequence >= {min_sequence})");
            let catalog = admin.tcs().await?;
            let known = catalog.iter().any(|t| t.component_id.as_slice() == key.as_cbor());
            if !known {
                eprintln!(
                    "note: no catalog manifest has the manifest id {c}; devices get it only once \
                     one is added with `teep tam tc add` (see `teep tam tc list`)"
                );
            }
        }
        PolicyCommand::Delete { component: c, device, group } => {
            let target = target(admin, device.as_deref(), group).await?;
            admin.delete(&target, &component(&c)?).await?;
            say!("{c} will be deleted");
        }
        PolicyCommand::AllowRequest { setting } => {
            let allow = match setting.as_str() {
                "on" => true,
                "off" => false,
                other => anyhow::bail!("{other:?}: write on or off"),
            };
            admin.set_allow_request(allow, unix_now()).await?;
            say!("requests from devices: {setting}");
        }
        PolicyCommand::Clear { component: c, device, group } => {
            let target = target(admin, device.as_deref(), group).await?;
            admin.clear_rule(&target, &component(&c)?).await?;
            say!("rule for {c} removed");
        }
        PolicyCommand::List => {
            for row in admin.policies().await? {
                say!(
                    "{}\t{:?}\t{}\tmin sequence {}",
                    row.device,
                    row.action,
                    ComponentKey::from_cbor(&row.component_id)
                        .map(|c| c.to_string())
                        .unwrap_or_else(|_| hex::encode(&row.component_id)),
                    row.min_sequence
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn status(admin: &Admin, device: &str) -> anyhow::Result<ExitCode> {
    let id = admin.resolve_device(device).await?;
    let s = admin.status(&id).await?;
    say!("device {}", hex::encode(&s.device.thumbprint));
    say!("  label      {}", s.device.label.as_deref().unwrap_or("-"));
    say!("  numbering  {}", s.device.wire);
    say!("  blocked    {}", s.device.blocked);
    say!(
        "  last seen  {}",
        s.device.last_seen.map(crate::format_time).unwrap_or_else(|| "never".into())
    );
    if let Some(code) = s.device.last_error_code {
        say!(
            "  last error {code} {} at {}: {}",
            teep_proto::ErrCode::from_wire(code, teep_proto::Numbering::Rfc)
                .and_then(|c| c.name())
                .unwrap_or("(unregistered)"),
            s.device.last_error_at.map(crate::format_time).unwrap_or_default(),
            s.device.last_error_msg.as_deref().unwrap_or("(no message)")
        );
    }
    say!("  installed:");
    // Security domains (docs/security-domains.md), derived from the catalog signer.
    let domains = teep_tam::domains::device_domains(admin.store(), &s.components).await?;
    for (c, d) in s.components.iter().zip(&domains) {
        let domain = match (&d.signer, &d.domain) {
            (None, _) => "unknown (not in the catalog)".to_owned(),
            (Some(_), Some(sd)) => crate::component_text(sd.segments()),
            (Some(signer), None) => format!("default of {signer}"),
        };
        say!(
            "    {}\tsequence {}\tdomain {domain}",
            ComponentKey::from_cbor(&c.component_id)
                .map(|k| k.to_string())
                .unwrap_or_else(|_| hex::encode(&c.component_id)),
            c.sequence_number.map(|n| n.to_string()).unwrap_or_else(|| "?".into())
        );
    }
    match &s.attestation {
        Some(a) => say!(
            "  attestation {} ({}, {} model, at {})",
            if a.trusted { "trusted" } else { "NOT TRUSTED" },
            a.reason,
            a.model,
            crate::format_time(a.appraised_at)
        ),
        None => say!("  attestation none recorded"),
    }
    say!("  policy:");
    for rule in &s.policy {
        say!(
            "    {:?}\t{}\tmin sequence {}\t({})",
            rule.action,
            ComponentKey::from_cbor(&rule.component_id)
                .map(|k| k.to_string())
                .unwrap_or_else(|_| hex::encode(&rule.component_id)),
            rule.min_sequence,
            if rule.device == "*" { "every device" } else { "this device" }
        );
    }
    match &s.report_key {
        Some(key) => say!(
            "  report key {}",
            teep_cose::PublicKey::from_cose_key(key)
                .map(|k| hex::encode(k.thumbprint()))
                .unwrap_or_else(|_| "(unreadable)".into())
        ),
        None => say!("  report key none enrolled (signed reports are read unverified)"),
    }
    say!("  SUIT reports:");
    for r in &s.reports {
        say!(
            "    {}	{}	{}	{}{}	{}",
            crate::format_time(r.received_at),
            r.message,
            if r.success {
                "success".to_owned()
            } else {
                format!("failed: {}", r.reason.as_deref().unwrap_or("?"))
            },
            r.protection,
            if r.verified { " (verified)" } else { "" },
            if r.manifest_uri.is_empty() {
                "-".into()
            } else {
                r.manifest_uri.escape_debug().to_string()
            }
        );
    }
    say!("  recent events:");
    for e in &s.events {
        say!("    {}\t{}\t{}", crate::format_time(e.at), e.kind, e.detail);
    }
    Ok(ExitCode::SUCCESS)
}
