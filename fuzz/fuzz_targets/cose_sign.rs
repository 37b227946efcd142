//! teep_cose::CoseSign::decode and verify_any (RFC 9052 §4.1, §4.4) on arbitrary bytes.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use teep_cose::{Algorithm, CoseSign, PublicKey};

static KEYS: LazyLock<Vec<PublicKey>> = LazyLock::new(|| {
    vec![
        teep_fuzz::example_signer().public_key(),
        teep_fuzz::tam_key().public_key(),
        teep_fuzz::ed25519_key().public_key(),
    ]
});

fuzz_target!(|data: &[u8]| {
    let Ok(s) = CoseSign::decode(data) else { return };
    let _ = format!("{s:?}");
    assert!(s.signatures.len() as u64 <= teep_cose::MAX_SIGNATURES);
    for sig in &s.signatures {
        let _ = sig.algorithm();
        let _ = sig.kid();
    }
    if let Ok(i) = s.verify_any(&KEYS, &[]) {
        assert!(i < s.signatures.len() || i < KEYS.len(), "verify_any index out of range");
    }
    if let Some(payload) = s.payload {
        let _ = s.verify_any_with(&KEYS, Some(&[Algorithm::ESP256]), b"", payload);
    }
});
