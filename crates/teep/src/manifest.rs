//! `teep manifest …`: SUIT manifest tooling for Trusted Component signers.
//!
//! `build` turns a TOML or JSON description into a signed envelope (COSE_Sign1 with ESP256
//! RFC 6979 deterministic signatures or Ed25519, or COSE_Mac0 HMAC 256/256), optionally
//! encrypting the integrated payload for a device key; `inspect` prints the envelope in
//! annotated diagnostic notation and checks its digests and signatures against given keys.
//! The description format is documented in docs/manifests.md.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use serde::Deserialize;
use teep_cose::{Algorithm, PublicKey, SigningKey};
use teep_suit::builder::{ManifestBuilder, Payload};
use teep_suit::tool;
use teep_suit::{ComponentId, Envelope, MacKey, TrustAnchors};

/// `teep manifest` subcommands.
#[derive(Subcommand, Debug)]
pub enum ManifestCommand {
    /// Build and sign a SUIT envelope from a TOML or JSON description.
    Build {
        /// The description (`.toml` or `.json`).
        description: PathBuf,
        /// Signing key (PKCS#8 or SEC1 PEM; P-256 signs ESP256, Ed25519 signs Ed25519).
        #[arg(long, conflicts_with = "hmac_key")]
        key: Option<PathBuf>,
        /// Authenticate with COSE_Mac0 (HMAC 256/256) under this hex key (>= 32 bytes).
        #[arg(long)]
        hmac_key: Option<String>,
        /// Where to write the envelope (binary CBOR).
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Re-sign an existing envelope (recomputes the manifest digest; one new authentication
    /// block replaces the old ones).
    Sign {
        /// The envelope file (binary, or hex text with `#` comments).
        envelope: PathBuf,
        #[command(flatten)]
        signer: SignerArgs,
        /// Where to write the envelope.
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Sever members of an envelope: each is replaced in the manifest by its digest and
    /// carried in the envelope (or written to --detach DIR); then re-signs.
    Sever {
        /// The envelope file (binary, or hex text with `#` comments).
        envelope: PathBuf,
        /// Members to sever (default: every inline severable member).
        #[arg(long, value_enum)]
        member: Vec<SeverableMember>,
        /// Leave the severed members out of the envelope and write them as
        /// DIR/<member>.cbor (the bstr the manifest digest covers).
        #[arg(long)]
        detach: Option<PathBuf>,
        #[command(flatten)]
        signer: SignerArgs,
        /// Where to write the envelope.
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Encrypt an integrated payload of an envelope for a device key (ECDH-ES + A128KW) or a
    /// shared key-encryption key (A128KW/A192KW/A256KW); then re-signs.
    Encrypt {
        /// The envelope file (binary, or hex text with `#` comments).
        envelope: PathBuf,
        /// The integrated payload's key in the envelope.
        #[arg(long, default_value = "#tc")]
        payload: String,
        /// The device's P-256 public key (SPKI PEM); repeatable.
        #[arg(long)]
        recipient: Vec<PathBuf>,
        /// A shared key-encryption key (hex: 16, 24 or 32 bytes); repeatable.
        #[arg(long)]
        kek: Vec<String>,
        /// Content algorithm: A128GCM, A256GCM, A128CTR, A256CTR, ChaCha20/Poly1305.
        #[arg(long, default_value = "A128GCM")]
        alg: String,
        #[command(flatten)]
        signer: SignerArgs,
        /// Where to write the envelope.
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Print a SUIT envelope in annotated diagnostic notation, checking digests and signatures
    /// against the given keys.
    Inspect {
        /// The envelope file (binary, or hex text with `#` comments).
        envelope: PathBuf,
        /// Public (SPKI PEM) or private (PKCS#8 PEM) keys to check the signatures against.
        #[arg(long)]
        key: Vec<PathBuf>,
        /// HMAC keys (hex) to check COSE_Mac0 blocks against.
        #[arg(long)]
        hmac_key: Vec<String>,
    },
}

/// How `sign`, `sever` and `encrypt` authenticate the result.
#[derive(clap::Args, Debug)]
pub struct SignerArgs {
    /// Signing key (PKCS#8 PEM): P-256 signs ESP256 (RFC 6979 deterministic), Ed25519 signs
    /// Ed25519.
    #[arg(long, conflicts_with = "hmac_key")]
    key: Option<PathBuf>,
    /// Authenticate with COSE_Mac0 (HMAC 256/256) under this hex key (>= 32 bytes).
    #[arg(long)]
    hmac_key: Option<String>,
    /// kid of the COSE_Mac0 (text).
    #[arg(long, requires = "hmac_key")]
    hmac_kid: Option<String>,
    /// Leave out the kid (the signer's RFC 9679 thumbprint) of a COSE_Sign1.
    #[arg(long)]
    no_kid: bool,
}

/// A severable manifest member (draft-ietf-suit-manifest-34 §8.4.12, trust domains).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeverableMember {
    /// suit-dependency-resolution (15).
    DependencyResolution,
    /// suit-payload-fetch (16).
    PayloadFetch,
    /// suit-candidate-verification (18).
    CandidateVerification,
    /// suit-install (20).
    Install,
    /// suit-text (23).
    Text,
}

impl SeverableMember {
    fn key(self) -> u64 {
        match self {
            SeverableMember::DependencyResolution => 15,
            SeverableMember::PayloadFetch => 16,
            SeverableMember::CandidateVerification => 18,
            SeverableMember::Install => 20,
            SeverableMember::Text => 23,
        }
    }

    fn name(key: u64) -> &'static str {
        match key {
            15 => "dependency-resolution",
            16 => "payload-fetch",
            18 => "candidate-verification",
            20 => "install",
            _ => "text",
        }
    }
}

/// Key material behind [`SignerArgs`].
enum Signer {
    Key(SigningKey),
    Mac(zeroize::Zeroizing<Vec<u8>>, Option<Vec<u8>>),
}

impl Signer {
    fn load(args: &SignerArgs) -> anyhow::Result<Self> {
        match (&args.key, &args.hmac_key) {
            (Some(path), None) => {
                let pem = zeroize::Zeroizing::new(
                    std::fs::read_to_string(path)
                        .with_context(|| format!("read {}", path.display()))?,
                );
                Ok(Signer::Key(SigningKey::from_pkcs8_pem(&pem).map_err(anyhow::Error::msg)?))
            }
            (None, Some(hex_key)) => {
                let key = zeroize::Zeroizing::new(hex::decode(hex_key).context("hmac key")?);
                Ok(Signer::Mac(key, args.hmac_kid.as_ref().map(|k| k.as_bytes().to_vec())))
            }
            _ => bail!("give --key or --hmac-key"),
        }
    }

    fn authenticator(&self, with_kid: bool) -> tool::Authenticator<'_> {
        match self {
            Signer::Key(key) => tool::Authenticator::Sign1 { key, alg: None, with_kid },
            Signer::Mac(key, kid) => tool::Authenticator::Mac0 { key, kid: kid.as_deref() },
        }
    }
}

fn read_envelope(path: &Path) -> anyhow::Result<Vec<u8>> {
    let raw = crate::input::read(path, crate::input::DOCUMENT_LIMIT)?;
    crate::decode::input_bytes(&raw).map_err(anyhow::Error::msg)
}

fn write_out(out: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(out, bytes).with_context(|| format!("write {}", out.display()))?;
    say!("wrote {} ({} bytes)", out.display(), bytes.len());
    Ok(())
}

/// A manifest description (TOML or JSON).
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Description {
    /// Component identifier segments: text, or `hex:` followed by hex digits.
    component: Vec<String>,
    manifest_component_id: Option<Vec<String>>,
    sequence_number: u64,
    /// Hex.
    vendor_id: String,
    /// Hex.
    class_id: String,
    /// The payload file (integrated unless `uri` is given; then only digest and size).
    payload_file: PathBuf,
    uri: Option<String>,
    /// Envelope key of an integrated payload (default `#tc`).
    integrated_key: Option<String>,
    text: Option<String>,
    reference_uri: Option<String>,
    #[serde(default)]
    tagged: bool,
    /// Put the signer's RFC 9679 thumbprint as kid (default true).
    kid: Option<bool>,
    encrypt: Option<Encrypt>,
    /// Further components (indices 1, 2, ...).
    #[serde(default)]
    components: Vec<ExtraComponent>,
    /// Dependency manifests (draft-ietf-suit-trust-domains).
    #[serde(default)]
    dependencies: Vec<DependencyDescription>,
}

/// A further component of a description.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct ExtraComponent {
    component: Vec<String>,
    payload_file: PathBuf,
    uri: Option<String>,
    /// Envelope key of an integrated payload (required unless `uri` is given).
    integrated_key: Option<String>,
}

/// A dependency of a description.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct DependencyDescription {
    /// The dependency's signed envelope (binary, or hex text).
    envelope: PathBuf,
    /// suit-dependency-prefix (default: the dependency's manifest-component-id).
    prefix: Option<Vec<String>>,
    /// Where the device fetches it (default: integrated as `#dep<N>`).
    uri: Option<String>,
}

/// Encrypt the integrated payload for a device.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Encrypt {
    /// The device's public key (SPKI PEM), ECDH-ES + A128KW.
    recipient: Option<PathBuf>,
    /// A shared key-encryption key (hex, 16 bytes: A128KW) instead of `recipient`.
    kek: Option<String>,
    /// Content algorithm: A128GCM (default), A256GCM, A128CTR, A256CTR, ChaCha20/Poly1305.
    alg: Option<String>,
    kid: Option<String>,
}

/// Runs a `teep manifest` command.
pub fn run(command: ManifestCommand) -> anyhow::Result<ExitCode> {
    match command {
        ManifestCommand::Build { description, key, hmac_key, out } => {
            let bytes = build(&description, key.as_deref(), hmac_key.as_deref())?;
            std::fs::write(&out, &bytes).with_context(|| format!("write {}", out.display()))?;
            say!("wrote {} ({} bytes)", out.display(), bytes.len());
            Ok(ExitCode::SUCCESS)
        }
        ManifestCommand::Sign { envelope, signer, out } => {
            let bytes = read_envelope(&envelope)?;
            let key = Signer::load(&signer)?;
            write_out(&out, &tool::resign(&bytes, &key.authenticator(!signer.no_kid))?)?;
            Ok(ExitCode::SUCCESS)
        }
        ManifestCommand::Sever { envelope, member, detach, signer, out } => {
            let bytes = read_envelope(&envelope)?;
            let key = Signer::load(&signer)?;
            let keys: Vec<u64> = member.iter().map(|m| m.key()).collect();
            let severed =
                tool::sever(&bytes, &keys, detach.is_some(), &key.authenticator(!signer.no_kid))?;
            if let Some(dir) = &detach {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("create {}", dir.display()))?;
                for (k, whole) in &severed.detached {
                    let path = dir.join(format!("{}.cbor", SeverableMember::name(*k)));
                    std::fs::write(&path, whole)
                        .with_context(|| format!("write {}", path.display()))?;
                    say!(
                        "detached {} ({} bytes, digest {}) to {}",
                        SeverableMember::name(*k),
                        whole.len(),
                        hex::encode(teep_suit::SuitDigest::sha256(whole).encode()),
                        path.display()
                    );
                }
            }
            write_out(&out, &severed.envelope)?;
            Ok(ExitCode::SUCCESS)
        }
        ManifestCommand::Encrypt { envelope, payload, recipient, kek, alg, signer, out } => {
            let bytes = read_envelope(&envelope)?;
            let key = Signer::load(&signer)?;
            let mut devices = Vec::new();
            for path in &recipient {
                let pem = std::fs::read_to_string(path)
                    .with_context(|| format!("read {}", path.display()))?;
                devices.push(PublicKey::from_spki_pem(&pem).map_err(anyhow::Error::msg)?);
            }
            let mut keks = Vec::new();
            for k in &kek {
                keks.push(zeroize::Zeroizing::new(hex::decode(k).context("kek")?));
            }
            let mut recipients: Vec<tool::Recipient<'_>> =
                devices.iter().map(tool::Recipient::Device).collect();
            recipients.extend(keks.iter().map(|k| tool::Recipient::Kek(k.as_slice())));
            if recipients.is_empty() {
                bail!("give --recipient or --kek");
            }
            let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
            let sealed = tool::encrypt_payload(
                &mut rng,
                &bytes,
                &payload,
                &recipients,
                content_alg(&alg)?,
                &key.authenticator(!signer.no_kid),
            )?;
            write_out(&out, &sealed)?;
            Ok(ExitCode::SUCCESS)
        }
        ManifestCommand::Inspect { envelope, key, hmac_key } => {
            let raw = crate::input::read(&envelope, crate::input::DOCUMENT_LIMIT)?;
            let bytes = crate::decode::input_bytes(&raw).map_err(anyhow::Error::msg)?;
            let decoded = crate::decode::decode(&bytes, teep_proto::Numbering::Rfc)
                .map_err(anyhow::Error::msg)?;
            say!("/ {} /", decoded.summary);
            say_raw!("{}", decoded.diagnostic);
            check(&bytes, &key, &hmac_key)
        }
    }
}

fn build(path: &Path, key: Option<&Path>, hmac: Option<&str>) -> anyhow::Result<Vec<u8>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let desc: Description = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text)?
    } else {
        toml::from_str(&text)?
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let payload_path = base.join(&desc.payload_file);
    let data = std::fs::read(&payload_path)
        .with_context(|| format!("read payload {}", payload_path.display()))?;
    let payload = match &desc.uri {
        Some(uri) => Payload::uri_for(uri.clone(), &data),
        None => Payload::Integrated {
            key: desc.integrated_key.clone().unwrap_or_else(|| "#tc".into()),
            data,
        },
    };
    let mut b = ManifestBuilder::new(component(&desc.component)?, desc.sequence_number)
        .vendor_id(hex::decode(&desc.vendor_id).context("vendor_id")?)
        .class_id(hex::decode(&desc.class_id).context("class_id")?)
        .payload(payload)
        .tagged(desc.tagged)
        .with_kid(desc.kid.unwrap_or(true));
    if let Some(id) = &desc.manifest_component_id {
        b = b.manifest_component_id(component(id)?);
    }
    for extra in &desc.components {
        let path = base.join(&extra.payload_file);
        let data =
            std::fs::read(&path).with_context(|| format!("read payload {}", path.display()))?;
        let payload = match (&extra.uri, &extra.integrated_key) {
            (Some(uri), None) => Payload::uri_for(uri.clone(), &data),
            (None, Some(key)) => Payload::Integrated { key: key.clone(), data },
            _ => bail!("a further component needs exactly one of uri and integrated_key"),
        };
        b = b.component(component(&extra.component)?, payload);
    }
    for dep in &desc.dependencies {
        let path = base.join(&dep.envelope);
        let envelope = read_envelope(&path)?;
        let prefix = dep.prefix.as_deref().map(component).transpose()?;
        b = b.dependency(teep_suit::builder::Dependency { envelope, prefix, uri: dep.uri.clone() });
    }
    if let Some(t) = &desc.text {
        b = b.description(t.clone());
    }
    if let Some(u) = &desc.reference_uri {
        b = b.reference_uri(u.clone());
    }
    if let Some(enc) = &desc.encrypt {
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let alg = content_alg(enc.alg.as_deref().unwrap_or("A128GCM"))?;
        let kid = enc.kid.as_deref().map(str::as_bytes);
        b = match (&enc.recipient, &enc.kek) {
            (Some(pem), None) => {
                let pem = std::fs::read_to_string(base.join(pem))?;
                let public = PublicKey::from_spki_pem(&pem).map_err(anyhow::Error::msg)?;
                b.encrypt_for(&mut rng, &public, kid, alg)?
            }
            (None, Some(kek)) => {
                let kek = zeroize::Zeroizing::new(hex::decode(kek).context("kek")?);
                b.encrypt_with_kek(&mut rng, &kek, kid, alg)?
            }
            _ => bail!("encrypt needs exactly one of recipient and kek"),
        };
    }
    match (key, hmac) {
        (Some(key), None) => {
            let pem = zeroize::Zeroizing::new(std::fs::read_to_string(key)?);
            let key = SigningKey::from_pkcs8_pem(&pem).map_err(anyhow::Error::msg)?;
            Ok(b.sign(&key, None)?)
        }
        (None, Some(hmac)) => {
            let secret = zeroize::Zeroizing::new(hex::decode(hmac).context("hmac key")?);
            Ok(b.sign_mac(&secret, None)?)
        }
        _ => bail!("give --key or --hmac-key"),
    }
}

fn component(segments: &[String]) -> anyhow::Result<ComponentId> {
    let mut out = Vec::new();
    for s in segments {
        out.push(match s.strip_prefix("hex:") {
            Some(h) => hex::decode(h).with_context(|| format!("segment {s}"))?,
            None => s.as_bytes().to_vec(),
        });
    }
    Ok(ComponentId(out))
}

fn content_alg(name: &str) -> anyhow::Result<Algorithm> {
    Ok(match name.to_ascii_uppercase().as_str() {
        "A128GCM" => Algorithm::A128GCM,
        "A256GCM" => Algorithm::A256GCM,
        "A128CTR" => Algorithm::A128CTR,
        "A256CTR" => Algorithm::A256CTR,
        "CHACHA20/POLY1305" | "CHACHA20-POLY1305" => Algorithm::CHACHA20_POLY1305,
        other => bail!("unsupported content algorithm {other}"),
    })
}

/// Checks the manifest digest and the authentication blocks against the given keys.
fn check(bytes: &[u8], keys: &[PathBuf], hmac: &[String]) -> anyhow::Result<ExitCode> {
    if keys.is_empty() && hmac.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let mut signers = Vec::new();
    for path in keys {
        let pem = zeroize::Zeroizing::new(std::fs::read_to_string(path)?);
        let key = match PublicKey::from_spki_pem(&pem) {
            Ok(k) => k,
            Err(_) => SigningKey::from_pkcs8_pem(&pem).map_err(anyhow::Error::msg)?.public_key(),
        };
        signers.push(key);
    }
    let mut trust = TrustAnchors::new(signers);
    for h in hmac {
        trust = trust.with_mac_key(MacKey::new(hex::decode(h).context("hmac key")?));
    }
    let env = Envelope::decode(bytes)?;
    match env.checked_manifest_digest() {
        Ok(_) => say!("/ manifest digest: ok /"),
        Err(e) => say!("/ manifest digest: FAILED ({e}) /"),
    }
    match env.authenticate(&trust) {
        Ok(m) => {
            say!("/ authentication: ok (key #{}) /", m.signer_index());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            say!("/ authentication: FAILED ({e}) /");
            Ok(ExitCode::FAILURE)
        }
    }
}
