//! One contract for every store: each case runs against SQLite and against
//! DynamoDB (the real SDK client talking to moto's server on 127.0.0.1).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hitl_bot::lifecycle::{self, AuditEntry, Event, Refusal};
use hitl_bot::notify::Notice;
use hitl_bot::outbox::{DeliveryState, Settle};
use hitl_bot::store::dynamo::DynamoStore;
use hitl_bot::store::sqlite::SqliteStore;
use hitl_bot::store::{AuditFrom, Inserted, MessageRef, Step, Store, StoreError};
use hitl_bot::workflow::TimerKind;
use hitl_wire::api::DecisionAction;
use hitl_wire::{ApprovalRecord, Status};
use serde_json::json;

/// A store under test and what keeps it alive.
pub struct Backend {
    pub store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    pub moto: Option<Moto>,
}

impl Backend {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("hitl.db")).unwrap();
        Self {
            store: Arc::new(store),
            _dir: Some(dir),
            moto: None,
        }
    }

    pub async fn dynamo() -> Self {
        let moto = Moto::start().await;
        let table = moto.create_table().await;
        let store = DynamoStore::new(
            moto.client.clone(),
            table,
            Some(Duration::from_secs(7 * 24 * 3600)),
        );
        Self {
            store: Arc::new(store),
            _dir: None,
            moto: Some(moto),
        }
    }
}

/// moto's server (scripts/aws/moto_server.py, installed into .deps by
/// scripts/aws/install) with a DynamoDB client for it.
pub struct Moto {
    _server: crate::aws_emulator::Moto,
    pub url: String,
    pub client: aws_sdk_dynamodb::Client,
}

impl Moto {
    pub async fn start() -> Self {
        let server = crate::aws_emulator::Moto::start().await;
        let url = server.url.clone();
        let client = aws_sdk_dynamodb::Client::new(&crate::aws_emulator::sdk_config(&url).await);
        Self {
            _server: server,
            url,
            client,
        }
    }

    /// A table of its own with the layout of terraform/dynamodb.tf.
    pub async fn create_table(&self) -> String {
        let name = format!("hitl-{}", uuid_like());
        crate::aws_emulator::create_table(&self.client, &name).await;
        name
    }
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

pub fn record(id: &str, deadline_secs: i64) -> ApprovalRecord {
    let now = Utc::now();
    ApprovalRecord {
        request_id: id.into(),
        status: Status::Pending,
        requester: "agent".into(),
        agent_prompt: None,
        proposed_action: None,
        tool: "write_file".into(),
        server: Some("filesystem".into()),
        arguments: json!({ "path": "/tmp/x" }),
        arguments_hash: hitl_wire::arguments_hash(&json!({ "path": "/tmp/x" })),
        arguments_executed: None,
        executed_at: None,
        risk: hitl_wire::Risk::High,
        reasons: vec![],
        approvers: vec![],
        quorum: 1,
        approvals: vec![],
        approver: None,
        reason: None,
        timestamp: now,
        expires_at: now + chrono::Duration::seconds(deadline_secs),
        decided_at: None,
        escalation: None,
        reminded_at: None,
        notification_sent: false,
        session: None,
        channel: None,
    }
}

fn created(r: &ApprovalRecord) -> AuditEntry {
    AuditEntry {
        at: r.timestamp,
        actor: r.requester.clone(),
        action: "created",
        from_status: None,
        to_status: Status::Pending,
        detail: json!({}),
    }
}

fn step(event: Event) -> Step {
    Arc::new(move |r: &ApprovalRecord| lifecycle::apply(r, &event, Utc::now()))
}

fn approve(who: &str) -> Step {
    step(Event::Decide {
        action: DecisionAction::Approve,
        approver: who.into(),
        reason: None,
        allowed: true,
        people: Default::default(),
    })
}

fn cancel() -> Step {
    step(Event::Cancel {
        by: None,
        reason: Some("not needed".into()),
    })
}

async fn add(store: &dyn Store, id: &str, outbox: &[String]) -> ApprovalRecord {
    let r = record(id, 600);
    match store.insert(r.clone(), created(&r), outbox).await.unwrap() {
        Inserted::Created(r) => r,
        Inserted::Existing(_) => panic!("{id} existed"),
    }
}

async fn create_is_idempotent(b: Backend) {
    let s = &*b.store;
    let first = add(s, "apr_idem", &[]).await;
    let again = record("apr_idem", 60);
    match s.insert(again.clone(), created(&again), &[]).await.unwrap() {
        Inserted::Existing(r) => assert_eq!(r.expires_at, first.expires_at),
        Inserted::Created(_) => panic!("a second create replaced the record"),
    }
    assert_eq!(
        s.get("apr_idem").await.unwrap().unwrap().request_id,
        "apr_idem"
    );
    assert!(s.get("apr_none").await.unwrap().is_none());
    let audit = s
        .audit(Some("apr_idem"), AuditFrom::Start, 10)
        .await
        .unwrap()
        .0;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].action, "created");
}

async fn one_of_many_decisions_wins(b: Backend) {
    let s = b.store.clone();
    add(&*s, "apr_race", &[]).await;
    let mut tasks = Vec::new();
    for i in 0..100 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.transition("apr_race", approve(&format!("person{i}")), &[])
                .await
        }));
    }
    let mut winners = Vec::new();
    let mut losers = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(r) => winners.push(r),
            Err(StoreError::Refused(Refusal::AlreadyFinal(r))) => losers.push(r),
            Err(e) => panic!("a decision failed instead of losing: {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one decision wins");
    let winner = winners[0].approver.clone().unwrap();
    assert_eq!(losers.len(), 99);
    // Every loser learns who won.
    assert!(
        losers
            .iter()
            .all(|r| r.approver.as_deref() == Some(&winner))
    );
    let stored = s.get("apr_race").await.unwrap().unwrap();
    assert_eq!(stored.status, Status::Approved);
    assert_eq!(stored.approver.as_deref(), Some(winner.as_str()));
    // created + one decision, nothing from the losers.
    let audit = s
        .audit(Some("apr_race"), AuditFrom::Start, 500)
        .await
        .unwrap()
        .0;
    assert_eq!(audit.len(), 2, "{audit:#?}");
}

async fn pending_listing_follows_decisions(b: Backend) {
    let s = &*b.store;
    for (id, secs) in [("apr_p3", 900), ("apr_p1", 300), ("apr_p2", 600)] {
        let r = record(id, secs);
        s.insert(r.clone(), created(&r), &[]).await.unwrap();
    }
    s.transition("apr_p2", approve("alice"), &[]).await.unwrap();
    let pending: Vec<String> = s
        .pending()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.request_id)
        .collect();
    assert_eq!(pending, ["apr_p1", "apr_p3"], "oldest deadline first");
    assert_eq!(s.count_pending().await.unwrap(), 2);
    let ids = ["apr_p1", "apr_p2", "apr_nope"].map(String::from);
    let finals = s.finals_among(&ids).await.unwrap();
    assert_eq!(finals.len(), 1);
    assert_eq!(finals[0].request_id, "apr_p2");
    let listed = s
        .list(hitl_bot::store::ListFilter {
            status: Some(Status::Pending),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
}

async fn outbox_goes_out_in_order(b: Backend) {
    let s = &*b.store;
    let ch = vec!["sns".to_owned()];
    add(s, "apr_out", &ch).await;
    s.transition("apr_out", cancel(), &ch).await.unwrap();
    let now = Utc::now();
    let lease = now + chrono::Duration::seconds(30);
    let rows = s.outbox_claim("sns", now, lease, 10).await.unwrap();
    assert_eq!(rows.len(), 1, "only the request's first notice is due");
    assert_eq!(rows[0].notice, Notice::Created);
    assert!(
        s.outbox_claim("sns", now, lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "a leased row is not claimed twice"
    );
    // A slow send renews its lease by the one it set; a stale one renews nothing.
    let seq = rows[0].seq;
    let renewed = lease + chrono::Duration::seconds(30);
    assert!(
        s.outbox_renew("sns", "apr_out", seq, lease, renewed)
            .await
            .unwrap()
    );
    assert!(
        !s.outbox_renew("sns", "apr_out", seq, lease, renewed)
            .await
            .unwrap(),
        "a lease the holder no longer has cannot be renewed"
    );
    assert!(
        s.outbox_claim("sns", lease, renewed, 10)
            .await
            .unwrap()
            .is_empty(),
        "a renewed lease holds past the first one"
    );
    s.outbox_settle("sns", "apr_out", seq, Settle::Delivered { at: now })
        .await
        .unwrap();
    assert!(
        !s.outbox_renew("sns", "apr_out", seq, renewed, renewed)
            .await
            .unwrap(),
        "a settled row's lease is gone"
    );
    let rows = s.outbox_claim("sns", Utc::now(), lease, 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].notice, Notice::Cancelled);
    assert_eq!(rows[0].record.status, Status::Cancelled);
    let later = Utc::now() + chrono::Duration::seconds(60);
    s.outbox_settle(
        "sns",
        "apr_out",
        rows[0].seq,
        Settle::Retry {
            next_at: later,
            error: "HTTP 500".into(),
        },
    )
    .await
    .unwrap();
    let due = s.outbox_next_due("sns").await.unwrap().unwrap();
    assert_eq!(due.timestamp_millis(), later.timestamp_millis());
    let d = s.deliveries("apr_out").await.unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].state, DeliveryState::Pending);
    assert_eq!(d[0].attempts, 2);
    assert_eq!(d[0].last_error.as_deref(), Some("HTTP 500"));
}

async fn timers_lease_and_go_with_the_decision(b: Backend) {
    let s = &*b.store;
    add(s, "apr_tmr", &[]).await;
    let timers = s.timers().await.unwrap();
    assert!(
        timers
            .iter()
            .any(|t| t.request_id == "apr_tmr" && t.kind == TimerKind::Expire)
    );
    let now = Utc::now();
    let until = now + chrono::Duration::seconds(30);
    assert!(
        s.claim_timer("apr_tmr", TimerKind::Expire, now, until)
            .await
            .unwrap()
    );
    assert!(
        !s.claim_timer("apr_tmr", TimerKind::Expire, now, until)
            .await
            .unwrap()
    );
    // The holder renews by the lease it set; a stale lease renews nothing.
    let renewed = until + chrono::Duration::seconds(30);
    assert!(
        s.renew_timer("apr_tmr", TimerKind::Expire, until, renewed)
            .await
            .unwrap()
    );
    assert!(
        !s.renew_timer("apr_tmr", TimerKind::Expire, until, renewed)
            .await
            .unwrap(),
        "a lease the holder no longer has cannot be renewed"
    );
    assert!(
        !s.claim_timer("apr_tmr", TimerKind::Expire, until, until)
            .await
            .unwrap(),
        "a renewed lease holds past the first one"
    );
    s.release_timer("apr_tmr", TimerKind::Expire).await.unwrap();
    assert!(
        !s.renew_timer("apr_tmr", TimerKind::Expire, renewed, renewed)
            .await
            .unwrap(),
        "a released lease cannot be renewed"
    );
    assert!(
        s.claim_timer("apr_tmr", TimerKind::Expire, now, until)
            .await
            .unwrap()
    );
    let late = now + chrono::Duration::seconds(3600);
    assert!(
        s.claim_due_timers(late, late + chrono::Duration::seconds(30), 10)
            .await
            .unwrap()
            .iter()
            .any(|t| t.request_id == "apr_tmr"),
        "an expired lease is claimed again by the sweep"
    );
    s.transition("apr_tmr", approve("alice"), &[])
        .await
        .unwrap();
    assert!(
        s.timers()
            .await
            .unwrap()
            .iter()
            .all(|t| t.request_id != "apr_tmr")
    );
    assert!(
        !s.claim_timer("apr_tmr", TimerKind::Expire, late, late)
            .await
            .unwrap()
    );
    assert!(
        !s.renew_timer("apr_tmr", TimerKind::Expire, late, late)
            .await
            .unwrap(),
        "a timer gone with its decision cannot be renewed"
    );
}

async fn finals_feed_wakes_other_replicas(b: Backend) {
    let s = &*b.store;
    add(s, "apr_feed", &[]).await;
    let (ids, cursor) = s.finals_since(None, 0).await.unwrap();
    assert!(ids.is_empty());
    s.transition("apr_feed", approve("alice"), &[])
        .await
        .unwrap();
    let (ids, _) = s.finals_since(Some(&cursor), 1000).await.unwrap();
    assert_eq!(ids, ["apr_feed"]);
    assert!(s.finals_since(Some("not a cursor"), 10).await.is_err());
}

async fn once_keys_and_message_refs(b: Backend) {
    let s = &*b.store;
    let now = Utc::now();
    let exp = now + chrono::Duration::seconds(60);
    assert!(s.claim_once("slack:Ev1", exp, now).await.unwrap());
    assert!(!s.claim_once("slack:Ev1", exp, now).await.unwrap());
    assert!(
        s.claim_once("slack:Ev1", exp, exp).await.unwrap(),
        "expired claims are forgotten"
    );
    let r = MessageRef {
        platform: "slack".into(),
        conversation: "C1".into(),
        message: "1.0001".into(),
        thread: "1.0001".into(),
        platform_ref: None,
    };
    assert!(matches!(
        s.put_message_ref("apr_missing", r.clone()).await,
        Err(StoreError::NotFound(_))
    ));
    add(s, "apr_msg", &[]).await;
    s.put_message_ref("apr_msg", r.clone()).await.unwrap();
    assert_eq!(s.message_ref("apr_msg", "slack").await.unwrap(), Some(r));
    assert!(s.message_ref("apr_msg", "teams").await.unwrap().is_none());
    assert_eq!(
        s.requests_in_thread("slack", "C1", "1.0001").await.unwrap(),
        ["apr_msg"]
    );
    let t = hitl_bot::store::ThreadRef {
        conversation: "C1".into(),
        thread: "2.0".into(),
        platform_ref: None,
    };
    let other = hitl_bot::store::ThreadRef {
        thread: "3.0".into(),
        ..t.clone()
    };
    assert_eq!(
        s.put_session_thread("slack", "#ops", "sess", t.clone(), now)
            .await
            .unwrap(),
        t
    );
    assert_eq!(
        s.put_session_thread("slack", "#ops", "sess", other, now)
            .await
            .unwrap(),
        t,
        "the first writer's thread stays"
    );
}

async fn credentials_are_found_by_hash_listed_and_revoked(b: Backend) {
    use hitl_bot::credentials::{self, Role};
    let s = b.store.as_ref();
    let (t1, c1) = credentials::issue(Role::Approver, Some("alice"), Utc::now()).unwrap();
    let (_, c2) = credentials::issue(Role::Requester, None, Utc::now()).unwrap();
    let (id1, id2) = (c1.credential.id.clone(), c2.credential.id.clone());
    s.put_credential(c1).await.unwrap();
    s.put_credential(c2).await.unwrap();
    let found = s
        .credential_by_hash(&credentials::hash(&t1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.id.as_str(), found.role),
        (id1.as_str(), Role::Approver)
    );
    assert_eq!(found.who.as_deref(), Some("alice"));
    assert!(
        s.credential_by_hash(&credentials::hash("nope"))
            .await
            .unwrap()
            .is_none()
    );
    let mut ids: Vec<_> = s
        .credentials()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    ids.sort();
    let mut want = vec![id1.clone(), id2.clone()];
    want.sort();
    assert_eq!(ids, want);
    assert!(s.revoke_credential(&id1).await.unwrap());
    assert!(!s.revoke_credential(&id1).await.unwrap(), "revoked once");
    assert!(
        s.credential_by_hash(&credentials::hash(&t1))
            .await
            .unwrap()
            .is_none()
    );
    let left: Vec<_> = s
        .credentials()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(left, [id2]);
}

/// A request's history read in pages: every event once, in order, and the
/// cursor of the last page is `None`.
async fn audit_pages_through_one_request(b: Backend) {
    let s = &*b.store;
    let mut r = record("apr_pages", 600);
    r.quorum = 12;
    s.insert(r.clone(), created(&r), &[]).await.unwrap();
    for i in 0..11 {
        s.transition("apr_pages", approve(&format!("person{i}")), &[])
            .await
            .unwrap();
    }
    // Another request's history is not mixed in.
    add(s, "apr_other", &[]).await;
    let (all, next) = s
        .audit(Some("apr_pages"), AuditFrom::Start, 100)
        .await
        .unwrap();
    assert_eq!(all.len(), 12, "created + 11 votes: {all:#?}");
    assert!(next.is_none());
    let mut paged = Vec::new();
    let mut from = AuditFrom::Start;
    let mut pages = 0;
    loop {
        let (page, next) = s.audit(Some("apr_pages"), from, 5).await.unwrap();
        pages += 1;
        assert!(page.len() <= 5);
        paged.extend(page);
        match next {
            Some(c) => from = AuditFrom::Cursor(c),
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 3, "5 + 5 + 2");
    let seqs = |v: &[hitl_wire::api::AuditEvent]| v.iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(seqs(&paged), seqs(&all));
    assert!(paged.iter().all(|e| e.request_id == "apr_pages"));
    assert!(seqs(&all).windows(2).all(|w| w[0] < w[1]), "in order");
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::Backend::sqlite()).await;
                }
            )*
        }
        mod dynamo {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::Backend::dynamo().await).await;
                }
            )*
        }
    };
}

contract!(
    create_is_idempotent,
    one_of_many_decisions_wins,
    pending_listing_follows_decisions,
    outbox_goes_out_in_order,
    timers_lease_and_go_with_the_decision,
    finals_feed_wakes_other_replicas,
    once_keys_and_message_refs,
    credentials_are_found_by_hash_listed_and_revoked,
    audit_pages_through_one_request,
);

/// DynamoDB only: a final record carries its TTL, and an item whose TTL
/// passed is treated as gone before DynamoDB deletes it.
#[tokio::test]
async fn dynamo_final_records_expire_by_ttl() {
    let b = Backend::dynamo().await;
    let s = &*b.store;
    add(s, "apr_ttl", &[]).await;
    let decided = s
        .transition("apr_ttl", approve("alice"), &[])
        .await
        .unwrap();
    let moto = b.moto.as_ref().unwrap();
    let tables = moto.client.list_tables().send().await.unwrap();
    let table = tables.table_names()[0].clone();
    let key = |id: &str| {
        std::collections::HashMap::from([
            (
                "pk".to_owned(),
                aws_sdk_dynamodb::types::AttributeValue::S(format!("REQ#{id}")),
            ),
            (
                "sk".to_owned(),
                aws_sdk_dynamodb::types::AttributeValue::S("REC".into()),
            ),
        ])
    };
    let item = moto
        .client
        .get_item()
        .table_name(&table)
        .set_key(Some(key("apr_ttl")))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let ttl: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
    assert_eq!(ttl, decided.decided_at.unwrap().timestamp() + 7 * 24 * 3600);
    assert!(
        !item.contains_key("gsi1pk"),
        "a final record leaves the pending index"
    );
    // Age the item past its TTL, as DynamoDB would see it days later.
    moto.client
        .update_item()
        .table_name(&table)
        .set_key(Some(key("apr_ttl")))
        .update_expression("SET expires_at = :t")
        .expression_attribute_values(
            ":t",
            aws_sdk_dynamodb::types::AttributeValue::N((Utc::now().timestamp() - 1).to_string()),
        )
        .send()
        .await
        .unwrap();
    assert!(s.get("apr_ttl").await.unwrap().is_none());
    assert!(
        s.finals_among(&["apr_ttl".to_owned()])
            .await
            .unwrap()
            .is_empty()
    );
    // Its id is free again.
    assert!(matches!(
        s.insert(record("apr_ttl", 60), created(&record("apr_ttl", 60)), &[])
            .await
            .unwrap(),
        Inserted::Created(_)
    ));
}

/// TABLE_NAME and STATE_MACHINE_ARN switch `hitl-bot serve` to DynamoDB:
/// two service processes on one table, a decision through one is seen by
/// the other.
#[tokio::test]
async fn serve_runs_on_dynamodb_when_the_aws_settings_are_set() {
    let moto = Moto::start().await;
    let table = moto.create_table().await;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        format!("TABLE_NAME={table}"),
        "STATE_MACHINE_ARN=arn:aws:states:us-east-1:123456789012:stateMachine:hitl".to_owned(),
        format!("AWS_ENDPOINT_URL={}", moto.url),
        "AWS_REGION=us-east-1".to_owned(),
        "AWS_ACCESS_KEY_ID=test".to_owned(),
        "AWS_SECRET_ACCESS_KEY=test".to_owned(),
    ];
    let env: Vec<&str> = env.iter().map(String::as_str).collect();
    let a = crate::support::BotProcess::start_with(dir.path(), Some("tok"), &env).await;
    let b = crate::support::BotProcess::start_with(dir.path(), Some("tok"), &env).await;
    let http = crate::support::http();
    let (status, created) = crate::support::read(
        http.post(format!("{}/v1/approvals", a.url))
            .bearer_auth("tok")
            .json(&json!({"tool": "delete_bucket", "arguments": {"bucket": "prod"}, "risk": "high", "requester": "agent"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(status.is_success(), "{status}: {created}");
    let id = created["request_id"].as_str().unwrap().to_owned();
    let (status, rec) = crate::support::read(
        http.get(format!("{}/v1/approvals/{id}", b.url))
            .bearer_auth("tok")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(status.is_success(), "{status}: {rec}");
    assert_eq!(
        rec["status"], "pending",
        "the other replica reads the same table"
    );
    let none = moto
        .client
        .scan()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .count;
    assert!(none >= 2, "record and audit are in DynamoDB");
    assert!(!dir.path().join("hitl.db").exists(), "SQLite is not used");
}

#[tokio::test]
async fn a_table_without_a_state_machine_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(crate::support::bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("TABLE_NAME", "hitl-approvals")
        .env_remove("STATE_MACHINE_ARN")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("STATE_MACHINE_ARN"), "{err}");
}
