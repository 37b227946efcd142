//! TEEP protocol (RFC numbering) vectors: RFC 9679 thumbprints of the published keys, and the
//! signed messages verifying with the published public keys; SUIT manifest example signatures;
//! deterministic ECDSA against RFC 6979 Appendix A.2.5.
//!
//! Note: the published SUIT and TEEP example signatures were made with random ECDSA nonces
//! (their `r` differs from the RFC 6979 one), so they verify here but cannot be reproduced byte
//! for byte by any deterministic signer.

mod common;

use common::vectors;
use teep_cose::{Algorithm, Error, PublicKey, Sign1, SigningKey};

fn read(dir: &str, name: &str) -> String {
    std::fs::read_to_string(vectors(dir).join(name)).unwrap()
}

fn kid_in_hex(jwk: &str) -> Vec<u8> {
    let v: serde_json::Value = serde_json::from_str(jwk).unwrap();
    hex::decode(v["kid-in-hex"].as_str().unwrap()).unwrap()
}

#[test]
fn thumbprints_match_published_kids() {
    let mut names: Vec<String> = std::fs::read_dir(vectors("teep-rfc"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jwk"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 5);
    for name in &names {
        let jwk = read("teep-rfc", name);
        let public = PublicKey::from_jwk(&jwk).unwrap();
        assert_eq!(public.thumbprint().to_vec(), kid_in_hex(&jwk), "{name}");
        if name.contains("priv") {
            let private = SigningKey::from_jwk(&jwk).unwrap();
            assert_eq!(private.public_key(), public, "{name}");
            assert_eq!(private.default_algorithm(), Algorithm::ESP256);
            // Debug never shows the private scalar.
            let debug = format!("{private:?}");
            let v: serde_json::Value = serde_json::from_str(&jwk).unwrap();
            let d_hex = v["d-in-hex"].as_str().unwrap().to_lowercase();
            assert!(!debug.to_lowercase().contains(&d_hex[..16]), "{debug}");
        }
    }
}

#[test]
fn signed_teep_messages_verify() {
    let agent = PublicKey::from_jwk(&read("teep-rfc", "agent-esp256-pub.jwk")).unwrap();
    let tam = PublicKey::from_jwk(&read("teep-rfc", "tam-esp256-pub.jwk")).unwrap();
    let cases = [
        ("query_request.tam.esp256.cose", &tam, &agent),
        ("update0.tam.esp256.cose", &tam, &agent),
        ("teep_success.agent.esp256.cose", &agent, &tam),
        ("teep_error.agent.esp256.cose", &agent, &tam),
    ];
    for (name, signer, other) in cases {
        let bytes = std::fs::read(vectors("teep-rfc").join(name)).unwrap();
        let msg = Sign1::decode(&bytes).unwrap();
        assert_eq!(msg.algorithm(), Ok(Algorithm::ESP256), "{name}");
        assert_eq!(msg.kid(), Some(&signer.thumbprint()[..]), "{name}");
        assert_eq!(msg.verify(signer, &[]), Ok(()), "{name}");
        assert_eq!(msg.verify(other, &[]), Err(Error::BadSignature), "{name}");

        // A flipped byte in the protected header, payload or signature must fail.
        let payload_at = bytes.len() - msg.signature.len() - 2 - 10;
        for at in [4, payload_at, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x01;
            let res = Sign1::decode(&bad).and_then(|m| m.verify(signer, &[]));
            assert!(res.is_err(), "{name}: flipped byte {at} accepted");
        }
    }
}

/// The first detached COSE_Sign1 of a SUIT example envelope and the SUIT_Digest it signs.
fn suit_signature(example: &str) -> (Vec<u8>, Vec<u8>) {
    let text = read("suit-manifest", example);
    let block = text.rsplit("~~~").nth(1).unwrap();
    let envelope = hex::decode(block.split_whitespace().collect::<String>()).unwrap();
    let find = |needle: &[u8]| envelope.windows(needle.len()).position(|w| w == needle).unwrap();
    let sign1_at = find(&[0xd2, 0x84, 0x43, 0xa1, 0x01, 0x26]);
    let limits = teep_cbor::Limits::default();
    let sign1_end = sign1_at + teep_cbor::item_end(&envelope[sign1_at..], &limits).unwrap();
    let digest_at = find(&[0x82, 0x2f, 0x58, 0x20]);
    (envelope[sign1_at..sign1_end].to_vec(), envelope[digest_at..digest_at + 36].to_vec())
}

#[test]
fn rfc6979_a25_p256_sha256() {
    let d =
        hex::decode("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721").unwrap();
    let key = SigningKey::from_p256_scalar(&d).unwrap();
    let sig = key.sign(Algorithm::ES256, b"sample").unwrap();
    assert_eq!(
        hex::encode_upper(sig),
        "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716\
         F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8"
    );
    let sig = key.sign(Algorithm::ESP256, b"test").unwrap();
    assert_eq!(
        hex::encode_upper(sig),
        "F1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367\
         019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083"
    );
}

#[test]
fn suit_examples_verify_and_resign_deterministically() {
    let key = SigningKey::from_pkcs8_pem(&read("suit-manifest", "private_key.pem")).unwrap();
    let public = key.public_key();
    for n in 0..6 {
        let (sign1, digest) = suit_signature(&format!("example{n}.txt"));
        let msg = Sign1::decode(&sign1).unwrap();
        assert_eq!(msg.payload, None);
        assert_eq!(msg.verify_detached(&public, &[], &digest), Ok(()), "example{n}");
        let again =
            teep_cose::sign1_detached(&digest, &key, Algorithm::ES256, None, &[], true).unwrap();
        let twice =
            teep_cose::sign1_detached(&digest, &key, Algorithm::ES256, None, &[], true).unwrap();
        assert_eq!(again, twice, "RFC 6979 signing is deterministic");
        assert_eq!(again.len(), sign1.len());
        let resigned = Sign1::decode(&again).unwrap();
        assert_eq!(resigned.verify_detached(&public, &[], &digest), Ok(()));
    }
}

#[test]
fn pem_round_trips() {
    let pem = read("suit-manifest", "private_key.pem");
    let key = SigningKey::from_pkcs8_pem(&pem).unwrap();
    let again = SigningKey::from_pkcs8_pem(&key.to_pkcs8_pem()).unwrap();
    assert_eq!(again.public_key(), key.public_key());
    let spki = key.public_key().to_spki_pem();
    assert!(spki.starts_with("-----BEGIN PUBLIC KEY-----"));
    assert_eq!(PublicKey::from_spki_pem(&spki).unwrap(), key.public_key());
    let cose = key.public_key().to_cose_key();
    assert_eq!(PublicKey::from_cose_key(&cose).unwrap(), key.public_key());

    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let ed = SigningKey::generate_ed25519(&mut rng);
    let ed2 = SigningKey::from_pkcs8_pem(&ed.to_pkcs8_pem()).unwrap();
    assert_eq!(ed2.public_key(), ed.public_key());
    let spki = ed.public_key().to_spki_pem();
    assert_eq!(PublicKey::from_spki_pem(&spki).unwrap(), ed.public_key());
    assert_eq!(PublicKey::from_cose_key(&ed.public_key().to_cose_key()).unwrap(), ed.public_key());

    assert!(
        SigningKey::from_pkcs8_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
        )
        .is_err()
    );
    assert!(
        PublicKey::from_jwk("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}")
            .is_err()
    );
    assert!(PublicKey::from_jwk("[1,2]").is_err());
}
