//! Long-polls: waiting for one request or any of many to become final, and
//! the watcher that wakes them when another process recorded the decision.

use std::sync::Arc;
use std::time::Duration;

use hitl_wire::ApprovalRecord;
use tokio_util::sync::CancellationToken;

use super::{ApprovalService, ServiceError};

/// Most requests one `wait_any` long-poll may watch.
pub const MAX_WAIT_IDS: usize = 5000;

impl ApprovalService {
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
