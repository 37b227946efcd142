//! `teep tam principal …` and `teep tam token …`: who may use the TAM's admin REST API
//! (docs/admin-api.md). The commands act as the operator `cli`, like every `teep tam`
//! command; each change is in the audit log.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use teep_tam::{Admin, Role};

use crate::{format_time, unix_now};

/// `teep tam principal …`
#[derive(Subcommand, Debug)]
pub enum PrincipalCommand {
    /// Create a principal of the admin API.
    Add {
        /// Its name (the actor in the audit log).
        name: String,
        /// `operator`, `developer` (own TC signers and components) or `device-admin` (own
        /// device groups, their policies and rollouts).
        #[arg(long)]
        role: String,
        /// Also register this client certificate (PEM or DER) for mutual TLS.
        #[arg(long)]
        certificate: Option<PathBuf>,
    },
    /// List principals.
    List,
    /// Disable a principal: its tokens and certificates stop working at once.
    Disable {
        /// The principal's name.
        name: String,
    },
    /// Re-enable a disabled principal.
    Enable {
        /// The principal's name.
        name: String,
    },
}

/// `teep tam token …`
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create an API token and print it (only this once; the TAM keeps only its hash).
    Create {
        /// The principal the token authenticates.
        #[arg(long)]
        principal: String,
        /// Lifetime in seconds, at most 315360000 (10 years) (default: until revoked).
        #[arg(long)]
        expires_in: Option<u64>,
    },
    /// List tokens: ids, state (active, expired, revoked) and RFC 3339 times, never the
    /// tokens.
    List {
        /// Only this principal's tokens.
        #[arg(long)]
        principal: Option<String>,
    },
    /// Revoke a token by its id.
    Revoke {
        /// The token id (from `token list`).
        id: String,
    },
}

pub(crate) async fn principal(
    admin: &Admin,
    command: PrincipalCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        PrincipalCommand::Add { name, role, certificate } => {
            let role = Role::parse(&role).ok_or_else(|| {
                anyhow::anyhow!("role {role:?}: use operator, developer or device-admin")
            })?;
            let certificate = certificate
                .map(|path| crate::input::read(&path, crate::input::KEY_LIMIT))
                .transpose()?;
            let row = admin.add_principal(&name, role, unix_now()).await?;
            say!("principal {} added ({})", row.name, row.role);
            if let Some(cert) = certificate {
                let fingerprint = admin.add_principal_certificate(&name, &cert, unix_now()).await?;
                say!("client certificate {} registered", hex::encode(fingerprint));
            }
        }
        PrincipalCommand::List => {
            for p in admin.principals().await? {
                let state = if p.disabled { "disabled" } else { "enabled" };
                say!("{}\t{}\t{state}", p.name, p.role);
            }
        }
        PrincipalCommand::Disable { name } => {
            admin.set_principal_disabled(&name, true, unix_now()).await?;
            say!("principal {name} disabled");
        }
        PrincipalCommand::Enable { name } => {
            admin.set_principal_disabled(&name, false, unix_now()).await?;
            say!("principal {name} enabled");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn token(admin: &Admin, command: TokenCommand) -> anyhow::Result<ExitCode> {
    match command {
        TokenCommand::Create { principal, expires_in } => {
            let now = unix_now();
            let expires_at =
                expires_in.map(|s| teep_tam::principals::token_expiry(now, s)).transpose()?;
            let created = admin.create_token(&principal, expires_at, now).await?;
            // The token goes to standard output alone, so that scripts can capture it.
            say!("{}", created.token);
            eprintln!(
                "token {} for {principal}: store it now, it cannot be shown again",
                created.row.id
            );
        }
        TokenCommand::List { principal } => {
            let now = unix_now();
            for t in admin.tokens(principal.as_deref()).await? {
                let state = match t.expires_at {
                    _ if t.revoked => "revoked",
                    Some(e) if e <= now => "expired",
                    _ => "active",
                };
                let time = |t: Option<u64>| t.map_or_else(|| "never".to_owned(), format_time);
                say!(
                    "{}\t{}\t{state}\texpires {}\tlast used {}\tcreated {}",
                    t.id,
                    t.principal,
                    time(t.expires_at),
                    time(t.last_used),
                    format_time(t.created_at)
                );
            }
        }
        TokenCommand::Revoke { id } => {
            admin.revoke_token(&id, unix_now()).await?;
            say!("token {id} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}
