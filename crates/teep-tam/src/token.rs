//! TEEP tokens issued by the TAM (draft-ietf-teep-protocol-26 §4.1 and §4.3: "token").
//!
//! Two kinds exist, both of the configured length (16 bytes by default, at most 64):
//!
//! * An Update's token ([`IssuedToken::generate`]) is fresh CSPRNG output. The database keeps
//!   its SHA-256 hash together with what the Update sent, bounded per device.
//! * A QueryRequest's token ([`TokenSecret::issue`]) is stateless, because the empty POST that
//!   asks for it carries no authentication: `nonce || expiry || HMAC-SHA256(secret, ...)`
//!   truncated to fit. Issuing one stores nothing, so no client can crowd out another's
//!   session. The answer is accepted once: after its signature verified, the TAM checks MAC
//!   and expiry ([`TokenSecret::verify`]) and then records the token's hash as used with a
//!   unique key, whose INSERT decides (§8.1: "expire the token value after receiving the
//!   first response from the device that has a valid signature").
//!
//! Logs show only [`TokenPrefix`]; neither tokens nor the secret are ever logged.

use core::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::config::{MAX_TOKEN_LEN, MIN_QUERY_TOKEN_LEN, MIN_TOKEN_LEN};

/// A freshly generated token.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken(Vec<u8>);

/// The operating system's random number generator failed.
#[derive(Debug, thiserror::Error)]
#[error("operating system random number generator failed: {0}")]
pub struct RandomError(String);

impl IssuedToken {
    /// Draws `len` random bytes (clamped to 8..=64) from the operating system.
    pub fn generate(len: usize) -> Result<Self, RandomError> {
        let mut bytes = vec![0_u8; len.clamp(MIN_TOKEN_LEN, MAX_TOKEN_LEN)];
        getrandom::fill(&mut bytes).map_err(|e| RandomError(e.to_string()))?;
        Ok(IssuedToken(bytes))
    }

    /// The token bytes, to put in a message.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The hash under which it is stored.
    pub fn hash(&self) -> [u8; 32] {
        token_hash(&self.0)
    }
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IssuedToken({})", TokenPrefix(&self.0))
    }
}

/// SHA-256 of a token, the key of the `tokens` table.
pub fn token_hash(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

/// Length of the secret that authenticates QueryRequest tokens.
pub const TOKEN_SECRET_LEN: usize = 32;

/// Bytes of a stateless token that carry its expiry (big-endian Unix seconds).
const EXPIRY_LEN: usize = 4;

/// Separates this MAC from any other use of the secret.
const MAC_LABEL: &[u8] = b"teep-tam QueryRequest token v1";

/// The TAM secret behind stateless QueryRequest tokens. Generated once and kept in the
/// database so every TAM replica shares it; its Debug output shows nothing of it.
#[derive(Clone)]
pub struct TokenSecret(zeroize::Zeroizing<[u8; TOKEN_SECRET_LEN]>);

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(..)")
    }
}

/// Why a QueryRequest token was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenRejection {
    /// Its length is not one this TAM issues.
    #[error("token length is not one of a stateless token")]
    Length,
    /// The MAC does not verify: not issued by a TAM holding this secret.
    #[error("token MAC does not verify")]
    Mac,
    /// It expired.
    #[error("token expired")]
    Expired,
}

impl TokenSecret {
    /// Draws a new secret from the operating system.
    pub fn generate() -> Result<Self, RandomError> {
        let mut bytes = zeroize::Zeroizing::new([0_u8; TOKEN_SECRET_LEN]);
        getrandom::fill(bytes.as_mut()).map_err(|e| RandomError(e.to_string()))?;
        Ok(TokenSecret(bytes))
    }

    /// Wraps stored secret bytes; `None` unless exactly [`TOKEN_SECRET_LEN`] long.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != TOKEN_SECRET_LEN {
            return None;
        }
        let mut secret = zeroize::Zeroizing::new([0_u8; TOKEN_SECRET_LEN]);
        secret.copy_from_slice(bytes);
        Some(TokenSecret(secret))
    }

    /// The secret bytes, to store.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_ref()
    }

    /// Issues a token of `len` bytes (clamped to 16..=64) valid until `expires_at` (Unix
    /// seconds, saturated at the largest 32-bit value, in 2106).
    pub fn issue(&self, len: usize, expires_at: u64) -> Result<IssuedToken, RandomError> {
        let len = len.clamp(MIN_QUERY_TOKEN_LEN, MAX_TOKEN_LEN);
        let (nonce_len, mac_len) = stateless_layout(len).unwrap_or((4, 8));
        let expiry = u32::try_from(expires_at).unwrap_or(u32::MAX).to_be_bytes();
        let mut token = vec![0_u8; nonce_len];
        getrandom::fill(&mut token).map_err(|e| RandomError(e.to_string()))?;
        token.extend_from_slice(&expiry);
        let mac = self.mac(&token, len);
        token.extend(mac.iter().take(mac_len));
        Ok(IssuedToken(token))
    }

    /// Checks a token this secret issued: length, MAC (in constant time) and expiry against
    /// `now`. Returns its expiry.
    pub fn verify(&self, token: &[u8], now: u64) -> Result<u64, TokenRejection> {
        let (nonce_len, _) = stateless_layout(token.len()).ok_or(TokenRejection::Length)?;
        let (body, tag) =
            token.split_at_checked(nonce_len + EXPIRY_LEN).ok_or(TokenRejection::Length)?;
        let mac = self.hmac(body, token.len());
        mac.verify_truncated_left(tag).map_err(|_| TokenRejection::Mac)?;
        let expiry = body.get(nonce_len..).ok_or(TokenRejection::Length)?;
        let expiry: [u8; EXPIRY_LEN] = expiry.try_into().map_err(|_| TokenRejection::Length)?;
        let expires_at = u64::from(u32::from_be_bytes(expiry));
        if expires_at <= now {
            return Err(TokenRejection::Expired);
        }
        Ok(expires_at)
    }

    fn hmac(&self, body: &[u8], token_len: usize) -> Hmac<Sha256> {
        // A key shorter than SHA-256's 64-byte block is zero-padded (RFC 2104 §2), so
        // padding it here gives the same MAC through the infallible fixed-size constructor.
        let mut key = zeroize::Zeroizing::new([0_u8; 64]);
        for (k, s) in key.iter_mut().zip(self.0.iter()) {
            *k = *s;
        }
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&(*key).into());
        mac.update(MAC_LABEL);
        // The token length is bound too, so a truncated or extended token never verifies.
        mac.update(&[u8::try_from(token_len).unwrap_or(u8::MAX)]);
        mac.update(body);
        mac
    }

    fn mac(&self, body: &[u8], token_len: usize) -> [u8; 32] {
        self.hmac(body, token_len).finalize().into_bytes().into()
    }
}

/// How a stateless token of `len` bytes splits: (nonce bytes, MAC bytes), with the 4 expiry
/// bytes between them. 16 bytes: 4 + 4 + 8; 64 bytes: 28 + 4 + 32.
fn stateless_layout(len: usize) -> Option<(usize, usize)> {
    if !(MIN_QUERY_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&len) {
        return None;
    }
    let rest = len - EXPIRY_LEN;
    let mac_len = (rest - rest / 3).min(32);
    Some((rest - mac_len, mac_len))
}

/// Displays the first four bytes of a token in hex followed by `..`, for logs.
pub struct TokenPrefix<'a>(pub &'a [u8]);

impl fmt::Display for TokenPrefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0.iter().take(4) {
            write!(f, "{b:02x}")?;
        }
        f.write_str("..")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_distinct_tokens_of_the_right_length() {
        let a = IssuedToken::generate(16).unwrap();
        let b = IssuedToken::generate(16).unwrap();
        assert_eq!(a.as_bytes().len(), 16);
        assert_ne!(a, b);
        assert_eq!(IssuedToken::generate(1).unwrap().as_bytes().len(), 8);
        assert_eq!(IssuedToken::generate(1000).unwrap().as_bytes().len(), 64);
    }

    #[test]
    fn logs_only_a_prefix() {
        let t = IssuedToken(vec![0xab; 16]);
        assert_eq!(format!("{t:?}"), "IssuedToken(abababab..)");
        assert_eq!(TokenPrefix(&[1, 2]).to_string(), "0102..");
    }

    #[test]
    fn stateless_tokens_verify_once_issued_and_only_then() {
        let secret = TokenSecret::generate().unwrap();
        for len in [16, 17, 32, 64] {
            let token = secret.issue(len, 2_000).unwrap();
            assert_eq!(token.as_bytes().len(), len);
            assert_eq!(secret.verify(token.as_bytes(), 1_999), Ok(2_000));
            // Expired at and after its expiry.
            assert_eq!(secret.verify(token.as_bytes(), 2_000), Err(TokenRejection::Expired));
            // Every single-bit change is refused.
            for i in 0..len {
                let mut forged = token.as_bytes().to_vec();
                forged[i] ^= 0x01;
                assert_eq!(secret.verify(&forged, 1_000), Err(TokenRejection::Mac), "byte {i}");
            }
            // Truncated or extended tokens are refused.
            let bytes = token.as_bytes();
            assert!(secret.verify(&bytes[..len - 1], 1_000).is_err());
            let mut longer = bytes.to_vec();
            longer.push(0);
            assert!(secret.verify(&longer, 1_000).is_err());
        }
        // Another secret (another TAM) did not issue it.
        let token = secret.issue(16, 2_000).unwrap();
        let other = TokenSecret::generate().unwrap();
        assert_eq!(other.verify(token.as_bytes(), 1_000), Err(TokenRejection::Mac));
        // Random bytes do not verify; short or long ones are refused by length.
        assert_eq!(secret.verify(&[0; 16], 1_000), Err(TokenRejection::Mac));
        assert_eq!(secret.verify(&[0; 8], 1_000), Err(TokenRejection::Length));
        assert_eq!(secret.verify(&[0; 65], 1_000), Err(TokenRejection::Length));
        assert_eq!(secret.verify(&[], 1_000), Err(TokenRejection::Length));
        // Distinct tokens for the same expiry.
        assert_ne!(secret.issue(16, 2_000).unwrap(), secret.issue(16, 2_000).unwrap());
    }

    #[test]
    fn stateless_token_layout() {
        assert_eq!(stateless_layout(16), Some((4, 8)));
        assert_eq!(stateless_layout(64), Some((28, 32)));
        assert_eq!(stateless_layout(15), None);
        assert_eq!(stateless_layout(65), None);
        for len in 16..=64 {
            let (nonce, mac) = stateless_layout(len).unwrap();
            assert_eq!(nonce + EXPIRY_LEN + mac, len);
            assert!(nonce >= 4 && mac >= 8, "{len}");
        }
    }

    #[test]
    fn secret_is_not_printed_and_has_a_fixed_length() {
        let secret = TokenSecret::from_bytes(&[7; 32]).unwrap();
        assert_eq!(format!("{secret:?}"), "TokenSecret(..)");
        assert_eq!(secret.as_bytes(), &[7; 32]);
        assert!(TokenSecret::from_bytes(&[7; 31]).is_none());
        assert!(TokenSecret::from_bytes(&[7; 33]).is_none());
    }

    #[test]
    fn hash_is_sha256() {
        assert_eq!(
            hex::encode(token_hash(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
