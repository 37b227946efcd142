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
fn demo_without_the_vectors_builds_its_own_trusted_component() {
    let summary = demo(&["--vectors", "/nonexistent/teep-vectors"]);
    assert!(summary["origin"].as_str().unwrap_or("").contains("built by teep-rs"), "{summary:#}");
    check(&summary, 3);
}
