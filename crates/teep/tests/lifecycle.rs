//! System tests: a Trusted Component's life through the real `teep` binary, TAM and Agent in
//! their own processes over loopback HTTP and a Unix socket (RFC 9397 §6.2 Broker APIs,
//! draft-ietf-teep-protocol-26 §4, draft-ietf-teep-otrp-over-http).

mod common;

use common::{AgentSetup, EXAMPLE_MANIFEST, World, example_installed, example_signer, vector};
use teep_suit::builder::Payload;

#[test]
fn install_update_refuse_lower_and_delete() {
    let world = World::start(AgentSetup::default());

    // The published suit_integrated example: sequence 3, payload carried in the envelope.
    let integrated = vector("teep-protocol/suit_integrated.hex.txt");
    let out = world.tam(&["tc", "add", integrated.to_str().expect("path")]).success();
    assert!(out.stdout.starts_with(&format!("added {EXAMPLE_MANIFEST} sequence 3 (")), "{out}");
    assert!(out.stdout.contains("signed by example"), "{out}");
    world.tam(&["policy", "require", EXAMPLE_MANIFEST]).success();
    assert!(world.agent_installed().is_empty());

    world.policy_check();
    assert_eq!(world.agent_installed(), example_installed(3));
    let (installed, status) = world.tam_installed();
    assert_eq!(installed, example_installed(3), "{status}");
    assert!(status.stdout.contains(&format!("device {}", world.kid)), "{status}");
    // The image in the Agent's store is the published example's payload.
    assert_eq!(world.agent_images(), vec![b"Hello, Secure World!".to_vec()]);

    // Nothing left to do: the session ends after the QueryResponse.
    let out = world.policy_check();
    assert!(out.stdout.contains(": 2 round trips"), "{out}");

    // An update to sequence 4, built and signed here with the example signer key.
    let payload = b"teep-rs system test: version 4 of the example TC".to_vec();
    let v4 = common::example_update(4, Payload::integrated(payload.clone()), &example_signer());
    let v4 = world.file("v4.suit", &v4);
    let out = world.tam(&["tc", "add", &v4]).success();
    assert!(out.stdout.starts_with(&format!("added {EXAMPLE_MANIFEST} sequence 4 (")), "{out}");
    world.tam(&["policy", "require", EXAMPLE_MANIFEST, "--min-sequence", "4"]).success();
    world.policy_check();
    assert_eq!(world.agent_installed(), example_installed(4));
    let (installed, status) = world.tam_installed();
    assert_eq!(installed, example_installed(4), "{status}");
    assert_eq!(world.agent_images(), vec![payload.clone()]);

    // A lower sequence number is never installed over a higher one: the catalog offers only
    // sequence 2 now; the TAM sees sequence 4 in the tc-list and sends no Update (the Agent's
    // own rollback check is tested in teep-agent), and the Agent keeps sequence 4.
    let v2 = common::example_update(2, Payload::integrated(b"old".to_vec()), &example_signer());
    let v2 = world.file("v2.suit", &v2);
    world.tam(&["tc", "add", &v2]).success();
    world.tam(&["policy", "require", EXAMPLE_MANIFEST]).success();
    for sequence in ["4", "3"] {
        let out = world.tam(&["tc", "remove", EXAMPLE_MANIFEST, "--sequence", sequence]);
        assert_eq!(
            out.success().stdout.trim(),
            format!("removed 1 version(s) of {EXAMPLE_MANIFEST}")
        );
    }
    let out = world.policy_check();
    assert!(out.stdout.contains(": 2 round trips"), "no Update: {out}");
    assert_eq!(world.agent_installed(), example_installed(4));
    assert_eq!(world.agent_images(), vec![payload]);
    let (installed, status) = world.tam_installed();
    assert_eq!(installed, example_installed(4), "{status}");

    // Delete by policy: the next policy check carries it in unneeded-manifest-list.
    let out = world.tam(&["policy", "delete", EXAMPLE_MANIFEST]).success();
    assert_eq!(out.stdout.trim(), format!("{EXAMPLE_MANIFEST} will be deleted"));
    world.policy_check();
    assert!(world.agent_installed().is_empty());
    assert!(world.agent_images().is_empty());
    let (installed, status) = world.tam_installed();
    assert!(installed.is_empty(), "{status}");
}

#[test]
fn request_ta_and_unrequest_ta() {
    let world = World::start(AgentSetup::default());
    let integrated = vector("teep-protocol/suit_integrated.hex.txt");
    world.tam(&["tc", "add", integrated.to_str().expect("path")]).success();

    // RequestTA names the TAM to contact itself: the Agent knows it from its config.
    let out = world.broker(&["request-ta", EXAMPLE_MANIFEST]).success();
    assert!(out.stdout.contains(&format!("session with {}", world.tam_uri)), "{out}");
    assert_eq!(world.agent_installed(), example_installed(3));
    let (installed, status) = world.tam_installed();
    assert_eq!(installed, example_installed(3), "{status}");

    // UnrequestTA: no policy keeps the TC, so the TAM deletes it.
    let out = world.broker(&["unrequest-ta", EXAMPLE_MANIFEST]).success();
    assert!(out.stdout.contains(&format!("session with {}", world.tam_uri)), "{out}");
    assert!(world.agent_installed().is_empty());
    let (installed, status) = world.tam_installed();
    assert!(installed.is_empty(), "{status}");

    // A malformed component id is refused before any session.
    let out = world.broker(&["request-ta", "0xzz"]).exit(1);
    assert!(out.stderr.contains("component id"), "{out}");
}

#[test]
fn tc_signed_by_an_untrusted_key_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    common::run(root, &["tam", "init", "--state", "tam"]).success();
    let config = root.join("tam/tam.toml").display().to_string();
    let signer = vector("teep-protocol/example-signer-public.pem");
    let signer = signer.to_str().expect("path");
    common::run(root, &["tam", "signer", "add", "example", signer, "-c", &config]).success();

    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let stranger = teep_cose::SigningKey::generate_p256(&mut rng);
    let envelope = common::example_update(9, Payload::integrated(b"evil".to_vec()), &stranger);
    let path = root.join("stranger.suit");
    std::fs::write(&path, envelope).expect("write");
    let out = common::run(root, &["tam", "tc", "add", path.to_str().expect("path"), "-c", &config]);
    let out = out.exit(1);
    assert_eq!(out.stderr_lines().len(), 1, "{out}");
    let text = out.stderr.to_lowercase();
    assert!(text.contains("rejected"), "{out}");
    assert!(text.contains("trusted key") || text.contains("signer"), "{out}");
    let list = common::run(root, &["tam", "tc", "list", "-c", &config]).success();
    assert_eq!(list.stdout, "", "nothing entered the catalog");

    // The published example verifies against the registered signer.
    let example = vector("teep-protocol/suit_integrated.hex.txt");
    let args = ["tam", "tc", "add", example.to_str().expect("path"), "-c", &config];
    common::run(root, &args).success();
    // A second copy of the same identity and sequence number is refused.
    let out = common::run(root, &args).exit(1);
    assert!(out.stderr.contains("already"), "{out}");
}

#[test]
fn servers_stop_on_sigterm_and_clients_report_an_absent_agent() {
    let mut world = World::start(AgentSetup::default());
    let [agent, tam] = world.shut_down();
    assert!(agent.is_some_and(|s| s.success()), "agent: {agent:?}");
    assert!(tam.is_some_and(|s| s.success()), "tam: {tam:?}");
    assert!(!std::path::Path::new(&world.socket).exists(), "the Agent removed its socket");

    // Without a running Agent, the clients fail with one line naming the socket.
    let status = common::run(world.root(), &["agent", "status", "--socket", &world.socket]);
    let status = status.exit(1);
    assert_eq!(status.stderr_lines().len(), 1, "{status}");
    assert!(status.stderr.contains(&world.socket), "{status}");
    let out = world.broker(&["policy-check"]).exit(1);
    assert!(out.stderr.contains(&world.socket), "{out}");
}

/// A tampered image in the Agent's sealed store: after a restart `teep agent status` lists the
/// file, the check that failed and the quarantined manifest, and exits with code 3.
#[test]
fn agent_status_reports_a_tampered_store_with_its_own_exit_code() {
    let mut world = World::start(AgentSetup::default());
    let integrated = vector("teep-protocol/suit_integrated.hex.txt");
    world.tam(&["tc", "add", integrated.to_str().expect("path")]).success();
    world.tam(&["policy", "require", EXAMPLE_MANIFEST]).success();
    world.policy_check();
    assert_eq!(world.agent_installed(), example_installed(3));
    let [agent, _] = world.shut_down();
    assert!(agent.is_some_and(|s| s.success()), "agent: {agent:?}");

    // Flip one byte of the (sealed) image, then serve the same state directory again.
    let images: Vec<_> = std::fs::read_dir(world.agent_dir.join("components"))
        .expect("components/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "img"))
        .collect();
    assert_eq!(images.len(), 1, "{images:?}");
    let mut bytes = std::fs::read(&images[0]).expect("image");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&images[0], bytes).expect("tamper");
    let socket = world.socket.clone();
    let agent_dir = world.agent_dir.display().to_string();
    let mut agent = common::Daemon::spawn(
        "agent-again",
        world.root(),
        &["agent", "serve", "--dir", &agent_dir, "--socket", &socket],
    );
    agent
        .wait_ready(|| std::os::unix::net::UnixStream::connect(&socket).is_ok())
        .expect("the Agent serves again");

    let out = common::run(world.root(), &["agent", "status", "--socket", &socket]).exit(3);
    let name = images[0].file_name().expect("name").to_string_lossy().into_owned();
    assert!(out.stdout.contains("no Trusted Components installed"), "{out}");
    assert!(out.stdout.contains("tampered: 1 store file(s) failed"), "{out}");
    assert!(out.stdout.contains(&format!("tampered file\tcomponents/{name}\t")), "{out}");
    assert!(out.stdout.contains("quarantined manifest\t"), "{out}");
    assert!(!out.stdout.contains("Hello, Secure World!"), "no payload bytes: {out}");
}
