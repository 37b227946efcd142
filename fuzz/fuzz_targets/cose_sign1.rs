//! teep_cose::Sign1::decode and verification (RFC 9052 §4.2, §4.4) on arbitrary bytes.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use teep_cose::{PublicKey, Sign1};

static KEYS: LazyLock<Vec<PublicKey>> = LazyLock::new(|| {
    vec![
        teep_fuzz::example_signer().public_key(),
        teep_fuzz::tam_key().public_key(),
        teep_fuzz::ed25519_key().public_key(),
    ]
});

fuzz_target!(|data: &[u8]| {
    let Ok(s) = Sign1::decode(data) else { return };
    let _ = format!("{s:?}");
    let _ = s.kid();
    let alg = s.algorithm();
    for key in KEYS.iter() {
        let attached = s.verify(key, &[]);
        let detached = s.verify_detached(key, b"aad", data);
        if attached.is_ok() {
            assert!(s.payload.is_some(), "attached verify without payload");
            assert!(alg.is_ok(), "verified without a protected alg");
        }
        let _ = detached;
    }
});
