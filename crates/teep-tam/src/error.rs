//! Errors of the TAM: configuration, storage, administration and keys.
//!
//! Peer misbehaviour during a TEEP session is not an error of the server: the session core
//! answers it (usually with 204 and a warning in the log), so those cases live in
//! [`crate::session`].

use std::path::PathBuf;

/// A configuration file could not be read or is invalid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// File that failed.
        path: PathBuf,
        /// Operating-system reason.
        reason: String,
    },
    /// The TOML text does not parse or has unknown fields.
    #[error("invalid TAM configuration: {0}")]
    Parse(String),
    /// A value is out of range.
    #[error("invalid TAM configuration: {0}")]
    Invalid(&'static str),
}

/// A database operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The driver reported an error (connection, SQL, constraint).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the embedded migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database URL names a backend this build does not support.
    #[error("unsupported database URL scheme (use sqlite:// or postgres://)")]
    UnsupportedBackend,
    /// A stored value does not have the expected form (the database was edited by hand).
    #[error("corrupt stored value in {0}")]
    Corrupt(&'static str),
    /// A number does not fit the database's signed 64-bit integers.
    #[error("{0} is too large to store")]
    OutOfRange(&'static str),
}

/// An administrative operation was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key could not be parsed.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// The SUIT envelope does not decode or does not authenticate.
    #[error("trusted component rejected: {0}")]
    InvalidEnvelope(String),
    /// The SUIT manifest carries no component id that names the Trusted Component.
    #[error("trusted component rejected: manifest has no component identifier")]
    NoComponentId,
    /// No TC signer is registered, so no envelope can be accepted.
    #[error("no TC signer is registered")]
    NoSigners,
    /// No registered TC signer (that the actor may use) verifies the envelope's signature.
    #[error(
        "trusted component rejected: no registered TC signer verifies its signature; register \
         the signer's public key first (`teep tam signer add`, POST /admin/v1/signers)"
    )]
    UntrustedEnvelope,
    /// The change would leave no enabled operator able to use the admin API.
    #[error("refused: {0}")]
    WouldLockOut(String),
    /// The named object already exists.
    #[error("{0} already exists")]
    Exists(&'static str),
    /// The named object does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// An argument is malformed (component id, device id, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// A TC signer cannot be removed while catalog entries it authenticated remain: the TAM
    /// would keep shipping them.
    #[error(
        "signer {signer} authenticated trusted components still in the catalog: {}; remove \
         them first, or remove the signer together with them",
        components.join(", ")
    )]
    SignerInUse {
        /// The signer's name.
        signer: String,
        /// The catalog entries, as `component-id@sequence-number`.
        components: Vec<String>,
    },
    /// The actor's role or ownership does not allow the operation.
    #[error("forbidden: {0}")]
    Forbidden(String),
}

/// The TAM's signing keys could not be loaded or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Reading or writing a key file failed.
    #[error("{path}: {reason}")]
    Io {
        /// File that failed.
        path: PathBuf,
        /// Operating-system reason.
        reason: String,
    },
    /// The file does not hold a usable key of the expected kind.
    #[error("{path}: {reason}")]
    Invalid {
        /// File that failed.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A configured TAM key file does not exist. Serving never creates keys: a new key would
    /// be a TAM identity that no Agent trusts.
    #[error(
        "TAM key {path} does not exist; run `teep tam init` to create the TAM keys, or point \
         [keys] in the configuration at the existing ones"
    )]
    Missing {
        /// File that is missing.
        path: PathBuf,
    },
    /// A private key file is readable or writable by group or others.
    #[error(
        "TAM private key {path} has mode {mode:o}, accessible to group or others; \
         run `chmod 600 {path}`"
    )]
    Permissions {
        /// File that is too open.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// Starting or running the server failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Configuration problem.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Storage problem.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Key problem.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Binding or serving the socket failed.
    #[error("server I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The TLS certificate or key could not be loaded.
    #[error("cannot load TLS certificate: {0}")]
    Tls(String),
}
