//! teep_tam::Tam::handle, the TAM's ProcessConnect / ProcessTeepMessage
//! (draft-ietf-teep-protocol-26 §8.1), on a fresh in-memory SQLite store per input with a
//! fixed TAM key pair, the RFC-vector Agent enrolled, the example TC signer, the suit_uri
//! manifest in the catalog and a policy requiring it. The first byte picks the mode:
//! - bit 0: endpoint numbering (0 RFC, 1 legacy);
//! - bit 1: 0 = the rest is the HTTP body as is; 1 = the rest is a TEEP message sealed with
//!   the enrolled Agent's key (reaches the handlers behind the signature check);
//! - bit 2: first POST an empty body, and when the (sealed) rest decodes as a TEEP message,
//!   give it the token of the QueryRequest received (reaches the policy and Update path).
//!
//! Invariants: the TAM never fails locally (`SessionError`) on peer input, and every message
//! it sends opens under its own keys.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use teep_cose::{Algorithm, PublicKey};
use teep_proto::{Message, Numbering, Token};
use teep_tam::{Admin, Incoming, PolicyTarget, Reply, Store, Tam, TamConfig, TamKeys, Wire};

const SUIT_URI_HEX: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/vectors/teep-protocol/suit_uri.hex.txt"
));
const SIGNER_PUBLIC: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/vectors/teep-protocol/example-signer-public.pem"
));
const NOW: u64 = 1_000_000;
const ALLOWED: [Algorithm; 4] =
    [Algorithm::ESP256, Algorithm::ED25519, Algorithm::ES256, Algorithm::EDDSA];

static RUNTIME: LazyLock<tokio::runtime::Runtime> =
    LazyLock::new(|| match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => panic!("fuzz fixture: tokio runtime: {e}"),
    });
static TAM_PUBLIC: LazyLock<Vec<PublicKey>> = LazyLock::new(|| {
    vec![teep_fuzz::tam_key().public_key(), teep_fuzz::ed25519_key().public_key()]
});

fn hex_text(text: &str) -> Vec<u8> {
    let digits: String = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(str::chars)
        .filter(char::is_ascii_hexdigit)
        .collect();
    hex::decode(digits).unwrap_or_default()
}

/// A fresh TAM on an in-memory database, provisioned as described in the module docs.
async fn fresh_tam() -> Tam {
    let config = TamConfig { database_url: Some("sqlite::memory:".into()), ..TamConfig::default() };
    let store = match Store::connect("sqlite::memory:", 1).await {
        Ok(s) => s,
        Err(e) => panic!("fuzz fixture: store: {e}"),
    };
    let admin = Admin::new(store.clone());
    let agent_pem = teep_fuzz::agent_key().public_key().to_spki_pem();
    let setup = async {
        admin.enroll_device(agent_pem.as_bytes(), Some("fuzz"), Wire::Rfc, 1).await?;
        admin.add_signer("example", SIGNER_PUBLIC.as_bytes(), 1).await?;
        admin.add_tc(&hex_text(SUIT_URI_HEX), 1).await?;
        let id = teep_tam::ComponentKey::from_parts(&[
            b"TEEP-Device".as_slice(),
            b"SecureFS".as_slice(),
            &[
                0x8D, 0x82, 0x57, 0x3A, 0x92, 0x6D, 0x47, 0x54, 0x93, 0x53, 0x32, 0xDC, 0x29, 0x99,
                0x7F, 0x74,
            ],
            b"ta".as_slice(),
        ])
        .map_err(|_| teep_tam::AdminError::InvalidArgument("component key"))?;
        admin.require(&PolicyTarget::AllDevices, &id, 0).await
    };
    if let Err(e) = setup.await {
        panic!("fuzz fixture: provisioning: {e}");
    }
    let keys = TamKeys { p256: teep_fuzz::tam_key(), ed25519: teep_fuzz::ed25519_key() };
    Tam::new(config, store, keys, Vec::new())
}

fn check_reply(
    reply: Result<Reply, teep_tam::SessionError>,
    numbering: Numbering,
) -> Option<Message> {
    match reply {
        Ok(Reply::Empty) => None,
        Ok(Reply::Message(bytes)) => {
            match teep_proto::open(&bytes, numbering, &TAM_PUBLIC, &ALLOWED) {
                Ok(o) => Some(o.message),
                Err(e) => panic!("the TAM's message does not open: {e}\n{}", hex::encode(&bytes)),
            }
        }
        Err(e) => panic!("the TAM failed locally on peer input: {e}"),
    }
}

fn with_token(payload: &[u8], numbering: Numbering, token: &Token) -> Option<Vec<u8>> {
    let mut msg = Message::decode(payload, numbering).ok()?;
    match &mut msg {
        Message::QueryRequest(m) => m.token = Some(token.clone()),
        Message::QueryResponse(m) => m.token = Some(token.clone()),
        Message::Update(m) => m.token = Some(token.clone()),
        Message::Success(m) => m.token = Some(token.clone()),
        Message::Error(m) => m.token = Some(token.clone()),
    }
    Some(msg.encode(numbering))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let wire = if mode & 1 == 0 { Wire::Rfc } else { Wire::Legacy };
    let numbering = wire.numbering();
    RUNTIME.block_on(async {
        let tam = fresh_tam().await;
        let incoming = |body| Incoming { body, wire, peer: None, now: NOW };

        let mut payload = rest.to_vec();
        if mode & 4 != 0 {
            let query = check_reply(tam.handle(incoming(None)).await, numbering);
            let token = query.as_ref().and_then(Message::token).cloned();
            if let Some(t) = token
                && let Some(p) = with_token(rest, numbering, &t)
            {
                payload = p;
            }
        }
        let body = if mode & 2 == 0 {
            payload
        } else {
            teep_fuzz::seal_raw(&payload, &teep_fuzz::agent_key())
        };
        let _ = check_reply(tam.handle(incoming(Some(&body))).await, numbering);
        tam.store().close().await;
    });
});
