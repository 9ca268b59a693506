//! `POST /teams/messages`: what the bot does with each Bot Framework
//! activity, once [`Verified`] has checked its token.
//!
//! - `invoke` `adaptiveCard/action`: Approve or Reject (`Action.Execute`)
//!   is recorded through the service and answered in the HTTP body with
//!   the refreshed card for the person who clicked, or a message when
//!   nothing changed (not an approver, their own request, decided already);
//!   a refresh gets the card as that person may see it: live buttons only
//!   for someone who may decide. Everyone else's card is replaced by the
//!   notifier. Answered within the invoke deadline; slower work finishes
//!   after.
//! - `message`: a command (`pending`, `show ID`, `approve ID`, `reject ID
//!   reason`, `help`, the bot's @mention stripped), or an `Action.Submit`
//!   from an older client carrying a button's data; answered by a reply in
//!   the conversation.
//! - `conversationUpdate`, `installationUpdate`: the conversation is
//!   remembered for proactive posts ([`super::references`]).
//! - Anything else: 200, ignored. A redelivered activity (same id in the
//!   same conversation) changes nothing.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hitl_cards::teams::{VERB_APPROVE, VERB_REFRESH, VERB_REJECT, View};
use hitl_wire::api::DecisionAction;
use hitl_wire::{ApprovalRecord, Status};
use serde_json::Value;

use super::activity::{
    Activity, ActivityType, CardAction, invoke_card_response, invoke_message_response,
};
use super::platform::{Place, Teams, answer_text, refusal};
use super::references;
use super::verify::Verified;
use super::{TeamsAuth, WebhookAuth};
use crate::api::error::AppError;
use crate::chat::deadline::{Timely, answer_within, spawn_followup};
use crate::chat::{self, Answer, ChatPlatform};
use crate::service::ServiceError;

/// How long a redelivered activity id is remembered.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// The state of the Teams routes.
#[derive(Clone)]
pub struct TeamsState {
    pub teams: Arc<Teams>,
}

impl FromRef<TeamsState> for Arc<TeamsAuth> {
    fn from_ref(s: &TeamsState) -> Self {
        s.teams.auth.clone()
    }
}

impl FromRef<TeamsState> for Arc<WebhookAuth> {
    fn from_ref(s: &TeamsState) -> Self {
        s.teams.webhook.clone()
    }
}

/// `POST /teams/messages`.
pub async fn endpoint(
    State(state): State<TeamsState>,
    req: Verified<Activity>,
) -> Result<Response, AppError> {
    let teams = state.teams;
    let svc = teams.attached().map_err(|e| {
        tracing::error!(error = %e, "Teams activity before the service runs");
        AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the approval service is starting; try again",
        )
    })?;
    let first = match req.once_key() {
        Some(key) => svc
            .claim_once(key, DUPLICATE_WINDOW)
            .await
            .map_err(AppError::from)?,
        None => true,
    };
    let activity = req.activity;
    references::remember_user(&svc, &activity).await;
    if !first {
        tracing::info!(
            activity = activity.id.as_deref().unwrap_or(""),
            "duplicate Teams activity ignored"
        );
        // A repeated invoke still needs a card in its answer: the card as
        // it stands, which the first delivery already changed.
        if let Some(action) = activity.card_action() {
            return Ok(Json(teams.current_card(&activity, &action).await).into_response());
        }
        return Ok(StatusCode::OK.into_response());
    }
    Ok(match activity.kind {
        ActivityType::Invoke => match activity.card_action() {
            Some(action) => Json(teams.on_card_action(&activity, action).await).into_response(),
            None => StatusCode::OK.into_response(),
        },
        ActivityType::Message => {
            teams.on_message(activity).await;
            StatusCode::OK.into_response()
        }
        ActivityType::ConversationUpdate | ActivityType::InstallationUpdate => {
            if let Err(e) = references::remember(&svc, &activity).await {
                tracing::warn!(error = %e, "cannot remember the Teams conversation");
            }
            StatusCode::OK.into_response()
        }
        _ => StatusCode::OK.into_response(),
    })
}

/// The Teams user behind an activity: their AAD object id. Teams sends it
/// for every user in a tenant; without it nobody can be held to a decision.
fn user_of(activity: &Activity) -> Option<String> {
    activity
        .from
        .aad_object_id
        .as_deref()
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}

fn place_of(activity: &Activity) -> Place {
    Place {
        service_url: activity.service_url.clone(),
        conversation_id: activity.conversation.id.clone(),
        reply_to: activity.id.clone(),
    }
}

fn decision_of(action: &CardAction) -> Option<DecisionAction> {
    let word = action.decision.as_deref().or(action.verb.as_deref())?;
    match word {
        VERB_APPROVE => Some(DecisionAction::Approve),
        VERB_REJECT => Some(DecisionAction::Reject),
        _ => None,
    }
}

impl Teams {
    /// An `adaptiveCard/action` invoke: a click or a refresh. The answer is
    /// the invoke response body.
    pub async fn on_card_action(
        self: &Arc<Self>,
        activity: &Activity,
        action: CardAction,
    ) -> Value {
        let Some(id) = action.request_id.clone() else {
            return invoke_message_response("This card is out of date: it names no request.");
        };
        let Some(user) = user_of(activity) else {
            return invoke_message_response(
                "Teams did not say who you are (no AAD object id), so nothing changed.",
            );
        };
        if action.verb.as_deref() == Some(VERB_REFRESH) {
            return self.refreshed(&id, &user, None).await;
        }
        let Some(decision) = decision_of(&action) else {
            return invoke_message_response("This card's button is not one the bot knows.");
        };
        let teams = self.clone();
        let (task_id, who, reason) = (id.clone(), user.clone(), action.reason.clone());
        let work = async move {
            let result = chat::decide(teams.as_ref(), &task_id, &who, decision, reason).await;
            teams.after_decision(&task_id, &who, decision, result).await
        };
        match answer_within(self.deadline(), work).await {
            Timely::InTime(answer) => answer,
            Timely::Failed => invoke_message_response(&answer_text(&Answer::Failed)),
            Timely::Late(_) => invoke_message_response(&answer_text(&Answer::Working(id))),
        }
    }

    /// The invoke answer after a decision: the card as it now stands, with
    /// a line for the person; or, when nothing changed, why.
    async fn after_decision(
        &self,
        id: &str,
        user: &str,
        action: DecisionAction,
        result: Result<ApprovalRecord, ServiceError>,
    ) -> Value {
        match result {
            Ok(record) => {
                let note = match (action, record.status) {
                    (_, Status::Pending) => format!(
                        "Your approval is recorded: {} of {} so far.",
                        record.approvals.len(),
                        record.quorum
                    ),
                    (DecisionAction::Approve, _) => "You approved this request.".to_owned(),
                    (DecisionAction::Reject, _) => "You rejected this request.".to_owned(),
                };
                self.card_response(&record, user, Some(&note)).await
            }
            Err(error) => invoke_message_response(&refusal(id, &error)),
        }
    }

    /// The card for `user`: buttons if they may still decide, the status
    /// otherwise.
    async fn card_response(
        &self,
        record: &ApprovalRecord,
        user: &str,
        note: Option<&str>,
    ) -> Value {
        let view = if self.may_decide_now(record, user).await {
            View::Decide
        } else {
            View::Status
        };
        match self.card_for(record, view, note) {
            Ok(card) => invoke_card_response(card),
            Err(e) => {
                tracing::error!(error = %e, approval_id = %record.request_id, "cannot render a Teams card");
                invoke_message_response(&answer_text(&Answer::Failed))
            }
        }
    }

    async fn refreshed(&self, id: &str, user: &str, note: Option<&str>) -> Value {
        let record = match self.attached() {
            Ok(svc) => svc.get(id).await,
            Err(_) => return invoke_message_response(&answer_text(&Answer::Failed)),
        };
        match record {
            Ok(record) => self.card_response(&record, user, note).await,
            Err(e) => invoke_message_response(&refusal(id, &e)),
        }
    }

    /// A redelivered invoke: the card as it stands, nothing decided again.
    async fn current_card(&self, activity: &Activity, action: &CardAction) -> Value {
        match (&action.request_id, user_of(activity)) {
            (Some(id), Some(user)) => self.refreshed(id, &user, None).await,
            _ => invoke_message_response("Already handled."),
        }
    }

    /// A message to the bot: an `Action.Submit`'s data, or a command. The
    /// answer is a reply in the conversation, sent after Teams is answered.
    pub async fn on_message(self: &Arc<Self>, activity: Activity) {
        let place = place_of(&activity);
        let Some(user) = user_of(&activity) else {
            tracing::info!("Teams message without an AAD object id ignored");
            return;
        };
        let answer = match activity.submitted_action() {
            Some(action) => {
                let (Some(id), Some(decision)) = (action.request_id.clone(), decision_of(&action))
                else {
                    return;
                };
                let result = chat::decide(self.as_ref(), &id, &user, decision, action.reason).await;
                match result {
                    Ok(record) => Answer::Recorded {
                        action: decision,
                        record,
                    },
                    Err(error) => Answer::Refused { id, error },
                }
            }
            None => chat::run_command(self, place.clone(), &user, activity.chat_command()).await,
        };
        let teams = self.clone();
        spawn_followup("answer a Teams message", async move {
            teams.tell(&place, &user, &answer).await
        });
    }
}
