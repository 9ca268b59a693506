//! Creating a request: validate the body, store it with its timers and
//! notices in one write, arm the timers; an identical retry finds the stored one.

use hitl_wire::api::CreateApproval;
use hitl_wire::{ApprovalRecord, Status, arguments_hash};

use super::{ApprovalService, Created, ServiceError, log_notice};
use crate::ids;
use crate::lifecycle::AuditEntry;
use crate::notify::Notice;
use crate::people::{Identity, platform_group};
use crate::store::Inserted;

const MAX_QUORUM: u32 = 20;
const MAX_ID_LEN: usize = 128;

impl ApprovalService {
    /// Creates a request, or returns the stored one when `request_id` is
    /// already taken by the same call (idempotent retry).
    pub async fn create(
        &self,
        body: CreateApproval,
    ) -> Result<(ApprovalRecord, Created), ServiceError> {
        let record = self.build_record(body)?;
        let audit = AuditEntry {
            at: record.timestamp,
            actor: record.requester.clone(),
            action: "created",
            from_status: None,
            to_status: Status::Pending,
            detail: serde_json::json!({
                "tool": record.tool,
                "server": record.server,
                "risk": record.risk,
                "arguments_hash": record.arguments_hash,
                "quorum": record.quorum,
                "expires_at": record.expires_at,
            }),
        };
        let proposed = record.clone();
        match self.store.insert(record, audit, &self.channels).await? {
            Inserted::Existing(existing) if same_call(&existing, &proposed) => {
                // A retry arms the timers again, in case the first try could
                // not (they are in the store either way).
                if !existing.status.is_final()
                    && let Err(e) = self.workflow.start(&existing).await
                {
                    tracing::warn!(approval_id = %existing.request_id, error = %e, "cannot arm timers; the sweep fires them");
                }
                Ok((existing, Created::Existing))
            }
            Inserted::Existing(existing) => Err(ServiceError::Conflict {
                message: format!(
                    "request_id {:?} is already used for a different call ({} on {}); use a new request_id",
                    existing.request_id,
                    existing.tool,
                    existing.server.as_deref().unwrap_or("no server")
                ),
                record: Box::new(existing),
            }),
            Inserted::Created(record) => {
                self.metrics.created();
                self.kick_outbox();
                log_notice(Notice::Created, &record).await;
                // The timers were stored with the request; arming them here
                // only makes them punctual. If that fails, the sweep fires
                // them within a second of falling due.
                if let Err(e) = self.workflow.start(&record).await {
                    tracing::warn!(approval_id = %record.request_id, error = %e, "cannot arm timers; the sweep fires them");
                }
                Ok((record, Created::New))
            }
        }
    }

    fn build_record(&self, b: CreateApproval) -> Result<ApprovalRecord, ServiceError> {
        let invalid = |m: String| Err(ServiceError::Invalid(m));
        let request_id = match b.request_id {
            Some(id) => {
                validate_id(&id)?;
                id
            }
            None => ids::new_request_id(),
        };
        if b.tool.trim().is_empty() {
            return invalid("`tool` must not be empty".into());
        }
        if b.requester.trim().is_empty() {
            return invalid("`requester` must not be empty: name the agent or user asking".into());
        }
        if let Err(e) = Identity::parse(&b.requester) {
            return invalid(format!("`requester`: {e}"));
        }
        let timeout = b.timeout_secs.unwrap_or(self.settings.default_timeout_secs);
        if timeout == 0 || timeout > self.settings.max_timeout_secs {
            return invalid(format!(
                "`timeout_secs` must be between 1 and {} (got {timeout})",
                self.settings.max_timeout_secs
            ));
        }
        let quorum = b.quorum.unwrap_or(1);
        if !(1..=MAX_QUORUM).contains(&quorum) {
            return invalid(format!(
                "`quorum` must be between 1 and {MAX_QUORUM} (got {quorum})"
            ));
        }
        let approvers = if b.approvers.is_empty() {
            self.settings.default_approvers.clone()
        } else {
            b.approvers
        };
        let eligible = self.eligible_count(&approvers)?;
        if let Some(n) = eligible
            && n < quorum as usize
        {
            return invalid(format!(
                "`quorum` {quorum} cannot be met: only {n} distinct approver(s) in {}",
                approvers.join(", ")
            ));
        }
        let escalation = b
            .escalation
            .or_else(|| self.settings.default_escalation.clone());
        if let Some(e) = &escalation
            && (e.after_secs == 0 || e.after_secs >= timeout)
        {
            return invalid(format!(
                "`escalation.after_secs` must be between 1 and the timeout ({timeout}); got {}",
                e.after_secs
            ));
        }
        let now = self.clock.now();
        Ok(ApprovalRecord {
            request_id,
            status: Status::Pending,
            requester: b.requester,
            agent_prompt: b.agent_prompt,
            proposed_action: b.proposed_action,
            tool: b.tool,
            server: b.server,
            arguments_hash: arguments_hash(&b.arguments),
            arguments: b.arguments,
            arguments_executed: None,
            executed_at: None,
            risk: b.risk,
            reasons: b.reasons,
            approvers,
            quorum,
            approvals: Vec::new(),
            approver: None,
            reason: None,
            timestamp: now,
            expires_at: now + chrono::Duration::seconds(timeout as i64),
            decided_at: None,
            escalation,
            reminded_at: None,
            notification_sent: false,
            session: b.session,
            channel: b.channel,
        })
    }

    /// Distinct people who could approve, or `None` when anyone may.
    fn eligible_count(&self, approvers: &[String]) -> Result<Option<usize>, ServiceError> {
        if approvers.is_empty() {
            return Ok(None);
        }
        let mut people = std::collections::BTreeSet::new();
        for entry in approvers {
            if entry.trim().is_empty() {
                return Err(ServiceError::Invalid(
                    "`approvers` entries must not be empty".into(),
                ));
            }
            if platform_group(entry).is_some() {
                // Its size is only known to the platform, at decision time.
                return Ok(None);
            }
            match entry.strip_prefix("group:") {
                Some(name) => {
                    let members = self.settings.groups.get(name).ok_or_else(|| {
                        ServiceError::Invalid(format!(
                            "unknown approver group {name:?}; configured groups: {}",
                            self.group_names()
                        ))
                    })?;
                    people.extend(members.iter().map(|m| self.people.key(m)));
                }
                None => {
                    Identity::parse(entry)
                        .map_err(|e| ServiceError::Invalid(format!("`approvers`: {e}")))?;
                    people.insert(self.people.key(entry));
                }
            }
        }
        Ok(Some(people.len()))
    }

    fn group_names(&self) -> String {
        let mut names: Vec<_> = self.settings.groups.keys().map(String::as_str).collect();
        names.sort_unstable();
        if names.is_empty() {
            "(none)".to_owned()
        } else {
            names.join(", ")
        }
    }
}

/// An idempotent retry must be the same call as the stored request.
fn same_call(stored: &ApprovalRecord, proposed: &ApprovalRecord) -> bool {
    stored.tool == proposed.tool
        && stored.server == proposed.server
        && stored.requester == proposed.requester
        && stored.arguments_hash == proposed.arguments_hash
}

fn validate_id(id: &str) -> Result<(), ServiceError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ServiceError::Invalid(format!(
            "`request_id` must be 1-{MAX_ID_LEN} characters of A-Z, a-z, 0-9, '.', '_', ':' or '-' (got {id:?})"
        )))
    }
}
