//! Fleet administration on SQLite and PostgreSQL: device groups and the precedence of device,
//! group and all-devices rules; who may do what (operator, device administrator,
//! developer); RequestTA honoured or not by policy; retired versions; the enrolment allow and
//! block lists; X.509 enrolment to a manufacturer CA; paged device history; and a rollout
//! installed by the real Agent core.

mod common;
mod fleet_common;

use common::{Agent, Db};
use fleet_common::{
    Fleet, catalog, component, component_parts, enrolled, now, on_both_databases, only_manifest,
    session,
};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use teep_tam::fleet::{AdmissionList, AdmissionRule, RolloutSpec};
use teep_tam::store::PolicyAction;
use teep_tam::x509::ManufacturerCas;
use teep_tam::{Actor, AdminError, PolicyTarget, Role, Wire};

on_both_databases!(
    group_rules_sit_between_device_and_all_devices_rules,
    roles_are_enforced,
    request_ta_is_honoured_only_when_policy_allows,
    retired_versions_are_never_offered,
    allow_and_block_lists_govern_auto_enrolment,
    x509_enrolment_to_a_manufacturer_ca,
    x5chain_in_a_query_response_enrols_automatically,
    device_history_is_paged,
    rollout_installed_by_the_real_agent,
);

fn forbidden<T: std::fmt::Debug>(result: Result<T, AdminError>) {
    assert!(matches!(result, Err(AdminError::Forbidden(_))), "expected Forbidden: {result:?}");
}

/// Refused without revealing whether the object exists: another owner's group or device is
/// "not found" for a device administrator.
fn hidden<T: std::fmt::Debug>(result: Result<T, AdminError>) {
    assert!(matches!(result, Err(AdminError::NotFound(_))), "expected NotFound: {result:?}");
}

async fn group_rules_sit_between_device_and_all_devices_rules(db: Db) {
    let Some(fleet) = Fleet::start(db).await else { return };
    let admin = &fleet.tam.admin;
    let [both, deleting, own, none] = [(); 4].map(|_| Agent::p256());
    for d in [&both, &deleting, &own, &none] {
        admin.enroll_device(d.public_pem().as_bytes(), None, Wire::Rfc, 1).await.unwrap();
    }
    admin.create_group("needs", None, 1).await.unwrap();
    admin.create_group("cleans", None, 1).await.unwrap();
    admin.add_group_device("needs", &both.thumbprint(), 1).await.unwrap();
    admin.add_group_device("cleans", &both.thumbprint(), 1).await.unwrap();
    admin.add_group_device("cleans", &deleting.thumbprint(), 1).await.unwrap();
    admin.add_group_device("cleans", &own.thumbprint(), 1).await.unwrap();
    assert!(matches!(
        admin.add_group_device("cleans", &own.thumbprint(), 1).await,
        Err(AdminError::Exists(_))
    ));
    let c = component();
    admin.require(&PolicyTarget::AllDevices, &c, 1).await.unwrap();
    admin.require(&PolicyTarget::Group("needs".into()), &c, 3).await.unwrap();
    admin.delete(&PolicyTarget::Group("cleans".into()), &c).await.unwrap();
    admin.require(&PolicyTarget::Device(own.thumbprint()), &c, 7).await.unwrap();

    let rule = |d: [u8; 32]| async move {
        let rules = admin.store().effective_policy(&hex::encode(d)).await.unwrap();
        assert_eq!(rules.len(), 1);
        (rules[0].device.clone(), rules[0].action, rules[0].min_sequence)
    };
    // Two groups disagree: require beats delete.
    assert_eq!(rule(both.thumbprint()).await, ("group:needs".into(), PolicyAction::Require, 3));
    assert_eq!(rule(deleting.thumbprint()).await, ("group:cleans".into(), PolicyAction::Delete, 0));
    // The device's own rule beats its group's.
    assert_eq!(
        rule(own.thumbprint()).await,
        (hex::encode(own.thumbprint()), PolicyAction::Require, 7)
    );
    assert_eq!(rule(none.thumbprint()).await, ("*".into(), PolicyAction::Require, 1));

    // Membership listing, removal, and deleting a group drops its rules and memberships.
    let members = admin.group_devices("cleans").await.unwrap();
    assert_eq!(members.len(), 3);
    assert_eq!(admin.device_groups(&both.thumbprint()).await.unwrap(), ["cleans", "needs"]);
    admin.remove_group_device("cleans", &deleting.thumbprint(), 2).await.unwrap();
    assert!(admin.remove_group_device("cleans", &deleting.thumbprint(), 2).await.is_err());
    assert_eq!(rule(deleting.thumbprint()).await.0, "*");
    admin.delete_group("needs", 3).await.unwrap();
    assert_eq!(rule(both.thumbprint()).await.0, "group:cleans");
    assert!(admin.store().policies().await.unwrap().iter().all(|p| p.device != "group:needs"));
    let groups = admin.groups().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!((groups[0].name.as_str(), groups[0].members), ("cleans", 2));
    // Removing a device removes its memberships.
    admin.remove_device(&own.thumbprint()).await.unwrap();
    assert_eq!(admin.group("cleans").await.unwrap().members, 1);
    // Bad names are refused.
    assert!(admin.create_group("", None, 1).await.is_err());
    assert!(admin.create_group("a\u{202e}b", None, 1).await.is_err());
    assert!(matches!(admin.create_group("cleans", None, 1).await, Err(AdminError::Exists(_))));
    fleet.finish().await;
}

async fn roles_are_enforced(db: Db) {
    let Some(fleet) = Fleet::start(db).await else { return };
    let operator = &fleet.tam.admin;
    catalog(&fleet.tam, 2).await;
    let alice = operator.with_actor(Actor::new("alice", Role::DeviceAdmin));
    let bob = operator.with_actor(Actor::new("bob", Role::DeviceAdmin));
    let dev = operator.with_actor(Actor::new("dana", Role::Developer));
    let [mine, other] = [(); 2].map(|_| Agent::p256());
    for d in [&mine, &other] {
        operator.enroll_device(d.public_pem().as_bytes(), None, Wire::Rfc, 1).await.unwrap();
    }

    // A group's owner must be an existing, enabled device administrator.
    for owner in ["ghost", "dana", "alice"] {
        let refused = operator.create_group("alice-east", Some(owner), 1).await;
        assert!(
            matches!(&refused, Err(AdminError::InvalidArgument(m)) if m.contains("device-admin")),
            "{owner}: {refused:?}"
        );
        if owner == "dana" {
            operator.add_principal("alice", Role::DeviceAdmin, 1).await.unwrap();
            operator.set_principal_disabled("alice", true, 1).await.unwrap();
        }
    }
    operator.add_principal("dana", Role::Developer, 1).await.ok();
    assert!(operator.create_group("g9", Some("dana"), 1).await.is_err());
    operator.set_principal_disabled("alice", false, 1).await.unwrap();
    assert!(operator.groups().await.unwrap().is_empty(), "a refused group was created");

    // The operator gives alice a group with a device; alice creates her own second group.
    operator.create_group("alice-east", Some("alice"), 1).await.unwrap();
    operator.add_group_device("alice-east", &mine.thumbprint(), 1).await.unwrap();
    let west = alice.create_group("alice-west", None, 2).await.unwrap();
    assert_eq!(west.owner.as_deref(), Some("alice"));
    forbidden(alice.create_group("for-bob", Some("bob"), 2).await);
    forbidden(dev.create_group("dev-group", None, 2).await);
    bob.create_group("bob-lab", None, 2).await.unwrap();

    // alice sees and manages only her groups and their devices.
    let names: Vec<_> = alice.groups().await.unwrap().into_iter().map(|g| g.name).collect();
    assert_eq!(names, ["alice-east", "alice-west"]);
    assert_eq!(operator.groups().await.unwrap().len(), 3);
    forbidden(dev.groups().await);
    alice.add_group_device("alice-west", &mine.thumbprint(), 3).await.unwrap();
    hidden(alice.add_group_device("alice-west", &other.thumbprint(), 3).await);
    hidden(bob.add_group_device("alice-west", &mine.thumbprint(), 3).await);
    hidden(bob.delete_group("alice-west", 3).await);
    hidden(bob.group_devices("alice-east").await);
    hidden(alice.device_history(&other.thumbprint(), 10, None).await);
    alice.device_history(&mine.thumbprint(), 10, None).await.unwrap();

    // Policy targets: own group and own device yes, all devices and others' groups no.
    alice.authorize_target(&PolicyTarget::Group("alice-east".into())).await.unwrap();
    alice.authorize_target(&PolicyTarget::Device(mine.thumbprint())).await.unwrap();
    forbidden(alice.authorize_target(&PolicyTarget::AllDevices).await);
    hidden(alice.authorize_target(&PolicyTarget::Group("bob-lab".into())).await);
    hidden(alice.authorize_target(&PolicyTarget::Device(other.thumbprint())).await);
    forbidden(dev.authorize_target(&PolicyTarget::Group("alice-east".into())).await);
    alice.require(&PolicyTarget::Group("alice-east".into()), &component(), 1).await.unwrap();
    hidden(bob.require(&PolicyTarget::Group("alice-east".into()), &component(), 1).await);
    forbidden(alice.require(&PolicyTarget::AllDevices, &component(), 1).await);
    hidden(operator.require(&PolicyTarget::Group("no-such-group".into()), &component(), 1).await);
    alice.set_group_allow_request("alice-east", Some(false), 4).await.unwrap();
    forbidden(alice.set_allow_request(false, 4).await);

    // Rollouts: alice on her group; not on all devices; bob cannot touch hers.
    let east = PolicyTarget::Group("alice-east".into());
    let pct = RolloutSpec::Percent(5000);
    alice.create_rollout("east-2", &component(), 2, &east, &pct, 5).await.unwrap();
    forbidden(
        alice.create_rollout("all-2", &component(), 2, &PolicyTarget::AllDevices, &pct, 5).await,
    );
    hidden(bob.pause_rollout("east-2", 6).await);
    hidden(bob.rollout_progress("east-2").await);
    forbidden(dev.rollouts().await);
    assert!(bob.rollouts().await.unwrap().is_empty());
    assert_eq!(alice.rollouts().await.unwrap().len(), 1);
    alice.pause_rollout("east-2", 6).await.unwrap();
    // A refused request changed nothing.
    assert_eq!(
        operator.rollout("east-2").await.unwrap().state,
        teep_tam::store::RolloutState::Paused
    );

    // Catalog: device admins and a developer without the signer may not retire.
    forbidden(alice.retire_tc(&component(), 1, true, 7).await);
    forbidden(dev.retire_tc(&component(), 1, true, 7).await);
    // Lists and certificate enrolment are the operator's.
    let rule = AdmissionRule::Subject("CN=*".into());
    forbidden(alice.add_admission(AdmissionList::Allow, &rule, 7).await);
    forbidden(alice.admission_list().await);
    forbidden(
        alice.enroll_device_x509(b"x", &ManufacturerCas::default(), None, Wire::Rfc, 7).await,
    );
    assert!(operator.admission_list().await.unwrap().is_empty());

    // Every change is in the audit log with its actor.
    let log = operator.audit_log(None, 100).await.unwrap();
    let has =
        |actor: &str, action: &str| log.iter().any(|r| r.actor == actor && r.action == action);
    assert!(has("cli", "group.create"));
    assert!(has("alice", "group.create"));
    assert!(has("alice", "group.add-device"));
    assert!(has("alice", "group.allow-request"));
    assert!(has("alice", "rollout.create"));
    assert!(has("alice", "rollout.pause"));
    assert!(!log.iter().any(|r| r.actor == "bob" && r.action != "group.create"));
    fleet.finish().await;
}

async fn request_ta_is_honoured_only_when_policy_allows(db: Db) {
    let Some(fleet) = Fleet::start(db).await else { return };
    let tam = &fleet.tam;
    let admin = &tam.admin;
    let versions = catalog(tam, 1).await;
    let agent = enrolled(tam).await;
    let wanted = [component_parts()];

    // Default: requests are honoured.
    assert!(admin.allow_request().await.unwrap());
    let update = session(tam, &agent, &[], &wanted).await.unwrap();
    assert_eq!(only_manifest(&update), &versions[0][..]);

    // Refused TAM-wide: nothing is sent, and the history says why.
    admin.set_allow_request(false, 2).await.unwrap();
    assert!(session(tam, &agent, &[], &wanted).await.is_none());
    let history = admin.device_history(&agent.thumbprint(), 5, None).await.unwrap();
    assert!(history.iter().any(|e| e.kind == "request-refused"), "{history:?}");
    // A policy rule still installs it: only requests are refused.
    admin.require(&PolicyTarget::Device(agent.thumbprint()), &component(), 0).await.unwrap();
    assert!(session(tam, &agent, &[], &[]).await.is_some());
    admin.clear_rule(&PolicyTarget::Device(agent.thumbprint()), &component()).await.unwrap();

    // A group allowing requests overrides the TAM-wide refusal for its members...
    admin.create_group("open", None, 3).await.unwrap();
    admin.add_group_device("open", &agent.thumbprint(), 3).await.unwrap();
    admin.set_group_allow_request("open", Some(true), 3).await.unwrap();
    assert!(session(tam, &agent, &[], &wanted).await.is_some());
    // ...but when another of its groups refuses, refusal wins.
    admin.create_group("strict", None, 4).await.unwrap();
    admin.add_group_device("strict", &agent.thumbprint(), 4).await.unwrap();
    admin.set_group_allow_request("strict", Some(false), 4).await.unwrap();
    assert!(session(tam, &agent, &[], &wanted).await.is_none());
    // Back to inheriting everywhere, with requests allowed again TAM-wide.
    admin.set_group_allow_request("strict", None, 5).await.unwrap();
    admin.set_group_allow_request("open", None, 5).await.unwrap();
    admin.set_allow_request(true, 5).await.unwrap();
    assert!(session(tam, &agent, &[], &wanted).await.is_some());
    fleet.finish().await;
}

async fn retired_versions_are_never_offered(db: Db) {
    let Some(fleet) = Fleet::start(db).await else { return };
    let tam = &fleet.tam;
    let admin = &tam.admin;
    let versions = catalog(tam, 3).await;
    admin.require(&PolicyTarget::AllDevices, &component(), 0).await.unwrap();
    let agent = enrolled(tam).await;

    admin.retire_tc(&component(), 3, true, 2).await.unwrap();
    let retired = admin.retired_tcs().await.unwrap();
    assert_eq!(retired, [(component(), 3)]);
    let update = session(tam, &agent, &[], &[]).await.unwrap();
    assert_eq!(only_manifest(&update), &versions[1][..], "the newest non-retired version");
    // Retiring everything leaves nothing to offer.
    admin.retire_tc(&component(), 2, true, 3).await.unwrap();
    admin.retire_tc(&component(), 1, true, 3).await.unwrap();
    assert!(session(tam, &agent, &[], &[]).await.is_none());
    // Reinstated, version 3 is offered again.
    admin.retire_tc(&component(), 3, false, 4).await.unwrap();
    let update = session(tam, &agent, &[], &[]).await.unwrap();
    assert_eq!(only_manifest(&update), &versions[2][..]);
    assert!(matches!(
        admin.retire_tc(&component(), 9, true, 5).await,
        Err(AdminError::NotFound(_))
    ));
    let log = admin.audit_log(None, 20).await.unwrap();
    assert!(log.iter().any(|r| r.action == "tc.retire" && r.target.ends_with("@3")));
    fleet.finish().await;
}

async fn allow_and_block_lists_govern_auto_enrolment(db: Db) {
    let [listed, unlisted, blocked] = [(); 3].map(|_| Agent::p256());
    let pems: Vec<String> = [&listed, &unlisted, &blocked].iter().map(|a| a.public_pem()).collect();
    let Some(fleet) = Fleet::start_with(db, |c| {
        c.agents.auto_enroll = true;
        for (i, pem) in pems.iter().enumerate() {
            let name = format!("anchor{i}.pem");
            std::fs::write(c.state_dir.join(&name), pem).unwrap();
            c.agents.trust_anchors.push(name.into());
        }
    })
    .await
    else {
        return;
    };
    let tam = &fleet.tam;
    let admin = &tam.admin;
    let allow = AdmissionRule::Thumbprint(listed.thumbprint());
    admin.add_admission(AdmissionList::Allow, &allow, 1).await.unwrap();
    let block = AdmissionRule::Thumbprint(blocked.thumbprint());
    admin.add_admission(AdmissionList::Block, &block, 1).await.unwrap();
    assert!(matches!(
        admin.add_admission(AdmissionList::Block, &block, 1).await,
        Err(AdminError::Exists(_))
    ));
    assert_eq!(admin.admission_list().await.unwrap().len(), 2);

    // Listed: enrolled at its first signed message. Not listed, or blocked: dropped.
    assert!(session(tam, &listed, &[], &[]).await.is_none());
    assert!(admin.store().device(&listed.thumbprint()).await.unwrap().is_some());
    assert!(session(tam, &unlisted, &[], &[]).await.is_none());
    assert!(admin.store().device(&unlisted.thumbprint()).await.unwrap().is_none());

    // Blocking an enrolled device keeps it blocked across removal and re-enrolment.
    admin.set_blocked(&listed.thumbprint(), true).await.unwrap();
    admin.remove_device(&listed.thumbprint()).await.unwrap();
    assert!(session(tam, &listed, &[], &[]).await.is_none());
    assert!(admin.store().device(&listed.thumbprint()).await.unwrap().is_none());
    let row =
        admin.enroll_device(listed.public_pem().as_bytes(), None, Wire::Rfc, 2).await.unwrap();
    assert!(admin.store().device(&row.thumbprint).await.unwrap().unwrap().blocked);
    // Unblocking takes it off the block list: it is served again.
    admin.set_blocked(&listed.thumbprint(), false).await.unwrap();
    assert!(
        admin
            .admission_list()
            .await
            .unwrap()
            .iter()
            .all(|e| e.list != "block" || e.pattern != hex::encode(listed.thumbprint()))
    );

    // Removing the allow list entry empties the allow list: every anchor is admitted, but
    // the blocked one still is not.
    admin.remove_admission(AdmissionList::Allow, &allow, 3).await.unwrap();
    assert!(session(tam, &unlisted, &[], &[]).await.is_none());
    assert!(admin.store().device(&unlisted.thumbprint()).await.unwrap().is_some());
    assert!(session(tam, &blocked, &[], &[]).await.is_none());
    assert!(admin.store().device(&blocked.thumbprint()).await.unwrap().is_none());
    admin.remove_admission(AdmissionList::Block, &block, 4).await.unwrap();
    assert!(admin.remove_admission(AdmissionList::Block, &block, 4).await.is_err());
    assert!(session(tam, &blocked, &[], &[]).await.is_none());
    assert!(admin.store().device(&blocked.thumbprint()).await.unwrap().is_some());
    fleet.finish().await;
}

/// A manufacturer CA and a device certificate for `device`'s key, valid until `until_year`.
fn manufacturer(name: &str, device: &Agent, until_year: i32) -> (String, String) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, name);
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let device_key = KeyPair::from_pem(&device.key.to_pkcs8_pem()).unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, "device-0042");
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "Acme");
    params.not_after = rcgen::date_time_ymd(until_year, 1, 1);
    let cert = params.signed_by(&device_key, &issuer).unwrap();
    (ca.pem(), cert.pem())
}

async fn x509_enrolment_to_a_manufacturer_ca(db: Db) {
    let device = Agent::p256();
    let ed_device = Agent::ed25519();
    let (ca_pem, cert_pem) = manufacturer("Acme Devices CA", &device, 2100);
    let (_, ed_cert) = manufacturer("Acme Devices CA", &ed_device, 2100);
    let ca_file = ca_pem.clone();
    let Some(fleet) = Fleet::start_with(db, |c| {
        std::fs::write(c.state_dir.join("ca.pem"), &ca_file).unwrap();
        c.agents.manufacturer_cas.push("ca.pem".into());
    })
    .await
    else {
        return;
    };
    let tam = &fleet.tam;
    let admin = &tam.admin;
    let cas = ManufacturerCas::load(tam.tam.config()).unwrap();
    assert_eq!(cas.len(), 1);

    // The issuer of the Ed25519 device's certificate is another CA with the same name: refused.
    let err = admin.enroll_device_x509(ed_cert.as_bytes(), &cas, None, Wire::Rfc, now()).await;
    let err = err.unwrap_err().to_string();
    assert!(err.contains("manufacturer CA") || err.contains("does not verify"), "{err}");
    // Expired at the given time: refused, saying so.
    let err = admin
        .enroll_device_x509(cert_pem.as_bytes(), &cas, None, Wire::Rfc, 4_200_000_000)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    // Garbage and an empty chain.
    assert!(
        admin
            .enroll_device_x509(b"-----BEGIN nothing", &cas, None, Wire::Rfc, now())
            .await
            .is_err()
    );
    // Blocked issuer pattern: refused.
    let rule = AdmissionRule::Issuer("CN=Acme*".into());
    admin.add_admission(AdmissionList::Block, &rule, 1).await.unwrap();
    forbidden(admin.enroll_device_x509(cert_pem.as_bytes(), &cas, None, Wire::Rfc, now()).await);
    admin.remove_admission(AdmissionList::Block, &rule, 1).await.unwrap();
    assert!(admin.devices().await.unwrap().is_empty(), "refusals enrolled nothing");

    // Valid: enrolled under the thumbprint of the certified key, certificate kept.
    let row = admin
        .enroll_device_x509(cert_pem.as_bytes(), &cas, Some("acme-42"), Wire::Rfc, now())
        .await
        .unwrap();
    assert_eq!(row.thumbprint, device.thumbprint());
    let cert = admin.device_certificate(&device.thumbprint()).await.unwrap().unwrap();
    assert!(cert.subject.contains("device-0042"), "{}", cert.subject);
    assert!(cert.issuer.contains("Acme Devices CA"), "{}", cert.issuer);
    assert!(matches!(
        admin.enroll_device_x509(cert_pem.as_bytes(), &cas, None, Wire::Rfc, now()).await,
        Err(AdminError::Exists(_))
    ));
    // The device is served: its signed QueryResponse is accepted.
    assert!(session(tam, &device, &[], &[]).await.is_none());
    assert!(admin.store().device(&device.thumbprint()).await.unwrap().unwrap().last_seen.is_some());
    // The Ed25519 device with a certificate from the configured CA is accepted too.
    let (ca2, ed_cert2) = manufacturer("Second CA", &ed_device, 2100);
    let cas2 = ManufacturerCas::from_pem(ca2.as_bytes()).unwrap();
    // A chain from a CA that is not the configured one is untrusted.
    let err = admin.enroll_device_x509(cert_pem.as_bytes(), &cas2, None, Wire::Rfc, now()).await;
    let err = err.unwrap_err().to_string();
    assert!(err.contains("does not lead to a configured manufacturer CA"), "{err}");
    let row =
        admin.enroll_device_x509(ed_cert2.as_bytes(), &cas2, None, Wire::Rfc, now()).await.unwrap();
    assert_eq!(row.thumbprint, ed_device.thumbprint());
    fleet.finish().await;
}

/// `message` (a tagged COSE_Sign1) with `certificate` added as x5chain (label 33) to its
/// unprotected header; the signature covers only the protected header, so it still verifies.
fn with_x5chain(message: &[u8], certificate: &[u8]) -> Vec<u8> {
    let sign1 = teep_cose::Sign1::decode(message).unwrap();
    let mut e = minicbor::Encoder::new(Vec::new());
    e.tag(minicbor::data::Tag::new(18)).unwrap().array(4).unwrap();
    e.bytes(sign1.protected_bytes).unwrap();
    e.map(2).unwrap().u8(4).unwrap().bytes(sign1.kid().unwrap()).unwrap();
    e.u8(33).unwrap().bytes(certificate).unwrap();
    e.bytes(sign1.payload.unwrap()).unwrap().bytes(sign1.signature).unwrap();
    e.into_writer()
}

fn der(pem: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).unwrap().to_vec()
}

/// One QueryResponse from `agent` carrying `certificate` as x5chain: 204 either way (nothing
/// to do, or dropped). Returns whether the device is enrolled afterwards.
async fn present(tam: &common::TestTam, agent: &Agent, certificate: &[u8]) -> bool {
    let body = tam.post(b"").await.bytes().await.unwrap();
    let request = agent.query_request(&body, &tam.tam_public_keys());
    let message = with_x5chain(&agent.query_response(&request, &[], &[]), certificate);
    assert_eq!(tam.post(&message).await.status(), 204);
    tam.admin.store().device(&agent.thumbprint()).await.unwrap().is_some()
}

async fn x5chain_in_a_query_response_enrols_automatically(db: Db) {
    let [good, stranger, impostor, forged] = [(); 4].map(|_| Agent::p256());
    let (ca_pem, good_cert) = manufacturer("Acme Devices CA", &good, 2100);
    let (_, stranger_cert) = manufacturer("Other CA", &stranger, 2100);
    let ca_file = ca_pem.clone();
    let Some(fleet) = Fleet::start_with(db, |c| {
        std::fs::write(c.state_dir.join("ca.pem"), &ca_file).unwrap();
        c.agents.manufacturer_cas.push("ca.pem".into());
        c.agents.auto_enroll = true;
    })
    .await
    else {
        return;
    };
    let tam = &fleet.tam;
    let admin = &tam.admin;
    // A chain to another CA, and a valid chain for another key than the signer's: dropped.
    assert!(!present(tam, &stranger, &der(&stranger_cert)).await);
    assert!(!present(tam, &impostor, &der(&good_cert)).await);
    // Garbage in x5chain: dropped.
    assert!(!present(tam, &impostor, b"not a certificate").await);
    // A chain from a CA with the configured CA's name but another key: dropped.
    let (_, forged_cert) = manufacturer("Acme Devices CA", &forged, 2100);
    assert!(!present(tam, &forged, &der(&forged_cert)).await, "forged CA accepted");
    // A blocked subject: dropped.
    let rule = AdmissionRule::Subject("CN=device-0042*".into());
    admin.add_admission(AdmissionList::Block, &rule, 1).await.unwrap();
    assert!(!present(tam, &good, &der(&good_cert)).await, "blocked subject enrolled");
    admin.remove_admission(AdmissionList::Block, &rule, 1).await.unwrap();
    // The device certified by the configured CA: enrolled at its first signed message, with
    // its certificate kept.
    assert!(present(tam, &good, &der(&good_cert)).await);
    let cert = admin.device_certificate(&good.thumbprint()).await.unwrap().unwrap();
    assert!(cert.subject.contains("device-0042"), "{}", cert.subject);
    assert_eq!(cert.certificate, der(&good_cert));
    // Later sessions need no chain.
    assert!(session(tam, &good, &[], &[]).await.is_none());
    assert_eq!(admin.devices().await.unwrap().len(), 1);
    fleet.finish().await;
}

async fn device_history_is_paged(db: Db) {
    let Some(fleet) = Fleet::start(db).await else { return };
    let tam = &fleet.tam;
    let admin = &tam.admin;
    let agent = enrolled(tam).await;
    let other = enrolled(tam).await;
    for i in 0..7 {
        admin
            .store()
            .log_event(Some(&agent.thumbprint()), "test", &format!("event {i}"), 10 + i)
            .await
            .unwrap();
        admin.store().log_event(Some(&other.thumbprint()), "test", "other", 10).await.unwrap();
    }
    let first = admin.device_history(&agent.thumbprint(), 3, None).await.unwrap();
    let details: Vec<_> = first.iter().map(|e| e.detail.as_str()).collect();
    assert_eq!(details, ["event 6", "event 5", "event 4"]);
    let second = admin.device_history(&agent.thumbprint(), 3, Some(first[2].id)).await.unwrap();
    let details: Vec<_> = second.iter().map(|e| e.detail.as_str()).collect();
    assert_eq!(details, ["event 3", "event 2", "event 1"]);
    let last = admin.device_history(&agent.thumbprint(), 3, Some(second[2].id)).await.unwrap();
    assert_eq!(last.len(), 1);
    assert!(
        admin.device_history(&agent.thumbprint(), 3, Some(last[0].id)).await.unwrap().is_empty()
    );
    assert!(admin.device_history(&agent.thumbprint(), 0, None).await.is_err());
    assert!(admin.device_history(&agent.thumbprint(), 1001, None).await.is_err());
    fleet.finish().await;
}

/// A real software-TEE Agent in a group gets the rolled-out version (signed by a signer it
/// trusts) and the TAM counts it installed; a device outside the rollout keeps version 1.
async fn rollout_installed_by_the_real_agent(db: Db) {
    use teep_agent::software::{InitOptions, KeyKind};
    let Some(fleet) = Fleet::start(db).await else { return };
    let tam = &fleet.tam;
    let admin = &tam.admin;
    let signer = Agent::p256();
    admin.add_signer("vendor", signer.public_pem().as_bytes(), 1).await.unwrap();
    let id = common::example_manifest_id();
    for seq in [1, 2] {
        let envelope = teep_suit::builder::ManifestBuilder::new(
            teep_suit::ComponentId::new(common::example_component()),
            seq,
        )
        .manifest_component_id(teep_suit::ComponentId::new(id.parts()))
        .vendor_id(hex::decode("C0DDD5F15243566087DB4F5B0AA26C2F").unwrap())
        .class_id(hex::decode("DB42F7093D8C55BAA8C5265FC5820F4E").unwrap())
        .payload(teep_suit::builder::Payload::integrated(format!("v{seq}").into_bytes()))
        .sign(&signer.key, None)
        .unwrap();
        admin.add_tc(&envelope, 1).await.unwrap();
    }
    admin.require(&PolicyTarget::AllDevices, &id, 0).await.unwrap();

    let mut devices = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let mut config = common::real_agent_config(tam);
        config.tc_signers = vec![signer.public_pem()];
        let path = dir.path().to_owned();
        let (initialized, agent) = tokio::task::spawn_blocking(move || {
            let options = InitOptions { key_kind: KeyKind::Ed25519, config };
            let initialized = teep_agent::software::init(&path, &options).unwrap();
            (initialized, teep_agent::software::open(&path).unwrap())
        })
        .await
        .unwrap();
        admin
            .enroll_device(initialized.public_key_pem.as_bytes(), None, Wire::Rfc, 1)
            .await
            .unwrap();
        devices.push((dir, initialized.kid, agent));
    }
    admin.create_group("field", None, 1).await.unwrap();
    for (_, kid, _) in &devices {
        admin.add_group_device("field", kid, 1).await.unwrap();
    }
    let spec = RolloutSpec::Devices(vec![devices[0].1]);
    let target = PolicyTarget::Group("field".into());
    admin.create_rollout("v2", &id, 2, &target, &spec, now()).await.unwrap();

    for (_, kid, agent) in &mut devices {
        let mut body = Vec::new();
        for _ in 0..8 {
            let reply = tam.post(&body).await;
            if reply.status() == 204 {
                break;
            }
            let message = reply.bytes().await.unwrap();
            body = agent.handle(&message, now()).unwrap();
            if body.is_empty() {
                break;
            }
        }
        let status = admin.status(kid).await.unwrap();
        assert_eq!(status.components.len(), 1, "{:?}", status.events);
    }
    for (i, expected) in [(0, 2), (1, 1)] {
        let status = admin.status(&devices[i].1).await.unwrap();
        assert_eq!(status.components[0].sequence_number, Some(expected), "device {i}");
    }
    let progress = admin.rollout_progress("v2").await.unwrap();
    assert_eq!((progress.selected, progress.installed, progress.pending), (1, 1, 0));
    fleet.finish().await;
}
