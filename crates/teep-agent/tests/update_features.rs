//! The Agent's Update handling on the software TEE: rollback protection across uninstall,
//! dependency manifests with reference counts, encrypted payloads with the device key,
//! signed SUIT reports, and the state-directory lock.

mod common;

use common::*;
use teep_proto::{ErrCode, Message, Numbering};
use teep_suit::ComponentId;
use teep_suit::builder::{ManifestBuilder, Payload};

const TOKEN: &[u8] = b"token-0123456789";

fn outcome(agent: &teep_agent::software::SoftwareAgent, reply: &[u8]) -> Message {
    open_response(reply, &agent.public_key(), Numbering::Rfc)
}

fn is_success(msg: &Message) -> bool {
    matches!(msg, Message::Success(_))
}

fn is_processing_error(msg: &Message) -> bool {
    matches!(msg, Message::Error(e) if e.err_code == ErrCode::MANIFEST_PROCESSING_FAILED)
}

#[test]
fn replayed_update_after_delete_is_a_rollback() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let signer = teep_cose::SigningKey::generate_p256(&mut rng());
    let mut cfg = config(&tam, vec![]);
    cfg.tc_signers.push(signer.public_key().to_spki_pem());
    let mut agent = agent_in(dir.path(), cfg);

    let component = ComponentId::new([&b"TEEP-Device"[..], b"SecureFS", b"app", b"ta"]);
    let build = |seq: u64, body: &[u8]| {
        ManifestBuilder::new(component.clone(), seq)
            .vendor_id(hex::decode(VENDOR_ID).expect("hex"))
            .class_id(hex::decode(CLASS_ID).expect("hex"))
            .payload(Payload::integrated(body.to_vec()))
            .sign(&signer, None)
            .expect("build")
    };
    let three = build(3, b"three");
    let reply = agent.handle(&tam.update(TOKEN, vec![three.clone()], vec![]), 0).expect("v3");
    assert!(is_success(&outcome(&agent, &reply)));
    let manifest_id = agent.tc_list()[0].component_id.clone();

    // Delete it through unneeded-manifest-list.
    let reply = agent.handle(&tam.update(TOKEN, vec![], vec![manifest_id.0.clone()]), 0);
    assert!(is_success(&outcome(&agent, &reply.expect("delete"))));
    assert!(agent.tc_list().is_empty());
    assert!(agent.unneeded().is_empty());

    // The captured Update replayed, also after a restart: refused, nothing installed.
    for restart in [false, true] {
        if restart {
            drop(agent);
            agent = teep_agent::software::open(dir.path()).expect("reopen");
        }
        let reply = agent.handle(&tam.update(TOKEN, vec![three.clone()], vec![]), 0);
        let msg = outcome(&agent, &reply.expect("replay"));
        assert!(is_processing_error(&msg), "{msg:?}");
        assert!(agent.tc_list().is_empty());
        assert!(agent.platform().images().next().is_none());
    }
    // A lower number too; a higher one installs.
    let reply = agent.handle(&tam.update(TOKEN, vec![build(2, b"two")], vec![]), 0);
    assert!(is_processing_error(&outcome(&agent, &reply.expect("v2"))));
    let reply = agent.handle(&tam.update(TOKEN, vec![build(4, b"four")], vec![]), 0);
    assert!(is_success(&outcome(&agent, &reply.expect("v4"))));
    assert_eq!(agent.platform().installed_sequence_numbers(), vec![4]);
}

const PERSONALIZATION_PLAINTEXT: &[u8] =
    br#"{"name":"FOO Bar","secret":"0123456789abfcdef0123456789abcd"}"#;
const TC_UUID: &str = "8d82573a-926d-4754-9353-32dc29997f74";

/// The device key of draft-ietf-teep-protocol Appendix E example 3, from its x/y/d text.
fn example_device_key() -> teep_cose::SigningKey {
    let text = std::fs::read_to_string(vector("teep-protocol/example-device-esdh-key.txt"))
        .expect("device key vector");
    let field = |name: &str| {
        let line = text.lines().find_map(|l| l.strip_prefix(name)).expect("key line");
        hex::decode(line.trim()).expect("hex")
    };
    let key = teep_cose::SigningKey::from_p256_scalar(&field("d: ")).expect("scalar");
    let public =
        teep_cose::PublicKey::from_p256_coordinates(&field("x: "), &field("y: ")).expect("point");
    assert_eq!(key.public_key().thumbprint(), public.thumbprint(), "x/y match d");
    key
}

/// A payload directory standing in for https://example.org/: the published TC manifest
/// (suit_uri) under the name the personalization manifest fetches, and its TA binary.
fn example_org_mirror(dir: &std::path::Path) -> teep_agent::software::config::Mirror {
    std::fs::write(
        dir.join(format!("{TC_UUID}.suit")),
        hex_vector("teep-protocol/suit_uri.hex.txt"),
    )
    .expect("write suit");
    std::fs::copy(
        vector(&format!("teep-protocol/{TC_UUID}.ta")),
        dir.join(format!("{TC_UUID}.ta")),
    )
    .expect("copy ta");
    teep_agent::software::config::Mirror {
        prefix: "https://example.org/".into(),
        target: format!("file://{}/", dir.display()),
    }
}

fn personalization_agent(
    dir: &std::path::Path,
    tam: &Tam,
    mirror: teep_agent::software::config::Mirror,
    device_key: Option<&teep_cose::SigningKey>,
) -> teep_agent::software::SoftwareAgent {
    use teep_agent::software::{config::ReportProtection, init};
    let mut cfg = config(tam, vec![mirror]);
    cfg.reports.protect = ReportProtection::Sign;
    init::init(dir, &init::InitOptions { config: cfg, ..Default::default() }).expect("init");
    if let Some(key) = device_key {
        init::set_device_key(dir, key).expect("device key");
    }
    teep_agent::software::open(dir).expect("open")
}

fn config_json() -> ComponentId {
    ComponentId::new([&b"TEEP-Device"[..], b"SecureFS", b"config.json"])
}

fn tc_manifest_id() -> ComponentId {
    let uuid = hex::decode("8D82573A926D4754935332DC29997F74").expect("hex");
    ComponentId::new([&b"TEEP-Device"[..], b"SecureFS", &uuid, b"suit"])
}

#[test]
fn teep_personalization_installs_with_its_dependency_and_decrypts_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let payloads = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let mirror = example_org_mirror(payloads.path());
    let mut agent = personalization_agent(dir.path(), &tam, mirror, Some(&example_device_key()));

    let envelope = hex_vector("teep-protocol/suit_personalization.hex.txt");
    let reply = agent.handle(&tam.update(TOKEN, vec![envelope], vec![]), 0).expect("reply");
    let msg = outcome(&agent, &reply);
    let Message::Success(success) = &msg else { panic!("expected Success, got {msg:?}") };

    // config.json holds the decrypted plaintext, whose digest the validate section checked.
    let tee = agent.platform();
    let image = tee.image(&config_json()).expect("config.json installed");
    let plain_digest = teep_suit::SuitDigest::sha256(PERSONALIZATION_PLAINTEXT);
    assert_eq!(
        hex::encode_upper(&plain_digest.bytes),
        "8273468FB64BD84BB04825F8371744D952B751C73A60F455AF681E167726F116"
    );
    assert_eq!(image.sha256.as_slice(), plain_digest.bytes.as_slice());
    assert_eq!(tee.read_image(&config_json()).expect("read"), PERSONALIZATION_PLAINTEXT);

    // The dependency (the TC manifest) was committed with it, holds the TA, shows in tc-list
    // and is referenced once, by config.suit.
    let root = ComponentId::new([&b"TEEP-Device"[..], b"SecureFS", b"config.suit"]);
    let tc = tee.manifest(&tc_manifest_id()).expect("dependency record");
    assert!(!tc.root);
    assert_eq!(tee.manifest(&root).map(|m| m.dependencies.clone()), Some(vec![tc_manifest_id()]));
    assert_eq!(tee.reference_count(&tc_manifest_id()), 1);
    let ta = std::fs::read(vector(&format!("teep-protocol/{TC_UUID}.ta"))).expect("ta");
    let ta_id = tc.components.first().expect("ta component").clone();
    assert_eq!(tee.read_image(&ta_id).expect("ta image"), ta);
    let ids: Vec<_> = agent.tc_list().into_iter().map(|c| c.component_id.0).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&root.0) && ids.contains(&tc_manifest_id().0), "{ids:?}");

    // The SUIT report is signed with the report key (not the TEEP key) and carries the token.
    let reports = success.suit_reports.as_ref().expect("suit-reports");
    assert_eq!(reports.len(), 1);
    let pem = std::fs::read_to_string(dir.path().join("report-key.pub.pem")).expect("report pub");
    let report_key = teep_cose::PublicKey::from_spki_pem(&pem).expect("report key");
    assert_ne!(report_key.thumbprint(), agent.public_key().thumbprint());
    let report = teep_suit::SuitReport::open_sign1(&reports[0], &report_key).expect("signed");
    assert!(report.is_success());
    assert_eq!(report.nonce.as_deref(), Some(TOKEN));
    assert!(teep_suit::SuitReport::open_sign1(&reports[0], &agent.public_key()).is_err());

    // Reopened: the same state. Then removing config.suit removes the unreferenced dependency
    // and every image, in one commit; the sequence numbers stay as rollback marks.
    drop(agent);
    let mut agent = teep_agent::software::open(dir.path()).expect("reopen");
    assert_eq!(agent.platform().reference_count(&tc_manifest_id()), 1);
    let reply = agent.handle(&tam.update(TOKEN, vec![], vec![root.0.clone()]), 0);
    assert!(is_success(&outcome(&agent, &reply.expect("delete"))));
    assert!(agent.tc_list().is_empty());
    assert!(agent.platform().images().next().is_none(), "no image left");
    assert_eq!(agent.platform().reference_count(&tc_manifest_id()), 0);
    let left = files(dir.path(), "manifests");
    assert!(left.iter().all(|f| f.ends_with(".seq") || f == "store.index"), "{left:?}");
}

#[test]
fn personalization_without_the_device_key_installs_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let payloads = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let mirror = example_org_mirror(payloads.path());
    // init generated a device key of its own: not the one the payload was encrypted to.
    let mut agent = personalization_agent(dir.path(), &tam, mirror, None);
    let envelope = hex_vector("teep-protocol/suit_personalization.hex.txt");
    let reply = agent.handle(&tam.update(TOKEN, vec![envelope], vec![]), 0).expect("reply");
    let msg = outcome(&agent, &reply);
    assert!(is_processing_error(&msg), "{msg:?}");
    // The failure report is signed too.
    let Message::Error(e) = &msg else { unreachable!() };
    let pem = std::fs::read_to_string(dir.path().join("report-key.pub.pem")).expect("report pub");
    let report_key = teep_cose::PublicKey::from_spki_pem(&pem).expect("report key");
    let reports = e.suit_reports.as_ref().expect("suit-reports");
    let report = teep_suit::SuitReport::open_sign1(&reports[0], &report_key).expect("signed");
    assert!(!report.is_success());
    assert!(agent.tc_list().is_empty());
    assert!(agent.platform().images().next().is_none());
    assert!(files(dir.path(), "manifests").is_empty());
}

#[test]
fn a_second_agent_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let agent = agent_in(dir.path(), config(&tam, vec![]));
    let Err(err) = teep_agent::software::open(dir.path()) else {
        panic!("a second open must fail while the first Agent runs")
    };
    assert_eq!(err.to_string(), format!("another Agent is using {}", dir.path().display()));
    drop(agent);
    teep_agent::software::open(dir.path()).expect("the lock is released with the Agent");
}

#[tokio::test]
async fn bind_refuses_a_live_socket_and_replaces_a_stale_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("agent.sock");
    let live = teep_agent::ipc::bind(&path).expect("bind");
    let err = teep_agent::ipc::bind(&path).expect_err("the live socket must not be stolen");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    // The first listener still owns the path: a client reaches it.
    let client = std::os::unix::net::UnixStream::connect(&path);
    assert!(client.is_ok());
    drop(live);
    // The socket file is left behind by the closed listener: stale, so it is replaced.
    assert!(path.exists());
    teep_agent::ipc::bind(&path).expect("stale socket replaced");
    // Something that is not a socket is never removed.
    let plain = dir.path().join("plain");
    std::fs::write(&plain, b"x").expect("write");
    assert!(teep_agent::ipc::bind(&plain).is_err());
    assert_eq!(std::fs::read(&plain).expect("still there"), b"x");
}

#[test]
fn reports_can_be_encrypted_to_the_tam() {
    use teep_agent::software::{config::ReportProtection, init};
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let mut cfg = config(&tam, vec![]);
    cfg.reports.protect = ReportProtection::Encrypt;
    cfg.reports.encrypt_to = Some(tam.public_pem());
    init::init(dir.path(), &init::InitOptions { config: cfg, ..Default::default() }).expect("init");
    let mut agent = teep_agent::software::open(dir.path()).expect("open");

    let envelope = hex_vector("teep-protocol/suit_integrated.hex.txt");
    let reply = agent.handle(&tam.update(TOKEN, vec![envelope], vec![]), 0).expect("reply");
    let msg = outcome(&agent, &reply);
    let Message::Success(s) = &msg else { panic!("expected Success, got {msg:?}") };
    let reports = s.suit_reports.as_ref().expect("suit-reports");
    let pem = std::fs::read_to_string(dir.path().join("report-key.pub.pem")).expect("report pub");
    let report_key = teep_cose::PublicKey::from_spki_pem(&pem).expect("report key");
    let report = teep_suit::SuitReport::open_encrypted(&reports[0], &tam.key, &report_key)
        .expect("decrypts for the TAM and verifies");
    assert!(report.is_success());
    assert_eq!(report.nonce.as_deref(), Some(TOKEN));
    // Neither readable as plain nor as merely signed.
    assert!(teep_suit::SuitReport::decode(&reports[0]).is_err());
    assert!(teep_suit::SuitReport::open_sign1(&reports[0], &report_key).is_err());
}

#[test]
fn payload_encrypted_with_a_key_wrap_key_installs_with_that_key_only() {
    use teep_agent::software::init;
    let tam = Tam::new();
    let signer = teep_cose::SigningKey::generate_p256(&mut rng());
    let component = ComponentId::new([&b"TEEP-Device"[..], b"SecureFS", b"kw", b"ta"]);
    let kek = [0x5a; 16];
    let plaintext = b"secret trusted application".to_vec();
    let envelope = ManifestBuilder::new(component.clone(), 1)
        .vendor_id(hex::decode(VENDOR_ID).expect("hex"))
        .class_id(hex::decode(CLASS_ID).expect("hex"))
        .payload(Payload::integrated(plaintext.clone()))
        .encrypt_with_kek(&mut rng(), &kek, Some(b"kid-kw"), teep_cose::Algorithm::A128GCM)
        .expect("encrypt")
        .sign(&signer, None)
        .expect("sign");
    assert!(!envelope.windows(plaintext.len()).any(|w| w == plaintext), "payload encrypted");

    for (keys, installs) in [
        (vec![], false),
        (vec![(&b"kid-other"[..], [0x5a; 16])], false),
        (vec![(&b"kid-kw"[..], kek)], true),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = config(&tam, vec![]);
        cfg.tc_signers.push(signer.public_key().to_spki_pem());
        init::init(dir.path(), &init::InitOptions { config: cfg, ..Default::default() })
            .expect("init");
        for (kid, key) in &keys {
            init::add_keywrap_key(dir.path(), Some(kid), key).expect("add key");
        }
        let mut agent = teep_agent::software::open(dir.path()).expect("open");
        let reply = agent.handle(&tam.update(TOKEN, vec![envelope.clone()], vec![]), 0);
        let msg = outcome(&agent, &reply.expect("reply"));
        assert_eq!(is_success(&msg), installs, "{keys:?}: {msg:?}");
        let image =
            agent.platform().image(&component).map(|_| agent.platform().read_image(&component));
        match image {
            Some(bytes) => assert_eq!(bytes.expect("read"), plaintext),
            None => assert!(!installs),
        }
    }
}

#[test]
fn manifests_authenticated_by_hmac_need_the_shared_key() {
    use teep_agent::software::init;
    let tam = Tam::new();
    let component = ComponentId::new([&b"TEEP-Device"[..], b"SecureFS", b"mac", b"ta"]);
    let mac_key = [0x42; 32];
    let envelope = ManifestBuilder::new(component.clone(), 1)
        .vendor_id(hex::decode(VENDOR_ID).expect("hex"))
        .class_id(hex::decode(CLASS_ID).expect("hex"))
        .payload(Payload::integrated(b"mac'd".to_vec()))
        .sign_mac(&mac_key, None)
        .expect("mac");
    for (key, installs) in [(None, false), (Some([0x43; 32]), false), (Some(mac_key), true)] {
        let dir = tempfile::tempdir().expect("tempdir");
        init::init(
            dir.path(),
            &init::InitOptions { config: config(&tam, vec![]), ..Default::default() },
        )
        .expect("init");
        if let Some(key) = key {
            init::add_tc_mac_key(dir.path(), None, &key).expect("add key");
        }
        assert!(init::add_tc_mac_key(dir.path(), None, &[1; 16]).is_err(), "short MAC key");
        let mut agent = teep_agent::software::open(dir.path()).expect("open");
        let reply = agent.handle(&tam.update(TOKEN, vec![envelope.clone()], vec![]), 0);
        let msg = outcome(&agent, &reply.expect("reply"));
        assert_eq!(is_success(&msg), installs, "{msg:?}");
        assert_eq!(agent.platform().image(&component).is_some(), installs);
    }
}
