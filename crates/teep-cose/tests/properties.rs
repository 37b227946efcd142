//! Property tests: decoders never panic on mutated messages, and a mutated signed message
//! never verifies unless only its unprotected header changed.

use proptest::prelude::*;
use teep_cose::{Algorithm, CoseEncrypt, CoseSign, Encrypt0, Mac0, PublicKey, Sign1, SigningKey};

fn fixed_key() -> SigningKey {
    SigningKey::from_p256_scalar(&[7u8; 32]).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn random_bytes_do_not_panic(bytes in prop::collection::vec(any::<u8>(), 0..128)) {
        let _ = Sign1::decode(&bytes);
        let _ = CoseSign::decode(&bytes);
        let _ = Mac0::decode(&bytes);
        let _ = Encrypt0::decode(&bytes);
        let _ = CoseEncrypt::decode(&bytes);
        let _ = PublicKey::from_cose_key(&bytes);
        let _ = SigningKey::from_cose_key(&bytes);
        if let Ok(s) = core::str::from_utf8(&bytes) {
            let _ = PublicKey::from_jwk(s);
        }
    }

    #[test]
    fn mutated_sign1_fails(at in 0usize..200, bit in 0u8..8, payload in prop::collection::vec(any::<u8>(), 1..64)) {
        let key = fixed_key();
        let public = key.public_key();
        let msg = teep_cose::sign1(&payload, &key, Algorithm::ESP256, None, &[], true).unwrap();
        let at = at % msg.len();
        let mut bad = msg.clone();
        bad[at] ^= 1 << bit;
        // Unprotected bucket is the empty map at offset 6: flipping it changes structure.
        let res = Sign1::decode(&bad).and_then(|m| m.verify(&public, &[]));
        prop_assert!(res.is_err(), "byte {} bit {}", at, bit);
    }
}
