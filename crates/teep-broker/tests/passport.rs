//! Passport model end to end over loopback HTTP (RFC 9334 §5.1): the Broker takes the Agent's
//! Evidence to the Verifier and the Agent presents the Attestation Result in its
//! QueryResponse; the TAM (with `[attestation]` enabled) validates it without calling the
//! Verifier itself. Real TAM, real software-TEE Agent, real Verifier HTTP server.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::{VECTORS, hex_vector, now, verifier};
use teep_agent::ipc::{AgentHandle, InProcess};
use teep_agent::software::{self, config::ConfigFile, config::TamEntry, init};
use teep_broker::passport::{PassportAgent, PassportConfig, PassportOutcome};
use teep_broker::{Broker, BrokerConfig, IpcAgent};
use teep_tam::config::AttestationConfig;
use teep_tam::{Admin, ComponentKey, PolicyTarget, Tam, TamConfig, Wire};

type PassportBroker = Broker<PassportAgent<InProcess<software::SoftwareAgent>>>;

struct Setup {
    broker: PassportBroker,
    admin: Admin,
    kid: [u8; 32],
    _stops: Vec<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

/// Verifier, TAM (attestation required, trusting `tam_trusts` or the Verifier's key), Agent
/// and a Broker taking Evidence to `broker_verifier` (or the Verifier).
async fn setup(tam_trusts: Option<PathBuf>, broker_verifier: Option<&str>) -> Setup {
    teep_broker::install_crypto_provider();
    let dir = tempfile::tempdir().expect("tempdir");

    // The Agent's attestation key is provisioned first (as a manufacturer would).
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
            verifier_keys: vec![tam_trusts.unwrap_or(verifier_key)],
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
        uri: tam_uri.clone(),
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

    let passport = PassportConfig {
        verifier_url: broker_verifier.map_or(verifier_url, str::to_owned),
        timeout_ms: 5_000,
    };
    let agent_side =
        PassportAgent::new(IpcAgent::new(InProcess::new(agent)), &passport).expect("passport");
    let broker =
        Broker::new(agent_side, BrokerConfig { allow_http: true, ..BrokerConfig::default() })
            .expect("broker");
    Setup { broker, admin, kid: initialized.kid, _stops: vec![stop_verifier, stop_tam], _dir: dir }
}

impl Setup {
    async fn installed_on_agent(&self) -> usize {
        let status = self.broker.agent().inner().handle().status().await.expect("status");
        status.installed.len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passport_through_the_broker_installs() {
    let mut s = setup(None, None).await;
    s.broker.request_policy_check().await.expect("policy check");

    let outcomes = s.broker.agent().outcomes();
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert!(matches!(outcomes[0], PassportOutcome::Presented { result_len, .. } if result_len > 0));
    let status = s.admin.status(&s.kid).await.expect("status");
    let attestation = status.attestation.expect("recorded");
    assert!(attestation.trusted, "{}", attestation.reason);
    // The TAM judged a presented result: it did not call the Verifier.
    assert_eq!(attestation.model, "passport");
    assert_eq!(status.components.len(), 1);
    assert_eq!(s.installed_on_agent().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passport_from_an_untrusted_verifier_is_refused() {
    // The TAM trusts another Verifier's key.
    let other = tempfile::tempdir().expect("tempdir");
    let stranger = other.path().join("stranger.pub.pem");
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let key = teep_cose::SigningKey::generate_p256(&mut rng);
    std::fs::write(&stranger, key.public_key().to_spki_pem()).expect("write");
    let mut s = setup(Some(stranger), None).await;
    s.broker.request_policy_check().await.expect("policy check");

    assert!(matches!(s.broker.agent().outcomes(), [PassportOutcome::Presented { .. }]));
    let status = s.admin.status(&s.kid).await.expect("status");
    let attestation = status.attestation.expect("recorded");
    assert!(!attestation.trusted);
    assert!(!attestation.reason.is_empty());
    assert!(status.components.is_empty(), "nothing installed");
    assert_eq!(s.installed_on_agent().await, 0);
    assert!(
        status.events.iter().any(|e| e.kind == "attestation" && e.detail.starts_with("refused"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_verifier_falls_back_to_background_check() {
    // Nothing listens on port 1 of loopback: the Broker's Verifier call fails, the Agent
    // sends Evidence and the TAM has it appraised itself.
    let mut s = setup(None, Some("http://127.0.0.1:1")).await;
    s.broker.request_policy_check().await.expect("policy check");

    let outcomes = s.broker.agent().outcomes();
    assert!(
        matches!(&outcomes, [PassportOutcome::Failed { reason, .. }] if reason.starts_with("verifier")),
        "{outcomes:?}"
    );
    let status = s.admin.status(&s.kid).await.expect("status");
    let attestation = status.attestation.expect("recorded");
    assert!(attestation.trusted, "{}", attestation.reason);
    assert_eq!(attestation.model, "background-check");
    assert_eq!(s.installed_on_agent().await, 1);
}

#[test]
fn attestation_nonce_needs_a_signed_query_request_with_the_attestation_bit() {
    use teep_broker::passport::attestation_nonce;
    assert_eq!(attestation_nonce(b""), None);
    assert_eq!(attestation_nonce(&[0xd2, 0x84]), None);
    // The published QueryRequest (attestation | trusted-components, token, no challenge) is a
    // bare message: the Broker only looks into COSE-wrapped ones.
    let bare = hex_vector("teep-protocol/query_request.hex.txt");
    assert_eq!(attestation_nonce(&bare), None);
    // Signed, its token is the nonce the Agent binds Evidence to (no challenge, §10).
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let key = teep_cose::SigningKey::generate_p256(&mut rng);
    let signed =
        teep_cose::sign1(&bare, &key, teep_cose::Algorithm::ESP256, None, &[], true).expect("sign");
    let token: Vec<u8> = (0xa0..=0xaf).collect();
    assert_eq!(attestation_nonce(&signed), Some(token));
    // A signed message that is not a QueryRequest gives nothing.
    let success = hex_vector("teep-protocol/teep_success.hex.txt");
    let signed = teep_cose::sign1(&success, &key, teep_cose::Algorithm::ESP256, None, &[], true)
        .expect("sign");
    assert_eq!(attestation_nonce(&signed), None);
}
