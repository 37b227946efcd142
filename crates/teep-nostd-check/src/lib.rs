//! Proof that the portable core builds without the standard library (issue 6, item 5).
//!
//! This crate is `#![no_std]` and links the TEEP Agent core (`teep-agent` without its `std`
//! feature), teep-proto, teep-suit and teep-cose. With the `bare-metal` feature it also
//! defines its own `#[panic_handler]` and `#[global_allocator]`; if any crate in the graph
//! linked `std`, rustc would refuse the build with "duplicate lang item `panic_impl`". So
//!
//! ```text
//! cargo build --locked -p teep-nostd-check --features bare-metal
//! ```
//!
//! succeeding proves the core is `no_std` + `alloc`. The feature is off in workspace builds,
//! where feature unification turns `std` on in teep-agent (the test and CLI crates need it).
//!
//! [`exercise`] is what a port runs first: decode a TEEP message and a SUIT envelope with the
//! bounded decoders, and construct an [`Agent`] over a platform that stores nothing. See
//! docs/porting.md for what a real platform must provide.

#![no_std]
#![warn(missing_docs)]
// The global allocator is the one place that needs `unsafe` (GlobalAlloc is an unsafe trait).
#![cfg_attr(not(feature = "bare-metal"), forbid(unsafe_code))]

extern crate alloc;

use alloc::vec::Vec;

use teep_agent::{Agent, AgentConfig, AgentPlatform, InstalledTc};
use teep_cose::SigningKey;
use teep_proto::{Message, Numbering};
use teep_suit::{
    BytesDownload, ComponentId, Envelope, Identifier, InstallRecord, Platform, PlatformError,
};

#[cfg(feature = "bare-metal")]
mod bare;

/// A platform that holds nothing and refuses every change: enough to construct the Agent and
/// answer a QueryRequest with an empty tc-list.
#[derive(Debug, Default)]
pub struct EmptyPlatform;

impl Platform for EmptyPlatform {
    type Download = BytesDownload;

    fn fetch(&mut self, _uri: &str, _args: Option<&[u8]>) -> Result<BytesDownload, PlatformError> {
        Err(PlatformError::Unsupported("fetch on the no_std check platform"))
    }

    fn matches_identifier(&self, _: Identifier, _: &ComponentId, _: &[u8]) -> bool {
        false
    }

    fn installed_sequence_number(&self, _manifest_id: &ComponentId) -> Option<u64> {
        None
    }

    fn stage_begin(&mut self, _component: &ComponentId) -> Result<(), PlatformError> {
        Err(PlatformError::Unsupported("storage on the no_std check platform"))
    }

    fn stage_write(&mut self, _: &ComponentId, _: u64, _: &[u8]) -> Result<(), PlatformError> {
        Err(PlatformError::Unsupported("storage on the no_std check platform"))
    }

    fn read(&mut self, _: &ComponentId, _: u64, _: &mut [u8]) -> Result<usize, PlatformError> {
        Err(PlatformError::UnknownComponent)
    }

    fn stage_unlink(&mut self, _component: &ComponentId) -> Result<(), PlatformError> {
        Err(PlatformError::Unsupported("storage on the no_std check platform"))
    }

    fn stage_uninstall(&mut self, _manifest_id: &ComponentId) -> Result<(), PlatformError> {
        Err(PlatformError::Unsupported("storage on the no_std check platform"))
    }

    fn invoke(&mut self, _: &ComponentId, _: Option<&[u8]>) -> Result<(), PlatformError> {
        Err(PlatformError::Unsupported("invoke on the no_std check platform"))
    }

    fn commit(&mut self, _record: Option<&InstallRecord<'_>>) -> Result<(), PlatformError> {
        Err(PlatformError::Unsupported("storage on the no_std check platform"))
    }

    fn abort(&mut self) {}
}

impl AgentPlatform for EmptyPlatform {
    fn installed(&self) -> Vec<InstalledTc> {
        Vec::new()
    }
}

/// What [`exercise`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exercised {
    /// The TEEP message decoded (RFC numbering).
    pub teep_decoded: bool,
    /// The SUIT envelope decoded.
    pub suit_decoded: bool,
    /// First byte of the constructed Agent's key id (RFC 9679 thumbprint).
    pub kid_first_byte: u8,
}

/// Decodes `teep_message` (a bare TEEP message, RFC numbering) and `suit_envelope`, and
/// constructs an Agent with an Ed25519 key from `seed` over [`EmptyPlatform`].
pub fn exercise(teep_message: &[u8], suit_envelope: &[u8], seed: &[u8; 32]) -> Exercised {
    let teep_decoded = Message::decode(teep_message, Numbering::Rfc).is_ok();
    let suit_decoded = Envelope::decode(suit_envelope).is_ok();
    let agent =
        Agent::new(AgentConfig::default(), SigningKey::from_ed25519_seed(seed), EmptyPlatform);
    let kid_first_byte = agent.kid().first().copied().unwrap_or_default();
    Exercised { teep_decoded, suit_decoded, kid_first_byte }
}
