//! One channel's drainer: claims its due rows, delivers them, settles them.

use std::sync::{Arc, Weak};

use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{OutboxRow, OutboxSettings, Settle};
use crate::clock::Clock;
use crate::lease;
use crate::notify::{Notice, Notifier};
use crate::service::ApprovalService;
use crate::store::Store;

/// What a drainer needs; [`Drainer::spawn`] runs it until `shutdown`.
pub struct Drainer {
    pub store: Arc<dyn Store>,
    pub notifier: Arc<dyn Notifier>,
    pub settings: OutboxSettings,
    pub clock: Clock,
    /// Poked after every commit that wrote rows, so new notices go out at
    /// once rather than at the next poll.
    pub kick: Arc<Notify>,
    /// For what follows a delivery (`notification_sent`, metrics); weak,
    /// since the service holds the kick that wakes this task.
    pub service: Weak<ApprovalService>,
}

impl Drainer {
    pub fn spawn(self, shutdown: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(self.run(shutdown))
    }

    async fn run(self, shutdown: CancellationToken) {
        let me = Arc::new(self);
        let channel = me.notifier.name();
        let mut in_flight = JoinSet::new();
        loop {
            let room = me.settings.max_in_flight.saturating_sub(in_flight.len());
            if room > 0 {
                let now = me.clock.now();
                let lease_until = now + chrono_duration(me.settings.lease);
                match me.store.outbox_claim(channel, now, lease_until, room).await {
                    Ok(rows) => {
                        for row in rows {
                            let me = me.clone();
                            in_flight.spawn(async move { me.deliver(row, lease_until).await });
                        }
                    }
                    Err(e) => tracing::warn!(channel, error = %e, "outbox: cannot claim notices"),
                }
            }
            let now = me.clock.now();
            let poll_at = now + chrono_duration(me.settings.poll);
            let wake_at = match me.store.outbox_next_due(channel).await {
                Ok(Some(due)) if due < poll_at => due.max(now),
                _ => poll_at,
            };
            let sleep = tokio::time::sleep_until(me.clock.instant_at(wake_at));
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = me.kick.notified() => {}
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                _ = sleep => {}
            }
        }
        // Deliveries in flight stop with the process; their leases run out
        // and whoever drains next sends them again.
        in_flight.abort_all();
    }

    async fn deliver(&self, row: OutboxRow, held: chrono::DateTime<chrono::Utc>) {
        let service = self.service.upgrade();
        Attempt {
            store: self.store.as_ref(),
            notifier: self.notifier.as_ref(),
            settings: &self.settings,
            clock: &self.clock,
            service: service.as_deref(),
        }
        .run(row, held)
        .await;
    }
}

/// How one delivery attempt ended, as recorded on the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempted {
    Delivered,
    /// Failed; the row is due again at `next_at`.
    Retry {
        next_at: chrono::DateTime<chrono::Utc>,
    },
    /// Failed past [`OutboxSettings::give_up_after`]: the row is `failed`.
    GaveUp,
    /// Another process took the lease mid-send; it delivers the notice.
    LeaseLost,
    /// Sent or not, the outcome could not be written; the lease runs out
    /// and the row is tried again (at worst a repeat).
    NotRecorded,
}

/// One delivery attempt of a row leased until `held`: the notifier's send
/// under the renewed lease, then the outcome settled on the row, the
/// metrics and `notification_sent`. The long-lived drainer and the Lambda
/// queue drain ([`crate::lambda::drain`]) share it, so a notice fares the
/// same on both.
pub struct Attempt<'a> {
    pub store: &'a dyn Store,
    pub notifier: &'a dyn Notifier,
    pub settings: &'a OutboxSettings,
    pub clock: &'a Clock,
    /// For what follows a delivery; `None` while the service is stopping.
    pub service: Option<&'a ApprovalService>,
}

impl Attempt<'_> {
    /// Delivers a row this process leased until `held`, renewing the lease
    /// while the send lasts (a slow channel, a retry-after), so no other
    /// process sends it too meanwhile.
    pub async fn run(&self, row: OutboxRow, held: chrono::DateTime<chrono::Utc>) -> Attempted {
        let channel = self.notifier.name();
        let renew = |held, until| {
            self.store
                .outbox_renew(channel, &row.request_id, row.seq, held, until)
        };
        let send = self.notifier.notify(row.notice, &row.record);
        let span = tracing::info_span!("outbox_lease", channel, approval_id = %row.request_id, seq = row.seq);
        let Some(sent) = lease::while_held(self.clock, self.settings.lease, held, renew, send)
            .instrument(span)
            .await
        else {
            tracing::warn!(
                channel,
                approval_id = %row.request_id,
                notice = row.notice.as_str(),
                "outbox: lease lost to another process mid-send; it delivers the notice"
            );
            return Attempted::LeaseLost;
        };
        let (outcome, attempted) = match sent {
            Ok(()) => (
                Settle::Delivered {
                    at: self.clock.now(),
                },
                Attempted::Delivered,
            ),
            Err(e) => {
                let now = self.clock.now();
                let error = e.message;
                let age = (now - row.created_at).to_std().unwrap_or_default();
                if age >= self.settings.give_up_after {
                    tracing::error!(
                        channel,
                        approval_id = %row.request_id,
                        notice = row.notice.as_str(),
                        attempts = row.attempts + 1,
                        error = %error,
                        "outbox: giving up on a notice"
                    );
                    (Settle::Failed { at: now, error }, Attempted::GaveUp)
                } else {
                    let next_at = now + chrono_duration(self.settings.backoff(row.attempts + 1));
                    tracing::warn!(
                        channel,
                        approval_id = %row.request_id,
                        notice = row.notice.as_str(),
                        attempts = row.attempts + 1,
                        retry_at = %next_at,
                        error = %error,
                        "outbox: delivery failed; will retry"
                    );
                    (
                        Settle::Retry { next_at, error },
                        Attempted::Retry { next_at },
                    )
                }
            }
        };
        if let Err(e) = self
            .store
            .outbox_settle(channel, &row.request_id, row.seq, outcome)
            .await
        {
            tracing::warn!(channel, approval_id = %row.request_id, error = %e, "outbox: cannot record the outcome");
            return Attempted::NotRecorded;
        }
        let Some(svc) = self.service else {
            return attempted;
        };
        let delivered = attempted == Attempted::Delivered;
        svc.metrics()
            .notice_settled(channel, delivered, attempted == Attempted::GaveUp);
        if delivered && row.notice == Notice::Created {
            svc.card_delivered(&row.request_id).await;
        }
        attempted
    }
}

pub(crate) fn chrono_duration(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
