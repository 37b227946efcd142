//! The command interpreter: the abstract machine of draft-ietf-suit-manifest-34 §6.4–§6.5,
//! §8.4.6–§8.4.9, plus suit-directive-set-parameters and suit-directive-unlink of
//! draft-ietf-suit-trust-domains.
//!
//! Nesting (run-sequence, try-each) recurses, but only up to [`Options::max_depth`]
//! levels; deeper input is rejected, so stack use does not grow with the input. The total
//! number of executed commands is bounded by [`Options::max_steps`]. Payloads stream through
//! a fixed buffer into the platform's staging area while being hashed.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use minicbor::Decoder;
use minicbor::data::Type;
use sha2::{Digest as _, Sha256};

use crate::aead::{self, AeadDecryptor};
use crate::cbor;
use crate::command::{code, param};
use crate::component::ComponentId;
use crate::digest::{SuitDigest, matches_sha256};
use crate::domain::{Authority, is_security_domain};
use crate::envelope::{AuthenticatedManifest, Envelope, TrustAnchors};
use crate::error::{PlatformError, SuitError};
use crate::manifest::key;
use crate::platform::{DecryptionKey, Download, Identifier, InstallRecord, Platform};
use crate::process::{Options, Procedure, authority_of};
use crate::report::Record;
use teep_cose::{CoseEncrypt, CtrDecryptor, RecipientKey};
use zeroize::Zeroizing;

/// COSE_KDF_Context SuppPubInfo.other for payloads (draft-ietf-suit-firmware-encryption §4).
pub(crate) const PAYLOAD_CONTEXT: &[u8] = b"SUIT Payload Encryption";

/// Most records kept for reporting policies.
const MAX_RECORDS: usize = 256;

/// Per-component parameter storage (draft-ietf-suit-manifest-34 §8.4.8).
#[derive(Clone, Default)]
struct Params<'a> {
    vendor: Option<&'a [u8]>,
    class: Option<&'a [u8]>,
    device: Option<&'a [u8]>,
    image_digest: Option<SuitDigest>,
    image_size: Option<u64>,
    component_slot: Option<u64>,
    content: Option<&'a [u8]>,
    uri: Option<&'a str>,
    source_component: Option<u64>,
    invoke_args: Option<&'a [u8]>,
    fetch_args: Option<&'a [u8]>,
    encryption_info: Option<&'a [u8]>,
}

/// The current component index (§6.5).
#[derive(Clone)]
enum Selection {
    One(usize),
    Many(Vec<usize>),
}

/// How a sequence ended without a hard error.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Completed,
    /// A condition failed while soft-failure was set: halted without error.
    SoftFailed,
}

/// Content staged for a component in this run, with its SHA-256 and size.
#[derive(Clone)]
struct Staged {
    index: usize,
    sha256: [u8; 32],
    size: u64,
}

/// Position of the command being executed, for the report.
#[derive(Clone, Copy, Default)]
struct Cursor {
    section: u64,
    offset: u64,
    component: u64,
}

/// The machine state for one manifest run.
pub(crate) struct Machine<'m, 'a, P: Platform> {
    platform: &'m mut P,
    manifest: &'m AuthenticatedManifest<'a>,
    opts: &'m Options,
    params: Vec<Params<'a>>,
    selection: Selection,
    staged: Vec<Staged>,
    steps: u64,
    cursor: Cursor,
    records: Vec<Record>,
    allow_invoke: bool,
    trust: &'m TrustAnchors,
    /// The manifest member being run (the cursor shows suit-common while in the shared
    /// sequence).
    section: u64,
    /// Dependency components whose suit-condition-dependency-integrity passed in this run.
    verified: Vec<usize>,
    /// Component indices leading from the root manifest to this one (SUIT_Record manifest-id).
    dep_path: Vec<u64>,
    /// The record of a failure inside a dependency, which is more precise than ours.
    sub_failure: Option<Record>,
    /// Who authorised this manifest (security domains); restored with the platform after a
    /// dependency ran under its own.
    pub(crate) authority: Option<Authority>,
}

impl<'m, 'a, P: Platform> Machine<'m, 'a, P> {
    pub(crate) fn new(
        platform: &'m mut P,
        manifest: &'m AuthenticatedManifest<'a>,
        opts: &'m Options,
        trust: &'m TrustAnchors,
    ) -> Self {
        let count = manifest.indexed_components().len();
        Self {
            platform,
            manifest,
            opts,
            params: vec![Params::default(); count],
            selection: Selection::One(0),
            staged: Vec::new(),
            steps: 0,
            cursor: Cursor::default(),
            records: Vec::new(),
            allow_invoke: false,
            trust,
            section: 0,
            verified: Vec::new(),
            dep_path: Vec::new(),
            sub_failure: None,
            authority: None,
        }
    }

    /// Runs the shared sequence and then `section` with fresh parameters (§8.4.5: the shared
    /// sequence runs before every other command sequence).
    pub(crate) fn run_section(&mut self, key: u64, sequence: &'a [u8]) -> Result<(), SuitError> {
        let count = self.params.len();
        self.params = vec![Params::default(); count];
        self.selection = Selection::One(0);
        self.allow_invoke = key == crate::manifest::key::INVOKE && self.opts.allow_invoke;
        self.section = key;
        if let Some(shared) = self.manifest.shared_sequence() {
            self.cursor = Cursor { section: crate::manifest::key::SHARED, ..Cursor::default() };
            self.top_level(shared)?;
        }
        self.cursor = Cursor { section: key, ..Cursor::default() };
        self.top_level(sequence)
    }

    fn top_level(&mut self, sequence: &'a [u8]) -> Result<(), SuitError> {
        // Outside try-each/run-sequence soft-failure is false and a failed condition aborts.
        match self.sequence(sequence, false, 0)? {
            Outcome::Completed => Ok(()),
            Outcome::SoftFailed => Err(SuitError::Malformed("soft failure at top level")),
        }
    }

    /// The record of the command being executed (for a failure report).
    pub(crate) fn failure_record(&self) -> Record {
        if let Some(record) = &self.sub_failure {
            return record.clone();
        }
        Record {
            manifest_id: self.dep_path.clone(),
            section: i64::try_from(self.cursor.section).unwrap_or(i64::MAX),
            offset: self.cursor.offset,
            component_index: self.cursor.component,
            properties: Vec::new(),
        }
    }

    /// Records kept according to the commands' reporting policies.
    pub(crate) fn take_records(&mut self) -> Vec<Record> {
        core::mem::take(&mut self.records)
    }

    /// Components that received staged content in this run.
    pub(crate) fn written(&self) -> Vec<ComponentId> {
        let components = self.manifest.indexed_components();
        self.staged.iter().filter_map(|s| components.get(s.index).cloned()).collect()
    }

    /// Executes one SUIT_Command_Sequence (already prechecked as strict CBOR).
    fn sequence(
        &mut self,
        bytes: &'a [u8],
        soft: bool,
        depth: usize,
    ) -> Result<Outcome, SuitError> {
        if depth > self.opts.max_depth {
            return Err(SuitError::TooDeep);
        }
        let mut d = Decoder::new(bytes);
        let n = cbor::array_len(&mut d, "SUIT_Command_Sequence")?;
        if n == 0 || n % 2 != 0 {
            return Err(SuitError::Malformed("command sequence must hold command/argument pairs"));
        }
        let mut soft = soft;
        for _ in 0..n / 2 {
            self.steps = self.steps.saturating_add(1);
            if self.steps > self.opts.max_steps {
                return Err(SuitError::TooManySteps);
            }
            self.cursor.offset = d.position() as u64;
            let command = cbor::int(&mut d, "command code")?;
            match self.command(&mut d, command, &mut soft, depth) {
                Ok(()) => {}
                Err(SuitError::ConditionFailed(c)) if soft => {
                    let _ = c;
                    return Ok(Outcome::SoftFailed);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Outcome::Completed)
    }

    fn command(
        &mut self,
        d: &mut Decoder<'a>,
        command: i64,
        soft: &mut bool,
        depth: usize,
    ) -> Result<(), SuitError> {
        match command {
            code::SET_COMPONENT_INDEX => self.set_component_index(d),
            code::OVERRIDE_PARAMETERS => self.parameters(d, true, soft, depth),
            code::SET_PARAMETERS => self.parameters(d, false, soft, depth),
            code::TRY_EACH => self.try_each(d, depth),
            code::RUN_SEQUENCE => self.run_sequence(d, depth),
            _ => {
                let policy = cbor::uint(d, "reporting policy")?;
                for index in self.targets() {
                    // Each component a command applies to counts as one step.
                    self.steps = self.steps.saturating_add(1);
                    if self.steps > self.opts.max_steps {
                        return Err(SuitError::TooManySteps);
                    }
                    self.cursor.component = index as u64;
                    self.simple(command, index)?;
                    if policy & 1 != 0 && self.records.len() < MAX_RECORDS {
                        let record = self.failure_record();
                        self.records.push(record);
                    }
                }
                Ok(())
            }
        }
    }

    /// The component indices the next command applies to.
    fn targets(&self) -> Vec<usize> {
        match &self.selection {
            Selection::One(i) => vec![*i],
            Selection::Many(list) => list.clone(),
        }
    }

    fn set_component_index(&mut self, d: &mut Decoder<'a>) -> Result<(), SuitError> {
        let count = self.params.len();
        let check = |i: u64| -> Result<usize, SuitError> {
            usize::try_from(i).ok().filter(|i| *i < count).ok_or(SuitError::ComponentIndex(i))
        };
        self.selection = match d.datatype() {
            Ok(Type::Bool) => match d.bool() {
                Ok(true) => Selection::Many((0..count).collect()),
                _ => return Err(SuitError::Malformed("component index false")),
            },
            Ok(Type::Array) => {
                let n = cbor::array_len(d, "component index list")?;
                if n == 0 {
                    return Err(SuitError::Malformed("empty component index list"));
                }
                let mut list = Vec::new();
                for _ in 0..n {
                    list.push(check(cbor::uint(d, "component index")?)?);
                }
                Selection::Many(list)
            }
            _ => Selection::One(check(cbor::uint(d, "component index")?)?),
        };
        Ok(())
    }

    /// suit-directive-override-parameters (`overwrite`) and suit-directive-set-parameters.
    fn parameters(
        &mut self,
        d: &mut Decoder<'a>,
        overwrite: bool,
        soft: &mut bool,
        depth: usize,
    ) -> Result<(), SuitError> {
        let n = cbor::map_len(d, "parameters")?;
        if n == 0 {
            return Err(SuitError::Malformed("empty parameter map"));
        }
        let targets = self.targets();
        for _ in 0..n {
            let label = cbor::int(d, "parameter label")?;
            match label {
                param::SOFT_FAILURE => {
                    let v = d.bool().map_err(|_| SuitError::Malformed("soft-failure"))?;
                    // §8.4.8.14: only inside try-each or run-sequence.
                    if depth == 0 {
                        return Err(SuitError::Malformed(
                            "soft-failure set outside a nested sequence",
                        ));
                    }
                    *soft = v;
                }
                param::STRICT_ORDER => {
                    // Commands always run strictly in order here; the hint is accepted.
                    d.bool().map_err(|_| SuitError::Malformed("strict-order"))?;
                }
                _ => {
                    let value = decode_param(d, label)?;
                    for &i in &targets {
                        let p =
                            self.params.get_mut(i).ok_or(SuitError::ComponentIndex(i as u64))?;
                        value.apply(p, overwrite);
                    }
                }
            }
        }
        Ok(())
    }

    fn try_each(&mut self, d: &mut Decoder<'a>, depth: usize) -> Result<(), SuitError> {
        let n = cbor::array_len(d, "try-each argument")?;
        let mut alternatives = Vec::new();
        let mut empty_allowed = false;
        for i in 0..n {
            if d.datatype().ok() == Some(Type::Null) && i + 1 == n {
                cbor::skip(d, "try-each nil")?;
                empty_allowed = true;
            } else {
                let seq = cbor::bytes(d, "try-each sequence")?;
                cbor::precheck(seq)?;
                alternatives.push(seq);
            }
        }
        if alternatives.len() < 2 {
            return Err(SuitError::Malformed("try-each needs two or more sequences"));
        }
        let saved = self.selection.clone();
        let cursor = self.cursor;
        for index in self.targets() {
            self.selection = Selection::One(index);
            let mut done = false;
            for seq in &alternatives {
                self.cursor = Cursor { component: index as u64, ..cursor };
                if self.sequence(seq, true, depth + 1)? == Outcome::Completed {
                    done = true;
                    break;
                }
            }
            self.cursor = cursor;
            if !done && !empty_allowed {
                self.selection = saved;
                return Err(SuitError::ConditionFailed(code::TRY_EACH as u64));
            }
        }
        self.selection = saved;
        Ok(())
    }

    fn run_sequence(&mut self, d: &mut Decoder<'a>, depth: usize) -> Result<(), SuitError> {
        let seq = cbor::bytes(d, "run-sequence argument")?;
        cbor::precheck(seq)?;
        let saved = self.selection.clone();
        let cursor = self.cursor;
        for index in self.targets() {
            self.selection = Selection::One(index);
            self.cursor = Cursor { component: index as u64, ..cursor };
            // A soft failure halts the nested sequence without error (§8.4.8.14).
            let outcome = self.sequence(seq, false, depth + 1);
            if let Err(e) = outcome {
                self.selection = saved;
                return Err(e);
            }
        }
        self.cursor = cursor;
        self.selection = saved;
        Ok(())
    }

    /// Conditions and directives that take a reporting policy and act on one component.
    fn simple(&mut self, command: i64, index: usize) -> Result<(), SuitError> {
        let component = self.component(index)?.clone();
        let params = self.params.get(index).cloned().unwrap_or_default();
        match command {
            code::VENDOR_IDENTIFIER => {
                self.identifier(Identifier::Vendor, &component, params.vendor, command)
            }
            code::CLASS_IDENTIFIER => {
                self.identifier(Identifier::Class, &component, params.class, command)
            }
            code::DEVICE_IDENTIFIER => {
                self.identifier(Identifier::Device, &component, params.device, command)
            }
            code::IMAGE_MATCH => self.image_match(index, &component, &params),
            code::COMPONENT_SLOT => {
                let want = params
                    .component_slot
                    .ok_or(SuitError::MissingParameter(param::COMPONENT_SLOT as u64))?;
                condition(self.platform.component_slot(&component) == Some(want), command)
            }
            code::CHECK_CONTENT => {
                let content =
                    params.content.ok_or(SuitError::MissingParameter(param::CONTENT as u64))?;
                let same = self.compare_content(&component, content)?;
                condition(same, command)
            }
            code::ABORT => Err(SuitError::ConditionFailed(code::ABORT as u64)),
            code::IS_DEPENDENCY => {
                let dependency = self.manifest.manifest().is_dependency(index as u64);
                condition(dependency, command)
            }
            code::DEPENDENCY_INTEGRITY => self.dependency_integrity(index, &params),
            code::PROCESS_DEPENDENCY => self.process_dependency(index, &params),
            code::FETCH => self.fetch(index, &component, &params),
            code::WRITE => {
                let content =
                    params.content.ok_or(SuitError::MissingParameter(param::CONTENT as u64))?;
                self.stage_bytes(index, &component, content, &params)
            }
            code::COPY => self.copy(index, &component, &params),
            code::INVOKE => {
                if !self.allow_invoke {
                    return Err(SuitError::Unsupported(
                        "suit-directive-invoke outside suit-invoke",
                    ));
                }
                self.platform.invoke(&component, params.invoke_args).map_err(SuitError::Platform)
            }
            code::UNLINK => self.platform.stage_unlink(&component).map_err(SuitError::Platform),
            code::SWAP => self.swap(index, &component, &params),
            other => Err(SuitError::UnsupportedCommand(other)),
        }
    }

    fn component(&self, index: usize) -> Result<&ComponentId, SuitError> {
        self.manifest.indexed_components().get(index).ok_or(SuitError::ComponentIndex(index as u64))
    }

    fn identifier(
        &self,
        kind: Identifier,
        component: &ComponentId,
        value: Option<&[u8]>,
        command: i64,
    ) -> Result<(), SuitError> {
        let label = match kind {
            Identifier::Vendor => param::VENDOR_IDENTIFIER,
            Identifier::Class => param::CLASS_IDENTIFIER,
            Identifier::Device => param::DEVICE_IDENTIFIER,
        };
        let value = value.ok_or(SuitError::MissingParameter(label as u64))?;
        condition(self.platform.matches_identifier(kind, component, value), command)
    }

    fn image_match(
        &mut self,
        index: usize,
        component: &ComponentId,
        params: &Params<'a>,
    ) -> Result<(), SuitError> {
        let digest = params
            .image_digest
            .as_ref()
            .ok_or(SuitError::MissingParameter(param::IMAGE_DIGEST as u64))?;
        let expected = digest.sha256_value()?;
        if self.is_dependency(index) {
            // draft-ietf-suit-trust-domains §6.2: for a dependency the image digest is the
            // digest of its manifest (as in its authentication wrapper, checked against the
            // manifest bytes); image-size is the size of its envelope.
            let bytes = self.load_dependency(index)?;
            let env = Envelope::decode(&bytes)?;
            let actual = env.checked_manifest_digest()?.sha256_value()?;
            let size_ok = params.image_size.is_none_or(|want| want == bytes.len() as u64);
            return condition(size_ok && matches_sha256(&expected, &actual), code::IMAGE_MATCH);
        }
        let (actual, size) = match self.staged.iter().rev().find(|s| s.index == index) {
            Some(s) => (s.sha256, s.size),
            None => match self.hash_component(component)? {
                Some(v) => v,
                None => return Err(SuitError::ConditionFailed(code::IMAGE_MATCH as u64)),
            },
        };
        let size_ok = params.image_size.is_none_or(|want| want == size);
        condition(size_ok && matches_sha256(&expected, &actual), code::IMAGE_MATCH)
    }

    /// SHA-256 and size of a component's current content, streamed from the platform;
    /// `None` when the component has no content.
    fn hash_component(
        &mut self,
        component: &ComponentId,
    ) -> Result<Option<([u8; 32], u64)>, SuitError> {
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; self.opts.chunk_size.max(1)];
        let mut offset = 0u64;
        loop {
            let n = match self.platform.read(component, offset, &mut buf) {
                Ok(n) => n,
                Err(PlatformError::UnknownComponent) => return Ok(None),
                Err(e) => return Err(SuitError::Platform(e)),
            };
            if n == 0 {
                break;
            }
            let chunk = buf.get(..n).ok_or(SuitError::Platform(PlatformError::Failed(
                "read returned more than the buffer".into(),
            )))?;
            hasher.update(chunk);
            offset = offset.saturating_add(n as u64);
            if offset > self.opts.max_payload_size {
                return Err(SuitError::PayloadTooLarge);
            }
        }
        Ok(Some((hasher.finalize().into(), offset)))
    }

    /// suit-condition-check-content: full-length comparison without early exit.
    fn compare_content(
        &mut self,
        component: &ComponentId,
        content: &[u8],
    ) -> Result<bool, SuitError> {
        let mut buf = vec![0u8; self.opts.chunk_size.max(1)];
        let mut offset = 0u64;
        let mut diff = 0u8;
        loop {
            let n = match self.platform.read(component, offset, &mut buf) {
                Ok(n) => n,
                Err(PlatformError::UnknownComponent) => return Ok(false),
                Err(e) => return Err(SuitError::Platform(e)),
            };
            if n == 0 {
                break;
            }
            let start = usize::try_from(offset).unwrap_or(usize::MAX);
            for (i, b) in buf.iter().take(n).enumerate() {
                let expected = start.checked_add(i).and_then(|p| content.get(p)).copied();
                diff |= match expected {
                    Some(e) => e ^ b,
                    None => 1,
                };
            }
            offset = offset.saturating_add(n as u64);
            if offset > content.len() as u64 {
                return Ok(false);
            }
        }
        Ok(diff == 0 && offset == content.len() as u64)
    }

    fn fetch(
        &mut self,
        index: usize,
        component: &ComponentId,
        params: &Params<'a>,
    ) -> Result<(), SuitError> {
        let uri = params.uri.ok_or(SuitError::MissingParameter(param::URI as u64))?;
        if uri.starts_with('#') {
            // Integrated payload (§7.6): carried in the envelope under this key.
            let data = self
                .manifest
                .envelope()
                .integrated_payload(uri)
                .ok_or(SuitError::MissingIntegratedPayload)?;
            return self.stage_bytes(index, component, data, params);
        }
        let mut download =
            self.platform.fetch(uri, params.fetch_args).map_err(SuitError::Platform)?;
        self.stream(index, component, params, |_: &mut P, buf: &mut [u8]| download.read(buf))
    }

    fn copy(
        &mut self,
        index: usize,
        component: &ComponentId,
        params: &Params<'a>,
    ) -> Result<(), SuitError> {
        let source_index = source_index(index, params, "copy source equals destination")?;
        let source_id = self.component(source_index)?.clone();
        let mut offset = 0u64;
        self.stream(index, component, params, |platform: &mut P, buf: &mut [u8]| {
            let n = platform.read(&source_id, offset, buf)?;
            offset = offset.saturating_add(n as u64);
            Ok(n)
        })
    }

    /// suit-directive-swap (draft-ietf-suit-manifest-34 §8.4.10.7): exchanges the images of
    /// the current component and suit-parameter-source-component. Both must exist; the
    /// current image is held in memory (bounded by the payload limit) while the source
    /// streams into its place, then it is staged as the source's image. Image digests are
    /// recorded for later image-match; image-size is not applied (it describes neither).
    fn swap(
        &mut self,
        index: usize,
        component: &ComponentId,
        params: &Params<'a>,
    ) -> Result<(), SuitError> {
        let source_index = source_index(index, params, "swap source equals destination")?;
        if self.is_dependency(index) || self.is_dependency(source_index) {
            return Err(SuitError::Unsupported("suit-directive-swap on a dependency manifest"));
        }
        let source_id = self.component(source_index)?.clone();
        let limit = self.opts.max_payload_size;
        let chunk = self.opts.chunk_size.max(1);
        let mut buf = vec![0u8; chunk];

        // 1. The current image of `component`, before anything is staged for it.
        let mut mine = Vec::new();
        loop {
            let offset = mine.len() as u64;
            let n = self.platform.read(component, offset, &mut buf).map_err(SuitError::Platform)?;
            if n == 0 {
                break;
            }
            if offset.saturating_add(n as u64) > limit {
                return Err(SuitError::PayloadTooLarge);
            }
            mine.extend_from_slice(buf.get(..n).unwrap_or_default());
        }

        // 2. component <- source, streamed.
        self.platform.stage_begin(component).map_err(SuitError::Platform)?;
        let mut sink = Sink { hasher: Sha256::new(), offset: 0, limit };
        loop {
            let n = self
                .platform
                .read(&source_id, sink.offset, &mut buf)
                .map_err(SuitError::Platform)?;
            if n == 0 {
                break;
            }
            sink.write(self.platform, component, buf.get(..n).unwrap_or_default())?;
        }
        let Sink { hasher, offset, .. } = sink;
        self.staged.retain(|s| s.index != index);
        self.staged.push(Staged { index, sha256: hasher.finalize().into(), size: offset });

        // 3. source <- the former image of `component`.
        self.platform.stage_begin(&source_id).map_err(SuitError::Platform)?;
        let mut sink = Sink { hasher: Sha256::new(), offset: 0, limit };
        for part in mine.chunks(chunk) {
            sink.write(self.platform, &source_id, part)?;
        }
        let Sink { hasher, offset, .. } = sink;
        self.staged.retain(|s| s.index != source_index);
        self.staged.push(Staged {
            index: source_index,
            sha256: hasher.finalize().into(),
            size: offset,
        });
        Ok(())
    }

    /// Stages a payload held in memory (integrated payload or suit-parameter-content).
    fn stage_bytes(
        &mut self,
        index: usize,
        component: &ComponentId,
        data: &[u8],
        params: &Params<'a>,
    ) -> Result<(), SuitError> {
        let chunk = self.opts.chunk_size.max(1);
        let mut chunks = data.chunks(chunk);
        self.stream(index, component, params, |_: &mut P, buf: &mut [u8]| {
            let next = chunks.next().unwrap_or_default();
            let n = next.len().min(buf.len());
            if let (Some(dst), Some(src)) = (buf.get_mut(..n), next.get(..n)) {
                dst.copy_from_slice(src);
            }
            Ok(n)
        })
    }

    /// Streams a payload from `source` into the staged image of `component`, decrypting it
    /// when suit-parameter-encryption-info is set, hashing the plaintext and enforcing
    /// image-size and the configured maximum while it flows. Memory stays at two chunk
    /// buffers whatever the payload size: AES-CTR decrypts chunk by chunk, and AEAD content
    /// (AES-GCM, ChaCha20/Poly1305) decrypts chunk by chunk into staging while its tag is
    /// computed, the tag being checked at the end ([`AeadDecryptor`]).
    ///
    /// Until the AEAD tag is checked the staged plaintext is unauthenticated: on any failure
    /// of an AEAD stream the staged image is reset to empty, so neither a later command of
    /// this run (after a soft failure in try-each) nor a commit can see it.
    fn stream<F>(
        &mut self,
        index: usize,
        component: &ComponentId,
        params: &Params<'a>,
        source: F,
    ) -> Result<(), SuitError>
    where
        F: FnMut(&mut P, &mut [u8]) -> Result<usize, PlatformError>,
    {
        let limit =
            params.image_size.unwrap_or(self.opts.max_payload_size).min(self.opts.max_payload_size);
        let decryptor = match params.encryption_info {
            Some(info) => Some(self.decryptor(info)?),
            None => None,
        };
        let is_aead = matches!(decryptor, Some(Decryptor::Aead(_)));
        self.platform.stage_begin(component).map_err(SuitError::Platform)?;
        let sink = Sink { hasher: Sha256::new(), offset: 0, limit };
        match self.pump(component, sink, decryptor, source) {
            Ok(Sink { hasher, offset, .. }) => {
                self.finish_stage(index, params, hasher.finalize().into(), offset)
            }
            Err(e) => {
                if is_aead {
                    // Drop the unauthenticated plaintext; the original error is what counts.
                    let _ = self.platform.stage_begin(component);
                }
                Err(e)
            }
        }
    }

    /// Moves every chunk of `source` through `decryptor` into `sink`; for AEAD content,
    /// returns only once the tag has been checked.
    fn pump<F>(
        &mut self,
        component: &ComponentId,
        mut sink: Sink,
        mut decryptor: Option<Decryptor>,
        mut source: F,
    ) -> Result<Sink, SuitError>
    where
        F: FnMut(&mut P, &mut [u8]) -> Result<usize, PlatformError>,
    {
        let chunk_size = self.opts.chunk_size.max(1);
        let mut buf = vec![0u8; chunk_size];
        // AEAD output: a chunk plus the held-back tag candidate released by it.
        let mut plain = match decryptor {
            Some(Decryptor::Aead(_)) => vec![0u8; chunk_size.saturating_add(aead::TAG_LEN)],
            _ => Vec::new(),
        };
        loop {
            let n = source(self.platform, &mut buf).map_err(SuitError::Platform)?;
            if n == 0 {
                break;
            }
            let chunk = buf.get_mut(..n).ok_or(SuitError::Platform(PlatformError::Failed(
                "source returned more than the buffer".into(),
            )))?;
            match &mut decryptor {
                Some(Decryptor::Aead(d)) => {
                    let out = d.update(chunk, &mut plain).map_err(SuitError::Decrypt)?;
                    sink.write(self.platform, component, out)?;
                }
                Some(Decryptor::Ctr(ctr)) => {
                    ctr.apply(chunk);
                    sink.write(self.platform, component, chunk)?;
                }
                None => sink.write(self.platform, component, chunk)?,
            }
        }
        if let Some(Decryptor::Aead(d)) = decryptor {
            d.finish().map_err(SuitError::Decrypt)?;
        }
        Ok(sink)
    }

    /// Opens suit-parameter-encryption-info (a COSE_Encrypt with a detached ciphertext,
    /// draft-ietf-suit-firmware-encryption §5) with the first device key that unwraps the
    /// content key of one of its recipients.
    fn decryptor(&self, info: &[u8]) -> Result<Decryptor, SuitError> {
        let enc = CoseEncrypt::decode(info).map_err(SuitError::Decrypt)?;
        if enc.ciphertext.is_some() {
            return Err(SuitError::Malformed("encryption-info must carry a detached ciphertext"));
        }
        let alg = enc.algorithm().map_err(SuitError::Decrypt)?;
        let cek = self.unwrap_cek(&enc)?;
        let iv = enc.iv().map_err(SuitError::Decrypt)?;
        if teep_cose::is_non_aead(alg) {
            let ctr = CtrDecryptor::new(alg, &cek, iv).map_err(SuitError::Decrypt)?;
            Ok(Decryptor::Ctr(Box::new(ctr)))
        } else {
            // RFC 9052 §5.3: the AAD is the Enc_structure; SUIT uses no external AAD.
            let aad = teep_cose::enc_structure("Encrypt", enc.protected_bytes, &[]);
            let aead = AeadDecryptor::new(alg, &cek, iv, &aad).map_err(SuitError::Decrypt)?;
            Ok(Decryptor::Aead(Box::new(aead)))
        }
    }

    fn unwrap_cek(&self, enc: &CoseEncrypt<'_>) -> Result<Zeroizing<Vec<u8>>, SuitError> {
        let alg = enc.algorithm().map_err(SuitError::Decrypt)?;
        let mut last = None;
        for key in self.platform.decryption_keys() {
            for recipient in &enc.recipients {
                if let (Some(want), Some(have)) = (key.kid(), recipient.kid())
                    && want != have
                {
                    continue;
                }
                match recipient.unwrap_cek(recipient_key(key), alg, Some(PAYLOAD_CONTEXT)) {
                    Ok(cek) => return Ok(cek),
                    Err(e) => last = Some(e),
                }
            }
        }
        Err(last.map_or(SuitError::NoDecryptionKey, SuitError::Decrypt))
    }

    fn is_dependency(&self, index: usize) -> bool {
        self.manifest.manifest().is_dependency(index as u64)
    }

    /// Reads a dependency envelope (staged in this run or installed) into memory, bounded by
    /// [`Options::max_dependency_size`].
    fn load_dependency(&mut self, index: usize) -> Result<Vec<u8>, SuitError> {
        if !self.is_dependency(index) {
            return Err(SuitError::NotADependency(index as u64));
        }
        let component = self.component(index)?.clone();
        let mut out = Vec::new();
        let mut buf = vec![0u8; self.opts.chunk_size.max(1)];
        loop {
            let n = self
                .platform
                .read(&component, out.len() as u64, &mut buf)
                .map_err(SuitError::Platform)?;
            if n == 0 {
                break;
            }
            let chunk = buf.get(..n).ok_or(SuitError::Platform(PlatformError::Failed(
                "read returned more than the buffer".into(),
            )))?;
            if (out.len() as u64).saturating_add(n as u64) > self.opts.max_dependency_size {
                return Err(SuitError::PayloadTooLarge);
            }
            out.extend_from_slice(chunk);
        }
        Ok(out)
    }

    /// suit-condition-dependency-integrity (draft-ietf-suit-trust-domains §6.4): the
    /// dependency envelope authenticates under the trust anchors and its manifest digest is
    /// suit-parameter-image-digest.
    fn dependency_integrity(&mut self, index: usize, params: &Params<'a>) -> Result<(), SuitError> {
        let expected = params
            .image_digest
            .as_ref()
            .ok_or(SuitError::MissingParameter(param::IMAGE_DIGEST as u64))?
            .sha256_value()?;
        let bytes = self.load_dependency(index)?;
        let env = Envelope::decode(&bytes)?;
        let manifest = env.authenticate(self.trust)?;
        let actual = manifest.digest().sha256_value()?;
        condition(matches_sha256(&expected, &actual), code::DEPENDENCY_INTEGRITY)?;
        if !self.verified.contains(&index) {
            self.verified.push(index);
        }
        Ok(())
    }

    /// suit-directive-process-dependency (draft-ietf-suit-trust-domains §6.5): authenticates
    /// the dependency and runs its shared sequence and the section currently being run. In
    /// suit-install of the Update Procedure the dependency's record is staged with the
    /// platform, so that it is published (or dropped) together with the root manifest.
    fn process_dependency(&mut self, index: usize, params: &Params<'a>) -> Result<(), SuitError> {
        if !self.is_dependency(index) {
            return Err(SuitError::NotADependency(index as u64));
        }
        if self.opts.strict_dependencies && !self.verified.contains(&index) {
            return Err(SuitError::DependencyNotVerified(index as u64));
        }
        if self.dep_path.len() >= self.opts.max_depth {
            return Err(SuitError::TooDeep);
        }
        let bytes = self.load_dependency(index)?;
        let env = Envelope::decode(&bytes)?;
        let manifest = env.authenticate(self.trust)?;
        if let Some(want) = &params.image_digest {
            let ok = matches_sha256(&want.sha256_value()?, &manifest.digest().sha256_value()?);
            condition(ok, code::PROCESS_DEPENDENCY)?;
        }
        let identity = manifest
            .identity()
            .cloned()
            .ok_or(SuitError::Malformed("dependency names no component"))?;
        let section = self.section;
        let installing = section == key::INSTALL && self.opts.procedure == Procedure::Update;
        // Rollback protection for dependencies: an older one is refused, and so is another
        // manifest with the installed number; the installed manifest itself may be processed
        // again (a second Trusted Component joining the same security domain).
        if installing && let Some(installed) = self.platform.installed_sequence_number(&identity) {
            let offered = manifest.sequence_number();
            if offered < installed
                || (offered == installed && !self.is_installed(&identity, manifest.digest()))
            {
                return Err(SuitError::Rollback { installed, offered });
            }
        }
        if manifest.is_severed_missing(section) {
            return Err(SuitError::SeveredMemberMissing(section));
        }
        // A security domain is joined under its own manifest-component-id, so that the
        // domain named in the root's authority is the one processed here.
        if is_security_domain(&identity) && self.component(index)? != &identity {
            return Err(SuitError::Malformed(
                "a security domain dependency must be declared under its manifest-component-id",
            ));
        }

        // The dependency runs under its own signer; the platform refuses one of another
        // signer than ours, then the root's authority is restored whatever happened.
        let parent = self.authority.as_ref().map(|a| a.signer);
        let authority = authority_of(&manifest, self.trust, parent)?;
        let run = match self.platform.set_authority(Some(&authority)) {
            Ok(()) => self.run_dependency(index, &manifest, &bytes, &identity, authority),
            Err(e) => Err(SuitError::Platform(e)),
        };
        let restored = self.platform.set_authority(self.authority.as_ref());
        run?;
        restored.map_err(SuitError::Platform)
    }

    /// Whether the installed manifest `identity` (its envelope as the platform keeps it) has
    /// manifest digest `digest`.
    fn is_installed(&mut self, identity: &ComponentId, digest: &SuitDigest) -> bool {
        let Some(envelope) = self.platform.installed_envelope(identity) else { return false };
        let installed = Envelope::decode(&envelope).and_then(|e| e.checked_manifest_digest());
        match (installed.and_then(|d| d.sha256_value()), digest.sha256_value()) {
            (Ok(have), Ok(want)) => matches_sha256(&have, &want),
            _ => false,
        }
    }

    /// The part of [`Machine::process_dependency`] that runs under the dependency's
    /// authority: component checks, its section, and (in suit-install) its record.
    fn run_dependency(
        &mut self,
        index: usize,
        manifest: &AuthenticatedManifest<'_>,
        bytes: &[u8],
        identity: &ComponentId,
        authority: Authority,
    ) -> Result<(), SuitError> {
        for component in manifest.components() {
            self.platform.check_component(component).map_err(SuitError::Platform)?;
        }
        let section = self.section;
        let installing = section == key::INSTALL && self.opts.procedure == Procedure::Update;
        let mut path = self.dep_path.clone();
        path.push(index as u64);
        let mut sub = Machine::new(&mut *self.platform, manifest, self.opts, self.trust);
        sub.dep_path = path;
        sub.steps = self.steps;
        sub.authority = Some(authority);
        let run = match manifest.section(section) {
            Some(sequence) => sub.run_section(section, sequence),
            None => Ok(()),
        };
        self.steps = sub.steps;
        let records = sub.take_records();
        let written = sub.written();
        if let Err(e) = run {
            self.sub_failure = Some(sub.failure_record());
            return Err(e);
        }
        drop(sub);
        for record in records {
            if self.records.len() < MAX_RECORDS {
                self.records.push(record);
            }
        }
        if installing {
            let record = InstallRecord {
                manifest_id: identity,
                sequence_number: manifest.sequence_number(),
                manifest_digest: manifest.digest(),
                envelope: bytes,
                components: manifest.components(),
                written: &written,
            };
            self.platform.stage_dependency_record(&record).map_err(SuitError::Platform)?;
        }
        Ok(())
    }

    fn finish_stage(
        &mut self,
        index: usize,
        params: &Params<'a>,
        sha256: [u8; 32],
        size: u64,
    ) -> Result<(), SuitError> {
        // For a dependency, image-size is checked by image-match (the published examples
        // give a size that differs from the fetched envelope's); here it only bounds the fetch.
        if let Some(expected) = params.image_size
            && expected != size
            && !self.is_dependency(index)
        {
            return Err(SuitError::PayloadSize { expected, actual: size });
        }
        self.staged.retain(|s| s.index != index);
        self.staged.push(Staged { index, sha256, size });
        Ok(())
    }
}

/// The hasher and position of a payload flowing into staging.
struct Sink {
    hasher: Sha256,
    offset: u64,
    limit: u64,
}

impl Sink {
    fn write<P: Platform>(
        &mut self,
        platform: &mut P,
        component: &ComponentId,
        chunk: &[u8],
    ) -> Result<(), SuitError> {
        let end = self.offset.saturating_add(chunk.len() as u64);
        if end > self.limit {
            return Err(SuitError::PayloadTooLarge);
        }
        self.hasher.update(chunk);
        platform.stage_write(component, self.offset, chunk).map_err(SuitError::Platform)?;
        self.offset = end;
        Ok(())
    }
}

/// How an encrypted payload is opened while it streams; both decrypt chunk by chunk.
enum Decryptor {
    /// AES-CTR: no integrity of its own (the image digest provides it).
    Ctr(Box<CtrDecryptor>),
    /// AES-GCM or ChaCha20/Poly1305: tag checked when the stream ends.
    Aead(Box<AeadDecryptor>),
}

fn recipient_key(key: &DecryptionKey) -> RecipientKey<'_> {
    match key {
        DecryptionKey::KeyWrap { key, .. } => RecipientKey::Symmetric(key),
        DecryptionKey::Ecdh { key, .. } => RecipientKey::Ecdh(key.as_ref()),
    }
}

fn condition(ok: bool, command: i64) -> Result<(), SuitError> {
    if ok { Ok(()) } else { Err(SuitError::ConditionFailed(command.unsigned_abs())) }
}

/// One decoded parameter value.
enum Value<'a> {
    Vendor(&'a [u8]),
    Class(&'a [u8]),
    Device(&'a [u8]),
    Digest(SuitDigest),
    Size(u64),
    Slot(u64),
    Content(&'a [u8]),
    Uri(&'a str),
    Source(u64),
    InvokeArgs(&'a [u8]),
    FetchArgs(&'a [u8]),
    EncryptionInfo(&'a [u8]),
    /// suit-parameter-custom: a hint this processor does not use.
    Custom,
}

impl<'a> Value<'a> {
    fn apply(&self, p: &mut Params<'a>, overwrite: bool) {
        fn put<T: Clone>(slot: &mut Option<T>, v: T, overwrite: bool) {
            if overwrite || slot.is_none() {
                *slot = Some(v);
            }
        }
        match self {
            Value::Vendor(v) => put(&mut p.vendor, *v, overwrite),
            Value::Class(v) => put(&mut p.class, *v, overwrite),
            Value::Device(v) => put(&mut p.device, *v, overwrite),
            Value::Digest(v) => put(&mut p.image_digest, v.clone(), overwrite),
            Value::Size(v) => put(&mut p.image_size, *v, overwrite),
            Value::Slot(v) => put(&mut p.component_slot, *v, overwrite),
            Value::Content(v) => put(&mut p.content, *v, overwrite),
            Value::Uri(v) => put(&mut p.uri, *v, overwrite),
            Value::Source(v) => put(&mut p.source_component, *v, overwrite),
            Value::InvokeArgs(v) => put(&mut p.invoke_args, *v, overwrite),
            Value::FetchArgs(v) => put(&mut p.fetch_args, *v, overwrite),
            Value::EncryptionInfo(v) => put(&mut p.encryption_info, *v, overwrite),
            Value::Custom => {}
        }
    }
}

/// Decodes one parameter value by label (§8.4.8), checking its CBOR type.
fn decode_param<'a>(d: &mut Decoder<'a>, label: i64) -> Result<Value<'a>, SuitError> {
    Ok(match label {
        param::VENDOR_IDENTIFIER => {
            // RFC4122_UUID / cbor-pen = #6.112(bstr)
            if d.datatype().ok() == Some(Type::Tag) {
                let tag = d.tag().map_err(|_| SuitError::Malformed("vendor identifier"))?;
                if tag.as_u64() != 112 {
                    return Err(SuitError::Malformed("vendor identifier tag"));
                }
            }
            Value::Vendor(cbor::bytes(d, "vendor identifier")?)
        }
        param::CLASS_IDENTIFIER => Value::Class(cbor::bytes(d, "class identifier")?),
        param::DEVICE_IDENTIFIER => Value::Device(cbor::bytes(d, "device identifier")?),
        param::IMAGE_DIGEST => {
            let inner = cbor::bytes(d, "image digest")?;
            Value::Digest(SuitDigest::decode(inner)?)
        }
        param::IMAGE_SIZE => Value::Size(cbor::uint(d, "image size")?),
        param::COMPONENT_SLOT => Value::Slot(cbor::uint(d, "component slot")?),
        param::CONTENT => Value::Content(cbor::bytes(d, "content")?),
        param::URI => Value::Uri(cbor::text(d, "uri")?),
        param::SOURCE_COMPONENT => Value::Source(cbor::uint(d, "source component")?),
        param::INVOKE_ARGS => Value::InvokeArgs(cbor::bytes(d, "invoke args")?),
        param::FETCH_ARGUMENTS => Value::FetchArgs(cbor::bytes(d, "fetch arguments")?),
        param::ENCRYPTION_INFO => {
            let info = cbor::bytes(d, "encryption info")?;
            cbor::precheck(info)?;
            Value::EncryptionInfo(info)
        }
        l if l < 0 => {
            match d.datatype() {
                Ok(Type::Bool | Type::String | Type::Bytes) => cbor::skip(d, "custom parameter")?,
                _ => {
                    cbor::int(d, "custom parameter")?;
                }
            }
            Value::Custom
        }
        other => return Err(SuitError::UnsupportedParameter(other)),
    })
}

/// The component index named by suit-parameter-source-component, which must differ from the
/// current component (copy and swap, draft-ietf-suit-manifest-34 §8.4.10.5 and §8.4.10.7).
fn source_index(index: usize, params: &Params<'_>, same: &'static str) -> Result<usize, SuitError> {
    let source = params
        .source_component
        .ok_or(SuitError::MissingParameter(param::SOURCE_COMPONENT as u64))?;
    let source_index = usize::try_from(source).map_err(|_| SuitError::ComponentIndex(source))?;
    if source_index == index {
        return Err(SuitError::Malformed(same));
    }
    Ok(source_index)
}
