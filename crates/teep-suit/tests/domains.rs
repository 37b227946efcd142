//! Security domains in the processor (feature `std`): which authority the platform is told
//! about for root and dependency manifests, refusals reported as reason 7, and re-processing
//! an installed dependency.

#![cfg(feature = "std")]

mod common;

use common::*;
use teep_cose::SigningKey;
use teep_suit::builder::{Dependency, ManifestBuilder, Payload};
use teep_suit::domain::SECURITY_DOMAIN_PREFIX;
use teep_suit::{
    Authority, ComponentId, MacKey, Options, Reason, SignerId, SuitError, TrustAnchors, process,
    uninstall, uninstall_with,
};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_ed25519_seed(&[seed; 32])
}

fn signer(key: &SigningKey) -> SignerId {
    SignerId(key.public_key().thumbprint())
}

fn sd(name: &str) -> ComponentId {
    ComponentId::new([SECURITY_DOMAIN_PREFIX, name.as_bytes()])
}

fn builder(component: &str, seq: u64) -> ManifestBuilder {
    ManifestBuilder::new(ComponentId::new([component.as_bytes(), b"img"]), seq)
        .vendor_id(VENDOR_ID.to_vec())
        .class_id(CLASS_ID.to_vec())
        .payload(Payload::integrated(component.as_bytes().to_vec()))
}

fn domain_envelope(name: &str, seq: u64, key: &SigningKey) -> Vec<u8> {
    builder(name, seq).manifest_component_id(sd(name)).sign(key, None).expect("domain")
}

fn tc_in(domains: &[Vec<u8>], key: &SigningKey) -> Vec<u8> {
    let mut b = builder("tc", 1).manifest_component_id(ComponentId::new([b"tc"]));
    for envelope in domains {
        b = b.dependency(Dependency { envelope: envelope.clone(), prefix: None, uri: None });
    }
    b.sign(key, None).expect("tc")
}

#[test]
fn the_platform_hears_the_root_the_dependency_and_the_root_again() {
    let a = key(1);
    let trust = TrustAnchors::new(vec![a.public_key()]);
    let mut p = MemPlatform::teep_example();
    let tc = tc_in(&[domain_envelope("bank", 1, &a)], &a);
    process(&mut p, &tc, &trust, &Options::teep_install()).unwrap_or_else(|f| panic!("{f}"));

    let root = Authority {
        signer: signer(&a),
        manifest_id: ComponentId::new([b"tc"]),
        domain: Some(sd("bank")),
        processed_by: None,
    };
    let dependency = Authority {
        signer: signer(&a),
        manifest_id: sd("bank"),
        domain: Some(sd("bank")),
        processed_by: Some(signer(&a)),
    };
    // The dependency is processed once in suit-install (the builder's
    // dependency-resolution only fetches and checks it).
    assert_eq!(p.authorities, vec![Some(root.clone()), Some(dependency), Some(root)]);
    assert_eq!(p.commits, 1);
}

#[test]
fn a_refused_dependency_is_reason_7_and_commits_nothing() {
    let (a, b) = (key(1), key(2));
    let trust = TrustAnchors::new(vec![a.public_key(), b.public_key()]);
    let mut p = MemPlatform::teep_example();
    p.isolate_signers = true;
    let tc = tc_in(&[domain_envelope("bank", 1, &b)], &a);
    let failure = process(&mut p, &tc, &trust, &Options::teep_install()).unwrap_err();
    assert_eq!(failure.error, SuitError::Platform(teep_suit::PlatformError::Unauthorized));
    assert_eq!(failure.reason(), Reason::ComponentUnauthorised);
    assert_eq!(failure.reason().code(), 7);
    assert_eq!((p.commits, p.aborts), (0, 1));
    assert!(p.staged_is_empty() && p.state.manifests.is_empty());
    assert!(p.state.components.is_empty());
    // After the refusal the root's authority was restored before the abort.
    assert_eq!(p.authorities.last().cloned().flatten().map(|a| a.processed_by), Some(None));
}

#[test]
fn a_manifest_may_name_only_one_domain() {
    let a = key(1);
    let trust = TrustAnchors::new(vec![a.public_key()]);
    let mut p = MemPlatform::teep_example();
    let tc = tc_in(&[domain_envelope("bank", 1, &a), domain_envelope("shop", 1, &a)], &a);
    let failure = process(&mut p, &tc, &trust, &Options::teep_install()).unwrap_err();
    assert_eq!(failure.error, SuitError::Malformed("a manifest may name only one security domain"));
    assert!(p.authorities.is_empty() && p.state.manifests.is_empty());
}

#[test]
fn an_installed_dependency_may_be_processed_again_but_not_replaced_at_its_number() {
    let a = key(1);
    let trust = TrustAnchors::new(vec![a.public_key()]);
    let mut p = MemPlatform::teep_example();
    let bank = domain_envelope("bank", 3, &a);
    process(&mut p, &bank, &trust, &Options::teep_install()).unwrap_or_else(|f| panic!("{f}"));
    // A TC joining the installed domain processes the same manifest again.
    process(&mut p, &tc_in(&[bank], &a), &trust, &Options::teep_install())
        .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(p.commits, 2);

    // Another manifest with the installed number is still a rollback.
    let other = builder("bank", 3)
        .manifest_component_id(sd("bank"))
        .payload(Payload::integrated(b"other content".to_vec()))
        .sign(&a, None)
        .expect("other");
    let tc = builder("tc", 2)
        .manifest_component_id(ComponentId::new([b"tc"]))
        .dependency(Dependency { envelope: other, prefix: None, uri: None })
        .sign(&a, None)
        .expect("tc");
    let failure = process(&mut p, &tc, &trust, &Options::teep_install()).unwrap_err();
    assert_eq!(failure.error, SuitError::Rollback { installed: 3, offered: 3 });
}

#[test]
fn removals_run_under_the_installed_signer_or_none() {
    let a = key(1);
    let trust = TrustAnchors::new(vec![a.public_key()]);
    let mut p = MemPlatform::teep_example();
    let tc = tc_in(&[], &a);
    process(&mut p, &tc, &trust, &Options::teep_install()).unwrap_or_else(|f| panic!("{f}"));
    let id = ComponentId::new([b"tc"]);
    uninstall_with(&mut p, &id, &trust, &Options::teep_install()).expect("uninstall");
    let last = p.authorities.last().cloned().flatten().expect("authority");
    assert_eq!((last.signer, last.domain), (signer(&a), None));

    process(
        &mut p,
        &builder("tc", 2).manifest_component_id(id.clone()).sign(&a, None).unwrap(),
        &trust,
        &Options::teep_install(),
    )
    .unwrap_or_else(|f| panic!("{f}"));
    uninstall(&mut p, &id).expect("uninstall without manifest");
    assert_eq!(p.authorities.last(), Some(&None));
}

#[test]
fn a_mac_authenticated_manifest_is_owned_by_its_key_thumbprint() {
    let secret = [9u8; 32];
    let trust = TrustAnchors::new(vec![key(1).public_key()]).with_mac_key(MacKey::new(secret));
    let mut p = MemPlatform::teep_example();
    let env = builder("tc", 1).sign_mac(&secret, None).expect("mac");
    process(&mut p, &env, &trust, &Options::teep_install()).unwrap_or_else(|f| panic!("{f}"));
    let first = p.authorities.first().cloned().flatten().expect("authority");
    assert_eq!(first.signer, SignerId::of_symmetric_key(&secret));
}
