//! Telling people about requests: the seam for Slack, Teams and SNS.
//!
//! The service calls [`Fanout::notify`] on create, reminder, decision,
//! expiry and cancellation. A notifier that fails is logged and does not undo
//! anything: the record is already safe in the store, and `notification_sent`
//! stays false so the failure is visible.

use std::sync::Arc;

use async_trait::async_trait;
use hitl_wire::ApprovalRecord;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::service::ApprovalService;

/// Which lifecycle moment a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Created,
    Reminder,
    Decided,
    Expired,
    Cancelled,
}

impl Notice {
    pub fn as_str(self) -> &'static str {
        match self {
            Notice::Created => "created",
            Notice::Reminder => "reminder",
            Notice::Decided => "decided",
            Notice::Expired => "expired",
            Notice::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{channel}: {message}")]
pub struct NotifyError {
    pub channel: &'static str,
    pub message: String,
}

#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    /// A short name for logs ("log", "slack", "teams", "sns").
    fn name(&self) -> &'static str;

    async fn notify(&self, notice: Notice, record: &ApprovalRecord) -> Result<(), NotifyError>;

    /// Called once at start, before pending requests are recovered. A notifier
    /// that keeps bookkeeping (where it posted a card) or runs background work
    /// (re-posting what failed) takes the service here; it must hold it weakly,
    /// since the service holds the notifier. Background work stops when
    /// `shutdown` is cancelled; its handle is awaited on stop.
    fn attach(
        &self,
        _service: &Arc<ApprovalService>,
        _shutdown: &CancellationToken,
    ) -> Option<JoinHandle<()>> {
        None
    }
}

/// Writes one structured log line per notice; always configured.
#[derive(Debug, Default)]
pub struct LogNotifier;

#[async_trait]
impl Notifier for LogNotifier {
    fn name(&self) -> &'static str {
        "log"
    }

    async fn notify(&self, notice: Notice, r: &ApprovalRecord) -> Result<(), NotifyError> {
        // Arguments are left out on purpose: they may hold secrets.
        tracing::info!(
            notice = notice.as_str(),
            approval_id = %r.request_id,
            tool = %r.tool,
            server = r.server.as_deref().unwrap_or(""),
            risk = %r.risk,
            status = %r.status,
            requester = %r.requester,
            approver = r.approver.as_deref().unwrap_or(""),
            expires_at = %r.expires_at,
            "approval {}",
            notice.as_str()
        );
        Ok(())
    }
}

/// Every configured notifier, called in turn.
#[derive(Clone, Default)]
pub struct Fanout {
    notifiers: Vec<Arc<dyn Notifier>>,
}

impl std::fmt::Debug for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.notifiers.iter().map(|n| n.name()))
            .finish()
    }
}

impl Fanout {
    pub fn new(notifiers: Vec<Arc<dyn Notifier>>) -> Self {
        Self { notifiers }
    }

    /// Notifies everyone; true when every notifier succeeded.
    pub async fn notify(&self, notice: Notice, record: &ApprovalRecord) -> bool {
        let mut all_ok = true;
        for n in &self.notifiers {
            if let Err(e) = n.notify(notice, record).await {
                all_ok = false;
                tracing::warn!(approval_id = %record.request_id, notifier = n.name(), error = %e, "notification failed");
            }
        }
        all_ok
    }
}
