//! Security domains: which signer owns which manifests and components, and who may touch them.
//!
//! RFC 9397 §4.4 leaves security domains (SDs) to the TEE and suggests that a Trusted
//! Component needing one names it as a dependency. This module fixes that convention for
//! SUIT manifests and holds the rule a platform enforces; it is `no_std` so that a real TEE
//! port applies the same rule as the software TEE.
//!
//! - A manifest's *authority* is the signer that authenticated it, named by the RFC 9679
//!   thumbprint of its COSE_Key ([`SignerId`]); for a COSE_Mac0 block it is the thumbprint of
//!   the symmetric COSE_Key (kty 4) of the shared key.
//! - A *security domain manifest* is a manifest whose suit-manifest-component-id starts with
//!   the segment [`SECURITY_DOMAIN_PREFIX`] (`"security-domain"`) followed by one or more name
//!   segments. Installing it creates the domain, owned by its signer.
//! - A TC manifest joins a domain by declaring the domain manifest as a dependency
//!   (suit-dependencies), under the domain manifest's own component id. Without such a
//!   dependency its components are in the default domain of its signer.
//! - [`DomainPolicy`]: a signer may act only on what it owns; a device administrator may act on
//!   everything (the GlobalPlatform ISD with authorized management).
//!
//! The processor reports every refusal as [`PlatformError::Unauthorized`], i.e. SUIT_Report
//! reason 7, "unauthorized SUIT component" (draft-ietf-suit-report §4): the registry has no
//! reason for domains, and this is the closest one.

use alloc::vec::Vec;

use sha2::{Digest as _, Sha256};

use crate::component::ComponentId;
use crate::envelope::TrustAnchors;
use crate::error::{PlatformError, SuitError};
use crate::manifest::Manifest;

/// The first segment of the manifest-component-id of a security domain manifest.
pub const SECURITY_DOMAIN_PREFIX: &[u8] = b"security-domain";

/// A manifest signer: the RFC 9679 COSE Key Thumbprint of the key that authenticated it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SignerId(pub [u8; 32]);

impl SignerId {
    /// The signer of a manifest authenticated by trust anchor `index`
    /// ([`crate::AuthenticatedManifest::signer_index`]): a signature key, or (indices past the
    /// signers) a MAC key. `None` when the index names no anchor.
    pub fn of_anchor(trust: &TrustAnchors, index: usize) -> Option<Self> {
        if let Some(key) = trust.signers.get(index) {
            return Some(Self(key.thumbprint()));
        }
        let mac = trust.mac_keys.get(index.checked_sub(trust.signers.len())?)?;
        Some(Self::of_symmetric_key(&mac.key))
    }

    /// RFC 9679 §3 thumbprint of a symmetric COSE_Key: SHA-256 over the deterministic
    /// encoding of `{1: 4, -1: k}`.
    pub fn of_symmetric_key(key: &[u8]) -> Self {
        let mut e = minicbor::Encoder::new(Vec::new());
        // Writing to a Vec cannot fail.
        let _ = e.map(2).and_then(|e| e.u8(1)?.u8(4)?.i8(-1)?.bytes(key));
        Self(Sha256::digest(e.into_writer()).into())
    }

    /// The thumbprint bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl core::fmt::Debug for SignerId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SignerId({self})")
    }
}

/// Lower-case hex of the thumbprint.
impl core::fmt::Display for SignerId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Whether `id` names a security domain manifest: `["security-domain", name, ...]`.
pub fn is_security_domain(id: &ComponentId) -> bool {
    let segments = id.segments();
    segments.len() >= 2 && segments.first().is_some_and(|s| s.as_slice() == SECURITY_DOMAIN_PREFIX)
}

/// The security domain a manifest places its components in: its own id for a domain
/// manifest, else the one domain manifest among its dependency components, else `None` (the
/// default domain of its signer). Naming two different domains is refused.
pub fn domain_of(manifest: &Manifest<'_>) -> Result<Option<ComponentId>, SuitError> {
    let identity =
        manifest.identity().ok_or(SuitError::Malformed("manifest names no component"))?;
    if is_security_domain(identity) {
        return Ok(Some(identity.clone()));
    }
    let components = manifest.indexed_components()?;
    let mut named = manifest
        .dependencies
        .iter()
        .filter_map(|i| usize::try_from(*i).ok().and_then(|i| components.get(i)))
        .filter(|id| is_security_domain(id));
    let first = named.next().cloned();
    if named.any(|other| Some(other) != first.as_ref()) {
        return Err(SuitError::Malformed("a manifest may name only one security domain"));
    }
    Ok(first)
}

/// Who authorised the manifest whose commands run next, told to the platform with
/// [`crate::Platform::set_authority`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authority {
    /// The signer that authenticated the manifest.
    pub signer: SignerId,
    /// The manifest's identity (manifest-component-id or first component).
    pub manifest_id: ComponentId,
    /// The security domain its components belong to: its own id for a domain manifest, the
    /// domain manifest it depends on, or `None` for the signer's default domain.
    pub domain: Option<ComponentId>,
    /// For a dependency: the signer of the manifest that processes it. `None` for a root
    /// manifest.
    pub processed_by: Option<SignerId>,
}

/// The access rule: a signer may act on what it owns; administrators on everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DomainPolicy {
    administrators: Vec<SignerId>,
}

impl DomainPolicy {
    /// A policy in which `administrators` (device administrators, e.g. the signer of the
    /// device owner's manifests) may act on every domain.
    pub fn new(administrators: Vec<SignerId>) -> Self {
        Self { administrators }
    }

    /// The device administrators.
    pub fn administrators(&self) -> &[SignerId] {
        &self.administrators
    }

    /// Whether `signer` is a device administrator.
    pub fn is_administrator(&self, signer: &SignerId) -> bool {
        self.administrators.contains(signer)
    }

    /// Whether `actor` may read, write or remove something owned by each of `owners`. `None`
    /// as actor means no manifest is running (the device acting for itself) and is always
    /// permitted; an empty owner list (new content, or records written before domains
    /// existed) is free to claim.
    pub fn permits<'o>(
        &self,
        actor: Option<&SignerId>,
        owners: impl IntoIterator<Item = &'o SignerId>,
    ) -> bool {
        let Some(actor) = actor else { return true };
        self.is_administrator(actor) || owners.into_iter().all(|owner| owner == actor)
    }

    /// [`DomainPolicy::permits`] as a platform result.
    pub fn check<'o>(
        &self,
        actor: Option<&SignerId>,
        owners: impl IntoIterator<Item = &'o SignerId>,
    ) -> Result<(), PlatformError> {
        if self.permits(actor, owners) { Ok(()) } else { Err(PlatformError::Unauthorized) }
    }

    /// Checks a manifest about to run: a dependency must be signed by the signer of the
    /// manifest that processes it (unless that one is an administrator); the manifest id must
    /// be free or owned by the same signer (`manifest_owner`); its domain must be free or
    /// owned by the same signer (`domain_owner`).
    pub fn check_authority(
        &self,
        authority: &Authority,
        manifest_owner: Option<&SignerId>,
        domain_owner: Option<&SignerId>,
    ) -> Result<(), PlatformError> {
        if let Some(parent) = &authority.processed_by {
            self.check(Some(parent), [&authority.signer])?;
        }
        let actor = Some(&authority.signer);
        self.check(actor, manifest_owner)?;
        self.check(actor, domain_owner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: SignerId = SignerId([0xa; 32]);
    const B: SignerId = SignerId([0xb; 32]);
    const ADMIN: SignerId = SignerId([0xd; 32]);

    fn authority(signer: SignerId, processed_by: Option<SignerId>) -> Authority {
        Authority {
            signer,
            manifest_id: ComponentId::new([SECURITY_DOMAIN_PREFIX, &b"a"[..]]),
            domain: None,
            processed_by,
        }
    }

    #[test]
    fn owners_act_on_their_own_and_administrators_on_everything() {
        let policy = DomainPolicy::new(alloc::vec![ADMIN]);
        assert!(policy.permits(Some(&A), [&A]));
        assert!(!policy.permits(Some(&B), [&A]));
        assert!(!policy.permits(Some(&A), [&A, &B]));
        assert!(policy.permits(Some(&ADMIN), [&A, &B]));
        assert!(policy.permits(Some(&B), []));
        assert!(policy.permits(None, [&A]));
        assert_eq!(policy.check(Some(&B), [&A]), Err(PlatformError::Unauthorized));
    }

    #[test]
    fn dependencies_and_domains_must_share_the_signer() {
        let policy = DomainPolicy::new(alloc::vec![ADMIN]);
        assert!(policy.check_authority(&authority(A, Some(A)), Some(&A), Some(&A)).is_ok());
        assert!(policy.check_authority(&authority(A, Some(B)), None, None).is_err());
        assert!(policy.check_authority(&authority(A, Some(ADMIN)), None, None).is_ok());
        assert!(policy.check_authority(&authority(B, None), Some(&A), None).is_err());
        assert!(policy.check_authority(&authority(B, None), None, Some(&A)).is_err());
        assert!(policy.check_authority(&authority(B, None), None, None).is_ok());
    }

    #[test]
    fn security_domain_ids_follow_the_convention() {
        assert!(is_security_domain(&ComponentId::new([SECURITY_DOMAIN_PREFIX, &b"bank"[..]])));
        assert!(!is_security_domain(&ComponentId::new([SECURITY_DOMAIN_PREFIX])));
        assert!(!is_security_domain(&ComponentId::new([&b"TEEP-Device"[..], b"sd"])));
    }

    #[test]
    fn signer_ids_of_anchors() {
        let key = teep_cose::SigningKey::from_ed25519_seed(&[7; 32]);
        let trust = TrustAnchors::new(alloc::vec![key.public_key()])
            .with_mac_key(crate::MacKey::new(alloc::vec![1u8; 32]));
        assert_eq!(SignerId::of_anchor(&trust, 0), Some(SignerId(key.public_key().thumbprint())));
        let mac = SignerId::of_anchor(&trust, 1).expect("mac anchor");
        assert_eq!(mac, SignerId::of_symmetric_key(&[1u8; 32]));
        assert_ne!(mac, SignerId::of_symmetric_key(&[2u8; 32]));
        assert_eq!(SignerId::of_anchor(&trust, 2), None);
        assert_eq!(alloc::format!("{}", SignerId([0xab; 32])).len(), 64);
    }
}
