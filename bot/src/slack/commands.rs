//! `/approvals` (`POST /slack/commands`, Socket Mode `slash_commands`):
//! `pending`, `show ID`, `approve ID [reason]`, `reject ID reason`, `help`.
//! Every answer is ephemeral: only the person who typed it sees it.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use hitl_cards::slack::{card_message, pending_list_message};
use hitl_wire::Status;
use hitl_wire::api::DecisionAction;
use serde_json::Value;

use super::interactions::{Place, feedback_for};
use super::payloads::Command;
use super::replies::{self, Feedback};
use super::verify::Verified;
use super::{AdapterError, Slack, spawn_followup};
use crate::api::error::AppError;

/// Most requests `pending` lists one by one (the card counts the rest).
const PENDING_LIMIT: usize = 200;

/// `POST /slack/commands`.
pub async fn endpoint(
    State(slack): State<Arc<Slack>>,
    req: Verified<Command>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(slack.on_command(req.body).await))
}

impl Slack {
    /// Runs one slash command and returns its ephemeral answer.
    pub async fn on_command(self: &Arc<Self>, c: Command) -> Value {
        let text = c.text.trim().to_owned();
        let (sub, rest) = match text.split_once(char::is_whitespace) {
            Some((s, r)) => (s.to_ascii_lowercase(), r.trim().to_owned()),
            None => (text.to_ascii_lowercase(), String::new()),
        };
        let answer = match sub.as_str() {
            "" | "help" => Ok(replies::help(&c.command).ephemeral()),
            "pending" | "list" => self.pending_answer().await,
            "show" => self.show_answer(&rest).await,
            "approve" | "reject" => {
                let action = if sub == "approve" {
                    DecisionAction::Approve
                } else {
                    DecisionAction::Reject
                };
                return self.decide_command(&c, action, &rest).await;
            }
            other => {
                let mut help = replies::help(&c.command);
                help.mrkdwn = format!(
                    "I don't know `{}`.\n{}",
                    hitl_cards::slack::escape(other),
                    help.mrkdwn
                );
                Ok(help.ephemeral())
            }
        };
        answer.unwrap_or_else(|e| {
            tracing::error!(error = %e, command = %sub, "slash command failed");
            Feedback::text(":warning: Something went wrong; please try again.".to_owned())
                .ephemeral()
        })
    }

    async fn pending_answer(&self) -> Result<Value, AdapterError> {
        let svc = self.service()?;
        let mut records = svc.list(Some(Status::Pending), PENDING_LIMIT).await?;
        // Soonest deadline first: those need someone first.
        records.sort_by_key(|r| r.expires_at);
        Ok(ephemeral(pending_list_message(
            &records,
            svc.now(),
            &self.templates,
        )?))
    }

    async fn show_answer(&self, rest: &str) -> Result<Value, AdapterError> {
        let Some(id) = rest.split_whitespace().next() else {
            return Ok(Feedback::text("Which one? `show ID`".to_owned()).ephemeral());
        };
        let svc = self.service()?;
        match svc.get(id).await {
            Ok(record) => Ok(ephemeral(card_message(
                &record,
                svc.now(),
                &self.templates,
            )?)),
            Err(e) => Ok(replies::refusal(id, &e).ephemeral()),
        }
    }

    async fn decide_command(
        self: &Arc<Self>,
        c: &Command,
        action: DecisionAction,
        rest: &str,
    ) -> Value {
        let (id, reason) = match rest.split_once(char::is_whitespace) {
            Some((id, r)) => (id.to_owned(), Some(r.trim().to_owned())),
            None => (rest.to_owned(), None),
        };
        if id.is_empty() {
            let verb = match action {
                DecisionAction::Approve => "approve ID [reason]",
                DecisionAction::Reject => "reject ID reason",
            };
            return Feedback::text(format!("Which one? `{verb}`")).ephemeral();
        }
        let reason = reason.filter(|r| !r.is_empty());
        let slack = self.clone();
        let user = c.user_id.clone();
        let task_id = id.clone();
        let mut task = tokio::spawn(async move {
            let result = slack.decide(&task_id, &user, action, reason).await;
            match result {
                Ok(record) => replies::recorded(action, &record),
                Err(e) => feedback_for(&task_id, &e),
            }
        });
        match tokio::time::timeout(super::ACK_DEADLINE, &mut task).await {
            Ok(Ok(feedback)) => feedback.ephemeral(),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "slash command task failed");
                Feedback::text(":warning: Something went wrong; please try again.".to_owned())
                    .ephemeral()
            }
            Err(_) => {
                // Slack needs an answer now; the result follows when it is in.
                let slack = self.clone();
                let place = Place {
                    channel: Some(c.channel_id.clone()),
                    thread_ts: None,
                };
                let user = c.user_id.clone();
                spawn_followup("answer a slow slash command", async move {
                    if let Ok(feedback) = task.await {
                        slack.tell(&place, &user, &feedback).await?;
                    }
                    Ok(())
                });
                Feedback::text(format!(
                    ":hourglass_flowing_sand: Working on `{}`…",
                    hitl_cards::slack::escape(&id)
                ))
                .ephemeral()
            }
        }
    }
}

/// A rendered card as an ephemeral answer.
fn ephemeral(mut message: Value) -> Value {
    message["response_type"] = Value::from("ephemeral");
    message
}
