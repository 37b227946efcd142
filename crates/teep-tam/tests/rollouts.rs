//! Staged rollouts on SQLite and PostgreSQL: the percentage is respected and only grows,
//! selected devices are offered the version and others keep the previous one, pause and
//! abort are honoured in real sessions, failures are counted with their reason, and counts
//! derived from per-device rows do not drift when two TAM processes write them.

mod common;
mod fleet_common;

use common::Db;
use fleet_common::{
    Fleet, catalog, component, component_parts, enrolled, fail, now, on_both_databases,
    only_manifest, session, succeed,
};
use teep_tam::fleet::RolloutSpec;
use teep_tam::store::{DeviceRow, RolloutState};
use teep_tam::{AdminError, PolicyTarget};

on_both_databases!(
    percentage_is_respected_and_raising_only_adds_devices,
    selected_devices_get_the_version_pause_and_abort_are_honoured,
    failures_are_counted_with_their_reason,
    counts_do_not_drift_with_two_writers,
    rollout_requests_are_checked,
);

/// Enrols `n` devices directly in the store, with fixed thumbprints (SHA-256 of the index),
/// so the selected count is the same on every run.
async fn many_devices(fleet: &Fleet, group: &str, n: u32) -> Vec<[u8; 32]> {
    use sha2::Digest;
    let admin = &fleet.tam.admin;
    admin.create_group(group, None, 1).await.unwrap();
    let mut out = Vec::new();
    for i in 0..n {
        let tp: [u8; 32] = sha2::Sha256::digest(i.to_be_bytes()).into();
        let row = DeviceRow {
            thumbprint: tp.to_vec(),
            cose_key: vec![0xa0],
            label: None,
            wire: "rfc".into(),
            blocked: false,
            enrolled_at: 1,
            last_seen: None,
            last_error_code: None,
            last_error_msg: None,
            last_error_at: None,
        };
        assert!(admin.store().enroll_device(&row).await.unwrap());
        admin.add_group_device(group, &tp, 1).await.unwrap();
        out.push(tp);
    }
    out
}

async fn percentage_is_respected_and_raising_only_adds_devices(db: Db) {
    let Some(fleet) = Fleet::start(db).await else { return };
    let admin = &fleet.tam.admin;
    catalog(&fleet.tam, 2).await;
    many_devices(&fleet, "canary", 200).await;
    let target = PolicyTarget::Group("canary".into());
    let row = admin
        .create_rollout("r25", &component(), 2, &target, &RolloutSpec::Percent(2500), 10)
        .await
        .unwrap();
    let quarter = admin.rollout_selected(&row).await.unwrap();
    // Binomial(200, 0.25): mean 50, standard deviation 6.1; the draw is fixed per device.
    assert!((38..=62).contains(&quarter.len()), "25 % selected {}", quarter.len());
    let progress = admin.rollout_progress("r25").await.unwrap();
    assert_eq!(progress.selected, quarter.len() as u64);
    assert_eq!((progress.pending, progress.installed), (progress.selected, 0));

    admin.raise_rollout_share("r25", 5000, 11).await.unwrap();
    let row = admin.rollout("r25").await.unwrap();
    let half = admin.rollout_selected(&row).await.unwrap();
    assert!((85..=115).contains(&half.len()), "50 % selected {}", half.len());
    assert!(quarter.iter().all(|d| half.contains(d)), "raising the share dropped a device");
    // Lowering is refused and changes nothing; so is a share above 100 %.
    assert!(matches!(
        admin.raise_rollout_share("r25", 1000, 12).await,
        Err(AdminError::InvalidArgument(_))
    ));
    assert!(admin.raise_rollout_share("r25", 10_001, 12).await.is_err());
    let row = admin.rollout("r25").await.unwrap();
    assert_eq!(admin.rollout_selected(&row).await.unwrap(), half);
    // 100 % selects everybody.
    admin.raise_rollout_share("r25", 10_000, 13).await.unwrap();
    let row = admin.rollout("r25").await.unwrap();
    assert_eq!(admin.rollout_selected(&row).await.unwrap().len(), 200);
    fleet.finish().await;
}

async fn selected_devices_get_the_version_pause_and_abort_are_honoured(db: Db) {
    let Some(fleet) = Fleet::start(db).await else { return };
    let tam = &fleet.tam;
    let admin = &tam.admin;
    let versions = catalog(tam, 2).await;
    let (v1, v2) = (&versions[0], &versions[1]);
    admin.require(&PolicyTarget::AllDevices, &component(), 0).await.unwrap();
    let a = enrolled(tam).await;
    let b = enrolled(tam).await;
    let outsider = enrolled(tam).await;
    admin.create_group("pilot", None, 1).await.unwrap();
    for d in [&a, &b, &outsider] {
        admin.add_group_device("pilot", &d.thumbprint(), 1).await.unwrap();
    }
    let spec = RolloutSpec::Devices(vec![a.thumbprint(), b.thumbprint()]);
    let target = PolicyTarget::Group("pilot".into());
    admin.create_rollout("v2", &component(), 2, &target, &spec, now()).await.unwrap();

    // a is selected: it gets version 2 and installs it.
    let update = session(tam, &a, &[], &[]).await.unwrap();
    assert_eq!(only_manifest(&update), &v2[..]);
    succeed(tam, &a, &update).await;
    // The device not selected keeps getting version 1, the newest not held back.
    let update = session(tam, &outsider, &[], &[]).await.unwrap();
    assert_eq!(only_manifest(&update), &v1[..]);

    // Paused: b has not started, so it gets version 1, not 2.
    admin.pause_rollout("v2", now()).await.unwrap();
    let update = session(tam, &b, &[], &[]).await.unwrap();
    assert_eq!(only_manifest(&update), &v1[..]);
    // Pausing twice is refused.
    assert!(admin.pause_rollout("v2", now()).await.is_err());
    // Resumed: b gets version 2.
    admin.resume_rollout("v2", now()).await.unwrap();
    let update = session(tam, &b, &[], &[]).await.unwrap();
    assert_eq!(only_manifest(&update), &v2[..]);

    let progress = admin.rollout_progress("v2").await.unwrap();
    assert_eq!((progress.selected, progress.installed, progress.offered), (2, 1, 1));
    assert_eq!(progress.pending, 1);

    // Aborted: b is offered version 1 again; a keeps version 2 (nothing to send).
    admin.abort_rollout("v2", now()).await.unwrap();
    assert_eq!(admin.rollout("v2").await.unwrap().state, RolloutState::Aborted);
    let update = session(tam, &b, &[], &[]).await.unwrap();
    assert_eq!(only_manifest(&update), &v1[..]);
    assert!(session(tam, &a, &[component_parts()], &[]).await.is_none());
    let status = admin.status(&a.thumbprint()).await.unwrap();
    assert_eq!(status.components[0].sequence_number, Some(2));
    assert!(admin.resume_rollout("v2", now()).await.is_err(), "an aborted rollout stays aborted");

    // The audit log has every step.
    let actions: Vec<String> =
        admin.audit_log(None, 50).await.unwrap().into_iter().map(|r| r.action).collect();
    for action in ["rollout.create", "rollout.pause", "rollout.resume", "rollout.abort"] {
        assert!(actions.iter().any(|a| a == action), "{action} missing from {actions:?}");
    }
    fleet.finish().await;
}

async fn failures_are_counted_with_their_reason(db: Db) {
    let Some(fleet) = Fleet::start(db).await else { return };
    let tam = &fleet.tam;
    let admin = &tam.admin;
    catalog(tam, 2).await;
    admin.require(&PolicyTarget::AllDevices, &component(), 0).await.unwrap();
    let good = enrolled(tam).await;
    let bad = enrolled(tam).await;
    let spec = RolloutSpec::Percent(10_000);
    admin
        .create_rollout("all", &component(), 2, &PolicyTarget::AllDevices, &spec, now())
        .await
        .unwrap();

    let update = session(tam, &good, &[], &[]).await.unwrap();
    succeed(tam, &good, &update).await;
    let update = session(tam, &bad, &[], &[]).await.unwrap();
    fail(tam, &bad, &update, "flash full").await;

    let progress = admin.rollout_progress("all").await.unwrap();
    assert_eq!((progress.selected, progress.installed, progress.pending), (2, 1, 0));
    assert_eq!(progress.failed.len(), 1);
    let (device, reason) = &progress.failed[0];
    assert_eq!(device, &bad.thumbprint());
    assert!(reason.contains("ERR_MANIFEST_PROCESSING_FAILED"), "{reason}");
    assert!(reason.contains("flash full"), "{reason}");

    // The metrics aggregate agrees.
    let counts = admin.store().rollout_progress_all().await.unwrap();
    assert_eq!(counts.len(), 1);
    assert_eq!((counts[0].offered, counts[0].installed, counts[0].failed), (0, 1, 1));

    // The failed device retries and succeeds: it moves to installed.
    let update = session(tam, &bad, &[], &[]).await.unwrap();
    succeed(tam, &bad, &update).await;
    let progress = admin.rollout_progress("all").await.unwrap();
    assert_eq!((progress.installed, progress.failed.len()), (2, 0));
    admin.complete_rollout("all", now()).await.unwrap();
    fleet.finish().await;
}

async fn counts_do_not_drift_with_two_writers(db: Db) {
    let Some(fleet) = Fleet::start(db).await else { return };
    let admin = &fleet.tam.admin;
    catalog(&fleet.tam, 1).await;
    let devices = many_devices(&fleet, "g", 40).await;
    let target = PolicyTarget::Group("g".into());
    admin
        .create_rollout("r", &component(), 1, &target, &RolloutSpec::Percent(10_000), 1)
        .await
        .unwrap();
    // A second store handle stands for a second TAM process; both report every device
    // offered, then installed, then (late) failed, concurrently and twice.
    let url = fleet.tam.tam.config().database_url();
    let other = teep_tam::Store::connect(&url, 4).await.unwrap();
    let mut tasks = Vec::new();
    for store in [admin.store().clone(), other.clone(), admin.store().clone()] {
        let devices = devices.clone();
        let id = component().as_cbor().to_vec();
        tasks.push(tokio::spawn(async move {
            for d in &devices {
                store.mark_rollout_offered("r", d, 2).await.unwrap();
                store.mark_rollouts_installed_by(d, &id, 1, 3).await.unwrap();
                store.mark_rollouts_failed_by(d, &id, 1, "late", 4).await.unwrap();
                store.mark_rollout_installed("r", d, 5).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let counts = other.rollout_progress_all().await.unwrap();
    assert_eq!((counts[0].offered, counts[0].installed, counts[0].failed), (0, 40, 0));
    let progress = admin.rollout_progress("r").await.unwrap();
    assert_eq!((progress.selected, progress.installed, progress.pending), (40, 40, 0));
    other.close().await;
    fleet.finish().await;
}

async fn rollout_requests_are_checked(db: Db) {
    let Some(fleet) = Fleet::start(db).await else { return };
    let admin = &fleet.tam.admin;
    catalog(&fleet.tam, 2).await;
    let all = PolicyTarget::AllDevices;
    let pct = RolloutSpec::Percent(100);
    // Unknown version, unknown group, device target, empty list, bad id: refused, nothing stored.
    assert!(matches!(
        admin.create_rollout("x", &component(), 9, &all, &pct, 1).await,
        Err(AdminError::NotFound(_))
    ));
    let group = PolicyTarget::Group("nope".into());
    assert!(admin.create_rollout("x", &component(), 2, &group, &pct, 1).await.is_err());
    let device = PolicyTarget::Device([7; 32]);
    assert!(admin.create_rollout("x", &component(), 2, &device, &pct, 1).await.is_err());
    let empty = RolloutSpec::Devices(Vec::new());
    assert!(admin.create_rollout("x", &component(), 2, &all, &empty, 1).await.is_err());
    assert!(admin.create_rollout("bad\nid", &component(), 2, &all, &pct, 1).await.is_err());
    assert!(admin.rollouts().await.unwrap().is_empty());
    // A retired version cannot be rolled out.
    admin.retire_tc(&component(), 2, true, 1).await.unwrap();
    assert!(admin.create_rollout("x", &component(), 2, &all, &pct, 1).await.is_err());
    admin.retire_tc(&component(), 2, false, 1).await.unwrap();
    admin.create_rollout("x", &component(), 2, &all, &pct, 1).await.unwrap();
    assert!(matches!(
        admin.create_rollout("x", &component(), 2, &all, &pct, 1).await,
        Err(AdminError::Exists(_))
    ));
    // A group with a running rollout cannot be deleted.
    let members = fleet_common::enrolled(&fleet.tam).await;
    admin.create_group("g", None, 1).await.unwrap();
    admin.add_group_device("g", &members.thumbprint(), 1).await.unwrap();
    let g = PolicyTarget::Group("g".into());
    admin.create_rollout("y", &component(), 2, &g, &pct, 1).await.unwrap();
    assert!(admin.delete_group("g", 2).await.is_err());
    admin.abort_rollout("y", 3).await.unwrap();
    admin.delete_group("g", 4).await.unwrap();
    fleet.finish().await;
}
