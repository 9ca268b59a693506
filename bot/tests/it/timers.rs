//! Deadlines and the reminder/escalation step, in the running service.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::TestServer;

#[tokio::test]
async fn a_request_expires_at_its_deadline_with_a_reason() {
    let s = TestServer::start().await;
    let id = s.create(json!({"timeout_secs": 1})).await["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The long-poll is woken by the expiry itself.
    let (status, r) = s.get(&format!("/v1/approvals/{id}?wait=20")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(r["status"], "expired");
    assert_eq!(r["reason"], "no decision within 1 second");
    assert!(r.get("approver").is_none());
    let (status, err) = s.decide(&id, "approve", "alice", None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        err["message"],
        "already expired: no decision within 1 second"
    );
    let (_, audit) = s.get(&format!("/v1/approvals/{id}/audit")).await;
    let expired = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "expired")
        .unwrap();
    assert_eq!(expired["actor"], "hitl");
    s.stop().await;
}

#[tokio::test]
async fn a_decision_stops_the_deadline() {
    let s = TestServer::start().await;
    let id = s.create(json!({"timeout_secs": 1})).await["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.decide(&id, "approve", "alice", None).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(s.record(&id).await["status"], "approved");
    s.stop().await;
}

#[tokio::test]
async fn the_reminder_goes_out_part_way_then_the_request_expires() {
    let s = TestServer::start().await;
    let id = s
        .create(json!({"timeout_secs": 2, "escalation": {"after_secs": 1, "to": "group:oncall"}}))
        .await["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, r) = s.get(&format!("/v1/approvals/{id}?wait=20")).await;
    assert_eq!(r["status"], "expired");
    assert!(r["reminded_at"].is_string(), "{r}");
    let (_, audit) = s.get(&format!("/v1/approvals/{id}/audit")).await;
    let actions: Vec<_> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .filter(|a| a != "notified")
        .collect();
    assert_eq!(actions, ["created", "reminded", "expired"]);
    let reminded = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "reminded")
        .unwrap();
    assert_eq!(reminded["detail"]["escalated_to"], "group:oncall");
    s.stop().await;
}
