//! `POST /teams/webhook`: text commands through a Teams outgoing webhook,
//! once [`WebhookVerified`] has checked the HMAC. Such a webhook answers in
//! its HTTP body and cannot carry buttons, so every answer is text.
//!
//! Anyone whose message carries a valid HMAC may list (`pending`) and look
//! (`show ID`). Deciding (`approve ID`, `reject ID reason`) is refused
//! unless the sender's AAD object id is on TEAMS_WEBHOOK_DECIDERS (empty by
//! default: nobody decides this way), because the webhook's HMAC proves
//! only that Teams relayed the message, and the sender's id inside it is
//! what Teams put there. A replayed activity (same id) is refused.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use hitl_wire::api::DecisionAction;
use serde_json::{Value, json};

use super::activity::Activity;
use super::messages::{DUPLICATE_WINDOW, TeamsState};
use super::platform::{Place, Teams, answer_text, pending_text};
use super::webhook::WebhookVerified;
use crate::api::error::AppError;
use crate::chat::{self, Answer, ChatCommand};

/// `POST /teams/webhook`.
pub async fn endpoint(
    State(state): State<TeamsState>,
    req: WebhookVerified<Activity>,
) -> Result<Json<Value>, AppError> {
    let teams = state.teams;
    let svc = teams.attached().map_err(|_| {
        AppError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the approval service is starting; try again",
        )
    })?;
    let activity = req.activity;
    if let Some(id) = activity.id.as_deref().filter(|i| !i.is_empty()) {
        let key = format!(
            "{}:webhook:{}:{id}",
            super::PLATFORM,
            activity.conversation.id
        );
        if !svc.claim_once(&key, DUPLICATE_WINDOW).await? {
            return Err(AppError::unauthorized(
                "this webhook activity was already received (replay refused)",
            ));
        }
    }
    let text = teams.on_webhook_command(&activity).await;
    Ok(Json(
        json!({ "type": "message", "textFormat": "markdown", "text": text }),
    ))
}

impl Teams {
    /// The answer to one webhook message, as Teams Markdown.
    pub async fn on_webhook_command(self: &Arc<Self>, activity: &Activity) -> String {
        let command = activity.chat_command();
        let user = activity
            .from
            .aad_object_id
            .clone()
            .filter(|u| !u.trim().is_empty());
        if let ChatCommand::Decide { action, id, .. } = &command {
            let allowed = match (&user, self.attached()) {
                (Some(u), Ok(svc)) => {
                    let who = format!("{}:{u}", super::PLATFORM);
                    self.webhook_deciders
                        .iter()
                        .any(|d| svc.people().same(d, &who))
                }
                _ => false,
            };
            if !allowed {
                let verb = match action {
                    DecisionAction::Approve => "approve",
                    DecisionAction::Reject => "reject",
                };
                let id = id.as_deref().unwrap_or("ID");
                return format!(
                    "Deciding through this webhook is off for you; use the bot's card or chat to {verb} `{}`.",
                    id.replace('`', "'")
                );
            }
        }
        let place = Place {
            service_url: activity.service_url.clone(),
            conversation_id: activity.conversation.id.clone(),
            reply_to: None,
        };
        let user = user.unwrap_or_default();
        match chat::run_command(self, place, &user, command).await {
            Answer::Pending(records) => pending_text(&records),
            other => answer_text(&other),
        }
    }
}
