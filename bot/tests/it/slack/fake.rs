//! A fake Slack Web API on 127.0.0.1: records every call and answers as
//! Slack does (`ok: true` with `channel`, `ts` and `message`; 429 with
//! `Retry-After`; 5xx; `ok: false` errors), scripted per method by the test.
//!
//! The workspace is `T0TEAM`: [`ROSTER`] are its full members, and every
//! channel's members unless a test says otherwise; `users.info`,
//! `conversations.members` (paged) and `auth.test` answer in the shapes of
//! Slack's documentation.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};
use tokio::sync::Notify;

/// One recorded Web API call.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    /// The `Authorization` header, as sent.
    pub auth: Option<String>,
    /// The JSON body, or the query parameters of a GET as an object.
    pub body: Value,
    /// Answered as Slack does when it works (not scripted, not down).
    pub served: bool,
}

/// A scripted answer, used once instead of the default one.
#[derive(Debug, Clone)]
pub enum Canned {
    /// 429 with `Retry-After: secs`.
    RateLimited(u64),
    /// An HTTP error status with a plain body.
    Status(u16),
    /// 200 with `ok: false` and this error code.
    Error(&'static str),
}

/// The workspace the bot is installed in.
pub const TEAM: &str = "T0TEAM";

/// The workspace's full members, in every channel by default.
pub const ROSTER: &[&str] = &[
    "U0ALICE",
    "U0ALICE1",
    "U0BOB42",
    "U0BOB1",
    "U0BOB",
    "U0CAROL",
    "U0EVE42",
    "U0DAN42",
    "U0DEV42",
    "U0MALLORY",
    "U0ERIN4",
    "U0123ABC",
];

#[derive(Default)]
struct Inner {
    /// `users.info` answers by user id, beyond the roster's.
    users: HashMap<String, Value>,
    /// Channel members by channel id, where not the roster.
    channel_members: HashMap<String, Vec<String>>,
    calls: Vec<Call>,
    script: HashMap<String, VecDeque<Canned>>,
    usergroups: HashMap<String, Vec<String>>,
    socket_url: Option<String>,
    /// Every call answered 503 while set.
    down: bool,
    next_ts: u64,
    /// What the channel shows: messages by ts, as posted then updated.
    messages: HashMap<String, Value>,
}

#[derive(Clone)]
pub struct FakeSlack {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    changed: Arc<Notify>,
}

impl FakeSlack {
    pub async fn start() -> Self {
        let fake = FakeSlack {
            url: String::new(),
            inner: Arc::new(Mutex::new(Inner::default())),
            changed: Arc::new(Notify::new()),
        };
        let app = Router::new()
            .route("/api/{method}", any(handle))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeSlack { url, ..fake }
    }

    /// The next call of `method` gets `answer` (in the order pushed).
    pub fn script(&self, method: &str, answer: Canned) {
        self.inner
            .lock()
            .unwrap()
            .script
            .entry(method.to_owned())
            .or_default()
            .push_back(answer);
    }

    /// `user` (any id) as `users.info` shows it: `flags` are set on a full
    /// member of [`TEAM`] (`{"is_restricted": true}` for a guest,
    /// `{"team_id": "T0OTHER"}` for a Slack Connect user).
    pub fn set_user(&self, user: &str, flags: Value) {
        let mut u = user_info(user);
        if let (Value::Object(u), Value::Object(f)) = (&mut u, flags) {
            u.extend(f);
        }
        self.inner.lock().unwrap().users.insert(user.to_owned(), u);
    }

    /// The members of `channel` (instead of the roster).
    pub fn set_channel_members(&self, channel: &str, members: &[&str]) {
        self.inner.lock().unwrap().channel_members.insert(
            channel.to_owned(),
            members.iter().map(|m| m.to_string()).collect(),
        );
    }

    pub fn set_usergroup(&self, id: &str, members: &[&str]) {
        self.inner.lock().unwrap().usergroups.insert(
            id.to_owned(),
            members.iter().map(|m| m.to_string()).collect(),
        );
    }

    /// Slack is down (every call gets a 503) or back up.
    pub fn set_down(&self, down: bool) {
        self.inner.lock().unwrap().down = down;
    }

    /// The calls Slack served, in order.
    pub fn served(&self) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.served).collect()
    }

    pub fn set_socket_url(&self, url: &str) {
        self.inner.lock().unwrap().socket_url = Some(url.to_owned());
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }

    pub fn calls_of(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// Waits until `method` was called at least `n` times; returns those calls.
    pub async fn wait_for(&self, method: &str, n: usize) -> Vec<Call> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let notified = self.changed.notified();
            let calls = self.calls_of(method);
            if calls.len() >= n {
                return calls;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "timed out waiting for {n} call(s) of {method}; calls so far: {:#?}",
                    self.calls()
                        .iter()
                        .map(|c| c.method.clone())
                        .collect::<Vec<_>>()
                );
            }
        }
    }

    /// Checks that no more than `n` calls of `method` arrive within `quiet`.
    pub async fn settles_at(&self, method: &str, n: usize, quiet: Duration) {
        tokio::time::sleep(quiet).await;
        assert_eq!(
            self.calls_of(method).len(),
            n,
            "{method} calls: {:#?}",
            self.calls_of(method)
        );
    }

    /// A message as the channel shows it now (posted, then updated).
    pub fn message(&self, ts: &str) -> Value {
        self.inner
            .lock()
            .unwrap()
            .messages
            .get(ts)
            .cloned()
            .unwrap_or_else(|| panic!("no message {ts} was posted"))
    }

    fn next_ts(&self) -> String {
        let mut inner = self.inner.lock().unwrap();
        inner.next_ts += 1;
        format!("1700000000.{:06}", inner.next_ts * 100)
    }
}

/// The channel id Slack answers for a channel given by name.
pub fn channel_id(channel: &str) -> String {
    match channel.strip_prefix('#') {
        Some(name) => format!(
            "C0{}",
            name.to_uppercase()
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>()
        ),
        None => channel.to_owned(),
    }
}

async fn handle(
    State(fake): State<FakeSlack>,
    Path(method): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = if body.is_empty() {
        json!(query)
    } else {
        serde_json::from_slice(&body).unwrap_or_else(|_| json!(String::from_utf8_lossy(&body)))
    };
    let call = Call {
        method: method.clone(),
        auth: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: body.clone(),
        served: true,
    };
    let canned = {
        let mut inner = fake.inner.lock().unwrap();
        let canned = if inner.down {
            Some(Canned::Status(503))
        } else {
            inner.script.get_mut(&method).and_then(VecDeque::pop_front)
        };
        inner.calls.push(Call {
            served: canned.is_none(),
            ..call
        });
        canned
    };
    fake.changed.notify_waiters();
    if let Some(c) = canned {
        return match c {
            Canned::RateLimited(secs) => (
                StatusCode::TOO_MANY_REQUESTS,
                [
                    (header::RETRY_AFTER, secs.to_string()),
                    (header::CONTENT_TYPE, "application/json".to_owned()),
                ],
                json!({"ok": false, "error": "ratelimited"}).to_string(),
            )
                .into_response(),
            Canned::Status(code) => (
                StatusCode::from_u16(code).unwrap(),
                "upstream connect error or disconnect/reset before headers",
            )
                .into_response(),
            Canned::Error(code) => ok(json!({"ok": false, "error": code})),
        };
    }
    let b = &body;
    match method.as_str() {
        "chat.postMessage" => {
            let ts = fake.next_ts();
            let channel = channel_id(b["channel"].as_str().unwrap_or_default());
            let mut message = json!({
                "type": "message", "subtype": "bot_message", "user": "U0BOT", "bot_id": "B0BOT",
                "app_id": "A0HITL", "ts": ts, "text": b["text"], "blocks": b["blocks"],
            });
            if let Some(t) = b["thread_ts"].as_str() {
                message["thread_ts"] = json!(t);
            }
            fake.inner
                .lock()
                .unwrap()
                .messages
                .insert(ts.clone(), message.clone());
            ok(json!({"ok": true, "channel": channel, "ts": ts, "message": message}))
        }
        "chat.update" => {
            if let Some(m) = fake
                .inner
                .lock()
                .unwrap()
                .messages
                .get_mut(b["ts"].as_str().unwrap_or_default())
            {
                m["text"] = b["text"].clone();
                m["blocks"] = b["blocks"].clone();
            }
            ok(json!({
            "ok": true, "channel": b["channel"], "ts": b["ts"], "text": b["text"],
            "message": {"type": "message", "user": "U0BOT", "bot_id": "B0BOT", "text": b["text"], "blocks": b["blocks"]},
            }))
        }
        "chat.postEphemeral" => ok(json!({"ok": true, "message_ts": fake.next_ts()})),
        "views.open" => {
            let mut view = b["view"].clone();
            view["id"] = json!("V0MODAL");
            view["team_id"] = json!("T0TEAM");
            ok(json!({"ok": true, "view": view}))
        }
        "usergroups.users.list" => {
            let group = b["usergroup"].as_str().unwrap_or_default().to_owned();
            match fake.inner.lock().unwrap().usergroups.get(&group) {
                Some(users) => ok(json!({"ok": true, "users": users})),
                None => ok(json!({"ok": false, "error": "no_such_subteam"})),
            }
        }
        "auth.test" => ok(json!({
            "ok": true, "url": "https://acme.slack.com/", "team": "Acme", "user": "hitl",
            "team_id": TEAM, "user_id": "U0BOT", "bot_id": "B0BOT", "is_enterprise_install": false,
        })),
        "users.info" => {
            let user = b["user"].as_str().unwrap_or_default();
            let known = fake.inner.lock().unwrap().users.get(user).cloned();
            match known {
                Some(u) => ok(json!({"ok": true, "user": u})),
                None if ROSTER.contains(&user) => ok(json!({"ok": true, "user": user_info(user)})),
                None => ok(json!({"ok": false, "error": "user_not_found"})),
            }
        }
        "conversations.members" => {
            let channel = b["channel"].as_str().unwrap_or_default();
            let members: Vec<String> = fake
                .inner
                .lock()
                .unwrap()
                .channel_members
                .get(channel)
                .cloned()
                .unwrap_or_else(|| ROSTER.iter().map(|m| m.to_string()).collect());
            // Paged as Slack pages: `limit` per page, an opaque next cursor.
            let limit: usize = b["limit"]
                .as_str()
                .and_then(|l| l.parse().ok())
                .unwrap_or(100);
            let from: usize = b["cursor"]
                .as_str()
                .and_then(|c| c.strip_prefix("dXNlcjo"))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let page: Vec<&String> = members.iter().skip(from).take(limit).collect();
            let next = if from + limit < members.len() {
                format!("dXNlcjo{}", from + limit)
            } else {
                String::new()
            };
            ok(json!({"ok": true, "members": page, "response_metadata": {"next_cursor": next}}))
        }
        "apps.connections.open" => match fake.inner.lock().unwrap().socket_url.clone() {
            Some(url) => ok(json!({"ok": true, "url": url})),
            None => ok(json!({"ok": false, "error": "not_allowed_token_type"})),
        },
        _ => ok(json!({"ok": false, "error": "unknown_method"})),
    }
}

/// A full member of [`TEAM`], as `users.info` shows one.
fn user_info(id: &str) -> Value {
    let name = id.to_lowercase();
    json!({
        "id": id, "team_id": TEAM, "name": name, "deleted": false, "color": "9f69e7",
        "real_name": name, "tz": "Europe/Amsterdam", "tz_label": "Central European Time",
        "tz_offset": 3600,
        "profile": {
            "avatar_hash": "ge3b51ca72de", "status_text": "", "status_emoji": "",
            "real_name": name, "display_name": name, "real_name_normalized": name,
            "display_name_normalized": name, "email": format!("{name}@acme.example"),
            "image_24": "https://a.slack-edge.com/df10d/img/avatars/ava_0024-24.png",
            "team": TEAM
        },
        "is_admin": false, "is_owner": false, "is_primary_owner": false,
        "is_restricted": false, "is_ultra_restricted": false, "is_bot": false,
        "is_app_user": false, "updated": 1_700_000_000, "has_2fa": false
    })
}

fn ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}
