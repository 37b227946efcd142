//! A throw-away database on the local PostgreSQL (127.0.0.1:5432, trust auth) for one test,
//! dropped with its guard, also when the test panics. Shared by every TAM test harness.

#![allow(dead_code)]

use sqlx::Connection as _;

/// The database the scratch databases are created from.
pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A scratch database; dropping it drops the database.
pub struct ScratchPg {
    /// Its name: the prefix given to [`ScratchPg::create`] and random hex.
    pub name: String,
    /// Its URL.
    pub url: String,
}

impl ScratchPg {
    /// Creates `<prefix>_<random>`. `None` when PostgreSQL is unreachable and
    /// `TEEP_SKIP_PG=1` says to skip; any other failure panics.
    pub async fn create(prefix: &str) -> Option<ScratchPg> {
        sqlx::any::install_default_drivers();
        let mut conn = match sqlx::AnyConnection::connect(PG_ADMIN_URL).await {
            Ok(c) => c,
            Err(e) if std::env::var("TEEP_SKIP_PG").as_deref() == Ok("1") => {
                eprintln!("PostgreSQL unreachable ({e}); skipped because TEEP_SKIP_PG=1");
                return None;
            }
            Err(e) => {
                panic!("PostgreSQL at {PG_ADMIN_URL} is unreachable: {e} (TEEP_SKIP_PG=1 skips)")
            }
        };
        let mut suffix = [0_u8; 8];
        getrandom::fill(&mut suffix).unwrap();
        let name = format!("{prefix}_{}", hex::encode(suffix));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
        Some(ScratchPg { name, url })
    }
}

impl Drop for ScratchPg {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop cannot await: run the statement on a thread with its own small runtime.
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build()
            else {
                return;
            };
            runtime.block_on(async {
                let Ok(mut conn) = sqlx::AnyConnection::connect(PG_ADMIN_URL).await else {
                    return;
                };
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await;
                let _ = conn.close().await;
            });
        });
        let _ = dropper.join();
    }
}
