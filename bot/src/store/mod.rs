//! Where approval records and their audit history live.
//!
//! The [`Store`] trait is the seam between the embedded back end
//! ([`sqlite::SqliteStore`]) and the AWS one (DynamoDB). Every change to a
//! record goes through [`Store::transition`], which runs the lifecycle rule
//! against the stored record and writes the result only if nobody changed it
//! in between: exactly one decision wins, and the loser gets the refusal
//! computed from the winning state.
//!
//! Beside the records, the store keeps what chat adapters need to find their
//! messages again after a restart ([`MessageRef`], [`ThreadRef`]) and keys
//! that may be used only once ([`Store::claim_once`]: delivered event ids,
//! request signatures). These are plain strings per platform, so the same
//! methods serve Slack and Teams and any back end can hold them.

pub mod dynamo;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hitl_wire::api::AuditEvent;
use hitl_wire::{ApprovalRecord, Status};

use crate::credentials::{Credential, NewCredential};
use crate::lifecycle::{AuditEntry, Refusal, Transition};
use crate::outbox::{Delivery, OutboxRow, Settle};
use crate::workflow::{Timer, TimerKind};

/// A lifecycle step to run against the current record inside the store's
/// conditional write. It may run more than once if a write races.
pub type Step = Arc<dyn Fn(&ApprovalRecord) -> Result<Transition, Refusal> + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no approval request with id {0:?}")]
    NotFound(String),
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("store failure: {0}")]
    Backend(String),
    /// A paging cursor this store never gave out, or one it cannot honour.
    #[error("{0}")]
    BadCursor(String),
    /// Throttled or a transient failure, still failing after retries: the
    /// caller should try again shortly (HTTP 503 with Retry-After).
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// Where a page of audit history starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditFrom {
    /// The oldest entry.
    Start,
    /// After the last entry of an earlier page (its opaque `next_cursor`).
    Cursor(String),
    /// After an entry's `seq`, the older form: SQLite numbers all entries in
    /// one sequence; a store that cannot honour it refuses with `BadCursor`.
    Seq(i64),
}

/// What [`Store::insert`] did.
#[derive(Debug, Clone)]
pub enum Inserted {
    Created(ApprovalRecord),
    /// The id was taken: this is the record stored under it.
    Existing(ApprovalRecord),
}

/// Filter for [`Store::list`], newest first.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<Status>,
    pub limit: usize,
}

/// Where a request's card was posted on one chat platform.
///
/// The generic parts name concepts every platform has; `platform_ref` is
/// the platform adapter's own (opaque) note for finding the message again
/// (Teams: service URL, tenant, activity id as JSON). Slack needs none: its
/// message id is the message's `ts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRef {
    /// `"slack"`, `"teams"`.
    pub platform: String,
    /// The conversation (Slack channel, Teams conversation) the platform
    /// answered with.
    pub conversation: String,
    /// The message's own id (Slack: its `ts`; Teams: the activity id).
    pub message: String,
    /// The thread it lives in: its own id when it starts the thread.
    pub thread: String,
    /// Adapter-specific data, stored and returned as written.
    pub platform_ref: Option<String>,
}

/// A thread that groups the requests of one agent session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadRef {
    /// The conversation id the platform answered with.
    pub conversation: String,
    /// The thread's first message.
    pub thread: String,
    /// Adapter-specific data, stored and returned as written.
    pub platform_ref: Option<String>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a new record with its `created` audit entry, its timers
    /// ([`crate::workflow::timers_of`]) and a `created` outbox row for each
    /// of `outbox` (notifier names), all in one transaction, unless the id
    /// exists.
    async fn insert(
        &self,
        record: ApprovalRecord,
        audit: AuditEntry,
        outbox: &[String],
    ) -> Result<Inserted, StoreError>;

    async fn get(&self, request_id: &str) -> Result<Option<ApprovalRecord>, StoreError>;

    /// The final records among these ids (pending and unknown ids are left
    /// out): the answer to a long-poll on many requests.
    async fn finals_among(&self, request_ids: &[String])
    -> Result<Vec<ApprovalRecord>, StoreError>;

    async fn list(&self, filter: ListFilter) -> Result<Vec<ApprovalRecord>, StoreError>;

    /// Every pending record, oldest deadline first (for the workflow at start).
    async fn pending(&self) -> Result<Vec<ApprovalRecord>, StoreError>;

    /// Number of pending records (for metrics).
    async fn count_pending(&self) -> Result<u64, StoreError>;

    /// Applies `step` to the stored record and writes the result atomically
    /// with its audit entry and, when the change is one people hear about
    /// ([`Transition::notice`]), an outbox row for each of `outbox`. A record
    /// that becomes final loses its timers and is added to the finals that
    /// [`Store::finals_since`] follows; a sent reminder loses its timer.
    /// Returns the new record.
    async fn transition(
        &self,
        request_id: &str,
        step: Step,
        outbox: &[String],
    ) -> Result<ApprovalRecord, StoreError>;

    /// Leases up to `limit` of `channel`'s rows that are due at `now` until
    /// `lease_until`: per request, only the earliest row not yet settled, and
    /// only if nobody holds a live lease on it. Oldest due first.
    async fn outbox_claim(
        &self,
        channel: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError>;

    /// Extends the lease on a claimed row, named by the `held_until` its
    /// holder set, to `lease_until`: true while nobody claimed the row since
    /// (and it is not settled), as for [`Store::renew_timer`].
    async fn outbox_renew(
        &self,
        channel: &str,
        request_id: &str,
        seq: i64,
        held_until: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Records how one attempt at a claimed row ended, and releases its lease.
    async fn outbox_settle(
        &self,
        channel: &str,
        request_id: &str,
        seq: i64,
        outcome: Settle,
    ) -> Result<(), StoreError>;

    /// When `channel`'s next row falls due (ignoring leases), if it has any.
    async fn outbox_next_due(&self, channel: &str) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Delivery of a request's notices, one entry per channel.
    async fn deliveries(&self, request_id: &str) -> Result<Vec<Delivery>, StoreError>;

    /// Every timer of every pending request (the local engine arms these at
    /// start).
    async fn timers(&self) -> Result<Vec<Timer>, StoreError>;

    /// Leases one timer until `lease_until` unless another live lease holds
    /// it; true when this caller may fire it. False too when it is gone.
    async fn claim_timer(
        &self,
        request_id: &str,
        kind: TimerKind,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Extends a lease this caller holds, named by the `held_until` it set,
    /// to `lease_until`: true while nobody else claimed the timer since (a
    /// claim writes a new `lease_until`) and it still exists. A holder whose
    /// work outlasts the lease renews it, so no other process fires it too.
    async fn renew_timer(
        &self,
        request_id: &str,
        kind: TimerKind,
        held_until: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Gives a leased timer back (it fired too early and is armed again).
    async fn release_timer(&self, request_id: &str, kind: TimerKind) -> Result<(), StoreError>;

    /// Leases up to `limit` timers due at `now` that nobody holds a live
    /// lease on: those whose process died or never armed them.
    async fn claim_due_timers(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Timer>, StoreError>;

    /// The requests that became final after `cursor` (opaque, from an
    /// earlier answer; `None`: from now on, returning no ids), at most
    /// `limit`, and the cursor to pass next time.
    async fn finals_since(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, String), StoreError>;

    /// Audit history from `from`, oldest first, at most `limit`, and the
    /// opaque cursor of the next page (`None` when this page is the last).
    async fn audit(
        &self,
        request_id: Option<&str>,
        from: AuditFrom,
        limit: usize,
    ) -> Result<(Vec<AuditEvent>, Option<String>), StoreError>;

    /// Deletes final records decided before `cutoff`, with their history and
    /// message references, and session threads started before `cutoff`.
    /// Pending records are never purged. Returns how many records went.
    async fn purge(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Records (or replaces) where a request's card was posted on `r.platform`.
    async fn put_message_ref(&self, request_id: &str, r: MessageRef) -> Result<(), StoreError>;

    /// Where a request's card was posted on `platform`, if it was.
    async fn message_ref(
        &self,
        request_id: &str,
        platform: &str,
    ) -> Result<Option<MessageRef>, StoreError>;

    /// The requests whose cards live in one thread, oldest first.
    async fn requests_in_thread(
        &self,
        platform: &str,
        conversation: &str,
        thread: &str,
    ) -> Result<Vec<String>, StoreError>;

    /// The thread of `session` in `channel_key` (the channel as configured).
    async fn session_thread(
        &self,
        platform: &str,
        channel_key: &str,
        session: &str,
    ) -> Result<Option<ThreadRef>, StoreError>;

    /// Remembers the thread of `session` unless one is already stored; returns
    /// the one that is stored now (the first writer's).
    async fn put_session_thread(
        &self,
        platform: &str,
        channel_key: &str,
        session: &str,
        thread: ThreadRef,
        now: DateTime<Utc>,
    ) -> Result<ThreadRef, StoreError>;

    /// Claims `key` until `expires_at`: true the first time, false while an
    /// earlier claim is live. Expired claims are forgotten.
    async fn claim_once(
        &self,
        key: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Stores a new credential (its token's hash, never the token).
    async fn put_credential(&self, c: NewCredential) -> Result<(), StoreError>;

    /// The live credential whose token hashes to `hash`. Asked on every
    /// request, so a revocation holds at once in every process.
    async fn credential_by_hash(&self, hash: &str) -> Result<Option<Credential>, StoreError>;

    /// Every live credential, oldest first.
    async fn credentials(&self) -> Result<Vec<Credential>, StoreError>;

    /// Revokes the credential with this id; false when there is none.
    async fn revoke_credential(&self, id: &str) -> Result<bool, StoreError>;

    /// Keeps the workflow's task token with a pending record, replacing an
    /// older one (a re-wait hands out a fresh token). False, with nothing
    /// stored, when the record is final or unknown: the caller then answers
    /// the task itself, so a decision made before the token arrived is
    /// never lost.
    async fn put_task_token(&self, request_id: &str, token: &str) -> Result<bool, StoreError>;

    /// The task token kept with the record, if any.
    async fn task_token(&self, request_id: &str) -> Result<Option<String>, StoreError>;
}
