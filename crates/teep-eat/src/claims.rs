//! The EAT claim set of the TEEP profile (draft-ietf-teep-protocol-26 §6 "EAT Profile";
//! RFC 9711 §4; RFC 8392 CWT claims; RFC 8747 cnf).
//!
//! ```cddl
//! eat-claim-set = {
//!   ? 265 => tstr,                     ; eat_profile: "urn:ietf:rfc:rfcXXXX"
//!   ? 1 => tstr,                       ; iss
//!   ? 6 => uint,                       ; iat (timestamp freshness)
//!   ? 4 => uint,                       ; exp
//!   ? 10 => bstr .size (8..64),        ; eat_nonce: the QueryRequest challenge
//!   256 => bstr .size (7..33),         ; ueid
//!   258 => bstr / int,                 ; oemid (IEEE OUI or random bytes, or PEN)
//!   259 => bstr .size (1..32),         ; hwmodel
//!   260 => [tstr, ? int],              ; hwversion
//!   272 => [+ [uint, SUIT_Reference]], ; manifests (draft-ietf-suit-report §4)
//!   8 => { 3 => bstr },                ; cnf: kid = RFC 9679 thumbprint of the TEEP key
//!   * int => any                       ; other claims survive a round trip
//! }
//! ```
//!
//! The profile forbids indefinite lengths and requires preferred serialization; decoding runs
//! [`teep_cbor::check`] first, so both, duplicate keys, excessive depth and size are refused
//! before any claim is read.

use alloc::string::String;
use alloc::vec::Vec;

use minicbor::data::Type;
use minicbor::{Decoder, Encoder};

use crate::error::EatError;

/// Claim keys (IANA "CBOR Web Token (CWT) Claims").
pub mod label {
    /// iss (RFC 8392).
    pub const ISS: i64 = 1;
    /// sub (RFC 8392).
    pub const SUB: i64 = 2;
    /// exp (RFC 8392).
    pub const EXP: i64 = 4;
    /// nbf (RFC 8392).
    pub const NBF: i64 = 5;
    /// iat (RFC 8392).
    pub const IAT: i64 = 6;
    /// cti (RFC 8392).
    pub const CTI: i64 = 7;
    /// cnf (RFC 8747).
    pub const CNF: i64 = 8;
    /// eat_nonce (RFC 9711 §4.1).
    pub const EAT_NONCE: i64 = 10;
    /// ueid (RFC 9711 §4.2.1).
    pub const UEID: i64 = 256;
    /// sueids (RFC 9711 §4.2.2).
    pub const SUEIDS: i64 = 257;
    /// oemid (RFC 9711 §4.2.3).
    pub const OEMID: i64 = 258;
    /// hwmodel (RFC 9711 §4.2.4).
    pub const HWMODEL: i64 = 259;
    /// hwversion (RFC 9711 §4.2.5).
    pub const HWVERSION: i64 = 260;
    /// uptime (RFC 9711 §4.2.11).
    pub const UPTIME: i64 = 261;
    /// oemboot (RFC 9711 §4.2.8).
    pub const OEMBOOT: i64 = 262;
    /// dbgstat (RFC 9711 §4.2.9).
    pub const DBGSTAT: i64 = 263;
    /// location (RFC 9711 §4.2.10).
    pub const LOCATION: i64 = 264;
    /// eat_profile (RFC 9711 §4.3.2).
    pub const EAT_PROFILE: i64 = 265;
    /// submods (RFC 9711 §4.2.18).
    pub const SUBMODS: i64 = 266;
    /// bootcount (RFC 9711 §4.2.12).
    pub const BOOTCOUNT: i64 = 267;
    /// bootseed (RFC 9711 §4.2.13).
    pub const BOOTSEED: i64 = 268;
    /// dloas (RFC 9711 §4.2.14).
    pub const DLOAS: i64 = 269;
    /// swname (RFC 9711 §4.2.6).
    pub const SWNAME: i64 = 270;
    /// swversion (RFC 9711 §4.2.7).
    pub const SWVERSION: i64 = 271;
    /// manifests (RFC 9711 §4.2.15; IANA CWT claim 272). The TEEP draft's example
    /// (vectors/teep-protocol/eat_diagnostic.txt) still writes 273, the number the EAT draft
    /// proposed before IANA assigned 273 to measurements.
    pub const MANIFESTS: i64 = 272;
    /// measurements (RFC 9711 §4.2.16).
    pub const MEASUREMENTS: i64 = 273;
    /// measres (RFC 9711 §4.2.17).
    pub const MEASRES: i64 = 274;
    /// intuse (RFC 9711 §4.3.3).
    pub const INTUSE: i64 = 275;
    /// ear.status (draft-ietf-rats-ear; AR4SI).
    pub const EAR_STATUS: i64 = 1000;
    /// ear.trustworthiness-vector (draft-ietf-rats-ear).
    pub const EAR_TRUST_VECTOR: i64 = 1001;
    /// ear.raw-evidence (draft-ietf-rats-ear).
    pub const EAR_RAW_EVIDENCE: i64 = 1002;
    /// ear.appraisal-policy-id (draft-ietf-rats-ear).
    pub const EAR_POLICY_ID: i64 = 1003;
    /// ear.verifier-id (draft-ietf-rats-ear).
    pub const EAR_VERIFIER_ID: i64 = 1004;
    /// Private-use claim (RFC 8392 §9.1: below -65536) of teep-rs: the appraisal's reason
    /// in human words, carried in Attestation Results.
    pub const TEEP_RS_REASON: i64 = -70_001;

    /// The claim's registered name, for diagnostics.
    pub fn name(label: i64) -> Option<&'static str> {
        Some(match label {
            ISS => "iss",
            SUB => "sub",
            EXP => "exp",
            NBF => "nbf",
            IAT => "iat",
            CTI => "cti",
            CNF => "cnf",
            EAT_NONCE => "eat_nonce",
            UEID => "ueid",
            SUEIDS => "sueids",
            OEMID => "oemid",
            HWMODEL => "hwmodel",
            HWVERSION => "hwversion",
            UPTIME => "uptime",
            OEMBOOT => "oemboot",
            DBGSTAT => "dbgstat",
            LOCATION => "location",
            EAT_PROFILE => "eat_profile",
            SUBMODS => "submods",
            BOOTCOUNT => "bootcount",
            BOOTSEED => "bootseed",
            DLOAS => "dloas",
            SWNAME => "swname",
            SWVERSION => "swversion",
            MANIFESTS => "manifests",
            MEASUREMENTS => "measurements",
            MEASRES => "measres",
            INTUSE => "intuse",
            EAR_STATUS => "ear.status",
            EAR_TRUST_VECTOR => "ear.trustworthiness-vector",
            EAR_RAW_EVIDENCE => "ear.raw-evidence",
            EAR_POLICY_ID => "ear.appraisal-policy-id",
            EAR_VERIFIER_ID => "ear.verifier-id",
            TEEP_RS_REASON => "teep-rs.reason",
            _ => return None,
        })
    }
}

/// cnf member kid (RFC 8747 §3.4).
const CNF_KID: u64 = 3;
/// SUIT_Reference members (draft-ietf-suit-report §4).
const REF_DIGEST: u64 = 0;
const REF_URI: u64 = 1;

/// Largest claim set accepted, in bytes.
pub const MAX_CLAIMS_LEN: usize = 64 * 1024;
/// Most entries of the manifests claim.
pub const MAX_MANIFESTS: usize = 64;
/// Longest text claim accepted.
pub const MAX_TEXT: usize = 1024;

/// The CoAP content format the draft's example uses for a SUIT_Reference manifest body
/// (application/cbor, "TO BE REPLACED" once a format is allocated).
pub const CONTENT_FORMAT_CBOR: u64 = 60;

/// SUIT_Digest (draft-ietf-suit-manifest §10): `[algorithm-id, digest-bytes]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digest {
    /// COSE algorithm id (-16 SHA-256).
    pub algorithm: i64,
    /// The digest.
    pub bytes: Vec<u8>,
}

/// One entry of the manifests claim: a SUIT_Reference naming an installed manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestRef {
    /// Content format of the manifest body ([`CONTENT_FORMAT_CBOR`]).
    pub content_format: u64,
    /// suit-report-manifest-uri.
    pub uri: Option<String>,
    /// suit-report-manifest-digest.
    pub digest: Digest,
}

/// hwversion (RFC 9711 §4.2.5): `[version, ? scheme]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HwVersion {
    /// The version text.
    pub version: String,
    /// CoSWID version-scheme (1 = multipartnumeric).
    pub scheme: Option<i64>,
}

/// oemid (RFC 9711 §4.2.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OemId {
    /// IEEE OUI (3 bytes) or random (16 bytes).
    Bytes(Vec<u8>),
    /// IANA Private Enterprise Number.
    Pen(u64),
}

/// An EAT claim set as far as the TEEP profile reads it; other claims are kept encoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClaimSet {
    /// eat_profile.
    pub eat_profile: Option<String>,
    /// iss.
    pub iss: Option<String>,
    /// iat, seconds since the Unix epoch.
    pub iat: Option<u64>,
    /// exp.
    pub exp: Option<u64>,
    /// eat_nonce (a single bstr in the TEEP profile).
    pub eat_nonce: Option<Vec<u8>>,
    /// ueid.
    pub ueid: Option<Vec<u8>>,
    /// oemid.
    pub oemid: Option<OemId>,
    /// hwmodel.
    pub hwmodel: Option<Vec<u8>>,
    /// hwversion.
    pub hwversion: Option<HwVersion>,
    /// manifests.
    pub manifests: Option<Vec<ManifestRef>>,
    /// cnf kid: the RFC 9679 thumbprint of the TEEP key this EAT is bound to.
    pub cnf_kid: Option<Vec<u8>>,
    /// Every other claim: (label, encoded value), in the order received.
    pub other: Vec<(i64, Vec<u8>)>,
}

fn done<T>(_: Result<T, minicbor::encode::Error<core::convert::Infallible>>) {
    // Writing to a Vec cannot fail.
}

impl ClaimSet {
    /// The value of another (non-profile) claim, still encoded.
    pub fn other_claim(&self, label: i64) -> Option<&[u8]> {
        self.other.iter().find(|(l, _)| *l == label).map(|(_, v)| v.as_slice())
    }

    /// Sets (or replaces) another claim from its encoded value.
    pub fn set_other(&mut self, label: i64, encoded: Vec<u8>) {
        self.other.retain(|(l, _)| *l != label);
        self.other.push((label, encoded));
    }

    /// Encodes the claim set with preferred serialization, claims in ascending label order
    /// of the encoded keys (RFC 8949 §4.2.1 deterministic order).
    pub fn encode(&self) -> Vec<u8> {
        let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut put = |label: i64, f: &mut dyn FnMut(&mut Encoder<Vec<u8>>)| {
            let mut v = Encoder::new(Vec::new());
            f(&mut v);
            entries.push((key_bytes(label), v.into_writer()));
        };
        if let Some(p) = &self.eat_profile {
            put(label::EAT_PROFILE, &mut |e| done(e.str(p)));
        }
        if let Some(s) = &self.iss {
            put(label::ISS, &mut |e| done(e.str(s)));
        }
        if let Some(t) = self.iat {
            put(label::IAT, &mut |e| done(e.u64(t)));
        }
        if let Some(t) = self.exp {
            put(label::EXP, &mut |e| done(e.u64(t)));
        }
        if let Some(n) = &self.eat_nonce {
            put(label::EAT_NONCE, &mut |e| done(e.bytes(n)));
        }
        if let Some(u) = &self.ueid {
            put(label::UEID, &mut |e| done(e.bytes(u)));
        }
        match &self.oemid {
            Some(OemId::Bytes(b)) => put(label::OEMID, &mut |e| done(e.bytes(b))),
            Some(OemId::Pen(p)) => put(label::OEMID, &mut |e| done(e.u64(*p))),
            None => {}
        }
        if let Some(m) = &self.hwmodel {
            put(label::HWMODEL, &mut |e| done(e.bytes(m)));
        }
        if let Some(v) = &self.hwversion {
            put(label::HWVERSION, &mut |e| {
                done(e.array(if v.scheme.is_some() { 2 } else { 1 }));
                done(e.str(&v.version));
                if let Some(s) = v.scheme {
                    done(e.i64(s));
                }
            });
        }
        if let Some(list) = &self.manifests {
            put(label::MANIFESTS, &mut |e| encode_manifests(e, list));
        }
        if let Some(kid) = &self.cnf_kid {
            put(label::CNF, &mut |e| {
                done(e.map(1));
                done(e.u64(CNF_KID));
                done(e.bytes(kid));
            });
        }
        for (l, v) in &self.other {
            entries.retain(|(k, _)| *k != key_bytes(*l));
            entries.push((key_bytes(*l), v.clone()));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));

        let mut e = Encoder::new(Vec::new());
        done(e.map(entries.len() as u64));
        let mut out = e.into_writer();
        for (k, v) in entries {
            out.extend_from_slice(&k);
            out.extend_from_slice(&v);
        }
        out
    }

    /// Decodes a claim set: strict CBOR first, then each claim's syntax. Claims the TEEP
    /// profile does not read are kept in [`ClaimSet::other`] (each must still be valid CBOR).
    pub fn decode(bytes: &[u8]) -> Result<Self, EatError> {
        let limits = teep_cbor::Limits { max_len: MAX_CLAIMS_LEN, ..teep_cbor::Limits::default() };
        teep_cbor::check(bytes, &limits)?;
        let mut d = Decoder::new(bytes);
        let n = d.map()?.ok_or(EatError::Malformed("indefinite claim set"))?;
        let mut out = ClaimSet::default();
        for _ in 0..n {
            let key = match d.datatype()? {
                Type::U8 | Type::U16 | Type::U32 | Type::U64 => {
                    i64::try_from(d.u64()?).map_err(|_| EatError::Malformed("claim key range"))?
                }
                Type::I8 | Type::I16 | Type::I32 | Type::I64 => d.i64()?,
                _ => return Err(EatError::Malformed("claim keys must be integers")),
            };
            out.read_claim(key, &mut d, bytes)?;
        }
        Ok(out)
    }

    fn read_claim(&mut self, key: i64, d: &mut Decoder<'_>, input: &[u8]) -> Result<(), EatError> {
        match key {
            label::EAT_PROFILE => self.eat_profile = Some(text(d, "eat_profile")?),
            label::ISS => self.iss = Some(text(d, "iss")?),
            label::IAT => self.iat = Some(time(d, "iat")?),
            label::EXP => self.exp = Some(time(d, "exp")?),
            label::EAT_NONCE => {
                if d.datatype()? != Type::Bytes {
                    return Err(EatError::Malformed("eat_nonce must be a single bstr"));
                }
                self.eat_nonce = Some(sized(d.bytes()?, 8, 64, "eat_nonce size must be 8..=64")?);
            }
            label::UEID => self.ueid = Some(sized(d.bytes()?, 7, 33, "ueid size must be 7..=33")?),
            label::OEMID => {
                self.oemid = Some(match d.datatype()? {
                    Type::Bytes => OemId::Bytes(sized(d.bytes()?, 3, 16, "oemid size")?),
                    Type::U8 | Type::U16 | Type::U32 | Type::U64 => OemId::Pen(d.u64()?),
                    _ => return Err(EatError::Malformed("oemid must be bstr or uint")),
                });
            }
            label::HWMODEL => {
                self.hwmodel = Some(sized(d.bytes()?, 1, 32, "hwmodel size must be 1..=32")?);
            }
            label::HWVERSION => {
                let n = d.array()?.ok_or(EatError::Malformed("hwversion"))?;
                if !(1..=2).contains(&n) {
                    return Err(EatError::Malformed("hwversion must be [version, ? scheme]"));
                }
                let version = text(d, "hwversion")?;
                let scheme = if n == 2 { Some(d.i64()?) } else { None };
                self.hwversion = Some(HwVersion { version, scheme });
            }
            label::MANIFESTS => self.manifests = Some(read_manifests(d)?),
            label::CNF => {
                let n = d.map()?.ok_or(EatError::Malformed("cnf"))?;
                for _ in 0..n {
                    match d.u64() {
                        Ok(CNF_KID) => self.cnf_kid = Some(sized(d.bytes()?, 1, 64, "cnf kid")?),
                        _ => return Err(EatError::Malformed("cnf supports only kid (3)")),
                    }
                }
                if self.cnf_kid.is_none() {
                    return Err(EatError::Malformed("cnf without kid"));
                }
            }
            other => {
                let start = d.position();
                d.skip()?;
                let raw = input.get(start..d.position()).ok_or(EatError::Malformed("claim"))?;
                self.other.push((other, raw.to_vec()));
            }
        }
        Ok(())
    }
}

fn key_bytes(label: i64) -> Vec<u8> {
    let mut e = Encoder::new(Vec::new());
    done(e.i64(label));
    e.into_writer()
}

fn encode_manifests(e: &mut Encoder<Vec<u8>>, list: &[ManifestRef]) {
    done(e.array(list.len() as u64));
    for m in list {
        done(e.array(2));
        done(e.u64(m.content_format));
        done(e.map(if m.uri.is_some() { 2 } else { 1 }));
        done(e.u64(REF_DIGEST));
        done(e.array(2));
        done(e.i64(m.digest.algorithm));
        done(e.bytes(&m.digest.bytes));
        if let Some(uri) = &m.uri {
            done(e.u64(REF_URI));
            done(e.str(uri));
        }
    }
}

fn read_manifests(d: &mut Decoder<'_>) -> Result<Vec<ManifestRef>, EatError> {
    let n = d.array()?.ok_or(EatError::Malformed("manifests"))?;
    if n == 0 || n > MAX_MANIFESTS as u64 {
        return Err(EatError::Malformed("manifests must hold 1..=64 entries"));
    }
    let mut out = Vec::new();
    for _ in 0..n {
        if d.array()? != Some(2) {
            return Err(EatError::Malformed("manifests entry must be [format, body]"));
        }
        let content_format = d.u64()?;
        let mut uri = None;
        let mut digest = None;
        // The body is a SUIT_Reference map (the draft's example); a bstr-wrapped one is
        // accepted too.
        let inner;
        let shared = d.datatype()? == Type::Map;
        let mut body = match d.datatype()? {
            Type::Bytes => {
                inner = d.bytes()?;
                Decoder::new(inner)
            }
            Type::Map => d.clone(),
            _ => return Err(EatError::Malformed("manifest body must be a SUIT_Reference")),
        };
        let entries = body.map()?.ok_or(EatError::Malformed("SUIT_Reference"))?;
        for _ in 0..entries {
            match body.u64()? {
                REF_DIGEST => {
                    if body.array()? != Some(2) {
                        return Err(EatError::Malformed("SUIT_Digest must be [alg, bytes]"));
                    }
                    let algorithm = body.i64()?;
                    let bytes = sized(body.bytes()?, 1, 64, "SUIT_Digest size")?;
                    digest = Some(Digest { algorithm, bytes });
                }
                REF_URI => uri = Some(text(&mut body, "suit-report-manifest-uri")?),
                _ => return Err(EatError::Malformed("unknown SUIT_Reference member")),
            }
        }
        if shared {
            // Advance the outer decoder past the map it shares with `body`.
            d.set_position(body.position());
        }
        let digest = digest.ok_or(EatError::Malformed("SUIT_Reference without digest"))?;
        out.push(ManifestRef { content_format, uri, digest });
    }
    Ok(out)
}

fn text(d: &mut Decoder<'_>, what: &'static str) -> Result<String, EatError> {
    let s = d.str().map_err(|_| EatError::Malformed(what))?;
    if s.len() > MAX_TEXT {
        return Err(EatError::Malformed(what));
    }
    Ok(String::from(s))
}

fn time(d: &mut Decoder<'_>, what: &'static str) -> Result<u64, EatError> {
    match d.datatype()? {
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => Ok(d.u64()?),
        _ => Err(EatError::Malformed(what)),
    }
}

fn sized(b: &[u8], min: usize, max: usize, what: &'static str) -> Result<Vec<u8>, EatError> {
    if b.len() < min || b.len() > max {
        return Err(EatError::Malformed(what));
    }
    Ok(b.to_vec())
}
