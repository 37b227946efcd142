//! Decode, encode and verify+decode of the spec's messages (TARGETS.md: libteep decodes in
//! 0.3-2.5 µs per message; verify+decode should stay within 1.1× a raw signature check).

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use teep_cose::{Algorithm, PublicKey};
use teep_proto::{Message, Numbering, open};

const LEGACY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/teep-protocol/");
const RFC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/teep-rfc/");

fn hex_vector(name: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(format!("{LEGACY}{name}.hex.txt")).unwrap();
    let digits: String = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    hex::decode(digits).unwrap()
}

fn bench(c: &mut Criterion) {
    for name in ["query_request", "query_response", "update", "teep_success", "teep_error"] {
        let bytes = hex_vector(name);
        c.bench_function(&format!("decode/{name}"), |b| {
            b.iter(|| Message::decode(black_box(&bytes), Numbering::Legacy).unwrap())
        });
        let msg = Message::decode(&bytes, Numbering::Legacy).unwrap();
        c.bench_function(&format!("encode/{name}"), |b| {
            b.iter(|| black_box(&msg).encode(Numbering::Legacy))
        });
    }

    let json = std::fs::read_to_string(format!("{RFC}tam-esp256-pub.jwk")).unwrap();
    let tam = [PublicKey::from_jwk(&json).unwrap()];
    let cose = std::fs::read(format!("{RFC}query_request.tam.esp256.cose")).unwrap();
    let sign1 = teep_cose::Sign1::decode(&cose).unwrap();
    c.bench_function("raw-verify/query_request.esp256", |b| {
        b.iter(|| sign1.verify(&tam[0], &[]).unwrap())
    });
    c.bench_function("open/query_request.esp256", |b| {
        b.iter(|| open(black_box(&cose), Numbering::Rfc, &tam, &[Algorithm::ESP256]).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
