//! Helpers for the system tests: run the real `teep` binary as separate processes, over
//! loopback only, with every wait bounded and every process killed when the test ends.

#![allow(dead_code)] // each test file uses a different subset

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use teep_suit::ComponentId;
use teep_suit::builder::{ManifestBuilder, Payload};

/// The shared test vectors.
pub const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors");

/// The published example device's SUIT vendor and class identifiers.
pub const VENDOR_ID: &str = "c0ddd5f15243566087db4f5b0aa26c2f";
/// See [`VENDOR_ID`].
pub const CLASS_ID: &str = "db42f7093d8c55baa8c5265fc5820f4e";

/// suit-manifest-component-id of the published suit_uri / suit_integrated examples, in the
/// CLI's text form.
pub const EXAMPLE_MANIFEST: &str = "TEEP-Device/SecureFS/0x8d82573a926d4754935332dc29997f74/suit";

/// Longest time one CLI command may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest time a server may take to start listening.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A file under the shared vectors.
pub fn vector(name: &str) -> PathBuf {
    Path::new(VECTORS).join(name)
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Output {
    /// Exit code (None: killed by a signal, or by the timeout).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// Panics with everything printed unless the command exited with 0.
    #[track_caller]
    pub fn success(self) -> Self {
        assert_eq!(self.code, Some(0), "command failed:\n{self}");
        self
    }

    /// Panics unless the command exited with `code`.
    #[track_caller]
    pub fn exit(self, code: i32) -> Self {
        assert_eq!(self.code, Some(code), "unexpected exit:\n{self}");
        self
    }

    /// Lines of standard error that are not empty.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().filter(|l| !l.trim().is_empty()).collect()
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {:?}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// `teep` with a clean environment: no inherited log filters, configs or proxies, and
/// `cwd` as working directory so that no default path reaches outside the test's directory.
pub fn teep(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_teep"));
    cmd.current_dir(cwd).env("TEEP_LOG", "warn").stdin(Stdio::null());
    for var in [
        "RUST_LOG",
        "TEEP_TAM_CONFIG",
        "TEEP_TAM_DATABASE_URL",
        "TEEP_BROKER_CONFIG",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs `teep args…` in `cwd` and waits at most [`COMMAND_TIMEOUT`].
pub fn run(cwd: &Path, args: &[&str]) -> Output {
    let mut cmd = teep(cwd);
    cmd.args(args);
    run_command(cmd, None)
}

/// Runs `teep args…` with `input` on standard input.
pub fn run_with_stdin(cwd: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut cmd = teep(cwd);
    cmd.args(args);
    run_command(cmd, Some(input))
}

fn run_command(mut cmd: Command, input: Option<&[u8]>) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("spawn teep");
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(input).expect("write stdin");
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    assert!(status.is_some(), "{cmd:?} did not finish within {COMMAND_TIMEOUT:?}\n{stderr}");
    Output { code: status.and_then(|s| s.code()), stdout, stderr }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// A long-running `teep` process (a server), killed when dropped, even if the test failed.
pub struct Daemon {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Starts `teep args…` in `cwd`; its output goes to `<name>.log` there.
    pub fn spawn(name: &str, cwd: &Path, args: &[&str]) -> Self {
        let log = cwd.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = teep(cwd);
        cmd.args(args).stdout(file.try_clone().expect("log file")).stderr(file);
        let child = cmd.spawn().expect("spawn teep");
        Self { name: name.to_owned(), child, log }
    }

    /// What the process printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The exit status, if the process ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits until `ready` holds, failing if the process exits or [`START_TIMEOUT`] passes.
    pub fn wait_ready(&mut self, mut ready: impl FnMut() -> bool) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if ready() {
                return Ok(());
            }
            if let Some(status) = self.exited() {
                return Err(format!("{} exited with {status}:\n{}", self.name, self.log()));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} not ready after {START_TIMEOUT:?}:\n{}",
                    self.name,
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Daemon {
    /// Sends SIGTERM (by this process's id) and waits at most `timeout` for the exit.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.local_addr().expect("addr").port()
}

/// A minimal HTTP/1.1 file server on loopback serving fixed files, recording the paths asked
/// for. It stops (and its thread ends) when dropped.
pub struct FileServer {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FileServer {
    /// Serves `files` (URL path without the leading `/` → body); anything else is 404.
    pub fn start(files: BTreeMap<String, Vec<u8>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, halt) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => serve_file(stream, &files, &seen),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self { port, requests, stop, thread: Some(thread) }
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// The request paths seen so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_file(mut stream: TcpStream, files: &BTreeMap<String, Vec<u8>>, seen: &Mutex<Vec<String>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
    if let Ok(mut s) = seen.lock() {
        s.push(path.clone());
    }
    let response = match files.get(path.trim_start_matches('/')) {
        Some(body) if head.starts_with("GET ") => {
            let mut r =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
            r.extend_from_slice(body);
            r
        }
        _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
    };
    let _ = stream.write_all(&response);
}

/// The published example TC signer's private key.
pub fn example_signer() -> teep_cose::SigningKey {
    let pem = std::fs::read_to_string(vector("teep-protocol/example-signer-private.pem"))
        .expect("signer key");
    teep_cose::SigningKey::from_pkcs8_pem(&pem).expect("signer key parses")
}

/// The component of the published examples (`…/ta`) and its manifest id (`…/suit`).
pub fn example_ids() -> (ComponentId, ComponentId) {
    let uuid = hex_decode("8d82573a926d4754935332dc29997f74");
    let part =
        |last: &[u8]| ComponentId::new([&b"TEEP-Device"[..], b"SecureFS", uuid.as_slice(), last]);
    (part(b"ta"), part(b"suit"))
}

/// A signed envelope for the example TC identity with `sequence` and `payload`.
pub fn example_update(sequence: u64, payload: Payload, key: &teep_cose::SigningKey) -> Vec<u8> {
    let (component, manifest) = example_ids();
    ManifestBuilder::new(component, sequence)
        .manifest_component_id(manifest)
        .vendor_id(hex_decode(VENDOR_ID))
        .class_id(hex_decode(CLASS_ID))
        .payload(payload)
        .sign(key, None)
        .expect("build and sign the manifest")
}

/// Hex to bytes (test constants only).
pub fn hex_decode(text: &str) -> Vec<u8> {
    hex::decode(text).expect("hex constant")
}

/// One TAM (`teep tam serve`) and one Agent (`teep agent serve`), each its own process, set up
/// with the CLI like an operator would; both are killed when this is dropped.
pub struct World {
    /// Holds every file of this world; removed last.
    pub dir: tempfile::TempDir,
    /// `tam.toml`.
    pub tam_config: String,
    /// The TAM's TEEP endpoint.
    pub tam_uri: String,
    /// The Agent's state directory.
    pub agent_dir: PathBuf,
    /// The Agent's socket.
    pub socket: String,
    /// The Agent's kid (hex RFC 9679 thumbprint), as `teep agent init` printed it.
    pub kid: String,
    tam: Option<Daemon>,
    agent: Option<Daemon>,
}

/// How the Agent of a [`World`] is set up.
#[derive(Default)]
pub struct AgentSetup {
    /// `--mirror` arguments.
    pub mirrors: Vec<String>,
    /// Edits of the Agent's `config.toml` after `teep agent init`: (text, replacement).
    pub config_edits: Vec<(&'static str, &'static str)>,
}

impl World {
    /// `teep tam init`, `teep tam serve`, `teep agent init`, `teep tam device add`,
    /// `teep tam signer add` (the published example signer), `teep agent serve`.
    pub fn start(setup: AgentSetup) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        let mut world = Self {
            tam_config: root.join("tam/tam.toml").display().to_string(),
            tam_uri: String::new(),
            agent_dir: root.join("agent"),
            socket: root.join("agent.sock").display().to_string(),
            kid: String::new(),
            tam: None,
            agent: None,
            dir,
        };

        let out = run(&root, &["tam", "init", "--state", "tam"]).success();
        assert!(out.stdout.contains("tam-public-keys.pem"), "{out}");
        world.start_tam();

        let signer = vector("teep-protocol/example-signer-public.pem");
        let agent_dir = world.agent_dir.display().to_string();
        let keys = root.join("tam/tam-public-keys.pem").display().to_string();
        let mut args = vec![
            "agent",
            "init",
            "--dir",
            &agent_dir,
            "--tam-uri",
            &world.tam_uri,
            "--tam-keys",
            &keys,
            "--tc-signer",
            signer.to_str().expect("utf-8 path"),
            "--vendor-id",
            VENDOR_ID,
            "--class-id",
            CLASS_ID,
        ];
        for m in &setup.mirrors {
            args.extend(["--mirror", m.as_str()]);
        }
        let out = run(&root, &args).success();
        world.kid = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("Agent kid (RFC 9679 thumbprint): "))
            .expect("init prints the kid")
            .trim()
            .to_owned();
        assert_eq!(world.kid.len(), 64, "{out}");
        if !setup.config_edits.is_empty() {
            let config = world.agent_dir.join("config.toml");
            let mut text = std::fs::read_to_string(&config).expect("config.toml");
            for (from, to) in &setup.config_edits {
                assert_eq!(text.matches(from).count(), 1, "{from:?} in config.toml:\n{text}");
                text = text.replace(from, to);
            }
            std::fs::write(&config, text).expect("config.toml");
        }

        let public = world.agent_dir.join("agent-key.pub.pem").display().to_string();
        let out = world.tam(&["device", "add", &public, "--label", "system-test"]).success();
        assert_eq!(out.stdout.trim(), format!("device {} enrolled", world.kid));
        let out = world.tam(&["signer", "add", "example", signer.to_str().expect("path")]);
        assert!(out.success().stdout.starts_with("signer example added (kid "));

        let socket = world.socket.clone();
        let mut agent = Daemon::spawn(
            "agent",
            &root,
            &["agent", "serve", "--dir", &agent_dir, "--socket", &socket],
        );
        let ready = agent.wait_ready(|| UnixStream::connect(&socket).is_ok());
        world.agent = Some(agent);
        ready.expect("the Agent serves its socket");
        world
    }

    /// `teep tam serve` on a free loopback port (retrying if the port was taken meanwhile).
    fn start_tam(&mut self) {
        let root = self.dir.path().to_path_buf();
        let mut last = String::new();
        for _ in 0..5 {
            let listen = format!("127.0.0.1:{}", free_port());
            let mut tam = Daemon::spawn(
                "tam",
                &root,
                &["tam", "serve", "-c", &self.tam_config, "--listen", &listen],
            );
            match tam.wait_ready(|| TcpStream::connect(&listen).is_ok()) {
                Ok(()) => {
                    self.tam_uri = format!("http://{listen}/tam");
                    self.tam = Some(tam);
                    return;
                }
                Err(e) => last = e,
            }
        }
        panic!("the TAM did not start: {last}");
    }

    /// Stops the Agent and then the TAM with SIGTERM; returns their exit statuses.
    pub fn shut_down(&mut self) -> [Option<ExitStatus>; 2] {
        let timeout = Duration::from_secs(20);
        let agent = self.agent.as_mut().and_then(|d| d.terminate(timeout));
        let tam = self.tam.as_mut().and_then(|d| d.terminate(timeout));
        [agent, tam]
    }

    /// The directory holding this world's files.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `teep tam ARGS… -c tam.toml`.
    pub fn tam(&self, args: &[&str]) -> Output {
        let mut all = vec!["tam"];
        all.extend_from_slice(args);
        all.extend(["-c", self.tam_config.as_str()]);
        run(self.root(), &all)
    }

    /// `teep broker ARGS… --socket agent.sock --allow-http`.
    pub fn broker(&self, args: &[&str]) -> Output {
        let mut all = vec!["broker"];
        all.extend_from_slice(args);
        all.extend(["--socket", self.socket.as_str(), "--allow-http"]);
        run(self.root(), &all)
    }

    /// `teep broker policy-check`, which must succeed with one session with our TAM.
    pub fn policy_check(&self) -> Output {
        let out = self.broker(&["policy-check"]).success();
        assert!(out.stdout.contains(&format!("session with {}", self.tam_uri)), "{out}");
        out
    }

    /// What `teep agent status` lists: (component text, sequence number text).
    pub fn agent_installed(&self) -> Vec<(String, String)> {
        let out = run(self.root(), &["agent", "status", "--socket", &self.socket]).success();
        if out.stdout.trim() == "no Trusted Components installed" {
            return Vec::new();
        }
        parse_installed(out.stdout.lines())
    }

    /// What `teep tam status KID` lists as installed, and the whole output.
    pub fn tam_installed(&self) -> (Vec<(String, String)>, Output) {
        let out = self.tam(&["status", &self.kid]).success();
        let lines = out
            .stdout
            .lines()
            .skip_while(|l| l.trim() != "installed:")
            .skip(1)
            .take_while(|l| l.starts_with("    "));
        (parse_installed(lines), out)
    }

    /// Writes `bytes` to a file in this world's directory and returns its path.
    pub fn file(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.root().join(name);
        std::fs::write(&path, bytes).expect("write file");
        path.display().to_string()
    }

    /// The bytes of every installed component image in the Agent's store.
    pub fn agent_images(&self) -> Vec<Vec<u8>> {
        let mut images = Vec::new();
        let dir = self.agent_dir.join("components");
        for entry in std::fs::read_dir(dir).expect("components/").flatten() {
            if entry.path().extension().is_some_and(|e| e == "img") {
                let sealed = teep_agent::software::store::sealed::open_store_file(
                    &self.agent_dir,
                    &entry.path(),
                );
                images.push(sealed.expect("image").to_vec());
            }
        }
        images
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Agent first (it holds the socket), then the TAM; the temp dir goes last.
        self.agent.take();
        self.tam.take();
    }
}

fn parse_installed<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<(String, String)> {
    lines
        .filter_map(|l| {
            let (component, sequence) = l.trim().split_once('\t')?;
            // "sequence N", then further tab-separated columns (the security domain).
            let sequence = sequence.strip_prefix("sequence ")?.split('\t').next()?;
            Some((component.to_owned(), sequence.to_owned()))
        })
        .collect()
}

/// `[(EXAMPLE_MANIFEST, sequence)]`.
pub fn example_installed(sequence: u64) -> Vec<(String, String)> {
    vec![(EXAMPLE_MANIFEST.to_owned(), sequence.to_string())]
}
