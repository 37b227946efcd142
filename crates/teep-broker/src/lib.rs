//! TEEP Broker: the rich-OS relay between TEEP Agents and TAMs.
//!
//! Implements the Broker's side of RFC 9397 §6.2 (conceptual APIs RequestTA, UnrequestTA,
//! RequestPolicyCheck and ProcessError) and the TEEP/HTTP client of
//! draft-ietf-teep-otrp-over-http §5. The Broker never interprets TEEP messages: they are
//! signed end to end between TAM and Agent. It only reads their type for the transcript.
//!
//! The Agent is reached through the [`AgentSide`] trait, implemented by [`IpcAgent`] over the
//! Agent's IPC socket or for an Agent in the same process.
//!
//! [`daemon`] runs the Broker as a service: a local socket for untrusted applications and
//! installers ([`daemon_socket`]) and a policy-check timer with jitter and backoff
//! ([`daemon_config`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod agent;
mod broker;
mod config;
pub mod daemon;
pub mod daemon_config;
pub mod daemon_socket;
mod error;
mod ipc;
pub mod passport;
mod transcript;
mod transport;

pub use agent::{AgentReply, AgentSide, TrustedComponentId};
pub use broker::{Broker, Report, SessionFailure, SessionReport};
pub use config::{BrokerConfig, WireNumbering};
pub use error::{AgentError, BrokerError, ConfigError, TransportFailure};
pub use ipc::IpcAgent;
pub use transcript::{AgentApi, Event, MessageKind, MessageSummary, Wrapping};
pub use transport::{TEEP_MEDIA_TYPE, TamClient, TamResponse, install_crypto_provider};
