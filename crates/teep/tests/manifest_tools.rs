//! System test: envelopes re-signed, severed and encrypted with `teep manifest sign`, `sever`
//! and `encrypt`, delivered by the real TAM to the real Agent (draft-ietf-suit-manifest-34
//! §8.3, §8.5; draft-ietf-suit-firmware-encryption).

mod common;

use common::{AgentSetup, EXAMPLE_MANIFEST, World, example_installed, run, vector};

fn path(p: &std::path::Path) -> String {
    p.display().to_string()
}

#[test]
fn severed_then_encrypted_for_the_device_key_installs_the_plaintext() {
    let world = World::start(AgentSetup::default());
    let root = world.root().to_path_buf();
    let integrated = path(&vector("teep-protocol/suit_integrated.hex.txt"));
    let signer = path(&vector("teep-protocol/example-signer-private.pem"));
    let device = path(&world.agent_dir.join("device-key.pub.pem"));

    // Encrypt the published payload for this Agent's device key, then sever install and text.
    let out = run(
        &root,
        &[
            "manifest",
            "encrypt",
            &integrated,
            "--recipient",
            &device,
            "--alg",
            "A128CTR",
            "--key",
            &signer,
            "-o",
            "enc.suit",
        ],
    );
    out.success();
    let enc = std::fs::read(root.join("enc.suit")).expect("enc.suit");
    assert!(!enc.windows(20).any(|w| w == b"Hello, Secure World!"), "plaintext left");
    run(&root, &["manifest", "sever", "enc.suit", "--key", &signer, "-o", "tc.suit"]).success();
    let out = run(
        &root,
        &[
            "manifest",
            "inspect",
            "tc.suit",
            "--key",
            &path(&vector("teep-protocol/example-signer-public.pem")),
        ],
    )
    .success();
    assert!(out.stdout.contains("/ authentication: ok"), "{out}");

    let tc = path(&root.join("tc.suit"));
    world.tam(&["tc", "add", &tc]).success();
    world.tam(&["policy", "require", EXAMPLE_MANIFEST]).success();
    world.policy_check();
    assert_eq!(world.agent_installed(), example_installed(3));
    assert_eq!(world.agent_images(), vec![b"Hello, Secure World!".to_vec()]);
}

#[test]
fn encrypted_for_another_device_is_refused_and_nothing_installed() {
    let world = World::start(AgentSetup::default());
    let root = world.root().to_path_buf();
    let integrated = path(&vector("teep-protocol/suit_integrated.hex.txt"));
    let signer = path(&vector("teep-protocol/example-signer-private.pem"));
    // A key-encryption key the Agent does not hold.
    let out = run(
        &root,
        &[
            "manifest",
            "encrypt",
            &integrated,
            "--kek",
            "000102030405060708090a0b0c0d0e0f",
            "--key",
            &signer,
            "-o",
            "tc.suit",
        ],
    );
    out.success();
    let tc = path(&root.join("tc.suit"));
    world.tam(&["tc", "add", &tc]).success();
    world.tam(&["policy", "require", EXAMPLE_MANIFEST]).success();
    world.broker(&["policy-check"]);
    assert!(world.agent_installed().is_empty());
    assert!(world.agent_images().is_empty());
    // The Agent's signed SUIT report of the failure reached the TAM with the Error.
    let status = world.tam(&["status", &world.kid]).success();
    let reports: Vec<&str> = status
        .stdout
        .lines()
        .skip_while(|l| l.trim() != "SUIT reports:")
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .collect();
    assert_eq!(reports.len(), 1, "{status}");
    assert!(reports[0].contains("\terror\tfailed: "), "{status}");
    assert!(reports[0].contains("\tsigned\t"), "{status}");
    eprintln!("{status}");
}
