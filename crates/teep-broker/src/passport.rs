//! Passport model through the Broker (RFC 9334 §5.1; draft-ietf-teep-protocol-26 §4.3;
//! RFC 9397 §6.2: the Broker relays for the Agent).
//!
//! [`PassportAgent`] wraps an [`IpcAgent`]. When a TAM's QueryRequest asks for attestation,
//! it first asks the Agent for Evidence bound to the request's challenge (IPC `Attest`),
//! takes it to the Verifier's challenge-response API (teep verifier or Veraison) with the
//! challenge as session nonce, and hands the Attestation Result back to the Agent (IPC
//! `PresentAttestationResult`); then it delivers the QueryRequest, and the Agent's
//! QueryResponse presents the result instead of Evidence. The Broker does not authenticate
//! the QueryRequest (the Agent does) and judges nothing: the TAM validates the result. When
//! any step fails, the failure is logged and kept in [`PassportAgent::outcomes`], and the
//! Agent answers with Evidence as in the background-check model.
//!
//! The Broker configuration's `[passport]` section ([`PassportConfig`]) turns the model on for
//! `teep broker` and the daemon; without it the Broker relays Evidence (background check).
//!
//! ```toml
//! [passport]
//! verifier_url = "https://verifier.example"   # teep verifier serve, or Veraison
//! timeout_ms = 10000                          # one Verifier exchange
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};
use teep_agent::ipc::AgentHandle;
use teep_proto::{DataItemRequested, Message, Numbering};
use teep_verifier::VerifierClient;

use crate::agent::{AgentReply, AgentSide, TrustedComponentId};
use crate::error::{AgentError, TransportFailure};
use crate::ipc::IpcAgent;

/// Where the Broker takes the Agent's Evidence: the `[passport]` section of the Broker
/// configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassportConfig {
    /// Base URL of the Verifier's challenge-response API (its origin, or the URL ending in
    /// `/challenge-response/v1`).
    pub verifier_url: String,
    /// How long one Verifier exchange may take, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    10_000
}

impl PassportConfig {
    /// The passport model with the Verifier at `verifier_url` and the default timeout.
    pub fn new(verifier_url: impl Into<String>) -> Self {
        Self { verifier_url: verifier_url.into(), timeout_ms: default_timeout_ms() }
    }

    /// The Verifier timeout as a [`Duration`].
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// Rejects a Verifier URL that is not absolute http(s) and a zero timeout.
    pub fn validate(&self) -> Result<(), crate::ConfigError> {
        if self.timeout_ms == 0 {
            return Err(crate::ConfigError::Invalid("passport timeout_ms must be at least 1"));
        }
        if let Err(e) = VerifierClient::new(&self.verifier_url, self.timeout()) {
            return Err(crate::ConfigError::Toml(format!(
                "passport verifier_url {:?}: {e} (give the Verifier's http:// or https:// origin)",
                self.verifier_url
            )));
        }
        Ok(())
    }
}

/// What happened to one passport attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PassportOutcome {
    /// The Agent holds an Attestation Result for the challenge.
    Presented {
        /// TAM the QueryRequest came from.
        tam_uri: String,
        /// Size of the result, bytes.
        result_len: usize,
    },
    /// No result; the Agent falls back to Evidence.
    Failed {
        /// TAM the QueryRequest came from.
        tam_uri: String,
        /// Why.
        reason: String,
    },
}

impl std::fmt::Display for PassportOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Presented { tam_uri, result_len } => write!(
                f,
                "passport for {tam_uri}: attestation result of {result_len} bytes handed to the Agent"
            ),
            Self::Failed { tam_uri, reason } => {
                write!(f, "passport for {tam_uri} failed: {reason}")
            }
        }
    }
}

/// Most outcomes kept.
const MAX_OUTCOMES: usize = 64;

/// An [`IpcAgent`] whose attestation goes through a Verifier first (passport model).
pub struct PassportAgent<H> {
    inner: IpcAgent<H>,
    verifier: VerifierClient,
    verifier_url: String,
    outcomes: Vec<PassportOutcome>,
}

impl<H: AgentHandle> PassportAgent<H> {
    /// Wraps `inner`; fails when the Verifier URL is unusable.
    pub fn new(
        inner: IpcAgent<H>,
        config: &PassportConfig,
    ) -> Result<Self, teep_verifier::ClientError> {
        let verifier = VerifierClient::new(&config.verifier_url, config.timeout())?;
        Ok(Self {
            inner,
            verifier,
            verifier_url: config.verifier_url.clone(),
            outcomes: Vec::new(),
        })
    }

    /// The Verifier the Evidence goes to, as configured.
    pub fn verifier_url(&self) -> &str {
        &self.verifier_url
    }

    /// The wrapped Agent.
    pub fn inner(&self) -> &IpcAgent<H> {
        &self.inner
    }

    /// The passport attempts so far (the last [`MAX_OUTCOMES`]).
    pub fn outcomes(&self) -> &[PassportOutcome] {
        &self.outcomes
    }

    /// Takes the outcomes recorded so far, leaving none (the daemon moves them into its
    /// status and into the outcome of the operation that produced them).
    pub fn take_outcomes(&mut self) -> Vec<PassportOutcome> {
        core::mem::take(&mut self.outcomes)
    }

    async fn obtain(&self, nonce: &[u8]) -> Result<usize, String> {
        let handle = self.inner.handle();
        let evidence = handle.attest(nonce).await.map_err(|e| format!("Agent: {e}"))?;
        let appraised = self
            .verifier
            .appraise(nonce, teep_agent::EVIDENCE_FORMAT, &evidence)
            .await
            .map_err(|e| format!("verifier: {e}"))?;
        let len = appraised.result.len();
        handle
            .present_attestation_result(nonce, appraised.result)
            .await
            .map_err(|e| format!("Agent refused the result: {e}"))?;
        Ok(len)
    }

    fn record(&mut self, outcome: PassportOutcome) {
        match &outcome {
            PassportOutcome::Presented { .. } => tracing::info!(%outcome, "passport"),
            PassportOutcome::Failed { .. } => tracing::warn!(%outcome, "passport"),
        }
        if self.outcomes.len() >= MAX_OUTCOMES {
            self.outcomes.remove(0);
        }
        self.outcomes.push(outcome);
    }
}

/// The nonce the Agent will bind its attestation to, when `message` is a QueryRequest that
/// asks for attestation: its challenge, else its token (as the Agent does, §10). Read
/// without authentication: a wrong guess only costs a Verifier round trip.
pub fn attestation_nonce(message: &[u8]) -> Option<Vec<u8>> {
    let payload = match teep_cose::Sign1::decode(message) {
        Ok(s) => s.payload?,
        Err(_) => teep_cose::CoseSign::decode(message).ok()?.payload?,
    };
    let query =
        [Numbering::Rfc, Numbering::Legacy].into_iter().find_map(|n| {
            match Message::decode(payload, n) {
                Ok(Message::QueryRequest(q)) => Some(q),
                _ => None,
            }
        })?;
    if !query.data_item_requested.contains(DataItemRequested::ATTESTATION) {
        return None;
    }
    query.challenge.clone().or_else(|| query.token.as_ref().map(|t| t.as_bytes().to_vec()))
}

impl<H: AgentHandle> AgentSide for PassportAgent<H> {
    async fn request_ta(
        &mut self,
        component: &TrustedComponentId,
        tam_uri: Option<&str>,
    ) -> Result<AgentReply, AgentError> {
        self.inner.request_ta(component, tam_uri).await
    }

    async fn unrequest_ta(
        &mut self,
        component: &TrustedComponentId,
        tam_uri: Option<&str>,
    ) -> Result<AgentReply, AgentError> {
        self.inner.unrequest_ta(component, tam_uri).await
    }

    async fn request_policy_check(&mut self) -> Result<AgentReply, AgentError> {
        self.inner.request_policy_check().await
    }

    fn policy_check_finished(&mut self) {
        self.inner.policy_check_finished();
    }

    async fn process_teep_message(
        &mut self,
        tam_uri: &str,
        message: &[u8],
    ) -> Result<Option<Vec<u8>>, AgentError> {
        if let Some(nonce) = attestation_nonce(message) {
            let tam_uri = tam_uri.to_owned();
            let outcome = match self.obtain(&nonce).await {
                Ok(result_len) => PassportOutcome::Presented { tam_uri, result_len },
                Err(reason) => PassportOutcome::Failed { tam_uri, reason },
            };
            self.record(outcome);
        }
        self.inner.process_teep_message(tam_uri, message).await
    }

    async fn process_error(
        &mut self,
        tam_uri: &str,
        failure: &TransportFailure,
    ) -> Result<(), AgentError> {
        self.inner.process_error(tam_uri, failure).await
    }
}
