//! Length-prefixed framing for the Broker <-> Agent socket: `[u32 big-endian length][body]`.
//!
//! The reader refuses a length above its maximum before reading the body, and reads the body
//! incrementally, so a peer that announces a large frame and sends nothing makes the reader
//! allocate no more than what actually arrived.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Default largest frame body: 32 MiB (an Update may carry integrated payloads).
pub const DEFAULT_MAX_FRAME: u32 = 32 << 20;

/// Errors of the framing layer.
#[non_exhaustive]
#[derive(Debug)]
pub enum FrameError {
    /// The socket failed.
    Io(io::Error),
    /// The peer closed the connection between frames.
    Closed,
    /// The peer closed the connection inside a frame.
    Truncated {
        /// Bytes announced.
        expected: u32,
        /// Bytes received.
        received: usize,
    },
    /// The announced length is above the limit.
    TooLarge {
        /// Bytes announced.
        len: u64,
        /// The limit.
        max: u32,
    },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "IPC socket error: {e}"),
            Self::Closed => f.write_str("IPC connection closed"),
            Self::Truncated { expected, received } => {
                write!(f, "IPC frame truncated: {received} of {expected} bytes")
            }
            Self::TooLarge { len, max } => {
                write!(f, "IPC frame of {len} bytes exceeds the limit of {max}")
            }
        }
    }
}

impl std::error::Error for FrameError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Reads one frame body of at most `max` bytes.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R, max: u32) -> Result<Vec<u8>, FrameError> {
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < head.len() {
        let rest = head.get_mut(got..).unwrap_or_default();
        let n = r.read(rest).await.map_err(FrameError::Io)?;
        if n == 0 {
            return Err(if got == 0 {
                FrameError::Closed
            } else {
                FrameError::Truncated { expected: 4, received: got }
            });
        }
        got += n;
    }
    let len = u32::from_be_bytes(head);
    if len > max {
        return Err(FrameError::TooLarge { len: u64::from(len), max });
    }
    let mut body = Vec::new();
    let received = r.take(u64::from(len)).read_to_end(&mut body).await.map_err(FrameError::Io)?;
    if received != len as usize {
        return Err(FrameError::Truncated { expected: len, received });
    }
    Ok(body)
}

/// Writes one frame; refuses bodies above `max` bytes.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    body: &[u8],
    max: u32,
) -> Result<(), FrameError> {
    let len = match u32::try_from(body.len()) {
        Ok(len) if len <= max => len,
        _ => return Err(FrameError::TooLarge { len: body.len() as u64, max }),
    };
    w.write_all(&len.to_be_bytes()).await.map_err(FrameError::Io)?;
    w.write_all(body).await.map_err(FrameError::Io)?;
    w.flush().await.map_err(FrameError::Io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trip() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            write_frame(&mut a, b"hello", 16).await?;
            write_frame(&mut a, b"", 16).await
        });
        assert_eq!(read_frame(&mut b, 16).await.ok(), Some(b"hello".to_vec()));
        assert_eq!(read_frame(&mut b, 16).await.ok(), Some(Vec::new()));
        assert!(matches!(writer.await, Ok(Ok(()))));
        assert!(matches!(read_frame(&mut b, 16).await, Err(FrameError::Closed)));
    }

    #[tokio::test]
    async fn oversize_rejected_before_reading_body() {
        let mut input: &[u8] = &[0xff, 0xff, 0xff, 0xff, 1, 2, 3];
        assert!(matches!(
            read_frame(&mut input, 1024).await,
            Err(FrameError::TooLarge { len: 0xffff_ffff, max: 1024 })
        ));
        let mut sink = Vec::new();
        assert!(matches!(
            write_frame(&mut sink, &[0; 17], 16).await,
            Err(FrameError::TooLarge { len: 17, max: 16 })
        ));
        assert!(sink.is_empty());
    }

    #[tokio::test]
    async fn truncated_frames() {
        let mut input: &[u8] = &[0, 0];
        assert!(matches!(
            read_frame(&mut input, 16).await,
            Err(FrameError::Truncated { expected: 4, received: 2 })
        ));
        let mut input: &[u8] = &[0, 0, 0, 10, 1, 2, 3];
        assert!(matches!(
            read_frame(&mut input, 16).await,
            Err(FrameError::Truncated { expected: 10, received: 3 })
        ));
    }
}
