//! RFC 8949 Appendix A (examples) and Appendix F.1 (not well-formed items) against `check`.

use teep_cbor::{Error, Limits, check};

const APPENDIX_A: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/cbor/appendix_a.json");
const APPENDIX_F: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/vectors/cbor/rfc8949-appendix-f-not-well-formed.txt"
);

/// Appendix A examples that are deliberately not in preferred serialization or use
/// indefinite lengths, with the error `check` must give.
fn expected_failure(hex: &str) -> Option<Error> {
    let not_preferred = Error::NotPreferred { offset: 0 };
    match hex {
        // Infinity, NaN, -Infinity written as binary32 / binary64: binary16 suffices.
        "fa7f800000" | "fa7fc00000" | "faff800000" => Some(not_preferred),
        "fb7ff0000000000000" | "fb7ff8000000000000" | "fbfff0000000000000" => Some(not_preferred),
        // simple(24) in two bytes: listed in the RFC 7049 examples, but RFC 8949 §3.3 makes
        // two-byte simple values below 32 not well-formed (Appendix F.1 lists f8 18).
        "f818" => Some(Error::BadSimple { offset: 0 }),
        // Indefinite-length strings, arrays and maps.
        "5f42010243030405ff"
        | "7f657374726561646d696e67ff"
        | "9fff"
        | "9f018202039f0405ffff"
        | "9f01820203820405ff"
        | "9f0102030405060708090a0b0c0d0e0f101112131415161718181819ff"
        | "bf61610161629f0203ffff"
        | "bf6346756ef563416d7421ff" => Some(Error::Indefinite { offset: 0 }),
        "83018202039f0405ff" => Some(Error::Indefinite { offset: 5 }),
        "83019f0203ff820405" => Some(Error::Indefinite { offset: 2 }),
        "826161bf61626163ff" => Some(Error::Indefinite { offset: 3 }),
        _ => None,
    }
}

#[test]
fn appendix_a_examples() {
    let text = std::fs::read_to_string(APPENDIX_A).unwrap();
    let examples: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(examples.len(), 82);
    let (mut passed, mut failed) = (0, 0);
    for example in &examples {
        let hex_text = example["hex"].as_str().unwrap();
        let bytes = hex::decode(hex_text).unwrap();
        let got = check(&bytes, &Limits::default());
        match expected_failure(hex_text) {
            None => {
                assert_eq!(got, Ok(()), "{hex_text}");
                passed += 1;
            }
            Some(err) => {
                assert_eq!(got, Err(err), "{hex_text}");
                failed += 1;
            }
        }
    }
    println!("appendix A: {passed} accepted, {failed} rejected as expected");
    assert_eq!((passed, failed), (64, 18));
}

#[test]
fn appendix_f_not_well_formed() {
    let text = std::fs::read_to_string(APPENDIX_F).unwrap();
    let mut count = 0;
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let (_, items) = line.split_once(':').unwrap();
        for item in items.split(',') {
            let bytes = hex::decode(item.split_whitespace().collect::<String>()).unwrap();
            let got = check(&bytes, &Limits::default());
            assert!(got.is_err(), "accepted not-well-formed {item}");
            count += 1;
        }
    }
    assert_eq!(count, 94);
}
