//! QueryRequest (draft-ietf-teep-protocol-26 §5.1), TAM to Agent.
//!
//! ```cddl
//! query-request = [
//!   type: TEEP-TYPE-query-request,
//!   options: {
//!     ? token => bstr .size (8..64),
//!     ? supported-freshness-mechanisms => [ + $freshness-mechanism ],
//!     ? challenge => bstr .size (8..512),
//!     ? versions => [ + version ],
//!     ? attestation-payload-format => text,
//!     ? attestation-payload => bstr,
//!     ? suit-reports => [ + bstr .cbor
//!              (SUIT_Report_Protected / SUIT_Report_Unprotected) ],
//!     * $$query-request-extensions,
//!     * $$teep-option-extensions
//!   },
//!   supported-teep-cipher-suites: [ + $teep-cipher-suite ],
//!   supported-suit-cose-profiles: [ + $suit-cose-profile ],
//!   data-item-requested: uint .bits data-item-requested
//! ]
//! ```

use alloc::string::String;
use alloc::vec::Vec;

use crate::cipher_suite::{CipherSuite, SuitCoseProfile};
use crate::codec::{Reader, Writer, check_len};
use crate::error::DecodeError;
use crate::freshness::{DataItemRequested, FreshnessMechanism};
use crate::options::{self, Ctx, Extension, OptionsWriter, Value};
use crate::registry::{Label, MessageType, Numbering};
use crate::token::Token;

/// A QueryRequest message.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct QueryRequest {
    /// token: matches the QueryResponse to this request.
    pub token: Option<Token>,
    /// supported-freshness-mechanisms; absent means nonce only.
    pub supported_freshness_mechanisms: Option<Vec<FreshnessMechanism>>,
    /// challenge: 8..=512 bytes for the attestation nonce.
    pub challenge: Option<Vec<u8>>,
    /// versions supported by the TAM; absent means `[0]`.
    pub versions: Option<Vec<u32>>,
    /// attestation-payload-format (media type of `attestation_payload`).
    pub attestation_payload_format: Option<String>,
    /// attestation-payload: Evidence or an Attestation Result about the TAM.
    pub attestation_payload: Option<Vec<u8>>,
    /// suit-reports: each one encoded SUIT_Report_Protected / SUIT_Report_Unprotected.
    pub suit_reports: Option<Vec<Vec<u8>>>,
    /// supported-teep-cipher-suites (positional, non-empty).
    pub supported_teep_cipher_suites: Vec<CipherSuite>,
    /// supported-suit-cose-profiles (positional, non-empty).
    pub supported_suit_cose_profiles: Vec<SuitCoseProfile>,
    /// data-item-requested (positional).
    pub data_item_requested: DataItemRequested,
    /// Options with labels this message does not define.
    pub extensions: Vec<Extension>,
}

/// Elements of the QueryRequest array: type, options and three positional fields.
const ARITY: u64 = 5;

impl QueryRequest {
    /// The versions the TAM supports, with the default of §5.1 ("treated the same as if it
    /// contained only version 0") applied.
    pub fn versions_or_default(&self) -> &[u32] {
        self.versions.as_deref().unwrap_or(&[0])
    }

    /// The freshness mechanisms the TAM supports, absent meaning nonce only (§5.1).
    pub fn freshness_or_default(&self) -> &[FreshnessMechanism] {
        self.supported_freshness_mechanisms.as_deref().unwrap_or(&[FreshnessMechanism::Nonce])
    }

    /// Checks the rules of §5.1 that the types do not already guarantee.
    ///
    /// - The token MUST be present when the attestation bit is clear; the challenge and
    ///   supported-freshness-mechanisms MUST then be absent.
    /// - Token and challenge are not both present. (The draft also says the token is present
    ///   "if and only if" the attestation bit is clear, but its own example D.1 and the Passport
    ///   model of §8, where the token is the nonce, carry a token with the bit set; that
    ///   combination is accepted.)
    /// - challenge is 8..=512 bytes and lists are non-empty.
    pub fn validate(&self) -> Result<(), DecodeError> {
        if let Some(c) = &self.challenge {
            check_len("challenge", c.len(), 8, 512)?;
        }
        if !self.data_item_requested.contains(DataItemRequested::ATTESTATION) {
            if self.token.is_none() {
                return Err(DecodeError::Rule(
                    "QueryRequest: token MUST be present when the attestation bit is clear",
                ));
            }
            if self.challenge.is_some() {
                return Err(DecodeError::Rule(
                    "QueryRequest: challenge MUST be absent when the attestation bit is clear",
                ));
            }
            if self.supported_freshness_mechanisms.is_some() {
                return Err(DecodeError::Rule(
                    "QueryRequest: supported-freshness-mechanisms MUST be absent when the \
                     attestation bit is clear",
                ));
            }
        }
        if self.token.is_some() && self.challenge.is_some() {
            return Err(DecodeError::Rule(
                "QueryRequest: token and challenge MUST NOT both be present",
            ));
        }
        nonempty("supported-teep-cipher-suites", self.supported_teep_cipher_suites.len())?;
        nonempty("supported-suit-cose-profiles", self.supported_suit_cose_profiles.len())?;
        nonempty_opt("supported-freshness-mechanisms", &self.supported_freshness_mechanisms)?;
        nonempty_opt("versions", &self.versions)?;
        nonempty_opt("suit-reports", &self.suit_reports)?;
        options::validate_extensions(&self.extensions)
    }

    pub(crate) fn decode_body(
        r: &mut Reader<'_>,
        ctx: &Ctx,
        arity: u64,
    ) -> Result<Self, DecodeError> {
        if arity != ARITY {
            return Err(DecodeError::ArityMismatch {
                message: "QueryRequest",
                got: arity,
                expected: ARITY,
            });
        }
        let mut m = QueryRequest::default();
        let extensions = options::decode(r, ctx, |label, r| {
            match label {
                Label::TOKEN => m.token = Some(Token::from_slice(r.bytes("token")?)?),
                Label::SUPPORTED_FRESHNESS_MECHANISMS => {
                    m.supported_freshness_mechanisms = Some(options::read_freshness(r)?);
                }
                Label::CHALLENGE => m.challenge = Some(options::read_challenge(r)?),
                Label::VERSIONS => m.versions = Some(options::read_uint32s(r, "versions")?),
                Label::ATTESTATION_PAYLOAD_FORMAT => {
                    m.attestation_payload_format =
                        Some(r.text("attestation-payload-format")?.into());
                }
                Label::ATTESTATION_PAYLOAD => {
                    m.attestation_payload = Some(r.bytes("attestation-payload")?.to_vec());
                }
                Label::SUIT_REPORTS => {
                    m.suit_reports = Some(options::read_cbor_bstrs(r, ctx, "suit-reports")?);
                }
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        m.extensions = extensions;
        m.supported_teep_cipher_suites = options::read_suites(r, "supported-teep-cipher-suites")?;
        m.supported_suit_cose_profiles = options::read_profiles(r, "supported-suit-cose-profiles")?;
        m.data_item_requested = DataItemRequested(r.uint("data-item-requested")?);
        Ok(m)
    }

    pub(crate) fn encode_body(&self, w: &mut Writer, numbering: Numbering) {
        w.array(5);
        w.uint(MessageType::QUERY_REQUEST.to_wire(numbering));
        let mut o = OptionsWriter::new(numbering);
        o.put_opt(Label::TOKEN, self.token.as_ref(), |t| Value::Bytes(t.as_bytes()));
        o.put_opt(
            Label::SUPPORTED_FRESHNESS_MECHANISMS,
            self.supported_freshness_mechanisms.as_deref(),
            Value::Freshness,
        );
        o.put_opt(Label::CHALLENGE, self.challenge.as_deref(), Value::Bytes);
        o.put_opt(Label::VERSIONS, self.versions.as_deref(), Value::Uints);
        o.put_opt(
            Label::ATTESTATION_PAYLOAD_FORMAT,
            self.attestation_payload_format.as_deref(),
            Value::Text,
        );
        o.put_opt(Label::ATTESTATION_PAYLOAD, self.attestation_payload.as_deref(), Value::Bytes);
        o.put_opt(Label::SUIT_REPORTS, self.suit_reports.as_deref(), Value::BytesList);
        o.extensions(&self.extensions);
        o.write(w);
        w.array(self.supported_teep_cipher_suites.len());
        for s in &self.supported_teep_cipher_suites {
            s.encode(w);
        }
        w.array(self.supported_suit_cose_profiles.len());
        for p in &self.supported_suit_cose_profiles {
            p.encode(w);
        }
        w.uint(self.data_item_requested.0);
    }
}

/// Rejects an empty `[ + x ]` list.
pub(crate) fn nonempty(field: &'static str, len: usize) -> Result<(), DecodeError> {
    if len == 0 {
        return Err(DecodeError::Length { field, len: 0, min: 1, max: u64::MAX });
    }
    Ok(())
}

/// Rejects a present but empty `[ + x ]` list.
pub(crate) fn nonempty_opt<T>(field: &'static str, v: &Option<Vec<T>>) -> Result<(), DecodeError> {
    match v {
        Some(list) => nonempty(field, list.len()),
        None => Ok(()),
    }
}
