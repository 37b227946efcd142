//! TEEP Agent (RFC 9397 §4.4; draft-ietf-teep-protocol-26 §4-§8).
//!
//! Two layers:
//! - a sans-I/O core (no_std + alloc) that turns TEEP messages from a TAM into responses and
//!   runs SUIT manifests on an abstract platform;
//! - behind the default `std` feature, the software TEE (a state directory holding keys, trust
//!   anchors and installed components) and the Broker <-> Agent IPC ([`ipc`]).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use teep_agent::software::{self, init::SOCKET_FILE};
//!
//! let dir = std::path::Path::new("/var/lib/teep-agent");
//! software::init(dir, &software::InitOptions::default())?; // once: keys, config.toml
//! let agent = software::open(dir)?; // replays an unfinished commit, loads the store
//! teep_agent::ipc::serve(&dir.join(SOCKET_FILE), agent).await?; // the Broker connects here
//! # Ok(()) }
//! ```
//!
//! Not supported yet (each refused with a precise error or simply not offered):
//! - hardware-rooted Evidence: the software TEE signs its EAT with the Agent key
//!   ([`EVIDENCE_FORMAT`]); Attestation Results about the TAM are not requested or checked;
//! - ext-list (no extensions are defined), boot-time suit-reports in QueryResponse,
//!   have-binary / minimum sequence numbers in requested-tc-list (RequestTA carries only an id);
//! - suit-directive-invoke on the software TEE (it does not execute components);
//! - whatever teep-suit does not process (dependencies, encrypted payloads, ...).
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod agent;
mod error;
mod evidence;
mod wire;

pub use agent::{
    Agent, AgentConfig, AgentPlatform, ApiError, InstalledTc, ItemOutcome, MAX_COMPONENT_ID_BYTES,
    MAX_PENDING, Session, TamTrust,
};
pub use error::{AgentError, Rejection};
pub use evidence::EVIDENCE_FORMAT;

#[cfg(feature = "std")]
pub mod ipc;
#[cfg(feature = "std")]
pub mod software;
