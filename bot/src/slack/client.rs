//! The Slack Web API client: slack-morphism's HTTP connector pointed at a
//! configurable base URL, with retries on rate limits and server errors.
//!
//! Messages go out as the JSON the cards crate rendered (through
//! slack-morphism's generic `http_post`), never re-typed through its Block
//! Kit models, so what the templates say is exactly what Slack receives.
//! The bot token lives in slack-morphism's token type, whose `Debug` shows
//! only its length; no URL, log line or error here carries it.

use std::future::Future;
use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::{
    SlackApiConversationsMembersRequest, SlackApiToken, SlackApiTokenValue,
    SlackApiUserGroupsUsersListRequest, SlackApiUsersInfoRequest, SlackClient,
    SlackClientHyperConnector,
};

/// Slack's own Web API.
pub const DEFAULT_API_URL: &str = "https://slack.com/api/";

/// The connector type: HTTPS, or plain HTTP for a local fake.
pub type Connector = SlackClientHyperConnector<HttpsConnector<HttpConnector>>;

/// How failed calls are retried: 429 waits for `Retry-After` (at most
/// `max_retry_after`), 5xx and transport failures back off exponentially
/// from `first_backoff` to `max_backoff`, with jitter. Errors Slack reports
/// with `ok: false` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Calls in all, the first included.
    pub attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// Why a Web API call failed.
#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    #[error("invalid Slack API URL {url:?}: {message}")]
    BadUrl { url: String, message: String },
    /// Slack answered `ok: false` with this error code.
    #[error("Slack {method}: {code}")]
    Api { method: &'static str, code: String },
    #[error("Slack {method}: rate limited (retry after {retry_after:?})")]
    RateLimited {
        method: &'static str,
        retry_after: Option<Duration>,
    },
    #[error("Slack {method}: HTTP {status}")]
    Http { method: &'static str, status: u16 },
    #[error("Slack {method}: {message}")]
    Transport {
        method: &'static str,
        message: String,
    },
}

impl SlackError {
    fn from_client(method: &'static str, e: SlackClientError) -> Self {
        match e {
            SlackClientError::ApiError(a) => SlackError::Api {
                method,
                code: a.code,
            },
            SlackClientError::RateLimitError(r) => SlackError::RateLimited {
                method,
                retry_after: r.retry_after,
            },
            SlackClientError::HttpError(h) => SlackError::Http {
                method,
                status: h.status_code.as_u16(),
            },
            other => SlackError::Transport {
                method,
                message: other.to_string(),
            },
        }
    }

    /// How long to wait before attempt `attempt + 1`, or `None` if this
    /// failure is final.
    fn retry_in(&self, policy: &RetryPolicy, attempt: u32) -> Option<Duration> {
        let backoff = || {
            let exp = policy
                .first_backoff
                .saturating_mul(1u32 << (attempt - 1).min(16))
                .min(policy.max_backoff);
            // Up to a quarter more, so many retries do not arrive together.
            let jitter = rand::rng().random_range(0..=exp.as_millis() as u64 / 4);
            exp + Duration::from_millis(jitter)
        };
        match self {
            SlackError::RateLimited { retry_after, .. } => Some(
                retry_after
                    .unwrap_or(policy.first_backoff)
                    .min(policy.max_retry_after),
            ),
            SlackError::Http { status, .. } if *status >= 500 => Some(backoff()),
            SlackError::Transport { .. } => Some(backoff()),
            // Slack's transient errors, reported with ok:false.
            SlackError::Api { code, .. }
                if matches!(
                    code.as_str(),
                    "ratelimited"
                        | "internal_error"
                        | "fatal_error"
                        | "request_timeout"
                        | "service_unavailable"
                ) =>
            {
                Some(backoff())
            }
            _ => None,
        }
    }
}

/// A posted message: the channel id Slack answered with and the message's `ts`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
}

#[derive(Debug, Deserialize)]
struct Ignored {}

/// What `users.info` says about a person, as far as deciding goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserStanding {
    /// The workspace the user belongs to (their home team).
    pub team_id: Option<String>,
    /// Every workspace of an Enterprise Grid org the user is in.
    pub enterprise_teams: Vec<String>,
    /// A multi-channel (`is_restricted`) or single-channel
    /// (`is_ultra_restricted`) guest.
    pub guest: bool,
    /// A bot, an app user, a deactivated account, or someone Slack calls a
    /// stranger (an external user the bot shares no channel with).
    pub not_a_person: bool,
}

/// Most pages of `conversations.members` read for one channel (of 1,000
/// members each); a larger channel is refused rather than read for ever.
pub const MAX_MEMBER_PAGES: usize = 100;

/// The Web API with the bot token.
pub struct SlackWeb {
    client: SlackClient<Connector>,
    token: SlackApiToken,
    retry: RetryPolicy,
}

impl std::fmt::Debug for SlackWeb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackWeb")
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// slack-morphism's HTTP connector for `api_url`, speaking HTTPS to Slack
/// and plain HTTP only when the URL says so (a local fake in tests).
pub fn connector(api_url: &str) -> Result<Connector, SlackError> {
    check_api_url(api_url)?;
    // The system's CA roots; without any (a bare container), HTTPS calls fail
    // with a TLS error naming the problem, and plain-HTTP fakes still work.
    let builder = match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "no system CA certificates; HTTPS calls to Slack will fail");
            let config = rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
        }
    };
    let https = builder
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    // slack-morphism joins the base and the method with a '/'.
    let base = api_url.trim_end_matches('/');
    Ok(SlackClientHyperConnector::with_connector(https).with_slack_api_url(base))
}

/// Checks that `api_url` is an absolute http(s) URL with no userinfo or
/// query string: slack-morphism and hyper log the URL of every request at
/// debug and trace level, so a secret in it would reach the logs.
pub fn check_api_url(api_url: &str) -> Result<(), SlackError> {
    let bad = |message: String| SlackError::BadUrl {
        url: hitl_client::api::without_secrets(api_url),
        message,
    };
    let url: reqwest::Url = api_url.parse().map_err(|e| bad(format!("{e}")))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(bad(
            "the scheme must be https (or http for a local test peer)".into(),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "remove the user and password: Slack's API takes the bot token, not userinfo".into(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad(
            "remove the query string: it would be sent and logged with every call".into(),
        ));
    }
    Ok(())
}

impl SlackWeb {
    pub fn new(
        api_url: &str,
        bot_token: &SecretString,
        retry: RetryPolicy,
    ) -> Result<Self, SlackError> {
        Ok(Self {
            client: SlackClient::new(connector(api_url)?),
            token: SlackApiToken::new(SlackApiTokenValue(bot_token.expose_secret().to_owned())),
            retry,
        })
    }

    /// Runs `call` until it succeeds, fails for good, or runs out of attempts.
    async fn retrying<T, F, Fut>(&self, method: &'static str, call: F) -> Result<T, SlackError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SlackClientError>>,
    {
        let mut attempt = 1;
        loop {
            let err = match call().await {
                Ok(v) => return Ok(v),
                Err(e) => SlackError::from_client(method, e),
            };
            match err.retry_in(&self.retry, attempt) {
                Some(wait) if attempt < self.retry.attempts => {
                    tracing::warn!(method, attempt, wait_ms = wait.as_millis() as u64, error = %err, "Slack call failed; retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                _ => return Err(err),
            }
        }
    }

    /// POSTs `body` as JSON to `method`, with retries.
    pub async fn call<RS>(&self, method: &'static str, body: &Value) -> Result<RS, SlackError>
    where
        RS: DeserializeOwned + Send,
    {
        self.retrying(method, || async {
            self.client
                .open_session(&self.token)
                .http_session_api
                .http_post(method, body, None)
                .await
        })
        .await
    }

    /// `chat.postMessage` of a rendered message (`{"text", "blocks"}`), in a
    /// thread when `thread_ts` is given.
    pub async fn post_message(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        message: &Value,
    ) -> Result<Posted, SlackError> {
        let mut body = with_fields(
            message,
            json!({"channel": channel, "unfurl_links": false, "unfurl_media": false}),
        );
        if let Some(t) = thread_ts {
            body["thread_ts"] = json!(t);
        }
        self.call("chat.postMessage", &body).await
    }

    /// `chat.update`: replaces the message at (`channel`, `ts`).
    pub async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        message: &Value,
    ) -> Result<(), SlackError> {
        let body = with_fields(message, json!({"channel": channel, "ts": ts}));
        self.call::<Ignored>("chat.update", &body).await.map(|_| ())
    }

    /// `chat.postEphemeral`: a message only `user` sees.
    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        thread_ts: Option<&str>,
        message: &Value,
    ) -> Result<(), SlackError> {
        let mut body = with_fields(message, json!({"channel": channel, "user": user}));
        if let Some(t) = thread_ts {
            body["thread_ts"] = json!(t);
        }
        self.call::<Ignored>("chat.postEphemeral", &body)
            .await
            .map(|_| ())
    }

    /// `views.open`: a modal, for the click whose `trigger_id` this is.
    pub async fn open_view(&self, trigger_id: &str, view: &Value) -> Result<(), SlackError> {
        let body = json!({"trigger_id": trigger_id, "view": view});
        self.call::<Ignored>("views.open", &body).await.map(|_| ())
    }

    /// `usergroups.users.list`: the user ids in a user group.
    pub async fn usergroup_members(&self, group: &str) -> Result<Vec<String>, SlackError> {
        let req = SlackApiUserGroupsUsersListRequest::new(group.to_owned().into());
        let res = self
            .retrying("usergroups.users.list", || async {
                self.client
                    .open_session(&self.token)
                    .usergroups_users_list(&req)
                    .await
            })
            .await?;
        Ok(res.users.into_iter().map(|u| u.0).collect())
    }

    /// `auth.test`: the id of the workspace the bot token belongs to.
    pub async fn team_id(&self) -> Result<String, SlackError> {
        let res = self
            .retrying("auth.test", || async {
                self.client.open_session(&self.token).auth_test().await
            })
            .await?;
        Ok(res.team_id.0)
    }

    /// `users.info`: whether `user` is a guest, and of which workspace.
    pub async fn user_standing(&self, user: &str) -> Result<UserStanding, SlackError> {
        let req = SlackApiUsersInfoRequest::new(user.to_owned().into());
        let res = self
            .retrying("users.info", || async {
                self.client.open_session(&self.token).users_info(&req).await
            })
            .await?;
        let u = res.user;
        let flag = |f: Option<bool>| f.unwrap_or(false);
        let enterprise_teams = u
            .enterprise_user
            .as_ref()
            .and_then(|e| e.teams.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.0)
            .collect();
        Ok(UserStanding {
            team_id: u.team_id.map(|t| t.0),
            enterprise_teams,
            guest: flag(u.flags.is_restricted) || flag(u.flags.is_ultra_restricted),
            not_a_person: flag(u.flags.is_bot)
                || flag(u.flags.is_app_user)
                || flag(u.flags.is_stranger)
                || flag(u.deleted),
        })
    }

    /// `conversations.members`: every member of `channel`, page by page.
    pub async fn channel_members(&self, channel: &str) -> Result<Vec<String>, SlackError> {
        let mut members = Vec::new();
        let mut cursor = None;
        for _ in 0..MAX_MEMBER_PAGES {
            let req = SlackApiConversationsMembersRequest::new()
                .with_channel(channel.to_owned().into())
                .with_limit(1000)
                .opt_cursor(cursor.take());
            let res = self
                .retrying("conversations.members", || async {
                    self.client
                        .open_session(&self.token)
                        .conversations_members(&req)
                        .await
                })
                .await?;
            members.extend(res.members.into_iter().map(|m| m.0));
            match res.response_metadata.and_then(|m| m.next_cursor) {
                Some(next) if !next.0.is_empty() => cursor = Some(next),
                _ => return Ok(members),
            }
        }
        Err(SlackError::Api {
            method: "conversations.members",
            code: format!("more than {} members", MAX_MEMBER_PAGES * 1000),
        })
    }
}

/// `message`'s fields (`text`, `blocks`) plus `extra`'s.
fn with_fields(message: &Value, extra: Value) -> Value {
    let mut body = match message {
        Value::Object(m) => Value::Object(m.clone()),
        other => json!({ "text": other }),
    };
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_with_userinfo_or_a_query_are_refused_without_being_repeated() {
        for url in [
            "http://u:hunter2@127.0.0.1:9/api/",
            "https://hunter2@slack.example/api/",
            "https://slack.example/api/?key=hunter2",
            "https://slack.example/api/#hunter2",
            "ftp://u:hunter2@slack.example/api/",
            "not a url hunter2@x?y=hunter2",
        ] {
            let err = check_api_url(url).expect_err(url).to_string();
            assert!(!err.contains("hunter2"), "{url}: {err}");
        }
        check_api_url("https://slack.com/api/").unwrap();
        check_api_url("http://127.0.0.1:9/api/").unwrap();
    }
}
