//! Attestation Results (RFC 9334 §3.5): what a Verifier tells the TAM about an Attester.
//!
//! Two encodings, both CWTs signed by the Verifier:
//! - [`AttestationResult`], the TEEP profile (draft-ietf-teep-protocol-26 §6): the
//!   Attester's profile claims as appraised (ueid, oemid, hwmodel, hwversion, manifests, cnf,
//!   eat_nonce) plus the AR4SI status (`ear.status`, draft-ietf-rats-ar4si §2.3.3), the policy
//!   id and a private-use reason claim;
//! - [`Ear`], EAT Attestation Results (draft-ietf-rats-ear, profile
//!   `tag:github.com,2023:veraison/ear`), as Veraison produces them.

use alloc::string::String;
use alloc::vec::Vec;

use minicbor::{Decoder, Encoder};
use teep_cose::{Algorithm, PublicKey, SigningKey};

use crate::claims::{ClaimSet, label};
use crate::error::EatError;
use crate::token::{self, Freshness};

/// EAR profile (draft-ietf-rats-ear §3).
pub const EAR_PROFILE: &str = "tag:github.com,2023:veraison/ear";
/// attestation-payload-format of an EAR in CWT form.
pub const EAR_MEDIA_TYPE: &str =
    "application/eat+cwt; eat_profile=\"tag:github.com,2023:veraison/ear\"";

/// AR4SI trustworthiness tier (draft-ietf-rats-ar4si §2.3.3), the value of `ear.status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// No appraisal was possible.
    None,
    /// The Verifier affirms the Attester.
    Affirming,
    /// Acceptable with reservations.
    Warning,
    /// The Attester must not be trusted.
    Contraindicated,
}

impl Status {
    /// The AR4SI code.
    pub fn code(self) -> i64 {
        match self {
            Status::None => 0,
            Status::Affirming => 2,
            Status::Warning => 32,
            Status::Contraindicated => 96,
        }
    }

    /// The tier of an AR4SI code (draft-ietf-rats-ar4si: -1..=1 none, 2..=31 affirming,
    /// 32..=95 warning, 96.. contraindicated).
    pub fn from_code(code: i64) -> Self {
        match code {
            2..=31 | -31..=-2 => Status::Affirming,
            32..=95 | -95..=-32 => Status::Warning,
            c if c.abs() >= 96 => Status::Contraindicated,
            _ => Status::None,
        }
    }

    /// Lower-case name, as EAR JSON spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::None => "none",
            Status::Affirming => "affirming",
            Status::Warning => "warning",
            Status::Contraindicated => "contraindicated",
        }
    }
}

fn done<T>(_: Result<T, minicbor::encode::Error<core::convert::Infallible>>) {}

fn encoded(f: impl FnOnce(&mut Encoder<Vec<u8>>)) -> Vec<u8> {
    let mut e = Encoder::new(Vec::new());
    f(&mut e);
    e.into_writer()
}

/// An Attestation Result in the TEEP profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttestationResult {
    /// The appraised Attester's claims (profile, ueid, oemid, hwmodel, hwversion, manifests,
    /// cnf, eat_nonce), with iss = the Verifier and iat = the appraisal time.
    pub claims: ClaimSet,
    /// The overall tier.
    pub status: Status,
    /// The appraisal policy that was applied.
    pub policy_id: Option<String>,
    /// Why, in words (always set when the status is not affirming).
    pub reason: Option<String>,
}

impl AttestationResult {
    /// The claim set as signed.
    pub fn to_claims(&self) -> ClaimSet {
        let mut claims = self.claims.clone();
        let status = self.status.code();
        claims.set_other(label::EAR_STATUS, encoded(|e| done(e.i64(status))));
        if let Some(p) = &self.policy_id {
            claims.set_other(label::EAR_POLICY_ID, encoded(|e| done(e.str(p))));
        }
        if let Some(r) = &self.reason {
            claims.set_other(label::TEEP_RS_REASON, encoded(|e| done(e.str(r))));
        }
        claims
    }

    /// Reads an Attestation Result from its claim set; `ear.status` is required.
    pub fn from_claims(mut claims: ClaimSet) -> Result<Self, EatError> {
        let status = claims
            .other_claim(label::EAR_STATUS)
            .ok_or(EatError::MissingClaim("ear.status"))
            .and_then(|b| Ok(Decoder::new(b).i64()?))?;
        let text = |l: i64| -> Result<Option<String>, EatError> {
            match claims.other_claim(l) {
                Some(b) => Ok(Some(String::from(Decoder::new(b).str()?))),
                None => Ok(None),
            }
        };
        let policy_id = text(label::EAR_POLICY_ID)?;
        let reason = text(label::TEEP_RS_REASON)?;
        claims.other.retain(|(l, _)| {
            ![label::EAR_STATUS, label::EAR_POLICY_ID, label::TEEP_RS_REASON].contains(l)
        });
        Ok(AttestationResult { claims, status: Status::from_code(status), policy_id, reason })
    }

    /// Signs the result as a CWT with the Verifier key.
    pub fn sign(&self, key: &SigningKey, alg: Algorithm) -> Result<Vec<u8>, EatError> {
        token::sign(&self.to_claims(), key, alg)
    }

    /// Verifies a result signed by one of `verifiers` and decodes it (no appraisal checks;
    /// see [`validate`]).
    pub fn verify(
        cwt: &[u8],
        verifiers: &[PublicKey],
        allowed: &[Algorithm],
    ) -> Result<Self, EatError> {
        Self::from_claims(token::verify(cwt, verifiers, allowed)?.claims)
    }
}

/// The Relying Party's checks on an Attestation Result (draft-ietf-teep-protocol-26 §4.3,
/// §6, §10): signed by a trusted Verifier, TEEP profile, cnf names the key that signed the
/// TEEP message, fresh, and affirming. Returns the result for the caller to record.
pub fn validate(
    cwt: &[u8],
    verifiers: &[PublicKey],
    allowed: &[Algorithm],
    teep_key: &PublicKey,
    freshness: Freshness<'_>,
) -> Result<AttestationResult, EatError> {
    let result = AttestationResult::verify(cwt, verifiers, allowed)?;
    result.check(teep_key, freshness)?;
    Ok(result)
}

impl AttestationResult {
    /// The checks of [`validate`] after the signature: affirming status first (so that the
    /// Verifier's reason is what the caller reports), then profile, cnf and freshness.
    pub fn check(&self, teep_key: &PublicKey, freshness: Freshness<'_>) -> Result<(), EatError> {
        if self.status != Status::Affirming {
            return Err(EatError::NotAffirming);
        }
        if self.claims.eat_profile.as_deref() != Some(token::TEEP_EAT_PROFILE) {
            return Err(EatError::WrongProfile);
        }
        self.claims.check_confirmation(teep_key)?;
        self.claims.check_freshness(freshness)
    }
}

/// The appraisal of one submodule in an EAR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appraisal {
    /// ear.status.
    pub status: Status,
    /// ear.trustworthiness-vector: (AR4SI claim index, value).
    pub trust_vector: Vec<(u64, i64)>,
    /// ear.appraisal-policy-id.
    pub policy_id: Option<String>,
}

/// An EAT Attestation Result (draft-ietf-rats-ear).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ear {
    /// iat.
    pub iat: u64,
    /// ear.verifier-id build.
    pub verifier_build: String,
    /// ear.verifier-id developer.
    pub verifier_developer: String,
    /// eat_nonce.
    pub nonce: Option<Vec<u8>>,
    /// submods: name -> appraisal.
    pub submods: Vec<(String, Appraisal)>,
}

/// AR4SI trustworthiness claims (draft-ietf-rats-ar4si §2.3).
pub mod trust_claim {
    /// instance-identity.
    pub const INSTANCE_IDENTITY: u64 = 0;
    /// configuration.
    pub const CONFIGURATION: u64 = 1;
    /// executables.
    pub const EXECUTABLES: u64 = 2;
    /// hardware.
    pub const HARDWARE: u64 = 4;
}

impl Ear {
    /// The EAR claim set.
    pub fn to_claims(&self) -> ClaimSet {
        let mut c = ClaimSet {
            eat_profile: Some(String::from(EAR_PROFILE)),
            iat: Some(self.iat),
            eat_nonce: self.nonce.clone(),
            ..ClaimSet::default()
        };
        c.set_other(
            label::EAR_VERIFIER_ID,
            encoded(|e| {
                done(e.map(2));
                done(e.u64(0).and_then(|e| e.str(&self.verifier_build)));
                done(e.u64(1).and_then(|e| e.str(&self.verifier_developer)));
            }),
        );
        c.set_other(
            label::SUBMODS,
            encoded(|e| {
                done(e.map(self.submods.len() as u64));
                for (name, a) in &self.submods {
                    done(e.str(name));
                    let n = 2 + u64::from(a.policy_id.is_some());
                    done(e.map(n));
                    done(e.i64(label::EAR_STATUS).and_then(|e| e.i64(a.status.code())));
                    done(
                        e.i64(label::EAR_TRUST_VECTOR)
                            .and_then(|e| e.map(a.trust_vector.len() as u64)),
                    );
                    for (k, v) in &a.trust_vector {
                        done(e.u64(*k).and_then(|e| e.i64(*v)));
                    }
                    if let Some(p) = &a.policy_id {
                        done(e.i64(label::EAR_POLICY_ID).and_then(|e| e.str(p)));
                    }
                }
            }),
        );
        c
    }

    /// Reads an EAR from a verified claim set.
    pub fn from_claims(claims: &ClaimSet) -> Result<Self, EatError> {
        if claims.eat_profile.as_deref() != Some(EAR_PROFILE) {
            return Err(EatError::WrongProfile);
        }
        let iat = claims.iat.ok_or(EatError::MissingClaim("iat"))?;
        let vid = claims
            .other_claim(label::EAR_VERIFIER_ID)
            .ok_or(EatError::MissingClaim("ear.verifier-id"))?;
        let mut d = Decoder::new(vid);
        let (mut build, mut developer) = (String::new(), String::new());
        for _ in 0..d.map()?.ok_or(EatError::Malformed("ear.verifier-id"))? {
            match d.u64()? {
                0 => build = String::from(d.str()?),
                1 => developer = String::from(d.str()?),
                _ => return Err(EatError::Malformed("ear.verifier-id member")),
            }
        }
        let raw = claims.other_claim(label::SUBMODS).ok_or(EatError::MissingClaim("submods"))?;
        let mut d = Decoder::new(raw);
        let mut submods = Vec::new();
        for _ in 0..d.map()?.ok_or(EatError::Malformed("submods"))? {
            let name = String::from(d.str()?);
            let mut status = None;
            let mut trust_vector = Vec::new();
            let mut policy_id = None;
            for _ in 0..d.map()?.ok_or(EatError::Malformed("appraisal"))? {
                match d.i64()? {
                    label::EAR_STATUS => status = Some(Status::from_code(d.i64()?)),
                    label::EAR_TRUST_VECTOR => {
                        let n = d.map()?.ok_or(EatError::Malformed("trust vector"))?;
                        if n > 16 {
                            return Err(EatError::Malformed("trust vector too long"));
                        }
                        for _ in 0..n {
                            trust_vector.push((d.u64()?, d.i64()?));
                        }
                    }
                    label::EAR_POLICY_ID => policy_id = Some(String::from(d.str()?)),
                    _ => d.skip()?,
                }
            }
            let status = status.ok_or(EatError::MissingClaim("ear.status"))?;
            submods.push((name, Appraisal { status, trust_vector, policy_id }));
        }
        Ok(Ear {
            iat,
            verifier_build: build,
            verifier_developer: developer,
            nonce: claims.eat_nonce.clone(),
            submods,
        })
    }

    /// The worst status over all submodules (None when there are none).
    pub fn overall(&self) -> Status {
        let rank = |s: Status| match s {
            Status::Affirming => 0,
            Status::Warning => 1,
            Status::None => 2,
            Status::Contraindicated => 3,
        };
        self.submods.iter().map(|(_, a)| a.status).max_by_key(|s| rank(*s)).unwrap_or(Status::None)
    }
}
