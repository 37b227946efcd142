//! Security domains in the TAM's view of a device (docs/security-domains.md).
//!
//! The Agent groups components into domains owned by the TC signer that authenticated their
//! manifests (RFC 9397 §4.4: a Trusted Component names its security domain as a dependency).
//! The tc-list of a QueryResponse carries only component ids, so the TAM derives each
//! installed component's domain from its own catalog: the owner is the catalog signer of the
//! installed version (its RFC 9679 thumbprint is what the Agent records), the domain is the
//! security domain manifest the catalog envelope depends on
//! ([`teep_suit::domain::domain_of`]), or the signer's default domain.

use teep_suit::{ComponentId, Envelope, domain::domain_of};

use crate::error::StoreError;
use crate::store::{ComponentRow, Store};

/// The security domain of one installed component, as the catalog describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentDomain {
    /// CBOR encoding of the installed component's SUIT_Component_Identifier.
    pub component_id: Vec<u8>,
    /// Name of the catalog signer of the installed version (else of the newest version);
    /// `None` when the catalog does not hold the component.
    pub signer: Option<String>,
    /// RFC 9679 thumbprint of that signer's key: the domain owner on the device.
    pub owner: Option<Vec<u8>>,
    /// The security domain manifest the component's manifest names; `None`: the default
    /// domain of its owner (or unknown, when `signer` is `None`).
    pub domain: Option<ComponentId>,
}

/// The domain of each of `components` (a device's installed list), in the same order.
pub async fn device_domains(
    store: &Store,
    components: &[ComponentRow],
) -> Result<Vec<ComponentDomain>, StoreError> {
    let signers = store.signers().await?;
    let catalog = store.tcs().await?;
    let mut out = Vec::with_capacity(components.len());
    for c in components {
        let versions: Vec<_> =
            catalog.iter().filter(|t| t.component_id == c.component_id).collect();
        let installed = versions.iter().find(|t| Some(t.sequence_number) == c.sequence_number);
        let row = installed.or(versions.last());
        let signer = row.map(|t| t.signer.clone());
        let owner = signer
            .as_ref()
            .and_then(|name| signers.iter().find(|s| &s.name == name))
            .map(|s| s.thumbprint.clone());
        let domain = match store.latest_tc(&c.component_id).await? {
            Some(tc) => domain_of_envelope(&tc.envelope),
            None => None,
        };
        out.push(ComponentDomain { component_id: c.component_id.clone(), signer, owner, domain });
    }
    Ok(out)
}

/// The security domain a catalog envelope places its components in; `None` for the default
/// domain or an envelope that does not decode (the catalog only holds authenticated ones).
pub fn domain_of_envelope(envelope: &[u8]) -> Option<ComponentId> {
    let manifest = Envelope::decode(envelope).ok()?.inspect_unauthenticated().ok()?;
    domain_of(&manifest).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{SignerRow, TcRow};
    use teep_suit::builder::{Dependency, ManifestBuilder, Payload};
    use teep_suit::domain::SECURITY_DOMAIN_PREFIX;

    fn envelope(id: ComponentId, domain: Option<Vec<u8>>, key: &teep_cose::SigningKey) -> Vec<u8> {
        let mut b = ManifestBuilder::new(ComponentId::new([b"img"]), 1)
            .manifest_component_id(id)
            .vendor_id([1u8; 16].to_vec())
            .class_id([2u8; 16].to_vec())
            .payload(Payload::integrated(b"x".to_vec()));
        if let Some(envelope) = domain {
            b = b.dependency(Dependency { envelope, prefix: None, uri: None });
        }
        b.sign(key, None).expect("sign")
    }

    #[tokio::test]
    async fn installed_components_get_the_catalog_signer_and_domain() {
        let store = Store::connect("sqlite::memory:", 1).await.expect("store");
        let key = teep_cose::SigningKey::from_ed25519_seed(&[3; 32]);
        let thumbprint = key.public_key().thumbprint().to_vec();
        let row = SignerRow {
            name: "bank".into(),
            cose_key: key.public_key().to_cose_key(),
            thumbprint: thumbprint.clone(),
            added_at: 1,
            owner: None,
        };
        assert!(store.add_signer(&row).await.expect("signer"));
        let sd = ComponentId::new([SECURITY_DOMAIN_PREFIX, &b"bank"[..]]);
        let sd_env = envelope(sd.clone(), None, &key);
        let tc = ComponentId::new([b"tc"]);
        let tc_env = envelope(tc.clone(), Some(sd_env.clone()), &key);
        let plain = ComponentId::new([b"plain"]);
        let plain_env = envelope(plain.clone(), None, &key);
        for (id, env) in [(&sd, &sd_env), (&tc, &tc_env), (&plain, &plain_env)] {
            let row = TcRow {
                component_id: id.encode(),
                sequence_number: 1,
                envelope_len: env.len(),
                envelope: env.clone(),
                signer: "bank".into(),
                added_at: 1,
            };
            assert!(store.add_tc(&row, &[]).await.expect("tc"));
        }

        let installed = |id: &ComponentId, seq| ComponentRow {
            component_id: id.encode(),
            sequence_number: Some(seq),
            digest: None,
            updated_at: 1,
        };
        let unknown = ComponentId::new([b"elsewhere"]);
        let rows =
            [installed(&tc, 1), installed(&sd, 1), installed(&plain, 1), installed(&unknown, 1)];
        let domains = device_domains(&store, &rows).await.expect("domains");
        let view: Vec<_> = domains
            .iter()
            .map(|d| (d.signer.as_deref(), d.owner.clone(), d.domain.clone()))
            .collect();
        let owner = Some(thumbprint);
        assert_eq!(
            view,
            vec![
                (Some("bank"), owner.clone(), Some(sd.clone())),
                (Some("bank"), owner.clone(), Some(sd)),
                (Some("bank"), owner, None),
                (None, None, None),
            ]
        );
        assert_eq!(domain_of_envelope(b"not an envelope"), None);
    }
}
