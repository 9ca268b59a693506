//! Where approval records and their audit history live.
//!
//! The [`Store`] trait is the seam between the embedded back end
//! ([`sqlite::SqliteStore`]) and the AWS one (DynamoDB). Every change to a
//! record goes through [`Store::transition`], which runs the lifecycle rule
//! against the stored record and writes the result only if nobody changed it
//! in between: exactly one decision wins, and the loser gets the refusal
//! computed from the winning state.

pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hitl_wire::api::AuditEvent;
use hitl_wire::{ApprovalRecord, Status};

use crate::lifecycle::{AuditEntry, Refusal, Transition};

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

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a new record with its `created` audit entry, unless the id exists.
    async fn insert(
        &self,
        record: ApprovalRecord,
        audit: AuditEntry,
    ) -> Result<Inserted, StoreError>;

    async fn get(&self, request_id: &str) -> Result<Option<ApprovalRecord>, StoreError>;

    async fn list(&self, filter: ListFilter) -> Result<Vec<ApprovalRecord>, StoreError>;

    /// Every pending record, oldest deadline first (for the workflow at start).
    async fn pending(&self) -> Result<Vec<ApprovalRecord>, StoreError>;

    /// Number of pending records (for metrics).
    async fn count_pending(&self) -> Result<u64, StoreError>;

    /// Applies `step` to the stored record and writes the result atomically
    /// with its audit entry. Returns the new record.
    async fn transition(&self, request_id: &str, step: Step) -> Result<ApprovalRecord, StoreError>;

    /// Audit history after `after` (a `seq`), oldest first, at most `limit`.
    async fn audit(
        &self,
        request_id: Option<&str>,
        after: i64,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError>;

    /// Deletes final records decided before `cutoff`, with their history.
    /// Pending records are never purged. Returns how many went.
    async fn purge(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError>;
}
