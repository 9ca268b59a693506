//! The upstream child process as an rmcp transport that leaves the results
//! the gateway passes on as JSON (`tools/list`, `tools/call`).
//!
//! rmcp's own stdio transport decodes every message into typed values.
//! For a proxy that drops what rmcp does not model (a tool's `execution`,
//! fields of later spec revisions) and decodes and encodes every large
//! result once more. Here the answer to a request whose method is in
//! [`KEPT_AS_JSON`] reaches the proxy as `ServerResult::CustomResult`,
//! holding the upstream's JSON as it was sent; everything else is decoded
//! as rmcp would.

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use rmcp::RoleClient;
use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, CustomResult, JsonRpcMessage, JsonRpcResponse,
    JsonRpcVersion2_0, RequestId, ServerJsonRpcMessage, ServerResult,
};
use rmcp::transport::Transport;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// Methods whose results are passed on as the upstream's JSON.
pub const KEPT_AS_JSON: &[&str] = &["tools/list", "tools/call"];

/// Longest line read from the upstream (rmcp's own limit); a longer one is
/// dropped and logged, the connection stays.
const MAX_LINE: usize = 16 * 1024 * 1024;

/// How long a child may take to exit after its stdin closed before it is
/// killed.
const EXIT_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

pub struct ChildTransport {
    child: Option<Child>,
    read: BufReader<ChildStdout>,
    /// The line being read; kept across cancelled reads (`receive` is
    /// polled in a `select!`), cleared once a whole line is handled.
    line: Vec<u8>,
    /// Dropping the rest of an oversized line.
    discarding: bool,
    write: Arc<tokio::sync::Mutex<Option<ChildStdin>>>,
    /// Ids of requests in flight whose results stay JSON.
    json_ids: Arc<Mutex<HashSet<RequestId>>>,
}

impl ChildTransport {
    /// Starts `cmd` with piped stdin and stdout (stderr is the gateway's).
    pub fn spawn(mut cmd: tokio::process::Command) -> std::io::Result<Self> {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(std::io::Error::other("the child's stdio was not piped"));
        };
        Ok(Self {
            child: Some(child),
            read: BufReader::with_capacity(64 * 1024, stdout),
            line: Vec::new(),
            discarding: false,
            write: Arc::new(tokio::sync::Mutex::new(Some(stdin))),
            json_ids: Arc::default(),
        })
    }

    /// Reads up to the next newline into `self.line`; false at end of
    /// stream or on a read error. Cancel-safe: bytes read stay in
    /// `self.line`.
    async fn read_line(&mut self) -> bool {
        loop {
            let available = match self.read.fill_buf().await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read from the upstream MCP server");
                    return false;
                }
            };
            if available.is_empty() {
                return false;
            }
            let newline = memchr(available);
            let take = newline.map_or(available.len(), |i| i + 1);
            if self.discarding {
                self.read.consume(take);
                if newline.is_some() {
                    self.discarding = false;
                }
                continue;
            }
            if self.line.len() + take > MAX_LINE {
                tracing::error!(
                    max = MAX_LINE,
                    "the upstream sent a message longer than the limit; dropped"
                );
                self.line.clear();
                self.discarding = newline.is_none();
                self.read.consume(take);
                continue;
            }
            self.line.extend_from_slice(&available[..take]);
            self.read.consume(take);
            if newline.is_some() {
                return true;
            }
        }
    }
}

fn memchr(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|b| *b == b'\n')
}

/// One line from the upstream as a message: a result for an id in
/// `json_ids` as its JSON, anything else decoded by rmcp's types. `None`
/// for a line that is not a message (logged, skipped, as rmcp does).
pub fn decode(line: &[u8], json_ids: &Mutex<HashSet<RequestId>>) -> Option<ServerJsonRpcMessage> {
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    let mut value: Value = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(e) => {
            tracing::debug!(error = %e, "ignoring a line from the upstream that is not JSON");
            return None;
        }
    };
    if let Some(obj) = value.as_object_mut()
        && !obj.contains_key("method")
        && let Some(id) = obj
            .get("id")
            .and_then(|id| serde_json::from_value::<RequestId>(id.clone()).ok())
    {
        let mine = json_ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        if mine && let Some(result) = obj.remove("result") {
            return Some(JsonRpcMessage::Response(JsonRpcResponse {
                jsonrpc: JsonRpcVersion2_0,
                id,
                result: ServerResult::CustomResult(CustomResult(result)),
            }));
        }
    }
    match serde_json::from_value(value) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::debug!(error = %e, "ignoring a message from the upstream that is not MCP");
            None
        }
    }
}

impl Transport<RoleClient> for ChildTransport {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        if let JsonRpcMessage::Request(r) = &item
            && KEPT_AS_JSON.contains(&r.request.method())
        {
            self.json_ids
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(r.id.clone());
        }
        // A cancelled request may never be answered: forget its id.
        if let JsonRpcMessage::Notification(n) = &item
            && let ClientNotification::CancelledNotification(c) = &n.notification
            && let Some(id) = &c.params.request_id
        {
            self.json_ids
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(id);
        }
        // One write per message: the line and its newline together.
        let bytes = serde_json::to_vec(&item).map(|mut b| {
            b.push(b'\n');
            b
        });
        let write = self.write.clone();
        async move {
            let bytes = bytes.map_err(std::io::Error::other)?;
            let mut guard = write.lock().await;
            let Some(stdin) = guard.as_mut() else {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    "the upstream's stdin is closed",
                ));
            };
            stdin.write_all(&bytes).await?;
            stdin.flush().await
        }
    }

    async fn receive(&mut self) -> Option<ServerJsonRpcMessage> {
        loop {
            if !self.read_line().await {
                return None;
            }
            let line = std::mem::take(&mut self.line);
            let trimmed = line.strip_suffix(b"\n").unwrap_or(&line);
            let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
            let message = if trimmed.is_empty() {
                None
            } else {
                decode(trimmed, &self.json_ids)
            };
            // Keep the buffer's capacity for the next line.
            self.line = line;
            self.line.clear();
            if let Some(m) = message {
                return Some(m);
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        // The MCP stdio shutdown: close the child's stdin, give it a moment
        // to exit, then kill it.
        self.write.lock().await.take();
        if let Some(mut child) = self.child.take()
            && tokio::time::timeout(EXIT_GRACE, child.wait())
                .await
                .is_err()
        {
            child.kill().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[i64]) -> Mutex<HashSet<RequestId>> {
        Mutex::new(list.iter().map(|i| RequestId::Number(*i)).collect())
    }

    #[test]
    fn a_kept_result_is_the_upstreams_json_with_unknown_fields() {
        let kept = ids(&[7]);
        let line = br#"{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"t","inputSchema":{"type":"object"},"execution":{"taskSupport":"optional"},"x-future":[1]}]}}"#;
        let Some(JsonRpcMessage::Response(r)) = decode(line, &kept) else {
            panic!("not a response")
        };
        let ServerResult::CustomResult(CustomResult(v)) = r.result else {
            panic!("decoded into a typed result")
        };
        assert_eq!(v["tools"][0]["execution"]["taskSupport"], "optional");
        assert_eq!(v["tools"][0]["x-future"][0], 1);
        assert!(kept.lock().unwrap().is_empty(), "the id is forgotten");
    }

    #[test]
    fn other_messages_are_decoded_as_rmcp_does() {
        let kept = ids(&[7]);
        let line = br#"{"jsonrpc":"2.0","id":8,"result":{"tools":[]}}"#;
        let Some(JsonRpcMessage::Response(r)) = decode(line, &kept) else {
            panic!("not a response")
        };
        assert!(matches!(r.result, ServerResult::ListToolsResult(_)));
        let error = br#"{"jsonrpc":"2.0","id":7,"error":{"code":-32601,"message":"no"}}"#;
        assert!(matches!(
            decode(error, &kept),
            Some(JsonRpcMessage::Error(_))
        ));
        assert!(
            kept.lock().unwrap().is_empty(),
            "an error ends the request too"
        );
        let note = br#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#;
        assert!(matches!(
            decode(note, &kept),
            Some(JsonRpcMessage::Notification(_))
        ));
        assert!(decode(b"not json", &kept).is_none());
    }
}
