//! The "Show the full request" modal: every argument, redacted, nothing
//! shortened, for a card that had to cut them.
//!
//! The arguments are printed whole (secrets redacted as on the card) and
//! split into code sections that each fit Block Kit's section limit after
//! escaping; a modal holds at most [`MAX_VIEW_BLOCKS`] blocks, and what
//! still does not fit is counted in the last one.

use hitl_wire::ApprovalRecord;
use serde_json::{Value, json};

use super::escape;
use super::limits::{SECTION_TEXT, truncate};
use crate::redact::{redact_text, redact_value};

/// `callback_id` of the modal.
pub const FULL_REQUEST_MODAL_ID: &str = "hitl_full_request";

/// Blocks in one modal view (Slack's limit).
pub const MAX_VIEW_BLOCKS: usize = 100;

/// A code section's text: the fence and its newlines take 8 characters.
const CHUNK: usize = SECTION_TEXT - 8;

/// The `views.open` view showing `record`'s full, redacted arguments.
pub fn full_request_view(record: &ApprovalRecord) -> Value {
    let what = match record.server.as_deref().filter(|s| !s.is_empty()) {
        Some(server) => format!("`{}` on {}", escape(&record.tool), escape(server)),
        None => format!("`{}`", escape(&record.tool)),
    };
    let mut blocks = vec![json!({
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": truncate(&format!(
                "{what}, requested by {}. Request `{}`, arguments `{}`.",
                escape(&record.requester),
                escape(&record.request_id),
                escape(&record.arguments_hash),
            ), SECTION_TEXT),
        }
    })];
    if let Some(action) = record
        .proposed_action
        .as_deref()
        .filter(|a| !a.trim().is_empty())
    {
        let text = format!("*Proposed action*\n{}", escape(&redact_text(action)));
        blocks.push(section(&truncate(&text, SECTION_TEXT)));
    }
    // Pretty-printing a `Value` cannot fail: every key is a string.
    let printed = serde_json::to_string_pretty(&redact_value(&record.arguments))
        .unwrap_or_else(|_| "(arguments could not be shown)".to_string());
    let chunks = escaped_chunks(&printed, CHUNK);
    let room = MAX_VIEW_BLOCKS - blocks.len() - 1;
    let shown = chunks.len().min(room);
    for chunk in &chunks[..shown] {
        blocks.push(section(&format!("```\n{chunk}\n```")));
    }
    if shown < chunks.len() {
        let more: usize = chunks[shown..].iter().map(|c| c.chars().count()).sum();
        blocks.push(json!({
            "type": "context",
            "elements": [{
                "type": "mrkdwn",
                "text": format!("… {more} more characters do not fit here; the audit log keeps the request whole."),
            }]
        }));
    }
    json!({
        "type": "modal",
        "callback_id": FULL_REQUEST_MODAL_ID,
        "title": { "type": "plain_text", "text": "The full request" },
        "close": { "type": "plain_text", "text": "Close" },
        "blocks": blocks,
    })
}

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } })
}

/// `raw` escaped for mrkdwn, in pieces of at most `limit` characters each,
/// cut between characters of `raw` (never inside an entity), at a line end
/// when one is near.
fn escaped_chunks(raw: &str, limit: usize) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut current = String::new();
    let mut len = 0;
    let mut last_newline: Option<(usize, usize)> = None; // (byte, chars) after a '\n'
    for c in raw.chars() {
        let piece = escape(c.encode_utf8(&mut [0; 4]));
        // A backtick after a backtick gets a zero-width space before it, so
        // two never meet across pieces either: count the worst case.
        let cost = piece.chars().count() + usize::from(c == '`');
        if len + cost > limit {
            match last_newline.filter(|(_, chars)| *chars > limit / 2) {
                Some((byte, chars)) => {
                    let rest = current.split_off(byte);
                    chunks.push(std::mem::replace(&mut current, rest));
                    len -= chars;
                }
                None => {
                    chunks.push(std::mem::take(&mut current));
                    len = 0;
                }
            }
            last_newline = None;
        }
        if c == '`' && current.ends_with('`') {
            current.push('\u{200B}');
        }
        current.push_str(&piece);
        len += cost;
        if c == '\n' {
            last_newline = Some((current.len(), len));
        }
    }
    if !current.is_empty() || chunks.is_empty() {
        chunks.push(current);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_fit_and_join_back_to_the_escaped_text() {
        let raw = format!(
            "{}\n{}\n&<>{}",
            "a".repeat(5000),
            "<b>&".repeat(900),
            "``".repeat(700)
        );
        let chunks = escaped_chunks(&raw, 2992);
        assert!(chunks.len() > 3);
        for c in &chunks {
            assert!(c.chars().count() <= 2992, "{}", c.chars().count());
            assert!(!c.starts_with("amp;") && !c.starts_with("lt;") && !c.starts_with("gt;"));
        }
        let joined: String = chunks.concat().replace('\u{200B}', "");
        assert_eq!(joined, escape(&raw).replace('\u{200B}', ""));
        assert_eq!(escaped_chunks("", 10), vec![String::new()]);
    }
}
