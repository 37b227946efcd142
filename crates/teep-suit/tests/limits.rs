//! Bounded SUIT reports: a run keeps at most 256 records (draft-ietf-suit-report §4, records
//! asked for by the reporting policy of each command, draft-ietf-suit-manifest-34 §8.4.6).
//! A manifest whose commands ask for one record more still installs; the report holds the
//! first 256 records, in command order, and encodes and decodes within the report limits.

mod common;

use common::*;
use teep_suit::{Options, ReportResult, SuitReport, TrustAnchors, process};

/// The interpreter's record bound (`MAX_RECORDS` in crates/teep-suit/src/interpreter.rs).
const MAX_RECORDS: usize = 256;

/// Runs a manifest whose suit-install holds `n` vendor-identifier conditions, each with
/// reporting policy 1 (send-record-on-success); returns the report of the successful run.
fn run_recording(n: usize) -> SuitReport {
    let mut install = Vec::with_capacity(2 * n);
    for _ in 0..n {
        install.push(C::U(1)); // suit-condition-vendor-identifier
        install.push(C::U(1)); // reporting policy: record on success
    }
    let env = envelope(&manifest(1, vec![vec![b"c0"]], install), vec![], &example_signing_key());
    let mut platform = MemPlatform::teep_example();
    let trust = TrustAnchors::new(vec![example_signing_key().public_key()]);
    let done = process(&mut platform, &env, &trust, &Options::teep_install());
    let done = done.unwrap_or_else(|f| panic!("{n} recorded conditions: {:?}", f.error));
    assert_eq!(platform.commits, 1, "the run installed");
    assert_eq!(done.report.result, ReportResult::Success);
    done.report
}

#[test]
fn one_record_past_the_bound_is_dropped_and_the_run_succeeds() {
    // The shared sequence of the test manifest records too (its conditions use policy 15):
    // measure how many, so that the install sequence can bring the total exactly to the bound.
    let shared = run_recording(1).records.len() - 1;
    assert!(shared < MAX_RECORDS);
    let install = |total: usize| run_recording(total - shared);

    let at = install(MAX_RECORDS);
    assert_eq!(at.records.len(), MAX_RECORDS, "at the bound every record is kept");

    let past = install(MAX_RECORDS + 1);
    assert_eq!(past.records.len(), MAX_RECORDS, "one past the bound: one record dropped");
    // The first 256 are kept, in the order the commands ran: the same records as at the bound.
    assert_eq!(past.records, at.records);
    let last = past.records.last().expect("records");
    assert_eq!(last.section, 20, "the last kept record is from suit-install");

    // Far past the bound (500 recorded commands, 1 000 items: within the 1 024 items the SUIT
    // decoder allows in one command sequence).
    let far = install(500);
    assert_eq!(far.records.len(), MAX_RECORDS);

    // The bounded report encodes and decodes within the report decoder's limits.
    let decoded = SuitReport::decode(&past.encode()).expect("a full report decodes");
    assert_eq!(decoded.records.len(), MAX_RECORDS);
}
