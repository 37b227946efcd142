//! [`AgentSide`] over the Agent's IPC API (`teep_agent::ipc`): the Unix-socket client of
//! `teep agent serve`, or the Agent in the same process.
//!
//! Two adaptations to the IPC API as it stands:
//! - RequestPolicyCheck answers with every TAM URI at once; [`IpcAgent`] hands them out one per
//!   call and then passes no data back, which is the shape draft-ietf-teep-otrp-over-http §5.5
//!   describes.
//! - The IPC has no ProcessError call; the failure is logged and the Agent is not told. The
//!   Agent keeps no transport state between calls, so nothing is left dangling, but an Agent
//!   that wants to react to transport failures cannot yet.

use std::collections::VecDeque;
use std::path::Path;

use teep_agent::ipc::{AgentHandle, Client, IpcError};
use tracing::debug;

use crate::agent::{AgentReply, AgentSide, TrustedComponentId};
use crate::error::{AgentError, ConfigError, TransportFailure};

/// An Agent reached through a `teep_agent::ipc::AgentHandle` (socket client or in-process).
#[derive(Debug)]
pub struct IpcAgent<H> {
    handle: H,
    /// TAM URIs of the current policy check not yet handed out (`None`: no check running).
    policy_check: Option<VecDeque<String>>,
}

impl IpcAgent<Client> {
    /// Connects to the Agent's IPC socket at `path`.
    pub async fn connect(path: impl AsRef<Path>) -> Result<Self, AgentError> {
        let path = path.as_ref();
        let client = Client::connect(path)
            .await
            .map_err(|e| AgentError::Unreachable(format!("{}: {e}", path.display())))?;
        Ok(Self::new(client))
    }
}

impl crate::Broker<IpcAgent<Client>> {
    /// A Broker for the Agent listening on `config.agent_socket`.
    pub async fn connect(config: crate::BrokerConfig) -> Result<Self, crate::BrokerError> {
        let Some(path) = config.agent_socket.clone() else {
            return Err(ConfigError::Invalid("agent_socket is not set").into());
        };
        let agent = IpcAgent::connect(&path).await?;
        Ok(Self::new(agent, config)?)
    }
}

impl<H: AgentHandle> IpcAgent<H> {
    /// Wraps a handle.
    pub fn new(handle: H) -> Self {
        Self { handle, policy_check: None }
    }

    /// The wrapped handle (e.g. to ask the Agent for its status).
    pub fn handle(&self) -> &H {
        &self.handle
    }
}

impl<H: AgentHandle> AgentSide for IpcAgent<H> {
    async fn request_ta(
        &mut self,
        component: &TrustedComponentId,
        tam_uri: Option<&str>,
    ) -> Result<AgentReply, AgentError> {
        let uri =
            self.handle.request_ta(component.0.clone(), tam_uri).await.map_err(agent_error)?;
        Ok(connect_or_nothing(uri))
    }

    async fn unrequest_ta(
        &mut self,
        component: &TrustedComponentId,
        _tam_uri: Option<&str>,
    ) -> Result<AgentReply, AgentError> {
        let uri = self.handle.unrequest_ta(component.0.clone()).await.map_err(agent_error)?;
        Ok(connect_or_nothing(uri))
    }

    async fn request_policy_check(&mut self) -> Result<AgentReply, AgentError> {
        let pending = match &mut self.policy_check {
            Some(pending) => pending,
            None => {
                let uris = self.handle.request_policy_check().await.map_err(agent_error)?;
                self.policy_check.insert(uris.into())
            }
        };
        match pending.pop_front() {
            Some(tam_uri) => Ok(AgentReply::Connect { tam_uri }),
            None => {
                // The check is over; the next call starts a new one.
                self.policy_check = None;
                Ok(AgentReply::Nothing)
            }
        }
    }

    fn policy_check_finished(&mut self) {
        self.policy_check = None;
    }

    async fn process_teep_message(
        &mut self,
        tam_uri: &str,
        message: &[u8],
    ) -> Result<Option<Vec<u8>>, AgentError> {
        self.handle.process_teep_message(tam_uri, message).await.map_err(agent_error)
    }

    async fn process_error(
        &mut self,
        tam_uri: &str,
        failure: &TransportFailure,
    ) -> Result<(), AgentError> {
        // The IPC has no ProcessError call yet (see the module documentation).
        debug!(tam_uri, %failure, "ProcessError not delivered: the Agent IPC has no such call");
        Ok(())
    }
}

fn connect_or_nothing(uri: Option<String>) -> AgentReply {
    match uri {
        Some(tam_uri) => AgentReply::Connect { tam_uri },
        None => AgentReply::Nothing,
    }
}

fn agent_error(error: IpcError) -> AgentError {
    match error {
        IpcError::Frame(e) => AgentError::Unreachable(e.to_string()),
        IpcError::Task => AgentError::Unreachable(error.to_string()),
        IpcError::Agent { .. } => AgentError::Refused(error.to_string()),
        other => AgentError::Malformed(other.to_string()),
    }
}
