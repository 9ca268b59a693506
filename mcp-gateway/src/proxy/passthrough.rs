//! Answers passed on as JSON: `tools/list` and `tools/call` results go to
//! the client as the upstream sent them (unknown and later-revision fields
//! kept, nothing decoded into rmcp's types and encoded again).
//!
//! rmcp's server side only takes typed results from a `ServerHandler`, so
//! the downstream transport is wrapped ([`Answering`]; over HTTP, through
//! the session manager, [`AnsweringSessions`]): it gives each incoming
//! `tools/list` and `tools/call` a [`JsonAnswer`] slot in the request's
//! extensions, the handler leaves the JSON there, and on the way out the
//! slot's JSON replaces the typed placeholder the handler returned. A
//! request that came another way (a stateless HTTP request) has no slot
//! and is answered typed. Only the protocol revision's shape is adjusted
//! for the client, as rmcp does for typed results.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::Stream;
use rmcp::ErrorData as McpError;
use rmcp::RoleServer;
use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, ClientRequest, CustomResult, GetExtensions,
    JsonRpcMessage, ProtocolVersion, RequestId, ServerJsonRpcMessage, ServerResult,
};
use rmcp::service::RequestContext;
use rmcp::transport::Transport;
use rmcp::transport::common::server_side_http::ServerSseMessage;
use rmcp::transport::streamable_http_server::SessionId;
use rmcp::transport::streamable_http_server::session::{RestoreOutcome, SessionManager};
use serde_json::{Value, json};

/// Where a handler leaves a request's answer as JSON.
#[derive(Clone, Default)]
pub struct JsonAnswer(Arc<Mutex<Option<Value>>>);

/// What a JSON answer answers (its shape differs by revision).
#[derive(Clone, Copy)]
pub enum Kind {
    ListTools,
    CallTool,
}

impl JsonAnswer {
    /// Leaves `value`, shaped for the client's revision, as the answer to
    /// the request of `ctx`; gives it back when the request has no slot
    /// (the caller then answers typed).
    pub fn put(
        ctx: &RequestContext<RoleServer>,
        kind: Kind,
        mut value: Value,
    ) -> Result<(), Value> {
        match ctx.extensions.get::<JsonAnswer>() {
            Some(slot) => {
                let modern = ctx
                    .protocol_version()
                    .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str());
                shape(&mut value, kind, modern);
                *slot.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(value);
                Ok(())
            }
            None => Err(value),
        }
    }

    fn take(&self) -> Option<Value> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// An upstream's answer as JSON: its own when the transport kept it, else
/// the typed answer encoded.
pub fn into_json(result: ServerResult) -> Result<Value, McpError> {
    let encoded = match result {
        ServerResult::CustomResult(CustomResult(v)) => return Ok(v),
        other => serde_json::to_value(other),
    };
    encoded.map_err(|e| McpError::internal_error(format!("cannot encode a result: {e}"), None))
}

/// A downstream transport whose `tools/list` and `tools/call` answers can
/// be JSON.
pub struct Answering<T> {
    inner: T,
    slots: Arc<Mutex<HashMap<RequestId, JsonAnswer>>>,
}

impl<T> Answering<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            slots: Arc::default(),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<RequestId, JsonAnswer>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<T: Transport<RoleServer>> Transport<RoleServer> for Answering<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        mut item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        match &mut item {
            JsonRpcMessage::Response(r) => {
                let slot = self.slots().remove(&r.id);
                if let Some(v) = slot.and_then(|s| s.take()) {
                    r.result = ServerResult::CustomResult(CustomResult(v));
                }
            }
            JsonRpcMessage::Error(e) => {
                if let Some(id) = &e.id {
                    self.slots().remove(id);
                }
            }
            _ => {}
        }
        self.inner.send(item)
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        let mut message = self.inner.receive().await?;
        // A cancelled request may never be answered: forget its slot.
        if let JsonRpcMessage::Notification(n) = &message
            && let ClientNotification::CancelledNotification(c) = &n.notification
            && let Some(id) = &c.params.request_id
        {
            self.slots().remove(id);
        }
        if let JsonRpcMessage::Request(r) = &mut message {
            let extensions = match &mut r.request {
                ClientRequest::ListToolsRequest(q) => Some(&mut q.extensions),
                ClientRequest::CallToolRequest(q) => Some(q.extensions_mut()),
                _ => None,
            };
            if let Some(extensions) = extensions {
                let slot = JsonAnswer::default();
                extensions.insert(slot.clone());
                self.slots().insert(r.id.clone(), slot);
            }
        }
        Some(message)
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.inner.close().await
    }
}

/// A session manager whose sessions' transports are [`Answering`].
pub struct AnsweringSessions<M>(pub M);

impl<M: SessionManager> SessionManager for AnsweringSessions<M> {
    type Error = M::Error;
    type Transport = Answering<M::Transport>;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let (id, transport) = self.0.create_session().await?;
        Ok((id, Answering::new(transport)))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.0.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.0.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.0.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.0.create_stream(id, message).await
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.0.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.0.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.0.resume(id, last_event_id).await
    }

    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        Ok(match self.0.restore_session(id).await? {
            RestoreOutcome::Restored(t) => RestoreOutcome::Restored(Answering::new(t)),
            RestoreOutcome::AlreadyPresent => RestoreOutcome::AlreadyPresent,
            _ => RestoreOutcome::NotSupported,
        })
    }

    fn event_store(
        &self,
    ) -> Option<Arc<dyn rmcp::transport::streamable_http_server::session::EventStore>> {
        self.0.event_store()
    }
}

/// The revision's shape, as rmcp gives typed results: `resultType` and
/// the caching hints for 2026-07-28 clients; for older ones no
/// `resultType: "complete"` and only object output schemas and structured
/// content (SEP-2106).
pub fn shape(v: &mut Value, kind: Kind, modern: bool) {
    let Some(obj) = v.as_object_mut() else { return };
    let complete = obj
        .get("resultType")
        .is_none_or(|t| t.as_str() == Some("complete"));
    if modern {
        if complete {
            obj.entry("resultType").or_insert_with(|| json!("complete"));
            if let Kind::ListTools = kind {
                obj.entry("ttlMs").or_insert_with(|| json!(0));
                obj.entry("cacheScope").or_insert_with(|| json!("private"));
            }
        }
        return;
    }
    if complete {
        obj.remove("resultType");
    }
    match kind {
        Kind::ListTools => {
            let tools = obj.get_mut("tools").and_then(Value::as_array_mut);
            for tool in tools.into_iter().flatten() {
                if let Some(t) = tool.as_object_mut()
                    && t.get("outputSchema")
                        .is_some_and(|s| s.get("type").and_then(Value::as_str) != Some("object"))
                {
                    t.remove("outputSchema");
                }
            }
        }
        Kind::CallTool => {
            if obj.get("structuredContent").is_some_and(|s| !s.is_object())
                && let Some(value) = obj.remove("structuredContent")
            {
                let content = obj.entry("content").or_insert_with(|| json!([]));
                if let Some(blocks) = content.as_array_mut() {
                    let in_first = blocks
                        .first()
                        .and_then(|b| b.get("text"))
                        .and_then(Value::as_str)
                        .and_then(|t| serde_json::from_str::<Value>(t).ok())
                        .is_some_and(|t| t == value);
                    if !in_first {
                        blocks.insert(0, json!({"type": "text", "text": value.to_string()}));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_revision_gets_its_shape_and_nothing_else_changes() {
        let upstream = json!({"tools": [
            {"name": "a", "inputSchema": {"type": "object"}, "execution": {"taskSupport": "optional"}, "x-new": true},
            {"name": "b", "inputSchema": {"type": "object"}, "outputSchema": {"type": "array"}},
        ]});
        let mut modern = upstream.clone();
        shape(&mut modern, Kind::ListTools, true);
        assert_eq!(modern["resultType"], "complete");
        assert_eq!(modern["ttlMs"], 0);
        assert_eq!(modern["tools"], upstream["tools"]);
        let mut legacy = upstream.clone();
        legacy["resultType"] = json!("complete");
        shape(&mut legacy, Kind::ListTools, false);
        assert!(legacy.get("resultType").is_none());
        assert_eq!(legacy["tools"][0], upstream["tools"][0]);
        assert!(legacy["tools"][1].get("outputSchema").is_none());

        let mut call = json!({"content": [], "structuredContent": [1, 2]});
        shape(&mut call, Kind::CallTool, false);
        assert_eq!(
            call,
            json!({"content": [{"type": "text", "text": "[1,2]"}]})
        );
        let mut input = json!({"resultType": "input_required", "inputRequests": {}});
        let before = input.clone();
        shape(&mut input, Kind::CallTool, true);
        assert_eq!(input, before, "only complete results are touched");
    }
}
