//! SUIT manifests for TEEP: envelope codec, authentication, the manifest processor, reports
//! and (feature `std`) a manifest builder.
//!
//! Specifications: draft-ietf-suit-manifest-34 (envelope, manifest, commands),
//! draft-ietf-suit-trust-domains (manifest-component-id, uninstall, set-parameters, unlink),
//! draft-ietf-suit-report (SUIT_Report and reason codes), draft-ietf-teep-protocol-26 §4.4
//! (the TEEP Agent runs the manifests of an Update).
//!
//! Flow: [`Envelope::decode`] → [`Envelope::authenticate`] (digest + COSE_Sign1 against the
//! caller's [`TrustAnchors`]) → [`AuthenticatedManifest`] → [`process`] runs it against a
//! [`Platform`], staging every write and committing only when everything passed.
//!
//! Not supported in this version (each reported with a precise error): dependency manifests
//! (process-dependency, dependency-integrity), suit-directive-swap, COSE_Sign / COSE_Mac /
//! COSE_Mac0 authentication blocks, digest algorithms other than SHA-256, delegation chains
//! (ignored: only the caller's anchors are trusted), encrypted payloads.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod cbor;
pub mod command;
mod component;
mod digest;
mod envelope;
mod error;
mod interpreter;
pub mod manifest;
mod platform;
mod process;
mod report;

#[cfg(feature = "std")]
pub mod builder;

pub use component::ComponentId;
pub use digest::{SHA256, SuitDigest};
pub use envelope::{AuthenticatedManifest, ENVELOPE_TAG, Envelope, TrustAnchors};
pub use error::{PlatformError, Reason, SuitError};
pub use manifest::Manifest;
pub use platform::{BytesDownload, Download, Identifier, InstallRecord, Platform};
pub use process::{Failure, Options, Procedure, ProcessReport, process, uninstall};
pub use report::{Record, ReportResult, SuitReference, SuitReport};
