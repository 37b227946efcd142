//! `[daemon]` section of the Broker configuration: the local socket and the policy-check
//! schedule of `teep broker serve`.
//!
//! ```toml
//! [daemon]
//! socket = "/run/teep/broker.sock"   # local socket for applications and installers
//! socket_mode = 0o660                # file mode of that socket
//! socket_gid = 990                   # optional: group owning it (numeric)
//! policy_check_interval_ms = 3600000 # RFC 9397 §6.2.1 RequestPolicyCheck, every hour
//! jitter_ms = 300000                 # plus a random delay of up to this much
//! retry_initial_ms = 5000            # first retry after a failed TAM session ...
//! retry_max_ms = 900000              # ... doubling up to this bound
//! request_retries = 3                # RequestTA/UnrequestTA retries on network errors
//! check_on_start = true              # run a policy check right after start
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// Settings of the Broker daemon ([`crate::daemon`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DaemonConfig {
    /// The local Unix socket untrusted applications and installers connect to.
    pub socket: Option<PathBuf>,
    /// File mode of the socket (default 0o660: owner and group may connect).
    pub socket_mode: u32,
    /// Numeric group id given to the socket, so that members of that group may connect.
    pub socket_gid: Option<u32>,
    /// Time between two policy checks when the last one succeeded, in milliseconds.
    pub policy_check_interval_ms: u64,
    /// Largest random delay added to each scheduled check, in milliseconds, so that a fleet
    /// does not reach its TAMs all at once.
    pub jitter_ms: u64,
    /// Delay before the first check after a failed one, in milliseconds; doubles with every
    /// further failure.
    pub retry_initial_ms: u64,
    /// Upper bound of the doubled retry delay, in milliseconds.
    pub retry_max_ms: u64,
    /// How many times RequestTA and UnrequestTA are retried after a network error, a timeout
    /// or a 5xx answer from the TAM.
    pub request_retries: u32,
    /// Run a policy check right after the daemon starts.
    pub check_on_start: bool,
    /// Largest number of client connections served at once; further ones wait.
    pub max_clients: usize,
    /// How long a client may take to send its request, in milliseconds.
    pub client_timeout_ms: u64,
    /// How long shutdown waits for a running operation to end, in milliseconds.
    pub shutdown_grace_ms: u64,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            socket: None,
            socket_mode: 0o660,
            socket_gid: None,
            policy_check_interval_ms: 3_600_000,
            jitter_ms: 300_000,
            retry_initial_ms: 5_000,
            retry_max_ms: 900_000,
            request_retries: 3,
            check_on_start: true,
            max_clients: 16,
            client_timeout_ms: 30_000,
            shutdown_grace_ms: 30_000,
        }
    }
}

impl DaemonConfig {
    /// Rejects values that cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.policy_check_interval_ms == 0 || self.retry_initial_ms == 0 {
            return Err(ConfigError::Invalid("daemon intervals must be at least 1 ms"));
        }
        if self.retry_max_ms < self.retry_initial_ms {
            return Err(ConfigError::Invalid("daemon retry_max_ms is below retry_initial_ms"));
        }
        if self.socket_mode > 0o777 {
            return Err(ConfigError::Invalid("daemon socket_mode has bits beyond 0o777"));
        }
        if self.max_clients == 0 || self.client_timeout_ms == 0 {
            return Err(ConfigError::Invalid("daemon client limits must be positive"));
        }
        Ok(())
    }

    /// Delay before the next policy check: the interval plus jitter after a success, or the
    /// doubled retry delay (capped, and never above the interval) with jitter after
    /// `consecutive_failures` failed checks. `random` is any random value.
    pub fn next_check_delay(&self, consecutive_failures: u32, random: u64) -> Duration {
        if consecutive_failures == 0 {
            let jitter = random.checked_rem(self.jitter_ms.saturating_add(1)).unwrap_or(0);
            return Duration::from_millis(self.policy_check_interval_ms.saturating_add(jitter));
        }
        let base = self.backoff(consecutive_failures).min(self.policy_check_interval_ms);
        // "Equal jitter": half the delay fixed, half random, so retries spread out but never
        // come sooner than half the backoff.
        let half = base / 2;
        let spread = random.checked_rem(base.saturating_sub(half).saturating_add(1)).unwrap_or(0);
        Duration::from_millis(half.saturating_add(spread).max(1))
    }

    /// Delay before retry number `attempt` (1-based) of a RequestTA or UnrequestTA.
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        Duration::from_millis(self.backoff(attempt))
    }

    /// `retry_initial_ms * 2^(n-1)`, capped at `retry_max_ms`.
    fn backoff(&self, n: u32) -> u64 {
        let shift = n.saturating_sub(1).min(32);
        self.retry_initial_ms.saturating_mul(1u64 << shift).min(self.retry_max_ms)
    }

    /// The client timeout as a [`Duration`].
    pub fn client_timeout(&self) -> Duration {
        Duration::from_millis(self.client_timeout_ms)
    }

    /// The shutdown grace period as a [`Duration`].
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> DaemonConfig {
        DaemonConfig {
            policy_check_interval_ms: 1_000,
            jitter_ms: 100,
            retry_initial_ms: 10,
            retry_max_ms: 400,
            ..DaemonConfig::default()
        }
    }

    #[test]
    fn success_waits_the_interval_plus_bounded_jitter() {
        let c = config();
        for random in [0, 1, 99, 100, 101, u64::MAX] {
            let d = c.next_check_delay(0, random).as_millis();
            assert!((1_000..=1_100).contains(&d), "{random}: {d}");
        }
        assert_eq!(c.next_check_delay(0, 0).as_millis(), 1_000);
        assert_eq!(c.next_check_delay(0, 100).as_millis(), 1_100);
    }

    #[test]
    fn failures_back_off_exponentially_up_to_the_cap() {
        let c = config();
        let max_of = |n| c.next_check_delay(n, u64::MAX - 1).as_millis();
        let bounds: Vec<(u128, u128)> = (1..=8)
            .map(|n| {
                let base = u128::from(c.backoff(n));
                (base / 2, base)
            })
            .collect();
        assert_eq!(bounds[0], (5, 10));
        assert_eq!(bounds[1], (10, 20));
        assert_eq!(bounds[5], (160, 320));
        assert_eq!(bounds[6], (200, 400), "capped at retry_max_ms");
        assert_eq!(bounds[7], (200, 400), "capped at retry_max_ms");
        for n in 1..=8u32 {
            for random in [0, 3, 17, 1 << 40, u64::MAX] {
                let d = c.next_check_delay(n, random).as_millis();
                let (low, high) = bounds[(n - 1) as usize];
                assert!((low..=high).contains(&d), "n={n} random={random}: {d}");
            }
        }
        assert!(max_of(u32::MAX) <= 400);
    }

    #[test]
    fn backoff_never_exceeds_the_interval() {
        let c = DaemonConfig {
            policy_check_interval_ms: 50,
            retry_initial_ms: 40,
            retry_max_ms: 10_000,
            ..DaemonConfig::default()
        };
        for n in 1..10 {
            assert!(c.next_check_delay(n, u64::MAX).as_millis() <= 50);
        }
    }

    #[test]
    fn validation() {
        assert!(DaemonConfig::default().validate().is_ok());
        let bad = [
            DaemonConfig { policy_check_interval_ms: 0, ..DaemonConfig::default() },
            DaemonConfig { retry_max_ms: 1, ..DaemonConfig::default() },
            DaemonConfig { socket_mode: 0o4777, ..DaemonConfig::default() },
            DaemonConfig { max_clients: 0, ..DaemonConfig::default() },
        ];
        for c in bad {
            assert!(matches!(c.validate(), Err(ConfigError::Invalid(_))), "{c:?}");
        }
    }
}
