//! The token option: `token => bstr .size (8..64)` (draft-ietf-teep-protocol-26 §5.1).
//!
//! A token matches a response to the TAM's request. It is single use and must never reach a
//! log in full, so `Debug` and `Display` show only its first four bytes.

use alloc::vec::Vec;
use core::fmt;

use crate::error::DecodeError;

/// A TEEP token: 8 to 64 bytes, chosen by the TAM from a CSPRNG.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Token(Vec<u8>);

impl Token {
    /// Smallest token length (§5.1).
    pub const MIN_LEN: usize = 8;
    /// Largest token length (§5.1).
    pub const MAX_LEN: usize = 64;

    /// Wraps `bytes` after checking the length rule.
    pub fn new(bytes: Vec<u8>) -> Result<Self, DecodeError> {
        crate::codec::check_len("token", bytes.len(), Self::MIN_LEN, Self::MAX_LEN)?;
        Ok(Token(bytes))
    }

    /// Copies `bytes` into a token after checking the length rule.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::new(bytes.to_vec())
    }

    /// The token bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The first four bytes in lowercase hex, for logs.
    pub fn prefix_hex(&self) -> TokenPrefix<'_> {
        TokenPrefix(self)
    }
}

impl AsRef<[u8]> for Token {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl TryFrom<&[u8]> for Token {
    type Error = DecodeError;

    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        Self::from_slice(bytes)
    }
}

/// Display helper printing a token's first four bytes in hex followed by an ellipsis.
pub struct TokenPrefix<'a>(&'a Token);

impl fmt::Display for TokenPrefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0.0.iter().take(4) {
            write!(f, "{b:02x}")?;
        }
        f.write_str("…")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.prefix_hex().fmt(f)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({})", self.prefix_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn length_rule() {
        assert!(Token::from_slice(&[0; 7]).is_err());
        assert!(Token::from_slice(&[0; 8]).is_ok());
        assert!(Token::from_slice(&[0; 64]).is_ok());
        assert!(Token::from_slice(&[0; 65]).is_err());
    }

    #[test]
    fn debug_and_display_show_only_a_prefix() {
        let t = Token::from_slice(&[0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7]).unwrap();
        assert_eq!(format!("{t}"), "a0a1a2a3…");
        assert_eq!(format!("{t:?}"), "Token(a0a1a2a3…)");
        assert!(!format!("{t:?}").contains("a4"));
    }
}
