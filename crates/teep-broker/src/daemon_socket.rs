//! The Broker daemon's local socket: what untrusted applications and installers send to
//! `teep broker serve`, and the client they use.
//!
//! RFC 9397 §6.2 leaves the API between an untrusted application and the Broker to the
//! implementation. Here it is one request and one response per connection, each a frame of
//! the Agent IPC framing (`[u32 big-endian length][body]`, [`teep_agent::ipc::frame`]) whose
//! body is a JSON object. Frames are bounded by [`MAX_DAEMON_FRAME`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use teep_agent::ipc::frame::{read_frame, write_frame};
use tokio::net::UnixStream;

/// Largest request or response body on the daemon socket (component ids and a status are
/// small; 1 MiB leaves room for a status listing thousands of components).
pub const MAX_DAEMON_FRAME: u32 = 1 << 20;

/// A call on the daemon socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case", deny_unknown_fields)]
pub enum DaemonRequest {
    /// RequestTA (RFC 9397 §6.2.1) for a component (SUIT_Component_Identifier parts).
    RequestTa {
        /// The component identifier's byte strings.
        component: Vec<Vec<u8>>,
    },
    /// UnrequestTA (RFC 9397 §6.2.1).
    UnrequestTa {
        /// The component identifier's byte strings.
        component: Vec<Vec<u8>>,
    },
    /// RequestPolicyCheck now, outside the schedule.
    PolicyCheck {},
    /// The daemon's schedule, per-TAM health and the Agent's components.
    Status {},
}

/// A completed TEEP session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionOutcome {
    /// The TAM URI the Agent named.
    pub tam_uri: String,
    /// HTTP POSTs made.
    pub round_trips: u32,
}

/// A TEEP session that failed at the transport level.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedSession {
    /// The TAM URI posted to.
    pub tam_uri: String,
    /// What failed.
    pub failure: String,
}

/// What an operation (RequestTA, UnrequestTA, RequestPolicyCheck) did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationOutcome {
    /// Sessions that completed.
    pub sessions: Vec<SessionOutcome>,
    /// Sessions that failed (the check went on with the next TAM).
    pub failures: Vec<FailedSession>,
    /// TEEP Error messages the Agent sent: an install or delete failed inside the TEE.
    pub agent_errors: u32,
    /// Attempts made (more than one after retried network errors).
    pub attempts: u32,
    /// The transcript of the last attempt, one line per step.
    pub transcript: Vec<String>,
    /// Passport attempts the operation made (empty in the background-check model).
    #[serde(default)]
    pub passport: Vec<PassportAttempt>,
}

/// One attempt of the passport model (RFC 9334 §5.1): the Broker took the Agent's Evidence to
/// the Verifier for a TAM's QueryRequest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassportAttempt {
    /// The TAM whose QueryRequest asked for attestation.
    pub tam_uri: String,
    /// The Agent holds an Attestation Result for the challenge; when false the Agent fell
    /// back to sending Evidence (background-check model) for this session.
    pub presented: bool,
    /// What happened (the result's size, or why no result was obtained).
    pub detail: String,
    /// Unix time of the attempt.
    pub at_unix: u64,
}

impl PassportAttempt {
    /// The view of `outcome`, seen at `at_unix`.
    pub fn new(outcome: crate::passport::PassportOutcome, at_unix: u64) -> Self {
        use crate::passport::PassportOutcome;
        match outcome {
            PassportOutcome::Presented { tam_uri, result_len } => Self {
                tam_uri,
                presented: true,
                detail: format!("attestation result of {result_len} bytes handed to the Agent"),
                at_unix,
            },
            PassportOutcome::Failed { tam_uri, reason } => {
                Self { tam_uri, presented: false, detail: reason, at_unix }
            }
        }
    }
}

/// The last outcome seen from one TAM.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TamHealth {
    /// The TAM URI.
    pub tam_uri: String,
    /// Completed sessions so far.
    pub sessions: u64,
    /// Failed sessions in a row (0 after a success).
    pub consecutive_failures: u32,
    /// Unix time of the last completed session.
    pub last_success_unix: Option<u64>,
    /// The last failure.
    pub last_failure: Option<String>,
}

/// One installed component, as the Agent reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentView {
    /// SUIT_Component_Identifier parts.
    pub component: Vec<Vec<u8>>,
    /// Sequence number of the manifest that installed it.
    pub sequence_number: Option<u64>,
}

/// The daemon's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonStatus {
    /// Policy checks run (scheduled and requested).
    pub policy_checks: u64,
    /// Failed policy checks in a row (a check fails when any of its TAM sessions failed).
    pub consecutive_failures: u32,
    /// Unix time of the last policy check.
    pub last_check_unix: Option<u64>,
    /// Milliseconds until the next scheduled check, when one is scheduled.
    pub next_check_in_ms: Option<u64>,
    /// Every TAM contacted so far.
    pub tams: Vec<TamHealth>,
    /// Components installed in the TEE (empty when the Agent could not be asked).
    pub installed: Vec<ComponentView>,
    /// Components requested and not yet installed.
    pub requested: Vec<Vec<Vec<u8>>>,
    /// Why the Agent could not be asked, if it could not.
    pub agent_error: Option<String>,
    /// The Verifier the Broker takes Evidence to (passport model); `None`: background-check
    /// model.
    #[serde(default)]
    pub verifier_url: Option<String>,
    /// The latest passport attempts, oldest first.
    #[serde(default)]
    pub passport: Vec<PassportAttempt>,
}

/// The daemon's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case", deny_unknown_fields)]
pub enum DaemonResponse {
    /// The operation ran.
    Done {
        /// What it did.
        outcome: OperationOutcome,
    },
    /// The status.
    Status {
        /// The state.
        status: DaemonStatus,
    },
    /// The operation failed.
    Error {
        /// Why.
        message: String,
    },
}

/// Errors of a daemon socket client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonClientError {
    /// The socket could not be reached.
    #[error("cannot reach the Broker daemon at {path}: {source}")]
    Connect {
        /// The socket path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Framing or socket failure during the call.
    #[error("Broker daemon socket: {0}")]
    Frame(#[from] teep_agent::ipc::FrameError),
    /// The body is not a valid message.
    #[error("malformed message on the Broker daemon socket: {0}")]
    Malformed(String),
}

/// Encodes a message as a frame body.
pub(crate) fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, DaemonClientError> {
    serde_json::to_vec(message).map_err(|e| DaemonClientError::Malformed(e.to_string()))
}

/// Decodes a frame body.
pub(crate) fn decode<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, DaemonClientError> {
    serde_json::from_slice(body).map_err(|e| DaemonClientError::Malformed(e.to_string()))
}

/// The answer to a request frame that could not be read, when the client can still be told
/// (an announced length above [`MAX_DAEMON_FRAME`], as the Agent socket answers it); `None`
/// when the connection itself failed or closed, so nobody would read an answer.
pub(crate) fn unreadable_request(error: &teep_agent::ipc::FrameError) -> Option<DaemonResponse> {
    match error {
        teep_agent::ipc::FrameError::TooLarge { len, max } => Some(DaemonResponse::Error {
            message: format!(
                "request frame of {len} bytes refused: the Broker daemon socket accepts at most \
                 {max} bytes per frame ([u32 big-endian length][JSON body])"
            ),
        }),
        _ => None,
    }
}

/// After answering a refused request: stops writing and discards what the client still
/// sends (at most [`MAX_DAEMON_FRAME`] bytes, for at most `wait`), so that closing the socket
/// with unread input does not reset the connection before the client read the answer.
pub(crate) async fn discard_input(stream: &mut UnixStream, wait: std::time::Duration) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let _ = stream.shutdown().await;
    let drain = async {
        let mut buffer = [0u8; 8192];
        let mut left = MAX_DAEMON_FRAME as usize;
        while left > 0 {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(wait, drain).await;
}

/// A client of the daemon socket (`teep broker request-ta` and friends).
#[derive(Clone, Debug)]
pub struct DaemonClient {
    path: PathBuf,
}

impl DaemonClient {
    /// A client of the daemon listening on `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends one request and waits for the answer (operations can take as long as their TEEP
    /// sessions).
    pub async fn call(&self, request: &DaemonRequest) -> Result<DaemonResponse, DaemonClientError> {
        let mut stream = UnixStream::connect(&self.path).await.map_err(|source| {
            DaemonClientError::Connect { path: self.path.display().to_string(), source }
        })?;
        write_frame(&mut stream, &encode(request)?, MAX_DAEMON_FRAME).await?;
        let body = read_frame(&mut stream, MAX_DAEMON_FRAME).await?;
        decode(&body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_reject_unknown_fields() {
        for request in [
            DaemonRequest::RequestTa { component: vec![b"a".to_vec(), vec![0, 255]] },
            DaemonRequest::UnrequestTa { component: vec![] },
            DaemonRequest::PolicyCheck {},
            DaemonRequest::Status {},
        ] {
            let bytes = encode(&request).unwrap_or_default();
            assert_eq!(decode::<DaemonRequest>(&bytes).ok(), Some(request));
        }
        for bad in [
            &br#"{"call":"status","x":1}"#[..],
            br#"{"call":"format_disk"}"#,
            br#"{"call":"request_ta","component":[[256]]}"#,
            br#"{"call":"#,
            b"",
        ] {
            assert!(decode::<DaemonRequest>(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn deep_json_is_refused() {
        let mut deep = b"{\"call\":\"request_ta\",\"component\":".to_vec();
        deep.extend(std::iter::repeat_n(b'[', 100_000));
        assert!(decode::<DaemonRequest>(&deep).is_err());
    }
}
