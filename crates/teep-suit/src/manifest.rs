//! SUIT_Manifest and SUIT_Common (draft-ietf-suit-manifest-34 §8.4, with the members added by
//! draft-ietf-suit-trust-domains §5–§6).
//!
//! ```cddl
//! SUIT_Manifest = {
//!     suit-manifest-version         => 1,                         ; 1
//!     suit-manifest-sequence-number => uint,                      ; 2
//!     suit-common                   => bstr .cbor SUIT_Common,    ; 3
//!     ? suit-reference-uri          => tstr,                      ; 4
//!     ? suit-manifest-component-id  => SUIT_Component_Identifier, ; 5 (trust domains)
//!     ? suit-validate / suit-load / suit-invoke => bstr .cbor SUIT_Command_Sequence, ; 7 8 9
//!     ? suit-uninstall => bstr .cbor SUIT_Command_Sequence,       ; 24 (trust domains)
//!     ? suit-dependency-resolution / suit-payload-fetch / suit-install / suit-text
//!         => SUIT_Digest / bstr,                                  ; 15 16 20 23 (severable)
//! }
//! SUIT_Common = { ? suit-dependencies => SUIT_Dependencies,      ; 1 (trust domains)
//!                 ? suit-components => [+ SUIT_Component_Identifier],      ; 2
//!                 ? suit-shared-sequence => bstr .cbor SUIT_Shared_Sequence } ; 4
//! ```
//! A [`Manifest`] only exists for bytes whose authenticity was checked, or through the
//! explicitly named [`crate::Envelope::inspect_unauthenticated`] for tools.

use alloc::vec::Vec;

use minicbor::Decoder;
use minicbor::data::Type;

use crate::cbor;
use crate::component::ComponentId;
use crate::digest::SuitDigest;
use crate::error::SuitError;

/// Manifest member keys (IANA "SUIT Manifest Elements").
pub mod key {
    /// suit-manifest-version
    pub const VERSION: u64 = 1;
    /// suit-manifest-sequence-number
    pub const SEQUENCE_NUMBER: u64 = 2;
    /// suit-common
    pub const COMMON: u64 = 3;
    /// suit-reference-uri
    pub const REFERENCE_URI: u64 = 4;
    /// suit-manifest-component-id (draft-ietf-suit-trust-domains)
    pub const MANIFEST_COMPONENT_ID: u64 = 5;
    /// suit-validate
    pub const VALIDATE: u64 = 7;
    /// suit-load
    pub const LOAD: u64 = 8;
    /// suit-invoke
    pub const INVOKE: u64 = 9;
    /// suit-dependency-resolution (draft-ietf-suit-trust-domains)
    pub const DEPENDENCY_RESOLUTION: u64 = 15;
    /// suit-payload-fetch
    pub const PAYLOAD_FETCH: u64 = 16;
    /// suit-candidate-verification (draft-ietf-suit-trust-domains)
    pub const CANDIDATE_VERIFICATION: u64 = 18;
    /// suit-install
    pub const INSTALL: u64 = 20;
    /// suit-text
    pub const TEXT: u64 = 23;
    /// suit-uninstall (draft-ietf-suit-trust-domains)
    pub const UNINSTALL: u64 = 24;
    /// Pseudo section key used in reports for suit-shared-sequence (SUIT_Common key 4 is not
    /// a manifest member); the report uses the suit-common key.
    pub const SHARED: u64 = COMMON;
}

/// Members that may be severed (replaced by a SUIT_Digest in the manifest and carried in the
/// envelope).
pub(crate) const SEVERABLE: [u64; 5] = [
    key::DEPENDENCY_RESOLUTION,
    key::PAYLOAD_FETCH,
    key::CANDIDATE_VERIFICATION,
    key::INSTALL,
    key::TEXT,
];

/// A manifest member that is either inline or severed.
#[derive(Clone, Debug)]
pub(crate) enum Member<'a> {
    /// The bstr content, inline in the manifest.
    Inline(&'a [u8]),
    /// Severed: the manifest holds this digest of the bstr in the envelope.
    Severed(SuitDigest),
}

/// The decoded manifest; borrowed from the envelope bytes.
#[derive(Clone, Debug)]
pub struct Manifest<'a> {
    /// suit-manifest-sequence-number.
    pub sequence_number: u64,
    /// suit-reference-uri, if present.
    pub reference_uri: Option<&'a str>,
    /// suit-manifest-component-id, if present.
    pub manifest_component_id: Option<ComponentId>,
    /// suit-components.
    pub components: Vec<ComponentId>,
    /// Indices of components that are dependency manifests (suit-dependencies).
    pub dependencies: Vec<u64>,
    /// suit-dependency-prefix of each dependency that has one, by component index.
    pub dependency_prefixes: Vec<(u64, ComponentId)>,
    pub(crate) shared: Option<&'a [u8]>,
    pub(crate) members: Vec<(u64, Member<'a>)>,
}

impl<'a> Manifest<'a> {
    /// Decodes the content of the bstr-wrapped manifest. Every bstr-wrapped member (common,
    /// shared sequence, command sequences) is checked to be strict CBOR here.
    pub(crate) fn decode(bytes: &'a [u8]) -> Result<Self, SuitError> {
        cbor::precheck(bytes)?;
        let mut d = Decoder::new(bytes);
        let n = cbor::map_len(&mut d, "SUIT_Manifest")?;
        let mut version = None;
        let mut sequence_number = None;
        let mut common = None;
        let mut reference_uri = None;
        let mut manifest_component_id = None;
        let mut members = Vec::new();

        for _ in 0..n {
            let k = map_key(&mut d, "SUIT_Manifest")?;
            match k {
                key::VERSION => version = Some(cbor::uint(&mut d, "suit-manifest-version")?),
                key::SEQUENCE_NUMBER => {
                    sequence_number = Some(cbor::uint(&mut d, "suit-manifest-sequence-number")?)
                }
                key::COMMON => common = Some(cbor::bytes(&mut d, "suit-common")?),
                key::REFERENCE_URI => {
                    reference_uri = Some(cbor::text(&mut d, "suit-reference-uri")?)
                }
                key::MANIFEST_COMPONENT_ID => {
                    manifest_component_id = Some(ComponentId::decode_from(&mut d)?)
                }
                key::VALIDATE | key::LOAD | key::INVOKE | key::UNINSTALL => {
                    let seq = cbor::bytes(&mut d, "command sequence")?;
                    cbor::precheck(seq)?;
                    members.push((k, Member::Inline(seq)));
                }
                k if SEVERABLE.contains(&k) => {
                    let member = if d.datatype().ok() == Some(Type::Array) {
                        Member::Severed(SuitDigest::decode_from(&mut d)?)
                    } else {
                        let content = cbor::bytes(&mut d, "severable member")?;
                        cbor::precheck(content)?;
                        Member::Inline(content)
                    };
                    members.push((k, member));
                }
                other => return Err(unknown("SUIT_Manifest", other)),
            }
        }

        match version {
            Some(1) => {}
            Some(v) => return Err(SuitError::UnsupportedVersion(v)),
            None => return Err(SuitError::Malformed("manifest without suit-manifest-version")),
        }
        let sequence_number =
            sequence_number.ok_or(SuitError::Malformed("manifest without sequence number"))?;
        let common = common.ok_or(SuitError::Malformed("manifest without suit-common"))?;
        let Common { components, dependencies, dependency_prefixes, shared } =
            decode_common(common)?;
        Ok(Manifest {
            sequence_number,
            reference_uri,
            manifest_component_id,
            components,
            dependencies,
            dependency_prefixes,
            shared,
            members,
        })
    }

    /// The identity used for rollback protection and the install record:
    /// suit-manifest-component-id, else the first component.
    pub fn identity(&self) -> Option<&ComponentId> {
        self.manifest_component_id.as_ref().or(self.components.first())
    }

    /// Whether the manifest has member `key` (inline or severed).
    pub fn has_member(&self, key: u64) -> bool {
        self.members.iter().any(|(k, _)| *k == key)
    }

    pub(crate) fn member(&self, key: u64) -> Option<&Member<'a>> {
        self.members.iter().find(|(k, _)| *k == key).map(|(_, m)| m)
    }

    /// Whether component index `index` names a dependency manifest.
    pub fn is_dependency(&self, index: u64) -> bool {
        self.dependencies.contains(&index)
    }

    /// The component list the commands index: suit-components followed by the dependency
    /// manifests whose indices come after it (draft-ietf-suit-trust-domains §6.1: a
    /// dependency is addressed by a component index; its SUIT_Component_Identifier is its
    /// dependency-prefix). Indices after the components must be contiguous.
    pub fn indexed_components(&self) -> Result<Vec<ComponentId>, SuitError> {
        let mut all = self.components.clone();
        let beyond = self.dependencies.iter().filter(|i| **i >= all.len() as u64).count();
        for _ in 0..beyond {
            let index = all.len() as u64;
            let prefix = self
                .dependency_prefixes
                .iter()
                .find(|(i, _)| *i == index)
                .map(|(_, p)| p.clone())
                .ok_or(SuitError::Malformed(
                    "dependency index after the components needs a contiguous index and a prefix",
                ))?;
            all.push(prefix);
        }
        Ok(all)
    }
}

/// The decoded members of SUIT_Common.
struct Common<'a> {
    components: Vec<ComponentId>,
    dependencies: Vec<u64>,
    dependency_prefixes: Vec<(u64, ComponentId)>,
    shared: Option<&'a [u8]>,
}

/// Decodes SUIT_Common.
///
/// ```cddl
/// SUIT_Dependencies = { + uint => SUIT_Dependency_Metadata }
/// SUIT_Dependency_Metadata = { ? suit-dependency-prefix => SUIT_Component_Identifier,
///                              * $$SUIT_Dependency_Extensions }
/// ```
fn decode_common(bytes: &[u8]) -> Result<Common<'_>, SuitError> {
    cbor::precheck(bytes)?;
    let mut d = Decoder::new(bytes);
    let n = cbor::map_len(&mut d, "SUIT_Common")?;
    let mut components = Vec::new();
    let mut dependencies = Vec::new();
    let mut dependency_prefixes = Vec::new();
    let mut shared = None;
    for _ in 0..n {
        match map_key(&mut d, "SUIT_Common")? {
            1 => {
                let deps = cbor::map_len(&mut d, "suit-dependencies")?;
                for _ in 0..deps {
                    let index = cbor::uint(&mut d, "dependency index")?;
                    dependencies.push(index);
                    let fields = cbor::map_len(&mut d, "SUIT_Dependency_Metadata")?;
                    for _ in 0..fields {
                        match cbor::int(&mut d, "SUIT_Dependency_Metadata key")? {
                            1 => {
                                dependency_prefixes.push((index, ComponentId::decode_from(&mut d)?))
                            }
                            // Extensions carry nothing this processor acts on.
                            _ => cbor::skip(&mut d, "dependency metadata extension")?,
                        }
                    }
                }
            }
            2 => {
                let count = cbor::array_len(&mut d, "suit-components")?;
                if count == 0 {
                    return Err(SuitError::Malformed("suit-components is empty"));
                }
                for _ in 0..count {
                    components.push(ComponentId::decode_from(&mut d)?);
                }
            }
            4 => {
                let seq = cbor::bytes(&mut d, "suit-shared-sequence")?;
                cbor::precheck(seq)?;
                shared = Some(seq);
            }
            other => return Err(unknown("SUIT_Common", other)),
        }
    }
    Ok(Common { components, dependencies, dependency_prefixes, shared })
}

/// Reads a non-negative integer map key; negative keys are unknown extensions.
fn map_key(d: &mut Decoder<'_>, map: &'static str) -> Result<u64, SuitError> {
    let k = cbor::int(d, map)?;
    u64::try_from(k).map_err(|_| SuitError::UnknownKey { map, key: k })
}

fn unknown(map: &'static str, key: u64) -> SuitError {
    SuitError::UnknownKey { map, key: i64::try_from(key).unwrap_or(i64::MAX) }
}
