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

    fn ok(body: &[u8]) -> Vec<u8> {
        let mut r =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
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
            b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/\r\nContent-Length: 0\r\n\r\n";
        let missing = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
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
}
