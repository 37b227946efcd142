//! `teep`: the TAM, the TEEP Agent (software TEE), the TEEP Broker, the decoder and the demo in
//! one binary.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Prints a line to standard output; a closed pipe (`teep … | head`) ends the process quietly.
macro_rules! say {
    () => { $crate::out::write(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::out::write(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Prints to standard output without a newline; see [`say!`].
macro_rules! say_raw {
    ($($arg:tt)*) => { $crate::out::write(format_args!($($arg)*)) };
}

mod agent;
mod bench;
mod broker;
mod decode;
mod demo;
mod demo_attested;
mod diag;
mod manifest;
mod tam;
mod tam_access;
mod tam_fleet;
mod verifier;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// teep-rs: IETF TEEP (Trusted Execution Environment Provisioning).
#[derive(Parser, Debug)]
#[command(name = "teep", version, about, long_about = None)]
struct Cli {
    /// Log filter (tracing syntax, e.g. `info`, `teep_tam=debug`); `RUST_LOG` also works.
    #[arg(long, global = true, env = "TEEP_LOG", default_value = "warn,sqlx=error")]
    log: String,
    /// Log format (default: `text`, or `log_format` of `teep tam serve`'s configuration).
    #[arg(long, global = true, value_enum, env = "TEEP_LOG_FORMAT")]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run TAM, Broker and a software-TEE Agent on loopback: install, update and delete a
    /// Trusted Component, and print what happened.
    Demo(Box<demo::DemoArgs>),
    /// Decode, validate and print a TEEP message, COSE structure, SUIT envelope or EAT.
    Decode(DecodeArgs),
    /// Run and administer a TAM (Trusted Application Manager).
    Tam {
        #[command(subcommand)]
        command: tam::TamCommand,
    },
    /// Create and run a TEEP Agent on the software TEE.
    Agent {
        #[command(subcommand)]
        command: agent::AgentCommand,
    },
    /// TEEP Broker: relay between TAMs and the Agent (RFC 9397 conceptual APIs).
    Broker {
        #[command(flatten)]
        options: broker::BrokerOptions,
        #[command(subcommand)]
        command: broker::BrokerCommand,
    },
    /// Run a Verifier that appraises Evidence (EAT) and returns Attestation Results.
    Verifier {
        #[command(subcommand)]
        command: verifier::VerifierCommand,
    },
    /// Build, sign, sever, encrypt and inspect SUIT manifests.
    Manifest {
        #[command(subcommand)]
        command: manifest::ManifestCommand,
    },
    /// Load generators: `teep bench tam` drives simulated Agents against a TAM.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
    /// Generate key pairs and print key thumbprints (TEEP kids).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(clap::Args, Debug)]
struct DecodeArgs {
    /// File to read, or `-` for standard input; binary CBOR or hex text with `#` comments.
    input: String,
    /// Numbering of TEEP labels on the wire.
    #[arg(long, value_enum, default_value_t = Wire::Rfc)]
    wire: Wire,
}

/// TEEP code point numbering.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Wire {
    /// draft-ietf-teep-protocol-26 and the IANA registries.
    Rfc,
    /// Drafts up to -25, as deployed implementations and the published examples use.
    Legacy,
}

impl From<Wire> for teep_proto::Numbering {
    fn from(w: Wire) -> Self {
        match w {
            Wire::Rfc => teep_proto::Numbering::Rfc,
            Wire::Legacy => teep_proto::Numbering::Legacy,
        }
    }
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Generate a new signing key.
    Generate {
        /// Algorithm of the key.
        #[arg(long, value_enum, default_value_t = KeyAlg::Esp256)]
        alg: KeyAlg,
        /// Where to write the private key (PKCS#8 PEM, mode 0600); the public key goes to
        /// the same path with `.pub.pem`.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the RFC 9679 thumbprint (the TEEP kid) of a public or private key file.
    Thumbprint {
        /// PEM file (SPKI public key or PKCS#8 private key).
        key: PathBuf,
    },
}

/// Signature algorithms of the mandatory TEEP cipher suites.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum KeyAlg {
    /// ECDSA P-256 with SHA-256 (ESP256, -9).
    Esp256,
    /// Ed25519 (-19).
    Ed25519,
}

/// Reading files a user names, with a size limit so that `/dev/zero` or a wrong path cannot
/// exhaust memory.
pub mod input {
    use std::io::Read as _;
    use std::path::Path;

    use anyhow::Context as _;

    /// Largest key file read (PEM, JWK, COSE_Key).
    pub const KEY_LIMIT: u64 = 64 << 10;
    /// Largest CBOR document read (envelopes, messages): the decoders' own length limit.
    pub const DOCUMENT_LIMIT: u64 = 64 << 20;

    /// Reads at most `limit` bytes of `path` (`-` is standard input), failing if there are more.
    pub fn read(path: &Path, limit: u64) -> anyhow::Result<Vec<u8>> {
        let mut data = Vec::new();
        let read = if path.as_os_str() == "-" {
            std::io::stdin().lock().take(limit + 1).read_to_end(&mut data)
        } else {
            let file = std::fs::File::open(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            file.take(limit + 1).read_to_end(&mut data)
        };
        read.with_context(|| format!("cannot read {}", path.display()))?;
        anyhow::ensure!(
            data.len() as u64 <= limit,
            "{} is larger than {limit} bytes, the most this command reads",
            path.display()
        );
        Ok(data)
    }

    /// Reads a text file of at most `limit` bytes.
    pub fn read_text(path: &Path, limit: u64) -> anyhow::Result<String> {
        String::from_utf8(read(path, limit)?)
            .map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", path.display()))
    }
}

/// Standard output that treats a closed pipe as the reader being done.
mod out {
    use std::io::Write as _;
    use std::path::{Path, PathBuf};
    use std::sync::{Mutex, PoisonError};

    /// Temporary directories to remove when [`write`] ends the process (it skips destructors).
    static CLEANUP: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

    /// Removes `dir` (recursively) if a failed write to standard output ends the process.
    pub fn remove_on_broken_pipe(dir: &Path) {
        CLEANUP.lock().unwrap_or_else(PoisonError::into_inner).push(dir.to_owned());
    }

    /// Writes to standard output; exits with status 141 (as SIGPIPE would) when the reader has
    /// gone away, and reports other write errors on standard error.
    pub fn write(args: std::fmt::Arguments<'_>) {
        let mut stdout = std::io::stdout().lock();
        if let Err(e) = stdout.write_fmt(args) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                exit(141);
            }
            eprintln!("teep: cannot write to standard output: {e}");
            exit(1);
        }
    }

    fn exit(code: i32) -> ! {
        let dirs = core::mem::take(&mut *CLEANUP.lock().unwrap_or_else(PoisonError::into_inner));
        for dir in dirs {
            // Already gone when its owner finished normally.
            let _ = std::fs::remove_dir_all(dir);
        }
        std::process::exit(code)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // One TLS provider for every HTTP client and server in the process.
    install_crypto_provider();
    let log_format = cli.log_format.unwrap_or_else(|| match &cli.command {
        Command::Tam { command } => match tam::configured_log_format(command) {
            Some(teep_tam::config::LogFormat::Json) => LogFormat::Json,
            _ => LogFormat::Text,
        },
        _ => LogFormat::Text,
    });
    init_logging(&cli.log, log_format);
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("teep: {}", error_message(&e));
            ExitCode::from(1)
        }
    }
}

/// `error` and its causes on one line, each cause once: a cause whose text the message so
/// far already contains (an error that displays its source, as `#[error("...: {0}")]` does)
/// is not repeated. PostgreSQL's source locations (` at line N`) are dropped.
fn error_message(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = teep_tam::ops::user_facing(&cause.to_string());
        if text.is_empty() || message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

fn init_logging(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Decode(args) => run_decode(&args),
        Command::Demo(args) => runtime()?.block_on(demo::run(*args)),
        Command::Keys { command } => keys(command),
        Command::Bench { command } => runtime()?.block_on(bench::run(command)),
        Command::Tam { command } => runtime()?.block_on(tam::run(command)),
        Command::Manifest { command } => manifest::run(command),
        Command::Verifier { command } => runtime()?.block_on(verifier::run(command)),
        Command::Agent { command } => runtime()?.block_on(agent::run(command)),
        Command::Broker { options, command } => runtime()?.block_on(broker::run(options, command)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// A SUIT_Component_Identifier in the CLI's text form (`/`-separated, text or 0x-hex parts).
pub fn component_text(parts: &[Vec<u8>]) -> String {
    teep_tam::ComponentKey::from_parts(parts)
        .map(|k| k.to_string())
        .unwrap_or_else(|_| format!("{} parts", parts.len()))
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// A Unix time as RFC 3339 UTC, e.g. `2026-12-04T16:42:55Z`.
pub fn format_time(secs: u64) -> String {
    // Days to civil date: H. Hinnant's algorithm for the proleptic Gregorian calendar.
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// Installs the process-wide rustls provider (aws-lc-rs) once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

fn run_decode(args: &DecodeArgs) -> anyhow::Result<ExitCode> {
    let raw = match input::read(std::path::Path::new(&args.input), input::DOCUMENT_LIMIT) {
        Ok(raw) => raw,
        Err(e) => {
            eprintln!("{}: invalid: {e:#}", args.input);
            return Ok(ExitCode::from(1));
        }
    };
    let outcome = decode::input_bytes(&raw).and_then(|b| decode::decode(&b, args.wire.into()));
    match outcome {
        Ok(d) => {
            say!("/ {}: {} /", d.kind.describe(), d.summary);
            say_raw!("{}", d.diagnostic);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{}: invalid: {e}", args.input);
            Ok(ExitCode::from(1))
        }
    }
}

fn keys(command: KeysCommand) -> anyhow::Result<ExitCode> {
    use anyhow::Context as _;
    match command {
        KeysCommand::Generate { alg, out } => {
            let public = keyfile::public_path(&out);
            anyhow::ensure!(
                !public.exists(),
                "{} exists already; not overwriting it (choose another --out)",
                public.display()
            );
            let key = keyfile::generate(alg);
            keyfile::write_private(&out, &key)?;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&public)
                .and_then(|mut f| {
                    use std::io::Write as _;
                    f.write_all(key.public_key().to_spki_pem().as_bytes())
                })
                .with_context(|| format!("cannot create {}", public.display()))?;
            say!(
                "wrote {} and {} (kid {})",
                out.display(),
                public.display(),
                hex::encode(key.public_key().thumbprint())
            );
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Thumbprint { key } => {
            let public = keyfile::read_public(&key)?;
            say!("{}", hex::encode(public.thumbprint()));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Key files: PKCS#8 PEM private keys (mode 0600) and SPKI PEM public keys.
mod keyfile {
    use std::path::{Path, PathBuf};

    use anyhow::Context as _;
    use teep_cose::{PublicKey, SigningKey};

    use crate::KeyAlg;

    /// A fresh key from the operating system's CSPRNG.
    pub fn generate(alg: KeyAlg) -> SigningKey {
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        match alg {
            KeyAlg::Esp256 => SigningKey::generate_p256(&mut rng),
            KeyAlg::Ed25519 => SigningKey::generate_ed25519(&mut rng),
        }
    }

    /// `x.pem` → `x.pub.pem`.
    pub fn public_path(private: &Path) -> PathBuf {
        let stem = private.file_stem().and_then(|s| s.to_str()).unwrap_or("key");
        private.with_file_name(format!("{stem}.pub.pem"))
    }

    /// Writes a private key readable by its owner only.
    pub fn write_private(path: &Path, key: &SigningKey) -> anyhow::Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let pem = zeroize::Zeroizing::new(key.to_pkcs8_pem());
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
        f.write_all(pem.as_bytes())?;
        f.sync_all()?;
        Ok(())
    }

    /// Reads a public key from an SPKI PEM file, or the public half of a PKCS#8 PEM file.
    pub fn read_public(path: &Path) -> anyhow::Result<PublicKey> {
        let text = zeroize::Zeroizing::new(crate::input::read_text(path, crate::input::KEY_LIMIT)?);
        if let Ok(k) = PublicKey::from_spki_pem(&text) {
            return Ok(k);
        }
        SigningKey::from_pkcs8_pem(&text).map(|k| k.public_key()).map_err(|e| {
            anyhow::anyhow!("{}: neither an SPKI public key nor a PKCS#8 key: {e}", path.display())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{error_message, format_time};

    #[test]
    fn error_chains_name_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::AddrInUse, "Address already in use");
        let serve = teep_tam::ServeError::Io(io);
        let error = anyhow::Error::new(serve).context("the TAM stopped");
        assert_eq!(
            error_message(&error),
            "the TAM stopped: server I/O error: Address already in use"
        );
        let error = anyhow::anyhow!("database \"x\" does not exist at line 948").context("open");
        assert_eq!(error_message(&error), "open: database \"x\" does not exist");
    }

    #[test]
    fn formats_unix_times_as_rfc3339() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_time(1_796_402_575), "2026-12-04T16:42:55Z");
    }
}
