//! Sealed files of the software TEE: every private key and every file of the component store
//! is encrypted and authenticated under the platform key ([`crate::PlatformKey`]).
//!
//! Keys. The platform's 32-byte sealing key is the input of HKDF-SHA256 (RFC 5869), which
//! derives one key per purpose (`keys`: the Agent's private and secret keys; `store`: the
//! component store). Each sealed file has a random 32-byte salt in its header; HKDF with that
//! salt derives the file's own AES-256-GCM key from the purpose key, so no two files share a
//! key and random nonces are not needed beyond the salt.
//!
//! Format (one for all files, version 1):
//!
//! ```text
//! header  = "TEEPSEAL" | version (1 byte) | role (1 byte) | salt (32 bytes)
//! chunk i = AES-256-GCM(file key, nonce_i, aad, plaintext[i * 64 KiB ..][.. 64 KiB]) | tag
//! nonce_i = 0x000000 | i (u64, big endian) | last (0x01 on the final chunk, else 0x00)
//! aad     = header | logical name
//! ```
//!
//! This is the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár, "Online
//! Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", 2015): the chunk counter
//! in the nonce detects reordering, the last-chunk flag detects truncation and extension at a
//! chunk boundary, and a file is always at least one (possibly empty) final chunk. The
//! associated data binds the file's role (image, manifest record, key, ...) and its logical
//! name (the file stem of its component or manifest id, or the key file's name), so a file
//! moved, swapped or renamed fails to open. Images are written and read one chunk at a time:
//! memory stays bounded by one chunk whatever the image size, and a read at any offset
//! decrypts only the chunk that holds it.
//!
//! What sealing alone does not detect (the component store's sealed index adds the first):
//! replacing a file by an older sealed copy of itself, and rolling back the whole state
//! directory (needs the platform's monotonic counter, [`crate::MonotonicCounter`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit, Nonce, Tag};
use hkdf::Hkdf;
use rand_core::Rng as _;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::sealing::{PlatformKey, PlatformKeyError, SEALING_KEY_LEN, SealingKey};

/// File name of the software TEE's sealing key in the state directory (32 random bytes,
/// mode 0600, created by `teep agent init`).
pub const SEALING_KEY_FILE: &str = "sealing.key";

/// Plaintext bytes per sealed chunk.
pub const CHUNK_LEN: usize = 64 * 1024;

const TAG_LEN: usize = 16;
const MAGIC: &[u8; 8] = b"TEEPSEAL";
const VERSION: u8 = 1;
/// Length of a file's random salt.
pub const SALT_LEN: usize = 32;
/// Length of the header of a sealed file.
pub const HEADER_LEN: usize = MAGIC.len() + 2 + SALT_LEN;

/// A sealed file's random salt: also its identity in the store's index.
pub type Salt = [u8; SALT_LEN];

/// What a sealed file holds; part of its associated data.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A private key (PKCS#8 PEM).
    PrivateKey,
    /// A JSON list of secret keys (AES key-wrap or HMAC keys).
    SecretKeys,
    /// A component image.
    Image,
    /// A component image's metadata.
    ImageMeta,
    /// An installed manifest's record.
    ManifestRecord,
    /// An installed manifest's envelope.
    Envelope,
    /// A manifest id's highest installed sequence number.
    Sequence,
    /// The commit journal.
    Journal,
    /// The component store's index.
    Index,
}

impl Role {
    fn code(self) -> u8 {
        match self {
            Self::PrivateKey => 1,
            Self::SecretKeys => 2,
            Self::Image => 3,
            Self::ImageMeta => 4,
            Self::ManifestRecord => 5,
            Self::Envelope => 6,
            Self::Sequence => 7,
            Self::Journal => 8,
            Self::Index => 9,
        }
    }

    fn is_key(self) -> bool {
        matches!(self, Self::PrivateKey | Self::SecretKeys)
    }

    /// What the role is called in messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::PrivateKey => "private key",
            Self::SecretKeys => "secret keys",
            Self::Image => "component image",
            Self::ImageMeta => "image metadata",
            Self::ManifestRecord => "manifest record",
            Self::Envelope => "manifest envelope",
            Self::Sequence => "sequence number",
            Self::Journal => "journal",
            Self::Index => "store index",
        }
    }
}

/// Errors sealing or opening a sealed file.
#[non_exhaustive]
#[derive(Debug)]
pub enum SealError {
    /// A file operation failed.
    Io(io::Error),
    /// The file does not start with a sealed-file header: damaged, or not written by the
    /// Agent's sealed storage (its own files always have one).
    NotSealed,
    /// The file failed its integrity check: tampered, truncated, extended, moved, replaced, or
    /// sealed under another sealing key. The text says which check failed.
    Tampered(String),
    /// The platform key is unavailable.
    Key(String),
}

impl std::fmt::Display for SealError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "sealed file: {e}"),
            Self::NotSealed => f.write_str(
                "failed its integrity check (no sealed-file header): tampered or damaged",
            ),
            Self::Tampered(what) => write!(
                f,
                "failed its integrity check ({what}): tampered or damaged (modified, moved, \
                 replaced, or sealed under another sealing key)"
            ),
            Self::Key(e) => write!(f, "sealing key: {e}"),
        }
    }
}

impl std::error::Error for SealError {}

impl From<io::Error> for SealError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<PlatformKeyError> for SealError {
    fn from(e: PlatformKeyError) -> Self {
        Self::Key(e.0)
    }
}

/// Number of chunks of a plaintext of `len` bytes (at least one, the final chunk).
fn chunk_count(len: u64) -> u64 {
    len.div_ceil(CHUNK_LEN as u64).max(1)
}

/// Size of the sealed file of a plaintext of `len` bytes.
pub fn sealed_len(len: u64) -> u64 {
    let tags = chunk_count(len).saturating_mul(TAG_LEN as u64);
    (HEADER_LEN as u64).saturating_add(len).saturating_add(tags)
}

fn nonce(index: u64, last: bool) -> Nonce<Aes256Gcm> {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&index.to_be_bytes());
    n[11] = u8::from(last);
    Nonce::<Aes256Gcm>::from(n)
}

/// The software TEE's [`PlatformKey`]: a key file in the state directory. It is protected
/// only by the file's permissions (mode 0600, a directory of mode 0700); a real TEE derives
/// its key from hardware instead (docs/porting.md, "Sealed storage").
#[derive(Clone, Debug)]
pub struct FileKey {
    path: PathBuf,
}

impl FileKey {
    /// The key file of the state directory `dir`.
    pub fn new(dir: &Path) -> Self {
        Self { path: dir.join(SEALING_KEY_FILE) }
    }

    /// Whether the key file exists.
    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    /// Creates the key file with 32 random bytes (mode 0600); refuses to overwrite one.
    pub fn create(&self) -> io::Result<()> {
        let mut key = Zeroizing::new([0u8; SEALING_KEY_LEN]);
        super::rng().fill_bytes(key.as_mut());
        let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&self.path)?;
        f.write_all(key.as_ref())?;
        f.sync_all()
    }
}

impl PlatformKey for FileKey {
    fn sealing_key(&self) -> Result<SealingKey, PlatformKeyError> {
        let fail = |what: String| PlatformKeyError(format!("{}: {what}", self.path.display()));
        let meta = fs::metadata(&self.path).map_err(|e| fail(e.to_string()))?;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(fail(format!("mode {mode:o}; it must not be group/world accessible")));
        }
        let mut bytes = Zeroizing::new([0u8; SEALING_KEY_LEN]);
        let mut file = File::open(&self.path).map_err(|e| fail(e.to_string()))?;
        let mut extra = [0u8; 1];
        let complete = file.read_exact(bytes.as_mut()).is_ok();
        if !complete || file.read(&mut extra).map_err(|e| fail(e.to_string()))? != 0 {
            return Err(fail(format!("must hold exactly {SEALING_KEY_LEN} bytes")));
        }
        Ok(SealingKey::new(*bytes))
    }
}

/// Seals and opens files under the purpose keys derived from a platform key.
pub struct Sealer {
    keys: Zeroizing<[u8; 32]>,
    store: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

fn hkdf(ikm: &[u8], salt: Option<&[u8]>, info: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    // safe: 32 bytes is far below HKDF-SHA256's 255 * 32 output limit.
    #[allow(clippy::expect_used)]
    Hkdf::<Sha256>::new(salt, ikm).expand(info, out.as_mut()).expect("32-byte HKDF output");
    out
}

impl Sealer {
    /// Derives the per-purpose keys from `key`.
    pub fn new(key: &SealingKey) -> Self {
        Self {
            keys: hkdf(key.bytes(), None, b"teep-agent seal v1 keys"),
            store: hkdf(key.bytes(), None, b"teep-agent seal v1 store"),
        }
    }

    /// Asks `platform` for its key.
    pub fn from_platform(platform: &dyn PlatformKey) -> Result<Self, SealError> {
        Ok(Self::new(&platform.sealing_key()?))
    }

    /// The sealer of the state directory `dir` (its [`FileKey`]).
    pub fn for_dir(dir: &Path) -> Result<Self, SealError> {
        Self::from_platform(&FileKey::new(dir))
    }

    fn cipher(&self, role: Role, salt: &Salt) -> Aes256Gcm {
        let purpose = if role.is_key() { &self.keys } else { &self.store };
        let key = hkdf(purpose.as_ref(), Some(salt), b"teep-agent seal v1 file");
        Aes256Gcm::new(&(*key).into())
    }

    fn header(role: Role, salt: &Salt) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..8].copy_from_slice(MAGIC);
        h[8] = VERSION;
        h[9] = role.code();
        h[10..].copy_from_slice(salt);
        h
    }

    /// Checks a header's magic, version and role and returns its salt.
    fn parse_header(role: Role, header: &[u8]) -> Result<Salt, SealError> {
        if header.len() < HEADER_LEN || !header.starts_with(MAGIC) {
            return Err(SealError::NotSealed);
        }
        if header.get(8) != Some(&VERSION) {
            return Err(SealError::Tampered("unknown sealing format version".into()));
        }
        if header.get(9) != Some(&role.code()) {
            return Err(SealError::Tampered(format!("not a sealed {}", role.describe())));
        }
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(header.get(10..HEADER_LEN).unwrap_or(&[0; SALT_LEN]));
        Ok(salt)
    }

    /// Seals `plaintext` as a file of `role` named `name`; returns the file and its salt.
    pub fn seal(&self, role: Role, name: &str, plaintext: &[u8]) -> (Vec<u8>, Salt) {
        let capacity = sealed_len(plaintext.len() as u64) as usize;
        let mut writer = self.writer(role, name, Vec::with_capacity(capacity));
        // Writing to a Vec cannot fail, nor can sealing a chunk of at most 64 KiB.
        let _ = writer.write_all(plaintext).and_then(|()| writer.finish().map(|_| ()));
        (writer.out, writer.salt)
    }

    /// Opens a sealed file of `role` named `name` held in memory.
    pub fn open(
        &self,
        role: Role,
        name: &str,
        sealed: &[u8],
    ) -> Result<(Zeroizing<Vec<u8>>, Salt), SealError> {
        let salt = Self::parse_header(role, sealed)?;
        let cipher = self.cipher(role, &salt);
        let aad = [&sealed[..HEADER_LEN], name.as_bytes()].concat();
        let body = &sealed[HEADER_LEN..];
        if body.len() < TAG_LEN {
            return Err(SealError::Tampered("truncated".into()));
        }
        let mut out = Zeroizing::new(Vec::with_capacity(body.len()));
        let chunks: Vec<&[u8]> = body.chunks(CHUNK_LEN + TAG_LEN).collect();
        let last_index = chunks.len().saturating_sub(1);
        for (i, chunk) in chunks.into_iter().enumerate() {
            if chunk.len() < TAG_LEN {
                return Err(SealError::Tampered("truncated chunk".into()));
            }
            let (data, tag) = chunk.split_at(chunk.len() - TAG_LEN);
            let start = out.len();
            out.extend_from_slice(data);
            let tag = Tag::<Aes256Gcm>::try_from(tag)
                .map_err(|_| SealError::Tampered("tag length".into()))?;
            cipher
                .decrypt_inout_detached(
                    &nonce(i as u64, i == last_index),
                    &aad,
                    out[start..].as_mut().into(),
                    &tag,
                )
                .map_err(|_| SealError::Tampered(format!("chunk {i}")))?;
        }
        Ok((out, salt))
    }

    /// Reads and opens the sealed file at `path` (at most `limit` bytes).
    pub fn open_file(
        &self,
        role: Role,
        name: &str,
        path: &Path,
        limit: u64,
    ) -> Result<(Zeroizing<Vec<u8>>, Salt), SealError> {
        let mut bytes = Vec::new();
        File::open(path)?.take(limit).read_to_end(&mut bytes)?;
        self.open(role, name, &bytes)
    }

    /// A streaming writer of a sealed file of `role` named `name` into `out` (header written
    /// with the first chunk). Call [`SealedWriter::finish`] to write the final chunk.
    pub fn writer<W: Write>(&self, role: Role, name: &str, out: W) -> SealedWriter<W> {
        let mut salt = [0u8; SALT_LEN];
        super::rng().fill_bytes(&mut salt);
        let header = Self::header(role, &salt);
        SealedWriter {
            cipher: self.cipher(role, &salt),
            aad: [&header[..], name.as_bytes()].concat(),
            out,
            header: Some(header),
            salt,
            buf: Zeroizing::new(Vec::with_capacity(CHUNK_LEN + TAG_LEN)),
            index: 0,
        }
    }

    /// Opens the sealed file `file` of `role` named `name` whose plaintext has `len` bytes
    /// for reads at any offset; checks the header and the file size, not the chunks.
    pub fn reader(
        &self,
        role: Role,
        name: &str,
        file: File,
        len: u64,
    ) -> Result<SealedReader, SealError> {
        let mut header = [0u8; HEADER_LEN];
        file.read_exact_at(&mut header, 0).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => SealError::Tampered("truncated header".into()),
            _ => SealError::Io(e),
        })?;
        let salt = Self::parse_header(role, &header)?;
        let size = file.metadata()?.len();
        if size != sealed_len(len) {
            return Err(SealError::Tampered(format!(
                "{size} bytes where {len} sealed bytes take {}",
                sealed_len(len)
            )));
        }
        Ok(SealedReader {
            cipher: self.cipher(role, &salt),
            aad: [&header[..], name.as_bytes()].concat(),
            file,
            len,
            salt,
            cached: std::cell::RefCell::new(None),
        })
    }

    /// Like [`Sealer::reader`] for a file whose plaintext length is not recorded elsewhere:
    /// the length follows from the file size.
    pub fn reader_for_file(
        &self,
        role: Role,
        name: &str,
        file: File,
    ) -> Result<SealedReader, SealError> {
        let size = file.metadata()?.len();
        let body = size.saturating_sub(HEADER_LEN as u64);
        let chunks = body.div_ceil((CHUNK_LEN + TAG_LEN) as u64).max(1);
        let len = body.saturating_sub(chunks.saturating_mul(TAG_LEN as u64));
        self.reader(role, name, file, len)
    }
}

/// Writes a sealed file chunk by chunk (memory: one chunk).
pub struct SealedWriter<W: Write> {
    cipher: Aes256Gcm,
    aad: Vec<u8>,
    out: W,
    header: Option<[u8; HEADER_LEN]>,
    salt: Salt,
    buf: Zeroizing<Vec<u8>>,
    /// Chunks written so far.
    index: u64,
}

impl<W: Write> SealedWriter<W> {
    /// The file's salt.
    pub fn salt(&self) -> Salt {
        self.salt
    }

    /// Appends plaintext. A full chunk is written only once more data follows, so that the
    /// final chunk (written by `finish`) is never empty unless the whole file is.
    pub fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            if self.buf.len() == CHUNK_LEN {
                self.flush_chunk(false)?;
            }
            let take = (CHUNK_LEN - self.buf.len()).min(data.len());
            let (now, rest) = data.split_at(take);
            self.buf.extend_from_slice(now);
            data = rest;
        }
        Ok(())
    }

    fn flush_chunk(&mut self, last: bool) -> io::Result<()> {
        if let Some(header) = self.header.take() {
            self.out.write_all(&header)?;
        }
        let tag = self
            .cipher
            .encrypt_inout_detached(&nonce(self.index, last), &self.aad, (&mut self.buf[..]).into())
            .map_err(|_| io::Error::other("chunk too large to seal"))?;
        self.out.write_all(&self.buf)?;
        self.out.write_all(&tag)?;
        self.buf.clear();
        self.index = self.index.saturating_add(1);
        Ok(())
    }

    /// Writes the final chunk and returns the output.
    pub fn finish(&mut self) -> io::Result<&mut W> {
        self.flush_chunk(true)?;
        Ok(&mut self.out)
    }
}

impl SealedWriter<File> {
    /// Reads back plaintext written so far (a staged image read during its manifest run).
    pub fn read_at(&self, out: &mut [u8], offset: u64) -> Result<usize, SealError> {
        let chunk = offset / CHUNK_LEN as u64;
        let within = (offset % CHUNK_LEN as u64) as usize;
        if chunk < self.index {
            let mut data = Zeroizing::new(vec![0u8; CHUNK_LEN + TAG_LEN]);
            let at = chunk_offset(chunk);
            self.out.read_exact_at(&mut data, at)?;
            let (plain, tag) = data.split_at_mut(CHUNK_LEN);
            let tag = Tag::<Aes256Gcm>::try_from(&*tag)
                .map_err(|_| SealError::Tampered("tag length".into()))?;
            self.cipher
                .decrypt_inout_detached(&nonce(chunk, false), &self.aad, plain.into(), &tag)
                .map_err(|_| SealError::Tampered(format!("staged chunk {chunk}")))?;
            return Ok(copy_from(plain, within, out));
        }
        if chunk == self.index {
            return Ok(copy_from(&self.buf, within, out));
        }
        Ok(0)
    }

    /// Flushes the file's data to disk.
    pub fn sync_all(&self) -> io::Result<()> {
        self.out.sync_all()
    }
}

fn chunk_offset(chunk: u64) -> u64 {
    chunk.saturating_mul((CHUNK_LEN + TAG_LEN) as u64).saturating_add(HEADER_LEN as u64)
}

fn copy_from(src: &[u8], from: usize, out: &mut [u8]) -> usize {
    let rest = src.get(from..).unwrap_or_default();
    let n = rest.len().min(out.len());
    out[..n].copy_from_slice(&rest[..n]);
    n
}

/// Reads a sealed file at any offset, decrypting one chunk at a time (memory: one chunk).
pub struct SealedReader {
    cipher: Aes256Gcm,
    aad: Vec<u8>,
    file: File,
    len: u64,
    salt: Salt,
    cached: std::cell::RefCell<Option<(u64, Zeroizing<Vec<u8>>)>>,
}

impl SealedReader {
    /// Plaintext length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the plaintext is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The file's salt.
    pub fn salt(&self) -> Salt {
        self.salt
    }

    /// Reads plaintext at `offset`; every byte returned passed its chunk's tag check.
    pub fn read_at(&self, out: &mut [u8], offset: u64) -> Result<usize, SealError> {
        if offset >= self.len || out.is_empty() {
            return Ok(0);
        }
        let chunk = offset / CHUNK_LEN as u64;
        let within = (offset % CHUNK_LEN as u64) as usize;
        let mut cached = self.cached.borrow_mut();
        if cached.as_ref().is_none_or(|(i, _)| *i != chunk) {
            *cached = None;
            *cached = Some((chunk, self.decrypt_chunk(chunk)?));
        }
        Ok(cached.as_ref().map_or(0, |(_, plain)| copy_from(plain, within, out)))
    }

    /// Checks every chunk (the whole file), one chunk in memory at a time.
    pub fn verify(&self) -> Result<(), SealError> {
        for chunk in 0..chunk_count(self.len) {
            self.decrypt_chunk(chunk)?;
        }
        Ok(())
    }

    fn decrypt_chunk(&self, chunk: u64) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let last = chunk.saturating_add(1) == chunk_count(self.len);
        let start = chunk.saturating_mul(CHUNK_LEN as u64);
        let plain_len = self.len.saturating_sub(start).min(CHUNK_LEN as u64) as usize;
        let mut data = Zeroizing::new(vec![0u8; plain_len + TAG_LEN]);
        self.file.read_exact_at(&mut data, chunk_offset(chunk))?;
        let tag = Tag::<Aes256Gcm>::try_from(&data[plain_len..])
            .map_err(|_| SealError::Tampered("tag length".into()))?;
        self.cipher
            .decrypt_inout_detached(
                &nonce(chunk, last),
                &self.aad,
                (&mut data[..plain_len]).into(),
                &tag,
            )
            .map_err(|_| SealError::Tampered(format!("chunk {chunk}")))?;
        data.truncate(plain_len);
        Ok(data)
    }
}

/// Writes `bytes` sealed to `path` (mode 0600) atomically: temporary file, fsync, rename.
pub fn write_sealed_file(
    sealer: &Sealer,
    role: Role,
    name: &str,
    path: &Path,
    plaintext: &[u8],
) -> io::Result<Salt> {
    let (sealed, salt) = sealer.seal(role, name, plaintext);
    let tmp = path.with_extension("sealing.tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    f.write_all(&sealed)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    Ok(salt)
}

/// Whether the file at `path` starts like a sealed file.
pub fn is_sealed(path: &Path) -> io::Result<bool> {
    let mut magic = [0u8; 8];
    let n = File::open(path)?.read(&mut magic)?;
    Ok(n == magic.len() && &magic == MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(byte: u8) -> Sealer {
        Sealer::new(&SealingKey::new([byte; 32]))
    }

    #[test]
    fn round_trips_at_chunk_boundaries() {
        let s = sealer(1);
        for len in [0, 1, CHUNK_LEN - 1, CHUNK_LEN, CHUNK_LEN + 1, 3 * CHUNK_LEN] {
            let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let (sealed, salt) = s.seal(Role::Image, "x", &plain);
            assert_eq!(sealed.len() as u64, sealed_len(len as u64), "{len}");
            let (opened, salt2) = s.open(Role::Image, "x", &sealed).expect("open");
            assert_eq!((&opened[..], salt2), (&plain[..], salt), "{len}");
        }
    }

    #[test]
    fn every_kind_of_tampering_is_detected() {
        let s = sealer(2);
        let plain = vec![7u8; 2 * CHUNK_LEN + 10];
        let (sealed, _) = s.seal(Role::Image, "a", &plain);
        assert!(matches!(s.open(Role::Image, "b", &sealed), Err(SealError::Tampered(_))));
        assert!(matches!(s.open(Role::Envelope, "a", &sealed), Err(SealError::Tampered(_))));
        assert!(matches!(sealer(3).open(Role::Image, "a", &sealed), Err(SealError::Tampered(_))));
        let mut flipped = sealed.clone();
        flipped[HEADER_LEN + 5] ^= 1;
        assert!(s.open(Role::Image, "a", &flipped).is_err());
        // Truncated at a chunk boundary: the new last chunk was not sealed as last.
        let cut = &sealed[..HEADER_LEN + 2 * (CHUNK_LEN + TAG_LEN)];
        assert!(s.open(Role::Image, "a", cut).is_err());
        // Extended by a chunk of another file.
        let (other, _) = s.seal(Role::Image, "a", &[1; 10]);
        let extended = [&sealed[..], &other[HEADER_LEN..]].concat();
        assert!(s.open(Role::Image, "a", &extended).is_err());
        // Reordered chunks.
        let (one, two) = sealed[HEADER_LEN..].split_at(CHUNK_LEN + TAG_LEN);
        let (two, rest) = two.split_at(CHUNK_LEN + TAG_LEN);
        let swapped = [&sealed[..HEADER_LEN], two, one, rest].concat();
        assert!(s.open(Role::Image, "a", &swapped).is_err());
        assert!(matches!(s.open(Role::Image, "a", b"plain text"), Err(SealError::NotSealed)));
    }

    #[test]
    fn streamed_files_read_at_any_offset_and_staged_reads_see_the_buffer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("img");
        let s = sealer(4);
        let plain: Vec<u8> = (0..(CHUNK_LEN * 2 + 100)).map(|i| (i % 253) as u8).collect();
        let mut options = File::options();
        options.create(true).truncate(true).read(true).write(true);
        let mut w = s.writer(Role::Image, "n", options.open(&path).expect("create"));
        w.write_all(&plain[..CHUNK_LEN + 50]).expect("write");
        let mut buf = [0u8; 100];
        assert_eq!(w.read_at(&mut buf, CHUNK_LEN as u64 - 50).expect("staged read"), 50);
        assert_eq!(&buf[..50], &plain[CHUNK_LEN - 50..CHUNK_LEN]);
        assert_eq!(w.read_at(&mut buf, CHUNK_LEN as u64 + 10).expect("buffered"), 40);
        w.write_all(&plain[CHUNK_LEN + 50..]).expect("write");
        w.finish().expect("finish");
        drop(w);
        let f = File::open(&path).expect("open");
        let r = s.reader(Role::Image, "n", f, plain.len() as u64).expect("reader");
        r.verify().expect("verify");
        for offset in [0, 10, CHUNK_LEN - 1, CHUNK_LEN * 2 + 99] {
            let n = r.read_at(&mut buf, offset as u64).expect("read");
            assert_eq!(&buf[..n], &plain[offset..offset + n]);
        }
        let f = File::open(&path).expect("open");
        assert!(matches!(s.reader(Role::Image, "n", f, 5), Err(SealError::Tampered(_))));
        let f = File::open(&path).expect("open");
        let r = s.reader_for_file(Role::Image, "n", f).expect("length from size");
        assert_eq!(r.len(), plain.len() as u64);
    }

    #[test]
    fn the_key_file_must_be_private_and_32_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = FileKey::new(dir.path());
        key.create().expect("create");
        assert!(key.create().is_err(), "never overwritten");
        key.sealing_key().expect("key");
        let path = dir.path().join(SEALING_KEY_FILE);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(key.sealing_key().is_err());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        fs::write(&path, [0u8; 31]).expect("write");
        assert!(key.sealing_key().is_err());
    }
}
