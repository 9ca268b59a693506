//! The Events API: URL verification, decisions replied in a card's thread,
//! and Slack's retried deliveries handled once.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use super::{SlackBot, payloads};

#[tokio::test]
async fn url_verification_answers_the_challenge() {
    let bot = SlackBot::start().await;
    let (status, body) = bot
        .send_one(payloads::url_verification(
            "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    );
    bot.stop().await;
}

#[tokio::test]
async fn approve_and_reject_replied_in_the_thread_decide() {
    let bot = SlackBot::start().await;
    let (_, a) = bot.create_posted(json!({"request_id": "thr-a"})).await;
    let (_, b) = bot.create_posted(json!({"request_id": "thr-b"})).await;
    let answers = bot
        .send_all(&[
            // Conversation in the thread is left alone.
            payloads::event(&payloads::thread_message(
                "Ev01",
                "U0ALICE",
                &a.conversation,
                &a.thread,
                "who asked for this?",
            )),
            payloads::event(&payloads::thread_message(
                "Ev02",
                "U0ALICE",
                &a.conversation,
                &a.thread,
                "Approve",
            )),
            payloads::event(&payloads::thread_message(
                "Ev03",
                "U0BOB42",
                &b.conversation,
                &b.thread,
                "reject wrong bucket &amp; region, use &lt;staging&gt;",
            )),
        ])
        .await;
    assert!(
        answers.iter().all(|(s, _)| *s == StatusCode::OK),
        "{answers:?}"
    );
    let ra = bot.server.record("thr-a").await;
    assert_eq!(ra["status"], "approved");
    assert_eq!(ra["approver"], "U0ALICE");
    let rb = bot.server.record("thr-b").await;
    assert_eq!(rb["status"], "rejected");
    assert_eq!(rb["approver"], "U0BOB42");
    assert_eq!(rb["reason"], "wrong bucket & region, use <staging>");
    // Both cards updated, and the outcomes replied in their threads.
    bot.fake.wait_for("chat.update", 2).await;
    let posts = bot.fake.wait_for("chat.postMessage", 4).await;
    let reply_b = posts
        .iter()
        .find(|c| c.body["thread_ts"] == b.thread.as_str())
        .unwrap();
    assert!(
        reply_b.body["text"].as_str().unwrap().starts_with(
            ":x: Rejected by <@U0BOB42>: wrong bucket &amp; region, use &lt;staging&gt;"
        ),
        "{:?}",
        reply_b.body
    );
    bot.stop().await;
}

#[tokio::test]
async fn a_retried_event_is_handled_once() {
    let bot = SlackBot::start().await;
    let (_, at) = bot.create_posted(json!({"request_id": "retry-1"})).await;
    let reply = payloads::thread_message(
        "Ev0RETRY",
        "U0ALICE",
        &at.conversation,
        &at.thread,
        "approve",
    );
    let now = chrono::Utc::now().timestamp();
    let answers = bot
        .send_all(&[
            payloads::event(&reply).at(now - 20),
            // Slack thought the first delivery timed out and sends it again,
            // signed anew.
            payloads::event(&reply)
                .at(now - 10)
                .header("x-slack-retry-num", "1")
                .header("x-slack-retry-reason", "http_timeout"),
            payloads::event(&reply)
                .at(now)
                .header("x-slack-retry-num", "2")
                .header("x-slack-retry-reason", "http_timeout"),
        ])
        .await;
    assert!(
        answers.iter().all(|(s, _)| *s == StatusCode::OK),
        "{answers:?}"
    );
    assert_eq!(bot.server.record("retry-1").await["status"], "approved");
    let (_, audit) = bot.server.get("/v1/approvals/retry-1/audit").await;
    assert_eq!(
        audit["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "approved")
            .count(),
        1
    );
    // Handled again, the redelivery would have told Alice it was already approved.
    bot.fake
        .settles_at("chat.postEphemeral", 0, Duration::from_millis(300))
        .await;
    bot.stop().await;
}

#[tokio::test]
async fn in_a_session_thread_with_several_waiting_the_reply_names_one() {
    let bot = SlackBot::start().await;
    let (_, first) = bot
        .create_posted(json!({"request_id": "ses-1", "session": "agent-7"}))
        .await;
    let (_, second) = bot
        .create_posted(json!({"request_id": "ses-2", "session": "agent-7"}))
        .await;
    assert_eq!(first.thread, second.thread);
    let thread = first.thread.clone();
    let before = bot.server.snapshot().await;
    bot.send_one(payloads::event(&payloads::thread_message(
        "Ev11",
        "U0ALICE",
        &first.conversation,
        &thread,
        "approve",
    )))
    .await;
    let told = bot.fake.wait_for("chat.postEphemeral", 1).await;
    assert_eq!(told[0].body["thread_ts"], thread.as_str());
    assert!(
        told[0].body["text"]
            .as_str()
            .unwrap()
            .starts_with("2 requests are waiting in this thread (`ses-1`, `ses-2`)"),
        "{:?}",
        told[0].body
    );
    assert_eq!(bot.server.snapshot().await, before);

    bot.send_one(payloads::event(&payloads::thread_message(
        "Ev12",
        "U0ALICE",
        &first.conversation,
        &thread,
        "approve ses-2 looks right",
    )))
    .await;
    let r2 = bot.server.record("ses-2").await;
    assert_eq!(r2["status"], "approved");
    assert_eq!(r2["reason"], "looks right");
    // Now only one waits, so a bare reply means it.
    bot.send_one(payloads::event(&payloads::thread_message(
        "Ev13",
        "U0BOB42",
        &first.conversation,
        &thread,
        "reject not this one",
    )))
    .await;
    let r1 = bot.server.record("ses-1").await;
    assert_eq!(r1["status"], "rejected");
    assert_eq!(r1["reason"], "not this one");
    bot.stop().await;
}

#[tokio::test]
async fn replies_from_bots_and_outside_our_threads_are_ignored() {
    let bot = SlackBot::start().await;
    let (_, at) = bot.create_posted(json!({"request_id": "ign-1"})).await;
    let mut from_bot = payloads::thread_message(
        "Ev21",
        "U0OTHERBOT",
        &at.conversation,
        &at.thread,
        "approve",
    );
    from_bot["event"]["bot_id"] = json!("B0OTHER");
    from_bot["event"]["subtype"] = json!("bot_message");
    let elsewhere = payloads::thread_message(
        "Ev22",
        "U0ALICE",
        &at.conversation,
        "1690000000.000100",
        "approve",
    );
    let before = bot.server.snapshot().await;
    let answers = bot
        .send_all(&[payloads::event(&from_bot), payloads::event(&elsewhere)])
        .await;
    assert!(answers.iter().all(|(s, _)| *s == StatusCode::OK));
    assert_eq!(bot.server.snapshot().await, before);
    bot.fake
        .settles_at("chat.postEphemeral", 0, Duration::from_millis(200))
        .await;
    bot.stop().await;
}
