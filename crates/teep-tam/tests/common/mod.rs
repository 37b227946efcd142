//! Test harness: a real TAM over loopback HTTP on SQLite or a fresh PostgreSQL database, and
//! a simulated TEEP Agent built from teep-proto and teep-cose.

#![allow(dead_code)]

use std::sync::Arc;

use teep_cose::{Algorithm, PublicKey, SigningKey};
use teep_proto::{Message, Numbering, QueryRequest, QueryResponse};
use teep_tam::{Admin, Tam, TamConfig, TamKeys};
use tokio::sync::oneshot;

/// Where the published TEEP examples live.
pub const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors");

pub const TEEP: &str = "application/teep+cbor";

/// Reads a `.hex.txt` vector (hex digits, whitespace and `#` comments).
pub fn hex_vector(name: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(format!("{VECTORS}/{name}")).unwrap();
    let digits: String = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .flat_map(|l| l.chars())
        .filter(|c| c.is_ascii_hexdigit())
        .collect();
    hex::decode(digits).unwrap()
}

pub fn vector_text(name: &str) -> String {
    std::fs::read_to_string(format!("{VECTORS}/{name}")).unwrap()
}

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub mod scratch_pg;

pub use scratch_pg::ScratchPg;

/// A running TAM.
pub struct TestTam {
    pub url: String,
    pub legacy_url: String,
    pub tam: Arc<Tam>,
    pub admin: Admin,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    pg_database: Option<ScratchPg>,
    _dir: tempfile::TempDir,
}

impl TestTam {
    /// Starts a TAM; `None` only for PostgreSQL with TEEP_SKIP_PG=1 and no server.
    pub async fn start(db: Db) -> Option<Self> {
        Self::start_with(db, |_| {}).await
    }

    pub async fn start_with(db: Db, tweak: impl FnOnce(&mut TamConfig)) -> Option<Self> {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().unwrap();
        let mut config = TamConfig { state_dir: dir.path().to_owned(), ..TamConfig::default() };
        let mut pg_database = None;
        if db == Db::Postgres {
            let scratch = ScratchPg::create("teep_tam_test").await?;
            config.database_url = Some(scratch.url.clone());
            pg_database = Some(scratch);
        }
        tweak(&mut config);
        // `teep tam init` creates the keys; serving only loads them.
        TamKeys::load_or_generate(&config).unwrap();
        let tam = Arc::new(Tam::open(config).await.unwrap());
        let admin = Admin::new(tam.store().clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let server_tam = Arc::clone(&tam);
        let server = tokio::spawn(async move {
            teep_tam::serve_on(server_tam, listener, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        let client =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Some(TestTam {
            url: format!("http://{address}/tam"),
            legacy_url: format!("http://{address}/tam/legacy"),
            tam,
            admin,
            client,
            shutdown: Some(tx),
            server: Some(server),
            pg_database,
            _dir: dir,
        })
    }

    pub fn keys(&self) -> &TamKeys {
        self.tam.keys()
    }

    pub fn tam_public_keys(&self) -> Vec<PublicKey> {
        self.keys().public_keys().to_vec()
    }

    /// POSTs `body` (empty: a new session) with the TEEP media types.
    pub async fn post(&self, body: &[u8]) -> reqwest::Response {
        self.post_to(&self.url, body).await
    }

    pub async fn post_to(&self, url: &str, body: &[u8]) -> reqwest::Response {
        let mut request = self.client.post(url).header("accept", TEEP);
        if !body.is_empty() {
            request = request.header("content-type", TEEP);
        }
        request.body(body.to_vec()).send().await.unwrap()
    }

    /// Stops the server and drops the PostgreSQL database.
    pub async fn finish(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap();
        }
        self.tam.store().close().await;
        // Dropping `self` drops the PostgreSQL database.
    }
}

/// A simulated TEEP Agent: a key and the protocol crates.
pub struct Agent {
    pub key: SigningKey,
    pub alg: Algorithm,
    pub numbering: Numbering,
}

impl Agent {
    pub fn p256() -> Self {
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        Agent {
            key: SigningKey::generate_p256(&mut rng),
            alg: Algorithm::ESP256,
            numbering: Numbering::Rfc,
        }
    }

    pub fn ed25519() -> Self {
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        Agent {
            key: SigningKey::generate_ed25519(&mut rng),
            alg: Algorithm::ED25519,
            numbering: Numbering::Rfc,
        }
    }

    pub fn public_pem(&self) -> String {
        self.key.public_key().to_spki_pem()
    }

    pub fn thumbprint(&self) -> [u8; 32] {
        self.key.public_key().thumbprint()
    }

    /// Verifies a TAM message with the TAM's keys and decodes it.
    pub fn open(&self, bytes: &[u8], tam_keys: &[PublicKey]) -> Message {
        let allowed = [Algorithm::ESP256, Algorithm::ED25519, Algorithm::ES256, Algorithm::EDDSA];
        teep_proto::open(bytes, self.numbering, tam_keys, &allowed).unwrap().message
    }

    pub fn query_request(&self, bytes: &[u8], tam_keys: &[PublicKey]) -> QueryRequest {
        match self.open(bytes, tam_keys) {
            Message::QueryRequest(q) => q,
            other => panic!("expected QueryRequest, got {:?}", other.kind()),
        }
    }

    pub fn seal(&self, message: &Message) -> Vec<u8> {
        teep_proto::seal_sign1(message, self.numbering, &self.key, self.alg).unwrap()
    }

    /// A QueryResponse answering `request` with an installed list.
    pub fn query_response(
        &self,
        request: &QueryRequest,
        installed: &[Vec<Vec<u8>>],
        requested: &[Vec<Vec<u8>>],
    ) -> Vec<u8> {
        let response = QueryResponse {
            token: request.token.clone(),
            tc_list: Some(
                installed
                    .iter()
                    .map(|id| teep_proto::SystemPropertyClaims {
                        component_id: teep_proto::ComponentId::new(id.clone()),
                        parameters: vec![(
                            teep_proto::SUIT_PARAMETER_IMAGE_DIGEST,
                            image_digest_parameter(id),
                        )],
                    })
                    .collect(),
            ),
            requested_tc_list: (!requested.is_empty()).then(|| {
                requested
                    .iter()
                    .map(|id| teep_proto::RequestedTcInfo {
                        component_id: teep_proto::ComponentId::new(id.clone()),
                        tc_manifest_sequence_number: None,
                        have_binary: None,
                    })
                    .collect()
            }),
            ..QueryResponse::default()
        };
        self.seal(&Message::QueryResponse(response))
    }

    pub fn success(&self, token: &teep_proto::Token) -> Vec<u8> {
        let success = teep_proto::Success { token: Some(token.clone()), ..Default::default() };
        self.seal(&Message::Success(success))
    }
}

/// suit-parameter-image-digest value: a bstr-wrapped SUIT_Digest (here over the id bytes).
fn image_digest_parameter(id: &[Vec<u8>]) -> Vec<u8> {
    let digest = teep_suit::SuitDigest::sha256(&id.concat()).encode();
    let mut e = minicbor::Encoder::new(Vec::new());
    e.bytes(&digest).unwrap();
    e.into_writer()
}

/// suit-manifest-component-id of suit_uri / suit_integrated: the catalog's name for them.
pub fn example_manifest_id() -> teep_tam::ComponentKey {
    let mut parts = example_component();
    parts[3] = b"suit".to_vec();
    teep_tam::ComponentKey::from_parts(&parts).unwrap()
}

/// The component id of the published examples suit_uri / suit_integrated.
pub fn example_component() -> Vec<Vec<u8>> {
    vec![
        b"TEEP-Device".to_vec(),
        b"SecureFS".to_vec(),
        hex::decode("8D82573A926D4754935332DC29997F74").unwrap(),
        b"ta".to_vec(),
    ]
}

/// Enrols `agent`, registers the example TC signer, adds suit_uri (seq 3) to the catalog and
/// requires it on every device.
pub async fn provision(tam: &TestTam, agent: &Agent) {
    let now = 1_000;
    tam.admin
        .enroll_device(agent.public_pem().as_bytes(), Some("test"), teep_tam::Wire::Rfc, now)
        .await
        .unwrap();
    let signer = vector_text("teep-protocol/example-signer-public.pem");
    tam.admin.add_signer("example", signer.as_bytes(), now).await.unwrap();
    let row = tam.admin.add_tc(&hex_vector("teep-protocol/suit_uri.hex.txt"), now).await.unwrap();
    assert_eq!(row.sequence_number, 3);
    let id = teep_tam::ComponentKey::from_parts(&example_component()).unwrap();
    tam.admin.require(&teep_tam::PolicyTarget::AllDevices, &id, 0).await.unwrap();
}

/// The configuration of a software-TEE Agent that trusts `tam`'s keys and the published
/// example TC signer, with the example manifests' vendor and class ids.
pub fn real_agent_config(tam: &TestTam) -> teep_agent::software::config::ConfigFile {
    use teep_agent::software::config::{ConfigFile, DeviceIdentity, TamEntry};
    let [p256, ed25519] = tam.keys().public_keys();
    ConfigFile {
        tams: vec![TamEntry {
            uri: tam.url.clone(),
            numbering: None,
            public_keys: vec![p256.to_spki_pem(), ed25519.to_spki_pem()],
        }],
        tc_signers: vec![vector_text("teep-protocol/example-signer-public.pem")],
        device: DeviceIdentity {
            vendor_ids: vec!["c0ddd5f15243566087db4f5b0aa26c2f".into()],
            class_ids: vec!["db42f7093d8c55baa8c5265fc5820f4e".into()],
            device_ids: Vec::new(),
        },
        ..ConfigFile::default()
    }
}

/// A real software-TEE Agent in a temporary state directory, enrolled at a TAM.
pub struct RealDevice {
    _dir: tempfile::TempDir,
    /// The Agent.
    pub agent: teep_agent::software::SoftwareAgent,
    /// Its kid (RFC 9679 thumbprint of its TEEP key).
    pub kid: [u8; 32],
}

/// Creates a software-TEE Agent trusting `tam` and enrols it. Key generation and the state
/// directory's files run on a blocking thread.
pub async fn real_device(tam: &TestTam, key_kind: teep_agent::software::KeyKind) -> RealDevice {
    let dir = tempfile::tempdir().unwrap();
    let config = real_agent_config(tam);
    let path = dir.path().to_owned();
    let (initialized, agent) = tokio::task::spawn_blocking(move || {
        let options = teep_agent::software::InitOptions { key_kind, config };
        let initialized = teep_agent::software::init(&path, &options).unwrap();
        (initialized, teep_agent::software::open(&path).unwrap())
    })
    .await
    .unwrap();
    tam.admin
        .enroll_device(
            initialized.public_key_pem.as_bytes(),
            None,
            teep_tam::Wire::Rfc,
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default(),
        )
        .await
        .unwrap();
    RealDevice { _dir: dir, agent, kid: initialized.kid }
}

/// POSTs a TEEP body (empty: open a session) and returns the status and the response body.
pub async fn post_teep(
    client: &reqwest::Client,
    url: &str,
    body: &[u8],
) -> Result<(u16, Vec<u8>), String> {
    let mut request = client.post(url).header("accept", TEEP);
    if !body.is_empty() {
        request = request.header("content-type", TEEP);
    }
    let reply = request.body(body.to_vec()).send().await.map_err(|e| e.to_string())?;
    let status = reply.status().as_u16();
    let bytes = reply.bytes().await.map_err(|e| e.to_string())?;
    Ok((status, bytes.to_vec()))
}
