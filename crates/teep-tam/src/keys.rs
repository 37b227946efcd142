//! The TAM's signing keys: one P-256 key for the cipher suite `[[18, -9]]` and one Ed25519 key
//! for `[[18, -19]]`, both mandatory for a TAM (draft-ietf-teep-protocol-26 §9.1).
//!
//! Keys are PKCS#8 PEM files, created with mode 0600 by [`TamKeys::load_or_generate`] (what
//! `teep tam init` does). [`TamKeys::load`], which serving uses, never creates a key and
//! refuses a key file that group or others may access (RFC 9397 §9.4: the TAM's private keys
//! must be protected).

use std::io::Write;
use std::path::Path;

use teep_cose::{Algorithm, PublicKey, SigningKey};

use crate::config::TamConfig;
use crate::error::KeyError;

/// The TAM's key pair per mandatory cipher suite.
pub struct TamKeys {
    /// P-256 key, signs with ESP256 (-9), or ES256 (-7) for legacy peers.
    pub p256: SigningKey,
    /// Ed25519 key, signs with Ed25519 (-19), or EdDSA (-8) for legacy peers.
    pub ed25519: SigningKey,
}

impl core::fmt::Debug for TamKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TamKeys")
            .field("p256", &hex::encode(self.p256.public_key().thumbprint()))
            .field("ed25519", &hex::encode(self.ed25519.public_key().thumbprint()))
            .finish()
    }
}

impl TamKeys {
    /// Loads both key files named by the configuration. A missing file is an error
    /// ([`KeyError::Missing`]), as is a file with group or other permission bits
    /// ([`KeyError::Permissions`]).
    pub fn load(config: &TamConfig) -> Result<Self, KeyError> {
        Ok(TamKeys {
            p256: load_key(&config.resolve(&config.keys.p256), Algorithm::ESP256)?,
            ed25519: load_key(&config.resolve(&config.keys.ed25519), Algorithm::ED25519)?,
        })
    }

    /// Loads both key files, first creating any that does not exist.
    pub fn load_or_generate(config: &TamConfig) -> Result<Self, KeyError> {
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let p256 = config.resolve(&config.keys.p256);
        if !p256.exists() {
            write_key(&p256, &SigningKey::generate_p256(&mut rng))?;
        }
        let ed25519 = config.resolve(&config.keys.ed25519);
        if !ed25519.exists() {
            write_key(&ed25519, &SigningKey::generate_ed25519(&mut rng))?;
        }
        Self::load(config)
    }

    /// Both public keys, P-256 first.
    pub fn public_keys(&self) -> [PublicKey; 2] {
        [self.p256.public_key(), self.ed25519.public_key()]
    }

    /// The key that signs with `alg`, if either does.
    pub fn for_algorithm(&self, alg: Algorithm) -> Option<&SigningKey> {
        [&self.p256, &self.ed25519].into_iter().find(|k| k.public_key().supports(alg))
    }
}

fn load_key(path: &Path, expected: Algorithm) -> Result<SigningKey, KeyError> {
    let metadata = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(KeyError::Missing { path: path.to_owned() });
        }
        Err(e) => return Err(KeyError::Io { path: path.to_owned(), reason: e.to_string() }),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Permissions { path: path.to_owned(), mode });
        }
    }
    #[cfg(not(unix))]
    let _ = metadata;
    let pem = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| KeyError::Io { path: path.to_owned(), reason: e.to_string() })?,
    );
    let key = SigningKey::from_pkcs8_pem(&pem)
        .map_err(|e| KeyError::Invalid { path: path.to_owned(), reason: e.to_string() })?;
    if !key.public_key().supports(expected) {
        let reason = format!("expected a key for COSE algorithm {}", expected.0);
        return Err(KeyError::Invalid { path: path.to_owned(), reason });
    }
    Ok(key)
}

fn write_key(path: &Path, key: &SigningKey) -> Result<(), KeyError> {
    let io = |e: std::io::Error| KeyError::Io { path: path.to_owned(), reason: e.to_string() };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io)?;
    let pem = zeroize::Zeroizing::new(key.to_pkcs8_pem());
    file.write_all(pem.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_in(dir: &Path) -> TamConfig {
        TamConfig { state_dir: dir.to_owned(), ..TamConfig::default() }
    }

    #[test]
    fn load_never_creates_keys() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_in(dir.path());
        let err = TamKeys::load(&config).unwrap_err();
        assert!(matches!(err, KeyError::Missing { .. }), "{err}");
        assert!(err.to_string().contains("teep tam init"), "{err}");
        assert!(!dir.path().join("tam-p256.pem").exists());
        // The explicit init path creates them, then load works.
        let created = TamKeys::load_or_generate(&config).unwrap();
        let loaded = TamKeys::load(&config).unwrap();
        assert_eq!(created.public_keys(), loaded.public_keys());
    }

    #[cfg(unix)]
    #[test]
    fn refuses_keys_readable_by_others() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let config = config_in(dir.path());
        TamKeys::load_or_generate(&config).unwrap();
        let p256 = dir.path().join("tam-p256.pem");
        assert_eq!(std::fs::metadata(&p256).unwrap().permissions().mode() & 0o777, 0o600);
        for mode in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&p256, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = TamKeys::load(&config).unwrap_err();
            assert!(matches!(err, KeyError::Permissions { .. }), "{err}");
            assert!(err.to_string().contains("chmod 600"), "{err}");
        }
        std::fs::set_permissions(&p256, std::fs::Permissions::from_mode(0o600)).unwrap();
        let ed = dir.path().join("tam-ed25519.pem");
        std::fs::set_permissions(&ed, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(TamKeys::load(&config), Err(KeyError::Permissions { .. })));
        std::fs::set_permissions(&ed, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(TamKeys::load(&config).is_ok());
    }
}
