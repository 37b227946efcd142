//! teep_proto::open, the TEEP secure envelope (draft-ietf-teep-protocol-26 §4.1.2, §7.1),
//! with fixed trusted keys. The first byte picks the mode:
//! - bit 0: numbering (0 RFC, 1 legacy);
//! - bit 1: 0 = the rest is the whole COSE structure; 1 = the rest is the payload, sealed
//!   with a trusted key first (reaches the message decoder behind the signature check).
//!
//! Invariant: an opened message re-seals with the key that verified it and opens to the
//! same message.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use teep_cose::{Algorithm, PublicKey, SigningKey};
use teep_proto::{Numbering, open, seal_sign1};

struct Fixture {
    keys: Vec<SigningKey>,
    trusted: Vec<PublicKey>,
}

static FIX: LazyLock<Fixture> = LazyLock::new(|| {
    let keys = vec![teep_fuzz::tam_key(), teep_fuzz::ed25519_key()];
    let trusted = keys.iter().map(SigningKey::public_key).collect();
    Fixture { keys, trusted }
});

const ALLOWED: [Algorithm; 4] =
    [Algorithm::ESP256, Algorithm::ED25519, Algorithm::ES256, Algorithm::EDDSA];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let numbering = if mode & 1 == 0 { Numbering::Rfc } else { Numbering::Legacy };
    let sealed;
    let bytes = if mode & 2 == 0 {
        rest
    } else {
        let key = &FIX.keys[usize::from(mode >> 2) % FIX.keys.len()];
        sealed = teep_fuzz::seal_raw(rest, key);
        &sealed
    };
    let opened = match open(bytes, numbering, &FIX.trusted, &ALLOWED) {
        Ok(o) => o,
        Err(e) => {
            let _ = e.to_string();
            let _ = e.err_code();
            return;
        }
    };
    assert!(opened.key_index < FIX.trusted.len());
    assert!(ALLOWED.contains(&opened.algorithm));
    let key = &FIX.keys[opened.key_index];
    let resealed = match seal_sign1(&opened.message, numbering, key, key.default_algorithm()) {
        Ok(b) => b,
        Err(e) => panic!("an opened message cannot be sealed again: {e}"),
    };
    match open(&resealed, numbering, &FIX.trusted, &ALLOWED) {
        Ok(again) => assert_eq!(again.message, opened.message, "seal/open changed the message"),
        Err(e) => panic!("a re-sealed message does not open: {e}"),
    }
});
