//! A real `hitl-bot` on 127.0.0.1:0 with a fresh SQLite file per test.

use std::sync::Arc;

use hitl_bot::Running;
use hitl_bot::api::auth::Tokens;
use hitl_bot::clock::Clock;
use hitl_bot::credentials::{self, Role};
use hitl_bot::notify::Notifier;
use hitl_bot::service::{ApprovalService, Settings};
use hitl_bot::slack::Slack;
use hitl_bot::store::sqlite::SqliteStore;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

pub const TOKEN: &str = "test-token-0123456789";

pub struct TestServer {
    pub url: String,
    pub http: reqwest::Client,
    pub service: Arc<ApprovalService>,
    running: Option<Running>,
    server: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(Settings::default()).await
    }

    pub async fn start_with(settings: Settings) -> Self {
        Self::start_with_slack(settings, None).await
    }

    /// A server with the Slack adapter as a notifier and its endpoints.
    pub async fn start_with_slack(settings: Settings, slack: Option<Arc<Slack>>) -> Self {
        Self::start_with_notifiers(settings, slack, Vec::new()).await
    }

    /// A server with Slack (if given) and `others` as notifiers.
    pub async fn start_with_notifiers(
        settings: Settings,
        slack: Option<Arc<Slack>>,
        others: Vec<Arc<dyn Notifier>>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("hitl.db");
        let store = SqliteStore::open(&db).unwrap();
        let mut notifiers: Vec<Arc<dyn Notifier>> = slack
            .iter()
            .map(|s| s.clone() as Arc<dyn Notifier>)
            .collect();
        notifiers.extend(others);
        let running = Running::start(Arc::new(store), settings, Clock::System, notifiers)
            .await
            .unwrap();
        let service = running.service.clone();
        let router = hitl_bot::app_with_slack(
            service.clone(),
            Tokens::new(SecretString::from(TOKEN), None),
            slack,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = running.shutdown_token();
        let server = tokio::spawn(async move {
            hitl_bot::serve(listener, router, async move { stop.cancelled().await })
                .await
                .unwrap();
        });
        Self {
            url,
            http: crate::support::http(),
            service,

            running: Some(running),
            server: Some(server),
            _dir: dir,
        }
    }

    /// Stops background tasks and the HTTP server (graceful shutdown).
    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
        if let Some(s) = self.server.take() {
            s.await.unwrap();
        }
    }

    pub fn shutdown_token(&self) -> tokio_util::sync::CancellationToken {
        self.running.as_ref().unwrap().shutdown_token()
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        read(resp).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        read(resp).await
    }

    /// Creates a request and returns its record; panics unless 201.
    pub async fn create(&self, extra: Value) -> Value {
        let mut body = json!({
            "tool": "write_file",
            "server": "filesystem",
            "arguments": {"path": "/tmp/hitl-test.txt", "content": "hello"},
            "risk": "high",
            "reasons": ["file write"],
            "requester": "agent-1",
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, record) = self.post("/v1/approvals", body).await;
        assert_eq!(status, StatusCode::CREATED, "{record}");
        record
    }

    /// Decides as `approver`, with an approver credential made for them.
    pub async fn decide(
        &self,
        id: &str,
        action: &str,
        approver: &str,
        reason: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut body = json!({"action": action});
        if let Some(r) = reason {
            body["reason"] = json!(r);
        }
        let token = self.approver_token(approver).await;
        self.post_as(&token, &format!("/v1/approvals/{id}/decision"), body)
            .await
    }

    /// A new approver credential for `who`, made in this server's store.
    pub async fn approver_token(&self, who: &str) -> String {
        self.credential(Role::Approver, Some(who)).await
    }

    /// A new credential, made in this server's store as `hitl-bot token
    /// create` makes one.
    pub async fn credential(&self, role: Role, who: Option<&str>) -> String {
        let (token, cred) = credentials::issue(role, who, chrono::Utc::now()).unwrap();
        self.service.store().put_credential(cred).await.unwrap();
        token
    }

    pub async fn post_as(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        read(resp).await
    }

    /// A GET with an approver credential (the whole audit trail needs one).
    pub async fn get_approver(&self, path: &str) -> (StatusCode, Value) {
        let token = self.approver_token("auditor").await;
        self.get_as(&token, path).await
    }

    pub async fn get_as(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        read(resp).await
    }

    pub async fn record(&self, id: &str) -> Value {
        let (status, r) = self.get(&format!("/v1/approvals/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{r}");
        r
    }

    /// Every record and every audit event: compare before and after to prove
    /// a refused request changed nothing.
    pub async fn snapshot(&self) -> (Value, Value) {
        let auditor = self.approver_token("auditor").await;
        let (_, list) = self.get_as(&auditor, "/v1/approvals?limit=1000").await;
        let (_, audit) = self.get_as(&auditor, "/v1/audit?limit=1000").await;
        (list, audit)
    }
}

pub async fn read(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// The `hitl-bot` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_hitl-bot")
}

/// A free port on 127.0.0.1 (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `hitl-bot serve` as a child process, for kill-and-restart tests.
pub struct BotProcess {
    pub child: tokio::process::Child,
    pub url: String,
}

impl BotProcess {
    /// Starts the binary on a free port and waits until `/healthz` answers.
    pub async fn start(data_dir: &std::path::Path, token: Option<&str>) -> Self {
        Self::start_with(data_dir, token, &[]).await
    }

    /// [`Self::start`] with more arguments and environment (`KEY=VALUE`).
    pub async fn start_with(
        data_dir: &std::path::Path,
        token: Option<&str>,
        extra: &[&str],
    ) -> Self {
        let port = free_port();
        let mut cmd = tokio::process::Command::new(bin());
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data_dir)
            .env_remove("HITL_TOKEN")
            .env_remove("HITL_CONFIG")
            .env("RUST_LOG", "warn")
            .kill_on_drop(true)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if let Some(t) = token {
            cmd.env("HITL_TOKEN", t);
        }
        for e in extra {
            match e.split_once('=') {
                Some((k, v)) if !k.starts_with('-') => cmd.env(k, v),
                _ => cmd.arg(e),
            };
        }
        let child = cmd.spawn().unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let http = crate::support::http();
        for _ in 0..200 {
            if let Ok(r) = http.get(format!("{url}/healthz")).send().await
                && r.status().is_success()
            {
                return Self { child, url };
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("hitl-bot did not become ready at {url}");
    }

    /// SIGKILL: no graceful shutdown, nothing flushed on the way out.
    pub async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }
}

/// A new credential in the SQLite store of the service whose data folder is
/// `data_dir`, as `hitl-bot token create` makes one: a running service
/// honours it at once.
pub async fn credential_in(data_dir: &std::path::Path, role: Role, who: Option<&str>) -> String {
    let store = SqliteStore::open(&data_dir.join("hitl.db")).unwrap();
    let (token, cred) = credentials::issue(role, who, chrono::Utc::now()).unwrap();
    hitl_bot::store::Store::put_credential(&store, cred)
        .await
        .unwrap();
    token
}

/// A decision body's bearer: an approver credential for its `approver`.
pub async fn approver_in(data_dir: &std::path::Path, who: &str) -> String {
    credential_in(data_dir, Role::Approver, Some(who)).await
}

/// An HTTP client for tests (installs the TLS provider reqwest needs).
pub fn http() -> reqwest::Client {
    hitl_bot::install_tls_provider();
    reqwest::Client::new()
}
