//! The outbox seen from the service: waking drainers after a commit, one
//! drainer per notifier, and what the record shows of delivery.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{ApprovalService, ServiceError};
use crate::lifecycle::Event;
use crate::outbox::Delivery;
use crate::outbox::drain::Drainer;

impl ApprovalService {
    /// Wakes every drainer: a commit may have written outbox rows.
    pub(super) fn kick_outbox(&self) {
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
}
