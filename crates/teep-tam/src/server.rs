//! Running the TAM: bind, serve until shutdown, purge expired tokens meanwhile.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::config::{TamConfig, TlsFiles};
use crate::error::ServeError;
use crate::http::{router, unix_now};
use crate::session::Tam;

/// How long in-flight HTTPS requests may take to finish at shutdown.
const GRACE: Duration = Duration::from_secs(30);

/// How often expired tokens are deleted.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);

/// Opens the TAM described by `config`, listens on `config.listen` and serves until
/// `shutdown` completes; in-flight requests finish first.
pub async fn serve<F>(config: TamConfig, shutdown: F) -> Result<(), ServeError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let listen = config.listen;
    let tam = Arc::new(Tam::open(config).await?);
    let listener = TcpListener::bind(listen).await?;
    serve_on(tam, listener, shutdown).await
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
    let address = listener.local_addr()?;
    let tls = match &tam.config().tls {
        Some(files) => Some(tls_config(tam.config(), files).await?),
        None => None,
    };
    tracing::info!(%address, https = tls.is_some(), "TAM listening");
    let (stop_purge, mut purge_stopped) = tokio::sync::watch::channel(false);
    let store = tam.store().clone();
    let purge = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(PURGE_INTERVAL);
        loop {
            tokio::select! {
                _ = ticks.tick() => match store.purge_expired_tokens(unix_now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(purged = n, "expired tokens deleted"),
                    Err(e) => tracing::error!(error = %e, "purging expired tokens failed"),
                },
                _ = purge_stopped.changed() => break,
            }
        }
    });
    let app = router(tam).into_make_service_with_connect_info::<SocketAddr>();
    let result = match tls {
        None => axum::serve(listener, app).with_graceful_shutdown(shutdown).await,
        Some(tls) => {
            let handle = axum_server::Handle::new();
            let stopper = handle.clone();
            tokio::spawn(async move {
                shutdown.await;
                stopper.graceful_shutdown(Some(GRACE));
            });
            match axum_server::from_tcp_rustls(listener.into_std()?, tls) {
                Ok(server) => server.handle(handle).serve(app).await,
                Err(e) => Err(e),
            }
        }
    };
    let _ = stop_purge.send(true);
    let _ = purge.await;
    tracing::info!(%address, "TAM stopped");
    result.map_err(ServeError::from)
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
