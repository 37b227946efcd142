//! teep_cbor::check / item_end on arbitrary bytes (RFC 8949 §4.2.1, §5.3.1 strictness).
//! Invariants: acceptance implies minicbor can walk exactly one item to the end; item_end of
//! an accepted single item is its length; a prefix accepted by item_end passes check.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = teep_cbor::Limits::default();
    let checked = teep_cbor::check(data, &limits);
    if checked.is_ok() {
        let mut d = minicbor::Decoder::new(data);
        assert!(d.skip().is_ok(), "check accepted what minicbor cannot walk");
        assert_eq!(d.position(), data.len(), "check accepted trailing bytes");
        assert_eq!(teep_cbor::item_end(data, &limits).ok(), Some(data.len()));
    } else if let Err(e) = &checked {
        // Every error is printable and points inside (or just past) the input.
        let _ = e.to_string();
        if let Some(off) = e.offset() {
            assert!(off <= data.len(), "error offset {off} past the input ({})", data.len());
        }
    }
    if let Ok(end) = teep_cbor::item_end(data, &limits) {
        assert!(end > 0 && end <= data.len());
        let first = data.get(..end).unwrap_or_default();
        assert!(teep_cbor::check(first, &limits).is_ok(), "item_end prefix fails check");
    }
    // Tight limits must never turn an error into a panic.
    let tight = teep_cbor::Limits { max_depth: 2, max_len: 64, max_items: 4 };
    let _ = teep_cbor::check(data, &tight);
});
