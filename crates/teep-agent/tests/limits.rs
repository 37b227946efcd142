//! Bounds of the Agent's conceptual API (RFC 9397 §6.2.1) that an untrusted caller (the rich
//! OS, through the Broker) can push against: the pending RequestTA list ([`MAX_PENDING`]) and
//! the component id size ([`MAX_COMPONENT_ID_BYTES`]). One past each is refused, a refused call
//! changes nothing, and the IPC service answers it with a clear BadRequest.

mod common;

use common::*;
use teep_agent::ipc::{ErrorKind, Request, Response, Service};
use teep_agent::{ApiError, MAX_COMPONENT_ID_BYTES, MAX_PENDING};
use teep_proto::ComponentId;

fn id(i: usize) -> ComponentId {
    ComponentId::new([b"pending".to_vec(), i.to_be_bytes().to_vec()])
}

#[test]
fn pending_requests_are_bounded_and_a_refusal_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut agent = agent_in(dir.path(), config(&Tam::new(), vec![]));

    for i in 0..MAX_PENDING {
        let uri = agent.request_ta(id(i), None).expect("within the bound");
        assert_eq!(uri.as_deref(), Some(TAM_URI));
    }
    assert_eq!(agent.requested().len(), MAX_PENDING);

    // One past the bound.
    assert_eq!(agent.request_ta(id(MAX_PENDING), None), Err(ApiError::TooManyPending));
    let pending = agent.requested();
    assert_eq!(pending.len(), MAX_PENDING, "the refused request was not added");
    assert!(!pending.contains(&id(MAX_PENDING)));
    assert!(ApiError::TooManyPending.to_string().contains(&MAX_PENDING.to_string()));

    // Asking again for a component already pending takes no new slot.
    assert_eq!(agent.request_ta(id(7), None).expect("already pending").as_deref(), Some(TAM_URI));
    assert_eq!(agent.requested().len(), MAX_PENDING);

    // Over IPC the same refusal is a BadRequest naming the bound.
    let refused = agent.call(Request::RequestTa {
        component_id: id(MAX_PENDING).0,
        tam_uri: Some(TAM_URI.into()),
    });
    match refused {
        Response::Error { kind, message } => {
            assert_eq!(kind, ErrorKind::BadRequest);
            assert!(message.contains("pending"), "{message}");
        }
        other => panic!("expected a BadRequest, got {other:?}"),
    }
    assert_eq!(agent.requested().len(), MAX_PENDING);

    // UnrequestTA of a pending component frees its slot.
    assert_eq!(agent.unrequest_ta(id(0)), Ok(None), "not installed: nothing to send");
    assert_eq!(agent.requested().len(), MAX_PENDING - 1);
    assert!(agent.request_ta(id(MAX_PENDING), None).is_ok(), "a freed slot is usable");
    assert_eq!(agent.requested().len(), MAX_PENDING);
}

#[test]
fn component_ids_are_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut agent = agent_in(dir.path(), config(&Tam::new(), vec![]));

    // Each segment counts its length plus one.
    let at = ComponentId::new([vec![0x41; MAX_COMPONENT_ID_BYTES - 1]]);
    assert!(agent.request_ta(at, None).is_ok());
    let half = MAX_COMPONENT_ID_BYTES / 2 - 1;
    let split = ComponentId(vec![vec![0x42; half]; 2]);
    assert!(agent.request_ta(split, None).is_ok(), "the bound is over all segments");

    let past = ComponentId::new([vec![0x43; MAX_COMPONENT_ID_BYTES]]);
    assert_eq!(agent.request_ta(past.clone(), None), Err(ApiError::InvalidComponentId));
    assert_eq!(agent.unrequest_ta(past), Err(ApiError::InvalidComponentId));
    let split_past = ComponentId::new([vec![0x44; half], vec![0x44; half + 1]]);
    assert_eq!(agent.request_ta(split_past, None), Err(ApiError::InvalidComponentId));
    assert_eq!(agent.request_ta(ComponentId(vec![]), None), Err(ApiError::InvalidComponentId));
    assert_eq!(agent.requested().len(), 2, "refused ids were not added");
}
