//! Deadlines, reminders and expiry: the seam between the in-process engine
//! ([`local::LocalWorkflow`]) and Step Functions on AWS.
//!
//! A workflow only decides *when*; what happens at that time (expire the
//! request, send the reminder) goes back through the service, and so through
//! the store's conditional write: a timer racing a click cannot both win.

pub mod local;
pub mod step_functions;
pub mod tasks;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use hitl_wire::ApprovalRecord;

/// What a timer does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// The reminder/escalation step part-way to the deadline.
    Remind,
    /// The deadline.
    Expire,
}

impl TimerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TimerKind::Remind => "remind",
            TimerKind::Expire => "expire",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "remind" => Some(TimerKind::Remind),
            "expire" => Some(TimerKind::Expire),
            _ => None,
        }
    }
}

/// One timer of a pending request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    pub request_id: String,
    pub kind: TimerKind,
    pub due_at: DateTime<Utc>,
}

/// The timers a pending record needs: its deadline, and the reminder when
/// one is set, not yet sent, and due before the deadline.
pub fn timers_of(r: &ApprovalRecord) -> Vec<Timer> {
    let mut out = Vec::with_capacity(2);
    if r.status.is_final() {
        return out;
    }
    if let (Some(e), None) = (&r.escalation, r.reminded_at) {
        let at = r.timestamp + Duration::seconds(e.after_secs as i64);
        if at < r.expires_at {
            out.push(Timer {
                request_id: r.request_id.clone(),
                kind: TimerKind::Remind,
                due_at: at,
            });
        }
    }
    out.push(Timer {
        request_id: r.request_id.clone(),
        kind: TimerKind::Expire,
        due_at: r.expires_at,
    });
    out
}

#[derive(Debug, thiserror::Error)]
#[error("workflow: {0}")]
pub struct WorkflowError(pub String);

#[async_trait]
pub trait Workflow: Send + Sync + 'static {
    /// Starts the timers of a pending request; starting again (after a
    /// restart) replaces the old timers rather than adding to them.
    async fn start(&self, record: &ApprovalRecord) -> Result<(), WorkflowError>;

    /// The request is final: its timers stop.
    async fn finish(&self, record: &ApprovalRecord) -> Result<(), WorkflowError>;
}

/// What a workflow asks the service to do when a timer fires.
#[async_trait]
pub trait Due: Send + Sync + 'static {
    async fn expire(&self, request_id: &str);
    async fn remind(&self, request_id: &str);
}
