//! System test: SUIT reports signed by the Agent's report key (written by `teep agent init`
//! with `[reports] protect = "sign"`), verified and stored by the TAM under the report key
//! enrolled with `teep tam device report-key` (draft-ietf-suit-report §4,
//! draft-ietf-teep-protocol-26 §4.5, §8.1.2).

mod common;

use common::{AgentSetup, EXAMPLE_MANIFEST, World, example_installed, vector};

fn add_example(world: &World) {
    let integrated = vector("teep-protocol/suit_integrated.hex.txt");
    world.tam(&["tc", "add", integrated.to_str().expect("path")]).success();
    world.tam(&["policy", "require", EXAMPLE_MANIFEST]).success();
}

#[test]
fn signed_reports_are_verified_and_stored_per_device() {
    let world = World::start(AgentSetup::default());
    let config = std::fs::read_to_string(world.agent_dir.join("config.toml")).expect("config");
    assert!(config.contains("protect = \"sign\""), "{config}");
    let report_key = world.agent_dir.join("report-key.pub.pem").display().to_string();
    let out = world.tam(&["device", "report-key", &world.kid, &report_key]).success();
    assert_eq!(out.stdout.trim(), format!("report key of device {} set", world.kid));

    add_example(&world);
    world.policy_check();
    assert_eq!(world.agent_installed(), example_installed(3));
    let (installed, status) = world.tam_installed();
    assert_eq!(installed, example_installed(3), "{status}");
    let line = status
        .stdout
        .lines()
        .skip_while(|l| l.trim() != "SUIT reports:")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    assert!(line.contains("\tsuccess\tsuccess\tsigned (verified)\t"), "{status}");
    assert!(status.stdout.contains("  report key "), "{status}");
}

#[test]
fn reports_signed_with_another_key_are_refused() {
    let world = World::start(AgentSetup::default());
    // Enrol the Agent's device (decryption) key as its report key: not the key reports are
    // signed with, so the TAM drops the Success and records nothing.
    let wrong = world.agent_dir.join("device-key.pub.pem").display().to_string();
    world.tam(&["device", "report-key", &world.kid, &wrong]).success();
    add_example(&world);
    world.policy_check();
    assert_eq!(world.agent_installed(), example_installed(3));
    let (installed, status) = world.tam_installed();
    assert!(installed.is_empty(), "{status}");
    assert!(!status.stdout.contains("signed (verified)"), "{status}");

    // The TEEP key itself cannot be enrolled as report key.
    let teep_key = world.agent_dir.join("agent-key.pub.pem").display().to_string();
    let out = world.tam(&["device", "report-key", &world.kid, &teep_key]);
    assert_ne!(out.code, Some(0), "{out}");
}
