//! Running the TAM: bind, serve until shutdown, purge expired tokens meanwhile.
//!
//! The TEEP listener serves the TEEP endpoints ([`crate::http`]), hosted payloads
//! (`/payloads/...`, [`crate::api::payload_router`]) and the probes `/healthz` and `/readyz`
//! ([`crate::ops`]). When `[admin]` is configured, a second listener serves the admin REST
//! API ([`crate::api::serve_admin`]) with the probes and `/metrics`; without it, `/metrics`
//! is on the TEEP listener.
//!
//! Every listener bounds its connections ([`ConnectionLimits`]): the request header section
//! must arrive within `header_timeout_secs` (hyper's `header_read_timeout`, which also closes
//! idle kept-alive connections and, with TLS, bounds the handshake), and at most
//! `max_connections` are open at once. [`Server::bind`] loads the TLS files, binds the
//! listeners and opens the database, each failure naming what failed, before anything is
//! served.
//!
//! Shutdown (SIGTERM or Ctrl-C in `teep tam serve`, the `shutdown` future here) happens in
//! this order: readiness turns 503, the TEEP listener keeps serving for
//! `shutdown_drain_secs` (so that a load balancer sees the 503), then closes (a new
//! connection is refused),
//! requests in flight finish (each connection closes after its current request), then the
//! admin listener stops, and [`Server::run`] returns. Requests still running after
//! `shutdown_grace_secs` are abandoned and `run` returns anyway, so that a hung client cannot
//! hold the process.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::admin::Admin;
use crate::config::{TamConfig, TlsFiles};
use crate::error::ServeError;
use crate::http::{not_found, teep_routes, unix_now};
use crate::metrics::Metrics;
use crate::ops::Ops;
use crate::session::Tam;

/// How often expired tokens are deleted.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);

/// Opens the TAM described by `config`, listens on `config.listen` and serves until
/// `shutdown` completes; in-flight requests finish first (within `shutdown_grace_secs`).
pub async fn serve<F>(config: TamConfig, shutdown: F) -> Result<(), ServeError>
where
    F: Future<Output = ()> + Send + 'static,
{
    Server::bind(config).await?.run(shutdown).await
}

/// Binds `address` for the listener called `what`; a failure names the listener, the address
/// and the setting that chooses it.
async fn bind(address: SocketAddr, what: &str, setting: &str) -> Result<TcpListener, ServeError> {
    TcpListener::bind(address).await.map_err(|e| {
        let advice = match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                format!("; another process uses it: choose another address with {setting}")
            }
            std::io::ErrorKind::PermissionDenied => {
                format!("; ports below 1024 need privileges: choose another with {setting}")
            }
            std::io::ErrorKind::AddrNotAvailable => {
                format!("; no interface has this address: choose another with {setting}")
            }
            _ => String::new(),
        };
        ServeError::Io(std::io::Error::new(
            e.kind(),
            format!("cannot listen for {what} on {address}: {e}{advice}"),
        ))
    })
}

/// Serves an already opened TAM on an already bound listener (tests bind port 0), with
/// HTTPS when the configuration names a certificate.
pub async fn serve_on<F>(
    tam: Arc<Tam>,
    listener: TcpListener,
    shutdown: F,
) -> Result<(), ServeError>
where
    F: Future<Output = ()> + Send + 'static,
{
    Server::new(tam, listener).run(shutdown).await
}

/// A TAM ready to serve on a bound listener, with its metrics and operations state.
#[derive(Debug)]
pub struct Server {
    tam: Arc<Tam>,
    listener: TcpListener,
    metrics: Arc<Metrics>,
    ops: Arc<Ops>,
    admin_listener: Option<TcpListener>,
    /// The TEEP listener's TLS configuration, when [`Server::bind`] loaded it already.
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
}

impl Server {
    /// Prepares to serve `tam` on `listener`.
    pub fn new(tam: Arc<Tam>, listener: TcpListener) -> Self {
        let metrics = Arc::new(Metrics::new());
        let ops = Arc::new(Ops::new(tam.store().clone(), Arc::clone(&metrics)));
        Server { tam, listener, metrics, ops, admin_listener: None, tls: None }
    }

    /// Everything [`serve`] needs before it answers, each failure naming what failed: loads
    /// the TLS files, binds the TEEP listener and, with `[admin]`, the admin listener, then
    /// opens the database and keys. When this returns, [`Server::run`] answers at once.
    pub async fn bind(config: TamConfig) -> Result<Self, ServeError> {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        }
        let tls = match &config.tls {
            Some(files) => Some(tls_config(&config, files).await?),
            None => None,
        };
        crate::api::check_admin_tls(&config)?;
        let listener = bind(config.listen, "TEEP", "--listen (`listen` in tam.toml)").await?;
        let admin_listener = match &config.admin {
            Some(admin) => Some(
                bind(admin.listen, "the admin API", "--admin-listen (`admin.listen` in tam.toml)")
                    .await?,
            ),
            None => None,
        };
        let tam = Arc::new(Tam::open(config).await?);
        let mut server = Server::new(tam, listener);
        server.admin_listener = admin_listener;
        server.tls = tls;
        Ok(server)
    }

    /// The address of the TEEP listener.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The address of the admin listener, if there is one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Also serves the admin REST API (with `[admin]` of the configuration, or its defaults)
    /// and the operations routes on `listener`.
    pub fn with_admin_listener(mut self, listener: TcpListener) -> Self {
        self.admin_listener = Some(listener);
        self
    }

    /// Health, readiness and shutdown state (readiness fails once shutdown began).
    pub fn ops(&self) -> &Arc<Ops> {
        &self.ops
    }

    /// The metrics the server counts into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Serves until `shutdown` completes and the requests in flight finished (or
    /// `shutdown_grace_secs` passed).
    pub async fn run<F>(self, shutdown: F) -> Result<(), ServeError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Server { tam, listener, metrics, ops, admin_listener, tls } = self;
        let config = tam.config();
        let address = listener.local_addr()?;
        let tls = match (tls, &config.tls) {
            (Some(tls), _) => Some(tls),
            (None, Some(files)) => Some(tls_config(config, files).await?),
            (None, None) => None,
        };
        let grace = config.shutdown_grace();
        tracing::info!(%address, https = tls.is_some(),
            database = %config.database_url_redacted(),
            max_concurrent_sessions = config.max_concurrent_sessions, "TAM listening");

        // The caller's signal first turns readiness off, then starts the drain.
        let (drain_tx, drain_rx) = watch::channel(false);
        let signal_ops = Arc::clone(&ops);
        let drain_delay = config.shutdown_drain();
        let signal = tokio::spawn(async move {
            shutdown.await;
            signal_ops.begin_shutdown();
            if !drain_delay.is_zero() {
                tracing::info!(
                    drain_secs = drain_delay.as_secs(),
                    "shutdown requested: readiness is 503; still serving for shutdown_drain_secs"
                );
                tokio::time::sleep(drain_delay).await;
            }
            tracing::info!("shutting down: refusing new connections, finishing requests");
            let _ = drain_tx.send(true);
        });

        let purge = spawn_purge(&tam, &metrics, drain_rx.clone());
        let ops_routes = match admin_listener {
            Some(_) => Arc::clone(&ops).probe_router(),
            None => Arc::clone(&ops).router(),
        };
        let app = teep_routes(Arc::clone(&tam), Arc::clone(&metrics))
            .merge(crate::api::payload_router(tam.store().clone()))
            .merge(ops_routes)
            .fallback(not_found);

        // The admin listener keeps answering (readiness 503) while the TEEP requests drain,
        // and stops after them.
        let (teep_done, teep_done_rx) = watch::channel(false);
        let mut admin = admin_listener.map(|admin_listener| {
            let admin = Admin::new(tam.store().clone());
            let config = config.clone();
            let extra = Arc::clone(&ops).router();
            let stop = drained(teep_done_rx);
            tokio::spawn(async move {
                crate::api::serve_admin(admin, &config, admin_listener, extra, stop).await
            })
        });

        let limits = ConnectionLimits::of(config);
        let serving = serve_connections(listener, app, tls, limits, drained(drain_rx.clone()));
        let serving = async { serving.await.map_err(ServeError::from) };
        let deadline = async {
            drained(drain_rx.clone()).await;
            tokio::time::sleep(grace).await;
        };
        let admin_failed = async {
            match admin.as_mut() {
                // Before the TEEP listener is done, the admin listener has no reason to end.
                Some(task) => match task.await {
                    Ok(Ok(())) => ServeError::Io(std::io::Error::other("admin listener ended")),
                    Ok(Err(e)) => e,
                    Err(e) => ServeError::Io(std::io::Error::other(e)),
                },
                None => std::future::pending().await,
            }
        };
        let result = tokio::select! {
            result = serving => result,
            () = deadline => {
                tracing::warn!(in_flight = metrics.requests_in_flight(),
                    grace_secs = grace.as_secs(),
                    "shutdown grace period over; abandoning the requests still in flight");
                Ok(())
            }
            error = admin_failed => {
                tracing::error!(error = %error, "the admin listener failed; stopping");
                admin = None;
                Err(error)
            }
        };

        let _ = teep_done.send(true);
        if let Some(task) = admin {
            let abort = task.abort_handle();
            match tokio::time::timeout(grace.saturating_add(Duration::from_secs(1)), task).await {
                Ok(Ok(Err(e))) => tracing::error!(error = %e, "the admin listener failed"),
                Ok(_) => {}
                Err(_) => abort.abort(),
            }
        }
        signal.abort();
        purge.abort();
        let _ = purge.await;
        tracing::info!(%address, "TAM stopped");
        result
    }
}

/// Completes once `drain` turns true; never when its sender goes away without that.
async fn drained(mut drain: watch::Receiver<bool>) {
    if drain.wait_for(|draining| *draining).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Deletes expired tokens every [`PURGE_INTERVAL`] until the drain begins.
fn spawn_purge(
    tam: &Arc<Tam>,
    metrics: &Arc<Metrics>,
    drain: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let store = tam.store().clone();
    let metrics = Arc::clone(metrics);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(PURGE_INTERVAL);
        let stop = drained(drain);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = ticks.tick() => {
                    // Update tokens past their expiry, and used QueryRequest tokens past their
                    // expiry plus USED_TOKEN_MARGIN_SECS (single use is decided by the unique
                    // insert, not by this purge; it only bounds the tables).
                    let now = unix_now();
                    let purged = match store.purge_expired_tokens(now).await {
                        Ok(n) => store.purge_used_tokens(now).await.map(|m| n + m),
                        Err(e) => Err(e),
                    };
                    match purged {
                        Ok(0) => {}
                        Ok(n) => tracing::debug!(purged = n, "expired tokens deleted"),
                        Err(e) => {
                            metrics.db_error("purge");
                            tracing::error!(error = %e, "purging expired tokens failed");
                        }
                    }
                }
                () = &mut stop => break,
            }
        }
    })
}

async fn tls_config(
    config: &TamConfig,
    files: &TlsFiles,
) -> Result<axum_server::tls_rustls::RustlsConfig, ServeError> {
    // The binary should install its provider; a library user who did not gets aws-lc-rs.
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
    let certificate = config.resolve(&files.certificate);
    let key = config.resolve(&files.private_key);
    axum_server::tls_rustls::RustlsConfig::from_pem_file(&certificate, &key)
        .await
        .map_err(|e| ServeError::Tls(format!("{} / {}: {e}", certificate.display(), key.display())))
}

/// Limits every listener (TEEP and admin) applies to its connections.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnectionLimits {
    /// Time a client has to send a request's header section, counted from the moment the
    /// server waits for it: on a new connection and between requests of a kept-alive one
    /// (so it also bounds idle keep-alive connections). Also bounds the TLS handshake.
    pub header_timeout: Duration,
    /// Open connections at most; one more is closed at once.
    pub max_connections: usize,
    /// Time requests in flight get to finish once `shutdown` completes.
    pub grace: Duration,
}

impl ConnectionLimits {
    /// The limits `config` sets.
    pub(crate) fn of(config: &TamConfig) -> Self {
        ConnectionLimits {
            header_timeout: config.header_timeout(),
            max_connections: config.max_connections,
            grace: config.shutdown_grace(),
        }
    }
}

/// Serves `app` on `listener` (HTTP/1.1, over TLS when `tls` is given) with `limits` until
/// `shutdown` completes and the requests in flight finished or `limits.grace` passed.
///
/// hyper's `header_read_timeout` closes a connection whose request header section does not
/// arrive in time (a partial header, or nothing at all); axum's own `serve` cannot set it,
/// hence axum-server for plain HTTP too.
pub(crate) async fn serve_connections<F>(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
    limits: ConnectionLimits,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    let grace = limits.grace;
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(grace));
    });
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    let max = limits.max_connections;
    let listener = listener.into_std()?;
    match tls {
        None => {
            let server = axum_server::from_tcp(listener)?.http1_only();
            let mut server =
                server.handle(handle.clone()).map(|inner| Capped { inner, handle, max });
            server.http_builder().http1().header_read_timeout(limits.header_timeout);
            server.serve(app).await
        }
        Some(tls) => {
            // ALPN offers only HTTP/1.1, the protocol served (and whose header timeout holds).
            let mut inner = (*tls.get_inner()).clone();
            inner.alpn_protocols = vec![b"http/1.1".to_vec()];
            tls.reload_from_config(Arc::new(inner));
            let server = axum_server::from_tcp_rustls(listener, tls)?.http1_only();
            let mut server = server.handle(handle.clone()).map(|tls| Capped {
                inner: tls.handshake_timeout(limits.header_timeout),
                handle,
                max,
            });
            server.http_builder().http1().header_read_timeout(limits.header_timeout);
            server.serve(app).await
        }
    }
}

/// An acceptor that closes a new connection at once while `max` connections are open.
#[derive(Clone)]
struct Capped<A> {
    inner: A,
    handle: axum_server::Handle<SocketAddr>,
    max: usize,
}

impl<A, I, S> axum_server::accept::Accept<I, S> for Capped<A>
where
    A: axum_server::accept::Accept<I, S>,
    A::Future: Send + 'static,
    A::Stream: Send + 'static,
    A::Service: Send + 'static,
{
    type Stream = A::Stream;
    type Service = A::Service;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = std::io::Result<(A::Stream, A::Service)>> + Send + 'static>,
    >;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        // The count includes the connection being accepted.
        if self.handle.connection_count() > self.max {
            tracing::warn!(max_connections = self.max, "connection refused: too many open");
            return Box::pin(std::future::ready(Err(std::io::Error::other(
                "max_connections reached",
            ))));
        }
        Box::pin(self.inner.accept(stream, service))
    }
}
