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
//! - hardware-rooted Evidence: the software TEE's attester ([`software::attester`]) signs a
//!   TEEP-profile EAT with an attestation key of its own (distinct from the TEEP key), nonce or
//!   timestamp freshness, optionally encrypted to the TAM; a hardware TEE plugs in its own
//!   [`Attester`]. Without one the Agent falls back to a minimal EAT signed with its TEEP key
//!   ([`EVIDENCE_FORMAT`]);
//! - the passport model (obtaining an Attestation Result through the Broker and presenting
//!   it) is not implemented on the Agent side; attestation of the TAM ([`TamAttestation`])
//!   checks the TAM's EAT against trusted keys itself rather than through a Verifier;
//! - ext-list (no extensions are defined), boot-time suit-reports in QueryResponse,
//!   have-binary / minimum sequence numbers in requested-tc-list (RequestTA carries only an id);
//! - suit-directive-invoke on the software TEE (it does not execute components);
//! - running the suit-uninstall section of a manifest removed by unneeded-manifest-list (the
//!   software TEE removes its record, unreferenced dependencies and components directly);
//! - whatever teep-suit does not process (see its crate documentation).
//!
//! Supported on the software TEE beyond the basics: dependency manifests committed with their
//! root and kept by reference count (draft-ietf-suit-trust-domains), encrypted payloads with
//! the device ECDH-ES key and AES key-wrap keys (draft-ietf-suit-firmware-encryption), SUIT
//! reports signed with a separate report key or also encrypted to the TAM
//! (draft-ietf-suit-report, `[reports]` in config.toml), rollback protection that survives
//! uninstall, an exclusive lock on the state directory, and security domains isolating one
//! TC signer's manifests and components from another's (docs/security-domains.md; a TAM bound
//! to signers with [`TamTrust::signers`] deletes only their manifests).
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod agent;
pub mod attester;
mod error;
mod evidence;
pub mod passport;
pub mod report;
pub mod sealing;
mod wire;

pub use agent::{
    Agent, AgentConfig, AgentPlatform, ApiError, InstalledTc, ItemOutcome, MAX_COMPONENT_ID_BYTES,
    MAX_PENDING, RandomSource, Session, StoreIntegrity, TamAttestation, TamTrust, TamperedFile,
};
pub use attester::{Attester, AttesterError, Evidence, EvidenceRequest};
pub use error::{AgentError, Rejection};
pub use evidence::EVIDENCE_FORMAT;
pub use report::{ReportSealer, SignedReports};
pub use sealing::{MonotonicCounter, PlatformKey, PlatformKeyError, SealingKey};

#[cfg(feature = "std")]
pub mod ipc;
#[cfg(feature = "std")]
pub mod software;
