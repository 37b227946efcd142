//! Signed EATs: a CWT is a COSE_Sign1 whose payload is the claim set (RFC 8392 §7; RFC 9711
//! §5.1), here tagged 18 with the kid (RFC 9679 thumbprint) of the signer in the unprotected
//! header (draft-ietf-teep-protocol-26 §6 "Key Identification").

use alloc::vec::Vec;

use teep_cose::{Algorithm, PublicKey, Sign1, SigningKey};

use crate::claims::ClaimSet;
use crate::error::EatError;

/// The TEEP EAT profile (draft-ietf-teep-protocol-26 §6: "urn:ietf:rfc:rfcXXXX" until the
/// RFC editor assigns the number).
pub const TEEP_EAT_PROFILE: &str = "urn:ietf:rfc:rfcXXXX";

/// attestation-payload-format of TEEP Evidence and Attestation Results (§5.1, RFC 9782).
pub const EAT_CWT_MEDIA_TYPE: &str = "application/eat+cwt; eat_profile=urn:ietf:rfc:rfcXXXX";

/// Signature algorithms accepted on EATs (the TEEP cipher suites' algorithms).
pub const DEFAULT_ALGORITHMS: &[Algorithm] = &[Algorithm::ESP256, Algorithm::ED25519];

/// Signs `claims` as a tagged COSE_Sign1 CWT whose kid is the signer key's thumbprint.
pub fn sign(claims: &ClaimSet, key: &SigningKey, alg: Algorithm) -> Result<Vec<u8>, EatError> {
    let kid = key.public_key().thumbprint();
    Ok(teep_cose::sign1(&claims.encode(), key, alg, Some(&kid), &[], true)?)
}

/// A claim set whose signature verified with one of the trusted keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The claims.
    pub claims: ClaimSet,
    /// Index of the trusted key that verified the signature.
    pub key_index: usize,
    /// The signature algorithm.
    pub algorithm: Algorithm,
}

/// Verifies a CWT against `trusted` keys (the one the kid names first, then the others) with
/// an algorithm from `allowed`, then decodes the claim set strictly.
pub fn verify(
    cwt: &[u8],
    trusted: &[PublicKey],
    allowed: &[Algorithm],
) -> Result<Verified, EatError> {
    let sign1 = Sign1::decode(cwt)?;
    let algorithm = sign1.algorithm()?;
    if !allowed.contains(&algorithm) {
        return Err(EatError::AlgorithmNotAllowed(algorithm.0));
    }
    let payload = sign1.payload.ok_or(EatError::Malformed("CWT without payload"))?;
    let named = sign1.kid().and_then(|kid| trusted.iter().position(|k| k.thumbprint() == kid));
    let order = named.into_iter().chain((0..trusted.len()).filter(|i| Some(*i) != named));
    for index in order {
        let Some(key) = trusted.get(index) else { continue };
        if key.supports(algorithm) && sign1.verify(key, &[]).is_ok() {
            let claims = ClaimSet::decode(payload)?;
            return Ok(Verified { claims, key_index: index, algorithm });
        }
    }
    Err(EatError::UntrustedKey)
}

/// Reads the claims of a CWT without checking its signature (for diagnostics and to pick
/// the Verifier's endorsement by ueid; never to decide trust).
pub fn peek(cwt: &[u8]) -> Result<ClaimSet, EatError> {
    let sign1 = Sign1::decode(cwt)?;
    ClaimSet::decode(sign1.payload.ok_or(EatError::Malformed("CWT without payload"))?)
}

/// How an EAT proves it is fresh (draft-ietf-teep-protocol-26 §10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness<'a> {
    /// eat_nonce must equal this challenge.
    Nonce(&'a [u8]),
    /// iat must lie within `window` seconds of `now` (either side: clocks drift).
    Timestamp {
        /// Current time, Unix seconds.
        now: u64,
        /// Accepted distance from `now`, seconds.
        window: u64,
    },
}

impl ClaimSet {
    /// The TEEP profile's claim requirements (§6 "Claims Requirements"): eat_profile names
    /// the TEEP profile, and ueid, oemid, hwmodel, hwversion, manifests and cnf are present.
    pub fn check_teep_profile(&self) -> Result<(), EatError> {
        if self.eat_profile.as_deref() != Some(TEEP_EAT_PROFILE) {
            return Err(EatError::WrongProfile);
        }
        let required: [(&'static str, bool); 6] = [
            ("ueid", self.ueid.is_some()),
            ("oemid", self.oemid.is_some()),
            ("hwmodel", self.hwmodel.is_some()),
            ("hwversion", self.hwversion.is_some()),
            ("manifests", self.manifests.is_some()),
            ("cnf", self.cnf_kid.is_some()),
        ];
        match required.iter().find(|(_, present)| !present) {
            Some((name, _)) => Err(EatError::MissingClaim(name)),
            None => Ok(()),
        }
    }

    /// Checks freshness (§10): nonce equality, or iat within the window.
    pub fn check_freshness(&self, freshness: Freshness<'_>) -> Result<(), EatError> {
        match freshness {
            Freshness::Nonce(challenge) => match &self.eat_nonce {
                Some(n) if ct_eq(n, challenge) => Ok(()),
                Some(_) => Err(EatError::NonceMismatch),
                None => Err(EatError::MissingClaim("eat_nonce")),
            },
            Freshness::Timestamp { now, window } => match self.iat {
                Some(iat) if iat.abs_diff(now) <= window => Ok(()),
                _ => Err(EatError::Stale),
            },
        }
    }

    /// Checks that cnf names `key` (RFC 8747 §3.4 with an RFC 9679 thumbprint kid).
    pub fn check_confirmation(&self, key: &PublicKey) -> Result<(), EatError> {
        match &self.cnf_kid {
            Some(kid) if kid.as_slice() == key.thumbprint().as_slice() => Ok(()),
            Some(_) => Err(EatError::ConfirmationMismatch),
            None => Err(EatError::MissingClaim("cnf")),
        }
    }
}

/// Equality that does not stop at the first differing byte.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
