//! The outbox against a Slack that goes down: nothing lost, nothing twice,
//! in order per request, and one failing channel never holds up another.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hitl_bot::notify::{Notice, Notifier, NotifyError};
use hitl_bot::outbox::OutboxSettings;
use hitl_bot::service::Settings;
use hitl_wire::ApprovalRecord;
use serde_json::{Value, json};

use super::fake::{Call, FakeSlack};
use super::{BOT_TOKEN, CHANNEL, SlackBot};
use crate::support::{BotProcess, TOKEN, read};

fn quick_outbox() -> Settings {
    Settings {
        outbox: OutboxSettings {
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
            ..OutboxSettings::default()
        },
        ..Settings::default()
    }
}

/// Card posts (a message that starts its own thread), by answered `ts`.
fn card_posts(served: &[Call]) -> usize {
    served
        .iter()
        .filter(|c| c.method == "chat.postMessage" && c.body["thread_ts"].is_null())
        .count()
}

/// What was served about the card posted as `ts`, after the card itself,
/// in order: "update" (the card replaced), "reply" (a reply in its thread).
fn story(fake: &FakeSlack, ts: &str) -> Vec<&'static str> {
    let mut out = Vec::new();
    for c in &fake.served() {
        match c.method.as_str() {
            "chat.update" if c.body["ts"] == ts => out.push("update"),
            "chat.postMessage" if c.body["thread_ts"] == ts => out.push("reply"),
            _ => {}
        }
    }
    out
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn slack_down_then_up_every_card_and_follow_up_arrives_once_and_in_order() {
    let bot = SlackBot::start_with(quick_outbox(), |_| {}).await;
    bot.fake.set_down(true);
    let s = &bot.server;
    for i in 0..5 {
        s.create(json!({"request_id": format!("down-{i}")})).await;
    }
    // Decisions while Slack is down: they must not overtake their cards.
    s.decide("down-0", "approve", "U0ALICE", None).await;
    s.decide("down-1", "reject", "U0ALICE", Some("not today"))
        .await;
    s.post("/v1/approvals/down-2/cancel", json!({})).await;
    s.decide("down-4", "approve", "U0BOB", None).await;
    wait_until("failed attempts", || bot.fake.calls().len() >= 10).await;

    // The record says the notices are still to go out, and why (once an
    // attempt has ended: the client retries within each attempt too).
    let mut r = s.record("down-3").await;
    for _ in 0..200 {
        if r["notifications"][0]["last_error"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        r = s.record("down-3").await;
    }
    let n = &r["notifications"][0];
    assert_eq!(n["channel"], "slack", "{r}");
    assert_eq!(n["state"], "pending", "{r}");
    assert!(n["last_error"].as_str().unwrap().contains("503"), "{r}");
    assert_eq!(r["notification_sent"], false);
    assert_eq!(card_posts(&bot.fake.served()), 0);

    bot.fake.set_down(false);
    wait_until("every card and follow-up", || {
        let served = bot.fake.served();
        card_posts(&served) == 5 && served.iter().filter(|c| c.method == "chat.update").count() == 4
    })
    .await;
    // Nothing more comes.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let served = bot.fake.served();
    assert_eq!(card_posts(&served), 5, "each card once");
    for i in 0..5 {
        let id = format!("down-{i}");
        let at = bot.card(&id).await;
        let want: &[&str] = if i == 3 { &[] } else { &["update", "reply"] };
        assert_eq!(story(&bot.fake, &at.message), want, "{id}");
        let r = s.record(&id).await;
        let n = &r["notifications"][0];
        assert_eq!(n["state"], "delivered", "{id}: {r}");
        assert!(n["attempts"].as_u64().unwrap() >= 2, "{id}: {r}");
        assert!(n["delivered_at"].is_string(), "{id}: {r}");
    }
    // The decided cards show their decision, not buttons.
    for i in [0, 1, 2, 4] {
        let at = bot.card(&format!("down-{i}")).await;
        let text = bot.fake.message(&at.message).to_string();
        assert!(
            !text.contains("hitl_approve"),
            "down-{i} still has buttons: {text}"
        );
    }
    // Still pending: the card reached Slack, so `notification_sent`.
    for _ in 0..100 {
        if s.record("down-3").await["notification_sent"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(s.record("down-3").await["notification_sent"], true);
    // A decided request's history ends with its decision.
    let (_, audit) = s.get("/v1/approvals/down-0/audit").await;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.last(), Some(&"approved"), "{actions:?}");
    bot.stop().await;
}

/// A channel of the test's own that records what it was told, and when.
#[derive(Default)]
struct Recorder {
    got: Mutex<Vec<(String, Notice, Instant)>>,
}

#[async_trait]
impl Notifier for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }

    async fn notify(&self, notice: Notice, record: &ApprovalRecord) -> Result<(), NotifyError> {
        self.got
            .lock()
            .unwrap()
            .push((record.request_id.clone(), notice, Instant::now()));
        Ok(())
    }
}

#[tokio::test]
async fn a_failing_channel_never_delays_another() {
    let recorder = Arc::new(Recorder::default());
    let bot = SlackBot::start_beside(
        quick_outbox(),
        |_| {},
        vec![recorder.clone() as Arc<dyn Notifier>],
    )
    .await;
    bot.fake.set_down(true);
    let started = Instant::now();
    bot.server.create(json!({"request_id": "both-1"})).await;
    bot.server
        .decide("both-1", "approve", "U0ALICE", None)
        .await;
    wait_until("the recorder's notices", || {
        recorder.got.lock().unwrap().len() >= 2
    })
    .await;
    let got: Vec<(String, Notice)> = recorder
        .got
        .lock()
        .unwrap()
        .iter()
        .map(|(id, n, _)| (id.clone(), *n))
        .collect();
    assert_eq!(
        got,
        [
            ("both-1".into(), Notice::Created),
            ("both-1".into(), Notice::Decided)
        ]
    );
    // Slack is still failing and being retried meanwhile.
    assert_eq!(card_posts(&bot.fake.served()), 0);
    wait_until("an attempt at Slack", || !bot.fake.calls().is_empty()).await;
    let r = bot.server.record("both-1").await;
    let by_channel: Vec<(Value, Value)> = r["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["channel"].clone(), n["state"].clone()))
        .collect();
    assert_eq!(
        by_channel,
        [
            (json!("recorder"), json!("delivered")),
            (json!("slack"), json!("pending"))
        ],
        "{r}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    bot.stop().await;
}

#[tokio::test]
async fn after_kill_9_with_undelivered_notices_none_is_lost() {
    let fake = FakeSlack::start().await;
    fake.set_down(true);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hitl.toml");
    std::fs::write(&config, "lease_secs = 2\n").unwrap();
    let env = [
        format!("SLACK_BOT_TOKEN={BOT_TOKEN}"),
        format!("SLACK_CHANNEL={CHANNEL}"),
        format!("SLACK_API_URL={}", fake.url),
        format!("--config={}", config.display()),
    ];
    let env: Vec<&str> = env.iter().map(String::as_str).collect();
    let http = crate::support::http();
    let a = BotProcess::start_with(dir.path(), Some(TOKEN), &env).await;
    for i in 0..3 {
        let resp = http
            .post(format!("{}/v1/approvals", a.url))
            .bearer_auth(TOKEN)
            .json(
                &json!({"request_id": format!("k9-{i}"), "tool": "deploy", "arguments": {},
                          "risk": "high", "requester": "agent-1"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    let alice = crate::support::approver_in(dir.path(), "U0ALICE").await;
    let resp = http
        .post(format!("{}/v1/approvals/k9-0/decision", a.url))
        .bearer_auth(&alice)
        .json(&json!({"action": "approve", "approver": "U0ALICE"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    wait_until("attempts at Slack", || fake.calls().len() >= 3).await;
    a.kill().await;

    fake.set_down(false);
    let b = BotProcess::start_with(dir.path(), Some(TOKEN), &env).await;
    wait_until("every card and the decision", || {
        let served = fake.served();
        card_posts(&served) == 3 && served.iter().any(|c| c.method == "chat.update")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let served = fake.served();
    assert_eq!(card_posts(&served), 3, "each card once: {served:#?}");
    assert_eq!(
        served.iter().filter(|c| c.method == "chat.update").count(),
        1
    );
    let resp = http
        .get(format!("{}/v1/approvals/k9-1", b.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let (_, r) = read(resp).await;
    assert_eq!(r["status"], "pending");
    assert_eq!(r["notifications"][0]["state"], "delivered", "{r}");
    b.kill().await;
}
