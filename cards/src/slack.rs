//! Slack Block Kit messages for approval requests.
//!
//! Each function returns the whole `chat.postMessage` / `chat.update` payload
//! minus the channel: `{"text": …, "blocks": […]}`, where `text` is the
//! notification fallback. The steps are always the same: the record becomes
//! template data ([`crate::model`], with secrets redacted), the template is
//! filled with every value escaped for mrkdwn ([`escape`]), and the message
//! is cut to Block Kit's limits ([`limits::fit_message`]).
//!
//! Slack templates keep their `$when`/`$data` directives in the block's
//! `block_id` (`"block_id": "$when ${has_reason}"`), so every file stays
//! valid Block Kit and pastes into Block Kit Builder as it is; the directive
//! is moved out of `block_id` before filling, so the message has no such id.
//! The `"$when"`/`"$data"` keys of the shared engine work too, but Block Kit
//! Builder flags them as unknown.
//!
//! The request card's buttons carry [`APPROVE_ACTION_ID`] and
//! [`REJECT_ACTION_ID`], each with the request id as `value`.

mod full;
pub mod limits;
mod mrkdwn;

use chrono::{DateTime, Utc};
use hitl_wire::{ApprovalRecord, Status};
use serde_json::{Value, json};

pub use full::{FULL_REQUEST_MODAL_ID, full_request_view};
pub use mrkdwn::{escape, escape_for_key, mention};

use crate::CardError;
use crate::catalog::{Card, Templates};
use crate::model;
use crate::template::{self, TemplateError};

/// `action_id` of the request card's Approve button (`value`: the request id).
pub const APPROVE_ACTION_ID: &str = "hitl_approve";
/// `action_id` of the request card's Reject button (`value`: the request id).
pub const REJECT_ACTION_ID: &str = "hitl_reject";
/// `action_id` of the "Show the full request" button, on a card whose
/// arguments were cut (`value`: the request id).
pub const SHOW_FULL_ACTION_ID: &str = "hitl_show_full";

/// Room for the arguments in the card's section, after its heading and the
/// code fence around them.
const ARGUMENTS_ROOM: usize = limits::SECTION_TEXT - 24;

/// Notification texts used when a template has no `"text"` of its own.
const REQUEST_TEXT: &str = "${risk.emoji} Approval needed (${risk.label}): ${tool_and_server}, requested by ${requester}; ${time_left}";
const APPROVED_TEXT: &str = "Approved by ${approver_name}: ${tool_and_server}";
const REJECTED_TEXT: &str = "Rejected by ${approver_name}: ${tool_and_server}";
const EXPIRED_TEXT: &str = "Expired without a decision: ${tool_and_server}";
const CANCELLED_TEXT: &str = "Withdrawn by the agent: ${tool_and_server}";
const REMINDER_TEXT: &str =
    "Reminder: ${tool_and_server} is still waiting for a decision; ${time_left}";
const PENDING_LIST_TEXT: &str = "${count_text}";

/// The card asking for a decision, with Approve and Reject buttons. The
/// record must be pending.
pub fn request_message(
    record: &ApprovalRecord,
    now: DateTime<Utc>,
    templates: &Templates,
) -> Result<Value, CardError> {
    if record.status != Status::Pending {
        return Err(wrong_status(record, "pending"));
    }
    render(
        templates,
        Card::SlackRequest,
        REQUEST_TEXT,
        &data(record, now),
    )
}

/// The card after the request was approved, rejected, expired or withdrawn:
/// who decided, when and why, and no buttons. Sent with `chat.update` in
/// place of the request card.
pub fn decided_message(
    record: &ApprovalRecord,
    now: DateTime<Utc>,
    templates: &Templates,
) -> Result<Value, CardError> {
    let (card, text) = match record.status {
        Status::Approved => (Card::SlackApproved, APPROVED_TEXT),
        Status::Rejected => (Card::SlackRejected, REJECTED_TEXT),
        Status::Expired => (Card::SlackExpired, EXPIRED_TEXT),
        Status::Cancelled => (Card::SlackCancelled, CANCELLED_TEXT),
        Status::Pending => return Err(wrong_status(record, "decided, expired or cancelled")),
    };
    render(templates, card, text, &data(record, now))
}

/// The request card while pending, the decided card after.
pub fn card_message(
    record: &ApprovalRecord,
    now: DateTime<Utc>,
    templates: &Templates,
) -> Result<Value, CardError> {
    match record.status {
        Status::Pending => request_message(record, now, templates),
        _ => decided_message(record, now, templates),
    }
}

/// The reminder posted in the request's thread part-way to the deadline; it
/// mentions the escalation target (`record.escalation.to`) when there is one.
/// The record must be pending.
pub fn reminder_message(
    record: &ApprovalRecord,
    now: DateTime<Utc>,
    templates: &Templates,
) -> Result<Value, CardError> {
    if record.status != Status::Pending {
        return Err(wrong_status(record, "pending"));
    }
    render(
        templates,
        Card::SlackReminder,
        REMINDER_TEXT,
        &data(record, now),
    )
}

/// The list of requests for `/approvals pending`, in the order given (the
/// caller picks and sorts them); at most [`model::MAX_LISTED`] are shown.
pub fn pending_list_message(
    records: &[ApprovalRecord],
    now: DateTime<Utc>,
    templates: &Templates,
) -> Result<Value, CardError> {
    let data = model::list_data(records, now, mention);
    render(templates, Card::SlackPendingList, PENDING_LIST_TEXT, &data)
}

/// The record's template data, plus `arguments_cut`: whether the card
/// cannot show every argument whole (a long string is shortened, or the
/// arguments outgrow their section), so it offers the full request.
fn data(record: &ApprovalRecord, now: DateTime<Utc>) -> Value {
    let mut data = model::record_data(record, now, mention);
    let shown = data["arguments_json"].as_str().unwrap_or_default();
    let cut = model::has_long_strings(&record.arguments)
        || escape(shown).chars().count() > ARGUMENTS_ROOM;
    data["arguments_cut"] = Value::Bool(cut);
    data
}

fn wrong_status(record: &ApprovalRecord, expected: &'static str) -> CardError {
    CardError::WrongStatus {
        request_id: record.request_id.clone(),
        status: record.status,
        expected,
    }
}

fn render(
    templates: &Templates,
    card: Card,
    default_text: &str,
    data: &Value,
) -> Result<Value, CardError> {
    let entry = templates.get(card);
    let fail = |error: TemplateError| CardError::Template {
        origin: entry.origin.clone(),
        error,
    };
    let blocks_template = entry.template.get("blocks").cloned().unwrap_or(Value::Null);
    // Wrapped so that error locations read `/blocks/3/...`, as in the file.
    let wrapped = json!({ "blocks": directives_from_block_ids(blocks_template).map_err(fail)? });
    let mut filled = template::render(&wrapped, data, escape_for_key).map_err(fail)?;
    let blocks = filled
        .get_mut("blocks")
        .map(Value::take)
        .unwrap_or(Value::Null);
    let text_template = entry
        .template
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or(default_text);
    let text = template::render_str(text_template, data, escape_for_key).map_err(fail)?;
    let mut message = json!({ "text": text, "blocks": blocks });
    limits::fit_message(&mut message);
    Ok(message)
}

/// Moves `"block_id": "$when ${flag}"` / `"$data ${items}"` to the engine's
/// `$when` / `$data` keys (see the module docs).
fn directives_from_block_ids(mut blocks: Value) -> Result<Value, TemplateError> {
    let Value::Array(list) = &mut blocks else {
        return Ok(blocks);
    };
    for (i, block) in list.iter_mut().enumerate() {
        let Some(object) = block.as_object_mut() else {
            continue;
        };
        let Some(Value::String(id)) = object.get("block_id") else {
            continue;
        };
        let Some(directive) = id.strip_prefix('$') else {
            continue;
        };
        let (key, placeholder) = match directive.split_once(char::is_whitespace) {
            Some(("when", rest)) => ("$when", rest.trim()),
            Some(("data", rest)) => ("$data", rest.trim()),
            _ => {
                return Err(TemplateError {
                    at: format!("/blocks/{i}/block_id"),
                    message: format!(
                        "{id:?} is not a directive; use \"$when ${{flag}}\" or \"$data ${{list}}\""
                    ),
                });
            }
        };
        let placeholder = placeholder.to_string();
        object.remove("block_id");
        object.insert(key.to_string(), Value::String(placeholder));
    }
    Ok(blocks)
}
