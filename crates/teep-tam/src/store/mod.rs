//! Persistent state of the TAM on SQLite or PostgreSQL through sqlx's `Any` driver.
//!
//! One set of SQL statements serves both backends: placeholders are `$N` (understood by both),
//! booleans are stored as integers (the `Any` driver cannot decode SQLite booleans), times are
//! Unix seconds in 64-bit integers, and byte strings are `BLOB` on SQLite and `BYTEA` on
//! PostgreSQL. Only the DDL differs, so the embedded migrations come in two directories,
//! `migrations/sqlite` and `migrations/postgres`, kept in step.
//!
//! The TAM keeps no session state in memory (DESIGN.md "stateless between requests"): tokens,
//! devices and installed state live here, so several TAM processes can share one PostgreSQL.

mod admission;
mod attestation;
mod audit;
mod bulk;
mod catalog;
mod devices;
mod groups;
mod payloads;
mod principals;
mod query_tokens;
mod remediation;
mod reports;
mod rollouts;
mod tokens;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

pub use admission::{AdmissionEntry, DeviceCertRow};
pub use attestation::AttestationRow;
pub use audit::AuditRow;
pub use catalog::{SignerRow, TcRow};
pub use devices::{ComponentRow, DeviceRow, EventRow, PolicyAction, PolicyRow};
pub use groups::{GROUP_TARGET_PREFIX, GroupRow, SETTING_ALLOW_REQUEST, group_target};
pub use payloads::PayloadRow;
pub use principals::{ApiTokenRow, PrincipalRow};
pub use query_tokens::USED_TOKEN_MARGIN_SECS;
pub use reports::{REPORTS_KEPT, ReportRow};
pub use rollouts::{
    DeviceProgress, FULL_SHARE, RolloutCounts, RolloutDeviceRow, RolloutRow, RolloutSelection,
    RolloutState,
};
pub use tokens::{TokenPurpose, TokenRecord};

use crate::error::StoreError;

/// How long a query waits for a pooled connection before failing.
pub const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How often a failed SQLite migration is retried (see `Store::migrate`).
const SQLITE_MIGRATE_RETRIES: u64 = 5;

/// Database backend behind a [`Store`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// SQLite (file or memory).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Handle to the TAM database (a connection pool; cheap to clone).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects to `url` (`sqlite://...` or `postgres://...`) and applies the embedded
    /// migrations.
    ///
    /// `sqlite::memory:` gives every pooled connection its own empty database, so an
    /// in-memory URL is forced to a single connection.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = backend_of(url)?;
        let in_memory = backend == Backend::Sqlite && url.contains(":memory:");
        let max = if in_memory { 1 } else { max_connections.max(1) };
        // A request that needs the database while it is down fails after ACQUIRE_TIMEOUT
        // instead of sqlx's default 30 s, so clients and load balancers see the outage quickly.
        let mut options =
            AnyPoolOptions::new().max_connections(max).acquire_timeout(ACQUIRE_TIMEOUT);
        if in_memory {
            // Keep the only connection (and with it the database) alive.
            options = options.min_connections(1).idle_timeout(None).max_lifetime(None);
        }
        let pool = options.connect(url).await?;
        if backend == Backend::Sqlite && !in_memory {
            // Readers proceed while one writer commits. The mode is stored in the database
            // file, so one connection setting it is enough; sqlx already waits 5 s on a busy
            // database instead of failing.
            sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
        }
        let store = Store { pool, backend };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        match self.backend {
            // sqlx takes an advisory lock on PostgreSQL, so concurrent processes migrate one
            // after the other; on SQLite it takes none. Two processes opening one fresh file
            // (`teep tam serve` and an admin command) can then both try a migration: each
            // runs in its own transaction, so the loser's attempt rolls back and a retry finds
            // the migration applied by the winner.
            Backend::Sqlite => {
                let migrator = sqlx::migrate!("migrations/sqlite");
                let mut attempt = 0;
                loop {
                    match migrator.run(&self.pool).await {
                        Ok(()) => break,
                        Err(e) if attempt >= SQLITE_MIGRATE_RETRIES => return Err(e.into()),
                        Err(e) => {
                            attempt += 1;
                            tracing::debug!(error = %e, attempt, "SQLite migration raced; retrying");
                            tokio::time::sleep(std::time::Duration::from_millis(100 * attempt))
                                .await;
                        }
                    }
                }
            }
            Backend::Postgres => sqlx::migrate!("migrations/postgres").run(&self.pool).await?,
        }
        Ok(())
    }

    /// Which backend this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes all pooled connections.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

fn backend_of(url: &str) -> Result<Backend, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(StoreError::UnsupportedBackend)
    }
}

/// Converts a protocol integer (SUIT sequence numbers, times) to the database's `BIGINT`.
pub(crate) fn to_db(value: u64, what: &'static str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::OutOfRange(what))
}

/// Converts a stored `BIGINT` back; negative values mean the row was edited by hand.
pub(crate) fn from_db(value: i64, what: &'static str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(what))
}

pub(crate) fn opt_from_db(
    value: Option<i64>,
    what: &'static str,
) -> Result<Option<u64>, StoreError> {
    value.map(|v| from_db(v, what)).transpose()
}

pub(crate) fn get<'r, T>(row: &'r AnyRow, column: &'static str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(column).map_err(StoreError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_backends() {
        assert_eq!(backend_of("sqlite::memory:").unwrap(), Backend::Sqlite);
        assert_eq!(backend_of("sqlite:///tmp/x.db").unwrap(), Backend::Sqlite);
        assert_eq!(backend_of("postgres://u@h/db").unwrap(), Backend::Postgres);
        assert!(backend_of("mysql://u@h/db").is_err());
    }

    #[tokio::test]
    async fn in_memory_sqlite_keeps_its_one_database() {
        let store = Store::connect("sqlite::memory:", 8).await.unwrap();
        let row = SignerRow {
            name: "s".into(),
            cose_key: vec![1],
            thumbprint: vec![2],
            added_at: 3,
            owner: None,
        };
        assert!(store.add_signer(&row).await.unwrap());
        assert!(!store.add_signer(&row).await.unwrap());
        // Every query sees the same (single-connection) database.
        for _ in 0..4 {
            assert_eq!(store.signers().await.unwrap(), std::slice::from_ref(&row));
        }
        store.close().await;
    }

    #[test]
    fn integer_conversions_are_checked() {
        assert_eq!(to_db(5, "x").unwrap(), 5);
        assert!(to_db(u64::MAX, "x").is_err());
        assert!(from_db(-1, "x").is_err());
    }
}
