//! The data a card template sees: one record turned into display-ready
//! fields, the same for Slack and Teams.
//!
//! Every field is always present (absent values are `null`, with a `has_*`
//! flag for `$when`), so a template that names an unknown field fails when it
//! is rendered instead of quietly showing nothing. Free text from the record
//! and the arguments go through [`crate::redact`] here, before any template
//! sees them. Values stay raw text: escaping is the renderer's job, at
//! insertion. The one exception is people: a platform's [`Mention`] turns an
//! id into safe markup (a Slack `<@U…>`), which is passed as `{"$raw": …}`.
//!
//! Fields of one record (see `cards/README.md` for the list with examples):
//! `request_id`, `status`, `status_label`, `tool`, `server`, `has_server`,
//! `server_label`, `tool_and_server`, `risk.{level,label,emoji}`, `reasons`, `reasons_text`,
//! `has_reasons`, `requester`, `agent_prompt`, `has_agent_prompt`,
//! `proposed_action`, `has_proposed_action`, `arguments_json`,
//! `arguments_hash`, `arguments_hash_short`, `created_at_text`,
//! `expires_at_text`, `time_left`, `approvers_text`, `has_approvers`,
//! `quorum`, `approvals_count`, `approvals_text`, `needs_quorum`,
//! `has_approvals`, `approver`, `approver_name`, `decided_at_text`,
//! `has_decided_at`, `reason`, `has_reason`, `escalation_to`,
//! `is_escalation`, `session`, `has_session`.

use chrono::{DateTime, Utc};
use hitl_wire::{ApprovalRecord, Risk, Status};
use serde_json::{Value, json};

use crate::redact::{redact_text, redact_value};

/// Turns a person, group or channel id into markup that is safe to insert as
/// it is (the platform's mention, or the escaped name).
pub type Mention = fn(who: &str) -> String;

/// At most this many records are listed one by one in a pending list; the
/// rest are counted. Slack allows 50 blocks a message, and a list longer than
/// this is better read in the console.
pub const MAX_LISTED: usize = 20;

/// The template data of one record at `now`.
pub fn record_data(record: &ApprovalRecord, now: DateTime<Utc>, mention: Mention) -> Value {
    let server = record.server.as_deref().filter(|s| !s.is_empty());
    let reasons: Vec<String> = record
        .reasons
        .iter()
        .map(|r| redact_text(r).into_owned())
        .collect();
    let agent_prompt =
        non_empty(record.agent_prompt.as_deref()).map(|s| redact_text(s).into_owned());
    let proposed_action =
        non_empty(record.proposed_action.as_deref()).map(|s| redact_text(s).into_owned());
    let reason = non_empty(record.reason.as_deref()).map(|s| redact_text(s).into_owned());
    let arguments_json = arguments_text(&record.arguments);
    let approvals: Vec<String> = record
        .approvals
        .iter()
        .map(|v| format!("{} ({})", mention(&v.approver), format_time(v.at, now)))
        .collect();
    let escalation_to = record
        .escalation
        .as_ref()
        .and_then(|e| non_empty(e.to.as_deref()));
    let approvers_text = if record.approvers.is_empty() {
        "anyone but the requester".to_string()
    } else {
        record
            .approvers
            .iter()
            .map(|a| mention(a))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let tool_and_server = match server {
        Some(server) => format!("{} on {server}", record.tool),
        None => record.tool.clone(),
    };

    json!({
        "request_id": record.request_id,
        "status": record.status.as_str(),
        "status_label": status_label(record.status),
        "tool": record.tool,
        "server": server,
        "has_server": server.is_some(),
        "server_label": server.unwrap_or("—"),
        "tool_and_server": tool_and_server,
        "risk": {
            "level": record.risk.as_str(),
            "label": risk_label(record.risk),
            "emoji": risk_emoji(record.risk),
        },
        "reasons_text": reasons.iter().map(|r| format!("• {r}")).collect::<Vec<_>>().join("\n"),
        "has_reasons": !reasons.is_empty(),
        "reasons": reasons,
        "requester": record.requester,
        "has_agent_prompt": agent_prompt.is_some(),
        "agent_prompt": agent_prompt,
        "has_proposed_action": proposed_action.is_some(),
        "proposed_action": proposed_action,
        "arguments_json": arguments_json,
        "arguments_hash": record.arguments_hash,
        "arguments_hash_short": short_hash(&record.arguments_hash),
        "created_at_text": format_time(record.timestamp, now),
        "expires_at_text": format_time(record.expires_at, now),
        "time_left": time_left(record.expires_at, now),
        "approvers_text": raw(approvers_text),
        "has_approvers": !record.approvers.is_empty(),
        "quorum": record.quorum,
        "approvals_count": record.approvals.len(),
        "approvals_text": raw(approvals.join(", ")),
        "has_approvals": !approvals.is_empty(),
        "needs_quorum": record.quorum > 1,
        "approver": record.approver.as_deref().map(|a| raw(mention(a))),
        "approver_name": record.approver.as_deref().unwrap_or("someone"),
        "decided_at_text": record
            .decided_at
            .map_or_else(|| "an unknown time".to_string(), |t| format_time(t, now)),
        "has_decided_at": record.decided_at.is_some(),
        "has_reason": reason.is_some(),
        "reason": reason,
        "escalation_to": escalation_to.map(|to| raw(mention(to))),
        "is_escalation": escalation_to.is_some(),
        "session": record.session,
        "has_session": record.session.is_some(),
    })
}

/// The template data of a list of records (for `/approvals pending`): at most
/// [`MAX_LISTED`] are listed, the rest counted in `more`.
pub fn list_data(records: &[ApprovalRecord], now: DateTime<Utc>, mention: Mention) -> Value {
    let items: Vec<Value> = records
        .iter()
        .take(MAX_LISTED)
        .map(|r| record_data(r, now, mention))
        .collect();
    let more = records.len().saturating_sub(MAX_LISTED);
    let count_text = match records.len() {
        0 => "No pending approval requests".to_string(),
        1 => "1 pending approval request".to_string(),
        n => format!("{n} pending approval requests"),
    };
    json!({
        "count": records.len(),
        "count_text": count_text,
        "has_items": !items.is_empty(),
        "items": items,
        "more": more,
        "has_more": more > 0,
        "now_text": format_time(now, now),
    })
}

/// Argument strings longer than this are shortened before the arguments are
/// printed, so one huge value (a file's content) cannot push the other
/// arguments (its path) out of the card.
pub const MAX_ARGUMENT_STRING: usize = 1000;

/// Whether printing `arguments` on a card shortens one of its strings
/// (see [`MAX_ARGUMENT_STRING`]).
pub fn has_long_strings(arguments: &Value) -> bool {
    match arguments {
        Value::String(s) => s.chars().count() > MAX_ARGUMENT_STRING,
        Value::Array(items) => items.iter().any(has_long_strings),
        Value::Object(map) => map.values().any(has_long_strings),
        _ => false,
    }
}

/// Argument names that say what a call does or touches (paths, commands,
/// SQL, URLs), matched as parts of the name (`file_path`, `sqlQuery`).
const TELLING_NAMES: &[&str] = &[
    "path",
    "file",
    "dir",
    "command",
    "cmd",
    "script",
    "code",
    "sql",
    "query",
    "statement",
    "url",
    "uri",
    "endpoint",
    "host",
    "method",
];

/// Whether the argument `name` says what the call does or touches.
pub fn is_telling_argument(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    TELLING_NAMES.iter().any(|t| name.contains(t))
}

/// The arguments as cards print them: redacted, long strings shortened,
/// pretty JSON with the telling arguments ([`is_telling_argument`]) first,
/// so other arguments, however long, never push them down and out of the
/// card. The rest keep their order (by name).
pub fn arguments_text(arguments: &Value) -> String {
    // Pretty-printing a `Value` cannot fail: every key is a string.
    let pretty = |v: &Value| {
        serde_json::to_string_pretty(v)
            .unwrap_or_else(|_| "(arguments could not be shown)".to_string())
    };
    let shown = shorten_strings(redact_value(arguments));
    let Value::Object(map) = &shown else {
        return pretty(&shown);
    };
    if map.is_empty() {
        return pretty(&shown);
    }
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_by_key(|k| !is_telling_argument(k));
    let mut out = String::from("{\n");
    for (i, k) in keys.iter().enumerate() {
        let name = serde_json::to_string(k).unwrap_or_default();
        // Nested lines move in by one level; strings keep their newlines
        // escaped, so every line break here is structure.
        let value = pretty(&map[*k]).replace('\n', "\n  ");
        out.push_str(&format!("  {name}: {value}"));
        out.push_str(if i + 1 < keys.len() { ",\n" } else { "\n" });
    }
    out.push('}');
    out
}

fn shorten_strings(value: Value) -> Value {
    match value {
        Value::String(s) if s.chars().count() > MAX_ARGUMENT_STRING => {
            let more = s.chars().count() - MAX_ARGUMENT_STRING;
            let kept: String = s.chars().take(MAX_ARGUMENT_STRING).collect();
            Value::String(format!("{kept}… (truncated, {more} more characters)"))
        }
        Value::Array(items) => Value::Array(items.into_iter().map(shorten_strings).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, shorten_strings(v)))
                .collect(),
        ),
        other => other,
    }
}

fn raw(markup: String) -> Value {
    json!({ "$raw": markup })
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.trim().is_empty())
}

fn status_label(status: Status) -> &'static str {
    match status {
        Status::Pending => "Waiting for a decision",
        Status::Approved => "Approved",
        Status::Rejected => "Rejected",
        Status::Expired => "Expired",
        Status::Cancelled => "Withdrawn",
    }
}

fn risk_label(risk: Risk) -> &'static str {
    match risk {
        Risk::Low => "Low risk",
        Risk::Medium => "Medium risk",
        Risk::High => "High risk",
        Risk::Critical => "Critical risk",
    }
}

/// Unicode rather than Slack `:shortcodes:`, so Teams can use the same data.
fn risk_emoji(risk: Risk) -> &'static str {
    match risk {
        Risk::Low => "🟢",
        Risk::Medium => "🟡",
        Risk::High => "🟠",
        Risk::Critical => "🔴",
    }
}

/// `sha256:0123456789ab` from the full hash: enough to compare by eye.
fn short_hash(hash: &str) -> String {
    let (prefix, hex) = hash.split_once(':').unwrap_or(("", hash));
    let short: String = hex.chars().take(12).collect();
    if prefix.is_empty() {
        short
    } else {
        format!("{prefix}:{short}")
    }
}

/// `14:05 UTC` on the same day as `now`, `2026-03-02 14:05 UTC` otherwise.
pub fn format_time(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if t.date_naive() == now.date_naive() {
        t.format("%H:%M UTC").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    }
}

/// `expires in 14 min` before the deadline, `deadline passed 3 min ago` after.
pub fn time_left(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (expires_at - now).num_seconds();
    if secs > 0 {
        format!("expires in {}", format_duration(secs))
    } else {
        format!("deadline passed {} ago", format_duration(-secs))
    }
}

/// `less than a minute`, `14 min`, `2 h 5 min`, `3 d 4 h` (rounded down).
pub fn format_duration(secs: i64) -> String {
    let mins = secs / 60;
    match mins {
        ..1 => "less than a minute".to_string(),
        1..60 => format!("{mins} min"),
        60..1440 if mins % 60 == 0 => format!("{} h", mins / 60),
        60..1440 => format!("{} h {} min", mins / 60, mins % 60),
        _ if mins / 60 % 24 == 0 => format!("{} d", mins / 1440),
        _ => format!("{} d {} h", mins / 1440, mins / 60 % 24),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn telling_arguments_come_first_and_the_text_is_the_same_json() {
        let args = json!({
            "a_padding": "x".repeat(50),
            "content": "hello",
            "file_path": "/etc/cron.d/x",
            "options": {"mode": "0644", "tags": ["a", "b"]},
            "sqlQuery": "DROP TABLE users",
        });
        let text = arguments_text(&args);
        let first: Vec<&str> = text
            .lines()
            .skip(1)
            .filter(|l| l.starts_with("  \""))
            .map(|l| l.trim_start().split('"').nth(1).unwrap())
            .collect();
        assert_eq!(
            first,
            ["file_path", "sqlQuery", "a_padding", "content", "options"]
        );
        // Still the same JSON, only the order differs.
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), args);
        assert_eq!(arguments_text(&json!({})), "{}");
        assert_eq!(
            arguments_text(&json!(["rm", "-rf"])),
            "[\n  \"rm\",\n  \"-rf\"\n]"
        );
        // Without telling names the printing is serde_json's own.
        let plain = json!({"b": 1, "a": {"c": [1, 2]}});
        assert_eq!(
            arguments_text(&plain),
            serde_json::to_string_pretty(&plain).unwrap()
        );
    }

    #[test]
    fn a_long_value_is_shortened_and_secrets_are_redacted_in_the_text() {
        let args = json!({"content": "y".repeat(MAX_ARGUMENT_STRING + 10), "command": "curl -u bob:hunter2 https://x"});
        let text = arguments_text(&args);
        assert!(text.starts_with("{\n  \"command\""), "{text}");
        assert!(text.contains("truncated, 10 more characters"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
