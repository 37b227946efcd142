//! Error (draft-ietf-teep-protocol-26 §5.5), Agent to TAM.
//!
//! ```cddl
//! error = [
//!   type: TEEP-TYPE-error,
//!   options: {
//!      ? token => bstr .size (8..64),
//!      ? err-msg => text .size (1..128),
//!      ? err-lang => text .size (1..35),
//!      ? supported-teep-cipher-suites => [ + $teep-cipher-suite ],
//!      ? supported-freshness-mechanisms => [ + $freshness-mechanism ],
//!      ? supported-suit-cose-profiles => [ + $suit-cose-profile ],
//!      ? challenge => bstr .size (8..512),
//!      ? versions => [ + version ],
//!      ? suit-reports => [ + bstr .cbor
//!              (SUIT_Report_Protected / SUIT_Report_Unprotected) ],
//!      * $$error-extensions,
//!      * $$teep-option-extensions
//!   },
//!   err-code: err-code-values
//! ]
//! ```

use alloc::string::String;
use alloc::vec::Vec;

use crate::cipher_suite::{CipherSuite, SuitCoseProfile};
use crate::codec::{Reader, Writer, check_len};
use crate::error::DecodeError;
use crate::freshness::FreshnessMechanism;
use crate::options::{self, Ctx, Extension, OptionsWriter, Value};
use crate::query_request::nonempty_opt;
use crate::registry::{ErrCode, Label, MessageType, Numbering};
use crate::token::Token;
use crate::update::read_err_code;

/// An Error message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TeepError {
    /// token copied from the request, if it had one.
    pub token: Option<Token>,
    /// err-msg: human-readable diagnostic, 1..=128 bytes of UTF-8.
    pub err_msg: Option<String>,
    /// err-lang: RFC 5646 language tag of err-msg, 1..=35 bytes.
    pub err_lang: Option<String>,
    /// supported-teep-cipher-suites (mandatory with ERR_UNSUPPORTED_CIPHER_SUITES).
    pub supported_teep_cipher_suites: Option<Vec<CipherSuite>>,
    /// supported-freshness-mechanisms (mandatory with ERR_UNSUPPORTED_FRESHNESS_MECHANISMS).
    pub supported_freshness_mechanisms: Option<Vec<FreshnessMechanism>>,
    /// supported-suit-cose-profiles (mandatory with ERR_UNSUPPORTED_SUIT_REPORT).
    pub supported_suit_cose_profiles: Option<Vec<SuitCoseProfile>>,
    /// challenge for attestation of the TAM.
    pub challenge: Option<Vec<u8>>,
    /// versions (mandatory with ERR_UNSUPPORTED_MSG_VERSION).
    pub versions: Option<Vec<u32>>,
    /// suit-reports with the failure details.
    pub suit_reports: Option<Vec<Vec<u8>>>,
    /// err-code (positional).
    pub err_code: ErrCode,
    /// Options with labels this message does not define.
    pub extensions: Vec<Extension>,
}

impl Default for TeepError {
    fn default() -> Self {
        TeepError::new(ErrCode::PERMANENT_ERROR)
    }
}

/// Largest err-msg in bytes.
const ERR_MSG_MAX: usize = 128;

impl TeepError {
    /// An Error with `err_code` and no options.
    pub fn new(err_code: ErrCode) -> Self {
        TeepError {
            token: None,
            err_msg: None,
            err_lang: None,
            supported_teep_cipher_suites: None,
            supported_freshness_mechanisms: None,
            supported_suit_cose_profiles: None,
            challenge: None,
            versions: None,
            suit_reports: None,
            err_code,
            extensions: Vec::new(),
        }
    }

    /// The Error an Agent sends when it supports none of the offered suites (§7.1): it lists
    /// `ours`, as §5.5 requires for ERR_UNSUPPORTED_CIPHER_SUITES.
    pub fn unsupported_cipher_suites(token: Option<Token>, ours: &[CipherSuite]) -> Self {
        TeepError {
            token,
            supported_teep_cipher_suites: Some(ours.to_vec()),
            ..TeepError::new(ErrCode::UNSUPPORTED_CIPHER_SUITES)
        }
    }

    /// Sets err-msg, cutting `msg` at a character boundary to at most 128 bytes; an empty
    /// message leaves err-msg absent.
    pub fn with_message(mut self, msg: &str) -> Self {
        self.err_msg = truncate_utf8(msg, ERR_MSG_MAX).map(String::from);
        self
    }

    /// Checks the rules of §5.5: sizes, non-empty lists, and the options that a given
    /// err-code makes mandatory.
    pub fn validate(&self) -> Result<(), DecodeError> {
        if let Some(m) = &self.err_msg {
            check_len("err-msg", m.len(), 1, ERR_MSG_MAX)?;
        }
        if let Some(l) = &self.err_lang {
            check_len("err-lang", l.len(), 1, 35)?;
        }
        if let Some(c) = &self.challenge {
            check_len("challenge", c.len(), 8, 512)?;
        }
        nonempty_opt("supported-teep-cipher-suites", &self.supported_teep_cipher_suites)?;
        nonempty_opt("supported-freshness-mechanisms", &self.supported_freshness_mechanisms)?;
        nonempty_opt("supported-suit-cose-profiles", &self.supported_suit_cose_profiles)?;
        nonempty_opt("versions", &self.versions)?;
        nonempty_opt("suit-reports", &self.suit_reports)?;
        options::validate_extensions(&self.extensions)?;
        let required = match self.err_code {
            ErrCode::UNSUPPORTED_CIPHER_SUITES => Some((
                self.supported_teep_cipher_suites.is_some(),
                "Error: ERR_UNSUPPORTED_CIPHER_SUITES requires supported-teep-cipher-suites",
            )),
            ErrCode::UNSUPPORTED_FRESHNESS_MECHANISMS => Some((
                self.supported_freshness_mechanisms.is_some(),
                "Error: ERR_UNSUPPORTED_FRESHNESS_MECHANISMS requires \
                 supported-freshness-mechanisms",
            )),
            ErrCode::UNSUPPORTED_MSG_VERSION => Some((
                self.versions.is_some(),
                "Error: ERR_UNSUPPORTED_MSG_VERSION requires versions",
            )),
            ErrCode::UNSUPPORTED_SUIT_REPORT => Some((
                self.supported_suit_cose_profiles.is_some(),
                "Error: ERR_UNSUPPORTED_SUIT_REPORT requires supported-suit-cose-profiles",
            )),
            _ => None,
        };
        match required {
            Some((false, rule)) => Err(DecodeError::Rule(rule)),
            _ => Ok(()),
        }
    }

    pub(crate) fn decode_body(
        r: &mut Reader<'_>,
        ctx: &Ctx,
        arity: u64,
    ) -> Result<Self, DecodeError> {
        if arity != 3 {
            return Err(DecodeError::ArityMismatch { message: "Error", got: arity, expected: 3 });
        }
        let mut m = TeepError::default();
        let extensions = options::decode(r, ctx, |label, r| {
            match label {
                Label::TOKEN => m.token = Some(Token::from_slice(r.bytes("token")?)?),
                Label::ERR_MSG => m.err_msg = Some(options::read_text_128(r, "err-msg")?),
                Label::ERR_LANG => m.err_lang = Some(options::read_err_lang(r)?),
                Label::SUPPORTED_TEEP_CIPHER_SUITES => {
                    m.supported_teep_cipher_suites =
                        Some(options::read_suites(r, "supported-teep-cipher-suites")?);
                }
                Label::SUPPORTED_FRESHNESS_MECHANISMS => {
                    m.supported_freshness_mechanisms = Some(options::read_freshness(r)?);
                }
                Label::SUPPORTED_SUIT_COSE_PROFILES => {
                    m.supported_suit_cose_profiles =
                        Some(options::read_profiles(r, "supported-suit-cose-profiles")?);
                }
                Label::CHALLENGE => m.challenge = Some(options::read_challenge(r)?),
                Label::VERSIONS => m.versions = Some(options::read_uint32s(r, "versions")?),
                Label::SUIT_REPORTS => {
                    m.suit_reports = Some(options::read_cbor_bstrs(r, ctx, "suit-reports")?);
                }
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        m.extensions = extensions;
        m.err_code = read_err_code(r, ctx.numbering)?;
        Ok(m)
    }

    pub(crate) fn encode_body(&self, w: &mut Writer, numbering: Numbering) {
        w.array(3);
        w.uint(MessageType::ERROR.to_wire(numbering));
        let mut o = OptionsWriter::new(numbering);
        o.put_opt(Label::TOKEN, self.token.as_ref(), |t| Value::Bytes(t.as_bytes()));
        o.put_opt(Label::ERR_MSG, self.err_msg.as_deref(), Value::Text);
        o.put_opt(Label::ERR_LANG, self.err_lang.as_deref(), Value::Text);
        o.put_opt(
            Label::SUPPORTED_TEEP_CIPHER_SUITES,
            self.supported_teep_cipher_suites.as_deref(),
            Value::Suites,
        );
        o.put_opt(
            Label::SUPPORTED_FRESHNESS_MECHANISMS,
            self.supported_freshness_mechanisms.as_deref(),
            Value::Freshness,
        );
        o.put_opt(
            Label::SUPPORTED_SUIT_COSE_PROFILES,
            self.supported_suit_cose_profiles.as_deref(),
            Value::Profiles,
        );
        o.put_opt(Label::CHALLENGE, self.challenge.as_deref(), Value::Bytes);
        o.put_opt(Label::VERSIONS, self.versions.as_deref(), Value::Uints);
        o.put_opt(Label::SUIT_REPORTS, self.suit_reports.as_deref(), Value::BytesList);
        o.extensions(&self.extensions);
        o.write(w);
        w.uint(self.err_code.to_wire(numbering));
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary, or
/// `None` when that prefix is empty.
pub fn truncate_utf8(s: &str, max: usize) -> Option<&str> {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    s.get(..end).filter(|p| !p.is_empty())
}
