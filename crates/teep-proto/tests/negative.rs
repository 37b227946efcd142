//! One rejection test per rule of draft-ietf-teep-protocol-26 §5, plus strict-CBOR and limit
//! cases. Messages are written by hand with a small CBOR encoder so that each breaks exactly
//! one rule.

use minicbor::Encoder;
use teep_proto::{
    CipherSuite, DecodeError, ErrCode, Extension, Message, Numbering, QueryRequest, TeepError,
    Token,
};

const RFC: Numbering = Numbering::Rfc;

type Enc = Encoder<Vec<u8>>;

fn enc() -> Enc {
    Encoder::new(Vec::new())
}

/// The positional tail of a QueryRequest: [[[18,-9]]], [[-16,-9,-29,1]], `dir`.
fn qr_tail(e: &mut Enc, dir: u64) {
    e.array(1).unwrap().array(1).unwrap().array(2).unwrap().u8(18).unwrap().i8(-9).unwrap();
    e.array(1).unwrap().array(4).unwrap();
    e.i8(-16).unwrap().i8(-9).unwrap().i8(-29).unwrap().u8(1).unwrap();
    e.u64(dir).unwrap();
}

/// A QueryRequest (RFC numbering) whose options map is written by `opts` with `n` entries.
fn query_request(n: u64, dir: u64, opts: impl FnOnce(&mut Enc)) -> Vec<u8> {
    let mut e = enc();
    e.array(5).unwrap().u8(1).unwrap().map(n).unwrap();
    opts(&mut e);
    qr_tail(&mut e, dir);
    e.into_writer()
}

/// An Error (RFC numbering) with the given options and err-code.
fn error_msg(n: u64, code: u64, opts: impl FnOnce(&mut Enc)) -> Vec<u8> {
    let mut e = enc();
    e.array(3).unwrap().u8(5).unwrap().map(n).unwrap();
    opts(&mut e);
    e.u64(code).unwrap();
    e.into_writer()
}

const TOKEN: u8 = 19;
const CHALLENGE: u8 = 2;
const ERR_MSG: u8 = 11;
const ERR_LANG: u8 = 21;

fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
    Message::decode(bytes, RFC)
}

fn token_qr(len: usize) -> Vec<u8> {
    query_request(1, 2, |e| {
        e.u8(TOKEN).unwrap().bytes(&vec![7; len]).unwrap();
    })
}

#[test]
fn valid_baseline() {
    assert!(matches!(decode(&token_qr(8)), Ok(Message::QueryRequest(_))));
    assert!(decode(&token_qr(64)).is_ok());
}

#[test]
fn token_of_7_bytes() {
    assert_eq!(
        decode(&token_qr(7)),
        Err(DecodeError::Length { field: "token", len: 7, min: 8, max: 64 })
    );
}

#[test]
fn token_of_65_bytes() {
    assert_eq!(
        decode(&token_qr(65)),
        Err(DecodeError::Length { field: "token", len: 65, min: 8, max: 64 })
    );
}

#[test]
fn token_of_wrong_type() {
    let bytes = query_request(1, 2, |e| {
        e.u8(TOKEN).unwrap().str("abcdefgh").unwrap();
    });
    assert_eq!(
        decode(&bytes),
        Err(DecodeError::WrongType { field: "token", expected: "byte string" })
    );
}

#[test]
fn challenge_with_attestation_bit_clear() {
    let bytes = query_request(2, 2, |e| {
        e.u8(CHALLENGE).unwrap().bytes(&[1; 16]).unwrap();
        e.u8(TOKEN).unwrap().bytes(&[7; 8]).unwrap();
    });
    assert!(
        matches!(decode(&bytes), Err(DecodeError::Rule(r)) if r.contains("challenge MUST be absent"))
    );
}

#[test]
fn token_missing_with_attestation_bit_clear() {
    let bytes = query_request(0, 2, |_| {});
    assert!(
        matches!(decode(&bytes), Err(DecodeError::Rule(r)) if r.contains("token MUST be present"))
    );
}

#[test]
fn token_and_challenge_together() {
    let bytes = query_request(2, 1, |e| {
        e.u8(CHALLENGE).unwrap().bytes(&[1; 16]).unwrap();
        e.u8(TOKEN).unwrap().bytes(&[7; 8]).unwrap();
    });
    assert!(matches!(decode(&bytes), Err(DecodeError::Rule(_))));
}

#[test]
fn freshness_with_attestation_bit_clear() {
    let bytes = query_request(2, 2, |e| {
        e.u8(TOKEN).unwrap().bytes(&[7; 8]).unwrap();
        e.u8(20).unwrap().array(1).unwrap().u8(0).unwrap();
    });
    assert!(matches!(decode(&bytes), Err(DecodeError::Rule(r)) if r.contains("freshness")));
}

#[test]
fn challenge_sizes() {
    for (len, ok) in [(7, false), (8, true), (512, true), (513, false)] {
        let bytes = query_request(1, 1, |e| {
            e.u8(CHALLENGE).unwrap().bytes(&vec![1; len]).unwrap();
        });
        assert_eq!(decode(&bytes).is_ok(), ok, "challenge of {len} bytes");
    }
}

#[test]
fn unassigned_data_item_bits_are_kept() {
    let bytes = query_request(1, 1 << 40 | 1, |e| {
        e.u8(CHALLENGE).unwrap().bytes(&[1; 8]).unwrap();
    });
    let Ok(Message::QueryRequest(m)) = decode(&bytes) else { panic!() };
    assert_eq!(m.data_item_requested.0, 1 << 40 | 1);
    assert_eq!(Message::QueryRequest(m).encode(RFC), bytes);
    // data-item-requested must be a uint.
    let mut bad = query_request(1, 1, |e| {
        e.u8(CHALLENGE).unwrap().bytes(&[1; 8]).unwrap();
    });
    *bad.last_mut().unwrap() = 0x20; // -1
    assert!(matches!(
        decode(&bad),
        Err(DecodeError::WrongType { field: "data-item-requested", .. })
    ));
}

#[test]
fn version_beyond_uint32() {
    let bytes = query_request(2, 2, |e| {
        e.u8(3).unwrap().array(1).unwrap().u64(1 << 32).unwrap();
        e.u8(TOKEN).unwrap().bytes(&[7; 8]).unwrap();
    });
    assert!(matches!(decode(&bytes), Err(DecodeError::OutOfRange { field: "versions", .. })));
}

#[test]
fn empty_cipher_suite_list() {
    let mut e = enc();
    e.array(5).unwrap().u8(1).unwrap().map(1).unwrap();
    e.u8(TOKEN).unwrap().bytes(&[7; 8]).unwrap();
    e.array(0).unwrap();
    e.array(1).unwrap().array(1).unwrap().i8(-16).unwrap();
    e.u8(2).unwrap();
    assert!(matches!(
        decode(&e.into_writer()),
        Err(DecodeError::Length { field: "supported-teep-cipher-suites", len: 0, .. })
    ));
}

#[test]
fn missing_positional_field() {
    let mut e = enc();
    e.array(4).unwrap().u8(1).unwrap().map(1).unwrap();
    e.u8(TOKEN).unwrap().bytes(&[7; 8]).unwrap();
    e.array(1).unwrap().array(1).unwrap().array(2).unwrap().u8(18).unwrap().i8(-9).unwrap();
    e.array(1).unwrap().array(1).unwrap().i8(-16).unwrap();
    assert_eq!(
        decode(&e.into_writer()),
        Err(DecodeError::ArityMismatch { message: "QueryRequest", got: 4, expected: 5 })
    );
    // Error without its err-code.
    let mut e = enc();
    e.array(2).unwrap().u8(5).unwrap().map(0).unwrap();
    assert!(matches!(
        decode(&e.into_writer()),
        Err(DecodeError::ArityMismatch { message: "Error", .. })
    ));
}

#[test]
fn err_msg_of_129_bytes() {
    let bytes = error_msg(1, 1, |e| {
        e.u8(ERR_MSG).unwrap().str(&"x".repeat(129)).unwrap();
    });
    assert_eq!(
        decode(&bytes),
        Err(DecodeError::Length { field: "err-msg", len: 129, min: 1, max: 128 })
    );
    let ok = error_msg(1, 1, |e| {
        e.u8(ERR_MSG).unwrap().str(&"x".repeat(128)).unwrap();
    });
    assert!(decode(&ok).is_ok());
}

#[test]
fn empty_err_msg() {
    let bytes = error_msg(1, 1, |e| {
        e.u8(ERR_MSG).unwrap().str("").unwrap();
    });
    assert!(matches!(decode(&bytes), Err(DecodeError::Length { field: "err-msg", len: 0, .. })));
}

#[test]
fn err_lang_of_36_bytes() {
    let bytes = error_msg(1, 1, |e| {
        e.u8(ERR_LANG).unwrap().str(&"a".repeat(36)).unwrap();
    });
    assert!(matches!(decode(&bytes), Err(DecodeError::Length { field: "err-lang", len: 36, .. })));
}

#[test]
fn invalid_utf8_in_err_msg() {
    // 0x63 = text(3) followed by an invalid UTF-8 sequence.
    let bytes = [0x83, 0x05, 0xa1, 0x0b, 0x63, 0xff, 0xfe, 0x41, 0x01];
    assert!(matches!(decode(&bytes), Err(DecodeError::Cbor(teep_cbor::Error::InvalidUtf8 { .. }))));
}

#[test]
fn duplicate_option_keys() {
    let bytes = error_msg(2, 1, |e| {
        e.u8(ERR_MSG).unwrap().str("a").unwrap();
        e.u8(ERR_MSG).unwrap().str("b").unwrap();
    });
    assert!(matches!(
        decode(&bytes),
        Err(DecodeError::Cbor(teep_cbor::Error::DuplicateKey { .. }))
    ));
}

#[test]
fn trailing_byte() {
    let mut bytes = token_qr(8);
    bytes.push(0x00);
    assert!(matches!(
        decode(&bytes),
        Err(DecodeError::Cbor(teep_cbor::Error::TrailingBytes { .. }))
    ));
}

#[test]
fn not_preferred_serialization() {
    // err-code 1 written as 0x18 0x01.
    let bytes = [0x83, 0x05, 0xa0, 0x18, 0x01];
    assert!(matches!(
        decode(&bytes),
        Err(DecodeError::Cbor(teep_cbor::Error::NotPreferred { .. }))
    ));
}

#[test]
fn indefinite_length() {
    let bytes = [0x83, 0x05, 0xbf, 0xff, 0x01];
    assert!(matches!(decode(&bytes), Err(DecodeError::Cbor(teep_cbor::Error::Indefinite { .. }))));
}

#[test]
fn reserved_and_unknown_message_types() {
    // Type 4 is Success in RFC numbering but reserved in the legacy numbering.
    let success_rfc = [0x82, 0x04, 0xa0];
    assert!(matches!(decode(&success_rfc), Ok(Message::Success(_))));
    assert_eq!(
        Message::decode(&success_rfc, Numbering::Legacy),
        Err(DecodeError::ReservedMessageType(4))
    );
    assert_eq!(decode(&[0x82, 0x06, 0xa0]), Err(DecodeError::UnknownMessageType(6)));
    assert_eq!(
        Message::decode(&[0x82, 0x07, 0xa0], Numbering::Legacy),
        Err(DecodeError::UnknownMessageType(7))
    );
    assert_eq!(decode(&[0x82, 0x00, 0xa0]), Err(DecodeError::ReservedMessageType(0)));
    assert_eq!(decode(&[0x82, 0x18, 0x18, 0xa0]), Err(DecodeError::UnknownMessageType(24)));
    assert!(matches!(
        decode(&[0x82, 0x20, 0xa0]),
        Err(DecodeError::WrongType { field: "type", .. })
    ));
    assert!(matches!(decode(&[0xa0]), Err(DecodeError::WrongType { .. })));
    assert!(matches!(decode(&[0x81, 0x01]), Err(DecodeError::Missing { field: "options" })));
}

#[test]
fn reserved_err_codes() {
    assert_eq!(decode(&error_msg(0, 0, |_| {})), Err(DecodeError::ReservedErrCode(0)));
    assert_eq!(decode(&error_msg(0, 12, |_| {})), Err(DecodeError::ReservedErrCode(12)));
    // 17 is ERR_MANIFEST_PROCESSING_FAILED only in the legacy numbering.
    assert_eq!(decode(&error_msg(0, 17, |_| {})), Err(DecodeError::ReservedErrCode(17)));
    assert!(Message::decode(&error_msg(0, 17, |_| {}), Numbering::Legacy).is_err()); // type 5
    let Ok(Message::Error(e)) = decode(&error_msg(0, 11, |_| {})) else { panic!() };
    assert_eq!(e.err_code, ErrCode::MANIFEST_PROCESSING_FAILED);
    // Codes above 23 are unknown errors, kept.
    let Ok(Message::Error(e)) = decode(&error_msg(0, 300, |_| {})) else { panic!() };
    assert_eq!(e.err_code.rfc_value(), 300);
    // err-code option in Update.
    let mut e = enc();
    e.array(2).unwrap().u8(3).unwrap().map(1).unwrap().u8(22).unwrap().u8(0).unwrap();
    assert_eq!(decode(&e.into_writer()), Err(DecodeError::ReservedErrCode(0)));
}

#[test]
fn error_code_requires_its_companion_option() {
    for code in [3, 4, 5, 8] {
        assert!(
            matches!(decode(&error_msg(0, code, |_| {})), Err(DecodeError::Rule(_))),
            "err-code {code}"
        );
    }
    let helper = TeepError::unsupported_cipher_suites(
        Some(Token::from_slice(&[1; 8]).unwrap()),
        &[CipherSuite::SIGN1_ESP256, CipherSuite::SIGN1_ED25519],
    );
    let bytes = Message::Error(helper.clone()).encode(RFC);
    assert_eq!(decode(&bytes), Ok(Message::Error(helper)));
}

fn query_response(opts: impl FnOnce(&mut Enc), n: u64) -> Vec<u8> {
    let mut e = enc();
    e.array(2).unwrap().u8(2).unwrap().map(n).unwrap();
    opts(&mut e);
    e.into_writer()
}

#[test]
fn have_binary_requires_sequence_number() {
    let bytes = query_response(
        |e| {
            e.u8(13).unwrap().array(1).unwrap().map(2).unwrap();
            e.u8(15).unwrap().array(1).unwrap().bytes(b"ta").unwrap();
            e.u8(17).unwrap().bool(true).unwrap();
        },
        1,
    );
    assert!(matches!(decode(&bytes), Err(DecodeError::Rule(r)) if r.contains("have-binary")));
    let ok = query_response(
        |e| {
            e.u8(13).unwrap().array(1).unwrap().map(3).unwrap();
            e.u8(15).unwrap().array(1).unwrap().bytes(b"ta").unwrap();
            e.u8(16).unwrap().u8(3).unwrap();
            e.u8(17).unwrap().bool(true).unwrap();
        },
        1,
    );
    assert!(decode(&ok).is_ok());
}

#[test]
fn component_id_must_be_array_of_bstr() {
    let bytes = query_response(
        |e| {
            e.u8(14).unwrap().array(1).unwrap().array(1).unwrap().str("ta").unwrap();
        },
        1,
    );
    assert_eq!(
        decode(&bytes),
        Err(DecodeError::WrongType { field: "unneeded-manifest-list", expected: "byte string" })
    );
    let bytes = query_response(
        |e| {
            e.u8(14).unwrap().array(1).unwrap().bytes(b"ta").unwrap();
        },
        1,
    );
    assert!(matches!(decode(&bytes), Err(DecodeError::WrongType { expected: "array", .. })));
}

#[test]
fn ext_info_beyond_uint32() {
    let bytes = query_response(
        |e| {
            e.u8(8).unwrap().array(1).unwrap().u64(u64::MAX).unwrap();
        },
        1,
    );
    assert!(matches!(decode(&bytes), Err(DecodeError::OutOfRange { field: "ext-list", .. })));
}

#[test]
fn suit_report_must_hold_cbor() {
    let mut e = enc();
    e.array(2).unwrap().u8(4).unwrap().map(1).unwrap();
    e.u8(18).unwrap().array(1).unwrap().bytes(&[0x82, 0x01]).unwrap();
    assert!(matches!(
        decode(&e.into_writer()),
        Err(DecodeError::Cbor(teep_cbor::Error::Truncated { .. }))
    ));
}

#[test]
fn option_label_must_be_uint() {
    let mut e = enc();
    e.array(2).unwrap().u8(4).unwrap().map(1).unwrap().i8(-1).unwrap().u8(0).unwrap();
    assert!(matches!(
        decode(&e.into_writer()),
        Err(DecodeError::WrongType { field: "options label", .. })
    ));
}

#[test]
fn unknown_options_are_kept() {
    let bytes = query_request(2, 2, |e| {
        e.u8(TOKEN).unwrap().bytes(&[7; 8]).unwrap();
        e.u16(1000).unwrap().array(2).unwrap().str("x").unwrap().u8(1).unwrap();
    });
    let Ok(Message::QueryRequest(m)) = decode(&bytes) else { panic!() };
    assert_eq!(m.extensions, [Extension { label: 1000, value: vec![0x82, 0x61, b'x', 0x01] }]);
    assert_eq!(Message::QueryRequest(m).encode(RFC), bytes);
    // A label defined for another message (manifest-list in a QueryRequest) is an extension.
    let bytes = query_request(2, 2, |e| {
        e.u8(9).unwrap().u8(0).unwrap();
        e.u8(TOKEN).unwrap().bytes(&[7; 8]).unwrap();
    });
    let Ok(Message::QueryRequest(m)) = decode(&bytes) else { panic!() };
    assert_eq!(m.extensions.len(), 1);
}

#[test]
fn deep_nesting_in_an_unknown_option_hits_the_limit() {
    let depth = 100_000;
    let mut bytes = vec![0x82, 0x04, 0xa1, 0x18, 0x64];
    bytes.extend(std::iter::repeat_n(0x81, depth));
    bytes.push(0x00);
    assert!(matches!(decode(&bytes), Err(DecodeError::Cbor(teep_cbor::Error::TooDeep { .. }))));
}

#[test]
fn huge_declared_lengths_do_not_allocate() {
    // An array claiming 2^32 suites in a 20-byte message.
    let bytes = [0x85, 0x01, 0xa0, 0x9a, 0xff, 0xff, 0xff, 0xff, 0x81, 0x82, 0x12, 0x28];
    assert!(matches!(decode(&bytes), Err(DecodeError::Cbor(_))));
    // Every prefix of a valid message is rejected, none panics.
    let valid = token_qr(8);
    for end in 0..valid.len() {
        assert!(decode(&valid[..end]).is_err());
    }
}

#[test]
fn validate_catches_hand_built_mistakes() {
    let qr = QueryRequest {
        supported_teep_cipher_suites: vec![CipherSuite::SIGN1_ESP256],
        ..QueryRequest::default()
    };
    assert!(matches!(Message::QueryRequest(qr).validate(), Err(DecodeError::Rule(_))));
    let too_long = TeepError::new(ErrCode::PERMANENT_ERROR).with_message(&"é".repeat(100));
    assert_eq!(too_long.err_msg.as_ref().map(String::len), Some(128));
    assert!(Message::Error(too_long).validate().is_ok());
}

#[test]
fn every_error_displays_its_field() {
    let e = decode(&token_qr(7)).unwrap_err();
    assert_eq!(e.to_string(), "token: length 7 outside 8..=64");
    assert_eq!(e.err_code(), ErrCode::PERMANENT_ERROR);
}

#[test]
fn hand_built_extensions_must_be_one_cbor_item_and_never_collide() {
    let mut ok = teep_proto::Success {
        extensions: vec![Extension { label: 100, value: vec![0x01] }],
        ..Default::default()
    };
    assert_eq!(Message::Success(ok.clone()).validate(), Ok(()));

    let bad = teep_proto::Success {
        extensions: vec![Extension { label: 100, value: vec![0x01, 0x02] }],
        ..Default::default()
    };
    assert!(matches!(Message::Success(bad).validate(), Err(DecodeError::Cbor(_))));

    // An extension reusing the label of a field that is set is not written: the map stays
    // valid and decodes to the field.
    ok.msg = Some("done".into());
    ok.extensions.push(Extension { label: 10, value: vec![0x61, b'x'] });
    let bytes = Message::Success(ok).encode(RFC);
    let Ok(Message::Success(back)) = decode(&bytes) else { panic!() };
    assert_eq!(back.msg.as_deref(), Some("done"));
    assert_eq!(back.extensions, [Extension { label: 100, value: vec![0x01] }]);
}
