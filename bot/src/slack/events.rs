//! The Events API (`POST /slack/events`, Socket Mode `events_api`):
//! `url_verification`, and decisions replied in a request's thread.
//!
//! An allowed approver replying `approve [reason]` or `reject <reason>` in
//! the thread of a request card decides it. In a session thread with several
//! requests waiting, the reply names one: `approve ID`. Other messages are
//! conversation and are left alone. Slack redelivers an event it thinks was
//! not received (`X-Slack-Retry-Num`); each `event_id` is handled once,
//! whatever the number of deliveries, restarts included.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::interactions::Place;
use super::payloads::{Event, EventCallback, EventEnvelope, MessageEvent, unescape_text};
use super::verify::Verified;
use super::{AdapterError, PLATFORM, Slack, within_deadline};
use crate::api::error::AppError;
use crate::chat::{self, Reply};

/// How long a delivered event id is remembered; Slack retries within minutes.
const EVENT_ID_TTL: Duration = Duration::from_secs(3600);

/// `POST /slack/events`.
pub async fn endpoint(
    State(slack): State<Arc<Slack>>,
    req: Verified<EventEnvelope>,
) -> Result<Response, AppError> {
    match req.body {
        EventEnvelope::UrlVerification { challenge } => {
            Ok(Json(json!({ "challenge": challenge })).into_response())
        }
        EventEnvelope::EventCallback(cb) => {
            if let Some(n) = req.retry_num {
                tracing::debug!(event_id = %cb.event_id, retry = n, "Slack redelivered an event");
            }
            slack.on_event(cb).await?;
            Ok(StatusCode::OK.into_response())
        }
        EventEnvelope::Other => Ok(StatusCode::OK.into_response()),
    }
}

/// A reply that decides, in the chat grammar, once Slack's escapes are undone.
pub(crate) fn parse_reply(text: &str) -> Option<Reply> {
    chat::parse_reply(&unescape_text(text.trim()))
}

impl Slack {
    /// Handles one delivered event, once per `event_id`. Errs only when the
    /// delivery cannot be recorded (Slack will retry).
    pub async fn on_event(self: &Arc<Self>, cb: EventCallback) -> Result<(), AppError> {
        let svc = self.attached().map_err(|e| {
            tracing::error!(error = %e, "Slack event before the service started");
            AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the service is starting",
            )
        })?;
        let key = format!("{PLATFORM}:event:{}", cb.event_id);
        if !svc.claim_once(&key, EVENT_ID_TTL).await? {
            tracing::debug!(event_id = %cb.event_id, "event already handled");
            return Ok(());
        }
        if let Event::Message(m) = cb.event {
            let slack = self.clone();
            within_deadline(async move {
                if let Err(e) = slack.on_message(m).await {
                    tracing::warn!(error = %e, "thread reply not handled");
                }
            })
            .await;
        }
        Ok(())
    }

    async fn on_message(self: &Arc<Self>, m: MessageEvent) -> Result<(), AdapterError> {
        // People only: no bots (ourselves included), edits or joins.
        if m.bot_id.is_some() || m.subtype.is_some() {
            return Ok(());
        }
        let (Some(user), Some(channel), Some(thread_ts), Some(text)) =
            (m.user, m.channel, m.thread_ts, m.text)
        else {
            return Ok(());
        };
        if m.ts.as_deref() == Some(thread_ts.as_str()) {
            return Ok(()); // the thread's own first message
        }
        let Some(reply) = parse_reply(&text) else {
            return Ok(());
        };
        let place = Place {
            channel: Some(channel.clone()),
            thread_ts: Some(thread_ts.clone()),
            on_card: true,
        };
        chat::on_thread_reply(self, &channel, &thread_ts, place, &user, reply).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hitl_wire::api::DecisionAction;

    #[test]
    fn replies_that_decide() {
        let r = parse_reply("Approve").unwrap();
        assert_eq!(r.action, DecisionAction::Approve);
        assert_eq!(r.rest, "");
        let r = parse_reply("  reject   wrong &lt;host&gt;  ").unwrap();
        assert_eq!(r.action, DecisionAction::Reject);
        assert_eq!(r.rest, "wrong <host>");
        assert_eq!(
            parse_reply("approve!").unwrap().action,
            DecisionAction::Approve
        );
        assert!(parse_reply("approved? not sure").is_none());
        assert!(parse_reply("I'd approve this").is_none());
        assert!(parse_reply("").is_none());
    }
}
