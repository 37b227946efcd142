//! teep_suit::SuitReport::decode (draft-ietf-suit-report) on arbitrary bytes.
//! Invariant: a decoded report re-encodes and decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use teep_suit::SuitReport;

fuzz_target!(|data: &[u8]| {
    let Ok(report) = SuitReport::decode(data) else { return };
    let _ = format!("{report:?}");
    let _ = report.is_success();
    let encoded = report.encode();
    match SuitReport::decode(&encoded) {
        Ok(again) => assert_eq!(again, report, "report round trip changed the value"),
        Err(e) => panic!("re-encoded report does not decode: {e}\n{}", hex::encode(&encoded)),
    }
});
