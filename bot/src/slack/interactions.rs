//! Clicks and modals (`POST /slack/interactions`, Socket Mode `interactive`).
//!
//! - Approve: recorded at once (before Slack is answered, unless a user
//!   group lookup makes it slow); the card is updated by the notifier when
//!   the request is final, or refreshed here after a quorum vote.
//! - Reject: opens a modal asking for the reason (`views.open`, with the
//!   click's `trigger_id`, which lasts 3 seconds); its submission records
//!   the rejection, or shows why not inside the modal.
//! - Show the full request (on a card that cut its arguments): a modal
//!   with every argument, redacted.
//! - A person who may not decide, the requester approving their own
//!   request, a second click: an ephemeral message says so, and nothing
//!   changes.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hitl_cards::slack::{
    APPROVE_ACTION_ID, REJECT_ACTION_ID, SHOW_FULL_ACTION_ID, full_request_view,
};
use hitl_wire::api::DecisionAction;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::payloads::{BlockActions, Interaction, ViewSubmission};
use super::replies::{self, Feedback, REASON_ACTION_ID, REASON_BLOCK_ID, REJECT_MODAL_ID};
use super::verify::Verified;
use super::{AdapterError, Slack, spawn_followup, within_deadline};
use crate::api::error::AppError;
use crate::chat;
use crate::service::ServiceError;

/// What Slack is answered.
#[derive(Debug, Clone, PartialEq)]
pub enum InteractionReply {
    /// An empty 200: received (a modal closes).
    Ack,
    /// A modal stays open with these errors, keyed by input `block_id`.
    ViewErrors(Value),
}

/// `POST /slack/interactions`.
pub async fn endpoint(
    State(slack): State<Arc<Slack>>,
    req: Verified<Interaction>,
) -> Result<Response, AppError> {
    Ok(match slack.on_interaction(req.body).await {
        InteractionReply::Ack => StatusCode::OK.into_response(),
        InteractionReply::ViewErrors(errors) => {
            Json(json!({"response_action": "errors", "errors": errors})).into_response()
        }
    })
}

/// Where a person acted: for ephemeral answers, and for who may decide.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Place {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
    /// On a message (a card's button, a reply in its thread) rather than
    /// in a command: in `channel`, the person can see the card there.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub on_card: bool,
}

/// What the reject modal carries back (`private_metadata`).
#[derive(Debug, Serialize, Deserialize)]
struct ModalMeta {
    id: String,
    #[serde(flatten)]
    place: Place,
}

impl Slack {
    /// Handles one interaction and says what to answer Slack.
    pub async fn on_interaction(self: &Arc<Self>, interaction: Interaction) -> InteractionReply {
        match interaction {
            Interaction::BlockActions(b) => {
                self.on_block_actions(b).await;
                InteractionReply::Ack
            }
            Interaction::ViewSubmission(v) => self.on_view_submission(v).await,
            Interaction::Other => InteractionReply::Ack,
        }
    }

    async fn on_block_actions(self: &Arc<Self>, b: BlockActions) {
        let place = Place {
            channel: b.channel_id().map(str::to_owned),
            thread_ts: b.thread_ts().map(str::to_owned),
            on_card: true,
        };
        for action in &b.actions {
            let Some(id) = action.value.clone().filter(|v| !v.is_empty()) else {
                continue;
            };
            let user = b.user.id.clone();
            if action.action_id == APPROVE_ACTION_ID {
                let slack = self.clone();
                let place = place.clone();
                within_deadline(async move {
                    let result = chat::decide_at(
                        slack.as_ref(),
                        Some(&place),
                        &id,
                        &user,
                        DecisionAction::Approve,
                        None,
                    )
                    .await;
                    slack.after_click(&id, &user, place, DecisionAction::Approve, result);
                })
                .await;
            } else if action.action_id == SHOW_FULL_ACTION_ID {
                let slack = self.clone();
                let trigger = b.trigger_id.clone();
                let place = place.clone();
                spawn_followup("open the full request", async move {
                    slack.open_full_request(&id, &user, &trigger, place).await
                });
            } else if action.action_id == REJECT_ACTION_ID {
                let slack = self.clone();
                let trigger = b.trigger_id.clone();
                let place = place.clone();
                spawn_followup("open the reject modal", async move {
                    slack.open_reject_modal(&id, &user, &trigger, place).await
                });
            }
        }
    }

    /// What follows a click: a refusal or a vote is said to the person;
    /// a final decision shows on the card (the notifier updates it).
    fn after_click(
        self: &Arc<Self>,
        id: &str,
        user: &str,
        place: Place,
        action: DecisionAction,
        result: Result<hitl_wire::ApprovalRecord, ServiceError>,
    ) {
        let slack = self.clone();
        let user = user.to_owned();
        let f = chat::follow_up(id, action, result);
        spawn_followup("answer a click", async move {
            chat::decision::run_follow_up(slack.as_ref(), &place, &user, f).await
        });
    }

    async fn open_reject_modal(
        self: &Arc<Self>,
        id: &str,
        user: &str,
        trigger_id: &str,
        place: Place,
    ) -> Result<(), AdapterError> {
        let svc = self.attached()?;
        let record = match svc.get(id).await {
            Ok(r) => r,
            Err(e) => return self.say(&place, user, &replies::refusal(id, &e)).await,
        };
        if record.status.is_final() {
            return self
                .say(&place, user, &replies::already_final(&record))
                .await;
        }
        if let Err(refused) =
            chat::check_decider(self.as_ref(), &svc, &record, user, Some(&place)).await
        {
            return self
                .say(&place, user, &replies::refusal(id, &refused))
                .await;
        }
        let meta = serde_json::to_string(&ModalMeta {
            id: id.to_owned(),
            place,
        })
        .unwrap_or_default();
        let view = replies::reject_modal(&record, &meta);
        self.web.open_view(trigger_id, &view).await?;
        Ok(())
    }

    /// The full, redacted arguments of a card that had to cut them, in a
    /// modal (opened at once: the click's `trigger_id` lasts 3 seconds).
    /// Whoever sees the card sees this; it decides nothing.
    async fn open_full_request(
        self: &Arc<Self>,
        id: &str,
        user: &str,
        trigger_id: &str,
        place: Place,
    ) -> Result<(), AdapterError> {
        let svc = self.attached()?;
        match svc.get(id).await {
            Ok(record) => {
                self.web
                    .open_view(trigger_id, &full_request_view(&record))
                    .await?;
                Ok(())
            }
            Err(e) => self.say(&place, user, &replies::refusal(id, &e)).await,
        }
    }

    async fn on_view_submission(self: &Arc<Self>, v: ViewSubmission) -> InteractionReply {
        if v.view.callback_id.as_deref() != Some(REJECT_MODAL_ID) {
            return InteractionReply::Ack;
        }
        let Some(meta) = v
            .view
            .private_metadata
            .as_deref()
            .and_then(|m| serde_json::from_str::<ModalMeta>(m).ok())
        else {
            return errors("This form is out of date; click Reject on the request again.");
        };
        let reason = v
            .view
            .input(REASON_BLOCK_ID, REASON_ACTION_ID)
            .map(str::to_owned);
        let user = v.user.id.clone();
        let slack = self.clone();
        let id = meta.id.clone();
        let place = meta.place.clone();
        let mut task = tokio::spawn(async move {
            chat::decide_at(
                slack.as_ref(),
                Some(&place),
                &id,
                &user,
                DecisionAction::Reject,
                reason,
            )
            .await
        });
        match tokio::time::timeout(super::ACK_DEADLINE, &mut task).await {
            Ok(Ok(Ok(_))) => InteractionReply::Ack,
            Ok(Ok(Err(e))) => errors(&replies::refusal(&meta.id, &e).plain),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "reject task failed");
                errors("Your decision could not be recorded, so nothing changed; please try again.")
            }
            Err(_) => {
                // Slow: close the modal now and say how it went where they clicked.
                tracing::warn!(approval_id = %meta.id, "rejection is slow; closing the modal first");
                let slack = self.clone();
                let user = v.user.id.clone();
                spawn_followup("answer a slow rejection", async move {
                    match task.await {
                        Ok(Err(e)) => {
                            slack
                                .say(&meta.place, &user, &replies::refusal(&meta.id, &e))
                                .await
                        }
                        _ => Ok(()),
                    }
                });
                InteractionReply::Ack
            }
        }
    }

    /// An ephemeral message to `user` where they clicked or replied.
    pub(crate) async fn say(
        &self,
        place: &Place,
        user: &str,
        feedback: &Feedback,
    ) -> Result<(), AdapterError> {
        self.post_ephemeral(place, user, &feedback.message()).await
    }
}

fn errors(message: &str) -> InteractionReply {
    InteractionReply::ViewErrors(json!({ REASON_BLOCK_ID: message }))
}
