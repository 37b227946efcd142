//! COSE_Mac0 (RFC 9052 §6.2) with HMAC 256/256 (RFC 9053 §3.1), optional tag 17.
//!
//! ```cddl
//! COSE_Mac0 = [ Headers, payload : bstr / nil, tag : bstr ]
//! MAC_structure = [ context : "MAC0", protected : empty_or_serialized_map,
//!                   external_aad : bstr, payload : bstr ]
//! ```

use alloc::vec::Vec;
use hmac::{Hmac, KeyInit, Mac};
use minicbor::Decoder;
use sha2::Sha256;

use crate::cbor::{self, done};
use crate::header::{self, Header};
use crate::{Algorithm, Error};

/// CBOR tag of COSE_Mac0 (RFC 9052 §2).
pub const TAG_MAC0: u64 = 17;

/// A decoded COSE_Mac0, borrowing from the input; the tag is not yet verified.
#[derive(Clone, Debug)]
pub struct Mac0<'a> {
    /// The protected bucket exactly as received.
    pub protected_bytes: &'a [u8],
    /// Decoded protected bucket.
    pub protected: Header,
    /// Decoded unprotected bucket.
    pub unprotected: Header,
    /// The payload, or None when detached.
    pub payload: Option<&'a [u8]>,
    /// The MAC tag.
    pub tag: &'a [u8],
    /// Whether the input carried tag 17.
    pub tagged: bool,
}

impl<'a> Mac0<'a> {
    /// Decodes a COSE_Mac0, tagged (17) or untagged.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, Error> {
        cbor::check(bytes)?;
        let mut d = Decoder::new(bytes);
        let tagged = cbor::optional_tag(&mut d, TAG_MAC0)?;
        cbor::array_of(&mut d, 4, "COSE_Mac0 must be an array of 4")?;
        let protected_bytes = d.bytes()?;
        let protected = Header::decode_protected(protected_bytes)?;
        let unprotected = Header::decode_map(&mut d)?;
        header::validate(&protected, &unprotected)?;
        let payload = cbor::bytes_or_nil(&mut d)?;
        let tag = d.bytes()?;
        Ok(Mac0 {
            protected_bytes,
            protected: protected.header,
            unprotected: unprotected.header,
            payload,
            tag,
            tagged,
        })
    }

    /// The MAC algorithm; it must be in the protected bucket.
    pub fn algorithm(&self) -> Result<Algorithm, Error> {
        header::protected_alg(&self.protected, &self.unprotected)
    }

    /// Verifies the tag over the attached payload (constant-time comparison).
    pub fn verify(&self, key: &[u8], external_aad: &[u8]) -> Result<(), Error> {
        let payload = self.payload.ok_or(Error::MissingPayload)?;
        self.verify_payload(key, external_aad, payload)
    }

    /// Verifies the tag over a detached payload; the payload field must be nil.
    pub fn verify_detached(
        &self,
        key: &[u8],
        external_aad: &[u8],
        payload: &[u8],
    ) -> Result<(), Error> {
        if self.payload.is_some() {
            return Err(Error::Malformed("payload is attached"));
        }
        self.verify_payload(key, external_aad, payload)
    }

    fn verify_payload(&self, key: &[u8], aad: &[u8], payload: &[u8]) -> Result<(), Error> {
        let alg = self.algorithm()?;
        let mac = hmac_256(alg, key, &mac_structure0(self.protected_bytes, aad, payload))?;
        mac.verify_slice(self.tag).map_err(|_| Error::BadMac)
    }
}

fn hmac_256(alg: Algorithm, key: &[u8], data: &[u8]) -> Result<Hmac<Sha256>, Error> {
    if alg != Algorithm::HMAC_256_256 {
        return Err(Error::UnsupportedAlgorithm(alg.0));
    }
    // RFC 9053 §3.1: the key must be at least as long as the tag.
    if key.len() < 32 {
        return Err(Error::InvalidKey("HMAC 256/256 key shorter than 32 bytes"));
    }
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .map_err(|_| Error::InvalidKey("HMAC key"))?;
    mac.update(data);
    Ok(mac)
}

/// Builds `["MAC0", protected, external_aad, payload]`.
pub fn mac_structure0(protected: &[u8], external_aad: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut e = cbor::encoder();
    done(e.array(4));
    done(e.str("MAC0"));
    done(e.bytes(protected));
    done(e.bytes(external_aad));
    done(e.bytes(payload));
    e.into_writer()
}

/// Builds a COSE_Mac0 with `{1: alg}` protected and `{4: kid}` unprotected. With `detached`
/// the payload field is nil.
pub fn mac0(
    payload: &[u8],
    key: &[u8],
    alg: Algorithm,
    kid: Option<&[u8]>,
    external_aad: &[u8],
    tagged: bool,
    detached: bool,
) -> Result<Vec<u8>, Error> {
    let protected = Header::with_alg(alg).to_protected_bytes();
    let tag = hmac_256(alg, key, &mac_structure0(&protected, external_aad, payload))?
        .finalize()
        .into_bytes();
    let mut e = cbor::encoder();
    if tagged {
        done(e.tag(minicbor::data::Tag::new(TAG_MAC0)));
    }
    done(e.array(4));
    done(e.bytes(&protected));
    Header::with_kid(kid).encode(&mut e);
    if detached {
        done(e.null());
    } else {
        done(e.bytes(payload));
    }
    done(e.bytes(&tag));
    Ok(e.into_writer())
}
