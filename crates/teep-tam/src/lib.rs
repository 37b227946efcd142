//! teep-tam: the Trusted Application Manager of teep-rs.
//!
//! * [`config`]: the `tam.toml` configuration ([`TamConfig`]).
//! * [`store`]: devices, catalog, policy, tokens and history on SQLite or PostgreSQL.
//! * [`session`]: the TAM's protocol behaviour ([`Tam::handle`]), without HTTP.
//! * [`http`]: the TEEP/HTTP server side ([`router`]); [`serve`] and [`Server`] run it (HTTP or
//!   HTTPS) with graceful shutdown.
//! * [`ops`] and [`metrics`]: `/healthz`, `/readyz` and Prometheus `/metrics`.
//! * [`admin`]: what the `teep tam` administration commands do ([`Admin`]).
//! * [`policy`]: how the Update is decided.
//! * [`fleet`]: device groups, group policy, staged rollouts, retired versions, enrolment
//!   allow and block lists, X.509 enrolment ([`x509`]) and paged device history.
//!
//! Specifications: draft-ietf-teep-protocol-26 (TAM behaviour §8.1, messages §5, cipher
//! suites §9.1) and draft-ietf-teep-otrp-over-http-15 (the HTTP server side).
//!
//! # A session
//! An empty POST gets a QueryRequest signed with COSE_Sign, one signature per mandatory suite
//! (ESP256 and Ed25519; on a legacy endpoint also ES256 and EdDSA), asking for the installed
//! Trusted Components with a fresh, stateless token ([`token`]: nothing is stored for an
//! unauthenticated client). The QueryResponse must be a COSE_Sign1 whose kid is
//! the RFC 9679 thumbprint of an enrolled Agent key; once its signature verifies the token is
//! consumed, the tc-list recorded, and policy plus catalog decide an Update (COSE_Sign1 in the
//! Agent's suite) or 204. Success records what the Update installed and deleted; Error records
//! err-code and err-msg. Anything unverifiable, replayed or unexpected is dropped with 204 and
//! a warning, and changes nothing.
//!
//! Devices are named by the thumbprint of their Agent key. Trusted Components are named by
//! their manifest's suit-manifest-component-id (else its first component); a component id
//! that a catalog manifest installs is accepted as another name for that manifest, in tc-list,
//! requested-tc-list and policy alike.
//!
//! # Not supported yet
//! * Attestation: the background-check model is supported (`[attestation]` in `tam.toml`,
//!   [`config::AttestationConfig`]): the QueryRequest sets the attestation bit with a
//!   challenge, the Evidence (decrypted first when it is an encrypted EAT) goes to the
//!   Verifier's challenge-response API, and the Attestation Result must be signed by a
//!   trusted Verifier key, bound by cnf to the key that signed the QueryResponse, fresh and
//!   affirming; the outcome is in [`DeviceStatus::attestation`]. An attestation payload that
//!   already is such an Attestation Result (passport model) is judged the same way without
//!   calling the Verifier. A device that is not trusted gets only the catalog components
//!   marked as remediation ([`Admin::set_remediation`]; no deletions), or, when none applies,
//!   an Update with ERR_ATTESTATION_REQUIRED and nothing else. Not yet: the TAM's own
//!   attestation when an Agent answers ERR_ATTESTATION_REQUIRED (recorded, not answered).
//! * Certificates: TAM keys are raw public keys. Agents may be enrolled by an X.509 chain to
//!   a manufacturer CA ([`x509`]), by the operator or from an x5chain in their first
//!   QueryResponse; a chain that does not verify is refused at enrolment (the message is
//!   dropped), so ERR_BAD_CERTIFICATE and ERR_CERTIFICATE_EXPIRED are never sent.
//! * Agent keys in a form other than a COSE_Sign1 with a thumbprint kid (COSE_Sign from an
//!   Agent, or a kid that is not the RFC 9679 thumbprint) are treated as unknown.
//! * Timestamp freshness accepts a QueryResponse without a challenge when its Attestation
//!   Result is within `timestamp_window_secs`: replays inside that window are not detected.
//! * Personalisation data and dependency manifests are sent as catalog envelopes only; the
//!   TAM does not build or re-sign manifests.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod actor;
pub mod admin;
pub mod api;
pub mod component;
pub mod config;
pub mod domains;
pub mod error;
pub mod fleet;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod ops;
pub mod payloads;
pub mod policy;
pub mod principals;
mod server;
pub mod session;
pub mod store;
pub mod token;
pub mod x509;

pub use actor::{Actor, Role};
pub use admin::{Admin, DeviceStatus, PolicyTarget};
pub use component::ComponentKey;
pub use config::{TamConfig, Wire};
pub use error::{AdminError, ConfigError, KeyError, ServeError, StoreError};
pub use http::router;
pub use keys::TamKeys;
pub use server::{Server, serve, serve_on};
pub use session::{Incoming, Reply, SessionError, Tam};
pub use store::Store;
