//! Annotated CBOR diagnostic notation (RFC 8949 §8, RFC 8610 Appendix G) for `teep decode`.
//!
//! The printer knows the shapes of TEEP messages, COSE structures, SUIT envelopes and manifests,
//! and EAT claim sets, and writes each known map key and message type with its name as a
//! `/ comment /`, the way the specifications print their examples. Byte strings that wrap CBOR
//! (`bstr .cbor`) are opened and printed as `<< … >>`.
//!
//! Input is parsed into a small tree after [`teep_cbor::check`] has bounded its depth, length and
//! item counts, so printing recursion is bounded by the check's depth limit.

use std::fmt::Write as _;

use minicbor::data::Type;
use minicbor::decode::Decoder;

/// Depth, length and item limits for anything `teep decode` reads.
pub fn limits() -> teep_cbor::Limits {
    teep_cbor::Limits { max_depth: 48, max_len: 64 << 20, max_items: 1 << 20 }
}

/// One decoded CBOR data item.
#[derive(Debug, Clone, PartialEq)]
pub enum Item<'a> {
    /// Major type 0.
    Uint(u64),
    /// Major type 1, as the value `-1 - n` in 128 bits.
    Nint(i128),
    /// Major type 2.
    Bytes(&'a [u8]),
    /// Major type 3.
    Text(&'a str),
    /// Major type 4.
    Array(Vec<Item<'a>>),
    /// Major type 5, in the order received.
    Map(Vec<(Item<'a>, Item<'a>)>),
    /// Major type 6.
    Tag(u64, Box<Item<'a>>),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// `undefined`.
    Undefined,
    /// Other simple values.
    Simple(u8),
    /// Floating point numbers of any width.
    Float(f64),
}

impl Item<'_> {
    /// The integer value of a key or number, if it is one.
    pub fn int(&self) -> Option<i128> {
        match self {
            Item::Uint(v) => Some(i128::from(*v)),
            Item::Nint(v) => Some(*v),
            _ => None,
        }
    }
}

/// Parses exactly one well-formed CBOR item (checked strictly first).
pub fn parse(bytes: &[u8]) -> Result<Item<'_>, String> {
    teep_cbor::check(bytes, &limits()).map_err(|e| format!("not well-formed CBOR: {e}"))?;
    let mut d = Decoder::new(bytes);
    parse_item(&mut d).map_err(|e| format!("CBOR: {e}"))
}

/// Parses one CBOR item if the bytes are exactly one well-formed item, for peeking into byte
/// strings that may wrap CBOR.
pub fn parse_opt(bytes: &[u8]) -> Option<Item<'_>> {
    if bytes.is_empty() {
        return None;
    }
    parse(bytes).ok()
}

fn parse_item<'a>(d: &mut Decoder<'a>) -> Result<Item<'a>, minicbor::decode::Error> {
    Ok(match d.datatype()? {
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => Item::Uint(d.u64()?),
        Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Int => {
            let i = d.int()?;
            Item::Nint(i128::from(i))
        }
        Type::Bytes => Item::Bytes(d.bytes()?),
        Type::String => Item::Text(d.str()?),
        Type::Array => {
            let n = d.array()?.unwrap_or(0);
            let mut v = Vec::new();
            for _ in 0..n {
                v.push(parse_item(d)?);
            }
            Item::Array(v)
        }
        Type::Map => {
            let n = d.map()?.unwrap_or(0);
            let mut v = Vec::new();
            for _ in 0..n {
                let k = parse_item(d)?;
                let val = parse_item(d)?;
                v.push((k, val));
            }
            Item::Map(v)
        }
        Type::Tag => {
            let t = d.tag()?;
            Item::Tag(t.as_u64(), Box::new(parse_item(d)?))
        }
        Type::Bool => Item::Bool(d.bool()?),
        Type::Null => {
            d.skip()?;
            Item::Null
        }
        Type::Undefined => {
            d.skip()?;
            Item::Undefined
        }
        Type::Simple => Item::Simple(d.simple()?),
        Type::F16 | Type::F32 | Type::F64 => Item::Float(d.f64()?),
        other => {
            return Err(minicbor::decode::Error::message(format!("unexpected {other}")));
        }
    })
}

/// What a value is, as far as annotation goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ctx {
    /// Nothing known.
    Plain,
    /// A TEEP message array in the given numbering.
    Teep(teep_proto::Numbering),
    /// The options map of a TEEP message.
    TeepOptions(teep_proto::Numbering),
    /// A COSE header map.
    CoseHeader,
    /// A COSE_Key map.
    CoseKey,
    /// COSE_Sign1 array; the payload is of the given kind.
    CoseSign1(Payload),
    /// COSE_Sign array; the payload is of the given kind.
    CoseSign(Payload),
    /// A SUIT_Envelope map.
    SuitEnvelope,
    /// A SUIT_Authentication array.
    SuitAuth,
    /// A SUIT_Manifest map.
    SuitManifest,
    /// A SUIT_Common map.
    SuitCommon,
    /// A SUIT_Command_Sequence array.
    SuitCommands,
    /// A map of SUIT parameters.
    SuitParameters,
    /// A SUIT text map.
    SuitText,
    /// An EAT claim set (CWT claims).
    Eat,
    /// A SUIT_Digest array.
    SuitDigest,
}

/// The kind of payload a COSE structure carries, for annotating it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    /// A TEEP message.
    Teep(teep_proto::Numbering),
    /// An EAT claim set.
    Eat,
    /// A SUIT_Digest (the detached payload of a SUIT authentication block).
    SuitDigest,
    /// Unknown.
    Plain,
}

/// Writes `item` in annotated diagnostic notation.
pub fn print(item: &Item<'_>, ctx: Ctx) -> String {
    let mut out = String::new();
    write_item(&mut out, item, ctx, 0);
    out.push('\n');
    out
}

fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn write_item(out: &mut String, item: &Item<'_>, ctx: Ctx, level: usize) {
    match item {
        Item::Uint(v) => {
            let _ = write!(out, "{v}");
        }
        Item::Nint(v) => {
            let _ = write!(out, "{v}");
        }
        Item::Bytes(b) => write_bytes(out, b, ctx, level),
        Item::Text(t) => {
            let _ = write!(out, "{t:?}");
        }
        Item::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Item::Null => out.push_str("null"),
        Item::Undefined => out.push_str("undefined"),
        Item::Simple(s) => {
            let _ = write!(out, "simple({s})");
        }
        Item::Float(f) => {
            let _ = write!(out, "{f:?}");
        }
        Item::Tag(t, inner) => {
            let (name, inner_ctx) = tag_context(*t, inner, ctx);
            if let Some(name) = name {
                let _ = write!(out, "/ {name} / ");
            }
            let _ = write!(out, "{t}(");
            write_item(out, inner, inner_ctx, level);
            out.push(')');
        }
        Item::Array(items) => write_array(out, items, ctx, level),
        Item::Map(entries) => write_map(out, entries, ctx, level),
    }
}

fn write_bytes(out: &mut String, b: &[u8], ctx: Ctx, level: usize) {
    // Byte strings that wrap CBOR of a known kind are opened.
    if ctx != Ctx::Plain
        && let Some(inner) = parse_opt(b)
    {
        out.push_str("<< ");
        write_item(out, &inner, ctx, level);
        out.push_str(" >>");
        return;
    }
    let _ = write!(out, "h'{}'", hex::encode(b));
}

fn tag_context(tag: u64, inner: &Item<'_>, ctx: Ctx) -> (Option<&'static str>, Ctx) {
    let payload = match ctx {
        Ctx::CoseSign1(p) | Ctx::CoseSign(p) => p,
        _ => guess_payload(inner),
    };
    match tag {
        18 => (Some("COSE_Sign1"), Ctx::CoseSign1(payload)),
        98 => (Some("COSE_Sign"), Ctx::CoseSign(payload)),
        17 => (Some("COSE_Mac0"), Ctx::CoseSign1(Payload::Plain)),
        16 => (Some("COSE_Encrypt0"), Ctx::Plain),
        96 => (Some("COSE_Encrypt"), Ctx::Plain),
        61 => (Some("CWT"), Ctx::CoseSign1(Payload::Eat)),
        107 => (Some("SUIT_Envelope"), Ctx::SuitEnvelope),
        _ => (None, ctx),
    }
}

/// Guesses what a COSE payload is from the structure it wraps.
fn guess_payload(inner: &Item<'_>) -> Payload {
    let Item::Array(parts) = inner else { return Payload::Plain };
    let Some(Item::Bytes(p)) = parts.get(2) else { return Payload::Plain };
    match parse_opt(p) {
        Some(Item::Array(a)) if matches!(a.first(), Some(Item::Uint(1..=6))) => {
            Payload::Teep(teep_proto::Numbering::Rfc)
        }
        Some(Item::Map(_)) => Payload::Eat,
        _ => Payload::Plain,
    }
}

fn write_array(out: &mut String, items: &[Item<'_>], ctx: Ctx, level: usize) {
    if items.is_empty() {
        out.push_str("[]");
        return;
    }
    let simple = items.iter().all(|i| matches!(i, Item::Uint(_) | Item::Nint(_) | Item::Bool(_)));
    if simple && items.len() <= 8 && !matches!(ctx, Ctx::SuitCommands | Ctx::Teep(_)) {
        out.push('[');
        for (i, it) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            write_item(out, it, Ctx::Plain, level);
        }
        out.push(']');
        return;
    }
    out.push_str("[\n");
    let mut i = 0;
    while i < items.len() {
        indent(out, level + 1);
        let it = &items[i];
        match ctx {
            // SUIT command sequences are pairs: command id, argument.
            Ctx::SuitCommands if i + 1 < items.len() => {
                let id = it.int();
                let name = id.and_then(suit_command_name).unwrap_or("command");
                let _ = write!(out, "/ {name} / ");
                write_item(out, it, Ctx::Plain, level + 1);
                out.push_str(", ");
                let arg_ctx = match id {
                    Some(19 | 20) => Ctx::SuitParameters,
                    Some(15 | 32 | 11) => Ctx::SuitCommands,
                    _ => Ctx::Plain,
                };
                if id == Some(15) {
                    // try-each: an array of command sequences.
                    write_try_each(out, &items[i + 1], level + 1);
                } else {
                    write_item(out, &items[i + 1], arg_ctx, level + 1);
                }
                i += 2;
                out.push_str(if i < items.len() { ",\n" } else { "\n" });
                continue;
            }
            _ => {
                let first = items.first().and_then(Item::int);
                let (label, c) = array_element(ctx, i, it, first);
                if let Some(label) = label {
                    let _ = write!(out, "/ {label} / ");
                }
                write_item(out, it, c, level + 1);
            }
        }
        i += 1;
        out.push_str(if i < items.len() { ",\n" } else { "\n" });
    }
    indent(out, level);
    out.push(']');
}

fn write_try_each(out: &mut String, item: &Item<'_>, level: usize) {
    match item {
        Item::Array(seqs) => {
            out.push_str("[\n");
            for (i, s) in seqs.iter().enumerate() {
                indent(out, level + 1);
                write_item(out, s, Ctx::SuitCommands, level + 1);
                out.push_str(if i + 1 < seqs.len() { ",\n" } else { "\n" });
            }
            indent(out, level);
            out.push(']');
        }
        other => write_item(out, other, Ctx::Plain, level),
    }
}

/// The name and context of element `i` of an array of kind `ctx`.
/// `first` is the first element of the array (the message type of a TEEP message).
fn array_element(ctx: Ctx, i: usize, it: &Item<'_>, first: Option<i128>) -> (Option<String>, Ctx) {
    match ctx {
        Ctx::Teep(n) => match i {
            0 => (it.int().map(|t| teep_type_name(t, n).to_string()), Ctx::Plain),
            1 => (Some("options".into()), Ctx::TeepOptions(n)),
            _ => (Some(teep_positional(first.map(|t| teep_type_name(t, n)), i).into()), Ctx::Plain),
        },
        Ctx::CoseSign1(p) => match i {
            0 => (Some("protected".into()), Ctx::CoseHeader),
            1 => (Some("unprotected".into()), Ctx::CoseHeader),
            2 => (Some("payload".into()), payload_ctx(p)),
            3 => (Some("signature".into()), Ctx::Plain),
            _ => (None, Ctx::Plain),
        },
        Ctx::CoseSign(p) => match i {
            0 => (Some("protected".into()), Ctx::CoseHeader),
            1 => (Some("unprotected".into()), Ctx::CoseHeader),
            2 => (Some("payload".into()), payload_ctx(p)),
            3 => (Some("signatures".into()), Ctx::CoseSign1(Payload::Plain)),
            _ => (None, Ctx::Plain),
        },
        Ctx::SuitAuth => match i {
            0 => (Some("digest".into()), Ctx::SuitDigest),
            _ => (Some("authentication block".into()), Ctx::CoseSign1(Payload::SuitDigest)),
        },
        Ctx::SuitDigest => match i {
            0 => (Some("algorithm-id".into()), Ctx::Plain),
            1 => (Some("digest-bytes".into()), Ctx::Plain),
            _ => (None, Ctx::Plain),
        },
        _ => (None, ctx_for_nested(ctx)),
    }
}

/// Arrays of signatures keep the COSE_Signature shape; other nested arrays lose the context.
fn ctx_for_nested(ctx: Ctx) -> Ctx {
    match ctx {
        Ctx::CoseSign1(_) | Ctx::SuitCommands | Ctx::Eat => ctx,
        _ => Ctx::Plain,
    }
}

fn payload_ctx(p: Payload) -> Ctx {
    match p {
        Payload::Teep(n) => Ctx::Teep(n),
        Payload::Eat => Ctx::Eat,
        Payload::SuitDigest => Ctx::SuitDigest,
        Payload::Plain => Ctx::Plain,
    }
}

fn write_map(out: &mut String, entries: &[(Item<'_>, Item<'_>)], ctx: Ctx, level: usize) {
    if entries.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push_str("{\n");
    for (i, (k, v)) in entries.iter().enumerate() {
        indent(out, level + 1);
        let (name, vctx) = map_entry(ctx, k);
        if let Some(name) = name {
            let _ = write!(out, "/ {name} / ");
        }
        write_item(out, k, Ctx::Plain, level + 1);
        out.push_str(": ");
        write_item(out, v, vctx, level + 1);
        out.push_str(if i + 1 < entries.len() { ",\n" } else { "\n" });
    }
    indent(out, level);
    out.push('}');
}

/// The name of a key in a map of kind `ctx`, and the context of its value.
fn map_entry(ctx: Ctx, key: &Item<'_>) -> (Option<&'static str>, Ctx) {
    let Some(k) = key.int() else {
        // Integrated payloads and dependencies sit under text keys in an envelope.
        return match ctx {
            Ctx::SuitEnvelope => (Some("integrated payload"), Ctx::Plain),
            _ => (None, Ctx::Plain),
        };
    };
    match ctx {
        Ctx::TeepOptions(n) => teep_option(k, n),
        Ctx::CoseHeader => (cose_header_name(k), cose_header_ctx(k)),
        Ctx::CoseKey => (cose_key_name(k), Ctx::Plain),
        Ctx::SuitEnvelope => match k {
            2 => (Some("authentication-wrapper"), Ctx::SuitAuth),
            3 => (Some("manifest"), Ctx::SuitManifest),
            15 => (Some("dependency-resolution"), Ctx::SuitCommands),
            16 => (Some("payload-fetch"), Ctx::SuitCommands),
            20 => (Some("install"), Ctx::SuitCommands),
            23 => (Some("text"), Ctx::SuitText),
            _ => (None, Ctx::Plain),
        },
        Ctx::SuitManifest => match k {
            1 => (Some("manifest-version"), Ctx::Plain),
            2 => (Some("manifest-sequence-number"), Ctx::Plain),
            3 => (Some("common"), Ctx::SuitCommon),
            4 => (Some("reference-uri"), Ctx::Plain),
            5 => (Some("manifest-component-id"), Ctx::Plain),
            7 => (Some("validate"), Ctx::SuitCommands),
            8 => (Some("load"), Ctx::SuitCommands),
            9 => (Some("invoke"), Ctx::SuitCommands),
            15 => (Some("dependency-resolution"), Ctx::SuitCommands),
            16 => (Some("payload-fetch"), Ctx::SuitCommands),
            17 => (Some("candidate-verification"), Ctx::SuitCommands),
            20 => (Some("install"), Ctx::SuitCommands),
            23 => (Some("text"), Ctx::SuitText),
            _ => (None, Ctx::Plain),
        },
        Ctx::SuitCommon => match k {
            1 => (Some("dependencies"), Ctx::Plain),
            2 => (Some("components"), Ctx::Plain),
            4 => (Some("shared-sequence"), Ctx::SuitCommands),
            _ => (None, Ctx::Plain),
        },
        Ctx::SuitParameters => (suit_parameter_name(k), suit_parameter_ctx(k)),
        Ctx::SuitText => (suit_text_name(k), Ctx::Plain),
        Ctx::Eat => eat_claim(k),
        _ => (None, Ctx::Plain),
    }
}

fn teep_type_name(t: i128, n: teep_proto::Numbering) -> &'static str {
    let legacy = n == teep_proto::Numbering::Legacy;
    match (t, legacy) {
        (1, _) => "QueryRequest",
        (2, _) => "QueryResponse",
        (3, _) => "Update",
        (4, false) | (5, true) => "Success",
        (5, false) | (6, true) => "Error",
        _ => "unknown message type",
    }
}

/// The name of positional field `i` (after type and options) of a TEEP message.
fn teep_positional(kind: Option<&str>, i: usize) -> &'static str {
    match (kind, i) {
        (Some("QueryRequest"), 2) => "supported-teep-cipher-suites",
        (Some("QueryRequest"), 3) => "supported-suit-cose-profiles",
        (Some("QueryRequest"), 4) => "data-item-requested",
        (Some("Error"), 2) => "err-code",
        _ => "field",
    }
}

fn teep_option(k: i128, n: teep_proto::Numbering) -> (Option<&'static str>, Ctx) {
    // Labels 1..=4 are the same in both numberings; from 5 on the legacy label is one higher.
    let rfc = match (n, k) {
        (_, 1..=4) => k,
        (teep_proto::Numbering::Legacy, 5) => return (None, Ctx::Plain),
        (teep_proto::Numbering::Legacy, _) => k - 1,
        (teep_proto::Numbering::Rfc, _) => k,
    };
    let name = match rfc {
        1 => "supported-teep-cipher-suites",
        2 => "challenge",
        3 => "versions",
        4 => "supported-suit-cose-profiles",
        5 => "selected-version",
        6 => "attestation-payload",
        7 => "tc-list",
        8 => "ext-list",
        9 => "manifest-list",
        10 => "msg",
        11 => "err-msg",
        12 => "attestation-payload-format",
        13 => "requested-tc-list",
        14 => "unneeded-manifest-list",
        15 => "component-id",
        16 => "tc-manifest-sequence-number",
        17 => "have-binary",
        18 => "suit-reports",
        19 => "token",
        20 => "supported-freshness-mechanisms",
        21 => "err-lang",
        22 => "err-code",
        _ => return (None, Ctx::Plain),
    };
    let ctx = match rfc {
        9 => Ctx::SuitEnvelope,
        6 => Ctx::CoseSign1(Payload::Eat),
        7 | 13 => Ctx::TeepOptions(n),
        _ => Ctx::Plain,
    };
    (Some(name), ctx)
}

fn cose_header_name(k: i128) -> Option<&'static str> {
    Some(match k {
        1 => "alg",
        2 => "crit",
        3 => "content type",
        4 => "kid",
        5 => "IV",
        6 => "Partial IV",
        7 => "counter signature",
        -1 => "ephemeral key",
        33 => "x5chain",
        34 => "x5t",
        _ => return None,
    })
}

fn cose_header_ctx(k: i128) -> Ctx {
    if k == -1 { Ctx::CoseKey } else { Ctx::Plain }
}

fn cose_key_name(k: i128) -> Option<&'static str> {
    Some(match k {
        1 => "kty",
        2 => "kid",
        3 => "alg",
        -1 => "crv",
        -2 => "x",
        -3 => "y",
        _ => return None,
    })
}

fn suit_command_name(id: i128) -> Option<&'static str> {
    Some(match id {
        1 => "condition-vendor-identifier",
        2 => "condition-class-identifier",
        3 => "condition-image-match",
        5 => "condition-component-slot",
        6 => "condition-check-content",
        7 => "condition-dependency-integrity",
        8 => "condition-is-dependency",
        11 => "directive-process-dependency",
        12 => "directive-set-component-index",
        14 => "condition-abort",
        15 => "directive-try-each",
        18 => "directive-write",
        19 => "directive-set-parameters",
        20 => "directive-override-parameters",
        21 => "directive-fetch",
        22 => "directive-copy",
        23 => "directive-invoke",
        24 => "condition-device-identifier",
        31 => "directive-swap",
        32 => "directive-run-sequence",
        33 => "directive-unlink",
        _ => return None,
    })
}

fn suit_parameter_name(k: i128) -> Option<&'static str> {
    Some(match k {
        1 => "vendor-identifier",
        2 => "class-identifier",
        3 => "image-digest",
        5 => "component-slot",
        12 => "strict-order",
        13 => "soft-failure",
        14 => "image-size",
        18 => "content",
        19 => "encryption-info",
        21 => "uri",
        22 => "source-component",
        23 => "invoke-args",
        24 => "device-identifier",
        25 => "fetch-arguments",
        _ => return None,
    })
}

fn suit_parameter_ctx(k: i128) -> Ctx {
    if k == 3 { Ctx::SuitDigest } else { Ctx::Plain }
}

fn suit_text_name(k: i128) -> Option<&'static str> {
    Some(match k {
        1 => "manifest-description",
        2 => "update-description",
        3 => "manifest-json-source",
        4 => "manifest-yaml-source",
        _ => return None,
    })
}

fn eat_claim(k: i128) -> (Option<&'static str>, Ctx) {
    let value_ctx = if k == 8 { Ctx::CoseKey } else { Ctx::Plain };
    // The EAT crate's table (IANA CWT claims, EAR claims, teep-rs private claims) first.
    if let Some(name) = i64::try_from(k).ok().and_then(teep_eat::claims::label::name) {
        return (Some(name), value_ctx);
    }
    let name = match k {
        1 => "iss",
        2 => "sub",
        3 => "aud",
        4 => "exp",
        5 => "nbf",
        6 => "iat",
        7 => "cti",
        8 => "cnf",
        10 => "eat_nonce",
        256 => "ueid",
        257 => "sueids",
        258 => "oemid",
        259 => "hwmodel",
        260 => "hwversion",
        261 => "uptime",
        262 => "oemboot",
        263 => "dbgstat",
        264 => "location",
        265 => "eat_profile",
        266 => "submods",
        267 => "bootcount",
        268 => "bootseed",
        269 => "dloas",
        270 => "swname",
        271 => "swversion",
        272 => "manifests",
        273 => "measurements",
        274 => "measres",
        275 => "intuse",
        _ => return (None, Ctx::Plain),
    };
    (Some(name), value_ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotates_teep_option_labels_per_numbering() {
        // [1, {20: h'..'}, [[[18, -9]]], [[-16, -9, -29, 1]], 2] in legacy numbering: 20 is token.
        let bytes = hex::decode("8501a1144aa0a1a2a3a4a5a6a7a8a9818182122881842f28381c0102")
            .unwrap_or_default();
        let item = parse(&bytes).expect("well-formed");
        let legacy = print(&item, Ctx::Teep(teep_proto::Numbering::Legacy));
        assert!(legacy.contains("/ QueryRequest / 1"), "{legacy}");
        assert!(legacy.contains("/ token / 20"), "{legacy}");
        let rfc = print(&item, Ctx::Teep(teep_proto::Numbering::Rfc));
        assert!(rfc.contains("/ supported-freshness-mechanisms / 20"), "{rfc}");
    }

    #[test]
    fn opens_cbor_in_byte_strings_only_where_known() {
        // {3: h'a10102'} as a SUIT envelope: the manifest bstr holds {1: 2}.
        let bytes = [0xa1, 0x03, 0x43, 0xa1, 0x01, 0x02];
        let item = parse(&bytes).expect("well-formed");
        let s = print(&item, Ctx::SuitEnvelope);
        assert!(s.contains("/ manifest / 3: << {"), "{s}");
        assert!(s.contains("/ manifest-version / 1: 2"), "{s}");
        let plain = print(&item, Ctx::Plain);
        assert!(plain.contains("h'a10102'"), "{plain}");
    }

    #[test]
    fn rejects_malformed_input_with_a_position() {
        let err = parse(&[0x82, 0x01]).expect_err("truncated");
        assert!(err.contains("not well-formed"), "{err}");
    }
}
