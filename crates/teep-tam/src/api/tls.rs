//! HTTPS for the admin listener, optionally with client certificates (mutual TLS).
//!
//! With `client_ca`, the TLS handshake asks for a client certificate and verifies any
//! presented one against those CAs (RFC 8446 §4.3.2 CertificateRequest; rustls'
//! `WebPkiClientVerifier`); clients without one may still authenticate with a token. The
//! verified leaf certificate reaches the request as axum-server's `TlsInfo` extension, and
//! [`super::auth`] maps its SHA-256 fingerprint to a registered principal: a valid chain alone
//! authenticates nobody.

use std::path::Path;
use std::sync::Arc;

use axum_server::tls_rustls::RustlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use crate::config::{AdminTls, TamConfig};
use crate::error::ServeError;

/// Builds the admin listener's TLS configuration from `[admin.tls]`.
pub(super) fn server_config(
    config: &TamConfig,
    tls: &AdminTls,
) -> Result<RustlsConfig, ServeError> {
    // The binary installs its provider; a library user who did not gets aws-lc-rs.
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
    let certificate = config.resolve(&tls.certificate);
    let key = config.resolve(&tls.private_key);
    let chain = certificates(&certificate)?;
    let key = PrivateKeyDer::from_pem_file(&key)
        .map_err(|e| ServeError::Tls(format!("{}: {e}", key.display())))?;
    let builder = ServerConfig::builder();
    let builder = match &tls.client_ca {
        Some(ca) => {
            let ca = config.resolve(ca);
            let mut roots = RootCertStore::empty();
            for c in certificates(&ca)? {
                roots.add(c).map_err(|e| ServeError::Tls(format!("{}: {e}", ca.display())))?;
            }
            let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
                .allow_unauthenticated()
                .build()
                .map_err(|e| ServeError::Tls(format!("{}: {e}", ca.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut server = builder
        .with_single_cert(chain, key)
        .map_err(|e| ServeError::Tls(format!("{}: {e}", certificate.display())))?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(RustlsConfig::from_config(Arc::new(server)))
}

/// Every certificate of a PEM file; at least one.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, ServeError> {
    let invalid = |e: &dyn std::fmt::Display| ServeError::Tls(format!("{}: {e}", path.display()));
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| invalid(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(&e))?;
    if certs.is_empty() {
        return Err(invalid(&"no CERTIFICATE in the file"));
    }
    Ok(certs)
}
