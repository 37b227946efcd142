//! Helpers of the fleet tests (groups, rollouts, enrolment): a TAM on SQLite or on a scratch
//! PostgreSQL database named `h1_...` (dropped afterwards), a signed catalog with several
//! versions of one component, and one-call sessions of a simulated Agent.

#![allow(dead_code)]

use teep_proto::{Message, Update};
use teep_suit::builder::{ManifestBuilder, Payload};
use teep_tam::{ComponentKey, TamConfig};

use crate::common::{Agent, Db, ScratchPg, TestTam};

/// Runs each listed `async fn name(db: Db)` on SQLite and on PostgreSQL (the calling file
/// must have `Db` in scope).
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
pub(crate) use on_both_databases;

/// A running TAM and, on PostgreSQL, the guard of its scratch database. Call
/// [`Fleet::finish`] at the end.
pub struct Fleet {
    pub tam: TestTam,
    pg: Option<ScratchPg>,
}

impl Fleet {
    pub async fn start(db: Db) -> Option<Fleet> {
        Self::start_with(db, |_| {}).await
    }

    pub async fn start_with(db: Db, tweak: impl FnOnce(&mut TamConfig)) -> Option<Fleet> {
        let mut pg = None;
        let mut url = None;
        if db == Db::Postgres {
            let scratch = ScratchPg::create("h1_fleet").await?;
            url = Some(scratch.url.clone());
            pg = Some(scratch);
        }
        // The common harness creates its own PostgreSQL database only for Db::Postgres; ours
        // is named h1_... and given through the configuration.
        let tam = TestTam::start_with(Db::Sqlite, |c| {
            if let Some(url) = url {
                c.database_url = Some(url);
            }
            tweak(c);
        })
        .await?;
        Some(Fleet { tam, pg })
    }

    pub async fn finish(self) {
        self.tam.finish().await;
        drop(self.pg);
    }
}

/// The component of the fleet tests' catalog.
pub fn component_parts() -> Vec<Vec<u8>> {
    vec![b"fleet".to_vec(), b"app".to_vec()]
}

pub fn component() -> ComponentKey {
    ComponentKey::from_parts(&component_parts()).unwrap()
}

/// A signed envelope of version `seq` of the fleet component.
pub fn version(signer: &Agent, seq: u64) -> Vec<u8> {
    ManifestBuilder::new(teep_suit::ComponentId::new(component_parts()), seq)
        .vendor_id(hex::decode("C0DDD5F15243566087DB4F5B0AA26C2F").unwrap())
        .class_id(hex::decode("DB42F7093D8C55BAA8C5265FC5820F4E").unwrap())
        .payload(Payload::integrated(format!("version {seq}").into_bytes()))
        .sign(&signer.key, None)
        .unwrap()
}

/// Registers a signer and adds versions 1..=`newest` of the fleet component; returns the
/// envelopes by version (index 0 = version 1).
pub async fn catalog(tam: &TestTam, newest: u64) -> Vec<Vec<u8>> {
    let signer = Agent::p256();
    tam.admin.add_signer("fleet", signer.public_pem().as_bytes(), 1).await.unwrap();
    let mut out = Vec::new();
    for seq in 1..=newest {
        let envelope = version(&signer, seq);
        tam.admin.add_tc(&envelope, 1).await.unwrap();
        out.push(envelope);
    }
    out
}

/// Enrols a simulated Agent.
pub async fn enrolled(tam: &TestTam) -> Agent {
    let agent = Agent::p256();
    tam.admin
        .enroll_device(agent.public_pem().as_bytes(), None, teep_tam::Wire::Rfc, 1)
        .await
        .unwrap();
    agent
}

/// One session up to the TAM's answer to the QueryResponse: the Update, or `None` for 204.
pub async fn session(
    tam: &TestTam,
    agent: &Agent,
    installed: &[Vec<Vec<u8>>],
    requested: &[Vec<Vec<u8>>],
) -> Option<Update> {
    let body = tam.post(b"").await.bytes().await.unwrap();
    let request = agent.query_request(&body, &tam.tam_public_keys());
    let reply = tam.post(&agent.query_response(&request, installed, requested)).await;
    if reply.status() == 204 {
        return None;
    }
    assert_eq!(reply.status(), 200);
    let bytes = reply.bytes().await.unwrap();
    match agent.open(&bytes, &tam.tam_public_keys()) {
        Message::Update(update) => Some(update),
        other => panic!("expected Update, got {:?}", other.kind()),
    }
}

/// The single manifest an Update carries.
pub fn only_manifest(update: &Update) -> &[u8] {
    let list = update.manifest_list.as_deref().expect("Update without manifests");
    assert_eq!(list.len(), 1, "expected one manifest");
    &list[0]
}

/// Answers an Update with Success.
pub async fn succeed(tam: &TestTam, agent: &Agent, update: &Update) {
    let reply = tam.post(&agent.success(update.token.as_ref().unwrap())).await;
    assert_eq!(reply.status(), 204);
}

/// Answers an Update with an Error (ERR_MANIFEST_PROCESSING_FAILED and `msg`).
pub async fn fail(tam: &TestTam, agent: &Agent, update: &Update, msg: &str) {
    let error = teep_proto::TeepError {
        token: update.token.clone(),
        err_code: teep_proto::ErrCode::MANIFEST_PROCESSING_FAILED,
        err_msg: Some(msg.to_owned()),
        ..teep_proto::TeepError::default()
    };
    let reply = tam.post(&agent.seal(&Message::Error(error))).await;
    assert_eq!(reply.status(), 204);
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
