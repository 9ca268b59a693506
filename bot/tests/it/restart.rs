//! Nothing held is lost on restart: pending requests and their deadlines
//! survive `kill -9`, and requests whose deadline passed meanwhile expire at start.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{BotProcess, TOKEN, approver_in, read};

async fn call(method: &str, url: String, body: Option<Value>) -> (StatusCode, Value) {
    call_as(TOKEN, method, url, body).await
}

async fn call_as(
    token: &str,
    method: &str,
    url: String,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let http = crate::support::http();
    let req = match method {
        "GET" => http.get(url),
        _ => http.post(url).json(&body.unwrap_or(json!({}))),
    };
    read(req.bearer_auth(token).send().await.unwrap()).await
}

async fn create(bot: &BotProcess, id: &str, timeout: u64) {
    let body = json!({"request_id": id, "tool": "run_command", "arguments": {"cmd": "deploy"},
                      "risk": "critical", "requester": "agent", "timeout_secs": timeout});
    let (status, r) = call("POST", format!("{}/v1/approvals", bot.url), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
}

#[tokio::test]
async fn pending_requests_survive_a_kill_and_overdue_ones_expire_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let bot = BotProcess::start(dir.path(), Some(TOKEN)).await;
    create(&bot, "overdue", 2).await;
    create(&bot, "later", 600).await;
    create(&bot, "soon", 6).await;
    bot.kill().await;

    // "overdue" reaches its deadline while the service is down.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let bot = BotProcess::start(dir.path(), Some(TOKEN)).await;
    let (_, overdue) = call("GET", format!("{}/v1/approvals/overdue", bot.url), None).await;
    assert_eq!(overdue["status"], "expired");
    assert_eq!(overdue["reason"], "no decision within 2 seconds");
    let (_, later) = call("GET", format!("{}/v1/approvals/later", bot.url), None).await;
    assert_eq!(later["status"], "pending");

    // "soon" had its timer re-armed from the store: it expires on schedule.
    let (_, soon) = call(
        "GET",
        format!("{}/v1/approvals/soon?wait=30", bot.url),
        None,
    )
    .await;
    assert_eq!(soon["status"], "expired", "{soon}");

    // The survivor can still be decided, and its history spans both runs.
    let alice = approver_in(dir.path(), "alice").await;
    let (status, r) = call_as(
        &alice,
        "POST",
        format!("{}/v1/approvals/later/decision", bot.url),
        Some(json!({"action": "approve", "approver": "alice"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["status"], "approved");
    let (_, audit) = call(
        "GET",
        format!("{}/v1/approvals/overdue/audit", bot.url),
        None,
    )
    .await;
    let expired = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "expired")
        .unwrap();
    assert_eq!(expired["actor"], "hitl");
    bot.kill().await;
}

#[tokio::test]
async fn a_decision_survives_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let bot = BotProcess::start(dir.path(), Some(TOKEN)).await;
    create(&bot, "r", 600).await;
    let alice = approver_in(dir.path(), "alice").await;
    let (status, _) = call_as(
        &alice,
        "POST",
        format!("{}/v1/approvals/r/decision", bot.url),
        Some(json!({"action": "reject", "approver": "alice", "reason": "not now"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    bot.kill().await;
    let bot = BotProcess::start(dir.path(), Some(TOKEN)).await;
    let (_, r) = call("GET", format!("{}/v1/approvals/r", bot.url), None).await;
    assert_eq!(r["status"], "rejected");
    assert_eq!(r["reason"], "not now");
    bot.kill().await;
}
