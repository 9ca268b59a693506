//! `hitl-bot`: the approval service.
//!
//! Module map:
//! - [`api`]: HTTP API v1, `/healthz`, `/metrics` (axum), auth and errors.
//! - [`service`]: the approval service, where every change is orchestrated.
//! - [`lifecycle`]: the status rules, pure functions, the only place they live.
//! - [`store`]: the `Store` trait and the embedded SQLite store.
//! - [`workflow`]: the `Workflow` trait and the in-process timer engine.
//! - [`notify`]: the `Notifier` seam (log, Slack, Teams, SNS).
//! - [`outbox`]: notices kept in the store until each notifier delivered them.
//! - [`lease`]: holding a store lease (timers, outbox rows) while work outlasts it.
//! - [`chat`]: the chat seam every platform shares: the command and reply
//!   grammar, which request a reply means, decisions and their follow-up,
//!   platform deadlines, per-card ordering.
//! - [`slack`]: the Slack adapter: cards, clicks, thread replies, `/approvals`,
//!   Socket Mode.
//! - [`teams`]: the Teams adapter: Bot Framework token checks, cards posted
//!   and replaced through the Bot Connector, clicks, commands, the outgoing
//!   webhook.
//! - [`people`]: identities across platforms (`slack:U…`, `teams:…`,
//!   `email:…`, bare names) and people linked across them.
//! - [`waiters`]: long-poll wake-ups.
//! - [`audit_csv`]: the audit trail as CSV, safe to open in a spreadsheet.
//! - [`credentials`]: credentials with roles (requester, approver), kept hashed.
//! - [`server_limits`]: body timeouts and the chat endpoints' concurrency cap.
//! - [`config`], [`token`]: start-up settings and the local credential files.
//! - [`clock`], [`ids`], [`metrics`]: small shared pieces.

pub mod api;
pub mod audit_csv;
pub mod chat;
pub mod clock;
pub mod config;
pub mod credentials;
pub mod ids;
pub mod lambda;
pub mod lease;
pub mod lifecycle;
pub mod metrics;
pub mod notify;
pub mod outbox;
pub mod people;
pub mod server_limits;
pub mod service;
pub mod slack;
pub mod store;
pub mod teams;
pub mod token;
pub mod waiters;
pub mod workflow;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use api::auth::Tokens;
use clock::Clock;
use notify::{Fanout, Notifier};
use service::{ApprovalService, Settings};
use store::Store;
use workflow::local::LocalWorkflow;

/// Installs the process's one TLS provider (ring). Every outbound HTTPS
/// client needs it; calling it again is harmless.
pub fn install_tls_provider() {
    // Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Every HTTP route of the service.
pub fn app(svc: Arc<ApprovalService>, tokens: Tokens) -> Router {
    api::router(svc, tokens)
}

/// Every HTTP route, plus Slack's endpoints when Slack is configured with a
/// signing secret.
pub fn app_with_slack(
    svc: Arc<ApprovalService>,
    tokens: Tokens,
    slack: Option<Arc<slack::Slack>>,
) -> Router {
    app_with_chat(svc, tokens, slack, None)
}

/// Every HTTP route, plus the endpoints of each chat platform configured:
/// Slack's (with a signing secret) and Teams'.
pub fn app_with_chat(
    svc: Arc<ApprovalService>,
    tokens: Tokens,
    slack: Option<Arc<slack::Slack>>,
    teams: Option<Arc<teams::Teams>>,
) -> Router {
    let mut chat = Router::new();
    if let Some(s) = slack {
        chat = chat.merge(slack::router(s));
    }
    if let Some(t) = teams {
        chat = chat.merge(teams::router(t));
    }
    api::router_with(svc, tokens, server_limits::chat_endpoints(chat))
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets
/// in-flight requests finish. Headers that do not arrive within
/// [`server_limits::HEADER_READ_TIMEOUT`] close the connection, a request
/// body that stalls is cut off ([`server_limits::BODY_IDLE_TIMEOUT`]), and
/// at most [`server_limits::MAX_CONNECTIONS`] are served at once.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    server_limits::serve_connections(listener, server_limits::with_body_timeout(router), shutdown)
        .await
}

/// How often old records are purged.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// A started service with its background tasks (timers, retention).
#[derive(Debug)]
pub struct Running {
    pub service: Arc<ApprovalService>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Starts the service on `store` with the local workflow engine: re-arms
    /// the timers of every pending request and expires overdue ones.
    pub async fn start(
        store: Arc<dyn Store>,
        settings: Settings,
        clock: Clock,
        extra_notifiers: Vec<Arc<dyn Notifier>>,
    ) -> anyhow::Result<Self> {
        Self::start_on(store, settings, clock, extra_notifiers, None).await
    }

    /// Like [`Running::start`], on `workflow` when given (Step Functions)
    /// instead of the local engine. The sweep of due timers runs either way,
    /// so a timer the workflow missed still fires.
    pub async fn start_on(
        store: Arc<dyn Store>,
        settings: Settings,
        clock: Clock,
        extra_notifiers: Vec<Arc<dyn Notifier>>,
        workflow: Option<Arc<dyn workflow::Workflow>>,
    ) -> anyhow::Result<Self> {
        let shutdown = CancellationToken::new();
        let (local, driver) = LocalWorkflow::new(clock.clone());
        let (workflow, driver) = match workflow {
            Some(w) => (w, None),
            None => (Arc::new(local) as Arc<dyn workflow::Workflow>, Some(driver)),
        };
        let notifiers: Vec<Arc<dyn Notifier>> = extra_notifiers;
        let service = ApprovalService::new(
            store.clone(),
            workflow,
            Fanout::new(notifiers.clone()),
            clock,
            settings,
            shutdown.clone(),
        );
        let mut tasks: Vec<JoinHandle<()>> = driver
            .into_iter()
            .map(|d| tokio::spawn(d.run(service.as_due(), store.clone(), shutdown.clone())))
            .collect();
        tasks.extend(
            notifiers
                .iter()
                .filter_map(|n| n.attach(&service, &shutdown)),
        );
        if service.settings().outbox.drain_in_process {
            tasks.extend(service.spawn_drainers(&shutdown));
        }
        tasks.push(service.spawn_sweeper(&shutdown));
        tasks.push(service.spawn_watcher(&shutdown));
        let svc = service.clone();
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            let mut every = tokio::time::interval(PURGE_EVERY);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = every.tick() => {
                        if let Err(e) = svc.purge().await {
                            tracing::warn!(error = %e, "purge failed");
                        }
                    }
                }
            }
        }));
        Ok(Self {
            service,
            shutdown,
            tasks,
        })
    }

    /// A token that, when cancelled, stops the background tasks and ends
    /// long-polls early.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops the background tasks and waits for them.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}
