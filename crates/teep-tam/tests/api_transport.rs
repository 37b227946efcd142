//! Hosted payloads (upload over the admin API, download with HTTP range requests from the
//! payload router) and mutual TLS on the admin listener with certificates from an rcgen CA.

mod api_harness;

use api_harness::{Db, TestApi, json_of};
use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use reqwest::Method;
use serde_json::json;
use teep_tam::config::{AdminListen, AdminTls};

on_both_databases!(payloads_are_served_with_ranges, payload_ownership_and_limits);

/// A payload of `len` bytes that differ from position to position.
fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

async fn payloads_are_served_with_ranges(db: Db) {
    let Some(api) = TestApi::start(db).await else { return };
    let data = payload(100_000);
    let response = api.req(Method::PUT, "/payloads/fw.bin", "op").body(data.clone()).send().await;
    let (status, meta) = json_of(response.unwrap()).await;
    assert_eq!(status, 200);
    let sha256 = meta["sha256"].as_str().unwrap().to_owned();
    assert_eq!(meta["size"], 100_000);
    let etag = format!("\"{sha256}\"");
    let url = format!("{}/payloads/fw.bin", api.payload_base);

    // The whole payload.
    let response = api.client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], etag.as_str());
    assert_eq!(response.headers()["accept-ranges"], "bytes");
    assert_eq!(response.bytes().await.unwrap().as_ref(), data.as_slice());

    // Single ranges: closed, open, suffix, clipped.
    for (range, first, last) in [
        ("bytes=0-0", 0, 0),
        ("bytes=1000-1999", 1000, 1999),
        ("bytes=99990-", 99_990, 99_999),
        ("bytes=-25", 99_975, 99_999),
        ("bytes=99000-200000", 99_000, 99_999),
    ] {
        let response = api.client.get(&url).header("range", range).send().await.unwrap();
        assert_eq!(response.status(), 206, "{range}");
        let expected = format!("bytes {first}-{last}/100000");
        assert_eq!(response.headers()["content-range"], expected.as_str());
        assert_eq!(response.headers()["etag"], etag.as_str());
        assert_eq!(response.bytes().await.unwrap().as_ref(), &data[first..=last], "{range}");
    }

    // Unsatisfiable ranges.
    for range in ["bytes=100000-", "bytes=200000-200010", "bytes=-0"] {
        let response = api.client.get(&url).header("range", range).send().await.unwrap();
        assert_eq!(response.status(), 416, "{range}");
        assert_eq!(response.headers()["content-range"], "bytes */100000");
    }

    // Ignored: several ranges, another unit, a stale If-Range; all get the whole payload.
    for (name, value) in
        [("range", "bytes=0-1,5-6"), ("range", "items=0-1"), ("if-range", "\"stale\"")]
    {
        let response = api
            .client
            .get(&url)
            .header("range", if name == "range" { value } else { "bytes=0-9" })
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{name}: {value}");
        assert_eq!(response.bytes().await.unwrap().len(), data.len());
    }
    let response =
        api.client.get(&url).header("range", "bytes=0-9").header("if-range", &etag).send().await;
    assert_eq!(response.unwrap().status(), 206);

    // Conditional and HEAD requests.
    let response = api.client.get(&url).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(response.status(), 304);
    let response = api.client.head(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-length"], "100000");

    // Unknown and invalid names.
    for name in ["missing.bin", "..", ".hidden"] {
        let response =
            api.client.get(format!("{}/payloads/{name}", api.payload_base)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{name}");
    }

    // Replacing changes the ETag; deleting removes it.
    let response = api.req(Method::PUT, "/payloads/fw.bin", "op").body(payload(10)).send().await;
    let (_, meta) = json_of(response.unwrap()).await;
    assert_ne!(meta["sha256"].as_str().unwrap(), sha256);
    let response = api.client.get(&url).header("range", "bytes=5-").send().await.unwrap();
    assert_eq!(response.status(), 206);
    assert_eq!(response.bytes().await.unwrap().as_ref(), &payload(10)[5..]);
    let (status, list) = api.call(Method::GET, "/payloads", "op", None).await;
    assert_eq!((status, list.as_array().unwrap().len()), (200, 1));
    assert_eq!(api.call(Method::DELETE, "/payloads/fw.bin", "op", None).await.0, 204);
    assert_eq!(api.client.get(&url).send().await.unwrap().status(), 404);
    let log = api.audit().await;
    let puts = log.iter().filter(|e| e.action == "payload.put" && e.actor == "op").count();
    assert_eq!(puts, 2);
    assert!(log.iter().any(|e| e.action == "payload.remove" && e.target == "fw.bin"));
    api.finish().await;
}

async fn payload_ownership_and_limits(db: Db) {
    let small = |c: &mut teep_tam::TamConfig| {
        c.admin = Some(AdminListen {
            max_body_bytes: 1024,
            max_payload_bytes: 4096,
            ..AdminListen::default()
        });
    };
    let Some(api) = TestApi::start_with(db, small, api_harness::http_client()).await else {
        return;
    };

    // A developer owns what it uploads; another developer neither sees nor replaces it.
    let response = api.req(Method::PUT, "/payloads/a.bin", "alice").body(payload(100)).send();
    let (status, meta) = json_of(response.await.unwrap()).await;
    assert_eq!((status, meta["owner"].as_str()), (200, Some("alice")));
    let response = api.req(Method::PUT, "/payloads/a.bin", "bob").body(payload(5)).send();
    assert_eq!(json_of(response.await.unwrap()).await.0, 403);
    assert_eq!(api.call(Method::GET, "/payloads/a.bin", "bob", None).await.0, 404);
    assert_eq!(api.call(Method::DELETE, "/payloads/a.bin", "bob", None).await.0, 404);
    let (_, list) = api.call(Method::GET, "/payloads", "bob", None).await;
    assert_eq!(list, json!([]));
    let (_, list) = api.call(Method::GET, "/payloads", "alice", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let response = api.req(Method::PUT, "/payloads/a.bin", "dana").body(payload(5)).send();
    assert_eq!(json_of(response.await.unwrap()).await.0, 403);
    assert_eq!(api.admin.payload("a.bin").await.unwrap().size, 100, "refusals change nothing");

    // Payloads have their own limit, above the one of other bodies.
    let response = api.req(Method::PUT, "/payloads/b.bin", "op").body(payload(4096)).send();
    assert_eq!(json_of(response.await.unwrap()).await.0, 200);
    let response = api.req(Method::POST, "/tcs", "op").body(payload(1025)).send();
    assert_eq!(json_of(response.await.unwrap()).await.0, 413);
    assert_eq!(api.call(Method::DELETE, "/payloads/b.bin", "op", None).await.0, 204);

    // Too large, bad names.
    let response = api.req(Method::PUT, "/payloads/big.bin", "op").body(payload(4097)).send();
    assert_eq!(json_of(response.await.unwrap()).await.0, 413);
    let response = api.req(Method::PUT, "/payloads/.x", "op").body(payload(1)).send();
    assert_eq!(json_of(response.await.unwrap()).await.0, 400);
    assert_eq!(api.admin.payloads().await.unwrap().len(), 1);

    // An empty payload is served as such.
    let response = api.req(Method::PUT, "/payloads/empty", "op").body(Vec::new()).send();
    assert_eq!(json_of(response.await.unwrap()).await.0, 200);
    let url = format!("{}/payloads/empty", api.payload_base);
    let response = api.client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.unwrap().is_empty());
    let response = api.client.get(&url).header("range", "bytes=0-").send().await.unwrap();
    assert_eq!(response.status(), 416);
    api.finish().await;
}

struct Pki {
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&key).unwrap();
        Pki { ca_pem: ca.pem(), issuer: Issuer::new(params, key) }
    }

    /// A leaf certificate and key (PEM) for `name`, for a server or a client.
    fn leaf(&self, name: &str, client: bool) -> (String, String) {
        let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

fn client(ca_pem: &str, identity: Option<&(String, String)>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_certs_only(vec![reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()]);
    if let Some((cert, key)) = identity {
        let pem = format!("{cert}{key}");
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_authenticates_registered_client_certificates() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let pki = Pki::new("teep-tam admin test CA");
    let other_pki = Pki::new("someone else's CA");
    let (server_cert, server_key) = pki.leaf("127.0.0.1", false);
    let registered = pki.leaf("op-laptop", true);
    let unregistered = pki.leaf("stranger", true);
    let foreign = other_pki.leaf("op-laptop", true);

    let ca_pem = pki.ca_pem.clone();
    let tls = move |c: &mut teep_tam::TamConfig| {
        std::fs::write(c.state_dir.join("admin-cert.pem"), &server_cert).unwrap();
        std::fs::write(c.state_dir.join("admin-key.pem"), &server_key).unwrap();
        std::fs::write(c.state_dir.join("clients-ca.pem"), &ca_pem).unwrap();
        c.admin = Some(AdminListen {
            tls: Some(AdminTls {
                certificate: "admin-cert.pem".into(),
                private_key: "admin-key.pem".into(),
                client_ca: Some("clients-ca.pem".into()),
            }),
            ..AdminListen::default()
        });
    };
    let Some(api) = TestApi::start_with(Db::Sqlite, tls, client(&pki.ca_pem, None)).await else {
        return;
    };
    api.admin.add_principal_certificate("op", registered.0.as_bytes(), 1).await.unwrap();
    let whoami = format!("{}/admin/v1/whoami", api.base);
    assert!(whoami.starts_with("https://"));

    // The registered certificate authenticates its principal, and acts as it.
    let with_cert = client(&pki.ca_pem, Some(&registered));
    let (status, me) = json_of(with_cert.get(&whoami).send().await.unwrap()).await;
    assert_eq!((status, me), (200, json!({ "name": "op", "role": "operator" })));
    let signers = format!("{}/admin/v1/signers", api.base);
    let body = json!({ "name": "via-mtls",
                       "key": api_harness::signer_key().public_key().to_spki_pem() });
    let response = with_cert.post(&signers).json(&body).send().await.unwrap();
    assert_eq!(json_of(response).await.0, 201);
    let log = api.audit().await;
    assert!(log.iter().any(|e| e.action == "signer.add" && e.actor == "op"));

    // A certificate from the right CA that is not registered: refused, nothing changes.
    let stranger = client(&pki.ca_pem, Some(&unregistered));
    assert_eq!(json_of(stranger.get(&whoami).send().await.unwrap()).await.0, 401);
    let body =
        json!({ "name": "sneaky", "key": api_harness::signer_key().public_key().to_spki_pem() });
    assert_eq!(json_of(stranger.post(&signers).json(&body).send().await.unwrap()).await.0, 401);
    assert_eq!(api.admin.signers().await.unwrap().len(), 1);

    // A certificate from another CA does not get through the handshake.
    let foreigner = client(&pki.ca_pem, Some(&foreign));
    assert!(foreigner.get(&whoami).send().await.is_err());

    // Without a certificate a token still works, and nothing at all is refused.
    let (status, me) =
        json_of(api.req(Method::GET, "/whoami", "alice").send().await.unwrap()).await;
    assert_eq!((status, me["name"].as_str()), (200, Some("alice")));
    assert_eq!(json_of(api.client.get(&whoami).send().await.unwrap()).await.0, 401);

    // A disabled principal's certificate stops working.
    api.admin.set_principal_disabled("op", true, 2).await.unwrap();
    assert_eq!(json_of(with_cert.get(&whoami).send().await.unwrap()).await.0, 401);
    api.finish().await;
}
