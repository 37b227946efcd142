//! Processor behaviour on hand-built manifests: commands, failures, atomicity, limits.

mod common;

use common::*;
use teep_suit::{
    ComponentId, Options, Reason, SuitDigest, SuitError, TrustAnchors, process, uninstall,
};

fn trust() -> TrustAnchors {
    TrustAnchors::new(vec![example_signing_key().public_key()])
}

fn run(p: &mut MemPlatform, env: &[u8]) -> Result<teep_suit::ProcessReport, teep_suit::Failure> {
    process(p, env, &trust(), &Options::teep_install())
}

/// Runs `install` expecting failure; checks that nothing became visible.
fn fails(install: Vec<C>, components: Vec<Vec<&[u8]>>) -> teep_suit::Failure {
    let env = envelope(&manifest(1, components, install), vec![], &example_signing_key());
    let mut p = MemPlatform::teep_example();
    let before = p.state.clone();
    let err = run(&mut p, &env).expect_err("must fail");
    assert_eq!(p.state, before, "state unchanged");
    assert!(p.staged_is_empty(), "nothing left staged");
    assert_eq!(p.commits, 0);
    assert!(!err.report.is_success());
    err
}

fn digest_param(data: &[u8]) -> C {
    C::B(SuitDigest::sha256(data).encode())
}

const C0: &[u8] = b"c0";
const C1: &[u8] = b"c1";

#[test]
fn write_copy_and_image_match_over_two_components() {
    let data = b"configuration".to_vec();
    let install = vec![
        C::U(12),
        C::U(0),
        C::U(20),
        C::M(vec![(C::U(18), C::B(data.clone()))]),
        C::U(18),
        C::U(15),
        C::U(12),
        C::U(1),
        C::U(20),
        C::M(vec![(C::U(22), C::U(0)), (C::U(3), digest_param(&data)), (C::U(14), C::U(13))]),
        C::U(22),
        C::U(15),
        C::U(3),
        C::U(15),
        // check-content on component 0
        C::U(12),
        C::U(0),
        C::U(6),
        C::U(0),
    ];
    let env =
        envelope(&manifest(1, vec![vec![C0], vec![C1]], install), vec![], &example_signing_key());
    let mut p = MemPlatform::teep_example();
    let out = run(&mut p, &env).expect("install");
    assert_eq!(out.written.len(), 2);
    assert_eq!(p.state.components.get(&ComponentId::new([C0])), Some(&data));
    assert_eq!(p.state.components.get(&ComponentId::new([C1])), Some(&data));
    assert_eq!(p.state.manifests.get(&ComponentId::new([C0])).map(|m| m.0), Some(1));
}

#[test]
fn try_each_falls_through_to_matching_alternative() {
    let good = b"good".to_vec();
    let install = vec![
        C::U(15),
        C::A(vec![
            // first alternative: a failing condition, soft by default in try-each
            w(C::A(vec![
                C::U(14),
                C::U(0),
                C::U(20),
                C::M(vec![(C::U(18), C::B(b"bad".to_vec()))]),
                C::U(18),
                C::U(0),
            ])),
            w(C::A(vec![C::U(20), C::M(vec![(C::U(18), C::B(good.clone()))]), C::U(18), C::U(0)])),
        ]),
    ];
    let env = envelope(&manifest(1, vec![vec![C0]], install), vec![], &example_signing_key());
    let mut p = MemPlatform::teep_example();
    run(&mut p, &env).expect("install");
    assert_eq!(p.state.components.get(&ComponentId::new([C0])), Some(&good));
}

#[test]
fn try_each_all_failing_is_condition_failure() {
    let alt = w(C::A(vec![C::U(14), C::U(0)]));
    let err = fails(vec![C::U(15), C::A(vec![alt.clone(), alt])], vec![vec![C0]]);
    assert_eq!(err.error, SuitError::ConditionFailed(15));
    assert_eq!(err.reason(), Reason::ConditionFailed);
}

#[test]
fn try_each_with_nil_tolerates_failure() {
    let alt = w(C::A(vec![C::U(14), C::U(0)]));
    let env = envelope(
        &manifest(1, vec![vec![C0]], vec![C::U(15), C::A(vec![alt.clone(), alt, C::Null])]),
        vec![],
        &example_signing_key(),
    );
    let mut p = MemPlatform::teep_example();
    run(&mut p, &env).expect("nil alternative accepts");
}

#[test]
fn run_sequence_soft_failure_halts_quietly() {
    let inner = w(C::A(vec![
        C::U(20),
        C::M(vec![(C::U(13), C::Bool(true))]),
        C::U(14),
        C::U(0),
        C::U(18),
        C::U(0),
    ]));
    let env = envelope(
        &manifest(1, vec![vec![C0]], vec![C::U(32), inner]),
        vec![],
        &example_signing_key(),
    );
    let mut p = MemPlatform::teep_example();
    let out = run(&mut p, &env).expect("soft failure is not an error");
    assert!(out.written.is_empty());
}

#[test]
fn soft_failure_at_top_level_aborts() {
    let err = fails(vec![C::U(20), C::M(vec![(C::U(13), C::Bool(true))])], vec![vec![C0]]);
    assert!(matches!(err.error, SuitError::Malformed(_)));
}

#[test]
fn unknown_command_is_rejected() {
    let err = fails(vec![C::U(99), C::U(0)], vec![vec![C0]]);
    assert_eq!(err.error, SuitError::UnsupportedCommand(99));
    assert_eq!(err.reason(), Reason::CommandUnsupported);
    match &err.report.result {
        teep_suit::ReportResult::Failure { record, reason, .. } => {
            assert_eq!(*reason, Reason::CommandUnsupported);
            assert_eq!(record.section, 20);
            assert_eq!(record.offset, 1, "offset of the command in suit-install");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn custom_command_is_rejected() {
    let err = fails(vec![C::N(-300), C::U(0)], vec![vec![C0]]);
    assert_eq!(err.error, SuitError::UnsupportedCommand(-300));
}

#[test]
fn unknown_parameter_is_rejected() {
    let err = fails(vec![C::U(20), C::M(vec![(C::U(77), C::U(1))])], vec![vec![C0]]);
    assert_eq!(err.error, SuitError::UnsupportedParameter(77));
    assert_eq!(err.reason(), Reason::ParameterUnsupported);
}

#[test]
fn missing_parameter_is_rejected() {
    let err = fails(vec![C::U(21), C::U(15)], vec![vec![C0]]);
    assert_eq!(err.error, SuitError::MissingParameter(21));
    let err = fails(vec![C::U(3), C::U(15)], vec![vec![C0]]);
    assert_eq!(err.error, SuitError::MissingParameter(3));
}

#[test]
fn wrong_cbor_type_is_rejected() {
    // uri must be text
    let err = fails(vec![C::U(20), C::M(vec![(C::U(21), C::B(b"#x".to_vec()))])], vec![vec![C0]]);
    assert!(matches!(err.error, SuitError::Malformed(_)));
    assert_eq!(err.reason(), Reason::CborParse);
    // reporting policy must be uint
    let err = fails(vec![C::U(14), C::T("x")], vec![vec![C0]]);
    assert!(matches!(err.error, SuitError::Malformed(_)));
}

#[test]
fn component_index_out_of_range() {
    let err = fails(vec![C::U(12), C::U(3)], vec![vec![C0]]);
    assert_eq!(err.error, SuitError::ComponentIndex(3));
}

#[test]
fn image_mismatch_after_write_leaves_nothing() {
    let install = vec![
        C::U(20),
        C::M(vec![(C::U(18), C::B(b"payload".to_vec())), (C::U(3), digest_param(b"other"))]),
        C::U(18),
        C::U(15),
        C::U(3),
        C::U(15),
    ];
    let err = fails(install, vec![vec![C0]]);
    assert_eq!(err.error, SuitError::ConditionFailed(3));
}

#[test]
fn image_size_limits_streaming() {
    let install = vec![
        C::U(20),
        C::M(vec![(C::U(18), C::B(vec![7; 100])), (C::U(14), C::U(10))]),
        C::U(18),
        C::U(15),
    ];
    assert_eq!(fails(install, vec![vec![C0]]).error, SuitError::PayloadTooLarge);
}

#[test]
fn vendor_mismatch_fails_in_shared_sequence() {
    let env = envelope(
        &manifest(1, vec![vec![C0]], vec![C::U(14), C::U(0)]),
        vec![],
        &example_signing_key(),
    );
    let mut p = MemPlatform::default(); // knows no vendor id
    let err = run(&mut p, &env).expect_err("vendor mismatch");
    assert_eq!(err.error, SuitError::ConditionFailed(1));
    match &err.report.result {
        teep_suit::ReportResult::Failure { record, .. } => assert_eq!(record.section, 3),
        other => panic!("{other:?}"),
    }
}

#[test]
fn nested_sequences_beyond_limit_are_rejected() {
    let mut seq = C::A(vec![C::U(14), C::U(0)]);
    for _ in 0..12 {
        seq = C::A(vec![C::U(32), w(seq)]);
    }
    let C::A(install) = seq else { unreachable!() };
    assert_eq!(fails(install, vec![vec![C0]]).error, SuitError::TooDeep);
}

#[test]
fn deep_cbor_nesting_is_rejected_before_anything_runs() {
    let mut deep = C::U(0);
    for _ in 0..40 {
        deep = C::A(vec![deep]);
    }
    let m = manifest(1, vec![vec![C0]], vec![C::U(14), C::U(0)]);
    let env = envelope(&m, vec![(C::T("#deep"), deep)], &example_signing_key());
    let mut p = MemPlatform::teep_example();
    let err = run(&mut p, &env).expect_err("too deep");
    assert!(
        matches!(err.error, SuitError::Cbor(teep_cbor::Error::TooDeep { .. })),
        "{:?}",
        err.error
    );
    assert_eq!(err.reason(), Reason::CborParse);
    assert_eq!(p.aborts + p.commits, 0, "rejected before the platform was touched");
}

#[test]
fn too_many_steps_are_rejected() {
    // try-each over many alternatives that all soft-fail, run for a big component set
    let alt = w(C::A(vec![C::U(14), C::U(0)]));
    let mut alts = vec![alt; 200];
    alts.push(C::Null);
    let inner = w(C::A(vec![C::U(15), C::A(alts)]));
    let mut install = Vec::new();
    for _ in 0..400 {
        install.push(C::U(32));
        install.push(inner.clone());
    }
    assert_eq!(fails(install, vec![vec![C0]]).error, SuitError::TooManySteps);
}

#[test]
fn rollback_and_uninstall() {
    let install = vec![C::U(20), C::M(vec![(C::U(18), C::B(b"v".to_vec()))]), C::U(18), C::U(0)];
    let key = example_signing_key();
    let mut p = MemPlatform::teep_example();
    run(&mut p, &envelope(&manifest(5, vec![vec![C0]], install.clone()), vec![], &key))
        .expect("v5");
    let before = p.state.clone();
    for seq in [4, 5] {
        let env = envelope(&manifest(seq, vec![vec![C0]], install.clone()), vec![], &key);
        let err = run(&mut p, &env).expect_err("rollback");
        assert_eq!(err.error, SuitError::Rollback { installed: 5, offered: seq });
        assert_eq!(p.state, before);
    }
    run(&mut p, &envelope(&manifest(6, vec![vec![C0]], install), vec![], &key)).expect("v6");

    let id = ComponentId::new([C0]);
    uninstall(&mut p, &id).expect("uninstall");
    assert!(p.state.manifests.is_empty() && p.state.components.is_empty());
    assert_eq!(uninstall(&mut p, &id), Err(SuitError::NotInstalled));
}

#[test]
fn invoke_never_runs_during_install() {
    let err = fails(vec![C::U(23), C::U(15)], vec![vec![C0]]);
    assert!(matches!(err.error, SuitError::Unsupported(_)));
}

#[test]
fn failing_fetch_is_operation_failed() {
    let install =
        vec![C::U(20), C::M(vec![(C::U(21), C::T("https://tc.invalid/x"))]), C::U(21), C::U(15)];
    let err = fails(install, vec![vec![C0]]);
    assert!(matches!(err.error, SuitError::Platform(teep_suit::PlatformError::Fetch(_))));
    assert_eq!(err.reason(), Reason::OperationFailed);
}

#[test]
fn missing_integrated_payload() {
    let install = vec![C::U(20), C::M(vec![(C::U(21), C::T("#nope"))]), C::U(21), C::U(15)];
    assert_eq!(fails(install, vec![vec![C0]]).error, SuitError::MissingIntegratedPayload);
}
