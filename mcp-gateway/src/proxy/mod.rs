//! The proxy: the MCP server side of the gateway, one [`Gateway`] per
//! downstream session, in front of one upstream ([`upstream`]).
//!
//! Everything the upstream offers passes through unchanged; only `tools/list`
//! (denied tools hidden, the gateway's two tools added) and `tools/call`
//! (judged by the policy, held for approval when it says so) are looked at.

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

pub mod decisions;
pub mod hold;
pub mod serve;
pub mod upstream;

use crate::approval::ApprovalClient;
use crate::policy::{Action, Policy, ToolCall};
use hold::{Call, Hold, HoldSettings, Ledger, Outcome};
use upstream::{Routes, Upstream};

pub const STATUS_TOOL: &str = "approval_status";
pub const PENDING_TOOL: &str = "list_pending_approvals";

/// State shared by every session of one gateway.
pub struct Shared {
    pub upstream: Arc<Upstream>,
    pub routes: Arc<Routes>,
    pub policy: Arc<Policy>,
    pub approvals: ApprovalClient,
    pub hold: HoldSettings,
    decisions: decisions::Decisions,
    ledger: Ledger,
    /// The upstream's tools as last listed, for their annotations.
    tools: RwLock<HashMap<String, Tool>>,
    /// One tools/list at a time when calls arrive for tools not yet listed
    /// (a burst of calls must not each list the upstream's tools).
    refreshing: tokio::sync::Mutex<()>,
    sessions: AtomicU64,
}

impl Shared {
    pub fn new(
        upstream: Arc<Upstream>,
        routes: Arc<Routes>,
        policy: Arc<Policy>,
        approvals: ApprovalClient,
        hold: HoldSettings,
    ) -> Arc<Self> {
        Arc::new(Self {
            upstream,
            routes,
            policy,
            decisions: decisions::Decisions::start(approvals.clone()),
            approvals,
            hold,
            ledger: Ledger::default(),
            tools: RwLock::new(HashMap::new()),
            refreshing: tokio::sync::Mutex::new(()),
            sessions: AtomicU64::new(0),
        })
    }
}

#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
    session: u64,
}

impl Gateway {
    /// A handler for a new downstream session.
    pub fn session(shared: &Arc<Shared>) -> Self {
        let session = shared.sessions.fetch_add(1, Ordering::Relaxed) + 1;
        Self {
            shared: shared.clone(),
            session,
        }
    }

    fn server_name(&self) -> &str {
        &self.shared.upstream.name
    }

    /// Forwards one request upstream, mapping the client's progress token to
    /// the upstream's and passing a client cancellation on.
    /// Boxed so that every request handler, which awaits this, stays small
    /// in memory; see BENCHMARKS.md (held calls).
    fn forward<'a>(
        &'a self,
        request: ClientRequest,
        ctx: &'a RequestContext<RoleServer>,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<ServerResult, McpError>> + Send + 'a>,
    > {
        Box::pin(self.forward_inner(request, ctx))
    }

    async fn forward_inner(
        &self,
        request: ClientRequest,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, McpError> {
        self.shared.routes.touch_session(self.session, &ctx.peer);
        let peer = self
            .shared
            .upstream
            .peer()
            .await
            .map_err(|e| McpError::internal_error(e.to_string(), None))?;
        // Keep the client's own _meta (trace context and the like), but not the
        // lifecycle keys of this session nor its progress token: rmcp gives
        // every upstream request a token of its own, which we map back.
        let mut meta = ctx.meta.clone();
        meta.0
            .0
            .retain(|k, _| k != "progressToken" && !k.starts_with("io.modelcontextprotocol/"));
        let handle = peer
            .send_request_with_option(request, PeerRequestOptions::no_options().with_meta(meta))
            .await
            .map_err(|e| upstream_failed(&self.shared.upstream, e))?;
        let upstream_token = handle.progress_token.clone();
        let upstream_id = handle.id.clone();
        let routed = match ctx.meta.get_progress_token() {
            Some(token) => {
                self.shared
                    .routes
                    .add_progress(upstream_token.clone(), (ctx.peer.clone(), token));
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
                .map_err(|e| upstream_failed(&self.shared.upstream, e))
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
            self.shared.routes.retire_progress(upstream_token);
        }
        result
    }

    async fn list_upstream_tools(
        &self,
        params: Option<PaginatedRequestParams>,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let request = ClientRequest::ListToolsRequest(RequestOptionalParam {
            method: Default::default(),
            params,
            extensions: Default::default(),
        });
        match self.forward(request, ctx).await? {
            ServerResult::ListToolsResult(r) => Ok(r),
            other => Err(unexpected("tools/list", &other)),
        }
    }

    fn knows_tool(&self, tool: &str) -> bool {
        self.shared
            .tools
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(tool)
    }

    fn remember_tools(&self, tools: &[Tool]) {
        let mut cache = self.shared.tools.write().unwrap_or_else(|p| p.into_inner());
        for t in tools {
            cache.insert(t.name.to_string(), t.clone());
        }
    }

    /// Lists every upstream tool (all pages) into the cache. A failure leaves
    /// the cache as it was: the call is then judged without annotations,
    /// which can only make it look riskier.
    async fn refresh_tools(&self, ctx: &RequestContext<RoleServer>) {
        let mut cursor = None;
        for _ in 0..100 {
            let params = cursor
                .take()
                .map(|c| PaginatedRequestParams::default().with_cursor(Some(c)));
            match self.list_upstream_tools(params, ctx).await {
                Ok(page) => {
                    self.remember_tools(&page.tools);
                    match page.next_cursor {
                        Some(next) => cursor = Some(next),
                        None => return,
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e.message, "cannot list the upstream's tools");
                    return;
                }
            }
        }
    }

    /// The tool's annotations as last listed, in the policy's terms.
    fn annotations(&self, tool: &str) -> crate::policy::ToolAnnotations {
        let tools = self.shared.tools.read().unwrap_or_else(|p| p.into_inner());
        policy_annotations(tools.get(tool).and_then(|t| t.annotations.as_ref()))
    }

    async fn call_upstream(
        &self,
        params: CallToolRequestParams,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let tool = params.name.to_string();
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        match self.forward(request, ctx).await {
            Ok(ServerResult::CallToolResult(r)) => Ok(CallToolResponse::Complete(r)),
            Ok(ServerResult::InputRequiredResult(r)) => Ok(CallToolResponse::InputRequired(r)),
            Ok(ServerResult::CreateTaskResult(r)) => Ok(CallToolResponse::Task(r)),
            Ok(other) => Err(unexpected("tools/call", &other)),
            // The model reads tool errors; a protocol error would be opaque.
            Err(e) if e.code == ErrorCode::INTERNAL_ERROR && !ctx.ct.is_cancelled() => {
                Ok(CallToolResponse::Complete(CallToolResult::error(vec![
                    ContentBlock::text(format!("{tool} failed in the gateway: {}", e.message)),
                ])))
            }
            Err(e) => Err(e),
        }
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
            match self.shared.approvals.get(id).await {
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
            match self.shared.approvals.pending().await {
                Ok(list) => {
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

fn upstream_failed(up: &Upstream, e: rmcp::ServiceError) -> McpError {
    McpError::internal_error(
        format!(
            "the upstream MCP server {} failed: {e}; the gateway restarts it if it exited",
            up.spec()
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
    ($self:ident, $ctx:ident, $request:expr, $variant:ident) => {
        match $self.forward($request, &$ctx).await? {
            ServerResult::$variant(r) => Ok(r.into()),
            other => Err(unexpected(stringify!($variant), &other)),
        }
    };
}

impl ServerHandler for Gateway {
    fn get_info(&self) -> ServerConfig {
        let mut info = self.shared.upstream.server_info().unwrap_or_default();
        // The gateway's own tools need the tools capability even when the
        // upstream has none.
        if info.capabilities.tools.is_none() {
            info.capabilities.tools = Some(ToolsCapability::default());
        }
        info
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, McpError> {
        ctx.peer.set_peer_info(request.clone());
        self.shared.routes.touch_session(self.session, &ctx.peer);
        // The first client's capabilities are what the upstream may use.
        if !self.shared.upstream.started().await {
            self.shared
                .upstream
                .set_client_capabilities(request.capabilities.clone());
        }
        // Connect first so the capabilities we answer with are the upstream's.
        self.shared
            .upstream
            .peer()
            .await
            .map_err(|e| McpError::internal_error(e.to_string(), None))?;
        self.negotiate_initialize(&request)
    }

    async fn discover(&self, ctx: RequestContext<RoleServer>) -> Result<DiscoverResult, McpError> {
        // Start the upstream first, so what we describe is what it offers.
        self.shared.routes.touch_session(self.session, &ctx.peer);
        self.shared
            .upstream
            .peer()
            .await
            .map_err(|e| McpError::internal_error(e.to_string(), None))?;
        Ok(DiscoverResult::from_server_info(
            self.supported_protocol_versions().into_owned(),
            self.get_info(),
        ))
    }

    async fn complete(
        &self,
        p: CompleteRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        pass!(
            self,
            ctx,
            ClientRequest::CompleteRequest(CompleteRequest::new(p)),
            CompleteResult
        )
    }

    async fn set_level(
        &self,
        p: SetLevelRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.forward(
            ClientRequest::SetLevelRequest(SetLevelRequest::new(p)),
            &ctx,
        )
        .await
        .map(|_| ())
    }

    async fn get_prompt(
        &self,
        p: GetPromptRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        match self
            .forward(
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
        let req = ClientRequest::ListPromptsRequest(RequestOptionalParam {
            method: Default::default(),
            params: p,
            extensions: Default::default(),
        });
        pass!(self, ctx, req, ListPromptsResult)
    }

    async fn list_resources(
        &self,
        p: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let req = ClientRequest::ListResourcesRequest(RequestOptionalParam {
            method: Default::default(),
            params: p,
            extensions: Default::default(),
        });
        pass!(self, ctx, req, ListResourcesResult)
    }

    async fn list_resource_templates(
        &self,
        p: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        let req = ClientRequest::ListResourceTemplatesRequest(RequestOptionalParam {
            method: Default::default(),
            params: p,
            extensions: Default::default(),
        });
        pass!(self, ctx, req, ListResourceTemplatesResult)
    }

    async fn read_resource(
        &self,
        p: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        match self
            .forward(
                ClientRequest::ReadResourceRequest(ReadResourceRequest::new(p)),
                &ctx,
            )
            .await?
        {
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
        self.forward(
            ClientRequest::SubscribeRequest(SubscribeRequest::new(p)),
            &ctx,
        )
        .await
        .map(|_| ())
    }

    async fn unsubscribe(
        &self,
        p: UnsubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.forward(
            ClientRequest::UnsubscribeRequest(UnsubscribeRequest::new(p)),
            &ctx,
        )
        .await
        .map(|_| ())
    }

    async fn list_tools(
        &self,
        p: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let first_page = p.as_ref().and_then(|p| p.cursor.as_ref()).is_none();
        let mut result = self.list_upstream_tools(p, &ctx).await?;
        self.remember_tools(&result.tools);
        // In shadow mode nothing is held, denied or hidden.
        if !self.shared.policy.shadow() {
            let server = self.server_name().to_owned();
            result.tools.retain(|t| {
                !self.shared.policy.is_denied_outright(
                    Some(&server),
                    &t.name,
                    policy_annotations(t.annotations.as_ref()),
                )
            });
        }
        if first_page {
            result.tools.extend(gateway_tools());
        }
        Ok(result)
    }

    async fn call_tool(
        &self,
        params: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        self.shared.routes.touch_session(self.session, &ctx.peer);
        if params.name == STATUS_TOOL || params.name == PENDING_TOOL {
            return Ok(CallToolResponse::Complete(
                Box::pin(self.gateway_tool(&params)).await,
            ));
        }
        let server = self.server_name().to_owned();
        let tool = params.name.to_string();
        let arguments = params
            .arguments
            .clone()
            .map(Value::Object)
            .unwrap_or(json!({}));
        // The policy reads the tool's annotations and the hold its output
        // schema: learn them if the client called without listing first.
        if !self.knows_tool(&tool) {
            let _one_at_a_time = self.shared.refreshing.lock().await;
            if !self.knows_tool(&tool) {
                Box::pin(self.refresh_tools(&ctx)).await;
            }
        }
        let verdict = self.shared.policy.evaluate(
            &ToolCall::new(&tool, &arguments)
                .with_server(&server)
                .with_annotations(self.annotations(&tool)),
        );
        tracing::info!(tool = %tool, server = %server, risk = %verdict.risk, action = %verdict.action.kind(), rule = verdict.rule.as_deref().unwrap_or(""), shadow = self.shared.policy.shadow(), "verdict");
        if self.shared.policy.shadow() {
            return Box::pin(self.call_upstream(params, &ctx)).await;
        }
        let approval = match &verdict.action {
            Action::Allow => return Box::pin(self.call_upstream(params, &ctx)).await,
            Action::Deny => {
                let reasons = verdict.reason_strings();
                let text = format!(
                    "The gateway's policy does not allow {tool} with these arguments ({} risk: {}). It did not run; do not retry it.",
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
        let approvers: Vec<String> = approval.approvers.to_vec();
        let principal = format!("{}#{}", self.shared.hold.requester, self.session);
        let call = Call {
            key: hold::key(&principal, &server, &tool, &arguments),
            server: &server,
            tool: &tool,
            arguments: &arguments,
            risk: verdict.risk,
            reasons: verdict.reason_strings(),
            approval: &approval,
            approvers,
            session: Some(principal.clone()),
            has_output_schema: self
                .shared
                .tools
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(&tool)
                .is_some_and(|t| t.output_schema.is_some()),
        };
        let holder = Hold {
            approvals: &self.shared.approvals,
            decisions: &self.shared.decisions,
            ledger: &self.shared.ledger,
            settings: &self.shared.hold,
        };
        // Boxed: the hold is what a thousand waiting calls keep in memory.
        match Box::pin(holder.run(call, &ctx)).await {
            Outcome::Run(record) => {
                tracing::info!(approval_id = %record.request_id, tool = %tool, "approved; running");
                Box::pin(self.call_upstream(params, &ctx)).await
            }
            Outcome::Answer(result) => Ok(CallToolResponse::Complete(result)),
            Outcome::Cancelled => Err(McpError::internal_error(
                "cancelled by the client; the approval request was withdrawn",
                None,
            )),
        }
    }

    async fn on_cancelled(
        &self,
        _n: CancelledNotificationParam,
        _ctx: NotificationContext<RoleServer>,
    ) {
        // rmcp cancels the request's token itself; the hold and `forward`
        // watch that token.
    }

    async fn on_roots_list_changed(&self, _ctx: NotificationContext<RoleServer>) {
        if let Ok(peer) = self.shared.upstream.peer().await {
            let _ = peer.notify_roots_list_changed().await;
        }
    }
}
