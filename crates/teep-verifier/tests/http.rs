//! The challenge-response API over loopback HTTP: sessions, appraisal outcomes, refusals.

use std::sync::Arc;

use base64ct::{Base64, Encoding};
use teep_cose::{Algorithm, SigningKey};
use teep_eat::{ClaimSet, Digest, EatError, Freshness, HwVersion, ManifestRef, OemId, Status};
use teep_verifier::config::ReferenceConfig;
use teep_verifier::http::SessionJson;
use teep_verifier::{Verifier, VerifierClient, VerifierConfig};

fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

fn claims(nonce: &[u8], teep_kid: [u8; 32]) -> ClaimSet {
    ClaimSet {
        eat_profile: Some(teep_eat::TEEP_EAT_PROFILE.into()),
        eat_nonce: Some(nonce.to_vec()),
        ueid: Some([&[1u8][..], &[7; 32]].concat()),
        oemid: Some(OemId::Bytes(vec![0x89, 0x48, 0x23])),
        hwmodel: Some(vec![0x54; 16]),
        hwversion: Some(HwVersion { version: "1.3.4".into(), scheme: None }),
        manifests: Some(vec![ManifestRef {
            content_format: 60,
            uri: None,
            digest: Digest { algorithm: -16, bytes: vec![0xa7; 32] },
        }]),
        cnf_kid: Some(teep_kid.to_vec()),
        ..ClaimSet::default()
    }
}

struct Running {
    url: String,
    verifier: Arc<Verifier>,
    _dir: tempfile::TempDir,
}

async fn start(attester: &SigningKey) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let public = dir.path().join("attester.pub.pem");
    std::fs::write(&public, attester.public_key().to_spki_pem()).unwrap();
    let config = VerifierConfig {
        state_dir: dir.path().to_owned(),
        attester_keys: vec![public],
        reference: ReferenceConfig {
            oemids: vec!["894823".into()],
            hwmodels: vec![hex::encode([0x54; 16])],
            hwversions: vec!["1.3.4".into()],
            manifest_digests: vec![hex::encode([0xa7; 32])],
        },
        ..VerifierConfig::default()
    };
    let verifier = Arc::new(Verifier::open(config).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(teep_verifier::serve_on(Arc::clone(&verifier), listener, std::future::pending()));
    Running { url, verifier, _dir: dir }
}

#[tokio::test]
async fn appraises_through_the_client() {
    let attester = SigningKey::generate_p256(&mut rng());
    let teep = SigningKey::generate_ed25519(&mut rng());
    let v = start(&attester).await;
    let client = VerifierClient::new(&v.url, std::time::Duration::from_secs(5)).unwrap();
    let vkeys = [v.verifier.public_key()];
    let nonce = [4u8; 32];
    let kid = teep.public_key().thumbprint();
    let check = |r: &[u8], n: &[u8]| {
        teep_eat::validate(
            r,
            &vkeys,
            teep_eat::DEFAULT_ALGORITHMS,
            &teep.public_key(),
            Freshness::Nonce(n),
        )
    };

    // Good Evidence: affirming, bound to the TEEP key and the nonce; EAR too.
    let evidence = teep_eat::sign(&claims(&nonce, kid), &attester, Algorithm::ESP256).unwrap();
    let out = client.appraise(&nonce, teep_eat::EAT_CWT_MEDIA_TYPE, &evidence).await.unwrap();
    check(&out.result, &nonce).unwrap();
    let ear = teep_eat::verify(out.ear.as_deref().unwrap(), &vkeys, teep_eat::DEFAULT_ALGORITHMS)
        .unwrap();
    let ear = teep_eat::Ear::from_claims(&ear.claims).unwrap();
    assert_eq!(ear.overall(), Status::Affirming);
    assert_eq!(ear.nonce.as_deref(), Some(&nonce[..]));

    // Evidence for another session's nonce (a replay) is contraindicated.
    let out = client.appraise(&[5u8; 32], teep_eat::EAT_CWT_MEDIA_TYPE, &evidence).await.unwrap();
    assert_eq!(check(&out.result, &[5u8; 32]), Err(EatError::NotAffirming));
    let r = teep_eat::AttestationResult::verify(&out.result, &vkeys, teep_eat::DEFAULT_ALGORITHMS)
        .unwrap();
    assert!(r.reason.unwrap().contains("eat_nonce does not match"));

    // Missing claims and a wrong profile.
    let mut missing = claims(&nonce, kid);
    missing.hwversion = None;
    let mut profile = claims(&nonce, kid);
    profile.eat_profile = Some("tag:example.com,2024:other".into());
    let untrusted = SigningKey::generate_p256(&mut rng());
    for (cs, key, reason) in [
        (missing, &attester, "hwversion is missing"),
        (profile, &attester, "eat_profile"),
        (claims(&nonce, kid), &untrusted, "no trusted key"),
    ] {
        let ev = teep_eat::sign(&cs, key, Algorithm::ESP256).unwrap();
        let out = client.appraise(&nonce, teep_eat::EAT_CWT_MEDIA_TYPE, &ev).await.unwrap();
        let r =
            teep_eat::AttestationResult::verify(&out.result, &vkeys, teep_eat::DEFAULT_ALGORITHMS)
                .unwrap();
        assert_eq!(r.status, Status::Contraindicated);
        assert!(r.reason.as_deref().unwrap().contains(reason), "{:?}", r.reason);
    }
}

#[tokio::test]
async fn session_resource_follows_the_veraison_shape() {
    let attester = SigningKey::generate_p256(&mut rng());
    let v = start(&attester).await;
    teep_verifier::install_crypto_provider();
    let http = reqwest::Client::new();
    let base = format!("{}/challenge-response/v1", v.url);

    let r = http.post(format!("{base}/newSession?nonceSize=32")).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("session/"));
    let s: SessionJson = r.json().await.unwrap();
    assert_eq!(s.state, "waiting");
    assert_eq!(Base64::decode_vec(&s.nonce).unwrap().len(), 32);
    assert!(s.accept.iter().any(|m| m == teep_eat::EAT_CWT_MEDIA_TYPE));
    let session = format!("{base}/{location}");

    // Wrong media type: 415; then good Evidence: 200 complete; again: 409.
    let r = http.post(&session).header("content-type", "application/json").body("{}").send();
    assert_eq!(r.await.unwrap().status(), 415);
    let nonce = Base64::decode_vec(&s.nonce).unwrap();
    let kid = SigningKey::generate_p256(&mut rng()).public_key().thumbprint();
    let ev = teep_eat::sign(&claims(&nonce, kid), &attester, Algorithm::ESP256).unwrap();
    let post = |body: Vec<u8>| {
        http.post(&session).header("content-type", teep_eat::EAT_CWT_MEDIA_TYPE).body(body).send()
    };
    let r = post(ev.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    let done: SessionJson = r.json().await.unwrap();
    assert_eq!(done.state, "complete");
    assert_eq!(done.reason.as_deref(), Some("affirming"));
    assert!(done.result.is_some() && done.ear.is_some());
    assert_eq!(post(ev).await.unwrap().status(), 409);
    assert_eq!(http.get(&session).send().await.unwrap().status(), 200);
    assert_eq!(http.delete(&session).send().await.unwrap().status(), 204);
    assert_eq!(http.get(&session).send().await.unwrap().status(), 404);

    // Bad nonces.
    for q in ["nonce=AAAA", "nonceSize=65", "nonce=!!"] {
        let r = http.post(format!("{base}/newSession?{q}")).send().await.unwrap();
        assert_eq!(r.status(), 400, "{q}");
    }
}
