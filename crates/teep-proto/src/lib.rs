//! TEEP protocol messages (draft-ietf-teep-protocol-26) in the RFC and the legacy numbering.
//!
//! - [`Message`] decodes and encodes the five messages of §5 with every rule the draft states
//!   checked on decode ([`DecodeError`] says which field broke which rule).
//! - [`registry`] holds the code points (message types, option labels, error codes) with their
//!   RFC and legacy values; [`Numbering`] selects one per peer.
//! - [`negotiate`] picks a cipher suite (§7.1); [`seal_sign1`], [`seal_sign`] and [`open`]
//!   wrap messages in and out of COSE (§4.1).
//! - [`describe`] gives the one-line summaries used by logs and the CLI; tokens appear only
//!   as a 4-byte prefix.
//!
//! The crate is sans-I/O and `no_std` (with `alloc`).

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

mod cipher_suite;
mod codec;
mod component;
mod describe;
mod envelope;
mod error;
mod freshness;
mod message;
mod options;
mod query_request;
mod query_response;
pub mod registry;
mod success;
mod teep_error;
mod token;
mod update;

pub use cipher_suite::{COSE_SIGN, COSE_SIGN1, CipherSuite, Operation, SuitCoseProfile, negotiate};
pub use component::{
    ComponentId, RequestedTcInfo, SUIT_PARAMETER_IMAGE_DIGEST, SystemPropertyClaims,
    TrustedComponentId,
};
pub use describe::describe;
pub use envelope::{
    CoseStructure, Error, Opened, open, open_limited, seal_sign, seal_sign1, suite_algorithms,
};
pub use error::DecodeError;
pub use freshness::{DataItemRequested, FreshnessMechanism};
pub use message::{DEFAULT_MAX_MANIFESTS, Message, MessageLimits, default_limits};
pub use options::Extension;
pub use query_request::QueryRequest;
pub use query_response::QueryResponse;
pub use registry::{ErrCode, Label, MessageType, Numbering};
pub use success::Success;
pub use teep_error::{TeepError, truncate_utf8};
pub use token::{Token, TokenPrefix};
pub use update::Update;

/// The media type of TEEP messages (§IANA "Media Type Registration").
pub const MEDIA_TYPE: &str = "application/teep+cbor";
