//! SUIT firmware encryption examples (draft-ietf-suit-firmware-encryption, examples/):
//! SUIT_Encryption_Info (COSE_Encrypt with a detached ciphertext) for AES-KW and ES-ECDH with
//! AES-GCM and AES-CTR, decrypted with the keys the draft's validation scripts use.

mod common;

use common::vectors;
use teep_cose::{
    Algorithm, CoseEncrypt, Error, PublicKey, RecipientKey, RecipientSpec, SigningKey,
};

/// Plaintext and keys from the draft's examples/validate_*_encrypted_payload.py.
const PLAINTEXT: &[u8] = b"This is a real firmware image.";
const KEK: &[u8] = b"aaaaaaaaaaaaaaaa";
const RECEIVER_D: &str = "60FE6DD6D85D5740A5349B6F91267EEAC5BA81B8CB53EE249E4B4EB102C476B3";
const RECEIVER_X: &str = "5886CD61DD875862E5AAA820E7A15274C968A9BC96048DDCACE32F50C3651BA3";
const RECEIVER_Y: &str = "9EED8125E932CD60C0EAD3650D0A485CF726D378D1B016ED4298B2961E258F1B";
const OTHER: &[u8] = b"SUIT Payload Encryption";

fn hex_file(name: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(vectors("suit-encryption").join(name)).unwrap();
    hex::decode(text.split_whitespace().collect::<String>()).unwrap()
}

fn receiver() -> SigningKey {
    let key = SigningKey::from_p256_scalar(&hex::decode(RECEIVER_D).unwrap()).unwrap();
    let public = PublicKey::from_p256_coordinates(
        &hex::decode(RECEIVER_X).unwrap(),
        &hex::decode(RECEIVER_Y).unwrap(),
    )
    .unwrap();
    assert_eq!(key.public_key(), public);
    key
}

#[test]
fn kdf_context_matches_the_draft() {
    // a128kw_kdf_context.diag: [-3, [null,null,null], [null,null,null],
    //                           [128, << {1: -29} >>, 'SUIT Payload Encryption']]
    let mut expected = hex::decode("842283f6f6f683f6f6f683188044a101381c57").unwrap();
    expected.extend_from_slice(OTHER);
    let got = teep_cose::kdf_context(
        Algorithm::A128KW,
        16,
        &hex::decode("a101381c").unwrap(),
        &Default::default(),
        Some(OTHER),
    );
    assert_eq!(hex::encode(got), hex::encode(expected));
}

#[test]
fn suit_encryption_info_examples_decrypt() {
    let receiver = receiver();
    let cases = [
        ("aes-kw-aes-gcm", Algorithm::A128GCM, RecipientKey::Symmetric(KEK)),
        ("aes-kw-aes-ctr", Algorithm::A128CTR, RecipientKey::Symmetric(KEK)),
        ("es-ecdh-aes-gcm", Algorithm::A128GCM, RecipientKey::Ecdh(&receiver)),
        ("es-ecdh-aes-ctr", Algorithm::A128CTR, RecipientKey::Ecdh(&receiver)),
    ];
    for (name, alg, key) in cases {
        let info = hex_file(&format!("suit-encryption-info-{name}.hex"));
        let payload = hex_file(&format!("encrypted-payload-{name}.hex"));
        let msg = CoseEncrypt::decode(&info).unwrap();
        assert_eq!(msg.algorithm(), Ok(alg), "{name}");
        assert_eq!(msg.ciphertext, None, "{name}: detached");
        let other = name.starts_with("es-ecdh").then_some(OTHER);
        let plain = msg.decrypt_detached(key, other, &[], &payload).unwrap();
        assert_eq!(&plain[..], PLAINTEXT, "{name}");

        if teep_cose::is_non_aead(alg) {
            // Streaming, in small chunks.
            let mut dec = msg.ctr_decryptor(key, other).unwrap();
            let mut out = payload.clone();
            for chunk in out.chunks_mut(7) {
                dec.apply(chunk);
            }
            assert_eq!(out, PLAINTEXT, "{name} streaming");
            // AES-CTR cannot authenticate external AAD.
            assert!(msg.decrypt_detached(key, other, b"aad", &payload).is_err());
        } else {
            let mut bad = payload.clone();
            bad[3] ^= 1;
            assert_eq!(
                msg.decrypt_detached(key, other, &[], &bad).map(|_| ()),
                Err(Error::Decrypt)
            );
        }
        if name.starts_with("es-ecdh") {
            // Without the SUIT `other` string the derived KEK differs.
            assert_eq!(msg.unwrap_cek(key, None).map(|_| ()), Err(Error::Decrypt), "{name}");
        } else {
            let wrong = RecipientKey::Symmetric(b"bbbbbbbbbbbbbbbb");
            assert_eq!(msg.unwrap_cek(wrong, None).map(|_| ()), Err(Error::Decrypt), "{name}");
        }
    }
}

#[test]
fn encrypt_round_trips() {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let receiver = receiver();
    let public = receiver.public_key();
    let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    for alg in [
        Algorithm::A128GCM,
        Algorithm::A256GCM,
        Algorithm::CHACHA20_POLY1305,
        Algorithm::A128CTR,
        Algorithm::A256CTR,
    ] {
        let specs = [
            RecipientSpec::KeyWrap { kek: KEK, kid: Some(b"kid-1") },
            RecipientSpec::EcdhEsKeyWrap {
                alg: Algorithm::ECDH_ES_A128KW,
                recipient: &public,
                kid: None,
                other: Some(OTHER),
            },
        ];
        let out = teep_cose::encrypt(&mut rng, &data, alg, &specs, &[], true).unwrap();
        let msg = CoseEncrypt::decode(&out.message).unwrap();
        let ct = out.detached_ciphertext.unwrap();
        for key in [RecipientKey::Symmetric(KEK), RecipientKey::Ecdh(&receiver)] {
            let plain = msg.decrypt_detached(key, Some(OTHER), &[], &ct).unwrap();
            assert_eq!(&plain[..], &data[..], "{alg:?}");
        }
    }
    let cek = [7u8; 16];
    let iv = [9u8; 12];
    let e0 = teep_cose::encrypt0(b"hi", &cek, Algorithm::A128GCM, &iv, b"x", true).unwrap();
    let m = teep_cose::Encrypt0::decode(&e0).unwrap();
    assert_eq!(&m.decrypt(&cek, b"x").unwrap()[..], b"hi");
    assert_eq!(m.decrypt(&cek, b"y").map(|_| ()), Err(Error::Decrypt));
}

#[test]
fn mac0_round_trip() {
    let key = [0x11u8; 32];
    let msg =
        teep_cose::mac0(b"payload", &key, Algorithm::HMAC_256_256, None, b"", true, false).unwrap();
    let m = teep_cose::Mac0::decode(&msg).unwrap();
    assert_eq!(m.verify(&key, b""), Ok(()));
    assert_eq!(m.verify(&[0x12u8; 32], b""), Err(Error::BadMac));
    assert_eq!(m.verify(&key, b"aad"), Err(Error::BadMac));
    let detached =
        teep_cose::mac0(b"payload", &key, Algorithm::HMAC_256_256, None, b"", false, true).unwrap();
    let m = teep_cose::Mac0::decode(&detached).unwrap();
    assert_eq!(m.verify_detached(&key, b"", b"payload"), Ok(()));
    assert_eq!(m.verify_detached(&key, b"", b"Payload"), Err(Error::BadMac));
}
