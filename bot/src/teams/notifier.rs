//! Telling Teams: [`Teams`] as a [`Notifier`].
//!
//! - Created: the request card is posted proactively to the configured
//!   conversation (TEAMS_CONVERSATION_ID through TEAMS_SERVICE_URL, or the
//!   connector Teams named when it added the bot there), else to the first
//!   conversation the bot joined. Where it went is stored, so later notices
//!   replace it, after a restart too.
//! - Voted, decided, expired, cancelled: the card is replaced (`PUT`) by
//!   its current form; a final outcome is also replied in the card's thread.
//! - Reminder: the reminder card, as a reply to the request card.
//!
//! Notices come through the outbox, in order per request and retried with
//! backoff (429 and 5xx from the connector included) until they go out or
//! are given up; the card is posted once whatever the number of attempts.

use std::sync::Arc;

use async_trait::async_trait;
use hitl_cards::teams as cards;
use hitl_wire::ApprovalRecord;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::PLATFORM;
use super::activity::{card_message, channel_part};
use super::platform::{Teams, TeamsError, TeamsRef};
use super::references;
use crate::chat::ChatPlatform;
use crate::notify::{Notice, Notifier, NotifyError};
use crate::service::ApprovalService;
use crate::store::MessageRef;

#[async_trait]
impl Notifier for Teams {
    fn name(&self) -> &'static str {
        PLATFORM
    }

    async fn notify(&self, notice: Notice, record: &ApprovalRecord) -> Result<(), NotifyError> {
        let done = match notice {
            Notice::Created => self.post_card(record).await.map(|_| ()),
            Notice::Voted => crate::chat::refresh_card(self, record).await,
            Notice::Reminder => self.post_reminder(record).await,
            Notice::Decided | Notice::Expired | Notice::Cancelled => self.finish_card(record).await,
        };
        done.map_err(|e| NotifyError {
            channel: PLATFORM,
            message: e.to_string(),
        })
    }

    fn attach(
        &self,
        service: &Arc<ApprovalService>,
        _shutdown: &CancellationToken,
    ) -> Option<JoinHandle<()>> {
        self.attach_service(service);
        None
    }
}

impl Teams {
    /// Posts the request card unless it is already posted; returns where it is.
    pub(crate) async fn post_card(
        &self,
        record: &ApprovalRecord,
    ) -> Result<MessageRef, TeamsError> {
        let _card = self.cards().lock_card(&record.request_id).await;
        self.post_card_locked(record).await
    }

    /// Where a new card goes: the configured conversation through the
    /// configured connector (or the one Teams named for it), else the
    /// first conversation the bot joined.
    async fn destination(&self, record: &ApprovalRecord) -> Result<TeamsRef, TeamsError> {
        let svc = self.attached()?;
        if let Some(conversation) = &self.conversation_id {
            let learned = references::lookup(&svc, conversation).await?;
            let service_url = self
                .service_url
                .clone()
                .or_else(|| learned.as_ref().map(|r| r.service_url.clone()))
                .ok_or_else(|| TeamsError::NoConversation(record.request_id.clone()))?;
            return Ok(TeamsRef {
                service_url,
                conversation_id: conversation.clone(),
                tenant_id: learned.and_then(|r| r.tenant_id),
            });
        }
        references::default(&svc)
            .await?
            .ok_or_else(|| TeamsError::NoConversation(record.request_id.clone()))
    }

    async fn post_card_locked(&self, record: &ApprovalRecord) -> Result<MessageRef, TeamsError> {
        let svc = self.attached()?;
        let id = &record.request_id;
        if let Some(existing) = svc.message_ref(id, PLATFORM).await? {
            return Ok(existing);
        }
        let to = self.destination(record).await?;
        let mris = references::approver_mris(&svc, record).await;
        let card = self.card_with_refresh(record, cards::View::Decide, None, &mris)?;
        let mut activity = card_message(card);
        if let Some(tenant) = &to.tenant_id {
            activity["channelData"] = serde_json::json!({ "tenant": { "id": tenant } });
        }
        let posted = self
            .connector
            .send_to_conversation(&to.service_url, &to.conversation_id, &activity)
            .await?;
        let conversation = channel_part(&to.conversation_id).to_owned();
        let at = MessageRef {
            platform: PLATFORM.to_owned(),
            conversation,
            message: posted.id.clone(),
            thread: posted.id.clone(),
            platform_ref: serde_json::to_string(&to).ok(),
        };
        svc.put_message_ref(id, at.clone()).await?;
        tracing::info!(approval_id = %id, conversation = %at.conversation, activity = %at.message, "request card posted to Teams");
        Ok(at)
    }

    async fn post_reminder(&self, record: &ApprovalRecord) -> Result<(), TeamsError> {
        let _card = self.cards().lock_card(&record.request_id).await;
        let at = self.post_card_locked(record).await?;
        let svc = self.attached()?;
        let card = cards::reminder_card(record, svc.now(), &self.templates)?;
        let Some(r) = TeamsRef::parse(at.platform_ref.as_deref()) else {
            return Ok(());
        };
        self.connector
            .reply_to_activity(
                &r.service_url,
                &r.conversation_id,
                &at.thread,
                &card_message(card),
            )
            .await?;
        Ok(())
    }

    async fn finish_card(&self, record: &ApprovalRecord) -> Result<(), TeamsError> {
        let _card = self.cards().lock_card(&record.request_id).await;
        let svc = self.attached()?;
        match svc.message_ref(&record.request_id, PLATFORM).await? {
            Some(at) => {
                ChatPlatform::update_card(self, &at, record).await?;
                ChatPlatform::reply_in_thread(self, &at, record).await?;
            }
            None => {
                // The request card never made it; say how it ended instead.
                let to = self.destination(record).await?;
                let card = self.card_for(record, cards::View::Status, None)?;
                self.connector
                    .send_to_conversation(&to.service_url, &to.conversation_id, &card_message(card))
                    .await?;
            }
        }
        Ok(())
    }
}
