//! Background-check model end to end over loopback HTTP (RFC 9334 §5.2;
//! draft-ietf-teep-protocol-26 §4.3): the real Agent (software TEE and attester), the TAM,
//! and the Verifier as its own HTTP server. Each refusal is recorded with its reason and
//! nothing is installed.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{Db, TestTam, example_manifest_id, hex_vector, vector_text};
use teep_agent::software::SoftwareAgent;
use teep_agent::software::config::{ConfigFile, DeviceIdentity, TamEntry};
use teep_cose::SigningKey;
use teep_proto::{ErrCode, Message, Numbering};
use teep_tam::config::FreshnessName;
use teep_tam::{PolicyTarget, Wire};
use teep_verifier::config::ReferenceConfig;
use teep_verifier::{Verifier, VerifierConfig};

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// A Verifier serving on loopback.
struct TestVerifier {
    url: String,
    key_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestVerifier {
    async fn start(attester_pub: &Path, reference: ReferenceConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = VerifierConfig {
            state_dir: dir.path().to_owned(),
            attester_keys: vec![attester_pub.to_owned()],
            reference,
            ..VerifierConfig::default()
        };
        let verifier = Arc::new(Verifier::open(config).unwrap());
        let key_file = dir.path().join("verifier.pub.pem");
        std::fs::write(&key_file, verifier.public_key().to_spki_pem()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(teep_verifier::serve_on(verifier, listener, async {
            let _ = rx.await;
        }));
        TestVerifier { url, key_file, _dir: dir, shutdown: Some(tx) }
    }
}

impl Drop for TestVerifier {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The reference values that match the software attester's defaults and this executable.
fn matching_reference() -> ReferenceConfig {
    let defaults = teep_agent::software::config::AttestationSettings::default();
    let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    ReferenceConfig {
        oemids: vec![defaults.oemid],
        hwmodels: vec![defaults.hwmodel],
        hwversions: vec![defaults.hwversion],
        manifest_digests: vec![hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&exe))],
    }
}

struct Device {
    dir: tempfile::TempDir,
    agent: SoftwareAgent,
    kid: [u8; 32],
}

async fn device(tam: &TestTam, tweak: impl FnOnce(&mut ConfigFile)) -> Device {
    let dir = tempfile::tempdir().unwrap();
    let [p256, ed25519] = tam.keys().public_keys();
    let mut config = ConfigFile {
        tams: vec![TamEntry {
            uri: tam.url.clone(),
            numbering: None,
            public_keys: vec![p256.to_spki_pem(), ed25519.to_spki_pem()],
        }],
        tc_signers: vec![vector_text("teep-protocol/example-signer-public.pem")],
        device: DeviceIdentity {
            vendor_ids: vec!["c0ddd5f15243566087db4f5b0aa26c2f".into()],
            class_ids: vec!["db42f7093d8c55baa8c5265fc5820f4e".into()],
            device_ids: Vec::new(),
        },
        ..ConfigFile::default()
    };
    tweak(&mut config);
    let options = teep_agent::software::InitOptions { config, ..Default::default() };
    let init = teep_agent::software::init(dir.path(), &options).unwrap();
    let agent = teep_agent::software::open(dir.path()).unwrap();
    tam.admin.enroll_device(init.public_key_pem.as_bytes(), None, Wire::Rfc, 1).await.unwrap();
    Device { dir, agent, kid: init.kid }
}

async fn catalog(tam: &TestTam) {
    let signer = vector_text("teep-protocol/example-signer-public.pem");
    tam.admin.add_signer("example", signer.as_bytes(), 1).await.unwrap();
    tam.admin.add_tc(&hex_vector("teep-protocol/suit_integrated.hex.txt"), 1).await.unwrap();
    tam.admin.require(&PolicyTarget::AllDevices, &example_manifest_id(), 0).await.unwrap();
}

async fn start_tam(
    verifier: &TestVerifier,
    tweak: impl FnOnce(&mut teep_tam::TamConfig),
) -> TestTam {
    let url = verifier.url.clone();
    let key = verifier.key_file.clone();
    let tam = TestTam::start_with(Db::Sqlite, move |c| {
        c.attestation.enabled = true;
        c.attestation.verifier_url = Some(url);
        c.attestation.verifier_keys = vec![key];
        tweak(c);
    })
    .await
    .unwrap();
    catalog(&tam).await;
    tam
}

/// Relays until 204; returns every message the Agent sent.
async fn session(tam: &TestTam, agent: &mut SoftwareAgent, at: u64) -> Vec<Vec<u8>> {
    let mut sent = Vec::new();
    let mut body = Vec::new();
    for _ in 0..8 {
        let reply = tam.post(&body).await;
        if reply.status() == 204 {
            return sent;
        }
        assert_eq!(reply.status(), 200);
        let message = reply.bytes().await.unwrap();
        body = agent.handle(&message, at).unwrap();
        sent.push(body.clone());
    }
    panic!("session did not end");
}

/// The err-code of the Update the TAM answered `response` with.
fn tam_message(tam: &TestTam, bytes: &[u8]) -> Message {
    teep_proto::open(bytes, Numbering::Rfc, &tam.tam_public_keys(), teep_eat::DEFAULT_ALGORITHMS)
        .unwrap()
        .message
}

async fn assert_refused(tam: &TestTam, d: &Device, reason: &str) {
    let status = tam.admin.status(&d.kid).await.unwrap();
    let attestation = status.attestation.expect("attestation recorded");
    assert!(!attestation.trusted);
    assert!(attestation.reason.contains(reason), "{:?} lacks {reason:?}", attestation.reason);
    assert!(status.components.is_empty(), "nothing installed");
    assert!(d.agent.tc_list().is_empty(), "nothing installed on the device");
    assert!(
        status.events.iter().any(|e| e.kind == "attestation" && e.detail.contains(reason)),
        "{:?}",
        status.events
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attested_install_and_replay() {
    let (_v, tam, mut d, _b) = setup(matching_reference(), true, |_| {}, |_| {}).await;

    // QueryRequest (attestation + challenge) -> QueryResponse -> Update -> Success -> 204.
    let sent = session(&tam, &mut d.agent, now()).await;
    assert_eq!(sent.len(), 2);
    let status = tam.admin.status(&d.kid).await.unwrap();
    let attestation = status.attestation.expect("recorded");
    assert!(attestation.trusted, "{}", attestation.reason);
    assert_eq!(status.components.len(), 1, "{:?}", status.events);
    assert_eq!(d.agent.tc_list().len(), 1);

    // Replaying the QueryResponse (its challenge is spent) is dropped (a warning is logged)
    // and changes nothing: no Update, no new history, the recorded outcome stays.
    let before = tam.admin.status(&d.kid).await.unwrap();
    let reply = tam.post(&sent[0]).await;
    assert_eq!(reply.status(), 204);
    let after = tam.admin.status(&d.kid).await.unwrap();
    assert_eq!(after.events.len(), before.events.len());
    assert_eq!(after.attestation, before.attestation);
    tam.finish().await;
}

/// A Verifier endorsing `attester`, a TAM using it, and a device whose attester key is
/// `attester` (or its own when `None`).
async fn setup(
    reference: ReferenceConfig,
    endorse_device: bool,
    tam_tweak: impl FnOnce(&mut teep_tam::TamConfig),
    device_tweak: impl FnOnce(&mut ConfigFile),
) -> (TestVerifier, TestTam, Device, tempfile::TempDir) {
    let boot = tempfile::tempdir().unwrap();
    let key = SigningKey::generate_p256(&mut rng());
    let stranger = SigningKey::generate_p256(&mut rng());
    teep_agent::software::keys::write_private_key(&boot.path().join("attest.pem"), &key).unwrap();
    let public = boot.path().join("endorsed.pub.pem");
    let endorsed = if endorse_device { &key } else { &stranger };
    std::fs::write(&public, endorsed.public_key().to_spki_pem()).unwrap();
    let verifier = TestVerifier::start(&public, reference).await;
    let tam = start_tam(&verifier, tam_tweak).await;
    let attest_file = boot.path().join("attest.pem").to_string_lossy().into_owned();
    let d = device(&tam, |c| {
        c.attestation.key_file = attest_file;
        device_tweak(c);
    })
    .await;
    (verifier, tam, d, boot)
}

async fn expect_attestation_required(tam: &TestTam, d: &mut Device, at: u64) {
    let reply = tam.post(&[]).await;
    let query = reply.bytes().await.unwrap();
    let response = d.agent.handle(&query, at).unwrap();
    let reply = tam.post(&response).await;
    assert_eq!(reply.status(), 200);
    let Message::Update(update) = tam_message(tam, &reply.bytes().await.unwrap()) else {
        panic!("expected Update")
    };
    assert_eq!(update.err_code, Some(ErrCode::ATTESTATION_REQUIRED));
    assert!(update.manifest_list.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_attester_key_is_refused() {
    let (_v, tam, mut d, _b) = setup(matching_reference(), false, |_| {}, |_| {}).await;
    expect_attestation_required(&tam, &mut d, now()).await;
    assert_refused(&tam, &d, "no trusted key verified the signature").await;
    tam.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_mismatch_is_refused() {
    let reference = ReferenceConfig { hwmodels: vec!["00".into()], ..matching_reference() };
    let (_v, tam, mut d, _b) = setup(reference, true, |_| {}, |_| {}).await;
    expect_attestation_required(&tam, &mut d, now()).await;
    assert_refused(&tam, &d, "hwmodel does not match reference values").await;
    tam.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_verifier_is_refused() {
    let other = tempfile::tempdir().unwrap();
    let key_file = other.path().join("other.pub.pem");
    let stranger = SigningKey::generate_p256(&mut rng());
    std::fs::write(&key_file, stranger.public_key().to_spki_pem()).unwrap();
    let (_v, tam, mut d, _b) = setup(
        matching_reference(),
        true,
        move |c| c.attestation.verifier_keys = vec![key_file],
        |_| {},
    )
    .await;
    expect_attestation_required(&tam, &mut d, now()).await;
    assert_refused(&tam, &d, "attestation result refused: no trusted key").await;
    tam.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_timestamp_is_refused() {
    let (_v, tam, mut d, _b) = setup(
        matching_reference(),
        true,
        |c| c.attestation.freshness = vec![FreshnessName::Timestamp],
        |_| {},
    )
    .await;
    // The Agent's clock is an hour behind: its Evidence's iat is outside the window.
    expect_attestation_required(&tam, &mut d, now() - 3600).await;
    assert_refused(&tam, &d, "iat is missing or outside the freshness window").await;

    // With a correct clock, timestamp freshness works.
    let sent = session(&tam, &mut d.agent, now()).await;
    assert_eq!(sent.len(), 2);
    let status = tam.admin.status(&d.kid).await.unwrap();
    assert!(status.attestation.unwrap().trusted);
    assert_eq!(status.components.len(), 1);
    tam.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecryptable_evidence_is_refused_and_encrypted_evidence_works() {
    let bogus = SigningKey::generate_p256(&mut rng()).public_key().to_spki_pem();
    let (_v, tam, mut d, _b) = setup(
        matching_reference(),
        true,
        |_| {},
        move |c| {
            c.attestation.encrypt = true;
            // The first P-256 key is the encryption recipient: not the TAM's.
            c.tams[0].public_keys.insert(0, bogus);
        },
    )
    .await;
    let query = tam.post(&[]).await.bytes().await.unwrap();
    let response = d.agent.handle(&query, now()).unwrap();
    assert_eq!(tam.post(&response).await.status(), 204);
    assert_refused(&tam, &d, "undecryptable encrypted EAT").await;
    tam.finish().await;

    // Encrypted to the TAM's own key: decrypted before appraisal, installed.
    let (_v, tam, mut d, _b) =
        setup(matching_reference(), true, |_| {}, |c| c.attestation.encrypt = true).await;
    let sent = session(&tam, &mut d.agent, now()).await;
    assert_eq!(sent.len(), 2);
    assert!(tam.admin.status(&d.kid).await.unwrap().attestation.unwrap().trusted);
    assert_eq!(d.agent.tc_list().len(), 1);
    tam.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_bound_to_another_agent_is_refused() {
    let (_v, tam, mut a, _b) = setup(matching_reference(), true, |_| {}, |_| {}).await;
    // Device B, enrolled too, forwards A's Evidence in its own signed QueryResponse.
    let b = device(&tam, |_| {}).await;
    let query = tam.post(&[]).await.bytes().await.unwrap();
    let from_a = a.agent.handle(&query, now()).unwrap();
    let sign1 = teep_cose::Sign1::decode(&from_a).unwrap();
    let message = Message::decode(sign1.payload.unwrap(), Numbering::Rfc).unwrap();
    let b_key =
        teep_agent::software::keys::read_private_key(&b.dir.path().join("agent-key.pem")).unwrap();
    let forged =
        teep_proto::seal_sign1(&message, Numbering::Rfc, &b_key, teep_cose::Algorithm::ESP256)
            .unwrap();
    let reply = tam.post(&forged).await;
    assert_eq!(reply.status(), 200);
    let Message::Update(update) = tam_message(&tam, &reply.bytes().await.unwrap()) else {
        panic!("expected Update")
    };
    assert_eq!(update.err_code, Some(ErrCode::ATTESTATION_REQUIRED));
    assert_refused(&tam, &b, "cnf does not name the key").await;
    assert!(a.agent.tc_list().is_empty());
    tam.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passport_model_result_is_accepted() {
    let (v, tam, mut d, _b) = setup(matching_reference(), true, |_| {}, |_| {}).await;
    // The Agent's side of the passport model, done by hand here: take the Evidence for the
    // TAM's challenge to the Verifier and present the Attestation Result instead.
    let query = tam.post(&[]).await.bytes().await.unwrap();
    let from_agent = d.agent.handle(&query, now()).unwrap();
    let sign1 = teep_cose::Sign1::decode(&from_agent).unwrap();
    let Message::QueryResponse(mut response) =
        Message::decode(sign1.payload.unwrap(), Numbering::Rfc).unwrap()
    else {
        panic!("expected QueryResponse")
    };
    let evidence = response.attestation_payload.take().unwrap();
    let challenge = teep_eat::peek(&evidence).unwrap().eat_nonce.unwrap();
    let client =
        teep_verifier::VerifierClient::new(&v.url, std::time::Duration::from_secs(5)).unwrap();
    let appraised =
        client.appraise(&challenge, teep_eat::EAT_CWT_MEDIA_TYPE, &evidence).await.unwrap();
    response.attestation_payload = Some(appraised.result);
    let key =
        teep_agent::software::keys::read_private_key(&d.dir.path().join("agent-key.pem")).unwrap();
    let passport = teep_proto::seal_sign1(
        &Message::QueryResponse(response),
        Numbering::Rfc,
        &key,
        teep_cose::Algorithm::ESP256,
    )
    .unwrap();

    let reply = tam.post(&passport).await;
    assert_eq!(reply.status(), 200);
    let update = reply.bytes().await.unwrap();
    let Message::Update(u) = tam_message(&tam, &update) else { panic!("expected Update") };
    assert_eq!(u.err_code, None);
    assert_eq!(u.manifest_list.as_ref().map(Vec::len), Some(1));
    let success = d.agent.handle(&update, now()).unwrap();
    assert_eq!(tam.post(&success).await.status(), 204);
    let status = tam.admin.status(&d.kid).await.unwrap();
    let attestation = status.attestation.unwrap();
    assert!(attestation.trusted);
    assert_eq!(attestation.model, "passport");
    assert_eq!(status.components.len(), 1);
    tam.finish().await;
}

/// A TAM with its own attester and no device attestation; the Agent requires attestation
/// of the TAM and trusts `trusted` (the TAM's attester key when `None`).
async fn tam_attestation_session(trusted: Option<String>) -> (TestTam, Device, Vec<Vec<u8>>) {
    let tam = TestTam::start_with(Db::Sqlite, |c| {
        c.attestation.tam_attester_key = Some("tam-attest.pem".into());
    })
    .await
    .unwrap();
    catalog(&tam).await;
    let config = tam.tam.config();
    let public = config.resolve(Path::new("tam-attest.pub.pem"));
    let tam_attester = std::fs::read_to_string(public).unwrap();
    let mut d = device(&tam, |c| {
        c.attestation.require_tam_attestation = true;
        c.attestation.tam_attester_keys = vec![trusted.unwrap_or(tam_attester)];
    })
    .await;
    let sent = session(&tam, &mut d.agent, now()).await;
    (tam, d, sent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_attests_the_tam_before_answering() {
    let (tam, d, sent) = tam_attestation_session(None).await;
    // Error (ERR_ATTESTATION_REQUIRED + challenge) -> QueryRequest with the TAM's EAT ->
    // QueryResponse -> Update -> Success.
    assert_eq!(sent.len(), 3);
    let first = teep_cose::Sign1::decode(&sent[0]).unwrap();
    let Message::Error(e) = Message::decode(first.payload.unwrap(), Numbering::Rfc).unwrap() else {
        panic!("expected Error")
    };
    assert_eq!(e.err_code, ErrCode::ATTESTATION_REQUIRED);
    assert_eq!(e.challenge.map(|c| c.len()), Some(32));
    assert_eq!(d.agent.tc_list().len(), 1);
    tam.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_refuses_an_untrusted_tam_attestation() {
    let stranger = SigningKey::generate_p256(&mut rng()).public_key().to_spki_pem();
    let (tam, d, sent) = tam_attestation_session(Some(stranger)).await;
    assert_eq!(sent.len(), 2, "challenge, then refusal");
    let status = tam.admin.status(&d.kid).await.unwrap();
    let msg = status.device.last_error_msg.unwrap_or_default();
    assert!(msg.contains("TAM attestation refused"), "{msg}");
    assert!(status.components.is_empty());
    assert!(d.agent.tc_list().is_empty());
    tam.finish().await;
}

/// A remediation component signed by the published example signer.
fn remediation_envelope() -> Vec<u8> {
    let pem = vector_text("teep-protocol/example-signer-private.pem");
    let signer = SigningKey::from_pkcs8_pem(&pem).unwrap();
    let part = |s: &str| s.as_bytes().to_vec();
    let component = teep_suit::ComponentId(vec![
        part("TEEP-Device"),
        part("SecureFS"),
        part("remediation"),
        part("ta"),
    ]);
    let manifest = teep_suit::ComponentId(vec![
        part("TEEP-Device"),
        part("SecureFS"),
        part("remediation"),
        part("suit"),
    ]);
    teep_suit::builder::ManifestBuilder::new(component, 1)
        .manifest_component_id(manifest)
        .vendor_id(hex::decode("c0ddd5f15243566087db4f5b0aa26c2f").unwrap())
        .class_id(hex::decode("db42f7093d8c55baa8c5265fc5820f4e").unwrap())
        .payload(teep_suit::builder::Payload::integrated(b"remediation TA".to_vec()))
        .sign(&signer, None)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_device_gets_only_remediation_components() {
    let (_v, tam, mut d, _b) = setup(matching_reference(), false, |_| {}, |_| {}).await;
    let row = tam.admin.add_tc(&remediation_envelope(), 1).await.unwrap();
    let remediation = teep_tam::ComponentKey::from_cbor(&row.component_id).unwrap();
    // Marking needs a catalog component.
    let unknown = teep_tam::ComponentKey::from_parts(&[b"nothing".to_vec()]).unwrap();
    assert!(tam.admin.set_remediation(&unknown, true, 1).await.is_err());
    tam.admin.set_remediation(&remediation, true, 1).await.unwrap();
    assert_eq!(tam.admin.remediation().await.unwrap(), std::slice::from_ref(&remediation));
    tam.admin.require(&PolicyTarget::AllDevices, &remediation, 0).await.unwrap();

    // The example TC is required too, but the untrusted device gets only remediation.
    let query = tam.post(&[]).await.bytes().await.unwrap();
    let response = d.agent.handle(&query, now()).unwrap();
    let reply = tam.post(&response).await;
    assert_eq!(reply.status(), 200);
    let update = reply.bytes().await.unwrap();
    let Message::Update(u) = tam_message(&tam, &update) else { panic!("expected Update") };
    assert_eq!(u.manifest_list.as_ref().map(Vec::len), Some(1));
    let success = d.agent.handle(&update, now()).unwrap();
    assert_eq!(tam.post(&success).await.status(), 204);
    let status = tam.admin.status(&d.kid).await.unwrap();
    let attestation = status.attestation.clone().unwrap();
    assert!(!attestation.trusted);
    assert!(attestation.reason.contains("no trusted key verified the signature"));
    let held: Vec<&[u8]> = status.components.iter().map(|c| c.component_id.as_slice()).collect();
    assert_eq!(held, [remediation.as_cbor()]);
    assert_eq!(d.agent.tc_list().len(), 1);
    assert!(status.events.iter().any(|e| e.kind == "remediation"), "{:?}", status.events);

    // With the remediation component in place nothing else is left: ERR_ATTESTATION_REQUIRED.
    expect_attestation_required(&tam, &mut d, now()).await;
    // Unmarked, it is no longer offered to untrusted devices.
    tam.admin.set_remediation(&remediation, false, 1).await.unwrap();
    assert!(tam.admin.remediation().await.unwrap().is_empty());
    tam.finish().await;
}
