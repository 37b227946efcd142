//! The software TEE's attester: Evidence as an EAT of the TEEP profile
//! (draft-ietf-teep-protocol-26 §6), signed with an attestation key of its own (not the TEEP
//! key), claims from `[attestation]` in `config.toml`, optionally encrypted to the TAM
//! (§9.2). Without a hardware root of trust its claims are only as good as the file system
//! that holds the key; a Verifier trusts it by endorsing `attest-key.pub.pem`.

use std::path::Path;

use teep_cose::{PublicKey, SigningKey};
use teep_eat::{ClaimSet, Digest, HwVersion, ManifestRef, OemId, TEEP_EAT_PROFILE};
use teep_proto::FreshnessMechanism;

use super::config::AttestationSettings;
use super::keys;
use crate::attester::{Attester, AttesterError, Evidence, EvidenceRequest};

/// COSE algorithm id of SHA-256.
const SHA256: i64 = -16;
/// ueid type RAND (RFC 9711 §4.2.1.1).
const UEID_RAND: u8 = 0x01;
/// attestation-payload-format of an encrypted EAT.
pub const ENCRYPTED_EAT_FORMAT: &str = "application/cose; cose-type=\"cose-encrypt\"";

/// The claims the attester reports about the device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceClaims {
    /// ueid.
    pub ueid: Vec<u8>,
    /// oemid.
    pub oemid: OemId,
    /// hwmodel.
    pub hwmodel: Vec<u8>,
    /// hwversion.
    pub hwversion: HwVersion,
    /// manifests (the Agent and its dependencies).
    pub manifests: Vec<ManifestRef>,
}

/// The software attester.
pub struct SoftwareAttester {
    key: SigningKey,
    claims: DeviceClaims,
    freshness: Vec<FreshnessMechanism>,
    encrypt: bool,
}

impl core::fmt::Debug for SoftwareAttester {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SoftwareAttester")
            .field("key", &self.key)
            .field("freshness", &self.freshness)
            .finish_non_exhaustive()
    }
}

fn unhex(what: &str, text: &str) -> Result<Vec<u8>, String> {
    hex::decode(text.trim()).map_err(|_| format!("attestation.{what} is not hex"))
}

impl SoftwareAttester {
    /// An attester with its key and claims.
    pub fn new(
        key: SigningKey,
        claims: DeviceClaims,
        freshness: Vec<FreshnessMechanism>,
        encrypt: bool,
    ) -> Self {
        Self { key, claims, freshness, encrypt }
    }

    /// The attestation public key (the Verifier's Endorsement).
    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    /// The claims reported.
    pub fn claims(&self) -> &DeviceClaims {
        &self.claims
    }

    /// Loads the attester of a state directory; `Ok(None)` when it is disabled or has no
    /// key file.
    pub fn load(
        dir: &Path,
        sealer: &super::seal::Sealer,
        settings: &AttestationSettings,
    ) -> Result<Option<Self>, String> {
        if !settings.enabled {
            return Ok(None);
        }
        let path = dir.join(&settings.key_file);
        if !path.exists() {
            return Ok(None);
        }
        let key = keys::read_sealed_private_key(sealer, &path)
            .map_err(|e| format!("attestation key: {e}"))?;
        let ueid = match &settings.ueid {
            Some(h) => unhex("ueid", h)?,
            None => [&[UEID_RAND][..], &key.public_key().thumbprint()].concat(),
        };
        let mut manifests = Vec::new();
        if settings.measure_agent {
            manifests.push(reference(None, agent_measurement()?.to_vec()));
        }
        for m in &settings.manifests {
            manifests.push(reference(m.uri.clone(), unhex("manifests.sha256", &m.sha256)?));
        }
        if manifests.is_empty() {
            return Err("attestation: the manifests claim needs at least one entry".into());
        }
        let mut freshness = Vec::new();
        for name in &settings.freshness {
            freshness.push(match name.as_str() {
                "nonce" => FreshnessMechanism::Nonce,
                "timestamp" => FreshnessMechanism::Timestamp,
                other => return Err(format!("attestation.freshness: unknown {other:?}")),
            });
        }
        let claims = DeviceClaims {
            ueid,
            oemid: OemId::Bytes(unhex("oemid", &settings.oemid)?),
            hwmodel: unhex("hwmodel", &settings.hwmodel)?,
            hwversion: HwVersion { version: settings.hwversion.clone(), scheme: None },
            manifests,
        };
        // Encode once to check every claim's size rule before the first QueryRequest.
        let probe = ClaimSet { eat_nonce: Some(vec![0; 8]), ..claim_set(&claims, &[0; 32]) };
        ClaimSet::decode(&probe.encode()).map_err(|e| format!("attestation claims: {e}"))?;
        Ok(Some(Self::new(key, claims, freshness, settings.encrypt)))
    }
}

/// SHA-256 of the running executable, measured once per process (streamed in 64 KiB chunks).
fn agent_measurement() -> Result<[u8; 32], String> {
    static MEASUREMENT: std::sync::OnceLock<Result<[u8; 32], String>> = std::sync::OnceLock::new();
    MEASUREMENT
        .get_or_init(|| {
            use sha2::Digest as _;
            use std::io::Read as _;
            let measure = || -> std::io::Result<[u8; 32]> {
                let mut file = std::fs::File::open(std::env::current_exe()?)?;
                let mut hasher = sha2::Sha256::new();
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = file.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(buf.get(..n).unwrap_or_default());
                }
                Ok(hasher.finalize().into())
            };
            measure().map_err(|e| format!("measuring the agent executable: {e}"))
        })
        .clone()
}

fn reference(uri: Option<String>, bytes: Vec<u8>) -> ManifestRef {
    ManifestRef {
        content_format: teep_eat::claims::CONTENT_FORMAT_CBOR,
        uri,
        digest: Digest { algorithm: SHA256, bytes },
    }
}

fn claim_set(claims: &DeviceClaims, teep_kid: &[u8; 32]) -> ClaimSet {
    ClaimSet {
        eat_profile: Some(TEEP_EAT_PROFILE.into()),
        ueid: Some(claims.ueid.clone()),
        oemid: Some(claims.oemid.clone()),
        hwmodel: Some(claims.hwmodel.clone()),
        hwversion: Some(claims.hwversion.clone()),
        manifests: Some(claims.manifests.clone()),
        cnf_kid: Some(teep_kid.to_vec()),
        ..ClaimSet::default()
    }
}

impl Attester for SoftwareAttester {
    fn freshness_mechanisms(&self) -> Vec<FreshnessMechanism> {
        self.freshness.clone()
    }

    fn evidence(&mut self, request: &EvidenceRequest<'_>) -> Result<Evidence, AttesterError> {
        let mut claims = claim_set(&self.claims, request.teep_kid);
        match request.freshness {
            FreshnessMechanism::Nonce => {
                let nonce = request.nonce.ok_or(AttesterError::Freshness("no nonce"))?;
                claims.eat_nonce = Some(nonce.to_vec());
            }
            FreshnessMechanism::Timestamp if request.now == 0 => {
                return Err(AttesterError::Freshness("the time is unknown"));
            }
            FreshnessMechanism::Timestamp => {}
            FreshnessMechanism::Other(_) => {
                return Err(AttesterError::Freshness("unsupported mechanism"));
            }
        }
        if request.now > 0 {
            claims.iat = Some(request.now);
        }
        let alg = self.key.default_algorithm();
        let crypto = |e: teep_eat::EatError| AttesterError::Crypto(e.to_string());
        let signed = teep_eat::sign(&claims, &self.key, alg).map_err(crypto)?;
        let recipient = request.tam_keys.iter().find(|k| k.supports(teep_cose::Algorithm::ESP256));
        match recipient {
            Some(tam) if self.encrypt => Ok(Evidence {
                format: ENCRYPTED_EAT_FORMAT.into(),
                payload: teep_eat::encrypt(&mut super::rng(), &signed, tam).map_err(crypto)?,
            }),
            _ => Ok(Evidence { format: teep_eat::EAT_CWT_MEDIA_TYPE.into(), payload: signed }),
        }
    }
}
