//! Errors of the SUIT codec and processor, and their mapping to SUIT_Report reasons
//! (draft-ietf-suit-report §4, "SUIT_Report Reasons" registry).

use alloc::string::String;
use core::fmt;

/// Reason codes of the "SUIT_Report Reasons" registry (draft-ietf-suit-report §8.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// 0: Result OK.
    Ok,
    /// 1: CBOR parse failure.
    CborParse,
    /// 2: unsupported COSE structure or header.
    CoseUnsupported,
    /// 3: unsupported COSE algorithm.
    AlgUnsupported,
    /// 4: signature / MAC verification failed.
    Unauthorised,
    /// 5: unsupported SUIT command.
    CommandUnsupported,
    /// 6: unsupported SUIT component.
    ComponentUnsupported,
    /// 7: unauthorized SUIT component.
    ComponentUnauthorised,
    /// 8: unsupported SUIT parameter.
    ParameterUnsupported,
    /// 9: severing unsupported.
    SeveringUnsupported,
    /// 10: condition failed.
    ConditionFailed,
    /// 11: operation failed.
    OperationFailed,
    /// 12: invocation pending.
    InvokePending,
}

impl Reason {
    /// The registry value.
    pub fn code(self) -> u64 {
        match self {
            Reason::Ok => 0,
            Reason::CborParse => 1,
            Reason::CoseUnsupported => 2,
            Reason::AlgUnsupported => 3,
            Reason::Unauthorised => 4,
            Reason::CommandUnsupported => 5,
            Reason::ComponentUnsupported => 6,
            Reason::ComponentUnauthorised => 7,
            Reason::ParameterUnsupported => 8,
            Reason::SeveringUnsupported => 9,
            Reason::ConditionFailed => 10,
            Reason::OperationFailed => 11,
            Reason::InvokePending => 12,
        }
    }

    /// The reason for a registry value, if known.
    pub fn from_code(code: u64) -> Option<Self> {
        Some(match code {
            0 => Reason::Ok,
            1 => Reason::CborParse,
            2 => Reason::CoseUnsupported,
            3 => Reason::AlgUnsupported,
            4 => Reason::Unauthorised,
            5 => Reason::CommandUnsupported,
            6 => Reason::ComponentUnsupported,
            7 => Reason::ComponentUnauthorised,
            8 => Reason::ParameterUnsupported,
            9 => Reason::SeveringUnsupported,
            10 => Reason::ConditionFailed,
            11 => Reason::OperationFailed,
            12 => Reason::InvokePending,
            _ => return None,
        })
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Reason::Ok => "ok",
            Reason::CborParse => "CBOR parse failure",
            Reason::CoseUnsupported => "unsupported COSE structure or header",
            Reason::AlgUnsupported => "unsupported COSE algorithm",
            Reason::Unauthorised => "signature verification failed",
            Reason::CommandUnsupported => "unsupported SUIT command",
            Reason::ComponentUnsupported => "unsupported SUIT component",
            Reason::ComponentUnauthorised => "unauthorized SUIT component",
            Reason::ParameterUnsupported => "unsupported SUIT parameter",
            Reason::SeveringUnsupported => "severing unsupported",
            Reason::ConditionFailed => "condition failed",
            Reason::OperationFailed => "operation failed",
            Reason::InvokePending => "invocation pending",
        };
        f.write_str(name)
    }
}

/// A failure reported by a [`crate::Platform`] implementation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlatformError {
    /// The platform does not know or support this component.
    UnknownComponent,
    /// The manifest signer may not touch this component.
    Unauthorized,
    /// The resource behind a URI could not be obtained.
    Fetch(String),
    /// Storage failed (I/O, no space, ...).
    Storage(String),
    /// The platform does not implement the requested operation.
    Unsupported(&'static str),
    /// Any other failure of the operation.
    Failed(String),
}

impl fmt::Display for PlatformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlatformError::UnknownComponent => f.write_str("unknown component"),
            PlatformError::Unauthorized => f.write_str("component not authorized for this signer"),
            PlatformError::Fetch(m) => write!(f, "fetch failed: {m}"),
            PlatformError::Storage(m) => write!(f, "storage failed: {m}"),
            PlatformError::Unsupported(what) => write!(f, "platform does not support {what}"),
            PlatformError::Failed(m) => write!(f, "platform operation failed: {m}"),
        }
    }
}

impl core::error::Error for PlatformError {}

/// Why decoding, authenticating or processing a SUIT envelope failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SuitError {
    /// The bytes are not strictly well-formed CBOR within limits.
    Cbor(teep_cbor::Error),
    /// Well-formed CBOR of the wrong shape; names the element.
    Malformed(&'static str),
    /// A map holds a key this processor does not know; names the map and the key.
    UnknownKey {
        /// Which map.
        map: &'static str,
        /// The offending key.
        key: i64,
    },
    /// The envelope has no authentication wrapper (draft-ietf-suit-manifest-34 §8.3).
    MissingAuthentication,
    /// The authentication wrapper carries no authentication block.
    NoAuthenticationBlock,
    /// The envelope has no manifest.
    MissingManifest,
    /// A digest algorithm other than SHA-256.
    UnsupportedDigest(i64),
    /// The manifest digest does not match the bstr-wrapped manifest.
    ManifestDigestMismatch,
    /// An authentication block type other than COSE_Sign1.
    UnsupportedAuthentication(&'static str),
    /// COSE failure other than a bad signature.
    Cose(teep_cose::Error),
    /// No authentication block verified under any trusted key.
    Untrusted,
    /// An unsupported manifest version (only 1 exists).
    UnsupportedVersion(u64),
    /// A severed member is missing from the envelope; value is the manifest key.
    SeveredMemberMissing(u64),
    /// A severable member in the envelope does not match its digest in the manifest.
    SeveredMemberDigest(u64),
    /// A severable member appears in the envelope although the manifest holds it inline.
    UnexpectedSeveredMember(u64),
    /// The manifest sequence number is not greater than the installed one.
    Rollback {
        /// Installed sequence number.
        installed: u64,
        /// Offered sequence number.
        offered: u64,
    },
    /// The manifest has no install section, so nothing could be installed.
    NoInstallSection,
    /// A command this processor does not implement; value is the command code.
    UnsupportedCommand(i64),
    /// A parameter this processor does not implement; value is the parameter code.
    UnsupportedParameter(i64),
    /// A command needs a parameter that was not set; value is the parameter code.
    MissingParameter(u64),
    /// A condition failed; value is the condition code.
    ConditionFailed(u64),
    /// The component index is outside the component list.
    ComponentIndex(u64),
    /// The manifest uses a feature this processor leaves out; names it.
    Unsupported(&'static str),
    /// A payload is larger than its image-size parameter or the configured limit.
    PayloadTooLarge,
    /// A payload's size differs from the image-size parameter.
    PayloadSize {
        /// Declared size.
        expected: u64,
        /// Actual size.
        actual: u64,
    },
    /// An integrated payload ("#name") is not in the envelope.
    MissingIntegratedPayload,
    /// Sequences nest deeper than the configured limit.
    TooDeep,
    /// More commands were executed than the configured limit.
    TooManySteps,
    /// The platform reported a failure.
    Platform(PlatformError),
    /// The component is not installed (uninstall of an unknown manifest).
    NotInstalled,
    /// A caller error: the API was misused (e.g. an invalid builder input).
    InvalidInput(&'static str),
    /// An encrypted payload names no recipient the device holds a key for.
    NoDecryptionKey,
    /// Decrypting a payload failed (wrong key, tag mismatch, malformed encryption info).
    Decrypt(teep_cose::Error),
    /// Strict mode: suit-directive-process-dependency on a component whose
    /// suit-condition-dependency-integrity did not pass before; value is the component index.
    DependencyNotVerified(u64),
    /// A dependency command on a component that is not a dependency manifest.
    NotADependency(u64),
}

impl SuitError {
    /// An implementation-specific result code for suit-report-result-code
    /// (draft-ietf-suit-report §4: for debugging, not for interoperability). For command
    /// failures it carries the command or parameter code.
    pub fn code(&self) -> i64 {
        let detail = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        match self {
            SuitError::UnsupportedCommand(c) | SuitError::UnsupportedParameter(c) => *c,
            SuitError::MissingParameter(p) => detail(*p),
            SuitError::ConditionFailed(c) => detail(*c),
            SuitError::UnsupportedDigest(a) => *a,
            SuitError::SeveredMemberMissing(k)
            | SuitError::SeveredMemberDigest(k)
            | SuitError::UnexpectedSeveredMember(k) => detail(*k),
            SuitError::ComponentIndex(i)
            | SuitError::DependencyNotVerified(i)
            | SuitError::NotADependency(i) => detail(*i),
            _ => 0,
        }
    }

    /// The SUIT_Report reason that describes this failure.
    pub fn reason(&self) -> Reason {
        match self {
            SuitError::Cbor(_)
            | SuitError::Malformed(_)
            | SuitError::UnknownKey { .. }
            | SuitError::MissingManifest
            | SuitError::TooDeep => Reason::CborParse,
            SuitError::MissingAuthentication
            | SuitError::NoAuthenticationBlock
            | SuitError::ManifestDigestMismatch
            | SuitError::Untrusted
            | SuitError::SeveredMemberDigest(_) => Reason::Unauthorised,
            SuitError::UnsupportedDigest(_) => Reason::AlgUnsupported,
            SuitError::UnsupportedAuthentication(_) => Reason::CoseUnsupported,
            SuitError::Cose(e) => cose_reason(e),
            SuitError::SeveredMemberMissing(_) | SuitError::UnexpectedSeveredMember(_) => {
                Reason::SeveringUnsupported
            }
            SuitError::UnsupportedCommand(_) | SuitError::Unsupported(_) => {
                Reason::CommandUnsupported
            }
            SuitError::UnsupportedParameter(_) | SuitError::MissingParameter(_) => {
                Reason::ParameterUnsupported
            }
            SuitError::ComponentIndex(_) => Reason::ComponentUnsupported,
            SuitError::ConditionFailed(_)
            | SuitError::Rollback { .. }
            | SuitError::DependencyNotVerified(_) => Reason::ConditionFailed,
            SuitError::NotADependency(_) => Reason::ComponentUnsupported,
            SuitError::Decrypt(e) => match e {
                teep_cose::Error::UnsupportedAlgorithm(_) => Reason::AlgUnsupported,
                teep_cose::Error::Cbor(_) | teep_cose::Error::Malformed(_) => Reason::CborParse,
                _ => Reason::OperationFailed,
            },
            SuitError::NoDecryptionKey => Reason::OperationFailed,
            SuitError::Platform(PlatformError::UnknownComponent) => Reason::ComponentUnsupported,
            SuitError::Platform(PlatformError::Unauthorized) => Reason::ComponentUnauthorised,
            SuitError::UnsupportedVersion(_) => Reason::CborParse,
            SuitError::NoInstallSection
            | SuitError::PayloadTooLarge
            | SuitError::PayloadSize { .. }
            | SuitError::MissingIntegratedPayload
            | SuitError::TooManySteps
            | SuitError::Platform(_)
            | SuitError::NotInstalled
            | SuitError::InvalidInput(_) => Reason::OperationFailed,
        }
    }
}

fn cose_reason(e: &teep_cose::Error) -> Reason {
    match e {
        teep_cose::Error::Cbor(_) | teep_cose::Error::Malformed(_) => Reason::CborParse,
        teep_cose::Error::UnsupportedAlgorithm(_) | teep_cose::Error::AlgorithmNotAllowed(_) => {
            Reason::AlgUnsupported
        }
        teep_cose::Error::BadSignature
        | teep_cose::Error::BadMac
        | teep_cose::Error::KeyMismatch => Reason::Unauthorised,
        _ => Reason::CoseUnsupported,
    }
}

impl fmt::Display for SuitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SuitError::Cbor(e) => write!(f, "invalid CBOR: {e}"),
            SuitError::Malformed(what) => write!(f, "malformed SUIT structure: {what}"),
            SuitError::UnknownKey { map, key } => write!(f, "unknown key {key} in {map}"),
            SuitError::MissingAuthentication => {
                f.write_str("envelope has no authentication wrapper")
            }
            SuitError::NoAuthenticationBlock => {
                f.write_str("authentication wrapper holds no authentication block")
            }
            SuitError::MissingManifest => f.write_str("envelope has no manifest"),
            SuitError::UnsupportedDigest(alg) => write!(f, "unsupported digest algorithm {alg}"),
            SuitError::ManifestDigestMismatch => f.write_str("manifest digest does not match"),
            SuitError::UnsupportedAuthentication(what) => {
                write!(f, "unsupported authentication block: {what}")
            }
            SuitError::Cose(e) => write!(f, "COSE: {e}"),
            SuitError::Untrusted => {
                f.write_str("no authentication block verified with a trusted key")
            }
            SuitError::UnsupportedVersion(v) => write!(f, "unsupported manifest version {v}"),
            SuitError::SeveredMemberMissing(k) => write!(f, "severed member {k} missing"),
            SuitError::SeveredMemberDigest(k) => {
                write!(f, "severed member {k} does not match its digest")
            }
            SuitError::UnexpectedSeveredMember(k) => {
                write!(f, "envelope member {k} present although the manifest holds it inline")
            }
            SuitError::Rollback { installed, offered } => {
                write!(f, "sequence number {offered} is not greater than installed {installed}")
            }
            SuitError::NoInstallSection => {
                f.write_str("manifest has no install section: nothing was installed")
            }
            SuitError::UnsupportedCommand(c) => write!(f, "unsupported command {c}"),
            SuitError::UnsupportedParameter(p) => write!(f, "unsupported parameter {p}"),
            SuitError::MissingParameter(p) => write!(f, "command needs parameter {p}, not set"),
            SuitError::ConditionFailed(c) => write!(f, "condition {c} failed"),
            SuitError::ComponentIndex(i) => write!(f, "component index {i} out of range"),
            SuitError::Unsupported(what) => write!(f, "unsupported: {what}"),
            SuitError::PayloadTooLarge => f.write_str("payload larger than allowed"),
            SuitError::PayloadSize { expected, actual } => {
                write!(f, "payload has {actual} bytes, image-size says {expected}")
            }
            SuitError::MissingIntegratedPayload => {
                f.write_str("integrated payload not present in envelope")
            }
            SuitError::TooDeep => f.write_str("command sequences nest too deep"),
            SuitError::TooManySteps => f.write_str("too many commands executed"),
            SuitError::Platform(e) => write!(f, "platform: {e}"),
            SuitError::NotInstalled => f.write_str("manifest not installed"),
            SuitError::InvalidInput(what) => write!(f, "invalid input: {what}"),
            SuitError::NoDecryptionKey => {
                f.write_str("no decryption key for any recipient of the encrypted payload")
            }
            SuitError::Decrypt(e) => write!(f, "payload decryption failed: {e}"),
            SuitError::DependencyNotVerified(i) => write!(
                f,
                "process-dependency on component {i} before dependency-integrity (strict mode)"
            ),
            SuitError::NotADependency(i) => write!(f, "component {i} is not a dependency"),
        }
    }
}

impl core::error::Error for SuitError {}

impl From<teep_cbor::Error> for SuitError {
    fn from(e: teep_cbor::Error) -> Self {
        SuitError::Cbor(e)
    }
}

impl From<teep_cose::Error> for SuitError {
    fn from(e: teep_cose::Error) -> Self {
        SuitError::Cose(e)
    }
}

impl From<PlatformError> for SuitError {
    fn from(e: PlatformError) -> Self {
        SuitError::Platform(e)
    }
}
