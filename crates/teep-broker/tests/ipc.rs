//! The Broker driving an Agent over the real IPC socket (`teep_agent::ipc`), with a scripted
//! Agent service behind it, and a recording TAM server on 127.0.0.1.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use common::{Canned, serve_http, vector};
use teep_agent::ipc::{ErrorKind, InProcess, Request, Response, Service, bind, serve_listener};
use teep_broker::{AgentError, Broker, BrokerConfig, BrokerError, IpcAgent, TrustedComponentId};

/// Answers from queues and logs every request.
#[derive(Default)]
struct ScriptedService {
    responses: VecDeque<Response>,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Service for ScriptedService {
    fn call(&mut self, request: Request) -> Response {
        if let Ok(mut log) = self.requests.lock() {
            log.push(request);
        }
        self.responses.pop_front().unwrap_or(Response::Error {
            kind: ErrorKind::Internal,
            message: "script exhausted".into(),
        })
    }
}

fn config() -> BrokerConfig {
    BrokerConfig { allow_http: true, ..BrokerConfig::default() }
}

#[tokio::test]
async fn request_ta_over_the_socket() {
    let query_request = vector("teep-rfc/query_request.tam.esp256.cose");
    let success = vector("teep-rfc/teep_success.agent.esp256.cose");
    let (addr, tam) = serve_http(vec![Canned::teep(&query_request), Canned::status(204)]).await;
    let uri = format!("http://{addr}/tam");

    let requests = Arc::new(Mutex::new(Vec::new()));
    let service = ScriptedService {
        responses: vec![
            Response::TamUri(Some(uri.clone())),
            Response::TeepMessage(success.clone()),
        ]
        .into(),
        requests: requests.clone(),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("agent.sock");
    let listener = bind(&socket).expect("bind");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_listener(
        listener,
        Arc::new(Mutex::new(service)),
        1 << 20,
        async move {
            let _ = stopped.await;
        },
    ));

    let agent = IpcAgent::connect(&socket).await.expect("connect");
    let mut broker = Broker::new(agent, config()).expect("broker");
    let component = TrustedComponentId(vec![b"tc".to_vec(), b"1".to_vec()]);
    let report = broker.request_ta(&component).await.expect("session");
    assert_eq!(report.sessions[0].round_trips, 2);

    let seen = requests.lock().expect("lock").clone();
    assert_eq!(
        seen,
        [
            Request::RequestTa { component_id: component.0.clone(), tam_uri: None },
            Request::ProcessTeepMessage { tam_uri: uri, message: query_request },
        ]
    );
    let posted = tam.requests();
    assert!(posted[0].body.is_empty());
    assert_eq!(posted[1].body, success);

    let _ = stop.send(());
    assert!(matches!(server.await, Ok(Ok(()))));
}

#[tokio::test]
async fn policy_check_hands_out_each_uri_then_nothing() {
    let (addr, tam) = serve_http(vec![]).await;
    let a = format!("http://{addr}/a");
    let b = format!("http://{addr}/b");
    let service = ScriptedService {
        responses: vec![
            Response::TamUris(vec![a.clone(), b.clone()]),
            Response::TamUris(vec![a.clone()]),
        ]
        .into(),
        requests: Arc::default(),
    };
    let mut broker = Broker::new(IpcAgent::new(InProcess::new(service)), config()).expect("broker");

    let report = broker.request_policy_check().await.expect("first check");
    let uris: Vec<_> = report.sessions.iter().map(|s| s.tam_uri.clone()).collect();
    assert_eq!(uris, [a.clone(), b]);

    // A second check asks the Agent again.
    let report = broker.request_policy_check().await.expect("second check");
    assert_eq!(report.sessions.len(), 1);
    let paths: Vec<_> = tam.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/a", "/b", "/a"]);
}

#[tokio::test]
async fn agent_errors_map_to_broker_errors() {
    let service = ScriptedService {
        responses: vec![Response::Error { kind: ErrorKind::NoTam, message: "none".into() }].into(),
        requests: Arc::default(),
    };
    let mut broker = Broker::new(IpcAgent::new(InProcess::new(service)), config()).expect("broker");
    let result = broker.unrequest_ta(&TrustedComponentId::single(*b"x")).await;
    assert!(matches!(result, Err(BrokerError::Agent(AgentError::Refused(_)))), "{result:?}");

    let dir = tempfile::tempdir().expect("tempdir");
    let missing = IpcAgent::connect(dir.path().join("absent.sock")).await;
    assert!(matches!(missing, Err(AgentError::Unreachable(_))));
}

#[tokio::test]
async fn connect_from_config() {
    let unset = Broker::connect(config()).await;
    assert!(matches!(unset, Err(BrokerError::Config(_))));

    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("agent.sock");
    let listener = bind(&socket).expect("bind");
    let service = ScriptedService {
        responses: vec![Response::TamUri(None)].into(),
        requests: Arc::default(),
    };
    let server = tokio::spawn(serve_listener(
        listener,
        Arc::new(Mutex::new(service)),
        1 << 20,
        std::future::pending::<()>(),
    ));
    let config = BrokerConfig { agent_socket: Some(socket), ..config() };
    let mut broker = Broker::connect(config).await.expect("connect");
    let report = broker.request_ta(&TrustedComponentId::single(*b"x")).await.expect("no-op");
    assert!(report.sessions.is_empty());
    server.abort();
}

#[tokio::test]
async fn failed_policy_check_does_not_leave_stale_uris() {
    let (addr, tam) = serve_http(vec![Canned::status(500), Canned::status(204)]).await;
    let a = format!("http://{addr}/a");
    let b = format!("http://{addr}/b");
    let requests = Arc::new(Mutex::new(Vec::new()));
    let service = ScriptedService {
        responses: vec![Response::TamUris(vec![a.clone(), b.clone()]), Response::TamUris(vec![b])]
            .into(),
        requests: requests.clone(),
    };
    let mut broker = Broker::new(IpcAgent::new(InProcess::new(service)), config()).expect("broker");

    // The first TAM fails (500); the check goes on with the second.
    let first = broker.request_policy_check().await.expect("first check");
    assert_eq!(first.failures.len(), 1, "{first:?}");
    assert_eq!(first.failures[0].tam_uri, a);
    assert_eq!(first.sessions.len(), 1);
    let second = broker.request_policy_check().await.expect("second check");
    assert_eq!(second.sessions.len(), 1);

    let checks = requests
        .lock()
        .expect("lock")
        .iter()
        .filter(|r| **r == Request::RequestPolicyCheck)
        .count();
    assert_eq!(checks, 2);
    let paths: Vec<_> = tam.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/a", "/b", "/b"]);
}
