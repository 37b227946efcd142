//! The TEEP message: the outer array and dispatch on its type
//! (draft-ietf-teep-protocol-26 §5, §4.1.2 step 5).
//!
//! ```cddl
//! teep-message = $teep-message-type .within teep-message-framework
//! ```

use alloc::vec::Vec;

use crate::codec::{Reader, Writer};
use crate::error::DecodeError;
use crate::options::Ctx;
use crate::query_request::QueryRequest;
use crate::query_response::QueryResponse;
use crate::registry::{MessageType, Numbering};
use crate::success::Success;
use crate::teep_error::TeepError;
use crate::token::Token;
use crate::update::Update;

/// Whether `wire` is a message type the registry reserves: 0 in both numberings (IANA "TEEP
/// Message Types", RFC-ietf-teep-protocol-26) and 4 in the legacy numbering (draft -25 §5).
/// Every other unregistered value is merely unassigned.
fn is_reserved_type(wire: u64, numbering: Numbering) -> bool {
    wire == 0 || (numbering == Numbering::Legacy && wire == 4)
}

/// Limits for decoding a TEEP message: the defaults of `teep_cbor` with room for an Update
/// that carries integrated payloads (32 MiB).
pub fn default_limits() -> teep_cbor::Limits {
    teep_cbor::Limits { max_len: 32 << 20, ..teep_cbor::Limits::default() }
}

/// Default of [`MessageLimits::max_manifests`].
pub const DEFAULT_MAX_MANIFESTS: usize = 256;

/// Everything a TEEP message decoder bounds: the structural CBOR limits (size, nesting depth,
/// elements per array or map) and the number of manifests one message may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageLimits {
    /// Structural limits of the CBOR check ([`default_limits`] by default).
    pub cbor: teep_cbor::Limits,
    /// Largest number of entries of an Update's `manifest-list` and of an
    /// `unneeded-manifest-list` (Update, QueryResponse); each manifest costs the receiver a
    /// SUIT processing run (default [`DEFAULT_MAX_MANIFESTS`]).
    pub max_manifests: usize,
}

impl Default for MessageLimits {
    fn default() -> Self {
        Self { cbor: default_limits(), max_manifests: DEFAULT_MAX_MANIFESTS }
    }
}

/// Any TEEP message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Message {
    /// QueryRequest (§5.1).
    QueryRequest(QueryRequest),
    /// QueryResponse (§5.2).
    QueryResponse(QueryResponse),
    /// Update (§5.3).
    Update(Update),
    /// Success (§5.4).
    Success(Success),
    /// Error (§5.5).
    Error(TeepError),
}

impl Message {
    /// Decodes and validates one TEEP message (the COSE payload) under the default
    /// [`MessageLimits`].
    pub fn decode(bytes: &[u8], numbering: Numbering) -> Result<Message, DecodeError> {
        Self::decode_limited(bytes, numbering, &MessageLimits::default())
    }

    /// Decodes and validates one TEEP message under the CBOR `limits` and the default
    /// [`MessageLimits::max_manifests`].
    pub fn decode_with_limits(
        bytes: &[u8],
        numbering: Numbering,
        limits: &teep_cbor::Limits,
    ) -> Result<Message, DecodeError> {
        let limits = MessageLimits { cbor: *limits, ..MessageLimits::default() };
        Self::decode_limited(bytes, numbering, &limits)
    }

    /// Decodes and validates one TEEP message: first the structural check of `teep_cbor`
    /// (well-formed, one item, preferred serialization, no duplicate keys, `limits.cbor`), then
    /// the message schema with its list limits ([`DecodeError::TooMany`]), then the rules of
    /// §5 ([`Message::validate`]).
    pub fn decode_limited(
        bytes: &[u8],
        numbering: Numbering,
        limits: &MessageLimits,
    ) -> Result<Message, DecodeError> {
        teep_cbor::check(bytes, &limits.cbor)?;
        let ctx = Ctx { numbering, limits: limits.cbor, max_manifests: limits.max_manifests };
        let mut r = Reader::new(bytes);
        let arity = r.array("teep-message")?;
        if arity < 2 {
            return Err(DecodeError::Missing {
                field: if arity == 0 { "type" } else { "options" },
            });
        }
        let wire = r.uint("type")?;
        let kind = match MessageType::from_wire(wire, numbering) {
            Some(kind) => kind,
            None if is_reserved_type(wire, numbering) => {
                return Err(DecodeError::ReservedMessageType(wire));
            }
            None => return Err(DecodeError::UnknownMessageType(wire)),
        };
        let msg = match kind {
            MessageType::QUERY_REQUEST => {
                Message::QueryRequest(QueryRequest::decode_body(&mut r, &ctx, arity)?)
            }
            MessageType::QUERY_RESPONSE => {
                Message::QueryResponse(QueryResponse::decode_body(&mut r, &ctx, arity)?)
            }
            MessageType::UPDATE => Message::Update(Update::decode_body(&mut r, &ctx, arity)?),
            MessageType::SUCCESS => Message::Success(Success::decode_body(&mut r, &ctx, arity)?),
            _ => Message::Error(TeepError::decode_body(&mut r, &ctx, arity)?),
        };
        r.finish()?;
        msg.validate()?;
        Ok(msg)
    }

    /// Encodes in `numbering` with preferred serialization and canonical option order.
    ///
    /// The message is written as it is; call [`Message::validate`] first when it was not built
    /// by this crate's decoder or helpers.
    pub fn encode(&self, numbering: Numbering) -> Vec<u8> {
        let mut w = Writer::new();
        match self {
            Message::QueryRequest(m) => m.encode_body(&mut w, numbering),
            Message::QueryResponse(m) => m.encode_body(&mut w, numbering),
            Message::Update(m) => m.encode_body(&mut w, numbering),
            Message::Success(m) => m.encode_body(&mut w, numbering),
            Message::Error(m) => m.encode_body(&mut w, numbering),
        }
        w.into_vec()
    }

    /// Checks every rule of §5 that concerns this message alone.
    pub fn validate(&self) -> Result<(), DecodeError> {
        match self {
            Message::QueryRequest(m) => m.validate(),
            Message::QueryResponse(m) => m.validate(),
            Message::Update(m) => m.validate(),
            Message::Success(m) => m.validate(),
            Message::Error(m) => m.validate(),
        }
    }

    /// The token, if the message carries one.
    pub fn token(&self) -> Option<&Token> {
        match self {
            Message::QueryRequest(m) => m.token.as_ref(),
            Message::QueryResponse(m) => m.token.as_ref(),
            Message::Update(m) => m.token.as_ref(),
            Message::Success(m) => m.token.as_ref(),
            Message::Error(m) => m.token.as_ref(),
        }
    }

    /// The message type.
    pub fn kind(&self) -> MessageType {
        match self {
            Message::QueryRequest(_) => MessageType::QUERY_REQUEST,
            Message::QueryResponse(_) => MessageType::QUERY_RESPONSE,
            Message::Update(_) => MessageType::UPDATE,
            Message::Success(_) => MessageType::SUCCESS,
            Message::Error(_) => MessageType::ERROR,
        }
    }
}

impl From<QueryRequest> for Message {
    fn from(m: QueryRequest) -> Self {
        Message::QueryRequest(m)
    }
}

impl From<QueryResponse> for Message {
    fn from(m: QueryResponse) -> Self {
        Message::QueryResponse(m)
    }
}

impl From<Update> for Message {
    fn from(m: Update) -> Self {
        Message::Update(m)
    }
}

impl From<Success> for Message {
    fn from(m: Success) -> Self {
        Message::Success(m)
    }
}

impl From<TeepError> for Message {
    fn from(m: TeepError) -> Self {
        Message::Error(m)
    }
}
