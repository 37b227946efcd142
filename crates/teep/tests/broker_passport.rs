//! `teep broker --verifier-url` and `[passport]` from the command line: the passport model is
//! named in the status, a malformed Verifier URL or section is refused with a clear message,
//! and sessions with a TAM that asks for no attestation run as before. (The passport install
//! itself, with a Verifier and a TAM requiring attestation, is tested at the daemon level in
//! crates/teep-broker/tests/daemon_passport.rs.)

mod common;

use common::{AgentSetup, World};

#[test]
fn verifier_url_selects_the_passport_model() {
    let world = World::start(AgentSetup::default());

    let background = world.broker(&["--direct", "status"]).success();
    assert!(background.stdout.contains("attestation: background-check model"), "{background}");

    let passport =
        world.broker(&["--direct", "--verifier-url", "http://127.0.0.1:9", "status"]).success();
    assert!(
        passport.stdout.contains("attestation: passport model, Verifier http://127.0.0.1:9"),
        "{passport}"
    );

    // The same from the configuration file.
    let config = world.root().join("broker.toml");
    std::fs::write(
        &config,
        "[passport]\nverifier_url = \"http://127.0.0.1:9\"\ntimeout_ms = 500\n",
    )
    .expect("write broker.toml");
    let config = config.to_str().expect("utf-8 path");
    let from_file = world.broker(&["--direct", "--config", config, "status"]).success();
    assert!(from_file.stdout.contains("passport model"), "{from_file}");

    // This TAM asks for no attestation: no Verifier round trip, the session runs as before.
    let check = world.broker(&["--verifier-url", "http://127.0.0.1:9", "policy-check"]).success();
    assert!(check.stdout.contains(&format!("session with {}", world.tam_uri)), "{check}");
    assert!(!check.stdout.contains("passport for"), "{check}");

    let bad = world.broker(&["--verifier-url", "ftp://verifier", "status"]).exit(1);
    assert!(bad.stderr.contains("passport verifier_url"), "{bad}");
    assert!(bad.stderr.contains("http"), "{bad}");
}
