//! The working group's examples (draft-ietf-teep-protocol Appendix D, legacy numbering), from
//! /work/shared/vectors/teep-protocol: each decodes and re-encodes byte for byte.

use teep_proto::{
    CipherSuite, DataItemRequested, ErrCode, Message, Numbering, SUIT_PARAMETER_IMAGE_DIGEST,
    SuitCoseProfile, describe,
};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/teep-protocol/");

/// Reads a `.hex.txt` file: hex digits with `#` comments and free spacing.
fn hex_vector(name: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(format!("{DIR}{name}.hex.txt")).expect("vector file");
    let digits: String = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    hex::decode(digits).expect("hex")
}

fn round_trip(name: &str) -> Message {
    let bytes = hex_vector(name);
    let msg = Message::decode(&bytes, Numbering::Legacy).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(hex::encode(msg.encode(Numbering::Legacy)), hex::encode(&bytes), "{name}");
    // The same message in RFC numbering decodes back to the same value.
    let rfc = msg.encode(Numbering::Rfc);
    assert_eq!(Message::decode(&rfc, Numbering::Rfc).as_ref(), Ok(&msg), "{name} via RFC");
    msg
}

#[test]
fn query_request() {
    let Message::QueryRequest(m) = round_trip("query_request") else { panic!("type") };
    assert_eq!(m.token.as_ref().map(|t| t.as_bytes().len()), Some(16));
    assert_eq!(m.versions, Some(vec![0]));
    assert_eq!(
        m.supported_teep_cipher_suites,
        [CipherSuite::SIGN1_ESP256, CipherSuite::SIGN1_ED25519]
    );
    assert_eq!(
        m.supported_suit_cose_profiles,
        [
            SuitCoseProfile::SHA256_ESP256_ECDH_A128CTR,
            SuitCoseProfile::SHA256_ED25519_ECDH_A128CTR,
            SuitCoseProfile::SHA256_ESP256_ECDH_A128GCM,
            SuitCoseProfile::SHA256_ED25519_ECDH_CHACHA_POLY,
        ]
    );
    assert_eq!(
        m.data_item_requested,
        DataItemRequested::ATTESTATION | DataItemRequested::TRUSTED_COMPONENTS
    );
    let summary = describe(&Message::QueryRequest(m));
    assert!(summary.starts_with("QueryRequest token=a0a1a2a3…"), "{summary}");
    assert!(!summary.contains("a4a5"), "{summary}");
}

#[test]
fn query_response() {
    let Message::QueryResponse(m) = round_trip("query_response") else { panic!("type") };
    assert_eq!(m.selected_version, Some(0));
    assert_eq!(m.attestation_payload, Some(vec![]));
    let tc = m.tc_list.as_deref().expect("tc-list");
    assert_eq!(tc.len(), 1);
    assert_eq!(
        tc[0].component_id.segments(),
        [hex::decode("0102030405060708090A0B0C0D0E0F").unwrap()]
    );
    let digest = tc[0].parameter(SUIT_PARAMETER_IMAGE_DIGEST).expect("image digest");
    assert_eq!(digest.len(), 38); // 0x58 0x24 + 36-byte bstr-wrapped SUIT_Digest
}

#[test]
fn update() {
    let Message::Update(m) = round_trip("update") else { panic!("type") };
    let manifests = m.manifest_list.as_deref().expect("manifest-list");
    assert_eq!(manifests.len(), 1);
    assert_eq!(manifests[0].len(), 334); // 0x59 0x014e
    assert_eq!(manifests[0][0], 0xa2); // SUIT_Envelope map
}

#[test]
fn success() {
    let Message::Success(m) = round_trip("teep_success") else { panic!("type") };
    assert!(m.msg.is_none() && m.suit_reports.is_none());
}

#[test]
fn error() {
    let Message::Error(m) = round_trip("teep_error") else { panic!("type") };
    assert_eq!(m.err_code, ErrCode::MANIFEST_PROCESSING_FAILED);
    assert_eq!(m.err_msg.as_deref(), Some("disk-full"));
    // In RFC numbering the code is 11 and the type 5.
    let rfc = Message::Error(m).encode(Numbering::Rfc);
    assert_eq!(rfc.first(), Some(&0x83));
    assert_eq!(rfc.get(1), Some(&0x05));
    assert_eq!(rfc.last(), Some(&0x0b));
}

#[test]
fn legacy_bytes_are_not_rfc_bytes() {
    // Legacy Success (type 5) read as RFC is an Error without its err-code.
    let bytes = hex_vector("teep_success");
    assert!(Message::decode(&bytes, Numbering::Rfc).is_err());
    // Legacy Error (type 6) is an unassigned type in RFC numbering.
    let bytes = hex_vector("teep_error");
    assert_eq!(
        Message::decode(&bytes, Numbering::Rfc),
        Err(teep_proto::DecodeError::UnknownMessageType(6))
    );
}
