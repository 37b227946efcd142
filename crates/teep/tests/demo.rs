//! `teep demo` as a user runs it: a real TAM, Broker and software-TEE Agent on loopback.

use std::process::Command;

fn demo(extra: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_teep"))
        .arg("demo")
        .arg("--json")
        .args(extra)
        .output()
        .expect("run teep demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "teep demo failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).expect("JSON summary")
}

fn message_kinds(step: &serde_json::Value) -> Vec<String> {
    step["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            let summary = m["summary"].as_str().expect("summary");
            format!(
                "{}:{}",
                m["from"].as_str().unwrap_or("?"),
                summary.split(' ').next().unwrap_or("")
            )
        })
        .collect()
}

const FULL_SESSION: [&str; 4] =
    ["TAM:QueryRequest", "Agent:QueryResponse", "TAM:Update", "Agent:Success"];

fn check(summary: &serde_json::Value, first_sequence: u64) {
    assert_eq!(summary["ok"], true, "{summary:#}");
    let steps = summary["steps"].as_array().expect("steps");
    let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().unwrap_or("")).collect();
    assert_eq!(names, ["install", "update", "delete"]);
    for step in steps {
        assert_eq!(step["ok"], true, "{step:#}");
        assert_eq!(message_kinds(step), FULL_SESSION, "{step:#}");
        assert_eq!(step["round_trips"], 3, "{step:#}");
    }
    let tc = summary["trusted_component"].as_str().expect("tc");
    assert_eq!(
        steps[0]["agent_has"][0].as_str(),
        Some(format!("{tc} @ {first_sequence}").as_str())
    );
    assert_eq!(
        steps[1]["agent_has"][0].as_str(),
        Some(format!("{tc} @ {}", first_sequence + 1).as_str())
    );
    assert_eq!(steps[1]["tam_records"], steps[1]["agent_has"]);
    assert_eq!(steps[2]["agent_has"].as_array().map(Vec::len), Some(0));
    assert_eq!(steps[2]["tam_records"].as_array().map(Vec::len), Some(0));
    assert!(summary["tam_uri"].as_str().unwrap_or("").starts_with("http://127.0.0.1:"));
}

#[test]
fn demo_installs_updates_and_deletes_the_published_example() {
    let summary = demo(&[]);
    assert!(summary["origin"].as_str().unwrap_or("").contains("published example"), "{summary:#}");
    check(&summary, 3);
}

#[test]
fn demo_with_own_tc_builds_its_own_trusted_component() {
    let summary = demo(&["--own-tc"]);
    assert!(summary["origin"].as_str().unwrap_or("").contains("built by teep-rs"), "{summary:#}");
    check(&summary, 3);
}

#[test]
fn demo_refuses_a_vectors_folder_that_is_not_there() {
    let empty = tempfile::tempdir().expect("tempdir");
    let empty = empty.path().to_str().expect("path").to_owned();
    for dir in ["/nonexistent/teep-vectors", empty.as_str()] {
        let out = Command::new(env!("CARGO_BIN_EXE_teep"))
            .args(["demo", "--json", "--vectors", dir])
            .output()
            .expect("run teep demo");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(out.stdout.is_empty(), "no demo ran");
        assert!(stderr.contains(&format!("--vectors {dir}:")), "{stderr}");
        assert!(stderr.contains("--own-tc"), "{stderr}");
    }
}

/// `teep demo | head -1`: the reader goes after one line; the demo exits 141 at its next line
/// (as with SIGPIPE) and its temporary directory is gone. With `--json` the summary may all fit
/// in the pipe before the reader goes, so either status is right there, but nothing is left.
#[test]
fn demo_removes_its_directory_when_the_reader_goes_away() {
    use std::io::{BufRead as _, BufReader};
    use std::process::Stdio;

    for (json, statuses) in [(false, &[141][..]), (true, &[0, 141][..])] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut args = vec!["demo", "--own-tc"];
        if json {
            args.push("--json");
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_teep"))
            .args(&args)
            .env("TMPDIR", tmp.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run teep demo");
        let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        reader.read_line(&mut first).expect("first line");
        assert!(first.starts_with(if json { "{" } else { "teep demo:" }), "{first}");
        drop(reader);
        let status = child.wait().expect("wait");
        assert!(status.code().is_some_and(|c| statuses.contains(&c)), "json {json}: {status}");
        let left: Vec<_> = std::fs::read_dir(tmp.path()).expect("TMPDIR").flatten().collect();
        assert!(left.is_empty(), "json {json}: left behind: {left:?}");
    }
}
