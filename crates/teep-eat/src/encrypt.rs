//! Encrypted EATs (draft-ietf-teep-protocol-26 §9.2 "EATs and SUIT Reports"): COSE_Encrypt,
//! content AES-128-GCM, one recipient ECDH-ES + HKDF-256 + A128KW to the TAM's P-256 key,
//! COSE_KDF_Context.SuppPubInfo.other = "EAT Encryption"; never detached.

use alloc::vec::Vec;

use teep_cose::{Algorithm, CoseEncrypt, PublicKey, RecipientKey, RecipientSpec, SigningKey};

use crate::error::EatError;

/// The SuppPubInfo.other value for EATs.
pub const EAT_ENCRYPTION_CONTEXT: &[u8] = b"EAT Encryption";

/// Whether `bytes` look like a COSE_Encrypt (tag 96) rather than a signed CWT.
pub fn is_encrypted(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xd8, 0x60])
}

/// Encrypts a signed EAT to `recipient` (a P-256 key of the TAM).
pub fn encrypt<R: rand_core::CryptoRng + ?Sized>(
    rng: &mut R,
    signed_eat: &[u8],
    recipient: &PublicKey,
) -> Result<Vec<u8>, EatError> {
    let kid = recipient.thumbprint();
    let spec = RecipientSpec::EcdhEsKeyWrap {
        alg: Algorithm::ECDH_ES_A128KW,
        recipient,
        kid: Some(&kid),
        other: Some(EAT_ENCRYPTION_CONTEXT),
    };
    let out = teep_cose::encrypt(rng, signed_eat, Algorithm::A128GCM, &[spec], &[], false)?;
    Ok(out.message)
}

/// Decrypts an encrypted EAT with the recipient's private key; any failure is
/// [`EatError::Decrypt`] or a CBOR/COSE syntax error.
pub fn decrypt(bytes: &[u8], key: &SigningKey) -> Result<Vec<u8>, EatError> {
    let msg = CoseEncrypt::decode(bytes)?;
    if msg.algorithm()? != Algorithm::A128GCM && msg.algorithm()? != Algorithm::A256GCM {
        return Err(EatError::Malformed("EAT encryption content algorithm"));
    }
    let plain = msg
        .decrypt(RecipientKey::Ecdh(key), Some(EAT_ENCRYPTION_CONTEXT), &[])
        .map_err(|_| EatError::Decrypt)?;
    Ok(plain.to_vec())
}
