//! The options map shared by every message (draft-ietf-teep-protocol-26 §5):
//!
//! ```cddl
//! teep-message-framework = [
//!   type: $teep-type / $teep-type-extension,
//!   options: { * teep-option },
//!   * any; further elements, e.g., for data-item-requested
//! ]
//! teep-option = (uint => any)
//! ```
//!
//! Labels a message does not define are kept as [`Extension`]s (§6: "treating them as unknown
//! optional parameters without failing to process the message"). On encoding, options are
//! written in ascending label order; in the legacy numbering the token comes first, the order
//! every legacy example and peer uses.

use alloc::vec::Vec;

use crate::cipher_suite::{CipherSuite, SuitCoseProfile};
use crate::codec::{Reader, Writer, major};
use crate::component::{ComponentId, RequestedTcInfo, SystemPropertyClaims};
use crate::error::DecodeError;
use crate::freshness::FreshnessMechanism;
use crate::registry::{Label, Numbering};

/// An option whose label this crate does not know for the message it appeared in.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Extension {
    /// The label as it appeared on the wire.
    pub label: u64,
    /// The value as one encoded CBOR item. Whoever builds an extension must put exactly one
    /// well-formed item here; it is written as is.
    pub value: Vec<u8>,
}

/// Checks that every extension value is exactly one well-formed CBOR item: it is written to the
/// wire as is, so a malformed value would corrupt the whole message.
pub(crate) fn validate_extensions(extensions: &[Extension]) -> Result<(), DecodeError> {
    let limits = crate::message::default_limits();
    for ext in extensions {
        teep_cbor::check(&ext.value, &limits)?;
    }
    Ok(())
}

/// Decoding context: numbering, the limits for nested `bstr .cbor` items and the largest
/// manifest list.
pub(crate) struct Ctx {
    pub(crate) numbering: Numbering,
    pub(crate) limits: teep_cbor::Limits,
    pub(crate) max_manifests: usize,
}

impl Ctx {
    /// Refuses a list of `count` manifests (or manifest component ids) in `field` beyond
    /// [`crate::MessageLimits::max_manifests`], before any entry is read.
    pub(crate) fn check_manifests(
        &self,
        field: &'static str,
        count: u64,
    ) -> Result<(), DecodeError> {
        let limit = u64::try_from(self.max_manifests).unwrap_or(u64::MAX);
        if count > limit {
            return Err(DecodeError::TooMany { field, count, limit });
        }
        Ok(())
    }
}

/// `manifest-list => [ + bstr .cbor SUIT_Envelope ]`, at most `max_manifests` entries.
pub(crate) fn read_manifest_list(
    r: &mut Reader<'_>,
    ctx: &Ctx,
) -> Result<Vec<Vec<u8>>, DecodeError> {
    let field = "manifest-list";
    let n = r.nonempty_array(field)?;
    ctx.check_manifests(field, n)?;
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(r.bstr_cbor(field, &ctx.limits)?.to_vec());
    }
    Ok(out)
}

/// `unneeded-manifest-list => [ + SUIT_Component_Identifier ]`, at most `max_manifests`
/// entries.
pub(crate) fn read_unneeded_manifest_list(
    r: &mut Reader<'_>,
    ctx: &Ctx,
) -> Result<Vec<ComponentId>, DecodeError> {
    let field = "unneeded-manifest-list";
    let n = r.nonempty_array(field)?;
    ctx.check_manifests(field, n)?;
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(ComponentId::decode(r, field)?);
    }
    Ok(out)
}

/// Reads the options map. `known` decodes the value of a label the message defines and
/// returns `Ok(true)`, or returns `Ok(false)` without reading when the message does not define
/// the label; those values are kept as extensions.
pub(crate) fn decode<'b>(
    r: &mut Reader<'b>,
    ctx: &Ctx,
    mut known: impl FnMut(Label, &mut Reader<'b>) -> Result<bool, DecodeError>,
) -> Result<Vec<Extension>, DecodeError> {
    let n = r.map("options")?;
    let mut seen: u64 = 0;
    let mut extensions = Vec::new();
    for _ in 0..n {
        if r.peek_major("options label")? != major::UNSIGNED {
            return Err(DecodeError::WrongType {
                field: "options label",
                expected: "unsigned integer (teep-option = uint => any)",
            });
        }
        let wire = r.uint("options label")?;
        if wire < 64 {
            let bit = 1u64 << wire;
            if seen & bit != 0 {
                return Err(DecodeError::DuplicateLabel(wire));
            }
            seen |= bit;
        }
        let consumed = match Label::from_wire(wire, ctx.numbering) {
            Some(label) => known(label, r)?,
            None => false,
        };
        if !consumed {
            let value = r.raw("options extension value")?.to_vec();
            extensions.push(Extension { label: wire, value });
        }
    }
    // Kept in label order, the order the encoder writes them in, so that a decoded message
    // equals the decoding of its own re-encoding (fuzz finding extension-order-roundtrip).
    extensions.sort_by_key(|e| e.label);
    Ok(extensions)
}

/// An option value to be written.
pub(crate) enum Value<'a> {
    Bytes(&'a [u8]),
    Text(&'a str),
    Uint(u64),
    Uints(&'a [u32]),
    Suites(&'a [CipherSuite]),
    Profiles(&'a [SuitCoseProfile]),
    Freshness(&'a [FreshnessMechanism]),
    BytesList(&'a [Vec<u8>]),
    ComponentIds(&'a [ComponentId]),
    TcList(&'a [SystemPropertyClaims]),
    RequestedTcList(&'a [RequestedTcInfo]),
    Raw(&'a [u8]),
}

/// Collects options and writes them as one map in canonical order.
pub(crate) struct OptionsWriter<'a> {
    numbering: Numbering,
    entries: Vec<(u64, Value<'a>)>,
}

impl<'a> OptionsWriter<'a> {
    pub(crate) fn new(numbering: Numbering) -> Self {
        OptionsWriter { numbering, entries: Vec::new() }
    }

    pub(crate) fn put(&mut self, label: Label, value: Value<'a>) {
        self.entries.push((label.to_wire(self.numbering), value));
    }

    pub(crate) fn put_opt<T: ?Sized>(
        &mut self,
        label: Label,
        value: Option<&'a T>,
        f: impl FnOnce(&'a T) -> Value<'a>,
    ) {
        if let Some(v) = value {
            self.put(label, f(v));
        }
    }

    /// Adds extensions whose label no defined option of this message already uses (a
    /// colliding extension would make the map invalid, so it is not written).
    pub(crate) fn extensions(&mut self, extensions: &'a [Extension]) {
        for ext in extensions {
            if !self.entries.iter().any(|(l, _)| *l == ext.label) {
                self.entries.push((ext.label, Value::Raw(&ext.value)));
            }
        }
    }

    pub(crate) fn write(mut self, w: &mut Writer) {
        let token = Label::TOKEN.to_wire(self.numbering);
        let legacy = self.numbering == Numbering::Legacy;
        self.entries.sort_by_key(|(label, _)| (!(legacy && *label == token), *label));
        w.map(self.entries.len());
        for (label, value) in &self.entries {
            w.uint(*label);
            write_value(w, value, self.numbering);
        }
    }
}

fn write_value(w: &mut Writer, value: &Value<'_>, numbering: Numbering) {
    match value {
        Value::Bytes(b) => w.bytes(b),
        Value::Text(s) => w.text(s),
        Value::Uint(v) => w.uint(*v),
        Value::Uints(list) => {
            w.array(list.len());
            for v in *list {
                w.uint(u64::from(*v));
            }
        }
        Value::Suites(list) => {
            w.array(list.len());
            for s in *list {
                s.encode(w);
            }
        }
        Value::Profiles(list) => {
            w.array(list.len());
            for p in *list {
                p.encode(w);
            }
        }
        Value::Freshness(list) => {
            w.array(list.len());
            for m in *list {
                w.uint(m.value());
            }
        }
        Value::BytesList(list) => {
            w.array(list.len());
            for b in *list {
                w.bytes(b);
            }
        }
        Value::ComponentIds(list) => {
            w.array(list.len());
            for c in *list {
                c.encode(w);
            }
        }
        Value::TcList(list) => {
            w.array(list.len());
            for c in *list {
                c.encode(w);
            }
        }
        Value::RequestedTcList(list) => {
            w.array(list.len());
            for c in *list {
                c.encode(w, numbering);
            }
        }
        Value::Raw(item) => w.raw(item),
    }
}

// Readers for the option value types shared by several messages.

/// `[ + $teep-cipher-suite ]`
pub(crate) fn read_suites(
    r: &mut Reader<'_>,
    field: &'static str,
) -> Result<Vec<CipherSuite>, DecodeError> {
    let n = r.nonempty_array(field)?;
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(CipherSuite::decode(r)?);
    }
    Ok(out)
}

/// `[ + $suit-cose-profile ]`
pub(crate) fn read_profiles(
    r: &mut Reader<'_>,
    field: &'static str,
) -> Result<Vec<SuitCoseProfile>, DecodeError> {
    let n = r.nonempty_array(field)?;
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(SuitCoseProfile::decode(r)?);
    }
    Ok(out)
}

/// `[ + $freshness-mechanism ]`
pub(crate) fn read_freshness(r: &mut Reader<'_>) -> Result<Vec<FreshnessMechanism>, DecodeError> {
    const FIELD: &str = "supported-freshness-mechanisms";
    let n = r.nonempty_array(FIELD)?;
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(FreshnessMechanism::from_value(r.uint(FIELD)?));
    }
    Ok(out)
}

/// `[ + version ]` / `[ + ext-info ]` with `uint .size 4` elements.
pub(crate) fn read_uint32s(
    r: &mut Reader<'_>,
    field: &'static str,
) -> Result<Vec<u32>, DecodeError> {
    let n = r.nonempty_array(field)?;
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(r.uint32(field)?);
    }
    Ok(out)
}

/// `[ + bstr .cbor T ]` (suit-reports, manifest-list): each element must hold one
/// well-formed CBOR item.
pub(crate) fn read_cbor_bstrs(
    r: &mut Reader<'_>,
    ctx: &Ctx,
    field: &'static str,
) -> Result<Vec<Vec<u8>>, DecodeError> {
    let n = r.nonempty_array(field)?;
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(r.bstr_cbor(field, &ctx.limits)?.to_vec());
    }
    Ok(out)
}

/// `challenge => bstr .size (8..512)`
pub(crate) fn read_challenge(r: &mut Reader<'_>) -> Result<Vec<u8>, DecodeError> {
    Ok(r.bytes_sized("challenge", 8, 512)?.to_vec())
}

/// `text .size (1..128)` (err-msg, msg).
pub(crate) fn read_text_128(
    r: &mut Reader<'_>,
    field: &'static str,
) -> Result<alloc::string::String, DecodeError> {
    Ok(r.text_sized(field, 1, 128)?.into())
}

/// `err-lang => text .size (1..35)`
pub(crate) fn read_err_lang(r: &mut Reader<'_>) -> Result<alloc::string::String, DecodeError> {
    Ok(r.text_sized("err-lang", 1, 35)?.into())
}
