//! teep_cose::Mac0::decode and verify (RFC 9052 §6.2, HMAC 256/256) on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use teep_cose::Mac0;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Mac0::decode(data) else { return };
    let _ = format!("{m:?}");
    let _ = m.algorithm();
    let key = &teep_fuzz::FIXED_SYMMETRIC_KEY;
    let _ = m.verify(key, &[]);
    let _ = m.verify(&key[..16], b"aad");
    let _ = m.verify(&[], &[]);
    let _ = m.verify_detached(key, &[], data);
});
