//! `teep bench tam` as a user runs it: idle devices registered in bulk, simulated Agents
//! served by an in-process TAM or a `teep tam serve` child, the JSON report, and failures
//! counted (not hidden) when the TAM cannot be reached. The PostgreSQL replica paths are
//! exercised by teep-tam's tests/replicas.rs and recorded in docs/performance.md.

mod common;

use common::VECTORS;

/// Runs `teep bench tam --json` with `args`; returns the exit code and the parsed report.
fn bench(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut all = vec!["bench", "tam", "--json", "--floor-iterations", "20", "--vectors", VECTORS];
    all.extend_from_slice(args);
    let out = common::run(dir, &all);
    let report = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("the report is not JSON ({e}):\n{out}"));
    (out.code, report)
}

#[test]
fn registers_idle_devices_and_runs_sessions_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--agents", "4", "--duration", "2", "--registered", "500"];
    let (code, report) = bench(dir.path(), &args);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["tam"], "in-process");
    assert_eq!(report["registered_devices"], 500);
    assert_eq!(report["registration"]["added"], 496, "500 minus the 4 simulated devices");
    assert_eq!(report["failures"], 0);
    assert_eq!(report["unconverged_devices"], 0);
    assert_eq!(report["installing_sessions"], 4, "each device installs once");
    assert!(report["sessions"].as_u64().unwrap() > 4, "later sessions find nothing to do");
    assert!(report["floor_us"]["per_session"].as_f64().unwrap() > 0.0);
    assert!(report["ratio_to_floor"].as_f64().unwrap() > 0.0, "TAM CPU measured");
    let latency = &report["latency_ms"];
    assert!(latency["p50"].as_f64() <= latency["p99"].as_f64());
    assert!(latency["p99"].as_f64() <= latency["max"].as_f64());
}

#[test]
fn drives_a_tam_process_of_the_same_executable() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--agents", "3", "--duration", "2", "--tams", "1", "--keys", "ed25519"];
    let (code, report) = bench(dir.path(), &args);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["tam"], "1 process");
    assert_eq!(report["failures"], 0);
    assert_eq!(report["installing_sessions"], 3);
    assert!(report["tam_cpu_us_per_session"].as_f64().unwrap() > 0.0, "child CPU measured");
}

#[test]
fn replicas_need_postgresql() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::run(dir.path(), &["bench", "tam", "--tams", "2", "--vectors", VECTORS]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("postgres"), "{out}");
}

#[test]
fn an_unreachable_tam_is_counted_as_failures() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    common::run(dir.path(), &["tam", "init", "--state", "state", "--listen", &listen]).success();
    let uri = format!("http://{listen}/tam");
    let args =
        ["--agents", "2", "--duration", "1", "--tam-config", "state/tam.toml", "--tam-uri", &uri];
    let (code, report) = bench(dir.path(), &args);
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(report["sessions"], 0);
    assert!(report["failures"].as_u64().unwrap() >= 2, "{report:#}");
    assert_eq!(report["unconverged_devices"], 2, "neither device got the TC");
    assert!(report["ratio_to_floor"].is_null(), "no --tam-pid: CPU not measured");
}
