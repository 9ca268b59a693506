//! Running a [`ChatCommand`] for a platform's user into an [`Answer`],
//! within the platform's deadline: a decision that takes longer is
//! answered "working on it", and its result is told when it is in.

use std::sync::Arc;

use hitl_wire::Status;
use hitl_wire::api::DecisionAction;

use super::deadline::{Timely, answer_within, spawn_followup};
use super::decision::{check_decider, decide_at};
use super::grammar::ChatCommand;
use super::{Answer, ChatPlatform, service_of};

/// Most requests `pending` lists one by one (the card counts the rest).
pub const PENDING_LIMIT: usize = 200;

/// Runs `command`, typed by `user` at `place`, and says what to answer.
pub async fn run_command<P: ChatPlatform>(
    p: &Arc<P>,
    place: P::Place,
    user: &str,
    command: ChatCommand,
) -> Answer {
    match command {
        ChatCommand::Help => Answer::Help,
        ChatCommand::Unknown(word) => Answer::Unknown(word),
        ChatCommand::Pending => pending(p.as_ref(), user, &place).await,
        ChatCommand::Show { id: None } => Answer::WhichOne { usage: "show ID" },
        ChatCommand::Show { id: Some(id) } => show(p.as_ref(), user, &place, id).await,
        ChatCommand::Decide { action, id, reason } => {
            let Some(id) = id else {
                let usage = match action {
                    DecisionAction::Approve => "approve ID [reason]",
                    DecisionAction::Reject => "reject ID reason",
                };
                return Answer::WhichOne { usage };
            };
            decide_command(p, place, user, action, id, reason).await
        }
    }
}

/// The pending requests `user` may decide. Whom a platform cannot vouch
/// for right now (its API is down) sees none of the requests it would
/// have to vouch for.
async fn pending<P: ChatPlatform + ?Sized>(p: &P, user: &str, place: &P::Place) -> Answer {
    let listed = match service_of(p) {
        Ok(svc) => match svc.list(Some(Status::Pending), PENDING_LIMIT).await {
            Ok(records) => {
                let mut theirs = Vec::with_capacity(records.len());
                for r in records {
                    if check_decider(p, &svc, &r, user, Some(place)).await.is_ok() {
                        theirs.push(r);
                    }
                }
                Ok(theirs)
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    match listed {
        Ok(mut records) => {
            // Soonest deadline first: those need someone first.
            records.sort_by_key(|r| r.expires_at);
            Answer::Pending(records)
        }
        Err(e) => {
            tracing::error!(error = %e, platform = p.name(), "cannot list pending requests");
            Answer::Failed
        }
    }
}

/// One request, to someone who may decide it.
async fn show<P: ChatPlatform + ?Sized>(p: &P, user: &str, place: &P::Place, id: String) -> Answer {
    let got = match service_of(p) {
        Ok(svc) => match svc.get(&id).await {
            Ok(r) => check_decider(p, &svc, &r, user, Some(place))
                .await
                .map(|_| r),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    match got {
        Ok(record) => Answer::Show(record),
        Err(error) => Answer::Refused { id, error },
    }
}

async fn decide_command<P: ChatPlatform>(
    p: &Arc<P>,
    place: P::Place,
    user: &str,
    action: DecisionAction,
    id: String,
    reason: Option<String>,
) -> Answer {
    let (platform, who, task_id, at) = (p.clone(), user.to_owned(), id.clone(), place.clone());
    let work = async move {
        match decide_at(platform.as_ref(), Some(&at), &task_id, &who, action, reason).await {
            Ok(record) => Answer::Recorded { action, record },
            Err(error) => Answer::Refused { id: task_id, error },
        }
    };
    match answer_within(p.deadline(), work).await {
        Timely::InTime(answer) => answer,
        Timely::Failed => Answer::Failed,
        Timely::Late(task) => {
            // The platform needs an answer now; the result follows when it is in.
            let (p, user) = (p.clone(), user.to_owned());
            spawn_followup("answer a slow command", async move {
                match task.await {
                    Ok(answer) => p.tell(&place, &user, &answer).await,
                    Err(_) => Ok(()),
                }
            });
            Answer::Working(id)
        }
    }
}
