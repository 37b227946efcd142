//! Client side of the challenge-response API ([`crate::http`]), for the TAM (background-check
//! model, RFC 9334 §5.2) and the Broker (passport model): create a session with the
//! Relying Party's nonce, submit the Evidence, take the result, delete the session.

use base64ct::{Base64, Base64UrlUnpadded, Encoding};

use crate::error::ClientError;
use crate::http::{BASE, SessionJson};

/// Largest answer read from a Verifier.
const MAX_ANSWER: usize = 1 << 20;

/// The signed results of one appraisal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appraised {
    /// The TEEP-profile Attestation Result (CWT).
    pub result: Vec<u8>,
    /// The EAR (CWT), when the Verifier produced one.
    pub ear: Option<Vec<u8>>,
}

/// A Verifier reachable over HTTP(S).
#[derive(Clone, Debug)]
pub struct VerifierClient {
    base: reqwest::Url,
    http: reqwest::Client,
}

impl VerifierClient {
    /// A client for the Verifier at `url` (its origin, or the URL of its
    /// `/challenge-response/v1` API).
    pub fn new(url: &str, timeout: std::time::Duration) -> Result<Self, ClientError> {
        crate::install_crypto_provider();
        let trimmed = url.trim_end_matches('/');
        let full = if trimmed.ends_with(BASE) {
            format!("{trimmed}/")
        } else {
            format!("{trimmed}{BASE}/")
        };
        let base = reqwest::Url::parse(&full).map_err(|e| ClientError::Url(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ClientError::Url("scheme must be http or https".into()));
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .tls_backend_rustls()
            .build()
            .map_err(|e| ClientError::Http(e.to_string()))?;
        Ok(VerifierClient { base, http })
    }

    async fn read(response: reqwest::Response, expect: u16) -> Result<SessionJson, ClientError> {
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| ClientError::Http(e.to_string()))?;
        if body.len() > MAX_ANSWER {
            return Err(ClientError::Answer("answer too large"));
        }
        if status != expect {
            let text = String::from_utf8_lossy(body.get(..200).unwrap_or(&body)).into_owned();
            return Err(ClientError::Status { status, body: text });
        }
        serde_json::from_slice(&body).map_err(|_| ClientError::Answer("not session JSON"))
    }

    /// Appraises `evidence` of `media_type` in a session bound to `nonce`.
    pub async fn appraise(
        &self,
        nonce: &[u8],
        media_type: &str,
        evidence: &[u8],
    ) -> Result<Appraised, ClientError> {
        let mut url = self.base.join("newSession").map_err(|e| ClientError::Url(e.to_string()))?;
        url.query_pairs_mut().append_pair("nonce", &Base64UrlUnpadded::encode_string(nonce));
        let response =
            self.http.post(url).send().await.map_err(|e| ClientError::Http(e.to_string()))?;
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or(ClientError::Answer("newSession without Location"))?;
        let created = Self::read(response, 201).await?;
        if Base64::decode_vec(&created.nonce).ok().as_deref() != Some(nonce) {
            return Err(ClientError::Answer("session nonce differs from ours"));
        }
        let session = self.base.join(&location).map_err(|e| ClientError::Url(e.to_string()))?;
        if session.origin() != self.base.origin() {
            return Err(ClientError::Answer("session Location on another origin"));
        }

        let response = self
            .http
            .post(session.clone())
            .header(reqwest::header::CONTENT_TYPE, media_type)
            .body(evidence.to_vec())
            .send()
            .await
            .map_err(|e| ClientError::Http(e.to_string()));
        // The session is deleted whatever the outcome; a failed delete only leaves it to
        // expire.
        let _ = self.http.delete(session).send().await;
        let done = Self::read(response?, 200).await?;
        let result = done
            .result
            .as_deref()
            .and_then(|r| Base64::decode_vec(r).ok())
            .ok_or(ClientError::Answer("session without result"))?;
        let ear = done.ear.as_deref().and_then(|r| Base64::decode_vec(r).ok());
        Ok(Appraised { result, ear })
    }
}
