//! Schema migrations on SQLite and PostgreSQL (issue 5, "Storage": one set of migrations).
//!
//! For each backend:
//! * a fresh database gets every migration of `migrations/<backend>`;
//! * a database created at each earlier migration step and filled with representative rows
//!   for every table that existed then upgrades to the latest schema when the TAM opens it,
//!   with every row intact and readable through the store;
//! * opening it again changes nothing.
//!
//! And both backends end with the same migrations and the same tables and columns.
//! PostgreSQL scratch databases are named `h4_mig_…` and dropped afterwards.

use std::collections::BTreeSet;
use std::path::Path;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Row as _};
use teep_tam::Store;

#[path = "common/scratch_pg.rs"]
mod scratch_pg;

use scratch_pg::ScratchPg;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn dir(self) -> &'static str {
        match self {
            Backend::Sqlite => concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"),
            Backend::Postgres => concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"),
        }
    }
}

/// An empty database of a backend, removed when dropped.
struct Scratch {
    url: String,
    _pg: Option<ScratchPg>,
    _dir: Option<tempfile::TempDir>,
}

impl Scratch {
    /// `None`: PostgreSQL is unreachable and `TEEP_SKIP_PG=1` says to skip.
    async fn new(backend: Backend) -> Option<Self> {
        sqlx::any::install_default_drivers();
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("tam.db").display());
                Some(Scratch { url, _pg: None, _dir: Some(dir) })
            }
            Backend::Postgres => {
                let pg = ScratchPg::create("h4_mig").await?;
                Some(Scratch { url: pg.url.clone(), _pg: Some(pg), _dir: None })
            }
        }
    }

    async fn pool(&self) -> AnyPool {
        AnyPoolOptions::new().max_connections(2).connect(&self.url).await.unwrap()
    }
}

async fn migrator(backend: Backend) -> Migrator {
    Migrator::new(Path::new(backend.dir())).await.unwrap()
}

/// `(version, description)` of every migration in a backend's directory.
async fn migrations(backend: Backend) -> Vec<(i64, String)> {
    migrator(backend).await.iter().map(|m| (m.version, m.description.to_string())).collect()
}

/// `(version, success)` of the migrations recorded in a database.
async fn applied(pool: &AnyPool) -> Vec<(i64, bool)> {
    // SQLite stores the flag as an integer, PostgreSQL as a boolean: read both as integers.
    let sql = "SELECT version, CAST(success AS INTEGER) AS ok FROM _sqlx_migrations \
               ORDER BY version";
    let rows = sqlx::query(sql).fetch_all(pool).await.unwrap();
    rows.iter().map(|r| (r.get::<i64, _>("version"), r.get::<i64, _>("ok") != 0)).collect()
}

/// A value of a representative row.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Value {
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

/// A row inserted at a migration step and expected, unchanged, after the upgrade.
struct Seed {
    /// The migration that created the table.
    since: i64,
    table: &'static str,
    columns: &'static [&'static str],
    values: Vec<Value>,
}

fn blob(byte: u8, len: usize) -> Value {
    Value::Blob(vec![byte; len])
}

const DEVICE: u8 = 0xd1;
const COMPONENT: u8 = 0xc1;

/// One row for every table of the migrations known to this test. Tables of later migrations
/// are covered by the upgrade itself (their rows cannot predate them).
fn seeds() -> Vec<Seed> {
    use Value::Int;
    let text = |t: &str| Value::Text(t.to_owned());
    let seed = |since, table, columns, values| Seed { since, table, columns, values };
    vec![
        seed(
            1,
            "tc_signers",
            &["name", "cose_key", "thumbprint", "added_at"][..],
            vec![text("old-signer"), blob(0xa1, 40), blob(0x51, 32), Int(100)],
        ),
        seed(
            1,
            "trusted_components",
            &["component_id", "sequence_number", "envelope", "signer", "added_at"][..],
            vec![blob(COMPONENT, 12), Int(3), blob(0xe1, 300), text("old-signer"), Int(101)],
        ),
        seed(
            1,
            "devices",
            &[
                "thumbprint",
                "cose_key",
                "label",
                "wire",
                "blocked",
                "enrolled_at",
                "last_seen",
                "last_error_code",
                "last_error_msg",
                "last_error_at",
            ][..],
            vec![
                blob(DEVICE, 32),
                blob(0xa2, 77),
                text("lab device"),
                text("legacy"),
                Int(1),
                Int(102),
                Int(200),
                Int(17),
                text("manifest processing failed"),
                Int(201),
            ],
        ),
        seed(
            1,
            "device_policy",
            &["device", "component_id", "action", "min_sequence"][..],
            vec![text("*"), blob(COMPONENT, 12), text("require"), Int(2)],
        ),
        seed(
            1,
            "tokens",
            &["token_hash", "holder", "purpose", "created_at", "expires_at", "consumed", "context"]
                [..],
            vec![
                blob(0x70, 32),
                text("d1d1"),
                text("update"),
                Int(103),
                Int(9_999_999_999),
                Int(0),
                text("{}"),
            ],
        ),
        seed(
            1,
            "device_components",
            &["device", "component_id", "sequence_number", "digest", "updated_at"][..],
            vec![blob(DEVICE, 32), blob(COMPONENT, 12), Int(3), blob(0xdd, 34), Int(104)],
        ),
        seed(
            1,
            "session_events",
            &["device", "at", "kind", "detail"][..],
            vec![blob(DEVICE, 32), Int(105), text("success"), text("installed 1 component")],
        ),
        seed(
            2,
            "tc_aliases",
            &["alias", "manifest_id"][..],
            vec![blob(0xa5, 20), blob(COMPONENT, 12)],
        ),
        seed(
            3,
            "device_attestation",
            &["thumbprint", "trusted", "reason", "model", "appraised_at", "ueid"][..],
            vec![
                blob(DEVICE, 32),
                Int(1),
                text("affirming"),
                text("background-check"),
                Int(106),
                blob(0x01, 33),
            ],
        ),
        seed(
            10,
            "tam_secrets",
            &["name", "secret", "created_at"][..],
            vec![text("query-token"), blob(0x5e, 32), Int(107)],
        ),
        seed(
            10,
            "used_tokens",
            &["token_hash", "expires_at"][..],
            vec![blob(0x71, 32), Int(9_999_999_999)],
        ),
        seed(
            20,
            "device_report_keys",
            &["thumbprint", "cose_key", "added_at"][..],
            vec![blob(DEVICE, 32), blob(0xa3, 77), Int(108)],
        ),
        seed(
            20,
            "suit_reports",
            &[
                "device",
                "received_at",
                "message",
                "manifest_uri",
                "manifest_digest",
                "success",
                "reason",
                "protection",
                "verified",
                "report",
            ][..],
            vec![
                blob(DEVICE, 32),
                Int(109),
                text("success"),
                text("https://example.com/ta"),
                blob(0xdd, 34),
                Int(1),
                text("ok"),
                text("sign1"),
                Int(1),
                blob(0x8a, 64),
            ],
        ),
        seed(
            30,
            "remediation_components",
            &["component_id", "marked_at"][..],
            vec![blob(COMPONENT, 12), Int(110)],
        ),
        seed(
            35,
            "audit_log",
            &["at", "actor", "role", "action", "target", "detail"][..],
            vec![
                Int(111),
                text("cli"),
                text("operator"),
                text("tc.add"),
                text("old-signer"),
                text("sequence 3"),
            ],
        ),
        seed(
            40,
            "device_groups",
            &["name", "owner", "allow_request", "created_at"][..],
            vec![text("lab"), text("alice"), Int(1), Int(112)],
        ),
        seed(
            40,
            "group_members",
            &["group_name", "device", "added_at"][..],
            vec![text("lab"), blob(DEVICE, 32), Int(113)],
        ),
        seed(
            40,
            "rollouts",
            &[
                "id",
                "component_id",
                "sequence_number",
                "target",
                "selection",
                "basis_points",
                "state",
                "created_by",
                "created_at",
                "updated_at",
            ][..],
            vec![
                text("r1"),
                blob(COMPONENT, 12),
                Int(3),
                text("group:lab"),
                text("percentage"),
                Int(2_500),
                text("paused"),
                text("alice"),
                Int(114),
                Int(115),
            ],
        ),
        seed(
            40,
            "rollout_devices",
            &["rollout", "device", "state", "reason", "updated_at"][..],
            vec![text("r1"), blob(DEVICE, 32), text("failed"), text("err-code 17"), Int(116)],
        ),
        seed(
            50,
            "principals",
            &["name", "role", "created_at", "disabled"][..],
            vec![text("alice"), text("device-admin"), Int(117), Int(0)],
        ),
        seed(
            50,
            "api_tokens",
            &["id", "token_hash", "principal", "created_at", "expires_at", "last_used", "revoked"]
                [..],
            vec![
                text("t1"),
                blob(0x72, 32),
                text("alice"),
                Int(118),
                Int(9_999_999_999),
                Int(119),
                Int(0),
            ],
        ),
    ]
}

fn placeholders(n: usize) -> String {
    (1..=n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

async fn insert(pool: &AnyPool, seed: &Seed) {
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        seed.table,
        seed.columns.join(", "),
        placeholders(seed.columns.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for value in &seed.values {
        query = match value {
            Value::Int(v) => query.bind(*v),
            Value::Text(v) => query.bind(v.clone()),
            Value::Blob(v) => query.bind(v.clone()),
        };
    }
    query.execute(pool).await.unwrap_or_else(|e| panic!("seeding {}: {e}", seed.table));
}

/// Reads the seeded columns back and compares them.
async fn check(pool: &AnyPool, seed: &Seed, context: &str) {
    let sql = format!("SELECT {} FROM {}", seed.columns.join(", "), seed.table);
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await.unwrap();
    assert_eq!(rows.len(), 1, "{context}: rows of {}", seed.table);
    for (i, expected) in seed.values.iter().enumerate() {
        let got = match expected {
            Value::Int(_) => Value::Int(rows[0].get::<i64, _>(i)),
            Value::Text(_) => Value::Text(rows[0].get::<String, _>(i)),
            Value::Blob(_) => Value::Blob(rows[0].get::<Vec<u8>, _>(i)),
        };
        assert_eq!(&got, expected, "{context}: {}.{}", seed.table, seed.columns[i]);
    }
}

/// The store reads the old rows through its own queries.
async fn check_through_store(store: &Store, context: &str) {
    let device = store.device(&[DEVICE; 32]).await.unwrap().expect("old device");
    assert_eq!(device.label.as_deref(), Some("lab device"), "{context}");
    assert_eq!((device.wire.as_str(), device.blocked), ("legacy", true), "{context}");
    assert_eq!(device.last_error_code, Some(17), "{context}");
    let components = store.components(&[DEVICE; 32]).await.unwrap();
    assert_eq!(components.len(), 1, "{context}");
    assert_eq!(components[0].sequence_number, Some(3), "{context}");
    let events = store.events(Some(&[DEVICE; 32]), 10).await.unwrap();
    assert_eq!(events.len(), 1, "{context}");
    assert_eq!(events[0].kind, "success", "{context}");
    let policy = store.effective_policy(&hex::encode([DEVICE; 32])).await.unwrap();
    assert_eq!(policy.len(), 1, "{context}");
    assert_eq!(policy[0].min_sequence, 2, "{context}");
}

/// Columns added to old tables by later migrations, with the value old rows must get.
async fn check_added_defaults(pool: &AnyPool, latest: i64, context: &str) {
    if latest >= 40 {
        let retired: i64 = sqlx::query_scalar("SELECT retired FROM trusted_components")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(retired, 0, "{context}: an old catalog version is not retired");
    }
    if latest >= 50 {
        let owner: Option<String> =
            sqlx::query_scalar("SELECT owner FROM tc_signers").fetch_one(pool).await.unwrap();
        assert_eq!(owner, None, "{context}: an old signer is operator-owned");
    }
}

async fn fresh_database_gets_every_migration(backend: Backend) {
    let Some(db) = Scratch::new(backend).await else { return };
    let store = Store::connect(&db.url, 2).await.unwrap();
    let pool = db.pool().await;
    let expected: Vec<(i64, bool)> =
        migrations(backend).await.into_iter().map(|(v, _)| (v, true)).collect();
    assert!(expected.len() >= 7, "the migration directory was read");
    assert_eq!(applied(&pool).await, expected);
    // Every table starts empty and usable.
    assert!(store.devices().await.unwrap().is_empty());
    pool.close().await;
    store.close().await;
}

async fn every_earlier_step_upgrades_with_data_intact(backend: Backend) {
    let all = migrations(backend).await;
    let latest = all.last().map(|(v, _)| *v).unwrap();
    let seeds = seeds();
    for &(step, ref name) in &all[..all.len() - 1] {
        let Some(db) = Scratch::new(backend).await else { return };
        let context = format!("{backend:?} from {step:04}_{name}");

        // The schema as it was at `step`, with a row in every table it had.
        let pool = db.pool().await;
        migrator(backend).await.run_to(step, &pool).await.unwrap();
        assert_eq!(applied(&pool).await.last(), Some(&(step, true)), "{context}");
        let present: Vec<&Seed> = seeds.iter().filter(|s| s.since <= step).collect();
        for seed in &present {
            insert(&pool, seed).await;
        }
        pool.close().await;

        // Opening the store upgrades it; the rows survive.
        let store = Store::connect(&db.url, 2).await.unwrap();
        let pool = db.pool().await;
        let upgraded: Vec<i64> = applied(&pool).await.into_iter().map(|(v, _)| v).collect();
        let expected: Vec<i64> = all.iter().map(|(v, _)| *v).collect();
        assert_eq!(upgraded, expected, "{context}");
        for seed in &present {
            check(&pool, seed, &context).await;
        }
        check_through_store(&store, &context).await;
        check_added_defaults(&pool, latest, &context).await;
        store.close().await;

        // Opening it again is a no-op.
        let again = Store::connect(&db.url, 2).await.unwrap();
        assert_eq!(applied(&pool).await.len(), all.len(), "{context}: reopened");
        for seed in &present {
            check(&pool, seed, &format!("{context}, reopened")).await;
        }
        again.close().await;
        pool.close().await;
    }
}

/// `(table, column)` of every table but sqlx's bookkeeping.
async fn columns(backend: Backend, pool: &AnyPool) -> BTreeSet<(String, String)> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
             AND m.name <> '_sqlx_migrations'"
        }
        Backend::Postgres => {
            "SELECT table_name::TEXT AS t, column_name::TEXT AS c FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'"
        }
    };
    let rows = sqlx::query(sql).fetch_all(pool).await.unwrap();
    rows.iter().map(|r| (r.get::<String, _>("t"), r.get::<String, _>("c"))).collect()
}

macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Postgres).await })*
        }
    };
}

on_both_databases!(
    fresh_database_gets_every_migration,
    every_earlier_step_upgrades_with_data_intact
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_have_the_same_migrations_tables_and_columns() {
    assert_eq!(migrations(Backend::Sqlite).await, migrations(Backend::Postgres).await);
    let Some(pg) = Scratch::new(Backend::Postgres).await else { return };
    let lite = Scratch::new(Backend::Sqlite).await.unwrap();
    let mut sets = Vec::new();
    for (backend, db) in [(Backend::Sqlite, &lite), (Backend::Postgres, &pg)] {
        let store = Store::connect(&db.url, 2).await.unwrap();
        let pool = db.pool().await;
        sets.push(columns(backend, &pool).await);
        pool.close().await;
        store.close().await;
    }
    assert!(sets[0].contains(&("devices".to_owned(), "thumbprint".to_owned())));
    let only_sqlite: Vec<_> = sets[0].difference(&sets[1]).collect();
    let only_postgres: Vec<_> = sets[1].difference(&sets[0]).collect();
    assert!(only_sqlite.is_empty(), "only in SQLite: {only_sqlite:?}");
    assert!(only_postgres.is_empty(), "only in PostgreSQL: {only_postgres:?}");
}
