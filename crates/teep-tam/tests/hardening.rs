//! Regressions from a hostile-user review: a TAM that serves with keys it invented or that
//! others can read, a signer removed while the TAM keeps shipping what it signed, and names
//! that smuggle terminal escapes into the CLI's output.

mod common;

use common::{Agent, Db, TestTam, example_component, hex_vector, provision, vector_text};
use teep_proto::Message;
use teep_tam::{AdminError, KeyError, ServeError, Tam, TamConfig, TamKeys};

macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Db::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Db::Postgres).await })*
        }
    };
}

on_both_databases!(signer_removal_keeps_the_catalog_consistent, names_are_printable);

#[tokio::test]
async fn serving_never_creates_keys() {
    let dir = tempfile::tempdir().unwrap();
    let config = TamConfig { state_dir: dir.path().to_owned(), ..TamConfig::default() };
    let err = Tam::open(config.clone()).await.unwrap_err();
    assert!(matches!(err, ServeError::Key(KeyError::Missing { .. })), "{err}");
    assert!(err.to_string().contains("teep tam init"), "{err}");
    assert!(!dir.path().join("tam-p256.pem").exists());
    assert!(!dir.path().join("tam-ed25519.pem").exists());

    // After init (load_or_generate) the same configuration serves with those keys.
    let keys = TamKeys::load_or_generate(&config).unwrap();
    let tam = Tam::open(config).await.unwrap();
    assert_eq!(tam.keys().public_keys(), keys.public_keys());
    tam.store().close().await;
}

#[cfg(unix)]
#[tokio::test]
async fn serving_refuses_a_private_key_others_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let config = TamConfig { state_dir: dir.path().to_owned(), ..TamConfig::default() };
    TamKeys::load_or_generate(&config).unwrap();
    let key = dir.path().join("tam-ed25519.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Tam::open(config).await.unwrap_err();
    assert!(matches!(err, ServeError::Key(KeyError::Permissions { mode: 0o644, .. })), "{err}");
    assert!(err.to_string().contains("chmod 600"), "{err}");
}

async fn signer_removal_keeps_the_catalog_consistent(db: Db) {
    let Some(tam) = TestTam::start(db).await else { return };
    let agent = Agent::p256();
    provision(&tam, &agent).await;

    // Refused while suit_uri, which "example" authenticated, is in the catalog; named.
    let err = tam.admin.remove_signer("example").await.unwrap_err();
    let AdminError::SignerInUse { signer, components } = &err else { panic!("{err}") };
    assert_eq!(signer, "example");
    assert_eq!(components.len(), 1);
    assert!(components[0].ends_with("@3"), "{components:?}");
    assert!(err.to_string().contains(&components[0]), "{err}");
    assert_eq!(tam.admin.signers().await.unwrap().len(), 1);
    assert!(matches!(tam.admin.remove_signer("nobody").await, Err(AdminError::NotFound(_))));
    assert!(matches!(
        tam.admin.remove_signer_and_tcs("nobody").await,
        Err(AdminError::NotFound(_))
    ));

    // The TAM still ships it.
    let body = tam.post(b"").await.bytes().await.unwrap();
    let request = agent.query_request(&body, &tam.tam_public_keys());
    let reply = tam.post(&agent.query_response(&request, &[], &[])).await;
    assert_eq!(reply.status(), 200);
    let Message::Update(update) = agent.open(&reply.bytes().await.unwrap(), &tam.tam_public_keys())
    else {
        panic!("expected Update")
    };
    assert_eq!(update.manifest_list.map(|m| m.len()), Some(1));

    // Removing both: the catalog is empty and nothing is shipped any more.
    assert_eq!(tam.admin.remove_signer_and_tcs("example").await.unwrap(), 1);
    assert!(tam.admin.signers().await.unwrap().is_empty());
    assert!(tam.admin.tcs().await.unwrap().is_empty());
    let body = tam.post(b"").await.bytes().await.unwrap();
    let request = agent.query_request(&body, &tam.tam_public_keys());
    assert_eq!(tam.post(&agent.query_response(&request, &[], &[])).await.status(), 204);

    // A signer without catalog entries goes at once; re-adding works and the old aliases
    // do not linger.
    let signer = vector_text("teep-protocol/example-signer-public.pem");
    tam.admin.add_signer("example", signer.as_bytes(), 5).await.unwrap();
    tam.admin.remove_signer("example").await.unwrap();
    tam.admin.add_signer("example", signer.as_bytes(), 6).await.unwrap();
    tam.admin.add_tc(&hex_vector("teep-protocol/suit_uri.hex.txt"), 7).await.unwrap();
    let id = teep_tam::ComponentKey::from_parts(&example_component()).unwrap();
    assert_eq!(
        tam.tam.store().resolve_alias(id.as_cbor()).await.unwrap().as_deref(),
        Some(common::example_manifest_id().as_cbor())
    );
    tam.finish().await;
}

async fn names_are_printable(db: Db) {
    let Some(tam) = TestTam::start(db).await else { return };
    let signer = vector_text("teep-protocol/example-signer-public.pem");
    let agent = Agent::p256();
    let long = "n".repeat(65);
    let bad = [
        "",
        " ",
        "\u{1b}[31mred",
        "two\nlines",
        "carriage\rreturn",
        "tab\there",
        "bell\u{7}",
        "c1\u{9b}31m",
        "rtl\u{202e}gpj.exe",
        "zero\u{200b}width",
        long.as_str(),
    ];
    for name in bad {
        let err = tam.admin.add_signer(name, signer.as_bytes(), 1).await.unwrap_err();
        assert!(matches!(err, AdminError::InvalidArgument(_)), "{name:?}: {err}");
        let pem = agent.public_pem();
        let err = tam.admin.enroll_device(pem.as_bytes(), Some(name), teep_tam::Wire::Rfc, 1).await;
        assert!(matches!(err, Err(AdminError::InvalidArgument(_))), "{name:?}");
    }
    assert!(tam.admin.signers().await.unwrap().is_empty());
    assert!(tam.admin.devices().await.unwrap().is_empty());

    // Printable names up to 64 characters (not bytes) are fine, as is no label at all.
    let name = "é".repeat(64);
    tam.admin.add_signer(&name, signer.as_bytes(), 1).await.unwrap();
    let pem = agent.public_pem();
    tam.admin
        .enroll_device(pem.as_bytes(), Some("lab rack 3 — Zürich"), teep_tam::Wire::Rfc, 1)
        .await
        .unwrap();
    tam.admin
        .enroll_device(Agent::ed25519().public_pem().as_bytes(), None, teep_tam::Wire::Rfc, 1)
        .await
        .unwrap();
    tam.finish().await;
}
