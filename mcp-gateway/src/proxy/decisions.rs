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

use crate::approval::{ApprovalClient, ApprovalError};

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
/// Request ids per long-poll: a few large polls run side by side rather
/// than one body with every held call in it.
pub const CHUNK: usize = 2_500;
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
            r = poll_chunks(&approvals, &ids, POLL) => Some(r),
            // A new id: poll again with it (after a moment, so a burst of
            // new holds makes one new poll, not one each).
            _ = me.changed.notified() => None,
        };
        match result {
            None => tokio::time::sleep(Duration::from_millis(10)).await,
            Some(Ok(Polled {
                records,
                unreadable,
            })) => {
                failures = 0;
                tracing::debug!(
                    watched = ids.len(),
                    decided = records.len(),
                    unreadable = unreadable.len(),
                    "decisions polled"
                );
                let mut watched = me.watched.lock().unwrap_or_else(|p| p.into_inner());
                for r in records {
                    if let Some(tx) = watched.remove(&r.request_id) {
                        tx.send_replace(State::Final(Box::new(r)));
                    }
                }
                for id in unreadable {
                    if let Some(tx) = watched.remove(&id) {
                        tx.send_replace(State::Unreachable(format!(
                            "the approval service's record of request {id} cannot be read"
                        )));
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

/// What one round of polling found.
#[derive(Debug, Default)]
struct Polled {
    records: Vec<ApprovalRecord>,
    /// Ids whose record the service sent but this gateway cannot read; they
    /// fail alone instead of failing every other held call.
    unreadable: Vec<String>,
}

/// Long-polls every chunk of `ids` side by side and returns as soon as one
/// chunk has decisions (or all time out empty).
async fn poll_chunks(
    approvals: &ApprovalClient,
    ids: &[String],
    wait: Duration,
) -> Result<Polled, ApprovalError> {
    let mut polls = tokio::task::JoinSet::new();
    for chunk in ids.chunks(CHUNK) {
        let approvals = approvals.clone();
        let chunk = chunk.to_vec();
        polls.spawn(async move { poll_one(&approvals, chunk, wait).await });
    }
    let mut last_err = None;
    while let Some(done) = polls.join_next().await {
        match done {
            Ok(Ok(p)) if !p.records.is_empty() || !p.unreadable.is_empty() => return Ok(p),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => last_err = Some(e),
            Err(e) => last_err = Some(ApprovalError::Protocol(e.to_string())),
        }
    }
    match last_err {
        Some(e) => Err(e),
        None => Ok(Polled::default()),
    }
}

/// One chunk's long-poll. When the answer cannot be parsed, the chunk is
/// split in halves and asked again at once, down to the ids that fail.
fn poll_one(
    approvals: &ApprovalClient,
    ids: Vec<String>,
    wait: Duration,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Polled, ApprovalError>> + Send + '_>>
{
    Box::pin(async move {
        match approvals.wait_any(&ids, wait).await {
            Ok(records) => Ok(Polled {
                records,
                unreadable: Vec::new(),
            }),
            Err(e) if !unreadable_answer(&e) => Err(e),
            Err(_) if ids.len() == 1 => Ok(Polled {
                records: Vec::new(),
                unreadable: ids,
            }),
            Err(e) => {
                tracing::warn!(ids = ids.len(), error = %e, "a decision could not be read; narrowing it down");
                let (a, b) = ids.split_at(ids.len() / 2);
                let mut out = poll_one(approvals, a.to_vec(), Duration::ZERO).await?;
                let more = poll_one(approvals, b.to_vec(), Duration::ZERO).await?;
                out.records.extend(more.records);
                out.unreadable.extend(more.unreadable);
                Ok(out)
            }
        }
    })
}

/// A successful answer whose body does not parse (one record the gateway
/// cannot read, e.g. arguments nested past the JSON parser's limit), as
/// opposed to an error page or an unreachable service, which says nothing
/// about any one request.
fn unreadable_answer(e: &ApprovalError) -> bool {
    matches!(e, ApprovalError::Protocol(m) if m.starts_with("the approval service's answer is"))
}
