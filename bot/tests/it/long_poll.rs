//! `GET /v1/approvals/{id}?wait=SECS` returns on the decision, not on a poll
//! interval, and returns the pending record when the wait runs out.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::support::TestServer;

#[tokio::test]
async fn returns_as_soon_as_the_request_is_decided() {
    let s = TestServer::start().await;
    let id = s.create(json!({})).await["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let started = Instant::now();
    let path = format!("/v1/approvals/{id}?wait=30");
    let poll = s.get(&path);
    let decide = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        s.decide(&id, "approve", "alice", None).await
    };
    let ((status, record), (decided, _)) = tokio::join!(poll, decide);
    assert_eq!(decided, StatusCode::OK);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(record["status"], "approved");
    // Woken by the decision, far before the 30 s wait ran out.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        s.service.waiters().is_empty(),
        "waiter entries are cleaned up"
    );
    s.stop().await;
}

#[tokio::test]
async fn returns_pending_when_the_wait_runs_out() {
    let s = TestServer::start().await;
    let id = s.create(json!({})).await["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let started = Instant::now();
    let (status, record) = s.get(&format!("/v1/approvals/{id}?wait=1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(record["status"], "pending");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(
        s.service.waiters().is_empty(),
        "waiter entries are cleaned up"
    );
    s.stop().await;
}

#[tokio::test]
async fn already_final_returns_at_once_and_many_waiters_all_wake() {
    let s = TestServer::start().await;
    let id = s.create(json!({})).await["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/approvals/{id}?wait=30");
    let waiters: Vec<_> = (0..20).map(|_| s.get(&path)).collect();
    let decide = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        s.decide(&id, "reject", "alice", Some("no")).await
    };
    let (results, _) = tokio::join!(futures::future::join_all(waiters), decide);
    assert!(
        results
            .iter()
            .all(|(st, r)| *st == StatusCode::OK && r["status"] == "rejected")
    );
    let started = Instant::now();
    let (_, r) = s.get(&path).await;
    assert_eq!(r["status"], "rejected");
    assert!(started.elapsed() < Duration::from_secs(5));
    s.stop().await;
}

#[tokio::test]
async fn shutdown_ends_long_polls_early() {
    let s = TestServer::start().await;
    let id = s.create(json!({})).await["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let started = Instant::now();
    let token = s.shutdown_token();
    let path = format!("/v1/approvals/{id}?wait=60");
    let poll = s.get(&path);
    let stop = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        token.cancel();
    };
    let ((status, record), ()) = tokio::join!(poll, stop);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(record["status"], "pending");
    assert!(started.elapsed() < Duration::from_secs(30));
    s.stop().await;
}

#[tokio::test]
async fn wait_longer_than_the_maximum_is_refused() {
    let s = TestServer::start().await;
    let id = s.create(json!({})).await["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, err) = s.get(&format!("/v1/approvals/{id}?wait=301")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        err["message"],
        "`wait` must be between 0 and 300 seconds (got 301); poll again to wait longer"
    );
    s.stop().await;
}

#[tokio::test]
async fn one_poll_waits_for_many_requests_and_returns_the_decided_ones() {
    let s = TestServer::start().await;
    let a = s.create(json!({})).await["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = s.create(json!({})).await["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"request_ids": [a, b, "unknown-id"], "wait_secs": 30});
    let started = Instant::now();
    let poll = s.post("/v1/approvals/wait", body.clone());
    let decide = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        s.decide(&b, "reject", "alice", Some("no")).await
    };
    let ((status, list), _) = tokio::join!(poll, decide);
    assert_eq!(status, StatusCode::OK, "{list}");
    let ids: Vec<_> = list["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["request_id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(b)], "only the decided one comes back");
    assert!(started.elapsed() < Duration::from_secs(10));
    // Already final: answered at once. Nothing final and no wait: empty.
    let (_, list) = s.post("/v1/approvals/wait", body).await;
    assert_eq!(list["approvals"].as_array().unwrap().len(), 1);
    let (_, list) = s
        .post(
            "/v1/approvals/wait",
            json!({"request_ids": [a], "wait_secs": 0}),
        )
        .await;
    assert!(list["approvals"].as_array().unwrap().is_empty());
    let (status, err) = s
        .post(
            "/v1/approvals/wait",
            json!({"request_ids": [a], "wait_secs": 301}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("`wait_secs` must be between 0 and 300")
    );
    assert!(
        s.service.waiters().is_empty(),
        "waiter entries are cleaned up"
    );
    s.stop().await;
}
