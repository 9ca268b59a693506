//! Bodies of HTTP API v1 (`/v1/approvals`). Request bodies refuse unknown
//! fields, so a typo is an error rather than a silently ignored setting.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::approval::{ApprovalRecord, Escalation, Risk, Status};

/// `POST /v1/approvals`. Idempotent on `request_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApproval {
    /// Chosen by the caller for idempotency; generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub tool: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(default = "empty_object")]
    pub arguments: Value,
    pub risk: Risk,
    #[serde(default)]
    pub reasons: Vec<String>,
    pub requester: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposed_action: Option<String>,
    /// Seconds until the request expires; the service default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// Who may decide (user ids, `group:NAME`); the service default when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
    /// Distinct approvals needed (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<Escalation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// What a person decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionAction {
    Approve,
    Reject,
}

/// `POST /v1/approvals/{id}/decision`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub action: DecisionAction,
    /// Who decides comes from the approver credential; when given, this
    /// must name the same person (anyone else is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver: Option<String>,
    /// Required to reject: the agent reads it and adapts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /v1/approvals/{id}/cancel`: the agent withdraws its request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cancel {
    /// Who cancels comes from the credential; when given, this must name
    /// the same party.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /v1/approvals/{id}/execution`: the approved call is about to run
/// with these arguments. Accepted once, and only with the approved arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Execution {
    pub arguments: Value,
}

/// `GET /v1/approvals`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalList {
    pub approvals: Vec<ApprovalRecord>,
}

/// One state change in the audit history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Increasing across the whole store (SQLite); page with `cursor`.
    pub seq: i64,
    pub request_id: String,
    pub at: DateTime<Utc>,
    /// Who caused it: an approver, the requester, or `hitl` for timers.
    pub actor: String,
    /// What happened: created, voted, approved, rejected, expired, cancelled,
    /// reminded, executed.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_status: Option<Status>,
    pub to_status: Status,
    /// Event-specific facts (reason, quorum count, arguments hash...).
    #[serde(default)]
    pub detail: Value,
}

/// `GET /v1/audit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    /// Opaque: pass it back as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// The next page as `after=SEQ`, the older form, kept for stores that
    /// number all entries in one sequence (SQLite).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<i64>,
}

/// Every 4xx/5xx answer: a stable code to branch on and a message for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    /// The record as it stands, when the error is about its state (for a
    /// lost decision race: who won and why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<Box<ApprovalRecord>>,
}

/// `POST /v1/approvals/wait`: one long-poll for many requests. The answer
/// (an [`ApprovalList`]) holds those that are final, as soon as one is, or
/// none when `wait_secs` runs out. Unknown ids are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitAny {
    pub request_ids: Vec<String>,
    #[serde(default)]
    pub wait_secs: u64,
}
