//! The approval record: one held tool call, from request to decision.
//!
//! Field names keep the seed's (`request_id`, `status`, `requester`,
//! `agent_prompt`, `proposed_action`, `tool`, `server`, `arguments`, `risk`,
//! `reasons`, `approver`, `reason`, `timestamp`, `decided_at`,
//! `notification_sent`); the rest is what quorum, escalation and argument
//! binding need. The lifecycle rules that change a record live in the
//! approval service (`hitl_bot::lifecycle`), not here.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a request is in its lifecycle. Every status but `Pending` is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Approved,
    Rejected,
    Expired,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Pending,
        Status::Approved,
        Status::Rejected,
        Status::Expired,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
            Status::Expired => "expired",
            Status::Cancelled => "cancelled",
        }
    }

    /// Decided, expired or withdrawn: nothing can change the status again.
    pub fn is_final(self) -> bool {
        self != Status::Pending
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!("unknown status {s:?}; expected one of pending, approved, rejected, expired, cancelled")
            })
    }
}

/// How much harm the call could do. Ordered: `Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    Low,
    Medium,
    High,
    Critical,
}

impl Risk {
    pub const ALL: [Risk; 4] = [Risk::Low, Risk::Medium, Risk::High, Risk::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
            Risk::Critical => "critical",
        }
    }
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Risk {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Risk::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("unknown risk {s:?}; expected one of low, medium, high, critical")
            })
    }
}

/// One approval counted towards the quorum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub approver: String,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The reminder/escalation step part-way to the deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    /// Seconds after creation at which the reminder goes out.
    pub after_secs: u64,
    /// Who is told (a person, group or channel); `None` is a plain reminder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// One request for a human decision about one tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    pub request_id: String,
    pub status: Status,
    /// Who or what asked: the agent, its user, or the gateway's principal.
    pub requester: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposed_action: Option<String>,
    pub tool: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The arguments proposed, as the agent sent them.
    pub arguments: Value,
    /// `sha256:` of the canonical arguments; see [`crate::arguments_hash`].
    pub arguments_hash: String,
    /// The arguments the call actually ran with, once it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments_executed: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executed_at: Option<DateTime<Utc>>,
    pub risk: Risk,
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Who may decide: user ids, and `group:NAME` for a configured group.
    /// Empty means anyone but the requester.
    #[serde(default)]
    pub approvers: Vec<String>,
    /// Distinct approvals needed; the first rejection decides at once.
    pub quorum: u32,
    /// Approvals counted so far, in order.
    #[serde(default)]
    pub approvals: Vec<Vote>,
    /// Who made the final decision (for an approval: the vote that met the quorum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver: Option<String>,
    /// Why: the decider's reason, the expiry notice or the cancel reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the request was created.
    pub timestamp: DateTime<Utc>,
    /// The deadline: still pending then means expired.
    pub expires_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<Escalation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminded_at: Option<DateTime<Utc>>,
    /// Whether the "new request" notice reached every configured channel.
    #[serde(default)]
    pub notification_sent: bool,
    /// The agent session the call came from (groups a session's requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Where to ask, when a policy rule names a channel other than the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

impl ApprovalRecord {
    /// Seconds from creation to the deadline.
    pub fn timeout_secs(&self) -> u64 {
        (self.expires_at - self.timestamp).num_seconds().max(0) as u64
    }
}
