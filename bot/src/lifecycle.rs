//! The approval lifecycle, enforced here and nowhere else.
//!
//! ```text
//! pending --(quorum of approvals)--> approved --(execution, once)--> approved + executed
//!    |----(first rejection)--------> rejected
//!    |----(deadline passed)--------> expired
//!    '----(withdrawn by the agent)-> cancelled
//! ```
//!
//! Every function here is pure: it takes the record as it stands and returns
//! the record as it must become, plus the audit entry, or the reason the
//! change is refused. The store runs these inside its conditional write, so a
//! refusal always describes the state that actually won.

use chrono::{DateTime, Utc};
use hitl_wire::api::DecisionAction;
use hitl_wire::{ApprovalRecord, Status, Vote, arguments_hash};
use serde_json::{Value, json};

use crate::notify::Notice;
use crate::people::People;
use std::sync::Arc;

/// The actor name used for changes made by timers rather than people.
pub const SYSTEM_ACTOR: &str = "hitl";

/// What may change a record.
#[derive(Debug, Clone)]
pub enum Event {
    /// A person decides. `allowed` is whether the approver policy lets them;
    /// `people` says who is the same person (self-approval, one vote each).
    Decide {
        action: DecisionAction,
        approver: String,
        reason: Option<String>,
        allowed: bool,
        people: Arc<People>,
    },
    /// The requester withdraws the request (`by` defaults to the requester).
    Cancel {
        by: Option<String>,
        reason: Option<String>,
    },
    /// The deadline passed without a decision.
    Expire,
    /// The reminder/escalation step ran.
    Remind,
    /// The approved call is about to run with these arguments.
    /// `claim_within`: how long after the decision the approval may be
    /// claimed; after that it is spent and the call must be asked again.
    Execute {
        arguments: Value,
        claim_within: chrono::Duration,
    },
    /// Every channel was told about the new request.
    Notified,
}

/// An accepted change: the new record and what the audit history records.
#[derive(Debug, Clone)]
pub struct Transition {
    pub record: ApprovalRecord,
    pub audit: AuditEntry,
}

impl Transition {
    /// The notice people get about this change, if it is one they hear of.
    pub fn notice(&self) -> Option<Notice> {
        match self.audit.action {
            "created" => Some(Notice::Created),
            "voted" => Some(Notice::Voted),
            "reminded" => Some(Notice::Reminder),
            "approved" | "rejected" => Some(Notice::Decided),
            "expired" => Some(Notice::Expired),
            "cancelled" => Some(Notice::Cancelled),
            _ => None,
        }
    }
}

/// One line of audit history, before the store numbers it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: &'static str,
    pub from_status: Option<Status>,
    pub to_status: Status,
    pub detail: Value,
}

/// Why a change was refused. Each carries what the caller needs to explain it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refusal {
    #[error("{}", already_final_message(.0))]
    AlreadyFinal(Box<ApprovalRecord>),
    #[error("{approver} may not decide this request; allowed approvers: {allowed}")]
    NotAllowed { approver: String, allowed: String },
    /// The chat platform does not count this person among a request's
    /// default deciders (the request names no approvers), and says why.
    #[error("{approver} may not decide this request: {why}")]
    NotADecider { approver: String, why: String },
    #[error("{approver} made this request and cannot approve it; another approver must decide")]
    SelfApproval { approver: String },
    #[error("{approver} has already approved; {have} of {need} approvals so far")]
    DuplicateVote {
        approver: String,
        have: usize,
        need: u32,
    },
    #[error("a reason is required to reject, so the agent can adapt")]
    ReasonRequired,
    #[error("the deadline passed at {0}; the request is expiring")]
    DeadlinePassed(DateTime<Utc>),
    #[error("the request is {0}, not approved; only an approved request can run")]
    NotApproved(Status),
    #[error("the approved call already ran at {0}; a new call needs a new approval")]
    AlreadyExecuted(DateTime<Utc>),
    #[error("the approval could be claimed until {0}; it is spent, ask again")]
    ClaimExpired(DateTime<Utc>),
    #[error(
        "the arguments differ from those approved ({approved}); a changed call needs a new approval"
    )]
    ArgumentsMismatch { approved: String },
    #[error("nothing to do: {0}")]
    Noop(&'static str),
}

fn already_final_message(record: &ApprovalRecord) -> String {
    let who = record.approver.as_deref().unwrap_or(SYSTEM_ACTOR);
    let why = record
        .reason
        .as_deref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    match record.status {
        Status::Approved => format!("already approved by {who}{why}"),
        Status::Rejected => format!("already rejected by {who}{why}"),
        Status::Expired => format!("already expired{why}"),
        Status::Cancelled => format!("already cancelled by {who}{why}"),
        Status::Pending => "still pending".to_owned(),
    }
}

/// Applies `event` to `record` at `now`, or says why it may not happen.
pub fn apply(
    record: &ApprovalRecord,
    event: &Event,
    now: DateTime<Utc>,
) -> Result<Transition, Refusal> {
    match event {
        Event::Decide {
            action,
            approver,
            reason,
            allowed,
            people,
        } => decide(
            record,
            *action,
            approver,
            reason.as_deref(),
            *allowed,
            people,
            now,
        ),
        Event::Cancel { by, reason } => {
            pending_only(record)?;
            let by = by.clone().unwrap_or_else(|| record.requester.clone());
            let mut next = record.clone();
            next.status = Status::Cancelled;
            next.approver = Some(by.clone());
            next.reason = Some(
                reason
                    .clone()
                    .unwrap_or_else(|| "withdrawn by the agent".to_owned()),
            );
            next.decided_at = Some(now);
            Ok(finish(
                record,
                next,
                &by,
                "cancelled",
                now,
                json!({"reason": reason}),
            ))
        }
        Event::Expire => {
            pending_only(record)?;
            if now < record.expires_at {
                return Err(Refusal::Noop("the deadline has not passed yet"));
            }
            let mut next = record.clone();
            next.status = Status::Expired;
            next.reason = Some(format!(
                "no decision within {}",
                human_duration(record.timeout_secs())
            ));
            next.decided_at = Some(now);
            let detail = json!({"reason": next.reason, "approvals": record.approvals.len()});
            Ok(finish(record, next, SYSTEM_ACTOR, "expired", now, detail))
        }
        Event::Remind => {
            pending_only(record)?;
            if record.reminded_at.is_some() {
                return Err(Refusal::Noop("the reminder was already sent"));
            }
            let mut next = record.clone();
            next.reminded_at = Some(now);
            let to = record.escalation.as_ref().and_then(|e| e.to.clone());
            Ok(finish(
                record,
                next,
                SYSTEM_ACTOR,
                "reminded",
                now,
                json!({"escalated_to": to}),
            ))
        }
        Event::Execute {
            arguments,
            claim_within,
        } => {
            if record.status != Status::Approved {
                return Err(Refusal::NotApproved(record.status));
            }
            if let Some(at) = record.executed_at {
                return Err(Refusal::AlreadyExecuted(at));
            }
            // An approval does not live forever: it runs one call, soon.
            let until = record.decided_at.unwrap_or(record.timestamp) + *claim_within;
            if now > until {
                return Err(Refusal::ClaimExpired(until));
            }
            let hash = arguments_hash(arguments);
            if hash != record.arguments_hash {
                return Err(Refusal::ArgumentsMismatch {
                    approved: record.arguments_hash.clone(),
                });
            }
            let mut next = record.clone();
            next.arguments_executed = Some(arguments.clone());
            next.executed_at = Some(now);
            let actor = record.requester.clone();
            Ok(finish(
                record,
                next,
                &actor,
                "executed",
                now,
                json!({"arguments_hash": hash}),
            ))
        }
        Event::Notified => {
            // A final record's history ends with its decision.
            pending_only(record)?;
            if record.notification_sent {
                return Err(Refusal::Noop("already marked as notified"));
            }
            let mut next = record.clone();
            next.notification_sent = true;
            Ok(finish(
                record,
                next,
                SYSTEM_ACTOR,
                "notified",
                now,
                Value::Null,
            ))
        }
    }
}

fn decide(
    record: &ApprovalRecord,
    action: DecisionAction,
    approver: &str,
    reason: Option<&str>,
    allowed: bool,
    people: &People,
    now: DateTime<Utc>,
) -> Result<Transition, Refusal> {
    pending_only(record)?;
    // Fail closed: a click that arrives after the deadline does not count,
    // even if the expiry timer has not run yet.
    if now >= record.expires_at {
        return Err(Refusal::DeadlinePassed(record.expires_at));
    }
    if !allowed {
        return Err(Refusal::NotAllowed {
            approver: approver.to_owned(),
            allowed: if record.approvers.is_empty() {
                "anyone but the requester".to_owned()
            } else {
                record.approvers.join(", ")
            },
        });
    }
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    match action {
        DecisionAction::Reject => {
            let reason = reason.ok_or(Refusal::ReasonRequired)?;
            let mut next = record.clone();
            next.status = Status::Rejected;
            next.approver = Some(approver.to_owned());
            next.reason = Some(reason.to_owned());
            next.decided_at = Some(now);
            Ok(finish(
                record,
                next,
                approver,
                "rejected",
                now,
                json!({"reason": reason}),
            ))
        }
        DecisionAction::Approve => {
            if people.might_be_same(approver, &record.requester) {
                return Err(Refusal::SelfApproval {
                    approver: approver.to_owned(),
                });
            }
            if record
                .approvals
                .iter()
                .any(|v| people.might_be_same(&v.approver, approver))
            {
                return Err(Refusal::DuplicateVote {
                    approver: approver.to_owned(),
                    have: record.approvals.len(),
                    need: record.quorum,
                });
            }
            let mut next = record.clone();
            next.approvals.push(Vote {
                approver: approver.to_owned(),
                at: now,
                reason: reason.map(str::to_owned),
            });
            let have = next.approvals.len();
            let detail = json!({"reason": reason, "approvals": have, "quorum": record.quorum});
            if have >= record.quorum as usize {
                next.status = Status::Approved;
                next.approver = Some(approver.to_owned());
                next.reason = reason.map(str::to_owned);
                next.decided_at = Some(now);
                Ok(finish(record, next, approver, "approved", now, detail))
            } else {
                Ok(finish(record, next, approver, "voted", now, detail))
            }
        }
    }
}

fn pending_only(record: &ApprovalRecord) -> Result<(), Refusal> {
    if record.status.is_final() {
        Err(Refusal::AlreadyFinal(Box::new(record.clone())))
    } else {
        Ok(())
    }
}

fn finish(
    before: &ApprovalRecord,
    record: ApprovalRecord,
    actor: &str,
    action: &'static str,
    now: DateTime<Utc>,
    detail: Value,
) -> Transition {
    let audit = AuditEntry {
        at: now,
        actor: actor.to_owned(),
        action,
        from_status: Some(before.status),
        to_status: record.status,
        detail,
    };
    Transition { record, audit }
}

/// "30 minutes", "1 hour", "90 seconds": whole units where they fit.
pub fn human_duration(secs: u64) -> String {
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if secs >= 3600 && secs.is_multiple_of(3600) {
        plural(secs / 3600, "hour")
    } else if secs >= 60 && secs.is_multiple_of(60) {
        plural(secs / 60, "minute")
    } else {
        plural(secs, "second")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn record(quorum: u32) -> ApprovalRecord {
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        ApprovalRecord {
            request_id: "r1".into(),
            status: Status::Pending,
            requester: "agent".into(),
            agent_prompt: None,
            proposed_action: None,
            tool: "write_file".into(),
            server: None,
            arguments: json!({"path": "/tmp/x"}),
            arguments_hash: arguments_hash(&json!({"path": "/tmp/x"})),
            arguments_executed: None,
            executed_at: None,
            risk: hitl_wire::Risk::High,
            reasons: vec![],
            approvers: vec![],
            quorum,
            approvals: vec![],
            approver: None,
            reason: None,
            timestamp: t0,
            expires_at: t0 + Duration::minutes(30),
            decided_at: None,
            escalation: None,
            reminded_at: None,
            notification_sent: false,
            session: None,
            channel: None,
        }
    }

    fn approve(who: &str) -> Event {
        Event::Decide {
            action: DecisionAction::Approve,
            approver: who.into(),
            reason: None,
            allowed: true,
            people: Default::default(),
        }
    }

    fn reject(who: &str, reason: Option<&str>) -> Event {
        Event::Decide {
            action: DecisionAction::Reject,
            approver: who.into(),
            reason: reason.map(Into::into),
            allowed: true,
            people: Default::default(),
        }
    }

    #[test]
    fn expiry_reason_names_the_timeout() {
        let r = record(1);
        let t = apply(&r, &Event::Expire, r.expires_at).unwrap();
        assert_eq!(t.record.status, Status::Expired);
        assert_eq!(
            t.record.reason.as_deref(),
            Some("no decision within 30 minutes")
        );
        assert!(matches!(
            apply(&r, &Event::Expire, r.timestamp),
            Err(Refusal::Noop(_))
        ));
    }

    #[test]
    fn quorum_of_two_needs_two_distinct_approvers() {
        let r = record(2);
        let now = r.timestamp;
        let one = apply(&r, &approve("alice"), now).unwrap().record;
        assert_eq!(one.status, Status::Pending);
        let dup = apply(&one, &approve("alice"), now).unwrap_err();
        assert_eq!(
            dup.to_string(),
            "alice has already approved; 1 of 2 approvals so far"
        );
        let two = apply(&one, &approve("bob"), now).unwrap().record;
        assert_eq!(two.status, Status::Approved);
        assert_eq!(two.approver.as_deref(), Some("bob"));
    }

    #[test]
    fn first_rejection_decides_even_with_votes_in() {
        let r = record(3);
        let one = apply(&r, &approve("alice"), r.timestamp).unwrap().record;
        let t = apply(&one, &reject("bob", Some("wrong host")), r.timestamp).unwrap();
        assert_eq!(t.record.status, Status::Rejected);
        assert_eq!(t.audit.action, "rejected");
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        let r = record(1);
        let now = r.timestamp;
        assert!(matches!(
            apply(&r, &reject("bob", Some("  ")), now),
            Err(Refusal::ReasonRequired)
        ));
        assert!(matches!(
            apply(&r, &approve("agent"), now),
            Err(Refusal::SelfApproval { .. })
        ));
        let late = apply(&r, &approve("bob"), r.expires_at).unwrap_err();
        assert!(matches!(late, Refusal::DeadlinePassed(_)));
        let not_allowed = Event::Decide {
            action: DecisionAction::Approve,
            approver: "eve".into(),
            reason: None,
            allowed: false,
            people: Default::default(),
        };
        assert!(
            apply(&r, &not_allowed, now)
                .unwrap_err()
                .to_string()
                .starts_with("eve may not decide")
        );
    }

    #[test]
    fn execution_is_once_and_bound_to_the_approved_arguments() {
        let r = record(1);
        let now = r.timestamp;
        let exec = |args| Event::Execute {
            arguments: args,
            claim_within: chrono::Duration::seconds(600),
        };
        assert!(matches!(
            apply(&r, &exec(json!({"path": "/tmp/x"})), now),
            Err(Refusal::NotApproved(Status::Pending))
        ));
        let ok = apply(&r, &approve("bob"), now).unwrap().record;
        assert!(matches!(
            apply(&ok, &exec(json!({"path": "/etc/passwd"})), now),
            Err(Refusal::ArgumentsMismatch { .. })
        ));
        let ran = apply(&ok, &exec(json!({"path": "/tmp/x"})), now)
            .unwrap()
            .record;
        assert!(ran.executed_at.is_some());
        assert!(matches!(
            apply(&ran, &exec(json!({"path": "/tmp/x"})), now),
            Err(Refusal::AlreadyExecuted(_))
        ));
    }

    #[test]
    fn final_states_refuse_every_change_naming_the_winner() {
        let r = record(1);
        let now = r.timestamp;
        let finals = [
            apply(&r, &approve("bob"), now).unwrap().record,
            apply(&r, &reject("bob", Some("no")), now).unwrap().record,
            apply(&r, &Event::Expire, r.expires_at).unwrap().record,
            apply(
                &r,
                &Event::Cancel {
                    by: None,
                    reason: None,
                },
                now,
            )
            .unwrap()
            .record,
        ];
        for f in &finals {
            for ev in [
                approve("carol"),
                reject("carol", Some("x")),
                Event::Expire,
                Event::Cancel {
                    by: None,
                    reason: None,
                },
                Event::Remind,
            ] {
                let err = apply(f, &ev, r.expires_at + Duration::minutes(1)).unwrap_err();
                assert!(
                    matches!(err, Refusal::AlreadyFinal(_)),
                    "{:?} then {ev:?}",
                    f.status
                );
            }
        }
        assert_eq!(
            apply(&finals[1], &approve("carol"), now)
                .unwrap_err()
                .to_string(),
            "already rejected by bob: no"
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(1800), "30 minutes");
        assert_eq!(human_duration(60), "1 minute");
        assert_eq!(human_duration(7200), "2 hours");
        assert_eq!(human_duration(90), "90 seconds");
    }
}
