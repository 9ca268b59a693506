//! Block Kit's size limits, and cutting a rendered message down to them.
//!
//! The limits are Slack's documented ones (and the ones `slack_sdk` checks).
//! Cutting happens on the final, escaped text, so the count is what Slack
//! counts; it never splits an entity (`&amp;`), a mention (`<@U…>`) or a
//! code fence, closes a code block it cut open, and says how much was left
//! out: `… (truncated, N more characters)`, counting characters as shown.

use std::borrow::Cow;

use serde_json::{Value, json};

/// Blocks in one message.
pub const MAX_BLOCKS: usize = 50;
/// The notification `text` of a message (Slack cuts at 40 000; a
/// notification never needs more than this).
pub const MESSAGE_TEXT: usize = 4000;
/// A header block's `plain_text`.
pub const HEADER_TEXT: usize = 150;
/// A section block's `text`.
pub const SECTION_TEXT: usize = 3000;
/// Each of a section's `fields`.
pub const SECTION_FIELD_TEXT: usize = 2000;
/// Number of a section's `fields`.
pub const SECTION_FIELDS: usize = 10;
/// Each text element of a context block.
pub const CONTEXT_TEXT: usize = 2000;
/// Number of a context block's elements.
pub const CONTEXT_ELEMENTS: usize = 10;
/// Number of an actions block's elements.
pub const ACTIONS_ELEMENTS: usize = 25;
/// A button's label.
pub const BUTTON_TEXT: usize = 75;
/// A confirm dialog's title.
pub const CONFIRM_TITLE: usize = 100;
/// A confirm dialog's text.
pub const CONFIRM_TEXT: usize = 300;
/// A confirm dialog's confirm and deny labels.
pub const CONFIRM_BUTTON: usize = 30;

/// Shown in place of an empty text, which Slack refuses.
const EMPTY_TEXT: &str = "—";

/// The note that ends a cut text.
pub fn truncation_note(more: usize) -> String {
    format!("… (truncated, {more} more characters)")
}

/// Cuts `text` to at most `limit` characters (see the module docs). Text that
/// fits comes back unchanged; for limits too small for the note, a bare `…`
/// marks the cut.
pub fn truncate(text: &str, limit: usize) -> Cow<'_, str> {
    if text.chars().count() <= limit {
        return Cow::Borrowed(text);
    }
    const FENCE_CLOSE: &str = "\n```\n";
    let units = units(text);
    let total_shown: usize = units.iter().map(|u| u.shown).sum();
    // The note for the whole text is at least as long as the real one, so
    // reserving its length is always enough.
    let note_len = truncation_note(total_shown).chars().count();
    let fence_len = if units.iter().any(|u| u.text == "```") {
        FENCE_CLOSE.chars().count()
    } else {
        0
    };
    let bare = limit < note_len + fence_len + 10;
    let reserve = fence_len + if bare { 1 } else { note_len };

    let (mut kept_chars, mut kept_shown, mut end, mut fences) = (0, 0, 0, 0);
    for unit in &units {
        let chars = unit.text.chars().count();
        if kept_chars + chars + reserve > limit {
            break;
        }
        kept_chars += chars;
        kept_shown += unit.shown;
        end += unit.text.len();
        if unit.text == "```" {
            fences += 1;
        }
    }
    let mut out = text[..end].to_string();
    if fences % 2 == 1 {
        out.push_str(FENCE_CLOSE);
    }
    if bare {
        out.push('…');
    } else {
        out.push_str(&truncation_note(total_shown - kept_shown));
    }
    Cow::Owned(out)
}

/// A piece of text that must not be split, and how many characters it shows as.
struct Unit<'a> {
    text: &'a str,
    shown: usize,
}

fn units(text: &str) -> Vec<Unit<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let len = if let Some(entity) = ["&amp;", "&lt;", "&gt;"]
            .iter()
            .find(|e| rest.starts_with(**e))
        {
            out.push(Unit {
                text: &rest[..entity.len()],
                shown: 1,
            });
            entity.len()
        } else if rest.starts_with("```") {
            out.push(Unit {
                text: &rest[..3],
                shown: 3,
            });
            3
        } else if let Some(close) = markup_end(rest) {
            let markup = &rest[..=close];
            out.push(Unit {
                text: markup,
                shown: markup.chars().count(),
            });
            close + 1
        } else {
            out.push(Unit {
                text: &rest[..c.len_utf8()],
                shown: 1,
            });
            c.len_utf8()
        };
        rest = &rest[len..];
    }
    out
}

/// The byte index of the `>` closing a `<…>` mention or link at the start.
fn markup_end(s: &str) -> Option<usize> {
    if !s.starts_with('<') {
        return None;
    }
    let close = s.find('>')?;
    let inner = &s[1..close];
    (close <= 300 && !inner.contains(['<', '\n'])).then_some(close)
}

/// Cuts a whole message (`{"text": …, "blocks": […]}`) down to Block Kit's
/// limits: every text by where it sits, lists of fields and elements, and the
/// number of blocks. Block types this does not know are left as they are.
pub fn fit_message(message: &mut Value) {
    if let Some(Value::String(text)) = message.get_mut("text") {
        fit_string(text, MESSAGE_TEXT);
    }
    let Some(Value::Array(blocks)) = message.get_mut("blocks") else {
        return;
    };
    if blocks.len() > MAX_BLOCKS {
        let more = blocks.len() - (MAX_BLOCKS - 1);
        blocks.truncate(MAX_BLOCKS - 1);
        blocks.push(json!({
            "type": "context",
            "elements": [{ "type": "mrkdwn", "text": format!("… (truncated, {more} more blocks)") }],
        }));
    }
    blocks.iter_mut().for_each(fit_block);
}

fn fit_block(block: &mut Value) {
    match block.get("type").and_then(Value::as_str) {
        Some("header") => fit_text_object(block.get_mut("text"), HEADER_TEXT),
        Some("section") => {
            fit_text_object(block.get_mut("text"), SECTION_TEXT);
            if let Some(Value::Array(fields)) = block.get_mut("fields") {
                cap_with_note(fields, SECTION_FIELDS, "fields");
                for field in fields {
                    fit_text_object(Some(field), SECTION_FIELD_TEXT);
                }
            }
            if let Some(accessory) = block.get_mut("accessory") {
                fit_element(accessory);
            }
        }
        Some("context") => {
            if let Some(Value::Array(elements)) = block.get_mut("elements") {
                cap_with_note(elements, CONTEXT_ELEMENTS, "items");
                for element in elements {
                    if matches!(
                        element.get("type").and_then(Value::as_str),
                        Some("mrkdwn" | "plain_text")
                    ) {
                        fit_text_object(Some(element), CONTEXT_TEXT);
                    }
                }
            }
        }
        Some("actions") => {
            if let Some(Value::Array(elements)) = block.get_mut("elements") {
                // A button cannot carry a note; the template is wrong if this bites.
                elements.truncate(ACTIONS_ELEMENTS);
                elements.iter_mut().for_each(fit_element);
            }
        }
        _ => {}
    }
}

fn fit_element(element: &mut Value) {
    if element.get("type").and_then(Value::as_str) == Some("button") {
        fit_text_object(element.get_mut("text"), BUTTON_TEXT);
    }
    if let Some(confirm) = element.get_mut("confirm") {
        fit_text_object(confirm.get_mut("title"), CONFIRM_TITLE);
        fit_text_object(confirm.get_mut("text"), CONFIRM_TEXT);
        fit_text_object(confirm.get_mut("confirm"), CONFIRM_BUTTON);
        fit_text_object(confirm.get_mut("deny"), CONFIRM_BUTTON);
    }
}

/// Keeps `max - 1` items and a note saying how many were left out.
fn cap_with_note(items: &mut Vec<Value>, max: usize, what: &str) {
    if items.len() > max {
        let more = items.len() - (max - 1);
        items.truncate(max - 1);
        items.push(
            json!({ "type": "mrkdwn", "text": format!("… (truncated, {more} more {what})") }),
        );
    }
}

fn fit_text_object(object: Option<&mut Value>, limit: usize) {
    if let Some(Value::String(text)) = object.and_then(|o| o.get_mut("text")) {
        fit_string(text, limit);
    }
}

fn fit_string(text: &mut String, limit: usize) {
    if text.trim().is_empty() {
        *text = EMPTY_TEXT.to_string();
    } else if let Cow::Owned(cut) = truncate(text, limit) {
        *text = cut;
    }
}
