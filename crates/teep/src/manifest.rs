//! `teep manifest …`: SUIT manifest tooling for Trusted Component signers.

use std::process::ExitCode;

use clap::Subcommand;

/// `teep manifest` subcommands.
#[derive(Subcommand, Debug)]
pub enum ManifestCommand {
    /// Print a SUIT envelope in annotated diagnostic notation, checking digests and signatures
    /// against the given keys.
    Inspect {
        /// The envelope file (binary, or hex text with `#` comments).
        envelope: std::path::PathBuf,
    },
}

/// Runs a `teep manifest` command.
pub fn run(command: ManifestCommand) -> anyhow::Result<ExitCode> {
    match command {
        ManifestCommand::Inspect { envelope } => {
            let raw = std::fs::read(&envelope)?;
            let bytes = crate::decode::input_bytes(&raw).map_err(anyhow::Error::msg)?;
            let decoded = crate::decode::decode(&bytes, teep_proto::Numbering::Rfc)
                .map_err(anyhow::Error::msg)?;
            println!("/ {} /", decoded.summary);
            print!("{}", decoded.diagnostic);
            Ok(ExitCode::SUCCESS)
        }
    }
}
