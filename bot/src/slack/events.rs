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
use hitl_wire::api::DecisionAction;
use serde_json::json;

use super::interactions::{Place, feedback_for};
use super::payloads::{Event, EventCallback, EventEnvelope, MessageEvent, unescape_text};
use super::replies::{self, Feedback};
use super::verify::Verified;
use super::{AdapterError, PLATFORM, Slack, spawn_followup, within_deadline};
use crate::api::error::AppError;

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

/// A reply that decides: the action, and the words after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub action: DecisionAction,
    pub rest: String,
}

/// `approve …` / `reject …` (any case, an optional trailing `.` or `!`).
pub(crate) fn parse_reply(text: &str) -> Option<Reply> {
    let text = unescape_text(text.trim());
    let (first, rest) = match text.split_once(char::is_whitespace) {
        Some((f, r)) => (f, r.trim()),
        None => (text.as_str(), ""),
    };
    let action = match first
        .trim_end_matches(['.', '!'])
        .to_ascii_lowercase()
        .as_str()
    {
        "approve" => DecisionAction::Approve,
        "reject" => DecisionAction::Reject,
        _ => return None,
    };
    Some(Reply {
        action,
        rest: rest.to_owned(),
    })
}

impl Slack {
    /// Handles one delivered event, once per `event_id`. Errs only when the
    /// delivery cannot be recorded (Slack will retry).
    pub async fn on_event(self: &Arc<Self>, cb: EventCallback) -> Result<(), AppError> {
        let svc = self.service().map_err(|e| {
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
        let svc = self.service()?;
        let ids = svc
            .requests_in_thread(PLATFORM, &channel, &thread_ts)
            .await?;
        if ids.is_empty() {
            return Ok(()); // not one of our threads
        }
        let place = Place {
            channel: Some(channel),
            thread_ts: Some(thread_ts),
        };
        // `approve ID …` names one of the thread's requests.
        let (named, rest) = match reply.rest.split_once(char::is_whitespace) {
            Some((w, r)) => (w, r.trim()),
            None => (reply.rest.as_str(), ""),
        };
        let (id, reason) = match ids.iter().find(|id| id.eq_ignore_ascii_case(named)) {
            Some(id) => (id.clone(), rest.to_owned()),
            None => {
                let mut pending = Vec::new();
                for id in &ids {
                    if !svc.get(id).await?.status.is_final() {
                        pending.push(id.clone());
                    }
                }
                match (pending.as_slice(), ids.as_slice()) {
                    ([one], _) | ([], [one]) => (one.clone(), reply.rest.clone()),
                    ([], _) => {
                        let text = "Every request in this thread is already decided.".to_owned();
                        return self.tell(&place, &user, &Feedback::text(text)).await;
                    }
                    (many, _) => {
                        let list = many
                            .iter()
                            .map(|id| format!("`{id}`"))
                            .collect::<Vec<_>>()
                            .join(", ");
                        let text = format!(
                            "{} requests are waiting in this thread ({list}); say which: `approve ID` or `reject ID reason`.",
                            many.len()
                        );
                        return self.tell(&place, &user, &Feedback::text(text)).await;
                    }
                }
            }
        };
        let reason = Some(reason).filter(|r| !r.is_empty());
        let action = reply.action;
        let result = self.decide(&id, &user, action, reason).await;
        let slack = self.clone();
        spawn_followup("answer a thread reply", async move {
            match result {
                Ok(record) if !record.status.is_final() => {
                    slack
                        .tell(&place, &user, &replies::recorded(action, &record))
                        .await?;
                    slack.refresh_card(&record).await
                }
                // The notifier replies in the thread with the outcome.
                Ok(_) => Ok(()),
                Err(e) => slack.tell(&place, &user, &feedback_for(&id, &e)).await,
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
