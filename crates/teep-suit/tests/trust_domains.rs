//! Dependencies (draft-ietf-suit-trust-domains) and encrypted payloads
//! (draft-ietf-suit-firmware-encryption) on the published vectors.

mod common;

use common::*;
use teep_cose::{PublicKey, SigningKey};
use teep_suit::{
    ComponentId, DecryptionKey, MacKey, Options, Procedure, Reason, SuitError, TrustAnchors,
    process,
};

fn example_signer() -> TrustAnchors {
    let key = PublicKey::from_spki_pem(&pem("teep-protocol/example-signer-public.pem"))
        .expect("example signer key");
    TrustAnchors::new(vec![key])
}

fn suit_manifest_signer() -> TrustAnchors {
    let key = SigningKey::from_pkcs8_pem(&pem("suit-manifest/private_key.pem")).expect("key");
    TrustAnchors::new(vec![key.public_key()])
}

/// The device key of draft-ietf-teep-protocol Appendix E example 3 (also the receiver key
/// of the draft-ietf-suit-firmware-encryption examples).
fn device_key() -> SigningKey {
    let text = String::from_utf8(vector("teep-protocol/example-device-esdh-key.txt")).unwrap();
    let d = text.lines().find_map(|l| l.strip_prefix("d: ")).expect("d line");
    SigningKey::from_p256_scalar(&hex::decode(d.trim()).unwrap()).unwrap()
}

fn id(segments: &[&[u8]]) -> ComponentId {
    ComponentId::new(segments.iter().copied())
}

#[test]
fn dependency_fetched_by_uri_is_processed_after_integrity() {
    let depending = hex_vector("suit-trust-domains/example1_process.hex");
    let dependent = hex_vector("suit-trust-domains/example0_dependent.hex");
    let mut p = MemPlatform::teep_example();
    p.mirrors.insert("http://example.com/dependent.suit".into(), dependent.clone());
    let out = process(&mut p, &depending, &example_signer(), &Options::default())
        .unwrap_or_else(|f| panic!("{f}"));
    assert!(out.report.is_success());
    // The dependency wrote 'hello world' to ['00'], the root appended nothing to ['10'] but
    // wrote its own content; both manifests are recorded.
    assert_eq!(p.state.components.get(&id(&[b"00"])), Some(&b"hello world".to_vec()));
    assert_eq!(
        p.state.components.get(&id(&[b"10"])),
        Some(&b" in multiple trust domains".to_vec())
    );
    assert_eq!(p.state.components.get(&id(&[b"dependent.suit"])), Some(&dependent));
    assert!(p.state.manifests.contains_key(&id(&[b"dependent.suit"])));
    assert!(p.state.manifests.contains_key(&id(&[b"depending.suit"])));
}

#[test]
fn integrated_dependency_needs_compatibility_mode() {
    let env = hex_vector("suit-trust-domains/example2_integrated.hex");
    // Strict: process-dependency without dependency-integrity is refused.
    let mut p = MemPlatform::teep_example();
    let err = process(&mut p, &env, &example_signer(), &Options::default()).unwrap_err();
    assert_eq!(err.error, SuitError::DependencyNotVerified(1));
    assert_eq!(err.reason(), Reason::ConditionFailed);
    assert!(p.staged_is_empty() && p.state.components.is_empty());

    let mut p = MemPlatform::teep_example();
    let opts = Options { strict_dependencies: false, ..Options::default() };
    process(&mut p, &env, &example_signer(), &opts).unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(p.state.components.get(&id(&[b"00"])), Some(&b"hello world".to_vec()));
}

#[test]
fn untrusted_dependency_is_rejected_and_nothing_is_written() {
    let depending = hex_vector("suit-trust-domains/example1_process.hex");
    let dependent = hex_vector("suit-trust-domains/example0_dependent.hex");
    // The root is trusted, the dependency must be too: a trust store holding the root's key
    // only as a MAC key cannot authenticate the dependency's signature.
    let mut p = MemPlatform::teep_example();
    let mut bad = dependent.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1; // a byte of the dependency's install section
    p.mirrors.insert("http://example.com/dependent.suit".into(), bad);
    let err = process(&mut p, &depending, &example_signer(), &Options::default()).unwrap_err();
    // image-match on the dependency checks its wrapper digest against its manifest bytes.
    assert_eq!(err.error, SuitError::ManifestDigestMismatch);
    assert_eq!(err.reason(), Reason::Unauthorised);
    assert!(p.state.components.is_empty() && p.state.manifests.is_empty());
    assert!(p.staged_is_empty());
}

#[test]
fn platform_without_dependency_support_fails_cleanly() {
    let depending = hex_vector("suit-trust-domains/example1_process.hex");
    let dependent = hex_vector("suit-trust-domains/example0_dependent.hex");
    let mut p = MemPlatform::teep_example();
    p.dependencies = false;
    p.mirrors.insert("http://example.com/dependent.suit".into(), dependent);
    let err = process(&mut p, &depending, &example_signer(), &Options::default()).unwrap_err();
    assert_eq!(err.reason(), Reason::OperationFailed);
    assert!(p.state.components.is_empty());
}

#[test]
fn dependency_rollback_is_rejected() {
    let depending = hex_vector("suit-trust-domains/example1_process.hex");
    let dependent = hex_vector("suit-trust-domains/example0_dependent.hex");
    let mut p = MemPlatform::teep_example();
    p.state.manifests.insert(id(&[b"dependent.suit"]), (0, vec![]));
    p.mirrors.insert("http://example.com/dependent.suit".into(), dependent);
    let err = process(&mut p, &depending, &example_signer(), &Options::default()).unwrap_err();
    assert!(matches!(err.error, SuitError::Rollback { installed: 0, offered: 0 }));
    // The failing record points into the root's install section at the dependency index.
    if let teep_suit::ReportResult::Failure { record, .. } = &err.report.result {
        assert_eq!(record.section, 20);
    } else {
        panic!("failure report expected");
    }
}

#[test]
fn invoke_procedure_runs_the_dependency_invoke() {
    let depending = hex_vector("suit-trust-domains/example1_process.hex");
    let dependent = hex_vector("suit-trust-domains/example0_dependent.hex");
    let mut p = MemPlatform::teep_example();
    p.mirrors.insert("http://example.com/dependent.suit".into(), dependent);
    process(&mut p, &depending, &example_signer(), &Options::default()).unwrap();
    // The root's invoke section invokes component 0 (['10']); dependencies are not processed
    // from invoke in this example.
    let opts = Options { procedure: Procedure::Invoke, allow_invoke: true, ..Options::default() };
    process(&mut p, &depending, &example_signer(), &opts).unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(p.invoked, vec![id(&[b"10"])]);
}

const PERSONALIZATION_PLAINTEXT: &[u8] =
    br#"{"name":"FOO Bar","secret":"0123456789abfcdef0123456789abcd"}"#;

#[test]
fn teep_personalization_decrypts_config_with_device_key() {
    let env = hex_vector("teep-protocol/suit_personalization.hex.txt");
    let tc = hex_vector("teep-protocol/suit_uri.hex.txt");
    let mut p = MemPlatform::teep_example();
    p.keys.push(DecryptionKey::Ecdh { kid: None, key: Box::new(device_key()) });
    p.mirrors
        .insert("https://example.org/8d82573a-926d-4754-9353-32dc29997f74.suit".into(), tc.clone());
    p.mirrors.insert(
        "https://example.org/8d82573a-926d-4754-9353-32dc29997f74.ta".into(),
        vector("teep-protocol/8d82573a-926d-4754-9353-32dc29997f74.ta"),
    );
    let out = process(&mut p, &env, &example_signer(), &Options::teep_install())
        .unwrap_or_else(|f| panic!("{f}"));
    assert!(out.report.is_success());
    let config = id(&[b"TEEP-Device", b"SecureFS", b"config.json"]);
    assert_eq!(p.state.components.get(&config).map(Vec::as_slice), Some(PERSONALIZATION_PLAINTEXT));
    // The validate section's digest matches the decrypted plaintext.
    let digest = teep_suit::SuitDigest::sha256(PERSONALIZATION_PLAINTEXT);
    assert_eq!(
        hex::encode_upper(&digest.bytes),
        "8273468FB64BD84BB04825F8371744D952B751C73A60F455AF681E167726F116"
    );
    // The TC manifest it depends on was installed with it.
    let tc_id = ComponentId::new([
        &b"TEEP-Device"[..],
        b"SecureFS",
        &hex::decode("8D82573A926D4754935332DC29997F74").unwrap(),
        b"suit",
    ]);
    assert!(p.state.manifests.contains_key(&tc_id));

    // Without the device key nothing is installed.
    let mut p = MemPlatform::teep_example();
    p.mirrors.insert("https://example.org/8d82573a-926d-4754-9353-32dc29997f74.suit".into(), tc);
    p.mirrors.insert(
        "https://example.org/8d82573a-926d-4754-9353-32dc29997f74.ta".into(),
        vector("teep-protocol/8d82573a-926d-4754-9353-32dc29997f74.ta"),
    );
    let err = process(&mut p, &env, &example_signer(), &Options::teep_install()).unwrap_err();
    assert_eq!(err.error, SuitError::NoDecryptionKey);
    assert!(p.state.components.is_empty());
}

const FIRMWARE: &[u8] = b"This is a real firmware image.";

fn hex_file(name: &str) -> Vec<u8> {
    hex_vector(&format!("suit-encryption/{name}"))
}

#[test]
fn es_ecdh_write_decrypts_aes_gcm_content() {
    let env = hex_file("suit-manifest-es-ecdh-content.hex.signed");
    let mut p = MemPlatform::default();
    p.keys.push(DecryptionKey::Ecdh { kid: Some(b"kid-2".to_vec()), key: Box::new(device_key()) });
    process(&mut p, &env, &suit_manifest_signer(), &Options::default())
        .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(
        p.state.components.get(&id(&[b"decrypted-firmware"])).map(Vec::as_slice),
        Some(FIRMWARE)
    );

    // A key with another kid is not tried.
    let mut p = MemPlatform::default();
    p.keys.push(DecryptionKey::Ecdh { kid: Some(b"kid-9".to_vec()), key: Box::new(device_key()) });
    let err = process(&mut p, &env, &suit_manifest_signer(), &Options::default()).unwrap_err();
    assert_eq!(err.error, SuitError::NoDecryptionKey);
}

/// Candidate HMAC keys for the AES-KW examples (the draft's validation scripts use the
/// ASCII key below).
fn mac_trust() -> TrustAnchors {
    let mut t = TrustAnchors::new(vec![]);
    t.mac_keys.push(MacKey::new(b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec()));
    t
}

#[test]
fn aes_kw_fetch_then_copy_decrypts_with_mac_authentication() {
    let env = hex_file("suit-manifest-aes-kw.hex.signed");
    let mut p = MemPlatform::default();
    p.keys.push(DecryptionKey::KeyWrap {
        kid: Some(b"kid-1".to_vec()),
        key: zeroize::Zeroizing::new(b"aaaaaaaaaaaaaaaa".to_vec()),
    });
    p.mirrors.insert(
        "coaps://example.com/encrypted-firmware".into(),
        hex_file("encrypted-payload-aes-kw-aes-gcm.hex"),
    );
    match process(&mut p, &env, &mac_trust(), &Options::default()) {
        Ok(_) => assert_eq!(
            p.state.components.get(&id(&[b"plaintext-firmware"])).map(Vec::as_slice),
            Some(FIRMWARE)
        ),
        // The published MAC key is not part of the vectors: then at least the MAC is
        // checked and refused, before anything runs.
        Err(f) => {
            eprintln!("MAC not verified: {}", f.error);
            assert_eq!(f.reason(), Reason::Unauthorised, "{}", f.error);
            assert!(p.state.components.is_empty() && p.fetches.is_empty());
        }
    }
}
