//! The Slack adapter: posts approval cards and takes decisions from Slack.
//!
//! - [`client`]: the Web API (slack-morphism's connector, configurable base
//!   URL, retries on 429 and 5xx).
//! - [`notifier`]: [`Slack`] as a [`crate::notify::Notifier`]: the request
//!   card, session threads, votes, reminders, decisions and expiry as
//!   thread replies, the card updated in place.
//! - [`verify`]: the signature extractor every HTTP endpoint uses.
//! - [`payloads`]: Slack's wire shapes (interactions, commands, events).
//! - [`interactions`], [`events`], [`commands`]: what a click, a thread
//!   reply and `/approvals` do; the HTTP endpoints and [`socket_mode`] both
//!   call these.
//! - [`approvers`]: who a Slack user is to the service (user group
//!   membership), and [`replies`]: what people are told.
//! - `platform`: [`Slack`] as a [`crate::chat::ChatPlatform`]: the grammar,
//!   request resolution, decisions and their follow-up, deadlines and
//!   per-card ordering are the chat seam's; this module renders its
//!   answers.
//!
//! Every decision goes through [`ApprovalService`]; this module only
//! translates. Handlers answer Slack within its 3-second deadline: the
//! decision itself is recorded before the answer when it is quick (it is,
//! unless a user group must be looked up), and slower Web API calls
//! (ephemeral messages, card updates, modals) run after it.

pub mod approvers;
pub mod client;
pub mod commands;
pub mod events;
pub mod interactions;
pub mod notifier;
pub mod payloads;
mod platform;
pub mod replies;
pub mod socket_mode;
pub mod verify;

use std::future::Future;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use hitl_cards::Templates;
use secrecy::SecretString;

use crate::chat::KeyedLocks;
use crate::service::ApprovalService;
use approvers::Directory;
use client::{RetryPolicy, SlackError, SlackWeb};
use verify::Signing;

/// The platform name in message references and once-keys.
pub const PLATFORM: &str = "slack";

/// Slack answers a request that takes longer than 3 seconds with an error
/// for the user; we answer by this time whatever is still running.
pub const ACK_DEADLINE: Duration = crate::chat::deadline::SLACK;

/// Slack settings, resolved at start-up.
#[derive(Clone)]
pub struct SlackConfig {
    /// `xoxb-…`: posts and updates messages.
    pub bot_token: SecretString,
    /// Signing secrets accepted on the HTTP endpoints, the current one first
    /// (a second one while rotating). None: the HTTP endpoints are off.
    pub signing_secrets: Vec<SecretString>,
    /// `xapp-…`: Socket Mode, for a bot without a public URL.
    pub app_token: Option<SecretString>,
    /// Where requests that name no channel are posted (a name or an id).
    pub channel: Option<String>,
    /// The Web API base URL.
    pub api_url: String,
    pub retry: RetryPolicy,
}

impl std::fmt::Debug for SlackConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackConfig")
            .field("bot_token", &"[redacted]")
            .field("signing_secrets", &self.signing_secrets.len())
            .field("socket_mode", &self.app_token.is_some())
            .field("channel", &self.channel)
            .field("api_url", &self.api_url)
            .field("retry", &self.retry)
            .finish()
    }
}

impl SlackConfig {
    /// Settings with the defaults: Slack's own Web API, default retries.
    pub fn new(bot_token: SecretString) -> Self {
        Self {
            bot_token,
            signing_secrets: Vec::new(),
            app_token: None,
            channel: None,
            api_url: client::DEFAULT_API_URL.to_owned(),
            retry: RetryPolicy::default(),
        }
    }
}

/// The Slack adapter, shared by the notifier, the HTTP endpoints and Socket
/// Mode.
pub struct Slack {
    web: SlackWeb,
    templates: Templates,
    channel: Option<String>,
    signing: Signing,
    directory: Directory,
    /// Set when the service starts ([`crate::notify::Notifier::attach`]);
    /// weak, because the service holds this adapter as a notifier.
    service: OnceLock<Weak<ApprovalService>>,
    /// Serialises work on one request's card and one session's thread.
    locks: KeyedLocks,
}

impl std::fmt::Debug for Slack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slack")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

/// Why the adapter cannot do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error(transparent)]
    Slack(#[from] SlackError),
    #[error(transparent)]
    Service(#[from] crate::service::ServiceError),
    #[error(transparent)]
    Card(#[from] hitl_cards::CardError),
    #[error("the approval service is not running")]
    NotAttached,
    #[error("no Slack channel for request {0}: set SLACK_CHANNEL or name a channel in the request")]
    NoChannel(String),
}

impl Slack {
    pub fn new(config: SlackConfig, templates: Templates) -> Result<Arc<Self>, SlackError> {
        let web = SlackWeb::new(&config.api_url, &config.bot_token, config.retry)?;
        Ok(Arc::new(Self {
            web,
            templates,
            channel: config.channel,
            signing: Signing::new(&config.signing_secrets),
            directory: Directory::default(),
            service: OnceLock::new(),
            locks: KeyedLocks::default(),
        }))
    }

    /// Whether the HTTP endpoints can verify requests (a signing secret is set).
    pub fn has_http_endpoints(&self) -> bool {
        !self.signing.is_empty()
    }

    pub fn web(&self) -> &SlackWeb {
        &self.web
    }

    /// Says in the log who may decide in Slack: the configured approvers,
    /// or (none configured) full members of the bot's workspace in each
    /// card's channel, which asks Slack for the workspace now.
    pub async fn announce_deciders(&self, default_approvers: &[String]) {
        if !default_approvers.is_empty() {
            tracing::info!(approvers = %default_approvers.join(", "), "Slack: requests that name no approvers may be decided by the configured approvers");
            return;
        }
        match self.directory.team(&self.web).await {
            Ok(team) => tracing::info!(
                team = %team,
                "Slack: with no approvers configured, requests may be decided by full members of this workspace who are in the channel of the request's card; never guests, bots or users of other workspaces"
            ),
            Err(e) => tracing::warn!(
                error = %e,
                "Slack: cannot read the bot's workspace (auth.test); with no approvers configured, nobody can decide in Slack until it answers"
            ),
        }
    }

    /// The service, for the signature extractor (its once-keys); the same
    /// as [`Self::attached`].
    fn service(&self) -> Result<Arc<ApprovalService>, AdapterError> {
        self.attached()
    }

    fn attached(&self) -> Result<Arc<ApprovalService>, AdapterError> {
        self.service
            .get()
            .and_then(Weak::upgrade)
            .ok_or(AdapterError::NotAttached)
    }
}

/// `POST /slack/interactions`, `/slack/events` and `/slack/commands`, each
/// behind the signature check. Empty when no signing secret is configured
/// (Socket Mode only), so those paths answer 404.
pub fn router(slack: Arc<Slack>) -> Router {
    if !slack.has_http_endpoints() {
        return Router::new();
    }
    Router::new()
        .route("/slack/interactions", post(interactions::endpoint))
        .route("/slack/events", post(events::endpoint))
        .route("/slack/commands", post(commands::endpoint))
        .with_state(slack)
}

/// A Slack user group id (`S…`), as named in a request's approvers, bare or
/// as a `<!subteam^S…>` mention.
pub fn is_usergroup_id(entry: &str) -> bool {
    usergroup_id(entry).is_some()
}

/// The bare id of a user group entry (`S0123ABC`), if it is one.
pub fn usergroup_id(entry: &str) -> Option<&str> {
    match crate::people::platform_group(entry) {
        Some((crate::people::Platform::Slack, id)) => Some(id),
        _ => None,
    }
}

/// Runs `work` on its own task and waits for it until the acknowledgement
/// deadline; after that, it finishes on its own and the caller answers Slack.
/// Returns the result if it came in time.
pub(crate) async fn within_deadline<T, F>(work: F) -> Option<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    crate::chat::deadline::within(ACK_DEADLINE, work).await
}

/// Runs Web API calls that nobody waits for; failures are logged.
pub(crate) fn spawn_followup<F>(what: &'static str, work: F)
where
    F: Future<Output = Result<(), AdapterError>> + Send + 'static,
{
    crate::chat::deadline::spawn_followup(what, work);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usergroup_ids_are_recognised_bare_or_as_mentions() {
        assert_eq!(usergroup_id("S0123ABC"), Some("S0123ABC"));
        assert_eq!(usergroup_id("<!subteam^S0123ABC|sre>"), Some("S0123ABC"));
        assert_eq!(usergroup_id("<!subteam^S0123ABC>"), Some("S0123ABC"));
        assert_eq!(usergroup_id("U0123ABC"), None);
        assert_eq!(usergroup_id("group:sre"), None);
        assert_eq!(usergroup_id("SAMANTHA"), None);
        assert_eq!(usergroup_id("sam"), None);
    }
}
