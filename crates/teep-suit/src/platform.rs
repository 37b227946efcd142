//! The interface between the manifest processor and the device it installs on.
//!
//! draft-ietf-suit-manifest-34 §6 describes the processor as an abstract machine that acts on
//! components; everything that touches storage, the network or executable code is a
//! [`Platform`] call. All writes are staged: nothing becomes visible until [`Platform::commit`]
//! and [`Platform::abort`] drops everything staged since the last commit. The TEEP Agent's
//! software TEE implements this trait over files; a real TEE implements it over its
//! secure storage.

use alloc::vec::Vec;

use teep_cose::SigningKey;
use zeroize::Zeroizing;

use crate::component::ComponentId;
use crate::digest::SuitDigest;
use crate::domain::Authority;
use crate::error::PlatformError;

/// Which identifier condition is being evaluated (draft-ietf-suit-manifest-34 §8.4.8.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Identifier {
    /// suit-condition-vendor-identifier (1), parameter 1.
    Vendor,
    /// suit-condition-class-identifier (2), parameter 2.
    Class,
    /// suit-condition-device-identifier (24), parameter 24.
    Device,
}

/// A payload download in progress, returned by [`Platform::fetch`].
///
/// The processor pulls chunks and streams them into staging while hashing, so a payload is
/// never held in memory as a whole.
pub trait Download {
    /// Reads the next chunk into `buf`; returns the number of bytes read, 0 at the end.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, PlatformError>;
}

/// A download that serves a byte slice it owns; useful for platforms that already hold the
/// payload (tests, caches).
#[derive(Debug, Clone, Default)]
pub struct BytesDownload {
    data: Vec<u8>,
    pos: usize,
}

impl BytesDownload {
    /// Serves `data`.
    pub fn new(data: Vec<u8>) -> Self {
        Self { data, pos: 0 }
    }
}

impl Download for BytesDownload {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, PlatformError> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        let (src, dst) = (rest.get(..n), buf.get_mut(..n));
        if let (Some(src), Some(dst)) = (src, dst) {
            dst.copy_from_slice(src);
        }
        self.pos = self.pos.saturating_add(n);
        Ok(n)
    }
}

/// What [`Platform::commit`] makes visible after a manifest was processed successfully.
#[derive(Debug, Clone, Copy)]
pub struct InstallRecord<'a> {
    /// The manifest's identity: suit-manifest-component-id (draft-ietf-suit-trust-domains §5),
    /// or its first component when the manifest has none.
    pub manifest_id: &'a ComponentId,
    /// suit-manifest-sequence-number of the installed manifest.
    pub sequence_number: u64,
    /// Digest of the bstr-wrapped manifest (as in the authentication wrapper).
    pub manifest_digest: &'a SuitDigest,
    /// The complete authenticated envelope as received (integrated payloads included).
    pub envelope: &'a [u8],
    /// The components the manifest declares (suit-common / suit-components).
    pub components: &'a [ComponentId],
    /// The components that received new staged content during this run.
    pub written: &'a [ComponentId],
}

/// A key the device holds to open encrypted payloads (draft-ietf-suit-firmware-encryption:
/// AES key wrap and ECDH-ES + AES key wrap recipients). Debug never prints key material.
#[non_exhaustive]
pub enum DecryptionKey {
    /// A key-encryption key shared with the distribution system (A128KW/A192KW/A256KW).
    KeyWrap {
        /// The key identifier recipients may name; `None` matches every recipient.
        kid: Option<Vec<u8>>,
        /// The key-encryption key.
        key: Zeroizing<Vec<u8>>,
    },
    /// The device's P-256 private key for ECDH-ES + A*KW recipients.
    Ecdh {
        /// The key identifier recipients may name; `None` matches every recipient.
        kid: Option<Vec<u8>>,
        /// The private key (boxed: a signing key is much larger than the other variant).
        key: alloc::boxed::Box<SigningKey>,
    },
}

impl DecryptionKey {
    /// The key identifier, if any.
    pub fn kid(&self) -> Option<&[u8]> {
        match self {
            DecryptionKey::KeyWrap { kid, .. } | DecryptionKey::Ecdh { kid, .. } => kid.as_deref(),
        }
    }
}

impl core::fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecryptionKey::KeyWrap { kid, key } => {
                write!(f, "DecryptionKey::KeyWrap {{ kid: {kid:?}, len: {} }}", key.len())
            }
            DecryptionKey::Ecdh { kid, key } => {
                write!(f, "DecryptionKey::Ecdh {{ kid: {kid:?}, key: {key:?} }}")
            }
        }
    }
}

/// What the manifest processor needs from the device.
///
/// Contract: every `stage_*` call only changes staged state; [`commit`](Platform::commit)
/// atomically publishes all staged changes together with the manifest record (a crash leaves
/// either the old or the new state); [`abort`](Platform::abort) discards staged state. The
/// processor calls exactly one of them at the end of each run, and never calls `commit` after
/// a failure.
pub trait Platform {
    /// The download type returned by [`fetch`](Platform::fetch).
    type Download: Download;

    /// Starts fetching `uri` (suit-directive-fetch). `args` is suit-parameter-fetch-arguments.
    ///
    /// The platform maps the URI to wherever it may fetch from (a mirror, a local file, the
    /// Broker); it must refuse URIs it is not configured for.
    fn fetch(&mut self, uri: &str, args: Option<&[u8]>) -> Result<Self::Download, PlatformError>;

    /// Fetches a severed member that the envelope does not carry, by reference
    /// (draft-ietf-suit-manifest-34 §8.5): `key` is the manifest member key (e.g. 20 for
    /// suit-install), `digest` the SUIT_Digest the authenticated manifest holds for it and
    /// `reference_uri` the manifest's suit-reference-uri. Returns the member as the digest
    /// covers it (the bstr-wrapped command sequence or text), which the processor checks
    /// against `digest` before using it, or `None` when the platform has no copy: the
    /// manifest then fails with reason severing-unsupported when it needs the member.
    /// Default: `None`.
    fn fetch_severed(
        &mut self,
        reference_uri: Option<&str>,
        key: u64,
        digest: &crate::SuitDigest,
    ) -> Result<Option<Vec<u8>>, PlatformError> {
        let _ = (reference_uri, key, digest);
        Ok(None)
    }

    /// Tells the platform who authorised the manifest whose commands run next (security
    /// domains, [`crate::domain`]): called after authentication and before
    /// [`check_component`](Platform::check_component) for the root manifest, for each
    /// dependency before its commands run (with [`Authority::processed_by`] set), again with
    /// the root's authority when the dependency returns, and with `None` before a removal
    /// without a manifest. A platform with domains refuses, with
    /// [`PlatformError::Unauthorized`], a manifest id, domain or dependency that belongs to
    /// another signer, and checks every later call against this authority until the next
    /// [`commit`](Platform::commit) or [`abort`](Platform::abort).
    ///
    /// Default: no domains; everything is accepted.
    fn set_authority(&mut self, authority: Option<&Authority>) -> Result<(), PlatformError> {
        let _ = authority;
        Ok(())
    }

    /// Whether the manifest may address `component` at all (draft-ietf-suit-manifest-34 §6.2:
    /// unknown components are rejected). Called for every declared component before any
    /// command runs. Default: every component is acceptable.
    fn check_component(&self, component: &ComponentId) -> Result<(), PlatformError> {
        let _ = component;
        Ok(())
    }

    /// Whether the device matches identifier `value` of kind `kind` for `component`
    /// (suit-condition-vendor/class/device-identifier). A device may match several class ids.
    fn matches_identifier(&self, kind: Identifier, component: &ComponentId, value: &[u8]) -> bool;

    /// The active slot of `component` (suit-condition-component-slot), if it has slots.
    fn component_slot(&self, component: &ComponentId) -> Option<u64> {
        let _ = component;
        None
    }

    /// The sequence number of the installed manifest with this identity, if any.
    fn installed_sequence_number(&self, manifest_id: &ComponentId) -> Option<u64>;

    /// Starts a new staged image for `component`, replacing anything staged for it before.
    fn stage_begin(&mut self, component: &ComponentId) -> Result<(), PlatformError>;

    /// Writes `chunk` at `offset` of the staged image of `component`. The processor writes
    /// sequentially from offset 0 after [`stage_begin`](Platform::stage_begin).
    fn stage_write(
        &mut self,
        component: &ComponentId,
        offset: u64,
        chunk: &[u8],
    ) -> Result<(), PlatformError>;

    /// Reads from `component` at `offset`: the staged image if one exists in this run,
    /// otherwise the installed one. Returns 0 at the end; `Err(UnknownComponent)` when the
    /// component has no content at all.
    fn read(
        &mut self,
        component: &ComponentId,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, PlatformError>;

    /// Stages removal of `component` (suit-directive-unlink, draft-ietf-suit-trust-domains).
    fn stage_unlink(&mut self, component: &ComponentId) -> Result<(), PlatformError>;

    /// Stages removal of the manifest `manifest_id` and every component it installed
    /// (TEEP unneeded-manifest-list, draft-ietf-teep-protocol-26 §4.4).
    fn stage_uninstall(&mut self, manifest_id: &ComponentId) -> Result<(), PlatformError>;

    /// Transfers execution to `component` (suit-directive-invoke). Only runs when the caller
    /// asked for the invoke sequence.
    fn invoke(&mut self, component: &ComponentId, args: Option<&[u8]>)
    -> Result<(), PlatformError>;

    /// Atomically publishes everything staged, and records the manifest when `record` is
    /// `Some` (install) or forgets it when staged by
    /// [`stage_uninstall`](Platform::stage_uninstall) (`None`).
    fn commit(&mut self, record: Option<&InstallRecord<'_>>) -> Result<(), PlatformError>;

    /// Drops everything staged since the last commit.
    fn abort(&mut self);

    /// Keys for encrypted payloads (suit-parameter-encryption-info). Default: none, so an
    /// encrypted payload fails with [`crate::SuitError::NoDecryptionKey`].
    fn decryption_keys(&self) -> &[DecryptionKey] {
        &[]
    }

    /// Stages the record of a dependency manifest that suit-directive-process-dependency ran
    /// during suit-install (draft-ietf-suit-trust-domains §6.3); [`commit`](Platform::commit)
    /// publishes it together with the root record. A platform that keeps reference counts
    /// counts `record.manifest_id` as referenced by the root manifest.
    ///
    /// Default: dependency manifests are not supported.
    fn stage_dependency_record(&mut self, record: &InstallRecord<'_>) -> Result<(), PlatformError> {
        let _ = record;
        Err(PlatformError::Unsupported("dependency manifests"))
    }

    /// The envelope of the installed manifest `manifest_id`, if the platform keeps it; used
    /// to run its suit-uninstall section (draft-ietf-suit-trust-domains §5.2) before removal.
    /// Default: not kept, so uninstall only removes the components.
    fn installed_envelope(&mut self, manifest_id: &ComponentId) -> Option<Vec<u8>> {
        let _ = manifest_id;
        None
    }
}
