//! Held calls answered as MCP tasks (SEP-2663), for clients that declare the
//! tasks extension: the client gets a task at once instead of waiting on an
//! open request, and polls it (`tasks/get`) or cancels it (`tasks/cancel`).
//!
//! A task is the approval request on the service (its id is `hitl-` + the
//! request id) plus, once the decision is in, the outcome of the call. The
//! decision itself lives in the approval service's store; only the outcome
//! of the run is kept here, in memory, for [`KEEP_FINISHED`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::Utc;
use rmcp::model::{DetailedTask, JsonObject, Task, TaskPayload, TaskStatus};
use tokio_util::sync::CancellationToken;

/// Prefix of the task ids the gateway makes (others belong to the upstream).
pub const PREFIX: &str = "hitl-";

/// How long a finished task's outcome stays readable.
pub const KEEP_FINISHED: Duration = Duration::from_secs(3600);

/// What clients are told to wait between polls.
pub const POLL_INTERVAL_MS: u64 = 2000;

struct Slot {
    created_at: String,
    updated_at: String,
    payload: TaskPayload,
    message: Option<String>,
    cancel: CancellationToken,
    finished: Option<tokio::time::Instant>,
    /// The downstream session that created it; only it may see or cancel it.
    owner: u64,
}

#[derive(Default)]
pub struct Tasks {
    slots: Mutex<HashMap<String, Slot>>,
}

fn now() -> String {
    Utc::now().to_rfc3339()
}

impl Tasks {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new working task; the token cancels the work behind it.
    pub fn start(&self, task_id: &str, message: String, owner: u64) -> (Task, CancellationToken) {
        let cancel = CancellationToken::new();
        let created = now();
        let mut slots = self.lock();
        // Forget finished tasks past their keep time (swept here: no timer).
        slots.retain(|_, s| s.finished.is_none_or(|t| t.elapsed() < KEEP_FINISHED));
        slots.insert(
            task_id.to_owned(),
            Slot {
                created_at: created.clone(),
                updated_at: created.clone(),
                payload: TaskPayload::Working,
                message: Some(message.clone()),
                cancel: cancel.clone(),
                finished: None,
                owner,
            },
        );
        let task = Task::new(task_id, TaskStatus::Working, created.clone(), created)
            .with_status_message(message)
            .with_poll_interval_ms(POLL_INTERVAL_MS);
        (task, cancel)
    }

    /// Records the final outcome.
    pub fn finish(&self, task_id: &str, payload: TaskPayload, message: Option<String>) {
        if let Some(slot) = self.lock().get_mut(task_id) {
            slot.payload = payload;
            slot.message = message;
            slot.updated_at = now();
            slot.finished = Some(tokio::time::Instant::now());
        }
    }

    /// The task, if `session` owns it: another session's task is answered
    /// as no task at all.
    pub fn get(&self, task_id: &str, session: u64) -> Option<DetailedTask> {
        let slots = self.lock();
        let s = slots.get(task_id).filter(|s| s.owner == session)?;
        let mut task = Task::new(
            task_id,
            s.payload.status(),
            s.created_at.clone(),
            s.updated_at.clone(),
        )
        .with_poll_interval_ms(POLL_INTERVAL_MS);
        if let Some(m) = &s.message {
            task = task.with_status_message(m.clone());
        }
        Some(DetailedTask::new(task, s.payload.clone()))
    }

    /// Cancels the work behind a task; false when there is no such task
    /// of `session`'s.
    pub fn cancel(&self, task_id: &str, session: u64) -> bool {
        match self.lock().get(task_id).filter(|s| s.owner == session) {
            Some(s) => {
                s.cancel.cancel();
                true
            }
            None => false,
        }
    }
}

/// Most upstream tasks remembered; the oldest are forgotten past it.
const MAX_UPSTREAM_TASKS: usize = 10_000;

/// Tasks the upstreams made, by id: the upstream that made each (its task
/// methods go there, not to the first upstream) and the downstream session
/// it was made for (no other session can reach it).
#[derive(Default)]
pub struct UpstreamTasks {
    made: Mutex<Made>,
}

/// Task id to (upstream, session), and the ids in the order they came.
type Made = (
    HashMap<String, (usize, u64)>,
    std::collections::VecDeque<String>,
);

impl UpstreamTasks {
    pub fn made(&self, task_id: &str, upstream: usize, session: u64) {
        let mut guard = self.made.lock().unwrap_or_else(|p| p.into_inner());
        let (map, order) = &mut *guard;
        if map
            .insert(task_id.to_owned(), (upstream, session))
            .is_none()
        {
            order.push_back(task_id.to_owned());
        }
        while order.len() > MAX_UPSTREAM_TASKS {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    /// The upstream that made `task_id` and the session it was made for.
    pub fn owner(&self, task_id: &str) -> Option<(usize, u64)> {
        let guard = self.made.lock().unwrap_or_else(|p| p.into_inner());
        guard.0.get(task_id).copied()
    }
}

/// A JSON value as the object a task payload carries.
pub fn as_object(value: serde_json::Value) -> JsonObject {
    match value {
        serde_json::Value::Object(map) => map,
        other => {
            let mut map = JsonObject::new();
            map.insert("value".to_owned(), other);
            map
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_belongs_to_the_session_that_made_it() {
        let tasks = Tasks::default();
        let (_, cancel) = tasks.start("hitl-A", "waiting".into(), 1);
        assert!(tasks.get("hitl-A", 2).is_none());
        assert!(!tasks.cancel("hitl-A", 2));
        assert!(!cancel.is_cancelled());
        assert!(tasks.get("hitl-A", 1).is_some());
        assert!(tasks.cancel("hitl-A", 1));
        assert!(cancel.is_cancelled());
    }
}
