//! Slack as a [`ChatPlatform`]: who a Slack user is, and how the seam's
//! answers and card updates look in Slack (mrkdwn, Block Kit, ephemeral
//! messages, `chat.update`, thread replies).

use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use hitl_cards::slack::{
    card_message, decided_message, escape, pending_list_message, request_message,
};
use hitl_wire::{ApprovalRecord, Status};
use serde_json::Value;

use super::interactions::Place;
use super::replies::{self, Feedback};
use super::{ACK_DEADLINE, AdapterError, PLATFORM, Slack};
use crate::chat::{Answer, ChatPlatform, KeyedLocks};
use crate::lifecycle::Refusal;
use crate::service::{ApprovalService, Decider, ServiceError};
use crate::store::MessageRef;

/// What `/approvals` is called when no command names it (answers in a thread).
const COMMAND: &str = "/approvals";

#[async_trait]
impl ChatPlatform for Slack {
    type Place = Place;
    type Error = AdapterError;

    fn name(&self) -> &'static str {
        PLATFORM
    }

    fn deadline(&self) -> Duration {
        ACK_DEADLINE
    }

    fn service(&self) -> Option<Arc<ApprovalService>> {
        self.service.get().and_then(Weak::upgrade)
    }

    fn cards(&self) -> &KeyedLocks {
        &self.locks
    }

    async fn decider(&self, record: &ApprovalRecord, user: &str) -> Decider {
        self.directory.decider(&self.web, record, user).await
    }

    /// Full members of the bot's workspace in the channel the card is in.
    async fn default_decider(
        &self,
        record: &ApprovalRecord,
        user: &str,
        place: Option<&Place>,
    ) -> Result<(), ServiceError> {
        let svc = crate::chat::service_of(self)?;
        let at = svc.message_ref(&record.request_id, PLATFORM).await?;
        let channel = at.as_ref().map(|a| a.conversation.as_str());
        let seen_in_channel = match (place, channel) {
            (Some(p), Some(c)) => p.on_card && p.channel.as_deref() == Some(c),
            _ => false,
        };
        self.directory
            .default_decider(&self.web, channel, user, seen_in_channel)
            .await
            .map_err(|e| {
                ServiceError::Refused(Refusal::NotADecider {
                    approver: user.to_owned(),
                    why: e.to_string(),
                })
            })
    }

    async fn tell(&self, place: &Place, user: &str, answer: &Answer) -> Result<(), AdapterError> {
        let message = self.message_for(answer, COMMAND);
        self.post_ephemeral(place, user, &message).await
    }

    async fn post_card(&self, record: &ApprovalRecord) -> Result<MessageRef, AdapterError> {
        Slack::post_card(self, record).await
    }

    async fn update_card(
        &self,
        at: &MessageRef,
        record: &ApprovalRecord,
    ) -> Result<(), AdapterError> {
        let now = self.attached()?.now();
        let message = if record.status == Status::Pending {
            request_message(record, now, &self.templates)?
        } else {
            decided_message(record, now, &self.templates)?
        };
        self.web
            .update_message(&at.conversation, &at.message, &message)
            .await?;
        Ok(())
    }

    async fn reply_in_thread(
        &self,
        at: &MessageRef,
        record: &ApprovalRecord,
    ) -> Result<(), AdapterError> {
        self.web
            .post_message(
                &at.conversation,
                Some(&at.thread),
                &replies::outcome(record),
            )
            .await?;
        Ok(())
    }
}

impl Slack {
    /// `answer` as a Slack message body; `command` is the slash command's
    /// name, for the help text.
    pub(crate) fn message_for(&self, answer: &Answer, command: &str) -> Value {
        match self.render(answer, command) {
            Ok(message) => message,
            Err(e) => {
                tracing::error!(error = %e, "cannot render a Slack answer");
                failed().message()
            }
        }
    }

    fn render(&self, answer: &Answer, command: &str) -> Result<Value, AdapterError> {
        let feedback = match answer {
            Answer::Pending(records) => {
                let now = self.attached()?.now();
                return Ok(pending_list_message(records, now, &self.templates)?);
            }
            Answer::Show(record) => {
                let now = self.attached()?.now();
                return Ok(card_message(record, now, &self.templates)?);
            }
            Answer::Help => replies::help(command),
            Answer::Unknown(word) => {
                let mut help = replies::help(command);
                help.mrkdwn = format!("I don't know `{}`.\n{}", escape(word), help.mrkdwn);
                help
            }
            Answer::WhichOne { usage } => Feedback::text(format!("Which one? `{usage}`")),
            Answer::Recorded { action, record } => replies::recorded(*action, record),
            Answer::Refused { id, error } => replies::refusal(id, error),
            Answer::AllDecided => {
                Feedback::text("Every request in this thread is already decided.".to_owned())
            }
            Answer::Ambiguous(ids) => {
                let list = ids
                    .iter()
                    .map(|id| format!("`{}`", escape(id)))
                    .collect::<Vec<_>>()
                    .join(", ");
                Feedback::text(format!(
                    "{} requests are waiting in this thread ({list}); say which: `approve ID` or `reject ID reason`.",
                    ids.len()
                ))
            }
            Answer::Working(id) => Feedback::text(format!(
                ":hourglass_flowing_sand: Working on `{}`…",
                escape(id)
            )),
            Answer::Failed => failed(),
        };
        Ok(feedback.message())
    }

    /// An ephemeral message to `user` where they clicked or replied.
    pub(crate) async fn post_ephemeral(
        &self,
        place: &Place,
        user: &str,
        message: &Value,
    ) -> Result<(), AdapterError> {
        let Some(channel) = &place.channel else {
            tracing::debug!(user, "no channel to answer in");
            return Ok(());
        };
        self.web
            .post_ephemeral(channel, user, place.thread_ts.as_deref(), message)
            .await?;
        Ok(())
    }
}

fn failed() -> Feedback {
    Feedback::text(":warning: Something went wrong; please try again.".to_owned())
}
