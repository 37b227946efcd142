//! `teep decode`: recognise, validate and print TEEP messages, COSE structures, SUIT envelopes
//! and EATs, from binary or hex text (with `#` comments, as the specifications' `.hex.txt`).

use crate::diag::{self, Ctx, Item, Payload};
use teep_proto::Numbering;

/// What the input turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A bare TEEP message.
    Teep,
    /// A COSE_Sign1 (tagged or not) wrapping a TEEP message.
    SignedTeep,
    /// A COSE_Sign wrapping a TEEP message.
    MultiSignedTeep,
    /// A SUIT envelope.
    SuitEnvelope,
    /// An EAT (signed CWT or bare claim set).
    Eat,
    /// A COSE structure with some other payload.
    Cose,
}

impl Kind {
    /// A short name for the kind.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Teep => "TEEP message",
            Kind::SignedTeep => "COSE_Sign1 carrying a TEEP message",
            Kind::MultiSignedTeep => "COSE_Sign carrying a TEEP message",
            Kind::SuitEnvelope => "SUIT envelope",
            Kind::Eat => "EAT claim set",
            Kind::Cose => "COSE structure",
        }
    }
}

/// Turns input that is hex text (with `#` comments and white space) into bytes; binary input is
/// returned unchanged.
pub fn input_bytes(raw: &[u8]) -> Result<Vec<u8>, String> {
    let Ok(text) = std::str::from_utf8(raw) else { return Ok(raw.to_vec()) };
    let mut digits = String::new();
    for (lineno, line) in text.lines().enumerate() {
        let content = line.split('#').next().unwrap_or("");
        for (col, c) in content.char_indices() {
            if c.is_ascii_hexdigit() {
                digits.push(c);
            } else if !c.is_whitespace() {
                // Not hex text after all. Binary CBOR that happens to be UTF-8 rarely consists
                // of printable text only; text that is not hex is a mistake worth naming.
                if !looks_like_text(text) {
                    return Ok(raw.to_vec());
                }
                return Err(format!(
                    "line {}, column {}: {c:?} is not a hex digit (hex input allows `#` comments)",
                    lineno + 1,
                    col + 1
                ));
            }
        }
    }
    if digits.is_empty() {
        return Err("input is empty".into());
    }
    if digits.len() % 2 == 1 {
        return Err(format!("hex input has an odd number of digits ({})", digits.len()));
    }
    hex::decode(&digits).map_err(|e| format!("hex input: {e}"))
}

/// Printable text (with line breaks and tabs), as opposed to binary CBOR.
fn looks_like_text(text: &str) -> bool {
    text.chars().all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
}

/// The result of decoding: what it is, and its annotated diagnostic notation.
#[derive(Debug)]
pub struct Decoded {
    /// What the input is.
    pub kind: Kind,
    /// A one-line summary of the validated content.
    pub summary: String,
    /// Annotated CBOR diagnostic notation.
    pub diagnostic: String,
}

/// Recognises, validates and prints `bytes`.
pub fn decode(bytes: &[u8], wire: Numbering) -> Result<Decoded, String> {
    let item = diag::parse(bytes)?;
    let kind = classify(&item);
    let other = match wire {
        Numbering::Rfc => Numbering::Legacy,
        Numbering::Legacy => Numbering::Rfc,
    };
    let summary = match validate(kind, &item, bytes, wire) {
        Ok(summary) => summary,
        Err(e) if is_teep(kind) && validate(kind, &item, bytes, other).is_ok() => {
            return Err(format!(
                "{e} (it is valid in the {} numbering: try --wire {})",
                name(other),
                name(other)
            ));
        }
        Err(e) => return Err(e),
    };
    let summary = match (
        is_teep(kind),
        unknown_labels(kind, bytes, wire),
        unknown_labels(kind, bytes, other),
    ) {
        (true, Some(here), Some(there)) if there < here => format!(
            "{summary}; note: {here} option label(s) unknown in the {} numbering, {there} in the {} \
             numbering (--wire {})",
            name(wire),
            name(other),
            name(other)
        ),
        _ => summary,
    };
    let ctx = match kind {
        Kind::Teep => Ctx::Teep(wire),
        Kind::SignedTeep => Ctx::CoseSign1(Payload::Teep(wire)),
        Kind::MultiSignedTeep => Ctx::CoseSign(Payload::Teep(wire)),
        Kind::SuitEnvelope => Ctx::SuitEnvelope,
        Kind::Eat if matches!(item, Item::Map(_)) => Ctx::Eat,
        Kind::Eat => Ctx::CoseSign1(Payload::Eat),
        Kind::Cose => Ctx::CoseSign1(Payload::Plain),
    };
    Ok(Decoded { kind, summary, diagnostic: diag::print(&item, ctx) })
}

fn name(n: Numbering) -> &'static str {
    match n {
        Numbering::Rfc => "rfc",
        Numbering::Legacy => "legacy",
    }
}

fn is_teep(kind: Kind) -> bool {
    matches!(kind, Kind::Teep | Kind::SignedTeep | Kind::MultiSignedTeep)
}

/// How many option labels of a TEEP message `wire` does not know, if it decodes.
fn unknown_labels(kind: Kind, bytes: &[u8], wire: Numbering) -> Option<usize> {
    let payload = match kind {
        Kind::Teep => bytes,
        Kind::SignedTeep => teep_cose::Sign1::decode(bytes).ok()?.payload?,
        Kind::MultiSignedTeep => teep_cose::CoseSign::decode(bytes).ok()?.payload?,
        _ => return None,
    };
    let msg = teep_proto::Message::decode(payload, wire).ok()?;
    Some(match &msg {
        teep_proto::Message::QueryRequest(m) => m.extensions.len(),
        teep_proto::Message::QueryResponse(m) => m.extensions.len(),
        teep_proto::Message::Update(m) => m.extensions.len(),
        teep_proto::Message::Success(m) => m.extensions.len(),
        teep_proto::Message::Error(m) => m.extensions.len(),
    })
}

fn untag<'a, 'b>(item: &'b Item<'a>) -> (Option<u64>, &'b Item<'a>) {
    match item {
        Item::Tag(t, inner) => (Some(*t), inner),
        other => (None, other),
    }
}

fn classify(item: &Item<'_>) -> Kind {
    let (tag, inner) = untag(item);
    match (tag, inner) {
        (Some(107), _) => Kind::SuitEnvelope,
        (Some(61), _) => Kind::Eat,
        (Some(98), _) => Kind::MultiSignedTeep,
        (_, Item::Array(a)) if is_cose_shape(a) => {
            let multi = matches!(a.get(3), Some(Item::Array(_)));
            let payload = match a.get(2) {
                Some(Item::Bytes(p)) => diag::parse_opt(p),
                _ => None,
            };
            match payload {
                Some(Item::Array(m)) if matches!(m.first(), Some(Item::Uint(_))) => {
                    if multi {
                        Kind::MultiSignedTeep
                    } else {
                        Kind::SignedTeep
                    }
                }
                Some(Item::Map(_)) => Kind::Eat,
                _ => Kind::Cose,
            }
        }
        (_, Item::Array(a)) if matches!(a.first(), Some(Item::Uint(_))) => Kind::Teep,
        (_, Item::Map(m)) if m.iter().any(|(k, _)| k.int() == Some(3)) => {
            if m.iter().any(|(k, _)| matches!(k.int(), Some(256..=275) | Some(10))) {
                Kind::Eat
            } else {
                Kind::SuitEnvelope
            }
        }
        (_, Item::Map(_)) => Kind::Eat,
        _ => Kind::Cose,
    }
}

fn item_kind(item: &Item<'_>) -> &'static str {
    match item {
        Item::Uint(_) | Item::Nint(_) => "integer",
        Item::Bytes(_) => "byte string",
        Item::Text(_) => "text string",
        Item::Array(_) => "array",
        Item::Map(_) => "map",
        Item::Tag(..) => "tag",
        Item::Float(_) => "float",
        _ => "simple value",
    }
}

fn is_cose_shape(a: &[Item<'_>]) -> bool {
    a.len() == 4
        && matches!(a[0], Item::Bytes(_))
        && matches!(a[1], Item::Map(_))
        && matches!(a[2], Item::Bytes(_) | Item::Null)
}

fn validate(kind: Kind, item: &Item<'_>, bytes: &[u8], wire: Numbering) -> Result<String, String> {
    match kind {
        Kind::Teep => {
            let msg = teep_proto::Message::decode(bytes, wire).map_err(|e| format!("{e}"))?;
            Ok(teep_proto::describe(&msg))
        }
        Kind::SignedTeep => {
            let s = teep_cose::Sign1::decode(bytes).map_err(|e| format!("COSE_Sign1: {e}"))?;
            let payload = s.payload.ok_or("COSE_Sign1 has no payload")?;
            let msg =
                teep_proto::Message::decode(payload, wire).map_err(|e| format!("payload: {e}"))?;
            let alg = s.algorithm().map_err(|e| format!("COSE_Sign1: {e}"))?;
            Ok(format!(
                "{} (COSE_Sign1, alg {}, kid {}; signature not checked)",
                teep_proto::describe(&msg),
                alg.0,
                s.kid().map(hex::encode).unwrap_or_else(|| "absent".into())
            ))
        }
        Kind::MultiSignedTeep => {
            let s = teep_cose::CoseSign::decode(bytes).map_err(|e| format!("COSE_Sign: {e}"))?;
            let payload = s.payload.ok_or("COSE_Sign has no payload")?;
            let msg =
                teep_proto::Message::decode(payload, wire).map_err(|e| format!("payload: {e}"))?;
            Ok(format!(
                "{} (COSE_Sign with {} signatures; signatures not checked)",
                teep_proto::describe(&msg),
                s.signatures.len()
            ))
        }
        Kind::SuitEnvelope => {
            let env =
                teep_suit::Envelope::decode(bytes).map_err(|e| format!("SUIT envelope: {e}"))?;
            let m = env.inspect_unauthenticated().map_err(|e| format!("SUIT manifest: {e}"))?;
            let components: Vec<String> =
                m.components.iter().map(|c| crate::component_text(&c.0)).collect();
            Ok(format!(
                "{}manifest sequence number {}, components {}{}; \
                 signature not checked",
                if env.is_tagged() { "tagged, " } else { "" },
                m.sequence_number,
                components.join(", "),
                m.manifest_component_id
                    .as_ref()
                    .map(|c| format!(", manifest-component-id {}", crate::component_text(&c.0)))
                    .unwrap_or_default(),
            ))
        }
        Kind::Eat => {
            let (_, inner) = untag(item);
            let claims = match inner {
                Item::Map(m) => m.len(),
                Item::Array(_) => {
                    let s = teep_cose::Sign1::decode(bytes)
                        .map_err(|e| format!("EAT COSE_Sign1: {e}"))?;
                    let payload = s.payload.ok_or("signed EAT has no payload")?;
                    match diag::parse(payload)? {
                        Item::Map(m) => m.len(),
                        _ => return Err("signed EAT payload is not a claims map".into()),
                    }
                }
                _ => return Err("EAT is neither a claims map nor a COSE_Sign1".into()),
            };
            Ok(format!("EAT with {claims} claims"))
        }
        Kind::Cose => {
            let (_, inner) = untag(item);
            if !matches!(inner, Item::Array(_)) {
                return Err(format!(
                    "a lone CBOR {}, not a TEEP message, COSE structure, SUIT envelope or EAT",
                    item_kind(inner)
                ));
            }
            teep_cose::Sign1::decode(bytes).map_err(|e| format!("COSE_Sign1: {e}"))?;
            Ok("COSE_Sign1 with an unrecognised payload".into())
        }
    }
}
