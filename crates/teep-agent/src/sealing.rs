//! The platform key that seals the Agent's state at rest (issue 6, sealed state).
//!
//! A TEE keeps the Agent's private keys and its component store confidential and
//! integrity-protected under a key that only the TEE can obtain: OP-TEE derives it from the
//! hardware unique key through the trusted application's secure storage, SGX from `EGETKEY`
//! (a sealing key bound to the enclave's signer or measurement), a confidential VM from a key
//! released by attestation or sealed to a vTPM. [`PlatformKey`] is how a platform hands that
//! key to the Agent's storage; the software TEE's implementation reads a key file
//! (`software::seal::FileKey`), which is only as safe as the file's permissions.
//!
//! Sealing one file at a time cannot notice that the whole state was rolled back to an older
//! copy; that needs a counter the rich OS cannot reset. A platform that has one (an RPMB
//! counter on OP-TEE, a TPM NV counter, a counter service behind attestation) returns it from
//! [`PlatformKey::rollback_counter`].

use alloc::string::String;
use core::fmt;

use zeroize::Zeroizing;

/// Length of a sealing key in bytes (an HKDF-SHA256 input of full strength).
pub const SEALING_KEY_LEN: usize = 32;

/// The root key under which the Agent's state is sealed. Its `Debug` prints no key material.
#[derive(Clone)]
pub struct SealingKey(Zeroizing<[u8; SEALING_KEY_LEN]>);

impl SealingKey {
    /// Wraps key bytes supplied by the platform.
    pub fn new(bytes: [u8; SEALING_KEY_LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The key bytes (input keying material of the per-purpose key derivation).
    pub fn bytes(&self) -> &[u8; SEALING_KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey(..)")
    }
}

/// Why the platform could not supply its key or counter (what failed and what to do).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformKeyError(pub String);

impl fmt::Display for PlatformKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A monotonic counter the rich OS cannot decrement: detects the rollback of the whole sealed
/// state to an older copy.
pub trait MonotonicCounter {
    /// The counter's current value.
    fn value(&mut self) -> Result<u64, PlatformKeyError>;

    /// Raises the counter to `value` (no effect when it is already at or above it).
    fn advance_to(&mut self, value: u64) -> Result<(), PlatformKeyError>;
}

/// What a TEE supplies to seal the Agent's state.
pub trait PlatformKey {
    /// The root sealing key; the same on every call for one device (and Agent identity).
    fn sealing_key(&self) -> Result<SealingKey, PlatformKeyError>;

    /// The platform's monotonic counter, if it has one; `None` (the default) leaves
    /// whole-state rollback undetected.
    fn rollback_counter(&mut self) -> Option<&mut dyn MonotonicCounter> {
        None
    }
}
