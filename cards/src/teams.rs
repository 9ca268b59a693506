//! Microsoft Teams Adaptive Cards (version 1.5) for approval requests.
//!
//! Each function returns the card itself (`{"type": "AdaptiveCard", …}`);
//! [`attachment`] wraps it for an activity. The steps are the Slack ones:
//! the record becomes template data ([`crate::model`], secrets redacted,
//! plus the few list fields below), the template is filled with every value
//! escaped for Teams Markdown ([`escape_for_key`]), and the card is cut to
//! Teams' limits ([`limits::fit_card`]).
//!
//! The request card's Approve and Reject buttons are `Action.Execute`
//! (Universal Actions) with verbs [`VERB_APPROVE`] and [`VERB_REJECT`], each
//! falling back to an `Action.Submit` for clients without Universal
//! Actions. Both carry `{"requestId": …, "decision": "approve"|"reject"}` in
//! `data`, and the reason typed in the `Input.Text` with id [`INPUT_REASON`]
//! joins that data, so a click never depends on `replyToId`. A pending card
//! can name up to [`MAX_REFRESH_USERS`] user MRIs (`29:…`) in `refresh`, so
//! those people's clients ask the bot (verb [`VERB_REFRESH`]) for their own
//! view: [`View::Decide`] with live buttons for someone who may decide,
//! [`View::Status`] without buttons for everyone else. The bot decides who
//! gets which, and checks again on every click.
//!
//! Teams templates use the Adaptive Card templating keys (`"$when"`,
//! `"$data"`) directly, so each file opens in the Adaptive Cards Designer
//! with the sample data in `cards/teams/samples/`. Besides the record
//! fields of [`crate::model`], they see `reason_items` and `argument_lines`
//! (lists of `{"text": …}`, already capped), `note`/`has_note` (a line for
//! the person viewing), and `remaining`, `remaining_text`, `needs_more`
//! (approvals still needed).

pub mod limits;
mod markdown;

use chrono::{DateTime, Utc};
use hitl_wire::{ApprovalRecord, Status};
use serde_json::{Value, json};

pub use markdown::{escape, escape_for_key, mention};

use crate::CardError;
use crate::catalog::{Card, Templates};
use crate::model;
use crate::template::{self, TemplateError};

/// The attachment content type of an Adaptive Card.
pub const CONTENT_TYPE: &str = "application/vnd.microsoft.card.adaptive";
/// The Adaptive Card version every template declares.
pub const VERSION: &str = "1.5";
/// `verb` of the Approve button.
pub const VERB_APPROVE: &str = "approve";
/// `verb` of the Reject button.
pub const VERB_REJECT: &str = "reject";
/// `verb` of the card's `refresh` action.
pub const VERB_REFRESH: &str = "refresh";
/// Key of the request id in every action's `data`.
pub const DATA_REQUEST_ID: &str = "requestId";
/// Key of the decision (`approve` or `reject`) in the buttons' `data`.
pub const DATA_DECISION: &str = "decision";
/// Id of the reason input; its text arrives under this key in the data.
pub const INPUT_REASON: &str = "reason";
/// Teams refreshes a card automatically for at most this many users.
pub const MAX_REFRESH_USERS: usize = 60;

/// Which form of a pending request card to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// With the reason box and live Approve / Reject buttons.
    Decide,
    /// The status and progress only, for someone who cannot (or can no
    /// longer) decide: the requester, a non-approver, a voter waiting for
    /// the quorum.
    Status,
}

/// What a card says beyond the record: who gets a personal refresh, and a
/// line for the person viewing ("Your approval is recorded.").
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras<'a> {
    /// User MRIs (`29:…`) whose clients refresh the card; ids of another
    /// form are dropped, duplicates counted once, at most
    /// [`MAX_REFRESH_USERS`] kept. Only pending cards carry a refresh.
    pub refresh_user_ids: &'a [String],
    /// Shown prominently on the card when set.
    pub note: Option<&'a str>,
}

/// The card asking for a decision, with the reason box and the Approve and
/// Reject buttons. The record must be pending.
pub fn request_card(
    record: &ApprovalRecord,
    now: DateTime<Utc>,
    templates: &Templates,
    extras: Extras<'_>,
) -> Result<Value, CardError> {
    pending_card(record, now, templates, View::Decide, extras)
}

/// The pending request without buttons: status, the approvals so far and
/// how many are still needed (the quorum progress). The record must be
/// pending.
pub fn progress_card(
    record: &ApprovalRecord,
    now: DateTime<Utc>,
    templates: &Templates,
    extras: Extras<'_>,
) -> Result<Value, CardError> {
    pending_card(record, now, templates, View::Status, extras)
}

/// The card after the request was approved, rejected, expired or withdrawn:
/// who decided, when and why, and no buttons or refresh. Sent in place of
/// the request card.
pub fn decided_card(
    record: &ApprovalRecord,
    now: DateTime<Utc>,
    templates: &Templates,
    note: Option<&str>,
) -> Result<Value, CardError> {
    let card = match record.status {
        Status::Approved => Card::TeamsApproved,
        Status::Rejected => Card::TeamsRejected,
        Status::Expired => Card::TeamsExpired,
        Status::Cancelled => Card::TeamsCancelled,
        Status::Pending => return Err(wrong_status(record, "decided, expired or cancelled")),
    };
    let extras = Extras {
        refresh_user_ids: &[],
        note,
    };
    render(templates, card, &data(record, now, extras), None)
}

/// The card for a record as it stands: the pending card in `view`, or the
/// decided card.
pub fn card(
    record: &ApprovalRecord,
    now: DateTime<Utc>,
    templates: &Templates,
    view: View,
    extras: Extras<'_>,
) -> Result<Value, CardError> {
    match record.status {
        Status::Pending => pending_card(record, now, templates, view, extras),
        _ => decided_card(record, now, templates, extras.note),
    }
}

/// The reminder posted part-way to the deadline; it names the escalation
/// target (`record.escalation.to`) when there is one. The record must be
/// pending.
pub fn reminder_card(
    record: &ApprovalRecord,
    now: DateTime<Utc>,
    templates: &Templates,
) -> Result<Value, CardError> {
    if record.status != Status::Pending {
        return Err(wrong_status(record, "pending"));
    }
    let data = data(record, now, Extras::default());
    render(templates, Card::TeamsReminder, &data, None)
}

/// The list of requests for the `pending` command, in the order given; at
/// most [`model::MAX_LISTED`] are shown. It has no buttons: `show ID` opens
/// one.
pub fn pending_list_card(
    records: &[ApprovalRecord],
    now: DateTime<Utc>,
    templates: &Templates,
) -> Result<Value, CardError> {
    let data = model::list_data(records, now, mention);
    render(templates, Card::TeamsPendingList, &data, None)
}

/// The card as an activity attachment.
pub fn attachment(card: Value) -> Value {
    json!({ "contentType": CONTENT_TYPE, "content": card })
}

/// The user MRIs that a refresh may name: `29:` and a non-empty id of the
/// characters Teams uses, deduplicated, at most [`MAX_REFRESH_USERS`].
pub fn refresh_user_ids(ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in ids {
        let id = id.trim();
        let valid = id.strip_prefix("29:").is_some_and(|rest| {
            !rest.is_empty()
                && rest.len() <= 256
                && rest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.=+/:".contains(c))
        });
        if valid && !out.iter().any(|known| known == id) {
            out.push(id.to_string());
        }
        if out.len() == MAX_REFRESH_USERS {
            break;
        }
    }
    out
}

fn pending_card(
    record: &ApprovalRecord,
    now: DateTime<Utc>,
    templates: &Templates,
    view: View,
    extras: Extras<'_>,
) -> Result<Value, CardError> {
    if record.status != Status::Pending {
        return Err(wrong_status(record, "pending"));
    }
    let card = match view {
        View::Decide => Card::TeamsRequest,
        View::Status => Card::TeamsProgress,
    };
    let refresh = refresh(&record.request_id, extras.refresh_user_ids);
    render(templates, card, &data(record, now, extras), refresh)
}

/// The card's `refresh`: an `Action.Execute` with the refresh verb, for the
/// listed users only.
fn refresh(request_id: &str, user_ids: &[String]) -> Option<Value> {
    let user_ids = refresh_user_ids(user_ids);
    (!user_ids.is_empty()).then(|| {
        json!({
            "action": {
                "type": "Action.Execute",
                "title": "Refresh",
                "verb": VERB_REFRESH,
                "data": { DATA_REQUEST_ID: request_id },
            },
            "userIds": user_ids,
        })
    })
}

/// The record's template data plus the Teams list fields (module docs).
fn data(record: &ApprovalRecord, now: DateTime<Utc>, extras: Extras<'_>) -> Value {
    let mut data = model::record_data(record, now, mention);
    let reasons = data["reasons"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut reason_items: Vec<Value> = reasons
        .iter()
        .take(limits::REASONS)
        .map(|r| json!({ "text": r }))
        .collect();
    if reasons.len() > limits::REASONS {
        let more = reasons.len() - limits::REASONS;
        reason_items.push(json!({ "text": format!("… and {more} more") }));
    }
    let arguments = data["arguments_json"].as_str().unwrap_or_default();
    let lines: Vec<&str> = arguments.lines().collect();
    let mut argument_lines: Vec<Value> = lines
        .iter()
        .take(limits::ARGUMENT_LINES)
        .map(|l| json!({ "text": l }))
        .collect();
    if lines.len() > limits::ARGUMENT_LINES {
        let more = lines.len() - limits::ARGUMENT_LINES;
        argument_lines.push(json!({ "text": format!("… (truncated, {more} more lines)") }));
    }
    let remaining = record
        .quorum
        .saturating_sub(u32::try_from(record.approvals.len()).unwrap_or(u32::MAX));
    let remaining_text = match remaining {
        1 => "1 more approval".to_string(),
        n => format!("{n} more approvals"),
    };
    let note = extras.note.filter(|n| !n.trim().is_empty());
    if let Value::Object(map) = &mut data {
        map.insert("reason_items".into(), Value::Array(reason_items));
        map.insert("argument_lines".into(), Value::Array(argument_lines));
        map.insert("has_note".into(), Value::Bool(note.is_some()));
        map.insert("note".into(), note.map_or(Value::Null, Value::from));
        map.insert("remaining".into(), Value::from(remaining));
        map.insert("remaining_text".into(), Value::from(remaining_text));
        map.insert("needs_more".into(), Value::Bool(remaining > 0));
    }
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
    data: &Value,
    refresh: Option<Value>,
) -> Result<Value, CardError> {
    let entry = templates.get(card);
    let fail = |error: TemplateError| CardError::Template {
        origin: entry.origin.clone(),
        error,
    };
    let mut filled = template::render(&entry.template, data, escape_for_key).map_err(fail)?;
    if let (Some(refresh), Value::Object(map)) = (refresh, &mut filled) {
        map.insert("refresh".into(), refresh);
    }
    limits::fit_card(&mut filled);
    Ok(filled)
}

/// The sample data a template sees, for previewing a template in the
/// Adaptive Cards Designer: the record's data with the safe fragments the
/// Designer does not know (`{"$raw": …}`) turned into their text.
pub fn designer_data(record: &ApprovalRecord, now: DateTime<Utc>) -> Value {
    fn unwrap_raw(v: Value) -> Value {
        match v {
            Value::Object(map) if map.len() == 1 && map.contains_key("$raw") => {
                map.get("$raw").cloned().unwrap_or(Value::Null)
            }
            Value::Object(map) => {
                Value::Object(map.into_iter().map(|(k, v)| (k, unwrap_raw(v))).collect())
            }
            Value::Array(items) => Value::Array(items.into_iter().map(unwrap_raw).collect()),
            other => other,
        }
    }
    unwrap_raw(data(record, now, Extras::default()))
}
