//! Socket Mode (SLACK_APP_TOKEN): the same clicks, replies and commands
//! over a WebSocket the bot opens, for a machine with no public URL.
//!
//! slack-morphism runs the connection (`apps.connections.open` on the
//! configured Web API URL, then the WebSocket it names, pings, reconnects)
//! and acknowledges each envelope with what our callback returns. Its
//! callbacks are plain `fn`s, so the adapter reaches them through the
//! listener's user state. Each typed event is turned back into Slack's JSON
//! and goes through [`super::payloads`] and the same `on_interaction`,
//! `on_event` and `on_command` as the HTTP endpoints; only the signature
//! check differs (the app token authenticates the socket instead).

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use slack_morphism::prelude::{
    SlackApiToken, SlackApiTokenValue, SlackClient, SlackClientEventsListenerEnvironment,
    SlackClientEventsUserState, SlackClientSocketModeConfig, SlackClientSocketModeListener,
    SlackCommandEvent, SlackCommandEventResponse, SlackInteractionEvent, SlackInteractionResponse,
    SlackMessageContent, SlackMessageResponseType, SlackPushEventCallback,
    SlackSocketModeListenerCallbacks, UserCallbackResult,
};

use super::client::{Connector, SlackError, connector};
use super::interactions::{InteractionReply, Place};
use super::payloads::{Command, EventCallback, Interaction, from_morphism};
use super::{Slack, spawn_followup};

type Client = Arc<SlackClient<Connector>>;

/// The adapter, as the callbacks find it in the listener's user state.
struct SocketState(Arc<Slack>);

/// A running Socket Mode listener.
pub struct SocketMode {
    listener: SlackClientSocketModeListener<Connector>,
}

impl std::fmt::Debug for SocketMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SocketMode")
    }
}

impl SocketMode {
    /// Connects with `app_token` (through `apps.connections.open` at
    /// `api_url`) and starts handling envelopes. `connections` sockets are
    /// kept open (Slack delivers each envelope on one of them).
    pub async fn start(
        slack: Arc<Slack>,
        api_url: &str,
        app_token: &SecretString,
        connections: u32,
    ) -> Result<Self, SlackError> {
        let client = Arc::new(SlackClient::new(connector(api_url)?));
        let env = Arc::new(
            SlackClientEventsListenerEnvironment::new(client)
                .with_error_handler(on_error)
                .with_user_state(SocketState(slack)),
        );
        let callbacks = SlackSocketModeListenerCallbacks::new()
            .with_interaction_events(on_interaction)
            .with_command_events(on_command)
            .with_push_events(on_push_event);
        let config =
            SlackClientSocketModeConfig::new().with_max_connections_count(connections.max(1));
        let listener = SlackClientSocketModeListener::new(&config, env, callbacks);
        let token = SlackApiToken::new(SlackApiTokenValue(app_token.expose_secret().to_owned()));
        listener
            .listen_for(&token)
            .await
            .map_err(|e| SlackError::Transport {
                method: "apps.connections.open",
                message: e.to_string(),
            })?;
        listener.start().await;
        tracing::info!("Slack Socket Mode started");
        Ok(Self { listener })
    }

    /// Closes the sockets.
    pub async fn shutdown(&self) {
        self.listener.shutdown().await;
    }
}

async fn adapter(state: &SlackClientEventsUserState) -> Option<Arc<Slack>> {
    let storage = state.read().await;
    storage.get_user_state::<SocketState>().map(|s| s.0.clone())
}

fn on_error(
    err: Box<dyn std::error::Error + Send + Sync>,
    _client: Client,
    _state: SlackClientEventsUserState,
) -> axum::http::StatusCode {
    tracing::warn!(error = %err, "Socket Mode envelope not handled");
    // Acknowledge anyway: the same envelope would fail the same way again.
    axum::http::StatusCode::OK
}

async fn on_interaction(
    event: SlackInteractionEvent,
    _client: Client,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackInteractionResponse> {
    let Some(slack) = adapter(&state).await else {
        return Ok(SlackInteractionResponse::Empty);
    };
    let interaction: Interaction = from_morphism(&event)?;
    Ok(match slack.on_interaction(interaction).await {
        InteractionReply::Ack => SlackInteractionResponse::Empty,
        InteractionReply::ViewErrors(errors) => SlackInteractionResponse::ViewSubmission(
            serde_json::from_value(json!({"response_action": "errors", "errors": errors}))?,
        ),
    })
}

async fn on_push_event(
    event: SlackPushEventCallback,
    _client: Client,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    let Some(slack) = adapter(&state).await else {
        return Ok(());
    };
    let event: EventCallback = from_morphism(&event)?;
    slack
        .on_event(event)
        .await
        .map_err(|e| format!("{}: {}", e.code, e.message))?;
    Ok(())
}

async fn on_command(
    event: SlackCommandEvent,
    _client: Client,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let Some(slack) = adapter(&state).await else {
        return Err("the Slack adapter is not running".into());
    };
    let command: Command = from_morphism(&event)?;
    let place = Place {
        channel: Some(command.channel_id.clone()),
        thread_ts: None,
        on_card: false,
    };
    let user = command.user_id.clone();
    let answer = slack.on_command(command).await;
    if let Some(typed) = faithful_command_response(&answer) {
        return Ok(typed);
    }
    // slack-morphism's Block Kit types cannot carry this message as rendered:
    // acknowledge with its text and send the message itself as it is.
    let text = answer["text"].as_str().unwrap_or("…").to_owned();
    spawn_followup("send a slash command answer", async move {
        let channel = place.channel.as_deref().unwrap_or_default();
        slack
            .web()
            .post_ephemeral(channel, &user, None, &answer)
            .await?;
        Ok(())
    });
    Ok(
        SlackCommandEventResponse::new(SlackMessageContent::new().with_text(text))
            .with_response_type(SlackMessageResponseType::Ephemeral),
    )
}

/// `answer` as slack-morphism's response type, only if nothing is lost on
/// the way (its types drop fields they do not model).
fn faithful_command_response(answer: &Value) -> Option<SlackCommandEventResponse> {
    let typed: SlackCommandEventResponse = serde_json::from_value(answer.clone()).ok()?;
    (serde_json::to_value(&typed).ok()? == *answer).then_some(typed)
}
