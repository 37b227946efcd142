//! SUIT_Report (draft-ietf-suit-report §4): the outcome of processing one manifest, which the
//! TEEP Agent carries in the suit-reports of Success and Error messages
//! (draft-ietf-teep-protocol-26 §4.5, §4.6).
//!
//! ```cddl
//! SUIT_Report = {
//!   suit-reference              => SUIT_Reference,          ; 99
//!   ? suit-report-nonce         => bstr,                    ; 2
//!   suit-report-records         => [* SUIT_Record / system-property-claims ],   ; 3
//!   suit-report-result          => true / {                 ; 4
//!     suit-report-result-code   => int,                     ; 5
//!     suit-report-result-record => SUIT_Record,             ; 6
//!     suit-report-result-reason => SUIT_Report_Reasons,     ; 7
//!   },
//! }
//! SUIT_Reference = [ suit-report-manifest-uri : tstr, suit-report-manifest-digest : SUIT_Digest ]
//! SUIT_Record = [ manifest-id : [* uint], manifest-section : int, section-offset : uint,
//!                 component-index : uint, properties : {* $$SUIT_Parameters} ]
//! ```
//! A report may travel unprotected inside a signed TEEP message, or be protected on its own
//! (draft-ietf-suit-report §5, SUIT_Report_Protected): [`SuitReport::sign1`] signs it with a
//! device report key distinct from the TEEP key, and [`SuitReport::encrypt`] additionally
//! encrypts it to the TAM (ECDH-ES + A128KW, COSE_KDF_Context other 'SUIT Report
//! Encryption').

use alloc::string::String;
use alloc::vec::Vec;

use minicbor::Decoder;
use minicbor::data::Type;

use crate::cbor;
use crate::digest::SuitDigest;
use crate::error::{Reason, SuitError};

const KEY_NONCE: u64 = 2;
const KEY_RECORDS: u64 = 3;
const KEY_RESULT: u64 = 4;
const KEY_RESULT_CODE: u64 = 5;
const KEY_RESULT_RECORD: u64 = 6;
const KEY_RESULT_REASON: u64 = 7;
const KEY_REFERENCE: u64 = 99;

/// SUIT_Reference: which manifest the report is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuitReference {
    /// suit-reference-uri of the manifest, or empty when it has none.
    pub manifest_uri: String,
    /// Digest of the manifest, as in its authentication wrapper.
    pub manifest_digest: SuitDigest,
}

/// SUIT_Record: where in the manifest something happened.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Record {
    /// Path of manifest indices through dependencies; empty for the root manifest.
    pub manifest_id: Vec<u64>,
    /// The manifest member (section key) being executed, e.g. 20 for suit-install.
    pub section: i64,
    /// Byte offset of the command within the section's command sequence.
    pub offset: u64,
    /// The component index the command applied to.
    pub component_index: u64,
    /// Parameters consumed by the command, as `(label, encoded CBOR value)` pairs.
    pub properties: Vec<(i64, Vec<u8>)>,
}

/// suit-report-result: success, or the failing record with its reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReportResult {
    /// `true`: every command ran successfully.
    Success,
    /// The failing command.
    Failure {
        /// Implementation-specific result code (for debugging).
        code: i64,
        /// The record of the failing command.
        record: Record,
        /// The interoperable reason.
        reason: Reason,
    },
}

/// A SUIT_Report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuitReport {
    /// The manifest reported on.
    pub reference: SuitReference,
    /// The nonce (e.g. the TEEP challenge or token), if any.
    pub nonce: Option<Vec<u8>>,
    /// Records of commands whose reporting policy asked for one.
    pub records: Vec<Record>,
    /// The result.
    pub result: ReportResult,
}

impl SuitReport {
    /// Whether the report says success.
    pub fn is_success(&self) -> bool {
        matches!(self.result, ReportResult::Success)
    }

    /// The CBOR encoding (preferred serialization).
    pub fn encode(&self) -> Vec<u8> {
        let mut enc = cbor::encoder();
        let pairs = 3 + u64::from(self.nonce.is_some());
        cbor::infallible(enc.map(pairs));
        if let Some(nonce) = &self.nonce {
            cbor::infallible(enc.u64(KEY_NONCE));
            cbor::infallible(enc.bytes(nonce));
        }
        cbor::infallible(enc.u64(KEY_RECORDS));
        cbor::infallible(enc.array(self.records.len() as u64));
        for r in &self.records {
            encode_record(&mut enc, r);
        }
        cbor::infallible(enc.u64(KEY_RESULT));
        match &self.result {
            ReportResult::Success => cbor::infallible(enc.bool(true)),
            ReportResult::Failure { code, record, reason } => {
                cbor::infallible(enc.map(3));
                cbor::infallible(enc.u64(KEY_RESULT_CODE));
                cbor::infallible(enc.i64(*code));
                cbor::infallible(enc.u64(KEY_RESULT_RECORD));
                encode_record(&mut enc, record);
                cbor::infallible(enc.u64(KEY_RESULT_REASON));
                cbor::infallible(enc.u64(reason.code()));
            }
        }
        cbor::infallible(enc.u64(KEY_REFERENCE));
        cbor::infallible(enc.array(2));
        cbor::infallible(enc.str(&self.reference.manifest_uri));
        self.reference.manifest_digest.encode_into(&mut enc);
        enc.into_writer()
    }

    /// Decodes a report (e.g. on the TAM side). Unknown keys are rejected.
    pub fn decode(bytes: &[u8]) -> Result<Self, SuitError> {
        cbor::precheck(bytes)?;
        let mut d = Decoder::new(bytes);
        let n = cbor::map_len(&mut d, "SUIT_Report")?;
        let (mut reference, mut nonce, mut records, mut result) = (None, None, None, None);
        for _ in 0..n {
            let key = cbor::uint(&mut d, "SUIT_Report key")?;
            match key {
                KEY_NONCE => nonce = Some(cbor::bytes(&mut d, "suit-report-nonce")?.to_vec()),
                KEY_RECORDS => {
                    let count = cbor::array_len(&mut d, "suit-report-records")?;
                    let mut list = Vec::new();
                    for _ in 0..count {
                        list.push(decode_record(&mut d)?);
                    }
                    records = Some(list);
                }
                KEY_RESULT => result = Some(decode_result(&mut d)?),
                KEY_REFERENCE => {
                    if cbor::array_len(&mut d, "SUIT_Reference")? != 2 {
                        return Err(SuitError::Malformed("SUIT_Reference"));
                    }
                    let uri = cbor::text(&mut d, "suit-report-manifest-uri")?;
                    let digest = SuitDigest::decode_from(&mut d)?;
                    reference =
                        Some(SuitReference { manifest_uri: uri.into(), manifest_digest: digest });
                }
                other => {
                    return Err(SuitError::UnknownKey {
                        map: "SUIT_Report",
                        key: i64::try_from(other).unwrap_or(i64::MAX),
                    });
                }
            }
        }
        Ok(SuitReport {
            reference: reference.ok_or(SuitError::Malformed("SUIT_Report without reference"))?,
            nonce,
            records: records.ok_or(SuitError::Malformed("SUIT_Report without records"))?,
            result: result.ok_or(SuitError::Malformed("SUIT_Report without result"))?,
        })
    }
}

/// COSE_KDF_Context SuppPubInfo.other for encrypted reports (draft-ietf-suit-report §5).
pub const REPORT_ENCRYPTION_CONTEXT: &[u8] = b"SUIT Report Encryption";

impl SuitReport {
    /// SUIT_Report_Protected as a COSE_Sign1_Tagged with the encoded report as payload, signed
    /// with `key` (the device report key; its RFC 9679 thumbprint is the kid).
    pub fn sign1(
        &self,
        key: &teep_cose::SigningKey,
        alg: teep_cose::Algorithm,
    ) -> Result<Vec<u8>, SuitError> {
        let kid = key.public_key().thumbprint();
        Ok(teep_cose::sign1(&self.encode(), key, alg, Some(&kid), &[], true)?)
    }

    /// Verifies a report protected by [`SuitReport::sign1`] under `key` and decodes it.
    pub fn open_sign1(bytes: &[u8], key: &teep_cose::PublicKey) -> Result<Self, SuitError> {
        let sign1 = teep_cose::Sign1::decode(bytes)?;
        sign1.verify(key, &[])?;
        Self::decode(sign1.payload.ok_or(SuitError::Malformed("report payload missing"))?)
    }

    /// Signs the report with `key`, then encrypts the COSE_Sign1 to `recipient` in a
    /// COSE_Encrypt (A128GCM content, ECDH-ES + A128KW recipient with
    /// `REPORT_ENCRYPTION_CONTEXT`, 'SUIT Report Encryption').
    pub fn encrypt<R: rand_core::CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        key: &teep_cose::SigningKey,
        alg: teep_cose::Algorithm,
        recipient: &teep_cose::PublicKey,
    ) -> Result<Vec<u8>, SuitError> {
        let signed = self.sign1(key, alg)?;
        let spec = teep_cose::RecipientSpec::EcdhEsKeyWrap {
            alg: teep_cose::Algorithm::ECDH_ES_A128KW,
            recipient,
            kid: None,
            other: Some(REPORT_ENCRYPTION_CONTEXT),
        };
        let out =
            teep_cose::encrypt(rng, &signed, teep_cose::Algorithm::A128GCM, &[spec], &[], false)?;
        Ok(out.message)
    }

    /// Decrypts a report made by [`SuitReport::encrypt`] with the recipient's private key,
    /// verifies the inner signature under `signer` and decodes it.
    pub fn open_encrypted(
        bytes: &[u8],
        recipient: &teep_cose::SigningKey,
        signer: &teep_cose::PublicKey,
    ) -> Result<Self, SuitError> {
        let enc = teep_cose::CoseEncrypt::decode(bytes)?;
        let signed = enc.decrypt(
            teep_cose::RecipientKey::Ecdh(recipient),
            Some(REPORT_ENCRYPTION_CONTEXT),
            &[],
        )?;
        Self::open_sign1(&signed, signer)
    }
}

/// How a suit-reports entry was protected (draft-ietf-suit-report §4, §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReportProtection {
    /// SUIT_Report_Unprotected: the bare map (authenticated only by the TEEP message).
    Unprotected,
    /// COSE_Sign1 with the device report key.
    Signed,
    /// COSE_Encrypt around the COSE_Sign1 (ECDH-ES + A128KW, 'SUIT Report Encryption').
    Encrypted,
}

impl ReportProtection {
    /// `unprotected`, `signed` or `encrypted`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportProtection::Unprotected => "unprotected",
            ReportProtection::Signed => "signed",
            ReportProtection::Encrypted => "encrypted",
        }
    }
}

/// A suit-reports entry as a receiver (the TAM) read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedReport {
    /// The decoded report.
    pub report: SuitReport,
    /// How it was protected.
    pub protection: ReportProtection,
    /// Whether its signature verified under the given report key (false when no key was
    /// given or it was unprotected).
    pub verified: bool,
}

impl SuitReport {
    /// Reads one suit-reports entry in any of its forms: SUIT_Report_Unprotected (a map),
    /// a COSE_Sign1 ([`SuitReport::sign1`]) or a COSE_Encrypt ([`SuitReport::encrypt`]).
    ///
    /// With `report_key` (the device's enrolled report key), a signed or encrypted report must
    /// verify under it and an unprotected one is rejected ([`SuitError::Untrusted`]); without
    /// it the signature is not checked and `verified` is false. Encrypted reports need
    /// `recipient` (the receiver's ECDH key), otherwise [`SuitError::Unsupported`].
    pub fn receive(
        bytes: &[u8],
        report_key: Option<&teep_cose::PublicKey>,
        recipient: Option<&teep_cose::SigningKey>,
    ) -> Result<ReceivedReport, SuitError> {
        cbor::precheck(bytes)?;
        // Major type 5 (map): SUIT_Report_Unprotected.
        if bytes.first().is_some_and(|b| b >> 5 == 5) {
            if report_key.is_some() {
                return Err(SuitError::Untrusted);
            }
            let report = Self::decode(bytes)?;
            return Ok(ReceivedReport {
                report,
                protection: ReportProtection::Unprotected,
                verified: false,
            });
        }
        if let Ok(sign1) = teep_cose::Sign1::decode(bytes) {
            let (report, verified) = open_signed(&sign1, report_key)?;
            return Ok(ReceivedReport { report, protection: ReportProtection::Signed, verified });
        }
        let enc = teep_cose::CoseEncrypt::decode(bytes)?;
        let recipient = recipient
            .ok_or(SuitError::Unsupported("encrypted SUIT report without a recipient key"))?;
        let signed = enc
            .decrypt(teep_cose::RecipientKey::Ecdh(recipient), Some(REPORT_ENCRYPTION_CONTEXT), &[])
            .map_err(SuitError::Decrypt)?;
        let sign1 = teep_cose::Sign1::decode(&signed)?;
        let (report, verified) = open_signed(&sign1, report_key)?;
        Ok(ReceivedReport { report, protection: ReportProtection::Encrypted, verified })
    }
}

fn open_signed(
    sign1: &teep_cose::Sign1<'_>,
    key: Option<&teep_cose::PublicKey>,
) -> Result<(SuitReport, bool), SuitError> {
    if let Some(key) = key {
        sign1.verify(key, &[]).map_err(|_| SuitError::Untrusted)?;
    }
    let payload = sign1.payload.ok_or(SuitError::Malformed("report payload missing"))?;
    Ok((SuitReport::decode(payload)?, key.is_some()))
}

fn encode_record(enc: &mut minicbor::Encoder<Vec<u8>>, r: &Record) {
    cbor::infallible(enc.array(5));
    cbor::infallible(enc.array(r.manifest_id.len() as u64));
    for i in &r.manifest_id {
        cbor::infallible(enc.u64(*i));
    }
    cbor::infallible(enc.i64(r.section));
    cbor::infallible(enc.u64(r.offset));
    cbor::infallible(enc.u64(r.component_index));
    cbor::infallible(enc.map(r.properties.len() as u64));
    for (label, value) in &r.properties {
        cbor::infallible(enc.i64(*label));
        // `value` is one encoded CBOR item produced by this crate.
        let w = enc.writer_mut();
        w.extend_from_slice(value);
    }
}

fn decode_record(d: &mut Decoder<'_>) -> Result<Record, SuitError> {
    let n = cbor::array_len(d, "SUIT_Record")?;
    if n < 5 {
        return Err(SuitError::Malformed("SUIT_Record needs five elements"));
    }
    let ids = cbor::array_len(d, "suit-record-manifest-id")?;
    let mut manifest_id = Vec::new();
    for _ in 0..ids {
        manifest_id.push(cbor::uint(d, "suit-record-manifest-id")?);
    }
    let section = cbor::int(d, "suit-record-manifest-section")?;
    let offset = cbor::uint(d, "suit-record-section-offset")?;
    let component_index = cbor::uint(d, "suit-record-component-index")?;
    let props = cbor::map_len(d, "suit-record-properties")?;
    let mut properties = Vec::new();
    for _ in 0..props {
        let label = cbor::int(d, "parameter label")?;
        properties.push((label, cbor::raw(d, "parameter value")?.to_vec()));
    }
    for _ in 5..n {
        cbor::skip(d, "SUIT_Record extension")?;
    }
    Ok(Record { manifest_id, section, offset, component_index, properties })
}

fn decode_result(d: &mut Decoder<'_>) -> Result<ReportResult, SuitError> {
    if d.datatype().ok() == Some(Type::Bool) {
        return match d.bool() {
            Ok(true) => Ok(ReportResult::Success),
            _ => Err(SuitError::Malformed("suit-report-result must be true or a map")),
        };
    }
    let n = cbor::map_len(d, "suit-report-result")?;
    let (mut code, mut record, mut reason) = (None, None, None);
    for _ in 0..n {
        match cbor::uint(d, "suit-report-result key")? {
            KEY_RESULT_CODE => code = Some(cbor::int(d, "suit-report-result-code")?),
            KEY_RESULT_RECORD => record = Some(decode_record(d)?),
            KEY_RESULT_REASON => {
                let v = cbor::uint(d, "suit-report-result-reason")?;
                reason = Some(Reason::from_code(v).ok_or(SuitError::Malformed("unknown reason"))?);
            }
            _ => return Err(SuitError::Malformed("unknown key in suit-report-result")),
        }
    }
    match (code, record, reason) {
        (Some(code), Some(record), Some(reason)) => {
            Ok(ReportResult::Failure { code, record, reason })
        }
        _ => Err(SuitError::Malformed("incomplete suit-report-result")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_failure_report() {
        let report = SuitReport {
            reference: SuitReference {
                manifest_uri: String::new(),
                manifest_digest: SuitDigest::sha256(b"m"),
            },
            nonce: Some(alloc::vec![1, 2, 3]),
            records: Vec::new(),
            result: ReportResult::Failure {
                code: 7,
                record: Record {
                    manifest_id: Vec::new(),
                    section: 20,
                    offset: 12,
                    component_index: 0,
                    properties: alloc::vec![(14, alloc::vec![0x14])],
                },
                reason: Reason::ConditionFailed,
            },
        };
        let bytes = report.encode();
        assert!(teep_cbor::check(&bytes, &teep_cbor::Limits::default()).is_ok());
        assert_eq!(SuitReport::decode(&bytes).ok(), Some(report.clone()));

        // Signed with a report key, and encrypted to the TAM.
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let device = teep_cose::SigningKey::generate_p256(&mut rng);
        let tam = teep_cose::SigningKey::generate_p256(&mut rng);
        let signed = report.sign1(&device, device.default_algorithm()).unwrap_or_default();
        assert_eq!(
            SuitReport::open_sign1(&signed, &device.public_key()).ok(),
            Some(report.clone())
        );
        assert!(SuitReport::open_sign1(&signed, &tam.public_key()).is_err());
        let sealed = report
            .encrypt(&mut rng, &device, device.default_algorithm(), &tam.public_key())
            .unwrap_or_default();
        let opened = SuitReport::open_encrypted(&sealed, &tam, &device.public_key());
        assert_eq!(opened.ok(), Some(report));
        assert!(SuitReport::open_encrypted(&sealed, &device, &device.public_key()).is_err());
    }
}
