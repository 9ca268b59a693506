//! Answering within a platform's deadline and doing the rest after.
//!
//! Slack shows an error to a person whose click or command is not answered
//! in 3 seconds; Teams gives an `adaptiveCard/action` invoke about 15. The
//! work starts on its own task; if it is done in time its result is the
//! answer, otherwise the platform is answered at once and the work finishes
//! on its own (its result, if anyone needs it, is sent as a follow-up).

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;

/// What Slack gets: it allows 3 s, and the answer must still travel.
pub const SLACK: Duration = Duration::from_millis(2500);
/// What a Teams invoke gets: Teams allows about 15 s.
pub const TEAMS_INVOKE: Duration = Duration::from_secs(10);

/// How work given a deadline went.
#[derive(Debug)]
pub enum Timely<T> {
    /// Done in time, with its result.
    InTime(T),
    /// Still running; it goes on, and this is where its result will come.
    Late(JoinHandle<T>),
    /// The task panicked or was cancelled.
    Failed,
}

/// Runs `work` on its own task and waits for it up to `deadline`.
pub async fn answer_within<T, F>(deadline: Duration, work: F) -> Timely<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let mut task = tokio::spawn(work);
    match tokio::time::timeout(deadline, &mut task).await {
        Ok(Ok(v)) => Timely::InTime(v),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "chat handler task failed");
            Timely::Failed
        }
        Err(_) => {
            tracing::warn!("chat handler is slow; answering first, it finishes on its own");
            Timely::Late(task)
        }
    }
}

/// [`answer_within`] for work whose result nobody needs after the deadline.
pub async fn within<T, F>(deadline: Duration, work: F) -> Option<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    match answer_within(deadline, work).await {
        Timely::InTime(v) => Some(v),
        Timely::Late(_) | Timely::Failed => None,
    }
}

/// Runs platform calls that nobody waits for; failures are logged.
pub fn spawn_followup<F, E>(what: &'static str, work: F)
where
    F: Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Display,
{
    tokio::spawn(async move {
        if let Err(e) = work.await {
            tracing::warn!(error = %e, what, "chat follow-up failed");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn quick_work_is_the_answer_and_slow_work_finishes_after_it() {
        let quick = answer_within(SLACK, async { 1 }).await;
        assert!(matches!(quick, Timely::InTime(1)));

        let started = tokio::time::Instant::now();
        let slow = answer_within(SLACK, async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            2
        })
        .await;
        // Answered at the deadline, not when the work ended.
        assert_eq!(started.elapsed(), SLACK);
        let Timely::Late(task) = slow else {
            panic!("slow work was not late: {slow:?}");
        };
        assert_eq!(task.await.unwrap(), 2);
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }
}
