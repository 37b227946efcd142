//! Update (draft-ietf-teep-protocol-26 §5.3), TAM to Agent.
//!
//! ```cddl
//! update = [
//!   type: TEEP-TYPE-update,
//!   options: {
//!     ? token => bstr .size (8..64),
//!     ? unneeded-manifest-list => [ + SUIT_Component_Identifier ],
//!     ? manifest-list => [ + bstr .cbor SUIT_Envelope ],
//!     ? attestation-payload-format => text,
//!     ? attestation-payload => bstr,
//!     ? err-code => err-code-values,
//!     ? err-msg => text .size (1..128),
//!     ? err-lang => text .size (1..35),
//!     * $$update-extensions,
//!     * $$teep-option-extensions
//!   }
//! ]
//! ```

use alloc::string::String;
use alloc::vec::Vec;

use crate::codec::{Reader, Writer, check_len};
use crate::component::ComponentId;
use crate::error::DecodeError;
use crate::options::{self, Ctx, Extension, OptionsWriter, Value};
use crate::query_request::nonempty_opt;
use crate::registry::{ErrCode, Label, MessageType, Numbering};
use crate::token::Token;

/// An Update message.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Update {
    /// token: matches the Success or Error to this Update.
    pub token: Option<Token>,
    /// unneeded-manifest-list: SUIT Manifest Component IDs to unlink.
    pub unneeded_manifest_list: Option<Vec<ComponentId>>,
    /// manifest-list: each element one encoded SUIT_Envelope.
    pub manifest_list: Option<Vec<Vec<u8>>>,
    /// attestation-payload-format (media type of `attestation_payload`).
    pub attestation_payload_format: Option<String>,
    /// attestation-payload: an Attestation Result for the Agent.
    pub attestation_payload: Option<Vec<u8>>,
    /// err-code: why the TAM failed to process the QueryResponse.
    pub err_code: Option<ErrCode>,
    /// err-msg: human-readable diagnostic, 1..=128 bytes of UTF-8.
    pub err_msg: Option<String>,
    /// err-lang: RFC 5646 language tag of err-msg, 1..=35 bytes.
    pub err_lang: Option<String>,
    /// Options with labels this message does not define.
    pub extensions: Vec<Extension>,
}

impl Update {
    /// Checks the rules of §5.3: non-empty lists, err-msg and err-lang sizes.
    pub fn validate(&self) -> Result<(), DecodeError> {
        nonempty_opt("unneeded-manifest-list", &self.unneeded_manifest_list)?;
        nonempty_opt("manifest-list", &self.manifest_list)?;
        if let Some(m) = &self.err_msg {
            check_len("err-msg", m.len(), 1, 128)?;
        }
        if let Some(l) = &self.err_lang {
            check_len("err-lang", l.len(), 1, 35)?;
        }
        options::validate_extensions(&self.extensions)
    }

    pub(crate) fn decode_body(
        r: &mut Reader<'_>,
        ctx: &Ctx,
        arity: u64,
    ) -> Result<Self, DecodeError> {
        if arity != 2 {
            return Err(DecodeError::ArityMismatch { message: "Update", got: arity, expected: 2 });
        }
        let mut m = Update::default();
        let extensions = options::decode(r, ctx, |label, r| {
            match label {
                Label::TOKEN => m.token = Some(Token::from_slice(r.bytes("token")?)?),
                Label::UNNEEDED_MANIFEST_LIST => {
                    m.unneeded_manifest_list = Some(options::read_unneeded_manifest_list(r, ctx)?);
                }
                Label::MANIFEST_LIST => {
                    m.manifest_list = Some(options::read_manifest_list(r, ctx)?);
                }
                Label::ATTESTATION_PAYLOAD_FORMAT => {
                    m.attestation_payload_format =
                        Some(r.text("attestation-payload-format")?.into());
                }
                Label::ATTESTATION_PAYLOAD => {
                    m.attestation_payload = Some(r.bytes("attestation-payload")?.to_vec());
                }
                Label::ERR_CODE => m.err_code = Some(read_err_code(r, ctx.numbering)?),
                Label::ERR_MSG => m.err_msg = Some(options::read_text_128(r, "err-msg")?),
                Label::ERR_LANG => m.err_lang = Some(options::read_err_lang(r)?),
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        m.extensions = extensions;
        Ok(m)
    }

    pub(crate) fn encode_body(&self, w: &mut Writer, numbering: Numbering) {
        w.array(2);
        w.uint(MessageType::UPDATE.to_wire(numbering));
        let mut o = OptionsWriter::new(numbering);
        o.put_opt(Label::TOKEN, self.token.as_ref(), |t| Value::Bytes(t.as_bytes()));
        o.put_opt(
            Label::UNNEEDED_MANIFEST_LIST,
            self.unneeded_manifest_list.as_deref(),
            Value::ComponentIds,
        );
        o.put_opt(Label::MANIFEST_LIST, self.manifest_list.as_deref(), Value::BytesList);
        o.put_opt(
            Label::ATTESTATION_PAYLOAD_FORMAT,
            self.attestation_payload_format.as_deref(),
            Value::Text,
        );
        o.put_opt(Label::ATTESTATION_PAYLOAD, self.attestation_payload.as_deref(), Value::Bytes);
        if let Some(code) = self.err_code {
            o.put(Label::ERR_CODE, Value::Uint(code.to_wire(numbering)));
        }
        o.put_opt(Label::ERR_MSG, self.err_msg.as_deref(), Value::Text);
        o.put_opt(Label::ERR_LANG, self.err_lang.as_deref(), Value::Text);
        o.extensions(&self.extensions);
        o.write(w);
    }
}

/// Reads an err-code and rejects the reserved values (§5.5: "The value 0 is reserved and MUST
/// NOT be used"; unassigned values up to 23 are reserved).
pub(crate) fn read_err_code(
    r: &mut Reader<'_>,
    numbering: Numbering,
) -> Result<ErrCode, DecodeError> {
    let wire = r.uint("err-code")?;
    ErrCode::decode_wire(wire, numbering).ok_or(DecodeError::ReservedErrCode(wire))
}
