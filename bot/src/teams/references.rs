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
//!
//! The same table keeps each user's MRI (`29:…`) by AAD object id, learned
//! from their activities, so a card's `refresh` can name the approvers
//! whose clients should fetch their own view (with live buttons).

use super::PLATFORM;
use super::activity::Activity;
use super::platform::TeamsRef;
use hitl_wire::ApprovalRecord;

use crate::people::{Identity, Platform};
use crate::service::{ApprovalService, ServiceError};
use crate::store::ThreadRef;

/// The key space of conversation references in the thread table.
const BY_CONVERSATION: &str = "conversation-reference";
const DEFAULT_KEY: &str = "default";
const USER_MRI: &str = "user-mri";

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

/// Remembers the MRI of the user behind an activity (`from.id`, `29:…`)
/// under their AAD object id.
pub async fn remember_user(svc: &ApprovalService, activity: &Activity) {
    let (Some(aad), mri) = (activity.from.aad_object_id.as_deref(), &activity.from.id) else {
        return;
    };
    if !mri.starts_with("29:") || aad.trim().is_empty() {
        return;
    }
    let key = aad.trim().to_ascii_lowercase();
    if let Ok(Some(_)) = svc.session_thread(PLATFORM, USER_MRI, &key).await {
        return;
    }
    let thread = ThreadRef {
        conversation: mri.clone(),
        thread: mri.clone(),
        platform_ref: None,
    };
    if let Err(e) = svc
        .put_session_thread(PLATFORM, USER_MRI, &key, thread)
        .await
    {
        tracing::debug!(error = %e, "cannot remember a Teams user's MRI");
    }
}

/// The MRIs of the record's Teams approvers (named directly or in a
/// configured group) whom the bot has seen, for the card's `refresh`. The
/// refresh handler still checks who may decide.
pub async fn approver_mris(svc: &ApprovalService, record: &ApprovalRecord) -> Vec<String> {
    let mut entries: Vec<&str> = Vec::new();
    for a in &record.approvers {
        match a.strip_prefix("group:") {
            Some(name) => {
                if let Some(members) = svc.settings().groups.get(name) {
                    entries.extend(members.iter().map(String::as_str));
                }
            }
            None => entries.push(a),
        }
    }
    let mut mris = Vec::new();
    for entry in entries {
        let Ok(id) = Identity::parse(entry) else {
            continue;
        };
        if id.platform() != Platform::Teams {
            continue;
        }
        let key = id.id().to_ascii_lowercase();
        if let Ok(Some(t)) = svc.session_thread(PLATFORM, USER_MRI, &key).await {
            mris.push(t.conversation);
        }
    }
    mris
}
