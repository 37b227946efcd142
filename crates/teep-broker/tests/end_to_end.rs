//! End to end over loopback HTTP: a real TAM (teep_tam::serve_on, temporary SQLite file), the
//! real Agent on the software TEE (in-process handle), and the Broker between them install
//! the published suit_integrated Trusted Component, signed by the published example signer.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{VECTORS, example_component, hex_vector, now};
use teep_agent::ipc::{AgentHandle, InProcess};
use teep_agent::software::{self, config::ConfigFile, config::TamEntry, init};
use teep_broker::{Broker, BrokerConfig, Event, IpcAgent, MessageKind, TrustedComponentId};
use teep_tam::{Admin, ComponentKey, PolicyTarget, Tam, TamConfig, Wire};

const VENDOR_ID: &str = "c0ddd5f15243566087db4f5b0aa26c2f";
const CLASS_ID: &str = "db42f7093d8c55baa8c5265fc5820f4e";

/// Initialises a software-TEE Agent that trusts `tam_keys` at `tam_uri` and the example signer.
fn agent_in(dir: &Path, tam_uri: &str, tam_keys: Vec<String>) -> software::SoftwareAgent {
    let signer =
        std::fs::read_to_string(format!("{VECTORS}/teep-protocol/example-signer-public.pem"))
            .expect("signer key");
    let mut config = ConfigFile::default();
    config.tams.push(TamEntry { uri: tam_uri.to_owned(), numbering: None, public_keys: tam_keys });
    config.tc_signers.push(signer);
    config.device.vendor_ids.push(VENDOR_ID.into());
    config.device.class_ids.push(CLASS_ID.into());
    init::init(dir, &init::InitOptions { config, ..Default::default() }).expect("agent init");
    software::open(dir).expect("agent open")
}

/// A TAM on 127.0.0.1:0 with the example signer and TC in its catalog, an enrolled software-TEE
/// Agent, and a Broker between them.
struct Setup {
    broker: Broker<IpcAgent<InProcess<software::SoftwareAgent>>>,
    admin: Admin,
    tam_uri: String,
    agent_kid: [u8; 32],
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<(), teep_tam::ServeError>>,
    _dir: tempfile::TempDir,
}

impl Setup {
    async fn start() -> Self {
        teep_broker::install_crypto_provider();
        let dir = tempfile::tempdir().expect("tempdir");

        // The TAM on 127.0.0.1:0 with its SQLite file in the temporary directory.
        let tam_config = TamConfig { state_dir: dir.path().join("tam"), ..TamConfig::default() };
        teep_tam::TamKeys::load_or_generate(&tam_config).expect("TAM keys");
        let tam = Arc::new(Tam::open(tam_config).await.expect("TAM open"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let tam_uri = format!("http://{}/tam", listener.local_addr().expect("addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(teep_tam::serve_on(Arc::clone(&tam), listener, async move {
            let _ = stopped.await;
        }));

        // The Agent, trusting both TAM keys.
        let tam_keys = tam.keys().public_keys().iter().map(|k| k.to_spki_pem()).collect();
        let agent = agent_in(&dir.path().join("agent"), &tam_uri, tam_keys);
        let agent_pem = agent.public_key().to_spki_pem();
        let agent_kid = agent.public_key().thumbprint();

        // The TAM administrator: the example signer, the example TC, the device.
        let admin = Admin::new(tam.store().clone());
        let signer = std::fs::read(format!("{VECTORS}/teep-protocol/example-signer-public.pem"))
            .expect("signer");
        admin.add_signer("example", &signer, now()).await.expect("add signer");
        let envelope = hex_vector("teep-protocol/suit_integrated.hex.txt");
        admin.add_tc(&envelope, now()).await.expect("add TC");
        admin
            .enroll_device(agent_pem.as_bytes(), Some("e2e"), Wire::Rfc, now())
            .await
            .expect("enroll");

        let config = BrokerConfig { allow_http: true, ..BrokerConfig::default() };
        let broker = Broker::new(IpcAgent::new(InProcess::new(agent)), config).expect("broker");
        Self { broker, admin, tam_uri, agent_kid, stop, server, _dir: dir }
    }

    async fn installed_on_agent(&self) -> Vec<Option<u64>> {
        let status = self.broker.agent().handle().status().await.expect("agent status");
        status.installed.iter().map(|c| c.sequence_number).collect()
    }

    async fn installed_per_tam(&self) -> Vec<Option<u64>> {
        let status = self.admin.status(&self.agent_kid).await.expect("TAM status");
        status.components.iter().map(|c| c.sequence_number).collect()
    }

    async fn finish(self) {
        let _ = self.stop.send(());
        assert!(matches!(self.server.await, Ok(Ok(()))));
    }
}

/// Message kinds received from the TAM and answered by the Agent, in order.
fn relayed(report: &teep_broker::Report) -> Vec<MessageKind> {
    report
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Received { message: Some(m), .. }
            | Event::AgentAnswered { message: Some(m) } => Some(m.kind),
            _ => None,
        })
        .collect()
}

fn transcript(report: &teep_broker::Report) -> String {
    report.events.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

const FULL_EXCHANGE: [MessageKind; 4] = [
    MessageKind::QueryRequest,
    MessageKind::QueryResponse,
    MessageKind::Update,
    MessageKind::Success,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ta_installs_the_published_integrated_tc() {
    let mut setup = Setup::start().await;

    // RequestTA: empty POST -> QueryRequest, QueryResponse (requested-tc-list) -> Update,
    // Success -> 204.
    let report = match setup.broker.request_ta(&example_component()).await {
        Ok(report) => report,
        Err(e) => {
            let events: Vec<String> =
                setup.broker.take_transcript().iter().map(ToString::to_string).collect();
            panic!("RequestTA failed: {e}\n{}", events.join("\n"));
        }
    };
    assert_eq!(report.sessions.len(), 1, "{}", transcript(&report));
    assert_eq!(report.sessions[0].tam_uri, setup.tam_uri);
    assert_eq!(report.sessions[0].round_trips, 3, "{}", transcript(&report));
    assert_eq!(relayed(&report), FULL_EXCHANGE, "{}", transcript(&report));
    assert_eq!(setup.installed_on_agent().await, [Some(3)]);
    assert_eq!(setup.installed_per_tam().await, [Some(3)]);

    // A second RequestTA for the installed component: either the Agent has nothing to do, or
    // (it looks installed components up by manifest id, and this is the image's component id)
    // the session ends after the QueryResponse with nothing to update.
    let report = setup.broker.request_ta(&example_component()).await.expect("second RequestTA");
    assert!(
        report.sessions.is_empty()
            || relayed(&report) == [MessageKind::QueryRequest, MessageKind::QueryResponse],
        "{}",
        transcript(&report)
    );
    assert_eq!(setup.installed_on_agent().await, [Some(3)]);

    // A policy check now finds nothing to do: QueryRequest -> QueryResponse -> 204.
    let report = setup.broker.request_policy_check().await.expect("policy check");
    assert_eq!(report.sessions.len(), 1, "{}", transcript(&report));
    assert_eq!(report.sessions[0].round_trips, 2, "{}", transcript(&report));

    // UnrequestTA: the Agent lists the manifest as unneeded, the TAM answers with an Update
    // that deletes it, the Agent reports Success.
    let manifest_id = TrustedComponentId(
        example_component().0.into_iter().take(3).chain([b"suit".to_vec()]).collect(),
    );
    let report = match setup.broker.unrequest_ta(&manifest_id).await {
        Ok(report) => report,
        Err(e) => {
            let events: Vec<String> =
                setup.broker.take_transcript().iter().map(ToString::to_string).collect();
            panic!("UnrequestTA failed: {e}\n{}", events.join("\n"));
        }
    };
    assert_eq!(relayed(&report), FULL_EXCHANGE, "{}", transcript(&report));
    assert_eq!(setup.installed_on_agent().await, [], "{}", transcript(&report));
    setup.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_check_installs_what_the_tam_requires() {
    let mut setup = Setup::start().await;
    let key = ComponentKey::from_parts(&example_component().0).expect("component key");
    setup.admin.require(&PolicyTarget::AllDevices, &key, 0).await.expect("policy");

    let report = setup.broker.request_policy_check().await.expect("policy check");
    assert_eq!(report.sessions.len(), 1, "{}", transcript(&report));
    assert_eq!(relayed(&report), FULL_EXCHANGE, "{}", transcript(&report));
    assert_eq!(setup.installed_on_agent().await, [Some(3)]);
    assert_eq!(setup.installed_per_tam().await, [Some(3)]);
    setup.finish().await;
}
