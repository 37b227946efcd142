//! teep_suit::Envelope::decode + authenticate (draft-ietf-suit-manifest-34 §8.3, §6.2) with
//! the example signer trusted, on arbitrary bytes. An authenticated manifest's accessors are
//! exercised; the unauthenticated inspection path too.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use teep_suit::{Envelope, TrustAnchors};

static TRUST: LazyLock<TrustAnchors> = LazyLock::new(teep_fuzz::suit_trust);

fuzz_target!(|data: &[u8]| {
    let env = match Envelope::decode(data) {
        Ok(e) => e,
        Err(e) => {
            let _ = e.to_string();
            let _ = e.reason();
            return;
        }
    };
    let _ = env.is_tagged();
    let _ = env.integrated_payload("#tc");
    assert_eq!(env.as_bytes().len(), data.len());
    if let Ok(m) = env.inspect_unauthenticated() {
        let _ = format!("{m:?}");
    }
    let Ok(auth) = env.authenticate(&TRUST) else { return };
    let _ = auth.sequence_number();
    let _ = auth.manifest_component_id();
    let _ = auth.identity();
    let _ = auth.components();
    let _ = auth.shared_sequence();
    let _ = auth.has_install();
    assert!(auth.signer_index() < TRUST.signers.len());
    for key in 0..24 {
        let _ = auth.section(key);
        let _ = auth.is_severed_missing(key);
    }
});
