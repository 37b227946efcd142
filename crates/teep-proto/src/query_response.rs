//! QueryResponse (draft-ietf-teep-protocol-26 §5.2), Agent to TAM.
//!
//! ```cddl
//! query-response = [
//!   type: TEEP-TYPE-query-response,
//!   options: {
//!     ? token => bstr .size (8..64),
//!     ? selected-version => version,
//!     ? attestation-payload-format => text,
//!     ? attestation-payload => bstr,
//!     ? suit-reports => [ + bstr .cbor
//!              (SUIT_Report_Protected / SUIT_Report_Unprotected) ],
//!     ? tc-list => [ + system-property-claims ],
//!     ? requested-tc-list => [ + requested-tc-info ],
//!     ? unneeded-manifest-list => [ + SUIT_Component_Identifier ],
//!     ? ext-list => [ + ext-info ],
//!     * $$query-response-extensions,
//!     * $$teep-option-extensions
//!   }
//! ]
//! ```

use alloc::string::String;
use alloc::vec::Vec;

use crate::codec::{Reader, Writer};
use crate::component::{ComponentId, RequestedTcInfo, SystemPropertyClaims};
use crate::error::DecodeError;
use crate::freshness::DataItemRequested;
use crate::options::{self, Ctx, Extension, OptionsWriter, Value};
use crate::query_request::{QueryRequest, nonempty_opt};
use crate::registry::{Label, MessageType, Numbering};
use crate::token::Token;

/// A QueryResponse message.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct QueryResponse {
    /// token copied from the QueryRequest, if it had one.
    pub token: Option<Token>,
    /// selected-version; absent means 0.
    pub selected_version: Option<u32>,
    /// attestation-payload-format (media type of `attestation_payload`).
    pub attestation_payload_format: Option<String>,
    /// attestation-payload: Evidence or an Attestation Result.
    pub attestation_payload: Option<Vec<u8>>,
    /// suit-reports ("boot" time SUIT Reports).
    pub suit_reports: Option<Vec<Vec<u8>>>,
    /// tc-list: the installed Trusted Components.
    ///
    /// The CDDL asks for a non-empty list, yet §5.2 makes tc-list mandatory whenever the
    /// trusted-components bit was set, also on a device with nothing installed; an empty list
    /// is therefore accepted here.
    pub tc_list: Option<Vec<SystemPropertyClaims>>,
    /// requested-tc-list: components the device wants installed.
    pub requested_tc_list: Option<Vec<RequestedTcInfo>>,
    /// unneeded-manifest-list: SUIT Manifest Component IDs no longer needed.
    pub unneeded_manifest_list: Option<Vec<ComponentId>>,
    /// ext-list: supported extensions.
    pub ext_list: Option<Vec<u32>>,
    /// Options with labels this message does not define.
    pub extensions: Vec<Extension>,
}

impl QueryResponse {
    /// Checks the rules of §5.2 that hold for the message alone: lists are non-empty (except
    /// tc-list, see its field) and have-binary implies tc-manifest-sequence-number.
    pub fn validate(&self) -> Result<(), DecodeError> {
        nonempty_opt("suit-reports", &self.suit_reports)?;
        nonempty_opt("requested-tc-list", &self.requested_tc_list)?;
        nonempty_opt("unneeded-manifest-list", &self.unneeded_manifest_list)?;
        nonempty_opt("ext-list", &self.ext_list)?;
        for info in self.requested_tc_list.iter().flatten() {
            info.validate()?;
        }
        for claims in self.tc_list.iter().flatten() {
            claims.validate()?;
        }
        options::validate_extensions(&self.extensions)
    }

    /// Checks the rules of §5.2 that tie this response to the QueryRequest it answers: the
    /// token is echoed exactly (or absent when the request had none), and attestation-payload,
    /// tc-list and ext-list are present when the request asked for them.
    pub fn check_answers(&self, request: &QueryRequest) -> Result<(), DecodeError> {
        if self.token != request.token {
            return Err(DecodeError::Rule(
                "QueryResponse: token MUST match the QueryRequest token (or be absent with it)",
            ));
        }
        let asked = request.data_item_requested;
        if asked.contains(DataItemRequested::ATTESTATION) && self.attestation_payload.is_none() {
            return Err(DecodeError::Rule(
                "QueryResponse: attestation-payload MUST be present when the attestation bit \
                 was set",
            ));
        }
        if asked.contains(DataItemRequested::TRUSTED_COMPONENTS) && self.tc_list.is_none() {
            return Err(DecodeError::Rule(
                "QueryResponse: tc-list MUST be present when the trusted-components bit was set",
            ));
        }
        if asked.contains(DataItemRequested::EXTENSIONS) && self.ext_list.is_none() {
            return Err(DecodeError::Rule(
                "QueryResponse: ext-list MUST be present when the extensions bit was set",
            ));
        }
        if let Some(v) = self.selected_version
            && !request.versions_or_default().contains(&v)
        {
            return Err(DecodeError::Rule(
                "QueryResponse: selected-version is not one the QueryRequest offered",
            ));
        }
        Ok(())
    }

    pub(crate) fn decode_body(
        r: &mut Reader<'_>,
        ctx: &Ctx,
        arity: u64,
    ) -> Result<Self, DecodeError> {
        if arity != 2 {
            return Err(DecodeError::ArityMismatch {
                message: "QueryResponse",
                got: arity,
                expected: 2,
            });
        }
        let mut m = QueryResponse::default();
        let extensions = options::decode(r, ctx, |label, r| {
            match label {
                Label::TOKEN => m.token = Some(Token::from_slice(r.bytes("token")?)?),
                Label::SELECTED_VERSION => {
                    m.selected_version = Some(r.uint32("selected-version")?);
                }
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
                Label::TC_LIST => {
                    let n = r.array("tc-list")?;
                    let mut list = Vec::new();
                    for _ in 0..n {
                        list.push(SystemPropertyClaims::decode(r)?);
                    }
                    m.tc_list = Some(list);
                }
                Label::REQUESTED_TC_LIST => {
                    let n = r.nonempty_array("requested-tc-list")?;
                    let mut list = Vec::new();
                    for _ in 0..n {
                        list.push(RequestedTcInfo::decode(r, ctx.numbering)?);
                    }
                    m.requested_tc_list = Some(list);
                }
                Label::UNNEEDED_MANIFEST_LIST => {
                    m.unneeded_manifest_list = Some(options::read_unneeded_manifest_list(r, ctx)?);
                }
                Label::EXT_LIST => m.ext_list = Some(options::read_uint32s(r, "ext-list")?),
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        m.extensions = extensions;
        Ok(m)
    }

    pub(crate) fn encode_body(&self, w: &mut Writer, numbering: Numbering) {
        w.array(2);
        w.uint(MessageType::QUERY_RESPONSE.to_wire(numbering));
        let mut o = OptionsWriter::new(numbering);
        o.put_opt(Label::TOKEN, self.token.as_ref(), |t| Value::Bytes(t.as_bytes()));
        if let Some(v) = self.selected_version {
            o.put(Label::SELECTED_VERSION, Value::Uint(u64::from(v)));
        }
        o.put_opt(
            Label::ATTESTATION_PAYLOAD_FORMAT,
            self.attestation_payload_format.as_deref(),
            Value::Text,
        );
        o.put_opt(Label::ATTESTATION_PAYLOAD, self.attestation_payload.as_deref(), Value::Bytes);
        o.put_opt(Label::SUIT_REPORTS, self.suit_reports.as_deref(), Value::BytesList);
        o.put_opt(Label::TC_LIST, self.tc_list.as_deref(), Value::TcList);
        o.put_opt(Label::REQUESTED_TC_LIST, self.requested_tc_list.as_deref(), |l| {
            Value::RequestedTcList(l)
        });
        o.put_opt(
            Label::UNNEEDED_MANIFEST_LIST,
            self.unneeded_manifest_list.as_deref(),
            Value::ComponentIds,
        );
        o.put_opt(Label::EXT_LIST, self.ext_list.as_deref(), Value::Uints);
        o.extensions(&self.extensions);
        o.write(w);
    }
}
