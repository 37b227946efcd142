//! `teep demo`: the whole system in one command, on loopback.
//!
//! A TAM on 127.0.0.1 (port chosen by the OS) with a temporary SQLite file, a software-TEE
//! Agent in a temporary state directory, and a Broker between them. The TAM registers a TC
//! signer and the published example Trusted Component, and its policy drives three sessions:
//! install, update (a higher sequence number that teep-rs builds and signs itself) and delete.
//! Every step is checked on both sides (what the Agent holds, what the TAM recorded); the exit
//! status is 0 only if every step really happened.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use serde::Serialize;
use teep_agent::ipc::{AgentHandle as _, InProcess};
use teep_agent::software::{self, config, init};
use teep_broker::{
    AgentError, AgentReply, AgentSide, Broker, BrokerConfig, IpcAgent, TransportFailure,
    TrustedComponentId,
};
use teep_cose::{PublicKey, SigningKey};
use teep_tam::{Admin, ComponentKey, PolicyTarget, Tam, TamConfig, Wire};

/// The public test vectors, beside the repository (shared/vectors).
pub(crate) const DEFAULT_VECTORS: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors");
/// SUIT vendor and class identifiers of the published TEEP examples.
pub(crate) const VENDOR_ID: [u8; 16] = hex_literal(b"c0ddd5f15243566087db4f5b0aa26c2f");
pub(crate) const CLASS_ID: [u8; 16] = hex_literal(b"db42f7093d8c55baa8c5265fc5820f4e");

const fn hex_literal(text: &[u8; 32]) -> [u8; 16] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not a lower-case hex digit"),
        }
    }
    let mut out = [0u8; 16];
    let mut i = 0;
    while i < 16 {
        out[i] = (nibble(text[2 * i]) << 4) | nibble(text[2 * i + 1]);
        i += 1;
    }
    out
}

/// `teep demo` options.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Print a machine-readable JSON summary instead of the transcript.
    #[arg(long)]
    json: bool,
    /// Folder of the public test vectors (the published example TC and its signer key); it
    /// must hold teep-protocol/suit_integrated.hex.txt. Default: shared/vectors beside the
    /// source tree, or a TC teep-rs builds itself when that is not there.
    #[arg(long, env = "TEEP_VECTORS")]
    vectors: Option<PathBuf>,
    /// Install a TC built and signed by teep-rs with a fresh key instead of the published
    /// example.
    #[arg(long, conflicts_with_all = ["vectors", "attested"])]
    own_tc: bool,
    /// Keep the temporary directory (TAM database, Agent state) and print its path.
    #[arg(long)]
    keep: bool,
    /// Attested install: a Verifier in its own process, a TAM that requires attestation
    /// (background-check model), and a device the Verifier does not endorse.
    #[arg(long)]
    attested: bool,
}

/// The Trusted Component the demo installs and the signer it trusts.
pub(crate) struct Example {
    pub(crate) envelope: Vec<u8>,
    pub(crate) signer: SigningKey,
    pub(crate) signer_public_pem: String,
    pub(crate) origin: &'static str,
}

impl Example {
    /// The published example (suit_integrated, signed by the published example key), or, when
    /// the vectors are not there, a TC built and signed by teep-rs with a fresh key.
    pub(crate) fn load(vectors: &Path) -> anyhow::Result<Self> {
        let dir = vectors.join("teep-protocol");
        if !dir.join("suit_integrated.hex.txt").is_file() {
            return Self::build(
                "built by teep-rs (the public vectors were not found; see --vectors)",
            );
        }
        let raw = std::fs::read(dir.join("suit_integrated.hex.txt"))?;
        let envelope = crate::decode::input_bytes(&raw).map_err(anyhow::Error::msg)?;
        let private = zeroize::Zeroizing::new(
            std::fs::read_to_string(dir.join("example-signer-private.pem"))
                .context("the published example signer key is missing")?,
        );
        let signer = SigningKey::from_pkcs8_pem(&private)
            .map_err(|e| anyhow::anyhow!("example-signer-private.pem: {e}"))?;
        let signer_public_pem = std::fs::read_to_string(dir.join("example-signer-public.pem"))?;
        Ok(Example {
            envelope,
            signer,
            signer_public_pem,
            origin: "published example suit_integrated (draft-ietf-teep-protocol)",
        })
    }

    /// A TC built and signed by teep-rs with a fresh key, described as `origin`.
    pub(crate) fn build(origin: &'static str) -> anyhow::Result<Self> {
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let signer = SigningKey::generate_p256(&mut rng);
        let component = example_component();
        let envelope = teep_suit::builder::ManifestBuilder::new(component.clone(), 3)
            .manifest_component_id(manifest_id(&component))
            .vendor_id(VENDOR_ID.to_vec())
            .class_id(CLASS_ID.to_vec())
            .payload(teep_suit::builder::Payload::integrated(b"teep-rs demo TA v3".to_vec()))
            .sign(&signer, None)
            .map_err(|e| anyhow::anyhow!("building the demo TC: {e}"))?;
        Ok(Example {
            envelope,
            signer_public_pem: signer.public_key().to_spki_pem(),
            signer,
            origin,
        })
    }
}

/// The vectors folder the user named (`--vectors`, `TEEP_VECTORS`): it must be one, since a
/// silent fallback would demonstrate something other than what was asked for.
fn named_vectors(dir: &Path) -> anyhow::Result<&Path> {
    let example = dir.join("teep-protocol").join("suit_integrated.hex.txt");
    if example.is_file() {
        return Ok(dir);
    }
    let problem = if dir.is_dir() {
        "has no teep-protocol/suit_integrated.hex.txt"
    } else {
        "does not exist"
    };
    bail!(
        "--vectors {}: {problem}; name the folder of the public test vectors (shared/vectors), \
         or pass --own-tc to use a TC teep-rs builds itself",
        dir.display()
    )
}

/// The component id of the published example TC.
fn example_component() -> teep_suit::ComponentId {
    teep_suit::ComponentId(vec![
        b"TEEP-Device".to_vec(),
        b"SecureFS".to_vec(),
        hex_literal(b"8d82573a926d4754935332dc29997f74").to_vec(),
        b"ta".to_vec(),
    ])
}

/// The manifest-component-id of a TC: its component id with the last part `suit`.
fn manifest_id(component: &teep_suit::ComponentId) -> teep_suit::ComponentId {
    let mut parts = component.0.clone();
    parts.pop();
    parts.push(b"suit".to_vec());
    teep_suit::ComponentId(parts)
}

/// One message as the demo saw it pass the Broker.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Seen {
    pub(crate) from: &'static str,
    pub(crate) summary: String,
    pub(crate) bytes: usize,
}

/// An [`AgentSide`] that records (decoded) every message passing between TAM and Agent.
pub(crate) struct Recording<A> {
    pub(crate) inner: A,
    pub(crate) seen: Vec<Seen>,
}

impl<A> Recording<A> {
    fn record(&mut self, from: &'static str, bytes: &[u8]) {
        self.seen.push(Seen { from, summary: summarize(bytes), bytes: bytes.len() });
    }
}

/// One line for a COSE-wrapped TEEP message: its type and key fields, the COSE structure.
fn summarize(bytes: &[u8]) -> String {
    let numbering = teep_proto::Numbering::Rfc;
    if let Ok(s) = teep_cose::Sign1::decode(bytes) {
        let alg = s.algorithm().ok().and_then(|a| a.name()).unwrap_or("?");
        if let Some(Ok(m)) = s.payload.map(|p| teep_proto::Message::decode(p, numbering)) {
            return format!("{} [COSE_Sign1 {alg}]", teep_proto::describe(&m));
        }
    }
    if let Ok(s) = teep_cose::CoseSign::decode(bytes)
        && let Some(Ok(m)) = s.payload.map(|p| teep_proto::Message::decode(p, numbering))
    {
        return format!(
            "{} [COSE_Sign, {} signatures]",
            teep_proto::describe(&m),
            s.signatures.len()
        );
    }
    "unrecognised message".into()
}

impl<A: AgentSide> AgentSide for Recording<A> {
    async fn request_ta(
        &mut self,
        component: &TrustedComponentId,
        tam_uri: Option<&str>,
    ) -> Result<AgentReply, AgentError> {
        let reply = self.inner.request_ta(component, tam_uri).await?;
        if let AgentReply::Send { message, .. } = &reply {
            self.record("Agent", message);
        }
        Ok(reply)
    }

    async fn unrequest_ta(
        &mut self,
        component: &TrustedComponentId,
        tam_uri: Option<&str>,
    ) -> Result<AgentReply, AgentError> {
        let reply = self.inner.unrequest_ta(component, tam_uri).await?;
        if let AgentReply::Send { message, .. } = &reply {
            self.record("Agent", message);
        }
        Ok(reply)
    }

    async fn request_policy_check(&mut self) -> Result<AgentReply, AgentError> {
        self.inner.request_policy_check().await
    }

    fn policy_check_finished(&mut self) {
        self.inner.policy_check_finished();
    }

    async fn process_teep_message(
        &mut self,
        tam_uri: &str,
        message: &[u8],
    ) -> Result<Option<Vec<u8>>, AgentError> {
        self.record("TAM", message);
        let answer = self.inner.process_teep_message(tam_uri, message).await?;
        if let Some(a) = &answer {
            self.record("Agent", a);
        }
        Ok(answer)
    }

    async fn process_error(
        &mut self,
        tam_uri: &str,
        failure: &TransportFailure,
    ) -> Result<(), AgentError> {
        self.inner.process_error(tam_uri, failure).await
    }
}

pub(crate) type DemoBroker = Broker<Recording<IpcAgent<InProcess<software::SoftwareAgent>>>>;

/// What one step did and found.
#[derive(Debug, Serialize)]
pub(crate) struct Step {
    pub(crate) name: &'static str,
    pub(crate) ok: bool,
    pub(crate) expected: String,
    pub(crate) messages: Vec<Seen>,
    pub(crate) round_trips: u32,
    /// How each session ended, from the Broker's transcript (HTTP status, session end).
    pub(crate) endings: Vec<String>,
    pub(crate) agent_has: Vec<String>,
    pub(crate) tam_records: Vec<String>,
    pub(crate) error: Option<String>,
}

#[derive(Debug, Serialize)]
struct Summary {
    ok: bool,
    tam_uri: String,
    database: String,
    trusted_component: String,
    origin: &'static str,
    agent_kid: String,
    steps: Vec<Step>,
    elapsed_ms: u128,
}

/// The running system.
pub(crate) struct System {
    pub(crate) broker: DemoBroker,
    pub(crate) admin: Admin,
    pub(crate) agent_kid: [u8; 32],
    pub(crate) tam_uri: String,
    pub(crate) database: String,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<(), teep_tam::ServeError>>,
}

impl System {
    async fn start(dir: &Path, example: &Example) -> anyhow::Result<Self> {
        Self::start_with(dir, example, TamConfig::default()).await
    }

    /// Starts the system with `tam_config` (its `state_dir` is set to `dir/tam`); the Agent's
    /// state directory is `dir/agent`.
    pub(crate) async fn start_with(
        dir: &Path,
        example: &Example,
        tam_config: TamConfig,
    ) -> anyhow::Result<Self> {
        // The TAM, on a loopback port the OS picks, with its SQLite file in `dir`.
        let tam_config = TamConfig { state_dir: dir.join("tam"), ..tam_config };
        std::fs::create_dir_all(&tam_config.state_dir)?;
        let database = tam_config.database_url();
        teep_tam::TamKeys::load_or_generate(&tam_config).context("cannot create the TAM keys")?;
        let tam = Arc::new(Tam::open(tam_config).await.context("cannot open the TAM")?);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let tam_uri = format!("http://{}/tam", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(teep_tam::serve_on(Arc::clone(&tam), listener, async move {
            let _ = stopped.await;
        }));

        // The Agent on the software TEE, trusting the TAM's keys and the TC signer.
        let mut file = config::ConfigFile::default();
        file.tams.push(config::TamEntry {
            uri: tam_uri.clone(),
            numbering: None,
            public_keys: tam.keys().public_keys().iter().map(PublicKey::to_spki_pem).collect(),
        });
        file.tc_signers.push(example.signer_public_pem.clone());
        file.device.vendor_ids.push(hex::encode(VENDOR_ID));
        file.device.class_ids.push(hex::encode(CLASS_ID));
        let agent_dir = dir.join("agent");
        init::init(&agent_dir, &init::InitOptions { config: file, ..Default::default() })
            .context("cannot initialise the Agent")?;
        let agent = software::open(&agent_dir).context("cannot open the Agent")?;
        let agent_pem = agent.public_key().to_spki_pem();
        let agent_kid = agent.public_key().thumbprint();

        // The administrator registers signer, TC and device.
        let admin = Admin::new(tam.store().clone());
        let now = crate::unix_now();
        admin.add_signer("example-signer", example.signer_public_pem.as_bytes(), now).await?;
        admin.add_tc(&example.envelope, now).await.context("the TAM refused the example TC")?;
        admin.enroll_device(agent_pem.as_bytes(), Some("demo device"), Wire::Rfc, now).await?;

        let config = BrokerConfig { allow_http: true, ..BrokerConfig::default() };
        let agent = Recording { inner: IpcAgent::new(InProcess::new(agent)), seen: Vec::new() };
        let broker = Broker::new(agent, config)?;
        Ok(System { broker, admin, agent_kid, tam_uri, database, stop, server })
    }

    /// What the Agent holds, as `component@sequence`.
    async fn agent_has(&self) -> anyhow::Result<Vec<(Vec<Vec<u8>>, Option<u64>)>> {
        let status = self.broker.agent().inner.handle().status().await?;
        Ok(status.installed.into_iter().map(|c| (c.component_id, c.sequence_number)).collect())
    }

    /// What the TAM recorded for the device.
    async fn tam_records(&self) -> anyhow::Result<Vec<(Vec<u8>, Option<u64>)>> {
        let status = self.admin.status(&self.agent_kid).await?;
        Ok(status.components.into_iter().map(|c| (c.component_id, c.sequence_number)).collect())
    }

    /// Runs one policy check and checks that afterwards both sides agree on `expect`
    /// (`Some(n)`: the TC at sequence `n`; `None`: not there).
    pub(crate) async fn step(
        &mut self,
        name: &'static str,
        manifest: &ComponentKey,
        expect: Option<u64>,
    ) -> Step {
        self.broker.agent_mut().seen.clear();
        let outcome = self.broker.request_policy_check().await;
        let messages = std::mem::take(&mut self.broker.agent_mut().seen);
        let round_trips = outcome
            .as_ref()
            .map(|r| r.sessions.iter().map(|s| s.round_trips).sum())
            .unwrap_or_default();
        let endings = outcome
            .as_ref()
            .map(|r| {
                r.events
                    .iter()
                    .filter(|e| {
                        matches!(
                            e,
                            teep_broker::Event::Received { message: None, .. }
                                | teep_broker::Event::SessionEnded { .. }
                                | teep_broker::Event::TransportFailed { .. }
                        )
                    })
                    .map(ToString::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let expected = match expect {
            Some(n) => format!("{manifest} at sequence {n} on the device and in the TAM"),
            None => format!("{manifest} on neither the device nor in the TAM's records"),
        };
        let mut step = Step {
            name,
            ok: false,
            expected,
            messages,
            round_trips,
            endings,
            agent_has: Vec::new(),
            tam_records: Vec::new(),
            error: None,
        };
        if let Err(e) = outcome {
            step.error = Some(format!("policy check failed: {e}"));
            return step;
        }
        let (agent, tam) = match (self.agent_has().await, self.tam_records().await) {
            (Ok(a), Ok(t)) => (a, t),
            (Err(e), _) | (_, Err(e)) => {
                step.error = Some(format!("cannot read the state: {e:#}"));
                return step;
            }
        };
        step.agent_has = agent.iter().map(|(c, n)| entry(&crate::component_text(c), *n)).collect();
        step.tam_records = tam
            .iter()
            .map(|(c, n)| {
                let text = ComponentKey::from_cbor(c).map(|k| k.to_string()).unwrap_or_default();
                entry(&text, *n)
            })
            .collect();
        let on_agent: Vec<Option<u64>> = agent
            .iter()
            .filter(|(c, _)| c.as_slice() == manifest.parts().as_slice())
            .map(|(_, n)| *n)
            .collect();
        let in_tam: Vec<Option<u64>> = tam
            .iter()
            .filter(|(c, _)| c.as_slice() == manifest.as_cbor())
            .map(|(_, n)| *n)
            .collect();
        step.ok = match expect {
            Some(n) => on_agent == [Some(n)] && in_tam == [Some(n)],
            None => on_agent.is_empty() && in_tam.is_empty(),
        };
        if !step.ok {
            step.error = Some(format!(
                "expected {}; the device has {:?}, the TAM records {:?}",
                step.expected, step.agent_has, step.tam_records
            ));
        }
        step
    }

    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        match self.server.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => bail!("the TAM failed: {e}"),
            Err(e) => bail!("the TAM task failed: {e}"),
        }
    }
}

pub(crate) fn entry(component: &str, sequence: Option<u64>) -> String {
    match sequence {
        Some(n) => format!("{component} @ {n}"),
        None => component.to_owned(),
    }
}

/// Runs the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    if let Some(dir) = &args.vectors {
        named_vectors(dir)?;
    }
    if args.attested {
        let vectors = args.vectors.unwrap_or_else(|| PathBuf::from(DEFAULT_VECTORS));
        return crate::demo_attested::run(args.json, vectors).await;
    }
    crate::install_crypto_provider();
    let started = Instant::now();
    let example = match &args.vectors {
        _ if args.own_tc => Example::build("built by teep-rs (--own-tc)")?,
        Some(dir) => Example::load(dir)?,
        None => Example::load(Path::new(DEFAULT_VECTORS))?,
    };
    let envelope = teep_suit::Envelope::decode(&example.envelope)
        .map_err(|e| anyhow::anyhow!("the example TC: {e}"))?;
    let manifest = envelope.inspect_unauthenticated().map_err(|e| anyhow::anyhow!("{e}"))?;
    let component =
        manifest.components.first().cloned().context("the example TC names no component")?;
    let manifest_component = manifest.manifest_component_id.clone().unwrap_or(component.clone());
    let installed_seq = manifest.sequence_number;
    let manifest_key =
        ComponentKey::from_parts(&manifest_component.0).map_err(|e| anyhow::anyhow!("{e}"))?;

    let dir = tempfile::Builder::new().prefix("teep-demo-").tempdir()?;
    // A reader that goes away (`teep demo --json | head -1`) ends the process from inside the
    // next write to standard output; the directory must not outlive it.
    if !args.keep {
        crate::out::remove_on_broken_pipe(dir.path());
    }
    let mut system = System::start(dir.path(), &example).await?;
    if !args.json {
        say!("teep demo: TAM, Broker and software-TEE Agent on loopback");
        say!("  TAM           {}  (database {})", system.tam_uri, system.database);
        say!("  Agent kid     {}", hex::encode(system.agent_kid));
        say!("  TC            {manifest_key}  ({})", example.origin);
        say!();
    }
    let mut steps = Vec::new();

    // 1. Install: the policy requires the TC.
    system.admin.require(&PolicyTarget::AllDevices, &manifest_key, installed_seq).await?;
    steps.push(system.step("install", &manifest_key, Some(installed_seq)).await);
    report_step(&args, steps.last());

    // 2. Update: teep-rs builds and signs sequence n+1 of the same TC; the policy asks for it.
    let update_seq = installed_seq + 1;
    let update = teep_suit::builder::ManifestBuilder::new(component.clone(), update_seq)
        .manifest_component_id(manifest_component.clone())
        .vendor_id(VENDOR_ID.to_vec())
        .class_id(CLASS_ID.to_vec())
        .payload(teep_suit::builder::Payload::integrated(
            format!("teep-rs demo TA, update to sequence {update_seq}").into_bytes(),
        ))
        .description("teep-rs demo: update of the published example TC")
        .sign(&example.signer, None)
        .map_err(|e| anyhow::anyhow!("building the update: {e}"))?;
    system.admin.add_tc(&update, crate::unix_now()).await.context("the TAM refused the update")?;
    system.admin.require(&PolicyTarget::AllDevices, &manifest_key, update_seq).await?;
    steps.push(system.step("update", &manifest_key, Some(update_seq)).await);
    report_step(&args, steps.last());

    // 3. Delete: the policy now says the TC must go.
    system.admin.delete(&PolicyTarget::AllDevices, &manifest_key).await?;
    steps.push(system.step("delete", &manifest_key, None).await);
    report_step(&args, steps.last());

    let tam_uri = system.tam_uri.clone();
    let database = system.database.clone();
    let agent_kid = hex::encode(system.agent_kid);
    system.stop().await?;

    let ok = steps.iter().all(|s| s.ok);
    let summary = Summary {
        ok,
        tam_uri,
        database,
        trusted_component: manifest_key.to_string(),
        origin: example.origin,
        agent_kid,
        steps,
        elapsed_ms: started.elapsed().as_millis(),
    };
    if args.json {
        say!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        say!("summary:");
        for s in &summary.steps {
            say!(
                "  {:<8} {}  ({} messages, {} round trips)",
                s.name,
                if s.ok { "ok" } else { "FAILED" },
                s.messages.len(),
                s.round_trips
            );
        }
        say!(
            "  {} in {} ms",
            if ok { "every step happened" } else { "some steps FAILED" },
            summary.elapsed_ms
        );
    }
    if args.keep {
        let kept = dir.keep();
        eprintln!("kept {}", kept.display());
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn report_step(args: &DemoArgs, step: Option<&Step>) {
    let Some(step) = step else { return };
    if args.json {
        return;
    }
    print_step(step);
}

/// Prints one step of the transcript: the messages, how the sessions ended, both sides' state.
pub(crate) fn print_step(step: &Step) {
    say!("== {}: expect {}", step.name, step.expected);
    say!("  Broker → TAM  POST (empty body): open a session");
    for m in &step.messages {
        let arrow = if m.from == "TAM" { "TAM → Agent " } else { "Agent → TAM " };
        say!("  {arrow} {} ({} bytes)", m.summary, m.bytes);
    }
    for e in &step.endings {
        say!("  Broker        {e}");
    }
    say!("  device has:   {}", list(&step.agent_has));
    say!("  TAM records:  {}", list(&step.tam_records));
    match &step.error {
        None => say!("  ok"),
        Some(e) => say!("  FAILED: {e}"),
    }
    say!();
}

pub(crate) fn list(items: &[String]) -> String {
    if items.is_empty() { "nothing".into() } else { items.join(", ") }
}
