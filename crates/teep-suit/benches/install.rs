//! Install throughput against the SHA-256 floor, and peak memory of a streamed URI install.
//!
//! `cargo bench -p teep-suit --features std --bench install`: criterion compares installing a
//! 16 MiB integrated payload (authenticate, stream through digest into a discarding staging
//! area) with plain SHA-256 over the same bytes in the same run. Then one 256 MiB payload is
//! installed from a URI on a streaming fake platform and the peak RSS (VmHWM) is printed, and
//! the same for a 256 MiB AES-128-GCM encrypted payload (A128KW recipient) read from a file.

use std::hint::black_box;

use criterion::{Criterion, criterion_group};
use sha2::{Digest as _, Sha256};
use teep_suit::builder::{ManifestBuilder, Payload};
use teep_suit::{
    ComponentId, Download, Identifier, InstallRecord, Options, Platform, PlatformError, SuitDigest,
    TrustAnchors, process,
};

/// A device that hashes what it stages and keeps nothing.
#[derive(Default)]
struct Sink {
    staged: u64,
    uri_len: u64,
    /// Serve fetches from this file instead of the pattern.
    file: Option<std::path::PathBuf>,
    keys: Vec<teep_suit::DecryptionKey>,
}

/// A fetch: generated pattern bytes or a file.
enum Source {
    Pattern(Pattern),
    File(std::fs::File),
}

impl Download for Source {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, PlatformError> {
        match self {
            Source::Pattern(p) => p.read(buf),
            Source::File(f) => std::io::Read::read(f, buf)
                .map_err(|e| PlatformError::Failed(format!("payload file: {e}"))),
        }
    }
}

/// A download producing `len` pattern bytes without holding them.
struct Pattern {
    left: u64,
    pos: u64,
}

fn pattern_byte(i: u64) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

impl Download for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, PlatformError> {
        let n = (buf.len() as u64).min(self.left) as usize;
        for (i, b) in buf.iter_mut().take(n).enumerate() {
            *b = pattern_byte(self.pos + i as u64);
        }
        self.pos += n as u64;
        self.left -= n as u64;
        Ok(n)
    }
}

impl Platform for Sink {
    type Download = Source;
    fn fetch(&mut self, _uri: &str, _a: Option<&[u8]>) -> Result<Source, PlatformError> {
        match &self.file {
            Some(path) => std::fs::File::open(path)
                .map(Source::File)
                .map_err(|e| PlatformError::Failed(format!("payload file: {e}"))),
            None => Ok(Source::Pattern(Pattern { left: self.uri_len, pos: 0 })),
        }
    }
    fn decryption_keys(&self) -> &[teep_suit::DecryptionKey] {
        &self.keys
    }
    fn matches_identifier(&self, _k: Identifier, _c: &ComponentId, _v: &[u8]) -> bool {
        true
    }
    fn installed_sequence_number(&self, _m: &ComponentId) -> Option<u64> {
        None
    }
    fn stage_begin(&mut self, _c: &ComponentId) -> Result<(), PlatformError> {
        self.staged = 0;
        Ok(())
    }
    fn stage_write(
        &mut self,
        _c: &ComponentId,
        _o: u64,
        chunk: &[u8],
    ) -> Result<(), PlatformError> {
        self.staged += black_box(chunk).len() as u64;
        Ok(())
    }
    fn read(&mut self, _c: &ComponentId, _o: u64, _b: &mut [u8]) -> Result<usize, PlatformError> {
        Err(PlatformError::UnknownComponent)
    }
    fn stage_unlink(&mut self, _c: &ComponentId) -> Result<(), PlatformError> {
        Ok(())
    }
    fn stage_uninstall(&mut self, _m: &ComponentId) -> Result<(), PlatformError> {
        Ok(())
    }
    fn invoke(&mut self, _c: &ComponentId, _a: Option<&[u8]>) -> Result<(), PlatformError> {
        Ok(())
    }
    fn commit(&mut self, _r: Option<&InstallRecord<'_>>) -> Result<(), PlatformError> {
        Ok(())
    }
    fn abort(&mut self) {}
}

fn key() -> teep_cose::SigningKey {
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors/teep-protocol/example-signer-private.pem"
    ))
    .expect("example key");
    teep_cose::SigningKey::from_pkcs8_pem(&pem).expect("pem")
}

fn builder(payload: Payload) -> ManifestBuilder {
    ManifestBuilder::new(ComponentId::new([&b"TEEP-Device"[..], b"bench"]), 1)
        .vendor_id([1u8; 16])
        .class_id([2u8; 16])
        .payload(payload)
}

fn integrated(c: &mut Criterion) {
    let key = key();
    let trust = TrustAnchors::new(vec![key.public_key()]);
    let data: Vec<u8> = (0..16u64 << 20).map(pattern_byte).collect();
    let env = builder(Payload::integrated(data.clone())).sign(&key, None).expect("sign");
    let mut opts = Options::teep_install();
    opts.chunk_size = 64 << 10;
    let mut group = c.benchmark_group("16MiB");
    group.sample_size(20);
    group.bench_function("sha256_floor", |b| b.iter(|| Sha256::digest(black_box(&data))));
    group.bench_function("install_integrated", |b| {
        b.iter(|| {
            let mut p = Sink::default();
            process(&mut p, black_box(&env), &trust, &opts).expect("install");
        })
    });
    group.finish();
}

criterion_group!(benches, integrated);

fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn uri_256mib() {
    let len = 256u64 << 20;
    let mut hasher = Sha256::new();
    let mut pattern = Pattern { left: len, pos: 0 };
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = pattern.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let digest = SuitDigest::from_sha256(hasher.finalize().into());
    let key = key();
    let trust = TrustAnchors::new(vec![key.public_key()]);
    let env = builder(Payload::Uri { uri: "bench://payload".into(), digest, size: len })
        .sign(&key, None)
        .expect("sign");
    let before = vm_hwm_kib().unwrap_or(0);
    let start = std::time::Instant::now();
    let mut p = Sink { uri_len: len, ..Sink::default() };
    let mut opts = Options::teep_install();
    opts.chunk_size = 64 << 10;
    process(&mut p, &env, &trust, &opts).expect("install 256 MiB");
    let elapsed = start.elapsed();
    let after = vm_hwm_kib().unwrap_or(0);
    println!(
        "uri_256MiB: installed {} bytes in {:.2?} ({:.0} MiB/s); peak RSS (VmHWM) {} KiB \
         before, {} KiB after",
        p.staged,
        elapsed,
        256.0 / elapsed.as_secs_f64(),
        before,
        after
    );
}

/// Resets VmHWM to the current RSS (Linux `clear_refs` value 5).
fn reset_hwm() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The envelope without its integrated member `name` (members are outside the signature).
fn strip_member(envelope: &[u8], name: &str) -> Vec<u8> {
    let mut d = minicbor::Decoder::new(envelope);
    let start = d.position();
    let tagged = d.datatype().ok() == Some(minicbor::data::Type::Tag);
    if tagged {
        d.tag().expect("tag");
    }
    let head = envelope[start..d.position()].to_vec();
    let n = d.map().expect("map").expect("definite map");
    let mut kept = Vec::new();
    for _ in 0..n {
        let at = d.position();
        let is_name = d.datatype().ok() == Some(minicbor::data::Type::String)
            && d.probe().str().ok() == Some(name);
        d.skip().expect("key");
        d.skip().expect("value");
        if !is_name {
            kept.push(&envelope[at..d.position()]);
        }
    }
    let mut e = minicbor::Encoder::new(head);
    e.map(kept.len() as u64).expect("map");
    let mut out = e.into_writer();
    for member in kept {
        out.extend_from_slice(member);
    }
    out
}

fn uri_256mib_a128gcm() {
    let len = 256usize << 20;
    // The builder and `tool::encrypt_payload` encrypt integrated payloads; the URI replaces
    // the integrated key (same length, so no CBOR header changes) and the envelope is re-signed.
    let (name, uri) = ("#bench-encrypted", "bench:/encrypted");
    let kek = [0x42u8; 16];
    let key = key();
    let trust = TrustAnchors::new(vec![key.public_key()]);
    let path = std::env::temp_dir().join(format!("teep-bench-gcm-{}.bin", std::process::id()));

    // Encrypt once with the one-shot AEAD, write the ciphertext where the fetch reads it,
    // and keep only the envelope without the ciphertext.
    let env = {
        let data: Vec<u8> = (0..len as u64).map(pattern_byte).collect();
        let plain =
            builder(Payload::Integrated { key: name.into(), data }).sign(&key, None).expect("sign");
        let auth = teep_suit::tool::Authenticator::Sign1 { key: &key, alg: None, with_kid: false };
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let enc = teep_suit::tool::encrypt_payload(
            &mut rng,
            &plain,
            name,
            &[teep_suit::tool::Recipient::Kek(&kek)],
            teep_cose::Algorithm::A128GCM,
            &auth,
        )
        .expect("encrypt");
        drop(plain);
        let parsed = teep_suit::Envelope::decode(&enc).expect("decode");
        std::fs::write(&path, parsed.integrated_payload(name).expect("ciphertext"))
            .expect("write ciphertext");
        drop(parsed);
        let mut env = strip_member(&enc, name);
        drop(enc);
        let (from, to) = (name.as_bytes(), uri.as_bytes());
        let at = env.windows(from.len()).position(|w| w == from).expect("uri in the manifest");
        env[at..at + from.len()].copy_from_slice(to);
        teep_suit::tool::resign(&env, &auth).expect("re-sign")
    };
    reset_hwm();
    let before = vm_hwm_kib().unwrap_or(0);
    let start = std::time::Instant::now();
    let mut p = Sink {
        file: Some(path.clone()),
        keys: vec![teep_suit::DecryptionKey::KeyWrap {
            kid: None,
            key: zeroize::Zeroizing::new(kek.to_vec()),
        }],
        ..Sink::default()
    };
    let mut opts = Options::teep_install();
    opts.chunk_size = 64 << 10;
    let result = process(&mut p, &env, &trust, &opts);
    let elapsed = start.elapsed();
    let after = vm_hwm_kib().unwrap_or(0);
    let _ = std::fs::remove_file(&path);
    result.expect("install 256 MiB A128GCM");
    println!(
        "uri_256MiB_a128gcm: installed {} bytes in {:.2?} ({:.0} MiB/s); peak RSS (VmHWM) {} \
         KiB before, {} KiB after",
        p.staged,
        elapsed,
        256.0 / elapsed.as_secs_f64(),
        before,
        after
    );
}

fn main() {
    // The RSS figures first, before criterion allocates its 16 MiB inputs.
    uri_256mib();
    uri_256mib_a128gcm();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
