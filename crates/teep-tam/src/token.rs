//! TEEP tokens issued by the TAM (draft-ietf-teep-protocol-26 §4.1 and §4.3: "token").
//!
//! A token is fresh CSPRNG output of the configured length (8..=64 bytes, 16 by default). The
//! database keeps only its SHA-256 hash; logs show only [`TokenPrefix`].

use core::fmt;

use sha2::{Digest, Sha256};

use crate::config::{MAX_TOKEN_LEN, MIN_TOKEN_LEN};

/// A freshly generated token.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken(Vec<u8>);

/// The operating system's random number generator failed.
#[derive(Debug, thiserror::Error)]
#[error("operating system random number generator failed: {0}")]
pub struct RandomError(String);

impl IssuedToken {
    /// Draws `len` random bytes (clamped to 8..=64) from the operating system.
    pub fn generate(len: usize) -> Result<Self, RandomError> {
        let mut bytes = vec![0_u8; len.clamp(MIN_TOKEN_LEN, MAX_TOKEN_LEN)];
        getrandom::fill(&mut bytes).map_err(|e| RandomError(e.to_string()))?;
        Ok(IssuedToken(bytes))
    }

    /// The token bytes, to put in a message.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The hash under which it is stored.
    pub fn hash(&self) -> [u8; 32] {
        token_hash(&self.0)
    }
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IssuedToken({})", TokenPrefix(&self.0))
    }
}

/// SHA-256 of a token, the key of the `tokens` table.
pub fn token_hash(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

/// Displays the first four bytes of a token in hex followed by `..`, for logs.
pub struct TokenPrefix<'a>(pub &'a [u8]);

impl fmt::Display for TokenPrefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0.iter().take(4) {
            write!(f, "{b:02x}")?;
        }
        f.write_str("..")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_distinct_tokens_of_the_right_length() {
        let a = IssuedToken::generate(16).unwrap();
        let b = IssuedToken::generate(16).unwrap();
        assert_eq!(a.as_bytes().len(), 16);
        assert_ne!(a, b);
        assert_eq!(IssuedToken::generate(1).unwrap().as_bytes().len(), 8);
        assert_eq!(IssuedToken::generate(1000).unwrap().as_bytes().len(), 64);
    }

    #[test]
    fn logs_only_a_prefix() {
        let t = IssuedToken(vec![0xab; 16]);
        assert_eq!(format!("{t:?}"), "IssuedToken(abababab..)");
        assert_eq!(TokenPrefix(&[1, 2]).to_string(), "0102..");
    }

    #[test]
    fn hash_is_sha256() {
        assert_eq!(
            hex::encode(token_hash(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
