//! Payload fetching for suit-directive-fetch (draft-ietf-suit-manifest-34 §8.4.10.4).
//!
//! A URI is resolved in two steps:
//! 1. Mirrors win: a URI starting with a configured `[[mirror]]` prefix (the longest one) is
//!    rewritten to the mirror's target, a `file://` directory or an `http(s)://` base URL.
//! 2. Otherwise, when `[fetch] direct` is on (the default), the URI is fetched as written:
//!    `https://` always, `http://` only with `[fetch] allow_http`, no other scheme.
//!
//! Every download is streamed and capped at `[limits] max_payload_bytes`; HTTP goes through one
//! rustls client that follows no redirects and uses no proxy. The payload's integrity rests on
//! the manifest's image digest, checked by the processor, not on the transport.
//!
//! Severed members (draft-ietf-suit-manifest-34 §8.5) that an envelope arrives without are
//! fetched by reference: the manifest's suit-reference-uri names "a full version of this
//! manifest", which is fetched through the same resolution (so a mirror can serve it), read
//! up to [`MAX_FULL_ENVELOPE`] bytes, and searched for the member ([`Fetcher::severed_member`]).
//! The member's integrity rests on the digest the authenticated manifest holds for it, which
//! the processor checks.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use teep_suit::{Download, PlatformError};

use super::config::{ConfigFile, FetchSettings, Mirror};

/// Longest URI the Agent fetches, in bytes.
const MAX_URI_LEN: usize = 8 * 1024;

/// Largest CA file read for `[fetch] ca_file`.
const MAX_CA_FILE: u64 = 1 << 20;

/// Largest full envelope read to find a severed member (it may carry integrated payloads;
/// `[limits] max_payload_bytes` applies too when it is lower).
pub const MAX_FULL_ENVELOPE: u64 = 16 << 20;

/// SUIT_Envelope tag (draft-ietf-suit-manifest-34 §8.2).
const ENVELOPE_TAG: u64 = 107;
/// suit-manifest, the envelope member holding the bstr-wrapped SUIT_Manifest.
const MANIFEST_KEY: u64 = 3;

/// Resolves payload URIs through the mirror map (or directly) and opens downloads.
pub struct Fetcher {
    mirrors: Vec<Mirror>,
    settings: FetchSettings,
    max_bytes: u64,
    client: Option<reqwest::blocking::Client>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("mirrors", &self.mirrors)
            .field("settings", &self.settings)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

/// Where a URI resolved to.
#[derive(Debug, PartialEq, Eq)]
enum Source {
    File(PathBuf),
    Http(String),
}

impl Fetcher {
    /// A fetcher over `mirrors` refusing payloads above `max_bytes`, with the default `[fetch]`
    /// settings (direct https fetching for URIs without a mirror).
    pub fn new(mirrors: Vec<Mirror>, max_bytes: u64) -> Self {
        Self::with_settings(mirrors, FetchSettings::default(), max_bytes)
    }

    /// A fetcher over `mirrors` with explicit `[fetch]` settings.
    pub fn with_settings(mirrors: Vec<Mirror>, settings: FetchSettings, max_bytes: u64) -> Self {
        Self { mirrors, settings, max_bytes, client: None }
    }

    /// The fetcher `config.toml` describes: `[[mirror]]`, `[fetch]` and `[limits]`.
    pub fn from_config(config: &ConfigFile) -> Self {
        Self::with_settings(
            config.mirrors.clone(),
            config.fetch.clone(),
            config.limits.max_payload_bytes,
        )
    }

    fn resolve(&self, uri: &str) -> Result<Source, PlatformError> {
        if uri.len() > MAX_URI_LEN {
            return Err(PlatformError::Fetch(format!("URI longer than {MAX_URI_LEN} bytes")));
        }
        let mirror = self
            .mirrors
            .iter()
            .filter(|m| uri.starts_with(m.prefix.as_str()))
            .max_by_key(|m| m.prefix.len());
        match mirror {
            Some(mirror) => Self::through_mirror(mirror, uri),
            None => self.direct(uri),
        }
    }

    /// Rewrites `uri` to `mirror`'s target.
    fn through_mirror(mirror: &Mirror, uri: &str) -> Result<Source, PlatformError> {
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

    /// Checks that `uri` may be fetched as written (`[fetch] direct`, scheme, no credentials).
    fn direct(&self, uri: &str) -> Result<Source, PlatformError> {
        let fail = |why: &str| Err(PlatformError::Fetch(format!("{uri}: {why}")));
        if !self.settings.direct {
            return fail("no mirror matches and direct fetching is off ([fetch] direct = false)");
        }
        let Ok(url) = reqwest::Url::parse(uri) else {
            return fail("not an absolute URI");
        };
        match url.scheme() {
            "https" => {}
            "http" if self.settings.allow_http => {}
            "http" => return fail("plain http is not allowed ([fetch] allow_http = false)"),
            _ => return fail("unsupported scheme for direct fetching (https or http only)"),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return fail("no host");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return fail("credentials in the URI are not supported");
        }
        Ok(Source::Http(url.into()))
    }

    fn client(&mut self) -> Result<reqwest::blocking::Client, PlatformError> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        ensure_crypto_provider();
        let mut builder = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .referer(false)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(600))
            .tls_backend_rustls();
        if let Some(path) = &self.settings.ca_file {
            builder = builder.tls_certs_only(load_ca_file(path)?);
        }
        let client =
            builder.build().map_err(|e| PlatformError::Fetch(format!("HTTP client: {e}")))?;
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
                    .map_err(|e| PlatformError::Fetch(format!("{url}: {}", error_chain(&e))))?;
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

    /// Severed member `key` of the manifest whose suit-reference-uri is `reference_uri`: the
    /// full envelope is fetched (mirrors first, as for payloads) and the member is taken from
    /// it as its digest covers it, the bstr-wrapped member. `None`, with the reason logged,
    /// when the full envelope cannot be fetched, is larger than [`MAX_FULL_ENVELOPE`], is not
    /// an envelope, or lacks the member: the processor then reports severing-unsupported. The
    /// bytes are not trusted here; the processor checks them against the manifest's digest.
    pub fn severed_member(&mut self, reference_uri: &str, key: u64) -> Option<Vec<u8>> {
        let unavailable = |why: &dyn std::fmt::Display| {
            tracing::warn!(uri = reference_uri, key, "severed member unavailable: {why}");
            None
        };
        let full = match self.read_full_envelope(reference_uri) {
            Ok(full) => full,
            Err(e) => return unavailable(&e),
        };
        match member_of(&full, key) {
            Ok(Some(member)) => {
                tracing::debug!(uri = reference_uri, key, len = member.len(), "severed member");
                Some(member.to_vec())
            }
            Ok(None) => unavailable(&"the full envelope does not carry it"),
            Err(why) => unavailable(&format!("not a SUIT envelope ({why})")),
        }
    }

    /// The whole body at `uri`, at most `min(max_payload_bytes, MAX_FULL_ENVELOPE)` bytes.
    fn read_full_envelope(&mut self, uri: &str) -> Result<Vec<u8>, PlatformError> {
        let cap = self.max_bytes.min(MAX_FULL_ENVELOPE);
        let mut download = self.open(uri)?;
        download.limit = cap;
        let mut body = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let n = teep_suit::Download::read(&mut download, &mut chunk)?;
            if n == 0 {
                return Ok(body);
            }
            body.extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    }
}

/// The raw item stored under `key` in a SUIT_Envelope (tagged or not): an envelope-level
/// severed member, or else the member inline in the envelope's manifest (a full, unsevered
/// version). `Ok(None)` when neither holds it. Only a byte string is returned: both forms are
/// `bstr .cbor` and the digest covers the byte string with its head.
fn member_of(envelope: &[u8], key: u64) -> Result<Option<&[u8]>, minicbor::decode::Error> {
    let mut d = minicbor::Decoder::new(envelope);
    if d.datatype()? == minicbor::data::Type::Tag {
        let tag = d.tag()?;
        if tag.as_u64() != ENVELOPE_TAG {
            return Err(minicbor::decode::Error::message("not the SUIT_Envelope tag"));
        }
    }
    let mut manifest = None;
    let mut found = None;
    for_each_entry(&mut d, |k, raw| {
        match k {
            Some(k) if k == key => found = Some(raw),
            Some(MANIFEST_KEY) => manifest = Some(raw),
            _ => {}
        }
        Ok(())
    })?;
    if found.is_none()
        && let Some(wrapped) = manifest
    {
        let mut outer = minicbor::Decoder::new(wrapped);
        let mut inner = minicbor::Decoder::new(outer.bytes()?);
        for_each_entry(&mut inner, |k, raw| {
            if k == Some(key) {
                found = Some(raw);
            }
            Ok(())
        })?;
    }
    Ok(found.filter(|raw| raw.first().is_some_and(|b| b >> 5 == 2)))
}

/// Walks a definite-length map, calling `f` with each entry's key (when it is an unsigned
/// integer) and the raw bytes of its value.
fn for_each_entry<'b>(
    d: &mut minicbor::Decoder<'b>,
    mut f: impl FnMut(Option<u64>, &'b [u8]) -> Result<(), minicbor::decode::Error>,
) -> Result<(), minicbor::decode::Error> {
    let Some(entries) = d.map()? else {
        return Err(minicbor::decode::Error::message("indefinite-length map"));
    };
    let input = d.input();
    for _ in 0..entries {
        let key = match d.datatype()? {
            minicbor::data::Type::U8
            | minicbor::data::Type::U16
            | minicbor::data::Type::U32
            | minicbor::data::Type::U64 => Some(d.u64()?),
            _ => {
                d.skip()?;
                None
            }
        };
        let start = d.position();
        d.skip()?;
        let raw = input.get(start..d.position()).unwrap_or_default();
        f(key, raw)?;
    }
    Ok(())
}

/// Reads `[fetch] ca_file`: a PEM bundle holding at least one certificate.
fn load_ca_file(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, PlatformError> {
    let fail = |why: String| PlatformError::Fetch(format!("ca_file {}: {why}", path.display()));
    let file = File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut pem = Vec::new();
    file.take(MAX_CA_FILE.saturating_add(1))
        .read_to_end(&mut pem)
        .map_err(|e| fail(e.to_string()))?;
    if pem.len() as u64 > MAX_CA_FILE {
        return Err(fail(format!("larger than {MAX_CA_FILE} bytes")));
    }
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| fail(e.to_string()))?;
    if certs.is_empty() {
        return Err(fail("no CERTIFICATE block".to_owned()));
    }
    Ok(certs)
}

/// An error with its sources, which carry the useful part (refused, TLS alert, ...).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
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
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;
    use std::thread::JoinHandle;

    use super::*;

    fn fetcher(settings: FetchSettings) -> Fetcher {
        Fetcher::with_settings(
            vec![
                Mirror { prefix: "https://example.org/".into(), target: "file:///srv/p/".into() },
                Mirror {
                    prefix: "https://example.org/big/".into(),
                    target: "http://127.0.0.1:9/".into(),
                },
            ],
            settings,
            16,
        )
    }

    fn mirrors_only() -> FetchSettings {
        FetchSettings { direct: false, ..FetchSettings::default() }
    }

    #[test]
    fn longest_prefix_wins_and_paths_stay_inside() {
        let f = fetcher(mirrors_only());
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
    fn direct_fetching_is_https_only_unless_http_is_allowed() {
        let f = fetcher(FetchSettings::default());
        // Mirrors still win over direct fetching, including their path checks.
        assert_eq!(f.resolve("https://example.org/a.ta"), Ok(Source::File("/srv/p/a.ta".into())));
        assert!(f.resolve("https://example.org/../x").is_err());
        assert_eq!(
            f.resolve("https://other.example/x.ta"),
            Ok(Source::Http("https://other.example/x.ta".into()))
        );
        let refused = [
            ("http://other.example/x.ta", "allow_http"),
            ("ftp://other.example/x.ta", "unsupported scheme"),
            ("file:///etc/passwd", "unsupported scheme"),
            ("coaps://other.example/x", "unsupported scheme"),
            ("x.ta", "not an absolute URI"),
            ("", "not an absolute URI"),
            ("https://user:pw@other.example/x", "credentials"),
        ];
        for (uri, why) in refused {
            match f.resolve(uri) {
                Err(PlatformError::Fetch(text)) => assert!(text.contains(why), "{uri}: {text}"),
                other => panic!("{uri}: {other:?}"),
            }
        }
        let long = format!("https://other.example/{}", "a".repeat(MAX_URI_LEN));
        assert!(f.resolve(&long).is_err());

        let http = fetcher(FetchSettings { allow_http: true, ..FetchSettings::default() });
        assert_eq!(
            http.resolve("http://other.example/x.ta"),
            Ok(Source::Http("http://other.example/x.ta".into()))
        );
        assert!(http.resolve("ftp://other.example/x.ta").is_err());

        match fetcher(mirrors_only()).resolve("https://other.example/x.ta") {
            Err(PlatformError::Fetch(text)) => assert!(text.contains("direct = false"), "{text}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn from_config_takes_mirrors_fetch_and_limits() {
        let cfg = ConfigFile::from_toml(
            "[[mirror]]\nprefix = \"https://m/\"\ntarget = \"http://127.0.0.1:1/\"\n\
             [fetch]\nallow_http = true\n[limits]\nmax_payload_bytes = 7\n",
        )
        .expect("config");
        let f = Fetcher::from_config(&cfg);
        assert_eq!(f.max_bytes, 7);
        assert!(f.settings.direct && f.settings.allow_http);
        assert_eq!(f.resolve("https://m/a"), Ok(Source::Http("http://127.0.0.1:1/a".into())));
        assert_eq!(f.resolve("http://o/a"), Ok(Source::Http("http://o/a".into())));
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

    /// A loopback server answering each connection with the next canned response; it records
    /// the request heads it saw.
    struct Server {
        port: u16,
        thread: Option<JoinHandle<Vec<String>>>,
    }

    impl Server {
        fn start(responses: Vec<Vec<u8>>, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
            let port = listener.local_addr().expect("addr").port();
            let thread = std::thread::spawn(move || {
                let mut seen = Vec::new();
                for response in responses {
                    let Ok((tcp, _)) = listener.accept() else { break };
                    let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
                    let head = match &tls {
                        Some(config) => serve_tls(tcp, config.clone(), &response),
                        None => serve_plain(tcp, &response),
                    };
                    seen.push(head);
                }
                seen
            });
            Self { port, thread: Some(thread) }
        }

        fn url(&self, scheme: &str, path: &str) -> String {
            format!("{scheme}://127.0.0.1:{}/{path}", self.port)
        }

        fn requests(mut self) -> Vec<String> {
            self.thread.take().and_then(|t| t.join().ok()).unwrap_or_default()
        }
    }

    fn read_head(stream: &mut impl Read) -> String {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
            match stream.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => break,
            }
        }
        String::from_utf8_lossy(&head).into_owned()
    }

    fn serve_plain(mut tcp: TcpStream, response: &[u8]) -> String {
        let head = read_head(&mut tcp);
        let _ = tcp.write_all(response);
        head
    }

    fn serve_tls(tcp: TcpStream, config: Arc<rustls::ServerConfig>, response: &[u8]) -> String {
        let Ok(conn) = rustls::ServerConnection::new(config) else { return String::new() };
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let head = read_head(&mut tls);
        let _ = tls.write_all(response);
        tls.conn.send_close_notify();
        let _ = tls.flush();
        head
    }

    // Every canned response closes its connection (the server serves one request per
    // connection): without the header the client may reuse the pooled connection the server
    // just closed, and the next request races the close.
    fn ok(body: &[u8]) -> Vec<u8> {
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    }

    fn read_all(download: &mut PayloadDownload) -> Result<Vec<u8>, PlatformError> {
        let mut out = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            let n = download.read(&mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(buf.get(..n).unwrap_or_default());
        }
    }

    fn http_allowed(max: u64) -> Fetcher {
        Fetcher::with_settings(
            Vec::new(),
            FetchSettings { allow_http: true, ..FetchSettings::default() },
            max,
        )
    }

    #[test]
    fn direct_http_fetch_streams_the_body() {
        let server = Server::start(vec![ok(b"direct payload")], None);
        let mut f = http_allowed(64);
        let mut download = f.open(&server.url("http", "tc/a.ta")).expect("open");
        assert_eq!(read_all(&mut download).expect("read"), b"direct payload");
        let requests = server.requests();
        assert!(requests.first().is_some_and(|h| h.starts_with("GET /tc/a.ta HTTP/1.1\r\n")));
    }

    #[test]
    fn mirror_wins_over_direct_fetch() {
        let server = Server::start(vec![ok(b"from mirror")], None);
        let mirror =
            Mirror { prefix: "http://127.0.0.1:9/".into(), target: server.url("http", "m/") };
        let mut f = Fetcher::with_settings(vec![mirror], FetchSettings::default(), 64);
        let mut download = f.open("http://127.0.0.1:9/x.ta").expect("open");
        assert_eq!(read_all(&mut download).expect("read"), b"from mirror");
        assert!(server.requests().first().is_some_and(|h| h.starts_with("GET /m/x.ta ")));
    }

    #[test]
    fn direct_fetch_refuses_redirects_errors_and_oversize() {
        let redirect =
            b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/\r\nConnection: close\r\n\
              Content-Length: 0\r\n\r\n";
        let missing = b"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        // Over the limit: announced, and streamed without a length (close-delimited).
        let announced = ok(&[7u8; 17]);
        let mut streamed = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
        streamed.extend_from_slice(&[7u8; 40]);
        let responses = vec![redirect.to_vec(), missing.to_vec(), announced, streamed];
        let server = Server::start(responses, None);
        let mut f = http_allowed(16);
        for (path, why) in [("r", "302"), ("m", "404"), ("big", "over limit")] {
            match f.open(&server.url("http", path)) {
                Err(PlatformError::Fetch(text)) => assert!(text.contains(why), "{path}: {text}"),
                other => panic!("{path}: {other:?}"),
            }
        }
        let mut download = f.open(&server.url("http", "stream")).expect("open");
        assert!(
            matches!(read_all(&mut download), Err(PlatformError::Fetch(t)) if t.contains("over 16"))
        );
        assert_eq!(server.requests().len(), 4, "the redirect was not followed");
    }

    #[test]
    fn plain_http_needs_allow_http_and_nothing_is_sent() {
        let mut f = Fetcher::new(Vec::new(), 64);
        let err = f.open("http://127.0.0.1:9/x.ta").map(|_| ());
        assert!(matches!(err, Err(PlatformError::Fetch(t)) if t.contains("allow_http")));
    }

    struct Pki {
        ca_pem: String,
        server: Arc<rustls::ServerConfig>,
    }

    fn pki() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
        ensure_crypto_provider();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let ca_key = KeyPair::generate().expect("ca key");
        let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("leaf");
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).expect("leaf cert");
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
        let server = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone()], key)
            .expect("server config");
        Pki { ca_pem: ca_cert.pem(), server: Arc::new(server) }
    }

    #[test]
    fn direct_https_fetch_checks_the_server_against_ca_file() {
        let pki = pki();
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, &pki.ca_pem).expect("write ca");
        let server = Server::start(vec![ok(b"over tls"), ok(b"never")], Some(pki.server.clone()));

        let settings = FetchSettings { ca_file: Some(ca_file), ..FetchSettings::default() };
        let mut f = Fetcher::with_settings(Vec::new(), settings, 64);
        let mut download = f.open(&server.url("https", "a.ta")).expect("open");
        assert_eq!(read_all(&mut download).expect("read"), b"over tls");

        // Another CA: the handshake fails and nothing is read.
        let other = dir.path().join("other.pem");
        std::fs::write(&other, pki_ca_only()).expect("write other ca");
        let settings = FetchSettings { ca_file: Some(other), ..FetchSettings::default() };
        let mut f = Fetcher::with_settings(Vec::new(), settings, 64);
        assert!(f.open(&server.url("https", "b.ta")).is_err());
        let requests = server.requests();
        assert_eq!(requests.len(), 2);
        assert!(requests.get(1).is_some_and(String::is_empty), "no request over a bad handshake");

        // A CA file that is not PEM is reported by name.
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").expect("write junk");
        let settings = FetchSettings { ca_file: Some(junk), ..FetchSettings::default() };
        let mut f = Fetcher::with_settings(Vec::new(), settings, 64);
        match f.open("https://127.0.0.1:9/x") {
            Err(PlatformError::Fetch(text)) => assert!(text.contains("junk.pem"), "{text}"),
            other => panic!("{other:?}"),
        }
    }

    fn pki_ca_only() -> String {
        pki().ca_pem
    }

    /// `{2: h'..', 3: bstr .cbor manifest, extra...}` with `manifest` = `{1: 1, inline...}`.
    fn envelope(tagged: bool, inline: &[(u64, &[u8])], extra: &[(u64, &[u8])]) -> Vec<u8> {
        let mut m = minicbor::Encoder::new(Vec::new());
        m.map(1 + inline.len() as u64).and_then(|e| e.u8(1)).and_then(|e| e.u8(1)).expect("enc");
        for (k, v) in inline {
            m.u64(*k).and_then(|e| e.bytes(v)).expect("enc");
        }
        let manifest = m.into_writer();
        let mut e = minicbor::Encoder::new(Vec::new());
        if tagged {
            e.tag(minicbor::data::Tag::new(ENVELOPE_TAG)).expect("enc");
        }
        e.map(2 + extra.len() as u64).expect("enc");
        e.u8(2).and_then(|e| e.bytes(b"auth")).expect("enc");
        e.u8(3).and_then(|e| e.bytes(&manifest)).expect("enc");
        for (k, v) in extra {
            e.u64(*k).and_then(|e| e.bytes(v)).expect("enc");
        }
        e.into_writer()
    }

    #[test]
    fn members_are_found_in_the_envelope_or_inline_in_its_manifest() {
        // 0x43 'a' 'b' 'c': the member as the digest covers it, head included.
        for tagged in [false, true] {
            let severed = envelope(tagged, &[], &[(20, b"abc")]);
            assert_eq!(member_of(&severed, 20).ok().flatten(), Some(&b"\x43abc"[..]));
            assert_eq!(member_of(&severed, 23).ok().flatten(), None);
            let inline = envelope(tagged, &[(20, b"xyz")], &[]);
            assert_eq!(member_of(&inline, 20).ok().flatten(), Some(&b"\x43xyz"[..]));
        }
        // The envelope-level member wins over an inline one.
        let both = envelope(false, &[(20, b"in")], &[(20, b"out")]);
        assert_eq!(member_of(&both, 20).ok().flatten(), Some(&b"\x43out"[..]));
        // Not a byte string: not a member.
        let mut e = minicbor::Encoder::new(Vec::new());
        e.map(1).and_then(|e| e.u8(20)).and_then(|e| e.u8(7)).expect("enc");
        assert_eq!(member_of(&e.into_writer(), 20).ok().flatten(), None);
        // Not an envelope at all, another tag, truncated, indefinite map: errors, no panic.
        let mut truncated = envelope(false, &[], &[(20, b"abc")]);
        truncated.pop();
        for bad in [&b""[..], b"\x01", b"\xd8\x12\xa0", &truncated, b"\xbf\xff", b"\xa1\x14\x9b"] {
            assert!(member_of(bad, 20).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn severed_members_come_through_mirrors_and_are_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let full = envelope(true, &[], &[(20, b"install")]);
        std::fs::write(dir.path().join("full.suit"), &full).expect("write");
        let mirror = Mirror {
            prefix: "https://tc.invalid/".into(),
            target: format!("file://{}/", dir.path().display()),
        };
        let mut f = Fetcher::with_settings(vec![mirror.clone()], mirrors_only(), 1 << 20);
        assert_eq!(
            f.severed_member("https://tc.invalid/full.suit", 20),
            Some(b"\x47install".to_vec())
        );
        assert_eq!(f.severed_member("https://tc.invalid/full.suit", 23), None);
        assert_eq!(f.severed_member("https://tc.invalid/absent.suit", 20), None);
        assert_eq!(f.severed_member("https://elsewhere.invalid/full.suit", 20), None);

        // One byte over the bound: not read.
        let len = full.len() as u64;
        let mut tight = Fetcher::with_settings(vec![mirror.clone()], mirrors_only(), len);
        assert!(tight.severed_member("https://tc.invalid/full.suit", 20).is_some());
        let mut over = Fetcher::with_settings(vec![mirror], mirrors_only(), len - 1);
        assert_eq!(over.severed_member("https://tc.invalid/full.suit", 20), None);
    }
}
