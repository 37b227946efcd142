//! The manifest-list limit of the TEEP decoder ([`MessageLimits::max_manifests`]): an Update
//! (or QueryResponse) one entry past the limit is refused with [`DecodeError::TooMany`] before
//! any entry is read; at the limit it decodes. Default and configured limits, bare and
//! COSE-wrapped.

use teep_proto::{
    ComponentId, DEFAULT_MAX_MANIFESTS, DecodeError, Message, MessageLimits, Numbering,
    QueryResponse, Token, Update,
};

const RFC: Numbering = Numbering::Rfc;

/// An Update carrying `n` manifests (each a small well-formed CBOR item, an empty map).
fn update_with(n: usize) -> Vec<u8> {
    let update = Update {
        token: Some(Token::from_slice(&[7; 16]).expect("token")),
        manifest_list: Some(vec![vec![0xa0]; n]),
        ..Update::default()
    };
    Message::Update(update).encode(RFC)
}

/// An Update whose unneeded-manifest-list names `n` components.
fn unneeded_update(n: usize) -> Vec<u8> {
    let ids = (0..n).map(|i| ComponentId::new([format!("tc-{i}").into_bytes()])).collect();
    let update = Update {
        token: Some(Token::from_slice(&[7; 16]).expect("token")),
        unneeded_manifest_list: Some(ids),
        ..Update::default()
    };
    Message::Update(update).encode(RFC)
}

fn too_many(result: Result<Message, DecodeError>) -> (&'static str, u64, u64) {
    match result {
        Err(DecodeError::TooMany { field, count, limit }) => (field, count, limit),
        other => panic!("expected TooMany, got {other:?}"),
    }
}

#[test]
fn default_limit_accepts_the_maximum_and_refuses_one_more() {
    let at = Message::decode(&update_with(DEFAULT_MAX_MANIFESTS), RFC);
    let Ok(Message::Update(update)) = at else { panic!("{at:?}") };
    assert_eq!(update.manifest_list.map(|l| l.len()), Some(DEFAULT_MAX_MANIFESTS));

    let past = Message::decode(&update_with(DEFAULT_MAX_MANIFESTS + 1), RFC);
    let max = u64::try_from(DEFAULT_MAX_MANIFESTS).expect("fits");
    assert_eq!(too_many(past), ("manifest-list", max + 1, max));
}

#[test]
fn configured_limit_is_enforced_and_explained() {
    let limits = MessageLimits { max_manifests: 3, ..MessageLimits::default() };
    assert!(Message::decode_limited(&update_with(3), RFC, &limits).is_ok());
    let past = Message::decode_limited(&update_with(4), RFC, &limits);
    let err = past.clone().expect_err("one past the limit");
    assert_eq!(too_many(past), ("manifest-list", 4, 3));
    let text = err.to_string();
    assert!(text.contains("manifest-list: 4 entries"), "{text}");
    assert!(text.contains("limit of 3"), "{text}");
    // A decoding failure is reported to the TAM as ERR_PERMANENT_ERROR (§5.5).
    assert_eq!(err.err_code(), teep_proto::ErrCode::PERMANENT_ERROR);

    // The limit also bounds the unneeded-manifest-list, of an Update and of a QueryResponse.
    assert!(Message::decode_limited(&unneeded_update(3), RFC, &limits).is_ok());
    let past = Message::decode_limited(&unneeded_update(4), RFC, &limits);
    assert_eq!(too_many(past), ("unneeded-manifest-list", 4, 3));
    let response = QueryResponse {
        token: Some(Token::from_slice(&[9; 16]).expect("token")),
        unneeded_manifest_list: Some(
            (0..4).map(|i| ComponentId::new([vec![i]])).collect::<Vec<_>>(),
        ),
        ..QueryResponse::default()
    };
    let bytes = Message::QueryResponse(response).encode(RFC);
    assert!(Message::decode(&bytes, RFC).is_ok(), "the default limit allows 4");
    assert_eq!(
        too_many(Message::decode_limited(&bytes, RFC, &limits)),
        ("unneeded-manifest-list", 4, 3)
    );
}

#[test]
fn the_count_is_refused_before_any_entry_is_read() {
    // [3, {9: [0, 0, 0, 0, 0]}]: an Update whose manifest-list holds five integers instead of
    // byte strings. Within the limit the first entry is read and refused for its type; past
    // the limit the count alone is refused.
    let bytes = [0x82, 0x03, 0xa1, 0x09, 0x85, 0, 0, 0, 0, 0];
    let within = MessageLimits { max_manifests: 5, ..MessageLimits::default() };
    let read = Message::decode_limited(&bytes, RFC, &within);
    assert!(matches!(read, Err(DecodeError::WrongType { field: "manifest-list", .. })), "{read:?}");
    let below = MessageLimits { max_manifests: 4, ..MessageLimits::default() };
    assert_eq!(too_many(Message::decode_limited(&bytes, RFC, &below)), ("manifest-list", 5, 4));
}

#[test]
fn open_limited_applies_the_limit_to_signed_messages() {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let key = teep_cose::SigningKey::generate_p256(&mut rng);
    let alg = teep_cose::Algorithm::ESP256;
    let update = Update {
        token: Some(Token::from_slice(&[7; 16]).expect("token")),
        manifest_list: Some(vec![vec![0xa0]; 5]),
        ..Update::default()
    };
    let sealed = teep_proto::seal_sign1(&Message::Update(update), RFC, &key, alg).expect("seal");
    let trusted = [key.public_key()];
    assert!(teep_proto::open(&sealed, RFC, &trusted, &[alg]).is_ok());
    let limits = MessageLimits { max_manifests: 4, ..MessageLimits::default() };
    let refused = teep_proto::open_limited(&sealed, RFC, &trusted, &[alg], &limits);
    assert!(
        matches!(
            refused,
            Err(teep_proto::Error::Message(DecodeError::TooMany { field: "manifest-list", .. }))
        ),
        "{refused:?}"
    );
}
