//! The TAM over HTTPS (draft-ietf-teep-otrp-over-http §4: HTTPS is RECOMMENDED), with a
//! certificate chaining to a CA generated here.

mod common;

use common::{Agent, Db, TEEP, TestTam};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_teep_over_https() {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "teep-tam test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();

    let Some(tam) = TestTam::start_with(Db::Sqlite, |c| {
        std::fs::write(c.state_dir.join("cert.pem"), leaf.pem()).unwrap();
        std::fs::write(c.state_dir.join("key.pem"), leaf_key.serialize_pem()).unwrap();
        c.tls = Some(teep_tam::config::TlsFiles {
            certificate: "cert.pem".into(),
            private_key: "key.pem".into(),
        });
    })
    .await
    else {
        return;
    };
    let url = tam.url.replace("http://", "https://");
    let client = reqwest::Client::builder()
        .tls_certs_only(vec![reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap()])
        .build()
        .unwrap();
    let response = client.post(&url).header("accept", TEEP).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    let request = Agent::p256().query_request(&body, &tam.tam_public_keys());
    assert!(request.token.is_some());

    // Plain HTTP to the HTTPS port fails.
    assert!(tam.client.post(&tam.url).header("accept", TEEP).send().await.is_err());
    tam.finish().await;
}
