//! The Broker daemon in the passport model (RFC 9334 §5.1) over loopback: a real Verifier
//! (`teep_verifier::serve_on`), a real TAM that requires attestation, the real software-TEE
//! Agent in process, and the daemon configured from a `[passport]` section.
//!
//! Covered: a policy check over the daemon socket installs through the passport path (the TAM
//! records a presented result, model "passport"), and the attempt shows in the operation's
//! outcome and in the status; with the Broker's Verifier down the attempt is recorded as
//! failed and the Agent falls back to Evidence (model "background-check"), still installing.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{VECTORS, hex_vector, now, verifier};
use teep_agent::ipc::InProcess;
use teep_agent::software::{self, config::ConfigFile, config::TamEntry, init};
use teep_broker::daemon::Daemon;
use teep_broker::daemon_socket::{
    DaemonClient, DaemonRequest, DaemonResponse, DaemonStatus, OperationOutcome,
};
use teep_broker::passport::PassportAgent;
use teep_broker::{Broker, BrokerConfig, IpcAgent};
use teep_tam::config::AttestationConfig;
use teep_tam::{Admin, ComponentKey, PolicyTarget, Tam, TamConfig, Wire};

/// A loopback URL nothing listens on (the port was bound and released).
fn closed_port_url() -> String {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("reserve a port");
    let addr = probe.local_addr().expect("addr");
    drop(probe);
    format!("http://{addr}")
}

struct Setup {
    client: DaemonClient,
    admin: Admin,
    kid: [u8; 32],
    stop_daemon: tokio::sync::oneshot::Sender<()>,
    daemon: tokio::task::JoinHandle<Result<(), teep_broker::daemon::DaemonError>>,
    _stops: Vec<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

/// Verifier, TAM requiring attestation (appraising through the Verifier), Agent, and a daemon
/// whose `[passport]` section names the Verifier, or `broker_verifier` when given.
async fn setup(broker_verifier: Option<String>) -> Setup {
    teep_broker::install_crypto_provider();
    let dir = tempfile::tempdir().expect("tempdir");

    let agent_dir = dir.path().join("agent");
    std::fs::create_dir_all(&agent_dir).expect("agent dir");
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let attest = teep_cose::SigningKey::generate_p256(&mut rng);
    teep_agent::software::keys::write_private_key(&agent_dir.join("attest-key.pem"), &attest)
        .expect("attestation key");
    let endorsement = dir.path().join("endorsed.pub.pem");
    std::fs::write(&endorsement, attest.public_key().to_spki_pem()).expect("endorsement");
    let (verifier_url, verifier_key, stop_verifier) =
        verifier(&dir.path().join("verifier"), &endorsement).await;

    let tam_config = TamConfig {
        state_dir: dir.path().join("tam"),
        attestation: AttestationConfig {
            enabled: true,
            verifier_url: Some(verifier_url.clone()),
            verifier_keys: vec![verifier_key],
            ..AttestationConfig::default()
        },
        ..TamConfig::default()
    };
    teep_tam::TamKeys::load_or_generate(&tam_config).expect("TAM keys");
    let tam = Arc::new(Tam::open(tam_config).await.expect("TAM open"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let tam_uri = format!("http://{}/tam", listener.local_addr().expect("addr"));
    let (stop_tam, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(teep_tam::serve_on(Arc::clone(&tam), listener, async move {
        let _ = stopped.await;
    }));

    let signer =
        std::fs::read_to_string(format!("{VECTORS}/teep-protocol/example-signer-public.pem"))
            .expect("signer");
    let mut config = ConfigFile::default();
    config.tams.push(TamEntry {
        uri: tam_uri,
        numbering: None,
        public_keys: tam.keys().public_keys().iter().map(|k| k.to_spki_pem()).collect(),
    });
    config.tc_signers.push(signer.clone());
    config.device.vendor_ids.push("c0ddd5f15243566087db4f5b0aa26c2f".into());
    config.device.class_ids.push("db42f7093d8c55baa8c5265fc5820f4e".into());
    let initialized =
        init::init(&agent_dir, &init::InitOptions { config, ..Default::default() }).expect("init");
    let agent = software::open(&agent_dir).expect("agent open");

    let admin = Admin::new(tam.store().clone());
    admin.add_signer("example", signer.as_bytes(), now()).await.expect("signer");
    let row = admin
        .add_tc(&hex_vector("teep-protocol/suit_integrated.hex.txt"), now())
        .await
        .expect("TC");
    let key = ComponentKey::from_cbor(&row.component_id).expect("key");
    admin.require(&PolicyTarget::AllDevices, &key, 0).await.expect("policy");
    admin
        .enroll_device(initialized.public_key_pem.as_bytes(), None, Wire::Rfc, now())
        .await
        .expect("enroll");

    // The Broker configuration as an operator writes it.
    let socket = dir.path().join("broker.sock");
    let toml = format!(
        "allow_http = true\nrequest_timeout_ms = 10000\n\
         [daemon]\nsocket = {socket:?}\ncheck_on_start = false\n\
         [passport]\nverifier_url = {:?}\ntimeout_ms = 2000\n",
        broker_verifier.unwrap_or(verifier_url),
    );
    let config = BrokerConfig::from_toml(&toml).expect("broker configuration");
    let passport = config.passport.clone().expect("[passport] parsed");
    let agent = PassportAgent::new(IpcAgent::new(InProcess::new(agent)), &passport)
        .expect("passport agent");
    let daemon = Arc::new(Daemon::new(Broker::new(agent, config).expect("broker")));
    let (stop_daemon, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(daemon.serve(async move {
        let _ = stopped.await;
    }));

    Setup {
        client: DaemonClient::new(socket),
        admin,
        kid: initialized.kid,
        stop_daemon,
        daemon,
        _stops: vec![stop_verifier, stop_tam],
        _dir: dir,
    }
}

impl Setup {
    async fn call(&self, request: DaemonRequest) -> DaemonResponse {
        for _ in 0..200 {
            match self.client.call(&request).await {
                Ok(response) => return response,
                // The socket may not be bound yet.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        panic!("the daemon never answered")
    }

    async fn policy_check(&self) -> OperationOutcome {
        match self.call(DaemonRequest::PolicyCheck {}).await {
            DaemonResponse::Done { outcome } => outcome,
            other => panic!("policy check answered {other:?}"),
        }
    }

    async fn status(&self) -> DaemonStatus {
        match self.call(DaemonRequest::Status {}).await {
            DaemonResponse::Status { status } => status,
            other => panic!("status answered {other:?}"),
        }
    }

    async fn shutdown(self) {
        let _ = self.stop_daemon.send(());
        let ended = tokio::time::timeout(Duration::from_secs(10), self.daemon).await;
        assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_installs_through_the_passport_path() {
    let s = setup(None).await;
    let before = s.status().await;
    assert!(before.verifier_url.is_some(), "the status names the passport Verifier");
    assert!(before.installed.is_empty());

    let outcome = s.policy_check().await;
    assert_eq!(outcome.failures, vec![], "{outcome:?}");
    assert_eq!(outcome.agent_errors, 0, "{outcome:?}");
    assert_eq!(outcome.passport.len(), 1, "{outcome:?}");
    assert!(outcome.passport[0].presented, "{:?}", outcome.passport);

    // The TAM judged the presented result without calling the Verifier itself.
    let tam_view = s.admin.status(&s.kid).await.expect("TAM status");
    let attestation = tam_view.attestation.expect("attestation recorded");
    assert!(attestation.trusted, "{}", attestation.reason);
    assert_eq!(attestation.model, "passport");
    assert_eq!(tam_view.components.len(), 1);

    let after = s.status().await;
    assert_eq!(after.installed.len(), 1, "{after:?}");
    assert_eq!(after.passport, outcome.passport, "the status keeps the attempt");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_with_its_verifier_down_falls_back_and_records_why() {
    let s = setup(Some(closed_port_url())).await;

    let outcome = s.policy_check().await;
    assert_eq!(outcome.failures, vec![], "{outcome:?}");
    assert_eq!(outcome.passport.len(), 1, "{outcome:?}");
    let attempt = &outcome.passport[0];
    assert!(!attempt.presented);
    assert!(attempt.detail.starts_with("verifier"), "{attempt:?}");

    // The Agent sent Evidence; the TAM had it appraised (background check) and installed.
    let tam_view = s.admin.status(&s.kid).await.expect("TAM status");
    let attestation = tam_view.attestation.expect("attestation recorded");
    assert!(attestation.trusted, "{}", attestation.reason);
    assert_eq!(attestation.model, "background-check");
    assert_eq!(tam_view.components.len(), 1);

    let status = s.status().await;
    assert_eq!(status.installed.len(), 1, "{status:?}");
    assert!(matches!(&status.passport[..], [a] if !a.presented && a.detail == attempt.detail));
    s.shutdown().await;
}
