//! Exactly one decision wins, whatever the number of concurrent clicks.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_concurrent_decisions_one_winner_the_rest_told_who_won() {
    let s = Arc::new(TestServer::start().await);
    let id = s.create(json!({})).await["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before_audit = s.get(&format!("/v1/approvals/{id}/audit")).await.1["events"]
        .as_array()
        .unwrap()
        .len();

    let barrier = Arc::new(tokio::sync::Barrier::new(100));
    let mut tasks = Vec::new();
    for i in 0..100 {
        let (s, id, barrier) = (s.clone(), id.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let who = format!("approver-{i:03}");
            let (action, reason) = if i % 2 == 0 {
                ("approve", None)
            } else {
                ("reject", Some("race"))
            };
            barrier.wait().await;
            let (status, body) = s.decide(&id, action, &who, reason).await;
            (who, status, body)
        }));
    }
    let mut winners = Vec::new();
    let mut losers = Vec::new();
    for t in tasks {
        let (who, status, body) = t.await.unwrap();
        match status {
            StatusCode::OK => winners.push((who, body)),
            StatusCode::CONFLICT => losers.push(body),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one decision wins");
    assert_eq!(losers.len(), 99);
    let (winner, record) = &winners[0];
    assert_eq!(record["approver"], json!(winner));
    for err in &losers {
        assert_eq!(err["code"], "already_decided");
        assert_eq!(err["record"]["approver"], json!(winner));
        assert!(
            err["message"].as_str().unwrap().contains(winner.as_str()),
            "{err}"
        );
    }
    // One decision in the history, and the stored record is the winner's.
    let audit = s.get(&format!("/v1/approvals/{id}/audit")).await.1;
    let events = audit["events"].as_array().unwrap();
    let decisions = events
        .iter()
        .filter(|e| e["action"] == "approved" || e["action"] == "rejected")
        .count();
    assert_eq!(decisions, 1);
    assert!(
        events.len() <= before_audit + 2,
        "only the decision (and the notified mark) were added"
    );
    assert_eq!(s.record(&id).await["approver"], json!(winner));
    Arc::into_inner(s).unwrap().stop().await;
}
