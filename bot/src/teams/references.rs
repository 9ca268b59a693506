//! Conversation references: where the bot may post proactively. Teams tells
//! the bot about a conversation (`conversationUpdate` when it is added to a
//! team, channel or chat) with the connector it is served by and its
//! tenant; without that, a proactive post needs TEAMS_SERVICE_URL.
//!
//! References live in the store's keyed thread table (the one session
//! threads use), so every replica and every restart sees them: one entry
//! per conversation (its channel part), and a `default` entry that the
//! first conversation the bot joined fills, used when TEAMS_CONVERSATION_ID
//! is not set. A later conversation never takes the default over: an
//! administrator chooses the channel by setting TEAMS_CONVERSATION_ID.

use super::PLATFORM;
use super::activity::Activity;
use super::platform::TeamsRef;
use crate::service::{ApprovalService, ServiceError};
use crate::store::ThreadRef;

/// The key space of conversation references in the thread table.
const BY_CONVERSATION: &str = "conversation-reference";
const DEFAULT_KEY: &str = "default";

/// Remembers the conversation an activity came from.
pub async fn remember(svc: &ApprovalService, activity: &Activity) -> Result<(), ServiceError> {
    let conversation = activity.conversation.channel_part().to_owned();
    if conversation.is_empty() {
        return Ok(());
    }
    let reference = TeamsRef {
        service_url: activity.service_url.clone(),
        conversation_id: conversation.clone(),
        tenant_id: activity.tenant_id().map(str::to_owned),
    };
    let thread = ThreadRef {
        conversation: conversation.clone(),
        thread: conversation.clone(),
        platform_ref: serde_json::to_string(&reference).ok(),
    };
    svc.put_session_thread(PLATFORM, BY_CONVERSATION, &conversation, thread.clone())
        .await?;
    let default = svc
        .put_session_thread(PLATFORM, BY_CONVERSATION, DEFAULT_KEY, thread)
        .await?;
    tracing::info!(conversation = %conversation, default = %default.conversation, "Teams conversation remembered");
    Ok(())
}

/// The reference of `conversation` (its channel part), if Teams told us.
pub async fn lookup(
    svc: &ApprovalService,
    conversation: &str,
) -> Result<Option<TeamsRef>, ServiceError> {
    let key = super::activity::channel_part(conversation);
    Ok(svc
        .session_thread(PLATFORM, BY_CONVERSATION, key)
        .await?
        .and_then(|t| TeamsRef::parse(t.platform_ref.as_deref())))
}

/// The first conversation the bot joined, if any.
pub async fn default(svc: &ApprovalService) -> Result<Option<TeamsRef>, ServiceError> {
    lookup(svc, DEFAULT_KEY).await
}
