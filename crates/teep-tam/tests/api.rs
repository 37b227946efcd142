//! The admin REST API over real loopback HTTP: every endpoint with an allowed and a refused
//! role, credentials, ownership boundaries between developers and between device
//! administrators, the audit log, and the OpenAPI document against the routes served.
//! Each test runs on SQLite and on a scratch PostgreSQL database.

mod api_harness;

use std::collections::BTreeSet;

use api_harness::{Db, PRINCIPALS, TestApi, device_key, envelope, json_of, signer_key};
use reqwest::Method;
use serde_json::{Value, json};

on_both_databases!(
    credentials_are_checked_and_refusals_change_nothing,
    operator_uses_every_endpoint,
    developers_cannot_see_or_change_each_others_components,
    device_admins_are_confined_to_their_groups,
    refused_roles_change_nothing,
    principals_and_tokens,
    out_of_range_numbers_are_400,
    errors_say_what_to_do,
    operators_cannot_lock_themselves_out,
);

/// Every route the admin router serves, as documented: (method, path).
const ROUTES: &[(&str, &str)] = &[
    ("get", "/admin/v1/openapi.json"),
    ("get", "/admin/v1/whoami"),
    ("get", "/admin/v1/signers"),
    ("post", "/admin/v1/signers"),
    ("delete", "/admin/v1/signers/{name}"),
    ("get", "/admin/v1/tcs"),
    ("post", "/admin/v1/tcs"),
    ("delete", "/admin/v1/tcs/{component}"),
    ("get", "/admin/v1/tcs/{component}/{sequence}/envelope"),
    ("put", "/admin/v1/tcs/{component}/{sequence}/retired"),
    ("get", "/admin/v1/retired"),
    ("get", "/admin/v1/remediation"),
    ("put", "/admin/v1/remediation/{component}"),
    ("delete", "/admin/v1/remediation/{component}"),
    ("get", "/admin/v1/devices"),
    ("post", "/admin/v1/devices"),
    ("post", "/admin/v1/devices/x509"),
    ("get", "/admin/v1/devices/{device}"),
    ("delete", "/admin/v1/devices/{device}"),
    ("post", "/admin/v1/devices/{device}/block"),
    ("post", "/admin/v1/devices/{device}/unblock"),
    ("put", "/admin/v1/devices/{device}/report-key"),
    ("get", "/admin/v1/devices/{device}/reports"),
    ("get", "/admin/v1/devices/{device}/history"),
    ("get", "/admin/v1/devices/{device}/certificate"),
    ("get", "/admin/v1/devices/{device}/groups"),
    ("get", "/admin/v1/groups"),
    ("post", "/admin/v1/groups"),
    ("get", "/admin/v1/groups/{group}"),
    ("delete", "/admin/v1/groups/{group}"),
    ("put", "/admin/v1/groups/{group}/devices/{device}"),
    ("delete", "/admin/v1/groups/{group}/devices/{device}"),
    ("put", "/admin/v1/groups/{group}/allow-request"),
    ("get", "/admin/v1/settings/allow-request"),
    ("put", "/admin/v1/settings/allow-request"),
    ("get", "/admin/v1/rollouts"),
    ("post", "/admin/v1/rollouts"),
    ("get", "/admin/v1/rollouts/{id}"),
    ("post", "/admin/v1/rollouts/{id}/pause"),
    ("post", "/admin/v1/rollouts/{id}/resume"),
    ("post", "/admin/v1/rollouts/{id}/abort"),
    ("post", "/admin/v1/rollouts/{id}/complete"),
    ("put", "/admin/v1/rollouts/{id}/share"),
    ("get", "/admin/v1/admission"),
    ("post", "/admin/v1/admission"),
    ("delete", "/admin/v1/admission"),
    ("get", "/admin/v1/policies"),
    ("put", "/admin/v1/policies"),
    ("delete", "/admin/v1/policies"),
    ("get", "/admin/v1/audit"),
    ("get", "/admin/v1/principals"),
    ("post", "/admin/v1/principals"),
    ("get", "/admin/v1/principals/{name}"),
    ("post", "/admin/v1/principals/{name}/disable"),
    ("post", "/admin/v1/principals/{name}/enable"),
    ("get", "/admin/v1/principals/{name}/certificates"),
    ("post", "/admin/v1/principals/{name}/certificates"),
    ("delete", "/admin/v1/principals/{name}/certificates/{fingerprint}"),
    ("get", "/admin/v1/tokens"),
    ("post", "/admin/v1/tokens"),
    ("delete", "/admin/v1/tokens/{id}"),
    ("get", "/admin/v1/payloads"),
    ("get", "/admin/v1/payloads/{name}"),
    ("put", "/admin/v1/payloads/{name}"),
    ("delete", "/admin/v1/payloads/{name}"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_lists_exactly_the_routes_served() {
    let Some(api) = TestApi::start(Db::Sqlite).await else { return };
    let response = api.client.get(format!("{}/admin/v1/openapi.json", api.base)).send().await;
    let (status, doc) = json_of(response.unwrap()).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{}", doc["openapi"]);
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "put", "post", "delete", "patch", "head"].contains(&method.as_str()) {
                documented.insert((method.clone(), path.clone()));
            }
        }
    }
    let expected: BTreeSet<(String, String)> =
        ROUTES.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
    assert_eq!(documented, expected);

    // Every documented route is served (an unserved one would be 404 or 405) and, except the
    // document itself, requires credentials.
    for (method, path) in &expected {
        let concrete = path
            .replace("{component}", "com.example")
            .replace("{sequence}", "1")
            .replace("{device}", &"ab".repeat(32))
            .replace("{fingerprint}", &"cd".repeat(32))
            .replace(['{', '}'], "");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let response =
            api.client.request(method.clone(), format!("{}{concrete}", api.base)).send().await;
        let status = response.unwrap().status().as_u16();
        if path == "/admin/v1/openapi.json" {
            assert_eq!(status, 200);
        } else {
            assert_eq!(status, 401, "{method} {concrete}");
        }
    }
    // And nothing else is.
    let response = api.req(Method::GET, "/nothing-here", "op").send().await.unwrap();
    assert_eq!(response.status(), 404);
    let response = api.req(Method::PATCH, "/signers", "op").send().await.unwrap();
    assert_eq!(response.status(), 405);
    api.finish().await;
}

async fn credentials_are_checked_and_refusals_change_nothing(db: Db) {
    let Some(api) = TestApi::start(db).await else { return };
    let key = signer_key().public_key().to_spki_pem();
    let body = json!({ "name": "s1", "key": key });
    let url = format!("{}/admin/v1/signers", api.base);
    let audit_before = api.audit().await.len();

    // An expired token and a revoked one, next to unknown and malformed credentials.
    let expired = format!("teep_{}", "11".repeat(32));
    let row = teep_tam::store::ApiTokenRow {
        id: "expired".into(),
        principal: "op".into(),
        created_at: 1,
        expires_at: Some(2),
        last_used: None,
        revoked: false,
    };
    let hash = teep_tam::principals::token_hash(&expired);
    assert!(api.admin.store().add_api_token(&row, &hash).await.unwrap());
    let revoked = api.admin.create_token("op", None, 1).await.unwrap();
    api.admin.revoke_token(&revoked.row.id, 2).await.unwrap();
    let unknown = format!("teep_{}", "00".repeat(32));
    let headers = [
        None,
        Some("Basic b3A6b3A=".to_owned()),
        Some("Bearer".to_owned()),
        Some("Bearer not-a-token".to_owned()),
        Some(format!("Bearer {unknown}")),
        Some(format!("Bearer {expired}")),
        Some(format!("Bearer {}", revoked.token)),
    ];
    for header in &headers {
        let mut request = api.client.post(&url).json(&body);
        if let Some(h) = header {
            request = request.header("authorization", h);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let (status, _) = json_of(response).await;
        assert_eq!(status, 401, "{header:?}");
    }

    // A disabled principal's token stops working, and works again once re-enabled.
    api.admin.set_principal_disabled("bob", true, 3).await.unwrap();
    assert_eq!(api.call(Method::GET, "/whoami", "bob", None).await.0, 401);
    let (status, _) = api.call(Method::POST, "/signers", "bob", Some(body.clone())).await;
    assert_eq!(status, 401);
    api.admin.set_principal_disabled("bob", false, 4).await.unwrap();
    let (status, me) = api.call(Method::GET, "/whoami", "bob", None).await;
    assert_eq!((status, me), (200, json!({ "name": "bob", "role": "developer" })));

    // Nothing changed but the two audited principal changes and the revocation.
    assert!(api.admin.signers().await.unwrap().is_empty());
    let actions: Vec<String> = api.audit().await.iter().take(3).map(|r| r.action.clone()).collect();
    assert_eq!(actions, ["principal.enable", "principal.disable", "token.revoke"]);
    assert_eq!(api.audit().await.len(), audit_before + 4, "token.create, revoke, disable, enable");

    // The scheme is case-insensitive (RFC 9110 §11.1).
    let lower = format!("bearer {}", api.tokens["op"]);
    let whoami =
        api.client.get(format!("{}/admin/v1/whoami", api.base)).header("authorization", lower);
    assert_eq!(json_of(whoami.send().await.unwrap()).await.0, 200);

    // A valid token works and its use is recorded.
    let (status, _) = api.call(Method::POST, "/signers", "op", Some(body)).await;
    assert_eq!(status, 201);
    let tokens = api.admin.tokens(Some("op")).await.unwrap();
    assert!(tokens.iter().any(|t| t.last_used.is_some()));
    api.finish().await;
}

async fn operator_uses_every_endpoint(db: Db) {
    let Some(api) = TestApi::start(db).await else { return };
    let op = "op";
    let signer = signer_key();
    let pem = signer.public_key().to_spki_pem();

    // Signers.
    let (status, row) =
        api.call(Method::POST, "/signers", op, Some(json!({ "name": "s", "key": pem }))).await;
    assert_eq!(status, 201, "{row}");
    assert_eq!(row["owner"], Value::Null);
    let (status, row) = api
        .call(
            Method::POST,
            "/signers",
            op,
            Some(json!({ "name": "for-alice", "key": signer_key().public_key().to_spki_pem(),
                         "owner": "alice" })),
        )
        .await;
    assert_eq!((status, row["owner"].as_str()), (201, Some("alice")));
    let (status, _) =
        api.call(Method::POST, "/signers", op, Some(json!({ "name": "s", "key": pem }))).await;
    assert_eq!(status, 409);
    let (status, _) =
        api.call(Method::POST, "/signers", op, Some(json!({ "name": "x", "key": "nope" }))).await;
    assert_eq!(status, 400);
    let (status, list) = api.call(Method::GET, "/signers", op, None).await;
    assert_eq!((status, list.as_array().unwrap().len()), (200, 2));

    // Catalog: upload, list, download, retire, remediation.
    let v1 = envelope(&signer, "app", 1);
    let response = api.req(Method::POST, "/tcs", op).body(v1.clone()).send().await.unwrap();
    let (status, tc) = json_of(response).await;
    assert_eq!(
        (status, tc["component_id"].as_str(), tc["signer"].as_str()),
        (201, Some("app"), Some("s"))
    );
    let response = api.req(Method::POST, "/tcs", op).body(b"garbage".to_vec()).send().await;
    assert_eq!(json_of(response.unwrap()).await.0, 400);
    let response = api.req(Method::POST, "/tcs", op).body(v1.clone()).send().await.unwrap();
    assert_eq!(json_of(response).await.0, 409);
    let response = api.req(Method::POST, "/tcs", op).body(envelope(&signer, "app", 2)).send().await;
    assert_eq!(json_of(response.unwrap()).await.0, 201);
    let (status, tcs) = api.call(Method::GET, "/tcs", op, None).await;
    assert_eq!((status, tcs.as_array().unwrap().len()), (200, 2));
    let response = api.req(Method::GET, "/tcs/app/1/envelope", op).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().as_ref(), v1.as_slice());
    let (status, _) = api.call(Method::GET, "/tcs/app/9/envelope", op, None).await;
    assert_eq!(status, 404);
    let (status, _) =
        api.call(Method::PUT, "/tcs/app/2/retired", op, Some(json!({ "retired": true }))).await;
    assert_eq!(status, 204);
    let (status, retired) = api.call(Method::GET, "/retired", op, None).await;
    assert_eq!((status, retired), (200, json!([{ "component_id": "app", "sequence_number": 2 }])));
    let (status, _) =
        api.call(Method::PUT, "/tcs/app/2/retired", op, Some(json!({ "retired": false }))).await;
    assert_eq!(status, 204);
    assert_eq!(api.call(Method::PUT, "/remediation/app", op, None).await.0, 204);
    assert_eq!(api.call(Method::PUT, "/remediation/nothing", op, None).await.0, 404);
    let (status, list) = api.call(Method::GET, "/remediation", op, None).await;
    assert_eq!((status, list), (200, json!(["app"])));
    assert_eq!(api.call(Method::DELETE, "/remediation/app", op, None).await.0, 204);
    // A two-part component id travels percent-encoded.
    let (status, _) = api.call(Method::DELETE, "/tcs/a%2Fb", op, None).await;
    assert_eq!(status, 404);

    // Devices.
    let device = device_key();
    let device_pem = device.public_key().to_spki_pem();
    let id = hex::encode(device.public_key().thumbprint());
    let (status, row) = api
        .call(Method::POST, "/devices", op, Some(json!({ "key": device_pem, "label": "d1" })))
        .await;
    assert_eq!((status, row["id"].as_str()), (201, Some(id.as_str())));
    let (status, _) = api
        .call(Method::POST, "/devices", op, Some(json!({ "key": device_pem, "wire": "odd" })))
        .await;
    assert_eq!(status, 400);
    let (status, list) = api.call(Method::GET, "/devices", op, None).await;
    assert_eq!((status, list.as_array().unwrap().len()), (200, 1));
    let prefix = &id[..10];
    assert_eq!(api.call(Method::POST, &format!("/devices/{prefix}/block"), op, None).await.0, 204);
    let (_, status_body) = api.call(Method::GET, &format!("/devices/{id}"), op, None).await;
    assert_eq!(status_body["device"]["blocked"], true);
    assert_eq!(api.call(Method::POST, &format!("/devices/{id}/unblock"), op, None).await.0, 204);
    let report_key = json!({ "key": signer_key().public_key().to_spki_pem() });
    let path = format!("/devices/{id}/report-key");
    assert_eq!(api.call(Method::PUT, &path, op, Some(report_key)).await.0, 204);
    let same = json!({ "key": device_pem });
    assert_eq!(api.call(Method::PUT, &path, op, Some(same)).await.0, 400);
    let (status, reports) =
        api.call(Method::GET, &format!("/devices/{id}/reports?limit=5"), op, None).await;
    assert_eq!((status, reports), (200, json!([])));
    let (status, history) =
        api.call(Method::GET, &format!("/devices/{id}/history"), op, None).await;
    assert_eq!((status, history.is_array()), (200, true));
    let (status, _) =
        api.call(Method::GET, &format!("/devices/{id}/history?limit=0"), op, None).await;
    assert_eq!(status, 400);
    let (status, cert) =
        api.call(Method::GET, &format!("/devices/{id}/certificate"), op, None).await;
    assert_eq!(status, 404, "{cert}");
    let response = api.req(Method::POST, "/devices/x509", op).body("not pem").send().await;
    assert_eq!(json_of(response.unwrap()).await.0, 400);
    assert_eq!(api.call(Method::GET, "/devices/00000000", op, None).await.0, 404);
    assert_eq!(api.call(Method::GET, "/devices/xyz", op, None).await.0, 400);

    // Groups, group policy, RequestTA settings.
    let (status, group) =
        api.call(Method::POST, "/groups", op, Some(json!({ "name": "g1", "owner": "dana" }))).await;
    assert_eq!((status, group["owner"].as_str()), (201, Some("dana")));
    let member = format!("/groups/g1/devices/{id}");
    assert_eq!(api.call(Method::PUT, &member, op, None).await.0, 204);
    assert_eq!(api.call(Method::PUT, &member, op, None).await.0, 409);
    let (status, g) = api.call(Method::GET, "/groups/g1", op, None).await;
    assert_eq!((status, g["devices"].clone()), (200, json!([id])));
    let (status, groups) = api.call(Method::GET, &format!("/devices/{id}/groups"), op, None).await;
    assert_eq!((status, groups), (200, json!(["g1"])));
    let (status, list) = api.call(Method::GET, "/groups", op, None).await;
    assert_eq!((status, list.as_array().unwrap().len()), (200, 1));
    let allow = json!({ "allow": false });
    assert_eq!(api.call(Method::PUT, "/groups/g1/allow-request", op, Some(allow)).await.0, 204);
    let allow = json!({ "allow": false });
    assert_eq!(api.call(Method::PUT, "/settings/allow-request", op, Some(allow)).await.0, 204);
    let (status, setting) = api.call(Method::GET, "/settings/allow-request", op, None).await;
    assert_eq!((status, setting), (200, json!({ "allow": false })));

    // Policies for all devices, a group and a device.
    for target in ["*", "group:g1", id.as_str()] {
        let rule = json!({ "target": target, "component": "app", "action": "require",
                           "min_sequence": 1 });
        assert_eq!(api.call(Method::PUT, "/policies", op, Some(rule)).await.0, 204, "{target}");
    }
    let bad = json!({ "target": "*", "component": "app", "action": "install" });
    assert_eq!(api.call(Method::PUT, "/policies", op, Some(bad)).await.0, 400);
    let (status, rules) = api.call(Method::GET, "/policies", op, None).await;
    assert_eq!((status, rules.as_array().unwrap().len()), (200, 3));
    let (status, _) = api.call(Method::DELETE, "/policies?target=*&component=app", op, None).await;
    assert_eq!(status, 204);
    let (status, _) = api.call(Method::DELETE, "/policies?target=*&component=app", op, None).await;
    assert_eq!(status, 404);

    // Rollouts.
    let rollout = json!({ "id": "r1", "component": "app", "sequence_number": 2,
                          "target": "group:g1", "basis_points": 5000 });
    let (status, r) = api.call(Method::POST, "/rollouts", op, Some(rollout)).await;
    assert_eq!((status, r["state"].as_str()), (201, Some("running")), "{r}");
    let (status, progress) = api.call(Method::GET, "/rollouts/r1", op, None).await;
    assert_eq!((status, progress["rollout"]["id"].as_str()), (200, Some("r1")));
    assert_eq!(api.call(Method::POST, "/rollouts/r1/pause", op, None).await.0, 204);
    assert_eq!(api.call(Method::POST, "/rollouts/r1/pause", op, None).await.0, 400);
    assert_eq!(api.call(Method::POST, "/rollouts/r1/resume", op, None).await.0, 204);
    let share = json!({ "basis_points": 7500 });
    assert_eq!(api.call(Method::PUT, "/rollouts/r1/share", op, Some(share)).await.0, 204);
    assert_eq!(api.call(Method::POST, "/rollouts/r1/complete", op, None).await.0, 204);
    let rollout = json!({ "id": "r2", "component": "app", "sequence_number": 2, "target": "*",
                          "devices": [id] });
    assert_eq!(api.call(Method::POST, "/rollouts", op, Some(rollout)).await.0, 201);
    assert_eq!(api.call(Method::POST, "/rollouts/r2/abort", op, None).await.0, 204);
    let (status, list) = api.call(Method::GET, "/rollouts", op, None).await;
    assert_eq!((status, list.as_array().unwrap().len()), (200, 2));
    assert_eq!(api.call(Method::GET, "/rollouts/none", op, None).await.0, 404);

    // Enrolment allow and block lists.
    let entry = json!({ "list": "block", "kind": "subject", "pattern": "CN=bad*" });
    assert_eq!(api.call(Method::POST, "/admission", op, Some(entry)).await.0, 204);
    let (status, list) = api.call(Method::GET, "/admission", op, None).await;
    assert_eq!((status, list[0]["pattern"].as_str()), (200, Some("CN=bad*")));
    let path = "/admission?list=block&kind=subject&pattern=CN%3Dbad*";
    assert_eq!(api.call(Method::DELETE, path, op, None).await.0, 204);
    assert_eq!(api.call(Method::DELETE, path, op, None).await.0, 404);

    // Removal of what was built: membership, group, device, versions, signer.
    assert_eq!(api.call(Method::DELETE, &member, op, None).await.0, 204);
    assert_eq!(api.call(Method::DELETE, "/groups/g1", op, None).await.0, 204);
    assert_eq!(api.call(Method::DELETE, &format!("/devices/{id}"), op, None).await.0, 204);
    assert_eq!(api.call(Method::DELETE, &format!("/devices/{id}"), op, None).await.0, 404);
    let (status, _) = api.call(Method::DELETE, "/signers/s", op, None).await;
    assert_eq!(status, 409, "signer in use");
    let (status, removed) = api.call(Method::DELETE, "/tcs/app?sequence=1", op, None).await;
    assert_eq!((status, removed), (200, json!({ "removed": 1 })));
    let (status, removed) =
        api.call(Method::DELETE, "/signers/s?with_components=true", op, None).await;
    assert_eq!((status, removed), (200, json!({ "removed": 1 })));
    assert_eq!(api.call(Method::DELETE, "/signers/for-alice", op, None).await.0, 200);

    // The audit log, read over the API, names the operator for every change.
    let (status, log) = api.call(Method::GET, "/audit?actor=op&limit=1000", op, None).await;
    assert_eq!(status, 200);
    let actions: BTreeSet<&str> =
        log.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in [
        "signer.add",
        "signer.remove",
        "tc.add",
        "tc.remove",
        "tc.retire",
        "tc.unretire",
        "tc.remediation",
        "device.enroll",
        "device.block",
        "device.unblock",
        "device.report-key",
        "device.remove",
        "group.create",
        "group.add-device",
        "group.remove-device",
        "group.delete",
        "group.allow-request",
        "policy.allow-request",
        "policy.require",
        "policy.clear",
        "rollout.create",
        "rollout.pause",
        "rollout.resume",
        "rollout.share",
        "rollout.complete",
        "rollout.abort",
    ] {
        assert!(actions.contains(action), "{action} missing from {actions:?}");
    }
    assert!(log.as_array().unwrap().iter().all(|e| e["actor"] == "op" && e["role"] == "operator"));
    assert_eq!(api.call(Method::GET, "/audit?limit=0", op, None).await.0, 400);
    api.finish().await;
}

async fn developers_cannot_see_or_change_each_others_components(db: Db) {
    let Some(api) = TestApi::start(db).await else { return };
    let (key_a, key_b) = (signer_key(), signer_key());

    // Each developer registers a signer (owned by itself, whatever it asks) and a component.
    for (who, name, key) in [("alice", "sa", &key_a), ("bob", "sb", &key_b)] {
        let body = json!({ "name": name, "key": key.public_key().to_spki_pem() });
        let (status, row) = api.call(Method::POST, "/signers", who, Some(body)).await;
        assert_eq!((status, row["owner"].as_str()), (201, Some(who)));
    }
    let body = json!({ "name": "sx", "key": signer_key().public_key().to_spki_pem(),
                       "owner": "bob" });
    assert_eq!(api.call(Method::POST, "/signers", "alice", Some(body)).await.0, 403);
    let response = api.req(Method::POST, "/tcs", "alice").body(envelope(&key_a, "a-app", 1)).send();
    assert_eq!(json_of(response.await.unwrap()).await.0, 201);
    let response = api.req(Method::POST, "/tcs", "bob").body(envelope(&key_b, "b-app", 1)).send();
    assert_eq!(json_of(response.await.unwrap()).await.0, 201);

    // Listings show only one's own.
    let (_, signers) = api.call(Method::GET, "/signers", "bob", None).await;
    assert_eq!(signers.as_array().unwrap().len(), 1);
    assert_eq!(signers[0]["name"], "sb");
    let (_, tcs) = api.call(Method::GET, "/tcs", "bob", None).await;
    assert_eq!(tcs.as_array().unwrap().len(), 1);
    assert_eq!(tcs[0]["component_id"], "b-app");

    // Bob can neither read nor change Alice's: not found, so nothing about it leaks.
    let audit_before = api.audit().await.len();
    assert_eq!(api.call(Method::GET, "/tcs/a-app/1/envelope", "bob", None).await.0, 404);
    assert_eq!(api.call(Method::DELETE, "/tcs/a-app", "bob", None).await.0, 404);
    assert_eq!(api.call(Method::DELETE, "/tcs/a-app?sequence=1", "bob", None).await.0, 404);
    assert_eq!(api.call(Method::DELETE, "/signers/sa", "bob", None).await.0, 404);
    let (status, _) =
        api.call(Method::DELETE, "/signers/sa?with_components=true", "bob", None).await;
    assert_eq!(status, 404);
    // An envelope signed with Alice's key does not authenticate against Bob's signers.
    let response = api.req(Method::POST, "/tcs", "bob").body(envelope(&key_a, "a-app", 2)).send();
    assert_eq!(json_of(response.await.unwrap()).await.0, 400);
    // Bob may not publish versions of Alice's component with his own key.
    let response = api.req(Method::POST, "/tcs", "bob").body(envelope(&key_b, "a-app", 2)).send();
    assert_eq!(json_of(response.await.unwrap()).await.0, 403);
    let retire = json!({ "retired": true });
    let (status, _) = api.call(Method::PUT, "/tcs/a-app/1/retired", "bob", Some(retire)).await;
    assert_eq!(status, 403);
    assert_eq!(api.audit().await.len(), audit_before, "refusals are not changes");
    assert_eq!(api.admin.tcs().await.unwrap().len(), 2);
    assert_eq!(api.admin.signers().await.unwrap().len(), 2);

    // Alice can manage her own.
    let response = api.req(Method::GET, "/tcs/a-app/1/envelope", "alice").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let retire = json!({ "retired": true });
    assert_eq!(api.call(Method::PUT, "/tcs/a-app/1/retired", "alice", Some(retire)).await.0, 204);
    assert_eq!(api.call(Method::DELETE, "/tcs/a-app", "alice", None).await.0, 200);
    assert_eq!(api.call(Method::DELETE, "/signers/sa", "alice", None).await.0, 200);
    let log = api.audit().await;
    assert!(log.iter().any(|e| e.action == "tc.add" && e.actor == "bob" && e.role == "developer"));
    assert!(log.iter().any(|e| e.action == "signer.remove" && e.actor == "alice"));

    // Developers have no business with devices, policy, remediation, groups or principals.
    for (method, path) in [
        (Method::GET, "/devices"),
        (Method::GET, "/policies"),
        (Method::GET, "/remediation"),
        (Method::GET, "/groups"),
        (Method::GET, "/rollouts"),
        (Method::GET, "/principals"),
        (Method::GET, "/audit"),
        (Method::GET, "/admission"),
    ] {
        assert_eq!(api.call(method, path, "alice", None).await.0, 403, "{path}");
    }
    api.finish().await;
}

/// Enrols a device as the operator and returns its thumbprint (hex).
async fn enrolled_device(api: &TestApi) -> String {
    let key = device_key();
    let body = json!({ "key": key.public_key().to_spki_pem() });
    let (status, row) = api.call(Method::POST, "/devices", "op", Some(body)).await;
    assert_eq!(status, 201);
    row["id"].as_str().unwrap().to_owned()
}

async fn device_admins_are_confined_to_their_groups(db: Db) {
    let Some(api) = TestApi::start(db).await else { return };
    let (d1, d2) = (enrolled_device(&api).await, enrolled_device(&api).await);
    let signer = signer_key();
    api.admin.add_signer("s", signer.public_key().to_spki_pem().as_bytes(), 1).await.unwrap();
    api.admin.add_tc(&envelope(&signer, "app", 1), 1).await.unwrap();

    // Dana creates her group (owned by her) and the operator puts d1 in it; d2 is Dirk's.
    let (status, g) =
        api.call(Method::POST, "/groups", "dana", Some(json!({ "name": "gd" }))).await;
    assert_eq!((status, g["owner"].as_str()), (201, Some("dana")));
    let body = json!({ "name": "gk", "owner": "dirk" });
    assert_eq!(api.call(Method::POST, "/groups", "op", Some(body)).await.0, 201);
    assert_eq!(api.call(Method::PUT, &format!("/groups/gd/devices/{d1}"), "op", None).await.0, 204);
    assert_eq!(api.call(Method::PUT, &format!("/groups/gk/devices/{d2}"), "op", None).await.0, 204);

    // Her devices only.
    let (status, devices) = api.call(Method::GET, "/devices", "dana", None).await;
    assert_eq!((status, devices.as_array().unwrap().len()), (200, 1));
    assert_eq!(devices[0]["id"].as_str(), Some(d1.as_str()));
    assert_eq!(api.call(Method::GET, &format!("/devices/{d1}"), "dana", None).await.0, 200);
    let audit_before = api.audit().await.len();
    for (method, path) in [
        (Method::GET, format!("/devices/{d2}")),
        (Method::POST, format!("/devices/{d2}/block")),
        (Method::POST, format!("/devices/{d2}/unblock")),
        (Method::DELETE, format!("/devices/{d2}")),
        (Method::GET, format!("/devices/{d2}/reports")),
        (Method::GET, format!("/devices/{d2}/history")),
    ] {
        assert_eq!(api.call(method.clone(), &path, "dana", None).await.0, 404, "{method} {path}");
    }
    let report_key = json!({ "key": signer_key().public_key().to_spki_pem() });
    let path = format!("/devices/{d2}/report-key");
    assert_eq!(api.call(Method::PUT, &path, "dana", Some(report_key)).await.0, 404);
    // Dirk's group, all devices, and the catalog are not hers to change.
    let rule = |target: &str| json!({ "target": target, "component": "app", "action": "require" });
    assert_eq!(api.call(Method::PUT, "/policies", "dana", Some(rule("group:gk"))).await.0, 404);
    assert_eq!(api.call(Method::PUT, "/policies", "dana", Some(rule("*"))).await.0, 403);
    assert_eq!(api.call(Method::PUT, "/policies", "dana", Some(rule(&d2))).await.0, 404);
    assert_eq!(api.call(Method::GET, "/groups/gk", "dana", None).await.0, 404);
    assert_eq!(api.call(Method::DELETE, "/groups/gk", "dana", None).await.0, 404);
    let rollout = json!({ "id": "rd", "component": "app", "sequence_number": 1,
                          "target": "group:gk", "basis_points": 10000 });
    assert_eq!(api.call(Method::POST, "/rollouts", "dana", Some(rollout)).await.0, 404);
    let response = api.req(Method::POST, "/tcs", "dana").body(envelope(&signer, "app", 2)).send();
    assert_eq!(json_of(response.await.unwrap()).await.0, 403);
    assert_eq!(api.call(Method::DELETE, "/tcs/app", "dana", None).await.0, 403);
    assert_eq!(api.call(Method::GET, "/tcs/app/1/envelope", "dana", None).await.0, 403);
    assert_eq!(api.call(Method::GET, "/signers", "dana", None).await.0, 403);
    assert_eq!(api.audit().await.len(), audit_before, "refusals are not changes");
    assert!(!api.admin.status(&thumbprint(&d2)).await.unwrap().device.blocked);
    assert!(api.admin.policies().await.unwrap().is_empty());

    // Within her group she administers devices, policy and rollouts, and reads the catalog.
    assert_eq!(api.call(Method::POST, &format!("/devices/{d1}/block"), "dana", None).await.0, 204);
    assert!(api.admin.status(&thumbprint(&d1)).await.unwrap().device.blocked);
    assert_eq!(api.call(Method::PUT, "/policies", "dana", Some(rule("group:gd"))).await.0, 204);
    assert_eq!(api.call(Method::PUT, "/policies", "dana", Some(rule(&d1))).await.0, 204);
    let (status, rules) = api.call(Method::GET, "/policies", "dana", None).await;
    assert_eq!((status, rules.as_array().unwrap().len()), (200, 2));
    let (status, rules) = api.call(Method::GET, "/policies", "dirk", None).await;
    assert_eq!((status, rules), (200, json!([])));
    let rollout = json!({ "id": "rd", "component": "app", "sequence_number": 1,
                          "target": "group:gd", "basis_points": 10000 });
    assert_eq!(api.call(Method::POST, "/rollouts", "dana", Some(rollout)).await.0, 201);
    assert_eq!(api.call(Method::POST, "/rollouts/rd/pause", "dirk", None).await.0, 404);
    assert_eq!(api.call(Method::POST, "/rollouts/rd/pause", "dana", None).await.0, 204);
    let (status, tcs) = api.call(Method::GET, "/tcs", "dana", None).await;
    assert_eq!((status, tcs.as_array().unwrap().len()), (200, 1));
    let (status, list) = api.call(Method::GET, "/groups", "dana", None).await;
    assert_eq!((status, list.as_array().unwrap().len()), (200, 1));

    // Dirk may not touch Dana's group, its rollout or its devices; Dana may not pull in a
    // device she does not administer.
    let audit_before = api.audit().await.len();
    let share = json!({ "basis_points": 10000 });
    let allow = json!({ "allow": true });
    for (method, path, body) in [
        (Method::GET, "/rollouts/rd".to_owned(), None),
        (Method::POST, "/rollouts/rd/resume".to_owned(), None),
        (Method::POST, "/rollouts/rd/abort".to_owned(), None),
        (Method::POST, "/rollouts/rd/complete".to_owned(), None),
        (Method::PUT, "/rollouts/rd/share".to_owned(), Some(share)),
        (Method::PUT, "/groups/gd/allow-request".to_owned(), Some(allow)),
        (Method::DELETE, format!("/groups/gd/devices/{d1}"), None),
        (Method::PUT, format!("/groups/gd/devices/{d2}"), None),
        (Method::GET, format!("/devices/{d1}/groups"), None),
        (Method::GET, format!("/devices/{d1}/certificate"), None),
    ] {
        let (status, _) = api.call(method.clone(), &path, "dirk", body).await;
        assert_eq!(status, 404, "dirk: {method} {path}");
    }
    let (status, _) =
        api.call(Method::PUT, &format!("/groups/gd/devices/{d2}"), "dana", None).await;
    assert_eq!(status, 404);
    assert_eq!(api.audit().await.len(), audit_before, "refusals are not changes");
    assert_eq!(api.admin.group_devices("gd").await.unwrap().len(), 1);
    let log = api.audit().await;
    for action in
        ["group.create", "device.block", "policy.require", "rollout.create", "rollout.pause"]
    {
        assert!(
            log.iter().any(|e| e.action == action && e.actor == "dana" && e.role == "device-admin"),
            "{action}"
        );
    }
    api.finish().await;
}

fn thumbprint(hex_id: &str) -> [u8; 32] {
    hex::decode(hex_id).unwrap().try_into().unwrap()
}

async fn refused_roles_change_nothing(db: Db) {
    let Some(api) = TestApi::start(db).await else { return };
    let device = enrolled_device(&api).await;
    let key = signer_key().public_key().to_spki_pem();
    let audit_before = api.audit().await.len();
    let dev_refused: Vec<(Method, String, Option<Value>)> = vec![
        (Method::POST, "/devices".into(), Some(json!({ "key": key }))),
        (Method::POST, format!("/devices/{device}/block"), None),
        (
            Method::PUT,
            "/policies".into(),
            Some(json!({ "target": "*", "component": "x", "action": "delete" })),
        ),
        (Method::DELETE, "/policies?target=*&component=x".into(), None),
        (Method::PUT, "/remediation/x".into(), None),
        (Method::POST, "/groups".into(), Some(json!({ "name": "g" }))),
        (Method::PUT, "/settings/allow-request".into(), Some(json!({ "allow": true }))),
        (
            Method::POST,
            "/admission".into(),
            Some(json!({ "list": "allow", "kind": "subject", "pattern": "CN=x" })),
        ),
        (Method::POST, "/principals".into(), Some(json!({ "name": "eve", "role": "operator" }))),
        (Method::POST, "/principals/bob/disable".into(), None),
        (Method::POST, "/principals/bob/certificates".into(), Some(json!("x"))),
        (Method::POST, "/tokens".into(), Some(json!({ "principal": "op" }))),
        (Method::DELETE, "/remediation/x".into(), None),
        (Method::POST, "/devices/x509".into(), Some(json!("-----BEGIN CERTIFICATE-----"))),
        (Method::GET, format!("/devices/{device}/certificate"), None),
        (Method::GET, format!("/devices/{device}/groups"), None),
    ];
    for (method, path, body) in dev_refused {
        let (status, _) = api.call(method.clone(), &path, "alice", body).await;
        assert_eq!(status, 403, "developer: {method} {path}");
    }
    let admin_refused: Vec<(Method, String, Option<Value>)> = vec![
        (Method::POST, "/signers".into(), Some(json!({ "name": "s", "key": key }))),
        (Method::POST, "/devices".into(), Some(json!({ "key": key }))),
        (Method::PUT, "/payloads/p".into(), Some(json!("bytes"))),
        (Method::GET, "/payloads".into(), None),
        (Method::PUT, "/remediation/x".into(), None),
        (Method::GET, "/audit".into(), None),
        (Method::GET, "/admission".into(), None),
        (Method::POST, "/principals".into(), Some(json!({ "name": "eve", "role": "operator" }))),
        (Method::POST, "/principals/dana/enable".into(), None),
        (Method::DELETE, format!("/principals/op/certificates/{}", "ab".repeat(32)), None),
        (Method::GET, "/principals".into(), None),
        (Method::DELETE, "/admission?list=allow&kind=subject&pattern=CN%3Dx".into(), None),
    ];
    for (method, path, body) in admin_refused {
        let (status, _) = api.call(method.clone(), &path, "dana", body).await;
        assert_eq!(status, 403, "device admin: {method} {path}");
    }
    // Another principal's certificates are not even found.
    let (status, _) = api.call(Method::GET, "/principals/op/certificates", "dana", None).await;
    assert_eq!(status, 404);
    assert_eq!(api.audit().await.len(), audit_before);
    assert!(api.admin.signers().await.unwrap().is_empty());
    assert_eq!(api.admin.devices().await.unwrap().len(), 1);
    assert_eq!(api.admin.principals().await.unwrap().len(), PRINCIPALS.len());
    api.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_database_is_503() {
    let Some(api) = TestApi::start(Db::Sqlite).await else { return };
    api.admin.store().close().await;
    let (status, body) = api.call(Method::GET, "/signers", "op", None).await;
    assert_eq!(status, 503, "{body}");
    let response = api.client.get(format!("{}/payloads/x", api.payload_base)).send().await;
    assert_eq!(json_of(response.unwrap()).await.0, 503);
    api.finish().await;
}

async fn principals_and_tokens(db: Db) {
    let Some(api) = TestApi::start(db).await else { return };
    let body = json!({ "name": "erin", "role": "developer" });
    let (status, p) = api.call(Method::POST, "/principals", "op", Some(body.clone())).await;
    assert_eq!((status, p["role"].as_str()), (201, Some("developer")));
    assert_eq!(api.call(Method::POST, "/principals", "op", Some(body)).await.0, 409);
    let bad = json!({ "name": "x", "role": "root" });
    assert_eq!(api.call(Method::POST, "/principals", "op", Some(bad)).await.0, 400);
    let cli = json!({ "name": "cli", "role": "operator" });
    assert_eq!(api.call(Method::POST, "/principals", "op", Some(cli)).await.0, 400);
    let (status, list) = api.call(Method::GET, "/principals", "op", None).await;
    assert_eq!((status, list.as_array().unwrap().len()), (200, PRINCIPALS.len() + 1));
    assert_eq!(api.call(Method::GET, "/principals/erin", "op", None).await.0, 200);
    assert_eq!(api.call(Method::GET, "/principals/alice", "alice", None).await.0, 200);
    assert_eq!(api.call(Method::GET, "/principals/erin", "alice", None).await.0, 404);

    // A token is shown once; listings never show it.
    let request = json!({ "principal": "erin", "expires_in_secs": 3600 });
    let (status, created) = api.call(Method::POST, "/tokens", "op", Some(request)).await;
    assert_eq!(status, 201);
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("teep_") && token.len() == 5 + 64, "{token}");
    assert!(created["expires_at"].as_u64().is_some());
    let response = api.req(Method::GET, "/tokens", "op").send().await.unwrap();
    let text = response.text().await.unwrap();
    assert!(!text.contains(&token[5..]), "a listing shows a token");
    for t in api.tokens.values() {
        assert!(!text.contains(&t[5..]));
    }
    let unknown = json!({ "principal": "nobody" });
    assert_eq!(api.call(Method::POST, "/tokens", "op", Some(unknown)).await.0, 404);

    // The new token works; its owner sees only its own tokens and may revoke them.
    let whoami = api.client.get(format!("{}/admin/v1/whoami", api.base)).bearer_auth(&token);
    let (status, me) = json_of(whoami.send().await.unwrap()).await;
    assert_eq!((status, me["name"].as_str()), (200, Some("erin")));
    let (status, mine) = api.call(Method::GET, "/tokens", "alice", None).await;
    assert_eq!((status, mine.as_array().unwrap().len()), (200, 1));
    assert_eq!(mine[0]["principal"], "alice");
    let id = created["id"].as_str().unwrap();
    assert_eq!(api.call(Method::DELETE, &format!("/tokens/{id}"), "alice", None).await.0, 404);
    assert_eq!(api.call(Method::DELETE, &format!("/tokens/{id}"), "op", None).await.0, 204);
    let whoami = api.client.get(format!("{}/admin/v1/whoami", api.base)).bearer_auth(&token);
    assert_eq!(json_of(whoami.send().await.unwrap()).await.0, 401);
    let (_, all) = api.call(Method::GET, "/tokens?principal=erin", "op", None).await;
    assert_eq!(all[0]["revoked"], true);

    // Disabling and certificates.
    assert_eq!(api.call(Method::POST, "/principals/erin/disable", "op", None).await.0, 204);
    assert_eq!(api.call(Method::POST, "/principals/erin/enable", "op", None).await.0, 204);
    assert_eq!(api.call(Method::POST, "/principals/nobody/disable", "op", None).await.0, 404);
    let cert = rcgen::generate_simple_self_signed(vec!["erin".to_owned()]).unwrap();
    let path = "/principals/erin/certificates";
    let response = api.req(Method::POST, path, "op").body(cert.cert.pem()).send().await.unwrap();
    let (status, registered) = json_of(response).await;
    assert_eq!(status, 201);
    let fingerprint = registered["fingerprint"].as_str().unwrap().to_owned();
    let response = api.req(Method::POST, path, "op").body(cert.cert.pem()).send().await.unwrap();
    assert_eq!(json_of(response).await.0, 409);
    let response = api.req(Method::POST, path, "op").body("junk").send().await.unwrap();
    assert_eq!(json_of(response).await.0, 400);
    let (status, certs) = api.call(Method::GET, path, "op", None).await;
    assert_eq!((status, certs), (200, json!([{ "fingerprint": fingerprint }])));
    let remove = format!("{path}/{fingerprint}");
    assert_eq!(api.call(Method::DELETE, &remove, "op", None).await.0, 204);
    assert_eq!(api.call(Method::DELETE, &remove, "op", None).await.0, 404);

    let log = api.audit().await;
    for action in [
        "principal.create",
        "token.create",
        "token.revoke",
        "principal.disable",
        "principal.enable",
        "principal.add-certificate",
        "principal.remove-certificate",
    ] {
        assert!(log.iter().any(|e| e.action == action && e.actor == "op"), "{action}");
    }
    assert!(log.iter().all(|e| !e.detail.contains(&token[5..])), "a token in the audit log");
    api.finish().await;
}

/// Asserts a 400 whose message contains `needle`, and returns the body.
fn assert_400(what: &str, (status, body): (u16, Value), needle: &str) -> Value {
    assert_eq!(status, 400, "{what}: {body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.contains(needle), "{what}: {body}");
    body
}

/// Numbers that do not fit the database (or a sane range) are 400s, never 500s, and change
/// nothing.
async fn out_of_range_numbers_are_400(db: Db) {
    let Some(api) = TestApi::start(db).await else { return };
    let op = "op";
    let signer = signer_key();
    let pem = signer.public_key().to_spki_pem();
    let body = json!({ "name": "s", "key": pem });
    assert_eq!(api.call(Method::POST, "/signers", op, Some(body)).await.0, 201);
    let response = api.req(Method::POST, "/tcs", op).body(envelope(&signer, "app", 1)).send();
    assert_eq!(json_of(response.await.unwrap()).await.0, 201);
    let tokens_before = api.call(Method::GET, "/tokens", op, None).await.1;

    // Token lifetimes: at most ten years, whatever the arithmetic would allow.
    for secs in [i64::MAX as u64, 1_796_416_040_000_000_000, u64::MAX, 315_360_001, 0] {
        let body = json!({ "principal": "alice", "expires_in_secs": secs });
        let answer = api.call(Method::POST, "/tokens", op, Some(body)).await;
        assert_400(&format!("lifetime {secs}"), answer, "lifetime");
    }
    assert_eq!(api.call(Method::GET, "/tokens", op, None).await.1, tokens_before);
    let body = json!({ "principal": "alice", "expires_in_secs": 315_360_000 });
    assert_eq!(api.call(Method::POST, "/tokens", op, Some(body)).await.0, 201);

    // Sequence numbers above 2^63 - 1.
    let big = u64::MAX;
    let answer = api.call(Method::GET, &format!("/tcs/app/{big}/envelope"), op, None).await;
    assert_400("envelope", answer, "too large");
    let retire = Some(json!({ "retired": true }));
    let answer = api.call(Method::PUT, &format!("/tcs/app/{big}/retired"), op, retire).await;
    assert_400("retire", answer, "too large");
    let answer = api.call(Method::DELETE, &format!("/tcs/app?sequence={big}"), op, None).await;
    assert_400("remove", answer, "too large");
    let rule = json!({ "target": "*", "component": "app", "action": "require",
                       "min_sequence": big });
    assert_400("policy", api.call(Method::PUT, "/policies", op, Some(rule)).await, "too large");
    assert_eq!(api.call(Method::GET, "/policies", op, None).await.1, json!([]));
    let rollout = json!({ "id": "r", "component": "app", "sequence_number": big, "target": "*",
                          "basis_points": 100 });
    let answer = api.call(Method::POST, "/rollouts", op, Some(rollout)).await;
    assert_400("rollout sequence", answer, "too large");

    // Shares and limits.
    let rollout = json!({ "id": "r", "component": "app", "sequence_number": 1, "target": "*",
                          "basis_points": u32::MAX });
    assert_400("share", api.call(Method::POST, "/rollouts", op, Some(rollout)).await, "100 %");
    let rollout = json!({ "id": "r", "component": "app", "sequence_number": 1, "target": "*",
                          "basis_points": 100 });
    assert_eq!(api.call(Method::POST, "/rollouts", op, Some(rollout)).await.0, 201);
    let share = Some(json!({ "basis_points": u32::MAX }));
    assert_eq!(api.call(Method::PUT, "/rollouts/r/share", op, share).await.0, 400);
    let share = Some(json!({ "basis_points": u64::MAX }));
    assert_eq!(api.call(Method::PUT, "/rollouts/r/share", op, share).await.0, 400);
    let (_, rollout) = api.call(Method::GET, "/rollouts/r", op, None).await;
    assert_eq!(rollout["rollout"]["basis_points"], 100);
    let device = device_key();
    let body = json!({ "key": device.public_key().to_spki_pem() });
    let (status, row) = api.call(Method::POST, "/devices", op, Some(body)).await;
    assert_eq!(status, 201);
    let id = row["id"].as_str().unwrap();
    for query in [
        format!("/devices/{id}/history?limit={}", u32::MAX),
        format!("/devices/{id}/history?limit={big}"),
        format!("/devices/{id}/history?before={big}"),
        format!("/devices/{id}/reports?limit={big}"),
        format!("/audit?limit={big}"),
        format!("/audit?limit={}", u32::MAX),
    ] {
        assert_eq!(api.call(Method::GET, &query, op, None).await.0, 400, "{query}");
    }
    let (status, _) = api
        .call(Method::GET, &format!("/devices/{id}/history?before={}", i64::MIN), op, None)
        .await;
    assert_eq!(status, 200);
    api.finish().await;
}

/// Error messages name what was wrong, and `what_to_do` says what helps.
async fn errors_say_what_to_do(db: Db) {
    let Some(api) = TestApi::start(db).await else { return };
    let op = "op";

    // Keys: the formats accepted and the one tried.
    let answer = api.call(Method::POST, "/devices", op, Some(json!({ "key": "x" }))).await;
    let body = assert_400("text key", answer, "neither PEM");
    assert!(!body["error"].as_str().unwrap().contains("CBOR"), "{body}");
    assert!(body["what_to_do"].as_str().unwrap().contains("SPKI PEM"), "{body}");
    let pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    let answer = api.call(Method::POST, "/devices", op, Some(json!({ "key": pem }))).await;
    assert_400("bad PEM", answer, "not a valid SPKI PEM public key");
    let answer =
        api.call(Method::POST, "/devices", op, Some(json!({ "key": "{\"kty\":1}" }))).await;
    assert_400("bad JWK", answer, "not a valid JWK public key");

    // Device ids with junk after 8 hex digits.
    let answer = api.call(Method::GET, "/devices/0208df0bZZ", op, None).await;
    assert_400("device id", answer, "must be hex digits");

    // An envelope whose signer is not registered.
    let registered = signer_key();
    let body = json!({ "name": "s", "key": registered.public_key().to_spki_pem() });
    assert_eq!(api.call(Method::POST, "/signers", op, Some(body)).await.0, 201);
    let stranger = envelope(&signer_key(), "app", 1);
    let response = api.req(Method::POST, "/tcs", op).body(stranger).send().await.unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["what_to_do"].as_str().unwrap().contains("/admin/v1/signers"), "{body}");

    // Another developer's key: the same answer as a taken name, without the owner.
    let alices = signer_key();
    let body = json!({ "name": "alices", "key": alices.public_key().to_spki_pem() });
    assert_eq!(api.call(Method::POST, "/signers", "alice", Some(body)).await.0, 201);
    let body = json!({ "name": "bobs", "key": alices.public_key().to_spki_pem() });
    let (status, key_taken) = api.call(Method::POST, "/signers", "bob", Some(body)).await;
    assert_eq!(status, 409);
    assert!(!key_taken.to_string().contains("alice"), "{key_taken}");
    let body = json!({ "name": "alices", "key": signer_key().public_key().to_spki_pem() });
    let (status, name_taken) = api.call(Method::POST, "/signers", "bob", Some(body)).await;
    assert_eq!((status, &name_taken), (409, &key_taken));

    // A group's owner must be an enabled device administrator, also through the API.
    for owner in ["ghost", "alice", "op"] {
        let body = json!({ "name": "g9", "owner": owner });
        let answer = api.call(Method::POST, "/groups", op, Some(body)).await;
        assert_400(owner, answer, "device-admin");
    }
    assert_eq!(api.call(Method::GET, "/groups", op, None).await.1, json!([]));
    let body = json!({ "name": "g9", "owner": "dana" });
    assert_eq!(api.call(Method::POST, "/groups", op, Some(body)).await.0, 201);
    api.finish().await;
}

/// The last enabled operator cannot disable itself or revoke its last credential.
async fn operators_cannot_lock_themselves_out(db: Db) {
    let Some(api) = TestApi::start(db).await else { return };
    let (status, body) = api.call(Method::POST, "/principals/op/disable", "op", None).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("last enabled operator"), "{body}");
    assert!(body["what_to_do"].as_str().unwrap().contains("another operator"), "{body}");
    let (_, tokens) = api.call(Method::GET, "/tokens?principal=op", "op", None).await;
    let id = tokens[0]["id"].as_str().unwrap().to_owned();
    let (status, body) = api.call(Method::DELETE, &format!("/tokens/{id}"), "op", None).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(api.call(Method::GET, "/whoami", "op", None).await.0, 200);

    // With a second operator holding a token, both are allowed.
    let body = json!({ "name": "op2", "role": "operator" });
    assert_eq!(api.call(Method::POST, "/principals", "op", Some(body)).await.0, 201);
    let body = json!({ "principal": "op2" });
    let (status, created) = api.call(Method::POST, "/tokens", "op", Some(body)).await;
    assert_eq!(status, 201);
    let op2 = created["token"].as_str().unwrap().to_owned();
    assert_eq!(api.call(Method::DELETE, &format!("/tokens/{id}"), "op", None).await.0, 204);
    let disable = api.client.post(format!("{}/admin/v1/principals/op/disable", api.base));
    assert_eq!(json_of(disable.bearer_auth(&op2).send().await.unwrap()).await.0, 204);
    let disable = api.client.post(format!("{}/admin/v1/principals/op2/disable", api.base));
    assert_eq!(json_of(disable.bearer_auth(&op2).send().await.unwrap()).await.0, 409);

    // The CLI on the TAM host may still do it (and undo it).
    api.admin.set_principal_disabled("op2", true, 1).await.unwrap();
    api.admin.set_principal_disabled("op2", false, 1).await.unwrap();
    api.finish().await;
}
