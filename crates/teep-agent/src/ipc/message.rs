//! The messages carried over the Broker <-> Agent IPC channel.
//!
//! They are the conceptual API of RFC 9397 §6.2.1 (TEEP Broker APIs): `ProcessTeepMessage`,
//! `RequestTA`, `UnrequestTA`, `RequestPolicyCheck`, plus a `Status` call for tools. Each frame
//! body is one CBOR array whose first element is the operation code:
//!
//! ```cddl
//! request = [1, tam-uri: tstr, teep-message: bstr]       ; ProcessTeepMessage
//!         / [2, component-id, tam-uri: tstr / null]       ; RequestTA
//!         / [3, component-id]                             ; UnrequestTA
//!         / [4]                                           ; RequestPolicyCheck
//!         / [5]                                           ; Status
//!         / [6, nonce: bstr]                              ; Attest (passport model)
//!         / [7, nonce: bstr, attestation-result: bstr]    ; PresentAttestationResult
//! response = [0, teep-message: bstr]     ; empty bstr: nothing to send to the TAM
//!          / [1, tam-uri: tstr / null]   ; null: nothing to do
//!          / [2, [* tam-uri: tstr]]
//!          / [3, status]
//!          / [4, evidence: bstr]         ; answer to Attest
//!          / [5]                         ; PresentAttestationResult accepted
//!          / [15, error-kind: uint, message: tstr]
//! component-id = [* bstr]                ; SUIT_Component_Identifier
//! status = [agent-kid: bstr, installed: [* installed-component],
//!           requested: [* component-id], unneeded: [* component-id],
//!           ? integrity]                   ; only when something failed its check
//! integrity = [tampered: [* [path: tstr, check: tstr]],
//!              quarantined: [* manifest-key: tstr]]   ; hex SHA-256 of the manifest id
//! installed-component = [component-id, sequence-number: uint / null, image-digest: bstr / null,
//!                        ? (owner: bstr / null, domain: component-id / null)]
//!                        ; security domains: owner = RFC 9679 thumbprint of the TC signer,
//!                        ; domain = the security domain manifest (null: owner's default)
//! ```
//!
//! Decoding is bounded by the bytes present: counts are checked against the remaining input,
//! indefinite lengths and trailing bytes are rejected, and the shape is fixed (no recursion).

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::convert::Infallible;
use core::fmt;

use minicbor::data::Type;
use minicbor::{Decoder, Encoder};

pub use crate::TamperedFile;

/// A SUIT_Component_Identifier as carried over IPC: a list of byte strings.
pub type ComponentIdBytes = Vec<Vec<u8>>;

/// Largest number of entries accepted in any list of an IPC message.
pub const MAX_LIST_ITEMS: u64 = 4096;

/// A call from the Broker to the Agent (RFC 9397 §6.2.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Hand a TEEP message received from the TAM at `tam_uri` to the Agent.
    ProcessTeepMessage {
        /// The TAM URI the message came from.
        tam_uri: String,
        /// The message body exactly as received (`application/teep+cbor`).
        message: Vec<u8>,
    },
    /// An untrusted application asks for a Trusted Component.
    RequestTa {
        /// The Trusted Component's SUIT_Component_Identifier.
        component_id: ComponentIdBytes,
        /// The TAM to use, when the application knows one.
        tam_uri: Option<String>,
    },
    /// An untrusted application no longer needs a Trusted Component.
    UnrequestTa {
        /// The Trusted Component's SUIT_Component_Identifier.
        component_id: ComponentIdBytes,
    },
    /// Ask which TAMs the Broker should contact to check policy.
    RequestPolicyCheck,
    /// Ask for the Agent's installed components and pending requests.
    Status,
    /// Passport model (RFC 9334 §5.1): ask for Evidence bound to `nonce`, for the Broker to
    /// take to a Verifier ([`crate::passport`]).
    Attest {
        /// The nonce (eat_nonce), normally the challenge of the QueryRequest at hand.
        nonce: Vec<u8>,
    },
    /// Passport model: hand the Agent the Attestation Result the Verifier returned for
    /// `nonce`; the QueryResponse to that challenge presents it.
    PresentAttestationResult {
        /// The nonce the result is bound to.
        nonce: Vec<u8>,
        /// The signed Attestation Result.
        result: Vec<u8>,
    },
}

/// The Agent's answer to one [`Request`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// Answer to `ProcessTeepMessage`: the message to POST to the TAM, empty when there is none.
    TeepMessage(Vec<u8>),
    /// Answer to `RequestTA`/`UnrequestTA`: the TAM URI to contact, `None` when nothing is to do.
    TamUri(Option<String>),
    /// Answer to `RequestPolicyCheck`: every TAM to contact.
    TamUris(Vec<String>),
    /// Answer to `Status`.
    Status(AgentStatus),
    /// Answer to `Attest`: the Evidence.
    Evidence(Vec<u8>),
    /// Answer to `PresentAttestationResult`: the result is kept.
    Accepted,
    /// The call failed.
    Error {
        /// What kind of failure.
        kind: ErrorKind,
        /// A human-readable reason (no secrets).
        message: String,
    },
}

/// Why the Agent refused or failed a call.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The TEEP message was dropped (bad signature, unknown TAM, malformed): no response.
    Rejected,
    /// The request was not understood.
    BadRequest,
    /// No TAM is known for the request.
    NoTam,
    /// The Agent failed locally.
    Internal,
    /// An error kind this version does not know.
    Other(u64),
}

impl ErrorKind {
    fn code(self) -> u64 {
        match self {
            Self::Rejected => 1,
            Self::BadRequest => 2,
            Self::NoTam => 3,
            Self::Internal => 4,
            Self::Other(c) => c,
        }
    }

    fn from_code(code: u64) -> Self {
        match code {
            1 => Self::Rejected,
            2 => Self::BadRequest,
            3 => Self::NoTam,
            4 => Self::Internal,
            c => Self::Other(c),
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected => f.write_str("message rejected"),
            Self::BadRequest => f.write_str("bad request"),
            Self::NoTam => f.write_str("no TAM known"),
            Self::Internal => f.write_str("internal agent error"),
            Self::Other(c) => write!(f, "agent error kind {c}"),
        }
    }
}

/// What the Agent reports about itself (`Status`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentStatus {
    /// RFC 9679 thumbprint of the Agent's public key (its kid).
    pub agent_kid: Vec<u8>,
    /// Installed Trusted Components.
    pub installed: Vec<InstalledComponent>,
    /// Components requested with RequestTA and not yet installed.
    pub requested: Vec<ComponentIdBytes>,
    /// Components given up with UnrequestTA and not yet deleted.
    pub unneeded: Vec<ComponentIdBytes>,
    /// Store files that failed their integrity check (path and failed check, no contents).
    /// Empty from Agents that predate the field.
    pub tampered: Vec<TamperedFile>,
    /// Manifests taken out of the installed set because one of their files failed its
    /// check, by store key (hex SHA-256 of the CBOR manifest component id).
    pub quarantined: Vec<String>,
}

impl AgentStatus {
    /// Whether the Agent reports tampered files or quarantined manifests.
    pub fn is_tampered(&self) -> bool {
        !self.tampered.is_empty() || !self.quarantined.is_empty()
    }
}

/// One installed Trusted Component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstalledComponent {
    /// Its SUIT_Component_Identifier.
    pub component_id: ComponentIdBytes,
    /// The sequence number of the manifest that installed it.
    pub sequence_number: Option<u64>,
    /// SHA-256 of the installed image.
    pub image_digest: Option<Vec<u8>>,
    /// RFC 9679 thumbprint of the signer owning its security domain, when recorded.
    pub owner: Option<Vec<u8>>,
    /// Its security domain manifest; `None`: the default domain of its owner.
    pub domain: Option<ComponentIdBytes>,
}

/// A frame body that is not a valid IPC message.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageError {
    /// The CBOR is malformed or has the wrong shape at `offset`.
    Malformed {
        /// What was expected.
        what: &'static str,
        /// Byte offset in the frame body.
        offset: usize,
    },
    /// The operation code is not known.
    UnknownOperation(u64),
    /// Bytes follow the message.
    TrailingBytes {
        /// Offset of the first trailing byte.
        offset: usize,
    },
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed { what, offset } => {
                write!(f, "malformed IPC message at byte {offset}: expected {what}")
            }
            Self::UnknownOperation(op) => write!(f, "unknown IPC operation {op}"),
            Self::TrailingBytes { offset } => write!(f, "trailing bytes at {offset}"),
        }
    }
}

impl core::error::Error for MessageError {}

type EncResult = Result<(), minicbor::encode::Error<Infallible>>;

impl Request {
    /// Encodes the request as one CBOR item (preferred serialization).
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new());
        // Writing to a Vec cannot fail.
        let _ = self.encode_into(&mut e);
        e.into_writer()
    }

    fn encode_into(&self, e: &mut Encoder<Vec<u8>>) -> EncResult {
        match self {
            Self::ProcessTeepMessage { tam_uri, message } => {
                e.array(3)?.u8(1)?.str(tam_uri)?.bytes(message)?;
            }
            Self::RequestTa { component_id, tam_uri } => {
                e.array(3)?.u8(2)?;
                encode_component_id(e, component_id)?;
                match tam_uri {
                    Some(uri) => e.str(uri)?,
                    None => e.null()?,
                };
            }
            Self::UnrequestTa { component_id } => {
                e.array(2)?.u8(3)?;
                encode_component_id(e, component_id)?;
            }
            Self::RequestPolicyCheck => {
                e.array(1)?.u8(4)?;
            }
            Self::Status => {
                e.array(1)?.u8(5)?;
            }
            Self::Attest { nonce } => {
                e.array(2)?.u8(6)?.bytes(nonce)?;
            }
            Self::PresentAttestationResult { nonce, result } => {
                e.array(3)?.u8(7)?.bytes(nonce)?.bytes(result)?;
            }
        }
        Ok(())
    }

    /// Decodes one request; the whole input must be exactly one message.
    pub fn decode(bytes: &[u8]) -> Result<Self, MessageError> {
        let mut d = Reader::new(bytes);
        let len = d.array()?;
        let op = d.uint()?;
        let req = match (op, len) {
            (1, 3) => {
                let tam_uri = d.text()?;
                let message = d.bytes()?.to_vec();
                Self::ProcessTeepMessage { tam_uri, message }
            }
            (2, 3) => {
                let component_id = d.component_id()?;
                let tam_uri = d.opt_text()?;
                Self::RequestTa { component_id, tam_uri }
            }
            (3, 2) => Self::UnrequestTa { component_id: d.component_id()? },
            (4, 1) => Self::RequestPolicyCheck,
            (5, 1) => Self::Status,
            (6, 2) => Self::Attest { nonce: d.bytes()?.to_vec() },
            (7, 3) => {
                let nonce = d.bytes()?.to_vec();
                let result = d.bytes()?.to_vec();
                Self::PresentAttestationResult { nonce, result }
            }
            (1..=7, _) => return Err(d.malformed("array of the operation's length")),
            (op, _) => return Err(MessageError::UnknownOperation(op)),
        };
        d.finish()?;
        Ok(req)
    }
}

impl Response {
    /// Encodes the response as one CBOR item (preferred serialization).
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new());
        // Writing to a Vec cannot fail.
        let _ = self.encode_into(&mut e);
        e.into_writer()
    }

    fn encode_into(&self, e: &mut Encoder<Vec<u8>>) -> EncResult {
        match self {
            Self::TeepMessage(bytes) => {
                e.array(2)?.u8(0)?.bytes(bytes)?;
            }
            Self::TamUri(uri) => {
                e.array(2)?.u8(1)?;
                match uri {
                    Some(uri) => e.str(uri)?,
                    None => e.null()?,
                };
            }
            Self::TamUris(uris) => {
                e.array(2)?.u8(2)?.array(uris.len() as u64)?;
                for uri in uris {
                    e.str(uri)?;
                }
            }
            Self::Status(status) => {
                // The integrity element is left out when clean, so that older decoders
                // (which know only the 4-element form) still read a healthy Agent's status.
                let len = if status.is_tampered() { 5 } else { 4 };
                e.array(2)?.u8(3)?.array(len)?.bytes(&status.agent_kid)?;
                e.array(status.installed.len() as u64)?;
                for tc in &status.installed {
                    e.array(5)?;
                    encode_component_id(e, &tc.component_id)?;
                    match tc.sequence_number {
                        Some(n) => e.u64(n)?,
                        None => e.null()?,
                    };
                    match &tc.image_digest {
                        Some(d) => e.bytes(d)?,
                        None => e.null()?,
                    };
                    match &tc.owner {
                        Some(o) => e.bytes(o)?,
                        None => e.null()?,
                    };
                    match &tc.domain {
                        Some(d) => encode_component_id(e, d)?,
                        None => {
                            e.null()?;
                        }
                    }
                }
                for list in [&status.requested, &status.unneeded] {
                    e.array(list.len() as u64)?;
                    for id in list {
                        encode_component_id(e, id)?;
                    }
                }
                if status.is_tampered() {
                    e.array(2)?.array(status.tampered.len() as u64)?;
                    for t in &status.tampered {
                        e.array(2)?.str(&t.path)?.str(&t.what)?;
                    }
                    e.array(status.quarantined.len() as u64)?;
                    for key in &status.quarantined {
                        e.str(key)?;
                    }
                }
            }
            Self::Evidence(bytes) => {
                e.array(2)?.u8(4)?.bytes(bytes)?;
            }
            Self::Accepted => {
                e.array(1)?.u8(5)?;
            }
            Self::Error { kind, message } => {
                e.array(3)?.u8(15)?.u64(kind.code())?.str(message)?;
            }
        }
        Ok(())
    }

    /// Decodes one response; the whole input must be exactly one message.
    pub fn decode(bytes: &[u8]) -> Result<Self, MessageError> {
        let mut d = Reader::new(bytes);
        let len = d.array()?;
        let op = d.uint()?;
        let resp = match (op, len) {
            (0, 2) => Self::TeepMessage(d.bytes()?.to_vec()),
            (1, 2) => Self::TamUri(d.opt_text()?),
            (2, 2) => {
                let n = d.list_len()?;
                let mut uris = Vec::new();
                for _ in 0..n {
                    uris.push(d.text()?);
                }
                Self::TamUris(uris)
            }
            (3, 2) => Self::Status(d.status()?),
            (4, 2) => Self::Evidence(d.bytes()?.to_vec()),
            (5, 1) => Self::Accepted,
            (15, 3) => {
                let kind = ErrorKind::from_code(d.uint()?);
                let message = d.text()?;
                Self::Error { kind, message }
            }
            (0..=5 | 15, _) => return Err(d.malformed("array of the operation's length")),
            (op, _) => return Err(MessageError::UnknownOperation(op)),
        };
        d.finish()?;
        Ok(resp)
    }
}

fn encode_component_id(e: &mut Encoder<Vec<u8>>, id: &[Vec<u8>]) -> EncResult {
    e.array(id.len() as u64)?;
    for part in id {
        e.bytes(part)?;
    }
    Ok(())
}

/// A bounded reader over one frame body.
struct Reader<'b> {
    d: Decoder<'b>,
}

impl<'b> Reader<'b> {
    fn new(bytes: &'b [u8]) -> Self {
        Self { d: Decoder::new(bytes) }
    }

    fn malformed(&self, what: &'static str) -> MessageError {
        MessageError::Malformed { what, offset: self.d.position() }
    }

    fn remaining(&self) -> usize {
        self.d.input().len().saturating_sub(self.d.position())
    }

    fn array(&mut self) -> Result<u64, MessageError> {
        match self.d.array() {
            Ok(Some(n)) => Ok(n),
            _ => Err(self.malformed("definite-length array")),
        }
    }

    /// An array length used for a list: bounded by the count limit and the bytes present
    /// (every element takes at least one byte).
    fn list_len(&mut self) -> Result<u64, MessageError> {
        let start = self.d.position();
        let n = self.array()?;
        if n > MAX_LIST_ITEMS || n > self.remaining() as u64 {
            return Err(MessageError::Malformed { what: "shorter list", offset: start });
        }
        Ok(n)
    }

    fn uint(&mut self) -> Result<u64, MessageError> {
        let pos = self.d.position();
        match self.d.datatype() {
            Ok(Type::U8 | Type::U16 | Type::U32 | Type::U64) => {}
            _ => return Err(MessageError::Malformed { what: "unsigned integer", offset: pos }),
        }
        self.d.u64().map_err(|_| MessageError::Malformed { what: "unsigned integer", offset: pos })
    }

    fn bytes(&mut self) -> Result<&'b [u8], MessageError> {
        let pos = self.d.position();
        self.d.bytes().map_err(|_| MessageError::Malformed { what: "byte string", offset: pos })
    }

    fn text(&mut self) -> Result<String, MessageError> {
        let pos = self.d.position();
        match self.d.str() {
            Ok(s) => Ok(s.to_string()),
            Err(_) => Err(MessageError::Malformed { what: "text string", offset: pos }),
        }
    }

    fn is_null(&mut self) -> Result<bool, MessageError> {
        match self.d.datatype() {
            Ok(Type::Null) => {
                let _ = self.d.null();
                Ok(true)
            }
            Ok(_) => Ok(false),
            Err(_) => Err(self.malformed("a data item")),
        }
    }

    fn opt_text(&mut self) -> Result<Option<String>, MessageError> {
        if self.is_null()? { Ok(None) } else { self.text().map(Some) }
    }

    fn opt_uint(&mut self) -> Result<Option<u64>, MessageError> {
        if self.is_null()? { Ok(None) } else { self.uint().map(Some) }
    }

    fn opt_bytes(&mut self) -> Result<Option<Vec<u8>>, MessageError> {
        if self.is_null()? { Ok(None) } else { self.bytes().map(|b| Some(b.to_vec())) }
    }

    fn component_id(&mut self) -> Result<ComponentIdBytes, MessageError> {
        let n = self.list_len()?;
        let mut id = Vec::new();
        for _ in 0..n {
            id.push(self.bytes()?.to_vec());
        }
        Ok(id)
    }

    fn component_ids(&mut self) -> Result<Vec<ComponentIdBytes>, MessageError> {
        let n = self.list_len()?;
        let mut ids = Vec::new();
        for _ in 0..n {
            ids.push(self.component_id()?);
        }
        Ok(ids)
    }

    fn status(&mut self) -> Result<AgentStatus, MessageError> {
        let len = self.array()?;
        if len != 4 && len != 5 {
            return Err(self.malformed("status array of 4 or 5"));
        }
        let agent_kid = self.bytes()?.to_vec();
        let n = self.list_len()?;
        let mut installed = Vec::new();
        for _ in 0..n {
            // 3 entries from Agents without security domains, 5 with.
            let len = self.array()?;
            if len != 3 && len != 5 {
                return Err(self.malformed("installed-component array of 3 or 5"));
            }
            let component_id = self.component_id()?;
            let sequence_number = self.opt_uint()?;
            let image_digest = self.opt_bytes()?;
            let (mut owner, mut domain) = (None, None);
            if len == 5 {
                owner = self.opt_bytes()?;
                domain = if self.is_null()? { None } else { Some(self.component_id()?) };
            }
            installed.push(InstalledComponent {
                component_id,
                sequence_number,
                image_digest,
                owner,
                domain,
            });
        }
        let requested = self.component_ids()?;
        let unneeded = self.component_ids()?;
        let (mut tampered, mut quarantined) = (Vec::new(), Vec::new());
        if len == 5 {
            if self.array()? != 2 {
                return Err(self.malformed("integrity array of 2"));
            }
            for _ in 0..self.list_len()? {
                if self.array()? != 2 {
                    return Err(self.malformed("tampered-file array of 2"));
                }
                tampered.push(TamperedFile { path: self.text()?, what: self.text()? });
            }
            for _ in 0..self.list_len()? {
                quarantined.push(self.text()?);
            }
        }
        Ok(AgentStatus { agent_kid, installed, requested, unneeded, tampered, quarantined })
    }

    fn finish(&self) -> Result<(), MessageError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(MessageError::TrailingBytes { offset: self.d.position() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn requests() -> Vec<Request> {
        vec![
            Request::ProcessTeepMessage {
                tam_uri: "http://127.0.0.1:1/tam".into(),
                message: vec![1, 2],
            },
            Request::RequestTa { component_id: vec![b"ta".to_vec()], tam_uri: None },
            Request::RequestTa { component_id: vec![], tam_uri: Some("http://[::1]/".into()) },
            Request::UnrequestTa { component_id: vec![vec![0; 16], vec![]] },
            Request::RequestPolicyCheck,
            Request::Status,
            Request::Attest { nonce: vec![7; 16] },
            Request::PresentAttestationResult { nonce: vec![7; 16], result: vec![1, 2, 3] },
        ]
    }

    fn responses() -> Vec<Response> {
        vec![
            Response::TeepMessage(vec![]),
            Response::TeepMessage(vec![0xd2; 300]),
            Response::TamUri(None),
            Response::TamUri(Some("http://127.0.0.1/".into())),
            Response::TamUris(vec!["a".into(), "b".into()]),
            Response::Status(AgentStatus {
                agent_kid: vec![7; 32],
                installed: vec![InstalledComponent {
                    component_id: vec![b"x".to_vec()],
                    sequence_number: Some(3),
                    image_digest: None,
                    owner: Some(vec![0xa; 32]),
                    domain: Some(vec![b"security-domain".to_vec(), b"bank".to_vec()]),
                }],
                requested: vec![vec![b"y".to_vec()]],
                unneeded: vec![],
                tampered: vec![],
                quarantined: vec![],
            }),
            Response::Status(AgentStatus {
                agent_kid: vec![7; 32],
                tampered: vec![TamperedFile {
                    path: "components/ab.img".into(),
                    what: "chunk 0 authentication failed".into(),
                }],
                quarantined: vec!["ab".into()],
                ..AgentStatus::default()
            }),
            Response::Status(AgentStatus {
                quarantined: vec!["cd".into()],
                ..AgentStatus::default()
            }),
            Response::Error { kind: ErrorKind::Rejected, message: "bad signature".into() },
            Response::Error { kind: ErrorKind::Other(99), message: String::new() },
            Response::Evidence(vec![0xd2; 40]),
            Response::Accepted,
        ]
    }

    #[test]
    fn requests_round_trip() {
        for r in requests() {
            assert_eq!(Request::decode(&r.encode()), Ok(r));
        }
    }

    #[test]
    fn responses_round_trip() {
        for r in responses() {
            assert_eq!(Response::decode(&r.encode()), Ok(r));
        }
    }

    #[test]
    fn every_truncation_is_rejected() {
        for r in requests() {
            let bytes = r.encode();
            for cut in 0..bytes.len() {
                assert!(Request::decode(&bytes[..cut]).is_err(), "{r:?} cut at {cut}");
            }
        }
        for r in responses() {
            let bytes = r.encode();
            for cut in 0..bytes.len() {
                assert!(Response::decode(&bytes[..cut]).is_err(), "{r:?} cut at {cut}");
            }
        }
    }

    #[test]
    fn status_integrity_is_optional_and_checked() {
        // A clean status keeps the 4-element form older decoders know.
        let clean = Response::Status(AgentStatus { agent_kid: vec![1], ..AgentStatus::default() });
        let bytes = clean.encode();
        assert_eq!(&bytes[..3], &[0x82, 0x03, 0x84]);
        assert_eq!(Response::decode(&bytes), Ok(clean));
        // [3, [h'01', [], [], [], [[[1, "x"]], []]]]: a tampered entry whose path is not text.
        let bad = [
            0x82, 0x03, 0x85, 0x41, 0x01, 0x80, 0x80, 0x80, 0x82, 0x81, 0x82, 0x01, 0x61, 0x78,
            0x80,
        ];
        assert!(matches!(Response::decode(&bad), Err(MessageError::Malformed { .. })));
        // The integrity element must be an array of exactly 2.
        let bad = [0x82, 0x03, 0x85, 0x41, 0x01, 0x80, 0x80, 0x80, 0x81, 0x80];
        assert_eq!(
            Response::decode(&bad),
            Err(MessageError::Malformed { what: "integrity array of 2", offset: 9 })
        );
    }

    #[test]
    fn trailing_bytes_rejected() {
        let mut bytes = Request::Status.encode();
        bytes.push(0);
        assert_eq!(Request::decode(&bytes), Err(MessageError::TrailingBytes { offset: 2 }));
    }

    #[test]
    fn shape_errors_are_precise() {
        // [9]: unknown operation.
        assert_eq!(Request::decode(&[0x81, 0x09]), Err(MessageError::UnknownOperation(9)));
        // [5, 0]: Status with an extra element.
        assert!(matches!(
            Request::decode(&[0x82, 0x05, 0x00]),
            Err(MessageError::Malformed { .. })
        ));
        // Indefinite-length array.
        assert!(Request::decode(&[0x9f, 0x05, 0xff]).is_err());
        // Negative op code.
        assert!(Request::decode(&[0x81, 0x20]).is_err());
        // A list that claims more elements than bytes present: [3, [ (2^32 items) ]]
        let huge = [0x82, 0x03, 0x9a, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            Request::decode(&huge),
            Err(MessageError::Malformed { what: "shorter list", offset: 2 })
        );
        // Text that is not UTF-8.
        assert!(Request::decode(&[0x83, 0x01, 0x61, 0xff, 0x40]).is_err());
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u32 = 0x1234_5678;
        for len in 0..64 {
            for _ in 0..200 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        x as u8
                    })
                    .collect();
                let _ = Request::decode(&bytes);
                let _ = Response::decode(&bytes);
            }
        }
    }
}
