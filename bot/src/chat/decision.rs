//! A decision by a verified platform identity, and what follows it.
//!
//! The platform says who clicked or typed; [`decide`] asks it which of the
//! record's groups it vouches for and records the decision through the
//! service, which enforces every rule. [`follow_up`] then says what the
//! person sees: a vote on a quorum is acknowledged and the card refreshed
//! to show it; a refusal is explained; a final decision needs nothing here,
//! because the notifier rewrites the card and states the outcome for
//! everyone.

use std::sync::Arc;

use hitl_wire::api::DecisionAction;
use hitl_wire::{ApprovalRecord, Status};

use super::deadline::spawn_followup;
use super::grammar::Reply;
use super::resolve::{Target, resolve_reply};
use super::{Answer, ChatPlatform, service_of};
use crate::lifecycle::Refusal;
use crate::service::{ApprovalService, Decider, ServiceError};

/// Decides request `id` as the platform's user `user`, acting away from
/// the card (see [`decide_at`]).
pub async fn decide<P: ChatPlatform + ?Sized>(
    p: &P,
    id: &str,
    user: &str,
    action: DecisionAction,
    reason: Option<String>,
) -> Result<ApprovalRecord, ServiceError> {
    decide_at(p, None, id, user, action, reason).await
}

/// Decides request `id` as the platform's user `user`, who acted at
/// `place`. A request that names no approvers is first put to the
/// platform's [`ChatPlatform::default_decider`]; the service checks the rest.
pub async fn decide_at<P: ChatPlatform + ?Sized>(
    p: &P,
    place: Option<&P::Place>,
    id: &str,
    user: &str,
    action: DecisionAction,
    reason: Option<String>,
) -> Result<ApprovalRecord, ServiceError> {
    let svc = service_of(p)?;
    let record = svc.get(id).await?;
    if record.approvers.is_empty()
        && let Err(e) = p.default_decider(&record, user, place).await
    {
        tracing::info!(approval_id = %id, platform = p.name(), approver = %user, refused = %e, "decision from chat refused");
        return Err(e);
    }
    let decider = p.decider(&record, user).await;
    let decided = svc.decide_as(id, action, decider, reason).await;
    match &decided {
        Ok(r) => {
            tracing::info!(approval_id = %id, platform = p.name(), approver = %user, status = %r.status, "decision from chat")
        }
        Err(e) => {
            tracing::info!(approval_id = %id, platform = p.name(), approver = %user, refused = %e, "decision from chat refused")
        }
    }
    decided
}

/// `user` (at `place`) as a decider of `record`, or why they are not one:
/// the platform's default deciders for a request that names no approvers,
/// else its approver list. What `pending` and `show` let a person see.
pub async fn check_decider<P: ChatPlatform + ?Sized>(
    p: &P,
    svc: &ApprovalService,
    record: &ApprovalRecord,
    user: &str,
    place: Option<&P::Place>,
) -> Result<Decider, ServiceError> {
    if record.approvers.is_empty() {
        p.default_decider(record, user, place).await?;
    }
    let decider = p.decider(record, user).await;
    if !svc.may_decide(record, &decider) {
        return Err(ServiceError::Refused(Refusal::NotAllowed {
            approver: user.to_owned(),
            allowed: record.approvers.join(", "),
        }));
    }
    Ok(decider)
}

/// What follows a decision, for the person who made it.
#[derive(Debug)]
pub enum FollowUp {
    /// Final: the notifier updates the card and states the outcome.
    Nothing,
    /// Tell the person (a refusal).
    Tell(Answer),
    /// Tell the person, and refresh the card (a vote short of the quorum).
    TellAndRefresh(Answer, Box<ApprovalRecord>),
}

/// What a decision's `result` means for the person who tried it.
pub fn follow_up(
    id: &str,
    action: DecisionAction,
    result: Result<ApprovalRecord, ServiceError>,
) -> FollowUp {
    match result {
        Ok(record) if record.status == Status::Pending => FollowUp::TellAndRefresh(
            Answer::Recorded {
                action,
                record: record.clone(),
            },
            Box::new(record),
        ),
        Ok(_) => FollowUp::Nothing,
        Err(error) => FollowUp::Tell(Answer::Refused {
            id: id.to_owned(),
            error,
        }),
    }
}

/// Carries out a [`FollowUp`].
pub async fn run_follow_up<P: ChatPlatform + ?Sized>(
    p: &P,
    place: &P::Place,
    user: &str,
    f: FollowUp,
) -> Result<(), P::Error> {
    match f {
        FollowUp::Nothing => Ok(()),
        FollowUp::Tell(answer) => p.tell(place, user, &answer).await,
        FollowUp::TellAndRefresh(answer, record) => {
            p.tell(place, user, &answer).await?;
            refresh_card(p, &record).await
        }
    }
}

/// Re-renders a pending card (after a vote, so it shows who approved so
/// far), in order with the card's other updates.
pub async fn refresh_card<P: ChatPlatform + ?Sized>(
    p: &P,
    record: &ApprovalRecord,
) -> Result<(), P::Error> {
    if record.status != Status::Pending {
        return Ok(());
    }
    let _card = p.cards().lock_card(&record.request_id).await;
    let svc = service_of(p)?;
    // Read again under the lock: the request may have been decided since.
    let current = svc.get(&record.request_id).await?;
    if current.status != Status::Pending {
        return Ok(());
    }
    if let Some(at) = svc.message_ref(&current.request_id, p.name()).await? {
        p.update_card(&at, &current).await?;
    }
    Ok(())
}

/// A reply `reply` by `user` in the thread `thread` of `conversation`:
/// decides the request it means, or asks which, or (not one of our threads)
/// does nothing. The decision is recorded before this returns; what the
/// person is told follows on its own task.
pub async fn on_thread_reply<P: ChatPlatform>(
    p: &Arc<P>,
    conversation: &str,
    thread: &str,
    place: P::Place,
    user: &str,
    reply: Reply,
) -> Result<(), P::Error> {
    let svc = service_of(p.as_ref())?;
    match resolve_reply(&svc, p.name(), conversation, thread, &reply).await? {
        Target::NotOurs => Ok(()),
        Target::AllDecided => p.tell(&place, user, &Answer::AllDecided).await,
        Target::Ambiguous(ids) => p.tell(&place, user, &Answer::Ambiguous(ids)).await,
        Target::Request { id, reason } => {
            let result = decide_at(p.as_ref(), Some(&place), &id, user, reply.action, reason).await;
            let f = follow_up(&id, reply.action, result);
            let (p, user) = (p.clone(), user.to_owned());
            spawn_followup("answer a thread reply", async move {
                run_follow_up(p.as_ref(), &place, &user, f).await
            });
            Ok(())
        }
    }
}
