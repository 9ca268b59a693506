//! The service's idea of "now", injectable so tests can move time.
//!
//! Production uses the wall clock. Tests use [`Clock::tokio`], which follows
//! tokio's clock: under `tokio::time::pause()` deadlines, reminders and
//! expiry happen in virtual time, and timers and timestamps always agree.

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone)]
pub enum Clock {
    System,
    /// Starts at the wall-clock time of creation and advances with tokio's clock.
    Tokio {
        base: DateTime<Utc>,
        start: tokio::time::Instant,
    },
}

impl Clock {
    pub fn tokio() -> Self {
        Clock::Tokio {
            base: Utc::now(),
            start: tokio::time::Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Tokio { base, start } => {
                let elapsed = Duration::from_std(start.elapsed()).unwrap_or_default();
                *base + elapsed
            }
        }
    }

    /// The tokio instant at which the wall-clock `at` arrives (now if past).
    pub fn instant_at(&self, at: DateTime<Utc>) -> tokio::time::Instant {
        let wait = (at - self.now()).to_std().unwrap_or_default();
        tokio::time::Instant::now() + wait
    }
}
