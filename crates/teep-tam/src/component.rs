//! Trusted Component identifiers as the TAM stores them.
//!
//! A Trusted Component is named by its SUIT_Component_Identifier (draft-ietf-suit-manifest-34
//! §8.4.5.1: `[* bstr]`), which draft-ietf-teep-protocol-26 §4.4 also uses as the
//! `component-id` of tc-list and requested-tc-list. The database keys rows by the preferred
//! CBOR encoding of that array, so that equal identifiers compare equal byte for byte.

use core::fmt;

use minicbor::{Decoder, Encoder};

/// Most parts a component identifier may have here.
pub const MAX_PARTS: usize = 16;
/// Largest encoded identifier accepted.
pub const MAX_ENCODED_LEN: usize = 1024;

/// A SUIT_Component_Identifier in canonical CBOR form.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ComponentKey(Vec<u8>);

/// A component identifier could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ComponentKeyError {
    /// The CBOR is not a definite array of byte strings with nothing after it.
    #[error("component id is not a CBOR array of byte strings")]
    Malformed,
    /// Too many parts or too long.
    #[error("component id is too large")]
    TooLarge,
    /// A textual form could not be parsed.
    #[error("component id text must be parts separated by '/', each text or 0x-prefixed hex")]
    BadText,
}

impl ComponentKey {
    /// Builds the key from the identifier's parts.
    pub fn from_parts<P: AsRef<[u8]>>(parts: &[P]) -> Result<Self, ComponentKeyError> {
        if parts.len() > MAX_PARTS {
            return Err(ComponentKeyError::TooLarge);
        }
        let mut e = Encoder::new(Vec::new());
        // Writing to a Vec cannot fail.
        let _ = e.array(parts.len() as u64);
        for p in parts {
            let _ = e.bytes(p.as_ref());
        }
        let bytes = e.into_writer();
        if bytes.len() > MAX_ENCODED_LEN {
            return Err(ComponentKeyError::TooLarge);
        }
        Ok(ComponentKey(bytes))
    }

    /// Parses the stored CBOR form, re-encoding it to check it is canonical.
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, ComponentKeyError> {
        let parts = decode_parts(bytes)?;
        let key = Self::from_parts(&parts)?;
        if key.0 != bytes {
            return Err(ComponentKeyError::Malformed);
        }
        Ok(key)
    }

    /// Parses the textual form used by the CLI: parts separated by `/`, each either text or
    /// `0x` followed by hex, for example `0x0102/teep-agent` or `TEEP-Device/SecureFS`.
    pub fn parse_text(text: &str) -> Result<Self, ComponentKeyError> {
        if text.is_empty() {
            return Err(ComponentKeyError::BadText);
        }
        let parts = text
            .split('/')
            .map(|part| match part.strip_prefix("0x") {
                Some(h) => hex::decode(h).map_err(|_| ComponentKeyError::BadText),
                None => Ok(part.as_bytes().to_vec()),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_parts(&parts)
    }

    /// The canonical CBOR bytes.
    pub fn as_cbor(&self) -> &[u8] {
        &self.0
    }

    /// The identifier's parts.
    pub fn parts(&self) -> Vec<Vec<u8>> {
        // The bytes were checked at construction.
        decode_parts(&self.0).unwrap_or_default()
    }
}

fn decode_parts(bytes: &[u8]) -> Result<Vec<Vec<u8>>, ComponentKeyError> {
    if bytes.len() > MAX_ENCODED_LEN {
        return Err(ComponentKeyError::TooLarge);
    }
    let mut d = Decoder::new(bytes);
    let len = d.array().map_err(|_| ComponentKeyError::Malformed)?;
    let len = len.ok_or(ComponentKeyError::Malformed)?;
    if len > MAX_PARTS as u64 {
        return Err(ComponentKeyError::TooLarge);
    }
    let mut parts = Vec::new();
    for _ in 0..len {
        parts.push(d.bytes().map_err(|_| ComponentKeyError::Malformed)?.to_vec());
    }
    if d.position() != bytes.len() {
        return Err(ComponentKeyError::Malformed);
    }
    Ok(parts)
}

/// Shows the textual form accepted by [`ComponentKey::parse_text`].
impl fmt::Display for ComponentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, part) in self.parts().iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            let printable = !part.is_empty()
                && !part.starts_with(b"0x")
                && part.iter().all(|b| b.is_ascii_graphic() && *b != b'/');
            match core::str::from_utf8(part) {
                Ok(text) if printable => f.write_str(text)?,
                _ => write!(f, "0x{}", hex::encode(part))?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for ComponentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ComponentKey({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip() {
        let key = ComponentKey::parse_text("TEEP-Device/SecureFS/0x8d82573a926d4754").unwrap();
        assert_eq!(key.parts().len(), 3);
        assert_eq!(key.to_string(), "TEEP-Device/SecureFS/0x8d82573a926d4754");
        assert_eq!(ComponentKey::parse_text(&key.to_string()).unwrap(), key);
        assert_eq!(ComponentKey::from_cbor(key.as_cbor()).unwrap(), key);
    }

    #[test]
    fn rejects_malformed_cbor() {
        assert!(ComponentKey::from_cbor(&[0x81]).is_err()); // truncated
        assert!(ComponentKey::from_cbor(&[0x81, 0x40, 0x00]).is_err()); // trailing
        assert!(ComponentKey::from_cbor(&[0x9f, 0x40, 0xff]).is_err()); // indefinite
        assert!(ComponentKey::from_cbor(&[0x81, 0x60]).is_err()); // text, not bytes
        assert!(ComponentKey::from_cbor(&[0x98, 0x01, 0x40]).is_err()); // not preferred
        assert!(ComponentKey::parse_text("").is_err());
        assert!(ComponentKey::parse_text("0xzz").is_err());
    }
}
