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
