//! Evidence for the attestation bit of a QueryRequest (draft-ietf-teep-protocol-26 §5.2 and
//! its EAT profile, §6; RFC 9711).
//!
//! The software TEE has no hardware root of trust: its Evidence is an EAT claim set signed
//! with the Agent key as a tagged COSE_Sign1. It carries the claims a TAM needs to tie the
//! Evidence to the request and to the Agent key:
//!
//! ```cddl
//! claims = {
//!   8 => { 3 => bstr },   ; cnf: kid = RFC 9679 thumbprint of the Agent key (RFC 8747)
//!   10 => bstr,           ; eat_nonce: the QueryRequest challenge (or token)
//!   256 => bstr,          ; ueid: 0x01 (RAND type) || thumbprint
//!   ? 6 => uint,          ; iat, when the caller knows the time
//! }
//! ```
//! Hardware-rooted evidence is for a real TEE platform to supply.

use alloc::vec::Vec;

use teep_cose::{Algorithm, SigningKey};

/// The attestation-payload-format of this Evidence (§5.2: EAT in CWT form).
pub const EVIDENCE_FORMAT: &str = "application/eat+cwt";

const CNF: u64 = 8;
const CNF_KID: u64 = 3;
const IAT: u64 = 6;
const EAT_NONCE: u64 = 10;
const UEID: u64 = 256;
const UEID_TYPE_RAND: u8 = 0x01;

/// Builds and signs the Evidence claim set.
pub(crate) fn build(
    key: &SigningKey,
    kid: &[u8; 32],
    alg: Algorithm,
    nonce: &[u8],
    now: u64,
) -> Result<Vec<u8>, teep_cose::Error> {
    let mut ueid = Vec::with_capacity(33);
    ueid.push(UEID_TYPE_RAND);
    ueid.extend_from_slice(kid);

    let mut e = minicbor::Encoder::new(Vec::new());
    let entries = if now > 0 { 4 } else { 3 };
    // Writing to a Vec cannot fail; the results carry no information.
    let _ = e.map(entries);
    if now > 0 {
        let _ = e.u64(IAT).and_then(|e| e.u64(now));
    }
    let _ =
        e.u64(CNF).and_then(|e| e.map(1)).and_then(|e| e.u64(CNF_KID)).and_then(|e| e.bytes(kid));
    let _ = e.u64(EAT_NONCE).and_then(|e| e.bytes(nonce));
    let _ = e.u64(UEID).and_then(|e| e.bytes(&ueid));
    let claims = e.into_writer();
    teep_cose::sign1(&claims, key, alg, Some(kid), &[], true)
}
