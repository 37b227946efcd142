//! Signing side of a TAM session (draft-ietf-teep-protocol-26 §8.1, §9.1): the QueryRequest
//! sealed with COSE_Sign by an ESP256 and an Ed25519 key, the Update sealed with COSE_Sign1,
//! and the raw signatures and verifications underneath (the crypto floor of TARGETS.md).

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use teep_cose::{Algorithm, SigningKey};
use teep_proto::{Message, Numbering, open, seal_sign, seal_sign1};

const LEGACY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/teep-protocol/");

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
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let p256 = SigningKey::generate_p256(&mut rng);
    let ed = SigningKey::generate_ed25519(&mut rng);
    let query = Message::decode(&hex_vector("query_request"), Numbering::Legacy).unwrap();
    let update = Message::decode(&hex_vector("update"), Numbering::Legacy).unwrap();

    // The floor: one raw signature / verification over a message-sized input.
    let tbs = query.encode(Numbering::Rfc);
    for (name, key, alg) in
        [("esp256", &p256, Algorithm::ESP256), ("ed25519", &ed, Algorithm::ED25519)]
    {
        c.bench_function(&format!("raw-sign/{name}"), |b| {
            b.iter(|| key.sign(alg, black_box(&tbs)).unwrap())
        });
        let sig = key.sign(alg, &tbs).unwrap();
        let public = key.public_key();
        c.bench_function(&format!("raw-verify/{name}"), |b| {
            b.iter(|| public.verify(alg, black_box(&tbs), &sig).unwrap())
        });
    }

    let signers = [(&p256, Algorithm::ESP256), (&ed, Algorithm::ED25519)];
    c.bench_function("seal-sign/query_request.esp256+ed25519", |b| {
        b.iter(|| seal_sign(black_box(&query), Numbering::Rfc, &signers).unwrap())
    });
    for (name, key, alg) in
        [("esp256", &p256, Algorithm::ESP256), ("ed25519", &ed, Algorithm::ED25519)]
    {
        c.bench_function(&format!("seal-sign1/update.{name}"), |b| {
            b.iter(|| seal_sign1(black_box(&update), Numbering::Rfc, key, alg).unwrap())
        });
        let sealed = seal_sign1(&update, Numbering::Rfc, key, alg).unwrap();
        let trusted = [key.public_key()];
        c.bench_function(&format!("open/update.{name}"), |b| {
            b.iter(|| open(black_box(&sealed), Numbering::Rfc, &trusted, &[alg]).unwrap())
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
