//! `init` creates a usable state directory with a private key file.

use std::os::unix::fs::PermissionsExt;

use teep_agent::software::config::{ConfigFile, SuiteName, TamEntry};
use teep_agent::software::init::{self, InitError, InitOptions, KeyKind};
use teep_agent::software::keys;

/// Options with the one TAM every Agent needs.
fn options() -> InitOptions {
    let mut config = ConfigFile::default();
    config.tams.push(TamEntry {
        uri: "http://127.0.0.1:1/tam".into(),
        numbering: None,
        public_keys: Vec::new(),
    });
    InitOptions { config, ..InitOptions::default() }
}

#[test]
fn init_without_a_tam_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = init::init(dir.path(), &InitOptions::default()).expect_err("no TAM");
    assert!(matches!(err, InitError::Config(_)), "{err}");
    assert!(!dir.path().join(init::KEY_FILE).exists());
}

#[test]
fn init_creates_report_and_device_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let done = init::init(dir.path(), &options()).expect("init");
    let mut thumbprints = vec![done.kid];
    for (private, public) in [
        (init::REPORT_KEY_FILE, "report-key.pub.pem"),
        (init::DEVICE_KEY_FILE, init::DEVICE_PUBLIC_KEY_FILE),
    ] {
        let path = dir.path().join(private);
        let mode = std::fs::metadata(&path).expect("key").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{private}");
        let key = keys::read_private_key(&path).expect("read");
        let text = std::fs::read_to_string(dir.path().join(public)).expect("public");
        let public = keys::parse_public_key(&text).expect("parse");
        assert_eq!(key.public_key().thumbprint(), public.thumbprint());
        thumbprints.push(public.thumbprint());
    }
    thumbprints.dedup();
    assert_eq!(thumbprints.len(), 3, "TEEP, report and device keys are distinct");

    // Key-wrap keys: added with mode 0600, bad sizes refused, loaded by open.
    assert!(init::add_keywrap_key(dir.path(), None, &[0; 15]).is_err());
    init::add_keywrap_key(dir.path(), Some(b"kid-1"), &[7; 16]).expect("A128KW");
    init::add_keywrap_key(dir.path(), None, &[8; 32]).expect("A256KW");
    let path = dir.path().join(init::KEYWRAP_KEYS_FILE);
    assert_eq!(std::fs::metadata(&path).expect("file").permissions().mode() & 0o777, 0o600);
    let loaded = teep_agent::software::decryption_keys(dir.path()).expect("keys");
    let kids: Vec<_> = loaded.iter().map(|k| k.kid().map(<[u8]>::to_vec)).collect();
    assert_eq!(kids, vec![None, Some(b"kid-1".to_vec()), None]);

    // A key-wrap file readable by others is refused when the Agent opens.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = teep_agent::software::open(dir.path()).expect_err("open").to_string();
    assert!(err.contains("key-wrap keys") && err.contains("mode 644"), "{err}");
}

#[test]
fn init_creates_private_key_and_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("agent");
    let done = init::init(&root, &options()).expect("init");

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
    assert!(matches!(init::init(&root, &options()), Err(InitError::AlreadyInitialized)));
}

#[test]
fn ed25519_key_gets_ed25519_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = InitOptions { key_kind: KeyKind::Ed25519, ..options() };
    init::init(dir.path(), &options).expect("init");
    let config = ConfigFile::load(&dir.path().join(init::CONFIG_FILE)).expect("config");
    assert_eq!(config.suites, vec![SuiteName::Ed25519]);
}

#[test]
fn private_key_readable_by_others_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    init::init(dir.path(), &options()).expect("init");
    let key_path = dir.path().join(init::KEY_FILE);
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    assert!(matches!(
        keys::read_private_key(&key_path),
        Err(keys::KeyError::Permissions { mode: 0o644 })
    ));
}
