//! `teep broker serve` as a process: clients over its socket, a policy check at start that
//! installs what the TAM requires, socket permissions, and a clean exit on SIGTERM.

mod common;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::time::Duration;

use common::{AgentSetup, Daemon, EXAMPLE_MANIFEST, World, example_installed, vector};

#[test]
fn serve_answers_clients_and_stops_on_sigterm() {
    let world = World::start(AgentSetup::default());
    let integrated = vector("teep-protocol/suit_integrated.hex.txt");
    world.tam(&["tc", "add", integrated.to_str().expect("path")]).success();
    world.tam(&["policy", "require", EXAMPLE_MANIFEST]).success();

    // The daemon's first policy check (at start) installs the required component.
    let listen = world.root().join("broker.sock");
    let listen_text = listen.to_str().expect("path").to_owned();
    let mut daemon = Daemon::spawn(
        "broker",
        world.root(),
        &["broker", "serve", "--listen", &listen_text, "--socket", &world.socket, "--allow-http"],
    );
    let ready = daemon.wait_ready(|| !world.agent_installed().is_empty());
    assert!(ready.is_ok(), "{ready:?}");
    assert_eq!(world.agent_installed(), example_installed(3));

    let meta = std::fs::symlink_metadata(&listen).expect("socket");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);

    // Clients of the socket.
    let via = |args: &[&str]| {
        let mut all = vec!["broker", "--broker-socket", &listen_text];
        all.extend_from_slice(args);
        common::run(world.root(), &all)
    };
    let status = via(&["status"]).success();
    assert!(status.stdout.contains("policy checks: 1 (0 failed in a row)"), "{status}");
    assert!(status.stdout.contains(&format!("TAM {}: 1 session(s)", world.tam_uri)), "{status}");
    assert!(status.stdout.contains("installed: "), "{status}");
    assert!(status.stdout.contains("next check in "), "{status}");

    let check = via(&["policy-check"]).success();
    assert!(check.stdout.contains(&format!("session with {}", world.tam_uri)), "{check}");
    let refused = via(&["request-ta", "0xzz"]).exit(1);
    assert!(refused.stderr.contains("component id"), "{refused}");

    // --direct bypasses the daemon and talks to the Agent itself.
    let direct = world.broker(&["--broker-socket", "/nonexistent.sock", "--direct", "status"]);
    let direct = direct.success();
    assert!(direct.stdout.contains("installed: "), "{direct}");

    // SIGTERM: exit 0, socket removed, clients fail with one line naming the socket.
    let ended = daemon.terminate(Duration::from_secs(20));
    assert!(ended.is_some_and(|s| s.success()), "{ended:?}\n{}", daemon.log());
    assert!(!listen.exists(), "the daemon removed its socket");
    let gone = via(&["status"]).exit(1);
    assert!(gone.stderr.contains(&listen_text), "{gone}");
}
