//! Error types.
//!
//! Three families, kept apart as draft-ietf-teep-otrp-over-http §5.6 does: a
//! [`TransportFailure`] is an HTTP error response or a lower-layer error (it is reported to the
//! Agent through ProcessError), an [`AgentError`] is a local failure to get an answer from the
//! Agent (reported only to the caller), and [`ConfigError`] is a caller mistake.

/// An HTTP exchange with the TAM failed (transport draft §5.6: "an HTTP error response or a
/// lower layer error"). The Broker passes it to the Agent's ProcessError API.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportFailure {
    /// The TAM answered with a redirect, which must not be followed (transport draft §3).
    #[error("TAM answered HTTP {status} (redirect, not followed)")]
    Redirect {
        /// The 3xx status code.
        status: u16,
    },
    /// The TAM answered with a status that is neither 2xx nor 3xx.
    #[error("TAM answered HTTP {status}")]
    Status {
        /// The status code.
        status: u16,
    },
    /// A 2xx response with a body whose Content-Type is not application/teep+cbor.
    #[error("TAM response has Content-Type {found:?}, expected application/teep+cbor")]
    WrongContentType {
        /// The Content-Type received (truncated to 64 bytes), or `None` when absent.
        found: Option<String>,
    },
    /// The response body is larger than the configured limit.
    #[error("TAM response exceeds the limit of {limit} bytes")]
    ResponseTooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },
    /// The exchange did not complete within the configured timeout.
    #[error("TAM exchange timed out")]
    Timeout,
    /// Connection, TLS or protocol error below HTTP semantics.
    #[error("TAM unreachable: {0}")]
    Network(String),
    /// The session used up its round trips without the TAM ending it.
    #[error("session exceeded {limit} round trips")]
    RoundTripLimit {
        /// The configured limit.
        limit: u32,
    },
}

/// The Agent could not be asked, or gave an answer the Broker cannot use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The Agent is unreachable (socket closed, process gone).
    #[error("TEEP Agent unreachable: {0}")]
    Unreachable(String),
    /// The Agent rejected the call; the text is the Agent's reason.
    #[error("TEEP Agent refused the call: {0}")]
    Refused(String),
    /// The Agent's answer is malformed (IPC framing or encoding).
    #[error("malformed answer from the TEEP Agent: {0}")]
    Malformed(String),
}

/// The Broker configuration is unusable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The TOML text does not parse or has unknown keys.
    #[error("broker configuration: {0}")]
    Toml(String),
    /// A value is out of range.
    #[error("broker configuration: {0}")]
    Invalid(&'static str),
    /// The CA file cannot be read or holds no certificate.
    #[error("CA bundle {path}: {reason}")]
    CaFile {
        /// The file named in the configuration.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
}

/// Why a Broker operation (RequestTA, UnrequestTA, RequestPolicyCheck) failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The Agent failed locally (transport draft §5.6 first paragraph); the session was dropped.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// The TAM exchange failed; the Agent was told through ProcessError.
    #[error("session with {tam_uri} failed: {failure}")]
    Transport {
        /// The TAM URI posted to.
        tam_uri: String,
        /// What failed.
        failure: TransportFailure,
    },
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A TAM URI is not usable (not http(s), or plain http while it is not allowed).
    #[error("TAM URI {uri:?} rejected: {reason}")]
    BadTamUri {
        /// The URI (as the Agent named it).
        uri: String,
        /// Why it is rejected.
        reason: &'static str,
    },
}
