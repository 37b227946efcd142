//! Security domains on the software TEE (docs/security-domains.md): signer A creates its
//! domain with a domain manifest and installs a Trusted Component in it; signer B's manifests
//! try every cross-domain operation and are refused with SUIT_Report reason 7 (unauthorized
//! SUIT component) without changing the store; B's own domain works; the domain goes away
//! with the last Trusted Component that named it.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use minicbor::Encoder;
use teep_agent::software::{self, SoftwareTee, init};
use teep_agent::{Agent, AgentPlatform, ItemOutcome};
use teep_cose::SigningKey;
use teep_proto::{ErrCode, Message, Numbering};
use teep_suit::builder::{Dependency, ManifestBuilder, Payload};
use teep_suit::domain::SECURITY_DOMAIN_PREFIX;
use teep_suit::{
    Authority, ComponentId, DomainPolicy, Options, Platform, PlatformError, Reason, SignerId,
    TrustAnchors,
};

const TOKEN: &[u8] = b"token-0123456789";

fn domain(name: &str) -> ComponentId {
    ComponentId::new([SECURITY_DOMAIN_PREFIX, name.as_bytes()])
}

fn ta(owner: &str) -> ComponentId {
    ComponentId::new([&b"TEEP-Device"[..], b"SecureFS", owner.as_bytes(), b"ta"])
}

fn tc_id(owner: &str) -> ComponentId {
    ComponentId::new([&b"TEEP-Device"[..], b"SecureFS", owner.as_bytes(), b"suit"])
}

fn ids() -> (Vec<u8>, Vec<u8>) {
    (hex::decode(VENDOR_ID).expect("hex"), hex::decode(CLASS_ID).expect("hex"))
}

/// A security domain manifest `name` by `key`, holding one configuration component.
fn domain_manifest(name: &str, seq: u64, key: &SigningKey) -> Vec<u8> {
    let (vendor, class) = ids();
    let config = ComponentId::new([SECURITY_DOMAIN_PREFIX, name.as_bytes(), b"config"]);
    ManifestBuilder::new(config, seq)
        .manifest_component_id(domain(name))
        .vendor_id(vendor)
        .class_id(class)
        .payload(Payload::integrated(format!("domain {name}").into_bytes()))
        .sign(key, None)
        .expect("domain manifest")
}

/// A TC manifest by `key` installing `component` (manifest id `id`), in `domain` if given.
fn tc_manifest(
    id: ComponentId,
    component: ComponentId,
    body: &[u8],
    domain: Option<Vec<u8>>,
    key: &SigningKey,
) -> Vec<u8> {
    let (vendor, class) = ids();
    let mut b = ManifestBuilder::new(component, 1)
        .manifest_component_id(id)
        .vendor_id(vendor)
        .class_id(class)
        .payload(Payload::integrated(body.to_vec()));
    if let Some(envelope) = domain {
        b = b.dependency(Dependency { envelope, prefix: None, uri: None });
    }
    b.sign(key, None).expect("tc manifest")
}

/// A hand-built manifest by `key` declaring `components` and running `install`, a list of
/// (command, argument) pairs.
fn raw_manifest(
    key: &SigningKey,
    id: &ComponentId,
    components: &[&ComponentId],
    install: &[(i64, Arg)],
) -> Vec<u8> {
    let (vendor, class) = ids();
    let shared = {
        let mut e = Encoder::new(Vec::new());
        e.array(8).unwrap().u8(12).unwrap().bool(true).unwrap().u8(20).unwrap();
        e.map(2).unwrap().u8(1).unwrap().bytes(&vendor).unwrap().u8(2).unwrap();
        e.bytes(&class).unwrap().u8(1).unwrap().u8(15).unwrap().u8(2).unwrap().u8(15).unwrap();
        e.into_writer()
    };
    let common = {
        let mut e = Encoder::new(Vec::new());
        e.map(2).unwrap().u8(2).unwrap().array(components.len() as u64).unwrap();
        for c in components {
            e.array(c.segments().len() as u64).unwrap();
            for s in c.segments() {
                e.bytes(s).unwrap();
            }
        }
        e.u8(4).unwrap().bytes(&shared).unwrap();
        e.into_writer()
    };
    let sequence = {
        let mut e = Encoder::new(Vec::new());
        e.array(install.len() as u64 * 2).unwrap();
        for (command, arg) in install {
            e.i64(*command).unwrap();
            match arg {
                Arg::Policy => {
                    e.u8(15).unwrap();
                }
                Arg::Index(i) => {
                    e.u64(*i).unwrap();
                }
                Arg::Params(params) => {
                    e.map(params.len() as u64).unwrap();
                    for (label, value) in params {
                        e.i64(*label).unwrap();
                        match value {
                            Param::Bytes(b) => e.bytes(b).unwrap(),
                            Param::Uint(v) => e.u64(*v).unwrap(),
                        };
                    }
                }
            }
        }
        e.into_writer()
    };
    let manifest = {
        let mut e = Encoder::new(Vec::new());
        e.map(5).unwrap().u8(1).unwrap().u8(1).unwrap().u8(2).unwrap().u8(9).unwrap();
        e.u8(3).unwrap().bytes(&common).unwrap().u8(5).unwrap();
        e.array(id.segments().len() as u64).unwrap();
        for s in id.segments() {
            e.bytes(s).unwrap();
        }
        e.u8(20).unwrap().bytes(&sequence).unwrap();
        e.into_writer()
    };
    let mut wrapped = Encoder::new(Vec::new());
    wrapped.bytes(&manifest).unwrap();
    let digest = teep_suit::SuitDigest::sha256(&wrapped.into_writer()).encode();
    let block = teep_cose::sign1_detached(&digest, key, key.default_algorithm(), None, &[], true)
        .expect("sign");
    let mut auth = Encoder::new(Vec::new());
    auth.array(2).unwrap().bytes(&digest).unwrap().bytes(&block).unwrap();
    let mut e = Encoder::new(Vec::new());
    e.map(2).unwrap().u8(2).unwrap().bytes(&auth.into_writer()).unwrap();
    e.u8(3).unwrap().bytes(&manifest).unwrap();
    e.into_writer()
}

/// The argument of a command in [`raw_manifest`].
enum Arg {
    /// A reporting policy (record everything).
    Policy,
    /// A component index (suit-directive-set-component-index).
    Index(u64),
    /// A parameter map.
    Params(Vec<(i64, Param)>),
}

enum Param {
    Bytes(Vec<u8>),
    Uint(u64),
}

// SUIT command and parameter codes (draft-ietf-suit-manifest-34 §8.4, trust-domains).
const SET_INDEX: i64 = 12;
const OVERRIDE: i64 = 20;
const CHECK_CONTENT: i64 = 6;
const WRITE: i64 = 18;
const COPY: i64 = 22;
const SWAP: i64 = 31;
const UNLINK: i64 = 33;
const P_CONTENT: i64 = 18;
const P_SOURCE: i64 = 22;

/// Everything observable in the store: records, images and every file's bytes.
type Snapshot = (
    Vec<teep_agent::software::store::ManifestRecord>,
    Vec<teep_agent::software::store::ImageRecord>,
    BTreeMap<String, Vec<u8>>,
);

fn snapshot(dir: &Path, tee: &SoftwareTee) -> Snapshot {
    let mut files = BTreeMap::new();
    for sub in ["components", "manifests"] {
        for name in common::files(dir, sub) {
            let bytes = std::fs::read(dir.join(sub).join(&name)).expect("read");
            files.insert(format!("{sub}/{name}"), bytes);
        }
    }
    (tee.manifests().cloned().collect(), tee.images().cloned().collect(), files)
}

struct Device {
    dir: tempfile::TempDir,
    a: SigningKey,
    b: SigningKey,
    trust: TrustAnchors,
}

impl Device {
    fn new() -> (Self, SoftwareTee) {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = SigningKey::generate_p256(&mut rng());
        let b = SigningKey::generate_ed25519(&mut rng());
        let mut cfg = config(&Tam::new(), vec![]);
        cfg.tc_signers = vec![a.public_key().to_spki_pem(), b.public_key().to_spki_pem()];
        init::init(dir.path(), &init::InitOptions { config: cfg.clone(), ..Default::default() })
            .expect("init");
        let tee = open_tee(dir.path());
        let trust = TrustAnchors::new(vec![a.public_key(), b.public_key()]);
        (Self { dir, a, b, trust }, tee)
    }

    fn signer(key: &SigningKey) -> SignerId {
        SignerId(key.public_key().thumbprint())
    }
}

fn open_tee(dir: &Path) -> SoftwareTee {
    let cfg =
        teep_agent::software::config::ConfigFile::load(&dir.join("config.toml")).expect("config");
    SoftwareTee::open(dir, &cfg).expect("open store")
}

fn install(tee: &mut SoftwareTee, trust: &TrustAnchors, envelope: &[u8]) {
    if let Err(f) = teep_suit::process(tee, envelope, trust, &Options::teep_install()) {
        panic!("install failed: {f}");
    }
}

/// Runs `envelope` and checks it was refused with reason 7 and left the store as it was.
fn refused(dev: &Device, tee: &mut SoftwareTee, what: &str, envelope: &[u8]) {
    let before = snapshot(dev.dir.path(), tee);
    let failure = teep_suit::process(tee, envelope, &dev.trust, &Options::teep_install())
        .err()
        .unwrap_or_else(|| panic!("{what}: must be refused"));
    assert_eq!(failure.reason(), Reason::ComponentUnauthorised, "{what}: {failure}");
    let teep_suit::ReportResult::Failure { reason, .. } = failure.report.result else {
        panic!("{what}: failure report expected");
    };
    assert_eq!(reason.code(), 7, "{what}");
    assert_eq!(snapshot(dev.dir.path(), tee), before, "{what}: the store changed");
    let staging = common::files(dev.dir.path(), "staging");
    assert!(staging.is_empty(), "{what}: staging left behind: {staging:?}");
}

/// A creates domain "bank" by installing a TC that depends on the domain manifest.
fn with_bank(dev: &Device, tee: &mut SoftwareTee) -> Vec<u8> {
    let bank = domain_manifest("bank", 1, &dev.a);
    let tc = tc_manifest(tc_id("bank"), ta("bank"), b"bank ta", Some(bank.clone()), &dev.a);
    install(tee, &dev.trust, &tc);
    bank
}

#[test]
fn a_domain_is_created_by_its_manifest_and_owned_by_its_signer() {
    let (dev, mut tee) = Device::new();
    with_bank(&dev, &mut tee);
    let a = Device::signer(&dev.a);

    let sd = tee.manifest(&domain("bank")).expect("domain manifest installed");
    assert_eq!((sd.owner, sd.domain.clone(), sd.root), (Some(a), Some(domain("bank")), false));
    let tc = tee.manifest(&tc_id("bank")).expect("tc");
    assert_eq!((tc.owner, tc.domain.clone()), (Some(a), Some(domain("bank"))));
    assert_eq!(tee.component_owners(&ta("bank")), vec![a]);
    assert_eq!(tee.component_domain(&ta("bank")), Some(domain("bank")));
    assert_eq!(tee.image(&ta("bank")).and_then(|i| i.owner), Some(a));
    assert_eq!(tee.reference_count(&domain("bank")), 1);

    // The domain manifest is an installed manifest: tc-list shows it, with its owner.
    let installed = tee.installed();
    let listed = installed.iter().find(|t| t.manifest_id == domain("bank")).expect("listed");
    assert_eq!(listed.owner, Some(a));
    let tc = installed.iter().find(|t| t.manifest_id == tc_id("bank")).expect("tc listed");
    assert_eq!(tc.domain, Some(domain("bank")));

    // Owners and domains survive a reopen.
    drop(tee);
    let tee = open_tee(dev.dir.path());
    assert_eq!(tee.component_domain(&ta("bank")), Some(domain("bank")));
    assert_eq!(tee.manifest(&domain("bank")).and_then(|m| m.owner), Some(a));
}

#[test]
fn every_cross_domain_operation_of_another_signer_is_refused() {
    let (dev, mut tee) = Device::new();
    let bank = with_bank(&dev, &mut tee);
    let b = &dev.b;
    let mine = ta("shop");
    let body = Param::Bytes(b"evil".to_vec());

    // Overwrite A's component with B's payload.
    let overwrite = tc_manifest(tc_id("shop"), ta("bank"), b"evil", None, b);
    refused(&dev, &mut tee, "overwrite", &overwrite);
    // Overwrite with suit-directive-write, A's component declared next to B's own.
    let write = raw_manifest(
        b,
        &tc_id("shop"),
        &[&mine, &ta("bank")],
        &[
            (SET_INDEX, Arg::Index(1)),
            (OVERRIDE, Arg::Params(vec![(P_CONTENT, body)])),
            (WRITE, Arg::Policy),
        ],
    );
    refused(&dev, &mut tee, "write", &write);
    // Replace A's TC manifest (same manifest-component-id, higher sequence number).
    let takeover = tc_manifest(tc_id("bank"), mine.clone(), b"evil", None, b);
    refused(&dev, &mut tee, "manifest takeover", &takeover);
    // Unlink A's component.
    let unlink = raw_manifest(
        b,
        &tc_id("shop"),
        &[&ta("bank")],
        &[(SET_INDEX, Arg::Index(0)), (UNLINK, Arg::Policy)],
    );
    refused(&dev, &mut tee, "unlink", &unlink);
    // Copy A's component into B's.
    let copy_from = vec![(P_SOURCE, Param::Uint(1))];
    let copy = raw_manifest(
        b,
        &tc_id("shop"),
        &[&mine, &ta("bank")],
        &[(SET_INDEX, Arg::Index(0)), (OVERRIDE, Arg::Params(copy_from)), (COPY, Arg::Policy)],
    );
    refused(&dev, &mut tee, "copy", &copy);
    // Swap B's component with A's.
    let swap_with = vec![(P_SOURCE, Param::Uint(1))];
    let swap = raw_manifest(
        b,
        &tc_id("shop"),
        &[&mine, &ta("bank")],
        &[(SET_INDEX, Arg::Index(0)), (OVERRIDE, Arg::Params(swap_with)), (SWAP, Arg::Policy)],
    );
    refused(&dev, &mut tee, "swap", &swap);
    // Compare against A's content (an oracle on its bytes).
    let guess = vec![(P_CONTENT, Param::Bytes(b"bank ta".to_vec()))];
    let check = raw_manifest(
        b,
        &tc_id("shop"),
        &[&ta("bank")],
        &[(SET_INDEX, Arg::Index(0)), (OVERRIDE, Arg::Params(guess)), (CHECK_CONTENT, Arg::Policy)],
    );
    refused(&dev, &mut tee, "check-content", &check);
    // Join A's domain by naming A's domain manifest as a dependency.
    let join = tc_manifest(tc_id("shop"), mine.clone(), b"shop", Some(bank), b);
    refused(&dev, &mut tee, "depend on A's domain", &join);
    // Re-create A's domain under B's key.
    let squat = domain_manifest("bank", 2, b);
    refused(&dev, &mut tee, "domain takeover", &squat);
    // Depend on a domain manifest signed by A, under a new name.
    let foreign = domain_manifest("shop", 1, &dev.a);
    let foreign_tc = tc_manifest(tc_id("shop"), mine, b"shop", Some(foreign), b);
    refused(&dev, &mut tee, "dependency of another signer", &foreign_tc);

    // A still has everything.
    let a = Device::signer(&dev.a);
    assert_eq!(tee.component_owners(&ta("bank")), vec![a]);
    assert!(tee.manifest(&tc_id("shop")).is_none());
}

#[test]
fn the_platform_refuses_each_operation_on_another_domain() {
    let (dev, mut tee) = Device::new();
    with_bank(&dev, &mut tee);
    let (a, b) = (Device::signer(&dev.a), Device::signer(&dev.b));
    let as_signer = |signer: SignerId| Authority {
        signer,
        manifest_id: tc_id("shop"),
        domain: None,
        processed_by: None,
    };
    let before = snapshot(dev.dir.path(), &tee);

    tee.set_authority(Some(&as_signer(b))).expect("B's own manifest id is free");
    assert_eq!(tee.check_component(&ta("bank")), denied());
    assert_eq!(tee.stage_begin(&ta("bank")), denied());
    assert_eq!(tee.stage_write(&ta("bank"), 0, b"x"), denied());
    assert_eq!(tee.read(&ta("bank"), 0, &mut [0u8; 16]), denied());
    assert_eq!(tee.read(&domain("bank"), 0, &mut [0u8; 16]), denied());
    assert_eq!(tee.stage_unlink(&ta("bank")), denied());
    assert_eq!(tee.stage_uninstall(&tc_id("bank")), denied());
    assert_eq!(tee.stage_uninstall(&domain("bank")), denied());
    // A manifest of B claiming A's manifest id or domain is refused before it runs.
    let claim = Authority { manifest_id: tc_id("bank"), ..as_signer(b) };
    assert_eq!(tee.set_authority(Some(&claim)), denied());
    let join = Authority { domain: Some(domain("bank")), ..as_signer(b) };
    assert_eq!(tee.set_authority(Some(&join)), denied());
    let dependency = Authority { processed_by: Some(b), ..as_signer(a) };
    assert_eq!(tee.set_authority(Some(&dependency)), denied());
    tee.abort();
    assert_eq!(snapshot(dev.dir.path(), &tee), before);

    // A manifest of A naming A's domain without processing it is not committed: it would not
    // hold the domain.
    let lazy = Authority { domain: Some(domain("bank")), ..as_signer(a) };
    tee.set_authority(Some(&lazy)).expect("A's own domain");
    let digest = teep_suit::SuitDigest::sha256(b"x");
    let record = teep_suit::InstallRecord {
        manifest_id: &tc_id("shop"),
        sequence_number: 1,
        manifest_digest: &digest,
        envelope: b"x",
        components: &[],
        written: &[],
    };
    assert!(matches!(tee.commit(Some(&record)), Err(PlatformError::Unsupported(_))));
    tee.abort();
    assert_eq!(snapshot(dev.dir.path(), &tee), before);

    // The owner reads its own component; so does a device administrator.
    tee.set_authority(Some(&as_signer(a))).expect("A");
    assert_eq!(tee.read(&ta("bank"), 0, &mut [0u8; 16]), Ok(7));
    tee.abort();
    tee.set_domain_policy(DomainPolicy::new(vec![b]));
    tee.set_authority(Some(&as_signer(b))).expect("administrator");
    assert_eq!(tee.read(&ta("bank"), 0, &mut [0u8; 16]), Ok(7));
    tee.abort();
}

#[test]
fn the_other_signer_has_its_own_domain() {
    let (dev, mut tee) = Device::new();
    with_bank(&dev, &mut tee);
    let shop = domain_manifest("shop", 1, &dev.b);
    let tc = tc_manifest(tc_id("shop"), ta("shop"), b"shop ta", Some(shop), &dev.b);
    install(&mut tee, &dev.trust, &tc);
    // And a TC without domain dependency lands in B's default domain.
    let plain = tc_manifest(tc_id("tools"), ta("tools"), b"tools", None, &dev.b);
    install(&mut tee, &dev.trust, &plain);

    // The hand-built commands work inside B's own domain: copy, check-content, unlink.
    let source = vec![(P_SOURCE, Param::Uint(1))];
    let copy = raw_manifest(
        &dev.b,
        &tc_id("copy"),
        &[&ta("copy"), &ta("tools")],
        &[(SET_INDEX, Arg::Index(0)), (OVERRIDE, Arg::Params(source)), (COPY, Arg::Policy)],
    );
    install(&mut tee, &dev.trust, &copy);
    let expected = teep_suit::SuitDigest::sha256(b"tools").bytes;
    assert_eq!(tee.image(&ta("copy")).map(|i| i.sha256.to_vec()), Some(expected));
    let same = vec![(P_CONTENT, Param::Bytes(b"tools".to_vec()))];
    let check = raw_manifest(
        &dev.b,
        &tc_id("check"),
        &[&ta("tools")],
        &[(SET_INDEX, Arg::Index(0)), (OVERRIDE, Arg::Params(same)), (CHECK_CONTENT, Arg::Policy)],
    );
    install(&mut tee, &dev.trust, &check);
    let unlink = raw_manifest(
        &dev.b,
        &tc_id("unlink"),
        &[&ta("copy")],
        &[(SET_INDEX, Arg::Index(0)), (UNLINK, Arg::Policy)],
    );
    install(&mut tee, &dev.trust, &unlink);
    assert!(tee.image(&ta("copy")).is_none());

    let (a, b) = (Device::signer(&dev.a), Device::signer(&dev.b));
    assert_eq!(tee.component_owners(&ta("shop")), vec![b]);
    assert_eq!(tee.component_domain(&ta("shop")), Some(domain("shop")));
    assert_eq!(tee.component_owners(&ta("tools")), vec![b]);
    assert_eq!(tee.component_domain(&ta("tools")), None);
    assert_eq!(tee.component_owners(&ta("bank")), vec![a]);
    assert_eq!(tee.manifests().count(), 8);
}

#[test]
fn a_domain_goes_with_its_last_trusted_component_unless_installed_directly() {
    let (dev, mut tee) = Device::new();
    let bank = with_bank(&dev, &mut tee);
    // A second TC of A joins the installed domain (the same domain manifest again).
    let second = tc_manifest(tc_id("bank2"), ta("bank2"), b"second", Some(bank), &dev.a);
    install(&mut tee, &dev.trust, &second);
    assert_eq!(tee.reference_count(&domain("bank")), 2);
    assert_eq!(tee.component_domain(&ta("bank2")), Some(domain("bank")));

    teep_suit::uninstall_with(&mut tee, &tc_id("bank"), &dev.trust, &Options::teep_install())
        .expect("remove first");
    assert!(tee.manifest(&domain("bank")).is_some(), "still referenced by bank2");
    teep_suit::uninstall_with(&mut tee, &tc_id("bank2"), &dev.trust, &Options::teep_install())
        .expect("remove second");
    assert!(tee.manifest(&domain("bank")).is_none(), "the domain went with its last TC");
    let config = ComponentId::new([SECURITY_DOMAIN_PREFIX, b"bank", b"config"]);
    assert!(tee.image(&config).is_none() && tee.image(&domain("bank")).is_none());
    assert!(tee.image(&ta("bank")).is_none() && tee.image(&ta("bank2")).is_none());

    // Installed directly, a domain stays without Trusted Components.
    install(&mut tee, &dev.trust, &domain_manifest("vault", 1, &dev.a));
    let tc = domain_manifest("vault", 1, &dev.a);
    let tc = tc_manifest(tc_id("vault"), ta("vault"), b"vault", Some(tc), &dev.a);
    install(&mut tee, &dev.trust, &tc);
    teep_suit::uninstall_with(&mut tee, &tc_id("vault"), &dev.trust, &Options::teep_install())
        .expect("remove vault tc");
    assert!(tee.manifest(&domain("vault")).is_some_and(|m| m.root));
}

/// Through the Agent: a TAM bound to signer B may not delete A's manifests with
/// unneeded-manifest-list, and the refusal changes nothing; a TAM bound to A may.
#[test]
fn a_tam_deletes_only_manifests_of_the_signers_it_manages() {
    let (dev, mut tee) = Device::new();
    with_bank(&dev, &mut tee);
    let (tam_a, tam_b) = (Tam::new(), Tam::new());
    let file = teep_agent::software::config::ConfigFile::load(&dev.dir.path().join("config.toml"))
        .expect("config");
    let mut config = software::agent_config(&file).expect("agent config");
    let bound = |tam: &Tam, uri: &str, signer: &SigningKey| teep_agent::TamTrust {
        uri: uri.into(),
        keys: vec![tam.key.public_key()],
        numbering: Numbering::Rfc,
        signers: vec![Device::signer(signer)],
    };
    config.tams =
        vec![bound(&tam_b, "http://127.0.0.1:1/b", &dev.b), bound(&tam_a, TAM_URI, &dev.a)];
    let before = snapshot(dev.dir.path(), &tee);
    let mut agent = Agent::new(config, SigningKey::generate_p256(&mut rng()), tee);

    let unneeded = vec![tc_id("bank").0.clone()];
    let reply = agent.handle(&tam_b.update(TOKEN, vec![], unneeded.clone()), 0).expect("reply");
    let msg = open_response(&reply, &agent.public_key(), Numbering::Rfc);
    let Message::Error(err) = msg else { panic!("error expected, got {msg:?}") };
    assert_eq!(err.err_code, ErrCode::MANIFEST_PROCESSING_FAILED);
    let text = err.err_msg.unwrap_or_default();
    assert!(text.contains("security domain this TAM does not manage"), "{text}");
    assert!(matches!(agent.last_update(), [ItemOutcome::Failed { .. }]));
    assert_eq!(snapshot(dev.dir.path(), agent.platform()), before);

    // A's TAM removes the TC and, with it, A's domain.
    let reply = agent.handle(&tam_a.update(TOKEN, vec![], unneeded), 0).expect("reply");
    let msg = open_response(&reply, &agent.public_key(), Numbering::Rfc);
    assert!(matches!(msg, Message::Success(_)), "{msg:?}");
    assert!(agent.platform().manifest(&tc_id("bank")).is_none());
    assert!(agent.platform().manifest(&domain("bank")).is_none());
}

fn denied<T>() -> Result<T, PlatformError> {
    Err(PlatformError::Unauthorized)
}

/// `[domains]` in config.toml: device administrators act on every domain; `[[domains.tam]]`
/// binds a TAM to signers; a binding naming no `[[tam]]` is refused when the Agent opens.
#[test]
fn config_toml_sets_administrators_and_tam_bindings() {
    use teep_agent::software::config::TamDomains;
    let (a, admin) = (SigningKey::generate_p256(&mut rng()), SigningKey::generate_p256(&mut rng()));
    let tam = Tam::new();
    let mut cfg = config(&tam, vec![]);
    cfg.tc_signers = vec![a.public_key().to_spki_pem(), admin.public_key().to_spki_pem()];
    cfg.domains.administrators = vec![admin.public_key().to_spki_pem()];
    cfg.domains.tams =
        vec![TamDomains { uri: TAM_URI.into(), signers: vec![a.public_key().to_spki_pem()] }];
    let dir = tempfile::tempdir().expect("tempdir");
    let mut agent = agent_in(dir.path(), cfg.clone());
    assert_eq!(agent.config().tams[0].signers, vec![Device::signer(&a)]);
    assert!(agent.platform().domain_policy().is_administrator(&Device::signer(&admin)));

    // The administrator replaces A's component; the image is then the administrator's.
    let trust = TrustAnchors::new(vec![a.public_key(), admin.public_key()]);
    let bank = domain_manifest("bank", 1, &a);
    let tc = tc_manifest(tc_id("bank"), ta("bank"), b"bank ta", Some(bank), &a);
    install(agent.platform_mut(), &trust, &tc);
    let fix = tc_manifest(tc_id("fix"), ta("bank"), b"patched", None, &admin);
    install(agent.platform_mut(), &trust, &fix);
    let image = agent.platform().image(&ta("bank")).expect("image");
    assert_eq!(image.owner, Some(Device::signer(&admin)));
    drop(agent);

    let mut bad = cfg;
    bad.domains.tams[0].uri = "http://127.0.0.1:1/elsewhere".into();
    let dir = tempfile::tempdir().expect("tempdir");
    init::init(dir.path(), &init::InitOptions { config: bad, ..Default::default() }).expect("init");
    let err = software::open(dir.path()).expect_err("refused");
    assert!(err.to_string().contains("names no [[tam]] entry"), "{err}");
}
