//! Hosting of payloads for URI-based Trusted Components (issue 5, catalog).
//!
//! A SUIT manifest may fetch its payload from a URI instead of carrying it
//! (draft-ietf-suit-manifest-34 §8.4.10.2 suit-parameter-uri, §8.4.10.5 suit-directive-fetch).
//! An operator or a developer uploads the payload under a name; devices fetch it from
//! `/payloads/<name>` on the TEEP listener ([`crate::api::payload_router`]), resuming with
//! HTTP range requests. The manifest's digest protects the bytes, so the download itself needs
//! no authentication. A developer owns the payloads it uploads; others' are not found.

use sha2::{Digest, Sha256};

use crate::actor::Role;
use crate::admin::Admin;
use crate::error::AdminError;
use crate::store::PayloadRow;

/// Longest payload name.
pub const MAX_PAYLOAD_NAME: usize = 128;

/// Checks a payload name: 1 to [`MAX_PAYLOAD_NAME`] ASCII letters, digits, `.`, `_` and `-`,
/// not starting with `.` (it becomes part of a URL path).
pub fn check_payload_name(name: &str) -> Result<(), AdminError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_PAYLOAD_NAME
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(AdminError::InvalidArgument(
            "payload name must have 1 to 128 ASCII letters, digits, '.', '_' or '-', and not \
             start with '.'",
        ))
    }
}

impl Admin {
    /// Stores (or replaces) a payload: an operator any, a developer its own (a name another
    /// owner uses is refused).
    pub async fn put_payload(
        &self,
        name: &str,
        data: &[u8],
        now: u64,
    ) -> Result<PayloadRow, AdminError> {
        let owner = match self.actor().role {
            Role::Operator => None,
            Role::Developer => Some(self.actor().name.clone()),
            Role::DeviceAdmin => {
                return Err(AdminError::Forbidden(format!(
                    "{} may not upload payloads",
                    self.actor()
                )));
            }
        };
        check_payload_name(name)?;
        if let Some(existing) = self.store().payload(name).await?
            && !self.may_see_payload(&existing)
        {
            return Err(AdminError::Forbidden(format!(
                "payload name {name} belongs to another owner; choose another name"
            )));
        }
        let size = u64::try_from(data.len())
            .map_err(|_| AdminError::InvalidArgument("payload is too large"))?;
        let row = PayloadRow {
            name: name.to_owned(),
            size,
            sha256: Sha256::digest(data).to_vec(),
            owner,
            uploaded_at: now,
        };
        self.store().put_payload(&row, data).await?;
        let detail = format!("{size} bytes, sha256 {}", hex::encode(&row.sha256));
        self.audit("payload.put", name, &detail, now).await?;
        Ok(row)
    }

    fn may_see_payload(&self, row: &PayloadRow) -> bool {
        self.actor().is_operator() || row.owner.as_deref() == Some(self.actor().name.as_str())
    }

    fn refuse_device_admin(&self) -> Result<(), AdminError> {
        if self.actor().role == Role::DeviceAdmin {
            return Err(AdminError::Forbidden(format!("{} may not manage payloads", self.actor())));
        }
        Ok(())
    }

    /// Lists the payloads the actor may see: all for an operator, its own for a developer.
    pub async fn payloads(&self) -> Result<Vec<PayloadRow>, AdminError> {
        self.refuse_device_admin()?;
        let all = self.store().payloads().await?;
        Ok(all.into_iter().filter(|p| self.may_see_payload(p)).collect())
    }

    /// One payload's metadata.
    pub async fn payload(&self, name: &str) -> Result<PayloadRow, AdminError> {
        self.refuse_device_admin()?;
        self.store()
            .payload(name)
            .await?
            .filter(|p| self.may_see_payload(p))
            .ok_or(AdminError::NotFound("payload"))
    }

    /// Deletes a payload.
    pub async fn remove_payload(&self, name: &str, now: u64) -> Result<(), AdminError> {
        self.payload(name).await?;
        if !self.store().remove_payload(name).await? {
            return Err(AdminError::NotFound("payload"));
        }
        self.audit("payload.remove", name, "", now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_names() {
        for good in ["a", "fw-1.2.bin", "A_b.c-d"] {
            assert!(check_payload_name(good).is_ok(), "{good}");
        }
        let long = "x".repeat(MAX_PAYLOAD_NAME + 1);
        for bad in ["", ".hidden", "a/b", "a b", "..", "é", long.as_str()] {
            assert!(check_payload_name(bad).is_err(), "{bad}");
        }
    }
}
