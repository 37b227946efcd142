//! TEEP code points: one table per IANA registry, each row carrying its value in the RFC
//! numbering (draft-ietf-teep-protocol-26, as registered by IANA) and in the legacy numbering
//! (draft-ietf-teep-protocol-25 and earlier, used by the working group's examples and most
//! deployed peers).
//!
//! The newtypes hold the RFC value. Conversions to and from the wire go through
//! [`Numbering`]; see draft-ietf-teep-protocol-26 §IANA Considerations ("TEEP Message Types",
//! "TEEP CBOR Labels", "TEEP Error Codes").

use core::fmt;

/// Which set of code points a peer speaks.
///
/// The draft renumbered message types, option labels and one error code in -26; both sets are
/// in use, so the numbering is chosen per peer.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Hash)]
pub enum Numbering {
    /// draft-ietf-teep-protocol-26 and the IANA registries (the default).
    #[default]
    Rfc,
    /// draft-ietf-teep-protocol-25 and earlier.
    Legacy,
}

impl fmt::Display for Numbering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Numbering::Rfc => "rfc",
            Numbering::Legacy => "legacy",
        })
    }
}

/// Generates an open code-point newtype from a registry table.
macro_rules! code_points {
    (
        $(#[$meta:meta])*
        pub struct $name:ident;
        $( $(#[$rmeta:meta])* $konst:ident = $spec:literal, rfc $rfc:literal, legacy $legacy:literal; )+
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(u64);

        impl $name {
            $( $(#[$rmeta])* pub const $konst: Self = Self($rfc); )+

            /// The registry: (value, spec name, RFC value, legacy value).
            const TABLE: &'static [(Self, &'static str, u64, u64)] =
                &[ $( (Self($rfc), $spec, $rfc, $legacy), )+ ];

            /// The value in the RFC numbering (the value this type stores).
            pub const fn rfc_value(self) -> u64 {
                self.0
            }

            /// The name the specification gives this code point, if it is registered.
            pub fn name(self) -> Option<&'static str> {
                Self::TABLE.iter().find(|row| row.0 == self).map(|row| row.1)
            }

            /// The value to put on the wire in `numbering`.
            pub fn to_wire(self, numbering: Numbering) -> u64 {
                match numbering {
                    Numbering::Rfc => self.0,
                    Numbering::Legacy => Self::TABLE
                        .iter()
                        .find(|row| row.0 == self)
                        .map_or(self.0, |row| row.3),
                }
            }

            /// The registered code point that `wire` denotes in `numbering`, if any.
            pub fn from_wire(wire: u64, numbering: Numbering) -> Option<Self> {
                Self::TABLE
                    .iter()
                    .find(|row| match numbering {
                        Numbering::Rfc => row.2 == wire,
                        Numbering::Legacy => row.3 == wire,
                    })
                    .map(|row| row.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(f, "unregistered({})", self.0),
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }
    };
}

code_points! {
    /// A TEEP message type ("TEEP Message Types" registry).
    ///
    /// 0 is reserved (and 4 in the legacy numbering); other values are unassigned. Neither
    /// decodes.
    pub struct MessageType;
    /// QueryRequest, TAM to Agent (§5.1).
    QUERY_REQUEST = "QueryRequest", rfc 1, legacy 1;
    /// QueryResponse, Agent to TAM (§5.2).
    QUERY_RESPONSE = "QueryResponse", rfc 2, legacy 2;
    /// Update, TAM to Agent (§5.3).
    UPDATE = "Update", rfc 3, legacy 3;
    /// Success, Agent to TAM (§5.4).
    SUCCESS = "Success", rfc 4, legacy 5;
    /// Error, Agent to TAM (§5.5).
    ERROR = "Error", rfc 5, legacy 6;
}

code_points! {
    /// A TEEP option label ("TEEP CBOR Labels" registry, §6 "Mapping of TEEP Message
    /// Parameters to CBOR Labels").
    pub struct Label;
    /// supported-teep-cipher-suites
    SUPPORTED_TEEP_CIPHER_SUITES = "supported-teep-cipher-suites", rfc 1, legacy 1;
    /// challenge
    CHALLENGE = "challenge", rfc 2, legacy 2;
    /// versions
    VERSIONS = "versions", rfc 3, legacy 3;
    /// supported-suit-cose-profiles
    SUPPORTED_SUIT_COSE_PROFILES = "supported-suit-cose-profiles", rfc 4, legacy 4;
    /// selected-version
    SELECTED_VERSION = "selected-version", rfc 5, legacy 6;
    /// attestation-payload
    ATTESTATION_PAYLOAD = "attestation-payload", rfc 6, legacy 7;
    /// tc-list
    TC_LIST = "tc-list", rfc 7, legacy 8;
    /// ext-list
    EXT_LIST = "ext-list", rfc 8, legacy 9;
    /// manifest-list
    MANIFEST_LIST = "manifest-list", rfc 9, legacy 10;
    /// msg
    MSG = "msg", rfc 10, legacy 11;
    /// err-msg
    ERR_MSG = "err-msg", rfc 11, legacy 12;
    /// attestation-payload-format
    ATTESTATION_PAYLOAD_FORMAT = "attestation-payload-format", rfc 12, legacy 13;
    /// requested-tc-list
    REQUESTED_TC_LIST = "requested-tc-list", rfc 13, legacy 14;
    /// unneeded-manifest-list
    UNNEEDED_MANIFEST_LIST = "unneeded-manifest-list", rfc 14, legacy 15;
    /// component-id (inside requested-tc-info)
    COMPONENT_ID = "component-id", rfc 15, legacy 16;
    /// tc-manifest-sequence-number (inside requested-tc-info)
    TC_MANIFEST_SEQUENCE_NUMBER = "tc-manifest-sequence-number", rfc 16, legacy 17;
    /// have-binary (inside requested-tc-info)
    HAVE_BINARY = "have-binary", rfc 17, legacy 18;
    /// suit-reports
    SUIT_REPORTS = "suit-reports", rfc 18, legacy 19;
    /// token
    TOKEN = "token", rfc 19, legacy 20;
    /// supported-freshness-mechanisms
    SUPPORTED_FRESHNESS_MECHANISMS = "supported-freshness-mechanisms", rfc 20, legacy 21;
    /// err-lang
    ERR_LANG = "err-lang", rfc 21, legacy 22;
    /// err-code (the option in Update; in Error it is positional)
    ERR_CODE = "err-code", rfc 22, legacy 23;
}

code_points! {
    /// A TEEP error code ("TEEP Error Codes" registry, §5.5).
    ///
    /// Values 0..=23 that the registry does not assign are reserved and rejected on decode;
    /// values above 23 are tolerated as unknown errors (§5.5: "handle them gracefully") and
    /// keep their value in both numberings.
    pub struct ErrCode;
    /// ERR_PERMANENT_ERROR: incorrect or inconsistent fields.
    PERMANENT_ERROR = "ERR_PERMANENT_ERROR", rfc 1, legacy 1;
    /// ERR_UNSUPPORTED_EXTENSION
    UNSUPPORTED_EXTENSION = "ERR_UNSUPPORTED_EXTENSION", rfc 2, legacy 2;
    /// ERR_UNSUPPORTED_FRESHNESS_MECHANISMS
    UNSUPPORTED_FRESHNESS_MECHANISMS = "ERR_UNSUPPORTED_FRESHNESS_MECHANISMS", rfc 3, legacy 3;
    /// ERR_UNSUPPORTED_MSG_VERSION
    UNSUPPORTED_MSG_VERSION = "ERR_UNSUPPORTED_MSG_VERSION", rfc 4, legacy 4;
    /// ERR_UNSUPPORTED_CIPHER_SUITES
    UNSUPPORTED_CIPHER_SUITES = "ERR_UNSUPPORTED_CIPHER_SUITES", rfc 5, legacy 5;
    /// ERR_BAD_CERTIFICATE
    BAD_CERTIFICATE = "ERR_BAD_CERTIFICATE", rfc 6, legacy 6;
    /// ERR_ATTESTATION_REQUIRED
    ATTESTATION_REQUIRED = "ERR_ATTESTATION_REQUIRED", rfc 7, legacy 7;
    /// ERR_UNSUPPORTED_SUIT_REPORT
    UNSUPPORTED_SUIT_REPORT = "ERR_UNSUPPORTED_SUIT_REPORT", rfc 8, legacy 8;
    /// ERR_CERTIFICATE_EXPIRED
    CERTIFICATE_EXPIRED = "ERR_CERTIFICATE_EXPIRED", rfc 9, legacy 9;
    /// ERR_TEMPORARY_ERROR
    TEMPORARY_ERROR = "ERR_TEMPORARY_ERROR", rfc 10, legacy 10;
    /// ERR_MANIFEST_PROCESSING_FAILED
    MANIFEST_PROCESSING_FAILED = "ERR_MANIFEST_PROCESSING_FAILED", rfc 11, legacy 17;
}

/// Highest error code of the range the registry governs (§5.5: codes are kept in 0..=23).
const ERR_CODE_REGISTRY_MAX: u64 = 23;

impl ErrCode {
    /// Decodes an err-code from the wire: registered codes map through the table, codes above
    /// 23 are kept as unknown, and 0 or the reserved values in 1..=23 are rejected (`None`).
    pub fn decode_wire(wire: u64, numbering: Numbering) -> Option<Self> {
        match Self::from_wire(wire, numbering) {
            Some(code) => Some(code),
            None if wire > ERR_CODE_REGISTRY_MAX => Some(Self(wire)),
            None => None,
        }
    }

    /// An error code outside the registry's range (greater than 23), or `None` when `value`
    /// is inside the range (use the constants for registered codes).
    pub fn unknown(value: u64) -> Option<Self> {
        (value > ERR_CODE_REGISTRY_MAX).then_some(Self(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_types_differ_between_numberings() {
        assert_eq!(MessageType::SUCCESS.to_wire(Numbering::Rfc), 4);
        assert_eq!(MessageType::SUCCESS.to_wire(Numbering::Legacy), 5);
        assert_eq!(MessageType::ERROR.to_wire(Numbering::Rfc), 5);
        assert_eq!(MessageType::ERROR.to_wire(Numbering::Legacy), 6);
        assert_eq!(MessageType::from_wire(4, Numbering::Legacy), None);
        assert_eq!(MessageType::from_wire(6, Numbering::Rfc), None);
        assert_eq!(MessageType::from_wire(5, Numbering::Rfc), Some(MessageType::ERROR));
        assert_eq!(MessageType::from_wire(5, Numbering::Legacy), Some(MessageType::SUCCESS));
    }

    #[test]
    fn err_code_manifest_processing_failed_is_renumbered() {
        let code = ErrCode::MANIFEST_PROCESSING_FAILED;
        assert_eq!(code.to_wire(Numbering::Rfc), 11);
        assert_eq!(code.to_wire(Numbering::Legacy), 17);
        assert_eq!(ErrCode::decode_wire(17, Numbering::Legacy), Some(code));
        assert_eq!(ErrCode::decode_wire(11, Numbering::Rfc), Some(code));
        assert_eq!(ErrCode::decode_wire(17, Numbering::Rfc), None);
        assert_eq!(ErrCode::decode_wire(11, Numbering::Legacy), None);
        assert_eq!(ErrCode::decode_wire(0, Numbering::Rfc), None);
        assert_eq!(ErrCode::decode_wire(23, Numbering::Rfc), None);
        let unknown = ErrCode::decode_wire(24, Numbering::Legacy);
        assert_eq!(unknown.map(|c| c.to_wire(Numbering::Rfc)), Some(24));
    }

    #[test]
    fn labels_follow_the_numbering_table() {
        // Confirmed rows (vectors/teep-rfc and vectors/teep-protocol).
        for (label, rfc, legacy) in [
            (Label::CHALLENGE, 2, 2),
            (Label::SELECTED_VERSION, 5, 6),
            (Label::MANIFEST_LIST, 9, 10),
            (Label::ERR_MSG, 11, 12),
            (Label::SUIT_REPORTS, 18, 19),
            (Label::TOKEN, 19, 20),
            (Label::ERR_CODE, 22, 23),
        ] {
            assert_eq!(label.to_wire(Numbering::Rfc), rfc);
            assert_eq!(label.to_wire(Numbering::Legacy), legacy);
            assert_eq!(Label::from_wire(legacy, Numbering::Legacy), Some(label));
        }
        assert_eq!(Label::from_wire(5, Numbering::Legacy), None);
        assert_eq!(Label::from_wire(23, Numbering::Rfc), None);
        assert_eq!(alloc::format!("{}", Label::TOKEN), "token");
    }
}
