//! The approval service: the one place that turns API calls, chat clicks and
//! timers into lifecycle changes, then wakes waiters, stops timers and tells
//! people. HTTP handlers and chat adapters call this, never the store.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use hitl_wire::api::{AuditEvent, CreateApproval, DecisionAction};
use hitl_wire::{ApprovalRecord, Escalation, Status, arguments_hash};

use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::ids;
use crate::lifecycle::{self, AuditEntry, Event, Refusal};
use crate::metrics::Metrics;
use crate::notify::{Fanout, LogNotifier, Notice, Notifier};
use crate::outbox::drain::Drainer;
use crate::outbox::{Delivery, OutboxSettings};
use crate::people::{Identity, People, platform_group};
use crate::store::{Inserted, ListFilter, MessageRef, Step, Store, StoreError, ThreadRef};
use crate::waiters::Waiters;
use crate::workflow::{Due, TimerKind, Workflow};

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
            people: People::default(),
            outbox: OutboxSettings::default(),
            replicas: ReplicaSettings::default(),
        }
    }
}

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

const MAX_QUORUM: u32 = 20;
/// Most requests one `wait_any` long-poll may watch.
pub const MAX_WAIT_IDS: usize = 5000;
const MAX_ID_LEN: usize = 128;

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

    /// Creates a request, or returns the stored one when `request_id` is
    /// already taken by the same call (idempotent retry).
    pub async fn create(
        &self,
        body: CreateApproval,
    ) -> Result<(ApprovalRecord, Created), ServiceError> {
        let record = self.build_record(body)?;
        let audit = AuditEntry {
            at: record.timestamp,
            actor: record.requester.clone(),
            action: "created",
            from_status: None,
            to_status: Status::Pending,
            detail: serde_json::json!({
                "tool": record.tool,
                "server": record.server,
                "risk": record.risk,
                "arguments_hash": record.arguments_hash,
                "quorum": record.quorum,
                "expires_at": record.expires_at,
            }),
        };
        let proposed = record.clone();
        match self.store.insert(record, audit, &self.channels).await? {
            Inserted::Existing(existing) if same_call(&existing, &proposed) => {
                // A retry arms the timers again, in case the first try could
                // not (they are in the store either way).
                if !existing.status.is_final()
                    && let Err(e) = self.workflow.start(&existing).await
                {
                    tracing::warn!(approval_id = %existing.request_id, error = %e, "cannot arm timers; the sweep fires them");
                }
                Ok((existing, Created::Existing))
            }
            Inserted::Existing(existing) => Err(ServiceError::Conflict {
                message: format!(
                    "request_id {:?} is already used for a different call ({} on {}); use a new request_id",
                    existing.request_id,
                    existing.tool,
                    existing.server.as_deref().unwrap_or("no server")
                ),
                record: Box::new(existing),
            }),
            Inserted::Created(record) => {
                self.metrics.created();
                self.kick_outbox();
                log_notice(Notice::Created, &record).await;
                // The timers were stored with the request; arming them here
                // only makes them punctual. If that fails, the sweep fires
                // them within a second of falling due.
                if let Err(e) = self.workflow.start(&record).await {
                    tracing::warn!(approval_id = %record.request_id, error = %e, "cannot arm timers; the sweep fires them");
                }
                Ok((record, Created::New))
            }
        }
    }

    fn build_record(&self, b: CreateApproval) -> Result<ApprovalRecord, ServiceError> {
        let invalid = |m: String| Err(ServiceError::Invalid(m));
        let request_id = match b.request_id {
            Some(id) => {
                validate_id(&id)?;
                id
            }
            None => ids::new_request_id(),
        };
        if b.tool.trim().is_empty() {
            return invalid("`tool` must not be empty".into());
        }
        if b.requester.trim().is_empty() {
            return invalid("`requester` must not be empty: name the agent or user asking".into());
        }
        if let Err(e) = Identity::parse(&b.requester) {
            return invalid(format!("`requester`: {e}"));
        }
        let timeout = b.timeout_secs.unwrap_or(self.settings.default_timeout_secs);
        if timeout == 0 || timeout > self.settings.max_timeout_secs {
            return invalid(format!(
                "`timeout_secs` must be between 1 and {} (got {timeout})",
                self.settings.max_timeout_secs
            ));
        }
        let quorum = b.quorum.unwrap_or(1);
        if !(1..=MAX_QUORUM).contains(&quorum) {
            return invalid(format!(
                "`quorum` must be between 1 and {MAX_QUORUM} (got {quorum})"
            ));
        }
        let approvers = if b.approvers.is_empty() {
            self.settings.default_approvers.clone()
        } else {
            b.approvers
        };
        let eligible = self.eligible_count(&approvers)?;
        if let Some(n) = eligible
            && n < quorum as usize
        {
            return invalid(format!(
                "`quorum` {quorum} cannot be met: only {n} distinct approver(s) in {}",
                approvers.join(", ")
            ));
        }
        let escalation = b
            .escalation
            .or_else(|| self.settings.default_escalation.clone());
        if let Some(e) = &escalation
            && (e.after_secs == 0 || e.after_secs >= timeout)
        {
            return invalid(format!(
                "`escalation.after_secs` must be between 1 and the timeout ({timeout}); got {}",
                e.after_secs
            ));
        }
        let now = self.clock.now();
        Ok(ApprovalRecord {
            request_id,
            status: Status::Pending,
            requester: b.requester,
            agent_prompt: b.agent_prompt,
            proposed_action: b.proposed_action,
            tool: b.tool,
            server: b.server,
            arguments_hash: arguments_hash(&b.arguments),
            arguments: b.arguments,
            arguments_executed: None,
            executed_at: None,
            risk: b.risk,
            reasons: b.reasons,
            approvers,
            quorum,
            approvals: Vec::new(),
            approver: None,
            reason: None,
            timestamp: now,
            expires_at: now + chrono::Duration::seconds(timeout as i64),
            decided_at: None,
            escalation,
            reminded_at: None,
            notification_sent: false,
            session: b.session,
            channel: b.channel,
        })
    }

    /// Distinct people who could approve, or `None` when anyone may.
    fn eligible_count(&self, approvers: &[String]) -> Result<Option<usize>, ServiceError> {
        if approvers.is_empty() {
            return Ok(None);
        }
        let mut people = std::collections::BTreeSet::new();
        for entry in approvers {
            if entry.trim().is_empty() {
                return Err(ServiceError::Invalid(
                    "`approvers` entries must not be empty".into(),
                ));
            }
            if platform_group(entry).is_some() {
                // Its size is only known to the platform, at decision time.
                return Ok(None);
            }
            match entry.strip_prefix("group:") {
                Some(name) => {
                    let members = self.settings.groups.get(name).ok_or_else(|| {
                        ServiceError::Invalid(format!(
                            "unknown approver group {name:?}; configured groups: {}",
                            self.group_names()
                        ))
                    })?;
                    people.extend(members.iter().map(|m| self.people.key(m)));
                }
                None => {
                    Identity::parse(entry)
                        .map_err(|e| ServiceError::Invalid(format!("`approvers`: {e}")))?;
                    people.insert(self.people.key(entry));
                }
            }
        }
        Ok(Some(people.len()))
    }

    fn group_names(&self) -> String {
        let mut names: Vec<_> = self.settings.groups.keys().map(String::as_str).collect();
        names.sort_unstable();
        if names.is_empty() {
            "(none)".to_owned()
        } else {
            names.join(", ")
        }
    }

    /// Whether `who` is on the request's approver list (directly, by a
    /// configured group, or by a group the platform vouched for). Says nothing
    /// about self-approval, which only concerns approving.
    pub fn may_decide(&self, record: &ApprovalRecord, who: &Decider) -> bool {
        may_decide(&self.settings.groups, &self.people, record, who)
    }

    pub async fn get(&self, request_id: &str) -> Result<ApprovalRecord, ServiceError> {
        self.store
            .get(request_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(request_id.to_owned()))
    }

    /// The record once it is final, or as it stands after `wait`.
    pub async fn wait(
        &self,
        request_id: &str,
        wait: Duration,
    ) -> Result<ApprovalRecord, ServiceError> {
        // Subscribe before reading, so a decision in between still wakes us.
        let mut waiter = self.waiters.subscribe(request_id);
        let record = self.get(request_id).await?;
        if record.status.is_final() || wait.is_zero() {
            return Ok(record);
        }
        tokio::select! {
            _ = waiter.woken() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = self.shutdown.cancelled() => {}
        }
        drop(waiter);
        self.get(request_id).await
    }

    /// One long-poll for many requests: the final ones among `request_ids`,
    /// as soon as there is one, or none after `wait`. Unknown ids are ignored.
    pub async fn wait_any(
        &self,
        request_ids: &[String],
        wait: Duration,
    ) -> Result<Vec<ApprovalRecord>, ServiceError> {
        if request_ids.len() > MAX_WAIT_IDS {
            return Err(ServiceError::Invalid(format!(
                "`request_ids` may name at most {MAX_WAIT_IDS} requests (got {})",
                request_ids.len()
            )));
        }
        let mut waiters: Vec<_> = request_ids
            .iter()
            .map(|id| self.waiters.subscribe(id))
            .collect();
        let finals = self.finals(request_ids).await?;
        if !finals.is_empty() || wait.is_zero() || waiters.is_empty() {
            return Ok(finals);
        }
        let any = futures::future::select_all(waiters.iter_mut().map(|w| Box::pin(w.woken())));
        tokio::select! {
            _ = any => {}
            _ = tokio::time::sleep(wait) => {}
            _ = self.shutdown.cancelled() => {}
        }
        drop(waiters);
        self.finals(request_ids).await
    }

    async fn finals(&self, request_ids: &[String]) -> Result<Vec<ApprovalRecord>, ServiceError> {
        Ok(self.store.finals_among(request_ids).await?)
    }

    pub async fn list(
        &self,
        status: Option<Status>,
        limit: usize,
    ) -> Result<Vec<ApprovalRecord>, ServiceError> {
        Ok(self.store.list(ListFilter { status, limit }).await?)
    }

    pub async fn audit(
        &self,
        request_id: Option<&str>,
        after: i64,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, ServiceError> {
        Ok(self.store.audit(request_id, after, limit).await?)
    }

    pub async fn count_pending(&self) -> Result<u64, ServiceError> {
        Ok(self.store.count_pending().await?)
    }

    /// A person approves or rejects. With a quorum above one, an approval may
    /// only add a vote; the returned record says which.
    pub async fn decide(
        &self,
        request_id: &str,
        action: DecisionAction,
        approver: &str,
        reason: Option<String>,
    ) -> Result<ApprovalRecord, ServiceError> {
        self.decide_as(request_id, action, Decider::new(approver), reason)
            .await
    }

    /// [`Self::decide`] for a person a chat platform identified, with the
    /// platform-kept groups it vouches they belong to.
    pub async fn decide_as(
        &self,
        request_id: &str,
        action: DecisionAction,
        decider: Decider,
        reason: Option<String>,
    ) -> Result<ApprovalRecord, ServiceError> {
        let id = decider.id.trim();
        if id.is_empty() {
            return Err(ServiceError::Invalid(
                "`approver` must name who decides".into(),
            ));
        }
        if let Err(e) = Identity::parse(id) {
            return Err(ServiceError::Invalid(format!("`approver`: {e}")));
        }
        let decider = Decider {
            id: id.to_owned(),
            vouched_groups: decider.vouched_groups,
        };
        // Whether this person may decide is judged on the stored record, inside
        // the conditional write, so it cannot go stale between read and write.
        let groups = self.groups.clone();
        let people = self.people.clone();
        let clock = self.clock.clone();
        let step: Step = Arc::new(move |r: &ApprovalRecord| {
            let event = Event::Decide {
                action,
                approver: decider.id.clone(),
                reason: reason.clone(),
                allowed: may_decide(&groups, &people, r, &decider),
                people: people.clone(),
            };
            lifecycle::apply(r, &event, clock.now())
        });
        match self.run(request_id, true, step).await {
            Err(ServiceError::Refused(Refusal::DeadlinePassed(at))) => {
                // The timer has not fired yet; expire now so waiters hear of it.
                self.fire(request_id, TimerKind::Expire).await;
                Err(ServiceError::Refused(Refusal::DeadlinePassed(at)))
            }
            other => other,
        }
    }

    /// The agent withdraws its request; a later click can never run it.
    pub async fn cancel(
        &self,
        request_id: &str,
        by: Option<String>,
        reason: Option<String>,
    ) -> Result<ApprovalRecord, ServiceError> {
        let by = by.filter(|b| !b.trim().is_empty());
        self.apply(request_id, Event::Cancel { by, reason }).await
    }

    /// Records that the approved call runs now, with these arguments. Refused
    /// unless approved, not yet run, and the arguments hash to the approved ones.
    pub async fn record_execution(
        &self,
        request_id: &str,
        arguments: serde_json::Value,
    ) -> Result<ApprovalRecord, ServiceError> {
        self.apply(request_id, Event::Execute { arguments }).await
    }

    /// Runs a lifecycle event through the store, then does what follows from it.
    async fn apply(&self, request_id: &str, event: Event) -> Result<ApprovalRecord, ServiceError> {
        // Only these events can end the pending state; the others (reminder,
        // execution, notified) leave the status as it was.
        let can_finish = matches!(
            event,
            Event::Decide { .. } | Event::Cancel { .. } | Event::Expire
        );
        let clock = self.clock.clone();
        let step: Step =
            Arc::new(move |r: &ApprovalRecord| lifecycle::apply(r, &event, clock.now()));
        self.run(request_id, can_finish, step).await
    }

    /// Runs `step` through the store's conditional write; when it may end the
    /// pending state and did, wakes waiters, stops timers and notifies.
    async fn run(
        &self,
        request_id: &str,
        can_finish: bool,
        step: Step,
    ) -> Result<ApprovalRecord, ServiceError> {
        let record = self
            .store
            .transition(request_id, step, &self.channels)
            .await?;
        self.kick_outbox();
        if can_finish && record.status.is_final() {
            self.after_final(&record).await;
        }
        Ok(record)
    }

    async fn after_final(&self, record: &ApprovalRecord) {
        self.waiters.wake(&record.request_id);
        if let Err(e) = self.workflow.finish(record).await {
            tracing::warn!(approval_id = %record.request_id, error = %e, "cannot stop timers");
        }
        let seconds = record
            .decided_at
            .map(|d| (d - record.timestamp).num_milliseconds() as f64 / 1000.0)
            .unwrap_or_default();
        self.metrics.finished(record.status.as_str(), seconds);
        let notice = match record.status {
            Status::Expired => Notice::Expired,
            Status::Cancelled => Notice::Cancelled,
            _ => Notice::Decided,
        };
        log_notice(notice, record).await;
    }

    /// Wakes every drainer: a commit may have written outbox rows.
    fn kick_outbox(&self) {
        for k in &self.kicks {
            k.notify_one();
        }
    }

    /// Starts one outbox drainer per notifier. Only a long-lived host runs
    /// these; their handles end when `shutdown` is cancelled.
    pub fn spawn_drainers(
        self: &Arc<Self>,
        shutdown: &CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        self.notifier
            .notifiers()
            .iter()
            .zip(&self.kicks)
            .map(|(n, kick)| {
                Drainer {
                    store: self.store.clone(),
                    notifier: n.clone(),
                    settings: self.settings.outbox.clone(),
                    clock: self.clock.clone(),
                    kick: kick.clone(),
                    service: Arc::downgrade(self),
                }
                .spawn(shutdown.clone())
            })
            .collect()
    }

    /// The request's card reached a channel: `notification_sent` becomes
    /// true while it is pending (a final record's history ends with its
    /// decision).
    pub async fn card_delivered(&self, request_id: &str) {
        match self.apply(request_id, Event::Notified).await {
            Ok(_) | Err(ServiceError::Refused(_)) => {}
            Err(e) => {
                tracing::debug!(approval_id = request_id, error = %e, "notification_sent not recorded")
            }
        }
    }

    /// How the request's notices fared, per channel.
    pub async fn deliveries(&self, request_id: &str) -> Result<Vec<Delivery>, ServiceError> {
        Ok(self.store.deliveries(request_id).await?)
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

    // Chat adapters keep their bookkeeping through the service too, so the
    // store has one caller; none of this changes a record.

    /// Remembers where a request's card was posted.
    pub async fn put_message_ref(
        &self,
        request_id: &str,
        r: MessageRef,
    ) -> Result<(), ServiceError> {
        Ok(self.store.put_message_ref(request_id, r).await?)
    }

    /// Where a request's card was posted on `platform`.
    pub async fn message_ref(
        &self,
        request_id: &str,
        platform: &str,
    ) -> Result<Option<MessageRef>, ServiceError> {
        Ok(self.store.message_ref(request_id, platform).await?)
    }

    /// The requests whose cards live in one thread, oldest first.
    pub async fn requests_in_thread(
        &self,
        platform: &str,
        conversation: &str,
        thread: &str,
    ) -> Result<Vec<String>, ServiceError> {
        Ok(self
            .store
            .requests_in_thread(platform, conversation, thread)
            .await?)
    }

    /// The thread grouping an agent session's requests in a channel.
    pub async fn session_thread(
        &self,
        platform: &str,
        channel_key: &str,
        session: &str,
    ) -> Result<Option<ThreadRef>, ServiceError> {
        Ok(self
            .store
            .session_thread(platform, channel_key, session)
            .await?)
    }

    /// Remembers a session's thread unless one is stored; returns the stored one.
    pub async fn put_session_thread(
        &self,
        platform: &str,
        channel_key: &str,
        session: &str,
        thread: ThreadRef,
    ) -> Result<ThreadRef, ServiceError> {
        Ok(self
            .store
            .put_session_thread(platform, channel_key, session, thread, self.clock.now())
            .await?)
    }

    /// True the first time `key` is claimed within `ttl`; false for a repeat
    /// (a replayed signature, a redelivered event).
    pub async fn claim_once(&self, key: &str, ttl: Duration) -> Result<bool, ServiceError> {
        let now = self.clock.now();
        let expires = chrono::Duration::from_std(ttl)
            .ok()
            .and_then(|d| now.checked_add_signed(d))
            .unwrap_or(chrono::DateTime::<Utc>::MAX_UTC);
        Ok(self.store.claim_once(key, expires, now).await?)
    }
}

#[async_trait]
impl Due for ApprovalService {
    async fn expire(&self, request_id: &str) {
        self.fire(request_id, TimerKind::Expire).await
    }

    async fn remind(&self, request_id: &str) {
        self.fire(request_id, TimerKind::Remind).await
    }
}

impl ApprovalService {
    fn lease_until(&self) -> chrono::DateTime<Utc> {
        self.clock.now()
            + chrono::Duration::from_std(self.settings.replicas.lease)
                .unwrap_or(chrono::Duration::seconds(30))
    }

    /// A timer is due here: lease it, so no other process fires it too,
    /// then act on it.
    async fn fire(&self, request_id: &str, kind: TimerKind) {
        let now = self.clock.now();
        match self
            .store
            .claim_timer(request_id, kind, now, self.lease_until())
            .await
        {
            Ok(true) => self.fire_claimed(request_id, kind).await,
            // Another process holds it, or the request is final already.
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(approval_id = request_id, error = %e, "cannot lease the timer; the sweep retries")
            }
        }
    }

    async fn fire_claimed(&self, request_id: &str, kind: TimerKind) {
        let event = match kind {
            TimerKind::Expire => Event::Expire,
            TimerKind::Remind => Event::Remind,
        };
        match self.apply(request_id, event).await {
            Ok(r) if kind == TimerKind::Expire => {
                tracing::info!(approval_id = %r.request_id, reason = r.reason.as_deref().unwrap_or(""), "expired")
            }
            Ok(r) => log_notice(Notice::Reminder, &r).await,
            Err(ServiceError::Refused(Refusal::Noop(_))) => {
                // It fired a little early (or the reminder went out already):
                // give the timer back and arm it again, so it is never lost.
                if let Err(e) = self.store.release_timer(request_id, kind).await {
                    tracing::warn!(approval_id = request_id, error = %e, "cannot release the timer");
                }
                if let Ok(r) = self.get(request_id).await
                    && !r.status.is_final()
                    && let Err(e) = self.workflow.start(&r).await
                {
                    tracing::warn!(approval_id = request_id, error = %e, "cannot arm the timer again; the sweep fires it");
                }
            }
            // Decided meanwhile: the decision removed the timer.
            Err(ServiceError::Refused(_)) | Err(ServiceError::NotFound(_)) => {}
            Err(e) => {
                tracing::error!(approval_id = request_id, timer = kind.as_str(), error = %e, "timer failed; it is retried once its lease runs out")
            }
        }
    }

    /// Fires the due timers nobody holds: those of a process that died and
    /// those no process armed. Runs on a long-lived host only.
    pub fn spawn_sweeper(
        self: &Arc<Self>,
        shutdown: &CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let me = Arc::downgrade(self);
        let stop = shutdown.clone();
        let every = self.settings.replicas.sweep_every;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let Some(svc) = me.upgrade() else { return };
                let now = svc.clock.now();
                match svc
                    .store
                    .claim_due_timers(now, svc.lease_until(), 100)
                    .await
                {
                    Ok(due) => {
                        for t in due {
                            let svc = svc.clone();
                            tokio::spawn(
                                async move { svc.fire_claimed(&t.request_id, t.kind).await },
                            );
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot read due timers"),
                }
            }
        })
    }

    /// Follows the requests that became final in the store, whichever
    /// process decided them, and wakes the long-polls waiting here.
    pub fn spawn_watcher(
        self: &Arc<Self>,
        shutdown: &CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let me = Arc::downgrade(self);
        let stop = shutdown.clone();
        let every = self.settings.replicas.watch_every;
        let store = self.store.clone();
        tokio::spawn(async move {
            let mut cursor = loop {
                match store.finals_since(None, 0).await {
                    Ok((_, c)) => break c,
                    Err(e) => tracing::warn!(error = %e, "cannot read finals"),
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(every) => {}
                }
            };
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let Some(svc) = me.upgrade() else { return };
                loop {
                    match store.finals_since(Some(&cursor), 1000).await {
                        Ok((ids, next)) => {
                            cursor = next;
                            for id in &ids {
                                svc.waiters.wake(id);
                            }
                            if ids.len() < 1000 {
                                break;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot read finals");
                            break;
                        }
                    }
                }
            }
        })
    }
}

/// Whether `who` is on the record's approver list: as the same person, by
/// a configured group, or by a platform-kept group the adapter vouched for.
/// A vouch counts only for entries naming a group of the decider's own
/// platform, so an adapter can never vouch someone into being another
/// person, nor into another platform's group.
fn may_decide(
    groups: &HashMap<String, Vec<String>>,
    people: &People,
    record: &ApprovalRecord,
    who: &Decider,
) -> bool {
    let platform = Identity::parse(&who.id).ok().map(|i| i.platform());
    record.approvers.is_empty()
        || record.approvers.iter().any(|entry| {
            if let Some(group) = entry.strip_prefix("group:") {
                return groups
                    .get(group)
                    .is_some_and(|m| m.iter().any(|m| people.same(m, &who.id)));
            }
            match platform_group(entry) {
                Some((kept_by, _)) => {
                    Some(kept_by) == platform && who.vouched_groups.contains(entry)
                }
                None => people.same(entry, &who.id),
            }
        })
}

/// The log line of a notice; it needs no outbox (a log is written or lost
/// with the process), and never carries the arguments.
async fn log_notice(notice: Notice, record: &ApprovalRecord) {
    // The log notifier cannot fail.
    let _ = LogNotifier.notify(notice, record).await;
}

/// An idempotent retry must be the same call as the stored request.
fn same_call(stored: &ApprovalRecord, proposed: &ApprovalRecord) -> bool {
    stored.tool == proposed.tool
        && stored.server == proposed.server
        && stored.requester == proposed.requester
        && stored.arguments_hash == proposed.arguments_hash
}

fn validate_id(id: &str) -> Result<(), ServiceError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ServiceError::Invalid(format!(
            "`request_id` must be 1-{MAX_ID_LEN} characters of A-Z, a-z, 0-9, '.', '_', ':' or '-' (got {id:?})"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(approvers: &[&str]) -> ApprovalRecord {
        let now = Utc::now();
        ApprovalRecord {
            request_id: "r1".into(),
            status: Status::Pending,
            requester: "agent".into(),
            agent_prompt: None,
            proposed_action: None,
            tool: "t".into(),
            server: None,
            arguments: serde_json::json!({}),
            arguments_hash: arguments_hash(&serde_json::json!({})),
            arguments_executed: None,
            executed_at: None,
            risk: hitl_wire::Risk::High,
            reasons: vec![],
            approvers: approvers.iter().map(|a| a.to_string()).collect(),
            quorum: 1,
            approvals: vec![],
            approver: None,
            reason: None,
            timestamp: now,
            expires_at: now + chrono::Duration::minutes(5),
            decided_at: None,
            escalation: None,
            reminded_at: None,
            notification_sent: false,
            session: None,
            channel: None,
        }
    }

    #[test]
    fn vouched_groups_count_only_for_the_deciders_platform_groups() {
        let groups = HashMap::from([("sre".to_owned(), vec!["U1".to_owned()])]);
        let people = People::default();
        let r = record(&["group:sre", "S0SRE01", "U2"]);
        let by_id = |id: &str| Decider::new(id);
        let vouched = |id: &str, g: &[&str]| Decider {
            id: id.to_owned(),
            vouched_groups: g.iter().map(|s| s.to_string()).collect(),
        };
        assert!(
            may_decide(&groups, &people, &r, &by_id("U1")),
            "config group"
        );
        assert!(
            may_decide(&groups, &people, &r, &by_id("slack:u2")),
            "by id"
        );
        assert!(!may_decide(&groups, &people, &r, &by_id("U3")));
        assert!(may_decide(
            &groups,
            &people,
            &r,
            &vouched("U3", &["S0SRE01"])
        ));
        // A vouch for a person is no vouch, nor one from another platform.
        assert!(!may_decide(&groups, &people, &r, &vouched("U3", &["U2"])));
        assert!(!may_decide(
            &groups,
            &people,
            &r,
            &vouched("teams:bob@contoso.com", &["S0SRE01"])
        ));
        // Nobody named: anyone may decide (self-approval is the lifecycle's rule).
        assert!(may_decide(&groups, &people, &record(&[]), &by_id("U9")));
    }

    #[test]
    fn a_linked_person_matches_from_any_platform() {
        let people = People::new(&[crate::people::PersonConfig {
            name: Some("Alice".into()),
            ids: vec!["slack:U0ALICE1".into(), "teams:alice@contoso.com".into()],
        }])
        .unwrap();
        let groups =
            HashMap::from([("sre".to_owned(), vec!["teams:alice@contoso.com".to_owned()])]);
        let r = record(&["group:sre"]);
        assert!(may_decide(&groups, &people, &r, &Decider::new("U0ALICE1")));
        assert!(!may_decide(&groups, &people, &r, &Decider::new("U0BOB1")));
    }
}
