//! Timers due here: each is leased in the store before it fires, so two
//! processes never both fire one; the sweep fires those nobody holds. A
//! holder renews its lease while it works, so work that outlasts the lease
//! (a slow store) is not taken over by another process.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{ApprovalService, ServiceError, log_notice};
use crate::lease;
use crate::lifecycle::{Event, Refusal};
use crate::notify::Notice;
use crate::workflow::{Due, TimerKind};

/// How acting on a timer ended.
#[derive(Debug, PartialEq, Eq)]
enum Fired {
    /// Acted on, refused as decided meanwhile, or failed (retried once the
    /// lease runs out).
    Done,
    /// The lifecycle says it is not due yet: give it back and arm it again.
    NotDue,
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
    pub(super) async fn fire(&self, request_id: &str, kind: TimerKind) {
        let now = self.clock.now();
        let held = self.lease_until();
        match self.store.claim_timer(request_id, kind, now, held).await {
            Ok(true) => self.fire_claimed(request_id, kind, held).await,
            // Another process holds it, or the request is final already.
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(approval_id = request_id, error = %e, "cannot lease the timer; the sweep retries")
            }
        }
    }

    /// Fires a timer this process leased until `held`, renewing the lease
    /// while the work lasts.
    async fn fire_claimed(&self, request_id: &str, kind: TimerKind, held: DateTime<Utc>) {
        let acted = self.while_leased(request_id, kind, held, self.act_on(request_id, kind));
        if acted.await == Some(Fired::NotDue) {
            // Given back once the lease is no longer renewed, so that the
            // release does not read as a lease lost mid-work.
            self.give_back(request_id, kind).await;
        }
    }

    /// A timer that fired a little early (or whose reminder went out
    /// already): give it back and arm it again, so it is never lost.
    async fn give_back(&self, request_id: &str, kind: TimerKind) {
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

    /// Runs `work` while holding the timer's lease (taken until `held`),
    /// renewing it ([`crate::lease::while_held`]). `None` when the lease was
    /// lost to another process, which fires the timer instead.
    pub async fn while_leased<F: Future>(
        &self,
        request_id: &str,
        kind: TimerKind,
        held: DateTime<Utc>,
        work: F,
    ) -> Option<F::Output> {
        let renew = |held, until| self.store.renew_timer(request_id, kind, held, until);
        let span = tracing::info_span!(
            "timer_lease",
            approval_id = request_id,
            timer = kind.as_str()
        );
        let out = lease::while_held(&self.clock, self.settings.replicas.lease, held, renew, work)
            .instrument(span)
            .await;
        if out.is_none() {
            tracing::warn!(
                approval_id = request_id,
                timer = kind.as_str(),
                "timer lease lost to another process; it fires the timer"
            );
        }
        out
    }

    async fn act_on(&self, request_id: &str, kind: TimerKind) -> Fired {
        let event = match kind {
            TimerKind::Expire => Event::Expire,
            TimerKind::Remind => Event::Remind,
        };
        match self.apply(request_id, event).await {
            Ok(r) if kind == TimerKind::Expire => {
                tracing::info!(approval_id = %r.request_id, reason = r.reason.as_deref().unwrap_or(""), "expired")
            }
            Ok(r) => log_notice(Notice::Reminder, &r).await,
            Err(ServiceError::Refused(Refusal::Noop(_))) => return Fired::NotDue,
            // Decided meanwhile: the decision removed the timer.
            Err(ServiceError::Refused(_)) | Err(ServiceError::NotFound(_)) => {}
            Err(e) => {
                tracing::error!(approval_id = request_id, timer = kind.as_str(), error = %e, "timer failed; it is retried once its lease runs out")
            }
        }
        Fired::Done
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
                let held = svc.lease_until();
                match svc.store.claim_due_timers(now, held, 100).await {
                    Ok(due) => {
                        for t in due {
                            let svc = svc.clone();
                            tokio::spawn(async move {
                                svc.fire_claimed(&t.request_id, t.kind, held).await
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot read due timers"),
                }
            }
        })
    }
}
