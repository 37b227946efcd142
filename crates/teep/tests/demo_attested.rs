//! `teep demo --attested` as a user runs it: the Verifier in its own process, a TAM that
//! requires attestation (background-check model), an endorsed device that gets the Trusted
//! Component and an unendorsed one that gets only the remediation component.

use std::process::Command;

#[test]
fn attested_demo() {
    let out = Command::new(env!("CARGO_BIN_EXE_teep"))
        .args(["demo", "--attested", "--json"])
        .output()
        .expect("run teep demo --attested");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "teep demo --attested failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(&stdout).expect("JSON summary");
    assert_eq!(summary["ok"], true, "{summary:#}");
    assert_eq!(summary["model"], "background-check");

    // The Verifier ran as another process, on loopback, and has been stopped.
    let verifier = &summary["verifier"];
    let pid = verifier["pid"].as_u64().expect("pid");
    assert_ne!(pid, u64::from(std::process::id()));
    assert!(verifier["url"].as_str().expect("url").starts_with("http://127.0.0.1:"));
    assert!(!std::path::Path::new(&format!("/proc/{pid}/cmdline")).exists(), "Verifier still runs");
    // Its reference values are the Agent's attestation settings and one manifest digest.
    let reference = &verifier["reference"];
    for field in ["oemids", "hwmodels", "hwversions", "manifest_digests"] {
        assert_eq!(reference[field].as_array().map(Vec::len), Some(1), "{field}: {reference}");
    }
    assert_eq!(reference["manifest_digests"][0].as_str().map(str::len), Some(64));

    let steps = summary["steps"].as_array().expect("steps");
    let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().unwrap_or("")).collect();
    assert_eq!(names, ["attested install", "untrusted device"]);
    let tc = summary["trusted_component"].as_str().expect("tc");

    // The endorsed device: the QueryRequest asked for attestation, the QueryResponse carried
    // Evidence, the Verifier affirmed it, and the TC is on both sides.
    let trusted = &steps[0];
    assert_eq!(trusted["ok"], true, "{trusted:#}");
    assert_eq!(trusted["device"], summary["agent_kid"]);
    assert_eq!(trusted["attestation"]["trusted"], true, "{trusted:#}");
    assert_eq!(trusted["attestation"]["reason"], "affirming");
    assert_eq!(trusted["attestation"]["model"], "background-check");
    let summaries: Vec<&str> = trusted["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["summary"].as_str())
        .collect();
    assert!(summaries[0].starts_with("QueryRequest") && summaries[0].contains("attestation"));
    assert!(
        summaries[1].starts_with("QueryResponse") && summaries[1].contains("attestation-payload")
    );
    let has: Vec<&str> = trusted["agent_has"]
        .as_array()
        .expect("agent_has")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(has.iter().any(|h| h.starts_with(tc)), "{has:?}");
    assert_eq!(trusted["tam_records"], trusted["agent_has"]);

    // The unendorsed device: refused with the Verifier's reason; only remediation installed.
    let untrusted = &steps[1];
    assert_eq!(untrusted["ok"], true, "{untrusted:#}");
    assert_ne!(untrusted["device"], summary["agent_kid"]);
    assert_eq!(untrusted["attestation"]["trusted"], false, "{untrusted:#}");
    let reason = untrusted["attestation"]["reason"].as_str().expect("reason");
    assert!(reason.contains("no trusted key"), "{reason}");
    let has: Vec<&str> = untrusted["agent_has"]
        .as_array()
        .expect("agent_has")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(has.len(), 1, "{has:?}");
    assert!(has[0].contains("remediation"), "{has:?}");
    assert!(!has[0].starts_with(tc));
    assert_eq!(untrusted["tam_records"], untrusted["agent_has"]);
}
