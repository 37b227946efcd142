//! Hostile and malformed inputs: header strictness (RFC 9052 §3), structure errors, limits.

use teep_cose::{Algorithm, CoseSign, Error, Sign1, SigningKey};

/// A Sign1 with the given protected map bytes and unprotected map bytes, a short payload and a
/// dummy signature.
fn sign1_raw(protected: &[u8], unprotected: &[u8]) -> Vec<u8> {
    let mut out = vec![0xd2, 0x84];
    out.push(0x40 + protected.len() as u8);
    out.extend_from_slice(protected);
    out.extend_from_slice(unprotected);
    out.extend_from_slice(&[0x41, 0x00, 0x41, 0x00]);
    out
}

/// Decodes and checks the algorithm, returning only the outcome.
fn outcome(protected: &[u8], unprotected: &[u8]) -> Result<(), Error> {
    let bytes = sign1_raw(protected, unprotected);
    Sign1::decode(&bytes).and_then(|m| m.algorithm()).map(|_| ())
}

#[test]
fn header_rules() {
    use teep_cbor::Error as Cbor;
    let es256 = [0xa1, 0x01, 0x26];
    // alg -7 protected, empty unprotected.
    assert_eq!(outcome(&es256, &[0xa0]), Ok(()));
    // Unknown label 99 in the unprotected bucket.
    assert_eq!(outcome(&es256, &[0xa1, 0x18, 0x63, 0x00]), Err(Error::UnknownHeader(99)));
    // crit [99] with 99 present in the protected bucket.
    let p = [0xa3, 0x01, 0x26, 0x02, 0x81, 0x18, 0x63, 0x18, 0x63, 0x00];
    assert_eq!(outcome(&p, &[0xa0]), Err(Error::UnknownCritical(99)));
    // crit [4] (kid, understood) with kid present: accepted.
    let p = [0xa3, 0x01, 0x26, 0x02, 0x81, 0x04, 0x04, 0x41, 0x01];
    assert_eq!(outcome(&p, &[0xa0]), Ok(()));
    // crit [4] with kid absent.
    let p = [0xa2, 0x01, 0x26, 0x02, 0x81, 0x04];
    assert!(matches!(outcome(&p, &[0xa0]), Err(Error::Malformed(_))));
    // crit in the unprotected bucket.
    assert!(matches!(outcome(&es256, &[0xa1, 0x02, 0x81, 0x01]), Err(Error::Malformed(_))));
    // kid in both buckets.
    let p = [0xa2, 0x01, 0x26, 0x04, 0x41, 0x01];
    assert_eq!(outcome(&p, &[0xa1, 0x04, 0x41, 0x01]), Err(Error::DuplicateHeader(4)));
    // alg only unprotected; no alg at all.
    assert_eq!(outcome(&[], &[0xa1, 0x01, 0x26]), Err(Error::UnprotectedAlg));
    assert_eq!(outcome(&[], &[0xa0]), Err(Error::MissingAlg));
    // Text algorithm name.
    assert_eq!(
        outcome(&[0xa1, 0x01, 0x61, 0x78], &[0xa0]),
        Err(Error::Unsupported("text algorithm names"))
    );
    // Duplicate key inside the protected map.
    let p = [0xa2, 0x01, 0x26, 0x01, 0x26];
    assert!(matches!(outcome(&p, &[0xa0]), Err(Error::Cbor(Cbor::DuplicateKey { .. }))));
    // Protected bytes that are not a map, or carry trailing data.
    assert!(outcome(&[0x01], &[0xa0]).is_err());
    assert!(matches!(
        outcome(&[0xa0, 0x00], &[0xa0]),
        Err(Error::Cbor(Cbor::TrailingBytes { .. }))
    ));
    // Non-preferred integer in a header.
    assert!(matches!(
        outcome(&[0xa1, 0x18, 0x01, 0x26], &[0xa0]),
        Err(Error::Cbor(Cbor::NotPreferred { .. }))
    ));
}

#[test]
fn structure_errors() {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let key = SigningKey::generate_p256(&mut rng);
    let msg = teep_cose::sign1(b"abc", &key, Algorithm::ESP256, None, &[], true).unwrap();
    // Every truncation is rejected without panicking.
    for n in 0..msg.len() {
        assert!(Sign1::decode(&msg[..n]).is_err(), "truncated at {n}");
    }
    // Trailing bytes.
    let mut long = msg.clone();
    long.push(0);
    assert!(matches!(
        Sign1::decode(&long),
        Err(Error::Cbor(teep_cbor::Error::TrailingBytes { .. }))
    ));
    // A Sign1 is not a COSE_Sign, and vice versa.
    assert_eq!(
        CoseSign::decode(&msg).map(|_| ()).unwrap_err(),
        Error::Malformed("unexpected CBOR tag")
    );
    let sign = teep_cose::sign(b"abc", &[(&key, Algorithm::ESP256, None)], true).unwrap();
    assert!(Sign1::decode(&sign).is_err());
    // Deep nesting in the unprotected bucket is rejected by the pre-check.
    let mut deep = vec![0xd2, 0x84, 0x43, 0xa1, 0x01, 0x26, 0xa1, 0x07];
    deep.extend(std::iter::repeat_n(0x81, 100_000));
    deep.push(0x00);
    deep.extend_from_slice(&[0x41, 0x00, 0x41, 0x00]);
    assert!(matches!(Sign1::decode(&deep), Err(Error::Cbor(teep_cbor::Error::TooDeep { .. }))));
    // Wrong signature length for ECDSA (r || s must be 64 bytes).
    let m = Sign1::decode(&msg).unwrap();
    assert_eq!(m.verify(&key.public_key(), &[]), Ok(()));
    let short = Sign1 { signature: &m.signature[..63], ..m.clone() };
    assert_eq!(short.verify(&key.public_key(), &[]), Err(Error::BadSignature));
    // A key of the other type.
    let ed = SigningKey::generate_ed25519(&mut rng);
    assert_eq!(m.verify(&ed.public_key(), &[]), Err(Error::KeyMismatch));
    assert_eq!(key.sign(Algorithm::ED25519, b"x"), Err(Error::KeyMismatch));
    assert_eq!(key.sign(Algorithm(-35), b"x"), Err(Error::UnsupportedAlgorithm(-35)));
}

#[test]
fn debug_hides_secrets() {
    let key = SigningKey::from_ed25519_seed(&[0x42; 32]);
    let dbg = format!("{key:?}");
    assert!(dbg.contains("Ed25519 thumbprint"));
    assert!(!dbg.contains("4242"));
}
