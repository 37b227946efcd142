//! Published vectors: draft-ietf-teep-protocol examples, draft-ietf-suit-manifest examples,
//! draft-ietf-suit-trust-domains examples.

mod common;

use common::*;
use teep_cose::PublicKey;
use teep_suit::{ComponentId, Envelope, Options, Reason, SuitError, TrustAnchors, process};

fn example_signer() -> TrustAnchors {
    let key = PublicKey::from_spki_pem(&pem("teep-protocol/example-signer-public.pem"))
        .expect("example signer key");
    TrustAnchors::new(vec![key])
}

fn ta_component() -> ComponentId {
    ComponentId::new([
        &b"TEEP-Device"[..],
        b"SecureFS",
        &hex::decode("8D82573A926D4754935332DC29997F74").unwrap(),
        b"ta",
    ])
}

fn manifest_id() -> ComponentId {
    ComponentId::new([
        &b"TEEP-Device"[..],
        b"SecureFS",
        &hex::decode("8D82573A926D4754935332DC29997F74").unwrap(),
        b"suit",
    ])
}

#[test]
fn suit_integrated_installs() {
    let env = hex_vector("teep-protocol/suit_integrated.hex.txt");
    let mut p = MemPlatform::teep_example();
    let out = process(&mut p, &env, &example_signer(), &Options::teep_install()).expect("install");
    assert_eq!(out.sequence_number, 3);
    assert_eq!(out.manifest_id, manifest_id());
    assert_eq!(out.written, vec![ta_component()]);
    assert!(out.report.is_success());
    assert_eq!(
        p.state.components.get(&ta_component()).map(Vec::as_slice),
        Some(&b"Hello, Secure World!"[..])
    );
    assert_eq!(p.state.manifests.get(&manifest_id()).map(|m| m.0), Some(3));
    assert!(p.fetches.is_empty(), "integrated payload needs no fetch");
}

#[test]
fn suit_uri_installs_from_local_mirror() {
    let env = hex_vector("teep-protocol/suit_uri.hex.txt");
    let ta = vector("teep-protocol/8d82573a-926d-4754-9353-32dc29997f74.ta");
    let mut p = MemPlatform::teep_example();
    p.mirrors
        .insert("https://example.org/8d82573a-926d-4754-9353-32dc29997f74.ta".into(), ta.clone());
    let out = process(&mut p, &env, &example_signer(), &Options::teep_install()).expect("install");
    assert_eq!(out.written, vec![ta_component()]);
    assert_eq!(p.state.components.get(&ta_component()), Some(&ta));
    assert_eq!(p.fetches.len(), 1);
}

#[test]
fn update_example_is_not_installed() {
    // The TEEP Update example carries a manifest whose sequence sits under key 9 (invoke).
    let update = hex_vector("teep-protocol/update.hex.txt");
    let envelope = extract_manifest_list(&update).into_iter().next().expect("one manifest");
    let mut p = MemPlatform::teep_example();
    let err = process(&mut p, &envelope, &example_signer(), &Options::teep_install())
        .expect_err("must not install");
    assert_eq!(err.error, SuitError::NoInstallSection);
    assert_eq!(err.reason(), Reason::OperationFailed);
    assert!(!err.report.is_success());
    assert_eq!(p.state, Default::default());
    assert!(p.invoked.is_empty() && p.fetches.is_empty());
}

/// manifest-list (legacy label 10) of a legacy-numbered TEEP Update.
fn extract_manifest_list(update: &[u8]) -> Vec<Vec<u8>> {
    let mut d = minicbor::Decoder::new(update);
    assert_eq!(d.array().unwrap(), Some(2));
    assert_eq!(d.u8().unwrap(), 3);
    let n = d.map().unwrap().unwrap();
    let mut out = Vec::new();
    for _ in 0..n {
        let k = d.u64().unwrap();
        if k == 10 {
            let count = d.array().unwrap().unwrap();
            for _ in 0..count {
                out.push(d.bytes().unwrap().to_vec());
            }
        } else {
            d.skip().unwrap();
        }
    }
    out
}

/// Hex of "Envelope with COSE authentication object" in an example*.txt of
/// draft-ietf-suit-manifest.
fn manifest_example(n: usize) -> Vec<u8> {
    let text = String::from_utf8(vector(&format!("suit-manifest/example{n}.txt"))).unwrap();
    let start = text.find("Envelope with COSE authentication object:").expect("section");
    let block = &text[start..];
    let open = block.find("~~~").unwrap() + 3;
    let close = open + block[open..].find("~~~").unwrap();
    let digits: String = block[open..close].chars().filter(|c| c.is_ascii_hexdigit()).collect();
    hex::decode(digits).unwrap()
}

#[test]
fn suit_manifest_examples_decode_and_authenticate() {
    let trust = example_signer();
    for n in 0..6 {
        let bytes = manifest_example(n);
        let env = Envelope::decode(&bytes).unwrap_or_else(|e| panic!("example{n}: {e}"));
        let m = env.authenticate(&trust).unwrap_or_else(|e| panic!("example{n}: {e}"));
        assert!(!m.components().is_empty(), "example{n}");
    }
}

#[test]
fn trust_domain_examples_decode() {
    let trust = example_signer();
    for name in ["example0_dependent", "example1_process", "example2_integrated"] {
        let bytes = hex_vector(&format!("suit-trust-domains/{name}.hex"));
        let env = Envelope::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let m = env.authenticate(&trust).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!m.components().is_empty(), "{name}");
    }
}

/// Runs `env` expecting failure and an untouched platform.
fn rejected(env: &[u8], trust: &TrustAnchors) -> teep_suit::Failure {
    let mut p = MemPlatform::teep_example();
    let err = process(&mut p, env, trust, &Options::teep_install()).expect_err("must be rejected");
    assert_eq!(p.state, Default::default());
    assert!(p.staged_is_empty());
    assert_eq!(p.commits, 0);
    assert!(!err.report.is_success());
    err
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).position(|w| w == needle).expect("needle")
}

#[test]
fn flipped_signature_is_rejected() {
    let mut env = hex_vector("teep-protocol/suit_integrated.hex.txt");
    let at = find(&env, &hex::decode("6A9F4D3DE3B8BC49").unwrap());
    env[at + 10] ^= 1;
    let err = rejected(&env, &example_signer());
    assert_eq!(err.error, SuitError::Untrusted);
    assert_eq!(err.reason(), Reason::Unauthorised);
}

#[test]
fn flipped_manifest_byte_is_rejected() {
    let mut env = hex_vector("teep-protocol/suit_integrated.hex.txt");
    // manifest-sequence-number 3 -> 4 (A6 01 01 02 03 ...)
    let at = find(&env, &[0xA6, 0x01, 0x01, 0x02, 0x03]);
    env[at + 4] = 0x04;
    let err = rejected(&env, &example_signer());
    assert_eq!(err.error, SuitError::ManifestDigestMismatch);
    assert_eq!(err.reason(), Reason::Unauthorised);
}

#[test]
fn wrong_manifest_digest_is_rejected() {
    let mut env = hex_vector("teep-protocol/suit_integrated.hex.txt");
    let at = find(&env, &hex::decode("CEDB0457952F7DD0").unwrap());
    env[at] ^= 0x80;
    // The signature covers the digest, so a changed digest no longer verifies.
    assert_eq!(rejected(&env, &example_signer()).error, SuitError::Untrusted);
}

#[test]
fn wrong_payload_digest_is_rejected() {
    let mut env = hex_vector("teep-protocol/suit_integrated.hex.txt");
    let at = find(&env, b"Hello, Secure World!");
    env[at] = b'J';
    let err = rejected(&env, &example_signer());
    assert_eq!(err.error, SuitError::ConditionFailed(3));
    assert_eq!(err.reason(), Reason::ConditionFailed);
}

#[test]
fn fetched_payload_with_wrong_digest_is_rejected() {
    let env = hex_vector("teep-protocol/suit_uri.hex.txt");
    let mut p = MemPlatform::teep_example();
    p.mirrors.insert(
        "https://example.org/8d82573a-926d-4754-9353-32dc29997f74.ta".into(),
        b"Hello, Secure World?".to_vec(),
    );
    let err =
        process(&mut p, &env, &example_signer(), &Options::teep_install()).expect_err("digest");
    assert_eq!(err.error, SuitError::ConditionFailed(3));
    assert_eq!(p.state, Default::default());
}

#[test]
fn untrusted_key_is_rejected() {
    let other = teep_cose::SigningKey::from_ed25519_seed(&[9; 32]).public_key();
    let env = hex_vector("teep-protocol/suit_integrated.hex.txt");
    assert_eq!(rejected(&env, &TrustAnchors::new(vec![other])).error, SuitError::Untrusted);
    assert_eq!(rejected(&env, &TrustAnchors::new(vec![])).error, SuitError::Untrusted);
}

#[test]
fn disallowed_algorithm_is_rejected() {
    let mut trust = example_signer();
    trust.algorithms = vec![teep_cose::Algorithm::ED25519];
    let err = rejected(&hex_vector("teep-protocol/suit_integrated.hex.txt"), &trust);
    assert_eq!(err.reason(), Reason::AlgUnsupported);
}

#[test]
fn lower_sequence_number_is_rejected() {
    let env = hex_vector("teep-protocol/suit_integrated.hex.txt");
    let mut p = MemPlatform::teep_example();
    process(&mut p, &env, &example_signer(), &Options::teep_install()).expect("first install");
    let before = p.state.clone();
    let err =
        process(&mut p, &env, &example_signer(), &Options::teep_install()).expect_err("replay");
    assert_eq!(err.error, SuitError::Rollback { installed: 3, offered: 3 });
    assert_eq!(p.state, before);
}

#[test]
fn missing_authentication_wrapper_is_rejected() {
    let env = hex_vector("teep-protocol/suit_integrated.hex.txt");
    // Rebuild the envelope without key 2.
    let mut d = minicbor::Decoder::new(&env);
    let n = d.map().unwrap().unwrap();
    let mut e = minicbor::Encoder::new(Vec::new());
    e.map(n - 1).unwrap();
    for _ in 0..n {
        let start = d.position();
        d.skip().unwrap();
        let key = env[start..d.position()].to_vec();
        let vstart = d.position();
        d.skip().unwrap();
        if key != [0x02] {
            e.writer_mut().extend_from_slice(&key);
            e.writer_mut().extend_from_slice(&env[vstart..d.position()]);
        }
    }
    let err = rejected(&e.into_writer(), &example_signer());
    assert_eq!(err.error, SuitError::MissingAuthentication);
    assert_eq!(err.reason(), Reason::Unauthorised);
}

#[test]
fn truncated_and_trailing_bytes_are_rejected() {
    let env = hex_vector("teep-protocol/suit_integrated.hex.txt");
    assert!(matches!(rejected(&env[..env.len() - 1], &example_signer()).error, SuitError::Cbor(_)));
    let mut longer = env.clone();
    longer.push(0);
    assert!(matches!(rejected(&longer, &example_signer()).error, SuitError::Cbor(_)));
}

#[test]
fn report_is_cbor_with_reference() {
    let env = hex_vector("teep-protocol/suit_integrated.hex.txt");
    let mut p = MemPlatform::teep_example();
    let opts = Options { nonce: Some(vec![1; 8]), ..Options::teep_install() };
    let out = process(&mut p, &env, &example_signer(), &opts).expect("install");
    let bytes = out.report.encode();
    let back = teep_suit::SuitReport::decode(&bytes).expect("decode report");
    assert_eq!(back, out.report);
    assert_eq!(
        back.reference.manifest_digest.bytes,
        hex::decode("CEDB0457952F7DD0A33FA4692F73BC833A6A6E2300B16F6605993F0192E3F219").unwrap()
    );
    assert_eq!(back.nonce, Some(vec![1; 8]));
}

/// Byte range of the value under integer key `key` in a (tagged) envelope map.
fn member_range(env: &[u8], key: u64) -> std::ops::Range<usize> {
    let mut d = minicbor::Decoder::new(env);
    if d.datatype().unwrap() == minicbor::data::Type::Tag {
        d.tag().unwrap();
    }
    let n = d.map().unwrap().unwrap();
    for _ in 0..n {
        let k = if d.datatype().unwrap() == minicbor::data::Type::String {
            d.str().unwrap();
            None
        } else {
            Some(d.u64().unwrap())
        };
        let start = d.position();
        d.skip().unwrap();
        if k == Some(key) {
            return start..d.position();
        }
    }
    panic!("no member {key}")
}

#[test]
fn severed_members_are_checked_against_their_digests() {
    let bytes = manifest_example(2);
    let trust = example_signer();
    let m = Envelope::decode(&bytes).unwrap().authenticate(&trust).expect("authentic");
    assert!(m.section(20).is_some(), "severed install recovered from the envelope");

    // A changed severed install no longer matches the digest kept in the signed manifest.
    let range = member_range(&bytes, 20);
    let mut tampered = bytes.clone();
    tampered[range.end - 1] ^= 1;
    let err = Envelope::decode(&tampered).unwrap().authenticate(&trust).expect_err("tampered");
    assert_eq!(err, SuitError::SeveredMemberDigest(20));
    assert_eq!(err.reason(), Reason::Unauthorised);
}

#[test]
fn missing_severed_install_is_reported() {
    let bytes = manifest_example(2);
    // Drop the severed install (key 20) from the envelope map.
    let range = member_range(&bytes, 20);
    let mut stripped = bytes[..range.start - 1].to_vec(); // key 20 is one byte (0x14)
    stripped.extend_from_slice(&bytes[range.end..]);
    let map_at = if bytes[0] == 0xD8 { 2 } else { 0 };
    stripped[map_at] -= 1; // one pair fewer (small map header)
    let mut p = MemPlatform::default();
    p.vendor_ids.push(hex::decode("fa6b4a53d5ad5fdfbe9de663e4d41ffe").unwrap());
    p.class_ids.push(hex::decode("1492af1425695e48bf429b2d51f2ab45").unwrap());
    let err = process(&mut p, &stripped, &example_signer(), &Options::teep_install())
        .expect_err("install missing");
    assert_eq!(err.error, SuitError::SeveredMemberMissing(20));
    assert_eq!(p.state, Default::default());
}
