//! The Teams adapter's edge against real peers on 127.0.0.1: a local token
//! issuer (`bot/tests/teams/issuer.py`) with its own OpenID metadata and
//! JWKS, whose tokens Python's PyJWT signs; a fake Bot Connector with its
//! token endpoint (`fake.rs`); webhook HMACs made by Python's `hmac`. The
//! extractors are mounted on a small router of the tests' own, which
//! counts what reaches the handler, so a refusal provably changes nothing.

mod fake;

mod adapter;
mod auth;
mod connector;
mod manifest;
mod webhook;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{FromRef, State};
use axum::routing::post;
use axum::{Json, Router};
use hitl_bot::clock::Clock;
use hitl_bot::teams::keys::CachePolicy;
use hitl_bot::teams::settings::{EntraSettings, TeamsSettings};
use hitl_bot::teams::{Activity, TeamsAuth, Verified, WebhookAuth, WebhookVerified};
use reqwest::StatusCode;
use serde_json::{Value, json};

pub const APP_ID: &str = "6e0fb6d4-0f5e-4c9a-9d4f-1a2b3c4d5e6f";
pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const CALLER: &str = "d6d49420-f39b-4df7-a1dc-d59a935871db";
pub const SERVICE_URL: &str = "https://smba.trafficmanager.net/amer/";

/// An HTTP client, with the process's TLS provider installed first.
pub fn http() -> reqwest::Client {
    hitl_bot::install_tls_provider();
    reqwest::Client::new()
}

/// The interpreter with PyJWT and cryptography (`./scripts/test` sets it).
#[allow(clippy::disallowed_methods)]
pub fn python() -> String {
    let python = std::env::var("HITL_TEST_PYTHON").unwrap_or_default();
    assert!(
        !python.is_empty(),
        "set HITL_TEST_PYTHON to a python with PyJWT (./scripts/test does this)"
    );
    python
}

fn peer_script(name: &str) -> String {
    format!("{}/tests/teams/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The local token issuer, stopped when dropped.
pub struct Issuer {
    pub url: String,
    child: Child,
    http: reqwest::Client,
}

impl Issuer {
    pub fn start() -> Self {
        let mut child = Command::new(python())
            .arg(peer_script("issuer.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the token issuer");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .unwrap_or_else(|| panic!("issuer said {line:?} (is PyJWT installed?)"));
        Self {
            url: format!("http://127.0.0.1:{port}"),
            child,
            http: http(),
        }
    }

    pub fn openid_url(&self) -> String {
        format!("{}/botframework/openid", self.url)
    }

    pub fn entra_openid_url(&self) -> String {
        format!(
            "{}/{TENANT}/v2.0/.well-known/openid-configuration",
            self.url
        )
    }

    /// A token signed by the issuer (PyJWT) from `spec`
    /// (`{"key", "claims", "kid"?, "alg"?}`).
    pub async fn mint(&self, spec: Value) -> String {
        let v: Value = self
            .http
            .post(format!("{}/mint", self.url))
            .json(&spec)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["token"].as_str().unwrap().to_string()
    }

    pub async fn publish(&self, key: &str) {
        self.http
            .post(format!("{}/publish", self.url))
            .json(&json!({ "key": key }))
            .send()
            .await
            .unwrap();
    }

    /// How often `path` was fetched.
    pub async fn hits(&self, path: &str) -> u64 {
        let v: Value = self
            .http
            .get(format!("{}/hits", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v[path].as_u64().unwrap_or(0)
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Bot Framework claims for a token that should be accepted.
pub fn bf_claims(service_url: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": "https://api.botframework.com",
        "aud": APP_ID,
        "exp": now + 3600,
        "nbf": now - 60,
        "serviceurl": service_url,
    })
}

/// Entra v2 claims from the configured tenant and caller.
pub fn entra_claims() -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": format!("https://login.microsoftonline.com/{TENANT}/v2.0"),
        "aud": APP_ID,
        "exp": now + 3600,
        "nbf": now - 60,
        "tid": TENANT,
        "azp": CALLER,
        "serviceurl": SERVICE_URL,
    })
}

/// An `adaptiveCard/action` invoke (an Approve click) as Teams sends it.
pub fn invoke(id: &str, service_url: &str, channel_id: &str) -> Value {
    json!({
        "type": "invoke",
        "name": "adaptiveCard/action",
        "id": id,
        "timestamp": "2026-01-05T13:51:02.123Z",
        "serviceUrl": service_url,
        "channelId": channel_id,
        "from": { "id": "29:1GcS4EyB_oSI8A88XmWBN7NJFyMqe3QGnJdgLfFGkJnm", "name": "Ana", "aadObjectId": "6b3c5e2f-0000-4000-8000-000000000001" },
        "conversation": { "conversationType": "channel", "tenantId": TENANT, "id": "19:abc@thread.tacv2;messageid=1700000000000", "isGroup": true },
        "recipient": { "id": format!("28:{APP_ID}"), "name": "hitl" },
        "entities": [{ "type": "clientInfo", "locale": "en-US" }],
        "channelData": { "tenant": { "id": TENANT } },
        "value": {
            "action": { "type": "Action.Execute", "verb": "approve", "data": { "requestId": "apr_1", "decision": "approve", "reason": "ok" } },
            "trigger": "manual"
        },
        "locale": "en-US"
    })
}

/// The state of the test router: the checks and a count of what got through.
#[derive(Clone)]
pub struct EdgeState {
    pub auth: Arc<TeamsAuth>,
    pub webhook: Arc<WebhookAuth>,
    pub reached: Arc<AtomicUsize>,
}

impl FromRef<EdgeState> for Arc<TeamsAuth> {
    fn from_ref(s: &EdgeState) -> Self {
        s.auth.clone()
    }
}

impl FromRef<EdgeState> for Arc<WebhookAuth> {
    fn from_ref(s: &EdgeState) -> Self {
        s.webhook.clone()
    }
}

async fn messages(State(s): State<EdgeState>, v: Verified<Activity>) -> Json<Value> {
    s.reached.fetch_add(1, Ordering::SeqCst);
    Json(json!({
        "type": v.activity.kind,
        "id": v.activity.id,
        "issuer": format!("{:?}", v.identity.issuer),
        "caller": v.identity.caller,
        "once_key": v.once_key(),
        "request_id": v.activity.card_action().and_then(|a| a.request_id),
    }))
}

async fn webhook(State(s): State<EdgeState>, v: WebhookVerified<Activity>) -> Json<Value> {
    s.reached.fetch_add(1, Ordering::SeqCst);
    Json(json!({ "type": "message", "text": format!("you said: {}", v.activity.command_text()) }))
}

/// The test router on 127.0.0.1:0, with the real extractors.
pub struct Edge {
    pub url: String,
    pub state: EdgeState,
    pub http: reqwest::Client,
}

impl Edge {
    pub async fn start(settings: &TeamsSettings, policy: CachePolicy) -> Self {
        let auth = TeamsAuth::with_policy(settings, http(), Clock::System, policy)
            .expect("valid settings");
        let state = EdgeState {
            auth: Arc::new(auth),
            webhook: Arc::new(WebhookAuth::new(&settings.webhook_secrets).unwrap()),
            reached: Arc::new(AtomicUsize::new(0)),
        };
        let router = Router::new()
            .route("/teams/messages", post(messages))
            .route("/teams/webhook", post(webhook))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self {
            url,
            state,
            http: http(),
        }
    }

    pub fn reached(&self) -> usize {
        self.state.reached.load(Ordering::SeqCst)
    }

    /// POSTs `activity` to `/teams/messages` with `token` (none: no header).
    pub async fn send(&self, token: Option<&str>, activity: &Value) -> (StatusCode, Value) {
        let mut req = self
            .http
            .post(format!("{}/teams/messages", self.url))
            .json(activity);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

/// Settings that trust the local issuer (Entra off).
pub fn settings(issuer: &Issuer) -> TeamsSettings {
    TeamsSettings {
        app_id: APP_ID.to_string(),
        tenant_id: Some(TENANT.to_string()),
        openid_url: issuer.openid_url(),
        ..TeamsSettings::default()
    }
}

/// The same with Entra tokens switched on for [`TENANT`] and [`CALLER`].
pub fn entra_settings(issuer: &Issuer) -> TeamsSettings {
    TeamsSettings {
        entra: EntraSettings {
            enabled: true,
            openid_url: Some(issuer.entra_openid_url()),
            allowed_callers: vec![CALLER.to_string()],
        },
        ..settings(issuer)
    }
}
