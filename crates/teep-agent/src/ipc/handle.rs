//! [`AgentHandle`]: the conceptual API as a trait, over IPC or in-process.

use std::future::Future;
use std::sync::{Arc, Mutex};

use super::{AgentStatus, ComponentIdBytes, ErrorKind, IpcError, Request, Response, Service};

/// The RFC 9397 §6.2.1 calls a Broker makes on its Agent.
pub trait AgentHandle: Send + Sync {
    /// Performs one raw call.
    fn call(&self, request: Request) -> impl Future<Output = Result<Response, IpcError>> + Send;

    /// ProcessTeepMessage: hands a TAM's message to the Agent. `Ok(None)`: nothing to send
    /// back. A message the Agent drops (authentication failure, malformed) is
    /// `Err(IpcError::Agent { kind: ErrorKind::Rejected, .. })`.
    fn process_teep_message(
        &self,
        tam_uri: &str,
        message: &[u8],
    ) -> impl Future<Output = Result<Option<Vec<u8>>, IpcError>> + Send {
        let request =
            Request::ProcessTeepMessage { tam_uri: tam_uri.into(), message: message.to_vec() };
        async move {
            match self.call(request).await? {
                Response::TeepMessage(m) if m.is_empty() => Ok(None),
                Response::TeepMessage(m) => Ok(Some(m)),
                other => Err(unexpected(other, "ProcessTeepMessage")),
            }
        }
    }

    /// RequestTA: returns the TAM URI the Broker must contact, `None` when nothing is needed.
    fn request_ta(
        &self,
        component_id: ComponentIdBytes,
        tam_uri: Option<&str>,
    ) -> impl Future<Output = Result<Option<String>, IpcError>> + Send {
        let request = Request::RequestTa { component_id, tam_uri: tam_uri.map(Into::into) };
        async move {
            match self.call(request).await? {
                Response::TamUri(uri) => Ok(uri),
                other => Err(unexpected(other, "RequestTA")),
            }
        }
    }

    /// UnrequestTA: returns the TAM URI the Broker must contact, `None` when nothing is needed.
    fn unrequest_ta(
        &self,
        component_id: ComponentIdBytes,
    ) -> impl Future<Output = Result<Option<String>, IpcError>> + Send {
        async move {
            match self.call(Request::UnrequestTa { component_id }).await? {
                Response::TamUri(uri) => Ok(uri),
                other => Err(unexpected(other, "UnrequestTA")),
            }
        }
    }

    /// RequestPolicyCheck: every TAM URI the Broker should contact.
    fn request_policy_check(&self) -> impl Future<Output = Result<Vec<String>, IpcError>> + Send {
        async move {
            match self.call(Request::RequestPolicyCheck).await? {
                Response::TamUris(uris) => Ok(uris),
                other => Err(unexpected(other, "RequestPolicyCheck")),
            }
        }
    }

    /// Passport model: Evidence bound to `nonce`, for a Verifier ([`crate::passport`]).
    fn attest(&self, nonce: &[u8]) -> impl Future<Output = Result<Vec<u8>, IpcError>> + Send {
        let request = Request::Attest { nonce: nonce.to_vec() };
        async move {
            match self.call(request).await? {
                Response::Evidence(evidence) => Ok(evidence),
                other => Err(unexpected(other, "Attest")),
            }
        }
    }

    /// Passport model: hands the Agent the Attestation Result for `nonce`.
    fn present_attestation_result(
        &self,
        nonce: &[u8],
        result: Vec<u8>,
    ) -> impl Future<Output = Result<(), IpcError>> + Send {
        let request = Request::PresentAttestationResult { nonce: nonce.to_vec(), result };
        async move {
            match self.call(request).await? {
                Response::Accepted => Ok(()),
                other => Err(unexpected(other, "PresentAttestationResult")),
            }
        }
    }

    /// Status: installed components and pending requests.
    fn status(&self) -> impl Future<Output = Result<AgentStatus, IpcError>> + Send {
        async move {
            match self.call(Request::Status).await? {
                Response::Status(s) => Ok(s),
                other => Err(unexpected(other, "Status")),
            }
        }
    }
}

fn unexpected(response: Response, call: &'static str) -> IpcError {
    match response {
        Response::Error { kind, message } => IpcError::Agent { kind, message },
        _ => IpcError::UnexpectedResponse(call),
    }
}

/// An Agent in the same process, behind the same API as the socket [`super::Client`].
///
/// Calls run on tokio's blocking pool (they may fetch payloads and write files).
pub struct InProcess<S> {
    service: Arc<Mutex<S>>,
}

impl<S> Clone for InProcess<S> {
    fn clone(&self) -> Self {
        Self { service: Arc::clone(&self.service) }
    }
}

impl<S: Service + Send + 'static> InProcess<S> {
    /// Wraps a service (normally an `Agent`).
    pub fn new(service: S) -> Self {
        Self { service: Arc::new(Mutex::new(service)) }
    }

    /// The shared service, e.g. to serve it on a socket as well.
    pub fn shared(&self) -> Arc<Mutex<S>> {
        Arc::clone(&self.service)
    }
}

impl<S: Service + Send + 'static> AgentHandle for InProcess<S> {
    async fn call(&self, request: Request) -> Result<Response, IpcError> {
        let service = Arc::clone(&self.service);
        tokio::task::spawn_blocking(move || call_locked(&service, request))
            .await
            .map_err(|_| IpcError::Task)
    }
}

/// Runs one call on a shared service; a poisoned lock becomes an internal error.
pub(super) fn call_locked<S: Service>(service: &Mutex<S>, request: Request) -> Response {
    match service.lock() {
        Ok(mut s) => s.call(request),
        Err(_) => Response::Error {
            kind: ErrorKind::Internal,
            message: "agent state unavailable after an earlier failure".into(),
        },
    }
}
