//! Test doubles and fixtures for the Broker integration tests: a scripted Agent, a recording
//! TAM-like HTTP server on 127.0.0.1:0, a real Verifier on 127.0.0.1:0, and the published
//! test vectors.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use teep_broker::{AgentError, AgentReply, AgentSide, TransportFailure, TrustedComponentId};
use teep_verifier::{Verifier, VerifierConfig};

/// The shared test vector directory.
pub const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors");

/// A call the Broker made into the fake Agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    RequestTa(TrustedComponentId, Option<String>),
    UnrequestTa(TrustedComponentId, Option<String>),
    PolicyCheck,
    Message { tam_uri: String, bytes: Vec<u8> },
    Error { tam_uri: String, failure: TransportFailure },
}

/// A scripted Agent: replies come from queues, every call is logged.
#[derive(Debug, Default)]
pub struct FakeAgent {
    pub replies: VecDeque<AgentReply>,
    pub answers: VecDeque<Option<Vec<u8>>>,
    pub fail_processing: bool,
    pub calls: Vec<Call>,
}

impl FakeAgent {
    pub fn new(replies: Vec<AgentReply>, answers: Vec<Option<Vec<u8>>>) -> Self {
        Self { replies: replies.into(), answers: answers.into(), ..Self::default() }
    }

    fn next_reply(&mut self) -> AgentReply {
        self.replies.pop_front().unwrap_or(AgentReply::Nothing)
    }

    pub fn errors(&self) -> Vec<TransportFailure> {
        self.calls
            .iter()
            .filter_map(|c| match c {
                Call::Error { failure, .. } => Some(failure.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn messages(&self) -> Vec<Vec<u8>> {
        self.calls
            .iter()
            .filter_map(|c| match c {
                Call::Message { bytes, .. } => Some(bytes.clone()),
                _ => None,
            })
            .collect()
    }
}

impl AgentSide for FakeAgent {
    async fn request_ta(
        &mut self,
        component: &TrustedComponentId,
        tam_uri: Option<&str>,
    ) -> Result<AgentReply, AgentError> {
        self.calls.push(Call::RequestTa(component.clone(), tam_uri.map(str::to_owned)));
        Ok(self.next_reply())
    }

    async fn unrequest_ta(
        &mut self,
        component: &TrustedComponentId,
        tam_uri: Option<&str>,
    ) -> Result<AgentReply, AgentError> {
        self.calls.push(Call::UnrequestTa(component.clone(), tam_uri.map(str::to_owned)));
        Ok(self.next_reply())
    }

    async fn request_policy_check(&mut self) -> Result<AgentReply, AgentError> {
        self.calls.push(Call::PolicyCheck);
        Ok(self.next_reply())
    }

    async fn process_teep_message(
        &mut self,
        tam_uri: &str,
        message: &[u8],
    ) -> Result<Option<Vec<u8>>, AgentError> {
        self.calls.push(Call::Message { tam_uri: tam_uri.to_owned(), bytes: message.to_vec() });
        if self.fail_processing {
            return Err(AgentError::Refused("scripted failure".into()));
        }
        Ok(self.answers.pop_front().flatten())
    }

    async fn process_error(
        &mut self,
        tam_uri: &str,
        failure: &TransportFailure,
    ) -> Result<(), AgentError> {
        self.calls.push(Call::Error { tam_uri: tam_uri.to_owned(), failure: failure.clone() });
        Ok(())
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub accept: Vec<String>,
    pub content_type: Vec<String>,
    pub cookie: bool,
    pub body: Vec<u8>,
}

/// One scripted response.
#[derive(Clone, Debug)]
pub struct Canned {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
    pub location: Option<String>,
    pub delay: Duration,
}

impl Canned {
    /// 200 with a TEEP message.
    pub fn teep(body: &[u8]) -> Self {
        Self {
            status: 200,
            content_type: Some("application/teep+cbor"),
            body: body.to_vec(),
            location: None,
            delay: Duration::ZERO,
        }
    }

    /// A status with no body.
    pub fn status(status: u16) -> Self {
        Self { status, content_type: None, body: Vec::new(), location: None, delay: Duration::ZERO }
    }
}

#[derive(Debug, Default)]
pub struct Shared {
    pub requests: Mutex<Vec<Recorded>>,
    pub script: Mutex<VecDeque<Canned>>,
}

impl Shared {
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let all = |name| {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or("<binary>").to_owned())
            .collect::<Vec<_>>()
    };
    let recorded = Recorded {
        method,
        path: uri.path().to_owned(),
        accept: all(header::ACCEPT),
        content_type: all(header::CONTENT_TYPE),
        cookie: headers.contains_key(header::COOKIE),
        body: body.to_vec(),
    };
    shared.requests.lock().expect("lock").push(recorded);

    let canned = shared.script.lock().expect("lock").pop_front().unwrap_or(Canned::status(204));
    tokio::time::sleep(canned.delay).await;
    let mut response =
        Response::builder().status(StatusCode::from_u16(canned.status).expect("status"));
    if let Some(ct) = canned.content_type {
        response = response.header(header::CONTENT_TYPE, ct);
    }
    if let Some(location) = canned.location {
        response = response.header(header::LOCATION, location);
    }
    response.body(Body::from(canned.body)).expect("response")
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

/// A plain-HTTP server on 127.0.0.1:0 that plays `script` and records requests.
pub async fn serve_http(script: Vec<Canned>) -> (SocketAddr, Arc<Shared>) {
    let shared = Arc::new(Shared { requests: Mutex::default(), script: Mutex::new(script.into()) });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = router(shared.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, shared)
}

/// Reads a test vector from the shared vector directory.
pub fn vector(path: &str) -> Vec<u8> {
    let full = format!("{}/../../../shared/vectors/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// Reads a hex test vector (`#` starts a comment) from the shared vector directory.
pub fn hex_vector(name: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(format!("{VECTORS}/{name}")).expect("vector");
    let digits: Vec<u8> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .flat_map(|l| l.bytes())
        .filter(u8::is_ascii_hexdigit)
        .collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).expect("ascii"), 16).expect("hex"))
        .collect()
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs()
}

/// The component the published examples install.
pub fn example_component() -> TrustedComponentId {
    TrustedComponentId(vec![
        b"TEEP-Device".to_vec(),
        b"SecureFS".to_vec(),
        vec![
            0x8d, 0x82, 0x57, 0x3a, 0x92, 0x6d, 0x47, 0x54, 0x93, 0x53, 0x32, 0xdc, 0x29, 0x99,
            0x7f, 0x74,
        ],
        b"ta".to_vec(),
    ])
}

/// A Verifier on 127.0.0.1:0 endorsing `attester`, with no reference-value constraints;
/// returns its URL, its public key file and the sender that stops it.
pub async fn verifier(
    dir: &Path,
    attester: &Path,
) -> (String, PathBuf, tokio::sync::oneshot::Sender<()>) {
    let config = VerifierConfig {
        state_dir: dir.to_owned(),
        attester_keys: vec![attester.to_owned()],
        ..VerifierConfig::default()
    };
    let verifier = Arc::new(Verifier::open(config).expect("verifier"));
    let key = dir.join("verifier.pub.pem");
    std::fs::write(&key, verifier.public_key().to_spki_pem()).expect("write key");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(teep_verifier::serve_on(verifier, listener, async move {
        let _ = stopped.await;
    }));
    (url, key, stop)
}
