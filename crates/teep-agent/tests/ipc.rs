//! IPC over a real Unix socket: framing limits, garbage, and the conceptual API round trip.

use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};

use teep_agent::ipc::{
    self, AgentHandle, AgentStatus, Client, ErrorKind, InProcess, IpcError, Request, Response,
    Service,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// A stand-in service that echoes what it was asked, to test transport only.
struct Echo;

impl Service for Echo {
    fn call(&mut self, request: Request) -> Response {
        match request {
            Request::ProcessTeepMessage { message, .. } if message == b"drop" => {
                Response::Error { kind: ErrorKind::Rejected, message: "bad signature".into() }
            }
            Request::ProcessTeepMessage { message, .. } => Response::TeepMessage(message),
            Request::RequestTa { tam_uri, .. } => Response::TamUri(tam_uri),
            Request::UnrequestTa { .. } => Response::TamUri(None),
            Request::RequestPolicyCheck => Response::TamUris(vec!["http://127.0.0.1:1/".into()]),
            Request::Status => Response::Status(AgentStatus::default()),
            Request::Attest { nonce } => Response::Evidence(nonce),
            Request::PresentAttestationResult { .. } => Response::Accepted,
        }
    }
}

async fn start(max_frame: u32) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("agent.sock");
    let listener = ipc::bind(&path).expect("bind");
    let service = Arc::new(Mutex::new(Echo));
    tokio::spawn(ipc::serve_listener(listener, service, max_frame, std::future::pending()));
    (dir, path)
}

#[tokio::test]
async fn socket_is_private_and_calls_round_trip() {
    let (_dir, path) = start(ipc::DEFAULT_MAX_FRAME).await;
    let mode = std::fs::metadata(&path).expect("socket").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let client = Client::connect(&path).await.expect("connect");
    assert_eq!(client.process_teep_message("t", b"abc").await.ok(), Some(Some(b"abc".to_vec())));
    assert_eq!(client.process_teep_message("t", b"").await.ok(), Some(None));
    match client.process_teep_message("t", b"drop").await {
        Err(IpcError::Agent { kind: ErrorKind::Rejected, message }) => {
            assert_eq!(message, "bad signature")
        }
        other => panic!("expected rejection, got {other:?}"),
    }
    let uri = client.request_ta(vec![b"ta".to_vec()], Some("http://127.0.0.1:9/tam")).await;
    assert_eq!(uri.ok(), Some(Some("http://127.0.0.1:9/tam".to_string())));
    assert_eq!(client.unrequest_ta(vec![]).await.ok(), Some(None));
    assert_eq!(client.request_policy_check().await.ok().map(|v| v.len()), Some(1));
    assert_eq!(client.status().await.ok(), Some(AgentStatus::default()));
}

#[tokio::test]
async fn oversize_frame_is_refused_without_reading_it() {
    let (_dir, path) = start(1024).await;
    let mut raw = UnixStream::connect(&path).await.expect("connect");
    raw.write_all(&2048u32.to_be_bytes()).await.expect("write");
    let mut reply = Vec::new();
    raw.read_to_end(&mut reply).await.expect("read");
    let body = reply.get(4..).expect("framed reply");
    match Response::decode(body) {
        Ok(Response::Error { kind: ErrorKind::BadRequest, message }) => {
            assert!(message.contains("exceeds"), "{message}")
        }
        other => panic!("unexpected {other:?}"),
    }

    // A client with a small limit refuses to send a large request.
    let client = Client::connect(&path).await.expect("connect").with_max_frame(16);
    assert!(matches!(
        client.process_teep_message("t", &[0; 64]).await,
        Err(IpcError::Frame(ipc::FrameError::TooLarge { .. }))
    ));
}

#[tokio::test]
async fn garbage_frames_get_an_error_and_the_server_survives() {
    let (_dir, path) = start(ipc::DEFAULT_MAX_FRAME).await;
    let garbage: [&[u8]; 5] = [&[], &[0xff], &[0x9f, 0x05, 0xff], &[0x81, 0x09], &[0x82, 0x05, 0]];
    for body in garbage {
        let mut raw = UnixStream::connect(&path).await.expect("connect");
        raw.write_all(&(body.len() as u32).to_be_bytes()).await.expect("write");
        raw.write_all(body).await.expect("write");
        let mut len = [0u8; 4];
        raw.read_exact(&mut len).await.expect("reply header");
        let mut reply = vec![0; u32::from_be_bytes(len) as usize];
        raw.read_exact(&mut reply).await.expect("reply");
        assert!(
            matches!(
                Response::decode(&reply),
                Ok(Response::Error { kind: ErrorKind::BadRequest, .. })
            ),
            "{body:?}"
        );
    }
    // A truncated frame followed by close does not take the server down.
    let mut raw = UnixStream::connect(&path).await.expect("connect");
    raw.write_all(&[0, 0, 0, 9, 1]).await.expect("write");
    drop(raw);
    let client = Client::connect(&path).await.expect("connect");
    assert!(client.status().await.is_ok());
}

#[tokio::test]
async fn in_process_handle_matches_the_socket_api() {
    let handle = InProcess::new(Echo);
    assert_eq!(handle.process_teep_message("t", b"x").await.ok(), Some(Some(b"x".to_vec())));
    assert_eq!(handle.request_policy_check().await.ok().map(|v| v.len()), Some(1));
}
