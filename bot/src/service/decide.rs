//! Changing a stored request: decisions, cancels, executions and timer
//! events run through the store's conditional write, then what follows a
//! final status (wake waiters, stop timers, metrics, log).

use std::collections::HashMap;
use std::sync::Arc;

use hitl_wire::api::DecisionAction;
use hitl_wire::{ApprovalRecord, Status};

use super::{ApprovalService, Decider, ServiceError, log_notice};
use crate::lifecycle::{self, Event, Refusal};
use crate::notify::Notice;
use crate::people::{Identity, People, platform_group};
use crate::store::Step;
use crate::workflow::TimerKind;

impl ApprovalService {
    /// Whether `who` is on the request's approver list (directly, by a
    /// configured group, or by a group the platform vouched for). Says nothing
    /// about self-approval, which only concerns approving.
    pub fn may_decide(&self, record: &ApprovalRecord, who: &Decider) -> bool {
        may_decide(&self.settings.groups, &self.people, record, who)
    }
    /// A person approves or rejects. With a quorum above one, an approval may
    /// only add a vote; the returned record says which.
    pub async fn decide(
        &self,
        request_id: &str,
        action: DecisionAction,
        approver: &str,
        reason: Option<String>,
    ) -> Result<ApprovalRecord, ServiceError> {
        self.decide_as(request_id, action, Decider::new(approver), reason)
            .await
    }

    /// [`Self::decide`] for a person a chat platform identified, with the
    /// platform-kept groups it vouches they belong to.
    pub async fn decide_as(
        &self,
        request_id: &str,
        action: DecisionAction,
        decider: Decider,
        reason: Option<String>,
    ) -> Result<ApprovalRecord, ServiceError> {
        let id = decider.id.trim();
        if id.is_empty() {
            return Err(ServiceError::Invalid(
                "`approver` must name who decides".into(),
            ));
        }
        if let Err(e) = Identity::parse(id) {
            return Err(ServiceError::Invalid(format!("`approver`: {e}")));
        }
        let decider = Decider {
            id: id.to_owned(),
            vouched_groups: decider.vouched_groups,
        };
        // Whether this person may decide is judged on the stored record, inside
        // the conditional write, so it cannot go stale between read and write.
        let groups = self.groups.clone();
        let people = self.people.clone();
        // "Now" is read here, when the person acted, not when the store gets
        // to the write: a queued write is judged at the moment of the click,
        // and a test's paused clock (which only this task sees) holds.
        let now = self.clock.now();
        let step: Step = Arc::new(move |r: &ApprovalRecord| {
            let event = Event::Decide {
                action,
                approver: decider.id.clone(),
                reason: reason.clone(),
                allowed: may_decide(&groups, &people, r, &decider),
                people: people.clone(),
            };
            lifecycle::apply(r, &event, now)
        });
        match self.run(request_id, true, step).await {
            Err(ServiceError::Refused(Refusal::DeadlinePassed(at))) => {
                // The timer has not fired yet; expire now so waiters hear of it.
                self.fire(request_id, TimerKind::Expire).await;
                Err(ServiceError::Refused(Refusal::DeadlinePassed(at)))
            }
            other => other,
        }
    }

    /// The agent withdraws its request; a later click can never run it.
    pub async fn cancel(
        &self,
        request_id: &str,
        by: Option<String>,
        reason: Option<String>,
    ) -> Result<ApprovalRecord, ServiceError> {
        let by = by.filter(|b| !b.trim().is_empty());
        self.apply(request_id, Event::Cancel { by, reason }).await
    }

    /// Records that the approved call runs now, with these arguments. Refused
    /// unless approved, not yet run, and the arguments hash to the approved ones.
    pub async fn record_execution(
        &self,
        request_id: &str,
        arguments: serde_json::Value,
    ) -> Result<ApprovalRecord, ServiceError> {
        let claim_within = chrono::Duration::seconds(
            i64::try_from(self.settings.claim_window_secs).unwrap_or(i64::MAX / 1000),
        );
        self.apply(
            request_id,
            Event::Execute {
                arguments,
                claim_within,
            },
        )
        .await
    }

    /// Runs a lifecycle event through the store, then does what follows from it.
    pub(super) async fn apply(
        &self,
        request_id: &str,
        event: Event,
    ) -> Result<ApprovalRecord, ServiceError> {
        // Only these events can end the pending state; the others (reminder,
        // execution, notified) leave the status as it was.
        let can_finish = matches!(
            event,
            Event::Decide { .. } | Event::Cancel { .. } | Event::Expire
        );
        // Read on this task, as in `decide_as`.
        let now = self.clock.now();
        let step: Step = Arc::new(move |r: &ApprovalRecord| lifecycle::apply(r, &event, now));
        self.run(request_id, can_finish, step).await
    }

    /// Runs `step` through the store's conditional write; when it may end the
    /// pending state and did, wakes waiters, stops timers and notifies.
    async fn run(
        &self,
        request_id: &str,
        can_finish: bool,
        step: Step,
    ) -> Result<ApprovalRecord, ServiceError> {
        let record = self
            .store
            .transition(request_id, step, &self.channels)
            .await?;
        self.kick_outbox();
        if can_finish && record.status.is_final() {
            self.after_final(&record).await;
        }
        Ok(record)
    }

    async fn after_final(&self, record: &ApprovalRecord) {
        self.waiters.wake(&record.request_id);
        if let Err(e) = self.workflow.finish(record).await {
            tracing::warn!(approval_id = %record.request_id, error = %e, "cannot stop timers");
        }
        let seconds = record
            .decided_at
            .map(|d| (d - record.timestamp).num_milliseconds() as f64 / 1000.0)
            .unwrap_or_default();
        self.metrics.finished(record.status.as_str(), seconds);
        let notice = match record.status {
            Status::Expired => Notice::Expired,
            Status::Cancelled => Notice::Cancelled,
            _ => Notice::Decided,
        };
        log_notice(notice, record).await;
    }
}

/// Whether `who` is on the record's approver list: as the same person, by
/// a configured group, or by a platform-kept group the adapter vouched for.
/// A vouch counts only for entries naming a group of the decider's own
/// platform, so an adapter can never vouch someone into being another
/// person, nor into another platform's group.
fn may_decide(
    groups: &HashMap<String, Vec<String>>,
    people: &People,
    record: &ApprovalRecord,
    who: &Decider,
) -> bool {
    let platform = Identity::parse(&who.id).ok().map(|i| i.platform());
    record.approvers.is_empty()
        || record.approvers.iter().any(|entry| {
            if let Some(group) = entry.strip_prefix("group:") {
                return groups
                    .get(group)
                    .is_some_and(|m| m.iter().any(|m| people.same(m, &who.id)));
            }
            match platform_group(entry) {
                Some((kept_by, _)) => {
                    Some(kept_by) == platform && who.vouched_groups.contains(entry)
                }
                None => people.same(entry, &who.id),
            }
        })
}
#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use hitl_wire::arguments_hash;

    fn record(approvers: &[&str]) -> ApprovalRecord {
        let now = Utc::now();
        ApprovalRecord {
            request_id: "r1".into(),
            status: Status::Pending,
            requester: "agent".into(),
            agent_prompt: None,
            proposed_action: None,
            tool: "t".into(),
            server: None,
            arguments: serde_json::json!({}),
            arguments_hash: arguments_hash(&serde_json::json!({})),
            arguments_executed: None,
            executed_at: None,
            risk: hitl_wire::Risk::High,
            reasons: vec![],
            approvers: approvers.iter().map(|a| a.to_string()).collect(),
            quorum: 1,
            approvals: vec![],
            approver: None,
            reason: None,
            timestamp: now,
            expires_at: now + chrono::Duration::minutes(5),
            decided_at: None,
            escalation: None,
            reminded_at: None,
            notification_sent: false,
            session: None,
            channel: None,
        }
    }

    #[test]
    fn vouched_groups_count_only_for_the_deciders_platform_groups() {
        let groups = HashMap::from([("sre".to_owned(), vec!["U1".to_owned()])]);
        let people = People::default();
        let r = record(&["group:sre", "S0SRE01", "U2"]);
        let by_id = |id: &str| Decider::new(id);
        let vouched = |id: &str, g: &[&str]| Decider {
            id: id.to_owned(),
            vouched_groups: g.iter().map(|s| s.to_string()).collect(),
        };
        assert!(
            may_decide(&groups, &people, &r, &by_id("U1")),
            "config group"
        );
        assert!(
            may_decide(&groups, &people, &r, &by_id("slack:u2")),
            "by id"
        );
        assert!(!may_decide(&groups, &people, &r, &by_id("U3")));
        assert!(may_decide(
            &groups,
            &people,
            &r,
            &vouched("U3", &["S0SRE01"])
        ));
        // A vouch for a person is no vouch, nor one from another platform.
        assert!(!may_decide(&groups, &people, &r, &vouched("U3", &["U2"])));
        assert!(!may_decide(
            &groups,
            &people,
            &r,
            &vouched("teams:bob@contoso.com", &["S0SRE01"])
        ));
        // Nobody named: anyone may decide (self-approval is the lifecycle's rule).
        assert!(may_decide(&groups, &people, &record(&[]), &by_id("U9")));
    }

    #[test]
    fn a_linked_person_matches_from_any_platform() {
        let people = People::new(&[crate::people::PersonConfig {
            name: Some("Alice".into()),
            ids: vec!["slack:U0ALICE1".into(), "teams:alice@contoso.com".into()],
        }])
        .unwrap();
        let groups =
            HashMap::from([("sre".to_owned(), vec!["teams:alice@contoso.com".to_owned()])]);
        let r = record(&["group:sre"]);
        assert!(may_decide(&groups, &people, &r, &Decider::new("U0ALICE1")));
        assert!(!may_decide(&groups, &people, &r, &Decider::new("U0BOB1")));
    }
}
