//! Passport model, Agent side (RFC 9334 §5.1; draft-ietf-teep-protocol-26 §4.3).
//!
//! The Broker (in the REE) asks the Agent for Evidence bound to a nonce (normally the
//! challenge of the QueryRequest it is about to deliver), takes it to the Verifier, and hands
//! the Attestation Result back. The Agent keeps a few results, each for one nonce; when a
//! QueryRequest asks for attestation with that nonce (and nonce freshness is negotiated), the
//! QueryResponse carries the result instead of Evidence. Each result is used at most once.
//! The Agent does not judge the result: the TAM validates it (trusted Verifier, cnf, nonce).

use alloc::vec::Vec;
use core::fmt;

/// attestation-payload-format of a presented Attestation Result (an EAT in CWT form).
pub const RESULT_FORMAT: &str = "application/eat+cwt";
/// Most results kept at once; the oldest is dropped first.
pub const MAX_RESULTS: usize = 4;
/// Largest Attestation Result accepted, bytes.
pub const MAX_RESULT_LEN: usize = 16 * 1024;
/// Nonce lengths accepted (draft-ietf-teep-protocol-26: challenge, 8..=64 bytes).
pub const NONCE_LEN: core::ops::RangeInclusive<usize> = 8..=64;

/// Why a result was not stored.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PassportError {
    /// The nonce is shorter than 8 or longer than 64 bytes.
    NonceLength(usize),
    /// The result is empty or larger than [`MAX_RESULT_LEN`].
    ResultLength(usize),
    /// The attester could not produce Evidence.
    Evidence(alloc::string::String),
}

impl fmt::Display for PassportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NonceLength(n) => write!(f, "passport nonce of {n} bytes (8..=64 expected)"),
            Self::ResultLength(n) => {
                write!(f, "attestation result of {n} bytes (1..={MAX_RESULT_LEN} expected)")
            }
            Self::Evidence(e) => write!(f, "cannot produce evidence: {e}"),
        }
    }
}

impl core::error::Error for PassportError {}

/// Attestation Results waiting for the QueryRequest whose challenge they answer.
#[derive(Default)]
pub(crate) struct Passports {
    entries: Vec<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for Passports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Passports").field("held", &self.entries.len()).finish()
    }
}

impl Passports {
    /// Checks a nonce's length.
    pub(crate) fn check_nonce(nonce: &[u8]) -> Result<(), PassportError> {
        if NONCE_LEN.contains(&nonce.len()) {
            Ok(())
        } else {
            Err(PassportError::NonceLength(nonce.len()))
        }
    }

    /// Keeps `result` for `nonce` (replacing an earlier one for the same nonce).
    pub(crate) fn insert(&mut self, nonce: Vec<u8>, result: Vec<u8>) -> Result<(), PassportError> {
        Self::check_nonce(&nonce)?;
        if result.is_empty() || result.len() > MAX_RESULT_LEN {
            return Err(PassportError::ResultLength(result.len()));
        }
        self.entries.retain(|(n, _)| *n != nonce);
        if self.entries.len() >= MAX_RESULTS {
            self.entries.remove(0);
        }
        self.entries.push((nonce, result));
        Ok(())
    }

    /// Takes the result kept for `nonce`, if any.
    pub(crate) fn take(&mut self, nonce: &[u8]) -> Option<Vec<u8>> {
        let at = self.entries.iter().position(|(n, _)| n.as_slice() == nonce)?;
        Some(self.entries.remove(at).1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_single_use_store() {
        let mut p = Passports::default();
        assert_eq!(p.insert(alloc::vec![1; 7], alloc::vec![1]), Err(PassportError::NonceLength(7)));
        assert_eq!(
            p.insert(alloc::vec![1; 65], alloc::vec![1]),
            Err(PassportError::NonceLength(65))
        );
        assert_eq!(p.insert(alloc::vec![1; 8], Vec::new()), Err(PassportError::ResultLength(0)));
        let big = alloc::vec![0; MAX_RESULT_LEN + 1];
        assert_eq!(
            p.insert(alloc::vec![1; 8], big),
            Err(PassportError::ResultLength(MAX_RESULT_LEN + 1))
        );
        for i in 0..=MAX_RESULTS as u8 {
            p.insert(alloc::vec![i; 16], alloc::vec![i]).unwrap();
        }
        // The oldest was dropped; each result is taken once.
        assert_eq!(p.take(&[0; 16]), None);
        assert_eq!(p.take(&[1; 16]), Some(alloc::vec![1]));
        assert_eq!(p.take(&[1; 16]), None);
        assert_eq!(p.entries.len(), MAX_RESULTS - 1);
    }
}
