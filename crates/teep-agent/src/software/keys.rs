//! Key files of the software TEE: the Agent's private keys as sealed PKCS#8 PEM (mode 0600,
//! [`super::seal`]: encrypted and authenticated under the platform key, bound to the file's
//! name) and their public keys as SPKI PEM, plus parsing of trust-anchor keys written in the
//! config.
//!
//! Payload decryption keys (draft-ietf-suit-firmware-encryption §5, §6): the device's P-256
//! key for ECDH-ES + AES-KW recipients (sealed PKCS#8 PEM, mode 0600) and AES key-wrap keys in
//! a sealed JSON file (mode 0600): `[{"kid": "<hex, optional>", "key": "<hex, 16/24/32
//! bytes>"}]`. HMAC keys of TC signers (COSE_Mac0 authentication, draft-ietf-suit-mti) use the
//! same format with keys of 32 to 64 bytes.
//!
//! A key provisioned before `teep agent init` (a manufacturer's attestation key) may be a
//! plaintext PEM file: [`write_private_key`] writes one and `init` seals it in place.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use teep_cose::{PublicKey, SigningKey};
use zeroize::Zeroize;

use super::seal::{self, Role, SealError, Sealer};

/// Errors reading or writing key files.
#[non_exhaustive]
#[derive(Debug)]
pub enum KeyError {
    /// The file could not be read or written.
    Io(std::io::Error),
    /// The private key file is readable by group or others.
    Permissions {
        /// The file mode found.
        mode: u32,
    },
    /// The key text is not a supported key.
    Invalid(teep_cose::Error),
    /// A key file is malformed (what is wrong).
    Format(String),
    /// A sealed key file failed its integrity check or is not sealed.
    Sealed(SealError),
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "key file: {e}"),
            Self::Permissions { mode } => {
                write!(
                    f,
                    "private key file has mode {mode:o}; it must not be group/world accessible"
                )
            }
            Self::Invalid(e) => write!(f, "key: {e}"),
            Self::Format(e) => write!(f, "key file: {e}"),
            Self::Sealed(e @ (SealError::Tampered(_) | SealError::NotSealed)) => write!(
                f,
                "sealed key file {e}, and the Agent will not use it; restore the state \
                 directory from a backup, or create a new one with `teep agent init` and \
                 register the new Agent key with the TAM"
            ),
            Self::Sealed(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for KeyError {}

/// Writes a new plaintext private key file (PKCS#8 PEM) with mode 0600; refuses to overwrite
/// an existing file. For keys provisioned before `init`, which seals them; the Agent's own
/// keys are written by [`write_sealed_private_key`].
pub fn write_private_key(path: &Path, key: &SigningKey) -> Result<(), KeyError> {
    let mut pem = key.to_pkcs8_pem();
    let result =
        OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).and_then(|mut f| {
            f.write_all(pem.as_bytes())?;
            f.sync_all()
        });
    pem.zeroize();
    result.map_err(KeyError::Io)
}

/// Reads a private key file (PKCS#8 or SEC1 PEM); refuses files readable by others. A sealed
/// file is opened with the sealing key of the directory that holds it; a plaintext file is
/// read as it is (a provisioned key). The Agent reads its own keys with
/// [`read_sealed_private_key`], which accepts sealed files only.
pub fn read_private_key(path: &Path) -> Result<SigningKey, KeyError> {
    check_mode(path)?;
    if seal::is_sealed(path).map_err(KeyError::Io)? {
        let dir = path.parent().unwrap_or(Path::new("."));
        let sealer = Sealer::for_dir(dir).map_err(KeyError::Sealed)?;
        return read_sealed_private_key(&sealer, path);
    }
    let mut pem = fs::read_to_string(path).map_err(KeyError::Io)?;
    let key = SigningKey::from_pkcs8_pem(&pem).map_err(KeyError::Invalid);
    pem.zeroize();
    key
}

fn check_mode(path: &Path) -> Result<(), KeyError> {
    let mode = fs::metadata(path).map_err(KeyError::Io)?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions { mode: mode & 0o7777 });
    }
    Ok(())
}

/// The logical name a key file is sealed under: its file name.
fn sealed_name(path: &Path) -> Result<&str, KeyError> {
    path.file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| KeyError::Format(format!("{}: no file name", path.display())))
}

/// Largest sealed private key file read, in bytes.
const MAX_PRIVATE_KEY_FILE: u64 = 16 << 10;

/// Reads a sealed private key file (mode 0600): refuses plaintext and tampered files.
pub fn read_sealed_private_key(sealer: &Sealer, path: &Path) -> Result<SigningKey, KeyError> {
    check_mode(path)?;
    let name = sealed_name(path)?;
    let (pem, _) = sealer.open_file(Role::PrivateKey, name, path, MAX_PRIVATE_KEY_FILE).map_err(
        |e| match e {
            SealError::Io(e) => KeyError::Io(e),
            e => KeyError::Sealed(e),
        },
    )?;
    let pem = std::str::from_utf8(&pem).map_err(|_| KeyError::Format("not PEM text".into()))?;
    SigningKey::from_pkcs8_pem(pem).map_err(KeyError::Invalid)
}

/// Writes (or atomically replaces) a sealed private key file with mode 0600.
pub fn write_sealed_private_key(
    sealer: &Sealer,
    path: &Path,
    key: &SigningKey,
) -> Result<(), KeyError> {
    let pem = zeroize::Zeroizing::new(key.to_pkcs8_pem());
    let name = sealed_name(path)?;
    seal::write_sealed_file(sealer, Role::PrivateKey, name, path, pem.as_bytes())
        .map(|_| ())
        .map_err(KeyError::Io)
}

/// Parses a trust-anchor public key written as SPKI PEM or as a JWK object.
pub fn parse_public_key(text: &str) -> Result<PublicKey, KeyError> {
    let text = text.trim();
    let key = if text.starts_with('{') {
        PublicKey::from_jwk(text)
    } else {
        PublicKey::from_spki_pem(text)
    };
    key.map_err(KeyError::Invalid)
}

/// Largest key-wrap key file read, in bytes.
const MAX_KEYWRAP_FILE: u64 = 64 << 10;

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyWrapJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
    key: String,
}

fn check_private_mode(path: &Path) -> Result<(), KeyError> {
    let meta = fs::metadata(path).map_err(KeyError::Io)?;
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions { mode: mode & 0o7777 });
    }
    if meta.len() > MAX_KEYWRAP_FILE {
        return Err(KeyError::Format(format!("larger than {MAX_KEYWRAP_FILE} bytes")));
    }
    Ok(())
}

/// Reads the device's sealed ECDH-ES key file (P-256 only) as a decryption key matching every
/// kid.
pub fn read_ecdh_key(sealer: &Sealer, path: &Path) -> Result<teep_suit::DecryptionKey, KeyError> {
    let key = read_sealed_private_key(sealer, path)?;
    if !key.public_key().supports(teep_cose::Algorithm::ESP256) {
        return Err(KeyError::Format("the device decryption key must be P-256".into()));
    }
    Ok(teep_suit::DecryptionKey::Ecdh { kid: None, key: Box::new(key) })
}

/// A shared secret key with its optional key id.
type SecretKey = (Option<Vec<u8>>, zeroize::Zeroizing<Vec<u8>>);

/// Reads a sealed secret-key JSON file (mode 0600); `check` tells whether a key length is
/// valid and what is expected otherwise.
fn read_secret_keys(
    sealer: &Sealer,
    path: &Path,
    what: &str,
    check: impl Fn(usize) -> Result<(), &'static str>,
) -> Result<Vec<SecretKey>, KeyError> {
    let entries = read_secret_entries(sealer, path)?;
    let mut out = Vec::new();
    for (i, mut e) in entries.into_iter().enumerate() {
        let key = zeroize::Zeroizing::new(hex::decode(&e.key).unwrap_or_default());
        e.key.zeroize();
        if let Err(expected) = check(key.len()) {
            return Err(KeyError::Format(format!("{what} #{i}: must be {expected} of hex")));
        }
        let kid = match &e.kid {
            Some(k) => Some(
                hex::decode(k)
                    .map_err(|_| KeyError::Format(format!("key-wrap key #{i}: kid is not hex")))?,
            ),
            None => None,
        };
        out.push((kid, key));
    }
    Ok(out)
}

fn keywrap_len(len: usize) -> Result<(), &'static str> {
    if [16, 24, 32].contains(&len) {
        Ok(())
    } else {
        Err("16, 24 or 32 bytes (A128KW/A192KW/A256KW)")
    }
}

fn mac_len(len: usize) -> Result<(), &'static str> {
    if (32..=64).contains(&len) { Ok(()) } else { Err("32 to 64 bytes (HMAC 256/256)") }
}

/// Reads the sealed AES key-wrap keys file (mode 0600).
pub fn read_keywrap_keys(
    sealer: &Sealer,
    path: &Path,
) -> Result<Vec<teep_suit::DecryptionKey>, KeyError> {
    let keys = read_secret_keys(sealer, path, "key-wrap key", keywrap_len)?;
    Ok(keys.into_iter().map(|(kid, key)| teep_suit::DecryptionKey::KeyWrap { kid, key }).collect())
}

/// Reads the TC signers' sealed HMAC keys (COSE_Mac0 manifest authentication, same file
/// format as the key-wrap keys, mode 0600).
pub fn read_mac_keys(sealer: &Sealer, path: &Path) -> Result<Vec<teep_suit::MacKey>, KeyError> {
    let keys = read_secret_keys(sealer, path, "MAC key", mac_len)?;
    Ok(keys.into_iter().map(|(kid, key)| teep_suit::MacKey { kid, key }).collect())
}

/// Adds an HMAC 256/256 key (32 to 64 bytes) to the MAC key file at `path`, like
/// [`add_keywrap_key`].
pub fn add_mac_key(
    sealer: &Sealer,
    path: &Path,
    kid: Option<&[u8]>,
    key: &[u8],
) -> Result<(), KeyError> {
    mac_len(key.len()).map_err(|e| KeyError::Format(format!("a MAC key has {e}")))?;
    add_secret_key(sealer, path, kid, key)
}

/// Adds an AES key-wrap key (16, 24 or 32 bytes) to the sealed key file at `path`, creating
/// it with mode 0600 when absent; the file is replaced atomically.
pub fn add_keywrap_key(
    sealer: &Sealer,
    path: &Path,
    kid: Option<&[u8]>,
    key: &[u8],
) -> Result<(), KeyError> {
    keywrap_len(key.len()).map_err(|e| KeyError::Format(format!("a key-wrap key has {e}")))?;
    add_secret_key(sealer, path, kid, key)
}

/// The entries of a sealed secret-key file.
fn read_secret_entries(sealer: &Sealer, path: &Path) -> Result<Vec<KeyWrapJson>, KeyError> {
    check_private_mode(path)?;
    let name = sealed_name(path)?;
    let (text, _) =
        sealer.open_file(Role::SecretKeys, name, path, MAX_KEYWRAP_FILE).map_err(|e| match e {
            SealError::Io(e) => KeyError::Io(e),
            e => KeyError::Sealed(e),
        })?;
    serde_json::from_slice(&text).map_err(|e| KeyError::Format(e.to_string()))
}

fn add_secret_key(
    sealer: &Sealer,
    path: &Path,
    kid: Option<&[u8]>,
    key: &[u8],
) -> Result<(), KeyError> {
    let mut entries: Vec<KeyWrapJson> = match fs::metadata(path) {
        Ok(_) => read_secret_entries(sealer, path)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(KeyError::Io(e)),
    };
    entries.push(KeyWrapJson { kid: kid.map(hex::encode), key: hex::encode(key) });
    let text = zeroize::Zeroizing::new(
        serde_json::to_string_pretty(&entries).map_err(|e| KeyError::Format(e.to_string()))?,
    );
    for e in &mut entries {
        e.key.zeroize();
    }
    let name = sealed_name(path)?;
    seal::write_sealed_file(sealer, Role::SecretKeys, name, path, text.as_bytes())
        .map(|_| ())
        .map_err(KeyError::Io)
}
