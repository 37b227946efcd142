//! Errors of the Verifier service and its client.

/// A Verifier failure.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum VerifierError {
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// A key file is missing or invalid.
    #[error("key: {0}")]
    Key(String),
    /// I/O failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The random number generator failed.
    #[error("random number generator: {0}")]
    Random(String),
    /// Signing the Attestation Result failed.
    #[error("signing the attestation result: {0}")]
    Sign(#[from] teep_eat::EatError),
}

/// Why the client could not obtain an Attestation Result.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The Verifier URL is not an absolute http(s) URL.
    #[error("invalid verifier URL: {0}")]
    Url(String),
    /// The HTTP exchange failed.
    #[error("verifier unreachable: {0}")]
    Http(String),
    /// The Verifier answered with an unexpected status.
    #[error("verifier answered HTTP {status}: {body}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// Start of the body.
        body: String,
    },
    /// The Verifier's answer is not the expected JSON.
    #[error("invalid verifier answer: {0}")]
    Answer(&'static str),
}
