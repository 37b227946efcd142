//! TEEP/HTTP client: one POST to a TAM URI and the checks on its response.
//!
//! draft-ietf-teep-otrp-over-http §3 (POST only, redirects not followed, no cookies, HTTPS with
//! server authentication per RFC 9110 §4.3.4), §5.3 (Accept and Content-Type carry the TEEP
//! media type) and §5.4 (an empty 2xx body ends the session, a body goes to the Agent).
//! Deployed TAMs reject an empty POST without Content-Type, so every POST carries both fields.

use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use tracing::{debug, warn};

use crate::config::BrokerConfig;
use crate::error::{BrokerError, ConfigError, TransportFailure};

/// The TEEP media type (draft-ietf-teep-protocol-26 §13.2).
pub const TEEP_MEDIA_TYPE: &str = "application/teep+cbor";

/// Value of the User-Agent header field.
const USER_AGENT: &str = concat!("teep-rs-broker/", env!("CARGO_PKG_VERSION"));

/// Longest Content-Type value quoted back in an error.
const MAX_QUOTED_CONTENT_TYPE: usize = 64;

/// What a TAM answered to one POST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TamResponse {
    /// HTTP status (2xx; other statuses are [`TransportFailure`]s).
    pub status: u16,
    /// The TEEP message, or `None` when the body was empty (the session is over).
    pub body: Option<Vec<u8>>,
}

/// Installs aws-lc-rs as the process-wide rustls provider unless one is installed already.
///
/// The workspace builds rustls without a default provider choice; the HTTP client (and any
/// other rustls user in the process) picks up the installed one.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another thread installing a provider is fine: one is installed.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

/// HTTP client side of the TEEP transport, shared by all sessions of a Broker.
#[derive(Clone, Debug)]
pub struct TamClient {
    http: reqwest::Client,
    allow_http: bool,
    max_response_bytes: usize,
}

impl TamClient {
    /// Builds the client from the configuration: rustls with aws-lc-rs, the configured CA
    /// bundle as the only roots (or the platform roots), no redirects, no proxy, timeouts.
    pub fn new(config: &BrokerConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        install_crypto_provider();

        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .referer(false)
            .user_agent(USER_AGENT)
            .https_only(!config.allow_http)
            .connect_timeout(config.connect_timeout())
            .timeout(config.request_timeout())
            .tls_backend_rustls();
        if let Some(path) = &config.ca_file {
            builder = builder.tls_certs_only(load_ca_bundle(path)?);
        }
        let http = builder.build().map_err(|e| ConfigError::Client(error_chain(&e)))?;

        Ok(Self {
            http,
            allow_http: config.allow_http,
            max_response_bytes: config.max_response_bytes,
        })
    }

    /// Checks that `uri` is an absolute http(s) URI this client may use.
    pub fn check_uri(&self, uri: &str) -> Result<reqwest::Url, BrokerError> {
        let bad = |reason| BrokerError::BadTamUri { uri: uri.to_owned(), reason };
        let url = reqwest::Url::parse(uri).map_err(|_| bad("not an absolute URI"))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => return Err(bad("plain http is not allowed (set allow_http)")),
            _ => return Err(bad("scheme is neither https nor http")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("URI carries credentials"));
        }
        Ok(url)
    }

    /// POSTs `body` (empty to open a session) to the TAM and checks the response.
    pub async fn post(
        &self,
        url: &reqwest::Url,
        body: &[u8],
    ) -> Result<TamResponse, TransportFailure> {
        let media_type = HeaderValue::from_static(TEEP_MEDIA_TYPE);
        let response = self
            .http
            .post(url.clone())
            .header(ACCEPT, media_type.clone())
            .header(CONTENT_TYPE, media_type)
            .body(body.to_vec())
            .send()
            .await
            .map_err(network_failure)?;

        let status = response.status().as_u16();
        if response.status().is_redirection() {
            warn!(status, "TAM answered with a redirect; not following it");
            return Err(TransportFailure::Redirect { status });
        }
        if !response.status().is_success() {
            warn!(status, "TAM answered with an error status");
            return Err(TransportFailure::Status { status });
        }

        let content_type = response.headers().get(CONTENT_TYPE).cloned();
        let body = self.read_body(response).await?;
        if body.is_empty() {
            debug!(status, "TAM answered with an empty body");
            return Ok(TamResponse { status, body: None });
        }
        if !is_teep_media_type(content_type.as_ref()) {
            let found = content_type.map(|v| quote_header(v.as_bytes()));
            warn!(status, ?found, "TAM response has the wrong Content-Type");
            return Err(TransportFailure::WrongContentType { found });
        }
        Ok(TamResponse { status, body: Some(body) })
    }

    /// Reads the body, refusing more than `max_response_bytes` (declared or actual).
    async fn read_body(
        &self,
        mut response: reqwest::Response,
    ) -> Result<Vec<u8>, TransportFailure> {
        let limit = self.max_response_bytes;
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(TransportFailure::ResponseTooLarge { limit });
        }

        let initial = declared.map_or(0, |n| usize::try_from(n).unwrap_or(limit).min(limit));
        let mut body = Vec::with_capacity(initial);
        while let Some(chunk) = response.chunk().await.map_err(network_failure)? {
            if chunk.len() > limit.saturating_sub(body.len()) {
                return Err(TransportFailure::ResponseTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Reads a PEM bundle; at least one certificate must be in it.
fn load_ca_bundle(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, ConfigError> {
    let fail = |reason: String| ConfigError::CaFile { path: path.display().to_string(), reason };
    let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| fail(error_chain(&e)))?;
    if certs.is_empty() {
        return Err(fail("no CERTIFICATE block found".to_owned()));
    }
    Ok(certs)
}

/// `application/teep+cbor`, compared case-insensitively, parameters ignored.
fn is_teep_media_type(value: Option<&HeaderValue>) -> bool {
    let Some(value) = value.and_then(|v| v.to_str().ok()) else { return false };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case(TEEP_MEDIA_TYPE)
}

/// A header value as printable text, cut to a bounded length.
fn quote_header(bytes: &[u8]) -> String {
    let cut = bytes.get(..MAX_QUOTED_CONTENT_TYPE).unwrap_or(bytes);
    String::from_utf8_lossy(cut).into_owned()
}

fn network_failure(error: reqwest::Error) -> TransportFailure {
    if error.is_timeout() {
        TransportFailure::Timeout
    } else {
        TransportFailure::Network(error_chain(&error))
    }
}

/// An error and its sources on one line (reqwest's own Display omits the cause).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_type_comparison() {
        let v = |s: &'static str| HeaderValue::from_static(s);
        assert!(is_teep_media_type(Some(&v("application/teep+cbor"))));
        assert!(is_teep_media_type(Some(&v("Application/TEEP+CBOR"))));
        assert!(is_teep_media_type(Some(&v("application/teep+cbor; charset=x"))));
        assert!(!is_teep_media_type(Some(&v("application/cbor"))));
        assert!(!is_teep_media_type(Some(&v("application/teep+cborx"))));
        assert!(!is_teep_media_type(None));
    }

    #[test]
    fn uri_checks() {
        let strict = TamClient::new(&BrokerConfig::default());
        let Ok(strict) = strict else { panic!("client: {strict:?}") };
        assert!(strict.check_uri("https://tam.example/tam").is_ok());
        assert!(matches!(
            strict.check_uri("http://127.0.0.1/tam"),
            Err(BrokerError::BadTamUri { .. })
        ));
        assert!(matches!(strict.check_uri("ftp://x/"), Err(BrokerError::BadTamUri { .. })));
        assert!(matches!(strict.check_uri("/relative"), Err(BrokerError::BadTamUri { .. })));
        assert!(matches!(
            strict.check_uri("https://user:pw@tam.example/"),
            Err(BrokerError::BadTamUri { .. })
        ));

        let config = BrokerConfig { allow_http: true, ..BrokerConfig::default() };
        let lax = TamClient::new(&config);
        let Ok(lax) = lax else { panic!("client: {lax:?}") };
        assert!(lax.check_uri("http://127.0.0.1:8080/tam").is_ok());
    }

    #[test]
    fn ca_file_must_hold_a_certificate() {
        let dir = tempfile::tempdir();
        let Ok(dir) = dir else { panic!("tempdir") };
        let path = dir.path().join("ca.pem");
        assert!(std::fs::write(&path, "not a pem file\n").is_ok());
        let config = BrokerConfig { ca_file: Some(path), ..BrokerConfig::default() };
        assert!(matches!(TamClient::new(&config), Err(ConfigError::CaFile { .. })));

        let missing = BrokerConfig {
            ca_file: Some(dir.path().join("absent.pem")),
            ..BrokerConfig::default()
        };
        assert!(matches!(TamClient::new(&missing), Err(ConfigError::CaFile { .. })));
    }
}
