//! Harness of the admin API tests: a real admin listener (`api::serve_admin`) and a payload
//! listener (`api::payload_router`) over loopback HTTP, on SQLite or on a scratch PostgreSQL
//! database (`h2_…`, dropped afterwards), with principals of every role and their tokens.

#![allow(dead_code)]

use std::collections::HashMap;

use reqwest::Method;
use teep_cose::SigningKey;
use teep_suit::builder::{ManifestBuilder, Payload};
use teep_tam::config::AdminListen;
use teep_tam::{Admin, Role, TamConfig};
use tokio::sync::oneshot;

#[path = "../common/scratch_pg.rs"]
mod scratch_pg;

use scratch_pg::ScratchPg;

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Runs each listed `async fn name(db: Db)` on SQLite and on PostgreSQL.
#[macro_export]
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

/// The principals every test gets: name and role.
pub const PRINCIPALS: [(&str, Role); 5] = [
    ("op", Role::Operator),
    ("alice", Role::Developer),
    ("bob", Role::Developer),
    ("dana", Role::DeviceAdmin),
    ("dirk", Role::DeviceAdmin),
];

/// A running admin API.
pub struct TestApi {
    /// `http://127.0.0.1:port` of the admin listener (`https://` with TLS).
    pub base: String,
    /// `http://127.0.0.1:port` of the payload listener.
    pub payload_base: String,
    /// The operator `cli`, straight on the database.
    pub admin: Admin,
    pub client: reqwest::Client,
    /// Token of each principal of [`PRINCIPALS`].
    pub tokens: HashMap<&'static str, String>,
    pub config: TamConfig,
    stops: Vec<oneshot::Sender<()>>,
    servers: Vec<tokio::task::JoinHandle<()>>,
    pg: Option<ScratchPg>,
    pub dir: tempfile::TempDir,
}

impl TestApi {
    /// Starts the listeners; `None` only for PostgreSQL with TEEP_SKIP_PG=1 and no server.
    pub async fn start(db: Db) -> Option<TestApi> {
        Self::start_with(db, |_| {}, http_client()).await
    }

    /// Starts with a tweaked configuration and HTTP client.
    pub async fn start_with(
        db: Db,
        tweak: impl FnOnce(&mut TamConfig),
        client: reqwest::Client,
    ) -> Option<TestApi> {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().unwrap();
        let (pg, database_url) = match db {
            Db::Sqlite => (None, None),
            Db::Postgres => {
                let scratch = ScratchPg::create("h2").await?;
                let url = scratch.url.clone();
                (Some(scratch), Some(url))
            }
        };
        let mut config = TamConfig {
            state_dir: dir.path().to_owned(),
            database_url,
            admin: Some(AdminListen::default()),
            ..TamConfig::default()
        };
        tweak(&mut config);
        let admin = Admin::connect(&config).await.unwrap();

        let mut tokens = HashMap::new();
        for (name, role) in PRINCIPALS {
            admin.add_principal(name, role, 1).await.unwrap();
            tokens.insert(name, admin.create_token(name, None, 1).await.unwrap().token);
        }

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let scheme =
            if config.admin.as_ref().is_some_and(|a| a.tls.is_some()) { "https" } else { "http" };
        let base = format!("{scheme}://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let (served_admin, served_config) = (admin.clone(), config.clone());
        let server = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            teep_tam::api::serve_admin(
                served_admin,
                &served_config,
                listener,
                axum::Router::new(),
                shutdown,
            )
            .await
            .unwrap();
        });

        let payload_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let payload_base = format!("http://{}", payload_listener.local_addr().unwrap());
        let (payload_stop, payload_stopped) = oneshot::channel::<()>();
        let app = teep_tam::api::payload_router(admin.store().clone());
        let payload_server = tokio::spawn(async move {
            axum::serve(payload_listener, app)
                .with_graceful_shutdown(async move {
                    let _ = payload_stopped.await;
                })
                .await
                .unwrap();
        });

        Some(TestApi {
            base,
            payload_base,
            admin,
            client,
            tokens,
            config,
            stops: vec![stop, payload_stop],
            servers: vec![server, payload_server],
            pg,
            dir,
        })
    }

    /// A request to `/admin/v1{path}` as `who` (a principal of [`PRINCIPALS`]; `""`: no
    /// credentials).
    pub fn req(&self, method: Method, path: &str, who: &str) -> reqwest::RequestBuilder {
        let request = self.client.request(method, format!("{}/admin/v1{path}", self.base));
        match self.tokens.get(who) {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends a request and returns the status and the body as JSON (Null when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        who: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self.req(method, path, who);
        if let Some(body) = body {
            request = request.json(&body);
        }
        json_of(request.send().await.unwrap()).await
    }

    /// The Admin handle of a principal, straight on the database.
    pub fn as_principal(&self, name: &str) -> Admin {
        let role = PRINCIPALS.iter().find(|(n, _)| *n == name).unwrap().1;
        self.admin.with_actor(teep_tam::Actor::new(name, role))
    }

    /// The audit log, newest first.
    pub async fn audit(&self) -> Vec<teep_tam::store::AuditRow> {
        self.admin.audit_log(None, 1000).await.unwrap()
    }

    pub async fn finish(mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        for server in self.servers.drain(..) {
            server.await.unwrap();
        }
        self.admin.store().close().await;
        drop(self.pg.take());
    }
}

/// A plain HTTP client (after installing the process's rustls provider).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::new()
}

/// Status and JSON body (Null when empty) of a response; error bodies must have the API's
/// error shape.
pub async fn json_of(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!("status {status}: body is not JSON ({e}): {}", String::from_utf8_lossy(&bytes))
        })
    };
    if status >= 400 {
        assert!(body["error"].is_string(), "error body without `error`: {body}");
        assert!(body["what_to_do"].is_string(), "error body without `what_to_do`: {body}");
    }
    (status, body)
}

/// A signer key.
pub fn signer_key() -> SigningKey {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    SigningKey::generate_p256(&mut rng)
}

/// A device (Agent) key.
pub fn device_key() -> SigningKey {
    signer_key()
}

/// A signed SUIT envelope for component `[name]` at `sequence`, signed with `key`.
pub fn envelope(key: &SigningKey, name: &str, sequence: u64) -> Vec<u8> {
    let id = teep_suit::ComponentId::new(vec![name.as_bytes().to_vec()]);
    ManifestBuilder::new(id.clone(), sequence)
        .manifest_component_id(id)
        .vendor_id(hex::decode("C0DDD5F15243566087DB4F5B0AA26C2F").unwrap())
        .class_id(hex::decode("DB42F7093D8C55BAA8C5265FC5820F4E").unwrap())
        .payload(Payload::integrated(format!("{name} {sequence}").into_bytes()))
        .sign(key, None)
        .unwrap()
}
