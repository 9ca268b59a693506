//! Waits for the decisions on every held call with one long-poll.
//!
//! Each held call registers its request id here and waits on a channel; one
//! task long-polls `POST /v1/approvals/wait` with all the ids at once and
//! hands each final record to its waiters. A thousand held calls cost one
//! HTTP connection, not a thousand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hitl_wire::ApprovalRecord;
use tokio::sync::{Notify, watch};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::approval::ApprovalClient;

/// What a waiter knows about its request.
#[derive(Debug, Clone)]
pub enum State {
    Pending,
    Final(Box<ApprovalRecord>),
    /// The approval service could not be asked, several times in a row.
    Unreachable(String),
}

#[derive(Default)]
struct Inner {
    watched: Mutex<HashMap<String, watch::Sender<State>>>,
    changed: Notify,
}

#[derive(Clone)]
pub struct Decisions {
    inner: Arc<Inner>,
    /// Stops the poller when the last clone goes.
    _stop: Arc<DropGuard>,
}

/// Longest single poll; short enough that a dead connection is noticed.
const POLL: Duration = Duration::from_secs(25);
/// Consecutive failures before waiters are told the service is unreachable.
const FAILURES_BEFORE_REPORT: u32 = 3;

impl Decisions {
    /// Starts the poller; it stops when the last `Decisions` is dropped.
    pub fn start(approvals: ApprovalClient) -> Self {
        let inner = Arc::new(Inner::default());
        let stop = CancellationToken::new();
        tokio::spawn(poll(inner.clone(), approvals, stop.clone()));
        Self {
            inner,
            _stop: Arc::new(stop.drop_guard()),
        }
    }

    /// Waits on `request_id` from now on.
    pub fn watch(&self, request_id: &str) -> watch::Receiver<State> {
        let mut watched = self.inner.watched.lock().unwrap_or_else(|p| p.into_inner());
        let rx = match watched.get(request_id) {
            Some(tx) => tx.subscribe(),
            None => {
                let (tx, rx) = watch::channel(State::Pending);
                watched.insert(request_id.to_owned(), tx);
                rx
            }
        };
        drop(watched);
        self.inner.changed.notify_one();
        rx
    }
}

async fn poll(me: Arc<Inner>, approvals: ApprovalClient, stop: CancellationToken) {
    let mut failures = 0u32;
    loop {
        let ids: Vec<String> = {
            let mut watched = me.watched.lock().unwrap_or_else(|p| p.into_inner());
            // Forget requests nobody waits on any more (answered, cancelled).
            watched.retain(|_, tx| tx.receiver_count() > 0);
            watched.keys().cloned().collect()
        };
        if ids.is_empty() {
            tokio::select! {
                _ = me.changed.notified() => continue,
                _ = stop.cancelled() => return,
            }
        }
        let result = tokio::select! {
            _ = stop.cancelled() => return,
            r = approvals.wait_any(&ids, POLL) => Some(r),
            // A new id: poll again with it (after a moment, so a burst of
            // new holds makes one new poll, not one each).
            _ = me.changed.notified() => None,
        };
        match result {
            None => tokio::time::sleep(Duration::from_millis(10)).await,
            Some(Ok(records)) => {
                failures = 0;
                tracing::debug!(
                    watched = ids.len(),
                    decided = records.len(),
                    "decisions polled"
                );
                let mut watched = me.watched.lock().unwrap_or_else(|p| p.into_inner());
                for r in records {
                    if let Some(tx) = watched.remove(&r.request_id) {
                        tx.send_replace(State::Final(Box::new(r)));
                    }
                }
            }
            Some(Err(e)) => {
                failures += 1;
                tracing::warn!(error = %e, failures, "waiting for decisions failed");
                if failures >= FAILURES_BEFORE_REPORT {
                    let watched = me.watched.lock().unwrap_or_else(|p| p.into_inner());
                    for tx in watched.values() {
                        tx.send_replace(State::Unreachable(e.to_string()));
                    }
                }
                tokio::time::sleep(Duration::from_millis(200 * u64::from(failures.min(10)))).await;
            }
        }
    }
}
