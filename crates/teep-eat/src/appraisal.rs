//! Appraisal of TEEP Evidence (RFC 9334 §3.3 "Verifier"; draft-ietf-teep-protocol-26 §4.3):
//! the Evidence must be signed by an endorsed attestation key, follow the TEEP EAT profile,
//! be fresh, and its hardware and software claims must match reference values.
//!
//! [`appraise`] never fails: every refusal becomes a signed-able [`AttestationResult`] with
//! status contraindicated and the reason, so that the Relying Party can record why.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use teep_cose::{Algorithm, PublicKey};

use crate::claims::{ClaimSet, Digest, OemId};
use crate::error::EatError;
use crate::result::{AttestationResult, Status};
use crate::token::{self, Freshness, TEEP_EAT_PROFILE};

/// Reference values (RFC 9334 §3.3): what a trustworthy Attester reports. An empty list
/// means "any value".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReferenceValues {
    /// Accepted oemid values.
    pub oemids: Vec<OemId>,
    /// Accepted hwmodel values.
    pub hwmodels: Vec<Vec<u8>>,
    /// Accepted hwversion texts.
    pub hwversions: Vec<String>,
    /// Digests of the manifests a trustworthy Agent (and its dependencies) may run; every
    /// entry of the manifests claim must be one of them.
    pub manifest_digests: Vec<Digest>,
}

/// What the Verifier appraises against.
#[derive(Clone, Copy, Debug)]
pub struct Policy<'a> {
    /// Endorsed attestation keys (RFC 9334 §3.2 Endorsements).
    pub attester_keys: &'a [PublicKey],
    /// Accepted signature algorithms.
    pub algorithms: &'a [Algorithm],
    /// Reference values.
    pub reference: &'a ReferenceValues,
    /// Name of this policy, reported as ear.appraisal-policy-id.
    pub policy_id: &'a str,
    /// The Verifier's identity, reported as iss.
    pub verifier: &'a str,
}

/// Appraises `evidence`: returns an affirming result carrying the Attester's claims, or a
/// contraindicated one saying why. `now` becomes the result's iat.
pub fn appraise(
    evidence: &[u8],
    policy: &Policy<'_>,
    freshness: Freshness<'_>,
    now: u64,
) -> AttestationResult {
    let (claims, outcome) = check(evidence, policy, freshness);
    let mut out = ClaimSet {
        eat_profile: Some(TEEP_EAT_PROFILE.to_string()),
        iss: Some(policy.verifier.to_string()),
        iat: Some(now),
        ..ClaimSet::default()
    };
    if let Some(c) = claims {
        out = ClaimSet {
            ueid: c.ueid,
            oemid: c.oemid,
            hwmodel: c.hwmodel,
            hwversion: c.hwversion,
            manifests: c.manifests,
            cnf_kid: c.cnf_kid,
            eat_nonce: c.eat_nonce,
            ..out
        };
    }
    let (status, reason) = match outcome {
        Ok(()) => (Status::Affirming, None),
        Err(e) => (Status::Contraindicated, Some(e.to_string())),
    };
    AttestationResult { claims: out, status, policy_id: Some(policy.policy_id.to_string()), reason }
}

/// The verified claims (when the signature verified) and the verdict.
fn check(
    evidence: &[u8],
    policy: &Policy<'_>,
    freshness: Freshness<'_>,
) -> (Option<ClaimSet>, Result<(), EatError>) {
    match token::verify(evidence, policy.attester_keys, policy.algorithms) {
        Ok(verified) => {
            let verdict = check_claims(&verified.claims, policy.reference, freshness);
            (Some(verified.claims), verdict)
        }
        Err(e) => (None, Err(e)),
    }
}

fn check_claims(
    claims: &ClaimSet,
    r: &ReferenceValues,
    freshness: Freshness<'_>,
) -> Result<(), EatError> {
    claims.check_teep_profile()?;
    claims.check_freshness(freshness)?;
    let ok = |list_empty: bool, found: bool| list_empty || found;
    if !ok(r.oemids.is_empty(), claims.oemid.as_ref().is_some_and(|o| r.oemids.contains(o))) {
        return Err(EatError::ReferenceMismatch("oemid"));
    }
    let model = claims.hwmodel.as_ref();
    if !ok(r.hwmodels.is_empty(), model.is_some_and(|m| r.hwmodels.contains(m))) {
        return Err(EatError::ReferenceMismatch("hwmodel"));
    }
    let version = claims.hwversion.as_ref().map(|v| &v.version);
    if !ok(r.hwversions.is_empty(), version.is_some_and(|v| r.hwversions.contains(v))) {
        return Err(EatError::ReferenceMismatch("hwversion"));
    }
    let known = |m: &crate::claims::ManifestRef| r.manifest_digests.contains(&m.digest);
    if !r.manifest_digests.is_empty() && !claims.manifests.iter().flatten().all(known) {
        return Err(EatError::ReferenceMismatch("manifests"));
    }
    Ok(())
}
