//! The Broker's conceptual APIs (RFC 9397 §6.2) and the TEEP/HTTP client session loop
//! (draft-ietf-teep-otrp-over-http §5).
//!
//! A session: the Agent names a TAM URI (and maybe a first message); the Broker POSTs (an empty
//! body opens the session); each 2xx response with a body goes to the Agent's
//! ProcessTeepMessage and the Agent's answer is POSTed next; the session ends when the TAM
//! answers with no body (204) or the Agent has nothing more to send. An HTTP error response or
//! a lower-layer error goes to the Agent's ProcessError and ends the session (§5.6).

use tracing::{debug, warn};

use crate::agent::{AgentReply, AgentSide, TrustedComponentId};
use crate::config::BrokerConfig;
use crate::error::{BrokerError, ConfigError, TransportFailure};
use crate::transcript::{AgentApi, Event, MessageSummary};
use crate::transport::TamClient;

/// One completed TEEP session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionReport {
    /// The TAM URI the Agent named.
    pub tam_uri: String,
    /// HTTP POSTs made.
    pub round_trips: u32,
}

/// One TEEP session that failed at the transport level (the Agent was told through
/// ProcessError).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionFailure {
    /// The TAM URI posted to.
    pub tam_uri: String,
    /// What failed.
    pub failure: TransportFailure,
}

/// Result of a Broker operation: the sessions it ran and the transcript of its steps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Completed sessions, in order (empty when the Agent had nothing to do).
    pub sessions: Vec<SessionReport>,
    /// Sessions of a RequestPolicyCheck that failed at the transport level; the check went on
    /// with the next TAM (RequestTA and UnrequestTA return such a failure as an error instead).
    pub failures: Vec<SessionFailure>,
    /// Everything that happened, in order.
    pub events: Vec<Event>,
}

/// The TEEP Broker: relays between one TEEP Agent and the TAMs it names.
#[derive(Debug)]
pub struct Broker<A> {
    agent: A,
    client: TamClient,
    config: BrokerConfig,
    transcript: Vec<Event>,
}

impl<A: AgentSide> Broker<A> {
    /// A Broker for `agent` with an HTTP client built from `config`.
    pub fn new(agent: A, config: BrokerConfig) -> Result<Self, ConfigError> {
        let client = TamClient::new(&config)?;
        Ok(Self { agent, client, config, transcript: Vec::new() })
    }

    /// The Agent side.
    pub fn agent(&self) -> &A {
        &self.agent
    }

    /// The Agent side, mutably.
    pub fn agent_mut(&mut self) -> &mut A {
        &mut self.agent
    }

    /// Gives the Agent side back.
    pub fn into_agent(self) -> A {
        self.agent
    }

    /// The configuration in use.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// Events recorded since the last call (events of a failed operation stay here; a
    /// successful operation moves its events into its [`Report`]).
    pub fn take_transcript(&mut self) -> Vec<Event> {
        core::mem::take(&mut self.transcript)
    }

    /// RequestTA (RFC 9397 §6.2.1; transport draft §5.1): asks the Agent for `component` and
    /// runs the session it asks for, if any.
    pub async fn request_ta(
        &mut self,
        component: &TrustedComponentId,
    ) -> Result<Report, BrokerError> {
        let hint = self.config.default_tam_uri.clone();
        let reply = self.agent.request_ta(component, hint.as_deref()).await?;
        self.record_agent_call(AgentApi::RequestTa, &reply);
        self.run_operation(reply).await
    }

    /// UnrequestTA (RFC 9397 §6.2.1; transport draft §5.2): tells the Agent that `component`
    /// is no longer needed and runs the session it asks for, if any.
    pub async fn unrequest_ta(
        &mut self,
        component: &TrustedComponentId,
    ) -> Result<Report, BrokerError> {
        let hint = self.config.default_tam_uri.clone();
        let reply = self.agent.unrequest_ta(component, hint.as_deref()).await?;
        self.record_agent_call(AgentApi::UnrequestTa, &reply);
        self.run_operation(reply).await
    }

    /// RequestPolicyCheck (RFC 9397 §6.2.1; transport draft §5.5): calls the Agent until it
    /// passes no data back, running one session per TAM it names. A session that fails at the
    /// transport level (the TAM is down, answers 5xx, times out) is recorded in
    /// [`Report::failures`] and the check goes on with the next TAM, so one TAM that is down
    /// does not keep the device from the others. Stops on a local Agent failure, when a TAM URI
    /// comes back a second time, or after `max_policy_check_sessions`.
    pub async fn request_policy_check(&mut self) -> Result<Report, BrokerError> {
        let mut sessions = Vec::new();
        let mut failures = Vec::new();
        let result = self.policy_check_sessions(&mut sessions, &mut failures).await;
        self.agent.policy_check_finished();
        result?;
        Ok(Report { sessions, failures, events: self.take_transcript() })
    }

    async fn policy_check_sessions(
        &mut self,
        sessions: &mut Vec<SessionReport>,
        failures: &mut Vec<SessionFailure>,
    ) -> Result<(), BrokerError> {
        let mut contacted: Vec<String> = Vec::new();
        for _ in 0..self.config.max_policy_check_sessions {
            let reply = self.agent.request_policy_check().await?;
            self.record_agent_call(AgentApi::RequestPolicyCheck, &reply);
            let Some(uri) = reply.tam_uri().map(str::to_owned) else { return Ok(()) };
            if contacted.contains(&uri) {
                warn!(tam_uri = %uri, "Agent named the same TAM twice in one policy check");
                return Ok(());
            }
            match self.run_session(reply).await {
                Ok(session) => sessions.extend(session),
                Err(BrokerError::Transport { tam_uri, failure }) => {
                    warn!(%tam_uri, %failure, "policy check: TAM session failed; trying the next");
                    failures.push(SessionFailure { tam_uri, failure });
                }
                Err(other) => return Err(other),
            }
            contacted.push(uri);
        }
        warn!(limit = self.config.max_policy_check_sessions, "policy check stopped at its limit");
        Ok(())
    }

    /// ProcessError (RFC 9397 §6.2.1): tells the Agent that the exchange with `tam_uri` failed.
    /// The Broker calls this itself when a session fails; it is public for callers that run
    /// their own transport.
    pub async fn process_error(
        &mut self,
        tam_uri: &str,
        failure: &TransportFailure,
    ) -> Result<(), BrokerError> {
        self.push(Event::TransportFailed { failure: failure.to_string() });
        self.agent.process_error(tam_uri, failure).await?;
        Ok(())
    }

    async fn run_operation(&mut self, reply: AgentReply) -> Result<Report, BrokerError> {
        let sessions = self.run_session(reply).await?.into_iter().collect();
        Ok(Report { sessions, failures: Vec::new(), events: self.take_transcript() })
    }

    /// Runs one session from the Agent's reply; `None` when the reply asks for nothing.
    async fn run_session(
        &mut self,
        reply: AgentReply,
    ) -> Result<Option<SessionReport>, BrokerError> {
        let (tam_uri, mut outgoing) = match reply {
            AgentReply::Nothing => return Ok(None),
            AgentReply::Connect { tam_uri } => (tam_uri, Vec::new()),
            AgentReply::Send { tam_uri, message } => (tam_uri, message),
        };
        let target = self.config.effective_tam_uri(&tam_uri).to_owned();
        let url = self.client.check_uri(&target)?;
        let numbering = self.config.numbering;
        let limit = self.config.max_round_trips;

        for round_trip in 1..=limit {
            let message = (!outgoing.is_empty()).then(|| MessageSummary::of(&outgoing, numbering));
            self.push(Event::Posted { tam_uri: target.clone(), round_trip, message });

            // Transport draft §5.4/§5.6: error responses and lower-layer errors end the session.
            let response = match self.client.post(&url, &outgoing).await {
                Ok(response) => response,
                Err(failure) => {
                    return self.fail_session(&tam_uri, &target, round_trip, failure).await;
                }
            };
            let message = response.body.as_deref().map(|b| MessageSummary::of(b, numbering));
            self.push(Event::Received { status: response.status, message });
            let Some(body) = response.body else {
                return Ok(Some(self.end_session(&tam_uri, &target, round_trip)));
            };

            // §5.4: the body goes to the Agent; its answer (if any) is the next POST.
            let answer = match self.agent.process_teep_message(&tam_uri, &body).await {
                Ok(answer) => answer.filter(|m| !m.is_empty()),
                Err(e) => {
                    self.push(Event::SessionEnded {
                        tam_uri: target,
                        round_trips: round_trip,
                        completed: false,
                    });
                    return Err(e.into());
                }
            };
            let message = answer.as_deref().map(|m| MessageSummary::of(m, numbering));
            self.push(Event::AgentAnswered { message });
            match answer {
                Some(next) => outgoing = next,
                None => return Ok(Some(self.end_session(&tam_uri, &target, round_trip))),
            }
        }

        let failure = TransportFailure::RoundTripLimit { limit };
        self.fail_session(&tam_uri, &target, limit, failure).await
    }

    fn end_session(&mut self, tam_uri: &str, target: &str, round_trips: u32) -> SessionReport {
        self.push(Event::SessionEnded { tam_uri: target.to_owned(), round_trips, completed: true });
        SessionReport { tam_uri: tam_uri.to_owned(), round_trips }
    }

    async fn fail_session(
        &mut self,
        tam_uri: &str,
        target: &str,
        round_trips: u32,
        failure: TransportFailure,
    ) -> Result<Option<SessionReport>, BrokerError> {
        if let Err(e) = self.process_error(tam_uri, &failure).await {
            warn!(error = %e, "the Agent's ProcessError failed");
        }
        self.push(Event::SessionEnded {
            tam_uri: target.to_owned(),
            round_trips,
            completed: false,
        });
        Err(BrokerError::Transport { tam_uri: target.to_owned(), failure })
    }

    fn record_agent_call(&mut self, api: AgentApi, reply: &AgentReply) {
        let message = match reply {
            AgentReply::Send { message, .. } => {
                Some(MessageSummary::of(message, self.config.numbering))
            }
            _ => None,
        };
        self.push(Event::AgentCalled { api, tam_uri: reply.tam_uri().map(str::to_owned), message });
    }

    fn push(&mut self, event: Event) {
        debug!(%event, "broker");
        self.transcript.push(event);
    }
}
