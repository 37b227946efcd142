//! Bulk enrolment: many devices in few round trips, for fleets registered from an inventory
//! and for `teep bench tam --registered N`.
//!
//! Rows go in multi-row `INSERT … VALUES (…), (…) ON CONFLICT DO NOTHING` statements of
//! [`ROWS_PER_STATEMENT`] rows, all statements of one call in one transaction. At 6 bound
//! values a row a statement stays far below SQLite's 32 766 and PostgreSQL's 65 535 bind
//! parameters; a million rows take seconds instead of the minutes a round trip per row costs.
//!
//! On SQLite the thumbprints land at random places of the primary-key index, and every index
//! page a transaction dirties is written to the WAL at commit. With SQLite's default 2 MiB
//! page cache and small transactions a million rows rewrite the whole index dozens of times
//! (measured: 91 s for 10 000-row transactions). So the call raises the connection's page
//! cache to [`SQLITE_BULK_CACHE_KIB`] for its transaction and restores it afterwards, and
//! callers should pass large batches (100 000 rows or more).
//!
//! The statements use anonymous `?` placeholders on SQLite: sqlx asks SQLite for the name of
//! every parameter it binds, and SQLite finds a name by walking the statement's parameter
//! list, so 6 000 numbered `$N` parameters cost quadratic time (measured: 80% of a bulk
//! enrolment's CPU). PostgreSQL gets its native `$N`.

use sqlx::AnyConnection;

use super::{Backend, DeviceRow, Store, to_db};
use crate::error::StoreError;

/// Devices per `INSERT` statement.
const ROWS_PER_STATEMENT: usize = 1000;

/// Bound values per device row.
const BINDS_PER_ROW: usize = 6;

/// Page cache of an SQLite connection during a bulk enrolment, in KiB (an upper bound; SQLite
/// allocates pages as it needs them).
const SQLITE_BULK_CACHE_KIB: u32 = 256 * 1024;

impl Store {
    /// Enrols every device of `rows` that is not enrolled yet, in one transaction. Returns how
    /// many were added; rows whose thumbprint is already enrolled are skipped, as in
    /// [`Store::enroll_device`]. Only the enrolment columns are taken from the rows
    /// (thumbprint, COSE_Key, label, wire, blocked, enrolled_at); the state a device reports
    /// later (`last_seen`, last error) starts empty.
    ///
    /// The caller checks the keys: the store trusts that `thumbprint` is the RFC 9679
    /// thumbprint of `cose_key`, as `Admin::enroll_device` computes it.
    pub async fn enroll_devices(&self, rows: &[DeviceRow]) -> Result<u64, StoreError> {
        let mut conn = self.pool().acquire().await?;
        if self.backend() != Backend::Sqlite {
            return insert_devices(&mut conn, rows, Placeholder::Numbered).await;
        }
        let cache: i64 = sqlx::query_scalar("PRAGMA cache_size").fetch_one(&mut *conn).await?;
        let bulk = format!("PRAGMA cache_size = -{SQLITE_BULK_CACHE_KIB}");
        sqlx::query(sqlx::AssertSqlSafe(bulk)).execute(&mut *conn).await?;
        let added = insert_devices(&mut conn, rows, Placeholder::Anonymous).await;
        // The pooled connection goes back with its usual cache, whatever the outcome.
        let restore = format!("PRAGMA cache_size = {cache}");
        sqlx::query(sqlx::AssertSqlSafe(restore)).execute(&mut *conn).await?;
        added
    }

    /// How many devices are enrolled.
    pub async fn device_count(&self) -> Result<u64, StoreError> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM devices").fetch_one(self.pool()).await?;
        super::from_db(count, "device count")
    }
}

/// Inserts `rows` in one transaction; returns how many were new.
async fn insert_devices(
    conn: &mut AnyConnection,
    rows: &[DeviceRow],
    placeholder: Placeholder,
) -> Result<u64, StoreError> {
    use sqlx::Connection as _;
    let mut tx = conn.begin().await?;
    let mut added = 0_u64;
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = insert_statement(chunk.len(), placeholder);
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in chunk {
            query = query
                .bind(row.thumbprint.as_slice())
                .bind(row.cose_key.as_slice())
                .bind(row.label.as_deref())
                .bind(row.wire.as_str())
                .bind(i64::from(row.blocked))
                .bind(to_db(row.enrolled_at, "time")?);
        }
        added += query.execute(&mut *tx).await?.rows_affected();
    }
    tx.commit().await?;
    Ok(added)
}

/// How a statement names its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Placeholder {
    /// `$1`, `$2`, … (PostgreSQL).
    Numbered,
    /// `?` (SQLite; bound in order).
    Anonymous,
}

/// `INSERT INTO devices (…) VALUES ($1, …, $6), ($7, …), … ON CONFLICT DO NOTHING` for
/// `rows` rows (or with `?` placeholders).
fn insert_statement(rows: usize, placeholder: Placeholder) -> String {
    use std::fmt::Write as _;
    let mut sql = String::with_capacity(100 + rows * 40);
    sql.push_str(
        "INSERT INTO devices (thumbprint, cose_key, label, wire, blocked, enrolled_at) VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        let first = row * BINDS_PER_ROW + 1;
        sql.push('(');
        for column in 0..BINDS_PER_ROW {
            if column > 0 {
                sql.push_str(", ");
            }
            match placeholder {
                Placeholder::Numbered => {
                    // Writing to a String cannot fail.
                    let _ = write!(sql, "${}", first + column);
                }
                Placeholder::Anonymous => sql.push('?'),
            }
        }
        sql.push(')');
    }
    sql.push_str(" ON CONFLICT DO NOTHING");
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: u32) -> DeviceRow {
        DeviceRow {
            thumbprint: i.to_be_bytes().repeat(8),
            cose_key: vec![0xa0, i as u8],
            label: i.is_multiple_of(2).then(|| format!("d{i}")),
            wire: "rfc".into(),
            blocked: i.is_multiple_of(3),
            enrolled_at: 1_000 + u64::from(i),
            last_seen: None,
            last_error_code: None,
            last_error_msg: None,
            last_error_at: None,
        }
    }

    #[test]
    fn statement_numbers_every_placeholder_once() {
        let sql = insert_statement(2, Placeholder::Numbered);
        assert!(sql.contains("VALUES ($1, $2, $3, $4, $5, $6), ($7, $8, $9, $10, $11, $12) ON"));
        let sql = insert_statement(ROWS_PER_STATEMENT, Placeholder::Numbered);
        assert_eq!(sql.matches('$').count(), 6000);
        let sql = insert_statement(2, Placeholder::Anonymous);
        assert!(sql.contains("VALUES (?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?) ON CONFLICT"));
    }

    #[tokio::test]
    async fn bulk_rows_read_back_like_single_enrolments() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("bulk.db").display());
        // One connection, so that the page cache checked below is the one the call used.
        let store = Store::connect(&url, 1).await.unwrap();
        let cache = || sqlx::query_scalar::<_, i64>("PRAGMA cache_size").fetch_one(store.pool());
        let usual = cache().await.unwrap();
        // More rows than one statement holds, so the chunking is exercised.
        let rows: Vec<DeviceRow> = (0..2_345).map(row).collect();
        assert!(store.enroll_device(&rows[7]).await.unwrap());
        assert_eq!(store.enroll_devices(&rows).await.unwrap(), 2_344);
        assert_eq!(store.enroll_devices(&rows[..10]).await.unwrap(), 0, "already enrolled");
        assert_eq!(store.device_count().await.unwrap(), 2_345);
        for i in [0_u32, 1, 999, 1000, 2_344] {
            let stored = store.device(&row(i).thumbprint).await.unwrap().unwrap();
            assert_eq!(stored, row(i));
        }
        assert_eq!(store.enroll_devices(&[]).await.unwrap(), 0);
        assert_eq!(cache().await.unwrap(), usual, "the page cache is restored");
        store.close().await;
    }
}
