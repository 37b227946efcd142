//! `teep tam serve` as an operator runs it: settings from the file, `TEEP_TAM_*` variables
//! and flags (flags win), JSON logs, health, readiness and metrics endpoints, and a clean
//! exit 0 on SIGTERM.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::free_port;

/// A `teep tam serve` child process, killed when dropped (even if the test failed).
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// GET `path` on loopback `port`: (status, body), or `None` when nothing answers.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

fn init(dir: &Path, listen: &str) -> String {
    common::run(dir, &["tam", "init", "--state", "state", "--listen", listen]).success();
    dir.join("state/tam.toml").display().to_string()
}

#[test]
fn flags_beat_environment_beat_file_logs_are_json_and_sigterm_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let (file_port, env_port, flag_port) = (free_port(), free_port(), free_port());
    let config = init(dir.path(), &format!("127.0.0.1:{file_port}"));
    let stderr = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let mut command = common::teep(dir.path());
    command
        .args(["--log", "info", "tam", "serve", "-c", &config])
        .args(["--listen", &format!("127.0.0.1:{flag_port}")])
        .env("TEEP_TAM_LISTEN", format!("127.0.0.1:{env_port}"))
        .env("TEEP_TAM_LOG_FORMAT", "json")
        .env("TEEP_TAM_SHUTDOWN_GRACE_SECS", "5")
        .stdout(Stdio::null())
        .stderr(stderr);
    let mut served = Served(command.spawn().unwrap());

    // The flag's port serves; neither the variable's nor the file's does.
    let deadline = Instant::now() + common::START_TIMEOUT;
    while get(flag_port, "/healthz").is_none() {
        assert!(served.0.try_wait().unwrap().is_none(), "teep tam serve exited");
        assert!(Instant::now() < deadline, "teep tam serve never listened");
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(get(env_port, "/healthz").is_none());
    assert!(get(file_port, "/healthz").is_none());
    assert_eq!(get(flag_port, "/healthz"), Some((200, "ok\n".into())));
    assert_eq!(get(flag_port, "/readyz"), Some((200, "ready\n".into())));
    let (status, metrics) = get(flag_port, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(metrics.contains("teep_tam_build_info{version=\""), "{metrics}");

    // SIGTERM (to this child's id): a clean stop.
    let pid = served.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = served.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "teep tam serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));

    // Every log line is one JSON object; start and stop are there.
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    let mut messages = Vec::new();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let message = value["fields"]["message"].as_str().unwrap_or_default().to_owned();
        messages.push(message);
    }
    for expected in ["TAM listening", "TAM stopped"] {
        assert!(messages.iter().any(|m| m == expected), "{expected} missing in\n{log}");
    }
}

#[test]
fn unknown_settings_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = init(dir.path(), "127.0.0.1:1");

    let log = dir.path().join("refused.log");
    let mut command = common::teep(dir.path());
    command
        .args(["tam", "serve", "-c", &config])
        .env("TEEP_TAM_LISTN", "127.0.0.1:2")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut served = Served(command.spawn().unwrap());
    let deadline = Instant::now() + common::COMMAND_TIMEOUT;
    let status = loop {
        if let Some(status) = served.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "teep tam serve started despite the typo");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(1));
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(stderr.contains("unknown environment variable TEEP_TAM_LISTN"), "{stderr}");

    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\nmax_sessions = 3\n");
    std::fs::write(&config, text).unwrap();
    let output = common::run(dir.path(), &["tam", "serve", "-c", &config]);
    assert_eq!(output.code, Some(1), "{output}");
    assert!(output.stderr.contains("unknown field `max_sessions`"), "{output}");
}

#[test]
fn startup_failures_name_the_listener_once_and_nothing_claims_to_serve() {
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap().to_string();
    let config = init(dir.path(), &busy_addr);

    // The TEEP port is taken.
    let output = common::run(dir.path(), &["tam", "serve", "-c", &config]);
    assert_eq!(output.code, Some(1), "{output}");
    assert!(!output.stderr.contains("serving"), "{output}");
    assert!(output.stderr.contains(&format!("TEEP on {busy_addr}")), "{output}");
    assert!(output.stderr.contains("--listen"), "{output}");
    assert_eq!(output.stderr.matches("in use").count(), 1, "{output}");

    // The admin port is taken.
    let free = format!("127.0.0.1:{}", free_port());
    let args = ["tam", "serve", "-c", &config, "--listen", &free, "--admin-listen", &busy_addr];
    let output = common::run(dir.path(), &args);
    assert_eq!(output.code, Some(1), "{output}");
    assert!(!output.stderr.contains("serving"), "{output}");
    assert!(output.stderr.contains(&format!("admin API on {busy_addr}")), "{output}");
    assert!(output.stderr.contains("--admin-listen"), "{output}");

    // A relative TLS flag is relative to the working directory, and a missing file is named.
    let args = ["tam", "serve", "-c", &config, "--listen", &free];
    let tls = ["--tls-certificate", "cert.pem", "--tls-private-key", "key.pem"];
    let output = common::run(dir.path(), &[&args[..], &tls[..]].concat());
    assert_eq!(output.code, Some(1), "{output}");
    assert!(!output.stderr.contains("serving"), "{output}");
    let expected = dir.path().canonicalize().unwrap().join("cert.pem");
    assert!(output.stderr.contains(&expected.display().to_string()), "{output}");
    assert!(output.stderr.contains("--tls-certificate"), "{output}");
    drop(busy);
}
