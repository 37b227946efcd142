//! COSE_Sign1 (RFC 9052 §4.2): one signer, optional tag 18, attached or detached payload.
//!
//! ```cddl
//! COSE_Sign1 = [ Headers, payload : bstr / nil, signature : bstr ]
//! Sig_structure = [ context : "Signature1", body_protected : empty_or_serialized_map,
//!                   external_aad : bstr, payload : bstr ]
//! ```
//!
//! The Sig_structure is built from the protected bytes exactly as received (RFC 9052 §4.4).

use alloc::vec::Vec;
use minicbor::Decoder;

use crate::cbor::{self, done};
use crate::header::{self, Header};
use crate::{Algorithm, Error, PublicKey, SigningKey};

/// CBOR tag of COSE_Sign1 (RFC 9052 §2).
pub const TAG_SIGN1: u64 = 18;

/// A decoded COSE_Sign1, borrowing from the input. Its headers have passed the strict checks
/// (known labels only, crit honoured, no label in both buckets); the signature is not yet
/// verified.
#[derive(Clone, Debug)]
pub struct Sign1<'a> {
    /// The protected bucket exactly as received.
    pub protected_bytes: &'a [u8],
    /// Decoded protected bucket.
    pub protected: Header,
    /// Decoded unprotected bucket.
    pub unprotected: Header,
    /// The payload, or None when detached (nil).
    pub payload: Option<&'a [u8]>,
    /// The signature bytes.
    pub signature: &'a [u8],
    /// Whether the input carried tag 18.
    pub tagged: bool,
}

impl<'a> Sign1<'a> {
    /// Decodes a COSE_Sign1, tagged (18) or untagged.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, Error> {
        cbor::check(bytes)?;
        let mut d = Decoder::new(bytes);
        let tagged = cbor::optional_tag(&mut d, TAG_SIGN1)?;
        cbor::array_of(&mut d, 4, "COSE_Sign1 must be an array of 4")?;
        let protected_bytes = d.bytes()?;
        let protected = Header::decode_protected(protected_bytes)?;
        let unprotected = Header::decode_map(&mut d)?;
        header::validate(&protected, &unprotected)?;
        let payload = cbor::bytes_or_nil(&mut d)?;
        let signature = d.bytes()?;
        Ok(Sign1 {
            protected_bytes,
            protected: protected.header,
            unprotected: unprotected.header,
            payload,
            signature,
            tagged,
        })
    }

    /// The signature algorithm; it must be in the protected bucket.
    pub fn algorithm(&self) -> Result<Algorithm, Error> {
        header::protected_alg(&self.protected, &self.unprotected)
    }

    /// The key identifier, protected bucket first.
    pub fn kid(&self) -> Option<&[u8]> {
        self.protected.kid.as_deref().or(self.unprotected.kid.as_deref())
    }

    /// Verifies the signature over the attached payload.
    pub fn verify(&self, key: &PublicKey, external_aad: &[u8]) -> Result<(), Error> {
        let payload = self.payload.ok_or(Error::MissingPayload)?;
        self.verify_payload(key, external_aad, payload)
    }

    /// Verifies the signature over a detached payload supplied by the caller. The message's
    /// payload field must be nil.
    pub fn verify_detached(
        &self,
        key: &PublicKey,
        external_aad: &[u8],
        payload: &[u8],
    ) -> Result<(), Error> {
        if self.payload.is_some() {
            return Err(Error::Malformed("payload is attached"));
        }
        self.verify_payload(key, external_aad, payload)
    }

    fn verify_payload(&self, key: &PublicKey, aad: &[u8], payload: &[u8]) -> Result<(), Error> {
        let alg = self.algorithm()?;
        let tbs = sig_structure1(self.protected_bytes, aad, payload);
        key.verify(alg, &tbs, self.signature)
    }
}

/// Builds `["Signature1", protected, external_aad, payload]`.
pub fn sig_structure1(protected: &[u8], external_aad: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut e = minicbor::Encoder::new(Vec::with_capacity(
        payload.len() + protected.len() + external_aad.len() + 32,
    ));
    done(e.array(4));
    done(e.str("Signature1"));
    done(e.bytes(protected));
    done(e.bytes(external_aad));
    done(e.bytes(payload));
    e.into_writer()
}

/// Signs `payload` into a COSE_Sign1 with `{1: alg}` protected and `{4: kid}` unprotected.
pub fn sign1(
    payload: &[u8],
    key: &SigningKey,
    alg: Algorithm,
    kid: Option<&[u8]>,
    external_aad: &[u8],
    tagged: bool,
) -> Result<Vec<u8>, Error> {
    build(payload, key, alg, kid, external_aad, tagged, false)
}

/// Like [`sign1`], with the payload detached (the payload field is nil).
pub fn sign1_detached(
    payload: &[u8],
    key: &SigningKey,
    alg: Algorithm,
    kid: Option<&[u8]>,
    external_aad: &[u8],
    tagged: bool,
) -> Result<Vec<u8>, Error> {
    build(payload, key, alg, kid, external_aad, tagged, true)
}

fn build(
    payload: &[u8],
    key: &SigningKey,
    alg: Algorithm,
    kid: Option<&[u8]>,
    aad: &[u8],
    tagged: bool,
    detached: bool,
) -> Result<Vec<u8>, Error> {
    let protected = Header::with_alg(alg).to_protected_bytes();
    let signature = key.sign(alg, &sig_structure1(&protected, aad, payload))?;
    let mut e = minicbor::Encoder::new(Vec::with_capacity(payload.len() + 128));
    if tagged {
        done(e.tag(minicbor::data::Tag::new(TAG_SIGN1)));
    }
    done(e.array(4));
    done(e.bytes(&protected));
    Header::with_kid(kid).encode(&mut e);
    if detached {
        done(e.null());
    } else {
        done(e.bytes(payload));
    }
    done(e.bytes(&signature));
    Ok(e.into_writer())
}
