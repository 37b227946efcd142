//! teep-verifier: a RATS Verifier (RFC 9334 §3.3) for TEEP Evidence.
//!
//! It appraises EATs of the TEEP profile (draft-ietf-teep-protocol-26 §6) against
//! Endorsements (trusted attestation keys) and Reference Values from its configuration
//! ([`VerifierConfig`]) and returns signed Attestation Results: the TEEP-profile result and
//! an EAR (draft-ietf-rats-ear). The HTTP API ([`router`]) follows Veraison's
//! challenge-response API so that either Verifier can serve the same TAM configuration;
//! [`VerifierClient`] is the Relying Party side.
//!
//! Not supported: Veraison's discovery endpoint (`/.well-known/veraison/verification`),
//! asynchronous ("processing") appraisal, CoRIM provisioning of endorsements (they come from
//! the configuration file), encrypted Evidence (the TAM decrypts before submitting).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod config;
mod error;
pub mod http;
pub mod service;

use std::future::Future;
use std::sync::Arc;

pub use client::{Appraised, VerifierClient};
pub use config::VerifierConfig;
pub use error::{ClientError, VerifierError};
pub use http::router;
pub use service::Verifier;

/// The operating system's random number generator for key generation.
pub(crate) fn rng() -> impl rand_core_compat::CryptoRng {
    rand_core_compat::UnwrapErr(getrandom::SysRng)
}

mod rand_core_compat {
    pub use getrandom::rand_core::{CryptoRng, UnwrapErr};
}

/// Installs aws-lc-rs as the process-wide rustls provider unless one is installed already
/// (the workspace builds rustls without a default provider).
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: a provider is installed.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

/// Serves `verifier` on an already bound listener until `shutdown` completes.
pub async fn serve_on<F>(
    verifier: Arc<Verifier>,
    listener: tokio::net::TcpListener,
    shutdown: F,
) -> Result<(), VerifierError>
where
    F: Future<Output = ()> + Send + 'static,
{
    tracing::info!(address = %listener.local_addr()?, "Verifier listening");
    axum::serve(listener, router(verifier)).with_graceful_shutdown(shutdown).await?;
    Ok(())
}

/// Opens the Verifier of `config` and serves it on `config.listen`.
pub async fn serve<F>(config: VerifierConfig, shutdown: F) -> Result<(), VerifierError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let listen = config.listen;
    let verifier = Arc::new(Verifier::open(config)?);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    serve_on(verifier, listener, shutdown).await
}
