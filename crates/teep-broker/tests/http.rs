//! The Broker's TEEP/HTTP client against a recording server on 127.0.0.1
//! (draft-ietf-teep-otrp-over-http §3 and §5).

mod common;

use std::time::Duration;

use axum::http::Method;
use common::{Call, Canned, FakeAgent, serve_http, vector};
use teep_broker::{
    AgentReply, Broker, BrokerConfig, BrokerError, Event, MessageKind, TransportFailure,
    TrustedComponentId,
};

fn loopback_config() -> BrokerConfig {
    BrokerConfig {
        allow_http: true,
        connect_timeout_ms: 2_000,
        request_timeout_ms: 5_000,
        ..BrokerConfig::default()
    }
}

fn component() -> TrustedComponentId {
    TrustedComponentId::single(*b"8d82573a-926d-4754-9353-32dc29997f74")
}

fn connect(uri: &str) -> AgentReply {
    AgentReply::Connect { tam_uri: uri.to_owned() }
}

/// Runs RequestTA against `script` with an Agent that answers `answers`.
async fn run(
    script: Vec<Canned>,
    answers: Vec<Option<Vec<u8>>>,
    config: BrokerConfig,
) -> (Result<teep_broker::Report, BrokerError>, Broker<FakeAgent>, Vec<common::Recorded>) {
    let (addr, shared) = serve_http(script).await;
    let uri = format!("http://{addr}/tam");
    let agent = FakeAgent::new(vec![connect(&uri)], answers);
    let mut broker = Broker::new(agent, config).expect("broker");
    let result = broker.request_ta(&component()).await;
    (result, broker, shared.requests())
}

#[tokio::test]
async fn full_session_headers_and_bodies() {
    let query_request = vector("teep-rfc/query_request.tam.esp256.cose");
    let update = vector("teep-rfc/update0.tam.esp256.cose");
    let query_response = b"query response from the agent".to_vec();
    let success = vector("teep-rfc/teep_success.agent.esp256.cose");

    let (result, broker, requests) = run(
        vec![Canned::teep(&query_request), Canned::teep(&update), Canned::status(204)],
        vec![Some(query_response.clone()), Some(success.clone())],
        loopback_config(),
    )
    .await;
    let report = result.expect("session");

    // Three POSTs: empty, QueryResponse, Success; each with exactly one Accept and one
    // Content-Type, both the TEEP media type (transport draft §5.1, §5.3).
    assert_eq!(requests.len(), 3);
    for r in &requests {
        assert_eq!(r.method, Method::POST);
        assert_eq!(r.path, "/tam");
        assert_eq!(r.accept, ["application/teep+cbor"]);
        assert_eq!(r.content_type, ["application/teep+cbor"]);
        assert!(!r.cookie);
    }
    assert!(requests[0].body.is_empty());
    assert_eq!(requests[1].body, query_response);
    assert_eq!(requests[2].body, success);

    // The Agent saw both TAM messages, byte for byte, and no error.
    let agent = broker.agent();
    assert_eq!(agent.messages(), [query_request.clone(), update.clone()]);
    assert!(agent.errors().is_empty());
    assert!(matches!(&agent.calls[0], Call::RequestTa(id, None) if *id == component()));

    // Report and transcript.
    assert_eq!(report.sessions.len(), 1);
    assert_eq!(report.sessions[0].round_trips, 3);
    let received: Vec<_> = report
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Received { status, message } => Some((*status, message.map(|m| m.kind))),
            _ => None,
        })
        .collect();
    assert_eq!(
        received,
        [(200, Some(MessageKind::QueryRequest)), (200, Some(MessageKind::Update)), (204, None)]
    );
    assert!(matches!(report.events.last(), Some(Event::SessionEnded { completed: true, .. })));
    let text: Vec<String> = report.events.iter().map(ToString::to_string).collect();
    assert!(text.iter().any(|l| l.contains("Success (COSE_Sign1")), "{text:#?}");
}

#[tokio::test]
async fn redirect_is_not_followed() {
    for status in [301, 302, 303, 307, 308] {
        let (addr, shared) = serve_http(vec![]).await;
        let target = format!("http://{addr}/elsewhere");
        let mut redirect = Canned::status(status);
        redirect.location = Some(target);
        {
            shared.script.lock().expect("lock").push_back(redirect);
        }
        let uri = format!("http://{addr}/tam");
        let agent = FakeAgent::new(vec![connect(&uri)], vec![]);
        let mut broker = Broker::new(agent, loopback_config()).expect("broker");
        let result = broker.request_ta(&component()).await;

        assert!(
            matches!(&result, Err(BrokerError::Transport { failure: TransportFailure::Redirect { status: s }, .. }) if *s == status),
            "{status}: {result:?}"
        );
        let requests = shared.requests();
        assert_eq!(requests.len(), 1, "{status}: redirect followed");
        assert_eq!(requests[0].path, "/tam");
        assert_eq!(broker.agent().errors(), [TransportFailure::Redirect { status }]);
        let transcript = broker.take_transcript();
        assert!(matches!(transcript.last(), Some(Event::SessionEnded { completed: false, .. })));
    }
}

#[tokio::test]
async fn server_error_goes_to_process_error() {
    let query_request = vector("teep-rfc/query_request.tam.esp256.cose");
    let (result, broker, requests) = run(
        vec![Canned::teep(&query_request), Canned::status(500)],
        vec![Some(b"answer".to_vec())],
        loopback_config(),
    )
    .await;
    assert!(matches!(
        result,
        Err(BrokerError::Transport { failure: TransportFailure::Status { status: 500 }, .. })
    ));
    assert_eq!(requests.len(), 2);
    let calls = &broker.agent().calls;
    assert!(
        matches!(calls.last(), Some(Call::Error { failure: TransportFailure::Status { status: 500 }, tam_uri }) if tam_uri.ends_with("/tam"))
    );
}

#[tokio::test]
async fn client_errors_and_415_go_to_process_error() {
    for status in [400, 404, 405, 415] {
        let (result, broker, _) =
            run(vec![Canned::status(status)], vec![], loopback_config()).await;
        assert!(matches!(result, Err(BrokerError::Transport { .. })), "{status}");
        assert_eq!(broker.agent().errors(), [TransportFailure::Status { status }]);
    }
}

#[tokio::test]
async fn wrong_content_type_goes_to_process_error() {
    let query_request = vector("teep-rfc/query_request.tam.esp256.cose");
    for content_type in [Some("application/cbor"), Some("text/html"), None] {
        let mut canned = Canned::teep(&query_request);
        canned.content_type = content_type;
        let (result, broker, _) = run(vec![canned], vec![], loopback_config()).await;
        let expected =
            TransportFailure::WrongContentType { found: content_type.map(str::to_owned) };
        assert!(
            matches!(&result, Err(BrokerError::Transport { failure, .. }) if *failure == expected),
            "{content_type:?}: {result:?}"
        );
        // The body never reached the Agent.
        assert!(broker.agent().messages().is_empty());
        assert_eq!(broker.agent().errors(), [expected]);
    }
}

#[tokio::test]
async fn no_content_on_first_post_ends_the_session() {
    let (result, broker, requests) =
        run(vec![Canned::status(204)], vec![], loopback_config()).await;
    let report = result.expect("session");
    assert_eq!(requests.len(), 1);
    assert_eq!(report.sessions[0].round_trips, 1);
    assert!(broker.agent().messages().is_empty());
    assert!(broker.agent().errors().is_empty());
}

#[tokio::test]
async fn empty_200_also_ends_the_session() {
    let (result, _, requests) = run(vec![Canned::status(200)], vec![], loopback_config()).await;
    assert_eq!(result.expect("session").sessions[0].round_trips, 1);
    assert_eq!(requests.len(), 1);
}

#[tokio::test]
async fn agent_with_nothing_to_send_ends_the_session() {
    let query_request = vector("teep-rfc/query_request.tam.esp256.cose");
    let (result, broker, requests) =
        run(vec![Canned::teep(&query_request)], vec![None], loopback_config()).await;
    let report = result.expect("session");
    assert_eq!(requests.len(), 1);
    assert_eq!(report.sessions[0].round_trips, 1);
    assert_eq!(broker.agent().messages().len(), 1);
}

#[tokio::test]
async fn oversized_response_is_refused() {
    let big = vec![0x40; 4096];
    let config = BrokerConfig { max_response_bytes: 1024, ..loopback_config() };
    let (result, broker, _) = run(vec![Canned::teep(&big)], vec![], config).await;
    assert!(matches!(
        result,
        Err(BrokerError::Transport {
            failure: TransportFailure::ResponseTooLarge { limit: 1024 },
            ..
        })
    ));
    assert!(broker.agent().messages().is_empty());
}

#[tokio::test]
async fn round_trips_are_bounded() {
    let query_request = vector("teep-rfc/query_request.tam.esp256.cose");
    let config = BrokerConfig { max_round_trips: 3, ..loopback_config() };
    let script = vec![Canned::teep(&query_request); 10];
    let answers = vec![Some(b"again".to_vec()); 10];
    let (result, broker, requests) = run(script, answers, config).await;
    assert!(matches!(
        result,
        Err(BrokerError::Transport { failure: TransportFailure::RoundTripLimit { limit: 3 }, .. })
    ));
    assert_eq!(requests.len(), 3);
    assert_eq!(broker.agent().errors(), [TransportFailure::RoundTripLimit { limit: 3 }]);
}

#[tokio::test]
async fn timeout_goes_to_process_error() {
    let mut slow = Canned::status(204);
    slow.delay = Duration::from_millis(1500);
    let config = BrokerConfig { request_timeout_ms: 200, ..loopback_config() };
    let (result, broker, _) = run(vec![slow], vec![], config).await;
    assert!(matches!(
        result,
        Err(BrokerError::Transport { failure: TransportFailure::Timeout, .. })
    ));
    assert_eq!(broker.agent().errors(), [TransportFailure::Timeout]);
}

#[tokio::test]
async fn unreachable_tam_goes_to_process_error() {
    // Bind, learn the port, close: nothing listens there any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let uri = format!("http://{addr}/tam");
    let mut broker = Broker::new(FakeAgent::new(vec![connect(&uri)], vec![]), loopback_config())
        .expect("broker");
    let result = broker.request_ta(&component()).await;
    assert!(matches!(
        result,
        Err(BrokerError::Transport { failure: TransportFailure::Network(_), .. })
    ));
    assert!(matches!(broker.agent().errors().as_slice(), [TransportFailure::Network(_)]));
}

#[tokio::test]
async fn agent_message_first_and_unrequest() {
    let first = vector("teep-rfc/teep_error.agent.esp256.cose");
    let (addr, shared) = serve_http(vec![Canned::status(204)]).await;
    let uri = format!("http://{addr}/tam");
    let agent = FakeAgent::new(
        vec![AgentReply::Send { tam_uri: uri.clone(), message: first.clone() }],
        vec![],
    );
    let config = BrokerConfig {
        default_tam_uri: Some("https://hint.invalid/tam".into()),
        ..loopback_config()
    };
    let mut broker = Broker::new(agent, config).expect("broker");
    let report = broker.unrequest_ta(&component()).await.expect("session");

    let requests = shared.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].body, first);
    assert_eq!(requests[0].content_type, ["application/teep+cbor"]);
    assert_eq!(
        broker.agent().calls[0],
        Call::UnrequestTa(component(), Some("https://hint.invalid/tam".into()))
    );
    assert!(matches!(
        &report.events[0],
        Event::AgentCalled { message: Some(m), .. } if m.kind == MessageKind::Error
    ));
}

#[tokio::test]
async fn nothing_to_do_makes_no_request() {
    let (addr, shared) = serve_http(vec![]).await;
    let _ = addr;
    let mut broker = Broker::new(FakeAgent::default(), loopback_config()).expect("broker");
    let report = broker.request_ta(&component()).await.expect("no-op");
    assert!(report.sessions.is_empty());
    assert_eq!(report.events.len(), 1);
    assert!(shared.requests().is_empty());
}

#[tokio::test]
async fn policy_check_visits_every_tam() {
    let (addr, shared) = serve_http(vec![Canned::status(204), Canned::status(204)]).await;
    let a = format!("http://{addr}/tam-a");
    let b = format!("http://{addr}/tam-b");
    let agent = FakeAgent::new(vec![connect(&a), connect(&b)], vec![]);
    let mut broker = Broker::new(agent, loopback_config()).expect("broker");
    let report = broker.request_policy_check().await.expect("policy check");

    let paths: Vec<_> = shared.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/tam-a", "/tam-b"]);
    assert_eq!(report.sessions.len(), 2);
    // Called until the Agent passed no data back.
    let checks = broker.agent().calls.iter().filter(|c| **c == Call::PolicyCheck).count();
    assert_eq!(checks, 3);
}

#[tokio::test]
async fn policy_check_stops_on_a_repeated_tam() {
    let (addr, shared) = serve_http(vec![]).await;
    let a = format!("http://{addr}/tam-a");
    let agent = FakeAgent::new(vec![connect(&a), connect(&a), connect(&a)], vec![]);
    let mut broker = Broker::new(agent, loopback_config()).expect("broker");
    let report = broker.request_policy_check().await.expect("policy check");
    assert_eq!(report.sessions.len(), 1);
    assert_eq!(shared.requests().len(), 1);
}

#[tokio::test]
async fn overrides_redirect_the_agents_uri_but_not_what_the_agent_sees() {
    let (addr, shared) = serve_http(vec![Canned::teep(b"\x82\x01\x00"), Canned::status(204)]).await;
    let named = "https://tam.invalid/tam".to_owned();
    let mut config = loopback_config();
    config.tam_uri_overrides.insert(named.clone(), format!("http://{addr}/real"));
    let agent = FakeAgent::new(vec![connect(&named)], vec![Some(b"resp".to_vec())]);
    let mut broker = Broker::new(agent, config).expect("broker");
    broker.request_ta(&component()).await.expect("session");
    assert_eq!(shared.requests()[0].path, "/real");
    assert!(matches!(&broker.agent().calls[1], Call::Message { tam_uri, .. } if *tam_uri == named));
}

#[tokio::test]
async fn plain_http_needs_allow_http() {
    let (addr, shared) = serve_http(vec![]).await;
    let uri = format!("http://{addr}/tam");
    let config = BrokerConfig { allow_http: false, ..loopback_config() };
    let mut broker =
        Broker::new(FakeAgent::new(vec![connect(&uri)], vec![]), config).expect("broker");
    let result = broker.request_ta(&component()).await;
    assert!(matches!(result, Err(BrokerError::BadTamUri { .. })));
    assert!(shared.requests().is_empty());
}

#[tokio::test]
async fn agent_failure_ends_the_session_without_process_error() {
    let query_request = vector("teep-rfc/query_request.tam.esp256.cose");
    let (addr, shared) = serve_http(vec![Canned::teep(&query_request)]).await;
    let uri = format!("http://{addr}/tam");
    let mut agent = FakeAgent::new(vec![connect(&uri)], vec![]);
    agent.fail_processing = true;
    let mut broker = Broker::new(agent, loopback_config()).expect("broker");
    let result = broker.request_ta(&component()).await;
    assert!(matches!(result, Err(BrokerError::Agent(_))));
    assert_eq!(shared.requests().len(), 1);
    assert!(broker.agent().errors().is_empty());
}

/// A raw HTTP/1.1 server that answers one request with `head` followed by `chunks` chunks of
/// 1 KiB each in chunked transfer coding (no Content-Length: only the streaming check can
/// stop it).
async fn serve_chunked(chunks: usize) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let Ok((mut stream, _)) = listener.accept().await else { return };
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/teep+cbor\r\n\
                    transfer-encoding: chunked\r\n\r\n";
        if stream.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = [0x40u8; 1024];
        for _ in 0..chunks {
            let framed = [b"400\r\n".as_slice(), &chunk, b"\r\n"].concat();
            if stream.write_all(&framed).await.is_err() {
                return;
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n").await;
    });
    addr
}

#[tokio::test]
async fn undeclared_oversized_response_is_cut_off() {
    let addr = serve_chunked(64).await;
    let uri = format!("http://{addr}/tam");
    let config = BrokerConfig { max_response_bytes: 10_000, ..loopback_config() };
    let mut broker =
        Broker::new(FakeAgent::new(vec![connect(&uri)], vec![]), config).expect("broker");
    let result = broker.request_ta(&component()).await;
    assert!(matches!(
        result,
        Err(BrokerError::Transport {
            failure: TransportFailure::ResponseTooLarge { limit: 10_000 },
            ..
        })
    ));
    assert!(broker.agent().messages().is_empty());
}

#[tokio::test]
async fn chunked_response_within_the_limit_is_passed_on() {
    let addr = serve_chunked(4).await;
    let uri = format!("http://{addr}/tam");
    let mut broker =
        Broker::new(FakeAgent::new(vec![connect(&uri)], vec![None]), loopback_config())
            .expect("broker");
    broker.request_ta(&component()).await.expect("session");
    assert_eq!(broker.agent().messages(), [vec![0x40; 4096]]);
}
