//! teep_tam::api::router, the admin REST API, on arbitrary requests from an authenticated
//! operator, on a fresh in-memory SQLite store per input with a signer, a device and a group
//! already there. Byte 0 picks the method and the content type, byte 1 one of the API's
//! routes (with real and made-up path parameters), the rest is the body.
//!
//! Invariants: no request makes the API fail with 500 (every bad input is the client's
//! error: 4xx with a JSON error body), and no handler panics.
#![no_main]

use std::sync::LazyLock;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use libfuzzer_sys::fuzz_target;
use teep_tam::{Admin, Store, Wire};
use tower::ServiceExt;

const SIGNER_PUBLIC: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/vectors/teep-protocol/example-signer-public.pem"
));

const METHODS: [Method; 5] =
    [Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH];

/// Routes of the API with parameters that exist (`example`, `g`, the device `D`), that do
/// not, and that are malformed.
const ROUTES: [&str; 40] = [
    "admission",
    "audit",
    "devices",
    "devices/x509",
    "devices/D",
    "devices/D/block",
    "devices/D/unblock",
    "devices/D/certificate",
    "devices/D/groups",
    "devices/D/history?limit=5",
    "devices/D/history?limit=999999999999&before=-1",
    "devices/D/report-key",
    "devices/D/reports",
    "devices/00zz",
    "groups",
    "groups/g",
    "groups/g/allow-request",
    "groups/g/devices/D",
    "groups/nope/devices/D",
    "openapi.json",
    "payloads",
    "payloads/p",
    "payloads/..%2F..%2Fetc",
    "policies",
    "principals",
    "principals/op",
    "principals/op/disable",
    "principals/op/certificates",
    "remediation",
    "retired",
    "rollouts",
    "rollouts/r",
    "rollouts/r/pause",
    "rollouts/r/share",
    "settings/allow-request",
    "signers",
    "signers/example",
    "tcs",
    "tcs/8144546545455044/1/envelope",
    "tokens",
];

static RUNTIME: LazyLock<tokio::runtime::Runtime> =
    LazyLock::new(|| match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => panic!("fuzz fixture: tokio runtime: {e}"),
    });

/// A fresh API on an in-memory database with an operator token; returns the router, the
/// token and the device's thumbprint in hex.
async fn fresh_api() -> (axum::Router, String, String, Store) {
    let store = match Store::connect("sqlite::memory:", 1).await {
        Ok(s) => s,
        Err(e) => panic!("fuzz fixture: store: {e}"),
    };
    let admin = Admin::new(store.clone());
    let agent_pem = teep_fuzz::agent_key().public_key().to_spki_pem();
    let setup = async {
        let device = admin.enroll_device(agent_pem.as_bytes(), Some("fuzz"), Wire::Rfc, 1).await?;
        admin.add_signer("example", SIGNER_PUBLIC.as_bytes(), 1).await?;
        admin.create_group("g", None, 1).await?;
        admin.add_principal("op", teep_tam::Role::Operator, 1).await?;
        let token = admin.create_token("op", None, 1).await?;
        Ok::<_, teep_tam::AdminError>((hex::encode(&device.thumbprint), token.token))
    };
    let (device, token) = match setup.await {
        Ok(v) => v,
        Err(e) => panic!("fuzz fixture: provisioning: {e}"),
    };
    (teep_tam::api::router(admin, axum::Router::new()), token, device, store)
}

fuzz_target!(|data: &[u8]| {
    let [mode, route, body @ ..] = data else { return };
    let method = METHODS[usize::from(*mode) % METHODS.len()].clone();
    let content_type =
        if mode & 0x80 == 0 { "application/json" } else { "application/octet-stream" };
    RUNTIME.block_on(async {
        let (router, token, device, store) = fresh_api().await;
        let path = ROUTES[usize::from(*route) % ROUTES.len()].replace('D', &device);
        let request = Request::builder()
            .method(method.clone())
            .uri(format!("/admin/v1/{path}"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body.to_vec()));
        let Ok(request) = request else { return };
        let response = match router.oneshot(request).await {
            Ok(r) => r,
            Err(e) => match e {},
        };
        assert_ne!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{method} /admin/v1/{path} with {} body bytes failed with 500",
            body.len()
        );
        store.close().await;
    });
});
