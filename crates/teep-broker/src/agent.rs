//! The Agent side of the Broker: the TEEP Agent conceptual APIs of RFC 9397 §6.2.1 as the
//! Broker calls them.
//!
//! An implementation forwards each call to a TEEP Agent: over the Agent's IPC socket, to an
//! Agent running in the same process, or to a scripted fake in tests.

use core::future::Future;

use crate::error::{AgentError, TransportFailure};

/// A Trusted Component identifier: the SUIT_Component_Identifier of its manifest, a list of
/// byte strings (draft-ietf-teep-protocol-26 §4.3, draft-ietf-suit-manifest §8.4.5.1).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TrustedComponentId(pub Vec<Vec<u8>>);

impl TrustedComponentId {
    /// An identifier with one element.
    pub fn single(element: impl Into<Vec<u8>>) -> Self {
        Self(vec![element.into()])
    }
}

/// What the Agent passes back from RequestTA, UnrequestTA or RequestPolicyCheck
/// (draft-ietf-teep-otrp-over-http §5.1: "either (a) pass no data back, (b) pass back a TAM URI
/// to connect to, or (c) pass back a message and TAM URI to send it to").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentReply {
    /// (a) Nothing to do.
    Nothing,
    /// (b) Open a session with this TAM (POST an empty body).
    Connect {
        /// The TAM URI.
        tam_uri: String,
    },
    /// (c) Send this message to this TAM.
    Send {
        /// The TAM URI.
        tam_uri: String,
        /// The TEEP message (COSE-wrapped), opaque to the Broker.
        message: Vec<u8>,
    },
}

impl AgentReply {
    /// The TAM URI, if any.
    pub fn tam_uri(&self) -> Option<&str> {
        match self {
            Self::Nothing => None,
            Self::Connect { tam_uri } | Self::Send { tam_uri, .. } => Some(tam_uri),
        }
    }
}

/// The TEEP Agent as seen from the Broker (RFC 9397 §6.2.1).
///
/// Futures must be `Send` so that a Broker can run on a multi-threaded runtime.
pub trait AgentSide: Send {
    /// RequestTA: a Trusted Component is needed. `tam_uri` is the Broker's hint (from the
    /// installer or configuration); the Agent's answer names the TAM to use.
    fn request_ta(
        &mut self,
        component: &TrustedComponentId,
        tam_uri: Option<&str>,
    ) -> impl Future<Output = Result<AgentReply, AgentError>> + Send;

    /// UnrequestTA: a Trusted Component is no longer needed.
    fn unrequest_ta(
        &mut self,
        component: &TrustedComponentId,
        tam_uri: Option<&str>,
    ) -> impl Future<Output = Result<AgentReply, AgentError>> + Send;

    /// RequestPolicyCheck: returns one TAM per call; the Broker calls again until the Agent
    /// passes no data back (transport draft §5.5).
    fn request_policy_check(
        &mut self,
    ) -> impl Future<Output = Result<AgentReply, AgentError>> + Send;

    /// Called when the Broker ends a policy check, whether or not the Agent passed no data
    /// back (the Broker stops early on a failed session or a repeated TAM URI). An Agent side
    /// that buffers the TAM URIs of a check drops them here.
    fn policy_check_finished(&mut self) {}

    /// ProcessTeepMessage: a message from the TAM at `tam_uri`; returns the Agent's answer, or
    /// `None` when it has nothing to send.
    fn process_teep_message(
        &mut self,
        tam_uri: &str,
        message: &[u8],
    ) -> impl Future<Output = Result<Option<Vec<u8>>, AgentError>> + Send;

    /// ProcessError: the exchange with the TAM at `tam_uri` failed; the session is over.
    fn process_error(
        &mut self,
        tam_uri: &str,
        failure: &TransportFailure,
    ) -> impl Future<Output = Result<(), AgentError>> + Send;
}
