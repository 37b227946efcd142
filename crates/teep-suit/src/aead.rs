//! Streaming AEAD decryption of SUIT payloads with a single nonce: AES-GCM (NIST SP 800-38D
//! §7.2) and ChaCha20/Poly1305 (RFC 8439 §2.8), the AEAD content algorithms of
//! draft-ietf-suit-firmware-encryption §5.1.
//!
//! The one-shot `aes-gcm` and `chacha20poly1305` APIs need the whole ciphertext in memory.
//! [`AeadDecryptor`] is built from the same primitives (AES in 32-bit counter mode with GHASH;
//! ChaCha20 with Poly1305) and takes the ciphertext in chunks of any size: it releases the
//! plaintext of everything except the last 16 bytes it has seen (the candidate tag), feeds the
//! ciphertext into the authenticator as it passes, and [`finish`](AeadDecryptor::finish)
//! compares the computed tag with the held-back one in constant time.
//!
//! The released plaintext is **unauthenticated** until `finish` returns `Ok`: the caller must
//! keep it invisible (the SUIT processor writes it only into the platform's staging area and
//! discards the staged image when `finish` fails).

use aes::cipher::consts::U16;
use aes::cipher::{
    BlockCipherEncrypt, BlockSizeUser, KeyInit, KeyIvInit, StreamCipher, StreamCipherSeek,
};
use ghash::GHash;
use ghash::universal_hash::UniversalHash;
use poly1305::Poly1305;
use subtle::ConstantTimeEq;
use teep_cose::{Algorithm, Error};

/// Length of the authentication tag of every supported algorithm.
pub const TAG_LEN: usize = 16;

/// Most plaintext bytes AES-GCM may protect under one nonce (SP 800-38D §5.2.1.1: 2^39 − 256
/// bits).
const GCM_MAX: u64 = (1 << 36) - 32;
/// Most plaintext bytes ChaCha20/Poly1305 may protect (RFC 8439 §2.8: a 32-bit block counter
/// starting at 1).
const CHACHA_MAX: u64 = ((1 << 32) - 1) * 64;

/// The keystream of the content algorithm, positioned at the first plaintext byte.
enum Keystream {
    Aes128(ctr::Ctr32BE<aes::Aes128>),
    Aes192(ctr::Ctr32BE<aes::Aes192>),
    Aes256(ctr::Ctr32BE<aes::Aes256>),
    ChaCha20(chacha20::ChaCha20),
}

impl Keystream {
    fn apply(&mut self, data: &mut [u8]) -> Result<(), Error> {
        let r = match self {
            Keystream::Aes128(c) => c.try_apply_keystream(data),
            Keystream::Aes192(c) => c.try_apply_keystream(data),
            Keystream::Aes256(c) => c.try_apply_keystream(data),
            Keystream::ChaCha20(c) => c.try_apply_keystream(data),
        };
        r.map_err(|_| Error::Malformed("ciphertext longer than the algorithm allows"))
    }
}

/// The universal hash of the content algorithm.
// One per payload stream, and the whole decryptor is boxed by its user: no point boxing GHASH.
#[allow(clippy::large_enum_variant)]
enum Authenticator {
    /// GHASH, and the tag mask E(K, J0) XORed onto its output.
    Ghash(GHash, [u8; TAG_LEN]),
    Poly1305(Poly1305),
}

/// A universal hash fed with arbitrary-length pieces: whole 16-byte blocks go straight in,
/// the remainder waits in `partial` for the next piece or for [`pad`](Self::pad).
struct BlockFeeder {
    auth: Authenticator,
    partial: [u8; 16],
    partial_len: usize,
}

impl BlockFeeder {
    fn update(&mut self, mut data: &[u8]) {
        if self.partial_len > 0 {
            let take = (16 - self.partial_len).min(data.len());
            let (head, rest) = data.split_at(take);
            if let Some(dst) = self.partial.get_mut(self.partial_len..self.partial_len + take) {
                dst.copy_from_slice(head);
            }
            self.partial_len += take;
            data = rest;
            if self.partial_len < 16 {
                return;
            }
            let block = self.partial;
            self.blocks(&block);
            self.partial_len = 0;
        }
        let whole = data.len() - data.len() % 16;
        let (blocks, rest) = data.split_at(whole);
        self.blocks(blocks);
        if let Some(dst) = self.partial.get_mut(..rest.len()) {
            dst.copy_from_slice(rest);
        }
        self.partial_len = rest.len();
    }

    /// Feeds `data`, a multiple of 16 bytes long, as whole blocks (no padding applies).
    fn blocks(&mut self, data: &[u8]) {
        match &mut self.auth {
            Authenticator::Ghash(g, _) => g.update_padded(data),
            Authenticator::Poly1305(p) => p.update_padded(data),
        }
    }

    /// Zero-pads the pending partial block (both algorithms pad AAD and ciphertext to 16).
    fn pad(&mut self) {
        if self.partial_len > 0 {
            let len = self.partial_len;
            let pending = self.partial;
            match &mut self.auth {
                Authenticator::Ghash(g, _) => g.update_padded(pending.get(..len).unwrap_or(&[])),
                Authenticator::Poly1305(p) => p.update_padded(pending.get(..len).unwrap_or(&[])),
            }
            self.partial_len = 0;
        }
    }
}

/// Streaming decryptor for one AEAD-protected message with a 96-bit nonce and 128-bit tag.
pub struct AeadDecryptor {
    keystream: Keystream,
    feeder: BlockFeeder,
    aad_len: u64,
    /// Ciphertext bytes released so far (authenticated into `feeder`).
    ct_len: u64,
    max: u64,
    /// The last bytes seen, not yet known to be ciphertext rather than tag.
    held: [u8; TAG_LEN],
    held_len: usize,
}

impl AeadDecryptor {
    /// A decryptor for `alg` (A128GCM, A192GCM, A256GCM or ChaCha20/Poly1305) with content key
    /// `key`, 12-byte nonce `iv` and additional authenticated data `aad` (for COSE, the encoded
    /// Enc_structure).
    pub fn new(alg: Algorithm, key: &[u8], iv: &[u8], aad: &[u8]) -> Result<Self, Error> {
        if iv.len() != 12 {
            return Err(Error::Malformed("AEAD IV must be 12 bytes"));
        }
        let bad_key = |_| Error::InvalidKey("content key length does not fit the algorithm");
        let (keystream, auth, max) = match alg {
            Algorithm::A128GCM => {
                let (c, a) = gcm::<aes::Aes128>(key, iv)?;
                (Keystream::Aes128(c), a, GCM_MAX)
            }
            Algorithm::A192GCM => {
                let (c, a) = gcm::<aes::Aes192>(key, iv)?;
                (Keystream::Aes192(c), a, GCM_MAX)
            }
            Algorithm::A256GCM => {
                let (c, a) = gcm::<aes::Aes256>(key, iv)?;
                (Keystream::Aes256(c), a, GCM_MAX)
            }
            Algorithm::CHACHA20_POLY1305 => {
                let mut cipher = chacha20::ChaCha20::new_from_slices(key, iv).map_err(bad_key)?;
                // RFC 8439 §2.6: the one-time Poly1305 key is the first half of block 0; the
                // message is encrypted from block 1 on.
                let mut otk = zeroize::Zeroizing::new([0u8; 32]);
                cipher.apply_keystream(otk.as_mut_slice());
                cipher.seek(64u64);
                let mac = Poly1305::new_from_slice(otk.as_slice()).map_err(bad_key)?;
                (Keystream::ChaCha20(cipher), Authenticator::Poly1305(mac), CHACHA_MAX)
            }
            a => return Err(Error::UnsupportedAlgorithm(a.0)),
        };
        let mut feeder = BlockFeeder { auth, partial: [0; 16], partial_len: 0 };
        feeder.update(aad);
        feeder.pad();
        Ok(AeadDecryptor {
            keystream,
            feeder,
            aad_len: aad.len() as u64,
            ct_len: 0,
            max,
            held: [0; TAG_LEN],
            held_len: 0,
        })
    }

    /// Feeds the next ciphertext bytes and decrypts what is known not to be the tag into
    /// `out`, which must hold at least `input.len() + TAG_LEN` bytes. Returns the plaintext
    /// written (possibly empty): unauthenticated until [`finish`](Self::finish) succeeds.
    pub fn update<'o>(&mut self, input: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], Error> {
        let total = self.held_len + input.len();
        let release = total.saturating_sub(TAG_LEN);
        let out = out
            .get_mut(..release)
            .ok_or(Error::Malformed("AEAD output buffer shorter than input + tag"))?;

        // The released bytes are the oldest ones: first from `held`, then from `input`.
        let from_held = release.min(self.held_len);
        let from_input = release - from_held;
        let (out_held, out_input) = out.split_at_mut(from_held);
        out_held.copy_from_slice(self.held.get(..from_held).unwrap_or(&[]));
        let (input_released, input_kept) = input.split_at(from_input);
        out_input.copy_from_slice(input_released);

        // What remains (at most 16 bytes) becomes the new held-back candidate tag.
        let mut held = [0u8; TAG_LEN];
        let old_kept = self.held.get(from_held..self.held_len).unwrap_or(&[]);
        let new_len = old_kept.len() + input_kept.len();
        if let Some(dst) = held.get_mut(..old_kept.len()) {
            dst.copy_from_slice(old_kept);
        }
        if let Some(dst) = held.get_mut(old_kept.len()..new_len) {
            dst.copy_from_slice(input_kept);
        }
        self.held = held;
        self.held_len = new_len;

        // Authenticate the ciphertext, then decrypt it in place.
        self.ct_len = self.ct_len.saturating_add(release as u64);
        if self.ct_len > self.max {
            return Err(Error::Malformed("ciphertext longer than the algorithm allows"));
        }
        self.feeder.update(out);
        self.keystream.apply(out)?;
        Ok(out)
    }

    /// Checks the tag (the last 16 bytes fed) over the AAD and all ciphertext, in constant
    /// time. Fails with [`Error::Decrypt`] when the tag does not match or the input was
    /// shorter than a tag.
    pub fn finish(mut self) -> Result<(), Error> {
        if self.held_len != TAG_LEN {
            return Err(Error::Decrypt);
        }
        self.feeder.pad();
        let mut lengths = [0u8; 16];
        let (first, second) = lengths.split_at_mut(8);
        let computed: [u8; TAG_LEN] = match self.feeder.auth {
            Authenticator::Ghash(mut g, mask) => {
                // SP 800-38D §7.2 step 5: bit lengths, big-endian.
                first.copy_from_slice(&self.aad_len.wrapping_mul(8).to_be_bytes());
                second.copy_from_slice(&self.ct_len.wrapping_mul(8).to_be_bytes());
                g.update_padded(&lengths);
                let mut tag: [u8; TAG_LEN] = g.finalize().into();
                for (t, m) in tag.iter_mut().zip(mask) {
                    *t ^= m;
                }
                tag
            }
            Authenticator::Poly1305(mut p) => {
                // RFC 8439 §2.8: byte lengths, little-endian.
                first.copy_from_slice(&self.aad_len.to_le_bytes());
                second.copy_from_slice(&self.ct_len.to_le_bytes());
                p.update_padded(&lengths);
                p.finalize().into()
            }
        };
        if bool::from(computed.ct_eq(&self.held)) { Ok(()) } else { Err(Error::Decrypt) }
    }
}

impl core::fmt::Debug for AeadDecryptor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("AeadDecryptor(..)")
    }
}

/// GCM set-up (SP 800-38D §7.2 steps 1–2 for a 96-bit IV): H = E(K, 0^128),
/// J0 = IV ‖ 0^31 ‖ 1; the tag mask is E(K, J0) and the message keystream starts at inc32(J0).
fn gcm<C>(key: &[u8], iv: &[u8]) -> Result<(ctr::Ctr32BE<C>, Authenticator), Error>
where
    C: KeyInit + BlockCipherEncrypt + BlockSizeUser<BlockSize = U16>,
    ctr::Ctr32BE<C>: KeyIvInit + StreamCipher,
{
    let bad_key = |_| Error::InvalidKey("content key length does not fit the algorithm");
    let mut h = ghash::Key::default();
    C::new_from_slice(key).map_err(bad_key)?.encrypt_block(&mut h);
    let ghash = GHash::new(&h);
    let mut j0 = [0u8; 16];
    if let Some(dst) = j0.get_mut(..12) {
        dst.copy_from_slice(iv);
    }
    j0[15] = 1;
    let mut ctr = ctr::Ctr32BE::<C>::new_from_slices(key, &j0).map_err(bad_key)?;
    let mut mask = [0u8; TAG_LEN];
    ctr.apply_keystream(&mut mask);
    Ok((ctr, Authenticator::Ghash(ghash, mask)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::{Aead, Payload};
    use alloc::vec;
    use alloc::vec::Vec;

    /// Deterministic xorshift64*, so failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    const SIZES: &[usize] = &[0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1000, 65535, 65536, 65537];
    const ALGS: &[Algorithm] =
        &[Algorithm::A128GCM, Algorithm::A192GCM, Algorithm::A256GCM, Algorithm::CHACHA20_POLY1305];

    /// Ciphertext ‖ tag from the one-shot RustCrypto AEADs.
    fn one_shot(alg: Algorithm, key: &[u8], iv: &[u8], aad: &[u8], msg: &[u8]) -> Vec<u8> {
        let p = Payload { msg, aad };
        let nonce = iv.try_into().expect("12-byte nonce");
        match alg {
            Algorithm::A128GCM => {
                aes_gcm::Aes128Gcm::new_from_slice(key).unwrap().encrypt(&nonce, p)
            }
            Algorithm::A192GCM => {
                aes_gcm::AesGcm::<aes::Aes192, aes_gcm::aead::consts::U12>::new_from_slice(key)
                    .unwrap()
                    .encrypt(&nonce, p)
            }
            Algorithm::A256GCM => {
                aes_gcm::Aes256Gcm::new_from_slice(key).unwrap().encrypt(&nonce, p)
            }
            _ => {
                chacha20poly1305::ChaCha20Poly1305::new_from_slice(key).unwrap().encrypt(&nonce, p)
            }
        }
        .expect("one-shot encryption")
    }

    fn key_len(alg: Algorithm) -> usize {
        teep_cose::content_key_len(alg).unwrap()
    }

    /// Streams `ct` through a decryptor in random-sized chunks (0 included).
    fn stream(
        alg: Algorithm,
        key: &[u8],
        iv: &[u8],
        aad: &[u8],
        ct: &[u8],
        rng: &mut Rng,
    ) -> Result<Vec<u8>, Error> {
        let mut d = AeadDecryptor::new(alg, key, iv, aad)?;
        let mut plain = Vec::new();
        let mut rest = ct;
        while !rest.is_empty() {
            let n = rng.below(rest.len().min(20_000) + 1);
            let (chunk, tail) = rest.split_at(n);
            let mut out = vec![0u8; chunk.len() + TAG_LEN];
            plain.extend_from_slice(d.update(chunk, &mut out)?);
            rest = tail;
        }
        d.finish()?;
        Ok(plain)
    }

    #[test]
    fn streaming_matches_one_shot_for_every_size_and_chunking() {
        let mut rng = Rng(0x5eed_0001);
        for &alg in ALGS {
            for &size in SIZES {
                for aad_len in [0usize, 1, 16, 37] {
                    let key = rng.bytes(key_len(alg));
                    let iv = rng.bytes(12);
                    let aad = rng.bytes(aad_len);
                    let msg = rng.bytes(size);
                    let ct = one_shot(alg, &key, &iv, &aad, &msg);
                    let plain = stream(alg, &key, &iv, &aad, &ct, &mut rng)
                        .unwrap_or_else(|e| panic!("{alg:?} size {size} aad {aad_len}: {e}"));
                    assert_eq!(plain, msg, "{alg:?} size {size} aad {aad_len}");
                }
            }
        }
    }

    #[test]
    fn random_sizes_match_one_shot() {
        let mut rng = Rng(0x5eed_0002);
        for round in 0..64 {
            let alg = ALGS[round % ALGS.len()];
            let size = rng.below(200_000);
            let key = rng.bytes(key_len(alg));
            let iv = rng.bytes(12);
            let aad_len = rng.below(100);
            let aad = rng.bytes(aad_len);
            let msg = rng.bytes(size);
            let ct = one_shot(alg, &key, &iv, &aad, &msg);
            assert_eq!(stream(alg, &key, &iv, &aad, &ct, &mut rng).unwrap(), msg);
        }
    }

    #[test]
    fn whole_ciphertext_in_one_update() {
        let mut rng = Rng(0x5eed_0003);
        for &alg in ALGS {
            let (key, iv, msg) = (rng.bytes(key_len(alg)), rng.bytes(12), rng.bytes(65_537));
            let ct = one_shot(alg, &key, &iv, b"aad", &msg);
            let mut d = AeadDecryptor::new(alg, &key, &iv, b"aad").unwrap();
            let mut out = vec![0u8; ct.len() + TAG_LEN];
            assert_eq!(d.update(&ct, &mut out).unwrap(), &msg[..]);
            d.finish().unwrap();
        }
    }

    #[test]
    fn any_flipped_bit_fails_the_tag() {
        let mut rng = Rng(0x5eed_0004);
        for &alg in ALGS {
            let (key, iv, msg) = (rng.bytes(key_len(alg)), rng.bytes(12), rng.bytes(1000));
            let ct = one_shot(alg, &key, &iv, b"aad", &msg);
            for pos in [0, 500, ct.len() - TAG_LEN - 1, ct.len() - TAG_LEN, ct.len() - 1] {
                let mut bad = ct.clone();
                bad[pos] ^= 0x01;
                let r = stream(alg, &key, &iv, b"aad", &bad, &mut rng);
                assert!(matches!(r, Err(Error::Decrypt)), "{alg:?} flip at {pos}");
            }
            let r = stream(alg, &key, &iv, b"other aad", &ct, &mut rng);
            assert!(matches!(r, Err(Error::Decrypt)), "{alg:?} wrong aad");
            let mut other_key = key.clone();
            other_key[0] ^= 0x80;
            let r = stream(alg, &other_key, &iv, b"aad", &ct, &mut rng);
            assert!(matches!(r, Err(Error::Decrypt)), "{alg:?} wrong key");
        }
    }

    #[test]
    fn truncated_or_extended_ciphertext_fails() {
        let mut rng = Rng(0x5eed_0005);
        for &alg in ALGS {
            let (key, iv, msg) = (rng.bytes(key_len(alg)), rng.bytes(12), rng.bytes(100));
            let ct = one_shot(alg, &key, &iv, &[], &msg);
            for cut in [0, 1, 15, 16, 17, ct.len() - 1] {
                let r = stream(alg, &key, &iv, &[], &ct[..cut], &mut rng);
                assert!(matches!(r, Err(Error::Decrypt)), "{alg:?} cut to {cut}");
            }
            let mut longer = ct.clone();
            longer.push(0);
            let r = stream(alg, &key, &iv, &[], &longer, &mut rng);
            assert!(matches!(r, Err(Error::Decrypt)), "{alg:?} one byte appended");
        }
    }

    #[test]
    fn bad_parameters_are_rejected() {
        let key = [0u8; 16];
        assert!(matches!(
            AeadDecryptor::new(Algorithm::A128GCM, &key, &[0; 16], &[]),
            Err(Error::Malformed(_))
        ));
        assert!(matches!(
            AeadDecryptor::new(Algorithm::A256GCM, &key, &[0; 12], &[]),
            Err(Error::InvalidKey(_))
        ));
        assert!(matches!(
            AeadDecryptor::new(Algorithm::CHACHA20_POLY1305, &key, &[0; 12], &[]),
            Err(Error::InvalidKey(_))
        ));
        assert!(matches!(
            AeadDecryptor::new(Algorithm::A128CTR, &key, &[0; 12], &[]),
            Err(Error::UnsupportedAlgorithm(_))
        ));
        let mut d = AeadDecryptor::new(Algorithm::A128GCM, &key, &[0; 12], &[]).unwrap();
        let mut small = [0u8; 20];
        assert!(matches!(d.update(&[0; 40], &mut small), Err(Error::Malformed(_))));
    }
}
