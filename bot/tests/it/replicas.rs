//! Several `hitl-bot` processes on one SQLite database: decisions wake
//! long-polls in every process, one decision wins over all of them, and
//! timers fire once, even when a process dies.

use std::sync::Arc;
use std::time::Duration;

use hitl_bot::Running;
use hitl_bot::clock::Clock;
use hitl_bot::service::{ReplicaSettings, Settings};
use hitl_bot::store::sqlite::SqliteStore;
use hitl_bot::store::{AuditFrom, Store};
use hitl_wire::Status;
use hitl_wire::api::CreateApproval;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{BotProcess, TOKEN, approver_in, read};

struct Pair {
    a: BotProcess,
    b: BotProcess,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// Two binaries sharing one data folder (database and token), with 2-second
/// leases so a dead process's timers are taken over quickly.
async fn two_processes() -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hitl.toml");
    std::fs::write(&config, "lease_secs = 2\n").unwrap();
    let arg = format!("--config={}", config.display());
    let a = BotProcess::start_with(dir.path(), Some(TOKEN), &[&arg]).await;
    let b = BotProcess::start_with(dir.path(), Some(TOKEN), &[&arg]).await;
    Pair {
        a,
        b,
        http: crate::support::http(),
        _dir: dir,
    }
}

async fn post(http: &reqwest::Client, url: &str, body: Value) -> (StatusCode, Value) {
    post_as(http, TOKEN, url, body).await
}

async fn post_as(
    http: &reqwest::Client,
    token: &str,
    url: &str,
    body: Value,
) -> (StatusCode, Value) {
    let resp = http
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    read(resp).await
}

async fn create(http: &reqwest::Client, base: &str, id: &str, timeout: u64) {
    let (status, body) = post(
        http,
        &format!("{base}/v1/approvals"),
        json!({"request_id": id, "tool": "deploy", "arguments": {"env": "prod"},
               "risk": "high", "requester": "agent-1", "timeout_secs": timeout}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn a_call_held_through_one_process_is_released_by_a_decision_on_the_other() {
    let p = two_processes().await;
    create(&p.http, &p.a.url, "held-1", 600).await;
    // The gateway's long-poll, on A.
    let wait = {
        let (http, url) = (p.http.clone(), format!("{}/v1/approvals/wait", p.a.url));
        tokio::spawn(async move {
            post(
                &http,
                &url,
                json!({"request_ids": ["held-1"], "wait_secs": 60}),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !wait.is_finished(),
        "the long-poll answered before any decision"
    );
    let alice = approver_in(p._dir.path(), "alice").await;
    let (status, body) = post_as(
        &p.http,
        &alice,
        &format!("{}/v1/approvals/held-1/decision", p.b.url),
        json!({"action": "approve", "approver": "alice"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Woken by B's decision, long before its 60 seconds.
    let (status, body) = tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the long-poll on A was not woken by the decision on B")
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["approvals"][0]["status"], "approved", "{body}");
    assert_eq!(body["approvals"][0]["approver"], "alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_concurrent_decisions_over_two_processes_one_winner() {
    let p = two_processes().await;
    create(&p.http, &p.a.url, "race-1", 600).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(100));
    let mut tasks = Vec::new();
    let dir = p._dir.path().to_owned();
    for i in 0..100 {
        let token = approver_in(&dir, &format!("approver-{i:03}")).await;
        let base = if i % 2 == 0 { &p.a.url } else { &p.b.url };
        let url = format!("{base}/v1/approvals/race-1/decision");
        let (http, barrier) = (p.http.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let who = format!("approver-{i:03}");
            let body = if i % 3 == 0 {
                json!({"action": "reject", "approver": who, "reason": "race"})
            } else {
                json!({"action": "approve", "approver": who})
            };
            barrier.wait().await;
            let (status, body) = post_as(&http, &token, &url, body).await;
            (who, status, body)
        }));
    }
    let mut winners = Vec::new();
    let mut losers = Vec::new();
    for t in tasks {
        let (who, status, body) = t.await.unwrap();
        match status {
            StatusCode::OK => winners.push(who),
            StatusCode::CONFLICT => losers.push(body),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one decision wins: {winners:?}");
    for err in &losers {
        assert_eq!(err["record"]["approver"], json!(winners[0]), "{err}");
    }
    // Both processes read the same one decision.
    for base in [&p.a.url, &p.b.url] {
        let resp = p
            .http
            .get(format!("{base}/v1/approvals/race-1/audit"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let (_, audit) = read(resp).await;
        let decided = audit["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "approved" || e["action"] == "rejected")
            .count();
        assert_eq!(decided, 1, "{audit}");
    }
}

#[tokio::test]
async fn killing_one_process_loses_no_request_and_no_timer() {
    let p = two_processes().await;
    create(&p.http, &p.a.url, "k-soon", 3).await;
    create(&p.http, &p.a.url, "k-later", 600).await;
    p.a.kill().await;
    // A armed k-soon's deadline and died; B fires it.
    let (status, body) = post(
        &p.http,
        &format!("{}/v1/approvals/wait", p.b.url),
        json!({"request_ids": ["k-soon"], "wait_secs": 30}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["approvals"][0]["status"], "expired", "{body}");
    // The other request is still pending, and B decides it.
    let bob = approver_in(p._dir.path(), "bob").await;
    let (status, body) = post_as(
        &p.http,
        &bob,
        &format!("{}/v1/approvals/k-later/decision", p.b.url),
        json!({"action": "reject", "approver": "bob", "reason": "not now"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "rejected");
}

fn create_body(id: String) -> CreateApproval {
    serde_json::from_value(json!({"request_id": id, "tool": "t", "arguments": {},
        "risk": "high", "requester": "agent-1", "timeout_secs": 2}))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_timers_over_two_live_processes_each_fire_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hitl.db");
    let settings = Settings {
        replicas: ReplicaSettings {
            lease: Duration::from_secs(2),
            ..ReplicaSettings::default()
        },
        ..Settings::default()
    };
    let start =
        |store: Arc<dyn Store>| Running::start(store, settings.clone(), Clock::System, vec![]);
    let store_a: Arc<dyn Store> = Arc::new(SqliteStore::open(&db).unwrap());
    let store_b: Arc<dyn Store> = Arc::new(SqliteStore::open(&db).unwrap());
    let a = start(store_a.clone()).await.unwrap();
    let b = start(store_b).await.unwrap();
    let mut creates = Vec::new();
    for i in 0..1000 {
        let svc = if i % 2 == 0 {
            a.service.clone()
        } else {
            b.service.clone()
        };
        creates.push(tokio::spawn(async move {
            svc.create(create_body(format!("t-{i:04}"))).await.unwrap()
        }));
    }
    for c in creates {
        c.await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while store_a.count_pending().await.unwrap() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timers did not all fire"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let audit = store_a
        .audit(None, AuditFrom::Start, 100_000)
        .await
        .unwrap()
        .0;
    let mut expired = std::collections::HashMap::<String, usize>::new();
    for e in audit.iter().filter(|e| e.action == "expired") {
        *expired.entry(e.request_id.clone()).or_default() += 1;
    }
    assert_eq!(expired.len(), 1000);
    let twice: Vec<_> = expired.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "fired more than once: {twice:?}");
    for i in [0, 1, 998, 999] {
        let r = store_a.get(&format!("t-{i:04}")).await.unwrap().unwrap();
        assert_eq!(r.status, Status::Expired);
    }
    assert!(store_a.timers().await.unwrap().is_empty());
    a.stop().await;
    b.stop().await;
}
