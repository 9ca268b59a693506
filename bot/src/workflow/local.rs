//! The in-process workflow engine: one task with a timer queue.
//!
//! Timers live in the store (written with the request), so nothing here
//! needs to survive a restart: when the engine starts it arms every stored
//! timer ([`Driver::run`]), and those whose time passed while the service was
//! down fire at once. Firing goes back through the service, which leases the
//! timer in the store first, so another process sharing the store never
//! fires it too.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hitl_wire::ApprovalRecord;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Due, TimerKind as Kind, Workflow, WorkflowError, timers_of};
use crate::clock::Clock;
use crate::store::Store;

#[derive(Debug)]
enum Command {
    Schedule {
        id: String,
        deadline: DateTime<Utc>,
        remind_at: Option<DateTime<Utc>>,
    },
    Cancel {
        id: String,
    },
}

/// Handle used by the service; cheap to clone.
#[derive(Debug, Clone)]
pub struct LocalWorkflow {
    tx: mpsc::UnboundedSender<Command>,
}

/// The timer task; run it with [`Driver::run`].
#[derive(Debug)]
pub struct Driver {
    rx: mpsc::UnboundedReceiver<Command>,
    clock: Clock,
}

impl LocalWorkflow {
    pub fn new(clock: Clock) -> (Self, Driver) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, Driver { rx, clock })
    }

    fn send(&self, cmd: Command) -> Result<(), WorkflowError> {
        self.tx
            .send(cmd)
            .map_err(|_| WorkflowError("the local workflow engine has stopped".to_owned()))
    }
}

#[async_trait]
impl Workflow for LocalWorkflow {
    async fn start(&self, r: &ApprovalRecord) -> Result<(), WorkflowError> {
        let timers = timers_of(r);
        let remind_at = timers
            .iter()
            .find(|t| t.kind == Kind::Remind)
            .map(|t| t.due_at);
        self.send(Command::Schedule {
            id: r.request_id.clone(),
            deadline: r.expires_at,
            remind_at,
        })
    }

    async fn finish(&self, r: &ApprovalRecord) -> Result<(), WorkflowError> {
        self.send(Command::Cancel {
            id: r.request_id.clone(),
        })
    }
}

/// Timers keyed by (when, sequence) so equal times keep their order.
#[derive(Default)]
struct Timers {
    queue: BTreeMap<(DateTime<Utc>, u64), (String, Kind)>,
    by_id: HashMap<String, Vec<(DateTime<Utc>, u64)>>,
    seq: u64,
}

impl Timers {
    fn add(&mut self, id: &str, at: DateTime<Utc>, kind: Kind) {
        self.seq += 1;
        let key = (at, self.seq);
        self.queue.insert(key, (id.to_owned(), kind));
        self.by_id.entry(id.to_owned()).or_default().push(key);
    }

    fn cancel(&mut self, id: &str) {
        for key in self.by_id.remove(id).unwrap_or_default() {
            self.queue.remove(&key);
        }
    }

    fn next_at(&self) -> Option<DateTime<Utc>> {
        self.queue.keys().next().map(|(at, _)| *at)
    }

    fn pop_due(&mut self, now: DateTime<Utc>) -> Vec<(String, Kind)> {
        let mut due = Vec::new();
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = *entry.key();
            let (id, kind) = entry.remove();
            if let Some(keys) = self.by_id.get_mut(&id) {
                keys.retain(|k| *k != key);
                if keys.is_empty() {
                    self.by_id.remove(&id);
                }
            }
            due.push((id, kind));
        }
        due
    }
}

impl Driver {
    /// Arms every timer stored in `store`, then runs until `shutdown`.
    /// `due` is weak so the engine never keeps the service alive on its own.
    pub async fn run(
        mut self,
        due: Weak<dyn Due>,
        store: Arc<dyn Store>,
        shutdown: CancellationToken,
    ) {
        let mut timers = Timers::default();
        match store.timers().await {
            Ok(stored) => {
                tracing::info!(timers = stored.len(), "armed the stored timers");
                for t in stored {
                    timers.add(&t.request_id, t.due_at, t.kind);
                }
            }
            // Nothing is lost: the service's sweep fires stored timers as
            // they fall due.
            Err(e) => tracing::error!(error = %e, "cannot read the stored timers"),
        }
        loop {
            let next = timers.next_at().map(|at| self.clock.instant_at(at));
            let sleep = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                cmd = self.rx.recv() => match cmd {
                    None => return,
                    Some(Command::Schedule { id, deadline, remind_at }) => {
                        timers.cancel(&id);
                        if let Some(at) = remind_at {
                            timers.add(&id, at, Kind::Remind);
                        }
                        timers.add(&id, deadline, Kind::Expire);
                    }
                    Some(Command::Cancel { id }) => timers.cancel(&id),
                },
                _ = sleep => {
                    let Some(due) = due.upgrade() else { return };
                    for (id, kind) in timers.pop_due(self.clock.now()) {
                        fire(due.clone(), id, kind);
                    }
                }
            }
        }
    }
}

/// Runs the due action on its own task so a slow store never delays other timers.
fn fire(due: Arc<dyn Due>, id: String, kind: Kind) {
    tokio::spawn(async move {
        match kind {
            Kind::Expire => due.expire(&id).await,
            Kind::Remind => due.remind(&id).await,
        }
    });
}
