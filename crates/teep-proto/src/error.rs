//! Decoding errors: what the peer sent wrong, naming the field and the rule
//! (draft-ietf-teep-protocol-26 §4.1.2 "Validating a TEEP Message", step 5).

use core::fmt;

use crate::registry::ErrCode;

/// Why a TEEP message was rejected. Every variant names the field (by its spec name) so that
/// logs and Error messages can say exactly what was wrong.
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum DecodeError {
    /// The bytes are not one well-formed CBOR item within the limits, or break a strictness
    /// rule (preferred serialization, duplicate map keys, indefinite lengths, UTF-8).
    Cbor(teep_cbor::Error),
    /// A field holds a CBOR item of the wrong type.
    WrongType {
        /// Spec name of the field.
        field: &'static str,
        /// What the CDDL requires there.
        expected: &'static str,
    },
    /// A mandatory field is absent.
    Missing {
        /// Spec name of the field.
        field: &'static str,
    },
    /// A byte or text string, or an array, has a length outside the allowed range.
    Length {
        /// Spec name of the field.
        field: &'static str,
        /// The length received.
        len: u64,
        /// Smallest allowed length.
        min: u64,
        /// Largest allowed length.
        max: u64,
    },
    /// An integer is outside the range the CDDL allows.
    OutOfRange {
        /// Spec name of the field.
        field: &'static str,
        /// What the range is.
        expected: &'static str,
    },
    /// The message array has the wrong number of elements for its type.
    ArityMismatch {
        /// The message type (spec name).
        message: &'static str,
        /// Number of elements received.
        got: u64,
        /// Number of elements the message has.
        expected: u64,
    },
    /// The type value is one the registry reserves (0; 4 in the legacy numbering).
    ReservedMessageType(u64),
    /// The type value is not assigned in the registry.
    UnknownMessageType(u64),
    /// An err-code value the registry reserves (0, or an unassigned value up to 23).
    ReservedErrCode(u64),
    /// The same option label appears twice (also caught by the structural check).
    DuplicateLabel(u64),
    /// Bytes follow the message.
    TrailingBytes {
        /// Offset of the first extra byte.
        offset: usize,
    },
    /// A list has more entries than the receiver's configured limit allows
    /// ([`crate::MessageLimits`]).
    TooMany {
        /// Spec name of the list.
        field: &'static str,
        /// Entries received.
        count: u64,
        /// The limit.
        limit: u64,
    },
    /// A rule that ties fields together was broken; the text quotes the rule.
    Rule(&'static str),
    /// The CBOR decoder failed in a way the structural check did not predict.
    Malformed {
        /// Spec name of the field being read.
        field: &'static str,
        /// Offset in the input, if known.
        offset: Option<usize>,
    },
}

impl DecodeError {
    /// The TEEP err-code an Agent reports for this failure (§5.5): every decoding failure is
    /// ERR_PERMANENT_ERROR ("incorrect fields or fields that are inconsistent").
    pub fn err_code(&self) -> ErrCode {
        ErrCode::PERMANENT_ERROR
    }
}

impl From<teep_cbor::Error> for DecodeError {
    fn from(e: teep_cbor::Error) -> Self {
        DecodeError::Cbor(e)
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Cbor(e) => write!(f, "invalid CBOR: {e}"),
            DecodeError::WrongType { field, expected } => {
                write!(f, "{field}: wrong type, expected {expected}")
            }
            DecodeError::Missing { field } => write!(f, "{field}: mandatory field missing"),
            DecodeError::Length { field, len, min, max } => {
                write!(f, "{field}: length {len} outside {min}..={max}")
            }
            DecodeError::OutOfRange { field, expected } => {
                write!(f, "{field}: value out of range, expected {expected}")
            }
            DecodeError::ArityMismatch { message, got, expected } => {
                write!(f, "{message}: array of {got} elements, expected {expected}")
            }
            DecodeError::ReservedMessageType(t) => write!(f, "type: message type {t} is reserved"),
            DecodeError::UnknownMessageType(t) => write!(f, "type: unknown message type {t}"),
            DecodeError::ReservedErrCode(c) => write!(f, "err-code: value {c} is reserved"),
            DecodeError::DuplicateLabel(l) => write!(f, "options: label {l} appears twice"),
            DecodeError::TrailingBytes { offset } => {
                write!(f, "trailing bytes after the message at offset {offset}")
            }
            DecodeError::TooMany { field, count, limit } => write!(
                f,
                "{field}: {count} entries, more than the receiver's limit of {limit} \
                 (send the rest in another message, or raise the receiver's max_manifests)"
            ),
            DecodeError::Rule(rule) => write!(f, "rule broken: {rule}"),
            DecodeError::Malformed { field, offset: Some(at) } => {
                write!(f, "{field}: malformed CBOR at offset {at}")
            }
            DecodeError::Malformed { field, offset: None } => write!(f, "{field}: malformed CBOR"),
        }
    }
}

impl core::error::Error for DecodeError {}
