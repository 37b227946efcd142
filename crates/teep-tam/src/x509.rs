//! Enrolling devices by an X.509 certificate chain to a manufacturer CA.
//!
//! A device manufacturer certifies each device's TEEP Agent key with a certificate that
//! chains to a manufacturer CA; the operator names those CAs as trust anchors
//! (`[agents] manufacturer_cas` in `tam.toml`). [`ManufacturerCas::verify`] validates the
//! chain (RFC 5280 path validation by rustls-webpki: signatures, validity at the given time,
//! basic constraints, and the client-authentication extended key usage when the certificate
//! has one), then takes the end-entity certificate's public key, which must be a P-256 or
//! Ed25519 key, the two TEEP cipher suites' key types (draft-ietf-teep-protocol-26 §9.1). The
//! device is then named, like any other, by the RFC 9679 thumbprint of that key.

use std::path::PathBuf;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use teep_cose::PublicKey;

use crate::config::TamConfig;
use crate::error::KeyError;

/// DER prefix of a P-256 SubjectPublicKeyInfo (id-ecPublicKey, prime256v1, uncompressed point).
const P256_SPKI_PREFIX: [u8; 27] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
];

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410).
const ED25519_SPKI_PREFIX: [u8; 12] =
    [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// Most certificates accepted in one device chain.
pub const MAX_CHAIN: usize = 8;

/// The manufacturer CA certificates that device certificates must chain to.
#[derive(Clone, Debug, Default)]
pub struct ManufacturerCas {
    certificates: Vec<CertificateDer<'static>>,
}

/// A device certificate chain that verified.
#[derive(Clone, Debug)]
pub struct VerifiedDevice {
    /// The Agent's public key, taken from the end-entity certificate.
    pub key: PublicKey,
    /// Subject distinguished name, as `CN=device-0042, O=Acme` (certificate order).
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// End of validity (Unix seconds).
    pub not_after: u64,
    /// The end-entity certificate, DER.
    pub certificate: Vec<u8>,
}

impl ManufacturerCas {
    /// Reads the CA certificates (PEM, one or more per file) named by `[agents]
    /// manufacturer_cas`, relative paths resolved against the configuration's directory.
    pub fn load(config: &TamConfig) -> Result<Self, KeyError> {
        let mut certificates = Vec::new();
        for path in &config.agents.manufacturer_cas {
            let path: PathBuf = config.resolve(path);
            let bytes = std::fs::read(&path)
                .map_err(|e| KeyError::Io { path: path.clone(), reason: e.to_string() })?;
            let found = Self::from_pem(&bytes)
                .map_err(|reason| KeyError::Invalid { path: path.clone(), reason })?;
            certificates.extend(found.certificates);
        }
        Ok(ManufacturerCas { certificates })
    }

    /// CA certificates from PEM text (one or more `CERTIFICATE` blocks).
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        let certificates = read_certificates(pem)?;
        for der in &certificates {
            webpki::anchor_from_trusted_cert(der)
                .map_err(|e| format!("not a usable CA certificate: {e}"))?;
        }
        Ok(ManufacturerCas { certificates })
    }

    /// Number of CA certificates.
    pub fn len(&self) -> usize {
        self.certificates.len()
    }

    /// True when no CA is configured (then no chain verifies).
    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }

    /// Verifies a device chain (PEM: the device certificate first, then any intermediates;
    /// or one DER certificate) at time `now` and returns the device's key and names.
    pub fn verify(&self, chain: &[u8], now: u64) -> Result<VerifiedDevice, String> {
        let chain = if chain.trim_ascii_start().starts_with(b"-") {
            read_certificates(chain)?
        } else {
            vec![CertificateDer::from(chain.to_vec())]
        };
        if chain.len() > MAX_CHAIN {
            return Err(format!("the chain has more than {MAX_CHAIN} certificates"));
        }
        self.verify_chain(&chain, now)
    }

    /// [`ManufacturerCas::verify`] for DER certificates, device certificate first (as in a
    /// COSE x5chain header, RFC 9360 §2).
    pub fn verify_der(&self, chain: &[Vec<u8>], now: u64) -> Result<VerifiedDevice, String> {
        if chain.len() > MAX_CHAIN {
            return Err(format!("the chain has more than {MAX_CHAIN} certificates"));
        }
        let chain: Vec<CertificateDer<'static>> =
            chain.iter().map(|c| CertificateDer::from(c.clone())).collect();
        self.verify_chain(&chain, now)
    }

    fn verify_chain(
        &self,
        chain: &[CertificateDer<'static>],
        now: u64,
    ) -> Result<VerifiedDevice, String> {
        if self.certificates.is_empty() {
            return Err("no manufacturer CA is configured; add `manufacturer_cas = [\"ca.pem\"]` \
                        to [agents] in tam.toml"
                .into());
        }
        let (device, intermediates) =
            chain.split_first().ok_or("the chain holds no certificate")?;
        let end_entity = webpki::EndEntityCert::try_from(device).map_err(|e| match e {
            webpki::Error::UnsupportedCertVersion => {
                "the device certificate is not an X.509 version 3 certificate; issue it as v3 \
                 (for example with an extensions section)"
                    .to_owned()
            }
            other => format!("the device certificate does not parse: {other}"),
        })?;
        let anchors = self
            .certificates
            .iter()
            .map(webpki::anchor_from_trusted_cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("a manufacturer CA is unusable: {e}"))?;
        let algorithms =
            rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms.all;
        let time = UnixTime::since_unix_epoch(Duration::from_secs(now));
        end_entity
            .verify_for_usage(
                algorithms,
                &anchors,
                intermediates,
                time,
                webpki::KeyUsage::client_auth(),
                None,
                None,
            )
            .map_err(chain_error)?;

        let (_, parsed) = x509_parser::parse_x509_certificate(device)
            .map_err(|e| format!("the device certificate does not parse: {e}"))?;
        let key = device_key(parsed.public_key().raw)?;
        let (subject, issuer) = (parsed.subject().to_string(), parsed.issuer().to_string());
        if subject.starts_with("<X509Error") || issuer.starts_with("<X509Error") {
            return Err("the device certificate's subject or issuer name does not parse".into());
        }
        let not_after = u64::try_from(parsed.validity().not_after.timestamp()).unwrap_or(0);
        Ok(VerifiedDevice { key, subject, issuer, not_after, certificate: device.to_vec() })
    }
}

fn read_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("unreadable PEM certificate: {e}"))?;
    if certificates.is_empty() {
        return Err("no PEM CERTIFICATE block found".into());
    }
    Ok(certificates)
}

/// The P-256 or Ed25519 key of a SubjectPublicKeyInfo.
fn device_key(spki: &[u8]) -> Result<PublicKey, String> {
    let invalid = |e: teep_cose::Error| format!("the device certificate's key is invalid: {e}");
    if let Some(point) = spki.strip_prefix(&P256_SPKI_PREFIX[..])
        && point.len() == 64
    {
        return PublicKey::from_p256_coordinates(&point[..32], &point[32..]).map_err(invalid);
    }
    if let Some(raw) = spki.strip_prefix(&ED25519_SPKI_PREFIX[..])
        && let Ok(raw) = <&[u8; 32]>::try_from(raw)
    {
        return PublicKey::from_ed25519_bytes(raw).map_err(invalid);
    }
    Err("the device certificate's key is neither P-256 nor Ed25519, the key types of the TEEP \
         cipher suites"
        .into())
}

fn chain_error(e: webpki::Error) -> String {
    match e {
        webpki::Error::CertExpired { .. } => {
            "the device certificate (or one of its issuers) has expired".into()
        }
        webpki::Error::CertNotValidYet { .. } => {
            "the device certificate (or one of its issuers) is not valid yet".into()
        }
        webpki::Error::UnknownIssuer => {
            "the certificate chain does not lead to a configured manufacturer CA".into()
        }
        webpki::Error::CaUsedAsEndEntity => {
            "the device certificate is a CA certificate; a device needs an end-entity \
             certificate"
                .into()
        }
        webpki::Error::UnsupportedCertVersion => {
            "a certificate in the chain is not X.509 version 3".into()
        }
        webpki::Error::InvalidSignatureForPublicKey => {
            "a certificate signature in the chain does not verify".into()
        }
        other => format!("the certificate chain does not verify: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_unknown_key_types_and_garbage() {
        assert!(device_key(&[0x30, 0x00]).is_err());
        let mut p256 = P256_SPKI_PREFIX.to_vec();
        p256.extend([0_u8; 10]);
        assert!(device_key(&p256).is_err());
        assert!(ManufacturerCas::from_pem(b"not pem").is_err());
        let empty = ManufacturerCas::default();
        assert!(empty.verify(b"x", 0).unwrap_err().contains("manufacturer_cas"));
    }
}
