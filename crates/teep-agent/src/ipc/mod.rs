//! Broker <-> Agent IPC: the RFC 9397 §6.2.1 conceptual API over a Unix socket.
//!
//! Each call is one request frame answered by one response frame; a frame is
//! `[u32 big-endian length][CBOR body]` ([`frame`]), the bodies are [`Request`] and [`Response`]
//! ([`message`]). [`Client`] is the Broker's side, [`serve`] the Agent's. [`AgentHandle`] is the
//! same API as a trait, implemented by [`Client`] and by [`InProcess`] (the Agent in the same
//! process, for tests and the demo).

pub mod frame;
pub mod message;

mod agent_service;
mod client;
mod handle;
mod server;

pub use agent_service::status;
pub use client::Client;
pub use frame::{DEFAULT_MAX_FRAME, FrameError};
pub use handle::{AgentHandle, InProcess};
pub use message::{
    AgentStatus, ComponentIdBytes, ErrorKind, InstalledComponent, MessageError, Request, Response,
};
pub use server::{Service, bind, serve, serve_listener};

use std::fmt;

/// Errors seen by a caller of the IPC API.
#[non_exhaustive]
#[derive(Debug)]
pub enum IpcError {
    /// Framing or socket failure.
    Frame(FrameError),
    /// The peer sent a body that is not a valid message.
    Message(MessageError),
    /// The Agent answered with an error.
    Agent {
        /// What kind of failure.
        kind: ErrorKind,
        /// The Agent's reason.
        message: String,
    },
    /// The Agent answered with a response of the wrong kind for the call.
    UnexpectedResponse(&'static str),
    /// The in-process Agent task failed (panicked or was cancelled).
    Task,
}

impl fmt::Display for IpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Frame(e) => e.fmt(f),
            Self::Message(e) => e.fmt(f),
            Self::Agent { kind, message } => write!(f, "agent: {kind}: {message}"),
            Self::UnexpectedResponse(call) => write!(f, "unexpected response to {call}"),
            Self::Task => f.write_str("in-process agent task failed"),
        }
    }
}

impl std::error::Error for IpcError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Frame(e) => Some(e),
            Self::Message(e) => Some(e),
            _ => None,
        }
    }
}

impl From<FrameError> for IpcError {
    fn from(e: FrameError) -> Self {
        Self::Frame(e)
    }
}

impl From<MessageError> for IpcError {
    fn from(e: MessageError) -> Self {
        Self::Message(e)
    }
}
