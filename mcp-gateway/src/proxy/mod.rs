//! The proxy: the MCP server side of the gateway, one [`Gateway`] per
//! downstream session, in front of one or more upstreams ([`upstream`]).
//!
//! Everything the upstreams offer passes through unchanged; only `tools/list`
//! (denied tools hidden, the gateway's two tools added) and `tools/call`
//! (judged by the policy, held for approval when it says so) are looked at.
//! With several upstreams their tools, prompts and resources are merged, and
//! a name two upstreams share becomes `server__name` ([`catalog`]).

// Logging and resources/subscribe are deprecated in the newest protocol but
// still part of the versions we accept; the gateway passes them through.
#![allow(deprecated)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use rmcp::model::*;
use rmcp::service::{NotificationContext, PeerRequestOptions, RequestContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Value, json};

pub mod catalog;
pub mod child;
pub mod decisions;
pub mod hold;
pub mod limits;
pub mod passthrough;
pub mod serve;
pub mod tasks;
pub mod upstream;

use crate::approval::ApprovalClient;
use crate::policy::{Action, Policy, ToolCall};
use catalog::{Catalog, Entry};
use hold::{Call, Hold, HoldSettings, Ledger, Outcome};
use passthrough::{JsonAnswer, into_json};
use upstream::{Routes, Upstream};

pub const STATUS_TOOL: &str = "approval_status";
pub const PENDING_TOOL: &str = "list_pending_approvals";

/// State shared by every session of one gateway.
pub struct Shared {
    /// At least one; their names are unique.
    pub upstreams: Vec<Arc<Upstream>>,
    pub routes: Arc<Routes>,
    pub policy: Arc<Policy>,
    pub approvals: ApprovalClient,
    pub hold: HoldSettings,
    decisions: decisions::Decisions,
    ledger: Ledger,
    /// Tools as last listed, by the name the client sees: their upstream,
    /// their own name, annotations and output schema.
    tools: Catalog<Tool>,
    /// Prompts by exposed name (several upstreams only).
    prompts: Catalog<()>,
    /// Which upstream listed each resource URI (several upstreams only).
    resources: RwLock<HashMap<String, usize>>,
    /// Held calls answered as tasks.
    tasks: tasks::Tasks,
    /// Tasks the upstreams made: which upstream and session each belongs to.
    upstream_tasks: tasks::UpstreamTasks,
    /// One tools/list at a time when calls arrive for tools not yet listed
    /// (a burst of calls must not each list the upstream's tools).
    refreshing: tokio::sync::Mutex<()>,
    sessions: AtomicU64,
    /// Held calls now, per session and in all (capped).
    held: limits::HeldCounts,
    /// Names this gateway process among others with the same requester, so
    /// a session's principal never matches one of another process.
    instance: String,
}

impl Shared {
    pub fn new(
        upstreams: Vec<Arc<Upstream>>,
        routes: Arc<Routes>,
        policy: Arc<Policy>,
        approvals: ApprovalClient,
        hold: HoldSettings,
        held: limits::HeldCounts,
    ) -> Arc<Self> {
        Arc::new(Self {
            upstreams,
            routes,
            policy,
            decisions: decisions::Decisions::start(approvals.clone()),
            approvals,
            hold,
            ledger: Ledger::default(),
            tools: Catalog::default(),
            prompts: Catalog::default(),
            resources: RwLock::new(HashMap::new()),
            tasks: tasks::Tasks::default(),
            upstream_tasks: tasks::UpstreamTasks::default(),
            refreshing: tokio::sync::Mutex::new(()),
            sessions: AtomicU64::new(0),
            held,
            instance: instance_id(),
        })
    }

    /// Who a session's requests belong to, as recorded on the service: the
    /// requester, this process and the session.
    fn principal(&self, session: u64) -> String {
        format!("{}#{}-{session}", self.hold.requester, self.instance)
    }

    fn server_names(&self) -> Vec<String> {
        self.upstreams.iter().map(|u| u.name.clone()).collect()
    }
}

#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
    session: u64,
}

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

fn list_request<M: Default>(
    params: Option<PaginatedRequestParams>,
) -> RequestOptionalParam<M, PaginatedRequestParams> {
    RequestOptionalParam {
        method: Default::default(),
        params,
        extensions: Default::default(),
    }
}

fn page(cursor: Option<String>) -> Option<PaginatedRequestParams> {
    cursor.map(|c| PaginatedRequestParams::default().with_cursor(Some(c)))
}

/// One page of a listing: its items and the cursor of the next page.
type Page<T> = (Vec<T>, Option<String>);

/// Pages followed per listing at most (a misbehaving upstream cannot loop us).
const MAX_PAGES: usize = 100;

impl Gateway {
    /// A handler for a new downstream session.
    pub fn session(shared: &Arc<Shared>) -> Self {
        let session = shared.sessions.fetch_add(1, Ordering::Relaxed) + 1;
        Self {
            shared: shared.clone(),
            session,
        }
    }

    fn single(&self) -> bool {
        self.shared.upstreams.len() == 1
    }

    fn upstream(&self, up: usize) -> &Arc<Upstream> {
        &self.shared.upstreams[up.min(self.shared.upstreams.len() - 1)]
    }

    /// Forwards one request to upstream `up`, mapping the client's progress
    /// token to the upstream's and passing a client cancellation on. Boxed so
    /// that every request handler, which awaits this, stays small in memory
    /// (see BENCHMARKS.md, held calls).
    fn forward<'a>(
        &'a self,
        up: usize,
        request: ClientRequest,
        ctx: &'a RequestContext<RoleServer>,
    ) -> BoxFuture<'a, Result<ServerResult, McpError>> {
        Box::pin(self.forward_inner(up, request, ctx))
    }

    async fn forward_inner(
        &self,
        up: usize,
        request: ClientRequest,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, McpError> {
        let client = client_side(&ctx.peer, &ctx.meta);
        self.shared
            .routes
            .touch_session(self.session, &client.group, &ctx.peer);
        let upstream = self.upstream(up);
        let peer = upstream
            .peer(&client)
            .await
            .map_err(|e| McpError::internal_error(e.to_string(), None))?;
        // Keep the client's own _meta (trace context and the like), but not the
        // lifecycle keys of this session nor its progress token: rmcp gives
        // every upstream request a token of its own, which we map back.
        let mut meta = ctx.meta.clone();
        meta.0
            .0
            .retain(|k, _| k != "progressToken" && !k.starts_with("io.modelcontextprotocol/"));
        // Cancel wins: once the client's cancel is in, nothing is sent.
        if ctx.ct.is_cancelled() {
            return Err(McpError::internal_error("cancelled by the client", None));
        }
        let handle = peer
            .send_request_with_option(request, PeerRequestOptions::no_options().with_meta(meta))
            .await
            .map_err(|e| upstream_failed(upstream, e))?;
        let upstream_token = handle.progress_token.clone();
        let upstream_id = handle.id.clone();
        let routed = match ctx.meta.get_progress_token() {
            Some(token) => {
                self.shared.routes.add_progress(
                    up,
                    upstream_token.clone(),
                    (ctx.peer.clone(), token),
                );
                true
            }
            None => false,
        };
        let result = tokio::select! {
            r = handle.await_response() => {
                // rmcp runs each notification handler on its own task, so the
                // last progress can still be on its way when the response
                // lands: let those tasks run before the client gets the result.
                if routed {
                    for _ in 0..8 {
                        tokio::task::yield_now().await;
                    }
                }
                r.map(|mut r| {
                    mark_complete(&mut r);
                    r
                })
                .map_err(|e| upstream_failed(upstream, e))
            }
            _ = ctx.ct.cancelled() => {
                let _ = peer
                    .notify_cancelled(CancelledNotificationParam::new(Some(upstream_id), Some("cancelled by the MCP client".to_owned())))
                    .await;
                Err(McpError::internal_error("cancelled by the client", None))
            }
        };
        if routed {
            // Kept a moment for progress still in flight, then dropped.
            self.shared.routes.retire_progress(up, upstream_token);
        }
        result
    }

    /// One page of upstream `up`'s tools, as the JSON object it sent.
    async fn list_tools_page(
        &self,
        up: usize,
        params: Option<PaginatedRequestParams>,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<JsonObject, McpError> {
        let answer = self
            .forward(
                up,
                ClientRequest::ListToolsRequest(list_request(params)),
                ctx,
            )
            .await?;
        match into_json(answer)? {
            Value::Object(page) => Ok(page),
            other => Err(McpError::internal_error(
                format!("the upstream answered tools/list with {other}, not an object"),
                None,
            )),
        }
    }

    /// Lists every tool of every upstream (all pages) into the catalog and
    /// returns them by exposed name, each with its JSON as the upstream
    /// sent it. An upstream that fails to list keeps no tools until the
    /// next listing; the client is told through the log.
    async fn refresh_tools(
        &self,
        ctx: &RequestContext<RoleServer>,
    ) -> Vec<(String, Entry<(Tool, Value)>)> {
        let mut items = Vec::new();
        for up in 0..self.shared.upstreams.len() {
            let listed = self
                .all_pages(
                    up,
                    ctx,
                    |p| ClientRequest::ListToolsRequest(list_request(p)),
                    |r| {
                        let mut page = into_json(r).ok()?;
                        let next = page
                            .get("nextCursor")
                            .and_then(Value::as_str)
                            .map(str::to_owned);
                        match page.get_mut("tools").map(Value::take) {
                            Some(Value::Array(tools)) => Some((tools, next)),
                            _ => None,
                        }
                    },
                )
                .await;
            match listed {
                Ok(tools) => items.extend(
                    tools
                        .into_iter()
                        .filter_map(listed_tool)
                        .map(|(t, json)| (up, t.name.to_string(), (t, json))),
                ),
                Err(e) => {
                    tracing::warn!(upstream = %self.upstream(up).name, error = %e.message, "cannot list the upstream's tools");
                }
            }
        }
        let exposed = catalog::expose(items, &self.shared.server_names());
        self.shared
            .tools
            .replace(exposed.iter().map(|(name, e)| (name.clone(), e.typed())));
        exposed
    }

    /// Every page of one listing from upstream `up`: `request` makes the
    /// request for a cursor, `page_items` takes an answer apart into its
    /// items and the next cursor (`None`: not the answer expected, stop).
    async fn all_pages<T>(
        &self,
        up: usize,
        ctx: &RequestContext<RoleServer>,
        request: fn(Option<PaginatedRequestParams>) -> ClientRequest,
        page_items: fn(ServerResult) -> Option<Page<T>>,
    ) -> Result<Vec<T>, McpError> {
        let mut out = Vec::new();
        let mut cursor = None;
        for _ in 0..MAX_PAGES {
            let Some((items, next)) =
                page_items(self.forward(up, request(page(cursor.take())), ctx).await?)
            else {
                break;
            };
            out.extend(items);
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(out)
    }

    /// Where a tool the client named lives, learning the tools first if the
    /// client called without listing them.
    async fn tool_route(
        &self,
        exposed: &str,
        ctx: &RequestContext<RoleServer>,
    ) -> Option<Entry<Tool>> {
        if !self.shared.tools.contains(exposed) {
            let _one_at_a_time = self.shared.refreshing.lock().await;
            if !self.shared.tools.contains(exposed) {
                Box::pin(self.refresh_tools(ctx)).await;
            }
        }
        self.shared.tools.get(exposed)
    }

    fn is_hidden(&self, entry: &Entry<Tool>) -> bool {
        // In shadow mode nothing is held, denied or hidden.
        !self.shared.policy.shadow()
            && self.shared.policy.is_denied_outright(
                Some(&self.upstream(entry.upstream).name),
                &entry.name,
                policy_annotations(entry.item.annotations.as_ref()),
            )
    }

    async fn call_upstream(
        &self,
        up: usize,
        params: CallToolRequestParams,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Called, McpError> {
        let tool = params.name.to_string();
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        match self.forward(up, request, ctx).await {
            Ok(ServerResult::CustomResult(r)) => Called::from_json(r.0),
            Ok(ServerResult::CallToolResult(r)) => {
                Ok(Called::Json(serde_json::to_value(r).map_err(|e| {
                    McpError::internal_error(e.to_string(), None)
                })?))
            }
            Ok(ServerResult::InputRequiredResult(r)) => {
                Ok(Called::Other(CallToolResponse::InputRequired(r)))
            }
            Ok(ServerResult::CreateTaskResult(r)) => Ok(Called::Other(CallToolResponse::Task(r))),
            Ok(other) => Err(unexpected("tools/call", &other)),
            // The model reads tool errors; a protocol error would be opaque.
            Err(e) if e.code == ErrorCode::INTERNAL_ERROR && !ctx.ct.is_cancelled() => Ok(
                Called::Other(CallToolResponse::Complete(CallToolResult::error(vec![
                    ContentBlock::text(format!("{tool} failed in the gateway: {}", e.message)),
                ]))),
            ),
            Err(e) => Err(e),
        }
    }

    /// Runs the call upstream and answers the client with the upstream's
    /// answer as it came. A task the upstream made is remembered as its
    /// and this session's, so the task methods find their way back.
    async fn pass_call(
        &self,
        up: usize,
        params: CallToolRequestParams,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let called = Box::pin(self.call_upstream(up, params, ctx)).await?;
        if let Called::Other(CallToolResponse::Task(t)) = &called {
            self.shared
                .upstream_tasks
                .made(&t.task.task_id, up, self.session);
        }
        called.respond(ctx)
    }

    /// The upstream that made task `task_id` for this session. Another
    /// session's task is no task; with one upstream an id the gateway has
    /// not seen goes to it (it answers for its own tasks), with several it
    /// is no task.
    fn task_upstream(&self, task_id: &str) -> Result<usize, McpError> {
        match self.shared.upstream_tasks.owner(task_id) {
            Some((up, session)) if session == self.session => Ok(up),
            None if self.single() => Ok(0),
            _ => Err(McpError::invalid_params(
                format!("no task {task_id:?}"),
                None,
            )),
        }
    }

    /// Every prompt of every upstream, by exposed name (several upstreams).
    async fn all_prompts(&self, ctx: &RequestContext<RoleServer>) -> Result<Vec<Prompt>, McpError> {
        let mut items = Vec::new();
        for up in 0..self.shared.upstreams.len() {
            if !self.upstream_has(up, |c| c.prompts.is_some()) {
                continue;
            }
            let prompts = self
                .all_pages(
                    up,
                    ctx,
                    |p| ClientRequest::ListPromptsRequest(list_request(p)),
                    |r| match r {
                        ServerResult::ListPromptsResult(r) => Some((r.prompts, r.next_cursor)),
                        _ => None,
                    },
                )
                .await?;
            items.extend(prompts.into_iter().map(|pr| (up, pr.name.to_string(), pr)));
        }
        let exposed = catalog::expose(items, &self.shared.server_names());
        self.shared.prompts.replace(exposed.iter().map(|(n, e)| {
            (
                n.clone(),
                Entry {
                    upstream: e.upstream,
                    name: e.name.clone(),
                    item: (),
                },
            )
        }));
        Ok(exposed
            .into_iter()
            .map(|(name, e)| {
                let mut p = e.item;
                p.name = name;
                p
            })
            .collect())
    }

    fn upstream_has(&self, up: usize, has: impl Fn(&ServerCapabilities) -> bool) -> bool {
        self.upstream(up)
            .server_info()
            .is_some_and(|i| has(&i.capabilities))
    }

    /// Every resource of every upstream (several upstreams), remembering
    /// which upstream serves each URI.
    async fn all_resources(
        &self,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Vec<Resource>, McpError> {
        let mut out = Vec::new();
        let mut owners = HashMap::new();
        for up in 0..self.shared.upstreams.len() {
            if !self.upstream_has(up, |c| c.resources.is_some()) {
                continue;
            }
            let resources = self
                .all_pages(
                    up,
                    ctx,
                    |p| ClientRequest::ListResourcesRequest(list_request(p)),
                    |r| match r {
                        ServerResult::ListResourcesResult(r) => Some((r.resources, r.next_cursor)),
                        _ => None,
                    },
                )
                .await?;
            for r in resources {
                owners.insert(r.uri.clone(), up);
                out.push(r);
            }
        }
        *self
            .shared
            .resources
            .write()
            .unwrap_or_else(|p| p.into_inner()) = owners;
        Ok(out)
    }

    /// The upstream that serves `uri`, when known.
    fn resource_owner(&self, uri: &str) -> Option<usize> {
        self.shared
            .resources
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(uri)
            .copied()
    }

    /// Sends `make()` to the owner of `uri`, or else to each upstream with
    /// resources until one answers without an error.
    async fn to_resource_owner(
        &self,
        uri: &str,
        make: impl Fn() -> ClientRequest,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, McpError> {
        if self.single() {
            return self.forward(0, make(), ctx).await;
        }
        if let Some(up) = self.resource_owner(uri) {
            return self.forward(up, make(), ctx).await;
        }
        let mut last = McpError::resource_not_found(format!("no upstream serves {uri}"), None);
        for up in 0..self.shared.upstreams.len() {
            if !self.upstream_has(up, |c| c.resources.is_some()) {
                continue;
            }
            match self.forward(up, make(), ctx).await {
                Ok(r) => return Ok(r),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Starts this client's session on every upstream (declaring its
    /// capabilities). Fails only when none can start.
    async fn start_upstreams(&self, client: &upstream::ClientSide) -> Result<(), McpError> {
        let mut errors = Vec::new();
        for up in &self.shared.upstreams {
            if let Err(e) = up.peer(client).await {
                tracing::warn!(upstream = %up.name, error = %e, "upstream did not start");
                errors.push(e.to_string());
            }
        }
        if errors.len() == self.shared.upstreams.len() {
            return Err(McpError::internal_error(errors.join("; "), None));
        }
        Ok(())
    }

    /// Answers a held call as a task (the client declared the tasks
    /// extension). The approval request is created now, so an unreachable
    /// service still refuses at once; the wait, the claim and the run go on
    /// in the background, and `tasks/get` reads the outcome.
    async fn start_task(
        &self,
        up: usize,
        params: CallToolRequestParams,
        ctx: &RequestContext<RoleServer>,
        held: Held,
        slot: limits::HeldSlot,
    ) -> Result<CallToolResponse, McpError> {
        let holder = Hold {
            approvals: &self.shared.approvals,
            decisions: &self.shared.decisions,
            ledger: &self.shared.ledger,
            settings: &self.shared.hold,
        };
        let record = match holder.create(&held.call()).await {
            Ok(r) => r,
            Err(e) => {
                return Ok(CallToolResponse::Complete(hold::unreachable_result(
                    &held.tool, &e,
                )));
            }
        };
        let task_id = format!("{}{}", tasks::PREFIX, record.request_id);
        let message = format!(
            "waiting for approval of {} (request {}, {} risk), expires {}",
            record.tool,
            record.request_id,
            record.risk,
            record.expires_at.format("%H:%M UTC")
        );
        let (task, cancel) = self.shared.tasks.start(&task_id, message, self.session);
        let mut bg = ctx.clone();
        bg.ct = cancel;
        // The request that asked is answered: the result goes to the task.
        bg.extensions.remove::<JsonAnswer>();
        // Nothing to send progress to: the request that asked is answered.
        bg.meta.0.0.remove("progressToken");
        let gw = self.clone();
        tokio::spawn(async move {
            // The task is a held call until it is decided.
            let _slot = slot;
            // Wait as long as the request can live: it expires first.
            let long = std::time::Duration::from_secs(held.approval.timeout_secs + 60);
            let settings = HoldSettings {
                budget_with_progress: long,
                budget_without_progress: long,
                ..gw.shared.hold.clone()
            };
            let holder = Hold {
                approvals: &gw.shared.approvals,
                decisions: &gw.shared.decisions,
                ledger: &gw.shared.ledger,
                settings: &settings,
            };
            let (payload, message) = match holder.run(held.call(), &bg).await {
                Outcome::Run(_) if bg.ct.is_cancelled() => (
                    TaskPayload::Cancelled,
                    Some("cancelled; the call did not run".to_owned()),
                ),
                Outcome::Run(record) => {
                    let by = record.approver.clone().unwrap_or_default();
                    match gw.call_upstream(up, params, &bg).await {
                        Ok(Called::Json(r)) => (
                            TaskPayload::Completed {
                                result: tasks::as_object(r),
                            },
                            Some(format!("approved by {by}; the call ran")),
                        ),
                        Ok(Called::Other(CallToolResponse::Complete(r))) => (
                            TaskPayload::Completed {
                                result: tasks::as_object(
                                    serde_json::to_value(r).unwrap_or_default(),
                                ),
                            },
                            Some(format!("approved by {by}; the call ran")),
                        ),
                        Ok(_) => (
                            TaskPayload::Failed {
                                error: tasks::as_object(
                                    json!({"code": -32603, "message": "the upstream answered with another task or an input request"}),
                                ),
                            },
                            None,
                        ),
                        Err(e) => (
                            TaskPayload::Failed {
                                error: tasks::as_object(
                                    serde_json::to_value(&e).unwrap_or_default(),
                                ),
                            },
                            Some(e.message.to_string()),
                        ),
                    }
                }
                Outcome::Answer(r) => {
                    let text = r
                        .content
                        .first()
                        .and_then(|c| c.as_text())
                        .map(|t| t.text.clone());
                    (
                        TaskPayload::Completed {
                            result: tasks::as_object(serde_json::to_value(r).unwrap_or_default()),
                        },
                        text,
                    )
                }
                Outcome::Cancelled => (
                    TaskPayload::Cancelled,
                    Some("cancelled; the approval request was withdrawn".to_owned()),
                ),
            };
            gw.shared.tasks.finish(&task_id, payload, message);
        });
        Ok(CallToolResponse::Task(CreateTaskResult::new(task)))
    }

    async fn gateway_tool(&self, params: &CallToolRequestParams) -> CallToolResult {
        let args = params
            .arguments
            .clone()
            .map(Value::Object)
            .unwrap_or(json!({}));
        if params.name == STATUS_TOOL {
            let Some(id) = args.get("request_id").and_then(Value::as_str) else {
                return CallToolResult::error(vec![ContentBlock::text(
                    "approval_status needs `request_id` (a string)",
                )]);
            };
            let mine = self.shared.principal(self.session);
            match self.shared.approvals.get(id).await {
                // Another session's request is none of this one's business:
                // answered as if there were no such request.
                Ok(r) if r.session.as_deref() != Some(mine.as_str()) => {
                    CallToolResult::error(vec![ContentBlock::text(format!(
                        "cannot read request {id}: this session made no such request"
                    ))])
                }
                Ok(r) => {
                    let text = match r.status {
                        hitl_wire::Status::Pending => format!(
                            "Request {} for {} is still pending (expires {}). Check again later; do not retry the call until it is approved.",
                            r.request_id,
                            r.tool,
                            r.expires_at.format("%H:%M UTC")
                        ),
                        hitl_wire::Status::Approved if r.executed_at.is_some() => format!(
                            "Request {} for {} was approved by {} and has already run; a new call needs a new approval.",
                            r.request_id,
                            r.tool,
                            r.approver.as_deref().unwrap_or("?")
                        ),
                        hitl_wire::Status::Approved => format!(
                            "Request {} for {} was approved by {}. Make the identical call again now and it will run once.",
                            r.request_id,
                            r.tool,
                            r.approver.as_deref().unwrap_or("?")
                        ),
                        _ => hold::final_result(&r)
                            .content
                            .first()
                            .and_then(|c| c.as_text())
                            .map(|t| t.text.clone())
                            .unwrap_or_default(),
                    };
                    let mut out = CallToolResult::success(vec![ContentBlock::text(text)]);
                    out.structured_content = Some(json!({
                        "request_id": r.request_id, "status": r.status, "tool": r.tool,
                        "approver": r.approver, "reason": r.reason, "expires_at": r.expires_at,
                        "executed": r.executed_at.is_some(),
                    }));
                    out
                }
                Err(e) => CallToolResult::error(vec![ContentBlock::text(format!(
                    "cannot read request {id}: {e}"
                ))]),
            }
        } else {
            let mine = self.shared.principal(self.session);
            // A record this gateway cannot read is not listed; the others are.
            match self.shared.approvals.pending().await.map(|l| l.approvals) {
                Ok(mut list) => {
                    list.retain(|r| r.session.as_deref() == Some(mine.as_str()));
                    let lines: Vec<String> = list
                        .iter()
                        .map(|r| {
                            format!(
                                "{} {} on {} ({} risk), expires {}",
                                r.request_id,
                                r.tool,
                                r.server.as_deref().unwrap_or("-"),
                                r.risk,
                                r.expires_at.format("%H:%M UTC")
                            )
                        })
                        .collect();
                    let text = if lines.is_empty() {
                        "No approval requests are pending.".to_owned()
                    } else {
                        lines.join("\n")
                    };
                    let mut out = CallToolResult::success(vec![ContentBlock::text(text)]);
                    out.structured_content = Some(json!({"pending": list.iter().map(|r| json!({
                        "request_id": r.request_id, "tool": r.tool, "server": r.server, "risk": r.risk, "expires_at": r.expires_at,
                    })).collect::<Vec<_>>()}));
                    out
                }
                Err(e) => CallToolResult::error(vec![ContentBlock::text(format!(
                    "cannot list pending approvals: {e}"
                ))]),
            }
        }
    }
}

/// An upstream's answer to `tools/call`: a result as the JSON it sent, or
/// an answer the gateway reads (an input request, a task, its own error).
enum Called {
    Json(Value),
    Other(CallToolResponse),
}

impl Called {
    fn from_json(v: Value) -> Result<Self, McpError> {
        let kind = v
            .get("resultType")
            .and_then(Value::as_str)
            .unwrap_or("complete")
            .to_owned();
        let typed = |e: serde_json::Error| {
            McpError::internal_error(
                format!("the upstream's {kind} answer to tools/call: {e}"),
                None,
            )
        };
        Ok(match kind.as_str() {
            "input_required" => Called::Other(CallToolResponse::InputRequired(
                serde_json::from_value(v).map_err(typed)?,
            )),
            "task" => Called::Other(CallToolResponse::Task(
                serde_json::from_value(v).map_err(typed)?,
            )),
            _ => Called::Json(v),
        })
    }

    /// The answer for the client: JSON left in the request's slot, or typed.
    fn respond(self, ctx: &RequestContext<RoleServer>) -> Result<CallToolResponse, McpError> {
        match self {
            Called::Other(r) => Ok(r),
            Called::Json(v) => match JsonAnswer::put(ctx, passthrough::Kind::CallTool, v) {
                // The JSON answers; what is returned here is not sent.
                Ok(()) => Ok(CallToolResponse::Complete(CallToolResult::default())),
                Err(v) => serde_json::from_value(v)
                    .map(CallToolResponse::Complete)
                    .map_err(|e| {
                        McpError::internal_error(
                            format!("cannot read a tools/call result: {e}"),
                            None,
                        )
                    }),
            },
        }
    }
}

/// A listed tool: what the gateway reads of it, and its JSON as sent.
/// `None` for an entry without a name (nothing could call it).
fn listed_tool(json: Value) -> Option<(Tool, Value)> {
    let name = json.get("name")?.as_str()?.to_owned();
    let tool = serde_json::from_value::<Tool>(json.clone())
        .unwrap_or_else(|_| Tool::new(name, "", Arc::new(JsonObject::new())));
    Some((tool, json))
}

impl Entry<(Tool, Value)> {
    fn typed(&self) -> Entry<Tool> {
        Entry {
            upstream: self.upstream,
            name: self.name.clone(),
            item: self.item.0.clone(),
        }
    }
}

/// A held call, owned: what a hold needs, also after the request that
/// asked has been answered (a task runs on).
struct Held {
    key: hold::CallKey,
    server: String,
    tool: String,
    arguments: Value,
    risk: hitl_wire::Risk,
    reasons: Vec<String>,
    approval: crate::policy::Approval,
    approvers: Vec<String>,
    session: String,
    has_output_schema: bool,
}

impl Held {
    fn call(&self) -> Call<'_> {
        Call {
            key: self.key.clone(),
            server: &self.server,
            tool: &self.tool,
            arguments: &self.arguments,
            risk: self.risk,
            reasons: self.reasons.clone(),
            approval: &self.approval,
            approvers: self.approvers.clone(),
            session: Some(self.session.clone()),
            has_output_schema: self.has_output_schema,
        }
    }
}

/// MCP annotations, as the policy reads them (absent hints stay absent).
fn policy_annotations(a: Option<&ToolAnnotations>) -> crate::policy::ToolAnnotations {
    a.map(|a| crate::policy::ToolAnnotations {
        read_only_hint: a.read_only_hint,
        destructive_hint: a.destructive_hint,
        idempotent_hint: a.idempotent_hint,
        open_world_hint: a.open_world_hint,
    })
    .unwrap_or_default()
}

/// Results from an upstream on an older revision carry no `resultType`;
/// 2026-07-28 clients must get one. rmcp strips `"complete"` again for
/// clients on older revisions, so setting it is right for every client.
fn mark_complete(result: &mut ServerResult) {
    let slot = match result {
        ServerResult::CompleteResult(r) => &mut r.result_type,
        ServerResult::GetPromptResult(r) => &mut r.result_type,
        ServerResult::ListPromptsResult(r) => &mut r.result_type,
        ServerResult::ListResourcesResult(r) => &mut r.result_type,
        ServerResult::ListResourceTemplatesResult(r) => &mut r.result_type,
        ServerResult::ReadResourceResult(r) => &mut r.result_type,
        ServerResult::ListToolsResult(r) => &mut r.result_type,
        ServerResult::CallToolResult(r) => &mut r.result_type,
        _ => return,
    };
    if slot.is_none() {
        *slot = Some(ResultType::COMPLETE);
    }
}

/// A random name for this gateway process (see [`Shared::principal`]).
fn instance_id() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..8)
        .map(|_| char::from(b"0123456789abcdefghjkmnpqrstvwxyz"[rng.random_range(0..32)]))
        .collect()
}

fn upstream_failed(up: &Upstream, e: rmcp::ServiceError) -> McpError {
    // `up.name` identifies it among several upstreams.
    McpError::internal_error(
        format!(
            "the upstream MCP server {} ({}) failed: {}; the gateway restarts it if it exited",
            up.name,
            up.spec(),
            upstream::redact_urls(&e.to_string())
        ),
        None,
    )
}

fn unexpected(method: &str, result: &ServerResult) -> McpError {
    McpError::internal_error(
        format!("the upstream answered {method} with an unexpected result: {result:?}"),
        None,
    )
}

fn gateway_tools() -> Vec<Tool> {
    let schema = |v: Value| Arc::new(v.as_object().cloned().unwrap_or_default());
    vec![
        Tool::new(
            STATUS_TOOL,
            "Check a held tool call's approval request: pending, approved (then repeat the identical call once), rejected or expired, with who decided and why.",
            schema(json!({"type": "object", "properties": {"request_id": {"type": "string", "description": "the request id from the pending-approval result"}}, "required": ["request_id"]})),
        )
        .annotate(ToolAnnotations::new().read_only(true)),
        Tool::new(
            PENDING_TOOL,
            "List approval requests still waiting for a person's decision.",
            schema(json!({"type": "object", "properties": {}})),
        )
        .annotate(ToolAnnotations::new().read_only(true)),
    ]
}

macro_rules! pass {
    ($self:ident, $ctx:ident, $up:expr, $request:expr, $variant:ident) => {
        match $self.forward($up, $request, &$ctx).await? {
            ServerResult::$variant(r) => Ok(r.into()),
            other => Err(unexpected(stringify!($variant), &other)),
        }
    };
}

/// What the client declared: in the request's `_meta` for a stateless
/// 2026-07-28 call, else at `initialize` (nothing when neither: a client
/// that declares nothing gets no capability-gated tools).
fn client_side(peer: &rmcp::service::Peer<RoleServer>, meta: &MetaObject) -> upstream::ClientSide {
    if let Some(caps) = meta.get("io.modelcontextprotocol/clientCapabilities") {
        let capabilities = serde_json::from_value(caps.clone()).unwrap_or_default();
        let info = meta
            .get("io.modelcontextprotocol/clientInfo")
            .and_then(|i| serde_json::from_value(i.clone()).ok());
        return upstream::ClientSide::new(capabilities, info);
    }
    match peer.peer_info() {
        Some(info) => {
            upstream::ClientSide::new(info.capabilities.clone(), Some(info.client_info.clone()))
        }
        None => upstream::ClientSide::new(ClientCapabilities::default(), None),
    }
}

/// The capabilities of several upstreams together: the union.
fn merged_info(upstreams: &[Arc<Upstream>]) -> ServerConfig {
    let mut info = ServerConfig::default();
    let mut instructions = Vec::new();
    for up in upstreams {
        let Some(i) = up.server_info() else { continue };
        let (c, m) = (&mut info.capabilities, &i.capabilities);
        c.prompts = c.prompts.take().or_else(|| m.prompts.clone());
        c.resources = c.resources.take().or_else(|| m.resources.clone());
        c.logging = c.logging.take().or_else(|| m.logging.clone());
        c.completions = c.completions.take().or_else(|| m.completions.clone());
        c.tools = c.tools.take().or_else(|| m.tools.clone());
        if let Some(text) = i.instructions {
            instructions.push(format!("{}: {text}", up.name));
        }
    }
    info.server_info = Implementation::new("hitl-mcp", env!("CARGO_PKG_VERSION"));
    if !instructions.is_empty() {
        info.instructions = Some(instructions.join("\n\n"));
    }
    info
}

impl ServerHandler for Gateway {
    fn get_info(&self) -> ServerConfig {
        let mut info = if self.single() {
            self.shared.upstreams[0].server_info().unwrap_or_default()
        } else {
            merged_info(&self.shared.upstreams)
        };
        // The gateway's own tools need the tools capability even when no
        // upstream has tools.
        if info.capabilities.tools.is_none() {
            info.capabilities.tools = Some(ToolsCapability::default());
        }
        // Held calls can be answered as tasks (SEP-2663).
        info.capabilities
            .extensions
            .get_or_insert_with(Default::default)
            .insert(TASKS_EXTENSION_ID.to_owned(), JsonObject::new());
        info
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, McpError> {
        ctx.peer.set_peer_info(request.clone());
        let client = client_side(&ctx.peer, &ctx.meta);
        self.shared
            .routes
            .touch_session(self.session, &client.group, &ctx.peer);
        // Start first so the capabilities we answer with are the upstreams'.
        self.start_upstreams(&client).await?;
        self.negotiate_initialize(&request)
    }

    async fn discover(&self, ctx: RequestContext<RoleServer>) -> Result<DiscoverResult, McpError> {
        // Start the upstreams first, so what we describe is what they offer.
        let client = client_side(&ctx.peer, &ctx.meta);
        self.shared
            .routes
            .touch_session(self.session, &client.group, &ctx.peer);
        self.start_upstreams(&client).await?;
        Ok(DiscoverResult::from_server_info(
            self.supported_protocol_versions().into_owned(),
            self.get_info(),
        ))
    }

    async fn complete(
        &self,
        mut p: CompleteRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        if self.single() {
            return pass!(
                self,
                ctx,
                0,
                ClientRequest::CompleteRequest(CompleteRequest::new(p)),
                CompleteResult
            );
        }
        // A prompt argument goes to the prompt's upstream under its own name;
        // a resource template's to whichever upstream completes it.
        let up = match &mut p.r#ref {
            Reference::Prompt(prompt) => {
                let Some(entry) = self.shared.prompts.get(&prompt.name) else {
                    return Err(McpError::invalid_params(
                        format!("unknown prompt {}", prompt.name),
                        None,
                    ));
                };
                prompt.name = entry.name;
                Some(entry.upstream)
            }
            _ => None,
        };
        if let Some(up) = up {
            return pass!(
                self,
                ctx,
                up,
                ClientRequest::CompleteRequest(CompleteRequest::new(p)),
                CompleteResult
            );
        }
        let mut last = McpError::invalid_params("no upstream completes this reference", None);
        for up in 0..self.shared.upstreams.len() {
            if !self.upstream_has(up, |c| c.completions.is_some()) {
                continue;
            }
            match self
                .forward(
                    up,
                    ClientRequest::CompleteRequest(CompleteRequest::new(p.clone())),
                    &ctx,
                )
                .await
            {
                Ok(ServerResult::CompleteResult(r)) => return Ok(r),
                Ok(other) => last = unexpected("completion/complete", &other),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn set_level(
        &self,
        p: SetLevelRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let mut result = Ok(());
        for up in 0..self.shared.upstreams.len() {
            if !self.single() && !self.upstream_has(up, |c| c.logging.is_some()) {
                continue;
            }
            if let Err(e) = self
                .forward(
                    up,
                    ClientRequest::SetLevelRequest(SetLevelRequest::new(p.clone())),
                    &ctx,
                )
                .await
            {
                result = Err(e);
            }
        }
        result
    }

    async fn get_prompt(
        &self,
        mut p: GetPromptRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let up = if self.single() {
            0
        } else {
            if !self.shared.prompts.contains(&p.name) {
                self.all_prompts(&ctx).await?;
            }
            let entry = self.shared.prompts.get(&p.name).ok_or_else(|| {
                McpError::invalid_params(format!("unknown prompt {}", p.name), None)
            })?;
            p.name = entry.name;
            entry.upstream
        };
        match self
            .forward(
                up,
                ClientRequest::GetPromptRequest(GetPromptRequest::new(p)),
                &ctx,
            )
            .await?
        {
            ServerResult::GetPromptResult(r) => Ok(GetPromptResponse::Complete(r)),
            ServerResult::InputRequiredResult(r) => Ok(GetPromptResponse::InputRequired(r)),
            other => Err(unexpected("prompts/get", &other)),
        }
    }

    async fn list_prompts(
        &self,
        p: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        if self.single() {
            return pass!(
                self,
                ctx,
                0,
                ClientRequest::ListPromptsRequest(list_request(p)),
                ListPromptsResult
            );
        }
        Ok(ListPromptsResult::with_all_items(
            self.all_prompts(&ctx).await?,
        ))
    }

    async fn list_resources(
        &self,
        p: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        if self.single() {
            return pass!(
                self,
                ctx,
                0,
                ClientRequest::ListResourcesRequest(list_request(p)),
                ListResourcesResult
            );
        }
        Ok(ListResourcesResult::with_all_items(
            self.all_resources(&ctx).await?,
        ))
    }

    async fn list_resource_templates(
        &self,
        p: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        if self.single() {
            return pass!(
                self,
                ctx,
                0,
                ClientRequest::ListResourceTemplatesRequest(list_request(p)),
                ListResourceTemplatesResult
            );
        }
        let mut all = Vec::new();
        for up in 0..self.shared.upstreams.len() {
            if !self.upstream_has(up, |c| c.resources.is_some()) {
                continue;
            }
            let templates = self
                .all_pages(
                    up,
                    &ctx,
                    |p| ClientRequest::ListResourceTemplatesRequest(list_request(p)),
                    |r| match r {
                        ServerResult::ListResourceTemplatesResult(r) => {
                            Some((r.resource_templates, r.next_cursor))
                        }
                        _ => None,
                    },
                )
                .await?;
            all.extend(templates);
        }
        Ok(ListResourceTemplatesResult::with_all_items(all))
    }

    async fn read_resource(
        &self,
        p: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let uri = p.uri.clone();
        let make = || ClientRequest::ReadResourceRequest(ReadResourceRequest::new(p.clone()));
        match self.to_resource_owner(&uri, make, &ctx).await? {
            ServerResult::ReadResourceResult(r) => Ok(ReadResourceResponse::Complete(r)),
            ServerResult::InputRequiredResult(r) => Ok(ReadResourceResponse::InputRequired(r)),
            other => Err(unexpected("resources/read", &other)),
        }
    }

    async fn subscribe(
        &self,
        p: SubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let uri = p.uri.clone();
        let make = || ClientRequest::SubscribeRequest(SubscribeRequest::new(p.clone()));
        self.to_resource_owner(&uri, make, &ctx).await.map(|_| ())
    }

    async fn unsubscribe(
        &self,
        p: UnsubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let uri = p.uri.clone();
        let make = || ClientRequest::UnsubscribeRequest(UnsubscribeRequest::new(p.clone()));
        self.to_resource_owner(&uri, make, &ctx).await.map(|_| ())
    }

    async fn list_tools(
        &self,
        p: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let first_page = p.as_ref().and_then(|p| p.cursor.as_ref()).is_none();
        // Each tool as the upstream sent it, every field kept; only denied
        // tools are left out and the gateway's own added.
        let (mut page, mut tools) = if self.single() {
            // One upstream: its pages, as they are.
            let mut page = self.list_tools_page(0, p, &ctx).await?;
            let tools = match page.remove("tools") {
                Some(Value::Array(tools)) => tools,
                _ => Vec::new(),
            };
            let mut kept = Vec::with_capacity(tools.len());
            let mut learned = Vec::with_capacity(tools.len());
            for json in tools {
                let Some((tool, json)) = listed_tool(json) else {
                    continue;
                };
                let entry = Entry {
                    upstream: 0,
                    name: tool.name.to_string(),
                    item: tool,
                };
                if !self.is_hidden(&entry) {
                    kept.push(json);
                }
                learned.push((entry.name.clone(), entry));
            }
            self.shared.tools.extend(learned);
            (page, kept)
        } else {
            let mut kept = Vec::new();
            for (name, e) in Box::pin(self.refresh_tools(&ctx)).await {
                let typed = e.typed();
                if self.is_hidden(&typed) {
                    continue;
                }
                let mut json = e.item.1;
                json["name"] = Value::String(name);
                kept.push(json);
            }
            (JsonObject::new(), kept)
        };
        if first_page {
            tools.extend(
                gateway_tools()
                    .into_iter()
                    .filter_map(|t| serde_json::to_value(t).ok()),
            );
        }
        page.insert("tools".to_owned(), Value::Array(tools));
        match JsonAnswer::put(&ctx, passthrough::Kind::ListTools, Value::Object(page)) {
            // The JSON answers; what is returned here is not sent.
            Ok(()) => Ok(ListToolsResult::default()),
            Err(page) => serde_json::from_value(page).map_err(|e| {
                McpError::internal_error(format!("cannot read tools/list: {e}"), None)
            }),
        }
    }

    async fn call_tool(
        &self,
        mut params: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let client = client_side(&ctx.peer, &ctx.meta);
        self.shared
            .routes
            .touch_session(self.session, &client.group, &ctx.peer);
        if let Some(args) = &params.arguments {
            // Refused before anything looks deeper or forwards it.
            limits::check_depth(&Value::Object(args.clone()))
                .map_err(|e| McpError::invalid_params(e, None))?;
        }
        if params.name == STATUS_TOOL || params.name == PENDING_TOOL {
            return Ok(CallToolResponse::Complete(
                Box::pin(self.gateway_tool(&params)).await,
            ));
        }
        let exposed = params.name.to_string();
        let route = match self.tool_route(&exposed, &ctx).await {
            Some(route) => route,
            // One upstream: let it answer for a tool it did not list.
            None if self.single() => Entry {
                upstream: 0,
                name: exposed.clone(),
                item: Tool::new(exposed.clone(), "", Arc::new(Default::default())),
            },
            None => {
                return Ok(CallToolResponse::Complete(CallToolResult::error(vec![
                    ContentBlock::text(format!(
                        "There is no tool named {exposed}; list the tools to see what is available."
                    )),
                ])));
            }
        };
        let up = route.upstream;
        let server = self.upstream(up).name.clone();
        let tool = route.name.clone();
        params.name = tool.clone().into();
        let arguments = params
            .arguments
            .clone()
            .map(Value::Object)
            .unwrap_or(json!({}));
        let verdict = self.shared.policy.evaluate(
            &ToolCall::new(&tool, &arguments)
                .with_server(&server)
                .with_annotations(policy_annotations(route.item.annotations.as_ref())),
        );
        tracing::info!(tool = %tool, server = %server, risk = %verdict.risk, action = %verdict.action.kind(), rule = verdict.rule.as_deref().unwrap_or(""), shadow = self.shared.policy.shadow(), "verdict");
        if self.shared.policy.shadow() {
            return self.pass_call(up, params, &ctx).await;
        }
        let approval = match &verdict.action {
            Action::Allow => return self.pass_call(up, params, &ctx).await,
            Action::Deny => {
                let reasons = verdict.reason_strings();
                let text = format!(
                    "The gateway's policy does not allow {exposed} with these arguments ({} risk: {}). It did not run; do not retry it.",
                    verdict.risk,
                    reasons.join("; ")
                );
                let mut r = CallToolResult::error(vec![ContentBlock::text(text)]);
                r.structured_content =
                    Some(json!({"status": "denied", "risk": verdict.risk, "reasons": reasons}));
                return Ok(CallToolResponse::Complete(r));
            }
            Action::RequireApproval(a) => a.clone(),
        };
        let slot = match self.shared.held.take(self.session) {
            Ok(slot) => slot,
            Err(refusal) => {
                let mut r = CallToolResult::error(vec![ContentBlock::text(refusal)]);
                r.structured_content = Some(json!({"status": "not_held", "reason": "hold limit"}));
                return Ok(CallToolResponse::Complete(r));
            }
        };
        let principal = self.shared.principal(self.session);
        let held = Held {
            key: hold::key(&principal, &server, &tool, &arguments),
            server,
            tool,
            arguments,
            risk: verdict.risk,
            reasons: verdict.reason_strings(),
            approvers: approval.approvers.to_vec(),
            approval,
            session: principal,
            has_output_schema: route.item.output_schema.is_some(),
        };
        if ctx
            .client_capabilities()
            .is_some_and(|c| c.supports_tasks())
        {
            return Box::pin(self.start_task(up, params, &ctx, held, slot)).await;
        }
        let holder = Hold {
            approvals: &self.shared.approvals,
            decisions: &self.shared.decisions,
            ledger: &self.shared.ledger,
            settings: &self.shared.hold,
        };
        // Boxed: the hold is what a thousand waiting calls keep in memory.
        let outcome = Box::pin(holder.run(held.call(), &ctx)).await;
        drop(slot);
        match outcome {
            // Cancel wins over an approval that raced it.
            Outcome::Run(_) if ctx.ct.is_cancelled() => Err(McpError::internal_error(
                "cancelled by the client; the call did not run",
                None,
            )),
            Outcome::Run(record) => {
                tracing::info!(approval_id = %record.request_id, tool = %held.tool, "approved; running");
                self.pass_call(up, params, &ctx).await
            }
            Outcome::Answer(result) => Ok(CallToolResponse::Complete(result)),
            Outcome::Cancelled => Err(McpError::internal_error(
                "cancelled by the client; the approval request was withdrawn",
                None,
            )),
        }
    }

    async fn get_task(
        &self,
        p: GetTaskParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, McpError> {
        if p.task_id.starts_with(tasks::PREFIX) {
            return self
                .shared
                .tasks
                .get(&p.task_id, self.session)
                .map(GetTaskResult::new)
                .ok_or_else(|| McpError::invalid_params(format!("no task {:?}", p.task_id), None));
        }
        let up = self.task_upstream(&p.task_id)?;
        match self
            .forward(
                up,
                ClientRequest::GetTaskRequest(GetTaskRequest::new(p)),
                &ctx,
            )
            .await?
        {
            ServerResult::GetTaskResult(r) => Ok(r),
            other => Err(unexpected("tasks/get", &other)),
        }
    }

    async fn cancel_task(
        &self,
        p: CancelTaskParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        if p.task_id.starts_with(tasks::PREFIX) {
            return if self.shared.tasks.cancel(&p.task_id, self.session) {
                Ok(())
            } else {
                Err(McpError::invalid_params(
                    format!("no task {:?}", p.task_id),
                    None,
                ))
            };
        }
        let up = self.task_upstream(&p.task_id)?;
        self.forward(
            up,
            ClientRequest::CancelTaskRequest(CancelTaskRequest::new(p)),
            &ctx,
        )
        .await
        .map(|_| ())
    }

    async fn update_task(
        &self,
        p: UpdateTaskParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        if p.task_id.starts_with(tasks::PREFIX) {
            return Err(McpError::invalid_params(
                "a held call's task takes no input; a person decides it",
                None,
            ));
        }
        let up = self.task_upstream(&p.task_id)?;
        self.forward(
            up,
            ClientRequest::UpdateTaskRequest(UpdateTaskRequest::new(p)),
            &ctx,
        )
        .await
        .map(|_| ())
    }

    async fn on_cancelled(
        &self,
        _n: CancelledNotificationParam,
        _ctx: NotificationContext<RoleServer>,
    ) {
        // rmcp cancels the request's token itself; the hold and `forward`
        // watch that token.
    }

    async fn on_roots_list_changed(&self, ctx: NotificationContext<RoleServer>) {
        let client = client_side(&ctx.peer, &ctx.meta);
        for up in &self.shared.upstreams {
            if let Ok(peer) = up.peer(&client).await {
                let _ = peer.notify_roots_list_changed().await;
            }
        }
    }
}
