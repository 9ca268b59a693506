//! `/approvals` (`POST /slack/commands`, Socket Mode `slash_commands`):
//! `pending`, `show ID`, `approve ID [reason]`, `reject ID reason`, `help`.
//! Every answer is ephemeral: only the person who typed it sees it. The
//! grammar and what each command does are the chat seam's
//! ([`crate::chat::run_command`]); this is Slack's rendering of it.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::Value;

use super::Slack;
use super::interactions::Place;
use super::payloads::Command;
use super::verify::Verified;
use crate::api::error::AppError;
use crate::chat;

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
        let place = Place {
            channel: Some(c.channel_id.clone()),
            thread_ts: None,
            on_card: false,
        };
        let command = chat::parse_command(&c.text);
        let answer = chat::run_command(self, place, &c.user_id, command).await;
        ephemeral(self.message_for(&answer, &c.command))
    }
}

/// A message as an ephemeral answer: only the person who asked sees it.
fn ephemeral(mut message: Value) -> Value {
    message["response_type"] = Value::from("ephemeral");
    message
}
