//! `teep broker …`: the TEEP Broker's conceptual API calls (RFC 9397 §6.2) from the command
//! line, each running whole TEEP sessions between a TAM and the Agent behind its socket.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use teep_broker::{Broker, BrokerConfig, TrustedComponentId};

/// Options shared by the Broker commands.
#[derive(Args, Debug, Clone)]
pub struct BrokerOptions {
    /// Broker configuration file (TOML); the flags below override it.
    #[arg(long, global = true, env = "TEEP_BROKER_CONFIG")]
    config: Option<PathBuf>,
    /// Unix socket of the Agent (`teep agent serve`).
    #[arg(long, global = true, default_value = "agent-state/agent.sock")]
    socket: PathBuf,
    /// PEM file of the CA certificates TAM server certificates must chain to.
    #[arg(long, global = true)]
    ca_file: Option<PathBuf>,
    /// Allow plain http:// TAM URIs (loopback testing).
    #[arg(long, global = true)]
    allow_http: bool,
    /// Print the session transcript.
    #[arg(long, short = 'v', global = true)]
    verbose: bool,
}

/// `teep broker` subcommands.
#[derive(Subcommand, Debug)]
pub enum BrokerCommand {
    /// RequestTA: ask for a Trusted Component; runs the session with the TAM the Agent names.
    RequestTa {
        /// Component id: parts separated by `/`, each text or `0x`-prefixed hex.
        component: String,
    },
    /// UnrequestTA: give up a Trusted Component; the TAM decides whether to delete it.
    UnrequestTa {
        /// Component id: parts separated by `/`, each text or `0x`-prefixed hex.
        component: String,
    },
    /// RequestPolicyCheck: contact every TAM the Agent trusts and apply what they send.
    PolicyCheck,
}

/// Runs a `teep broker` command.
pub async fn run(options: BrokerOptions, command: BrokerCommand) -> anyhow::Result<ExitCode> {
    crate::install_crypto_provider();
    let mut config = match &options.config {
        Some(path) => BrokerConfig::load(path)
            .with_context(|| format!("cannot load the Broker configuration {}", path.display()))?,
        None => BrokerConfig::default(),
    };
    if config.agent_socket.is_none() || options.config.is_none() {
        config.agent_socket = Some(options.socket.clone());
    }
    if options.ca_file.is_some() {
        config.ca_file = options.ca_file.clone();
    }
    config.allow_http |= options.allow_http;
    let socket = config.agent_socket.clone().unwrap_or_default();
    let mut broker = Broker::connect(config).await.with_context(|| {
        format!("cannot reach the Agent at {} (is `teep agent serve` running?)", socket.display())
    })?;
    let outcome = match &command {
        BrokerCommand::RequestTa { component } => {
            broker.request_ta(&component_id(component)?).await
        }
        BrokerCommand::UnrequestTa { component } => {
            broker.unrequest_ta(&component_id(component)?).await
        }
        BrokerCommand::PolicyCheck => broker.request_policy_check().await,
    };
    match outcome {
        Ok(report) => {
            if options.verbose {
                for event in &report.events {
                    say!("{event}");
                }
            }
            if report.sessions.is_empty() {
                say!("nothing to do: the Agent has no session to run (already satisfied)");
            }
            for s in &report.sessions {
                say!("session with {}: {} round trips", s.tam_uri, s.round_trips);
            }
            // A session can complete at the HTTP level while the Agent reported a failure.
            let errors = report
                .events
                .iter()
                .filter(|e| {
                    matches!(
                        e,
                        teep_broker::Event::AgentAnswered { message: Some(m) }
                            if m.kind == teep_broker::MessageKind::Error
                    )
                })
                .count();
            if errors > 0 {
                eprintln!(
                    "teep broker: the Agent answered {errors} TEEP Error message(s): an install or \
                     delete failed (see the Agent's log, and `teep tam status` for the err-code)"
                );
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            for event in broker.take_transcript() {
                eprintln!("{event}");
            }
            Err(anyhow::anyhow!(e).context("the session failed"))
        }
    }
}

fn component_id(text: &str) -> anyhow::Result<TrustedComponentId> {
    let key = teep_tam::ComponentKey::parse_text(text).map_err(|e| {
        anyhow::anyhow!("component id {text:?}: {e} (parts separated by `/`, each text or 0x-hex)")
    })?;
    Ok(TrustedComponentId(key.parts()))
}
