//! teep_agent::ipc::{Request, Response}::decode, the Broker <-> Agent IPC bodies, on
//! arbitrary bytes. Invariant: a decoded body re-encodes and decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use teep_agent::ipc::{Request, Response};

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = Request::decode(data) {
        let encoded = req.encode();
        match Request::decode(&encoded) {
            Ok(again) => assert_eq!(again, req, "Request round trip changed the value"),
            Err(e) => panic!("re-encoded Request does not decode: {e}"),
        }
    }
    if let Ok(resp) = Response::decode(data) {
        let encoded = resp.encode();
        match Response::decode(&encoded) {
            Ok(again) => assert_eq!(again, resp, "Response round trip changed the value"),
            Err(e) => panic!("re-encoded Response does not decode: {e}"),
        }
    }
});
