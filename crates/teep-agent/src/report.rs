//! Protection of the SUIT Reports the Agent sends in Success and Error
//! (draft-ietf-suit-report §4 SUIT_Report_Protected; draft-ietf-teep-protocol-26 §4.5, §4.6
//! suit-reports).
//!
//! Reports are signed with a report key that is distinct from the TEEP key, so that a report
//! can be checked on its own after it leaves the TEEP exchange; optionally the signed report
//! is encrypted to the TAM (draft-ietf-suit-report §5).

use alloc::vec::Vec;

use teep_cose::{Algorithm, SigningKey};
use teep_suit::{SuitError, SuitReport};

/// Turns a SUIT_Report into the bytes put into suit-reports.
pub trait ReportSealer: Send {
    /// The protected report (bstr .cbor SUIT_Report_Protected).
    fn seal(&mut self, report: &SuitReport) -> Result<Vec<u8>, SuitError>;
}

/// Signs reports with a device report key (COSE_Sign1, kid = RFC 9679 thumbprint).
pub struct SignedReports {
    key: SigningKey,
    alg: Algorithm,
}

impl SignedReports {
    /// Signs with `key` using its default algorithm (ESP256 for P-256, Ed25519).
    pub fn new(key: SigningKey) -> Self {
        let alg = key.default_algorithm();
        Self { key, alg }
    }

    /// The report key's public half: what a TAM needs to verify the reports.
    pub fn public_key(&self) -> teep_cose::PublicKey {
        self.key.public_key()
    }
}

impl core::fmt::Debug for SignedReports {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SignedReports").field("key", &self.key).field("alg", &self.alg).finish()
    }
}

impl ReportSealer for SignedReports {
    fn seal(&mut self, report: &SuitReport) -> Result<Vec<u8>, SuitError> {
        report.sign1(&self.key, self.alg)
    }
}
