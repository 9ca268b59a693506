//! Holding a lease in the store while work outlasts it.
//!
//! Timers and outbox rows are leased (`lease_until`) before a process acts
//! on them, so that a process that dies gives them up when the lease runs
//! out. Work that takes longer than the lease (a slow store, a chat API
//! asking to retry later) renews it every third of the lease; a renewal
//! names the lease by the `lease_until` its holder set, so it fails once
//! another process has claimed the item. Then the work stops here: the new
//! holder does it.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::store::StoreError;

/// Runs `work` while holding a lease taken until `held`, renewing it every
/// third of `lease` with `renew(held, new_until)`. `None` when a renewal
/// found the lease taken by another process (the work is dropped). A store
/// error on renewal is retried at the next renewal, as the lease still runs.
/// Callers instrument it with a span naming what is leased.
pub async fn while_held<W, R, Fut>(
    clock: &Clock,
    lease: Duration,
    mut held: DateTime<Utc>,
    mut renew: R,
    work: W,
) -> Option<W::Output>
where
    W: Future,
    R: FnMut(DateTime<Utc>, DateTime<Utc>) -> Fut,
    Fut: Future<Output = Result<bool, StoreError>>,
{
    // A floor, so a lease set very short never turns this into a busy loop.
    let every = (lease / 3).max(Duration::from_millis(10));
    let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30));
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return Some(out),
            _ = tokio::time::sleep(every) => {}
        }
        let until = clock.now() + lease;
        match renew(held, until).await {
            Ok(true) => held = until,
            Ok(false) => return None,
            Err(e) => tracing::warn!(error = %e, "cannot renew a lease; trying again"),
        }
    }
}
