//! The policy the service applies to every request, and how processes
//! sharing one store share the work.

use std::collections::HashMap;
use std::time::Duration;

use hitl_wire::Escalation;

use crate::outbox::OutboxSettings;
use crate::people::People;

/// Policy the service applies to every request.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Used when a request names no timeout.
    pub default_timeout_secs: u64,
    /// Longest timeout a request may ask for.
    pub max_timeout_secs: u64,
    /// Who may decide when a request names nobody (empty: anyone but the requester).
    pub default_approvers: Vec<String>,
    /// Named groups of approvers, referred to as `group:NAME`.
    pub groups: HashMap<String, Vec<String>>,
    /// Reminder/escalation for requests that name none.
    pub default_escalation: Option<Escalation>,
    /// Final records older than this are purged; `None` keeps them forever.
    pub retention: Option<Duration>,
    /// Longest `?wait=` a caller may ask for.
    pub max_wait_secs: u64,
    /// Where held connections cost money (Lambda), the longest a long-poll
    /// is held: a longer wait, still valid, ends at the cap with nothing
    /// decided and the caller polls again. `None` holds as long as asked.
    pub hold_cap_secs: Option<u64>,
    /// Seconds after an approval within which its call may be claimed
    /// (`POST /v1/approvals/{id}/execution`); later it is refused.
    pub claim_window_secs: u64,
    /// People linked across platforms (`[[people]]`): each counts once for
    /// self-approval, quorum and allowlists, whichever identity they use.
    pub people: People,
    /// Retries, leases and giving up, for every notifier's outbox.
    pub outbox: OutboxSettings,
    /// How processes sharing the store share timers and wake-ups.
    pub replicas: ReplicaSettings,
}

/// How processes sharing one store share the work.
#[derive(Debug, Clone)]
pub struct ReplicaSettings {
    /// How long a process reserves a timer it fires (at most 30 s): if it
    /// dies meanwhile, another fires it once this runs out.
    pub lease: Duration,
    /// How often each process looks for due timers nobody holds (those of a
    /// process that died, or that none armed).
    pub sweep_every: Duration,
    /// How often each process reads the requests that became final, to wake
    /// its long-polls when another process recorded the decision.
    pub watch_every: Duration,
}

impl Default for ReplicaSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            sweep_every: Duration::from_secs(1),
            watch_every: Duration::from_millis(200),
        }
    }
}

impl Settings {
    /// How long to hold a long-poll that asked for `secs`.
    pub fn hold_for(&self, secs: u64) -> Duration {
        Duration::from_secs(self.hold_cap_secs.map_or(secs, |cap| secs.min(cap)))
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            default_timeout_secs: 300,
            max_timeout_secs: 7 * 24 * 3600,
            default_approvers: Vec::new(),
            groups: HashMap::new(),
            default_escalation: None,
            retention: Some(Duration::from_secs(90 * 24 * 3600)),
            max_wait_secs: 300,
            hold_cap_secs: None,
            claim_window_secs: 600,
            people: People::default(),
            outbox: OutboxSettings::default(),
            replicas: ReplicaSettings::default(),
        }
    }
}
