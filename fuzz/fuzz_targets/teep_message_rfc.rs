//! teep_proto::Message::decode in the rfc numbering (draft-ietf-teep-protocol-26 §5) on
//! arbitrary bytes. Invariant: a decoded message validates, re-encodes, and decodes back to
//! the same value (unknown options compared regardless of order); its encoding is a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use teep_proto::{Message, Numbering};

const NUMBERING: Numbering = Numbering::Rfc;

fuzz_target!(|data: &[u8]| {
    let msg = match Message::decode(data, NUMBERING) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.to_string();
            let _ = e.err_code();
            return;
        }
    };
    let _ = format!("{msg:?}");
    let _ = teep_proto::describe(&msg);
    assert!(msg.validate().is_ok(), "decoded message does not validate");
    let _ = msg.token();
    let _ = msg.kind();
    let encoded = msg.encode(NUMBERING);
    let again = match Message::decode(&encoded, NUMBERING) {
        Ok(m) => m,
        Err(e) => panic!("re-encoded message does not decode: {e}\n{}", hex::encode(&encoded)),
    };
    // Unknown options decode in label order, the order the encoder writes them in
    // (regressions/*/extension-order-roundtrip).
    assert_eq!(again.clone(), msg, "round trip changed the message");
    assert_eq!(again.encode(NUMBERING), encoded, "encoding is not a fixed point");
});
