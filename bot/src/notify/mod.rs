//! Telling people about requests: the seam for Slack, Teams and SNS.
//!
//! A [`Notifier`] is a channel people hear on. The service does not call
//! notifiers itself: each notice is written to the outbox
//! ([`crate::outbox`]) in the same transaction as the change it is about,
//! and the notifier's drainer delivers it, retrying until it goes out or is
//! given up. The [`LogNotifier`] is the exception: a log line needs no
//! delivery guarantee, so the service writes it right after the commit.

use std::sync::Arc;

use async_trait::async_trait;
use hitl_wire::ApprovalRecord;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::service::ApprovalService;

pub mod sns;

/// Which lifecycle moment a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Created,
    /// A vote of a quorum was counted; the request is still pending.
    Voted,
    Reminder,
    Decided,
    Expired,
    Cancelled,
}

impl Notice {
    pub fn as_str(self) -> &'static str {
        match self {
            Notice::Created => "created",
            Notice::Voted => "voted",
            Notice::Reminder => "reminder",
            Notice::Decided => "decided",
            Notice::Expired => "expired",
            Notice::Cancelled => "cancelled",
        }
    }
}

impl std::str::FromStr for Notice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Notice::Created,
            Notice::Voted,
            Notice::Reminder,
            Notice::Decided,
            Notice::Expired,
            Notice::Cancelled,
        ]
        .into_iter()
        .find(|n| n.as_str() == s)
        .ok_or_else(|| format!("unknown notice {s:?}"))
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
    /// A short, stable name: the outbox's channel ("slack", "teams", "sns").
    fn name(&self) -> &'static str;

    /// Delivers one notice. `record` is the request as it was when the
    /// notice was written. An error is retried later (with backoff), so a
    /// notifier must make a repeat harmless where it can (the Slack card is
    /// posted once per request, whatever the number of attempts).
    async fn notify(&self, notice: Notice, record: &ApprovalRecord) -> Result<(), NotifyError>;

    /// Called once at start. A notifier that keeps bookkeeping (where it
    /// posted a card) takes the service here; it must hold it weakly, since
    /// the service holds the notifier. Background work stops when `shutdown`
    /// is cancelled; its handle is awaited on stop.
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

/// Every configured notifier: the outbox channels, by name.
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
    /// The notifiers whose notices go through the outbox. Names must be
    /// unique: they key the outbox rows.
    pub fn new(notifiers: Vec<Arc<dyn Notifier>>) -> Self {
        let mut seen = std::collections::HashSet::new();
        let notifiers = notifiers
            .into_iter()
            .filter(|n| {
                let fresh = seen.insert(n.name());
                if !fresh {
                    tracing::warn!(
                        notifier = n.name(),
                        "notifier configured twice; keeping the first"
                    );
                }
                fresh
            })
            .collect();
        Self { notifiers }
    }

    pub fn notifiers(&self) -> &[Arc<dyn Notifier>] {
        &self.notifiers
    }

    /// The outbox channel names, in order.
    pub fn channels(&self) -> Vec<String> {
        self.notifiers.iter().map(|n| n.name().to_owned()).collect()
    }
}
