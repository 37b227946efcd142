//! Property: every valid message encodes and decodes back to itself in both numberings, and
//! the encoding is canonical (decode-then-encode reproduces the bytes).

use std::collections::BTreeMap;

use proptest::prelude::*;
use teep_proto::{
    CipherSuite, ComponentId, DataItemRequested, ErrCode, Extension, FreshnessMechanism, Message,
    Numbering, Operation, QueryRequest, QueryResponse, RequestedTcInfo, Success, SuitCoseProfile,
    SystemPropertyClaims, TeepError, Token, Update, truncate_utf8,
};

fn cbor_bstr(content: Vec<u8>) -> Vec<u8> {
    let mut e = minicbor::Encoder::new(Vec::new());
    e.bytes(&content).unwrap();
    e.into_writer()
}

fn token() -> impl Strategy<Value = Token> {
    prop::collection::vec(any::<u8>(), 8..=64).prop_map(|b| Token::new(b).unwrap())
}

fn opt_token() -> impl Strategy<Value = Option<Token>> {
    prop::option::of(token())
}

fn challenge() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 8..=40)
}

fn text_128() -> impl Strategy<Value = String> {
    "\\PC{1,60}".prop_map(|s| truncate_utf8(&s, 128).unwrap_or("x").to_string())
}

fn lang() -> impl Strategy<Value = String> {
    "[a-z]{2}(-[A-Z]{2})?"
}

fn suite() -> impl Strategy<Value = CipherSuite> {
    prop_oneof![
        Just(CipherSuite::SIGN1_ESP256),
        Just(CipherSuite::SIGN1_ED25519),
        prop::collection::vec((0u64..200, any::<i64>()), 1..3).prop_map(|ops| {
            CipherSuite::new(ops.into_iter().map(|(t, a)| Operation::new(t, a)).collect())
        }),
    ]
}

fn suites() -> impl Strategy<Value = Vec<CipherSuite>> {
    prop::collection::vec(suite(), 1..4)
}

fn profiles() -> impl Strategy<Value = Vec<SuitCoseProfile>> {
    prop::collection::vec(
        prop_oneof![
            Just(SuitCoseProfile::SHA256_ESP256_ECDH_A128CTR),
            Just(SuitCoseProfile::SHA256_ED25519_ECDH_CHACHA_POLY),
            prop::collection::vec(any::<i64>(), 1..5).prop_map(SuitCoseProfile::new),
        ],
        1..4,
    )
}

fn freshness() -> impl Strategy<Value = Vec<FreshnessMechanism>> {
    prop::collection::vec(any::<u64>().prop_map(FreshnessMechanism::from_value), 1..3)
}

fn uint32s() -> impl Strategy<Value = Vec<u32>> {
    prop::collection::vec(any::<u32>(), 1..4)
}

fn cbor_items() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40).prop_map(cbor_bstr), 1..3)
}

fn component_id() -> impl Strategy<Value = ComponentId> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..12), 0..4).prop_map(ComponentId)
}

fn component_ids() -> impl Strategy<Value = Vec<ComponentId>> {
    prop::collection::vec(component_id(), 1..3)
}

fn extensions() -> impl Strategy<Value = Vec<Extension>> {
    prop::collection::btree_map(24u64..100_000, any::<u64>(), 0..3).prop_map(|m: BTreeMap<_, _>| {
        m.into_iter()
            .map(|(label, v)| {
                let mut e = minicbor::Encoder::new(Vec::new());
                e.u64(v).unwrap();
                Extension { label, value: e.into_writer() }
            })
            .collect()
    })
}

fn err_code() -> impl Strategy<Value = ErrCode> {
    prop_oneof![
        (1u64..=11).prop_map(|v| ErrCode::from_wire(v, Numbering::Rfc).unwrap()),
        (24u64..1000).prop_map(|v| ErrCode::unknown(v).unwrap()),
    ]
}

fn query_request() -> impl Strategy<Value = QueryRequest> {
    (
        (token(), prop::option::of(freshness()), challenge(), any::<bool>(), 0u64..16),
        (
            prop::option::of(uint32s()),
            prop::option::of("[a-z/+]{1,20}"),
            prop::option::of(challenge()),
        ),
        (prop::option::of(cbor_items()), suites(), profiles(), extensions()),
    )
        .prop_map(|((tok, fresh, chal, use_token, bits), (versions, fmt, payload), rest)| {
            let dir = DataItemRequested(bits);
            let attest = dir.contains(DataItemRequested::ATTESTATION);
            let (token, challenge, fresh) = if !attest {
                (Some(tok), None, None)
            } else if use_token {
                (Some(tok), None, fresh)
            } else {
                (None, Some(chal), fresh)
            };
            QueryRequest {
                token,
                supported_freshness_mechanisms: fresh,
                challenge,
                versions,
                attestation_payload_format: fmt,
                attestation_payload: payload,
                suit_reports: rest.0,
                supported_teep_cipher_suites: rest.1,
                supported_suit_cose_profiles: rest.2,
                data_item_requested: dir,
                extensions: rest.3,
            }
        })
}

fn claims() -> impl Strategy<Value = SystemPropertyClaims> {
    (component_id(), prop::collection::btree_map(1i64..60, any::<u16>(), 1..3)).prop_map(
        |(component_id, params)| SystemPropertyClaims {
            component_id,
            parameters: params
                .into_iter()
                .map(|(l, v)| {
                    let mut e = minicbor::Encoder::new(Vec::new());
                    e.u16(v).unwrap();
                    (l, e.into_writer())
                })
                .collect(),
        },
    )
}

fn requested() -> impl Strategy<Value = RequestedTcInfo> {
    (component_id(), prop::option::of(any::<u64>()), prop::option::of(any::<bool>())).prop_map(
        |(component_id, seq, have)| RequestedTcInfo {
            component_id,
            tc_manifest_sequence_number: if have == Some(true) {
                Some(seq.unwrap_or(1))
            } else {
                seq
            },
            have_binary: have,
        },
    )
}

fn query_response() -> impl Strategy<Value = QueryResponse> {
    (
        (opt_token(), prop::option::of(any::<u32>()), prop::option::of("[a-z/]{1,10}")),
        (
            prop::option::of(prop::collection::vec(any::<u8>(), 0..30)),
            prop::option::of(cbor_items()),
        ),
        (
            prop::option::of(prop::collection::vec(claims(), 0..3)),
            prop::option::of(prop::collection::vec(requested(), 1..3)),
            prop::option::of(component_ids()),
            prop::option::of(uint32s()),
            extensions(),
        ),
    )
        .prop_map(|((token, sv, fmt), (payload, reports), (tc, req, unneeded, ext, exts))| {
            QueryResponse {
                token,
                selected_version: sv,
                attestation_payload_format: fmt,
                attestation_payload: payload,
                suit_reports: reports,
                tc_list: tc,
                requested_tc_list: req,
                unneeded_manifest_list: unneeded,
                ext_list: ext,
                extensions: exts,
            }
        })
}

fn update() -> impl Strategy<Value = Update> {
    (
        (opt_token(), prop::option::of(component_ids()), prop::option::of(cbor_items())),
        (
            prop::option::of("[a-z]{1,10}"),
            prop::option::of(prop::collection::vec(any::<u8>(), 0..30)),
        ),
        (
            prop::option::of(err_code()),
            prop::option::of(text_128()),
            prop::option::of(lang()),
            extensions(),
        ),
    )
        .prop_map(|((token, unneeded, manifests), (fmt, payload), (code, msg, lang, exts))| {
            Update {
                token,
                unneeded_manifest_list: unneeded,
                manifest_list: manifests,
                attestation_payload_format: fmt,
                attestation_payload: payload,
                err_code: code,
                err_msg: msg,
                err_lang: lang,
                extensions: exts,
            }
        })
}

fn success() -> impl Strategy<Value = Success> {
    (opt_token(), prop::option::of(text_128()), prop::option::of(cbor_items()), extensions())
        .prop_map(|(token, msg, suit_reports, extensions)| Success {
            token,
            msg,
            suit_reports,
            extensions,
        })
}

fn teep_error() -> impl Strategy<Value = TeepError> {
    (
        (opt_token(), prop::option::of(text_128()), prop::option::of(lang())),
        (prop::option::of(suites()), prop::option::of(freshness()), prop::option::of(profiles())),
        (
            prop::option::of(challenge()),
            prop::option::of(uint32s()),
            prop::option::of(cbor_items()),
        ),
        (err_code(), extensions()),
    )
        .prop_map(
            |((token, msg, lang), (s, f, p), (chal, versions, reports), (code, exts))| {
                let mut e = TeepError {
                    token,
                    err_msg: msg,
                    err_lang: lang,
                    supported_teep_cipher_suites: s,
                    supported_freshness_mechanisms: f,
                    supported_suit_cose_profiles: p,
                    challenge: chal,
                    versions,
                    suit_reports: reports,
                    err_code: code,
                    extensions: exts,
                };
                match code {
                    ErrCode::UNSUPPORTED_CIPHER_SUITES => {
                        e.supported_teep_cipher_suites
                            .get_or_insert(vec![CipherSuite::SIGN1_ESP256]);
                    }
                    ErrCode::UNSUPPORTED_FRESHNESS_MECHANISMS => {
                        e.supported_freshness_mechanisms
                            .get_or_insert(vec![FreshnessMechanism::Nonce]);
                    }
                    ErrCode::UNSUPPORTED_MSG_VERSION => {
                        e.versions.get_or_insert(vec![0]);
                    }
                    ErrCode::UNSUPPORTED_SUIT_REPORT => {
                        e.supported_suit_cose_profiles
                            .get_or_insert(vec![SuitCoseProfile::SHA256_ESP256_ECDH_A128GCM]);
                    }
                    _ => {}
                }
                e
            },
        )
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        query_request().prop_map(Message::QueryRequest),
        query_response().prop_map(Message::QueryResponse),
        update().prop_map(Message::Update),
        success().prop_map(Message::Success),
        teep_error().prop_map(Message::Error),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_decode_round_trip(msg in message()) {
        prop_assert_eq!(msg.validate(), Ok(()));
        for numbering in [Numbering::Rfc, Numbering::Legacy] {
            let bytes = msg.encode(numbering);
            let back = Message::decode(&bytes, numbering);
            prop_assert_eq!(back.as_ref(), Ok(&msg), "{:?}", numbering);
            prop_assert_eq!(back.map(|m| m.encode(numbering)), Ok(bytes));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = Message::decode(&bytes, Numbering::Rfc);
        let _ = Message::decode(&bytes, Numbering::Legacy);
    }

    #[test]
    fn mutated_messages_never_panic(msg in message(), at in any::<prop::sample::Index>(), x in any::<u8>()) {
        let mut bytes = msg.encode(Numbering::Rfc);
        let i = at.index(bytes.len());
        bytes[i] ^= x | 1;
        let _ = Message::decode(&bytes, Numbering::Rfc);
    }
}

/// Fuzz finding `extension-order-roundtrip` (fuzz/regressions/teep_message_*/): unknown
/// options out of label order on the wire decoded to a value unequal to the decoding of the
/// message's own re-encoding.
#[test]
fn extension_order_roundtrip() {
    let cases: [(&str, Numbering); 2] = [
        (
            "8202a4150006400481a22e814f0102030405060708090a0b0c0d0e0f035824822f5820a7fd6593\
             eac32eb4be578278e6540c5c09cfd7d4d234973054833b2b930306091350a0a1a2a3a4a5a6a7a8\
             a9aaabacb0aeaf",
            Numbering::Rfc,
        ),
        ("8306a21750a0a1abacadaeaf0c6964690100000000000001", Numbering::Legacy),
    ];
    for (hex_input, numbering) in cases {
        let bytes = hex::decode(hex_input).expect("hex");
        let msg = Message::decode(&bytes, numbering).expect("the finding decodes");
        let again =
            Message::decode(&msg.encode(numbering), numbering).expect("re-encoding decodes");
        assert_eq!(again, msg, "{hex_input}");
    }
}
