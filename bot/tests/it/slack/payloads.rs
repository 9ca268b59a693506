//! Requests in Slack's own shapes (as Slack documents and sends them):
//! interactions as a form-encoded `payload=`, slash commands as form fields,
//! Events API deliveries as JSON.

use hitl_bot::store::MessageRef;
use serde_json::{Value, json};

use super::Unsigned;

pub const TEAM: &str = "T0TEAM";
pub const APP: &str = "A0HITL";

fn user(id: &str) -> Value {
    json!({"id": id, "username": id.to_lowercase(), "name": id.to_lowercase(), "team_id": TEAM})
}

/// A `block_actions` payload: `user` clicked `action_id` (with the request
/// id as value) on `message`, the card as the channel shows it.
pub fn block_actions(
    user_id: &str,
    action_id: &str,
    id: &str,
    at: &MessageRef,
    message: &Value,
) -> Value {
    let mut message = message.clone();
    message["ts"] = json!(at.message);
    let text = if action_id == "hitl_approve" {
        "Approve"
    } else {
        "Reject"
    };
    json!({
        "type": "block_actions",
        "user": user(user_id),
        "api_app_id": APP,
        "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": at.message, "channel_id": at.conversation, "is_ephemeral": false},
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        "team": {"id": TEAM, "domain": "acme"},
        "enterprise": null,
        "is_enterprise_install": false,
        "channel": {"id": at.conversation, "name": "approvals"},
        "message": message,
        "state": {"values": {}},
        "response_url": "https://hooks.slack.com/actions/T0TEAM/1234/abcd",
        "actions": [{
            "action_id": action_id,
            "block_id": "bXy7A",
            "text": {"type": "plain_text", "text": text, "emoji": true},
            "value": id,
            "style": if action_id == "hitl_approve" { "primary" } else { "danger" },
            "type": "button",
            "action_ts": "1700000123.456789"
        }]
    })
}

/// An interaction as Slack POSTs it: `payload=<json>`, form-encoded.
pub fn interaction(payload: &Value) -> Unsigned {
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    Unsigned::new(
        "/slack/interactions",
        "application/x-www-form-urlencoded",
        body,
    )
}

pub fn click(
    user_id: &str,
    action_id: &str,
    id: &str,
    at: &MessageRef,
    message: &Value,
) -> Unsigned {
    interaction(&block_actions(user_id, action_id, id, at, message))
}

/// A `view_submission` of the modal `view` (as the bot opened it) with
/// `reason` typed in.
pub fn view_submission(user_id: &str, view: &Value, reason: &str) -> Value {
    let mut view = view.clone();
    view["id"] = json!("V0MODAL");
    view["team_id"] = json!(TEAM);
    view["state"] = json!({"values": {"hitl_reason": {"reason": {"type": "plain_text_input", "value": reason}}}});
    view["hash"] = json!("1700000200.abcdef");
    view["root_view_id"] = json!("V0MODAL");
    view["app_id"] = json!(APP);
    view["bot_id"] = json!("B0BOT");
    json!({
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "acme"},
        "user": user(user_id),
        "api_app_id": APP,
        "token": "legacy-verification-token",
        "trigger_id": "13345224609.738474920.aaaaaaaa",
        "view": view,
        "response_urls": [],
        "is_enterprise_install": false,
        "enterprise": null
    })
}

/// Slash command fields, as Slack sends them.
pub fn command_fields(user_id: &str, text: &str) -> Vec<(&'static str, String)> {
    vec![
        ("token", "legacy-verification-token".into()),
        ("team_id", TEAM.into()),
        ("team_domain", "acme".into()),
        ("channel_id", super::CHANNEL_ID.into()),
        ("channel_name", "approvals".into()),
        ("user_id", user_id.into()),
        ("user_name", user_id.to_lowercase()),
        ("command", "/approvals".into()),
        ("text", text.into()),
        ("api_app_id", APP.into()),
        ("is_enterprise_install", "false".into()),
        (
            "response_url",
            "https://hooks.slack.com/commands/T0TEAM/1234/abcd".into(),
        ),
        ("trigger_id", "13345224609.738474920.cccc".into()),
    ]
}

pub fn command(user_id: &str, text: &str) -> Unsigned {
    let body = serde_urlencoded::to_string(command_fields(user_id, text)).unwrap();
    Unsigned::new("/slack/commands", "application/x-www-form-urlencoded", body)
}

/// An `event_callback` with a message posted in a thread.
pub fn thread_message(
    event_id: &str,
    user_id: &str,
    channel: &str,
    thread_ts: &str,
    text: &str,
) -> Value {
    json!({
        "token": "legacy-verification-token",
        "team_id": TEAM,
        "api_app_id": APP,
        "event": {
            "type": "message",
            "channel": channel,
            "user": user_id,
            "text": text,
            "ts": "1700000999.000100",
            "thread_ts": thread_ts,
            "parent_user_id": "U0BOT",
            "channel_type": "channel",
            "event_ts": "1700000999.000100",
            "team": TEAM,
            "client_msg_id": "9c2b2c4e-1a1b-4c9e-8f7e-0a1b2c3d4e5f",
            "blocks": [{
                "type": "rich_text",
                "block_id": "Zr5c",
                "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}]
            }]
        },
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1700000999,
        "authorizations": [{"enterprise_id": null, "team_id": TEAM, "user_id": "U0BOT", "is_bot": true, "is_enterprise_install": false}],
        "is_ext_shared_channel": false,
        "event_context": "4-eyJldCI6Im1lc3NhZ2UiLCJ0aWQiOiJUMFRFQU0ifQ"
    })
}

pub fn event(payload: &Value) -> Unsigned {
    Unsigned::new("/slack/events", "application/json", payload.to_string())
}

pub fn url_verification(challenge: &str) -> Unsigned {
    event(&json!({
        "token": "legacy-verification-token",
        "challenge": challenge,
        "type": "url_verification"
    }))
}
