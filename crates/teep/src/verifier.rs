//! `teep verifier …`: set up and run the Verifier (teep-verifier), a RATS Verifier for TEEP
//! Evidence with a Veraison-style challenge-response API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use teep_verifier::{Verifier, VerifierConfig};

/// `teep verifier` subcommands.
#[derive(Subcommand, Debug)]
pub enum VerifierCommand {
    /// Create a state directory with `verifier.toml` and the Verifier's signing key.
    Init {
        /// State directory to create.
        #[arg(long, default_value = "verifier-state")]
        state: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8181")]
        listen: SocketAddr,
        /// Endorsed attestation public key (SPKI PEM, JWK or COSE_Key), e.g. an Agent's
        /// `attest-key.pub.pem`; repeatable.
        #[arg(long = "attester-key")]
        attester_keys: Vec<PathBuf>,
    },
    /// Serve the challenge-response API until interrupted.
    Serve {
        /// The configuration file.
        #[arg(
            long,
            short = 'c',
            env = "TEEP_VERIFIER_CONFIG",
            default_value = "verifier-state/verifier.toml"
        )]
        config: PathBuf,
        /// Override the listen address.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Print the public key that signs Attestation Results (a TAM's `verifier_keys`).
    Key {
        /// The configuration file.
        #[arg(
            long,
            short = 'c',
            env = "TEEP_VERIFIER_CONFIG",
            default_value = "verifier-state/verifier.toml"
        )]
        config: PathBuf,
    },
    /// Appraise an Evidence file (a signed EAT) locally and print the outcome.
    Appraise {
        /// The configuration file.
        #[arg(
            long,
            short = 'c',
            env = "TEEP_VERIFIER_CONFIG",
            default_value = "verifier-state/verifier.toml"
        )]
        config: PathBuf,
        /// The Evidence (CWT bytes).
        evidence: PathBuf,
        /// The expected eat_nonce, hex (default: timestamp freshness).
        #[arg(long)]
        nonce: Option<String>,
    },
}

/// Runs a `teep verifier` command.
pub async fn run(command: VerifierCommand) -> anyhow::Result<ExitCode> {
    match command {
        VerifierCommand::Init { state, listen, attester_keys } => {
            init(&state, listen, attester_keys)
        }
        VerifierCommand::Serve { config, listen } => {
            let mut config = load(&config)?;
            if let Some(listen) = listen {
                config.listen = listen;
            }
            crate::install_crypto_provider();
            eprintln!("teep verifier: serving the challenge-response API on {}", config.listen);
            teep_verifier::serve(config, crate::shutdown_signal())
                .await
                .context("the Verifier stopped")?;
            Ok(ExitCode::SUCCESS)
        }
        VerifierCommand::Key { config } => {
            let verifier = Verifier::open(load(&config)?)?;
            print!("{}", verifier.public_key().to_spki_pem());
            Ok(ExitCode::SUCCESS)
        }
        VerifierCommand::Appraise { config, evidence, nonce } => {
            let verifier = Verifier::open(load(&config)?)?;
            let bytes = std::fs::read(&evidence)
                .with_context(|| format!("cannot read {}", evidence.display()))?;
            let nonce = match nonce {
                Some(h) => hex::decode(h).context("--nonce must be hex")?,
                None => Vec::new(),
            };
            let (result, _) = verifier
                .appraise(&bytes, &nonce, crate::unix_now())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("status: {}", result.status.as_str());
            if let Some(reason) = &result.reason {
                println!("reason: {reason}");
            }
            let affirming = result.status == teep_eat::Status::Affirming;
            Ok(if affirming { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}

fn load(path: &Path) -> anyhow::Result<VerifierConfig> {
    VerifierConfig::load(path).with_context(|| {
        format!(
            "cannot load the Verifier configuration {} (create one with `teep verifier init`)",
            path.display()
        )
    })
}

fn init(state: &Path, listen: SocketAddr, attester_keys: Vec<PathBuf>) -> anyhow::Result<ExitCode> {
    let file = state.join("verifier.toml");
    anyhow::ensure!(!file.exists(), "{} exists already; not overwriting it", file.display());
    std::fs::create_dir_all(state)
        .with_context(|| format!("cannot create the state directory {}", state.display()))?;
    let state = std::fs::canonicalize(state)?;
    let attester_keys = attester_keys
        .iter()
        .map(|p| std::fs::canonicalize(p).with_context(|| format!("{}", p.display())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let config =
        VerifierConfig { state_dir: state.clone(), listen, attester_keys, ..Default::default() };
    let verifier = Verifier::open(config.clone())?;
    std::fs::write(&file, config.to_toml())?;
    let public = state.join("verifier-public-key.pem");
    std::fs::write(&public, verifier.public_key().to_spki_pem())?;
    println!("Verifier state directory: {}", state.display());
    println!("configuration:            {}", file.display());
    println!("result signing key (a TAM's [attestation] verifier_keys): {}", public.display());
    println!(
        "add reference values under [reference] (oemids, hwmodels, hwversions, manifest_digests)"
    );
    println!("next: `teep verifier serve -c {}`", file.display());
    Ok(ExitCode::SUCCESS)
}
