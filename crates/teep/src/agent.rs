//! `teep agent …`: create and run a TEEP Agent on the software TEE.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use clap::Subcommand;
use teep_agent::ipc::{self, AgentHandle as _};
use teep_agent::software::{self, config, init};

/// `teep agent` subcommands.
#[derive(Subcommand, Debug)]
pub enum AgentCommand {
    /// Create a software-TEE state directory: Agent key, configuration, empty store.
    Init(Box<InitArgs>),
    /// Run the Agent behind a Unix socket for the Broker, until interrupted.
    Serve {
        /// State directory.
        #[arg(long, default_value = "agent-state")]
        dir: PathBuf,
        /// Socket path (default: `agent.sock` in the state directory).
        #[arg(long)]
        socket: Option<PathBuf>,
    },
    /// Ask a running Agent what it has installed.
    Status {
        /// State directory of the running Agent (its socket is `agent.sock` there).
        #[arg(long, default_value = "agent-state")]
        dir: PathBuf,
        /// Socket path, when the Agent was started with `--socket`.
        #[arg(long)]
        socket: Option<PathBuf>,
    },
}

/// `teep agent init` options.
#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// State directory to create.
    #[arg(long, default_value = "agent-state")]
    dir: PathBuf,
    /// Agent key algorithm.
    #[arg(long, value_enum, default_value_t = crate::KeyAlg::Esp256)]
    key_alg: crate::KeyAlg,
    /// URI of the TAM to trust (TEEP over HTTP endpoint).
    #[arg(long)]
    tam_uri: String,
    /// PEM file with the TAM's public keys (several keys may sit in one file).
    #[arg(long, required = true)]
    tam_keys: Vec<PathBuf>,
    /// Numbering this TAM speaks.
    #[arg(long, value_enum, default_value_t = crate::Wire::Rfc)]
    wire: crate::Wire,
    /// Public key file of a Trusted Component signer to trust (repeatable).
    #[arg(long = "tc-signer")]
    tc_signers: Vec<PathBuf>,
    /// SUIT vendor identifier of this device (hex, repeatable).
    #[arg(long = "vendor-id")]
    vendor_ids: Vec<String>,
    /// SUIT class identifier of this device (hex, repeatable).
    #[arg(long = "class-id")]
    class_ids: Vec<String>,
    /// Payload mirror `PREFIX=TARGET`: URIs starting with PREFIX are fetched from TARGET
    /// (a loopback `http://` base or a `file://` directory) instead (repeatable).
    #[arg(long = "mirror")]
    mirrors: Vec<String>,
    /// Accept ES256 (-7) and EdDSA (-8) from TAMs, as legacy peers send.
    #[arg(long)]
    accept_legacy_algorithms: bool,
    /// Fetch only through mirrors: a payload URI without a matching mirror fails.
    #[arg(long)]
    no_direct_fetch: bool,
    /// Allow plain http:// for payloads fetched directly (https only by default).
    #[arg(long)]
    fetch_allow_http: bool,
    /// PEM file of the CA certificates payload servers must chain to (default: the
    /// platform's trust store).
    #[arg(long)]
    fetch_ca_file: Option<PathBuf>,
    /// SUIT device identifier of this device (hex, repeatable).
    #[arg(long = "device-id")]
    device_ids: Vec<String>,
    /// P-256 private key (PKCS#8 PEM) that decrypts payloads encrypted to this device
    /// (ECDH-ES + A128KW); default: a fresh key, public half in `device-key.pub.pem`.
    #[arg(long)]
    device_key: Option<PathBuf>,
    /// AES key-wrap key for encrypted payloads, `[KID_HEX:]KEY_HEX` (repeatable).
    #[arg(long = "keywrap-key")]
    keywrap_keys: Vec<String>,
    /// HMAC-256 key that authenticates Trusted Component manifests, `[KID_HEX:]KEY_HEX`
    /// (repeatable).
    #[arg(long = "tc-mac-key")]
    tc_mac_keys: Vec<String>,
    /// Protection of the SUIT reports the Agent sends: none, sign (with `report-key.pem`)
    /// or encrypt (signed, then encrypted to the TAM's P-256 key given here as a PEM file:
    /// `encrypt=FILE`).
    #[arg(long, default_value = "none")]
    reports: String,
}

/// Runs a `teep agent` command.
pub async fn run(command: AgentCommand) -> anyhow::Result<ExitCode> {
    match command {
        AgentCommand::Init(args) => {
            let InitArgs {
                dir,
                key_alg,
                tam_uri,
                tam_keys,
                wire,
                tc_signers,
                vendor_ids,
                class_ids,
                mirrors,
                accept_legacy_algorithms,
                no_direct_fetch,
                fetch_allow_http,
                fetch_ca_file,
                device_ids,
                device_key,
                keywrap_keys,
                tc_mac_keys,
                reports,
            } = *args;
            let mut file = config::ConfigFile {
                accept_legacy_algorithms,
                tc_signers: read_all(&tc_signers)?,
                ..Default::default()
            };
            file.tams.push(config::TamEntry {
                uri: tam_uri,
                numbering: Some(numbering(wire)),
                public_keys: split_pem(&read_all(&tam_keys)?),
            });
            file.device.vendor_ids = vendor_ids;
            file.device.class_ids = class_ids;
            file.device.device_ids = device_ids;
            file.fetch.direct = !no_direct_fetch;
            file.fetch.allow_http = fetch_allow_http;
            if let Some(ca) = fetch_ca_file {
                file.fetch.ca_file = Some(std::fs::canonicalize(&ca).with_context(|| {
                    format!("--fetch-ca-file {}: cannot find it", ca.display())
                })?);
            }
            for m in mirrors {
                let (prefix, target) = m.split_once('=').with_context(|| {
                    format!("--mirror {m:?}: expected PREFIX=TARGET, e.g. https://example.org/=file:///srv/tc/")
                })?;
                file.mirrors
                    .push(config::Mirror { prefix: prefix.to_owned(), target: target.to_owned() });
            }
            match reports.split_once('=') {
                None if reports == "none" => {}
                None if reports == "sign" => {
                    file.reports.protect = config::ReportProtection::Sign;
                }
                Some(("encrypt", tam_key)) => {
                    file.reports.protect = config::ReportProtection::Encrypt;
                    file.reports.encrypt_to = Some(crate::input::read_text(
                        std::path::Path::new(tam_key),
                        crate::input::KEY_LIMIT,
                    )?);
                }
                _ => anyhow::bail!(
                    "--reports {reports:?}: expected none, sign or encrypt=TAM-P256-KEY.pem"
                ),
            }
            if key_alg == crate::KeyAlg::Ed25519 {
                file.suites = vec![config::SuiteName::Ed25519];
            }
            let options = init::InitOptions {
                key_kind: match key_alg {
                    crate::KeyAlg::Esp256 => init::KeyKind::P256,
                    crate::KeyAlg::Ed25519 => init::KeyKind::Ed25519,
                },
                config: file,
            };
            let done = init::init(&dir, &options)
                .with_context(|| format!("cannot initialise the Agent in {}", dir.display()))?;
            if let Some(path) = device_key {
                let pem = zeroize::Zeroizing::new(crate::input::read_text(
                    &path,
                    crate::input::KEY_LIMIT,
                )?);
                let key = teep_cose::SigningKey::from_pkcs8_pem(&pem)
                    .map_err(|e| anyhow::anyhow!("--device-key {}: {e}", path.display()))?;
                init::set_device_key(&dir, &key)?;
            }
            for spec in &keywrap_keys {
                let (kid, key) = kid_and_key(spec, "--keywrap-key")?;
                init::add_keywrap_key(&dir, kid.as_deref(), &key)?;
            }
            for spec in &tc_mac_keys {
                let (kid, key) = kid_and_key(spec, "--tc-mac-key")?;
                init::add_tc_mac_key(&dir, kid.as_deref(), &key)?;
            }
            say!("Agent state directory: {}", dir.display());
            say!("Agent kid (RFC 9679 thumbprint): {}", hex::encode(done.kid));
            say!(
                "Agent public key (enrol it at the TAM with `teep tam device add`): {}",
                dir.join(init::PUBLIC_KEY_FILE).display()
            );
            Ok(ExitCode::SUCCESS)
        }
        AgentCommand::Serve { dir, socket } => serve(&dir, socket).await,
        AgentCommand::Status { dir, socket } => {
            let socket = socket.unwrap_or_else(|| dir.join(init::SOCKET_FILE));
            let client = ipc::Client::connect(&socket).await.with_context(|| {
                format!(
                    "cannot reach the Agent at {} (is `teep agent serve` running?)",
                    socket.display()
                )
            })?;
            let status = client.status().await.context("the Agent did not answer")?;
            print_status(&status);
            // A tampered store is not an error of this command, but scripts must notice it.
            Ok(if status.is_tampered() { ExitCode::from(TAMPERED_EXIT) } else { ExitCode::SUCCESS })
        }
    }
}

/// Parses `[KID_HEX:]KEY_HEX`; the key bytes are zeroized when dropped.
/// An optional key id and a secret key.
type KidAndKey = (Option<Vec<u8>>, zeroize::Zeroizing<Vec<u8>>);

fn kid_and_key(spec: &str, flag: &str) -> anyhow::Result<KidAndKey> {
    let (kid, key) = match spec.split_once(':') {
        Some((kid, key)) => (Some(kid), key),
        None => (None, spec),
    };
    let kid = kid
        .map(hex::decode)
        .transpose()
        .map_err(|_| anyhow::anyhow!("{flag}: the kid is not hex"))?;
    let key = hex::decode(key).map_err(|_| anyhow::anyhow!("{flag}: the key is not hex"))?;
    Ok((kid, zeroize::Zeroizing::new(key)))
}

fn numbering(wire: crate::Wire) -> config::NumberingName {
    match wire {
        crate::Wire::Rfc => config::NumberingName::Rfc,
        crate::Wire::Legacy => config::NumberingName::Legacy,
    }
}

fn read_all(paths: &[PathBuf]) -> anyhow::Result<Vec<String>> {
    paths.iter().map(|p| crate::input::read_text(p, crate::input::KEY_LIMIT)).collect()
}

/// Splits PEM files that hold several keys into one PEM text per key.
pub fn split_pem(texts: &[String]) -> Vec<String> {
    let mut keys = Vec::new();
    for text in texts {
        let mut current = String::new();
        for line in text.lines() {
            current.push_str(line);
            current.push('\n');
            if line.starts_with("-----END ") {
                keys.push(std::mem::take(&mut current));
            }
        }
        if !current.trim().is_empty() {
            keys.push(current);
        }
    }
    keys
}

async fn serve(dir: &Path, socket: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let agent = software::open(dir)
        .with_context(|| format!("cannot open the Agent state directory {}", dir.display()))?;
    let socket = socket.unwrap_or_else(|| dir.join(init::SOCKET_FILE));
    let listener =
        ipc::bind(&socket).with_context(|| format!("cannot listen on {}", socket.display()))?;
    eprintln!("teep agent: serving the Broker API on {}", socket.display());
    ipc::serve_listener(
        listener,
        Arc::new(Mutex::new(agent)),
        ipc::DEFAULT_MAX_FRAME,
        crate::shutdown_signal(),
    )
    .await?;
    let _ = std::fs::remove_file(&socket);
    Ok(ExitCode::SUCCESS)
}

/// Exit code of `teep agent status` when the Agent reports tampered store files.
pub const TAMPERED_EXIT: u8 = 3;

/// Prints an Agent's installed components, then any store files that failed their integrity
/// check and the manifests quarantined because of them.
pub fn print_status(status: &ipc::AgentStatus) {
    if status.installed.is_empty() {
        say!("no Trusted Components installed");
    }
    for c in &status.installed {
        // Security domain (docs/security-domains.md): the domain manifest, or the owner's
        // default domain; the owner is the TC signer's RFC 9679 thumbprint.
        let domain =
            c.domain.as_ref().map_or_else(|| "default".into(), |d| crate::component_text(d));
        let owner = c.owner.as_ref().map_or_else(|| "unrecorded".into(), hex::encode);
        say!(
            "{}\tsequence {}\tdomain {domain}\towner {owner}",
            crate::component_text(&c.component_id),
            c.sequence_number.map(|n| n.to_string()).unwrap_or_else(|| "?".into())
        );
    }
    if !status.is_tampered() {
        return;
    }
    say!(
        "tampered: {} store file(s) failed their integrity check; {} manifest(s) quarantined \
         (not installed any more: the TAM reinstalls them at its next update)",
        status.tampered.len(),
        status.quarantined.len()
    );
    for t in &status.tampered {
        say!("tampered file\t{}\t{}", t.path, t.what);
    }
    for key in &status.quarantined {
        say!("quarantined manifest\t{key}\t(store key: SHA-256 of its manifest component id)");
    }
}
