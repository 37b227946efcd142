//! Shared test scaffolding: a TAM key, an initialized state directory, message helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use teep_agent::software::config::{ConfigFile, Mirror, NumberingName, TamEntry};
use teep_agent::software::{self, SoftwareAgent, init};
use teep_cose::{Algorithm, PublicKey, Sign1, SigningKey};
use teep_proto::{
    CipherSuite, DataItemRequested, Message, Numbering, QueryRequest, SuitCoseProfile, Token,
    Update,
};

pub const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors");
pub const TAM_URI: &str = "http://127.0.0.1:1/tam";
pub const VENDOR_ID: &str = "c0ddd5f15243566087db4f5b0aa26c2f";
pub const CLASS_ID: &str = "db42f7093d8c55baa8c5265fc5820f4e";
pub const TA_FILE: &str = "8d82573a-926d-4754-9353-32dc29997f74.ta";

pub fn vector(rel: &str) -> PathBuf {
    Path::new(VECTORS).join(rel)
}

/// Reads a `.hex.txt` vector: hex digits, whitespace and `#` comments.
pub fn hex_vector(rel: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(vector(rel)).expect("vector");
    let digits: String = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    hex::decode(digits).expect("hex")
}

pub fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// A TAM for tests: its key and how it signs.
pub struct Tam {
    pub key: SigningKey,
    pub numbering: Numbering,
}

impl Tam {
    pub fn new() -> Self {
        Self { key: SigningKey::generate_p256(&mut rng()), numbering: Numbering::Rfc }
    }

    pub fn public_pem(&self) -> String {
        self.key.public_key().to_spki_pem()
    }

    pub fn seal(&self, message: &Message) -> Vec<u8> {
        let kid = self.key.public_key().thumbprint();
        teep_cose::sign1(
            &message.encode(self.numbering),
            &self.key,
            Algorithm::ESP256,
            Some(&kid),
            &[],
            true,
        )
        .expect("sign")
    }

    pub fn query_request(&self, token: &[u8], asked: DataItemRequested) -> Vec<u8> {
        self.seal(&Message::QueryRequest(query_request(token, asked)))
    }

    pub fn update(
        &self,
        token: &[u8],
        manifests: Vec<Vec<u8>>,
        unneeded: Vec<Vec<Vec<u8>>>,
    ) -> Vec<u8> {
        let update = Update {
            token: Some(Token::new(token.to_vec()).expect("token")),
            manifest_list: (!manifests.is_empty()).then_some(manifests),
            unneeded_manifest_list: (!unneeded.is_empty())
                .then(|| unneeded.into_iter().map(teep_proto::ComponentId).collect()),
            ..Update::default()
        };
        self.seal(&Message::Update(update))
    }
}

pub fn query_request(token: &[u8], asked: DataItemRequested) -> QueryRequest {
    QueryRequest {
        token: Some(Token::new(token.to_vec()).expect("token")),
        supported_teep_cipher_suites: vec![CipherSuite::SIGN1_ESP256, CipherSuite::SIGN1_ED25519],
        supported_suit_cose_profiles: vec![SuitCoseProfile::SHA256_ESP256_ECDH_A128CTR],
        data_item_requested: asked,
        ..QueryRequest::default()
    }
}

/// A config trusting `tam` and the published example TC signer, with the example device ids.
pub fn config(tam: &Tam, mirrors: Vec<Mirror>) -> ConfigFile {
    let signer = std::fs::read_to_string(vector("teep-protocol/example-signer-public.pem"))
        .expect("signer key");
    let mut cfg = ConfigFile::default();
    cfg.tams.push(TamEntry {
        uri: TAM_URI.into(),
        numbering: Some(match tam.numbering {
            Numbering::Rfc => NumberingName::Rfc,
            _ => NumberingName::Legacy,
        }),
        public_keys: vec![tam.public_pem()],
    });
    cfg.tc_signers.push(signer);
    cfg.device.vendor_ids.push(VENDOR_ID.into());
    cfg.device.class_ids.push(CLASS_ID.into());
    cfg.mirrors = mirrors;
    cfg
}

/// Initializes a state directory and opens the Agent in it.
pub fn agent_in(dir: &Path, cfg: ConfigFile) -> SoftwareAgent {
    init::init(dir, &init::InitOptions { config: cfg, ..Default::default() }).expect("init");
    software::open(dir).expect("open")
}

/// Verifies a response with the Agent's key and decodes it.
pub fn open_response(bytes: &[u8], agent_key: &PublicKey, numbering: Numbering) -> Message {
    let sign1 = Sign1::decode(bytes).expect("COSE_Sign1");
    assert!(sign1.tagged, "responses are tagged COSE_Sign1");
    assert_eq!(sign1.kid(), Some(&agent_key.thumbprint()[..]), "kid is the agent thumbprint");
    sign1.verify(agent_key, &[]).expect("agent signature");
    Message::decode(sign1.payload.expect("payload"), numbering).expect("TEEP message")
}

/// Names of the files in a sub-directory of the state directory.
pub fn files(dir: &Path, sub: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join(sub))
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
