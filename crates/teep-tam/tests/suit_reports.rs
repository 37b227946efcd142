//! SUIT reports end to end at the TAM (draft-ietf-suit-report §4, §5;
//! draft-ietf-teep-protocol-26 §8.1.2): enrolled report keys, signature and nonce checks, and
//! the per-device report history, on SQLite and on PostgreSQL.

mod common;

use common::{Agent, Db, TestTam, provision};

use teep_cose::{Algorithm, SigningKey};
use teep_proto::{Message, Token};
use teep_suit::{Reason, Record, ReportResult, SuitDigest, SuitReference, SuitReport};

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

on_both_databases!(
    enrolled_key_verifies_signed_reports_and_rejects_others,
    reports_without_enrolled_key_are_read_unverified,
    foreign_nonce_drops_the_message,
    encrypted_report_is_opened_with_the_tam_key,
    error_reports_are_stored_with_their_reason,
    report_key_enrolment_rules,
);

fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

fn report(nonce: &[u8], result: ReportResult) -> SuitReport {
    SuitReport {
        reference: SuitReference {
            manifest_uri: "https://example.org/tc.suit".into(),
            manifest_digest: SuitDigest::sha256(b"manifest"),
        },
        nonce: Some(nonce.to_vec()),
        records: Vec::new(),
        result,
    }
}

/// Runs a session up to the Update and returns its token.
async fn update_token(tam: &TestTam, agent: &Agent) -> Token {
    let body = tam.post(b"").await.bytes().await.unwrap();
    let request = agent.query_request(&body, &tam.tam_public_keys());
    let response = tam.post(&agent.query_response(&request, &[], &[])).await;
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    match agent.open(&body, &tam.tam_public_keys()) {
        Message::Update(u) => u.token.unwrap(),
        other => panic!("expected Update, got {:?}", other.kind()),
    }
}

fn success_with(agent: &Agent, token: &Token, reports: Vec<Vec<u8>>) -> Vec<u8> {
    let success = teep_proto::Success {
        token: Some(token.clone()),
        suit_reports: Some(reports),
        ..Default::default()
    };
    agent.seal(&Message::Success(success))
}

async fn installed(tam: &TestTam, agent: &Agent) -> usize {
    tam.admin.status(&agent.thumbprint()).await.unwrap().components.len()
}

async fn enrolled_key_verifies_signed_reports_and_rejects_others(db: Db) {
    let Some(tam) = TestTam::start(db).await else { return };
    let agent = Agent::p256();
    provision(&tam, &agent).await;
    let report_key = SigningKey::generate_p256(&mut rng());
    let pem = report_key.public_key().to_spki_pem();
    tam.admin.set_report_key(&agent.thumbprint(), pem.as_bytes(), 1_000).await.unwrap();

    let token = update_token(&tam, &agent).await;
    let ok = report(token.as_bytes(), ReportResult::Success);
    // Unprotected, and signed with another key: the message is dropped, the token stays open
    // and nothing is recorded.
    let other = SigningKey::generate_p256(&mut rng());
    for bad in [ok.encode(), ok.sign1(&other, Algorithm::ESP256).unwrap()] {
        let done = tam.post(&success_with(&agent, &token, vec![bad])).await;
        assert_eq!(done.status(), 204);
        assert_eq!(installed(&tam, &agent).await, 0);
        assert!(tam.admin.reports(&agent.thumbprint(), 10).await.unwrap().is_empty());
    }
    // A flipped signature byte is dropped too.
    let mut flipped = ok.sign1(&report_key, Algorithm::ESP256).unwrap();
    if let Some(last) = flipped.last_mut() {
        *last ^= 1;
    }
    tam.post(&success_with(&agent, &token, vec![flipped])).await;
    assert_eq!(installed(&tam, &agent).await, 0);

    // Signed with the enrolled key: accepted, stored as verified.
    let signed = ok.sign1(&report_key, Algorithm::ESP256).unwrap();
    let done = tam.post(&success_with(&agent, &token, vec![signed])).await;
    assert_eq!(done.status(), 204);
    assert_eq!(installed(&tam, &agent).await, 1);
    let status = tam.admin.status(&agent.thumbprint()).await.unwrap();
    assert_eq!(status.report_key, Some(report_key.public_key().to_cose_key()));
    assert_eq!(status.reports.len(), 1);
    let row = &status.reports[0];
    assert_eq!(row.message, "success");
    assert_eq!(row.protection, "signed");
    assert!(row.verified && row.success);
    assert_eq!(row.reason, None);
    assert_eq!(row.manifest_uri, "https://example.org/tc.suit");
    assert_eq!(row.manifest_digest, SuitDigest::sha256(b"manifest").encode());
    assert_eq!(SuitReport::decode(&row.report).unwrap(), ok);

    // Removing the device removes its reports and key.
    tam.admin.remove_device(&agent.thumbprint()).await.unwrap();
    assert!(tam.tam.store().reports(&agent.thumbprint(), 10).await.unwrap().is_empty());
    assert_eq!(tam.tam.store().report_key(&agent.thumbprint()).await.unwrap(), None);
    tam.finish().await;
}

async fn reports_without_enrolled_key_are_read_unverified(db: Db) {
    let Some(tam) = TestTam::start(db).await else { return };
    let agent = Agent::p256();
    provision(&tam, &agent).await;
    let token = update_token(&tam, &agent).await;
    let ok = report(token.as_bytes(), ReportResult::Success);
    let signer = SigningKey::generate_ed25519(&mut rng());
    let reports = vec![ok.encode(), ok.sign1(&signer, Algorithm::ED25519).unwrap()];
    let done = tam.post(&success_with(&agent, &token, reports)).await;
    assert_eq!(done.status(), 204);
    assert_eq!(installed(&tam, &agent).await, 1);
    let rows = tam.admin.reports(&agent.thumbprint(), 10).await.unwrap();
    let forms: Vec<_> = rows.iter().map(|r| (r.protection.as_str(), r.verified)).collect();
    // Newest first.
    assert_eq!(forms, [("signed", false), ("unprotected", false)]);
    tam.finish().await;
}

async fn foreign_nonce_drops_the_message(db: Db) {
    let Some(tam) = TestTam::start(db).await else { return };
    let agent = Agent::p256();
    provision(&tam, &agent).await;
    let token = update_token(&tam, &agent).await;
    let foreign = report(b"another token", ReportResult::Success);
    tam.post(&success_with(&agent, &token, vec![foreign.encode()])).await;
    assert_eq!(installed(&tam, &agent).await, 0);
    // Malformed report bytes are dropped as well.
    tam.post(&success_with(&agent, &token, vec![vec![0xa1, 0x63]])).await;
    assert_eq!(installed(&tam, &agent).await, 0);
    assert!(tam.admin.reports(&agent.thumbprint(), 10).await.unwrap().is_empty());
    // The token is still open: the right report is accepted.
    let ok = report(token.as_bytes(), ReportResult::Success);
    tam.post(&success_with(&agent, &token, vec![ok.encode()])).await;
    assert_eq!(installed(&tam, &agent).await, 1);
    tam.finish().await;
}

async fn encrypted_report_is_opened_with_the_tam_key(db: Db) {
    let Some(tam) = TestTam::start(db).await else { return };
    let agent = Agent::p256();
    provision(&tam, &agent).await;
    let report_key = SigningKey::generate_p256(&mut rng());
    let pem = report_key.public_key().to_spki_pem();
    tam.admin.set_report_key(&agent.thumbprint(), pem.as_bytes(), 1_000).await.unwrap();
    let token = update_token(&tam, &agent).await;
    let ok = report(token.as_bytes(), ReportResult::Success);
    let tam_key = tam.keys().p256.public_key();
    let sealed = ok.encrypt(&mut rng(), &report_key, Algorithm::ESP256, &tam_key).unwrap();
    tam.post(&success_with(&agent, &token, vec![sealed])).await;
    assert_eq!(installed(&tam, &agent).await, 1);
    let rows = tam.admin.reports(&agent.thumbprint(), 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].protection.as_str(), rows[0].verified), ("encrypted", true));
    tam.finish().await;
}

async fn error_reports_are_stored_with_their_reason(db: Db) {
    let Some(tam) = TestTam::start(db).await else { return };
    let agent = Agent::p256();
    provision(&tam, &agent).await;
    let token = update_token(&tam, &agent).await;
    let record = Record {
        manifest_id: vec![],
        section: 20,
        offset: 3,
        component_index: 0,
        properties: Vec::new(),
    };
    let failed = report(
        token.as_bytes(),
        ReportResult::Failure { code: 3, record, reason: Reason::ConditionFailed },
    );
    let error = teep_proto::TeepError {
        token: Some(token.clone()),
        err_code: teep_proto::ErrCode::MANIFEST_PROCESSING_FAILED,
        suit_reports: Some(vec![failed.encode()]),
        ..Default::default()
    };
    let done = tam.post(&agent.seal(&Message::Error(error))).await;
    assert_eq!(done.status(), 204);
    let status = tam.admin.status(&agent.thumbprint()).await.unwrap();
    assert_eq!(status.reports.len(), 1);
    assert_eq!(status.reports[0].message, "error");
    assert!(!status.reports[0].success);
    assert_eq!(status.reports[0].reason.as_deref(), Some("condition failed"));
    assert!(status.device.last_error_code.is_some());
    tam.finish().await;
}

async fn report_key_enrolment_rules(db: Db) {
    let Some(tam) = TestTam::start(db).await else { return };
    let agent = Agent::p256();
    provision(&tam, &agent).await;
    // The TEEP key cannot double as report key.
    let err = tam
        .admin
        .set_report_key(&agent.thumbprint(), agent.public_pem().as_bytes(), 1_000)
        .await
        .unwrap_err();
    assert!(matches!(err, teep_tam::AdminError::InvalidArgument(_)), "{err}");
    // Unknown device, unreadable key.
    let key = SigningKey::generate_p256(&mut rng()).public_key().to_spki_pem();
    let err = tam.admin.set_report_key(&[7; 32], key.as_bytes(), 1_000).await.unwrap_err();
    assert!(matches!(err, teep_tam::AdminError::NotFound(_)), "{err}");
    assert!(tam.admin.set_report_key(&agent.thumbprint(), b"junk", 1_000).await.is_err());
    // Replacing works.
    tam.admin.set_report_key(&agent.thumbprint(), key.as_bytes(), 1_000).await.unwrap();
    let again = SigningKey::generate_p256(&mut rng()).public_key();
    let pem = again.to_spki_pem();
    tam.admin.set_report_key(&agent.thumbprint(), pem.as_bytes(), 2_000).await.unwrap();
    let stored = tam.tam.store().report_key(&agent.thumbprint()).await.unwrap();
    assert_eq!(stored, Some(again.to_cose_key()));
    tam.finish().await;
}
