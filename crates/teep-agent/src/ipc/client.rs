//! The Broker's end of the IPC socket.

use std::path::Path;

use tokio::net::UnixStream;
use tokio::sync::Mutex;

use super::frame::{DEFAULT_MAX_FRAME, read_frame, write_frame};
use super::{AgentHandle, IpcError, Request, Response};

/// A connection to an Agent's IPC socket. Calls are serialized over the one connection.
#[derive(Debug)]
pub struct Client {
    stream: Mutex<UnixStream>,
    max_frame: u32,
}

impl Client {
    /// Connects to the Agent listening on `path`.
    pub async fn connect(path: impl AsRef<Path>) -> std::io::Result<Self> {
        let stream = UnixStream::connect(path).await?;
        Ok(Self { stream: Mutex::new(stream), max_frame: DEFAULT_MAX_FRAME })
    }

    /// Sets the largest frame this client sends or accepts.
    pub fn with_max_frame(mut self, max_frame: u32) -> Self {
        self.max_frame = max_frame;
        self
    }

    /// Sends one request and waits for its response.
    pub async fn call(&self, request: &Request) -> Result<Response, IpcError> {
        let mut stream = self.stream.lock().await;
        write_frame(&mut *stream, &request.encode(), self.max_frame).await?;
        let body = read_frame(&mut *stream, self.max_frame).await?;
        Ok(Response::decode(&body)?)
    }
}

impl AgentHandle for Client {
    async fn call(&self, request: Request) -> Result<Response, IpcError> {
        Client::call(self, &request).await
    }
}
