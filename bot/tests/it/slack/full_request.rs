//! A card that must cut its arguments says so and offers "Show the full
//! request": a modal with every argument, redacted.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{SlackBot, payloads};

/// Every text in a message or view's blocks, joined.
fn texts(blocks: &Value) -> String {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(t)) = m.get("text") {
                    out.push(t.clone());
                }
                m.values().for_each(|v| walk(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(blocks, &mut out);
    out.join("\n")
}

#[tokio::test]
async fn a_long_command_is_cut_on_the_card_and_shown_whole_in_a_modal() {
    let bot = SlackBot::start().await;
    let secret = "ghp_R4nd0mT0k3nV4lu3F0rT3st1ngOnly00001";
    let command = format!(
        "for f in $(ls); do echo \"$f\" && {}; done; curl -H 'Authorization: token {secret}' https://api.github.com/user; rm -rf /srv/END-OF-COMMAND",
        "gzip -9 \"$f\" ".repeat(400)
    );
    let (_, at) = bot
        .create_posted(json!({
            "request_id": "full-1",
            "tool": "run_shell",
            "arguments": {"command": command, "cwd": "/srv", "password": "hunter2hunter2"},
        }))
        .await;
    let card = bot.fake.message(&at.message);
    let shown = texts(&card["blocks"]);
    assert!(shown.contains("truncated"), "{shown}");
    assert!(
        !shown.contains("END-OF-COMMAND"),
        "the tail is cut on the card"
    );
    assert!(shown.contains("Part of the arguments is cut"), "{shown}");
    assert!(card.to_string().contains("hitl_show_full"), "{card:#}");
    // A short request's card has no such button.
    let (_, small) = bot.create_posted(json!({"request_id": "full-2"})).await;
    assert!(
        !bot.fake
            .message(&small.message)
            .to_string()
            .contains("hitl_show_full")
    );

    let message = bot.fake.message(&at.message);
    let click = payloads::block_actions("U0CAROL", "hitl_show_full", "full-1", &at, &message);
    let (status, _) = bot.send_one(payloads::interaction(&click)).await;
    assert_eq!(status, StatusCode::OK);
    let opened = bot.fake.wait_for("views.open", 1).await;
    assert_eq!(opened[0].body["trigger_id"], click["trigger_id"]);
    let view = &opened[0].body["view"];
    assert_eq!(view["type"], "modal");
    let blocks = view["blocks"].as_array().unwrap();
    assert!(blocks.len() > 2 && blocks.len() <= 100, "{}", blocks.len());
    for b in blocks {
        let t = b["text"]["text"].as_str().unwrap_or_default();
        assert!(t.chars().count() <= 3000, "{}", t.chars().count());
    }
    // The code sections, fences off, joined as they were split.
    let full: String = blocks
        .iter()
        .filter_map(|b| b["text"]["text"].as_str())
        .filter_map(|t| t.strip_prefix("```\n")?.strip_suffix("\n```"))
        .collect();
    assert!(full.contains("END-OF-COMMAND"), "{full}");
    assert!(
        full.contains(&"gzip -9 \\\"$f\\\" ".repeat(400)),
        "the command whole"
    );
    assert!(
        !full.contains(secret) && !full.contains("hunter2"),
        "{full}"
    );
    assert!(!view.to_string().contains(secret));
    // Looking decides nothing.
    assert_eq!(bot.server.record("full-1").await["status"], "pending");
    bot.stop().await;
}
