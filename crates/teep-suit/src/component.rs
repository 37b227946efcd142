//! SUIT_Component_Identifier (draft-ietf-suit-manifest-34 §8.4.5.1).
//!
//! ```cddl
//! SUIT_Component_Identifier = [* bstr]
//! ```

use alloc::vec::Vec;
use core::fmt;

use minicbor::{Decoder, Encoder};

use crate::cbor;
use crate::error::SuitError;

/// A SUIT_Component_Identifier: a list of byte strings naming one component, like a path.
///
/// TEEP uses it as the Trusted Component identifier (draft-ietf-teep-protocol-26 §4.3) and
/// as the manifest-component-id of draft-ietf-suit-trust-domains §5.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ComponentId(pub Vec<Vec<u8>>);

impl ComponentId {
    /// Builds an identifier from its segments.
    pub fn new<I, S>(segments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        Self(segments.into_iter().map(|s| s.as_ref().to_vec()).collect())
    }

    /// The segments of the identifier.
    pub fn segments(&self) -> &[Vec<u8>] {
        &self.0
    }

    /// Encodes the identifier as a CBOR array of byte strings.
    pub fn encode(&self) -> Vec<u8> {
        let mut enc = Encoder::new(Vec::new());
        self.encode_into(&mut enc);
        enc.into_writer()
    }

    /// Decodes one identifier; the bytes must hold exactly one well-formed item.
    pub fn decode(bytes: &[u8]) -> Result<Self, SuitError> {
        cbor::precheck(bytes)?;
        let mut d = Decoder::new(bytes);
        Self::decode_from(&mut d)
    }

    pub(crate) fn encode_into(&self, enc: &mut Encoder<Vec<u8>>) {
        cbor::infallible(enc.array(self.0.len() as u64));
        for segment in &self.0 {
            cbor::infallible(enc.bytes(segment));
        }
    }

    /// Decodes from a decoder positioned on the array; input was prechecked.
    pub(crate) fn decode_from(d: &mut Decoder<'_>) -> Result<Self, SuitError> {
        let n = cbor::array_len(d, "component identifier")?;
        let mut segments = Vec::new();
        for _ in 0..n {
            let seg =
                d.bytes().map_err(|_| SuitError::Malformed("component identifier segment"))?;
            segments.push(seg.to_vec());
        }
        Ok(Self(segments))
    }
}

impl fmt::Display for ComponentId {
    /// Printable ASCII segments print as text, others as hex, joined by `/`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, seg) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            let printable = !seg.is_empty() && seg.iter().all(|b| b.is_ascii_graphic());
            if printable {
                for b in seg {
                    write!(f, "{}", char::from(*b))?;
                }
            } else {
                f.write_str("h'")?;
                for b in seg {
                    write!(f, "{b:02x}")?;
                }
                f.write_str("'")?;
            }
        }
        f.write_str("]")
    }
}

impl fmt::Debug for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ComponentId{self}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_display() {
        let id = ComponentId::new([&b"TEEP-Device"[..], b"SecureFS", &[0x8d, 0x82], b"ta"]);
        let bytes = id.encode();
        assert_eq!(ComponentId::decode(&bytes).ok(), Some(id.clone()));
        assert_eq!(alloc::format!("{id}"), "[TEEP-Device/SecureFS/h'8d82'/ta]");
    }

    #[test]
    fn rejects_text_segment() {
        // ["ta"] as text instead of bytes
        assert!(ComponentId::decode(&[0x81, 0x62, b't', b'a']).is_err());
    }
}
