//! The Agent's end of the IPC socket.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::net::{UnixListener, UnixStream};

use super::frame::{FrameError, read_frame, write_frame};
use super::handle::call_locked;
use super::{ErrorKind, Request, Response};

/// Something that answers IPC requests (the Agent). Calls may block.
pub trait Service {
    /// Answers one request.
    fn call(&mut self, request: Request) -> Response;
}

/// Binds a Unix socket at `path` with mode 0600, replacing a stale socket file.
///
/// Refuses to replace anything that is not a socket, and a socket that still accepts
/// connections (another Agent is serving on it): only a stale one is removed.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!("{} is in use: another Agent is listening on it", path.display()),
                    ));
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
                    ) =>
                {
                    std::fs::remove_file(path)?
                }
                Err(e) => return Err(e),
            }
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Binds `socket_path` (mode 0600) and serves `service` until the process ends.
pub async fn serve<S: Service + Send + 'static>(socket_path: &Path, service: S) -> io::Result<()> {
    let listener = bind(socket_path)?;
    serve_listener(listener, Arc::new(Mutex::new(service)), super::DEFAULT_MAX_FRAME, async {
        std::future::pending::<()>().await
    })
    .await
}

/// Serves connections from `listener` until `shutdown` completes.
pub async fn serve_listener<S, F>(
    listener: UnixListener,
    service: Arc<Mutex<S>>,
    max_frame: u32,
    shutdown: F,
) -> io::Result<()>
where
    S: Service + Send + 'static,
    F: std::future::Future<Output = ()>,
{
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                let service = Arc::clone(&service);
                tokio::spawn(connection(stream, service, max_frame));
            }
        }
    }
}

async fn connection<S: Service + Send + 'static>(
    mut stream: UnixStream,
    service: Arc<Mutex<S>>,
    max_frame: u32,
) {
    loop {
        let body = match read_frame(&mut stream, max_frame).await {
            Ok(body) => body,
            Err(FrameError::Closed) => return,
            Err(e) => {
                // The stream cannot be resynchronised after a bad frame: answer once, close.
                tracing::warn!(error = %e, "IPC frame rejected");
                let reply = Response::Error { kind: ErrorKind::BadRequest, message: e.to_string() };
                let _ = write_frame(&mut stream, &reply.encode(), max_frame).await;
                return;
            }
        };
        let reply = match Request::decode(&body) {
            Ok(request) => {
                let service = Arc::clone(&service);
                match tokio::task::spawn_blocking(move || call_locked(&service, request)).await {
                    Ok(reply) => reply,
                    Err(_) => Response::Error {
                        kind: ErrorKind::Internal,
                        message: "agent call failed".into(),
                    },
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "IPC request rejected");
                Response::Error { kind: ErrorKind::BadRequest, message: e.to_string() }
            }
        };
        if let Err(e) = write_frame(&mut stream, &reply.encode(), max_frame).await {
            tracing::warn!(error = %e, "IPC reply not sent");
            return;
        }
    }
}
