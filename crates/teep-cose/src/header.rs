//! COSE header parameters (RFC 9052 §3 and §3.1, RFC 9053 §6.3.1, RFC 9360).
//!
//! ```cddl
//! Headers = ( protected : empty_or_serialized_map, unprotected : header_map )
//! header_map = { Generic_Headers, * label => values }
//! empty_or_serialized_map = bstr .cbor header_map / bstr .size 0
//! ```
//!
//! Only the labels in [`KNOWN_LABELS`] are accepted; any other label is an error, and a `crit`
//! entry naming a label outside the table is [`Error::UnknownCritical`] (RFC 9052 §3.1).

use alloc::string::String;
use alloc::vec::Vec;
use minicbor::data::Type;
use minicbor::{Decoder, Encoder};

use crate::cbor::{self, done, is_int};
use crate::{Algorithm, Error};

/// Header labels: alg, crit, content type, kid, IV, partial IV, counter signature, x5chain,
/// x5t, and the key agreement parameters of RFC 9053 §6.3.1 / Table 15-16.
pub const KNOWN_LABELS: &[i64] = &[
    label::ALG,
    label::CRIT,
    label::CONTENT_TYPE,
    label::KID,
    label::IV,
    label::PARTIAL_IV,
    label::COUNTER_SIGNATURE,
    label::X5CHAIN,
    label::X5T,
    label::EPHEMERAL_KEY,
    label::STATIC_KEY,
    label::STATIC_KEY_ID,
    label::SALT,
    label::PARTY_U_IDENTITY,
    label::PARTY_U_NONCE,
    label::PARTY_U_OTHER,
    label::PARTY_V_IDENTITY,
    label::PARTY_V_NONCE,
    label::PARTY_V_OTHER,
];

/// Header parameter labels (IANA "COSE Header Parameters").
pub mod label {
    /// alg
    pub const ALG: i64 = 1;
    /// crit
    pub const CRIT: i64 = 2;
    /// content type
    pub const CONTENT_TYPE: i64 = 3;
    /// kid
    pub const KID: i64 = 4;
    /// IV
    pub const IV: i64 = 5;
    /// Partial IV
    pub const PARTIAL_IV: i64 = 6;
    /// counter signature (RFC 8152, kept opaque)
    pub const COUNTER_SIGNATURE: i64 = 7;
    /// x5chain (RFC 9360)
    pub const X5CHAIN: i64 = 33;
    /// x5t (RFC 9360)
    pub const X5T: i64 = 34;
    /// ephemeral key (RFC 9053 §6.3.1)
    pub const EPHEMERAL_KEY: i64 = -1;
    /// static key
    pub const STATIC_KEY: i64 = -2;
    /// static key id
    pub const STATIC_KEY_ID: i64 = -3;
    /// salt
    pub const SALT: i64 = -20;
    /// PartyU identity
    pub const PARTY_U_IDENTITY: i64 = -21;
    /// PartyU nonce
    pub const PARTY_U_NONCE: i64 = -22;
    /// PartyU other
    pub const PARTY_U_OTHER: i64 = -23;
    /// PartyV identity
    pub const PARTY_V_IDENTITY: i64 = -24;
    /// PartyV nonce
    pub const PARTY_V_NONCE: i64 = -25;
    /// PartyV other
    pub const PARTY_V_OTHER: i64 = -26;
}

/// The content type header parameter: a CoAP content format or a media type string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContentType {
    /// CoAP Content-Format number.
    Uint(u64),
    /// Media type string.
    Text(String),
}

/// One bucket of header parameters (protected or unprotected).
///
/// Byte-string parameters are kept as their contents; `counter_signature`, `x5t`,
/// `ephemeral_key` and `static_key` are kept as the encoded CBOR item.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// alg (1).
    pub alg: Option<Algorithm>,
    /// crit (2); empty when absent.
    pub crit: Vec<i64>,
    /// content type (3).
    pub content_type: Option<ContentType>,
    /// kid (4).
    pub kid: Option<Vec<u8>>,
    /// IV (5).
    pub iv: Option<Vec<u8>>,
    /// Partial IV (6).
    pub partial_iv: Option<Vec<u8>>,
    /// counter signature (7), encoded.
    pub counter_signature: Option<Vec<u8>>,
    /// x5chain (33): one or more DER certificates.
    pub x5chain: Option<Vec<Vec<u8>>>,
    /// x5t (34), encoded `[alg, hash]`.
    pub x5t: Option<Vec<u8>>,
    /// ephemeral key (-1), an encoded COSE_Key.
    pub ephemeral_key: Option<Vec<u8>>,
    /// static key (-2), an encoded COSE_Key.
    pub static_key: Option<Vec<u8>>,
    /// static key id (-3).
    pub static_key_id: Option<Vec<u8>>,
    /// salt (-20).
    pub salt: Option<Vec<u8>>,
    /// PartyU identity (-21).
    pub party_u_identity: Option<Vec<u8>>,
    /// PartyU nonce (-22), byte-string form only.
    pub party_u_nonce: Option<Vec<u8>>,
    /// PartyU other (-23).
    pub party_u_other: Option<Vec<u8>>,
    /// PartyV identity (-24).
    pub party_v_identity: Option<Vec<u8>>,
    /// PartyV nonce (-25), byte-string form only.
    pub party_v_nonce: Option<Vec<u8>>,
    /// PartyV other (-26).
    pub party_v_other: Option<Vec<u8>>,
}

/// A decoded bucket plus the labels that were present but unknown.
pub(crate) struct Decoded {
    pub(crate) header: Header,
    pub(crate) unknown: Option<i64>,
}

impl Header {
    /// A header holding only `alg`.
    pub fn with_alg(alg: Algorithm) -> Self {
        Header { alg: Some(alg), ..Header::default() }
    }

    /// A header holding only `kid` (or nothing).
    pub fn with_kid(kid: Option<&[u8]>) -> Self {
        Header { kid: kid.map(<[u8]>::to_vec), ..Header::default() }
    }

    /// Whether no parameter is set.
    pub fn is_empty(&self) -> bool {
        self.labels().next().is_none()
    }

    /// The labels present in this bucket, in ascending table order.
    pub fn labels(&self) -> impl Iterator<Item = i64> + '_ {
        let present = [
            (label::ALG, self.alg.is_some()),
            (label::CRIT, !self.crit.is_empty()),
            (label::CONTENT_TYPE, self.content_type.is_some()),
            (label::KID, self.kid.is_some()),
            (label::IV, self.iv.is_some()),
            (label::PARTIAL_IV, self.partial_iv.is_some()),
            (label::COUNTER_SIGNATURE, self.counter_signature.is_some()),
            (label::X5CHAIN, self.x5chain.is_some()),
            (label::X5T, self.x5t.is_some()),
            (label::EPHEMERAL_KEY, self.ephemeral_key.is_some()),
            (label::STATIC_KEY, self.static_key.is_some()),
            (label::STATIC_KEY_ID, self.static_key_id.is_some()),
            (label::SALT, self.salt.is_some()),
            (label::PARTY_U_IDENTITY, self.party_u_identity.is_some()),
            (label::PARTY_U_NONCE, self.party_u_nonce.is_some()),
            (label::PARTY_U_OTHER, self.party_u_other.is_some()),
            (label::PARTY_V_IDENTITY, self.party_v_identity.is_some()),
            (label::PARTY_V_NONCE, self.party_v_nonce.is_some()),
            (label::PARTY_V_OTHER, self.party_v_other.is_some()),
        ];
        present.into_iter().filter(|(_, p)| *p).map(|(l, _)| l)
    }

    /// Decodes a protected bucket: a zero-length byte string or a serialized map.
    pub(crate) fn decode_protected(bytes: &[u8]) -> Result<Decoded, Error> {
        if bytes.is_empty() {
            return Ok(Decoded { header: Header::default(), unknown: None });
        }
        cbor::check(bytes)?;
        let mut d = Decoder::new(bytes);
        Header::decode_map(&mut d)
    }

    /// Decodes a header map at the decoder position.
    pub(crate) fn decode_map(d: &mut Decoder<'_>) -> Result<Decoded, Error> {
        let entries = d.map()?.ok_or(Error::Malformed("indefinite header map"))?;
        let mut h = Header::default();
        let mut unknown = None;
        for _ in 0..entries {
            if !is_int(d.datatype()?) {
                return Err(Error::Unsupported("text header labels"));
            }
            let l = d.i64()?;
            match l {
                label::ALG => h.alg = Some(decode_alg(d)?),
                label::CRIT => h.crit = decode_crit(d)?,
                label::CONTENT_TYPE => h.content_type = Some(decode_content_type(d)?),
                label::KID => h.kid = Some(d.bytes()?.to_vec()),
                label::IV => h.iv = Some(d.bytes()?.to_vec()),
                label::PARTIAL_IV => h.partial_iv = Some(d.bytes()?.to_vec()),
                label::COUNTER_SIGNATURE => h.counter_signature = Some(raw_item(d)?),
                label::X5CHAIN => h.x5chain = Some(decode_x5chain(d)?),
                label::X5T => h.x5t = Some(raw_item(d)?),
                label::EPHEMERAL_KEY => h.ephemeral_key = Some(raw_map(d)?),
                label::STATIC_KEY => h.static_key = Some(raw_map(d)?),
                label::STATIC_KEY_ID => h.static_key_id = Some(d.bytes()?.to_vec()),
                label::SALT => h.salt = Some(d.bytes()?.to_vec()),
                label::PARTY_U_IDENTITY => h.party_u_identity = Some(d.bytes()?.to_vec()),
                label::PARTY_U_NONCE => h.party_u_nonce = Some(nonce(d)?),
                label::PARTY_U_OTHER => h.party_u_other = Some(d.bytes()?.to_vec()),
                label::PARTY_V_IDENTITY => h.party_v_identity = Some(d.bytes()?.to_vec()),
                label::PARTY_V_NONCE => h.party_v_nonce = Some(nonce(d)?),
                label::PARTY_V_OTHER => h.party_v_other = Some(d.bytes()?.to_vec()),
                other => {
                    unknown.get_or_insert(other);
                    d.skip()?;
                }
            }
        }
        Ok(Decoded { header: h, unknown })
    }

    /// Encodes this bucket as a map (deterministic: labels sorted by encoded bytes).
    pub fn encode(&self, e: &mut Encoder<Vec<u8>>) {
        let mut labels: Vec<i64> = self.labels().collect();
        labels.sort_by_key(|l| sort_key(*l));
        done(e.map(labels.len() as u64));
        for l in labels {
            done(e.i64(l));
            self.encode_value(l, e);
        }
    }

    /// The serialized protected bucket: zero-length when empty (RFC 9052 §3).
    pub fn to_protected_bytes(&self) -> Vec<u8> {
        if self.is_empty() {
            return Vec::new();
        }
        let mut e = cbor::encoder();
        self.encode(&mut e);
        e.into_writer()
    }

    fn encode_value(&self, l: i64, e: &mut Encoder<Vec<u8>>) {
        let bytes = |e: &mut Encoder<Vec<u8>>, v: &Option<Vec<u8>>| {
            done(e.bytes(v.as_deref().unwrap_or_default()));
        };
        let raw = |e: &mut Encoder<Vec<u8>>, v: &Option<Vec<u8>>| {
            e.writer_mut().extend_from_slice(v.as_deref().unwrap_or_default());
        };
        match l {
            label::ALG => done(e.i64(self.alg.map_or(0, |a| a.0))),
            label::CRIT => {
                done(e.array(self.crit.len() as u64));
                for c in &self.crit {
                    done(e.i64(*c));
                }
            }
            label::CONTENT_TYPE => match &self.content_type {
                Some(ContentType::Uint(n)) => done(e.u64(*n)),
                Some(ContentType::Text(t)) => done(e.str(t)),
                None => {}
            },
            label::KID => bytes(e, &self.kid),
            label::IV => bytes(e, &self.iv),
            label::PARTIAL_IV => bytes(e, &self.partial_iv),
            label::COUNTER_SIGNATURE => raw(e, &self.counter_signature),
            label::X5CHAIN => match self.x5chain.as_deref() {
                Some([one]) => done(e.bytes(one)),
                Some(chain) => {
                    done(e.array(chain.len() as u64));
                    for cert in chain {
                        done(e.bytes(cert));
                    }
                }
                None => {}
            },
            label::X5T => raw(e, &self.x5t),
            label::EPHEMERAL_KEY => raw(e, &self.ephemeral_key),
            label::STATIC_KEY => raw(e, &self.static_key),
            label::STATIC_KEY_ID => bytes(e, &self.static_key_id),
            label::SALT => bytes(e, &self.salt),
            label::PARTY_U_IDENTITY => bytes(e, &self.party_u_identity),
            label::PARTY_U_NONCE => bytes(e, &self.party_u_nonce),
            label::PARTY_U_OTHER => bytes(e, &self.party_u_other),
            label::PARTY_V_IDENTITY => bytes(e, &self.party_v_identity),
            label::PARTY_V_NONCE => bytes(e, &self.party_v_nonce),
            label::PARTY_V_OTHER => bytes(e, &self.party_v_other),
            _ => {}
        }
    }
}

/// Byte order of a small integer label's preferred encoding: unsigned before negative, then by
/// magnitude (RFC 8949 §4.2.1 for labels between -24 and 23 and beyond).
fn sort_key(l: i64) -> (u8, u64) {
    if l >= 0 { (0, l.unsigned_abs()) } else { (1, (l + 1).unsigned_abs()) }
}

/// Checks the two buckets together (RFC 9052 §3): crit only protected, every critical label
/// understood and present, no label in both buckets, no unknown label anywhere.
pub(crate) fn validate(protected: &Decoded, unprotected: &Decoded) -> Result<(), Error> {
    if !unprotected.header.crit.is_empty() {
        return Err(Error::Malformed("crit in the unprotected header"));
    }
    let present: Vec<i64> = protected.header.labels().collect();
    for c in &protected.header.crit {
        if !KNOWN_LABELS.contains(c) {
            return Err(Error::UnknownCritical(*c));
        }
        if !present.contains(c) {
            return Err(Error::Malformed("crit names an absent header parameter"));
        }
    }
    if let Some(l) = protected.unknown.or(unprotected.unknown) {
        return Err(Error::UnknownHeader(l));
    }
    if let Some(l) = unprotected.header.labels().find(|l| present.contains(l)) {
        return Err(Error::DuplicateHeader(l));
    }
    Ok(())
}

/// The algorithm of a structure: must be in the protected bucket.
pub(crate) fn protected_alg(protected: &Header, unprotected: &Header) -> Result<Algorithm, Error> {
    match (protected.alg, unprotected.alg) {
        (Some(alg), _) => Ok(alg),
        (None, Some(_)) => Err(Error::UnprotectedAlg),
        (None, None) => Err(Error::MissingAlg),
    }
}

fn decode_alg(d: &mut Decoder<'_>) -> Result<Algorithm, Error> {
    if !is_int(d.datatype()?) {
        return Err(Error::Unsupported("text algorithm names"));
    }
    Ok(Algorithm(d.i64()?))
}

fn decode_crit(d: &mut Decoder<'_>) -> Result<Vec<i64>, Error> {
    let n = cbor::array_len(d)?;
    if n == 0 {
        return Err(Error::Malformed("empty crit"));
    }
    let mut out = Vec::new();
    for _ in 0..n {
        if !is_int(d.datatype()?) {
            return Err(Error::Unsupported("text header labels"));
        }
        out.push(d.i64()?);
    }
    Ok(out)
}

fn decode_content_type(d: &mut Decoder<'_>) -> Result<ContentType, Error> {
    match d.datatype()? {
        Type::String => Ok(ContentType::Text(String::from(d.str()?))),
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => Ok(ContentType::Uint(d.u64()?)),
        _ => Err(Error::Malformed("content type must be uint or tstr")),
    }
}

fn decode_x5chain(d: &mut Decoder<'_>) -> Result<Vec<Vec<u8>>, Error> {
    if d.datatype()? == Type::Bytes {
        return Ok(alloc::vec![d.bytes()?.to_vec()]);
    }
    let n = cbor::array_len(d)?;
    let mut chain = Vec::new();
    for _ in 0..n {
        chain.push(d.bytes()?.to_vec());
    }
    Ok(chain)
}

fn nonce(d: &mut Decoder<'_>) -> Result<Vec<u8>, Error> {
    if d.datatype()? != Type::Bytes {
        return Err(Error::Unsupported("non-bstr party nonce"));
    }
    Ok(d.bytes()?.to_vec())
}

/// Copies the encoded bytes of the next item.
pub(crate) fn raw_item(d: &mut Decoder<'_>) -> Result<Vec<u8>, Error> {
    let start = d.position();
    d.skip()?;
    let end = d.position();
    d.input().get(start..end).map(<[u8]>::to_vec).ok_or(Error::Malformed("item bounds"))
}

fn raw_map(d: &mut Decoder<'_>) -> Result<Vec<u8>, Error> {
    if d.datatype()? != Type::Map {
        return Err(Error::Malformed("COSE_Key must be a map"));
    }
    raw_item(d)
}
