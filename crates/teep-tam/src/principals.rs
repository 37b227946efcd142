//! Principals of the admin REST API and how they authenticate: API tokens and client
//! certificates (issue 5).
//!
//! A principal has a name and a [`Role`]. An API token is `teep_` followed by 64 hex digits
//! (32 random bytes from the operating system); the TAM keeps only its SHA-256 hash and a
//! short public id, so a token is shown exactly once, when it is created. A client
//! certificate authenticates the principal its SHA-256 fingerprint (of the DER encoding) is
//! registered to, when the admin listener asks for client certificates (mutual TLS).
//! Managing principals, tokens and certificates needs the operator role; any principal may
//! list and revoke its own tokens.

use sha2::{Digest, Sha256};

use crate::actor::{Actor, Role};
use crate::admin::{Admin, check_name};
use crate::error::AdminError;
use crate::store::{ApiTokenRow, PrincipalRow};

/// Prefix of every API token, so that secret scanners and people recognise one.
pub const TOKEN_PREFIX: &str = "teep_";

/// Random bytes in a token.
const TOKEN_BYTES: usize = 32;

/// The longest lifetime a token may be given: ten years, in seconds. Longer is refused (a
/// token that should never expire is created without an expiry).
pub const MAX_TOKEN_LIFETIME_SECS: u64 = 10 * 365 * 24 * 60 * 60;

/// The expiry (Unix seconds) of a token created at `now` with a lifetime of `secs`, refused
/// above [`MAX_TOKEN_LIFETIME_SECS`] or when zero.
pub fn token_expiry(now: u64, secs: u64) -> Result<u64, AdminError> {
    if secs == 0 || secs > MAX_TOKEN_LIFETIME_SECS {
        return Err(AdminError::InvalidArgument(
            "a token's lifetime must be 1 to 315360000 seconds (10 years); omit it for a token \
             valid until revoked",
        ));
    }
    Ok(now.saturating_add(secs))
}

/// A newly created API token: the secret is in `token` and nowhere else.
#[derive(Clone)]
pub struct NewToken {
    /// The token's metadata, as listed later.
    pub row: ApiTokenRow,
    /// The token to put in `Authorization: Bearer`; not recoverable later.
    pub token: String,
}

impl core::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NewToken").field("row", &self.row).finish_non_exhaustive()
    }
}

/// The SHA-256 hash under which a token is stored.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The SHA-256 fingerprint of a DER certificate.
pub fn certificate_fingerprint(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// Decodes a certificate given as PEM (`-----BEGIN CERTIFICATE-----`) or DER.
pub fn certificate_der(bytes: &[u8]) -> Result<Vec<u8>, AdminError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let invalid = || AdminError::InvalidArgument("certificate must be one PEM CERTIFICATE or DER");
    let der = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        CertificateDer::from_pem_slice(bytes).map_err(|_| invalid())?.to_vec()
    } else {
        bytes.to_vec()
    };
    // A DER certificate is a SEQUENCE (0x30) with a long-form length; the TLS layer checks
    // the rest when the certificate is presented.
    if der.len() < 64 || der.first() != Some(&0x30) {
        return Err(invalid());
    }
    Ok(der)
}

impl Admin {
    /// Creates a principal with a role. Operator only.
    pub async fn add_principal(
        &self,
        name: &str,
        role: Role,
        now: u64,
    ) -> Result<PrincipalRow, AdminError> {
        self.require_operator()?;
        check_name(name).map_err(|_| {
            AdminError::InvalidArgument(
                "principal name must have 1 to 64 printable characters, without control \
                 characters",
            )
        })?;
        if name == Actor::cli().name {
            return Err(AdminError::InvalidArgument(
                "`cli` is the name of the `teep tam` commands' actor; choose another name",
            ));
        }
        let row = PrincipalRow {
            name: name.to_owned(),
            role: role.as_str().to_owned(),
            created_at: now,
            disabled: false,
        };
        if !self.store().add_principal(&row).await? {
            return Err(AdminError::Exists("principal"));
        }
        self.audit("principal.create", name, &format!("role {role}"), now).await?;
        Ok(row)
    }

    /// Lists the principals. Operator only.
    pub async fn principals(&self) -> Result<Vec<PrincipalRow>, AdminError> {
        self.require_operator()?;
        Ok(self.store().principals().await?)
    }

    /// One principal: an operator may see any, others themselves.
    pub async fn principal(&self, name: &str) -> Result<PrincipalRow, AdminError> {
        if !self.actor().is_operator() && self.actor().name != name {
            return Err(AdminError::NotFound("principal"));
        }
        self.store().principal(name).await?.ok_or(AdminError::NotFound("principal"))
    }

    /// Disables (or re-enables) a principal: its tokens and certificates stop (or resume)
    /// authenticating. Operator only.
    pub async fn set_principal_disabled(
        &self,
        name: &str,
        disabled: bool,
        now: u64,
    ) -> Result<(), AdminError> {
        self.require_operator()?;
        if disabled && self.actor().name != Actor::cli().name {
            let principals = self.store().principals().await?;
            let is_operator = |p: &&PrincipalRow| !p.disabled && p.role == Role::Operator.as_str();
            let operators: Vec<&PrincipalRow> = principals.iter().filter(is_operator).collect();
            if operators.iter().all(|p| p.name == name) && !operators.is_empty() {
                return Err(AdminError::WouldLockOut(format!(
                    "{name} is the last enabled operator; disabling it would leave nobody to \
                     administer the TAM through the API"
                )));
            }
        }
        if !self.store().set_principal_disabled(name, disabled).await? {
            return Err(AdminError::NotFound("principal"));
        }
        let action = if disabled { "principal.disable" } else { "principal.enable" };
        self.audit(action, name, "", now).await
    }

    /// Creates an API token for `principal`, valid until `expires_at` (Unix seconds; `None`:
    /// until revoked). Operator only. The token is in the result and nowhere else.
    pub async fn create_token(
        &self,
        principal: &str,
        expires_at: Option<u64>,
        now: u64,
    ) -> Result<NewToken, AdminError> {
        self.require_operator()?;
        if expires_at.is_some_and(|t| t <= now) {
            return Err(AdminError::InvalidArgument("the token's expiry must be in the future"));
        }
        if expires_at.is_some_and(|t| t - now > MAX_TOKEN_LIFETIME_SECS) {
            return Err(AdminError::InvalidArgument(
                "a token's expiry must be at most 10 years away; omit it for a token valid \
                 until revoked",
            ));
        }
        if self.store().principal(principal).await?.is_none() {
            return Err(AdminError::NotFound("principal"));
        }
        let mut secret = zeroize::Zeroizing::new([0_u8; TOKEN_BYTES]);
        let mut id = [0_u8; 8];
        getrandom::fill(secret.as_mut_slice())
            .and_then(|()| getrandom::fill(&mut id))
            .map_err(|_| AdminError::InvalidArgument("the system random generator failed"))?;
        let token = format!("{TOKEN_PREFIX}{}", hex::encode(secret.as_slice()));
        let row = ApiTokenRow {
            id: hex::encode(id),
            principal: principal.to_owned(),
            created_at: now,
            expires_at,
            last_used: None,
            revoked: false,
        };
        if !self.store().add_api_token(&row, &token_hash(&token)).await? {
            return Err(AdminError::Exists("token id"));
        }
        let detail = match expires_at {
            Some(t) => format!("token {} expiring at {t}", row.id),
            None => format!("token {}", row.id),
        };
        self.audit("token.create", principal, &detail, now).await?;
        Ok(NewToken { row, token })
    }

    /// Lists token metadata (never a token): an operator all (or one principal's), others
    /// only their own.
    pub async fn tokens(&self, principal: Option<&str>) -> Result<Vec<ApiTokenRow>, AdminError> {
        let principal =
            if self.actor().is_operator() { principal } else { Some(self.actor().name.as_str()) };
        Ok(self.store().api_tokens(principal).await?)
    }

    /// Revokes a token by id: an operator any token, others their own.
    pub async fn revoke_token(&self, id: &str, now: u64) -> Result<(), AdminError> {
        let owner = self
            .store()
            .api_token(id)
            .await?
            .map(|t| t.principal)
            .filter(|p| self.actor().is_operator() || *p == self.actor().name)
            .ok_or(AdminError::NotFound("token"))?;
        let owner_is_operator = self
            .store()
            .principal(&owner)
            .await?
            .is_some_and(|p| !p.disabled && p.role == Role::Operator.as_str());
        if owner_is_operator
            && self.actor().name != Actor::cli().name
            && !self.operator_keeps_access(id, now).await?
        {
            return Err(AdminError::WouldLockOut(format!(
                "token {id} is the last working credential of an enabled operator; revoking it \
                 would leave nobody to administer the TAM through the API"
            )));
        }
        if !self.store().revoke_api_token(id).await? {
            return Err(AdminError::NotFound("token"));
        }
        self.audit("token.revoke", &owner, &format!("token {id}"), now).await
    }

    /// Whether some enabled operator still has a working credential (an unrevoked, unexpired
    /// token other than `revoked`, or a client certificate) once token `revoked` is revoked.
    /// True also when no enabled operator exists: then there is no access to keep.
    async fn operator_keeps_access(&self, revoked: &str, now: u64) -> Result<bool, AdminError> {
        let mut operators = self
            .store()
            .principals()
            .await?
            .into_iter()
            .filter(|p| !p.disabled && p.role == Role::Operator.as_str())
            .peekable();
        if operators.peek().is_none() {
            return Ok(true);
        }
        for p in operators {
            let tokens = self.store().api_tokens(Some(&p.name)).await?;
            let working = |t: &ApiTokenRow| {
                t.id != revoked && !t.revoked && t.expires_at.is_none_or(|e| e > now)
            };
            if tokens.iter().any(working)
                || !self.store().principal_certs(&p.name).await?.is_empty()
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Registers a client certificate (PEM or DER) for `principal`; returns its SHA-256
    /// fingerprint. Operator only.
    pub async fn add_principal_certificate(
        &self,
        principal: &str,
        certificate: &[u8],
        now: u64,
    ) -> Result<[u8; 32], AdminError> {
        self.require_operator()?;
        let der = certificate_der(certificate)?;
        if self.store().principal(principal).await?.is_none() {
            return Err(AdminError::NotFound("principal"));
        }
        let fingerprint = certificate_fingerprint(&der);
        if !self.store().add_principal_cert(&fingerprint, principal, now).await? {
            return Err(AdminError::Exists("certificate"));
        }
        let detail = format!("certificate {}", hex::encode(fingerprint));
        self.audit("principal.add-certificate", principal, &detail, now).await?;
        Ok(fingerprint)
    }

    /// The certificate fingerprints registered for a principal (an operator any, others
    /// their own).
    pub async fn principal_certificates(
        &self,
        principal: &str,
    ) -> Result<Vec<Vec<u8>>, AdminError> {
        self.principal(principal).await?;
        Ok(self.store().principal_certs(principal).await?)
    }

    /// Unregisters a client certificate by its hex fingerprint. Operator only.
    pub async fn remove_principal_certificate(
        &self,
        principal: &str,
        fingerprint_hex: &str,
        now: u64,
    ) -> Result<(), AdminError> {
        self.require_operator()?;
        let fingerprint = hex::decode(fingerprint_hex)
            .ok()
            .filter(|f| f.len() == 32)
            .ok_or(AdminError::InvalidArgument("fingerprint must be 64 hex digits"))?;
        if !self.store().remove_principal_cert(&fingerprint, principal).await? {
            return Err(AdminError::NotFound("certificate"));
        }
        let detail = format!("certificate {}", hex::encode(&fingerprint));
        self.audit("principal.remove-certificate", principal, &detail, now).await
    }

    /// The handle acting as the principal an API token authenticates at `now`, with the
    /// token's id (for logs); `None` when the token is unknown, revoked or expired, or its
    /// principal is disabled.
    pub async fn authenticate_token(
        &self,
        token: &str,
        now: u64,
    ) -> Result<Option<(Admin, String)>, AdminError> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let Some((id, principal)) =
            self.store().authenticate_token(&token_hash(token), now).await?
        else {
            return Ok(None);
        };
        Ok(as_actor(principal).map(|actor| (self.with_actor(actor), id)))
    }

    /// The handle acting as the principal a client certificate (DER) is registered to.
    pub async fn authenticate_certificate(&self, der: &[u8]) -> Result<Option<Admin>, AdminError> {
        let fingerprint = certificate_fingerprint(der);
        let principal = self.store().authenticate_cert(&fingerprint).await?;
        Ok(principal.and_then(as_actor).map(|actor| self.with_actor(actor)))
    }
}

/// The actor of a stored principal; `None` when its role is unknown (edited by hand).
fn as_actor(principal: PrincipalRow) -> Option<Actor> {
    Role::parse(&principal.role).map(|role| Actor::new(principal.name, role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hash_is_sha256_of_the_text() {
        assert_eq!(
            hex::encode(token_hash("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn certificates_must_look_like_der() {
        assert!(certificate_der(b"not a certificate").is_err());
        assert!(
            certificate_der(b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n")
                .is_err()
        );
        let mut der = vec![0x30, 0x82, 0x01, 0x00];
        der.resize(300, 0);
        assert_eq!(certificate_der(&der).unwrap(), der);
    }
}
