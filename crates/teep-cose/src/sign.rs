//! COSE_Sign (RFC 9052 §4.1): one or more signatures over the same payload, optional tag 98.
//!
//! ```cddl
//! COSE_Sign = [ Headers, payload : bstr / nil, signatures : [+ COSE_Signature] ]
//! COSE_Signature = [ Headers, signature : bstr ]
//! Sig_structure = [ context : "Signature", body_protected : empty_or_serialized_map,
//!                   sign_protected : empty_or_serialized_map, external_aad : bstr,
//!                   payload : bstr ]
//! ```

use alloc::vec::Vec;
use minicbor::Decoder;

use crate::cbor::{self, done};
use crate::header::{self, Header};
use crate::{Algorithm, Error, PublicKey, SigningKey};

/// CBOR tag of COSE_Sign (RFC 9052 §2).
pub const TAG_SIGN: u64 = 98;

/// Upper bound on signatures accepted in one COSE_Sign.
pub const MAX_SIGNATURES: u64 = 16;

/// One COSE_Signature inside a [`CoseSign`].
#[derive(Clone, Debug)]
pub struct Signature<'a> {
    /// The signature's protected bucket exactly as received.
    pub protected_bytes: &'a [u8],
    /// Decoded protected bucket.
    pub protected: Header,
    /// Decoded unprotected bucket.
    pub unprotected: Header,
    /// The signature bytes.
    pub signature: &'a [u8],
}

impl Signature<'_> {
    /// The signature algorithm; it must be in this signature's protected bucket.
    pub fn algorithm(&self) -> Result<Algorithm, Error> {
        header::protected_alg(&self.protected, &self.unprotected)
    }

    /// The key identifier, protected bucket first.
    pub fn kid(&self) -> Option<&[u8]> {
        self.protected.kid.as_deref().or(self.unprotected.kid.as_deref())
    }
}

/// A decoded COSE_Sign, borrowing from the input; no signature is verified yet.
#[derive(Clone, Debug)]
pub struct CoseSign<'a> {
    /// The body protected bucket exactly as received.
    pub protected_bytes: &'a [u8],
    /// Decoded body protected bucket.
    pub protected: Header,
    /// Decoded body unprotected bucket.
    pub unprotected: Header,
    /// The payload, or None when detached.
    pub payload: Option<&'a [u8]>,
    /// The signatures (at least one).
    pub signatures: Vec<Signature<'a>>,
    /// Whether the input carried tag 98.
    pub tagged: bool,
}

impl<'a> CoseSign<'a> {
    /// Decodes a COSE_Sign, tagged (98) or untagged.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, Error> {
        cbor::check(bytes)?;
        let mut d = Decoder::new(bytes);
        let tagged = cbor::optional_tag(&mut d, TAG_SIGN)?;
        cbor::array_of(&mut d, 4, "COSE_Sign must be an array of 4")?;
        let protected_bytes = d.bytes()?;
        let protected = Header::decode_protected(protected_bytes)?;
        let unprotected = Header::decode_map(&mut d)?;
        header::validate(&protected, &unprotected)?;
        let payload = cbor::bytes_or_nil(&mut d)?;
        let count = cbor::array_len(&mut d)?;
        if count == 0 {
            return Err(Error::Malformed("COSE_Sign without signatures"));
        }
        if count > MAX_SIGNATURES {
            return Err(Error::Malformed("too many signatures in COSE_Sign"));
        }
        let mut signatures = Vec::new();
        for _ in 0..count {
            cbor::array_of(&mut d, 3, "COSE_Signature must be an array of 3")?;
            let protected_bytes = d.bytes()?;
            let sp = Header::decode_protected(protected_bytes)?;
            let su = Header::decode_map(&mut d)?;
            header::validate(&sp, &su)?;
            signatures.push(Signature {
                protected_bytes,
                protected: sp.header,
                unprotected: su.header,
                signature: d.bytes()?,
            });
        }
        Ok(CoseSign {
            protected_bytes,
            protected: protected.header,
            unprotected: unprotected.header,
            payload,
            signatures,
            tagged,
        })
    }

    /// Verifies the signatures against the trusted keys; returns the index in `keys` of the
    /// first key that verified a signature. A signature whose algorithm is unprotected or
    /// unsupported is skipped; if none verifies, the error of the last attempt is returned.
    pub fn verify_any(&self, keys: &[PublicKey], external_aad: &[u8]) -> Result<usize, Error> {
        let payload = self.payload.ok_or(Error::MissingPayload)?;
        self.verify_any_with(keys, None, external_aad, payload).map(|(_, key)| key)
    }

    /// Like [`CoseSign::verify_any`] with an algorithm allow-list (None: every supported
    /// algorithm) and the payload given explicitly (attached or detached). Returns
    /// `(signature index, key index)`.
    pub fn verify_any_with(
        &self,
        keys: &[PublicKey],
        allowed: Option<&[Algorithm]>,
        external_aad: &[u8],
        payload: &[u8],
    ) -> Result<(usize, usize), Error> {
        if let Some(attached) = self.payload
            && attached != payload
        {
            return Err(Error::Malformed("payload is attached"));
        }
        let mut last = Error::BadSignature;
        for (si, sig) in self.signatures.iter().enumerate() {
            let alg = match sig.algorithm() {
                Ok(alg) => alg,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            if allowed.is_some_and(|a| !a.contains(&alg)) {
                last = Error::AlgorithmNotAllowed(alg.0);
                continue;
            }
            if !alg.is_signature() {
                last = Error::UnsupportedAlgorithm(alg.0);
                continue;
            }
            let tbs =
                sig_structure(self.protected_bytes, sig.protected_bytes, external_aad, payload);
            for (ki, key) in keys.iter().enumerate().filter(|(_, k)| k.supports(alg)) {
                match key.verify(alg, &tbs, sig.signature) {
                    Ok(()) => return Ok((si, ki)),
                    Err(e) => last = e,
                }
            }
        }
        Err(last)
    }
}

/// Builds `["Signature", body_protected, sign_protected, external_aad, payload]`.
pub fn sig_structure(body: &[u8], sign: &[u8], external_aad: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut e = minicbor::Encoder::new(Vec::with_capacity(
        payload.len() + body.len() + sign.len() + external_aad.len() + 32,
    ));
    done(e.array(5));
    done(e.str("Signature"));
    done(e.bytes(body));
    done(e.bytes(sign));
    done(e.bytes(external_aad));
    done(e.bytes(payload));
    e.into_writer()
}

/// Signs `payload` into a COSE_Sign with an empty body header and one COSE_Signature per
/// signer (`{1: alg}` protected, `{4: kid}` unprotected when a kid is given).
pub fn sign(
    payload: &[u8],
    signers: &[(&SigningKey, Algorithm, Option<&[u8]>)],
    tagged: bool,
) -> Result<Vec<u8>, Error> {
    sign_with_aad(payload, signers, &[], tagged)
}

/// [`sign`] with external additional authenticated data.
pub fn sign_with_aad(
    payload: &[u8],
    signers: &[(&SigningKey, Algorithm, Option<&[u8]>)],
    external_aad: &[u8],
    tagged: bool,
) -> Result<Vec<u8>, Error> {
    if signers.is_empty() {
        return Err(Error::Malformed("COSE_Sign needs at least one signer"));
    }
    let mut e = minicbor::Encoder::new(Vec::with_capacity(payload.len() + 128 * signers.len()));
    if tagged {
        done(e.tag(minicbor::data::Tag::new(TAG_SIGN)));
    }
    done(e.array(4));
    done(e.bytes(&[]));
    done(e.map(0));
    done(e.bytes(payload));
    done(e.array(signers.len() as u64));
    for (key, alg, kid) in signers {
        let protected = Header::with_alg(*alg).to_protected_bytes();
        let tbs = sig_structure(&[], &protected, external_aad, payload);
        let signature = key.sign(*alg, &tbs)?;
        done(e.array(3));
        done(e.bytes(&protected));
        Header::with_kid(*kid).encode(&mut e);
        done(e.bytes(&signature));
    }
    Ok(e.into_writer())
}
