//! The connection to the upstream MCP server, and everything the upstream
//! sends back: progress (routed to the downstream call it belongs to),
//! notifications (passed to every downstream session) and server-to-client
//! requests such as sampling, elicitation and roots (passed to a client).
//!
//! An upstream that exits is restarted with exponential backoff; calls made
//! while it is down get a clear error instead of hanging.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    ClientConfig, ClientResult, EmptyResult, InitializeResult, ProgressToken, ServerNotification,
    ServerRequest,
};
use rmcp::service::{
    NotificationContext, Peer, RequestContext, RunningService, Service, ServiceExt,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ErrorData as McpError, RoleClient, RoleServer};
use tokio::time::Instant;

/// How to reach the upstream server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamSpec {
    /// A child process speaking MCP on stdio.
    Command { program: String, args: Vec<String> },
    /// A Streamable HTTP endpoint.
    Url(String),
}

/// Shown in errors and logs: a command by its program and how many
/// arguments it has, a URL without its userinfo and query (arguments and
/// URLs often carry secrets: `--token=...`, `?api_key=...`).
impl std::fmt::Display for UpstreamSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamSpec::Command { program, args } => match args.len() {
                0 => write!(f, "`{program}`"),
                1 => write!(f, "`{program}` (with 1 argument)"),
                n => write!(f, "`{program}` (with {n} arguments)"),
            },
            UpstreamSpec::Url(u) => f.write_str(&redact_urls(u)),
        }
    }
}

/// `text` with every http(s) URL in it stripped of userinfo and query
/// string (error messages of HTTP clients quote the URL they failed on).
pub fn redact_urls(text: &str) -> String {
    static URL: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"(?i)(https?://)(?:[^/@\s?#]*@)?([^\s?#)\]>"']*)(\?[^\s#)\]>"']*)?"#)
            .expect("valid regex")
    });
    URL.replace_all(text, |c: &regex::Captures<'_>| {
        let query = if c.get(3).is_some() { "?…" } else { "" };
        format!("{}{}{query}", &c[1], &c[2])
    })
    .into_owned()
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error(
        "the upstream MCP server {spec} is down ({cause}); the gateway restarts it, next attempt in {retry_in:?}"
    )]
    Down {
        spec: String,
        cause: String,
        retry_in: Duration,
    },
    #[error("cannot start the upstream MCP server {spec}: {cause}")]
    Start { spec: String, cause: String },
}

/// A downstream session and the progress token its client chose.
type Downstream = (Peer<RoleServer>, ProgressToken);

/// Where upstream traffic goes back to: downstream sessions and the
/// downstream progress token behind each upstream one.
#[derive(Default)]
pub struct Routes {
    /// Keyed by upstream index too: each upstream numbers its tokens itself.
    progress: Mutex<HashMap<(usize, ProgressToken), Downstream>>,
    /// Routes of finished calls, dropped once their grace period is over
    /// (swept on each new route: no timer task per call).
    retired: Mutex<std::collections::VecDeque<(Instant, (usize, ProgressToken))>>,
    /// Downstream sessions by the gateway's session number, most recent last.
    sessions: Mutex<Vec<(u64, Peer<RoleServer>)>>,
}

impl Routes {
    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remembers a downstream session as the most recently active one.
    pub fn touch_session(&self, session: u64, peer: &Peer<RoleServer>) {
        let mut sessions = Self::lock(&self.sessions);
        sessions.retain(|(id, p)| *id != session && !p.is_transport_closed());
        sessions.push((session, peer.clone()));
    }

    pub fn add_progress(
        &self,
        up: usize,
        upstream: ProgressToken,
        downstream: (Peer<RoleServer>, ProgressToken),
    ) {
        Self::lock(&self.progress).insert((up, upstream), downstream);
    }

    /// The call is over: its route stays for [`PROGRESS_GRACE`] more, for
    /// progress still in flight, and is dropped after that.
    pub fn retire_progress(&self, up: usize, upstream: ProgressToken) {
        let now = Instant::now();
        let mut retired = Self::lock(&self.retired);
        retired.push_back((now + PROGRESS_GRACE, (up, upstream)));
        let mut progress = Self::lock(&self.progress);
        while let Some((when, _)) = retired.front() {
            if *when > now {
                break;
            }
            if let Some((_, token)) = retired.pop_front() {
                progress.remove(&token);
            }
        }
    }

    fn progress_target(
        &self,
        up: usize,
        upstream: &ProgressToken,
    ) -> Option<(Peer<RoleServer>, ProgressToken)> {
        Self::lock(&self.progress)
            .get(&(up, upstream.clone()))
            .cloned()
    }

    fn sessions(&self) -> Vec<Peer<RoleServer>> {
        let mut s = Self::lock(&self.sessions);
        s.retain(|(_, p)| !p.is_transport_closed());
        s.iter().map(|(_, p)| p.clone()).collect()
    }
}

/// The gateway's client side: forwards what the upstream sends.
#[derive(Clone)]
pub struct UpstreamHandler {
    routes: Arc<Routes>,
    /// This upstream's place in the gateway's list (for progress routes).
    index: usize,
    /// What the gateway declares to the upstream: the first client's
    /// capabilities, so the upstream asks only for what a client can answer.
    info: Arc<std::sync::RwLock<ClientConfig>>,
}

impl Service<RoleClient> for UpstreamHandler {
    async fn handle_request(
        &self,
        request: ServerRequest,
        _context: RequestContext<RoleClient>,
    ) -> Result<ClientResult, McpError> {
        if let ServerRequest::PingRequest(_) = request {
            return Ok(ClientResult::EmptyResult(EmptyResult {}));
        }
        // Sampling, elicitation and roots go to the client that is talking to
        // us now (the most recent session).
        let Some(peer) = self.routes.sessions().pop() else {
            return Err(McpError::internal_error(
                "no MCP client is connected to the gateway",
                None,
            ));
        };
        peer.send_request(request).await.map_err(|e| {
            McpError::internal_error(format!("the MCP client did not answer: {e}"), None)
        })
    }

    async fn handle_notification(
        &self,
        notification: ServerNotification,
        _context: NotificationContext<RoleClient>,
    ) -> Result<(), McpError> {
        match notification {
            ServerNotification::ProgressNotification(mut n) => {
                if let Some((peer, token)) = self
                    .routes
                    .progress_target(self.index, &n.params.progress_token)
                {
                    n.params.progress_token = token;
                    let _ = peer
                        .send_notification(ServerNotification::ProgressNotification(n))
                        .await;
                }
            }
            // Cancellations refer to upstream request ids the client never saw.
            ServerNotification::CancelledNotification(_) => {}
            other => {
                for peer in self.routes.sessions() {
                    let _ = peer.send_notification(other.clone()).await;
                }
            }
        }
        Ok(())
    }

    fn get_info(&self) -> ClientConfig {
        self.info.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

struct Conn {
    running: Option<RunningService<RoleClient, UpstreamHandler>>,
    failures: u32,
    next_attempt: Instant,
    last_error: String,
    /// Connected at least once: only then does the supervisor restart it.
    started: bool,
}

/// One upstream server, connected on demand and restarted after it dies.
pub struct Upstream {
    pub name: String,
    spec: UpstreamSpec,
    handler: UpstreamHandler,
    conn: tokio::sync::Mutex<Conn>,
    info: std::sync::RwLock<Option<InitializeResult>>,
}

/// The service loop ends when the transport closes (the child exited, the
/// HTTP session went away), which closes the peer's channel.
fn dead(r: &RunningService<RoleClient, UpstreamHandler>) -> bool {
    r.is_closed() || r.peer().is_transport_closed()
}

/// How long a finished call's progress route is kept.
const PROGRESS_GRACE: Duration = Duration::from_secs(2);

const MAX_BACKOFF: Duration = Duration::from_secs(30);

fn backoff(failures: u32) -> Duration {
    let secs = 1u64 << failures.saturating_sub(1).min(5);
    Duration::from_secs(secs).min(MAX_BACKOFF)
}

impl Upstream {
    /// Upstream number `index` of the gateway, called `name`.
    pub fn new(
        index: usize,
        name: &str,
        spec: UpstreamSpec,
        routes: Arc<Routes>,
        info: ClientConfig,
    ) -> Arc<Self> {
        Arc::new(Self {
            name: name.to_owned(),
            spec,
            handler: UpstreamHandler {
                routes,
                index,
                info: Arc::new(std::sync::RwLock::new(info)),
            },
            conn: tokio::sync::Mutex::new(Conn {
                running: None,
                failures: 0,
                next_attempt: Instant::now(),
                last_error: String::new(),
                started: false,
            }),
            info: std::sync::RwLock::new(None),
        })
    }

    /// Declares `capabilities` (a client's) to the upstream from the next
    /// connection on.
    pub fn set_client_capabilities(&self, capabilities: rmcp::model::ClientCapabilities) {
        self.handler
            .info
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .capabilities = capabilities;
    }

    /// Whether the upstream has been started once.
    pub async fn started(&self) -> bool {
        self.conn.lock().await.started
    }

    pub fn spec(&self) -> &UpstreamSpec {
        &self.spec
    }

    /// What the upstream said about itself at `initialize`.
    pub fn server_info(&self) -> Option<InitializeResult> {
        self.info.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A live peer, (re)starting the upstream if it is down and its backoff
    /// has passed.
    pub async fn peer(&self) -> Result<Peer<RoleClient>, UpstreamError> {
        let mut c = self.conn.lock().await;
        if let Some(r) = &c.running {
            if !dead(r) {
                return Ok(r.peer().clone());
            }
            tracing::warn!(upstream = %self.name, "upstream MCP server exited; restarting with backoff");
            c.running = None;
            c.failures += 1;
            c.last_error = "it exited".to_owned();
            c.next_attempt = Instant::now() + backoff(c.failures);
        }
        let now = Instant::now();
        if now < c.next_attempt {
            return Err(UpstreamError::Down {
                spec: self.spec.to_string(),
                cause: c.last_error.clone(),
                retry_in: c.next_attempt - now,
            });
        }
        match self.connect().await {
            Ok(running) => {
                if let Some(info) = running.peer().peer_info() {
                    let mut result = InitializeResult::default();
                    result.protocol_version = info.protocol_version.clone();
                    result.capabilities = info.capabilities.clone();
                    if let Some(server) = &info.server_info {
                        result.server_info = server.clone();
                    }
                    result.instructions = info.instructions.clone();
                    *self.info.write().unwrap_or_else(|p| p.into_inner()) = Some(result);
                }
                let peer = running.peer().clone();
                c.running = Some(running);
                c.failures = 0;
                c.started = true;
                Ok(peer)
            }
            Err(cause) => {
                c.failures += 1;
                c.last_error = cause.clone();
                c.next_attempt = Instant::now() + backoff(c.failures);
                Err(UpstreamError::Start {
                    spec: self.spec.to_string(),
                    cause,
                })
            }
        }
    }

    async fn connect(&self) -> Result<RunningService<RoleClient, UpstreamHandler>, String> {
        let handler = self.handler.clone();
        match &self.spec {
            UpstreamSpec::Command { program, args } => {
                let mut cmd = tokio::process::Command::new(program);
                cmd.args(args);
                // Results the gateway passes on stay the upstream's JSON.
                let transport = super::child::ChildTransport::spawn(cmd)
                    .map_err(|e| redact_urls(&e.to_string()))?;
                handler
                    .serve(transport)
                    .await
                    .map_err(|e| redact_urls(&e.to_string()))
            }
            UpstreamSpec::Url(url) => {
                let transport = StreamableHttpClientTransport::from_uri(url.as_str());
                handler
                    .serve(transport)
                    .await
                    .map_err(|e| redact_urls(&e.to_string()))
            }
        }
    }

    /// Restarts the upstream in the background whenever it is down, so the
    /// next call does not pay for the start.
    pub fn supervise(self: &Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let Some(up) = me.upgrade() else { return };
                let down = {
                    let c = up.conn.lock().await;
                    c.started
                        && c.running.as_ref().is_none_or(dead)
                        && Instant::now() >= c.next_attempt
                };
                if down && let Err(e) = up.peer().await {
                    tracing::warn!(upstream = %up.name, error = %e, "upstream restart failed");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_are_shown_without_secrets() {
        let cmd = UpstreamSpec::Command {
            program: "mcp-server-db".into(),
            args: vec!["--password=hunter2".into(), "db".into()],
        };
        assert_eq!(cmd.to_string(), "`mcp-server-db` (with 2 arguments)");
        let url = UpstreamSpec::Url(
            "https://bob:hunter2@mcp.example.com:8443/mcp?api_key=sk-123#x".into(),
        );
        let shown = url.to_string();
        assert_eq!(shown, "https://mcp.example.com:8443/mcp?…#x");
        let text = redact_urls(
            "error sending request for url (http://u:p@127.0.0.1:9/mcp?token=abc): refused",
        );
        assert_eq!(
            text,
            "error sending request for url (http://127.0.0.1:9/mcp?…): refused"
        );
        assert_eq!(
            redact_urls("http://127.0.0.1:8/mcp"),
            "http://127.0.0.1:8/mcp"
        );
    }
}
