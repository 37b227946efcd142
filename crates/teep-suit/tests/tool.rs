//! `teep_suit::tool` round trips: build -> re-sign / sever / encrypt -> process, and the
//! negatives, each rejected before anything is written (feature `std`).

#![cfg(feature = "std")]

mod common;

use common::*;
use proptest::prelude::*;
use teep_cose::{Algorithm, SigningKey};
use teep_suit::builder::{ManifestBuilder, Payload};
use teep_suit::tool::{self, Authenticator, Recipient};
use teep_suit::{ComponentId, Envelope, MacKey, Options, Reason, SuitError, TrustAnchors, process};

fn ta() -> ComponentId {
    ComponentId::new([&b"TEEP-Device"[..], b"SecureFS", &[0x8d; 16], b"ta"])
}

fn built(payload: Payload) -> Vec<u8> {
    ManifestBuilder::new(ta(), 5)
        .manifest_component_id(ComponentId::new([
            &b"TEEP-Device"[..],
            b"SecureFS",
            &[0x8d; 16],
            b"suit",
        ]))
        .vendor_id(VENDOR_ID)
        .class_id(CLASS_ID)
        .payload(payload)
        .description("tool test")
        .sign(&example_signing_key(), None)
        .expect("build")
}

fn sign1(key: &SigningKey) -> Authenticator<'_> {
    Authenticator::Sign1 { key, alg: None, with_kid: true }
}

fn install(env: &[u8], trust: &TrustAnchors) -> (MemPlatform, Result<(), teep_suit::Failure>) {
    let mut p = MemPlatform::teep_example();
    let r = process(&mut p, env, trust, &Options::teep_install()).map(|_| ());
    (p, r)
}

/// Installs `env`, panicking with the failure.
fn installed(env: &[u8], trust: &TrustAnchors) -> MemPlatform {
    let (p, r) = install(env, trust);
    r.unwrap_or_else(|f| panic!("{f}"));
    p
}

/// Processes `env`, which must fail.
fn refused(env: &[u8], trust: &TrustAnchors, why: &str) -> (MemPlatform, teep_suit::Failure) {
    let (p, r) = install(env, trust);
    (p, r.expect_err(why))
}

#[test]
fn resigning_suit_uri_with_the_example_key_reproduces_the_published_bytes() {
    let published = hex_vector("teep-protocol/suit_uri.hex.txt");
    let key = example_signing_key();
    let auth = Authenticator::Sign1 { key: &key, alg: None, with_kid: false };
    assert_eq!(hex::encode(tool::resign(&published, &auth).unwrap()), hex::encode(&published));
}

#[test]
fn resign_with_ed25519_and_hmac() {
    let env = built(Payload::integrated(b"payload".to_vec()));
    let p256 = TrustAnchors::new(vec![example_signing_key().public_key()]);

    let ed = SigningKey::from_ed25519_seed(&[9; 32]);
    let resigned = tool::resign(&env, &sign1(&ed)).unwrap();
    let p = installed(&resigned, &TrustAnchors::new(vec![ed.public_key()]));
    assert_eq!(p.state.components.get(&ta()).map(Vec::as_slice), Some(&b"payload"[..]));
    // The old signer no longer verifies: rejected before anything is written.
    let (p, f) = refused(&resigned, &p256, "old key refused");
    assert_eq!(f.reason(), Reason::Unauthorised);
    assert!(p.state.components.is_empty() && p.staged_is_empty());

    let secret = [0x42; 32];
    let mac = tool::resign(&env, &Authenticator::Mac0 { key: &secret, kid: Some(b"k1") }).unwrap();
    let trust = TrustAnchors::new(vec![])
        .with_mac_key(MacKey { kid: Some(b"k1".to_vec()), ..MacKey::new(secret.to_vec()) });
    installed(&mac, &trust);
    let wrong = TrustAnchors::new(vec![]).with_mac_key(MacKey::new(vec![0x43; 32]));
    assert_eq!(refused(&mac, &wrong, "wrong key").1.reason(), Reason::Unauthorised);
}

#[test]
fn severed_members_are_checked_and_detached_ones_fail_with_severing_unsupported() {
    let key = example_signing_key();
    let trust = TrustAnchors::new(vec![key.public_key()]);
    let env = built(Payload::integrated(b"severed TC".to_vec()));

    // All inline severable members (install, text) move into the envelope.
    let severed = tool::sever(&env, &[], false, &sign1(&key)).unwrap();
    assert!(severed.detached.is_empty());
    let decoded = Envelope::decode(&severed.envelope).unwrap();
    let m = decoded.authenticate(&trust).unwrap();
    assert!(!m.is_severed_missing(20) && !m.is_severed_missing(23));
    let p = installed(&severed.envelope, &trust);
    assert_eq!(p.state.components.get(&ta()).map(Vec::as_slice), Some(&b"severed TC"[..]));

    // A flipped byte inside the severed install member: digest mismatch, nothing written.
    let at = find(&severed.envelope, b"#tc").expect("uri in install");
    let mut bad = severed.envelope.clone();
    bad[at + 1] ^= 0x01;
    let (p, f) = refused(&bad, &trust, "digest mismatch");
    assert_eq!(f.error, SuitError::SeveredMemberDigest(20));
    assert_eq!(f.reason(), Reason::Unauthorised);
    assert!(p.state.components.is_empty() && p.staged_is_empty());

    // Detached install: the processor has no copy, reason severing-unsupported.
    let detached = tool::sever(&env, &[20], true, &sign1(&key)).unwrap();
    assert_eq!(detached.detached.len(), 1);
    assert_eq!(detached.detached[0].0, 20);
    let (p, f) = refused(&detached.envelope, &trust, "missing member");
    assert_eq!(f.reason(), Reason::SeveringUnsupported);
    assert!(p.state.components.is_empty());

    // Fetched by reference through the platform: checked against the digest, then run.
    let mut p = MemPlatform::teep_example();
    p.severed.insert(20, detached.detached[0].1.clone());
    process(&mut p, &detached.envelope, &trust, &Options::teep_install())
        .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(p.severed_fetches, [(None, 20)]);
    assert_eq!(p.state.components.get(&ta()).map(Vec::as_slice), Some(&b"severed TC"[..]));
    // A fetched member that does not match its digest: rejected before anything runs.
    let mut p = MemPlatform::teep_example();
    let mut wrong = detached.detached[0].1.clone();
    if let Some(last) = wrong.last_mut() {
        *last ^= 1;
    }
    p.severed.insert(20, wrong);
    let f = process(&mut p, &detached.envelope, &trust, &Options::teep_install()).unwrap_err();
    assert_eq!(f.error, SuitError::SeveredMemberDigest(20));
    assert_eq!(f.reason(), Reason::Unauthorised);
    assert!(p.state.components.is_empty() && p.staged_is_empty() && p.fetches.is_empty());

    // Negatives of the tool itself.
    let err = tool::sever(&severed.envelope, &[20], false, &sign1(&key)).unwrap_err();
    assert_eq!(err, SuitError::InvalidInput("member already severed"));
    assert!(matches!(
        tool::sever(&env, &[24], false, &sign1(&key)),
        Err(SuitError::InvalidInput(_))
    ));
    assert!(matches!(
        tool::sever(&env, &[16], false, &sign1(&key)),
        Err(SuitError::InvalidInput(_))
    ));
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn encrypted_payload_installs_for_the_device_and_kek_holder_only() {
    let key = example_signing_key();
    let trust = TrustAnchors::new(vec![key.public_key()]);
    let plaintext = b"confidential TC payload".to_vec();
    let env = built(Payload::integrated(plaintext.clone()));
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let device = SigningKey::generate_p256(&mut rng);
    for alg in [Algorithm::A128GCM, Algorithm::A128CTR, Algorithm::CHACHA20_POLY1305] {
        let enc = tool::encrypt_payload(
            &mut rng,
            &env,
            "#tc",
            &[Recipient::Device(&device.public_key())],
            alg,
            &sign1(&key),
        )
        .unwrap();
        assert!(find(&enc, &plaintext).is_none(), "plaintext left in the envelope");
        let mut p = MemPlatform::teep_example();
        p.keys.push(teep_suit::DecryptionKey::Ecdh {
            kid: None,
            key: Box::new(SigningKey::from_pkcs8_pem(&device.to_pkcs8_pem()).unwrap()),
        });
        process(&mut p, &enc, &trust, &Options::teep_install()).unwrap_or_else(|f| panic!("{f}"));
        assert_eq!(p.state.components.get(&ta()), Some(&plaintext), "{alg:?}");
        // Without the device key: nothing written.
        let (p, f) = refused(&enc, &trust, "no key");
        assert_eq!(f.error, SuitError::NoDecryptionKey);
        assert!(p.state.components.is_empty());
        // Encrypting twice is refused.
        let again = tool::encrypt_payload(
            &mut rng,
            &enc,
            "#tc",
            &[Recipient::Kek(&[1; 16])],
            alg,
            &sign1(&key),
        );
        assert_eq!(again.unwrap_err(), SuitError::InvalidInput("the payload is already encrypted"));
    }

    let kek = [0x11; 16];
    let enc = tool::encrypt_payload(
        &mut rng,
        &env,
        "#tc",
        &[Recipient::Kek(&kek)],
        Algorithm::A128GCM,
        &sign1(&key),
    )
    .unwrap();
    let mut p = MemPlatform::teep_example();
    p.keys.push(teep_suit::DecryptionKey::KeyWrap {
        kid: None,
        key: zeroize::Zeroizing::new(kek.to_vec()),
    });
    process(&mut p, &enc, &trust, &Options::teep_install()).unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(p.state.components.get(&ta()), Some(&plaintext));

    // Encrypted then severed still installs.
    let severed = tool::sever(&enc, &[], false, &sign1(&key)).unwrap();
    let mut p = MemPlatform::teep_example();
    p.keys.push(teep_suit::DecryptionKey::KeyWrap {
        kid: None,
        key: zeroize::Zeroizing::new(kek.to_vec()),
    });
    process(&mut p, &severed.envelope, &trust, &Options::teep_install())
        .unwrap_or_else(|f| panic!("{f}"));

    // Unknown payload name, URI payloads, severed install.
    let err = tool::encrypt_payload(
        &mut rng,
        &env,
        "#nope",
        &[Recipient::Kek(&kek)],
        Algorithm::A128GCM,
        &sign1(&key),
    );
    assert_eq!(err.unwrap_err(), SuitError::MissingIntegratedPayload);
    let uri = built(Payload::uri_for("https://tc.invalid/x", b"x"));
    let err = tool::encrypt_payload(
        &mut rng,
        &uri,
        "#tc",
        &[Recipient::Kek(&kek)],
        Algorithm::A128GCM,
        &sign1(&key),
    );
    assert_eq!(err.unwrap_err(), SuitError::MissingIntegratedPayload);
    let plain_severed = tool::sever(&env, &[20], false, &sign1(&key)).unwrap();
    let err = tool::encrypt_payload(
        &mut rng,
        &plain_severed.envelope,
        "#tc",
        &[Recipient::Kek(&kek)],
        Algorithm::A128GCM,
        &sign1(&key),
    );
    assert!(matches!(err, Err(SuitError::InvalidInput(_))));
}

#[test]
fn published_vectors_resign_sever_and_still_process() {
    // suit_integrated: the published example re-signed and severed still installs the
    // published payload.
    let key = example_signing_key();
    let trust = TrustAnchors::new(vec![key.public_key()]);
    let published = hex_vector("teep-protocol/suit_integrated.hex.txt");
    let severed = tool::sever(&published, &[], false, &sign1(&key)).unwrap();
    let p = installed(&severed.envelope, &trust);
    assert!(p.state.components.values().any(|v| v == b"Hello, Secure World!"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any payload and any subset of severable members: build -> sever -> process installs
    /// the payload; any single flipped byte of the severed envelope never installs something
    /// else.
    #[test]
    fn sever_round_trip(payload in proptest::collection::vec(any::<u8>(), 1..300),
                        detach_text in any::<bool>(), flip in any::<prop::sample::Index>()) {
        let key = example_signing_key();
        let trust = TrustAnchors::new(vec![key.public_key()]);
        let env = built(Payload::integrated(payload.clone()));
        let severed = tool::sever(&env, &[20], false, &sign1(&key)).unwrap();
        let env = if detach_text {
            tool::sever(&severed.envelope, &[23], true, &sign1(&key)).unwrap().envelope
        } else {
            severed.envelope
        };
        let p = installed(&env, &trust);
        prop_assert_eq!(p.state.components.get(&ta()), Some(&payload));
        let mut bad = env.clone();
        let i = flip.index(bad.len());
        bad[i] ^= 0x01;
        if let (p, Ok(())) = install(&bad, &trust) {
            prop_assert_eq!(p.state.components.get(&ta()), Some(&payload));
        }
    }
}

fn cid(segments: &[&[u8]]) -> ComponentId {
    ComponentId::new(segments.iter().copied())
}

/// A root manifest with two components and an integrated and a fetched dependency: build ->
/// sign -> process installs all of it, in strict mode.
#[test]
fn builder_several_components_and_dependencies() {
    use teep_suit::builder::Dependency;
    let key = example_signing_key();
    let trust = TrustAnchors::new(vec![key.public_key()]);
    let library = |name: &[u8], data: &[u8]| {
        ManifestBuilder::new(cid(&[b"TEEP-Device", b"SecureFS", name]), 2)
            .manifest_component_id(cid(&[b"TEEP-Device", b"SecureFS", name, b"suit"]))
            .vendor_id(VENDOR_ID)
            .class_id(CLASS_ID)
            .payload(Payload::integrated(data.to_vec()))
            .sign(&key, None)
            .unwrap()
    };
    let lib_a = library(b"lib-a", b"library A");
    let lib_b = library(b"lib-b", b"library B");
    let root = ManifestBuilder::new(ta(), 7)
        .manifest_component_id(cid(&[b"TEEP-Device", b"SecureFS", b"root.suit"]))
        .vendor_id(VENDOR_ID)
        .class_id(CLASS_ID)
        .payload(Payload::integrated(b"main TA".to_vec()))
        .component(
            cid(&[b"TEEP-Device", b"SecureFS", b"config.json"]),
            Payload::Integrated { key: "#config".into(), data: b"{\"a\":1}".to_vec() },
        )
        .dependency(Dependency {
            envelope: lib_a.clone(),
            prefix: Some(cid(&[b"TEEP-Device", b"SecureFS", b"lib-a", b"suit"])),
            uri: None,
        })
        .dependency(Dependency {
            envelope: lib_b.clone(),
            prefix: Some(cid(&[b"TEEP-Device", b"SecureFS", b"lib-b", b"suit"])),
            uri: Some("https://tc.invalid/lib-b.suit".into()),
        });
    let env = root.sign(&key, None).unwrap();
    for opts in [Options::default(), Options::teep_install()] {
        let mut p = MemPlatform::teep_example();
        p.mirrors.insert("https://tc.invalid/lib-b.suit".into(), lib_b.clone());
        process(&mut p, &env, &trust, &opts).unwrap_or_else(|f| panic!("{f}"));
        let c = &p.state.components;
        assert_eq!(c.get(&ta()).map(Vec::as_slice), Some(&b"main TA"[..]));
        let config = cid(&[b"TEEP-Device", b"SecureFS", b"config.json"]);
        assert_eq!(c.get(&config).map(Vec::as_slice), Some(&b"{\"a\":1}"[..]));
        for name in [&b"lib-a"[..], b"lib-b"] {
            let lib = c.get(&cid(&[b"TEEP-Device", b"SecureFS", name])).expect("library");
            assert!(lib.starts_with(b"library "));
            assert!(p.state.manifests.contains_key(&cid(&[
                b"TEEP-Device",
                b"SecureFS",
                name,
                b"suit"
            ])));
        }
        assert!(p.state.manifests.contains_key(&cid(&[b"TEEP-Device", b"SecureFS", b"root.suit"])));
    }

    // A dependency signed by an untrusted key: nothing is written.
    let stranger = SigningKey::from_ed25519_seed(&[5; 32]);
    let rogue = tool::resign(&lib_a, &sign1(&stranger)).unwrap();
    let env = ManifestBuilder::new(ta(), 7)
        .vendor_id(VENDOR_ID)
        .class_id(CLASS_ID)
        .payload(Payload::integrated(b"main TA".to_vec()))
        .dependency(Dependency { envelope: rogue, prefix: None, uri: None })
        .sign(&key, None)
        .unwrap();
    let (p, f) = refused(&env, &trust, "untrusted dependency");
    assert_eq!(f.reason(), Reason::Unauthorised, "{}", f.error);
    assert!(p.state.components.is_empty() && p.staged_is_empty());

    // Duplicate integrated keys are refused by the builder.
    let dup = ManifestBuilder::new(ta(), 1)
        .vendor_id(VENDOR_ID)
        .class_id(CLASS_ID)
        .payload(Payload::integrated(b"x".to_vec()))
        .component(cid(&[b"y"]), Payload::integrated(b"y".to_vec()))
        .sign(&key, None);
    assert_eq!(
        dup.unwrap_err(),
        SuitError::InvalidInput("integrated payload keys must be distinct")
    );
}

/// suit-directive-swap exchanges two images; image-match afterwards sees the swapped digests.
#[test]
fn swap_exchanges_two_components() {
    let key = example_signing_key();
    let trust = TrustAnchors::new(vec![key.public_key()]);
    let write = |i: u64, data: &[u8]| {
        vec![
            C::U(12),
            C::U(i),
            C::U(20),
            C::M(vec![(C::U(18), C::B(data.to_vec()))]),
            C::U(18),
            C::U(15),
        ]
    };
    let comps = || vec![vec![&b"slot-a"[..]], vec![&b"slot-b"[..]]];
    let mut install = write(0, b"AAA");
    install.extend(write(1, b"BBBB"));
    install.extend([
        C::U(12),
        C::U(0),
        C::U(20),
        C::M(vec![(C::U(22), C::U(1))]),
        C::U(31),
        C::U(15),
    ]);
    install.extend([
        C::U(12),
        C::U(1),
        C::U(20),
        C::M(vec![(C::U(3), C::B(teep_suit::SuitDigest::sha256(b"AAA").encode()))]),
        C::U(3),
        C::U(15),
    ]);
    let env = envelope(&manifest(1, comps(), install), vec![], &key);
    let p = installed(&env, &trust);
    assert_eq!(p.state.components.get(&cid(&[b"slot-a"])).map(Vec::as_slice), Some(&b"BBBB"[..]));
    assert_eq!(p.state.components.get(&cid(&[b"slot-b"])).map(Vec::as_slice), Some(&b"AAA"[..]));

    // Without suit-parameter-source-component: missing parameter, nothing written.
    let mut install = write(0, b"AAA");
    install.extend([C::U(31), C::U(15)]);
    let env = envelope(&manifest(1, comps(), install), vec![], &key);
    let (p, f) = refused(&env, &trust, "no source");
    assert_eq!(f.error, SuitError::MissingParameter(22));
    assert_eq!(f.reason(), Reason::ParameterUnsupported);
    assert!(p.state.components.is_empty() && p.staged_is_empty());

    // A source that has no image: the platform refuses, nothing written.
    let mut install = write(0, b"AAA");
    install.extend([C::U(20), C::M(vec![(C::U(22), C::U(1))]), C::U(31), C::U(15)]);
    let env = envelope(&manifest(1, comps(), install), vec![], &key);
    let (p, f) = refused(&env, &trust, "no source image");
    assert!(
        matches!(f.error, SuitError::Platform(teep_suit::PlatformError::UnknownComponent)),
        "{}",
        f.error
    );
    assert!(p.state.components.is_empty() && p.staged_is_empty());
}

/// Removal runs the installed manifest's suit-uninstall section (re-authenticated) with the
/// removal; a failing or unauthenticated section removes nothing.
#[test]
fn uninstall_runs_the_uninstall_section() {
    let key = example_signing_key();
    let trust = TrustAnchors::new(vec![key.public_key()]);
    let env = built(Payload::integrated(b"to be removed".to_vec()));
    let id = ComponentId::new([&b"TEEP-Device"[..], b"SecureFS", &[0x8d; 16], b"suit"]);
    let opts = Options::teep_install();

    let mut p = installed(&env, &trust);
    assert!(p.unlinks.is_empty());
    // Another trust store cannot authenticate the kept envelope: nothing removed.
    let other = TrustAnchors::new(vec![SigningKey::from_ed25519_seed(&[1; 32]).public_key()]);
    assert_eq!(teep_suit::uninstall_with(&mut p, &id, &other, &opts), Err(SuitError::Untrusted));
    assert!(p.state.manifests.contains_key(&id) && p.state.components.contains_key(&ta()));
    // The builder's suit-uninstall unlinks the component.
    teep_suit::uninstall_with(&mut p, &id, &trust, &opts).unwrap();
    assert_eq!(p.unlinks, [ta()]);
    assert!(p.state.manifests.is_empty() && p.state.components.is_empty());
    assert_eq!(teep_suit::uninstall_with(&mut p, &id, &trust, &opts), Err(SuitError::NotInstalled));

    // A suit-uninstall that aborts: the removal is refused, everything stays.
    let mut m = manifest(
        1,
        vec![vec![&b"kept"[..]]],
        vec![
            C::U(12),
            C::U(0),
            C::U(20),
            C::M(vec![(C::U(18), C::B(b"x".to_vec()))]),
            C::U(18),
            C::U(15),
        ],
    );
    if let C::M(pairs) = &mut m {
        pairs.push((C::U(24), w(C::A(vec![C::U(14), C::U(15)]))));
    }
    let env = envelope(&m, vec![], &key);
    let mut p = installed(&env, &trust);
    let kept = cid(&[b"kept"]);
    let err = teep_suit::uninstall_with(&mut p, &kept, &trust, &opts).unwrap_err();
    assert_eq!(err, SuitError::ConditionFailed(14));
    assert!(p.state.manifests.contains_key(&kept) && p.state.components.contains_key(&kept));
    assert!(p.staged_is_empty());
}

/// AEAD payloads stream in chunks into staging; a flipped ciphertext or tag byte anywhere is
/// caught by the tag at the end: nothing is committed, the platform aborts and the reason is
/// operation-failed. Sizes around the chunk size exercise the held-back tag across chunks.
#[test]
fn streamed_aead_payloads_install_and_a_flipped_byte_installs_nothing() {
    let key = example_signing_key();
    let trust = TrustAnchors::new(vec![key.public_key()]);
    let kek = [0x11; 16];
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let mut opts = Options::teep_install();
    opts.chunk_size = 1024;
    for alg in [Algorithm::A128GCM, Algorithm::A256GCM, Algorithm::CHACHA20_POLY1305] {
        for size in [0usize, 1, 1023, 1024, 1025, 5000] {
            let plaintext: Vec<u8> = (0..size).map(|i| (i * 7 + 3) as u8).collect();
            let env = built(Payload::integrated(plaintext.clone()));
            let enc = tool::encrypt_payload(
                &mut rng,
                &env,
                "#tc",
                &[Recipient::Kek(&kek)],
                alg,
                &sign1(&key),
            )
            .unwrap();
            let ct = Envelope::decode(&enc).unwrap().integrated_payload("#tc").unwrap().to_vec();
            assert_eq!(ct.len(), size + 16);
            let at = find(&enc, &ct).expect("ciphertext in the envelope");
            let platform = || {
                let mut p = MemPlatform::teep_example();
                p.keys.push(teep_suit::DecryptionKey::KeyWrap {
                    kid: None,
                    key: zeroize::Zeroizing::new(kek.to_vec()),
                });
                p
            };

            let mut p = platform();
            process(&mut p, &enc, &trust, &opts).unwrap_or_else(|f| panic!("{alg:?} {size}: {f}"));
            assert_eq!(p.state.components.get(&ta()), Some(&plaintext), "{alg:?} {size}");

            for flip in [0, size / 2, size, size + 15] {
                let mut bad = enc.clone();
                bad[at + flip] ^= 0x20;
                let mut p = platform();
                let f = process(&mut p, &bad, &trust, &opts).expect_err("flipped byte");
                assert_eq!(f.error, SuitError::Decrypt(teep_cose::Error::Decrypt), "{alg:?}");
                assert_eq!(f.error.reason(), Reason::OperationFailed);
                assert_eq!((p.commits, p.aborts), (0, 1), "{alg:?} {size} flip {flip}");
                assert!(p.state.components.is_empty(), "{alg:?} {size}: nothing visible");
            }
        }
    }
}
