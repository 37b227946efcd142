//! Builds signed SUIT envelopes for one Trusted Component (feature `std`).
//!
//! The layout follows the TEEP examples of draft-ietf-teep-protocol-26 Appendix (suit_uri,
//! suit_integrated): the shared sequence sets vendor-id, class-id, image digest and size and
//! checks vendor and class; suit-install sets the URI, fetches and checks the image; suit-
//! uninstall unlinks the component (draft-ietf-suit-trust-domains). The manifest digest is
//! SHA-256 over the bstr-wrapped manifest; the authentication block is a COSE_Sign1 with the
//! encoded SUIT_Digest as detached payload (draft-ietf-suit-manifest-34 §8.3).

use std::string::String;
use std::vec::Vec;

use minicbor::Encoder;
use teep_cose::{Algorithm, PublicKey, RecipientSpec, SigningKey};

use crate::cbor;
use crate::command::{code, param};
use crate::component::ComponentId;
use crate::digest::SuitDigest;
use crate::envelope::ENVELOPE_TAG;
use crate::error::SuitError;
use crate::manifest::key;

/// Reporting policy used on every condition and directive: record on success and failure.
const POLICY: u64 = 15;

/// Where the payload comes from.
#[derive(Clone, Debug)]
pub enum Payload {
    /// Carried in the envelope under `key` (which must start with `#`).
    Integrated {
        /// Envelope key, e.g. `"#tc"`.
        key: String,
        /// The payload bytes.
        data: Vec<u8>,
    },
    /// Fetched by the device from `uri`.
    Uri {
        /// The URI.
        uri: String,
        /// SHA-256 digest of the payload.
        digest: SuitDigest,
        /// Payload size in bytes.
        size: u64,
    },
}

impl Payload {
    /// An integrated payload under the key `"#tc"`.
    pub fn integrated(data: Vec<u8>) -> Self {
        Payload::Integrated { key: "#tc".into(), data }
    }

    /// A payload the device fetches from `uri`; digest and size are computed from `data`.
    pub fn uri_for(uri: impl Into<String>, data: &[u8]) -> Self {
        Payload::Uri { uri: uri.into(), digest: SuitDigest::sha256(data), size: data.len() as u64 }
    }
}

/// Builder of a signed SUIT envelope installing one component.
#[derive(Clone, Debug)]
pub struct ManifestBuilder {
    component: ComponentId,
    sequence_number: u64,
    manifest_component_id: Option<ComponentId>,
    vendor_id: Option<Vec<u8>>,
    class_id: Option<Vec<u8>>,
    payload: Option<Payload>,
    description: Option<String>,
    reference_uri: Option<String>,
    tagged: bool,
    with_kid: bool,
    /// Digest and size of the plaintext when the payload is encrypted.
    plaintext: Option<(SuitDigest, u64)>,
    /// suit-parameter-encryption-info for the (encrypted) integrated payload.
    encryption_info: Option<Vec<u8>>,
    /// Further components (index 1, 2, ...) with their payloads.
    extra: Vec<(ComponentId, Payload)>,
    /// Dependency manifests (component indices after the components).
    dependencies: Vec<Dependency>,
}

/// A dependency manifest (draft-ietf-suit-trust-domains §5): its signed envelope, carried in
/// the root envelope under `#dep<N>` or fetched from `uri`. The root's
/// suit-dependency-resolution fetches it and checks its manifest digest; suit-install checks
/// dependency-integrity and runs process-dependency before installing the root's components.
#[derive(Clone, Debug)]
pub struct Dependency {
    /// The dependency's signed SUIT envelope.
    pub envelope: Vec<u8>,
    /// suit-dependency-prefix (default: the dependency's manifest-component-id).
    pub prefix: Option<ComponentId>,
    /// Where the device fetches it; `None`: integrated into the root envelope.
    pub uri: Option<String>,
}

/// A dependency ready to encode: its manifest digest, size and where it comes from.
struct ResolvedDependency<'a> {
    dependency: &'a Dependency,
    digest: SuitDigest,
    uri: String,
    prefix: ComponentId,
}

impl ManifestBuilder {
    /// A manifest installing `component` with `sequence_number`.
    pub fn new(component: ComponentId, sequence_number: u64) -> Self {
        Self {
            component,
            sequence_number,
            manifest_component_id: None,
            vendor_id: None,
            class_id: None,
            payload: None,
            description: None,
            reference_uri: None,
            tagged: false,
            with_kid: true,
            encryption_info: None,
            plaintext: None,
            extra: Vec::new(),
            dependencies: Vec::new(),
        }
    }

    /// A further component (index 1, 2, ... in the order added) installed from `payload`
    /// with the same vendor and class identifiers. Integrated payloads need distinct keys.
    pub fn component(mut self, id: ComponentId, payload: Payload) -> Self {
        self.extra.push((id, payload));
        self
    }

    /// A dependency manifest, processed before the components are installed.
    pub fn dependency(mut self, dependency: Dependency) -> Self {
        self.dependencies.push(dependency);
        self
    }

    fn resolved_dependencies(&self) -> Result<Vec<ResolvedDependency<'_>>, SuitError> {
        let mut out = Vec::new();
        for (i, dependency) in self.dependencies.iter().enumerate() {
            let env = crate::Envelope::decode(&dependency.envelope)?;
            let digest = env.checked_manifest_digest()?;
            let uri = dependency.uri.clone().unwrap_or_else(|| std::format!("#dep{i}"));
            let prefix = match &dependency.prefix {
                Some(p) => p.clone(),
                None => env.inspect_unauthenticated()?.manifest_component_id.ok_or(
                    SuitError::InvalidInput(
                        "a dependency needs a prefix or a manifest-component-id",
                    ),
                )?,
            };
            out.push(ResolvedDependency { dependency, digest, uri, prefix });
        }
        Ok(out)
    }

    /// Encrypts the integrated payload for `recipient` (ECDH-ES + A128KW, COSE_KDF_Context
    /// other 'SUIT Payload Encryption', draft-ietf-suit-firmware-encryption) with content
    /// algorithm `content_alg` (A128GCM, A256GCM, ChaCha20/Poly1305, A128CTR ...). The
    /// envelope then carries the ciphertext and the install sequence passes the
    /// SUIT_Encryption_Info with suit-directive-fetch; image digest and size stay those of
    /// the plaintext. Call after [`payload`](Self::payload).
    pub fn encrypt_for<R: rand_core::CryptoRng + ?Sized>(
        self,
        rng: &mut R,
        recipient: &PublicKey,
        kid: Option<&[u8]>,
        content_alg: Algorithm,
    ) -> Result<Self, SuitError> {
        let spec = RecipientSpec::EcdhEsKeyWrap {
            alg: Algorithm::ECDH_ES_A128KW,
            recipient,
            kid,
            other: Some(crate::interpreter::PAYLOAD_CONTEXT),
        };
        self.encrypt_with(rng, &[spec], content_alg)
    }

    /// Like [`encrypt_for`](Self::encrypt_for) with a shared key-encryption key (A128KW for a
    /// 16-byte key).
    pub fn encrypt_with_kek<R: rand_core::CryptoRng + ?Sized>(
        self,
        rng: &mut R,
        kek: &[u8],
        kid: Option<&[u8]>,
        content_alg: Algorithm,
    ) -> Result<Self, SuitError> {
        self.encrypt_with(rng, &[RecipientSpec::KeyWrap { kek, kid }], content_alg)
    }

    fn encrypt_with<R: rand_core::CryptoRng + ?Sized>(
        mut self,
        rng: &mut R,
        recipients: &[RecipientSpec<'_>],
        content_alg: Algorithm,
    ) -> Result<Self, SuitError> {
        let Some(Payload::Integrated { key, data }) = self.payload.take() else {
            return Err(SuitError::InvalidInput("only integrated payloads can be encrypted"));
        };
        let out = teep_cose::encrypt(rng, &data, content_alg, recipients, &[], true)?;
        let ciphertext = out
            .detached_ciphertext
            .ok_or(SuitError::InvalidInput("encryption gave no detached ciphertext"))?;
        self.plaintext = Some((SuitDigest::sha256(&data), data.len() as u64));
        self.encryption_info = Some(out.message);
        self.payload = Some(Payload::Integrated { key, data: ciphertext });
        Ok(self)
    }

    /// suit-manifest-component-id (the TEEP manifest identity).
    pub fn manifest_component_id(mut self, id: ComponentId) -> Self {
        self.manifest_component_id = Some(id);
        self
    }

    /// suit-parameter-vendor-identifier (a 16-byte UUID), checked by the shared sequence.
    pub fn vendor_id(mut self, id: impl Into<Vec<u8>>) -> Self {
        self.vendor_id = Some(id.into());
        self
    }

    /// suit-parameter-class-identifier (a 16-byte UUID), checked by the shared sequence.
    pub fn class_id(mut self, id: impl Into<Vec<u8>>) -> Self {
        self.class_id = Some(id.into());
        self
    }

    /// The payload to install.
    pub fn payload(mut self, payload: Payload) -> Self {
        self.payload = Some(payload);
        self
    }

    /// suit-text manifest description (English), carried inline.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    /// suit-reference-uri.
    pub fn reference_uri(mut self, uri: impl Into<String>) -> Self {
        self.reference_uri = Some(uri.into());
        self
    }

    /// Whether to wrap the envelope in tag 107 (default: untagged, like the TEEP examples).
    pub fn tagged(mut self, tagged: bool) -> Self {
        self.tagged = tagged;
        self
    }

    /// Whether the COSE_Sign1 carries the RFC 9679 thumbprint of the key as kid (default).
    pub fn with_kid(mut self, with_kid: bool) -> Self {
        self.with_kid = with_kid;
        self
    }

    /// The encoded SUIT_Manifest (not yet bstr-wrapped).
    pub fn build_manifest(&self) -> Result<Vec<u8>, SuitError> {
        let payload = self.payload.as_ref().ok_or(SuitError::InvalidInput("no payload"))?;
        let (vendor, class) = match (&self.vendor_id, &self.class_id) {
            (Some(v), Some(c)) => (v, c),
            _ => return Err(SuitError::InvalidInput("vendor and class identifiers are required")),
        };
        let (digest, size) = match (payload, &self.plaintext) {
            // Encrypted: image digest and size describe the plaintext.
            (_, Some(plain)) => plain.clone(),
            (Payload::Integrated { key, data }, None) => {
                if !key.starts_with('#') {
                    return Err(SuitError::InvalidInput(
                        "integrated payload key must start with #",
                    ));
                }
                (SuitDigest::sha256(data), data.len() as u64)
            }
            (Payload::Uri { digest, size, .. }, None) => (digest.clone(), *size),
        };

        let single = self.extra.is_empty() && self.dependencies.is_empty();
        let mut resolution = None;
        let (common, install) = if single {
            (self.common(vendor, class, &digest, size), self.install(payload))
        } else {
            let mut components = std::vec![(&self.component, digest, size)];
            for (id, p) in &self.extra {
                match p {
                    Payload::Integrated { key, data } if key.starts_with('#') => {
                        components.push((id, SuitDigest::sha256(data), data.len() as u64))
                    }
                    Payload::Integrated { .. } => {
                        return Err(SuitError::InvalidInput(
                            "integrated payload key must start with #",
                        ));
                    }
                    Payload::Uri { digest, size, .. } => {
                        components.push((id, digest.clone(), *size))
                    }
                }
            }
            let mut keys: Vec<&str> = self.payloads().map(|(k, _)| k).collect();
            keys.sort_unstable();
            if keys.windows(2).any(|w| w.first() == w.get(1)) {
                return Err(SuitError::InvalidInput("integrated payload keys must be distinct"));
            }
            let deps = self.resolved_dependencies()?;
            if !deps.is_empty() {
                resolution = Some(self.dependency_resolution(components.len(), &deps));
            }
            (
                self.common_multi(vendor, class, &components, &deps),
                self.install_multi(payload, components.len(), &deps),
            )
        };
        let uninstall = sequence(|e| {
            command(e, code::UNLINK, POLICY);
        });
        let text = self.description.as_deref().map(text_map);

        let mut e = cbor::encoder();
        let members = 5
            + u64::from(self.reference_uri.is_some())
            + u64::from(self.manifest_component_id.is_some())
            + u64::from(text.is_some())
            + u64::from(resolution.is_some());
        cbor::infallible(e.map(members));
        cbor::infallible(e.u64(key::VERSION).and_then(|e| e.u64(1)));
        cbor::infallible(e.u64(key::SEQUENCE_NUMBER).and_then(|e| e.u64(self.sequence_number)));
        cbor::infallible(e.u64(key::COMMON).and_then(|e| e.bytes(&common)));
        if let Some(uri) = &self.reference_uri {
            cbor::infallible(e.u64(key::REFERENCE_URI).and_then(|e| e.str(uri)));
        }
        if let Some(id) = &self.manifest_component_id {
            cbor::infallible(e.u64(key::MANIFEST_COMPONENT_ID));
            id.encode_into(&mut e);
        }
        if let Some(resolution) = &resolution {
            cbor::infallible(e.u64(key::DEPENDENCY_RESOLUTION).and_then(|e| e.bytes(resolution)));
        }
        cbor::infallible(e.u64(key::INSTALL).and_then(|e| e.bytes(&install)));
        if let Some(text) = &text {
            cbor::infallible(e.u64(key::TEXT).and_then(|e| e.bytes(text)));
        }
        cbor::infallible(e.u64(key::UNINSTALL).and_then(|e| e.bytes(&uninstall)));
        Ok(e.into_writer())
    }

    /// Builds and signs the envelope with `key` (algorithm: the key's default, ESP256 or
    /// Ed25519, unless `alg` is given).
    pub fn sign(&self, key: &SigningKey, alg: Option<Algorithm>) -> Result<Vec<u8>, SuitError> {
        let alg = alg.unwrap_or_else(|| key.default_algorithm());
        let kid = self.with_kid.then(|| key.public_key().thumbprint());
        self.assemble(|digest| {
            teep_cose::sign1_detached(digest, key, alg, kid.as_ref().map(|k| &k[..]), &[], true)
        })
    }

    /// Builds the envelope authenticated by a COSE_Mac0 (HMAC 256/256) under a shared key of
    /// at least 32 bytes, with an optional kid.
    pub fn sign_mac(&self, key: &[u8], kid: Option<&[u8]>) -> Result<Vec<u8>, SuitError> {
        self.assemble(|digest| {
            teep_cose::mac0(digest, key, Algorithm::HMAC_256_256, kid, &[], true, true)
        })
    }

    fn assemble(
        &self,
        authenticate: impl FnOnce(&[u8]) -> Result<Vec<u8>, teep_cose::Error>,
    ) -> Result<Vec<u8>, SuitError> {
        let manifest = self.build_manifest()?;
        let mut wrapped = cbor::encoder();
        cbor::infallible(wrapped.bytes(&manifest));
        let wrapped = wrapped.into_writer();
        let digest = SuitDigest::sha256(&wrapped).encode();
        let block = authenticate(&digest)?;

        let mut auth = cbor::encoder();
        cbor::infallible(auth.array(2));
        cbor::infallible(auth.bytes(&digest));
        cbor::infallible(auth.bytes(&block));
        let auth = auth.into_writer();

        let mut e = cbor::encoder();
        if self.tagged {
            cbor::infallible(e.tag(minicbor::data::Tag::new(ENVELOPE_TAG)));
        }
        let mut integrated: Vec<(&str, &[u8])> = self.payloads().collect();
        let deps = self.resolved_dependencies()?;
        for d in &deps {
            if d.dependency.uri.is_none() {
                integrated.push((&d.uri, &d.dependency.envelope));
            }
        }
        // Deterministic order of the text keys (shorter first, then bytewise).
        integrated.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then(a.0.cmp(b.0)));
        cbor::infallible(e.map(2 + integrated.len() as u64));
        cbor::infallible(e.u64(2).and_then(|e| e.bytes(&auth)));
        cbor::infallible(e.u64(3));
        e.writer_mut().extend_from_slice(&wrapped);
        for (k, data) in integrated {
            cbor::infallible(e.str(k).and_then(|e| e.bytes(data)));
        }
        Ok(e.into_writer())
    }

    /// The integrated payloads of the components: (envelope key, bytes).
    fn payloads(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.payload.iter().chain(self.extra.iter().map(|(_, p)| p)).filter_map(|p| match p {
            Payload::Integrated { key, data } => Some((key.as_str(), data.as_slice())),
            Payload::Uri { .. } => None,
        })
    }

    /// suit-common with several components and dependencies.
    fn common_multi(
        &self,
        vendor: &[u8],
        class: &[u8],
        components: &[(&ComponentId, SuitDigest, u64)],
        deps: &[ResolvedDependency<'_>],
    ) -> Vec<u8> {
        let shared = sequence(|e| {
            for (i, (_, digest, size)) in components.iter().enumerate() {
                cbor::infallible(e.i64(code::SET_COMPONENT_INDEX).and_then(|e| e.u64(i as u64)));
                cbor::infallible(e.i64(code::OVERRIDE_PARAMETERS));
                cbor::infallible(e.map(4));
                cbor::infallible(e.i64(param::VENDOR_IDENTIFIER).and_then(|e| e.bytes(vendor)));
                cbor::infallible(e.i64(param::CLASS_IDENTIFIER).and_then(|e| e.bytes(class)));
                cbor::infallible(
                    e.i64(param::IMAGE_DIGEST).and_then(|e| e.bytes(&digest.encode())),
                );
                cbor::infallible(e.i64(param::IMAGE_SIZE).and_then(|e| e.u64(*size)));
                command(e, code::VENDOR_IDENTIFIER, POLICY);
                command(e, code::CLASS_IDENTIFIER, POLICY);
            }
        });
        let mut e = cbor::encoder();
        cbor::infallible(e.map(2 + u64::from(!deps.is_empty())));
        if !deps.is_empty() {
            cbor::infallible(e.u64(1).and_then(|e| e.map(deps.len() as u64)));
            for (j, d) in deps.iter().enumerate() {
                cbor::infallible(e.u64((components.len() + j) as u64));
                cbor::infallible(e.map(1).and_then(|e| e.u64(1)));
                d.prefix.encode_into(&mut e);
            }
        }
        cbor::infallible(e.u64(2).and_then(|e| e.array(components.len() as u64)));
        for (id, _, _) in components {
            id.encode_into(&mut e);
        }
        cbor::infallible(e.u64(4).and_then(|e| e.bytes(&shared)));
        e.into_writer()
    }

    /// suit-dependency-resolution: fetch each dependency and check its manifest digest.
    fn dependency_resolution(&self, first: usize, deps: &[ResolvedDependency<'_>]) -> Vec<u8> {
        sequence(|e| {
            for (j, d) in deps.iter().enumerate() {
                let index = (first + j) as u64;
                cbor::infallible(e.i64(code::SET_COMPONENT_INDEX).and_then(|e| e.u64(index)));
                cbor::infallible(e.i64(code::OVERRIDE_PARAMETERS));
                cbor::infallible(e.map(3));
                cbor::infallible(
                    e.i64(param::IMAGE_DIGEST).and_then(|e| e.bytes(&d.digest.encode())),
                );
                let size = d.dependency.envelope.len() as u64;
                cbor::infallible(e.i64(param::IMAGE_SIZE).and_then(|e| e.u64(size)));
                cbor::infallible(e.i64(param::URI).and_then(|e| e.str(&d.uri)));
                command(e, code::FETCH, POLICY);
                command(e, code::IMAGE_MATCH, POLICY);
            }
        })
    }

    /// suit-install with dependencies first, then every component.
    fn install_multi(
        &self,
        primary: &Payload,
        count: usize,
        deps: &[ResolvedDependency<'_>],
    ) -> Vec<u8> {
        let info = self.encryption_info.as_deref();
        sequence(|e| {
            for (j, d) in deps.iter().enumerate() {
                let index = (count + j) as u64;
                cbor::infallible(e.i64(code::SET_COMPONENT_INDEX).and_then(|e| e.u64(index)));
                cbor::infallible(e.i64(code::OVERRIDE_PARAMETERS).and_then(|e| e.map(1)));
                cbor::infallible(
                    e.i64(param::IMAGE_DIGEST).and_then(|e| e.bytes(&d.digest.encode())),
                );
                command(e, code::DEPENDENCY_INTEGRITY, POLICY);
                command(e, code::PROCESS_DEPENDENCY, POLICY);
            }
            let payloads = core::iter::once(primary).chain(self.extra.iter().map(|(_, p)| p));
            for (i, p) in payloads.enumerate() {
                let uri: &str = match p {
                    Payload::Integrated { key, .. } => key,
                    Payload::Uri { uri, .. } => uri,
                };
                let info = if i == 0 { info } else { None };
                cbor::infallible(e.i64(code::SET_COMPONENT_INDEX).and_then(|e| e.u64(i as u64)));
                cbor::infallible(e.i64(code::OVERRIDE_PARAMETERS));
                cbor::infallible(e.map(1 + u64::from(info.is_some())));
                if let Some(info) = info {
                    cbor::infallible(e.i64(param::ENCRYPTION_INFO).and_then(|e| e.bytes(info)));
                }
                cbor::infallible(e.i64(param::URI).and_then(|e| e.str(uri)));
                command(e, code::FETCH, POLICY);
                command(e, code::IMAGE_MATCH, POLICY);
            }
        })
    }

    fn common(&self, vendor: &[u8], class: &[u8], digest: &SuitDigest, size: u64) -> Vec<u8> {
        let shared = sequence(|e| {
            cbor::infallible(e.i64(code::OVERRIDE_PARAMETERS));
            cbor::infallible(e.map(4));
            cbor::infallible(e.i64(param::VENDOR_IDENTIFIER).and_then(|e| e.bytes(vendor)));
            cbor::infallible(e.i64(param::CLASS_IDENTIFIER).and_then(|e| e.bytes(class)));
            cbor::infallible(e.i64(param::IMAGE_DIGEST).and_then(|e| e.bytes(&digest.encode())));
            cbor::infallible(e.i64(param::IMAGE_SIZE).and_then(|e| e.u64(size)));
            command(e, code::VENDOR_IDENTIFIER, POLICY);
            command(e, code::CLASS_IDENTIFIER, POLICY);
        });
        let mut e = cbor::encoder();
        cbor::infallible(e.map(2));
        cbor::infallible(e.u64(2).and_then(|e| e.array(1)));
        self.component.encode_into(&mut e);
        cbor::infallible(e.u64(4).and_then(|e| e.bytes(&shared)));
        e.into_writer()
    }

    fn install(&self, payload: &Payload) -> Vec<u8> {
        let uri: &str = match payload {
            Payload::Integrated { key, .. } => key,
            Payload::Uri { uri, .. } => uri,
        };
        let info = self.encryption_info.as_deref();
        sequence(|e| {
            cbor::infallible(e.i64(code::OVERRIDE_PARAMETERS));
            cbor::infallible(e.map(1 + u64::from(info.is_some())));
            if let Some(info) = info {
                cbor::infallible(e.i64(param::ENCRYPTION_INFO).and_then(|e| e.bytes(info)));
            }
            cbor::infallible(e.i64(param::URI).and_then(|e| e.str(uri)));
            command(e, code::FETCH, POLICY);
            command(e, code::IMAGE_MATCH, POLICY);
        })
    }
}

/// Encodes a command sequence; `body` writes the pairs, the array header is computed.
fn sequence(body: impl FnOnce(&mut Encoder<Vec<u8>>)) -> Vec<u8> {
    let mut inner = cbor::encoder();
    body(&mut inner);
    let inner = inner.into_writer();
    // Count the items written: walk the encoded pairs.
    let mut d = minicbor::Decoder::new(&inner);
    let mut items = 0u64;
    while d.position() < inner.len() {
        if d.skip().is_err() {
            break;
        }
        items += 1;
    }
    let mut e = cbor::encoder();
    cbor::infallible(e.array(items));
    e.writer_mut().extend_from_slice(&inner);
    e.into_writer()
}

fn command(e: &mut Encoder<Vec<u8>>, command: i64, policy: u64) {
    cbor::infallible(e.i64(command).and_then(|e| e.u64(policy)));
}

/// `{"en": {1: description}}` (SUIT_Text_Map).
fn text_map(description: &str) -> Vec<u8> {
    let mut e = cbor::encoder();
    cbor::infallible(e.map(1).and_then(|e| e.str("en")).and_then(|e| e.map(1)));
    cbor::infallible(e.u64(1).and_then(|e| e.str(description)));
    e.into_writer()
}
