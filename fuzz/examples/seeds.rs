//! Writes seed corpora for every fuzz target into `fuzz/corpus/<target>/`, from the shared
//! test vectors plus a few structures built with the fixed fuzz keys (so that seeds of the
//! signature-checking targets verify). Usage: `cargo run --example seeds [-- OUT_DIR]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use teep_agent::ipc::{AgentStatus, ErrorKind, InstalledComponent, Request, Response};
use teep_cose::{Algorithm, RecipientSpec};
use teep_fuzz::{FIXED_SYMMETRIC_KEY, MemPlatform, VECTORS};
use teep_proto::{Message, Numbering};
use teep_suit::builder::{ManifestBuilder, Payload};
use teep_suit::{ComponentId, Options, process};

#[derive(Default)]
struct Corpora(BTreeMap<&'static str, Vec<Vec<u8>>>);

impl Corpora {
    fn add(&mut self, target: &'static str, bytes: Vec<u8>) {
        self.0.entry(target).or_default().push(bytes);
    }

    fn add_mode(&mut self, target: &'static str, mode: u8, bytes: &[u8]) {
        let mut v = Vec::with_capacity(bytes.len() + 1);
        v.push(mode);
        v.extend_from_slice(bytes);
        self.add(target, v);
    }

    fn write(&self, out: &Path) -> std::io::Result<()> {
        for (target, seeds) in &self.0 {
            let dir = out.join(target);
            std::fs::create_dir_all(&dir)?;
            for (i, seed) in seeds.iter().enumerate() {
                std::fs::write(dir.join(format!("seed-{i:03}")), seed)?;
            }
            println!("{target}: {} seeds", seeds.len());
        }
        Ok(())
    }
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(format!("{VECTORS}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn text(path: &str) -> String {
    String::from_utf8_lossy(&read(path)).into_owned()
}

/// Hex vector with `#` comments (annotated CBOR dumps) or plain hex.
fn hex_file(path: &str) -> Vec<u8> {
    let digits: String = text(path)
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(str::chars)
        .filter(char::is_ascii_hexdigit)
        .collect();
    hex::decode(digits).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The hex blocks (between `~~~` fences, all lines hex) of a draft excerpt.
fn fenced_hex(path: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for block in text(path).split("~~~").skip(1).step_by(2) {
        let lines: Vec<&str> = block.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        if !lines.is_empty()
            && lines.iter().all(|l| l.chars().all(|c| c.is_ascii_hexdigit()))
            && let Ok(b) = hex::decode(lines.concat())
        {
            out.push(b);
        }
    }
    out
}

/// `output.cbor` of every COSE WG example JSON in `dir`.
fn cose_wg(dir: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(format!("{VECTORS}/{dir}"))
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    entries.sort();
    for path in entries {
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(&bytes) else { continue };
        if let Some(h) = json.pointer("/output/cbor").and_then(|v| v.as_str())
            && let Ok(b) = hex::decode(h)
        {
            out.push(b);
        }
    }
    out
}

/// The payload of a COSE_Sign1 (for the TEEP-in-COSE vectors).
fn sign1_payload(bytes: &[u8]) -> Option<Vec<u8>> {
    teep_cose::Sign1::decode(bytes).ok()?.payload.map(<[u8]>::to_vec)
}

/// The bstr-wrapped manifest content (envelope key 3) of a SUIT envelope.
fn manifest_of(envelope: &[u8]) -> Option<Vec<u8>> {
    use minicbor::data::Type;
    let mut d = minicbor::Decoder::new(envelope);
    if d.datatype().ok()? == Type::Tag {
        d.tag().ok()?;
    }
    let n = d.map().ok()??;
    for _ in 0..n {
        let key = match d.datatype().ok()? {
            Type::U8 | Type::U16 | Type::U32 | Type::U64 => d.u64().ok(),
            _ => d.skip().ok().and(None),
        };
        if key == Some(3) {
            return d.bytes().ok().map(<[u8]>::to_vec);
        }
        d.skip().ok()?;
    }
    None
}

fn main() -> std::io::Result<()> {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/corpus")));
    let mut c = Corpora::default();

    // --- CBOR: RFC 8949 Appendix A and the not-well-formed list of Appendix F.
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(&read("cbor/appendix_a.json")) {
        for item in json.as_array().into_iter().flatten() {
            if let Some(b) =
                item.get("hex").and_then(|h| h.as_str()).and_then(|h| hex::decode(h).ok())
            {
                c.add("teep_cbor_check", b);
            }
        }
    }
    for line in text("cbor/rfc8949-appendix-f-not-well-formed.txt").lines().skip(1) {
        let items = line.split_once(':').map(|(_, r)| r).unwrap_or_default();
        for item in items.split(',') {
            if let Ok(b) = hex::decode(item.replace(' ', "")) {
                c.add("teep_cbor_check", b);
            }
        }
    }

    // --- TEEP messages: legacy examples (draft appendix) and RFC vectors.
    let legacy: Vec<Vec<u8>> =
        ["query_request", "query_response", "update", "teep_success", "teep_error"]
            .iter()
            .map(|n| hex_file(&format!("teep-protocol/{n}.hex.txt")))
            .collect();
    let rfc_cose: Vec<Vec<u8>> = [
        "query_request.tam.esp256.cose",
        "update0.tam.esp256.cose",
        "teep_success.agent.esp256.cose",
        "teep_error.agent.esp256.cose",
    ]
    .iter()
    .map(|n| read(&format!("teep-rfc/{n}")))
    .collect();
    let mut rfc: Vec<Vec<u8>> = rfc_cose.iter().filter_map(|b| sign1_payload(b)).collect();
    // The legacy examples re-encoded in RFC numbering (the RFC vectors lack a QueryResponse).
    for m in &legacy {
        if let Ok(msg) = Message::decode(m, Numbering::Legacy) {
            rfc.push(msg.encode(Numbering::Rfc));
        }
    }
    for m in &legacy {
        c.add("teep_message_legacy", m.clone());
        c.add("teep_cbor_check", m.clone());
        c.add_mode("teep_open", 3, m);
        c.add_mode("agent_handle", 3, m);
        c.add_mode("agent_handle", 7, m);
        c.add_mode("tam_session", 3, m);
        c.add_mode("tam_session", 7, m);
    }
    for m in &rfc {
        c.add("teep_message_rfc", m.clone());
        c.add_mode("teep_open", 2, m);
        c.add_mode("agent_handle", 2, m);
        c.add_mode("agent_handle", 6, m);
        c.add_mode("agent_handle", 14, m);
        c.add_mode("tam_session", 2, m);
        c.add_mode("tam_session", 6, m);
    }
    for b in &rfc_cose {
        c.add("cose_sign1", b.clone());
        c.add("teep_cbor_check", b.clone());
        c.add_mode("teep_open", 0, b);
        c.add_mode("agent_handle", 0, b);
        c.add_mode("tam_session", 0, b);
    }
    // COSE_Sign QueryRequests as the TAM sends them, with the fixed keys.
    let (tam, ed) = (teep_fuzz::tam_key(), teep_fuzz::ed25519_key());
    for (m, numbering, algs) in [
        (&rfc[0], Numbering::Rfc, [Algorithm::ESP256, Algorithm::ED25519]),
        (&legacy[0], Numbering::Legacy, [Algorithm::ES256, Algorithm::EDDSA]),
    ] {
        if let Ok(msg) = Message::decode(m, numbering)
            && let Ok(b) =
                teep_proto::seal_sign(&msg, numbering, &[(&tam, algs[0]), (&ed, algs[1])])
        {
            c.add("cose_sign", b.clone());
            let mode = if numbering == Numbering::Rfc { 0 } else { 1 };
            c.add_mode("teep_open", mode, &b);
            c.add_mode("agent_handle", mode, &b);
        }
    }

    // --- COSE WG examples.
    for dir in ["cose-wg/sign1-tests", "cose-wg/ecdsa-examples", "cose-wg/eddsa-examples"] {
        for b in cose_wg(dir) {
            c.add("cose_sign1", b.clone());
            c.add("cose_sign", b);
        }
    }
    for b in cose_wg("cose-wg/sign-tests") {
        c.add("cose_sign", b);
    }
    for dir in [
        "cose-wg/aes-gcm-examples",
        "cose-wg/chacha-poly-examples",
        "cose-wg/aes-wrap-examples",
        "cose-wg/ecdh-wrap-examples",
    ] {
        for b in cose_wg(dir) {
            c.add("cose_encrypt", b);
        }
    }
    for n in ["aes-kw-aes-ctr", "aes-kw-aes-gcm", "es-ecdh-aes-ctr", "es-ecdh-aes-gcm"] {
        c.add("cose_encrypt", hex_file(&format!("suit-encryption/suit-encryption-info-{n}.hex")));
    }
    // Encryptions the fixed keys open.
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let iv12 = [7u8; 12];
    for (alg, len, iv) in [
        (Algorithm::A128GCM, 16, &iv12[..]),
        (Algorithm::A256GCM, 32, &iv12[..]),
        (Algorithm::CHACHA20_POLY1305, 32, &iv12[..]),
        (Algorithm::A128CTR, 16, &[9u8; 16][..]),
    ] {
        if let Ok(b) =
            teep_cose::encrypt0(b"fuzz plaintext", &FIXED_SYMMETRIC_KEY[..len], alg, iv, &[], true)
        {
            c.add("cose_encrypt", b);
        }
    }
    let agent_pub = teep_fuzz::agent_key().public_key();
    for (alg, spec) in [
        (
            Algorithm::A128GCM,
            RecipientSpec::KeyWrap { kek: &FIXED_SYMMETRIC_KEY[..16], kid: Some(b"kek") },
        ),
        (
            Algorithm::A128CTR,
            RecipientSpec::EcdhEsKeyWrap {
                alg: Algorithm::ECDH_ES_A128KW,
                recipient: &agent_pub,
                kid: None,
                other: Some(b"SUIT Payload Encryption"),
            },
        ),
    ] {
        match teep_cose::encrypt(&mut rng, b"fuzz plaintext", alg, &[spec], &[], false) {
            Ok(e) => c.add("cose_encrypt", e.message),
            Err(e) => eprintln!("seed encrypt {alg:?}: {e}"),
        }
    }
    for (key, alg) in [(&FIXED_SYMMETRIC_KEY[..], Algorithm::HMAC_256_256)] {
        for tagged in [true, false] {
            if let Ok(b) =
                teep_cose::mac0(b"fuzz payload", key, alg, Some(b"k"), &[], tagged, false)
            {
                c.add("cose_mac0", b);
            }
        }
    }
    c.add("cose_mac0", hex::decode("d18443a10105a054546869732069732074686520636f6e74656e742e58202bdcc89f058216b8a208ddc6d8b54aa91f48bd63484986565105c9ad5a6682f6").unwrap_or_default());

    // --- SUIT envelopes.
    let mut envelopes = Vec::new();
    for n in ["suit_uri", "suit_integrated", "suit_personalization"] {
        envelopes.push(hex_file(&format!("teep-protocol/{n}.hex.txt")));
    }
    for n in ["example0_dependent", "example1_process", "example2_integrated"] {
        envelopes.push(hex_file(&format!("suit-trust-domains/{n}.hex")));
    }
    for n in ["aes-kw-content", "aes-kw-slot", "aes-kw", "es-ecdh-content", "es-ecdh-dependency"] {
        envelopes.push(hex_file(&format!("suit-encryption/suit-manifest-{n}.hex.signed")));
    }
    for i in 0..6 {
        envelopes.extend(fenced_hex(&format!("suit-manifest/example{i}.txt")));
    }
    envelopes.push(read("teep-rfc/text.0.envelope.cbor"));
    // Envelopes the fixed trust anchors accept, and that install on the fuzz platform.
    let signer = teep_fuzz::example_signer();
    let component = ComponentId::new([b"TEEP-Device".as_slice(), b"SecureFS", b"fuzz", b"ta"]);
    let builders = [
        ManifestBuilder::new(component.clone(), 1)
            .vendor_id(teep_fuzz::VENDOR_ID)
            .class_id(teep_fuzz::CLASS_ID)
            .payload(Payload::integrated(b"hello, world\n".to_vec())),
        ManifestBuilder::new(component.clone(), 2)
            .vendor_id(teep_fuzz::VENDOR_ID)
            .class_id(teep_fuzz::CLASS_ID)
            .payload(Payload::uri_for("fuzz:hello", b"hello, world\n"))
            .with_kid(true),
        ManifestBuilder::new(component.clone(), 3)
            .vendor_id(teep_fuzz::VENDOR_ID)
            .class_id(teep_fuzz::CLASS_ID)
            .manifest_component_id(ComponentId::new([b"fuzz-manifest".as_slice()]))
            .description("fuzz")
            .reference_uri("fuzz:manifest")
            .tagged(false),
    ];
    for b in &builders {
        match b.sign(&signer, None) {
            Ok(env) => envelopes.push(env),
            Err(e) => eprintln!("seed builder: {e}"),
        }
    }
    for env in &envelopes {
        c.add("suit_envelope", env.clone());
        c.add("teep_cbor_check", env.clone());
        c.add_mode("suit_process", 0, env);
        c.add_mode("suit_process", 4, env);
        if let Some(m) = manifest_of(env) {
            c.add_mode("suit_process", 1, &m);
            c.add_mode("suit_process", 9, &m);
            c.add_mode("suit_process", 3, &m);
        }
        // SUIT reports from running it.
        let mut platform = MemPlatform::example();
        let opts = Options { nonce: Some(b"nonce".to_vec()), ..Options::teep_install() };
        let report = match process(&mut platform, env, &teep_fuzz::suit_trust(), &opts) {
            Ok(r) => r.report,
            Err(f) => *f.report,
        };
        c.add("suit_report", report.encode());
    }
    // suit-reports inside the TEEP Success / Error vectors are SUIT_Report bstrs.
    for m in &rfc {
        if let Ok(Message::Success(s)) = Message::decode(m, Numbering::Rfc) {
            for r in s.suit_reports.iter().flatten() {
                c.add("suit_report", r.clone());
            }
        }
    }

    // --- Agent IPC bodies.
    let id = vec![b"TEEP-Device".to_vec(), b"SecureFS".to_vec()];
    let requests = [
        Request::ProcessTeepMessage {
            tam_uri: "http://127.0.0.1:1/tam".into(),
            message: rfc_cose[0].clone(),
        },
        Request::RequestTa {
            component_id: id.clone(),
            tam_uri: Some("http://127.0.0.1:1/tam".into()),
        },
        Request::RequestTa { component_id: id.clone(), tam_uri: None },
        Request::UnrequestTa { component_id: id.clone() },
        Request::RequestPolicyCheck,
        Request::Status,
    ];
    for r in &requests {
        c.add("agent_ipc_message", r.encode());
    }
    let responses = [
        Response::TeepMessage(rfc_cose[2].clone()),
        Response::TeepMessage(Vec::new()),
        Response::TamUri(Some("http://127.0.0.1:1/tam".into())),
        Response::TamUri(None),
        Response::TamUris(vec!["http://127.0.0.1:1/tam".into(), "x".into()]),
        Response::Status(AgentStatus {
            requested: vec![id.clone()],
            unneeded: vec![id.clone()],
            installed: vec![InstalledComponent {
                component_id: id.clone(),
                sequence_number: Some(3),
                image_digest: Some(vec![0; 32]),
                owner: Some(vec![2; 32]),
                domain: Some(id.clone()),
            }],
            agent_kid: vec![1; 32],
            tampered: Vec::new(),
            quarantined: Vec::new(),
        }),
        Response::Status(AgentStatus {
            requested: Vec::new(),
            unneeded: Vec::new(),
            installed: Vec::new(),
            agent_kid: vec![1; 32],
            tampered: vec![teep_agent::TamperedFile {
                path: "components/00.img".into(),
                what: "chunk 0".into(),
            }],
            quarantined: vec!["00".into()],
        }),
        Response::Error { kind: ErrorKind::Rejected, message: "no".into() },
        Response::Error { kind: ErrorKind::Other(77), message: String::new() },
    ];
    for r in &responses {
        c.add("agent_ipc_message", r.encode());
    }

    c.write(&out)
}
