//! Entry points of the manifest processor: [`process`] (install a manifest) and
//! [`uninstall`] (TEEP unneeded-manifest-list).
//!
//! draft-ietf-suit-manifest-34 §6.1–§6.2 fix the order: authenticate, check the version,
//! check rollback (sequence number), check the components, then run command sequences.
//! For a TEEP install (draft-ietf-teep-protocol-26 §4.4, "Update") the processor runs the
//! Update Procedure — dependency-resolution, payload-fetch, install, validate, each after the
//! shared sequence — and does not run load or invoke. Everything is staged; the platform
//! commits only after every step passed and aborts otherwise.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use minicbor::Decoder;

use crate::cbor;
use crate::component::ComponentId;
use crate::digest::SuitDigest;
use crate::domain::{Authority, SignerId, domain_of};
use crate::envelope::{AuthenticatedManifest, Envelope, TrustAnchors};
use crate::error::{Reason, SuitError};
use crate::interpreter::Machine;
use crate::manifest::key;
use crate::platform::{InstallRecord, Platform};
use crate::report::{Record, ReportResult, SuitReference, SuitReport};

/// Which procedure to run (draft-ietf-suit-manifest-34 §8.4.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Procedure {
    /// The Update Procedure: dependency-resolution, payload-fetch, install, validate. The
    /// manifest must have an install section. This is what a TEEP Agent runs for Update.
    #[default]
    Update,
    /// The Invocation Procedure: validate, load, invoke.
    Invoke,
}

/// Processing options and resource limits.
#[derive(Clone, Debug)]
pub struct Options {
    /// The procedure to run.
    pub procedure: Procedure,
    /// Nonce to put in the SUIT_Report (e.g. the TEEP token), if any.
    pub nonce: Option<Vec<u8>>,
    /// Largest payload accepted for one component, in bytes (default 256 MiB).
    pub max_payload_size: u64,
    /// Deepest nesting of run-sequence / try-each (default 8).
    pub max_depth: usize,
    /// Most commands executed in one run (default 65 536).
    pub max_steps: u64,
    /// Streaming buffer size in bytes (default 16 KiB).
    pub chunk_size: usize,
    /// Whether suit-directive-invoke may run (only in [`Procedure::Invoke`]).
    pub allow_invoke: bool,
    /// Strict mode (draft-ietf-suit-trust-domains §6.4): suit-directive-process-dependency
    /// requires a passed suit-condition-dependency-integrity on the same component earlier in
    /// the run. Compatibility mode (`false`) accepts manifests that skip it, such as the
    /// published TEEP personalization example; the dependency is still authenticated against
    /// the trust anchors and checked against image-digest when that is set.
    pub strict_dependencies: bool,
    /// Largest dependency envelope loaded into memory to be authenticated (default 16 MiB).
    pub max_dependency_size: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            procedure: Procedure::Update,
            nonce: None,
            max_payload_size: 256 << 20,
            max_depth: 8,
            max_steps: 1 << 16,
            chunk_size: 16 << 10,
            allow_invoke: false,
            strict_dependencies: true,
            max_dependency_size: 16 << 20,
        }
    }
}

impl Options {
    /// Options for a TEEP Update: the Update Procedure, invoke never runs, dependencies in
    /// compatibility mode (the TEEP personalization example of draft-ietf-teep-protocol-26
    /// processes a dependency without suit-condition-dependency-integrity).
    pub fn teep_install() -> Self {
        Self { strict_dependencies: false, ..Self::default() }
    }
}

/// The outcome of a successful run.
#[derive(Clone, Debug)]
pub struct ProcessReport {
    /// The installed manifest's identity (manifest-component-id or first component).
    pub manifest_id: ComponentId,
    /// Its sequence number.
    pub sequence_number: u64,
    /// Components that received new content.
    pub written: Vec<ComponentId>,
    /// The SUIT_Report (result `true`).
    pub report: SuitReport,
}

/// The outcome of a failed run. Nothing was committed.
#[derive(Clone, Debug)]
pub struct Failure {
    /// What went wrong, precisely.
    pub error: SuitError,
    /// The SUIT_Report, whose result carries the failing record and the reason (boxed to
    /// keep `Result<_, Failure>` small).
    pub report: Box<SuitReport>,
}

impl Failure {
    /// The SUIT_Report reason.
    pub fn reason(&self) -> Reason {
        self.error.reason()
    }
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "manifest processing failed ({}): {}", self.reason(), self.error)
    }
}

impl core::error::Error for Failure {}

/// Authenticates and runs one SUIT envelope against `platform`.
///
/// On success the platform has committed the staged changes with an [`InstallRecord`]; on
/// failure it has been told to abort, and the [`Failure`] carries the report.
pub fn process<P: Platform>(
    platform: &mut P,
    envelope: &[u8],
    trust: &TrustAnchors,
    opts: &Options,
) -> Result<ProcessReport, Failure> {
    process_envelope(platform, envelope, trust, opts, true)
}

/// [`process`]; `fetch_severed` is false once missing severed members were fetched.
fn process_envelope<P: Platform>(
    platform: &mut P,
    envelope: &[u8],
    trust: &TrustAnchors,
    opts: &Options,
    fetch_severed: bool,
) -> Result<ProcessReport, Failure> {
    let reference = reference_of(envelope);
    let fail = |error: SuitError, record: Record, records: Vec<Record>| Failure {
        report: Box::new(failure_report(reference.clone(), opts, records, &error, record)),
        error,
    };

    // 1. Authenticity before anything else is interpreted (§6.2).
    let env = Envelope::decode(envelope).map_err(|e| fail(e, Record::default(), Vec::new()))?;
    let manifest = env.authenticate(trust).map_err(|e| fail(e, Record::default(), Vec::new()))?;

    // 1b. Severed members the envelope lacks are fetched by reference through the platform
    // and checked against the authenticated digests (§8.5); the completed envelope is then
    // processed (and recorded) instead.
    let missing = manifest.missing_severed();
    if !missing.is_empty() && fetch_severed {
        let uri = manifest.manifest().reference_uri;
        let mut fetched = Vec::new();
        for (key, digest) in &missing {
            match platform.fetch_severed(uri, *key, digest) {
                Ok(Some(whole)) => {
                    let ok = digest
                        .matches(&whole)
                        .map_err(|e| fail(e, Record::default(), Vec::new()))?;
                    if !ok {
                        let e = SuitError::SeveredMemberDigest(*key);
                        return Err(fail(e, Record::default(), Vec::new()));
                    }
                    fetched.push((*key, whole));
                }
                Ok(None) => {}
                Err(e) => return Err(fail(SuitError::Platform(e), Record::default(), Vec::new())),
            }
        }
        if !fetched.is_empty() {
            let complete =
                env.with_severed(&fetched).map_err(|e| fail(e, Record::default(), Vec::new()))?;
            return process_envelope(platform, &complete, trust, opts, false);
        }
    }
    let reference = SuitReference {
        manifest_uri: manifest.manifest().reference_uri.map(String::from).unwrap_or_default(),
        manifest_digest: manifest.digest().clone(),
    };
    let fail = |error: SuitError, record: Record, records: Vec<Record>| Failure {
        report: Box::new(failure_report(reference.clone(), opts, records, &error, record)),
        error,
    };

    // 2. Who authorised it (security domains): the platform refuses a manifest id or domain
    // of another signer before anything runs.
    let authority = match authority_of(&manifest, trust, None) {
        Ok(a) => a,
        Err(e) => return Err(fail(e, Record::default(), Vec::new())),
    };
    if let Err(e) = platform.set_authority(Some(&authority)) {
        platform.abort();
        return Err(fail(SuitError::Platform(e), Record::default(), Vec::new()));
    }

    // 3. Setup checks: identity, rollback, procedure, components (§6.1, §6.2).
    if let Err(e) = preflight(platform, &manifest, opts) {
        platform.abort();
        return Err(fail(e, Record::default(), Vec::new()));
    }
    let identity = manifest.identity().cloned().unwrap_or_default();

    // 4. Run the procedure; abort on any failure.
    let mut machine = Machine::new(platform, &manifest, opts, trust);
    machine.authority = Some(authority);
    let run = run_procedure(&mut machine, &manifest, opts);
    let records = machine.take_records();
    let written = machine.written();
    if let Err(e) = run {
        let record = machine.failure_record();
        drop(machine);
        platform.abort();
        return Err(fail(e, record, records));
    }
    drop(machine);

    // 5. Commit atomically.
    let record = InstallRecord {
        manifest_id: &identity,
        sequence_number: manifest.sequence_number(),
        manifest_digest: manifest.digest(),
        envelope,
        components: manifest.components(),
        written: &written,
    };
    if opts.procedure == Procedure::Update {
        if let Err(e) = platform.commit(Some(&record)) {
            platform.abort();
            return Err(fail(SuitError::Platform(e), Record::default(), records));
        }
    } else {
        // The invocation procedure stages nothing that needs publishing.
        platform.abort();
    }
    Ok(ProcessReport {
        manifest_id: identity,
        sequence_number: manifest.sequence_number(),
        written,
        report: SuitReport {
            reference,
            nonce: opts.nonce.clone(),
            records,
            result: ReportResult::Success,
        },
    })
}

/// Stages removal of the manifest `manifest_id` and its components and commits it
/// (TEEP unneeded-manifest-list, draft-ietf-teep-protocol-26 §4.4).
///
/// No manifest authorises this removal, so the platform's domain checks do not apply
/// ([`Platform::set_authority`] with `None`): the caller decides who may remove what (the
/// TEEP Agent checks the requesting TAM).
pub fn uninstall<P: Platform>(
    platform: &mut P,
    manifest_id: &ComponentId,
) -> Result<(), SuitError> {
    platform.set_authority(None).map_err(SuitError::Platform)?;
    remove(platform, manifest_id)
}

/// Stages the removal of `manifest_id` under the current authority and commits it.
fn remove<P: Platform>(platform: &mut P, manifest_id: &ComponentId) -> Result<(), SuitError> {
    if platform.installed_sequence_number(manifest_id).is_none() {
        return Err(SuitError::NotInstalled);
    }
    if let Err(e) = platform.stage_uninstall(manifest_id) {
        platform.abort();
        return Err(SuitError::Platform(e));
    }
    if let Err(e) = platform.commit(None) {
        platform.abort();
        return Err(SuitError::Platform(e));
    }
    Ok(())
}

/// Removes the manifest `manifest_id` like [`uninstall`], first running the suit-uninstall
/// section of its installed envelope (draft-ietf-suit-trust-domains §5.2) when the platform
/// keeps it ([`Platform::installed_envelope`]). The envelope is authenticated again against
/// `trust` and must be the installed one (same identity and sequence number); its
/// suit-uninstall runs after the shared sequence, staging what it does (unlink, writes) with
/// the removal, so either all of it is committed or nothing. A failing section aborts the
/// removal with its error; a platform without the envelope only removes the components.
///
/// The removal runs under the authority of the installed manifest's own signer
/// ([`Platform::set_authority`]), so its suit-uninstall section cannot touch another
/// signer's domain.
pub fn uninstall_with<P: Platform>(
    platform: &mut P,
    manifest_id: &ComponentId,
    trust: &TrustAnchors,
    opts: &Options,
) -> Result<(), SuitError> {
    let Some(installed) = platform.installed_sequence_number(manifest_id) else {
        return Err(SuitError::NotInstalled);
    };
    if let Some(envelope) = platform.installed_envelope(manifest_id) {
        let env = Envelope::decode(&envelope)?;
        let manifest = env.authenticate(trust)?;
        if manifest.identity() != Some(manifest_id) || manifest.sequence_number() != installed {
            return Err(SuitError::Malformed("installed envelope is not the installed manifest"));
        }
        if manifest.is_severed_missing(key::UNINSTALL) {
            return Err(SuitError::SeveredMemberMissing(key::UNINSTALL));
        }
        let authority = authority_of(&manifest, trust, None)?;
        if let Err(e) = platform.set_authority(Some(&authority)) {
            platform.abort();
            return Err(SuitError::Platform(e));
        }
        if let Some(sequence) = manifest.section(key::UNINSTALL) {
            let mut machine = Machine::new(platform, &manifest, opts, trust);
            machine.authority = Some(authority);
            let run = machine.run_section(key::UNINSTALL, sequence);
            drop(machine);
            if let Err(e) = run {
                platform.abort();
                return Err(e);
            }
        }
        return remove(platform, manifest_id);
    }
    uninstall(platform, manifest_id)
}

/// The [`Authority`] of an authenticated manifest: its signer, its identity and its security
/// domain ([`crate::domain`]): its own id for a domain manifest, else the one domain manifest
/// among its dependency components, else `None` (the signer's default domain).
pub(crate) fn authority_of(
    manifest: &AuthenticatedManifest<'_>,
    trust: &TrustAnchors,
    processed_by: Option<SignerId>,
) -> Result<Authority, SuitError> {
    let signer = SignerId::of_anchor(trust, manifest.signer_index())
        .ok_or(SuitError::Malformed("signer index names no trust anchor"))?;
    let manifest_id =
        manifest.identity().cloned().ok_or(SuitError::Malformed("manifest names no component"))?;
    let domain = domain_of(manifest.manifest())?;
    Ok(Authority { signer, manifest_id, domain, processed_by })
}

fn preflight<P: Platform>(
    platform: &P,
    manifest: &AuthenticatedManifest<'_>,
    opts: &Options,
) -> Result<(), SuitError> {
    let identity =
        manifest.identity().ok_or(SuitError::Malformed("manifest names no component"))?;
    if manifest.components().is_empty() {
        return Err(SuitError::Malformed("manifest declares no components"));
    }
    // Rollback protection (§8.4.2): strictly greater than what is installed.
    if opts.procedure == Procedure::Update {
        if let Some(installed) = platform.installed_sequence_number(identity) {
            let offered = manifest.sequence_number();
            if offered <= installed {
                return Err(SuitError::Rollback { installed, offered });
            }
        }
        // A manifest without suit-install installs nothing; report it as such instead of
        // succeeding (e.g. the update example of draft-ietf-teep-protocol, whose sequence
        // sits under key 9 = suit-invoke).
        if !manifest.has_install() {
            return Err(SuitError::NoInstallSection);
        }
    }
    for component in manifest.components() {
        platform.check_component(component).map_err(SuitError::Platform)?;
    }
    Ok(())
}

fn run_procedure<'a, P: Platform>(
    machine: &mut Machine<'_, 'a, P>,
    manifest: &AuthenticatedManifest<'a>,
    opts: &Options,
) -> Result<(), SuitError> {
    let sections: &[u64] = match opts.procedure {
        Procedure::Update => {
            &[key::DEPENDENCY_RESOLUTION, key::PAYLOAD_FETCH, key::INSTALL, key::VALIDATE]
        }
        Procedure::Invoke => &[key::VALIDATE, key::LOAD, key::INVOKE],
    };
    for &section in sections {
        if section == key::DEPENDENCY_RESOLUTION && manifest.manifest().dependencies.is_empty() {
            // Nothing to resolve without dependencies.
            continue;
        }
        if manifest.is_severed_missing(section) {
            return Err(SuitError::SeveredMemberMissing(section));
        }
        if let Some(sequence) = manifest.section(section) {
            machine.run_section(section, sequence)?;
        }
    }
    Ok(())
}

/// A best-effort SUIT_Reference for an envelope that could not be authenticated: the digest
/// from its authentication wrapper if readable, else SHA-256 over the received bytes.
fn reference_of(envelope: &[u8]) -> SuitReference {
    let digest = Envelope::decode(envelope)
        .ok()
        .and_then(|env| wrapper_digest(&env))
        .unwrap_or_else(|| SuitDigest::sha256(envelope));
    SuitReference { manifest_uri: String::new(), manifest_digest: digest }
}

fn wrapper_digest(env: &Envelope<'_>) -> Option<SuitDigest> {
    let auth = env.authentication_bytes()?;
    cbor::precheck(auth).ok()?;
    let mut d = Decoder::new(auth);
    cbor::array_len(&mut d, "SUIT_Authentication").ok()?;
    let inner = cbor::bytes(&mut d, "digest").ok()?;
    SuitDigest::decode(inner).ok()
}

fn failure_report(
    reference: SuitReference,
    opts: &Options,
    records: Vec<Record>,
    error: &SuitError,
    record: Record,
) -> SuitReport {
    SuitReport {
        reference,
        nonce: opts.nonce.clone(),
        records,
        result: ReportResult::Failure { code: error.code(), record, reason: error.reason() },
    }
}
