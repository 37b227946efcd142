//! Rules that tie a response to its request (§5.2), summaries, and builder helpers.

use teep_proto::{
    CipherSuite, ComponentId, DataItemRequested, ErrCode, Message, Numbering, QueryRequest,
    QueryResponse, RequestedTcInfo, Success, SuitCoseProfile, TeepError, Token, Update, describe,
    negotiate, suite_algorithms,
};

fn token(b: u8) -> Token {
    Token::from_slice(&[b; 16]).unwrap()
}

fn request(dir: DataItemRequested) -> QueryRequest {
    QueryRequest {
        token: Some(token(1)),
        supported_teep_cipher_suites: vec![CipherSuite::SIGN1_ESP256, CipherSuite::SIGN1_ED25519],
        supported_suit_cose_profiles: vec![SuitCoseProfile::SHA256_ESP256_ECDH_A128GCM],
        data_item_requested: dir,
        ..QueryRequest::default()
    }
}

#[test]
fn response_must_echo_the_token_and_answer_what_was_asked() {
    let req = request(DataItemRequested::TRUSTED_COMPONENTS);
    let mut resp =
        QueryResponse { token: Some(token(1)), tc_list: Some(vec![]), ..Default::default() };
    assert_eq!(resp.check_answers(&req), Ok(()));

    resp.token = Some(token(2));
    assert!(resp.check_answers(&req).is_err());
    resp.token = None;
    assert!(resp.check_answers(&req).is_err());
    resp.token = Some(token(1));

    resp.tc_list = None;
    assert!(resp.check_answers(&req).is_err());
    resp.tc_list = Some(vec![]);

    let req = request(DataItemRequested::TRUSTED_COMPONENTS | DataItemRequested::EXTENSIONS);
    assert!(resp.check_answers(&req).is_err());
    resp.ext_list = Some(vec![0]);
    assert_eq!(resp.check_answers(&req), Ok(()));

    resp.selected_version = Some(1);
    assert!(resp.check_answers(&req).is_err(), "version 1 was not offered");
    resp.selected_version = Some(0);
    assert_eq!(resp.check_answers(&req), Ok(()));

    let mut req = request(DataItemRequested::ATTESTATION);
    req.token = None;
    req.challenge = Some(vec![9; 32]);
    let mut resp = QueryResponse::default();
    assert!(resp.check_answers(&req).is_err(), "attestation-payload missing");
    resp.attestation_payload = Some(vec![0xa0]);
    assert_eq!(resp.check_answers(&req), Ok(()));
}

#[test]
fn summaries_name_the_type_and_hide_the_token() {
    let req = Message::QueryRequest(request(
        DataItemRequested::ATTESTATION | DataItemRequested::TRUSTED_COMPONENTS,
    ));
    let s = describe(&req);
    assert_eq!(
        s,
        "QueryRequest token=01010101… data-item-requested=attestation|trusted-components \
         suites=[[18,-9]] [[18,-19]]"
    );

    let resp = Message::QueryResponse(QueryResponse {
        token: Some(token(1)),
        requested_tc_list: Some(vec![RequestedTcInfo {
            component_id: ComponentId(vec![b"TEEP-Device".to_vec(), vec![0x8d, 0x82]]),
            ..Default::default()
        }]),
        ..Default::default()
    });
    assert_eq!(
        describe(&resp),
        "QueryResponse token=01010101… requested-tc-list=[\"TEEP-Device\", h'8d82']"
    );

    let upd =
        Message::Update(Update { manifest_list: Some(vec![vec![0xa0; 10]]), ..Default::default() });
    assert_eq!(describe(&upd), "Update manifest-list=[10B]");

    let ok = Message::Success(Success { msg: Some("done".into()), ..Default::default() });
    assert_eq!(describe(&ok), "Success msg=\"done\"");

    let err = Message::Error(
        TeepError::new(ErrCode::MANIFEST_PROCESSING_FAILED).with_message("disk-full"),
    );
    assert_eq!(
        describe(&err),
        "Error err-code=ERR_MANIFEST_PROCESSING_FAILED err-msg=\"disk-full\""
    );
}

#[test]
fn unsupported_cipher_suites_error_lists_ours() {
    let ours = [CipherSuite::SIGN1_ED25519];
    let theirs = [CipherSuite::SIGN1_ESP256];
    assert_eq!(negotiate(&ours, &theirs), None);
    let err = TeepError::unsupported_cipher_suites(Some(token(3)), &ours);
    assert_eq!(err.err_code, ErrCode::UNSUPPORTED_CIPHER_SUITES);
    assert_eq!(err.supported_teep_cipher_suites.as_deref(), Some(&ours[..]));
    let msg = Message::Error(err);
    for n in [Numbering::Rfc, Numbering::Legacy] {
        assert_eq!(Message::decode(&msg.encode(n), n).as_ref(), Ok(&msg));
    }
}

#[test]
fn suite_algorithms_for_the_first_query_request() {
    let algs = suite_algorithms(&[
        CipherSuite::SIGN1_ESP256,
        CipherSuite::SIGN1_ED25519,
        CipherSuite::SIGN1_ESP256,
    ]);
    assert_eq!(algs, [teep_cose::Algorithm::ESP256, teep_cose::Algorithm::ED25519]);
}
