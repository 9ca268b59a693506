//! What people are told in Slack besides the cards: answers to clicks,
//! replies and commands, the thread reply that records an outcome, the
//! reject-reason modal and the `/approvals help` text.
//!
//! Every value from a record or a person goes through the cards crate's
//! [`escape`] (and free text through [`redact_text`]), and people become
//! mentions only through [`mention`], which accepts well-formed ids alone.

use hitl_cards::redact::redact_text;
use hitl_cards::slack::{escape, mention};
use hitl_wire::api::DecisionAction;
use hitl_wire::{ApprovalRecord, Status};
use serde_json::{Value, json};

use crate::lifecycle::Refusal;
use crate::service::ServiceError;

/// `callback_id` of the reject-reason modal.
pub const REJECT_MODAL_ID: &str = "hitl_reject_reason";
/// The modal's input: `block_id` and `action_id`.
pub const REASON_BLOCK_ID: &str = "hitl_reason";
pub const REASON_ACTION_ID: &str = "reason";

/// One answer, as mrkdwn (messages) and as plain text (modal errors, where
/// Slack shows text as typed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback {
    pub mrkdwn: String,
    pub plain: String,
}

impl Feedback {
    fn new(mrkdwn: String, plain: String) -> Self {
        Self { mrkdwn, plain }
    }

    /// The same text both ways; the caller has escaped what needs it.
    pub fn text(text: String) -> Self {
        Self {
            plain: text.clone(),
            mrkdwn: text,
        }
    }

    /// A message body with this text.
    pub fn message(&self) -> Value {
        json!({ "text": self.mrkdwn })
    }

    /// A slash command's answer, only the person who asked sees it.
    pub fn ephemeral(&self) -> Value {
        json!({ "response_type": "ephemeral", "text": self.mrkdwn })
    }
}

fn what(r: &ApprovalRecord) -> String {
    match &r.server {
        Some(s) => format!("`{}` on {}", escape(&r.tool), escape(s)),
        None => format!("`{}`", escape(&r.tool)),
    }
}

fn what_plain(r: &ApprovalRecord) -> String {
    match &r.server {
        Some(s) => format!("{} on {s}", r.tool),
        None => r.tool.clone(),
    }
}

fn reason_suffix(reason: Option<&str>) -> (String, String) {
    match reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => {
            let r = redact_text(r);
            (format!(": {}", escape(&r)), format!(": {r}"))
        }
        None => (String::new(), String::new()),
    }
}

/// Who decided, as a mention (and plain).
fn who(r: &ApprovalRecord) -> (String, String) {
    let name = r.approver.as_deref().unwrap_or("hitl");
    (mention(name), name.to_owned())
}

/// "Already approved by @x", for a request that was final before this try.
pub fn already_final(r: &ApprovalRecord) -> Feedback {
    let (m, p) = who(r);
    let (rm, rp) = reason_suffix(r.reason.as_deref());
    let id = &r.request_id;
    match r.status {
        Status::Approved => Feedback::new(
            format!("Request `{id}` was already approved by {m}{rm}."),
            format!("Already approved by {p}{rp}."),
        ),
        Status::Rejected => Feedback::new(
            format!("Request `{id}` was already rejected by {m}{rm}."),
            format!("Already rejected by {p}{rp}."),
        ),
        Status::Expired => Feedback::new(
            format!("Request `{id}` already expired{rm}."),
            format!("Already expired{rp}."),
        ),
        Status::Cancelled => Feedback::new(
            format!("Request `{id}` was already withdrawn by the agent{rm}."),
            format!("Already withdrawn by the agent{rp}."),
        ),
        Status::Pending => Feedback::new(
            format!("Request `{id}` is still pending."),
            "Still pending.".to_owned(),
        ),
    }
}

/// Why a decision was refused, said to the person who tried.
pub fn refusal(request_id: &str, e: &ServiceError) -> Feedback {
    let id = escape(request_id);
    match e {
        ServiceError::NotFound(_) => Feedback::new(
            format!("There is no request `{id}`."),
            format!("There is no request {request_id}."),
        ),
        ServiceError::Refused(r) => match r {
            Refusal::AlreadyFinal(record) => already_final(record),
            Refusal::NotAllowed { allowed, .. } => {
                let list = allowed
                    .split(", ")
                    .map(mention)
                    .collect::<Vec<_>>()
                    .join(", ");
                Feedback::new(
                    format!(
                        ":no_entry: You are not allowed to decide request `{id}`. Who may: {list}."
                    ),
                    format!("You are not allowed to decide this request. Who may: {allowed}."),
                )
            }
            Refusal::NotADecider { why, .. } => Feedback::new(
                format!(
                    ":no_entry: You may not decide request `{id}`: {}.",
                    channel_links(why)
                ),
                format!("You may not decide this request: {why}."),
            ),
            Refusal::SelfApproval { .. } => Feedback::new(
                format!(
                    ":no_entry: You made request `{id}`, so you cannot approve it; another approver must."
                ),
                "You made this request, so you cannot approve it; another approver must."
                    .to_owned(),
            ),
            Refusal::DuplicateVote { have, need, .. } => Feedback::new(
                format!("You have already approved `{id}`; {have} of {need} approvals so far."),
                format!("You have already approved; {have} of {need} approvals so far."),
            ),
            Refusal::ReasonRequired => Feedback::new(
                format!(
                    "Say why you reject `{id}`: the agent reads the reason. For example `reject {id} wrong host`."
                ),
                "Say why: the agent reads the reason.".to_owned(),
            ),
            Refusal::DeadlinePassed(at) => Feedback::new(
                format!(
                    ":hourglass: Too late: request `{id}` expired at {}.",
                    at.format("%H:%M UTC")
                ),
                format!(
                    "Too late: the request expired at {}.",
                    at.format("%H:%M UTC")
                ),
            ),
            other => Feedback::new(escape(&other.to_string()), other.to_string()),
        },
        ServiceError::Invalid(m) => Feedback::new(escape(m), m.clone()),
        ServiceError::Conflict { message, .. } => Feedback::new(escape(message), message.clone()),
        ServiceError::Internal(_) | ServiceError::Unavailable(_) => Feedback::new(
            ":warning: Your decision could not be recorded, so nothing changed; please try again."
                .to_owned(),
            "Your decision could not be recorded, so nothing changed; please try again.".to_owned(),
        ),
    }
}

/// `why` as mrkdwn: escaped, with `<#C…>` (a channel id the adapter put
/// there) kept as a channel link.
fn channel_links(why: &str) -> String {
    let escaped = escape(why);
    let mut out = String::with_capacity(escaped.len());
    let mut rest = escaped.as_str();
    while let Some(start) = rest.find("&lt;#") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 5..];
        match after.find("&gt;") {
            Some(end) if end > 0 && after[..end].chars().all(|c| c.is_ascii_alphanumeric()) => {
                out.push_str(&format!("<#{}>", &after[..end]));
                rest = &after[end + 4..];
            }
            _ => {
                out.push_str("&lt;#");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The answer to a decision that was recorded.
pub fn recorded(action: DecisionAction, r: &ApprovalRecord) -> Feedback {
    let id = &r.request_id;
    let (what, plain) = (what(r), what_plain(r));
    match (action, r.status) {
        (DecisionAction::Approve, Status::Pending) => {
            let (have, need) = (r.approvals.len(), r.quorum);
            Feedback::new(
                format!(
                    ":+1: Your approval of `{id}` ({what}) is recorded: {have} of {need} approvals."
                ),
                format!("Your approval is recorded: {have} of {need} approvals."),
            )
        }
        (DecisionAction::Approve, _) => Feedback::new(
            format!(":white_check_mark: You approved `{id}` ({what}); the call runs now."),
            format!("You approved {plain}."),
        ),
        (DecisionAction::Reject, _) => {
            let (rm, rp) = reason_suffix(r.reason.as_deref());
            Feedback::new(
                format!(":x: You rejected `{id}` ({what}){rm}. The agent is told why."),
                format!("You rejected {plain}{rp}."),
            )
        }
    }
}

/// The thread reply that records how a request ended.
pub fn outcome(r: &ApprovalRecord) -> Value {
    let (m, _) = who(r);
    let (rm, _) = reason_suffix(r.reason.as_deref());
    let text = match r.status {
        Status::Approved => format!(":white_check_mark: Approved by {m}{rm}"),
        Status::Rejected => format!(":x: Rejected by {m}{rm}"),
        Status::Expired => format!(":hourglass: Expired{rm}"),
        Status::Cancelled => format!(":no_entry_sign: Withdrawn by the agent{rm}"),
        Status::Pending => format!(
            "Still waiting: {} of {} approvals",
            r.approvals.len(),
            r.quorum
        ),
    };
    json!({ "text": format!("{text} (request `{}`, {})", r.request_id, what(r)) })
}

/// The modal asking why a request is rejected. `metadata` comes back with
/// the submission.
pub fn reject_modal(r: &ApprovalRecord, metadata: &str) -> Value {
    json!({
        "type": "modal",
        "callback_id": REJECT_MODAL_ID,
        "private_metadata": metadata,
        "title": { "type": "plain_text", "text": "Reject the call" },
        "submit": { "type": "plain_text", "text": "Reject" },
        "close": { "type": "plain_text", "text": "Cancel" },
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": format!("{} will not run. The agent reads your reason and can adapt.", what(r))
                }
            },
            {
                "type": "input",
                "block_id": REASON_BLOCK_ID,
                "label": { "type": "plain_text", "text": "Reason" },
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_ACTION_ID,
                    "multiline": true,
                    "max_length": 2000,
                    "placeholder": { "type": "plain_text", "text": "Why not, and what to do instead" }
                }
            }
        ]
    })
}

/// `/approvals help`.
pub fn help(command: &str) -> Feedback {
    let c = escape(command);
    let text = format!(
        "*{c}* — approval requests from AI agents\n\
         • `{c} pending`: what is waiting for a decision\n\
         • `{c} show ID`: one request, with its buttons\n\
         • `{c} approve ID [reason]`: approve it\n\
         • `{c} reject ID reason`: reject it; the agent reads the reason\n\
         • `{c} help`: this text\n\
         You can also click the buttons on a request, or reply `approve` or `reject <reason>` in its thread."
    );
    Feedback::new(text.clone(), text)
}
