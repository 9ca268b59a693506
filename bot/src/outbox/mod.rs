//! The outbox: notices that must reach people, kept in the store until they
//! have.
//!
//! Every change that people hear about (created, vote, reminder, decided,
//! expired, cancelled) writes one row per configured notifier in the same
//! store transaction as the change itself ([`crate::store::Store::insert`],
//! [`crate::store::Store::transition`]). Each notifier has its own drainer
//! ([`drain::Drainer`]) that delivers its rows:
//!
//! - in order per request: a row is taken only when every earlier row of the
//!   same request on the same channel is settled;
//! - independently of other requests and other channels: each channel has
//!   its own task, and a slow delivery holds up only its own request;
//! - retried with exponential backoff and jitter;
//! - resumed after a restart, by this or any other process on the store: a
//!   row is leased while it is being delivered (renewed while a slow send
//!   lasts, [`crate::lease`]), and a lease that runs out (its process died)
//!   is claimed again, so a send in flight at a crash is repeated once;
//! - given up after [`OutboxSettings::give_up_after`] (24 h by default) with
//!   a log line, a metric and `failed` on the record's `notifications`.

pub mod drain;

use std::time::Duration;

use chrono::{DateTime, Utc};
use hitl_wire::ApprovalRecord;
use rand::Rng;
use serde::Serialize;

use crate::notify::Notice;

/// How the drainers behave.
#[derive(Debug, Clone)]
pub struct OutboxSettings {
    /// A notice not delivered this long after it was written is given up.
    pub give_up_after: Duration,
    /// How long a claimed row is reserved for the process delivering it.
    pub lease: Duration,
    /// The first retry's delay; doubled per attempt up to `max_backoff`.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// How often an idle drainer looks for rows it was not told about
    /// (written by another process, or whose lease ran out).
    pub poll: Duration,
    /// Deliveries in flight per channel.
    pub max_in_flight: usize,
    /// Whether this process runs a drainer per notifier. Off on Lambda
    /// when the outbox has queues (`OUTBOX_QUEUE_URLS`): nothing runs
    /// between invocations there, so the stream router and the queue drain
    /// ([`crate::lambda::router`], [`crate::lambda::drain`]) deliver.
    pub drain_in_process: bool,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            give_up_after: Duration::from_secs(24 * 3600),
            lease: Duration::from_secs(30),
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            poll: Duration::from_secs(1),
            max_in_flight: 16,
            drain_in_process: true,
        }
    }
}

impl OutboxSettings {
    /// The delay after `attempts` failed attempts: exponential, capped, with
    /// jitter (uniform in [delay/2, delay]) so that rows failing together do
    /// not retry together.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let exp = self
            .first_backoff
            .saturating_mul(1u32 << attempts.saturating_sub(1).min(20))
            .min(self.max_backoff);
        let ms = exp.as_millis() as u64;
        Duration::from_millis(rand::rng().random_range(ms / 2..=ms.max(1)))
    }
}

/// One notice for one channel, as claimed from the store.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub channel: String,
    pub request_id: String,
    /// The record's version after the change: orders a request's notices.
    pub seq: i64,
    pub notice: Notice,
    /// The request as it was when the notice was written.
    pub record: ApprovalRecord,
    /// Delivery attempts before this one.
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone)]
pub enum Settle {
    Delivered {
        at: DateTime<Utc>,
    },
    Retry {
        next_at: DateTime<Utc>,
        error: String,
    },
    Failed {
        at: DateTime<Utc>,
        error: String,
    },
}

/// Delivery of a request's notices on one channel, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub channel: String,
    /// `pending` while any notice is still to go out, `failed` if one was
    /// given up, else `delivered`.
    pub state: DeliveryState,
    /// Send attempts over all of the request's notices on this channel.
    pub attempts: u32,
    pub last_error: Option<String>,
    /// When the latest delivered notice went out.
    pub delivered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let s = OutboxSettings {
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            ..OutboxSettings::default()
        };
        for (attempts, full) in [
            (1, 1000),
            (2, 2000),
            (3, 4000),
            (4, 8000),
            (5, 10_000),
            (30, 10_000),
        ] {
            let seen: Vec<u128> = (0..50).map(|_| s.backoff(attempts).as_millis()).collect();
            assert!(
                seen.iter().all(|ms| (full / 2..=full).contains(ms)),
                "attempt {attempts}: {seen:?}"
            );
            assert!(
                seen.iter().any(|ms| *ms != seen[0]),
                "attempt {attempts} has no jitter"
            );
        }
    }
}
