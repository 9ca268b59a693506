//! Clicks on the card: Approve decides at once, Reject asks for the reason
//! in a modal; people who may not decide are told so, and a second click
//! learns who won. Refusals change nothing.

use hitl_bot::service::Settings;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::fake::Call;
use super::{CHANNEL_ID, SlackBot, payloads};

fn has_buttons(blocks: &Value) -> bool {
    blocks
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b["type"] == "actions")
}

fn ephemerals_to(calls: &[Call], user: &str) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.body["user"] == user)
        .map(|c| c.body["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_signed_click_approves_and_the_card_loses_its_buttons() {
    let bot = SlackBot::start().await;
    let (_, at) = bot.create_posted(json!({"request_id": "click-1"})).await;
    assert!(has_buttons(&bot.fake.message(&at.message)["blocks"]));
    let message = bot.fake.message(&at.message);
    let (status, body) = bot
        .send_one(payloads::click(
            "U0ALICE",
            "hitl_approve",
            "click-1",
            &at,
            &message,
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!(""), "an empty acknowledgement");
    // Recorded before Slack got its answer.
    let r = bot.server.record("click-1").await;
    assert_eq!(r["status"], "approved");
    assert_eq!(r["approver"], "U0ALICE");

    let updates = bot.fake.wait_for("chat.update", 1).await;
    assert_eq!(updates[0].body["channel"], CHANNEL_ID);
    assert_eq!(updates[0].body["ts"], at.message.as_str());
    let shown = bot.fake.message(&at.message);
    assert!(!has_buttons(&shown["blocks"]), "{shown:#}");
    assert!(shown.to_string().contains("<@U0ALICE>"), "{shown:#}");
    let replies = bot.fake.wait_for("chat.postMessage", 2).await;
    let reply = &replies[1].body;
    assert_eq!(reply["thread_ts"], at.thread.as_str());
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .starts_with(":white_check_mark: Approved by <@U0ALICE>"),
        "{reply}"
    );
    bot.stop().await;
}

#[tokio::test]
async fn reject_asks_for_a_reason_in_a_modal_and_the_submission_records_it() {
    let bot = SlackBot::start().await;
    let (_, at) = bot.create_posted(json!({"request_id": "rej-1"})).await;
    let message = bot.fake.message(&at.message);
    let click = payloads::block_actions("U0BOB42", "hitl_reject", "rej-1", &at, &message);
    let (status, _) = bot.send_one(payloads::interaction(&click)).await;
    assert_eq!(status, StatusCode::OK);
    let opened = bot.fake.wait_for("views.open", 1).await;
    assert_eq!(opened[0].body["trigger_id"], click["trigger_id"]);
    let view = opened[0].body["view"].clone();
    assert_eq!(view["type"], "modal");
    assert_eq!(view["callback_id"], "hitl_reject_reason");
    // Nothing is decided by the click itself.
    assert_eq!(bot.server.record("rej-1").await["status"], "pending");

    let submit = payloads::view_submission("U0BOB42", &view, "touches production; use staging");
    let (status, body) = bot.send_one(payloads::interaction(&submit)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!(""), "the modal closes");
    let r = bot.server.record("rej-1").await;
    assert_eq!(r["status"], "rejected");
    assert_eq!(r["approver"], "U0BOB42");
    assert_eq!(r["reason"], "touches production; use staging");
    bot.fake.wait_for("chat.update", 1).await;
    assert!(!has_buttons(&bot.fake.message(&at.message)["blocks"]));

    // A second submission of the same (or another) modal is told inside it.
    let again = payloads::view_submission("U0CAROL", &view, "also no");
    let (status, body) = bot.send_one(payloads::interaction(&again)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["response_action"], "errors");
    assert_eq!(
        body["errors"]["hitl_reason"],
        "Already rejected by U0BOB42: touches production; use staging."
    );
    assert_eq!(bot.server.record("rej-1").await["approver"], "U0BOB42");
    bot.stop().await;
}

#[tokio::test]
async fn someone_who_may_not_decide_is_told_and_nothing_changes() {
    let bot = SlackBot::start().await;
    let (_, at) = bot
        .create_posted(json!({"request_id": "deny-1", "approvers": ["U0BOB42"]}))
        .await;
    let message = bot.fake.message(&at.message);
    let before = bot.server.snapshot().await;
    let answers = bot
        .send_all(&[
            payloads::click("U0EVE42", "hitl_approve", "deny-1", &at, &message),
            payloads::click("U0EVE42", "hitl_reject", "deny-1", &at, &message),
        ])
        .await;
    assert!(answers.iter().all(|(s, _)| *s == StatusCode::OK));
    let told = bot.fake.wait_for("chat.postEphemeral", 2).await;
    let texts = ephemerals_to(&told, "U0EVE42");
    assert_eq!(texts.len(), 2, "{told:#?}");
    for t in &texts {
        assert!(
            t.starts_with(
                ":no_entry: You are not allowed to decide request `deny-1`. Who may: <@U0BOB42>."
            ),
            "{t}"
        );
    }
    assert_eq!(told[0].body["channel"], CHANNEL_ID);
    assert!(
        bot.fake.calls_of("views.open").is_empty(),
        "no modal for Eve"
    );
    assert_eq!(bot.server.snapshot().await, before);
    bot.stop().await;
}

#[tokio::test]
async fn the_requester_cannot_approve_their_own_request() {
    let bot = SlackBot::start().await;
    let (_, at) = bot
        .create_posted(json!({"request_id": "self-1", "requester": "U0DEV42"}))
        .await;
    let message = bot.fake.message(&at.message);
    let before = bot.server.snapshot().await;
    let (status, _) = bot
        .send_one(payloads::click(
            "U0DEV42",
            "hitl_approve",
            "self-1",
            &at,
            &message,
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    let told = bot.fake.wait_for("chat.postEphemeral", 1).await;
    assert_eq!(told[0].body["user"], "U0DEV42");
    assert!(
        told[0].body["text"]
            .as_str()
            .unwrap()
            .contains("You made request `self-1`, so you cannot approve it"),
        "{:?}",
        told[0].body
    );
    assert_eq!(bot.server.snapshot().await, before);
    bot.stop().await;
}

#[tokio::test]
async fn a_second_click_is_told_who_approved_first() {
    let bot = SlackBot::start().await;
    let (_, at) = bot.create_posted(json!({"request_id": "twice-1"})).await;
    let message = bot.fake.message(&at.message);
    let answers = bot
        .send_all(&[
            payloads::click("U0ALICE", "hitl_approve", "twice-1", &at, &message),
            payloads::click("U0BOB42", "hitl_approve", "twice-1", &at, &message),
        ])
        .await;
    assert!(answers.iter().all(|(s, _)| *s == StatusCode::OK));
    let told = bot.fake.wait_for("chat.postEphemeral", 1).await;
    assert_eq!(
        ephemerals_to(&told, "U0BOB42"),
        vec!["Request `twice-1` was already approved by <@U0ALICE>.".to_owned()]
    );
    let r = bot.server.record("twice-1").await;
    assert_eq!(r["approver"], "U0ALICE");
    let (_, audit) = bot.server.get("/v1/approvals/twice-1/audit").await;
    let decisions: Vec<_> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "approved")
        .collect();
    assert_eq!(decisions.len(), 1, "{audit:#}");
    bot.fake
        .settles_at("chat.update", 1, std::time::Duration::from_millis(300))
        .await;
    bot.stop().await;
}

#[tokio::test]
async fn slack_user_group_members_may_decide_and_others_may_not() {
    let bot = SlackBot::start_with(Settings::default(), |_| {}).await;
    bot.fake.set_usergroup("S0SRE1234", &["U0CAROL", "U0DAN42"]);
    // A user group counts as any number of people, so a quorum of 2 is fine.
    let (_, at) = bot
        .create_posted(json!({"request_id": "grp-1", "approvers": ["S0SRE1234"], "quorum": 2}))
        .await;
    let message = bot.fake.message(&at.message);
    let answers = bot
        .send_all(&[
            payloads::click("U0EVE42", "hitl_approve", "grp-1", &at, &message),
            payloads::click("U0CAROL", "hitl_approve", "grp-1", &at, &message),
        ])
        .await;
    assert!(answers.iter().all(|(s, _)| *s == StatusCode::OK));
    let r = bot.server.record("grp-1").await;
    assert_eq!(r["status"], "pending");
    assert_eq!(r["approvals"].as_array().unwrap().len(), 1);
    assert_eq!(r["approvals"][0]["approver"], "U0CAROL");
    let told = bot.fake.wait_for("chat.postEphemeral", 2).await;
    assert!(ephemerals_to(&told, "U0EVE42")[0].contains("not allowed"));
    assert!(
        ephemerals_to(&told, "U0CAROL")[0].contains("is recorded: 1 of 2 approvals"),
        "{told:#?}"
    );
    // The card is refreshed to show the vote, buttons still there.
    bot.fake.wait_for("chat.update", 1).await;
    let shown = bot.fake.message(&at.message);
    assert!(has_buttons(&shown["blocks"]));
    assert!(shown.to_string().contains("1 of 2"), "{shown:#}");

    let (status, _) = bot
        .send_one(payloads::click(
            "U0DAN42",
            "hitl_approve",
            "grp-1",
            &at,
            &message,
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bot.server.record("grp-1").await["status"], "approved");
    // Membership was asked of Slack, and cached.
    let lookups = bot.fake.calls_of("usergroups.users.list");
    assert_eq!(lookups.len(), 1, "{lookups:#?}");
    assert_eq!(lookups[0].body["usergroup"], "S0SRE1234");
    bot.stop().await;
}

#[tokio::test]
async fn a_failed_user_group_lookup_fails_closed() {
    let bot = SlackBot::start().await;
    // No such group on the fake: usergroups.users.list answers ok:false.
    let (_, at) = bot
        .create_posted(json!({"request_id": "grp-2", "approvers": ["S0GONE123"]}))
        .await;
    let message = bot.fake.message(&at.message);
    let before = bot.server.snapshot().await;
    bot.send_one(payloads::click(
        "U0CAROL",
        "hitl_approve",
        "grp-2",
        &at,
        &message,
    ))
    .await;
    let told = bot.fake.wait_for("chat.postEphemeral", 1).await;
    assert!(ephemerals_to(&told, "U0CAROL")[0].contains("not allowed"));
    assert_eq!(bot.server.snapshot().await, before);
    bot.stop().await;
}
