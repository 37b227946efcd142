//! Helpers shared by the vector tests (included with `mod common;`).
#![allow(dead_code)]

use serde_json::Value;
use std::path::PathBuf;

pub fn vectors(dir: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors")).join(dir)
}

/// Every JSON file of a cose-wg example directory, sorted, as (file name, value).
pub fn cose_wg(dir: &str) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = std::fs::read_dir(vectors("cose-wg").join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = format!("{dir}/{}", p.file_name().unwrap().to_string_lossy());
            (name, serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap())
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A cose-wg key object as a JWK string (hex members converted to base64url).
pub fn jwk_of(key: &Value) -> String {
    use base64ct::Encoding;
    let mut obj = serde_json::Map::new();
    for (k, v) in key.as_object().unwrap() {
        if let Some(name) = k.strip_suffix("_hex") {
            let raw = hex::decode(v.as_str().unwrap()).unwrap();
            obj.insert(name.into(), base64ct::Base64UrlUnpadded::encode_string(&raw).into());
        } else {
            obj.insert(k.clone(), v.clone());
        }
    }
    Value::Object(obj).to_string()
}

pub fn hex_field(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}
