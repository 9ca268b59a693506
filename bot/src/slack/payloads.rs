//! Slack's wire shapes, as far as the bot reads them: interactions (the
//! `payload=` form field), slash commands (form fields) and Events API
//! envelopes (JSON).
//!
//! Only the fields the bot uses are declared, and every one Slack may leave
//! out is optional, so a payload with more (or newer) fields still parses.
//! Kinds the bot does not handle parse as `Other` and are acknowledged and
//! ignored. Socket Mode hands us slack-morphism's typed events; they are
//! turned back into Slack's JSON and read by these same types, so both
//! transports go through the same parsing and the same handlers.

use std::collections::HashMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::api::error::AppError;
use crate::api::extract::parse_json;

/// One interaction (`POST /slack/interactions`, Socket Mode `interactive`).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Interaction {
    BlockActions(BlockActions),
    ViewSubmission(ViewSubmission),
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Channel {
    pub id: String,
}

/// A click on a button of one of our messages.
#[derive(Debug, Clone, Deserialize)]
pub struct BlockActions {
    pub user: User,
    pub trigger_id: String,
    #[serde(default)]
    pub channel: Option<Channel>,
    #[serde(default)]
    pub container: Option<Container>,
    #[serde(default)]
    pub message: Option<Message>,
    #[serde(default)]
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Container {
    #[serde(default)]
    pub channel_id: Option<String>,
    #[serde(default)]
    pub message_ts: Option<String>,
    #[serde(default)]
    pub is_ephemeral: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    #[serde(default)]
    pub ts: Option<String>,
    #[serde(default)]
    pub thread_ts: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Action {
    pub action_id: String,
    #[serde(default)]
    pub value: Option<String>,
}

impl BlockActions {
    /// The channel the click came from.
    pub fn channel_id(&self) -> Option<&str> {
        self.channel
            .as_ref()
            .map(|c| c.id.as_str())
            .or_else(|| self.container.as_ref()?.channel_id.as_deref())
    }

    /// The thread the clicked message lives in, if any.
    pub fn thread_ts(&self) -> Option<&str> {
        self.message.as_ref()?.thread_ts.as_deref()
    }
}

/// A modal's Submit.
#[derive(Debug, Clone, Deserialize)]
pub struct ViewSubmission {
    pub user: User,
    pub view: View,
}

#[derive(Debug, Clone, Deserialize)]
pub struct View {
    #[serde(default)]
    pub callback_id: Option<String>,
    #[serde(default)]
    pub private_metadata: Option<String>,
    #[serde(default)]
    pub state: Option<ViewState>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ViewState {
    /// block_id -> action_id -> the input's state.
    #[serde(default)]
    pub values: HashMap<String, HashMap<String, InputValue>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InputValue {
    #[serde(default)]
    pub value: Option<String>,
}

impl View {
    /// The text typed into the input `block_id`/`action_id`.
    pub fn input(&self, block_id: &str, action_id: &str) -> Option<&str> {
        self.state
            .as_ref()?
            .values
            .get(block_id)?
            .get(action_id)?
            .value
            .as_deref()
    }
}

/// A slash command (`POST /slack/commands`, Socket Mode `slash_commands`).
#[derive(Debug, Clone, Deserialize)]
pub struct Command {
    pub user_id: String,
    pub channel_id: String,
    pub command: String,
    #[serde(default)]
    pub text: String,
}

/// An Events API request (`POST /slack/events`).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventEnvelope {
    UrlVerification {
        challenge: String,
    },
    EventCallback(EventCallback),
    #[serde(other)]
    Other,
}

/// One delivered event (also what Socket Mode's `events_api` carries).
#[derive(Debug, Clone, Deserialize)]
pub struct EventCallback {
    /// Unique per event; the same on Slack's retried deliveries.
    pub event_id: String,
    pub event: Event,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Message(MessageEvent),
    #[serde(other)]
    Other,
}

/// A message posted in a channel the bot is in.
#[derive(Debug, Clone, Deserialize)]
pub struct MessageEvent {
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub ts: Option<String>,
    #[serde(default)]
    pub thread_ts: Option<String>,
    /// Edits, joins, bot messages…: never a decision.
    #[serde(default)]
    pub subtype: Option<String>,
    #[serde(default)]
    pub bot_id: Option<String>,
}

/// How an HTTP body becomes a typed payload, once its signature is verified.
pub trait SlackBody: Sized {
    fn parse(body: &[u8]) -> Result<Self, AppError>;
}

impl SlackBody for Interaction {
    fn parse(body: &[u8]) -> Result<Self, AppError> {
        #[derive(Deserialize)]
        struct Form {
            payload: String,
        }
        let form: Form = parse_form(body)?;
        parse_json(form.payload.as_bytes())
    }
}

impl SlackBody for Command {
    fn parse(body: &[u8]) -> Result<Self, AppError> {
        parse_form(body)
    }
}

impl SlackBody for EventEnvelope {
    fn parse(body: &[u8]) -> Result<Self, AppError> {
        parse_json(body)
    }
}

fn parse_form<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    serde_urlencoded::from_bytes(body)
        .map_err(|e| AppError::bad_request("invalid_body", format!("invalid form body: {e}")))
}

/// Reads a value slack-morphism parsed (Socket Mode) as one of ours, through
/// Slack's JSON shape.
pub fn from_morphism<S: serde::Serialize, T: DeserializeOwned>(
    event: &S,
) -> Result<T, serde_json::Error> {
    serde_json::from_value(serde_json::to_value(event)?)
}

/// Slack escapes `&`, `<` and `>` in message text; this gives the text as
/// typed (the cards escape it again when they show it).
pub fn unescape_text(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_kinds_parse_as_other() {
        let i: Interaction =
            serde_json::from_str(r#"{"type":"shortcut","user":{"id":"U1"}}"#).unwrap();
        assert!(matches!(i, Interaction::Other));
        let e: EventEnvelope =
            serde_json::from_str(r#"{"type":"app_rate_limited","team_id":"T1"}"#).unwrap();
        assert!(matches!(e, EventEnvelope::Other));
        let e: EventEnvelope = serde_json::from_str(
            r#"{"type":"event_callback","event_id":"Ev1","event":{"type":"reaction_added","user":"U1"}}"#,
        )
        .unwrap();
        assert!(matches!(
            e,
            EventEnvelope::EventCallback(EventCallback {
                event: Event::Other,
                ..
            })
        ));
    }

    #[test]
    fn message_text_is_unescaped() {
        assert_eq!(unescape_text("a &lt;b&gt; &amp;amp;"), "a <b> &amp;");
    }
}
