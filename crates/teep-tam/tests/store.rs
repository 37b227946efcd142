//! The store's semantics on SQLite and PostgreSQL: tokens, catalog aliases, policy.

mod common;

use common::{Db, TestTam};
use teep_tam::store::{PolicyAction, PolicyRow, TokenPurpose, TokenRecord};
use teep_tam::token::token_hash;

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

on_both_databases!(tokens_are_single_use_and_expire, policy_device_rules_override_defaults);

fn record(token: &[u8], holder: &str, purpose: TokenPurpose, at: u64) -> TokenRecord {
    TokenRecord {
        hash: token_hash(token),
        holder: holder.into(),
        purpose,
        created_at: at,
        expires_at: at + 100,
        context: Some("{\"install\":[],\"delete\":[]}".into()),
    }
}

async fn tokens_are_single_use_and_expire(db: Db) {
    let Some(tam) = TestTam::start(db).await else { return };
    let store = tam.tam.store();
    let a = record(b"token-a-12345678", "dev", TokenPurpose::Update, 1000);
    store.issue_token(&a, 4).await.unwrap();

    // Wrong purpose, wrong holder, expired: nothing consumed.
    assert!(store.consume_token(&a.hash, TokenPurpose::Query, None, 1001).await.unwrap().is_none());
    let other = Some("other");
    assert!(
        store.consume_token(&a.hash, TokenPurpose::Update, other, 1001).await.unwrap().is_none()
    );
    assert!(
        store.consume_token(&a.hash, TokenPurpose::Update, None, 1100).await.unwrap().is_none()
    );
    assert!(store.token_is_open(&a.hash, 1001).await.unwrap());

    // Consumed exactly once, with its context.
    let context = store.consume_token(&a.hash, TokenPurpose::Update, Some("dev"), 1001).await;
    assert!(context.unwrap().unwrap().unwrap().contains("install"));
    assert!(
        store
            .consume_token(&a.hash, TokenPurpose::Update, Some("dev"), 1002)
            .await
            .unwrap()
            .is_none()
    );

    // Concurrent consumers: exactly one wins.
    let b = record(b"token-b-12345678", "dev", TokenPurpose::Query, 1000);
    store.issue_token(&b, 4).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store.consume_token(&b.hash, TokenPurpose::Query, None, 1001).await.unwrap()
            })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap().is_some());
    }
    assert_eq!(winners, 1);

    // Bounded per holder: the oldest outstanding ones go.
    for i in 0..5_u8 {
        let t = record(&[i; 16], "bounded", TokenPurpose::Query, 2000 + u64::from(i));
        store.issue_token(&t, 2).await.unwrap();
    }
    assert_eq!(store.open_tokens("bounded", 2010).await.unwrap(), 2);
    assert!(store.token_is_open(&token_hash(&[4; 16]), 2010).await.unwrap());
    assert!(!store.token_is_open(&token_hash(&[0; 16]), 2010).await.unwrap());

    // Expired tokens are purged.
    assert!(store.purge_expired_tokens(5000).await.unwrap() >= 3);
    assert_eq!(store.open_tokens("bounded", 2010).await.unwrap(), 0);
    tam.finish().await;
}

async fn policy_device_rules_override_defaults(db: Db) {
    let Some(tam) = TestTam::start(db).await else { return };
    let store = tam.tam.store();
    let rule = |device: &str, id: &[u8], action, min| PolicyRow {
        device: device.into(),
        component_id: id.to_vec(),
        action,
        min_sequence: min,
    };
    store.set_policy(&rule("*", b"a", PolicyAction::Require, 1)).await.unwrap();
    store.set_policy(&rule("*", b"b", PolicyAction::Require, 1)).await.unwrap();
    store.set_policy(&rule("d1", b"b", PolicyAction::Delete, 0)).await.unwrap();
    store.set_policy(&rule("d1", b"c", PolicyAction::Require, 7)).await.unwrap();
    // Setting again replaces.
    store.set_policy(&rule("*", b"a", PolicyAction::Require, 2)).await.unwrap();

    let d1 = store.effective_policy("d1").await.unwrap();
    let summary: Vec<_> =
        d1.iter().map(|r| (r.component_id.clone(), r.action, r.min_sequence)).collect();
    assert_eq!(
        summary,
        [
            (b"a".to_vec(), PolicyAction::Require, 2),
            (b"b".to_vec(), PolicyAction::Delete, 0),
            (b"c".to_vec(), PolicyAction::Require, 7),
        ]
    );
    assert_eq!(store.effective_policy("d2").await.unwrap().len(), 2);
    assert!(store.remove_policy("d1", b"b").await.unwrap());
    assert_eq!(store.effective_policy("d1").await.unwrap()[1].action, PolicyAction::Require);
    assert_eq!(store.policies().await.unwrap().len(), 3);
    tam.finish().await;
}
