//! COSE algorithm identifiers (IANA "COSE Algorithms" registry, RFC 9053 and RFC 9864).
//!
//! An [`Algorithm`] is an open code point: values outside the table below survive decoding and
//! are rejected only where an operation needs them ([`crate::Error::UnsupportedAlgorithm`]).

use core::fmt;

/// A COSE algorithm identifier (header parameter 1, RFC 9052 §3.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Algorithm(pub i64);

impl Algorithm {
    /// ECDSA with SHA-256, curve not fixed by the identifier (RFC 9053 §2.1).
    pub const ES256: Algorithm = Algorithm(-7);
    /// EdDSA, curve not fixed by the identifier (RFC 9053 §2.2).
    pub const EDDSA: Algorithm = Algorithm(-8);
    /// ECDSA using P-256 and SHA-256, fully specified (RFC 9864).
    pub const ESP256: Algorithm = Algorithm(-9);
    /// EdDSA using Ed25519, fully specified (RFC 9864).
    pub const ED25519: Algorithm = Algorithm(-19);
    /// HMAC with SHA-256, 256-bit tag (RFC 9053 §3.1).
    pub const HMAC_256_256: Algorithm = Algorithm(5);
    /// AES key wrap with a 128-bit key (RFC 9053 §6.2.1).
    pub const A128KW: Algorithm = Algorithm(-3);
    /// AES key wrap with a 192-bit key (RFC 9053 §6.2.1).
    pub const A192KW: Algorithm = Algorithm(-4);
    /// AES key wrap with a 256-bit key (RFC 9053 §6.2.1).
    pub const A256KW: Algorithm = Algorithm(-5);
    /// ECDH ephemeral-static with HKDF-SHA-256, direct key agreement (RFC 9053 §6.3.1).
    pub const ECDH_ES_HKDF_256: Algorithm = Algorithm(-25);
    /// ECDH ephemeral-static + HKDF-SHA-256 + AES key wrap, 128-bit key (RFC 9053 §6.4.1).
    pub const ECDH_ES_A128KW: Algorithm = Algorithm(-29);
    /// ECDH ephemeral-static + AES key wrap, 192-bit key (RFC 9053 §6.4.1).
    pub const ECDH_ES_A192KW: Algorithm = Algorithm(-30);
    /// ECDH ephemeral-static + AES key wrap, 256-bit key (RFC 9053 §6.4.1).
    pub const ECDH_ES_A256KW: Algorithm = Algorithm(-31);
    /// ECDH static-static + AES key wrap, 128-bit key (RFC 9053 §6.4.1).
    pub const ECDH_SS_A128KW: Algorithm = Algorithm(-32);
    /// ECDH static-static + AES key wrap, 192-bit key (RFC 9053 §6.4.1).
    pub const ECDH_SS_A192KW: Algorithm = Algorithm(-33);
    /// ECDH static-static + AES key wrap, 256-bit key (RFC 9053 §6.4.1).
    pub const ECDH_SS_A256KW: Algorithm = Algorithm(-34);
    /// Direct use of a shared key (RFC 9053 §6.1.1).
    pub const DIRECT: Algorithm = Algorithm(-6);
    /// AES-GCM with a 128-bit key (RFC 9053 §4.1).
    pub const A128GCM: Algorithm = Algorithm(1);
    /// AES-GCM with a 192-bit key (RFC 9053 §4.1).
    pub const A192GCM: Algorithm = Algorithm(2);
    /// AES-GCM with a 256-bit key (RFC 9053 §4.1).
    pub const A256GCM: Algorithm = Algorithm(3);
    /// ChaCha20/Poly1305 with a 256-bit key (RFC 9053 §4.3).
    pub const CHACHA20_POLY1305: Algorithm = Algorithm(24);
    /// AES-CTR with a 128-bit key, no integrity protection (RFC 9459).
    pub const A128CTR: Algorithm = Algorithm(-65534);
    /// AES-CTR with a 192-bit key, no integrity protection (RFC 9459).
    pub const A192CTR: Algorithm = Algorithm(-65533);
    /// AES-CTR with a 256-bit key, no integrity protection (RFC 9459).
    pub const A256CTR: Algorithm = Algorithm(-65532);
    /// SHA-256 (RFC 9054).
    pub const SHA256: Algorithm = Algorithm(-16);

    /// The registry name of a known identifier.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            -7 => "ES256",
            -8 => "EdDSA",
            -9 => "ESP256",
            -19 => "Ed25519",
            5 => "HMAC 256/256",
            -3 => "A128KW",
            -4 => "A192KW",
            -5 => "A256KW",
            -6 => "direct",
            -25 => "ECDH-ES + HKDF-256",
            -29 => "ECDH-ES + A128KW",
            -30 => "ECDH-ES + A192KW",
            -31 => "ECDH-ES + A256KW",
            -32 => "ECDH-SS + A128KW",
            -33 => "ECDH-SS + A192KW",
            -34 => "ECDH-SS + A256KW",
            1 => "A128GCM",
            2 => "A192GCM",
            3 => "A256GCM",
            24 => "ChaCha20/Poly1305",
            -65534 => "A128CTR",
            -65533 => "A192CTR",
            -65532 => "A256CTR",
            -16 => "SHA-256",
            _ => return None,
        })
    }

    /// Whether this is a signature algorithm this crate implements.
    pub fn is_signature(self) -> bool {
        matches!(self, Self::ES256 | Self::ESP256 | Self::EDDSA | Self::ED25519)
    }
}

impl fmt::Debug for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "Algorithm({} {name})", self.0),
            None => write!(f, "Algorithm({})", self.0),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.0),
        }
    }
}
