//! Property tests: `check` never panics, and whatever it accepts `minicbor` can walk exactly.

use proptest::prelude::*;
use teep_cbor::{Limits, check, item_end};

/// Byte strings biased towards CBOR heads so that nested structures appear often.
fn cborish() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            any::<u8>(),
            Just(0x81u8),
            Just(0x82),
            Just(0xa1),
            Just(0x41),
            Just(0x61),
            Just(0x18),
            Just(0xd8),
            Just(0x00),
        ],
        0..64,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    #[test]
    fn accepted_items_are_walkable(bytes in cborish()) {
        let limits = Limits::default();
        if check(&bytes, &limits).is_ok() {
            let mut d = minicbor::Decoder::new(&bytes);
            prop_assert!(d.skip().is_ok());
            prop_assert_eq!(d.position(), bytes.len());
        }
        if let Ok(end) = item_end(&bytes, &limits) {
            prop_assert!(end <= bytes.len());
            prop_assert_eq!(check(&bytes[..end], &limits), Ok(()));
        }
    }

    #[test]
    fn encoder_output_passes(v in prop::collection::vec((any::<i64>(), ".{0,8}", prop::collection::vec(any::<u8>(), 0..8)), 0..8)) {
        let mut e = teep_cbor::encoder();
        e.array(v.len() as u64).unwrap();
        for (i, s, b) in &v {
            e.array(3).unwrap().i64(*i).unwrap().str(s).unwrap().bytes(b).unwrap();
        }
        let bytes = e.into_writer();
        prop_assert_eq!(check(&bytes, &Limits::default()), Ok(()));
    }
}
