//! Builder round trips: build -> sign -> authenticate -> process (feature `std`).

#![cfg(feature = "std")]

mod common;

use common::*;
use teep_cose::SigningKey;
use teep_suit::builder::{ManifestBuilder, Payload};
use teep_suit::{ComponentId, Envelope, Options, SuitError, TrustAnchors, process};

fn ta() -> ComponentId {
    ComponentId::new([&b"TEEP-Device"[..], b"SecureFS", &[0x8d; 16], b"ta"])
}

fn suit_id() -> ComponentId {
    ComponentId::new([&b"TEEP-Device"[..], b"SecureFS", &[0x8d; 16], b"suit"])
}

fn builder(seq: u64, payload: Payload) -> ManifestBuilder {
    ManifestBuilder::new(ta(), seq)
        .manifest_component_id(suit_id())
        .vendor_id(VENDOR_ID)
        .class_id(CLASS_ID)
        .payload(payload)
        .description("test TC")
}

#[test]
fn integrated_round_trip_p256_and_ed25519() {
    for key in [example_signing_key(), SigningKey::from_ed25519_seed(&[3; 32])] {
        let trust = TrustAnchors::new(vec![key.public_key()]);
        for tagged in [false, true] {
            let env = builder(4, Payload::integrated(b"new TC".to_vec()))
                .tagged(tagged)
                .sign(&key, None)
                .expect("sign");
            assert_eq!(Envelope::decode(&env).expect("decode").is_tagged(), tagged);
            let mut p = MemPlatform::teep_example();
            let out = process(&mut p, &env, &trust, &Options::teep_install()).expect("install");
            assert_eq!(out.manifest_id, suit_id());
            assert_eq!(out.sequence_number, 4);
            assert_eq!(p.state.components.get(&ta()).map(Vec::as_slice), Some(&b"new TC"[..]));
        }
    }
}

#[test]
fn uri_round_trip_streams_from_mirror() {
    let payload = vec![0x5a; 100_000];
    let key = example_signing_key();
    let env = builder(1, Payload::uri_for("https://tc.invalid/big.ta", &payload))
        .sign(&key, None)
        .expect("sign");
    let mut p = MemPlatform::teep_example();
    p.mirrors.insert("https://tc.invalid/big.ta".into(), payload.clone());
    let trust = TrustAnchors::new(vec![key.public_key()]);
    let opts = Options { chunk_size: 4096, ..Options::teep_install() };
    process(&mut p, &env, &trust, &opts).expect("install");
    assert_eq!(p.state.components.get(&ta()), Some(&payload));
}

#[test]
fn updates_the_published_example_tc() {
    // The demo flow: install the published example (seq 3), then a builder-made update (seq 4)
    // signed with the same example key.
    let key = example_signing_key();
    let trust = TrustAnchors::new(vec![key.public_key()]);
    let mut p = MemPlatform::teep_example();
    let original = hex_vector("teep-protocol/suit_integrated.hex.txt");
    process(&mut p, &original, &trust, &Options::teep_install()).expect("v3");

    let uuid = hex::decode("8D82573A926D4754935332DC29997F74").unwrap();
    let ta = ComponentId::new([&b"TEEP-Device"[..], b"SecureFS", &uuid, b"ta"]);
    let id = ComponentId::new([&b"TEEP-Device"[..], b"SecureFS", &uuid, b"suit"]);
    let update = ManifestBuilder::new(ta.clone(), 4)
        .manifest_component_id(id.clone())
        .vendor_id(VENDOR_ID)
        .class_id(CLASS_ID)
        .payload(Payload::integrated(b"Hello, Updated World!".to_vec()))
        .sign(&key, None)
        .expect("sign");
    process(&mut p, &update, &trust, &Options::teep_install()).expect("v4");
    assert_eq!(p.state.manifests.get(&id).map(|m| m.0), Some(4));
    assert_eq!(p.state.components.get(&ta).map(Vec::as_slice), Some(&b"Hello, Updated World!"[..]));
    // Replaying the original is a rollback.
    let err = process(&mut p, &original, &trust, &Options::teep_install()).expect_err("rollback");
    assert_eq!(err.error, SuitError::Rollback { installed: 4, offered: 3 });
}

#[test]
fn builder_rejects_incomplete_input() {
    let key = example_signing_key();
    let no_payload = ManifestBuilder::new(ta(), 1).vendor_id(VENDOR_ID).class_id(CLASS_ID);
    assert!(matches!(no_payload.sign(&key, None), Err(SuitError::InvalidInput(_))));
    let no_ids = ManifestBuilder::new(ta(), 1).payload(Payload::integrated(vec![1]));
    assert!(matches!(no_ids.sign(&key, None), Err(SuitError::InvalidInput(_))));
}

/// The description of the published suit_uri example.
fn published_tc(payload: Payload) -> ManifestBuilder {
    let uuid = hex::decode("8D82573A926D4754935332DC29997F74").unwrap();
    ManifestBuilder::new(ComponentId::new([&b"TEEP-Device"[..], b"SecureFS", &uuid, b"ta"]), 3)
        .manifest_component_id(ComponentId::new([&b"TEEP-Device"[..], b"SecureFS", &uuid, b"suit"]))
        .vendor_id(VENDOR_ID)
        .class_id(CLASS_ID)
        .payload(payload)
}

#[test]
fn rebuilding_suit_uri_reproduces_the_published_bytes() {
    let key = example_signing_key();
    let published = hex_vector("teep-protocol/suit_uri.hex.txt");
    let ta_bytes = vector("teep-protocol/8d82573a-926d-4754-9353-32dc29997f74.ta");
    let built = published_tc(Payload::uri_for(
        "https://example.org/8d82573a-926d-4754-9353-32dc29997f74.ta",
        &ta_bytes,
    ))
    .with_kid(false)
    .sign(&key, None)
    .expect("sign");
    // Byte for byte, signature included: ESP256 with RFC 6979 deterministic nonces
    // reproduces the published suit_uri signature.
    assert_eq!(hex::encode(&built), hex::encode(&published));
    // The published signature verifies over the same digest with the same key.
    let trust = TrustAnchors::new(vec![key.public_key()]);
    teep_suit::Envelope::decode(&published).unwrap().authenticate(&trust).expect("published");
    // Deterministic: signing twice gives the same bytes.
    let again = published_tc(Payload::uri_for(
        "https://example.org/8d82573a-926d-4754-9353-32dc29997f74.ta",
        &ta_bytes,
    ))
    .with_kid(false)
    .sign(&key, None)
    .unwrap();
    assert_eq!(again, built);
}

#[test]
fn encrypted_and_mac_authenticated_round_trips() {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let device = SigningKey::generate_p256(&mut rng);
    let plaintext: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    for alg in [
        teep_cose::Algorithm::A128GCM,
        teep_cose::Algorithm::A128CTR,
        teep_cose::Algorithm::CHACHA20_POLY1305,
    ] {
        let env = builder(1, Payload::integrated(plaintext.clone()))
            .encrypt_for(&mut rng, &device.public_key(), None, alg)
            .expect("encrypt")
            .sign_mac(&[7u8; 32], Some(b"mac-1"))
            .expect("mac");
        let trust = TrustAnchors::new(vec![]).with_mac_key(teep_suit::MacKey {
            kid: Some(b"mac-1".to_vec()),
            ..teep_suit::MacKey::new(vec![7u8; 32])
        });
        let mut p = MemPlatform::teep_example();
        p.keys.push(teep_suit::DecryptionKey::Ecdh {
            kid: None,
            key: Box::new(SigningKey::from_pkcs8_pem(&device.to_pkcs8_pem()).unwrap()),
        });
        process(&mut p, &env, &trust, &Options::teep_install()).unwrap_or_else(|f| panic!("{f}"));
        assert_eq!(p.state.components.get(&ta()), Some(&plaintext), "{alg:?}");

        // Wrong MAC key: rejected before anything runs.
        let wrong = TrustAnchors::new(vec![]).with_mac_key(teep_suit::MacKey::new(vec![8u8; 32]));
        let mut p = MemPlatform::teep_example();
        let err = process(&mut p, &env, &wrong, &Options::teep_install()).unwrap_err();
        assert_eq!(err.reason(), teep_suit::Reason::Unauthorised);
        assert!(p.state.components.is_empty());

        // Another device cannot decrypt.
        let mut p = MemPlatform::teep_example();
        let other = SigningKey::generate_p256(&mut rng);
        p.keys.push(teep_suit::DecryptionKey::Ecdh { kid: None, key: Box::new(other) });
        let err = process(&mut p, &env, &trust, &Options::teep_install()).unwrap_err();
        assert!(matches!(err.error, SuitError::Decrypt(_)), "{}", err.error);
        assert!(p.state.components.is_empty());
    }
}
