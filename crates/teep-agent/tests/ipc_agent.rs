//! The real Agent behind the Unix socket: the Broker's view of the conceptual API.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use teep_agent::ipc::{self, AgentHandle, Client, ErrorKind, InProcess, IpcError};
use teep_proto::{DataItemRequested, Message, Numbering};

const TOKEN: &[u8] = b"ipc-token-012345";

#[tokio::test]
async fn broker_drives_an_install_over_the_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let agent = agent_in(&dir.path().join("state"), config(&tam, vec![]));
    let agent_key = agent.public_key();
    let socket = dir.path().join("agent.sock");
    let listener = ipc::bind(&socket).expect("bind");
    let shared = Arc::new(Mutex::new(agent));
    tokio::spawn(ipc::serve_listener(
        listener,
        shared,
        ipc::DEFAULT_MAX_FRAME,
        std::future::pending(),
    ));
    let client = Client::connect(&socket).await.expect("connect");

    // RequestTA names the TAM to contact.
    let component = vec![b"TEEP-Device".to_vec(), b"wanted".to_vec()];
    let uri = client.request_ta(component.clone(), None).await.expect("RequestTA");
    assert_eq!(uri.as_deref(), Some(TAM_URI));

    // QueryRequest -> QueryResponse listing the requested component.
    let q = tam.query_request(TOKEN, DataItemRequested::TRUSTED_COMPONENTS);
    let reply = client.process_teep_message(TAM_URI, &q).await.expect("process").expect("reply");
    match open_response(&reply, &agent_key, Numbering::Rfc) {
        Message::QueryResponse(r) => {
            let requested = r.requested_tc_list.expect("requested-tc-list");
            assert_eq!(requested[0].component_id.0, component);
        }
        other => panic!("{other:?}"),
    }

    // Update -> Success, and Status shows the installed component.
    let envelope = hex_vector("teep-protocol/suit_integrated.hex.txt");
    let u = tam.update(TOKEN, vec![envelope], vec![]);
    let reply = client.process_teep_message(TAM_URI, &u).await.expect("process").expect("reply");
    assert!(matches!(open_response(&reply, &agent_key, Numbering::Rfc), Message::Success(_)));
    let status = client.status().await.expect("status");
    assert_eq!(status.agent_kid, agent_key.thumbprint().to_vec());
    assert_eq!(status.installed.len(), 1);
    assert_eq!(status.installed[0].sequence_number, Some(3));
    assert_eq!(status.requested, vec![component]);

    // A message from an unknown key is rejected with no TEEP reply.
    let stranger = Tam::new();
    let bad = stranger.query_request(TOKEN, DataItemRequested::TRUSTED_COMPONENTS);
    match client.process_teep_message(TAM_URI, &bad).await {
        Err(IpcError::Agent { kind: ErrorKind::Rejected, .. }) => {}
        other => panic!("expected rejection, got {other:?}"),
    }
    assert_eq!(client.request_policy_check().await.expect("policy"), vec![TAM_URI.to_string()]);
}

#[tokio::test]
async fn in_process_handle_runs_the_same_agent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let agent = agent_in(dir.path(), config(&tam, vec![]));
    let agent_key = agent.public_key();
    let handle = InProcess::new(agent);
    let q = tam.query_request(TOKEN, DataItemRequested::TRUSTED_COMPONENTS);
    let reply = handle.process_teep_message(TAM_URI, &q).await.expect("process").expect("reply");
    assert!(matches!(open_response(&reply, &agent_key, Numbering::Rfc), Message::QueryResponse(_)));
    assert!(handle.status().await.expect("status").installed.is_empty());
}

#[tokio::test]
async fn uri_fetch_runs_on_the_blocking_pool_behind_the_socket() {
    use std::io::{BufRead, BufReader, Write};
    let ta = std::fs::read(vector(&format!("teep-protocol/{TA_FILE}"))).expect("ta");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}/", listener.local_addr().expect("addr"));
    let body = ta.clone();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while reader.read_line(&mut line).expect("read") > 2 {
            line.clear();
        }
        let mut stream = reader.into_inner();
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
        stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&body)).expect("write");
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let tam = Tam::new();
    let mirror = teep_agent::software::config::Mirror {
        prefix: "https://example.org/".into(),
        target: base,
    };
    let agent = agent_in(&dir.path().join("state"), config(&tam, vec![mirror]));
    let agent_key = agent.public_key();
    let socket = dir.path().join("agent.sock");
    let listener = ipc::bind(&socket).expect("bind");
    tokio::spawn(ipc::serve_listener(
        listener,
        Arc::new(Mutex::new(agent)),
        ipc::DEFAULT_MAX_FRAME,
        std::future::pending(),
    ));
    let client = Client::connect(&socket).await.expect("connect");
    let envelope = hex_vector("teep-protocol/suit_uri.hex.txt");
    let u = tam.update(TOKEN, vec![envelope], vec![]);
    let reply = client.process_teep_message(TAM_URI, &u).await.expect("process").expect("reply");
    let msg = open_response(&reply, &agent_key, Numbering::Rfc);
    assert!(matches!(msg, Message::Success(_)), "{msg:?}");
    server.join().expect("server");
    let status = client.status().await.expect("status");
    assert_eq!(status.installed.len(), 1);
}
