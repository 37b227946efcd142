//! Success (draft-ietf-teep-protocol-26 §5.4), Agent to TAM.
//!
//! ```cddl
//! success = [
//!   type: TEEP-TYPE-success,
//!   options: {
//!     ? token => bstr .size (8..64),
//!     ? msg => text .size (1..128),
//!     ? suit-reports => [ + bstr .cbor
//!              (SUIT_Report_Protected / SUIT_Report_Unprotected) ],
//!     * $$success-extensions,
//!     * $$teep-option-extensions
//!   }
//! ]
//! ```

use alloc::string::String;
use alloc::vec::Vec;

use crate::codec::{Reader, Writer, check_len};
use crate::error::DecodeError;
use crate::options::{self, Ctx, Extension, OptionsWriter, Value};
use crate::query_request::nonempty_opt;
use crate::registry::{Label, MessageType, Numbering};
use crate::token::Token;

/// A Success message.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Success {
    /// token copied from the Update, if it had one.
    pub token: Option<Token>,
    /// msg: diagnostic text, 1..=128 bytes of UTF-8.
    pub msg: Option<String>,
    /// suit-reports: one encoded SUIT Report per processed manifest.
    pub suit_reports: Option<Vec<Vec<u8>>>,
    /// Options with labels this message does not define.
    pub extensions: Vec<Extension>,
}

impl Success {
    /// Checks the rules of §5.4: msg size and a non-empty suit-reports list.
    pub fn validate(&self) -> Result<(), DecodeError> {
        if let Some(m) = &self.msg {
            check_len("msg", m.len(), 1, 128)?;
        }
        nonempty_opt("suit-reports", &self.suit_reports)?;
        options::validate_extensions(&self.extensions)
    }

    pub(crate) fn decode_body(
        r: &mut Reader<'_>,
        ctx: &Ctx,
        arity: u64,
    ) -> Result<Self, DecodeError> {
        if arity != 2 {
            return Err(DecodeError::ArityMismatch { message: "Success", got: arity, expected: 2 });
        }
        let mut m = Success::default();
        let extensions = options::decode(r, ctx, |label, r| {
            match label {
                Label::TOKEN => m.token = Some(Token::from_slice(r.bytes("token")?)?),
                Label::MSG => m.msg = Some(options::read_text_128(r, "msg")?),
                Label::SUIT_REPORTS => {
                    m.suit_reports = Some(options::read_cbor_bstrs(r, ctx, "suit-reports")?);
                }
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        m.extensions = extensions;
        Ok(m)
    }

    pub(crate) fn encode_body(&self, w: &mut Writer, numbering: Numbering) {
        w.array(2);
        w.uint(MessageType::SUCCESS.to_wire(numbering));
        let mut o = OptionsWriter::new(numbering);
        o.put_opt(Label::TOKEN, self.token.as_ref(), |t| Value::Bytes(t.as_bytes()));
        o.put_opt(Label::MSG, self.msg.as_deref(), Value::Text);
        o.put_opt(Label::SUIT_REPORTS, self.suit_reports.as_deref(), Value::BytesList);
        o.extensions(&self.extensions);
        o.write(w);
    }
}
