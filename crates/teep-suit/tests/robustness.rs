//! Mutated and random inputs: the processor never panics, and a rejected envelope never
//! leaves anything visible or staged.

mod common;

use common::*;
use proptest::prelude::*;
use teep_suit::{Envelope, Options, SuitReport, TrustAnchors, process};

fn trust() -> TrustAnchors {
    TrustAnchors::new(vec![example_signing_key().public_key()])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn mutated_vector_never_panics(pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut env = hex_vector("teep-protocol/suit_integrated.hex.txt");
        let i = pos.index(env.len());
        prop_assume!(env[i] != byte);
        env[i] = byte;
        let mut p = MemPlatform::teep_example();
        if process(&mut p, &env, &trust(), &Options::teep_install()).is_err() {
            prop_assert_eq!(&p.state, &Default::default());
            prop_assert!(p.staged_is_empty());
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Envelope::decode(&bytes).map(|e| e.inspect_unauthenticated().is_ok());
        let _ = SuitReport::decode(&bytes);
        let mut p = MemPlatform::teep_example();
        prop_assert!(process(&mut p, &bytes, &trust(), &Options::teep_install()).is_err());
        prop_assert_eq!(p.commits, 0);
    }
}
