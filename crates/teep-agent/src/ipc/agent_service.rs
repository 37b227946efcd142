//! The Agent as an IPC [`Service`]: maps each conceptual-API call onto [`Agent`].

use std::time::{SystemTime, UNIX_EPOCH};

use super::{AgentStatus, ErrorKind, InstalledComponent, Request, Response, Service};
use crate::{Agent, AgentError, AgentPlatform};

impl<P: AgentPlatform> Service for Agent<P> {
    fn call(&mut self, request: Request) -> Response {
        match request {
            Request::ProcessTeepMessage { tam_uri, message } => {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                match self.handle_from(Some(&tam_uri), &message, now) {
                    Ok(reply) => {
                        tracing::debug!(tam = %tam_uri, reply_len = reply.len(), "TEEP message handled");
                        Response::TeepMessage(reply)
                    }
                    Err(AgentError::Rejected(r)) => {
                        tracing::warn!(tam = %tam_uri, reason = %r, "TEEP message rejected");
                        Response::Error { kind: ErrorKind::Rejected, message: r.to_string() }
                    }
                    Err(e) => {
                        tracing::error!(tam = %tam_uri, error = %e, "TEEP message not handled");
                        Response::Error { kind: ErrorKind::Internal, message: e.to_string() }
                    }
                }
            }
            Request::RequestTa { component_id, tam_uri } => api_reply(
                self.request_ta(teep_proto::ComponentId(component_id), tam_uri.as_deref()),
            ),
            Request::UnrequestTa { component_id } => {
                api_reply(self.unrequest_ta(teep_proto::ComponentId(component_id)))
            }
            Request::RequestPolicyCheck => Response::TamUris(self.request_policy_check()),
            Request::Status => Response::Status(status(self)),
            Request::Attest { nonce } => {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                match self.passport_evidence(&nonce, now) {
                    Ok(evidence) => Response::Evidence(evidence),
                    Err(e) => {
                        Response::Error { kind: ErrorKind::BadRequest, message: e.to_string() }
                    }
                }
            }
            Request::PresentAttestationResult { nonce, result } => {
                match self.present_attestation_result(nonce, result) {
                    Ok(()) => Response::Accepted,
                    Err(e) => {
                        Response::Error { kind: ErrorKind::BadRequest, message: e.to_string() }
                    }
                }
            }
        }
    }
}

fn api_reply(result: Result<Option<String>, crate::ApiError>) -> Response {
    match result {
        Ok(uri) => Response::TamUri(uri),
        Err(e) => Response::Error { kind: ErrorKind::BadRequest, message: e.to_string() },
    }
}

/// The Agent's status as reported over IPC.
pub fn status<P: AgentPlatform>(agent: &Agent<P>) -> AgentStatus {
    let integrity = agent.platform().store_integrity();
    AgentStatus {
        agent_kid: agent.kid().to_vec(),
        installed: agent
            .platform()
            .installed()
            .into_iter()
            .map(|tc| InstalledComponent {
                component_id: tc.manifest_id.0,
                sequence_number: Some(tc.sequence_number),
                image_digest: tc.image_digest.map(|d| d.bytes),
                owner: tc.owner.map(|o| o.0.to_vec()),
                domain: tc.domain.map(|d| d.0),
            })
            .collect(),
        requested: agent.requested().into_iter().map(|id| id.0).collect(),
        unneeded: agent.unneeded().into_iter().map(|id| id.0).collect(),
        tampered: integrity.tampered,
        quarantined: integrity.quarantined,
    }
}
