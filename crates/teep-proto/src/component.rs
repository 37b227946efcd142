//! Trusted Component identification in QueryResponse and Update
//! (draft-ietf-teep-protocol-26 §5.2; draft-ietf-suit-report §4 for system-property-claims).
//!
//! ```cddl
//! SUIT_Component_Identifier = [* bstr]
//!
//! requested-tc-info = {
//!   component-id => SUIT_Component_Identifier,
//!   ? tc-manifest-sequence-number => uint,
//!   ? have-binary => bool
//! }
//!
//! system-property-claims = {
//!   system-component-id => SUIT_Component_Identifier,
//!   + $$SUIT_Parameters
//! }
//! ```

use alloc::vec::Vec;
use core::fmt;

use crate::codec::{Reader, Writer, major};
use crate::error::DecodeError;
use crate::registry::{Label, Numbering};

/// A SUIT_Component_Identifier: a list of byte strings. TEEP calls it a Trusted Component id
/// (or, for an unneeded manifest, the SUIT Manifest Component ID).
#[derive(Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct ComponentId(pub Vec<Vec<u8>>);

/// The TEEP name for a component identifier.
pub type TrustedComponentId = ComponentId;

impl ComponentId {
    /// A component id from its segments (anything that yields byte slices: `Vec<Vec<u8>>`,
    /// `[&[u8]; N]`, ...).
    pub fn new<I, S>(segments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        ComponentId(segments.into_iter().map(|s| s.as_ref().to_vec()).collect())
    }

    /// The segments in order.
    pub fn segments(&self) -> &[Vec<u8>] {
        &self.0
    }

    pub(crate) fn decode(r: &mut Reader<'_>, field: &'static str) -> Result<Self, DecodeError> {
        let n = r.array(field)?;
        let mut segments = Vec::new();
        for _ in 0..n {
            segments.push(r.bytes(field)?.to_vec());
        }
        Ok(ComponentId(segments))
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.array(self.0.len());
        for s in &self.0 {
            w.bytes(s);
        }
    }
}

/// Prints segments as text when they are printable ASCII, as hex otherwise: `["TEEP-Device",
/// h'8d82...']`.
impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, seg) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            if !seg.is_empty() && seg.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
                f.write_str("\"")?;
                for b in seg {
                    write!(f, "{}", char::from(*b))?;
                }
                f.write_str("\"")?;
            } else {
                f.write_str("h'")?;
                for b in seg {
                    write!(f, "{b:02x}")?;
                }
                f.write_str("'")?;
            }
        }
        f.write_str("]")
    }
}

impl fmt::Debug for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ComponentId({self})")
    }
}

/// One entry of a tc-list: a component installed on the device and its SUIT parameters
/// (draft-ietf-suit-report §4, `system-property-claims`).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct SystemPropertyClaims {
    /// system-component-id (key 0).
    pub component_id: ComponentId,
    /// The other entries: SUIT parameter label and the parameter's encoded CBOR value, e.g.
    /// suit-parameter-image-digest (3) holding a bstr-wrapped SUIT_Digest.
    pub parameters: Vec<(i64, Vec<u8>)>,
}

/// Key of system-component-id in system-property-claims.
const SYSTEM_COMPONENT_ID: i64 = 0;
/// SUIT parameter label of suit-parameter-image-digest.
pub const SUIT_PARAMETER_IMAGE_DIGEST: i64 = 3;

impl SystemPropertyClaims {
    /// The encoded value of parameter `label`, if present.
    pub fn parameter(&self, label: i64) -> Option<&[u8]> {
        self.parameters.iter().find(|(l, _)| *l == label).map(|(_, v)| v.as_slice())
    }

    /// Checks that there is at least one parameter and that every parameter value is one
    /// well-formed CBOR item (values are written as they are).
    pub fn validate(&self) -> Result<(), DecodeError> {
        if self.parameters.iter().all(|(l, _)| *l == SYSTEM_COMPONENT_ID) {
            return Err(DecodeError::Rule(
                "system-property-claims needs at least one SUIT parameter besides \
                 system-component-id (+ $$SUIT_Parameters)",
            ));
        }
        let limits = crate::message::default_limits();
        for (_, value) in &self.parameters {
            teep_cbor::check(value, &limits)?;
        }
        Ok(())
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        const FIELD: &str = "tc-list.system-property-claims";
        let n = r.map(FIELD)?;
        let mut component_id = None;
        let mut parameters = Vec::new();
        for _ in 0..n {
            let key = r.int("tc-list.system-property-claims key")?;
            if key == SYSTEM_COMPONENT_ID {
                component_id = Some(ComponentId::decode(r, "tc-list.system-component-id")?);
            } else {
                parameters.push((key, r.raw("tc-list.system-property-claims value")?.to_vec()));
            }
        }
        let component_id =
            component_id.ok_or(DecodeError::Missing { field: "tc-list.system-component-id" })?;
        Ok(SystemPropertyClaims { component_id, parameters })
    }

    /// Writes the map with keys in deterministic order (RFC 8949 §4.2.1): non-negative
    /// labels ascending, then negative labels by magnitude.
    pub(crate) fn encode(&self, w: &mut Writer) {
        let mut params: Vec<&(i64, Vec<u8>)> =
            self.parameters.iter().filter(|(l, _)| *l != SYSTEM_COMPONENT_ID).collect();
        params.sort_by_key(|(l, _)| int_key_order(*l));
        w.map(params.len().saturating_add(1));
        w.uint(0);
        self.component_id.encode(w);
        for (label, value) in params {
            w.int(*label);
            w.raw(value);
        }
    }
}

/// Sort key reproducing the byte-wise order of preferred-serialized integer keys.
fn int_key_order(v: i64) -> (bool, u64) {
    if v >= 0 { (false, v.unsigned_abs()) } else { (true, (!v).unsigned_abs()) }
}

/// A Trusted Component the device wants installed (requested-tc-info, §5.2).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct RequestedTcInfo {
    /// component-id.
    pub component_id: ComponentId,
    /// tc-manifest-sequence-number: the minimum acceptable manifest sequence number.
    pub tc_manifest_sequence_number: Option<u64>,
    /// have-binary: the Agent already holds the binary and needs only the manifest.
    pub have_binary: Option<bool>,
}

impl RequestedTcInfo {
    /// Checks "If have-binary is true, the tc-manifest-sequence-number field MUST be present"
    /// (§5.2).
    pub fn validate(&self) -> Result<(), DecodeError> {
        if self.have_binary == Some(true) && self.tc_manifest_sequence_number.is_none() {
            return Err(DecodeError::Rule(
                "requested-tc-info: have-binary true requires tc-manifest-sequence-number",
            ));
        }
        Ok(())
    }

    /// Decodes one entry; unknown keys are skipped (the map has no extension point, but a
    /// newer peer may add one).
    pub(crate) fn decode(r: &mut Reader<'_>, numbering: Numbering) -> Result<Self, DecodeError> {
        let n = r.map("requested-tc-info")?;
        let mut component_id = None;
        let mut info = RequestedTcInfo::default();
        for _ in 0..n {
            if r.peek_major("requested-tc-info key")? != major::UNSIGNED {
                r.raw("requested-tc-info key")?;
                r.raw("requested-tc-info value")?;
                continue;
            }
            let key = r.uint("requested-tc-info key")?;
            match Label::from_wire(key, numbering) {
                Some(Label::COMPONENT_ID) => {
                    component_id = Some(ComponentId::decode(r, "requested-tc-info.component-id")?);
                }
                Some(Label::TC_MANIFEST_SEQUENCE_NUMBER) => {
                    info.tc_manifest_sequence_number =
                        Some(r.uint("requested-tc-info.tc-manifest-sequence-number")?);
                }
                Some(Label::HAVE_BINARY) => {
                    info.have_binary = Some(r.bool("requested-tc-info.have-binary")?);
                }
                _ => {
                    r.raw("requested-tc-info value")?;
                }
            }
        }
        info.component_id =
            component_id.ok_or(DecodeError::Missing { field: "requested-tc-info.component-id" })?;
        info.validate()?;
        Ok(info)
    }

    pub(crate) fn encode(&self, w: &mut Writer, numbering: Numbering) {
        let len = 1
            + usize::from(self.tc_manifest_sequence_number.is_some())
            + usize::from(self.have_binary.is_some());
        w.map(len);
        // Labels 15 < 16 < 17 (RFC) and 16 < 17 < 18 (legacy): table order is ascending.
        w.uint(Label::COMPONENT_ID.to_wire(numbering));
        self.component_id.encode(w);
        if let Some(seq) = self.tc_manifest_sequence_number {
            w.uint(Label::TC_MANIFEST_SEQUENCE_NUMBER.to_wire(numbering));
            w.uint(seq);
        }
        if let Some(have) = self.have_binary {
            w.uint(Label::HAVE_BINARY.to_wire(numbering));
            w.bool(have);
        }
    }
}
