//! The Slack adapter end to end: a real `hitl-bot` on 127.0.0.1 with its
//! real Slack client pointed at a fake Web API (`fake.rs`), and requests in
//! Slack's own shapes (`payloads.rs`) signed by an independent
//! implementation, Python slack_sdk's `SignatureVerifier`.

pub mod fake;
mod payloads;

mod abuse;
mod cards;
mod commands;
mod deciders;
mod events;
mod full_request;
mod interactions;
mod manifest;
mod outbox;
mod signatures;
mod socket_mode;

use std::sync::Arc;
use std::time::Duration;

use hitl_bot::service::Settings;
use hitl_bot::slack::client::RetryPolicy;
use hitl_bot::slack::{PLATFORM, Slack, SlackConfig};
use hitl_bot::store::MessageRef;
use hitl_cards::Templates;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::support::TestServer;
use fake::FakeSlack;

pub const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
pub const BOT_TOKEN: &str = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy";
pub const CHANNEL: &str = "#approvals";
/// The id the fake answers for [`CHANNEL`].
pub const CHANNEL_ID: &str = "C0APPROVALS";

/// Retries fast enough for tests, still honouring `Retry-After`.
pub fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        attempts: 4,
        first_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        max_retry_after: Duration::from_secs(2),
    }
}

/// The bot with Slack on, and the fake Slack it talks to.
pub struct SlackBot {
    pub server: TestServer,
    pub fake: FakeSlack,
    pub slack: Arc<Slack>,
}

impl SlackBot {
    pub async fn start() -> Self {
        Self::start_with(Settings::default(), |_| {}).await
    }

    pub async fn start_with(settings: Settings, tweak: impl FnOnce(&mut SlackConfig)) -> Self {
        Self::start_beside(settings, tweak, Vec::new()).await
    }

    /// With more notifiers beside Slack.
    pub async fn start_beside(
        settings: Settings,
        tweak: impl FnOnce(&mut SlackConfig),
        others: Vec<Arc<dyn hitl_bot::notify::Notifier>>,
    ) -> Self {
        let fake = FakeSlack::start().await;
        let mut config = SlackConfig::new(SecretString::from(BOT_TOKEN));
        config.signing_secrets = vec![SecretString::from(SIGNING_SECRET)];
        config.channel = Some(CHANNEL.to_owned());
        config.api_url = fake.url.clone();
        config.retry = quick_retries();
        tweak(&mut config);
        let slack = Slack::new(config, Templates::builtin()).unwrap();
        let server = TestServer::start_with_notifiers(settings, Some(slack.clone()), others).await;
        SlackBot {
            server,
            fake,
            slack,
        }
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }

    /// Creates a request (see `TestServer::create`) and waits for its card.
    pub async fn create_posted(&self, extra: Value) -> (Value, MessageRef) {
        let record = self.server.create(extra).await;
        let id = record["request_id"].as_str().unwrap().to_owned();
        let at = self.card(&id).await;
        // The record notes the notice went out just after the post.
        for _ in 0..300 {
            let r = self.server.record(&id).await;
            if r["notification_sent"] == true {
                return (r, at);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{id} was posted but never marked as notified");
    }

    /// Where the request's card was posted, once it is.
    pub async fn card(&self, id: &str) -> MessageRef {
        for _ in 0..300 {
            if let Some(r) = self.server.service.message_ref(id, PLATFORM).await.unwrap() {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "the card of {id} was never posted; calls: {:#?}",
            self.fake.calls()
        );
    }

    /// Sends signed requests, in order; returns each answer.
    pub async fn send_all(&self, requests: &[Unsigned]) -> Vec<(StatusCode, Value)> {
        let signed = sign_all(SIGNING_SECRET, requests).await;
        let mut out = Vec::new();
        for s in &signed {
            out.push(self.send(s).await);
        }
        out
    }

    /// Sends one signed request.
    pub async fn send_one(&self, request: Unsigned) -> (StatusCode, Value) {
        self.send_all(&[request]).await.remove(0)
    }

    pub async fn send(&self, s: &Signed) -> (StatusCode, Value) {
        let mut req = self
            .server
            .http
            .post(format!("{}{}", self.server.url, s.request.path))
            .header("content-type", s.request.content_type)
            .header("x-slack-request-timestamp", s.request.timestamp.to_string())
            .header("x-slack-signature", &s.signature)
            .body(s.request.body.clone());
        for (k, v) in &s.request.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        crate::support::read(req.send().await.unwrap()).await
    }
}

/// A request to the bot's Slack endpoints, before signing.
#[derive(Debug, Clone)]
pub struct Unsigned {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: String,
    pub timestamp: i64,
    pub headers: Vec<(String, String)>,
}

impl Unsigned {
    fn new(path: &'static str, content_type: &'static str, body: String) -> Self {
        Self {
            path,
            content_type,
            body,
            timestamp: chrono::Utc::now().timestamp(),
            headers: Vec::new(),
        }
    }

    pub fn at(mut self, timestamp: i64) -> Self {
        self.timestamp = timestamp;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

#[derive(Debug, Clone)]
pub struct Signed {
    pub request: Unsigned,
    pub signature: String,
}

/// Signs every request in one run of Python slack_sdk, the independent
/// implementation of Slack's scheme.
pub async fn sign_all(secret: &str, requests: &[Unsigned]) -> Vec<Signed> {
    // Tests may read the environment; this is how the peer is found.
    #[allow(clippy::disallowed_methods)]
    let python = std::env::var("HITL_TEST_PYTHON").unwrap_or_default();
    assert!(
        !python.is_empty(),
        "set HITL_TEST_PYTHON to a python with slack_sdk (./scripts/test does this)"
    );
    let script = r#"
import json, sys
from slack_sdk.signature import SignatureVerifier
req = json.load(sys.stdin)
v = SignatureVerifier(req["secret"])
print(json.dumps([v.generate_signature(timestamp=i["timestamp"], body=i["body"]) for i in req["items"]]))
"#;
    let input = json!({
        "secret": secret,
        "items": requests.iter().map(|r| json!({"timestamp": r.timestamp.to_string(), "body": r.body})).collect::<Vec<_>>(),
    });
    let mut child = tokio::process::Command::new(&python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run HITL_TEST_PYTHON={python}: {e}"));
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.to_string().as_bytes()).await.unwrap();
    }
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "slack_sdk signing failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sigs: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    requests
        .iter()
        .cloned()
        .zip(sigs)
        .map(|(request, signature)| Signed { request, signature })
        .collect()
}
