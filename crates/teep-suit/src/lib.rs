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
//! Trust domains (draft-ietf-suit-trust-domains): dependency manifests are addressed by
//! component indices after suit-components (their identifier is the dependency-prefix);
//! image-match on a dependency compares its manifest digest; dependency-integrity
//! authenticates it; process-dependency runs its shared sequence and the current section and,
//! in suit-install, stages its record ([`Platform::stage_dependency_record`]).
//! [`Options::strict_dependencies`] selects strict or compatibility mode.
//!
//! Security domains ([`domain`], docs/security-domains.md): the processor tells the platform
//! which signer (RFC 9679 thumbprint) authorised each manifest and dependency
//! ([`Platform::set_authority`]); [`DomainPolicy`] is the rule a platform applies, and every
//! refusal is reported with reason 7, unauthorized SUIT component.
//!
//! Encrypted payloads (draft-ietf-suit-firmware-encryption): suit-parameter-encryption-info
//! on write, fetch and copy; A128KW/A192KW/A256KW and ECDH-ES + A*KW recipients with
//! [`Platform::decryption_keys`]. All content algorithms stream chunk by chunk into staging:
//! AES-CTR directly, AEAD content (AES-GCM, ChaCha20/Poly1305) with its tag computed on the
//! way and checked at the end; a failed tag resets the staged image, so unauthenticated
//! plaintext never becomes visible.
//!
//! Authentication: COSE_Sign1 (ESP256, ES256, Ed25519, EdDSA) and COSE_Mac0 (HMAC 256/256,
//! [`MacKey`]); several blocks, one verifying suffices. Reports may be signed with a device
//! report key and encrypted ([`SuitReport::sign1`], [`SuitReport::encrypt`]).
//!
//! Severed members the envelope lacks are fetched by reference through
//! [`Platform::fetch_severed`] and checked against the authenticated digests; suit-directive-
//! swap exchanges two images; [`uninstall_with`] runs the installed manifest's suit-uninstall
//! section (re-authenticated) with the removal. Feature `std` adds the [`builder`] (several
//! components, dependencies, encrypted payloads) and [`tool`] (re-sign, sever, encrypt existing
//! envelopes).
//!
//! Not supported in this version (each reported with a precise error): COSE_Sign / COSE_Mac
//! authentication blocks, COSE_Encrypt0 encryption info, digest algorithms other than SHA-256,
//! delegation chains (ignored: only the caller's anchors are trusted), swap on dependency
//! manifests. A severed member that neither the envelope nor the platform supplies fails with
//! reason severing-unsupported.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod aead;
mod cbor;
pub mod command;
mod component;
mod digest;
pub mod domain;
mod envelope;
mod error;
mod interpreter;
pub mod manifest;
mod platform;
mod process;
mod report;

#[cfg(feature = "std")]
pub mod builder;
#[cfg(feature = "std")]
pub mod tool;

pub use component::ComponentId;
pub use digest::{SHA256, SuitDigest};
pub use domain::{Authority, DomainPolicy, SignerId};
pub use envelope::{AuthenticatedManifest, ENVELOPE_TAG, Envelope, MacKey, TrustAnchors};
pub use error::{PlatformError, Reason, SuitError};
pub use manifest::Manifest;
pub use platform::{BytesDownload, DecryptionKey, Download, Identifier, InstallRecord, Platform};
pub use process::{Failure, Options, Procedure, ProcessReport, process, uninstall, uninstall_with};
pub use report::{
    ReceivedReport, Record, ReportProtection, ReportResult, SuitReference, SuitReport,
};
