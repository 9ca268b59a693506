//! Posting to Slack: the card, its update once decided, session threads,
//! reminders and expiry as thread replies, rate limits and server errors
//! retried, and a failed post that never loses the request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hitl_bot::Running;
use hitl_bot::clock::Clock;
use hitl_bot::service::Settings;
use hitl_bot::store::sqlite::SqliteStore;
use hitl_bot::store::{MessageRef, Store};
use serde_json::{Value, json};

use super::fake::Canned;
use super::{BOT_TOKEN, CHANNEL, CHANNEL_ID, SlackBot};

fn has_buttons(blocks: &Value) -> bool {
    blocks
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b["type"] == "actions")
}

#[tokio::test]
async fn the_card_is_posted_then_updated_when_decided_through_the_api() {
    let bot = SlackBot::start().await;
    let (_, at) = bot.create_posted(json!({"request_id": "card-1"})).await;
    let posts = bot.fake.calls_of("chat.postMessage");
    assert_eq!(posts.len(), 1);
    let post = &posts[0];
    assert_eq!(
        post.auth.as_deref(),
        Some(format!("Bearer {BOT_TOKEN}").as_str())
    );
    assert_eq!(post.body["channel"], CHANNEL);
    assert!(post.body.get("thread_ts").is_none());
    assert!(
        post.body["text"]
            .as_str()
            .unwrap()
            .contains("write_file on filesystem")
    );
    let actions = post.body["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "actions")
        .unwrap();
    assert_eq!(actions["elements"][0]["action_id"], "hitl_approve");
    assert_eq!(actions["elements"][0]["value"], "card-1");
    assert_eq!(actions["elements"][1]["action_id"], "hitl_reject");
    assert_eq!(
        at,
        MessageRef {
            platform: "slack".into(),
            conversation: CHANNEL_ID.into(),
            message: at.message.clone(),
            thread: at.message.clone(),
            platform_ref: None,
        }
    );

    let (status, _) = bot
        .server
        .decide("card-1", "reject", "cli:ops", Some("not today"))
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let updates = bot.fake.wait_for("chat.update", 1).await;
    assert_eq!(updates[0].body["channel"], CHANNEL_ID);
    assert_eq!(updates[0].body["ts"], at.message.as_str());
    assert!(!has_buttons(&updates[0].body["blocks"]));
    assert!(updates[0].body.to_string().contains("not today"));
    let posts = bot.fake.wait_for("chat.postMessage", 2).await;
    assert_eq!(posts[1].body["thread_ts"], at.message.as_str());
    assert_eq!(
        posts[1].body["text"],
        ":x: Rejected by cli:ops: not today (request `card-1`, `write_file` on filesystem)"
    );
    bot.stop().await;
}

#[tokio::test]
async fn a_request_may_name_its_own_channel_and_a_withdrawn_one_says_so() {
    let bot = SlackBot::start().await;
    let (_, at) = bot
        .create_posted(json!({"request_id": "chan-1", "channel": "#ops-prod"}))
        .await;
    assert_eq!(
        bot.fake.calls_of("chat.postMessage")[0].body["channel"],
        "#ops-prod"
    );
    assert_eq!(at.conversation, "C0OPSPROD");
    bot.server
        .post(
            "/v1/approvals/chan-1/cancel",
            json!({"reason": "user pressed stop"}),
        )
        .await;
    bot.fake.wait_for("chat.update", 1).await;
    let shown = bot.fake.message(&at.message);
    assert!(!has_buttons(&shown["blocks"]));
    let posts = bot.fake.wait_for("chat.postMessage", 2).await;
    assert!(
        posts[1].body["text"]
            .as_str()
            .unwrap()
            .starts_with(":no_entry_sign: Withdrawn by the agent: user pressed stop"),
        "{:?}",
        posts[1].body
    );
    bot.stop().await;
}

#[tokio::test]
async fn rate_limits_are_waited_out_as_slack_asks() {
    let bot = SlackBot::start().await;
    bot.fake.script("chat.postMessage", Canned::RateLimited(1));
    let started = Instant::now();
    let (_, at) = bot.create_posted(json!({"request_id": "rl-1"})).await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    assert_eq!(bot.fake.calls_of("chat.postMessage").len(), 2);
    assert_eq!(at.conversation, CHANNEL_ID);
    bot.stop().await;
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let bot = SlackBot::start().await;
    bot.fake.script("chat.postMessage", Canned::Status(503));
    bot.fake.script("chat.postMessage", Canned::Status(502));
    bot.create_posted(json!({"request_id": "5xx-1"})).await;
    assert_eq!(bot.fake.calls_of("chat.postMessage").len(), 3);
    bot.stop().await;
}

#[tokio::test]
async fn a_failed_post_never_loses_the_request_and_is_posted_again() {
    let bot = SlackBot::start_with(Settings::default(), |c| {
        c.repost_every = Duration::from_millis(300);
    })
    .await;
    // Final errors are not retried; the request stays pending regardless.
    bot.fake
        .script("chat.postMessage", Canned::Error("channel_not_found"));
    let record = bot.server.create(json!({"request_id": "lost-1"})).await;
    assert_eq!(record["status"], "pending");
    bot.fake.wait_for("chat.postMessage", 1).await;
    let r = bot.server.record("lost-1").await;
    assert_eq!(r["status"], "pending");
    assert_eq!(r["notification_sent"], false);
    // The background re-post brings the card and marks the request notified.
    let at = bot.card("lost-1").await;
    assert_eq!(bot.fake.calls_of("chat.postMessage").len(), 2);
    for _ in 0..100 {
        if bot.server.record("lost-1").await["notification_sent"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(bot.server.record("lost-1").await["notification_sent"], true);
    assert!(has_buttons(&bot.fake.message(&at.message)["blocks"]));
    // And only once.
    bot.fake
        .settles_at("chat.postMessage", 2, Duration::from_millis(700))
        .await;
    bot.stop().await;
}

#[tokio::test]
async fn a_session_s_requests_share_one_thread() {
    let bot = SlackBot::start().await;
    let (_, first) = bot
        .create_posted(json!({"request_id": "s-1", "session": "sess-a"}))
        .await;
    let (_, second) = bot
        .create_posted(json!({"request_id": "s-2", "session": "sess-a"}))
        .await;
    let (_, other) = bot
        .create_posted(json!({"request_id": "s-3", "session": "sess-b"}))
        .await;
    let (_, alone) = bot.create_posted(json!({"request_id": "s-4"})).await;
    assert_eq!(
        first.thread, first.message,
        "the first card starts the thread"
    );
    assert_eq!(second.thread, first.message, "the second is posted in it");
    assert_ne!(second.message, first.message);
    assert_eq!(
        other.thread, other.message,
        "another session, another thread"
    );
    assert_eq!(alone.thread, alone.message);
    let posts = bot.fake.calls_of("chat.postMessage");
    assert_eq!(posts[1].body["thread_ts"], first.message.as_str());
    assert!(posts[2].body.get("thread_ts").is_none());

    // Requests of a new session arriving together still get one thread.
    let (a, b) = tokio::join!(
        bot.server
            .create(json!({"request_id": "s-5", "session": "sess-c"})),
        bot.server
            .create(json!({"request_id": "s-6", "session": "sess-c"})),
    );
    assert_eq!(
        (a["session"].as_str(), b["session"].as_str()),
        (Some("sess-c"), Some("sess-c"))
    );
    let (c5, c6) = (bot.card("s-5").await, bot.card("s-6").await);
    assert_eq!(c5.thread, c6.thread);

    // A decision in the session replies in the session's thread.
    bot.server.decide("s-2", "approve", "U0ALICE", None).await;
    bot.fake.wait_for("chat.update", 1).await;
    let replies: Vec<_> = bot
        .fake
        .wait_for("chat.postMessage", 7)
        .await
        .into_iter()
        .filter(|c| {
            c.body["text"]
                .as_str()
                .unwrap_or_default()
                .starts_with(":white_check_mark:")
        })
        .collect();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].body["thread_ts"], first.message.as_str());
    bot.stop().await;
}

#[tokio::test]
async fn the_reminder_and_the_expiry_are_replies_in_the_thread() {
    let bot = SlackBot::start().await;
    let (_, at) = bot
        .create_posted(json!({
            "request_id": "rem-1",
            "timeout_secs": 2,
            "escalation": {"after_secs": 1, "to": "S0ONCALL12"},
        }))
        .await;
    let posts = bot.fake.wait_for("chat.postMessage", 2).await;
    let reminder = &posts[1].body;
    assert_eq!(reminder["thread_ts"], at.message.as_str());
    assert!(
        reminder.to_string().contains("<!subteam^S0ONCALL12>"),
        "{reminder:#}"
    );
    // Then the deadline: the card turns into its expired form.
    let updates = bot.fake.wait_for("chat.update", 1).await;
    assert!(!has_buttons(&updates[0].body["blocks"]));
    let posts = bot.fake.wait_for("chat.postMessage", 3).await;
    assert_eq!(posts[2].body["thread_ts"], at.message.as_str());
    assert!(
        posts[2].body["text"]
            .as_str()
            .unwrap()
            .starts_with(":hourglass: Expired: no decision within 2 seconds"),
        "{:?}",
        posts[2].body
    );
    assert_eq!(bot.server.record("rem-1").await["status"], "expired");
    bot.stop().await;
}

#[tokio::test]
async fn message_references_outlive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hitl.db");
    {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db).unwrap());
        let running = Running::start(store, Settings::default(), Clock::System, Vec::new())
            .await
            .unwrap();
        let svc = running.service.clone();
        let body = serde_json::from_value(json!({
            "request_id": "keep-1", "tool": "t", "risk": "high", "requester": "agent"
        }))
        .unwrap();
        svc.create(body).await.unwrap();
        let at = MessageRef {
            platform: "slack".into(),
            conversation: "C1".into(),
            message: "1.2".into(),
            thread: "1.1".into(),
            platform_ref: None,
        };
        svc.put_message_ref("keep-1", at).await.unwrap();
        running.stop().await;
    }
    let store = SqliteStore::open(&db).unwrap();
    let at = store.message_ref("keep-1", "slack").await.unwrap().unwrap();
    assert_eq!(
        (
            at.conversation.as_str(),
            at.message.as_str(),
            at.thread.as_str()
        ),
        ("C1", "1.2", "1.1")
    );
    assert_eq!(
        store
            .requests_in_thread("slack", "C1", "1.1")
            .await
            .unwrap(),
        vec!["keep-1".to_owned()]
    );
    assert!(
        store
            .message_ref("keep-1", "teams")
            .await
            .unwrap()
            .is_none()
    );
}
