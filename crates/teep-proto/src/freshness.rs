//! Freshness mechanisms (draft-ietf-teep-protocol-26 §8) and the data-item-requested bitmap
//! (§5.1, "TEEP data-item-requested Bits" registry).
//!
//! ```cddl
//! FRESHNESS_NONCE = 0
//! FRESHNESS_TIMESTAMP = 1
//! data-item-requested = &(
//!   attestation: 0,
//!   trusted-components: 1,
//!   extensions: 2,
//!   suit-reports: 3,
//! )
//! ```

use alloc::string::String;
use core::fmt;

/// A freshness mechanism ("TEEP Freshness Mechanisms" registry). Unregistered values are kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum FreshnessMechanism {
    /// FRESHNESS_NONCE (0): the challenge (or token, Passport model) is the nonce.
    Nonce,
    /// FRESHNESS_TIMESTAMP (1).
    Timestamp,
    /// Any other registry value.
    Other(u64),
}

impl FreshnessMechanism {
    /// The registry value.
    pub fn value(self) -> u64 {
        match self {
            FreshnessMechanism::Nonce => 0,
            FreshnessMechanism::Timestamp => 1,
            FreshnessMechanism::Other(v) => v,
        }
    }

    /// The mechanism a registry value names.
    pub fn from_value(v: u64) -> Self {
        match v {
            0 => FreshnessMechanism::Nonce,
            1 => FreshnessMechanism::Timestamp,
            other => FreshnessMechanism::Other(other),
        }
    }
}

/// The data-item-requested bitmap of a QueryRequest (`uint .bits data-item-requested`).
///
/// Bits from 4 up are unassigned in the registry (IANA "TEEP data-item-requested Bits"): they
/// are kept, not rejected, so an Agent can answer what it understands.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DataItemRequested(pub u64);

impl DataItemRequested {
    /// attestation (bit 0): return an attestation payload.
    pub const ATTESTATION: Self = Self(1 << 0);
    /// trusted-components (bit 1): list installed Trusted Components.
    pub const TRUSTED_COMPONENTS: Self = Self(1 << 1);
    /// extensions (bit 2): list supported extensions.
    pub const EXTENSIONS: Self = Self(1 << 2);
    /// suit-reports (bit 3): return SUIT Reports.
    pub const SUIT_REPORTS: Self = Self(1 << 3);
    /// The bits this crate knows (0..=3).
    pub const KNOWN: Self = Self(0xf);

    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of both bitmaps.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Spec names of the set bits, separated by `|`.
    pub fn names(self) -> String {
        let mut out = String::new();
        for (bit, name) in [
            (Self::ATTESTATION, "attestation"),
            (Self::TRUSTED_COMPONENTS, "trusted-components"),
            (Self::EXTENSIONS, "extensions"),
            (Self::SUIT_REPORTS, "suit-reports"),
        ] {
            if self.contains(bit) {
                if !out.is_empty() {
                    out.push('|');
                }
                out.push_str(name);
            }
        }
        let rest = self.0 & !Self::KNOWN.0;
        if rest != 0 {
            if !out.is_empty() {
                out.push('|');
            }
            out.push_str(&alloc::format!("{rest:#x}"));
        }
        if out.is_empty() {
            out.push_str("none");
        }
        out
    }
}

impl core::ops::BitOr for DataItemRequested {
    type Output = Self;

    fn bitor(self, rhs: Self) -> Self {
        self.union(rhs)
    }
}

impl fmt::Debug for DataItemRequested {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataItemRequested({})", self.names())
    }
}
