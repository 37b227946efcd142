//! teep_suit::process, the SUIT manifest processor (draft-ietf-suit-manifest-34 §6, §8.4),
//! on an in-memory platform with the example signer trusted. The first byte picks the mode:
//! - bit 0: 0 = the rest is a whole SUIT_Envelope; 1 = the rest is the SUIT_Manifest, wrapped
//!   into an envelope signed by the example signer (gets past authentication);
//! - bit 1: the Invocation Procedure with invoke allowed, instead of the Update Procedure;
//! - bit 2: process the same envelope a second time on the resulting state;
//! - bit 3: (signed mode) add an integrated payload "#tc".
//!
//! Invariants: a run never leaves anything staged; a failed run changes no committed state;
//! a successful Update records the manifest with its sequence number.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use teep_cose::SigningKey;
use teep_fuzz::MemPlatform;
use teep_suit::{Options, Procedure, TrustAnchors, process};

static SIGNER: LazyLock<SigningKey> = LazyLock::new(teep_fuzz::example_signer);
static TRUST: LazyLock<TrustAnchors> = LazyLock::new(teep_fuzz::suit_trust);

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let signed;
    let envelope = if mode & 1 == 0 {
        rest
    } else {
        let extra: &[(&str, &[u8])] =
            if mode & 8 != 0 { &[("#tc", b"hello, world\n")] } else { &[] };
        signed = teep_fuzz::sign_manifest(rest, &SIGNER, extra);
        &signed
    };
    let mut opts = Options::teep_install();
    if mode & 2 != 0 {
        opts.procedure = Procedure::Invoke;
        opts.allow_invoke = true;
    }
    opts.nonce = Some(b"fuzz-nonce".to_vec());
    opts.max_steps = 1 << 12;

    let mut platform = MemPlatform::example();
    let runs = if mode & 4 != 0 { 2 } else { 1 };
    for _ in 0..runs {
        let before = platform.state.clone();
        let result = process(&mut platform, envelope, &TRUST, &opts);
        assert!(platform.staged_is_empty(), "processor left staged state behind");
        match result {
            Ok(report) => {
                assert!(report.report.is_success());
                let _ = report.report.encode();
                if opts.procedure == Procedure::Update {
                    let recorded = platform.state.manifests.get(&report.manifest_id);
                    assert_eq!(
                        recorded.map(|(seq, _)| *seq),
                        Some(report.sequence_number),
                        "successful install not recorded"
                    );
                } else {
                    assert_eq!(platform.state, before, "invocation changed committed state");
                }
            }
            Err(failure) => {
                assert_eq!(platform.state, before, "a failed run changed committed state");
                assert!(!failure.report.is_success());
                let _ = failure.to_string();
                let encoded = failure.report.encode();
                assert!(
                    teep_suit::SuitReport::decode(&encoded).is_ok(),
                    "failure report does not decode: {}",
                    hex::encode(&encoded)
                );
            }
        }
    }
});
