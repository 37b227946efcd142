//! System test of the fleet commands through the real `teep` binary: a device group, a rule
//! for the group, a rollout to the device (installed by the real Agent in its own process),
//! retiring a version, the device's paged history, and the block list.

mod common;

use common::{AgentSetup, EXAMPLE_MANIFEST, World, example_installed, example_signer, vector};
use teep_suit::builder::Payload;

#[test]
fn group_rollout_retire_history_and_block_list() {
    let world = World::start(AgentSetup::default());
    let kid = world.kid.clone();
    let integrated = vector("teep-protocol/suit_integrated.hex.txt");
    world.tam(&["tc", "add", integrated.to_str().expect("path")]).success();
    let v4 = common::example_update(4, Payload::integrated(b"v4".to_vec()), &example_signer());
    let v4 = world.file("v4.suit", &v4);
    world.tam(&["tc", "add", &v4]).success();

    // A group with the device, and a rule for the group.
    let out = world.tam(&["group", "create", "pilot"]).success();
    assert_eq!(out.stdout.trim(), "group pilot created (owner operator)");
    world.tam(&["group", "add", "pilot", &kid[..12]]).success();
    let out = world.tam(&["group", "list"]).success();
    assert_eq!(out.stdout.trim(), "pilot\t1 devices\towner operator\trequests inherit");
    world.tam(&["policy", "require", EXAMPLE_MANIFEST, "--group", "pilot"]).success();
    let out = world.tam(&["policy", "require", EXAMPLE_MANIFEST, "--group", "nope"]).exit(1);
    assert!(out.stderr.contains("group not found"), "{out}");

    // A rollout of version 4 to this device of the group: the real Agent installs it.
    let out = world
        .tam(&[
            "rollout",
            "create",
            "v4",
            "--component",
            EXAMPLE_MANIFEST,
            "--sequence",
            "4",
            "--group",
            "pilot",
            "--device",
            &kid,
        ])
        .success();
    assert!(out.stdout.starts_with("rollout v4 started"), "{out}");
    world.policy_check();
    assert_eq!(world.agent_installed(), example_installed(4));
    let out = world.tam(&["rollout", "status", "v4"]).success();
    assert!(out.stdout.contains("  installed  1"), "{out}");
    assert!(out.stdout.contains("  pending    0"), "{out}");
    let out = world.tam(&["rollout", "list"]).success();
    assert!(out.stdout.starts_with("v4\trunning\t"), "{out}");
    world.tam(&["rollout", "complete", "v4"]).success();
    world.tam(&["rollout", "pause", "v4"]).exit(1);

    // Retiring: listed, and a wrong percentage or unknown version is refused clearly.
    let out = world.tam(&["tc", "retire", EXAMPLE_MANIFEST, "--sequence", "3"]).success();
    assert!(out.stdout.contains("retired"), "{out}");
    let out = world.tam(&["tc", "list"]).success();
    let retired: Vec<_> = out.stdout.lines().filter(|l| l.ends_with("\tretired")).collect();
    assert_eq!(retired.len(), 1, "{out}");
    assert!(retired[0].contains("sequence 3"), "{out}");
    world.tam(&["tc", "retire", EXAMPLE_MANIFEST, "--sequence", "9"]).exit(1);
    let out = world
        .tam(&[
            "rollout",
            "create",
            "x",
            "--component",
            EXAMPLE_MANIFEST,
            "--sequence",
            "4",
            "--percent",
            "101",
        ])
        .exit(1);
    assert!(out.stderr.contains("above 100"), "{out}");

    // History, one page at a time.
    let out = world.tam(&["device", "history", &kid, "--limit", "2"]).success();
    assert_eq!(out.stdout.lines().count(), 2, "{out}");
    assert!(out.stderr.contains("next page: --before "), "{out}");

    // The block list: the device is blocked and its sessions refused.
    world.tam(&["admission", "block", "--thumbprint", &kid]).success();
    let out = world.tam(&["admission", "list"]).success();
    assert_eq!(out.stdout.trim(), format!("block\tthumbprint\t{kid}"));
    let out = world.tam(&["status", &kid]).success();
    assert!(out.stdout.contains("blocked    true"), "{out}");
    world.tam(&["admission", "unblock", "--thumbprint", &kid]).success();
    let out = world.tam(&["status", &kid]).success();
    assert!(out.stdout.contains("blocked    false"), "{out}");

    // A group's owner must be an enabled device administrator, as through the API.
    world.tam(&["principal", "add", "dev1", "--role", "developer"]).success();
    for owner in ["ghost", "dev1"] {
        let out = world.tam(&["group", "create", "g", "--owner", owner]).exit(1);
        assert!(out.stderr.contains("device-admin"), "{out}");
    }
    world.tam(&["principal", "add", "ops1", "--role", "device-admin"]).success();
    let out = world.tam(&["group", "create", "g", "--owner", "ops1"]).success();
    assert_eq!(out.stdout.trim(), "group g created (owner ops1)");

    // Keys that are not keys: the error names the accepted formats, not COSE internals.
    let junk = world.file("passwd", b"root:x:0:0:root:/root:/bin/sh\n");
    let out = world.tam(&["device", "add", &junk]).exit(1);
    assert!(out.stderr.contains("SPKI PEM") && !out.stderr.contains("CBOR item"), "{out}");
}

#[test]
fn token_lifetimes_and_listing() {
    let world = World::start(AgentSetup::default());
    world.tam(&["principal", "add", "dev1", "--role", "developer"]).success();
    for secs in ["9223372036854775807", "1796416040000000000", "0"] {
        let out = world.tam(&["token", "create", "--principal", "dev1", "--expires-in", secs]);
        assert!(out.exit(1).stderr.contains("10 years"), "{secs}");
    }
    let out = world.tam(&["token", "list"]).success();
    assert_eq!(out.stdout.trim(), "", "a refused token was created");

    // An expired token is listed as such, with RFC 3339 times.
    world.tam(&["token", "create", "--principal", "dev1", "--expires-in", "1"]).success();
    world.tam(&["token", "create", "--principal", "dev1"]).success();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let out = world.tam(&["token", "list"]).success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let expired = lines.iter().find(|l| l.contains("\texpired\t")).expect("an expired token");
    let active = lines.iter().find(|l| l.contains("\tactive\t")).expect("an active token");
    assert!(active.contains("expires never\tlast used never\tcreated 20"), "{active}");
    let expiry = expired.split("\texpires ").nth(1).and_then(|r| r.split('\t').next());
    let expiry = expiry.expect("an expiry");
    assert!(expiry.len() == 20 && expiry.ends_with('Z') && &expiry[10..11] == "T", "{expiry}");
}
