//! The Bot Connector client: the app's own token, posting an activity to a
//! conversation and replacing one.
//!
//! The token comes from the client-credentials grant at the token URL
//! (`https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token` for a
//! single-tenant app) with scope `https://api.botframework.com/.default`,
//! and is kept until five minutes before it expires. A connector that
//! answers 401 gets one retry with a fresh token. Every service URL is
//! checked against the allowlist before anything is sent, so the token
//! never goes to a connector Teams did not vouch for. Errors are typed for
//! the outbox: [`ConnectorError::is_retryable`] is true for 429 and 5xx
//! (with the `Retry-After` the connector asked for) and for transport
//! failures, false for what a retry cannot fix.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use super::service_url::{self, ServiceUrlError, ServiceUrlPolicy};
use super::settings::{CONNECTOR_SCOPE, TeamsSettings};

/// A token is renewed this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(300);

/// Why a call to the connector (or for its token) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    #[error(transparent)]
    ServiceUrl(#[from] ServiceUrlError),
    #[error("the bot has no TEAMS_APP_PASSWORD, so it cannot get a token to post")]
    NoCredentials,
    #[error("the token endpoint refused the app's credentials ({status}): {message}")]
    TokenRefused { status: u16, message: String },
    #[error("{what} asked to slow down (429){}", after(*retry_after))]
    Throttled {
        what: &'static str,
        retry_after: Option<Duration>,
    },
    #[error("{what} failed ({status}){}", after(*retry_after))]
    Server {
        what: &'static str,
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("the connector refused the activity ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("{what} could not be reached: {message}")]
    Transport { what: &'static str, message: String },
    #[error("{what} answered something unexpected: {message}")]
    InvalidResponse { what: &'static str, message: String },
}

fn after(d: Option<Duration>) -> String {
    d.map(|d| format!("; retry after {} s", d.as_secs()))
        .unwrap_or_default()
}

impl ConnectorError {
    /// Whether the same call may succeed later (429, 5xx, network).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Throttled { .. } | Self::Server { .. } | Self::Transport { .. }
        )
    }

    /// How long the other side asked to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Throttled { retry_after, .. } | Self::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

struct CachedToken {
    value: SecretString,
    renew_at: Instant,
}

/// Posts and replaces activities through the Bot Connector.
pub struct Connector {
    http: reqwest::Client,
    app_id: String,
    app_password: Option<SecretString>,
    token_url: Url,
    service_urls: ServiceUrlPolicy,
    token: Mutex<Option<CachedToken>>,
}

/// A conversation member as the connector describes them
/// (`TeamsChannelAccount`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub aad_object_id: Option<String>,
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// `user`, `guest` or `anonymous`.
    #[serde(default)]
    pub user_role: Option<String>,
}

/// The connector's answer to a post: the new activity's id.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ResourceResponse {
    #[serde(default)]
    pub id: String,
}

impl Connector {
    /// From the settings; calls nobody until the first post.
    pub fn new(settings: &TeamsSettings, http: reqwest::Client) -> Result<Self, ConnectorError> {
        Ok(Self {
            http,
            app_id: settings.app_id.trim().to_string(),
            app_password: settings.app_password.clone(),
            token_url: service_url::parse(&settings.token_url())?,
            service_urls: ServiceUrlPolicy::new(&settings.allowed_service_urls)?,
            token: Mutex::new(None),
        })
    }

    /// `POST {serviceUrl}v3/conversations/{id}/activities`: a new message in
    /// the conversation (for a channel, a new thread unless the id names one).
    pub async fn send_to_conversation(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity: &Value,
    ) -> Result<ResourceResponse, ConnectorError> {
        let url = self.activities_url(service_url, conversation_id, None)?;
        let body = self.call(reqwest::Method::POST, url, activity).await?;
        serde_json::from_slice(&body).map_err(|e| ConnectorError::InvalidResponse {
            what: "the connector",
            message: format!("no activity id: {e}"),
        })
    }

    /// `POST {serviceUrl}v3/conversations/{id}/activities/{activityId}`: a
    /// reply to an activity (in a channel, in that message's thread).
    pub async fn reply_to_activity(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity_id: &str,
        activity: &Value,
    ) -> Result<ResourceResponse, ConnectorError> {
        let url = self.activities_url(service_url, conversation_id, Some(activity_id))?;
        let body = self.call(reqwest::Method::POST, url, activity).await?;
        // Some connectors answer a reply with an empty body.
        Ok(serde_json::from_slice(&body).unwrap_or(ResourceResponse { id: String::new() }))
    }

    /// `PUT {serviceUrl}v3/conversations/{id}/activities/{activityId}`:
    /// replaces a message (the card after a decision).
    pub async fn update_activity(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity_id: &str,
        activity: &Value,
    ) -> Result<(), ConnectorError> {
        let url = self.activities_url(service_url, conversation_id, Some(activity_id))?;
        self.call(reqwest::Method::PUT, url, activity)
            .await
            .map(|_| ())
    }

    /// `GET {serviceUrl}v3/conversations/{id}/members/{userId}`: one member
    /// of a conversation (a channel's: the team's roster), with their role
    /// and tenant. `None`: not a member (404).
    pub async fn conversation_member(
        &self,
        service_url: &str,
        conversation_id: &str,
        user_id: &str,
    ) -> Result<Option<Member>, ConnectorError> {
        let mut url = self.activities_url(service_url, conversation_id, None)?;
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop().extend(["members", user_id]);
        }
        match self.call(reqwest::Method::GET, url, None).await {
            Ok(body) => serde_json::from_slice(&body).map(Some).map_err(|e| {
                ConnectorError::InvalidResponse {
                    what: "the connector",
                    message: format!("not a conversation member: {e}"),
                }
            }),
            Err(ConnectorError::Refused { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn activities_url(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity_id: Option<&str>,
    ) -> Result<Url, ConnectorError> {
        let mut url = self.service_urls.check(service_url)?;
        {
            // Ids contain `:`, `;`, `@` and `=`: each is one encoded segment.
            let mut path = url
                .path_segments_mut()
                .map_err(|_| ServiceUrlError::Invalid {
                    url: service_url.to_string(),
                    why: "cannot have a path".to_string(),
                })?;
            path.pop_if_empty()
                .extend(["v3", "conversations", conversation_id, "activities"]);
            if let Some(id) = activity_id {
                path.push(id);
            }
        }
        Ok(url)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        url: Url,
        body: impl Into<Option<&Value>>,
    ) -> Result<Vec<u8>, ConnectorError> {
        let body = body.into();
        let mut renewed = false;
        loop {
            let token = self.token(renewed).await?;
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token.expose_secret());
            if let Some(body) = body {
                req = req.json(body);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| transport("the connector", &e))?;
            let status = resp.status();
            let retry_after = retry_after(resp.headers());
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| transport("the connector", &e))?;
            if status.is_success() {
                return Ok(bytes.to_vec());
            }
            if status == StatusCode::UNAUTHORIZED && !renewed {
                // The token may have been revoked or expired early.
                renewed = true;
                continue;
            }
            return Err(classify(
                "the connector",
                status,
                retry_after,
                &bytes,
                |status, message| ConnectorError::Refused { status, message },
            ));
        }
    }

    /// The cached token, or a new one (always new with `renew`).
    async fn token(&self, renew: bool) -> Result<SecretString, ConnectorError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached
            .as_ref()
            .filter(|t| !renew && Instant::now() < t.renew_at)
        {
            return Ok(t.value.clone());
        }
        let password = self
            .app_password
            .as_ref()
            .ok_or(ConnectorError::NoCredentials)?;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.app_id.as_str()),
            ("client_secret", password.expose_secret()),
            ("scope", CONNECTOR_SCOPE),
        ];
        let resp = self
            .http
            .post(self.token_url.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            // Encoding a list of string pairs cannot fail.
            .body(serde_urlencoded::to_string(form).unwrap_or_default())
            .send()
            .await
            .map_err(|e| transport("the token endpoint", &e))?;
        let status = resp.status();
        let retry_after = retry_after(resp.headers());
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| transport("the token endpoint", &e))?;
        if !status.is_success() {
            return Err(classify(
                "the token endpoint",
                status,
                retry_after,
                &bytes,
                |status, message| ConnectorError::TokenRefused { status, message },
            ));
        }
        #[derive(Deserialize)]
        struct TokenResponse {
            access_token: String,
            expires_in: u64,
        }
        let t: TokenResponse =
            serde_json::from_slice(&bytes).map_err(|e| ConnectorError::InvalidResponse {
                what: "the token endpoint",
                message: e.to_string(),
            })?;
        let lifetime = Duration::from_secs(t.expires_in);
        // Renew five minutes early, or half-way for short-lived tokens.
        let early = RENEW_BEFORE.min(lifetime / 2);
        let value = SecretString::from(t.access_token);
        *cached = Some(CachedToken {
            value: value.clone(),
            renew_at: Instant::now() + lifetime - early,
        });
        Ok(value)
    }
}

fn transport(what: &'static str, e: &reqwest::Error) -> ConnectorError {
    // reqwest's message names the URL, never the body or the token.
    ConnectorError::Transport {
        what,
        message: e.to_string(),
    }
}

/// 429 and 5xx are worth retrying; other failures are final, with the
/// other side's explanation (Entra's `error_description`, the connector's
/// `error.message`).
fn classify(
    what: &'static str,
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    fatal: impl FnOnce(u16, String) -> ConnectorError,
) -> ConnectorError {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return ConnectorError::Throttled { what, retry_after };
    }
    if status.is_server_error() {
        return ConnectorError::Server {
            what,
            status: status.as_u16(),
            retry_after,
        };
    }
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let message = json
        .as_ref()
        .and_then(|v| {
            v.get("error_description")
                .or_else(|| v.pointer("/error/message"))
                .or_else(|| v.get("message"))
                .and_then(Value::as_str)
        })
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(300)]).to_string());
    fatal(status.as_u16(), message)
}

/// `Retry-After` in seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
}
