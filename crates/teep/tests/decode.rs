//! System tests of `teep decode`: every published vector decodes (exit 0), and malformed
//! input fails with exit code 1 and one line on standard error naming the problem.

mod common;

use std::path::{Path, PathBuf};

use common::{VECTORS, run, run_with_stdin};

/// Messages of the teep-protocol examples use the numbering of draft 25 and earlier; the
/// SUIT envelopes there and the teep-rfc vectors use the RFC numbering.
fn wire_of(path: &Path) -> &'static str {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let in_protocol = path.parent().is_some_and(|p| p.ends_with("teep-protocol"));
    if in_protocol && !name.starts_with("suit_") { "legacy" } else { "rfc" }
}

fn files(dir: &str, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(Path::new(VECTORS).join(dir))
        .expect("vector dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_str().is_some_and(|s| s.ends_with(suffix)))
        .collect();
    out.sort();
    out
}

#[test]
fn every_vector_decodes() {
    let vectors: Vec<PathBuf> =
        files("teep-protocol", ".hex.txt").into_iter().chain(files("teep-rfc", ".cose")).collect();
    assert!(vectors.len() >= 12, "{vectors:?}");
    let cwd = tempfile::tempdir().expect("tempdir");
    for path in &vectors {
        let file = path.to_str().expect("path");
        let out = run(cwd.path(), &["decode", "--wire", wire_of(path), file]);
        assert_eq!(out.code, Some(0), "{file}:\n{out}");
        assert!(out.stdout.starts_with("/ "), "{file}:\n{out}");
        assert!(out.stdout.lines().count() > 1, "{file}: a diagnostic follows the summary");
        assert_eq!(out.stderr, "", "{file}");
    }
}

#[test]
fn decoded_vectors_are_named() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("teep-protocol/query_request.hex.txt", "legacy", "QueryRequest"),
        ("teep-protocol/update.hex.txt", "legacy", "Update"),
        ("teep-protocol/suit_uri.hex.txt", "rfc", "SUIT"),
        ("teep-rfc/query_request.tam.esp256.cose", "rfc", "QueryRequest"),
        ("teep-rfc/teep_success.agent.esp256.cose", "rfc", "Success"),
    ];
    for (name, wire, word) in cases {
        let path = common::vector(name);
        let out = run(cwd.path(), &["decode", "--wire", wire, path.to_str().expect("path")]);
        let first = out.stdout.lines().next().unwrap_or_default().to_owned();
        assert!(first.contains(word), "{name}: {first}");
    }
    // Standard input works like a file.
    let bytes = std::fs::read(common::vector("teep-rfc/update0.tam.esp256.cose")).expect("read");
    let out = run_with_stdin(cwd.path(), &["decode", "-"], &bytes).success();
    assert!(out.stdout.starts_with("/ "), "{out}");
}

#[test]
fn malformed_input_fails_with_one_line() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let valid = std::fs::read(common::vector("teep-rfc/update0.tam.esp256.cose")).expect("read");
    let truncated = valid.get(..valid.len() / 2).expect("half").to_vec();
    let mut trailing = valid.clone();
    trailing.push(0);
    let mut deep = vec![0x81u8; 10_000];
    deep.push(0);
    let mut deep_map = Vec::new();
    for _ in 0..200 {
        deep_map.extend_from_slice(&[0xa1, 0x01]);
    }
    deep_map.push(0);
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        ("empty", Vec::new(), &["empty"]),
        ("truncated", truncated, &["truncated"]),
        ("trailing", trailing, &["trailing"]),
        ("garbage", b"\xff\xfe\xfd garbage".to_vec(), &["cbor", "break", "reserved"]),
        ("deep-arrays", deep, &["deep", "nesting"]),
        ("deep-maps", deep_map, &["deep", "nesting"]),
        ("indefinite", vec![0x9f, 0x01, 0xff], &["indefinite"]),
        ("not-teep", vec![0x83, 0x01, 0x02, 0x03], &["invalid"]),
        ("bad-hex", b"# hex text\n0a0b0g\n".to_vec(), &["line 2, column 6", "not a hex digit"]),
        ("odd-hex", b"0a0b0\n".to_vec(), &["odd number of digits"]),
    ];
    for (name, bytes, words) in cases {
        let path = cwd.path().join(name);
        std::fs::write(&path, &bytes).expect("write");
        let file = path.to_str().expect("path");
        let out = run(cwd.path(), &["decode", file]);
        assert_eq!(out.code, Some(1), "{name}:\n{out}");
        assert_eq!(out.stdout, "", "{name}");
        let lines = out.stderr_lines();
        assert_eq!(lines.len(), 1, "{name}: one line on stderr:\n{out}");
        let line = lines.first().copied().unwrap_or_default().to_lowercase();
        assert!(line.contains(name), "{name}: the line names the input: {line}");
        assert!(words.iter().any(|w| line.contains(w)), "{name}: {line}");
    }

    // A file that does not exist.
    let out = run(cwd.path(), &["decode", "missing.cbor"]).exit(1);
    assert_eq!(out.stderr_lines().len(), 1, "{out}");
    assert!(out.stderr.contains("missing.cbor"), "{out}");
}
