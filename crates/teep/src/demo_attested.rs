//! `teep demo --attested`: an attested install in the background-check model
//! (RFC 9334 §5.2; draft-ietf-teep-protocol-26 §4.3), with the Verifier as its own process.
//!
//! 1. `teep verifier init` (a child process) creates the Verifier's state directory and its
//!    result-signing key.
//! 2. A TAM with `[attestation]` enabled trusts that key and calls the Verifier's
//!    challenge-response API; a software-TEE Agent is initialised beside it.
//! 3. The Verifier's configuration gets the Endorsement (the Agent's `attest-key.pub.pem`) and
//!    Reference Values taken from the Agent's `[attestation]` settings (oemid, hwmodel,
//!    hwversion) and the SHA-256 of the running executable (the Agent's measured manifest);
//!    then `teep verifier serve` runs as a child process on a loopback port (killed on drop).
//! 4. Steps: the device attests (QueryRequest with a challenge, Evidence in the QueryResponse,
//!    appraised by the Verifier process) and gets the Trusted Component; a second device whose
//!    attestation key the Verifier does not endorse is refused: its Update carries
//!    ERR_ATTESTATION_REQUIRED and nothing is installed. Each step shows the attestation outcome
//!    the TAM recorded, and why.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::Serialize;
use teep_agent::ipc::InProcess;
use teep_agent::software::{self, config, init};
use teep_broker::{Broker, BrokerConfig, IpcAgent};
use teep_cose::PublicKey;
use teep_tam::config::AttestationConfig;
use teep_tam::{ComponentKey, PolicyTarget, TamConfig, Wire};
use teep_verifier::VerifierConfig;
use teep_verifier::config::ReferenceConfig;

use crate::demo::{self, DemoBroker, Example, Recording, Step, System};

/// How long the Verifier process may take to accept connections.
const VERIFIER_START_TIMEOUT: Duration = Duration::from_secs(20);

/// The Verifier child process; killed (and reaped) when dropped.
struct VerifierProcess {
    child: Child,
    url: String,
    log: PathBuf,
}

impl VerifierProcess {
    /// Runs `exe verifier serve -c config --listen addr` and waits until it accepts
    /// connections.
    async fn spawn(exe: &Path, config: &Path, addr: std::net::SocketAddr) -> anyhow::Result<Self> {
        let log = config.with_file_name("verifier.log");
        let log_file = std::fs::File::create(&log)?;
        let child = Command::new(exe)
            .args(["--log", "info", "verifier", "serve", "-c"])
            .arg(config)
            .arg("--listen")
            .arg(addr.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start {} verifier serve", exe.display()))?;
        let mut process = VerifierProcess { child, url: format!("http://{addr}"), log };
        let started = Instant::now();
        loop {
            if let Some(status) = process.child.try_wait()? {
                let log = std::fs::read_to_string(&process.log).unwrap_or_default();
                bail!("the Verifier process exited ({status}):\n{log}");
            }
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(process);
            }
            if started.elapsed() > VERIFIER_START_TIMEOUT {
                bail!("the Verifier process did not listen on {addr} in time");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for VerifierProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback address with a port that was free a moment ago (the Verifier is a separate
/// process, so it cannot inherit a bound socket).
fn free_loopback_address() -> anyhow::Result<std::net::SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// What the TAM recorded about a device's attestation.
#[derive(Debug, Serialize)]
struct Outcome {
    trusted: bool,
    reason: String,
    model: String,
    ueid: Option<String>,
}

/// One step and the attestation outcome the TAM recorded for the device it ran on.
#[derive(Debug, Serialize)]
struct AttestedStep {
    #[serde(flatten)]
    step: Step,
    device: String,
    attestation: Option<Outcome>,
}

#[derive(Debug, Serialize)]
struct VerifierSummary {
    url: String,
    pid: u32,
    config: String,
    attester_keys: Vec<String>,
    reference: ReferenceConfig,
}

#[derive(Debug, Serialize)]
struct Summary {
    ok: bool,
    model: &'static str,
    verifier: VerifierSummary,
    tam_uri: String,
    database: String,
    trusted_component: String,
    origin: &'static str,
    agent_kid: String,
    steps: Vec<AttestedStep>,
    elapsed_ms: u128,
}

/// Runs `teep demo --attested`; the Verifier process is this executable.
pub async fn run(json: bool, vectors: PathBuf) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find the teep executable")?;
    run_with(json, &vectors, &exe).await
}

/// Runs the attested demo with `exe` as the `teep` executable for the Verifier process.
async fn run_with(json: bool, vectors: &Path, exe: &Path) -> anyhow::Result<ExitCode> {
    crate::install_crypto_provider();
    let started = Instant::now();
    let example = Example::load(vectors)?;
    let (manifest_key, sequence) = target(&example)?;
    let dir = tempfile::Builder::new().prefix("teep-demo-attested-").tempdir()?;

    // 1. `teep verifier init`: state directory, verifier.toml and the result-signing key.
    let verifier_dir = dir.path().join("verifier");
    let verifier_addr = free_loopback_address()?;
    let init = Command::new(exe)
        .args(["verifier", "init", "--state"])
        .arg(&verifier_dir)
        .arg("--listen")
        .arg(verifier_addr.to_string())
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {} verifier init", exe.display()))?;
    if !init.status.success() {
        bail!("teep verifier init failed: {}", String::from_utf8_lossy(&init.stderr));
    }
    let verifier_config_file = verifier_dir.join("verifier.toml");
    let verifier_key = verifier_dir.join("verifier-public-key.pem");

    // 2. The TAM requires attestation and trusts the Verifier's key; the Agent beside it.
    let tam_config = TamConfig {
        attestation: AttestationConfig {
            enabled: true,
            verifier_url: Some(format!("http://{verifier_addr}")),
            verifier_keys: vec![verifier_key],
            ..AttestationConfig::default()
        },
        ..TamConfig::default()
    };
    let mut system = System::start_with(dir.path(), &example, tam_config).await?;

    // 3. Endorsement and Reference Values from the Agent's attestation settings.
    let agent_dir = dir.path().join("agent");
    let agent_config = config::ConfigFile::load(&agent_dir.join(init::CONFIG_FILE))
        .map_err(|e| anyhow::anyhow!("the Agent's configuration: {e}"))?;
    let settings = &agent_config.attestation;
    let attester_key = agent_dir.join(&settings.key_file).with_extension("pub.pem");
    anyhow::ensure!(attester_key.is_file(), "the Agent has no attestation key");
    let reference = ReferenceConfig {
        oemids: vec![settings.oemid.clone()],
        hwmodels: vec![settings.hwmodel.clone()],
        hwversions: vec![settings.hwversion.clone()],
        manifest_digests: vec![file_sha256(exe)?],
    };
    let mut verifier_config = VerifierConfig::load(&verifier_config_file)?;
    verifier_config.attester_keys = vec![attester_key.clone()];
    verifier_config.reference = reference.clone();
    std::fs::write(&verifier_config_file, verifier_config.to_toml())?;
    let verifier = VerifierProcess::spawn(exe, &verifier_config_file, verifier_addr).await?;

    if !json {
        say!("teep demo --attested: background-check model, the Verifier in its own process");
        say!(
            "  Verifier      {}  (pid {}, {})",
            verifier.url,
            verifier.child.id(),
            path(&verifier_config_file)
        );
        say!("    endorses    {}", path(&attester_key));
        say!(
            "    reference   oemid {}  hwmodel {}  hwversion {}",
            settings.oemid,
            settings.hwmodel,
            settings.hwversion
        );
        say!(
            "                manifest (SHA-256 of {}) {}",
            exe.display(),
            reference.manifest_digests.join("")
        );
        say!("  TAM           {}  [attestation] enabled, freshness: nonce", system.tam_uri);
        say!("  Agent kid     {}", hex::encode(system.agent_kid));
        say!("  TC            {manifest_key}  ({})", example.origin);
        say!();
    }

    // The policy requires the TC and a remediation component (marked at `tc add` time) of
    // every device; an untrusted device gets only the latter.
    let remediation = remediation_tc(&example)?;
    let now = crate::unix_now();
    let row = system.admin.add_tc(&remediation, now).await.context("the remediation TC")?;
    let remediation_key =
        ComponentKey::from_cbor(&row.component_id).map_err(|e| anyhow::anyhow!("{e}"))?;
    system.admin.set_remediation(&remediation_key, true, now).await?;
    system.admin.require(&PolicyTarget::AllDevices, &remediation_key, 0).await?;
    system.admin.require(&PolicyTarget::AllDevices, &manifest_key, sequence).await?;
    if !json {
        say!("  remediation   {remediation_key}  (the only component an untrusted device gets)");
        say!();
    }

    // 4a. The endorsed device attests and gets the TC (and the remediation component).
    let mut steps = Vec::new();
    let step = system.step("attested install", &manifest_key, Some(sequence)).await;
    let kid = system.agent_kid;
    steps.push(attested(&system, step, kid, true).await);
    report(json, steps.last());

    // 4b. A device whose attestation key the Verifier does not endorse gets nothing.
    let (broker, other) = untrusted_device(&system, dir.path(), &example).await?;
    let own = std::mem::replace(&mut system.broker, broker);
    system.agent_kid = other;
    let mut step = system.step("untrusted device", &manifest_key, None).await;
    system.broker = own;
    system.agent_kid = kid;
    let remediated = format!("{remediation_key} @ {REMEDIATION_SEQUENCE}");
    step.expected = format!("only {remediated} on the device (remediation), not {manifest_key}");
    if step.ok && step.agent_has != [remediated.clone()] {
        step.ok = false;
        step.error = Some(format!(
            "expected the device to hold only {remediated}; it has {:?}",
            step.agent_has
        ));
    }
    steps.push(attested(&system, step, other, false).await);
    report(json, steps.last());

    let summary = Summary {
        ok: steps.iter().all(|s| s.step.ok),
        model: "background-check",
        verifier: VerifierSummary {
            url: verifier.url.clone(),
            pid: verifier.child.id(),
            config: path(&verifier_config_file),
            attester_keys: vec![path(&attester_key)],
            reference,
        },
        tam_uri: system.tam_uri.clone(),
        database: system.database.clone(),
        trusted_component: manifest_key.to_string(),
        origin: example.origin,
        agent_kid: hex::encode(kid),
        steps,
        elapsed_ms: 0,
    };
    system.stop().await?;
    drop(verifier);
    let summary = Summary { elapsed_ms: started.elapsed().as_millis(), ..summary };
    if json {
        say!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        say!("summary:");
        for s in &summary.steps {
            let outcome = s.attestation.as_ref().map_or("not attested".into(), |a| {
                format!("{}: {}", if a.trusted { "trusted" } else { "untrusted" }, a.reason)
            });
            say!(
                "  {:<17} {}  (attestation {outcome})",
                s.step.name,
                if s.step.ok { "ok" } else { "FAILED" }
            );
        }
        say!(
            "  {} in {} ms; the Verifier process has been stopped",
            if summary.ok { "every step happened" } else { "some steps FAILED" },
            summary.elapsed_ms
        );
    }
    Ok(if summary.ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Sequence number of the demo's remediation component.
const REMEDIATION_SEQUENCE: u64 = 1;

/// A remediation Trusted Component built and signed (by the example signer) by teep-rs.
fn remediation_tc(example: &Example) -> anyhow::Result<Vec<u8>> {
    let component = teep_suit::ComponentId(vec![
        b"TEEP-Device".to_vec(),
        b"SecureFS".to_vec(),
        b"remediation".to_vec(),
        b"ta".to_vec(),
    ]);
    let mut manifest_id = component.0.clone();
    manifest_id.pop();
    manifest_id.push(b"suit".to_vec());
    teep_suit::builder::ManifestBuilder::new(component, REMEDIATION_SEQUENCE)
        .manifest_component_id(teep_suit::ComponentId(manifest_id))
        .vendor_id(demo::VENDOR_ID.to_vec())
        .class_id(demo::CLASS_ID.to_vec())
        .payload(teep_suit::builder::Payload::integrated(
            b"teep-rs demo remediation TA: repairs and re-attests".to_vec(),
        ))
        .description("teep-rs demo: remediation component for untrusted devices")
        .sign(&example.signer, None)
        .map_err(|e| anyhow::anyhow!("building the remediation TC: {e}"))
}

/// The catalog name and sequence number of the example TC.
fn target(example: &Example) -> anyhow::Result<(ComponentKey, u64)> {
    let envelope = teep_suit::Envelope::decode(&example.envelope)
        .map_err(|e| anyhow::anyhow!("the example TC: {e}"))?;
    let manifest = envelope.inspect_unauthenticated().map_err(|e| anyhow::anyhow!("{e}"))?;
    let component =
        manifest.components.first().cloned().context("the example TC names no component")?;
    let id = manifest.manifest_component_id.clone().unwrap_or(component);
    let key = ComponentKey::from_parts(&id.0).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((key, manifest.sequence_number))
}

/// Adds the attestation outcome the TAM recorded for `device` to `step`; the step is ok only
/// if the outcome is the `trusted` one expected.
async fn attested(
    system: &System,
    mut step: Step,
    device: [u8; 32],
    trusted: bool,
) -> AttestedStep {
    let attestation = match system.admin.status(&device).await {
        Ok(status) => status.attestation.map(|a| Outcome {
            trusted: a.trusted,
            reason: a.reason,
            model: a.model,
            ueid: a.ueid.map(hex::encode),
        }),
        Err(e) => {
            step.ok = false;
            step.error = Some(format!("cannot read the device status: {e}"));
            None
        }
    };
    match &attestation {
        Some(a) if a.trusted == trusted => {}
        Some(a) => {
            step.ok = false;
            step.error =
                Some(format!("attestation {} ({}), expected the opposite", a.trusted, a.reason));
        }
        None if step.error.is_none() => {
            step.ok = false;
            step.error = Some("the TAM recorded no attestation outcome".into());
        }
        None => {}
    }
    AttestedStep { step, device: hex::encode(device), attestation }
}

/// A second software-TEE Agent, enrolled with the TAM, whose attestation key (generated at
/// init) is not among the Verifier's Endorsements.
async fn untrusted_device(
    system: &System,
    dir: &Path,
    example: &Example,
) -> anyhow::Result<(DemoBroker, [u8; 32])> {
    let tam_keys = teep_tam::TamKeys::load_or_generate(&TamConfig {
        state_dir: dir.join("tam"),
        ..TamConfig::default()
    })
    .context("cannot read the TAM keys")?;
    let mut file = config::ConfigFile::default();
    file.tams.push(config::TamEntry {
        uri: system.tam_uri.clone(),
        numbering: None,
        public_keys: tam_keys.public_keys().iter().map(PublicKey::to_spki_pem).collect(),
    });
    file.tc_signers.push(example.signer_public_pem.clone());
    file.device.vendor_ids.push(hex::encode(demo::VENDOR_ID));
    file.device.class_ids.push(hex::encode(demo::CLASS_ID));
    let agent_dir = dir.join("agent-untrusted");
    let initialized =
        init::init(&agent_dir, &init::InitOptions { config: file, ..Default::default() })
            .context("cannot initialise the second Agent")?;
    let agent = software::open(&agent_dir).context("cannot open the second Agent")?;
    let now = crate::unix_now();
    system
        .admin
        .enroll_device(
            initialized.public_key_pem.as_bytes(),
            Some("unendorsed device"),
            Wire::Rfc,
            now,
        )
        .await?;
    let recording = Recording { inner: IpcAgent::new(InProcess::new(agent)), seen: Vec::new() };
    let broker =
        Broker::new(recording, BrokerConfig { allow_http: true, ..BrokerConfig::default() })?;
    Ok((broker, initialized.kid))
}

fn report(json: bool, step: Option<&AttestedStep>) {
    let Some(s) = step else { return };
    if json {
        return;
    }
    match &s.attestation {
        Some(a) => say!(
            "== device {}: attestation {} ({}, {} model)",
            s.device,
            if a.trusted { "TRUSTED" } else { "UNTRUSTED" },
            a.reason,
            a.model
        ),
        None => say!("== device {}: no attestation outcome recorded", s.device),
    }
    demo::print_step(&s.step);
}

fn file_sha256(file: &Path) -> anyhow::Result<String> {
    use sha2::Digest as _;
    use std::io::Read as _;
    let mut hasher = sha2::Sha256::new();
    let mut f = std::fs::File::open(file).with_context(|| format!("{}", file.display()))?;
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(buffer.get(..n).unwrap_or_default());
    }
    Ok(hex::encode(hasher.finalize()))
}

fn path(p: &Path) -> String {
    p.display().to_string()
}
