//! Who may decide a request that names no approvers: full members of the
//! bot's workspace who are in the channel its card was posted in. Guests,
//! Slack Connect users and non-members (from a DM or with `/approvals`)
//! are refused and nothing changes; when Slack cannot say, nobody is let in.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::fake::{Call, Canned};
use super::payloads::{self, command_fields};
use super::{CHANNEL_ID, SlackBot, Unsigned};

/// `/approvals text` typed by `user` in `channel` (a DM: `D…`).
fn command_in(channel: &str, user: &str, text: &str) -> Unsigned {
    let mut fields = command_fields(user, text);
    for (k, v) in fields.iter_mut() {
        if *k == "channel_id" {
            *v = channel.to_owned();
        }
        if *k == "channel_name" {
            *v = if channel.starts_with('D') {
                "directmessage".to_owned()
            } else {
                "elsewhere".to_owned()
            };
        }
    }
    let mut c = payloads::command(user, text);
    c.body = serde_urlencoded::to_string(fields).unwrap();
    c
}

fn ephemerals_to(calls: &[Call], user: &str) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.body["user"] == user)
        .map(|c| c.body["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn click(bot: &SlackBot, user: &str, id: &str, at: &hitl_bot::store::MessageRef) {
    let message = bot.fake.message(&at.message);
    let (status, _) = bot
        .send_one(payloads::click(user, "hitl_approve", id, at, &message))
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// Waits for the ephemeral answer to `user` and returns it.
async fn told(bot: &SlackBot, user: &str, n: usize) -> String {
    for _ in 0..300 {
        let said = ephemerals_to(&bot.fake.calls_of("chat.postEphemeral"), user);
        if said.len() >= n {
            return said[n - 1].clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{user} was never told anything");
}

#[tokio::test]
async fn guests_and_slack_connect_users_cannot_decide_even_on_the_card() {
    let bot = SlackBot::start().await;
    bot.fake
        .set_user("U0GUEST1", json!({"is_restricted": true}));
    bot.fake
        .set_user("U0GUEST2", json!({"is_ultra_restricted": true}));
    bot.fake.set_user("U0EXT001", json!({"team_id": "T0OTHER"}));
    let (_, at) = bot.create_posted(json!({"request_id": "dd-1"})).await;
    let before = bot.server.snapshot().await;

    click(&bot, "U0GUEST1", "dd-1", &at).await;
    assert!(
        told(&bot, "U0GUEST1", 1)
            .await
            .contains("guests of the workspace cannot decide")
    );
    click(&bot, "U0GUEST2", "dd-1", &at).await;
    assert!(
        told(&bot, "U0GUEST2", 1)
            .await
            .contains("guests of the workspace cannot decide")
    );
    click(&bot, "U0EXT001", "dd-1", &at).await;
    let said = told(&bot, "U0EXT001", 1).await;
    assert!(
        said.contains("people from another workspace cannot decide"),
        "{said}"
    );
    // The same people typing the command, and a reject modal asked for.
    let answers = bot
        .send_all(&[
            payloads::command("U0EXT001", "approve dd-1"),
            payloads::command("U0GUEST1", "pending"),
        ])
        .await;
    assert!(
        answers[0].1["text"]
            .as_str()
            .unwrap()
            .contains("another workspace"),
        "{}",
        answers[0].1
    );
    assert!(
        !answers[1].1.to_string().contains("dd-1"),
        "{}",
        answers[1].1
    );
    let message = bot.fake.message(&at.message);
    bot.send_one(payloads::click(
        "U0GUEST1",
        "hitl_reject",
        "dd-1",
        &at,
        &message,
    ))
    .await;
    assert!(told(&bot, "U0GUEST1", 2).await.contains("guests"));
    assert!(
        bot.fake.calls_of("views.open").is_empty(),
        "no modal for a guest"
    );

    assert_eq!(bot.server.snapshot().await, before, "nothing changed");
    // A full member's click on the card in its channel decides, without a
    // member list: the click shows they are in the channel.
    click(&bot, "U0ALICE", "dd-1", &at).await;
    let r = bot.server.record("dd-1").await;
    assert_eq!(r["status"], "approved");
    assert_eq!(r["approver"], "U0ALICE");
    assert!(bot.fake.calls_of("conversations.members").is_empty());
    // auth.test once, users.info once per person (cached).
    assert_eq!(bot.fake.calls_of("auth.test").len(), 1);
    let infos = bot.fake.calls_of("users.info");
    assert_eq!(
        infos
            .iter()
            .filter(|c| c.body["user"] == "U0GUEST1")
            .count(),
        1,
        "{infos:#?}"
    );
    bot.stop().await;
}

#[tokio::test]
async fn non_members_of_the_cards_channel_are_refused_from_a_dm_and_by_command() {
    let bot = SlackBot::start().await;
    // A big channel, read page by page; U0MALLORY is in the workspace, not in it.
    let mut members: Vec<String> = (0..2500).map(|i| format!("U0M{i:05}")).collect();
    members.push("U0ALICE".into());
    members.push("U0BOB42".into());
    let refs: Vec<&str> = members.iter().map(String::as_str).collect();
    bot.fake.set_channel_members(CHANNEL_ID, &refs);
    let (_, _) = bot.create_posted(json!({"request_id": "dd-2"})).await;
    let before = bot.server.snapshot().await;

    let answers = bot
        .send_all(&[
            command_in("D0MALLORY", "U0MALLORY", "approve dd-2 lgtm"),
            command_in("C0ELSEWHERE", "U0MALLORY", "approve dd-2"),
            command_in("D0MALLORY", "U0MALLORY", "reject dd-2 no"),
            command_in("D0MALLORY", "U0MALLORY", "pending"),
            command_in("D0MALLORY", "U0MALLORY", "show dd-2"),
        ])
        .await;
    for (status, a) in &answers[..3] {
        assert_eq!(*status, StatusCode::OK);
        let text = a["text"].as_str().unwrap();
        assert!(
            text.contains(
                "only members of the channel <#C0APPROVALS>, where it was posted, can decide it"
            ),
            "{text}"
        );
    }
    assert!(
        !answers[3].1.to_string().contains("dd-2"),
        "{}",
        answers[3].1
    );
    assert!(
        answers[4].1["text"]
            .as_str()
            .unwrap()
            .contains("only members of the channel"),
        "{}",
        answers[4].1
    );
    assert_eq!(bot.server.snapshot().await, before, "nothing changed");
    // Members were listed once (three pages of 1,000) and kept for a minute.
    let pages = bot.fake.calls_of("conversations.members");
    assert_eq!(pages.len(), 3, "{pages:#?}");
    assert_eq!(pages[0].body["channel"], CHANNEL_ID);

    // A member of the channel may, from a DM: they see it and decide it.
    let answers = bot
        .send_all(&[
            command_in("D0BOB42", "U0BOB42", "pending"),
            command_in("D0BOB42", "U0BOB42", "approve dd-2 checked"),
        ])
        .await;
    assert!(
        answers[0].1.to_string().contains("dd-2"),
        "{}",
        answers[0].1
    );
    let r = bot.server.record("dd-2").await;
    assert_eq!(r["status"], "approved", "{}", answers[1].1);
    assert_eq!(r["approver"], "U0BOB42");
    assert_eq!(bot.fake.calls_of("conversations.members").len(), 3);
    bot.stop().await;
}

#[tokio::test]
async fn when_slack_cannot_say_who_someone_is_nobody_decides() {
    let bot = SlackBot::start().await;
    let (_, at) = bot.create_posted(json!({"request_id": "dd-3"})).await;
    let before = bot.server.snapshot().await;
    // users.info fails for good (after the client's retries) ...
    bot.fake.script("users.info", Canned::Error("fatal_error"));
    for _ in 0..3 {
        bot.fake.script("users.info", Canned::Status(503));
    }
    click(&bot, "U0ALICE", "dd-3", &at).await;
    let said = told(&bot, "U0ALICE", 1).await;
    assert!(
        said.contains("Slack could not confirm who may decide") && said.contains("try again"),
        "{said}"
    );
    assert_eq!(bot.server.snapshot().await, before, "nothing changed");
    // ... and conversations.members likewise, for a command from a DM.
    for _ in 0..4 {
        bot.fake
            .script("conversations.members", Canned::Status(500));
    }
    let (_, a) = bot
        .send_one(command_in("D0BOB42", "U0BOB42", "approve dd-3"))
        .await;
    let text = a["text"].as_str().unwrap();
    assert!(
        text.contains("Slack could not confirm who may decide"),
        "{text}"
    );
    assert_eq!(bot.server.snapshot().await, before, "nothing changed");
    // Slack back: the same click works (a failure is not remembered).
    click(&bot, "U0ALICE", "dd-3", &at).await;
    assert_eq!(bot.server.record("dd-3").await["status"], "approved");
    bot.stop().await;
}

#[tokio::test]
async fn named_approvers_are_not_narrowed_by_the_channel() {
    let bot = SlackBot::start().await;
    bot.fake.set_channel_members(CHANNEL_ID, &["U0ALICE"]);
    bot.create_posted(json!({"request_id": "dd-4", "approvers": ["U0BOB42"]}))
        .await;
    let answers = bot
        .send_all(&[
            command_in("D0ALICE", "U0ALICE", "show dd-4"),
            command_in("D0BOB42", "U0BOB42", "pending"),
            command_in("D0BOB42", "U0BOB42", "approve dd-4"),
        ])
        .await;
    let text: Value = answers[0].1.clone();
    assert!(
        text["text"].as_str().unwrap().contains("not allowed"),
        "{text}"
    );
    assert!(
        answers[1].1.to_string().contains("dd-4"),
        "{}",
        answers[1].1
    );
    assert_eq!(bot.server.record("dd-4").await["status"], "approved");
    assert!(bot.fake.calls_of("conversations.members").is_empty());
    bot.stop().await;
}
