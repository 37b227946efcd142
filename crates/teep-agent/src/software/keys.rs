//! Key files of the software TEE: the Agent's private key as PKCS#8 PEM (mode 0600) and its
//! public key as SPKI PEM, plus parsing of trust-anchor keys written in the config.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use teep_cose::{PublicKey, SigningKey};
use zeroize::Zeroize;

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
        }
    }
}

impl std::error::Error for KeyError {}

/// Writes a new private key file with mode 0600; refuses to overwrite an existing file.
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

/// Reads a private key file (PKCS#8 or SEC1 PEM); refuses files readable by others.
pub fn read_private_key(path: &Path) -> Result<SigningKey, KeyError> {
    let mode = fs::metadata(path).map_err(KeyError::Io)?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions { mode: mode & 0o7777 });
    }
    let mut pem = fs::read_to_string(path).map_err(KeyError::Io)?;
    let key = SigningKey::from_pkcs8_pem(&pem).map_err(KeyError::Invalid);
    pem.zeroize();
    key
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
