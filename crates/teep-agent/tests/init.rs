//! `init` creates a usable state directory with a private key file.

use std::os::unix::fs::PermissionsExt;

use teep_agent::software::config::{ConfigFile, SuiteName};
use teep_agent::software::init::{self, InitError, InitOptions, KeyKind};
use teep_agent::software::keys;

#[test]
fn init_creates_private_key_and_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("agent");
    let done = init::init(&root, &InitOptions::default()).expect("init");

    let key_path = root.join(init::KEY_FILE);
    let mode = std::fs::metadata(&key_path).expect("key").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let dir_mode = std::fs::metadata(&root).expect("dir").permissions().mode();
    assert_eq!(dir_mode & 0o077, 0);
    for sub in ["components", "manifests", "staging", "journal"] {
        assert!(root.join(sub).is_dir(), "{sub}");
    }

    let key = keys::read_private_key(&key_path).expect("read key");
    assert_eq!(key.public_key().thumbprint(), done.kid);
    let public = std::fs::read_to_string(root.join(init::PUBLIC_KEY_FILE)).expect("pub");
    assert_eq!(keys::parse_public_key(&public).expect("parse").thumbprint(), done.kid);

    let config = ConfigFile::load(&root.join(init::CONFIG_FILE)).expect("config");
    assert_eq!(config.suites, vec![SuiteName::Esp256]);

    // A second init must not overwrite the key.
    assert!(matches!(
        init::init(&root, &InitOptions::default()),
        Err(InitError::AlreadyInitialized)
    ));
}

#[test]
fn ed25519_key_gets_ed25519_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = InitOptions { key_kind: KeyKind::Ed25519, config: ConfigFile::default() };
    init::init(dir.path(), &options).expect("init");
    let config = ConfigFile::load(&dir.path().join(init::CONFIG_FILE)).expect("config");
    assert_eq!(config.suites, vec![SuiteName::Ed25519]);
}

#[test]
fn private_key_readable_by_others_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    init::init(dir.path(), &InitOptions::default()).expect("init");
    let key_path = dir.path().join(init::KEY_FILE);
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    assert!(matches!(
        keys::read_private_key(&key_path),
        Err(keys::KeyError::Permissions { mode: 0o644 })
    ));
}
