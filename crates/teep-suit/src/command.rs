//! Command and parameter code points (IANA "SUIT Commands" and "SUIT Parameters";
//! draft-ietf-suit-manifest-34 §11.5–§11.6, draft-ietf-suit-trust-domains §9).

/// Condition and directive codes.
pub mod code {
    /// suit-condition-vendor-identifier
    pub const VENDOR_IDENTIFIER: i64 = 1;
    /// suit-condition-class-identifier
    pub const CLASS_IDENTIFIER: i64 = 2;
    /// suit-condition-image-match
    pub const IMAGE_MATCH: i64 = 3;
    /// suit-condition-component-slot
    pub const COMPONENT_SLOT: i64 = 5;
    /// suit-condition-check-content
    pub const CHECK_CONTENT: i64 = 6;
    /// suit-condition-dependency-integrity (trust domains)
    pub const DEPENDENCY_INTEGRITY: i64 = 7;
    /// suit-condition-is-dependency (trust domains)
    pub const IS_DEPENDENCY: i64 = 8;
    /// suit-directive-process-dependency (trust domains)
    pub const PROCESS_DEPENDENCY: i64 = 11;
    /// suit-directive-set-component-index
    pub const SET_COMPONENT_INDEX: i64 = 12;
    /// suit-condition-abort
    pub const ABORT: i64 = 14;
    /// suit-directive-try-each
    pub const TRY_EACH: i64 = 15;
    /// suit-directive-write
    pub const WRITE: i64 = 18;
    /// suit-directive-set-parameters (trust domains)
    pub const SET_PARAMETERS: i64 = 19;
    /// suit-directive-override-parameters
    pub const OVERRIDE_PARAMETERS: i64 = 20;
    /// suit-directive-fetch
    pub const FETCH: i64 = 21;
    /// suit-directive-copy
    pub const COPY: i64 = 22;
    /// suit-directive-invoke
    pub const INVOKE: i64 = 23;
    /// suit-condition-device-identifier
    pub const DEVICE_IDENTIFIER: i64 = 24;
    /// suit-directive-swap
    pub const SWAP: i64 = 31;
    /// suit-directive-run-sequence
    pub const RUN_SEQUENCE: i64 = 32;
    /// suit-directive-unlink (trust domains)
    pub const UNLINK: i64 = 33;
}

/// Parameter labels.
pub mod param {
    /// suit-parameter-vendor-identifier
    pub const VENDOR_IDENTIFIER: i64 = 1;
    /// suit-parameter-class-identifier
    pub const CLASS_IDENTIFIER: i64 = 2;
    /// suit-parameter-image-digest
    pub const IMAGE_DIGEST: i64 = 3;
    /// suit-parameter-component-slot
    pub const COMPONENT_SLOT: i64 = 5;
    /// suit-parameter-strict-order
    pub const STRICT_ORDER: i64 = 12;
    /// suit-parameter-soft-failure
    pub const SOFT_FAILURE: i64 = 13;
    /// suit-parameter-image-size
    pub const IMAGE_SIZE: i64 = 14;
    /// suit-parameter-content
    pub const CONTENT: i64 = 18;
    /// suit-parameter-encryption-info (draft-ietf-suit-firmware-encryption)
    pub const ENCRYPTION_INFO: i64 = 19;
    /// suit-parameter-uri
    pub const URI: i64 = 21;
    /// suit-parameter-source-component
    pub const SOURCE_COMPONENT: i64 = 22;
    /// suit-parameter-invoke-args
    pub const INVOKE_ARGS: i64 = 23;
    /// suit-parameter-device-identifier
    pub const DEVICE_IDENTIFIER: i64 = 24;
    /// suit-parameter-fetch-arguments
    pub const FETCH_ARGUMENTS: i64 = 25;
}
