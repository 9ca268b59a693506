//! `/approvals`: pending, show, approve, reject and help, each answered
//! with an ephemeral message.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{SlackBot, payloads};

fn text_of(answer: &Value) -> String {
    answer.to_string()
}

#[tokio::test]
async fn help_pending_and_show() {
    let bot = SlackBot::start().await;
    bot.create_posted(json!({"request_id": "cmd-1", "tool": "delete_bucket"}))
        .await;
    bot.create_posted(json!({"request_id": "cmd-2", "tool": "run_shell"}))
        .await;
    let answers = bot
        .send_all(&[
            payloads::command("U0ALICE", ""),
            payloads::command("U0ALICE", "help"),
            payloads::command("U0ALICE", "pending"),
            payloads::command("U0ALICE", "show cmd-2"),
            payloads::command("U0ALICE", "show nope-9"),
            payloads::command("U0ALICE", "frobnicate"),
        ])
        .await;
    for (status, answer) in &answers {
        assert_eq!(*status, StatusCode::OK, "{answer}");
        assert_eq!(answer["response_type"], "ephemeral", "{answer}");
    }
    let help = answers[1].1["text"].as_str().unwrap();
    assert!(help.contains("`/approvals pending`"), "{help}");
    assert!(help.contains("`/approvals reject ID reason`"), "{help}");
    assert_eq!(answers[0].1, answers[1].1);

    let pending = &answers[2].1;
    assert!(pending["blocks"].is_array(), "{pending:#}");
    let shown = text_of(pending);
    assert!(
        shown.contains("cmd-1") && shown.contains("cmd-2"),
        "{pending:#}"
    );
    assert!(shown.contains("delete_bucket"), "{pending:#}");

    let card = &answers[3].1;
    let shown = text_of(card);
    assert!(
        shown.contains("run_shell") && shown.contains("hitl_approve"),
        "{card:#}"
    );
    assert_eq!(answers[4].1["text"], "There is no request `nope-9`.");
    assert!(
        answers[5].1["text"]
            .as_str()
            .unwrap()
            .starts_with("I don't know `frobnicate`."),
        "{}",
        answers[5].1
    );
    bot.stop().await;
}

#[tokio::test]
async fn approve_and_reject_by_command() {
    let bot = SlackBot::start().await;
    bot.create_posted(json!({"request_id": "cmd-a"})).await;
    bot.create_posted(json!({"request_id": "cmd-r", "approvers": ["U0BOB42"]}))
        .await;
    let answers = bot
        .send_all(&[
            payloads::command("U0ALICE", "approve cmd-a checked the path"),
            payloads::command("U0ALICE", "reject cmd-r nope"),
            payloads::command("U0BOB42", "reject cmd-r"),
            payloads::command("U0BOB42", "reject cmd-r wrong host"),
            payloads::command("U0BOB42", "approve cmd-a"),
        ])
        .await;
    let texts: Vec<&str> = answers
        .iter()
        .map(|(s, a)| {
            assert_eq!(*s, StatusCode::OK);
            a["text"].as_str().unwrap()
        })
        .collect();
    assert!(
        texts[0].starts_with(":white_check_mark: You approved `cmd-a`"),
        "{}",
        texts[0]
    );
    assert!(
        texts[1].starts_with(":no_entry: You are not allowed to decide request `cmd-r`"),
        "{}",
        texts[1]
    );
    assert!(
        texts[2].starts_with("Say why you reject `cmd-r`"),
        "{}",
        texts[2]
    );
    assert!(
        texts[3].starts_with(":x: You rejected `cmd-r`") && texts[3].contains(": wrong host."),
        "{}",
        texts[3]
    );
    assert_eq!(
        texts[4],
        "Request `cmd-a` was already approved by <@U0ALICE>: checked the path."
    );
    let a = bot.server.record("cmd-a").await;
    assert_eq!(
        (a["status"].as_str(), a["approver"].as_str()),
        (Some("approved"), Some("U0ALICE"))
    );
    assert_eq!(a["reason"], "checked the path");
    let r = bot.server.record("cmd-r").await;
    assert_eq!(
        (r["status"].as_str(), r["reason"].as_str()),
        (Some("rejected"), Some("wrong host"))
    );
    bot.stop().await;
}
