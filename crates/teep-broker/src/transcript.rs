//! Session transcript: what the Broker relayed, without tokens or payloads.
//!
//! The Broker does not interpret TEEP messages (RFC 9397 §6.1: it only relays them); for the
//! transcript it reads the COSE structure (RFC 9052 §4.2 COSE_Sign, §4.2 COSE_Sign1) and the
//! first element of the TEEP message array, the TYPE (draft-ietf-teep-protocol-26 §4). Nothing
//! else of the message is looked at or recorded.

use core::fmt;

use minicbor::Decoder;
use minicbor::data::{Tag, Type};

use crate::config::WireNumbering;

/// CBOR tag of COSE_Sign (RFC 9052 §2).
const TAG_COSE_SIGN: u64 = 98;
/// CBOR tag of COSE_Sign1 (RFC 9052 §2).
const TAG_COSE_SIGN1: u64 = 18;

/// How a relayed message is wrapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Wrapping {
    /// COSE_Sign1 (tagged or not).
    Sign1,
    /// COSE_Sign (tagged or not).
    Sign,
    /// A bare TEEP message array.
    Bare,
    /// Not recognised (the Agent or TAM will judge it).
    Unknown,
}

/// The type of a relayed TEEP message, as far as the transcript is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageKind {
    /// TYPE 1.
    QueryRequest,
    /// TYPE 2.
    QueryResponse,
    /// TYPE 3.
    Update,
    /// TYPE 4 (RFC numbering) or 5 (legacy).
    Success,
    /// TYPE 5 (RFC numbering) or 6 (legacy).
    Error,
    /// Another TYPE value.
    Other(u64),
    /// The type could not be read.
    Unreadable,
}

impl MessageKind {
    /// Names a TYPE value under the given numbering (teep-numbering table).
    pub fn from_type(value: u64, numbering: WireNumbering) -> Self {
        match (value, numbering) {
            (1, _) => Self::QueryRequest,
            (2, _) => Self::QueryResponse,
            (3, _) => Self::Update,
            (4, WireNumbering::Rfc) | (5, WireNumbering::Legacy) => Self::Success,
            (5, WireNumbering::Rfc) | (6, WireNumbering::Legacy) => Self::Error,
            (other, _) => Self::Other(other),
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::QueryRequest => f.write_str("QueryRequest"),
            Self::QueryResponse => f.write_str("QueryResponse"),
            Self::Update => f.write_str("Update"),
            Self::Success => f.write_str("Success"),
            Self::Error => f.write_str("Error"),
            Self::Other(n) => write!(f, "type {n}"),
            Self::Unreadable => f.write_str("unreadable"),
        }
    }
}

/// Type, wrapping and size of one relayed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageSummary {
    /// The TEEP message type.
    pub kind: MessageKind,
    /// The COSE wrapping.
    pub wrapping: Wrapping,
    /// Size of the whole message on the wire, in bytes.
    pub size: usize,
}

impl MessageSummary {
    /// Summarises `bytes` (never fails: unreadable input is labelled as such).
    pub fn of(bytes: &[u8], numbering: WireNumbering) -> Self {
        let (wrapping, kind) = match peek(bytes) {
            Some((wrapping, Some(ty))) => (wrapping, MessageKind::from_type(ty, numbering)),
            Some((wrapping, None)) => (wrapping, MessageKind::Unreadable),
            None => (Wrapping::Unknown, MessageKind::Unreadable),
        };
        Self { kind, wrapping, size: bytes.len() }
    }
}

impl fmt::Display for MessageSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let wrapping = match self.wrapping {
            Wrapping::Sign1 => "COSE_Sign1",
            Wrapping::Sign => "COSE_Sign",
            Wrapping::Bare => "unsigned",
            Wrapping::Unknown => "unrecognised",
        };
        write!(f, "{} ({wrapping}, {} bytes)", self.kind, self.size)
    }
}

/// Reads the wrapping and, when possible, the TEEP TYPE. Works on bounded input only
/// (responses are size-limited before this runs); minicbor's skip is iterative.
fn peek(bytes: &[u8]) -> Option<(Wrapping, Option<u64>)> {
    let mut d = Decoder::new(bytes);
    let mut tag = None;
    if d.datatype().ok()? == Type::Tag {
        tag = Some(d.tag().ok()?);
    }
    let len = d.array().ok()??;

    let wrapping = match (tag.map(Tag::as_u64), len) {
        (Some(TAG_COSE_SIGN1), 4) => Wrapping::Sign1,
        (Some(TAG_COSE_SIGN), 4) => Wrapping::Sign,
        (None, 4) if d.datatype().ok()? == Type::Bytes => {
            // Untagged COSE: [protected bstr, unprotected map, payload, sig(s)].
            let mut probe = d.clone();
            probe.skip().ok()?;
            probe.skip().ok()?;
            probe.skip().ok()?;
            match probe.datatype().ok()? {
                Type::Bytes => Wrapping::Sign1,
                Type::Array => Wrapping::Sign,
                _ => return Some((Wrapping::Unknown, None)),
            }
        }
        (None, _) => return Some((Wrapping::Bare, d.u64().ok())),
        _ => return Some((Wrapping::Unknown, None)),
    };

    d.skip().ok()?;
    d.skip().ok()?;
    let payload = match d.datatype().ok()? {
        Type::Bytes => d.bytes().ok()?,
        _ => return Some((wrapping, None)),
    };
    let mut inner = Decoder::new(payload);
    let ty = inner.array().ok().flatten().and_then(|_| inner.u64().ok());
    Some((wrapping, ty))
}

/// Which RFC 9397 §6.2.1 Agent API an event refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AgentApi {
    /// RequestTA.
    RequestTa,
    /// UnrequestTA.
    UnrequestTa,
    /// RequestPolicyCheck.
    RequestPolicyCheck,
    /// ProcessTeepMessage.
    ProcessTeepMessage,
    /// ProcessError.
    ProcessError,
}

impl fmt::Display for AgentApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RequestTa => "RequestTA",
            Self::UnrequestTa => "UnrequestTA",
            Self::RequestPolicyCheck => "RequestPolicyCheck",
            Self::ProcessTeepMessage => "ProcessTeepMessage",
            Self::ProcessError => "ProcessError",
        })
    }
}

/// One step of a Broker operation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The Broker called a conceptual API of the Agent that starts or continues a session.
    AgentCalled {
        /// The API.
        api: AgentApi,
        /// The TAM URI the Agent passed back (`None`: no data, nothing to do).
        tam_uri: Option<String>,
        /// The message the Agent passed back, if any.
        message: Option<MessageSummary>,
    },
    /// An HTTP POST was sent.
    Posted {
        /// The URI posted to.
        tam_uri: String,
        /// 1-based round trip within the session.
        round_trip: u32,
        /// The body (`None`: empty body, a new session).
        message: Option<MessageSummary>,
    },
    /// The TAM answered with a 2xx status.
    Received {
        /// HTTP status.
        status: u16,
        /// The body (`None`: empty, the session is over).
        message: Option<MessageSummary>,
    },
    /// The Agent processed a TAM message.
    AgentAnswered {
        /// The Agent's answer (`None`: nothing more to send).
        message: Option<MessageSummary>,
    },
    /// The HTTP exchange failed and the Agent's ProcessError was called.
    TransportFailed {
        /// The failure, as text.
        failure: String,
    },
    /// A session ended.
    SessionEnded {
        /// The URI posted to.
        tam_uri: String,
        /// POSTs made.
        round_trips: u32,
        /// Whether the session completed (204 or nothing more to send).
        completed: bool,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AgentCalled { api, tam_uri: None, .. } => {
                write!(f, "{api}: done, the Agent names no (further) TAM to contact")
            }
            Self::AgentCalled { api, tam_uri: Some(uri), message: None } => {
                write!(f, "{api}: contact {uri}")
            }
            Self::AgentCalled { api, tam_uri: Some(uri), message: Some(m) } => {
                write!(f, "{api}: send {m} to {uri}")
            }
            Self::Posted { tam_uri, round_trip, message: None } => {
                write!(f, "POST #{round_trip} {tam_uri}: empty body")
            }
            Self::Posted { tam_uri, round_trip, message: Some(m) } => {
                write!(f, "POST #{round_trip} {tam_uri}: {m}")
            }
            Self::Received { status, message: None } => write!(f, "HTTP {status}: no content"),
            Self::Received { status, message: Some(m) } => write!(f, "HTTP {status}: {m}"),
            Self::AgentAnswered { message: None } => write!(f, "Agent: nothing to send"),
            Self::AgentAnswered { message: Some(m) } => write!(f, "Agent: answers {m}"),
            Self::TransportFailed { failure } => write!(f, "ProcessError: {failure}"),
            Self::SessionEnded { tam_uri, round_trips, completed } => {
                let how = if *completed { "completed" } else { "failed" };
                write!(f, "session with {tam_uri} {how} after {round_trips} round trip(s)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex_vector(name: &str) -> Vec<u8> {
        let path =
            format!("{}/../../../shared/vectors/teep-protocol/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let digits: String = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or_default())
            .flat_map(|l| l.chars().filter(char::is_ascii_hexdigit))
            .collect();
        (0..digits.len() / 2)
            .filter_map(|i| digits.get(2 * i..2 * i + 2))
            .filter_map(|h| u8::from_str_radix(h, 16).ok())
            .collect()
    }

    #[test]
    fn bare_legacy_vectors() {
        for (file, kind) in [
            ("query_request.hex.txt", MessageKind::QueryRequest),
            ("query_response.hex.txt", MessageKind::QueryResponse),
            ("update.hex.txt", MessageKind::Update),
            ("teep_success.hex.txt", MessageKind::Success),
            ("teep_error.hex.txt", MessageKind::Error),
        ] {
            let bytes = hex_vector(file);
            assert!(!bytes.is_empty(), "{file} missing");
            let summary = MessageSummary::of(&bytes, WireNumbering::Legacy);
            assert_eq!(summary.kind, kind, "{file}");
            assert_eq!(summary.wrapping, Wrapping::Bare, "{file}");
            assert_eq!(summary.size, bytes.len());
        }
    }

    #[test]
    fn signed_rfc_vectors() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/teep-rfc/");
        for (file, kind) in [
            ("query_request.tam.esp256.cose", MessageKind::QueryRequest),
            ("update0.tam.esp256.cose", MessageKind::Update),
            ("teep_success.agent.esp256.cose", MessageKind::Success),
            ("teep_error.agent.esp256.cose", MessageKind::Error),
        ] {
            let bytes = std::fs::read(format!("{dir}{file}")).unwrap_or_default();
            assert!(!bytes.is_empty(), "{file} missing");
            let summary = MessageSummary::of(&bytes, WireNumbering::Rfc);
            assert_eq!(summary.kind, kind, "{file}");
            assert_eq!(summary.wrapping, Wrapping::Sign1, "{file}");
        }
    }

    #[test]
    fn cose_sign_untagged_and_garbage() {
        // [h'a10126', {}, h'820101' (payload [1, 1]), [[h'', {}, h'']]]
        let sign = [
            0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0x43, 0x82, 0x01, 0x01, 0x81, 0x83, 0x40, 0xa0,
            0x40,
        ];
        let s = MessageSummary::of(&sign, WireNumbering::Rfc);
        assert_eq!((s.wrapping, s.kind), (Wrapping::Sign, MessageKind::QueryRequest));

        let mut tagged = vec![0xd8, 0x62];
        tagged.extend_from_slice(&sign);
        let s = MessageSummary::of(&tagged, WireNumbering::Rfc);
        assert_eq!((s.wrapping, s.kind), (Wrapping::Sign, MessageKind::QueryRequest));

        for garbage in [&[][..], &[0xff], &[0x84, 0x43], &[0xd8, 0x12, 0x01], &[0x9f; 64]] {
            let s = MessageSummary::of(garbage, WireNumbering::Rfc);
            assert_eq!(s.kind, MessageKind::Unreadable, "{garbage:02x?}");
        }
        // A deeply nested array does not recurse.
        let deep = vec![0x81; 100_000];
        assert_eq!(MessageSummary::of(&deep, WireNumbering::Rfc).kind, MessageKind::Unreadable);
    }

    #[test]
    fn display_never_shows_bytes() {
        let e = Event::Posted {
            tam_uri: "https://tam/".into(),
            round_trip: 2,
            message: Some(MessageSummary {
                kind: MessageKind::QueryResponse,
                wrapping: Wrapping::Sign1,
                size: 321,
            }),
        };
        assert_eq!(e.to_string(), "POST #2 https://tam/: QueryResponse (COSE_Sign1, 321 bytes)");
    }
}
