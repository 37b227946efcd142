//! Security domains end to end (docs/security-domains.md): a TAM installs signer A's Trusted
//! Component in A's domain on a real software-TEE Agent over loopback HTTP; signer B's
//! manifest that overwrites A's component is refused by the Agent with SUIT_Report reason 7
//! and changes nothing; the TAM's device view shows the domains.

mod common;

use common::{Db, TestTam};
use teep_cose::SigningKey;
use teep_suit::builder::{Dependency, ManifestBuilder, Payload};
use teep_suit::domain::SECURITY_DOMAIN_PREFIX;
use teep_suit::{ComponentId, SignerId};
use teep_tam::{ComponentKey, PolicyTarget, Wire};

const VENDOR: &str = "c0ddd5f15243566087db4f5b0aa26c2f";
const CLASS: &str = "db42f7093d8c55baa8c5265fc5820f4e";

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Broker-style relay between the TAM and the Agent until the TAM answers 204.
async fn session(tam: &TestTam, agent: &mut teep_agent::software::SoftwareAgent) {
    let mut body = Vec::new();
    for _ in 0..8 {
        let reply = tam.post(&body).await;
        if reply.status() == 204 {
            return;
        }
        assert_eq!(reply.status(), 200);
        let message = reply.bytes().await.unwrap();
        body = agent.handle(&message, now()).unwrap();
        if body.is_empty() {
            return;
        }
    }
    panic!("session did not end");
}

fn builder(component: ComponentId, id: ComponentId, body: &[u8]) -> ManifestBuilder {
    ManifestBuilder::new(component, 1)
        .manifest_component_id(id)
        .vendor_id(hex::decode(VENDOR).unwrap())
        .class_id(hex::decode(CLASS).unwrap())
        .payload(Payload::integrated(body.to_vec()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tam_installs_into_a_domain_and_another_signer_cannot_overwrite_it() {
    let Some(tam) = TestTam::start(Db::Sqlite).await else { return };
    let (a, b) = (SigningKey::generate_p256(&mut rng()), SigningKey::generate_p256(&mut rng()));
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::real_agent_config(&tam);
    config.tc_signers = vec![a.public_key().to_spki_pem(), b.public_key().to_spki_pem()];
    let options = teep_agent::software::InitOptions { config, ..Default::default() };
    let initialized = teep_agent::software::init(dir.path(), &options).unwrap();
    let mut agent = teep_agent::software::open(dir.path()).unwrap();
    let admin = &tam.admin;
    admin.enroll_device(initialized.public_key_pem.as_bytes(), None, Wire::Rfc, 1).await.unwrap();
    admin.add_signer("bank", a.public_key().to_spki_pem().as_bytes(), 1).await.unwrap();
    admin.add_signer("shop", b.public_key().to_spki_pem().as_bytes(), 1).await.unwrap();

    // A's domain manifest and A's TC in it.
    let sd = ComponentId::new([SECURITY_DOMAIN_PREFIX, &b"bank"[..]]);
    let sd_config = ComponentId::new([SECURITY_DOMAIN_PREFIX, &b"bank"[..], b"config"]);
    let sd_env = builder(sd_config, sd.clone(), b"bank domain").sign(&a, None).unwrap();
    let ta = ComponentId::new([&b"TEEP-Device"[..], b"SecureFS", b"bank", b"ta"]);
    let tc = ComponentId::new([&b"TEEP-Device"[..], b"SecureFS", b"bank", b"suit"]);
    let tc_env = builder(ta.clone(), tc.clone(), b"bank ta")
        .dependency(Dependency { envelope: sd_env.clone(), prefix: None, uri: None })
        .sign(&a, None)
        .unwrap();
    admin.add_tc(&sd_env, 1).await.unwrap();
    admin.add_tc(&tc_env, 1).await.unwrap();
    let tc_key = ComponentKey::from_parts(tc.segments()).unwrap();
    admin.require(&PolicyTarget::AllDevices, &tc_key, 0).await.unwrap();
    session(&tam, &mut agent).await;
    assert!(agent.platform().manifest(&tc).is_some() && agent.platform().manifest(&sd).is_some());

    // The TAM's device view: the TC and the domain manifest (tc-list lists both), in A's
    // domain, owned by A's key.
    session(&tam, &mut agent).await;
    let status = admin.status(&initialized.kid).await.unwrap();
    let domains =
        teep_tam::domains::device_domains(admin.store(), &status.components).await.unwrap();
    assert_eq!(domains.len(), 2, "{:?}", status.components);
    let owner_a = a.public_key().thumbprint().to_vec();
    for d in &domains {
        assert_eq!((d.signer.as_deref(), d.owner.as_ref()), (Some("bank"), Some(&owner_a)));
        assert_eq!(d.domain.as_ref(), Some(&sd));
    }

    // B's manifest overwriting A's component: the Agent refuses it with reason 7.
    let before = std::fs::read(agent.platform().image_path(&ta)).unwrap();
    let evil_id = ComponentId::new([&b"TEEP-Device"[..], b"SecureFS", b"shop", b"suit"]);
    let evil = builder(ta.clone(), evil_id.clone(), b"evil").sign(&b, None).unwrap();
    admin.add_tc(&evil, 1).await.unwrap();
    let evil_key = ComponentKey::from_parts(evil_id.segments()).unwrap();
    admin.require(&PolicyTarget::AllDevices, &evil_key, 0).await.unwrap();
    session(&tam, &mut agent).await;
    let failed = agent.last_update().iter().any(|o| {
        matches!(o, teep_agent::ItemOutcome::Failed { reason } if reason.contains("unauthorized SUIT component"))
    });
    assert!(failed, "{:?}", agent.last_update());
    assert!(agent.platform().manifest(&evil_id).is_none());
    assert_eq!(std::fs::read(agent.platform().image_path(&ta)).unwrap(), before);
    let a_id = SignerId(a.public_key().thumbprint());
    assert_eq!(agent.platform().component_owners(&ta), vec![a_id]);
    let reports = admin.store().reports(&initialized.kid, 5).await.unwrap();
    assert!(!reports.is_empty(), "the SUIT report of the refusal reached the TAM");
    tam.finish().await;
}

fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}
