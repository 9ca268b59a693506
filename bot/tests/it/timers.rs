//! Deadlines, reminders, expiry and the leases on timers and outbox rows in
//! virtual time: the service with the local workflow engine and a real
//! SQLite file, on tokio's paused clock.
//!
//! The store answers from its own thread, which tokio cannot see; while
//! [`Frozen`] holds, the paused clock moves only by `advance`, so a store
//! round trip never lets a deadline slip by unasked.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use hitl_bot::clock::Clock;
use hitl_bot::notify::{Fanout, Notice, Notifier, NotifyError};
use hitl_bot::outbox::DeliveryState;
use hitl_bot::service::{ApprovalService, ReplicaSettings, ServiceError, Settings};
use hitl_bot::store::Store;
use hitl_bot::store::sqlite::SqliteStore;
use hitl_bot::workflow::local::LocalWorkflow;
use hitl_bot::workflow::{Due, TimerKind, Workflow, WorkflowError};
use hitl_wire::api::{CreateApproval, DecisionAction};
use hitl_wire::{ApprovalRecord, Status};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Keeps tokio's paused clock from auto-advancing (a running blocking task
/// inhibits it) and gives up after `REAL_LIMIT` of wall-clock time, so a
/// broken timer fails the test instead of hanging it.
struct Frozen {
    _release: std::sync::mpsc::Sender<()>,
    limit: tokio::task::JoinHandle<()>,
}

const REAL_LIMIT: Duration = Duration::from_secs(20);

fn freeze() -> Frozen {
    let (release, held) = std::sync::mpsc::channel::<()>();
    let limit = tokio::task::spawn_blocking(move || {
        let _ = held.recv_timeout(REAL_LIMIT);
    });
    Frozen {
        _release: release,
        limit,
    }
}

/// Counts the timers the engine fires, then hands them to the service.
struct Counted {
    service: Arc<ApprovalService>,
    fired: AtomicUsize,
}

#[async_trait]
impl Due for Counted {
    async fn expire(&self, id: &str) {
        self.fired.fetch_add(1, Ordering::SeqCst);
        self.service.expire(id).await
    }
    async fn remind(&self, id: &str) {
        self.fired.fetch_add(1, Ordering::SeqCst);
        self.service.remind(id).await
    }
}

/// Stands in for a workflow back end that cannot be reached (Step
/// Functions down): every start fails.
struct Unreachable;

#[async_trait]
impl Workflow for Unreachable {
    async fn start(&self, _: &ApprovalRecord) -> Result<(), WorkflowError> {
        Err(WorkflowError("connection refused".into()))
    }
    async fn finish(&self, _: &ApprovalRecord) -> Result<(), WorkflowError> {
        Ok(())
    }
}

struct Paused {
    svc: Arc<ApprovalService>,
    store: Arc<SqliteStore>,
    engine: Option<Arc<Counted>>,
    frozen: Frozen,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Paused {
    /// The service with the local engine; `sweep` also runs the sweep.
    async fn start(sweep: bool) -> Self {
        Self::start_with(None, sweep).await
    }

    async fn start_with(workflow: Option<Arc<dyn Workflow>>, sweep: bool) -> Self {
        let frozen = freeze();
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("hitl.db")).unwrap());
        let clock = Clock::tokio();
        let stop = CancellationToken::new();
        let settings = Settings {
            replicas: ReplicaSettings {
                sweep_every: Duration::from_secs(1),
                ..ReplicaSettings::default()
            },
            ..Settings::default()
        };
        let (local, driver) = LocalWorkflow::new(clock.clone());
        let local_engine = workflow.is_none();
        let workflow = workflow.unwrap_or_else(|| Arc::new(local));
        let svc = ApprovalService::new(
            store.clone(),
            workflow,
            Fanout::new(Vec::new()),
            clock,
            settings,
            stop.clone(),
        );
        let engine = local_engine.then(|| {
            let counted = Arc::new(Counted {
                service: svc.clone(),
                fired: AtomicUsize::new(0),
            });
            let due: Arc<dyn Due> = counted.clone();
            tokio::spawn(driver.run(Arc::downgrade(&due), store.clone(), stop.clone()));
            // `run` holds a weak reference; `counted` keeps the target alive.
            counted
        });
        if sweep {
            svc.spawn_sweeper(&stop);
        }
        Self {
            svc,
            store,
            engine,
            frozen,
            stop,
            _dir: dir,
        }
    }

    async fn create(&self, extra: Value) -> ApprovalRecord {
        let mut body = json!({"tool": "delete_bucket", "arguments": {"bucket": "prod"},
            "risk": "high", "requester": "agent-1"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let body: CreateApproval = serde_json::from_value(body).unwrap();
        self.svc.create(body).await.unwrap().0
    }

    /// The record once it is final; fails the test after `REAL_LIMIT`.
    async fn until_final(&mut self, id: &str) -> ApprovalRecord {
        tokio::select! {
            r = self.svc.wait(id, Duration::from_secs(365 * 24 * 3600)) => r.unwrap(),
            _ = &mut self.frozen.limit => panic!("{id} never became final"),
        }
    }

    fn fired(&self) -> usize {
        self.engine.as_ref().unwrap().fired.load(Ordering::SeqCst)
    }

    async fn actions(&self, id: &str) -> Vec<String> {
        self.svc
            .audit(Some(id), 0, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    }

    async fn stored_timers(&self, id: &str) -> usize {
        let all = self.store.timers().await.unwrap();
        all.iter().filter(|t| t.request_id == id).count()
    }

    fn stop(self) {
        self.stop.cancel();
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_expires_exactly_at_its_deadline_with_a_reason() {
    let mut p = Paused::start(false).await;
    let r = p.create(json!({"timeout_secs": 600})).await;
    tokio::time::advance(Duration::from_secs(599)).await;
    assert_eq!(
        p.svc.get(&r.request_id).await.unwrap().status,
        Status::Pending
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    let done = p.until_final(&r.request_id).await;
    assert_eq!(done.status, Status::Expired);
    assert_eq!(
        done.reason.as_deref(),
        Some("no decision within 10 minutes")
    );
    assert_eq!(done.decided_at, Some(r.expires_at), "fired at the deadline");
    assert_eq!(p.fired(), 1);
    let late = p
        .svc
        .decide(&r.request_id, DecisionAction::Approve, "alice", None)
        .await
        .unwrap_err();
    assert_eq!(
        late.to_string(),
        "already expired: no decision within 10 minutes"
    );
    assert_eq!(p.actions(&r.request_id).await, ["created", "expired"]);
    assert_eq!(p.stored_timers(&r.request_id).await, 0);
    p.stop();
}

#[tokio::test(start_paused = true)]
async fn a_decision_stops_the_requests_timers() {
    let mut p = Paused::start(true).await;
    let decided = p
        .create(json!({"timeout_secs": 60, "escalation": {"after_secs": 30}}))
        .await;
    // Falls due after both of the decided request's timers would have.
    let fence = p.create(json!({"timeout_secs": 90})).await;
    assert_eq!(p.stored_timers(&decided.request_id).await, 2);
    p.svc
        .decide(&decided.request_id, DecisionAction::Approve, "alice", None)
        .await
        .unwrap();
    assert_eq!(p.stored_timers(&decided.request_id).await, 0);
    tokio::time::advance(Duration::from_secs(90)).await;
    assert_eq!(
        p.until_final(&fence.request_id).await.status,
        Status::Expired
    );
    // The engine fires in deadline order: had the decision left the reminder
    // or the deadline armed, they would have fired before the fence did.
    assert_eq!(p.fired(), 1, "only the fence's deadline fired");
    let r = p.svc.get(&decided.request_id).await.unwrap();
    assert_eq!(r.status, Status::Approved);
    assert_eq!(r.reminded_at, None);
    assert_eq!(
        p.actions(&decided.request_id).await,
        ["created", "approved"]
    );
    p.stop();
}

#[tokio::test(start_paused = true)]
async fn the_reminder_goes_out_part_way_then_the_request_expires() {
    let mut p = Paused::start(false).await;
    let r = p
        .create(json!({"timeout_secs": 120,
            "escalation": {"after_secs": 40, "to": "group:oncall"}}))
        .await;
    // Falls due just after the reminder; the store answers in order.
    let fence = p.create(json!({"timeout_secs": 41})).await;
    tokio::time::advance(Duration::from_secs(41)).await;
    p.until_final(&fence.request_id).await;
    let reminded = p.svc.get(&r.request_id).await.unwrap();
    assert_eq!(reminded.status, Status::Pending);
    let at = reminded.reminded_at.expect("the reminder went out") - r.timestamp;
    assert!(
        (40..=41).contains(&at.num_seconds()),
        "reminded after {at}, not at 40 s"
    );
    tokio::time::advance(Duration::from_secs(79)).await;
    assert_eq!(p.until_final(&r.request_id).await.status, Status::Expired);
    assert_eq!(
        p.actions(&r.request_id).await,
        ["created", "reminded", "expired"]
    );
    let audit = p.svc.audit(Some(&r.request_id), 0, 10).await.unwrap();
    assert_eq!(audit[1].detail["escalated_to"], "group:oncall");
    p.stop();
}

#[tokio::test(start_paused = true)]
async fn a_timer_that_fires_early_is_armed_again_not_lost() {
    let mut p = Paused::start(false).await;
    let r = p.create(json!({"timeout_secs": 300})).await;
    tokio::time::advance(Duration::from_secs(299)).await;
    // An engine firing a second early (clock skew, a rounding host).
    p.svc.expire(&r.request_id).await;
    assert_eq!(
        p.svc.get(&r.request_id).await.unwrap().status,
        Status::Pending
    );
    assert_eq!(p.stored_timers(&r.request_id).await, 1, "the timer is kept");
    tokio::time::advance(Duration::from_secs(1)).await;
    let done = p.until_final(&r.request_id).await;
    assert_eq!(done.status, Status::Expired);
    assert_eq!(done.decided_at, Some(r.expires_at));
    p.stop();
}

#[tokio::test(start_paused = true)]
async fn a_create_whose_workflow_cannot_start_still_expires_by_the_sweep() {
    let mut p = Paused::start_with(Some(Arc::new(Unreachable)), true).await;
    let r = p
        .create(json!({"request_id": "req-unarmed", "timeout_secs": 60}))
        .await;
    assert_eq!(r.status, Status::Pending);
    // A retry of the same call is still the same request, not an error.
    let again = p
        .create(json!({"request_id": "req-unarmed", "timeout_secs": 60}))
        .await;
    assert_eq!(again.timestamp, r.timestamp);
    assert_eq!(p.stored_timers(&r.request_id).await, 1);
    tokio::time::advance(Duration::from_secs(61)).await;
    let done = p.until_final(&r.request_id).await;
    assert_eq!(done.status, Status::Expired);
    let late_by = done.decided_at.unwrap() - r.expires_at;
    assert!(
        late_by <= chrono::Duration::seconds(1),
        "swept {late_by} late"
    );
    p.stop();
}

#[tokio::test(start_paused = true)]
async fn a_final_record_gains_no_delivery_entries_after_its_decision() {
    let p = Paused::start(false).await;
    let r = p.create(json!({"timeout_secs": 60})).await;
    p.svc
        .decide(
            &r.request_id,
            DecisionAction::Reject,
            "alice",
            Some("no".into()),
        )
        .await
        .unwrap();
    // The card reaching a channel after the decision (a slow outbox).
    p.svc.card_delivered(&r.request_id).await;
    assert_eq!(p.actions(&r.request_id).await, ["created", "rejected"]);
    assert!(matches!(
        p.svc
            .decide(&r.request_id, DecisionAction::Approve, "bob", None)
            .await,
        Err(ServiceError::Refused(_))
    ));
    p.stop();
}

/// Another process's attempt to take the timer now, as its sweep would.
async fn taken_by_another(store: &SqliteStore, id: &str, clock: &Clock) -> bool {
    let now = clock.now();
    store
        .claim_timer(
            id,
            TimerKind::Expire,
            now,
            now + chrono::Duration::seconds(30),
        )
        .await
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_holder_whose_work_outlasts_the_lease_keeps_it_until_done() {
    let p = Paused::start(false).await;
    let r = p.create(json!({"timeout_secs": 3600})).await;
    let id = r.request_id.clone();
    let clock = Clock::tokio();
    let now = clock.now();
    let held = now + chrono::Duration::seconds(30);
    assert!(
        p.store
            .claim_timer(&id, TimerKind::Expire, now, held)
            .await
            .unwrap()
    );
    // Work that takes 100 s, over three times the 30 s lease.
    let svc = p.svc.clone();
    let work_id = id.clone();
    let work = tokio::spawn(async move {
        svc.while_leased(&work_id, TimerKind::Expire, held, async {
            tokio::time::sleep(Duration::from_secs(100)).await;
            "done"
        })
        .await
    });
    for t in 1..100 {
        step_with(std::slice::from_ref(&p.svc), &id, 1).await;
        assert!(
            !taken_by_another(&p.store, &id, &clock).await,
            "another process took the timer {t} s into work that still holds it"
        );
    }
    step_with(std::slice::from_ref(&p.svc), &id, 5).await;
    assert_eq!(work.await.unwrap(), Some("done"));
    // Once the work is done the lease is no longer renewed: it runs out and
    // the timer can be taken again, as after a crash.
    step_with(std::slice::from_ref(&p.svc), &id, 31).await;
    assert!(taken_by_another(&p.store, &id, &clock).await);
    p.stop();
}

#[tokio::test(start_paused = true)]
async fn a_holder_that_lost_its_lease_stops_its_work() {
    let p = Paused::start(false).await;
    let r = p.create(json!({"timeout_secs": 3600})).await;
    let id = r.request_id.clone();
    let clock = Clock::tokio();
    let now = clock.now();
    // A lease that ran out before its holder renewed it (a store that did
    // not answer in time), then taken by another process.
    let held = now + chrono::Duration::seconds(1);
    assert!(
        p.store
            .claim_timer(&id, TimerKind::Expire, now, held)
            .await
            .unwrap()
    );
    step_with(std::slice::from_ref(&p.svc), &id, 2).await;
    assert!(taken_by_another(&p.store, &id, &clock).await);
    let svc = p.svc.clone();
    let work_id = id.clone();
    let work = tokio::spawn(async move {
        svc.while_leased(
            &work_id,
            TimerKind::Expire,
            held,
            std::future::pending::<()>(),
        )
        .await
    });
    // The first renewal, a third of the lease (10 s) in, finds the lease gone.
    step_with(std::slice::from_ref(&p.svc), &id, 15).await;
    assert_eq!(work.await.unwrap(), None);
    // The new holder's lease stands.
    assert!(!taken_by_another(&p.store, &id, &clock).await);
    p.stop();
}

/// A channel whose every send takes `takes` (a chat API asking to retry
/// later), counting the sends it was asked for.
struct Slow {
    takes: Duration,
    sends: AtomicUsize,
}

#[async_trait]
impl Notifier for Slow {
    fn name(&self) -> &'static str {
        "slow"
    }

    async fn notify(&self, _: Notice, _: &ApprovalRecord) -> Result<(), NotifyError> {
        self.sends.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.takes).await;
        Ok(())
    }
}

/// Moves the paused clock by `secs` one second at a time; after each second
/// every service's store answers a few round trips first, so the calls the
/// woken tasks queued (claims, renewals, settles) land before time moves on.
async fn step_with(services: &[Arc<ApprovalService>], id: &str, secs: u64) {
    for _ in 0..secs {
        tokio::time::advance(Duration::from_secs(1)).await;
        for _ in 0..3 {
            for svc in services {
                svc.get(id).await.unwrap();
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_send_that_outlasts_the_outbox_lease_is_not_repeated_by_another_process() {
    let _frozen = freeze();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hitl.db");
    let slow = Arc::new(Slow {
        takes: Duration::from_secs(100),
        sends: AtomicUsize::new(0),
    });
    let stop = CancellationToken::new();
    // Two processes on one database, each draining the same channel.
    let mut services = Vec::new();
    for _ in 0..2 {
        let store = Arc::new(SqliteStore::open(&path).unwrap());
        let clock = Clock::tokio();
        let (local, _driver) = LocalWorkflow::new(clock.clone());
        let svc = ApprovalService::new(
            store,
            Arc::new(local),
            Fanout::new(vec![slow.clone() as Arc<dyn Notifier>]),
            clock,
            Settings::default(),
            stop.clone(),
        );
        svc.spawn_drainers(&stop);
        services.push(svc);
    }
    let body: CreateApproval = serde_json::from_value(json!({"tool": "delete_bucket",
        "arguments": {"bucket": "prod"}, "risk": "high", "requester": "agent-1",
        "timeout_secs": 3600}))
    .unwrap();
    let id = services[0].create(body).await.unwrap().0.request_id;
    for _ in 0..10 {
        if slow.sends.load(Ordering::SeqCst) > 0 {
            break;
        }
        step_with(&services, &id, 1).await;
    }
    assert_eq!(
        slow.sends.load(Ordering::SeqCst),
        1,
        "the card is being sent"
    );
    // Three and a half leases of 30 s while the send is in flight, with the
    // other process polling every second.
    step_with(&services, &id, 105).await;
    let mut delivered = false;
    for _ in 0..20 {
        let d = services[1].deliveries(&id).await.unwrap();
        if d.iter().any(|d| d.state == DeliveryState::Delivered) {
            assert_eq!(d[0].attempts, 1, "{d:?}");
            delivered = true;
            break;
        }
        step_with(&services, &id, 1).await;
    }
    assert!(
        delivered,
        "the card was delivered: {:?}",
        services[1].deliveries(&id).await.unwrap()
    );
    assert_eq!(
        slow.sends.load(Ordering::SeqCst),
        1,
        "sent once, by one process"
    );
    stop.cancel();
}
