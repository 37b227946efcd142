//! teep_agent::Agent::handle, ProcessTeepMessage (draft-ietf-teep-protocol-26 §4.1.2, §8.2),
//! on an in-memory platform with fixed Agent, TAM and TC-signer keys. The first byte picks
//! the mode:
//! - bit 0: the TAM's numbering (0 RFC, 1 legacy);
//! - bit 1: 0 = the rest is the whole COSE structure; 1 = the rest is the TEEP message,
//!   sealed by the trusted TAM key first (reaches the handlers);
//! - bit 2: first run the published QueryRequest vector so an Update finds a session;
//! - bit 3: RequestTA for the example component before the message.
//!
//! Invariants: the Agent never reports a bug (`Encode`, `Sign`), and every response it
//! produces opens under the Agent's public key as a valid TEEP message.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use teep_agent::{Agent, AgentConfig, AgentError, TamTrust};
use teep_cose::{Algorithm, PublicKey, SigningKey};
use teep_fuzz::MemPlatform;
use teep_proto::{ComponentId, Numbering};

const QUERY_REQUEST: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/vectors/teep-rfc/query_request.tam.esp256.cose"
));
const TAM_URI: &str = "http://127.0.0.1:1/tam";

struct Fixture {
    agent_public: Vec<PublicKey>,
    tam_key: SigningKey,
    tams: Vec<PublicKey>,
    signers: Vec<PublicKey>,
}

static FIX: LazyLock<Fixture> = LazyLock::new(|| Fixture {
    agent_public: vec![teep_fuzz::agent_key().public_key()],
    tam_key: teep_fuzz::tam_key(),
    tams: teep_fuzz::tam_public_keys(),
    signers: teep_fuzz::suit_trust().signers,
});

const ALLOWED: [Algorithm; 4] =
    [Algorithm::ESP256, Algorithm::ED25519, Algorithm::ES256, Algorithm::EDDSA];

fn check_response(result: Result<Vec<u8>, AgentError>, numbering: Numbering) {
    match result {
        Ok(bytes) if bytes.is_empty() => {}
        Ok(bytes) => {
            if let Err(e) = teep_proto::open(&bytes, numbering, &FIX.agent_public, &ALLOWED) {
                panic!("the Agent's response does not open: {e}\n{}", hex::encode(&bytes));
            }
        }
        Err(e @ (AgentError::Encode(_) | AgentError::Sign(_))) => {
            panic!("the Agent reports an internal fault: {e}")
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let numbering = if mode & 1 == 0 { Numbering::Rfc } else { Numbering::Legacy };
    let config = AgentConfig {
        tams: vec![TamTrust {
            uri: TAM_URI.into(),
            keys: FIX.tams.clone(),
            numbering,
            signers: Vec::new(),
        }],
        tc_signers: FIX.signers.clone(),
        accept_legacy_algorithms: numbering == Numbering::Legacy,
        ..AgentConfig::default()
    };
    let mut agent = Agent::new(config, teep_fuzz::agent_key(), MemPlatform::example());

    if mode & 8 != 0 {
        let id = ComponentId(vec![b"TEEP-Device".to_vec(), b"SecureFS".to_vec()]);
        let _ = agent.request_ta(id, None);
    }
    if mode & 4 != 0 && numbering == Numbering::Rfc {
        check_response(agent.handle(QUERY_REQUEST, 1_000), numbering);
    }

    let sealed;
    let request = if mode & 2 == 0 {
        rest
    } else {
        sealed = teep_fuzz::seal_raw(rest, &FIX.tam_key);
        &sealed
    };
    check_response(agent.handle(request, 1_000), numbering);
    assert!(agent.platform().staged_is_empty(), "Agent left staged state behind");
});
