//! RFC-numbered signed messages (vectors/teep-rfc): each opens with the right key via
//! `open`, decodes as decoded.txt describes, and re-encodes to the exact signed payload.

use teep_cose::{Algorithm, PublicKey, Sign1, SigningKey};
use teep_proto::{
    CipherSuite, CoseStructure, DataItemRequested, ErrCode, Error, Message, Numbering,
    SuitCoseProfile, open, seal_sign, seal_sign1,
};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/teep-rfc/");

fn file(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}{name}")).expect("vector file")
}

fn public(name: &str) -> PublicKey {
    let json = std::fs::read_to_string(format!("{DIR}{name}")).expect("jwk");
    PublicKey::from_jwk(&json).expect("public jwk")
}

fn tam() -> PublicKey {
    public("tam-esp256-pub.jwk")
}

fn agent() -> PublicKey {
    public("agent-esp256-pub.jwk")
}

const ESP256: &[Algorithm] = &[Algorithm::ESP256];

/// Opens `name`, checks the key that verified and that the payload re-encodes byte for byte.
fn open_vector(name: &str, signer: PublicKey, other: PublicKey) -> Message {
    let bytes = file(name);
    let trusted = [other, signer.clone()];
    let opened = open(&bytes, Numbering::Rfc, &trusted, ESP256).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(opened.key_index, 1, "{name}");
    assert_eq!(opened.suite, CipherSuite::SIGN1_ESP256);
    assert_eq!(opened.structure, CoseStructure::Sign1);
    let cose = Sign1::decode(&bytes).expect("sign1");
    assert_eq!(cose.kid(), Some(signer.thumbprint().as_slice()), "{name}: kid is the thumbprint");
    assert_eq!(
        opened.message.encode(Numbering::Rfc).as_slice(),
        cose.payload.expect("payload"),
        "{name}: re-encoding"
    );
    opened.message
}

#[test]
fn query_request() {
    let Message::QueryRequest(m) = open_vector("query_request.tam.esp256.cose", tam(), agent())
    else {
        panic!("type")
    };
    assert!(m.token.is_none());
    assert_eq!(m.challenge.as_ref().map(Vec::len), Some(32));
    assert_eq!(m.supported_teep_cipher_suites, [CipherSuite::SIGN1_ESP256]);
    assert_eq!(m.supported_suit_cose_profiles, [SuitCoseProfile::SHA256_ESP256_ECDH_A128GCM]);
    assert_eq!(m.data_item_requested, DataItemRequested::ATTESTATION);
}

#[test]
fn update() {
    let Message::Update(m) = open_vector("update0.tam.esp256.cose", tam(), agent()) else {
        panic!("type")
    };
    assert_eq!(
        m.token.as_ref().map(|t| t.as_bytes().to_vec()),
        Some(hex::decode("0011223344556677").unwrap())
    );
    let list = m.manifest_list.expect("manifest-list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].len(), 65420);
}

#[test]
fn success() {
    let Message::Success(m) = open_vector("teep_success.agent.esp256.cose", agent(), tam()) else {
        panic!("type")
    };
    let reports = m.suit_reports.expect("suit-reports");
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].len(), 100);
}

#[test]
fn error() {
    let Message::Error(m) = open_vector("teep_error.agent.esp256.cose", agent(), tam()) else {
        panic!("type")
    };
    assert_eq!(m.err_code, ErrCode::MANIFEST_PROCESSING_FAILED);
    assert_eq!(m.suit_reports.map(|r| r[0].len()), Some(111));
}

#[test]
fn wrong_key_or_algorithm_is_rejected() {
    let bytes = file("query_request.tam.esp256.cose");
    assert_eq!(open(&bytes, Numbering::Rfc, &[agent()], ESP256), Err(Error::UntrustedSigner));
    assert_eq!(
        open(&bytes, Numbering::Rfc, &[tam()], &[Algorithm::ED25519]),
        Err(Error::AlgorithmNotAllowed(-9))
    );
    // The RFC-numbered payload is not a valid legacy message... or decodes differently.
    let legacy = open(&bytes, Numbering::Legacy, &[tam()], ESP256);
    assert!(legacy.is_ok() || matches!(legacy, Err(Error::Message(_))));
    // One flipped signature bit.
    let mut bad = bytes.clone();
    if let Some(last) = bad.last_mut() {
        *last ^= 1;
    }
    assert_eq!(open(&bad, Numbering::Rfc, &[tam()], ESP256), Err(Error::UntrustedSigner));
    // One flipped payload bit (inside the challenge).
    let mut bad = bytes;
    let at = bad.len() - 100;
    bad[at] ^= 1;
    assert_eq!(open(&bad, Numbering::Rfc, &[tam()], ESP256), Err(Error::UntrustedSigner));
}

#[test]
fn reseal_with_the_vector_key() {
    let json = std::fs::read_to_string(format!("{DIR}tam-esp256-priv.jwk")).unwrap();
    let key = SigningKey::from_jwk(&json).expect("private jwk");
    let bytes = file("query_request.tam.esp256.cose");
    let opened = open(&bytes, Numbering::Rfc, &[tam()], ESP256).unwrap();
    let sealed = seal_sign1(&opened.message, Numbering::Rfc, &key, Algorithm::ESP256).unwrap();
    // The vector's signature is randomized ECDSA, so only the signature bytes differ: the
    // headers, the kid (thumbprint) and the payload encoding are reproduced exactly.
    let again = open(&sealed, Numbering::Rfc, &[tam()], ESP256).unwrap();
    assert_eq!(again.message, opened.message);
    assert_eq!(sealed.len(), bytes.len());
    assert_eq!(hex::encode(&sealed[..sealed.len() - 64]), hex::encode(&bytes[..bytes.len() - 64]));
}

#[test]
fn cose_sign_with_one_signature_per_suite() {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let p256 = SigningKey::generate_p256(&mut rng);
    let ed = SigningKey::generate_ed25519(&mut rng);
    let bytes = file("query_request.tam.esp256.cose");
    let msg = open(&bytes, Numbering::Rfc, &[tam()], ESP256).unwrap().message;
    let sealed =
        seal_sign(&msg, Numbering::Rfc, &[(&p256, Algorithm::ESP256), (&ed, Algorithm::ED25519)])
            .unwrap();
    // An Agent that only does Ed25519 verifies the second signature.
    let opened = open(&sealed, Numbering::Rfc, &[ed.public_key()], &[Algorithm::ED25519]).unwrap();
    assert_eq!(opened.message, msg);
    assert_eq!(opened.suite, CipherSuite::SIGN1_ED25519);
    assert_eq!(opened.structure, CoseStructure::Sign { signature: 1 });
    // An Agent that only does ESP256 verifies the first.
    let opened = open(&sealed, Numbering::Rfc, &[p256.public_key()], ESP256).unwrap();
    assert_eq!(opened.structure, CoseStructure::Sign { signature: 0 });
    // Nobody trusted.
    assert!(open(&sealed, Numbering::Rfc, &[tam()], ESP256).is_err());
}

#[test]
fn legacy_algorithm_ids_need_to_be_allowed() {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let key = SigningKey::generate_p256(&mut rng);
    let msg = Message::decode(&file_payload(), Numbering::Rfc).unwrap();
    let sealed = seal_sign1(&msg, Numbering::Rfc, &key, Algorithm::ES256).unwrap();
    let trusted = [key.public_key()];
    assert_eq!(
        open(&sealed, Numbering::Rfc, &trusted, ESP256),
        Err(Error::AlgorithmNotAllowed(-7))
    );
    let opened =
        open(&sealed, Numbering::Rfc, &trusted, &[Algorithm::ESP256, Algorithm::ES256]).unwrap();
    assert_eq!(opened.suite, CipherSuite::SIGN1_ES256_LEGACY);
}

fn file_payload() -> Vec<u8> {
    let bytes = file("query_request.tam.esp256.cose");
    Sign1::decode(&bytes).unwrap().payload.unwrap().to_vec()
}
