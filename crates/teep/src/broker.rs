//! `teep broker …`: the TEEP Broker's conceptual API calls (RFC 9397 §6.2) from the command
//! line, and the Broker as a service.
//!
//! `teep broker serve` runs the daemon ([`teep_broker::daemon`]): a local socket for untrusted
//! applications and installers and a policy-check timer. `request-ta`, `unrequest-ta`,
//! `policy-check` and `status` are clients of that socket when `--broker-socket` (or
//! `TEEP_BROKER_SOCKET`) names it; otherwise (or with `--direct`) they run the sessions
//! themselves against the Agent's socket.
//!
//! With `[passport]` in the configuration or `--verifier-url`, both the one-shot commands and
//! the daemon run the passport model ([`teep_broker::passport`]): the Broker takes the Agent's
//! Evidence to the Verifier and the Agent presents the Attestation Result to the TAM.
//!
//! Exit status of the one-shot commands: 0 when everything asked for happened; 1 when a
//! session failed, the Agent answered a TEEP Error or the command could not run; 3
//! ([`NOT_INSTALLED`]) when `request-ta` ran its session but the component is still not
//! installed (the TAM has no such Trusted Component, or its policy refuses it).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use teep_agent::ipc::AgentHandle as _;
use teep_broker::daemon::{AgentSocket, Daemon, DaemonAgent};
use teep_broker::daemon_socket::{
    DaemonClient, DaemonRequest, DaemonResponse, DaemonStatus, OperationOutcome, PassportAttempt,
};
use teep_broker::passport::{PassportAgent, PassportConfig};
use teep_broker::{Broker, BrokerConfig, IpcAgent, TrustedComponentId};

/// Exit status of `request-ta` when the sessions succeeded but the component is not installed.
pub const NOT_INSTALLED: u8 = 3;

/// Options shared by the Broker commands.
#[derive(Args, Debug, Clone)]
pub struct BrokerOptions {
    /// Broker configuration file (TOML); the flags below override it.
    #[arg(long, global = true, env = "TEEP_BROKER_CONFIG")]
    config: Option<PathBuf>,
    /// Unix socket of the Agent (`teep agent serve`).
    #[arg(long, global = true, default_value = "agent-state/agent.sock")]
    socket: PathBuf,
    /// Socket of a running `teep broker serve`: the commands become its clients.
    #[arg(long, global = true, env = "TEEP_BROKER_SOCKET")]
    broker_socket: Option<PathBuf>,
    /// Run the sessions in this process even when a Broker socket is named.
    #[arg(long, global = true)]
    direct: bool,
    /// PEM file of the CA certificates TAM server certificates must chain to.
    #[arg(long, global = true)]
    ca_file: Option<PathBuf>,
    /// Allow plain http:// TAM URIs (loopback testing).
    #[arg(long, global = true)]
    allow_http: bool,
    /// Passport model: take the Agent's Evidence to this Verifier (`teep verifier serve` or
    /// Veraison) first (overrides `[passport] verifier_url`).
    #[arg(long, global = true, env = "TEEP_BROKER_VERIFIER_URL")]
    verifier_url: Option<String>,
    /// Print the session transcript.
    #[arg(long, short = 'v', global = true)]
    verbose: bool,
}

/// `teep broker` subcommands.
#[derive(Subcommand, Debug)]
pub enum BrokerCommand {
    /// RequestTA: ask for a Trusted Component; runs the session with the TAM the Agent names.
    /// Exits 3 when the session ran but the component is still not installed.
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
    /// Installed components; with a Broker socket also the schedule and each TAM's health.
    Status,
    /// Run the Broker as a service: local socket, periodic policy checks, until SIGTERM.
    Serve {
        /// Socket for applications and installers (overrides `[daemon] socket`).
        #[arg(long)]
        listen: Option<PathBuf>,
        /// Seconds between policy checks (overrides `[daemon] policy_check_interval_ms`).
        #[arg(long)]
        interval: Option<u64>,
    },
}

/// Runs a `teep broker` command.
pub async fn run(options: BrokerOptions, command: BrokerCommand) -> anyhow::Result<ExitCode> {
    crate::install_crypto_provider();
    let config = load_config(&options)?;
    if let BrokerCommand::Serve { listen, interval } = command {
        return serve(config, listen, interval).await;
    }
    let daemon_socket = if options.direct { None } else { options.broker_socket.clone() };
    match daemon_socket {
        Some(path) => via_daemon(&DaemonClient::new(path), &options, &command).await,
        None => direct(config, &options, &command).await,
    }
}

fn load_config(options: &BrokerOptions) -> anyhow::Result<BrokerConfig> {
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
    if let Some(url) = &options.verifier_url {
        match &mut config.passport {
            Some(passport) => passport.verifier_url.clone_from(url),
            None => config.passport = Some(PassportConfig::new(url.clone())),
        }
    }
    config.validate().context("invalid Broker configuration")?;
    Ok(config)
}

/// The passport Agent side around `agent` when `config` has `[passport]`.
fn passport_agent<H: teep_agent::ipc::AgentHandle>(
    agent: IpcAgent<H>,
    passport: &PassportConfig,
) -> anyhow::Result<PassportAgent<H>> {
    PassportAgent::new(agent, passport).with_context(|| {
        format!("cannot use the Verifier at {} for the passport model", passport.verifier_url)
    })
}

/// `teep broker serve`: the daemon until SIGTERM or Ctrl-C.
async fn serve(
    mut config: BrokerConfig,
    listen: Option<PathBuf>,
    interval: Option<u64>,
) -> anyhow::Result<ExitCode> {
    if listen.is_some() {
        config.daemon.socket = listen;
    }
    if let Some(seconds) = interval {
        config.daemon.policy_check_interval_ms = seconds.saturating_mul(1000);
    }
    if config.daemon.socket.is_none() {
        anyhow::bail!("no socket to listen on: pass --listen or set [daemon] socket");
    }
    let agent_socket = config.agent_socket.clone().unwrap_or_default();
    let agent = IpcAgent::new(AgentSocket::new(agent_socket));
    match config.passport.clone() {
        Some(passport) => serve_with(passport_agent(agent, &passport)?, config).await,
        None => serve_with(agent, config).await,
    }
}

async fn serve_with<A: DaemonAgent>(agent: A, config: BrokerConfig) -> anyhow::Result<ExitCode> {
    let broker = Broker::new(agent, config).context("invalid Broker configuration")?;
    Arc::new(Daemon::new(broker)).serve(crate::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// A command as a client of `teep broker serve`.
async fn via_daemon(
    client: &DaemonClient,
    options: &BrokerOptions,
    command: &BrokerCommand,
) -> anyhow::Result<ExitCode> {
    let request = match command {
        BrokerCommand::RequestTa { component } => {
            DaemonRequest::RequestTa { component: component_id(component)?.0 }
        }
        BrokerCommand::UnrequestTa { component } => {
            DaemonRequest::UnrequestTa { component: component_id(component)?.0 }
        }
        BrokerCommand::PolicyCheck => DaemonRequest::PolicyCheck {},
        BrokerCommand::Status => DaemonRequest::Status {},
        BrokerCommand::Serve { .. } => anyhow::bail!("serve is not a client command"),
    };
    let answer = client.call(&request).await.with_context(|| {
        format!("is `teep broker serve` listening on {}?", client.path().display())
    })?;
    match answer {
        DaemonResponse::Done { outcome } => {
            let code = print_outcome(&outcome, options.verbose, command);
            if code != ExitCode::SUCCESS {
                return Ok(code);
            }
            let BrokerCommand::RequestTa { component } = command else { return Ok(code) };
            let status = client.call(&DaemonRequest::Status {}).await;
            let requested = match status {
                Ok(DaemonResponse::Status { status }) if status.agent_error.is_none() => {
                    Ok(status.requested)
                }
                Ok(DaemonResponse::Status { status }) => {
                    Err(status.agent_error.unwrap_or_default())
                }
                Ok(other) => Err(format!("unexpected answer {other:?}")),
                Err(e) => Err(e.to_string()),
            };
            Ok(check_installed(component, requested))
        }
        DaemonResponse::Status { status } => {
            print_daemon_status(&status);
            Ok(ExitCode::SUCCESS)
        }
        DaemonResponse::Error { message } => anyhow::bail!("the Broker daemon: {message}"),
    }
}

/// After a RequestTA whose sessions succeeded: whether the Agent still lists `component` as
/// requested and not installed (`requested`: the Agent's list, or why it could not be read).
fn check_installed(component: &str, requested: Result<Vec<Vec<Vec<u8>>>, String>) -> ExitCode {
    let id = match component_id(component) {
        Ok(id) => id.0,
        Err(_) => return ExitCode::from(1),
    };
    match requested {
        Ok(list) if list.contains(&id) => {
            eprintln!(
                "teep broker: the TAM did not install {component}: it may not have such a \
                 Trusted Component or its policy refuses it; ask the TAM operator (the TAM's \
                 device history records why)"
            );
            ExitCode::from(NOT_INSTALLED)
        }
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "teep broker: the session ran, but the Agent's status could not be read to \
                 check that {component} is installed: {e}"
            );
            ExitCode::from(1)
        }
    }
}

fn print_outcome(outcome: &OperationOutcome, verbose: bool, command: &BrokerCommand) -> ExitCode {
    if verbose {
        for line in &outcome.transcript {
            say!("{line}");
        }
    }
    let policy_check = matches!(command, BrokerCommand::PolicyCheck);
    if outcome.sessions.is_empty() && outcome.failures.is_empty() && !policy_check {
        say!("nothing to do: the Agent has no session to run (already satisfied)");
    }
    print_passport(&outcome.passport);
    for s in &outcome.sessions {
        say!("session with {}: {} round trips", s.tam_uri, s.round_trips);
    }
    if outcome.attempts > 1 {
        say!("({} attempts: network errors were retried)", outcome.attempts);
    }
    let mut failed = false;
    for f in &outcome.failures {
        eprintln!("teep broker: session with {} failed: {}", f.tam_uri, f.failure);
        failed = true;
    }
    if outcome.agent_errors > 0 {
        eprintln!(
            "teep broker: the Agent answered {} TEEP Error message(s): an install or delete \
             failed (see the Agent's log, and `teep tam status` for the err-code)",
            outcome.agent_errors
        );
        failed = true;
    }
    if policy_check && outcome.failures.is_empty() {
        match outcome.sessions.len() {
            0 => say!("policy check complete: the Agent names no TAM to contact"),
            1 => say!("policy check complete: 1 TAM contacted, nothing left to do"),
            n => say!("policy check complete: {n} TAMs contacted, nothing left to do"),
        }
    }
    if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

fn print_passport(attempts: &[PassportAttempt]) {
    for a in attempts {
        if a.presented {
            say!("passport for {}: {}", a.tam_uri, a.detail);
        } else {
            say!(
                "passport for {} failed, the Agent sent Evidence instead: {}",
                a.tam_uri,
                a.detail
            );
        }
    }
}

fn print_daemon_status(status: &DaemonStatus) {
    match &status.verifier_url {
        Some(url) => say!("attestation: passport model, Verifier {url}"),
        None => say!("attestation: background-check model (Evidence goes to the TAM)"),
    }
    print_passport(&status.passport);
    say!(
        "policy checks: {} ({} failed in a row)",
        status.policy_checks,
        status.consecutive_failures
    );
    match status.next_check_in_ms {
        Some(ms) => say!("next check in {} s", ms / 1000),
        None => say!("next check: not scheduled"),
    }
    for tam in &status.tams {
        let last = tam.last_failure.as_deref().unwrap_or("none");
        say!(
            "TAM {}: {} session(s), {} failure(s) in a row, last failure: {last}",
            tam.tam_uri,
            tam.sessions,
            tam.consecutive_failures
        );
    }
    if let Some(e) = &status.agent_error {
        say!("Agent: unreachable: {e}");
    }
    for c in &status.installed {
        let seq = c.sequence_number.map_or("-".to_owned(), |n| n.to_string());
        say!("installed: {} (sequence {seq})", crate::component_text(&c.component));
    }
    for c in &status.requested {
        say!("requested: {}", crate::component_text(c));
    }
}

/// A command run in this process, straight against the Agent's socket.
async fn direct(
    config: BrokerConfig,
    options: &BrokerOptions,
    command: &BrokerCommand,
) -> anyhow::Result<ExitCode> {
    let socket = config.agent_socket.clone().unwrap_or_default();
    let agent = IpcAgent::connect(&socket).await.with_context(|| {
        format!("cannot reach the Agent at {} (is `teep agent serve` running?)", socket.display())
    })?;
    match config.passport.clone() {
        Some(passport) => {
            let agent = passport_agent(agent, &passport)?;
            run_direct(Broker::new(agent, config)?, options, command).await
        }
        None => run_direct(Broker::new(agent, config)?, options, command).await,
    }
}

async fn run_direct<A: DaemonAgent>(
    mut broker: Broker<A>,
    options: &BrokerOptions,
    command: &BrokerCommand,
) -> anyhow::Result<ExitCode> {
    let outcome = match command {
        BrokerCommand::RequestTa { component } => {
            broker.request_ta(&component_id(component)?).await
        }
        BrokerCommand::UnrequestTa { component } => {
            broker.unrequest_ta(&component_id(component)?).await
        }
        BrokerCommand::PolicyCheck => broker.request_policy_check().await,
        BrokerCommand::Status => {
            let status = broker.agent().agent_handle().status().await;
            let status = status.map_err(|e| anyhow::anyhow!("the Agent's status: {e}"))?;
            print_daemon_status(&DaemonStatus {
                verifier_url: broker.agent().verifier_url().map(str::to_owned),
                installed: status
                    .installed
                    .into_iter()
                    .map(|c| teep_broker::daemon_socket::ComponentView {
                        component: c.component_id,
                        sequence_number: c.sequence_number,
                    })
                    .collect(),
                requested: status.requested,
                ..DaemonStatus::default()
            });
            return Ok(ExitCode::SUCCESS);
        }
        BrokerCommand::Serve { .. } => anyhow::bail!("serve is handled above"),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let passport: Vec<PassportAttempt> = broker
        .agent_mut()
        .take_passport_outcomes()
        .into_iter()
        .map(|o| PassportAttempt::new(o, now))
        .collect();
    match outcome {
        Ok(report) => {
            let outcome = OperationOutcome { passport, ..OperationOutcome::of(&report, 1) };
            let code = print_outcome(&outcome, options.verbose, command);
            let BrokerCommand::RequestTa { component } = command else { return Ok(code) };
            if code != ExitCode::SUCCESS {
                return Ok(code);
            }
            let status = broker.agent().agent_handle().status().await;
            Ok(check_installed(component, status.map(|s| s.requested).map_err(|e| e.to_string())))
        }
        Err(e) => {
            print_passport(&passport);
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
