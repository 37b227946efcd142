//! Payload fetching for suit-directive-fetch (draft-ietf-suit-manifest-34 §8.4.10.4).
//!
//! The Agent never fetches a URI as written in a manifest: each URI must start with a
//! configured mirror prefix, and is rewritten to the mirror's target, a `file://` directory or
//! an `http(s)://` base URL. Every download is size-limited and streamed.

use std::fs::File;
use std::io::Read;
use std::time::Duration;

use teep_suit::{Download, PlatformError};

use super::config::Mirror;

/// Resolves payload URIs through the mirror map and opens downloads.
pub struct Fetcher {
    mirrors: Vec<Mirror>,
    max_bytes: u64,
    client: Option<reqwest::blocking::Client>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("mirrors", &self.mirrors)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

/// Where a URI resolved to.
#[derive(Debug, PartialEq, Eq)]
enum Source {
    File(std::path::PathBuf),
    Http(String),
}

impl Fetcher {
    /// A fetcher over `mirrors` refusing payloads above `max_bytes`.
    pub fn new(mirrors: Vec<Mirror>, max_bytes: u64) -> Self {
        Self { mirrors, max_bytes, client: None }
    }

    fn resolve(&self, uri: &str) -> Result<Source, PlatformError> {
        let mirror = self
            .mirrors
            .iter()
            .filter(|m| uri.starts_with(m.prefix.as_str()))
            .max_by_key(|m| m.prefix.len())
            .ok_or_else(|| PlatformError::Fetch(format!("no mirror configured for {uri}")))?;
        let rest = uri.get(mirror.prefix.len()..).unwrap_or_default();
        if let Some(dir) = mirror.target.strip_prefix("file://") {
            // The remainder names a file inside the mirror directory, nothing else.
            let bad = rest.is_empty()
                || rest.starts_with('/')
                || rest.contains(['?', '#', '%', '\\', '\0'])
                || rest.split('/').any(|seg| seg == ".." || seg == ".");
            if bad {
                return Err(PlatformError::Fetch(format!("unsafe path in {uri}")));
            }
            Ok(Source::File(std::path::Path::new(dir).join(rest)))
        } else {
            Ok(Source::Http(format!("{}{rest}", mirror.target)))
        }
    }

    fn client(&mut self) -> Result<reqwest::blocking::Client, PlatformError> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        ensure_crypto_provider();
        let client = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(600))
            .build()
            .map_err(|e| PlatformError::Fetch(format!("HTTP client: {e}")))?;
        self.client = Some(client.clone());
        Ok(client)
    }

    /// Opens a download of `uri`.
    pub fn open(&mut self, uri: &str) -> Result<PayloadDownload, PlatformError> {
        let source = self.resolve(uri)?;
        let limit = self.max_bytes;
        tracing::debug!(uri, ?source, "fetching payload");
        let reader: Box<dyn Read + Send> = match source {
            Source::File(path) => {
                let file = File::open(&path)
                    .map_err(|e| PlatformError::Fetch(format!("{}: {e}", path.display())))?;
                let len = file.metadata().map(|m| m.len()).unwrap_or(0);
                if len > limit {
                    return Err(PlatformError::Fetch(format!("payload of {len} bytes over limit")));
                }
                Box::new(file)
            }
            Source::Http(url) => {
                let response = self
                    .client()?
                    .get(&url)
                    .send()
                    .map_err(|e| PlatformError::Fetch(format!("{url}: {e}")))?;
                if !response.status().is_success() {
                    return Err(PlatformError::Fetch(format!("{url}: HTTP {}", response.status())));
                }
                if response.content_length().is_some_and(|len| len > limit) {
                    return Err(PlatformError::Fetch(format!("{url}: payload over limit")));
                }
                Box::new(response)
            }
        };
        Ok(PayloadDownload { reader, read: 0, limit })
    }
}

/// Installs the process-wide rustls provider (aws-lc-rs) if none is installed yet.
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may win the race; either way a provider is installed afterwards.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

/// A payload being streamed from a file or an HTTP response, size-limited.
pub struct PayloadDownload {
    reader: Box<dyn Read + Send>,
    read: u64,
    limit: u64,
}

impl std::fmt::Debug for PayloadDownload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayloadDownload").field("read", &self.read).finish_non_exhaustive()
    }
}

impl Download for PayloadDownload {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, PlatformError> {
        let n = self.reader.read(buf).map_err(|e| PlatformError::Fetch(e.to_string()))?;
        self.read = self.read.saturating_add(n as u64);
        if self.read > self.limit {
            return Err(PlatformError::Fetch(format!("payload over {} bytes", self.limit)));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetcher() -> Fetcher {
        Fetcher::new(
            vec![
                Mirror { prefix: "https://example.org/".into(), target: "file:///srv/p/".into() },
                Mirror {
                    prefix: "https://example.org/big/".into(),
                    target: "http://127.0.0.1:9/".into(),
                },
            ],
            16,
        )
    }

    #[test]
    fn longest_prefix_wins_and_paths_stay_inside() {
        let f = fetcher();
        assert_eq!(f.resolve("https://example.org/a.ta"), Ok(Source::File("/srv/p/a.ta".into())));
        assert_eq!(
            f.resolve("https://example.org/big/x"),
            Ok(Source::Http("http://127.0.0.1:9/x".into()))
        );
        for bad in [
            "https://example.org/../etc/passwd",
            "https://example.org/a/./b",
            "https://example.org/%2e%2e/x",
            "https://example.org/",
            "https://example.org//abs",
            "https://other.example/x",
            "http://example.org/a.ta",
        ] {
            assert!(f.resolve(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_download_is_size_limited() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("small"), b"0123456789").expect("write");
        std::fs::write(dir.path().join("big"), [0u8; 17]).expect("write");
        let target = format!("file://{}/", dir.path().display());
        let mut f = Fetcher::new(vec![Mirror { prefix: "https://e/".into(), target }], 16);
        let mut d = f.open("https://e/small").expect("open");
        let mut buf = [0u8; 64];
        assert_eq!(d.read(&mut buf).ok(), Some(10));
        assert!(f.open("https://e/big").is_err());
        assert!(f.open("https://e/missing").is_err());
    }
}
