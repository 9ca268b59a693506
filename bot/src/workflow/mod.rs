//! Deadlines, reminders and expiry: the seam between the in-process engine
//! ([`local::LocalWorkflow`]) and Step Functions on AWS.
//!
//! A workflow only decides *when*; what happens at that time (expire the
//! request, send the reminder) goes back through the service, and so through
//! the store's conditional write: a timer racing a click cannot both win.

pub mod local;

use async_trait::async_trait;
use hitl_wire::ApprovalRecord;

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
