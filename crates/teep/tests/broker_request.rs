//! What `teep broker` tells the user when a session ran but did not do what was asked:
//! RequestTA for a component the TAM does not have (RFC 9397 §6.2.1), and the summary of a
//! policy check (draft-ietf-teep-otrp-over-http §5.5).

mod common;

use std::time::Duration;

use common::{AgentSetup, Daemon, EXAMPLE_MANIFEST, World, vector};

#[test]
fn request_ta_for_an_unknown_component_says_so_and_exits_3() {
    let world = World::start(AgentSetup::default());
    let integrated = vector("teep-protocol/suit_integrated.hex.txt");
    world.tam(&["tc", "add", integrated.to_str().expect("path")]).success();

    // The session runs, but nothing is installed: the user is told, with exit status 3.
    let out = world.broker(&["request-ta", "no/such/component"]).exit(3);
    assert!(out.stdout.contains(&format!("session with {}", world.tam_uri)), "{out}");
    assert!(
        out.stderr.contains("the TAM did not install no/such/component")
            && out.stderr.contains("ask the TAM operator"),
        "{out}"
    );
    assert!(world.agent_installed().is_empty());

    // The TAM's history says why.
    let kid = world.kid.clone();
    let history = world.tam(&["device", "history", &kid]).success();
    assert!(history.stdout.contains("request-unserved"), "{history}");
    assert!(history.stdout.contains("no/such/component: not in the catalog"), "{history}");

    // A component the TAM has: installed, exit 0, no complaint.
    let out = world.broker(&["request-ta", EXAMPLE_MANIFEST]).success();
    assert!(!out.stderr.contains("did not install"), "{out}");
    assert!(!world.agent_installed().is_empty());
}

#[test]
fn policy_check_reports_what_it_did() {
    let world = World::start(AgentSetup::default());
    let out = world.broker(&["-v", "policy-check"]).success();
    assert!(!out.stdout.contains("no TAM to contact"), "{out}");
    assert!(
        out.stdout.contains("policy check complete: 1 TAM contacted, nothing left to do"),
        "{out}"
    );
    assert!(!out.stdout.contains("nothing to do: the Agent has no session"), "{out}");
}

#[test]
fn request_ta_through_the_daemon_checks_the_install_too() {
    let world = World::start(AgentSetup::default());
    let listen = world.root().join("broker.sock");
    let listen_text = listen.to_str().expect("path").to_owned();
    let mut daemon = Daemon::spawn(
        "broker",
        world.root(),
        &["broker", "serve", "--listen", &listen_text, "--socket", &world.socket, "--allow-http"],
    );
    let ready = daemon.wait_ready(|| listen.exists());
    assert!(ready.is_ok(), "{ready:?}");

    let args = ["broker", "--broker-socket", &listen_text, "request-ta", "no/such/component"];
    let out = common::run(world.root(), &args).exit(3);
    assert!(out.stderr.contains("the TAM did not install no/such/component"), "{out}");

    let ended = daemon.terminate(Duration::from_secs(20));
    assert!(ended.is_some_and(|s| s.success()), "{ended:?}\n{}", daemon.log());
}
