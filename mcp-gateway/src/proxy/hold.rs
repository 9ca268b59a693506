//! Holding a risky call until a person decides, within what the client can
//! wait.
//!
//! The hold creates the request on the approval service, then long-polls it,
//! sending MCP progress notifications while it waits when the client gave a
//! progress token. When the hold budget runs out first, the model gets a
//! successful "pending approval" result with the request id; an identical
//! retry from the same caller picks the same request up again (no second
//! card), and once approved it runs exactly once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hitl_wire::api::CreateApproval;
use hitl_wire::{ApprovalRecord, Status, arguments_hash};
use rmcp::RoleServer;
use rmcp::model::{CallToolResult, ContentBlock, ProgressNotificationParam, ProgressToken};
use rmcp::service::{Peer, RequestContext};
use serde_json::{Value, json};

use super::decisions::{Decisions, State};
use crate::approval::{ApprovalClient, ApprovalError, ErrorCode};
use crate::policy::Approval;

/// How long a call may be held, and how often the client hears about it.
#[derive(Debug, Clone)]
pub struct HoldSettings {
    /// Budget when the client gave a progress token (it keeps waiting on progress).
    pub budget_with_progress: Duration,
    /// Budget without one: Claude Desktop gives up at about 60 s.
    pub budget_without_progress: Duration,
    /// Interval between progress notifications (≤ 15 s).
    pub tick: Duration,
    /// Who the requests are from (the agent or its user).
    pub requester: String,
    /// Budgets configured for named clients (`[gateway.clients."NAME"]`),
    /// by lower-cased `clientInfo.name`; they replace the built-in ones.
    pub clients: std::sync::Arc<HashMap<String, ClientHold>>,
}

/// One client's hold budgets, from `[gateway.clients."NAME"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientHold {
    /// Longest hold in seconds without a progress token.
    pub hold_budget_secs: Option<u64>,
    /// Longest hold in seconds with a progress token.
    pub hold_budget_with_progress_secs: Option<u64>,
}

/// What known clients put up with, by the `clientInfo.name` they send: the
/// longest hold (seconds) that stays under each one's own limit, with a
/// progress token or without. These are ceilings on the general budgets.
///
/// - `claude-code`: a call running past 120 s in the main conversation is
///   moved to the background, where its result can be orphaned.
/// - `claude-ai` (Claude Desktop, and claude.ai): cancels stdio calls at
///   about 60 s (Windows: about 4 min), progress or not.
/// - `zed`: its request timer ignores progress notifications.
pub const KNOWN_CLIENTS: &[(&str, u64)] = &[("claude-code", 110), ("claude-ai", 50), ("zed", 50)];

/// Checks `[gateway.clients."NAME"]` and keys it by lower-cased name.
pub fn client_holds(
    clients: HashMap<String, ClientHold>,
) -> anyhow::Result<HashMap<String, ClientHold>> {
    let mut out = HashMap::new();
    for (name, hold) in clients {
        let key = name.trim().to_ascii_lowercase();
        if key.is_empty() {
            anyhow::bail!(
                "[gateway.clients.\"\"]: give the client's `clientInfo.name`, e.g. [gateway.clients.\"claude-code\"]"
            );
        }
        for (field, secs) in [
            ("hold_budget_secs", hold.hold_budget_secs),
            (
                "hold_budget_with_progress_secs",
                hold.hold_budget_with_progress_secs,
            ),
        ] {
            if let Some(secs) = secs
                && !(1..=86_400).contains(&secs)
            {
                anyhow::bail!(
                    "[gateway.clients.{name:?}] {field} must be between 1 and 86400 seconds (got {secs})"
                );
            }
        }
        if out.insert(key, hold).is_some() {
            anyhow::bail!(
                "[gateway.clients]: {name:?} is given twice (names match without regard to case)"
            );
        }
    }
    Ok(out)
}

impl HoldSettings {
    /// The hold budget for a call from `client` (its `clientInfo.name`),
    /// with or without a progress token.
    pub fn budget(&self, client: Option<&str>, progress: bool) -> Duration {
        let general = if progress {
            self.budget_with_progress
        } else {
            self.budget_without_progress
        };
        let Some(name) = client.map(|c| c.trim().to_ascii_lowercase()) else {
            return general;
        };
        if let Some(own) = self.clients.get(&name) {
            let secs = if progress {
                own.hold_budget_with_progress_secs
            } else {
                own.hold_budget_secs
            };
            if let Some(secs) = secs {
                return Duration::from_secs(secs);
            }
        }
        match KNOWN_CLIENTS.iter().find(|(known, _)| *known == name) {
            Some((_, ceiling)) => general.min(Duration::from_secs(*ceiling)),
            None => general,
        }
    }
}

/// Identifies "the identical call from the same caller".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallKey {
    pub principal: String,
    pub server: String,
    pub tool: String,
    pub arguments_hash: String,
}

/// Calls whose approval request outlived the hold, by the call they are for.
#[derive(Debug, Default)]
pub struct Ledger {
    map: Mutex<HashMap<CallKey, String>>,
}

impl Ledger {
    fn get(&self, key: &CallKey) -> Option<String> {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }
    fn put(&self, key: CallKey, id: String) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, id);
    }
    fn forget(&self, key: &CallKey) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// What the hold decided.
#[derive(Debug)]
pub enum Outcome {
    /// Approved and claimed for this one run: forward the call upstream.
    Run(Box<ApprovalRecord>),
    /// Answer the client with this result (pending, rejected, expired, error).
    Answer(CallToolResult),
    /// The client cancelled while waiting; the request was withdrawn.
    Cancelled,
}

pub struct Hold<'a> {
    pub approvals: &'a ApprovalClient,
    pub decisions: &'a Decisions,
    pub ledger: &'a Ledger,
    pub settings: &'a HoldSettings,
}

pub struct Call<'a> {
    pub key: CallKey,
    pub server: &'a str,
    pub tool: &'a str,
    pub arguments: &'a Value,
    pub risk: hitl_wire::Risk,
    pub reasons: Vec<String>,
    /// How the policy wants it asked: approvers, quorum, timeout, channel, escalation.
    pub approval: &'a Approval,
    pub approvers: Vec<String>,
    pub session: Option<String>,
    /// The tool declares an `outputSchema` (see [`pending_result`]).
    pub has_output_schema: bool,
}

impl Hold<'_> {
    pub async fn run(&self, call: Call<'_>, ctx: &RequestContext<RoleServer>) -> Outcome {
        let progress = ctx.meta.get_progress_token();
        let client = ctx.peer.peer_info().map(|i| i.client_info.name.clone());
        let budget = self.settings.budget(client.as_deref(), progress.is_some());
        let record = match self.find_or_create(&call).await {
            Ok(r) => r,
            Err(e) => return Outcome::Answer(unreachable_result(call.tool, &e)),
        };
        let id = record.request_id.clone();
        let mut decided = self.decisions.watch(&id);
        let deadline = tokio::time::Instant::now() + budget;
        let mut ticks = 0u32;
        let mut record = record;
        loop {
            // Cancel wins: a decision that lands with the client's cancel
            // never runs the call.
            if ctx.ct.is_cancelled() {
                return self.withdraw(&call, &id).await;
            }
            match record.status {
                Status::Pending => {}
                Status::Approved => return self.claim(&call, record).await,
                _ => {
                    self.ledger.forget(&call.key);
                    return Outcome::Answer(final_result(&record));
                }
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                self.ledger.put(call.key.clone(), id.clone());
                return Outcome::Answer(pending_result(&record, call.has_output_schema));
            }
            if let Some(token) = &progress {
                notify(&ctx.peer, token, ticks, &record).await;
                ticks += 1;
            }
            let wait = left.min(self.settings.tick);
            tokio::select! {
                changed = tokio::time::timeout(wait, decided.changed()) => match changed {
                    // Time for the next progress notification.
                    Err(_) => {}
                    Ok(_) => match decided.borrow_and_update().clone() {
                        State::Pending => {}
                        State::Final(r) => record = *r,
                        State::Unreachable(e) => {
                            return Outcome::Answer(unreachable_text(call.tool, &e));
                        }
                    },
                },
                _ = ctx.ct.cancelled() => return self.withdraw(&call, &id).await,
            }
        }
    }

    /// Withdraws the request so a later click can never run it. If this
    /// fails the request still expires at its deadline.
    async fn withdraw(&self, call: &Call<'_>, id: &str) -> Outcome {
        self.ledger.forget(&call.key);
        if let Err(e) = self
            .approvals
            .cancel(id, "the MCP client cancelled the call")
            .await
        {
            tracing::warn!(approval_id = %id, error = %e, "could not withdraw the request");
        }
        Outcome::Cancelled
    }

    /// Creates (or finds) the request for `call` without waiting on it.
    pub async fn create(&self, call: &Call<'_>) -> Result<ApprovalRecord, ApprovalError> {
        self.find_or_create(call).await
    }

    /// The request already held for this exact call, or a new one.
    async fn find_or_create(&self, call: &Call<'_>) -> Result<ApprovalRecord, ApprovalError> {
        if let Some(id) = self.ledger.get(&call.key) {
            match self.approvals.get(&id).await {
                // An approval already used is spent: this call needs a new one.
                Ok(r) if r.executed_at.is_none() => return Ok(r),
                Ok(_) => self.ledger.forget(&call.key),
                // Gone, spent or past its claim window: ask again.
                Err(e) if e.code().is_some_and(ErrorCode::approval_spent) => {
                    self.ledger.forget(&call.key)
                }
                Err(e) => return Err(e),
            }
        }
        let body = CreateApproval {
            request_id: Some(new_request_id()),
            tool: call.tool.to_owned(),
            server: Some(call.server.to_owned()),
            arguments: call.arguments.clone(),
            risk: call.risk,
            reasons: call.reasons.clone(),
            requester: self.settings.requester.clone(),
            agent_prompt: None,
            proposed_action: Some(format!("call {} on {}", call.tool, call.server)),
            timeout_secs: Some(call.approval.timeout_secs),
            approvers: call.approvers.clone(),
            quorum: Some(call.approval.quorum),
            escalation: call.approval.escalation.as_deref().cloned(),
            session: call.session.clone(),
            channel: call.approval.channel.as_deref().map(str::to_owned),
        };
        let record = self.approvals.create(&body).await?;
        self.ledger.put(call.key.clone(), record.request_id.clone());
        Ok(record)
    }

    /// Claims the approval for this run: the service accepts it once, and
    /// only for the approved arguments.
    async fn claim(&self, call: &Call<'_>, record: ApprovalRecord) -> Outcome {
        self.ledger.forget(&call.key);
        match self
            .approvals
            .record_execution(&record.request_id, call.arguments.clone())
            .await
        {
            Ok(r) => Outcome::Run(Box::new(r)),
            Err(e) => Outcome::Answer(error_result(
                format!(
                    "The approval {} for {} could not be used, so the call was not run: {e}. Make the call again to ask for a new approval.",
                    record.request_id, call.tool
                ),
                json!({"status": "not_run", "request_id": record.request_id}),
            )),
        }
    }
}

async fn notify(peer: &Peer<RoleServer>, token: &ProgressToken, n: u32, r: &ApprovalRecord) {
    let message = format!(
        "waiting for approval of {} (request {}, {} risk), expires {}",
        r.tool,
        r.request_id,
        r.risk,
        clock(r.expires_at)
    );
    let param = ProgressNotificationParam::new(token.clone(), f64::from(n)).with_message(message);
    let _ = peer.notify_progress(param).await;
}

fn clock(t: DateTime<Utc>) -> String {
    t.format("%H:%M UTC").to_string()
}

use hitl_client::ids::new_request_id;

/// Key in a result's `_meta` under which the gateway reports the approval.
pub const META_KEY: &str = "hitl/approval";

/// Attaches the approval facts: always in `_meta`, and as structured content
/// when `structured` allows it (see [`pending_result`]).
fn with_facts(mut result: CallToolResult, facts: Value, structured: bool) -> CallToolResult {
    let mut meta = rmcp::model::MetaObject::default();
    meta.0.insert(META_KEY.to_owned(), facts.clone());
    result.meta = Some(meta);
    if structured {
        result.structured_content = Some(facts);
    }
    result
}

fn error_result(text: String, facts: Value) -> CallToolResult {
    with_facts(
        CallToolResult::error(vec![ContentBlock::text(text)]),
        facts,
        true,
    )
}

/// The hold budget ran out: a result that tells the model what to do next.
///
/// It is a success, with the facts as structured content, unless the tool
/// declares an `outputSchema` (`schema_bound`): MCP requires a successful
/// result of such a tool to carry structured content matching its schema,
/// and clients enforce it. Then the same text goes out as an error result,
/// with the facts in `_meta` only; the text says plainly it is pending.
pub fn pending_result(r: &ApprovalRecord, schema_bound: bool) -> CallToolResult {
    let check_after = 30;
    let text = format!(
        "Approval pending: {tool} needs a person's approval ({risk} risk{reasons}). Request {id} is waiting and expires at {expires}. \
         The call has NOT run. Do not retry it in a loop: call the `approval_status` tool with request_id \"{id}\" in about {check_after} seconds; \
         once it says approved, make this identical call again and it will run once.",
        tool = r.tool,
        risk = r.risk,
        reasons = if r.reasons.is_empty() {
            String::new()
        } else {
            format!(": {}", r.reasons.join("; "))
        },
        id = r.request_id,
        expires = clock(r.expires_at),
    );
    let content = vec![ContentBlock::text(text)];
    let result = if schema_bound {
        CallToolResult::error(content)
    } else {
        CallToolResult::success(content)
    };
    with_facts(
        result,
        json!({
            "status": "pending",
            "request_id": r.request_id,
            "tool": r.tool,
            "risk": r.risk,
            "expires_at": r.expires_at,
            "check_again_after_secs": check_after,
        }),
        !schema_bound,
    )
}

/// Rejected, expired or cancelled: a tool error the model can read and adapt to.
pub fn final_result(r: &ApprovalRecord) -> CallToolResult {
    let who = r.approver.as_deref().unwrap_or("nobody");
    let why = r.reason.as_deref().unwrap_or("no reason given");
    let text = match r.status {
        Status::Rejected => format!(
            "The call to {} was rejected by {who}: {why}. It did not run. Do not retry the same call; change the approach or ask the user.",
            r.tool
        ),
        Status::Expired => format!(
            "The call to {} was not approved in time ({why}); it did not run. Ask the user before trying again.",
            r.tool
        ),
        Status::Cancelled => format!(
            "The approval request for {} was withdrawn ({why}); the call did not run.",
            r.tool
        ),
        _ => format!(
            "The call to {} did not run (request {} is {}).",
            r.tool, r.request_id, r.status
        ),
    };
    error_result(
        text,
        json!({"status": r.status, "request_id": r.request_id, "approver": r.approver, "reason": r.reason}),
    )
}

/// Fail closed: no approval service, no run.
pub fn unreachable_result(tool: &str, e: &ApprovalError) -> CallToolResult {
    unreachable_text(tool, &e.to_string())
}

fn unreachable_text(tool: &str, e: &str) -> CallToolResult {
    error_result(
        format!(
            "The call to {tool} needs approval, but the approval service could not be asked ({e}). It did not run."
        ),
        json!({"status": "not_run", "error": e}),
    )
}

pub fn key(principal: &str, server: &str, tool: &str, arguments: &Value) -> CallKey {
    CallKey {
        principal: principal.to_owned(),
        server: server.to_owned(),
        tool: tool.to_owned(),
        arguments_hash: arguments_hash(arguments),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(clients: &[(&str, ClientHold)]) -> HoldSettings {
        HoldSettings {
            budget_with_progress: Duration::from_secs(3600),
            budget_without_progress: Duration::from_secs(45),
            tick: Duration::from_secs(10),
            requester: "t".into(),
            clients: std::sync::Arc::new(
                clients
                    .iter()
                    .map(|(n, c)| ((*n).to_owned(), c.clone()))
                    .collect(),
            ),
        }
    }

    #[test]
    fn unknown_clients_keep_the_general_budgets() {
        let s = settings(&[]);
        assert_eq!(s.budget(Some("mcp"), false), Duration::from_secs(45));
        assert_eq!(s.budget(Some("mcp"), true), Duration::from_secs(3600));
        assert_eq!(s.budget(None, true), Duration::from_secs(3600));
    }

    #[test]
    fn known_clients_are_answered_before_their_own_limits() {
        let s = settings(&[]);
        // Claude Code moves calls past 120 s to the background, progress or not.
        assert!(s.budget(Some("claude-code"), true) < Duration::from_secs(120));
        assert!(s.budget(Some("claude-code"), false) < Duration::from_secs(120));
        for name in ["claude-ai", "Zed", "zed"] {
            for progress in [false, true] {
                assert!(
                    s.budget(Some(name), progress) < Duration::from_secs(55),
                    "{name} {progress}"
                );
            }
        }
    }

    #[test]
    fn the_general_budgets_still_lower_a_known_client() {
        let mut s = settings(&[]);
        s.budget_with_progress = Duration::from_secs(20);
        assert_eq!(s.budget(Some("claude-code"), true), Duration::from_secs(20));
    }

    #[test]
    fn a_configured_client_overrides_both() {
        let s = settings(&[(
            "claude-code",
            ClientHold {
                hold_budget_secs: Some(5),
                hold_budget_with_progress_secs: Some(600),
            },
        )]);
        assert_eq!(s.budget(Some("Claude-Code"), false), Duration::from_secs(5));
        assert_eq!(
            s.budget(Some("claude-code"), true),
            Duration::from_secs(600)
        );
        // Only what is set is replaced.
        let s = settings(&[(
            "my-agent",
            ClientHold {
                hold_budget_secs: Some(7),
                hold_budget_with_progress_secs: None,
            },
        )]);
        assert_eq!(s.budget(Some("my-agent"), false), Duration::from_secs(7));
        assert_eq!(s.budget(Some("my-agent"), true), Duration::from_secs(3600));
    }
}
