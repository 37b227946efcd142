//! teep_cose::Encrypt0 / CoseEncrypt decode and decrypt (RFC 9052 §5, RFC 9053, SUIT
//! firmware encryption recipients) with fixed keys, on arbitrary bytes.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use teep_cose::{CoseEncrypt, Encrypt0, RecipientKey, SigningKey};

static ECDH: LazyLock<SigningKey> = LazyLock::new(teep_fuzz::agent_key);
const OTHER: &[u8] = b"SUIT Payload Encryption";

fuzz_target!(|data: &[u8]| {
    let key = &teep_fuzz::FIXED_SYMMETRIC_KEY;
    if let Ok(e) = Encrypt0::decode(data) {
        let _ = format!("{e:?}");
        let _ = e.algorithm();
        for len in [16, 24, 32] {
            let _ = e.decrypt(&key[..len], &[]);
        }
        let _ = e.decrypt_detached(&key[..16], b"aad", data);
    }
    if let Ok(e) = CoseEncrypt::decode(data) {
        let _ = format!("{e:?}");
        assert!(e.recipients.len() as u64 <= teep_cose::MAX_RECIPIENTS);
        let _ = e.algorithm();
        let _ = e.iv();
        for r in &e.recipients {
            let _ = r.algorithm();
            let _ = r.kid();
        }
        for k in [
            RecipientKey::Symmetric(&key[..16]),
            RecipientKey::Symmetric(&key[..]),
            RecipientKey::Ecdh(&ECDH),
        ] {
            let _ = e.decrypt(k, Some(OTHER), &[]);
            let _ = e.decrypt(k, None, &[]);
            if let Ok(mut ctr) = e.ctr_decryptor(k, Some(OTHER)) {
                let mut buf = data.to_vec();
                ctr.apply(&mut buf);
            }
        }
    }
});
