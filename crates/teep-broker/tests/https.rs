//! HTTPS to a TAM whose certificate chains to a CA generated in the test: the Broker succeeds
//! with that CA configured and fails (through ProcessError) without it.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use common::{Canned, FakeAgent, Shared, router};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use teep_broker::{
    AgentReply, Broker, BrokerConfig, BrokerError, TransportFailure, TrustedComponentId,
};

struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "teep-broker test CA");
    let ca_key = KeyPair::generate().expect("ca key");
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf_params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).expect("leaf");
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).expect("leaf cert");
    Pki { ca_pem: ca_cert.pem(), cert_pem: leaf.pem(), key_pem: leaf_key.serialize_pem() }
}

async fn serve_https(pki: &Pki, script: Vec<Canned>) -> (SocketAddr, Arc<Shared>) {
    teep_broker::install_crypto_provider();
    let shared = Arc::new(Shared { requests: Mutex::default(), script: Mutex::new(script.into()) });
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem(
        pki.cert_pem.clone().into_bytes(),
        pki.key_pem.clone().into_bytes(),
    )
    .await
    .expect("tls config");
    let handle = axum_server::Handle::new();
    let server = axum_server::bind_rustls("127.0.0.1:0".parse::<SocketAddr>().expect("addr"), tls)
        .handle(handle.clone());
    let app = router(shared.clone());
    tokio::spawn(async move { server.serve(app.into_make_service()).await });
    let addr = handle.listening().await.expect("listening");
    (addr, shared)
}

fn component() -> TrustedComponentId {
    TrustedComponentId::single(*b"tc")
}

#[tokio::test]
async fn https_with_configured_ca() {
    let pki = pki();
    let (addr, shared) =
        serve_https(&pki, vec![Canned::teep(b"\x82\x01\x00"), Canned::status(204)]).await;
    let mut ca_file = tempfile::NamedTempFile::new().expect("temp");
    ca_file.write_all(pki.ca_pem.as_bytes()).expect("write");

    let uri = format!("https://127.0.0.1:{}/tam", addr.port());
    let agent =
        FakeAgent::new(vec![AgentReply::Connect { tam_uri: uri }], vec![Some(b"r".to_vec())]);
    let config =
        BrokerConfig { ca_file: Some(ca_file.path().to_owned()), ..BrokerConfig::default() };
    let mut broker = Broker::new(agent, config).expect("broker");
    let report = broker.request_ta(&component()).await.expect("https session");

    assert_eq!(report.sessions[0].round_trips, 2);
    let requests = shared.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].accept, ["application/teep+cbor"]);
    assert_eq!(requests[1].body, b"r");
}

#[tokio::test]
async fn https_without_the_ca_fails() {
    let pki = pki();
    let (addr, shared) = serve_https(&pki, vec![]).await;
    let uri = format!("https://127.0.0.1:{}/tam", addr.port());

    // A CA bundle that holds some other CA: the server's chain does not verify.
    let other = pki_other_ca();
    let mut ca_file = tempfile::NamedTempFile::new().expect("temp");
    ca_file.write_all(other.as_bytes()).expect("write");

    for config in [
        BrokerConfig { ca_file: Some(ca_file.path().to_owned()), ..BrokerConfig::default() },
        BrokerConfig::default(),
    ] {
        let agent = FakeAgent::new(vec![AgentReply::Connect { tam_uri: uri.clone() }], vec![]);
        let mut broker = Broker::new(agent, config).expect("broker");
        let result = broker.request_ta(&component()).await;
        assert!(
            matches!(
                &result,
                Err(BrokerError::Transport { failure: TransportFailure::Network(_), .. })
            ),
            "{result:?}"
        );
        assert!(matches!(broker.agent().errors().as_slice(), [TransportFailure::Network(_)]));
    }
    assert!(shared.requests().is_empty(), "a request got through an unverified TLS session");
}

fn pki_other_ca() -> String {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().expect("key");
    params.self_signed(&key).expect("cert").pem()
}
