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
    ClientConfig, ClientResult, EmptyResult, Implementation, InitializeResult, ProgressToken,
    ServerNotification, ServerRequest,
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
    #[error(
        "the upstream MCP server {spec} already has {max} sessions open, one per distinct set of client capabilities; raise `[gateway] max_upstream_sessions` in the config file (now {max}) or connect clients that declare the same capabilities"
    )]
    TooManySessions { spec: String, max: usize },
}

/// A downstream session and the progress token its client chose.
type Downstream = (Peer<RoleServer>, ProgressToken);

/// Which upstream session a downstream session uses: its client's declared
/// capabilities, as canonical JSON. Sessions share an upstream session only
/// when these are identical, so each sees the tools the upstream offers a
/// client like it (servers gate tools on roots, sampling, elicitation).
pub type GroupKey = Arc<str>;

/// Upstream sessions per server by default (see `max_upstream_sessions`).
pub const MAX_UPSTREAM_SESSIONS: usize = 16;

/// An upstream session with no downstream session left is closed after this.
const IDLE_CLOSE: Duration = Duration::from_secs(5);

/// The group of a client that declared `capabilities`.
pub fn group_key(capabilities: &rmcp::model::ClientCapabilities) -> GroupKey {
    // serde_json's maps are sorted, so equal capabilities give equal keys.
    let value = serde_json::to_value(capabilities).unwrap_or_default();
    Arc::from(value.to_string())
}

/// Where upstream traffic goes back to: downstream sessions and the
/// downstream progress token behind each upstream one.
#[derive(Default)]
pub struct Routes {
    /// Keyed by upstream index too: each upstream numbers its tokens itself.
    progress: Mutex<HashMap<(usize, ProgressToken), Downstream>>,
    /// Routes of finished calls, dropped once their grace period is over
    /// (swept on each new route: no timer task per call).
    retired: Mutex<std::collections::VecDeque<(Instant, (usize, ProgressToken))>>,
    /// Downstream sessions by the gateway's session number and group, most
    /// recent last.
    sessions: Mutex<Vec<(u64, GroupKey, Peer<RoleServer>)>>,
}

impl Routes {
    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remembers a downstream session as the most recently active one.
    pub fn touch_session(&self, session: u64, group: &GroupKey, peer: &Peer<RoleServer>) {
        let mut sessions = Self::lock(&self.sessions);
        sessions.retain(|(id, _, p)| *id != session && !p.is_transport_closed());
        sessions.push((session, group.clone(), peer.clone()));
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

    /// The live downstream sessions of `group`, most recent last.
    fn sessions(&self, group: &GroupKey) -> Vec<Peer<RoleServer>> {
        let mut s = Self::lock(&self.sessions);
        s.retain(|(_, _, p)| !p.is_transport_closed());
        s.iter()
            .filter(|(_, g, _)| g == group)
            .map(|(_, _, p)| p.clone())
            .collect()
    }
}

/// The gateway's client side of one upstream session: forwards what the
/// upstream sends to the downstream sessions of its group.
#[derive(Clone)]
pub struct UpstreamHandler {
    routes: Arc<Routes>,
    /// This upstream's place in the gateway's list (for progress routes).
    index: usize,
    group: GroupKey,
    /// What the gateway declares to the upstream: the capabilities and
    /// clientInfo of the group's first client, so the upstream offers and
    /// asks only what such a client can take.
    info: ClientConfig,
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
        // Sampling, elicitation and roots go to the most recently active
        // client of this session's group: one that declared what is asked.
        let Some(peer) = self.routes.sessions(&self.group).pop() else {
            return Err(McpError::internal_error(
                "no MCP client with these capabilities is connected to the gateway",
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
                for peer in self.routes.sessions(&self.group) {
                    let _ = peer.send_notification(other.clone()).await;
                }
            }
        }
        Ok(())
    }

    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }
}

struct Conn {
    running: Option<RunningService<RoleClient, UpstreamHandler>>,
    failures: u32,
    next_attempt: Instant,
    last_error: String,
    /// Connected at least once: only then does the supervisor restart it.
    started: bool,
    /// Since when no downstream session of the group is left.
    idle_since: Option<Instant>,
}

/// One upstream session: a child process, or an MCP session at a URL.
struct Session {
    handler: UpstreamHandler,
    conn: tokio::sync::Mutex<Conn>,
}

/// One upstream server, connected on demand (one session per group of
/// clients) and restarted after it dies.
pub struct Upstream {
    pub name: String,
    spec: UpstreamSpec,
    index: usize,
    routes: Arc<Routes>,
    /// The gateway's own clientInfo and protocol version, with each group's
    /// capabilities and clientInfo put in.
    base: ClientConfig,
    max_sessions: usize,
    sessions: Mutex<HashMap<GroupKey, Arc<Session>>>,
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

/// What a downstream client declared, as the upstream should see it.
#[derive(Clone)]
pub struct ClientSide {
    pub group: GroupKey,
    pub capabilities: rmcp::model::ClientCapabilities,
    pub client_info: Option<Implementation>,
}

impl ClientSide {
    pub fn new(
        capabilities: rmcp::model::ClientCapabilities,
        client_info: Option<Implementation>,
    ) -> Self {
        Self {
            group: group_key(&capabilities),
            capabilities,
            client_info,
        }
    }
}

impl Upstream {
    /// Upstream number `index` of the gateway, called `name`.
    pub fn new(
        index: usize,
        name: &str,
        spec: UpstreamSpec,
        routes: Arc<Routes>,
        base: ClientConfig,
        max_sessions: usize,
    ) -> Arc<Self> {
        Arc::new(Self {
            name: name.to_owned(),
            spec,
            index,
            routes,
            base,
            max_sessions,
            sessions: Mutex::new(HashMap::new()),
            info: std::sync::RwLock::new(None),
        })
    }

    pub fn spec(&self) -> &UpstreamSpec {
        &self.spec
    }

    /// What the upstream said about itself at `initialize`.
    pub fn server_info(&self) -> Option<InitializeResult> {
        self.info.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The upstream session of `client`'s group, made if it has none yet
    /// and the cap allows.
    fn session(&self, client: &ClientSide) -> Result<Arc<Session>, UpstreamError> {
        let mut sessions = Routes::lock(&self.sessions);
        if let Some(s) = sessions.get(&client.group) {
            return Ok(s.clone());
        }
        if sessions.len() >= self.max_sessions {
            return Err(UpstreamError::TooManySessions {
                spec: self.spec.to_string(),
                max: self.max_sessions,
            });
        }
        let mut info = self.base.clone();
        info.capabilities = client.capabilities.clone();
        if let Some(ci) = &client.client_info {
            info.client_info = ci.clone();
        }
        let session = Arc::new(Session {
            handler: UpstreamHandler {
                routes: self.routes.clone(),
                index: self.index,
                group: client.group.clone(),
                info,
            },
            conn: tokio::sync::Mutex::new(Conn {
                running: None,
                failures: 0,
                next_attempt: Instant::now(),
                last_error: String::new(),
                started: false,
                idle_since: None,
            }),
        });
        sessions.insert(client.group.clone(), session.clone());
        Ok(session)
    }

    /// A live peer for `client`'s group, (re)starting its upstream session
    /// if it is down and its backoff has passed.
    pub async fn peer(&self, client: &ClientSide) -> Result<Peer<RoleClient>, UpstreamError> {
        let session = self.session(client)?;
        self.connected(&session).await
    }

    async fn connected(&self, session: &Session) -> Result<Peer<RoleClient>, UpstreamError> {
        let mut c = session.conn.lock().await;
        c.idle_since = None;
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
        match self.connect(session.handler.clone()).await {
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

    async fn connect(
        &self,
        handler: UpstreamHandler,
    ) -> Result<RunningService<RoleClient, UpstreamHandler>, String> {
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

    /// Restarts upstream sessions in the background whenever they are down,
    /// so the next call does not pay for the start, and closes those whose
    /// downstream sessions are all gone.
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
                let sessions: Vec<_> = Routes::lock(&up.sessions)
                    .iter()
                    .map(|(k, s)| (k.clone(), s.clone()))
                    .collect();
                for (group, session) in sessions {
                    let in_use = !up.routes.sessions(&group).is_empty();
                    let mut c = session.conn.lock().await;
                    if !in_use {
                        let since = *c.idle_since.get_or_insert_with(Instant::now);
                        if since.elapsed() >= IDLE_CLOSE {
                            // Dropped from the map first, so no new caller
                            // picks up a session being closed.
                            Routes::lock(&up.sessions).remove(&group);
                            if let Some(r) = c.running.take() {
                                tracing::debug!(upstream = %up.name, "closing an idle upstream session");
                                drop(c);
                                let _ = r.cancel().await;
                            }
                        }
                        continue;
                    }
                    c.idle_since = None;
                    let down = c.started
                        && c.running.as_ref().is_none_or(dead)
                        && Instant::now() >= c.next_attempt;
                    drop(c);
                    if down && let Err(e) = up.connected(&session).await {
                        tracing::warn!(upstream = %up.name, error = %e, "upstream restart failed");
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_equal_exactly_when_capabilities_are() {
        use rmcp::model::ClientCapabilities;
        let none = ClientCapabilities::default();
        let rich = ClientCapabilities::builder()
            .enable_roots()
            .enable_sampling()
            .enable_elicitation()
            .build();
        let rich_again = ClientCapabilities::builder()
            .enable_elicitation()
            .enable_sampling()
            .enable_roots()
            .build();
        assert_eq!(group_key(&rich), group_key(&rich_again));
        assert_ne!(group_key(&rich), group_key(&none));
        let roots_only = ClientCapabilities::builder().enable_roots().build();
        assert_ne!(group_key(&roots_only), group_key(&rich));
    }

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
