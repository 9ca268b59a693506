//! The approval service: the one place that turns API calls, chat clicks and
//! timers into lifecycle changes, then wakes waiters, stops timers and tells
//! people. HTTP handlers and chat adapters call this, never the store.
//!
//! One file per job: [`create`] (validating and storing a new request),
//! [`decide`] (every change of a stored request and what follows from it),
//! [`waits`] (long-polls, and the watcher that wakes them from other
//! processes' decisions), [`timers`] (firing leased timers, the sweep),
//! [`delivery`] (the outbox drainers), [`chat_refs`] (where chat adapters
//! keep their message and thread references).

mod chat_refs;
mod create;
mod decide;
mod delivery;
mod settings;
mod timers;
mod waits;

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use chrono::Utc;
use hitl_wire::ApprovalRecord;
use hitl_wire::Status;
use hitl_wire::api::AuditEvent;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::lifecycle::Refusal;
use crate::metrics::Metrics;
use crate::notify::{Fanout, LogNotifier, Notice, Notifier};
use crate::people::People;
use crate::store::{AuditFrom, ListFilter, Store, StoreError};
use crate::waiters::Waiters;
use crate::workflow::{Due, Workflow};

pub use settings::{ReplicaSettings, Settings};
pub use waits::MAX_WAIT_IDS;

/// Who decides, as a chat platform identified them.
///
/// `id` is an identity ([`Identity::parse`]: `slack:U…`, `teams:…`,
/// `email:…`, a bare name), matched as a person ([`People`]) against the
/// request's approver entries and configured groups (`group:NAME`), and
/// against its requester (nobody approves their own request).
/// `vouched_groups` are approver entries naming groups the decider's own
/// platform keeps (a Slack user group), which the adapter checked this
/// person belongs to; the service takes the adapter's word for those and
/// for nothing else, and never for another platform's groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decider {
    pub id: String,
    pub vouched_groups: Vec<String>,
}

impl Decider {
    /// A person known by id alone (API, terminal).
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            vouched_groups: Vec::new(),
        }
    }
}

/// Why a service call failed; the HTTP edge maps each to a status code.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Invalid(String),
    #[error("no approval request with id {0:?}")]
    NotFound(String),
    #[error(transparent)]
    Refused(Refusal),
    #[error("{message}")]
    Conflict {
        message: String,
        record: Box<ApprovalRecord>,
    },
    #[error("{0}")]
    Internal(String),
    /// The store is throttled or briefly failing; retry shortly.
    #[error("{0}")]
    Unavailable(String),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(id) => ServiceError::NotFound(id),
            StoreError::Refused(r) => ServiceError::Refused(r),
            StoreError::Backend(m) => ServiceError::Internal(m),
            StoreError::BadCursor(m) => ServiceError::Invalid(m),
            StoreError::Unavailable(m) => ServiceError::Unavailable(m),
        }
    }
}

/// Whether a create made a new request or found the one already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    New,
    Existing,
}

pub struct ApprovalService {
    store: Arc<dyn Store>,
    workflow: Arc<dyn Workflow>,
    notifier: Fanout,
    /// The outbox channels (notifier names) every notice is written for.
    channels: Vec<String>,
    /// One per notifier: wakes its drainer after a commit wrote rows.
    kicks: Vec<Arc<tokio::sync::Notify>>,
    waiters: Waiters,
    clock: Clock,
    settings: Settings,
    /// `settings.groups`, shared with decision steps without copying.
    groups: Arc<HashMap<String, Vec<String>>>,
    /// `settings.people`, likewise.
    people: Arc<People>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for ApprovalService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApprovalService")
            .field("notifier", &self.notifier)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl ApprovalService {
    pub fn new(
        store: Arc<dyn Store>,
        workflow: Arc<dyn Workflow>,
        notifier: Fanout,
        clock: Clock,
        settings: Settings,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        let channels = notifier.channels();
        let kicks = channels
            .iter()
            .map(|_| Arc::new(tokio::sync::Notify::new()))
            .collect();
        Arc::new(Self {
            store,
            workflow,
            notifier,
            channels,
            kicks,
            waiters: Waiters::default(),
            clock,
            groups: Arc::new(settings.groups.clone()),
            people: Arc::new(settings.people.clone()),
            settings,
            metrics: Arc::new(Metrics::default()),
            shutdown,
        })
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The store, for what sits beside the requests (credentials).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Linked people, for comparing identities.
    pub fn people(&self) -> &People {
        &self.people
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn waiters(&self) -> &Waiters {
        &self.waiters
    }

    /// This service as the target of workflow timers.
    pub fn as_due(self: &Arc<Self>) -> Weak<dyn Due> {
        let weak: Weak<dyn Due> = Arc::downgrade(self) as Weak<dyn Due>;
        weak
    }

    pub async fn get(&self, request_id: &str) -> Result<ApprovalRecord, ServiceError> {
        self.store
            .get(request_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(request_id.to_owned()))
    }
    pub async fn list(
        &self,
        status: Option<Status>,
        limit: usize,
    ) -> Result<Vec<ApprovalRecord>, ServiceError> {
        Ok(self.store.list(ListFilter { status, limit }).await?)
    }

    /// Audit history after the global `seq` `after` (SQLite only).
    pub async fn audit(
        &self,
        request_id: Option<&str>,
        after: i64,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, ServiceError> {
        let from = if after > 0 {
            AuditFrom::Seq(after)
        } else {
            AuditFrom::Start
        };
        Ok(self.store.audit(request_id, from, limit).await?.0)
    }

    /// One page of audit history and the opaque cursor of the next one.
    pub async fn audit_page(
        &self,
        request_id: Option<&str>,
        from: AuditFrom,
        limit: usize,
    ) -> Result<(Vec<AuditEvent>, Option<String>), ServiceError> {
        Ok(self.store.audit(request_id, from, limit).await?)
    }

    pub async fn count_pending(&self) -> Result<u64, ServiceError> {
        Ok(self.store.count_pending().await?)
    }
    /// Deletes final records older than the retention period.
    pub async fn purge(&self) -> Result<u64, ServiceError> {
        let Some(keep) = self.settings.retention else {
            return Ok(0);
        };
        let cutoff =
            self.clock.now() - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
        let n = self.store.purge(cutoff).await?;
        if n > 0 {
            tracing::info!(purged = n, cutoff = %cutoff, "purged old approval records");
        }
        Ok(n)
    }

    pub fn now(&self) -> chrono::DateTime<Utc> {
        self.clock.now()
    }

    /// Every pending request, oldest deadline first.
    pub async fn pending(&self) -> Result<Vec<ApprovalRecord>, ServiceError> {
        Ok(self.store.pending().await?)
    }
}

/// The log line of a notice; it needs no outbox (a log is written or lost
/// with the process), and never carries the arguments.
async fn log_notice(notice: Notice, record: &ApprovalRecord) {
    // The log notifier cannot fail.
    let _ = LogNotifier.notify(notice, record).await;
}
