//! teep-eat against the draft's EAT example (vectors/teep-protocol/eat_diagnostic.txt) and
//! the negative cases of the TEEP profile.

use teep_cose::{Algorithm, SigningKey};
use teep_eat::{
    ClaimSet, Digest, EatError, Freshness, HwVersion, ManifestRef, OemId, Policy, ReferenceValues,
    Status, TEEP_EAT_PROFILE,
};

const DIAG: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/vectors/teep-protocol/eat_diagnostic.txt"
));

fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// The h'..' strings of the diagnostic file in order, adjacent ones joined.
fn hex_strings() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut rest = DIAG;
    let mut last_end = 0usize;
    let mut consumed = 0usize;
    while let Some(i) = rest.find("h'") {
        let start = consumed + i;
        let body = &rest[i + 2..];
        let j = body.find('\'').unwrap();
        let bytes = hex::decode(&body[..j]).unwrap();
        let between = &DIAG[last_end..start];
        if !out.is_empty() && between.trim().is_empty() {
            out.last_mut().unwrap().extend(bytes);
        } else {
            out.push(bytes);
        }
        last_end = start + 2 + j + 1;
        consumed = last_end;
        rest = &DIAG[consumed..];
    }
    out
}

/// Encodes the vector exactly as its diagnostic notation reads (map order as written).
fn vector_bytes() -> Vec<u8> {
    let h = hex_strings();
    assert_eq!(h.len(), 6, "kid, nonce, ueid, oemid, hwmodel, digest");
    let mut e = minicbor::Encoder::new(Vec::new());
    e.map(7).unwrap();
    e.u64(8).unwrap().map(1).unwrap().u64(3).unwrap().bytes(&h[0]).unwrap();
    e.u64(10).unwrap().bytes(&h[1]).unwrap();
    e.u64(256).unwrap().bytes(&h[2]).unwrap();
    e.u64(258).unwrap().bytes(&h[3]).unwrap();
    e.u64(259).unwrap().bytes(&h[4]).unwrap();
    e.u64(260).unwrap().array(2).unwrap().str("1.3.4").unwrap().u64(1).unwrap();
    // The example labels manifests 273, a pre-IANA number; RFC 9711 registered 272 (273 is
    // measurements). The claim is encoded here under its registered label.
    e.u64(272).unwrap().array(1).unwrap().array(2).unwrap().u64(60).unwrap();
    e.map(2).unwrap().u64(1).unwrap().str("https://example.com/manifest.cbor").unwrap();
    e.u64(0).unwrap().array(2).unwrap().i64(-16).unwrap().bytes(&h[5..].concat()).unwrap();
    e.into_writer()
}

#[test]
fn decodes_the_draft_example() {
    let h = hex_strings();
    let claims = ClaimSet::decode(&vector_bytes()).unwrap();
    assert_eq!(claims.cnf_kid.as_deref(), Some(h[0].as_slice()));
    assert_eq!(claims.cnf_kid.as_ref().unwrap().len(), 32);
    assert_eq!(claims.eat_nonce.as_deref(), Some(h[1].as_slice()));
    assert_eq!(claims.ueid.as_deref(), Some(h[2].as_slice()));
    assert_eq!(claims.oemid, Some(OemId::Bytes(h[3].clone())));
    assert_eq!(claims.hwmodel.as_deref(), Some(h[4].as_slice()));
    assert_eq!(claims.hwversion, Some(HwVersion { version: "1.3.4".into(), scheme: Some(1) }));
    let m = &claims.manifests.as_ref().unwrap()[0];
    assert_eq!(m.content_format, 60);
    assert_eq!(m.uri.as_deref(), Some("https://example.com/manifest.cbor"));
    assert_eq!(m.digest.algorithm, -16);
    assert_eq!(m.digest.bytes.len(), 32);
    // The example has no eat_profile: it is not a complete TEEP-profile claim set.
    assert_eq!(claims.check_teep_profile(), Err(EatError::WrongProfile));
    // Under the example's own label 273 the same value is measurements: kept, not read.
    let as_written: Vec<u8> = {
        let bytes = vector_bytes();
        let at = bytes.windows(3).position(|w| w == [0x19, 0x01, 0x10]).unwrap();
        [&bytes[..at], &[0x19, 0x01, 0x11], &bytes[at + 3..]].concat()
    };
    let measured = ClaimSet::decode(&as_written).unwrap();
    assert!(measured.manifests.is_none());
    assert!(measured.other_claim(273).is_some());
    // Re-encoding is deterministic and decodes to the same claims.
    assert_eq!(ClaimSet::decode(&claims.encode()).unwrap(), claims);
}

fn teep_claims(nonce: &[u8], teep_kid: [u8; 32]) -> ClaimSet {
    let h = hex_strings();
    ClaimSet {
        eat_profile: Some(TEEP_EAT_PROFILE.into()),
        eat_nonce: Some(nonce.to_vec()),
        ueid: Some(h[2].clone()),
        oemid: Some(OemId::Bytes(h[3].clone())),
        hwmodel: Some(h[4].clone()),
        hwversion: Some(HwVersion { version: "1.3.4".into(), scheme: Some(1) }),
        manifests: Some(vec![ManifestRef {
            content_format: 60,
            uri: None,
            digest: Digest { algorithm: -16, bytes: h[5..].concat() },
        }]),
        cnf_kid: Some(teep_kid.to_vec()),
        ..ClaimSet::default()
    }
}

#[test]
fn rejects_malformed_claim_sets() {
    let good = vector_bytes();
    // Trailing bytes, truncation, indefinite map, text keys, short nonce.
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(matches!(ClaimSet::decode(&trailing), Err(EatError::Cbor(_))));
    assert!(matches!(ClaimSet::decode(&good[..good.len() - 1]), Err(EatError::Cbor(_))));
    assert!(ClaimSet::decode(&[0xbf, 0xff]).is_err());
    assert!(matches!(ClaimSet::decode(&[0xa1, 0x61, 0x61, 0x01]), Err(EatError::Malformed(_))));
    assert!(matches!(
        ClaimSet::decode(&[0xa1, 0x0a, 0x41, 0x01]),
        Err(EatError::Malformed("eat_nonce size must be 8..=64"))
    ));
    // Duplicate key.
    assert!(matches!(ClaimSet::decode(&[0xa2, 0x06, 0x01, 0x06, 0x02]), Err(EatError::Cbor(_))));
    // Deep nesting in an unknown claim.
    let mut deep = vec![0xa1, 0x39, 0x01, 0x00];
    deep.extend(std::iter::repeat_n(0x81, 100));
    deep.push(0x00);
    assert!(matches!(ClaimSet::decode(&deep), Err(EatError::Cbor(_))));
}

#[test]
fn unknown_claims_survive_a_round_trip() {
    let mut claims = teep_claims(&[7; 16], [1; 32]);
    claims.set_other(271, vec![0x63, b'1', b'.', b'0']);
    let back = ClaimSet::decode(&claims.encode()).unwrap();
    assert_eq!(back.other_claim(271), Some(&[0x63, b'1', b'.', b'0'][..]));
    assert_eq!(back, claims);
}

#[test]
fn evidence_appraisal_and_result() {
    let mut rng = rng();
    let attester = SigningKey::generate_p256(&mut rng);
    let teep_key = SigningKey::generate_ed25519(&mut rng);
    let verifier = SigningKey::generate_p256(&mut rng);
    let other = SigningKey::generate_p256(&mut rng);
    let nonce = [9u8; 16];
    let claims = teep_claims(&nonce, teep_key.public_key().thumbprint());
    let evidence = teep_eat::sign(&claims, &attester, Algorithm::ESP256).unwrap();

    let reference = ReferenceValues {
        hwmodels: vec![claims.hwmodel.clone().unwrap()],
        hwversions: vec!["1.3.4".into()],
        manifest_digests: vec![claims.manifests.as_ref().unwrap()[0].digest.clone()],
        ..ReferenceValues::default()
    };
    let keys = [attester.public_key()];
    let policy = Policy {
        attester_keys: &keys,
        algorithms: teep_eat::DEFAULT_ALGORITHMS,
        reference: &reference,
        policy_id: "test",
        verifier: "teep-rs verifier",
    };
    let result = teep_eat::appraise(&evidence, &policy, Freshness::Nonce(&nonce), 1000);
    assert_eq!(result.status, Status::Affirming, "{:?}", result.reason);
    let ar = result.sign(&verifier, Algorithm::ESP256).unwrap();
    let vkeys = [verifier.public_key()];
    let ok = teep_eat::validate(
        &ar,
        &vkeys,
        teep_eat::DEFAULT_ALGORITHMS,
        &teep_key.public_key(),
        Freshness::Nonce(&nonce),
    )
    .unwrap();
    assert_eq!(ok.claims.hwmodel, claims.hwmodel);

    // Relying-party refusals: other Verifier, cnf bound to another key, replayed nonce.
    let untrusted = [other.public_key()];
    let algs = teep_eat::DEFAULT_ALGORITHMS;
    let v = |keys: &[teep_cose::PublicKey], k: &SigningKey, n: &[u8]| {
        teep_eat::validate(&ar, keys, algs, &k.public_key(), Freshness::Nonce(n))
    };
    assert_eq!(v(&untrusted, &teep_key, &nonce), Err(EatError::UntrustedKey));
    assert_eq!(v(&vkeys, &other, &nonce), Err(EatError::ConfirmationMismatch));
    assert_eq!(v(&vkeys, &teep_key, &[8; 16]), Err(EatError::NonceMismatch));

    // Verifier refusals, each with a reason.
    let refuse = |evidence: &[u8], policy: &Policy<'_>, f: Freshness<'_>| {
        let r = teep_eat::appraise(evidence, policy, f, 1000);
        assert_eq!(r.status, Status::Contraindicated);
        r.reason.unwrap()
    };
    let no_key = Policy { attester_keys: &untrusted, ..policy };
    assert_eq!(
        refuse(&evidence, &no_key, Freshness::Nonce(&nonce)),
        "no trusted key verified the signature"
    );
    assert!(refuse(&evidence, &policy, Freshness::Nonce(&[1; 16])).contains("eat_nonce"));
    assert!(
        refuse(&evidence, &policy, Freshness::Timestamp { now: 1000, window: 60 }).contains("iat")
    );
    let mut missing = claims.clone();
    missing.oemid = None;
    let ev = teep_eat::sign(&missing, &attester, Algorithm::ESP256).unwrap();
    assert!(refuse(&ev, &policy, Freshness::Nonce(&nonce)).contains("oemid is missing"));
    let mut wrong = claims.clone();
    wrong.eat_profile = Some("urn:example:other".into());
    let ev = teep_eat::sign(&wrong, &attester, Algorithm::ESP256).unwrap();
    assert!(refuse(&ev, &policy, Freshness::Nonce(&nonce)).contains("eat_profile"));
    let mut model = claims.clone();
    model.hwmodel = Some(vec![1, 2, 3]);
    let ev = teep_eat::sign(&model, &attester, Algorithm::ESP256).unwrap();
    assert!(refuse(&ev, &policy, Freshness::Nonce(&nonce)).contains("hwmodel"));

    // A contraindicated result is refused by the relying party with NotAffirming.
    let bad = teep_eat::appraise(&ev, &policy, Freshness::Nonce(&nonce), 1000);
    let bad = bad.sign(&verifier, Algorithm::ESP256).unwrap();
    let r =
        teep_eat::validate(&bad, &vkeys, algs, &teep_key.public_key(), Freshness::Nonce(&nonce));
    assert_eq!(r, Err(EatError::NotAffirming));

    // Timestamp freshness.
    let mut timed = claims.clone();
    timed.eat_nonce = None;
    timed.iat = Some(5000);
    assert!(timed.check_freshness(Freshness::Timestamp { now: 5030, window: 60 }).is_ok());
    assert_eq!(
        timed.check_freshness(Freshness::Timestamp { now: 6000, window: 60 }),
        Err(EatError::Stale)
    );
}

#[test]
fn ear_round_trip() {
    let key = SigningKey::generate_ed25519(&mut rng());
    let ear = teep_eat::Ear {
        iat: 1_700_000_000,
        verifier_build: "teep-rs 0.1.0".into(),
        verifier_developer: "https://example.invalid/teep-rs".into(),
        nonce: Some(vec![5; 32]),
        submods: vec![(
            "TEEP".into(),
            teep_eat::Appraisal {
                status: Status::Affirming,
                trust_vector: vec![(0, 2), (2, 2), (4, 2)],
                policy_id: Some("policy:teep".into()),
            },
        )],
    };
    let cwt = teep_eat::sign(&ear.to_claims(), &key, Algorithm::ED25519).unwrap();
    let v = teep_eat::verify(&cwt, &[key.public_key()], teep_eat::DEFAULT_ALGORITHMS).unwrap();
    let back = teep_eat::Ear::from_claims(&v.claims).unwrap();
    assert_eq!(back, ear);
    assert_eq!(back.overall(), Status::Affirming);
}

#[test]
fn encrypted_eat() {
    let mut rng = rng();
    let tam = SigningKey::generate_p256(&mut rng);
    let intruder = SigningKey::generate_p256(&mut rng);
    let signed = teep_eat::sign(&teep_claims(&[3; 8], [2; 32]), &tam, Algorithm::ESP256).unwrap();
    let sealed = teep_eat::encrypt(&mut rng, &signed, &tam.public_key()).unwrap();
    assert!(teep_eat::is_encrypted(&sealed));
    assert_eq!(teep_eat::decrypt(&sealed, &tam).unwrap(), signed);
    assert_eq!(teep_eat::decrypt(&sealed, &intruder), Err(EatError::Decrypt));
    let mut altered = sealed.clone();
    let n = altered.len() - 40;
    altered[n] ^= 1;
    assert!(teep_eat::decrypt(&altered, &tam).is_err());
}
