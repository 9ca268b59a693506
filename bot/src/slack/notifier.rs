//! Telling Slack: [`Slack`] as a [`Notifier`].
//!
//! - Created: the request card goes to the request's channel (or
//!   SLACK_CHANNEL) with `chat.postMessage`. Requests of one agent session
//!   share a thread: the session's first card starts it, later ones are
//!   posted in it. Where the card went is stored ([`MessageRef`]), so it can
//!   be updated and replies in its thread mapped back, after a restart too.
//! - Reminder: the reminder/escalation card, as a reply in the card's thread.
//! - Decided, expired, cancelled: the card is replaced (`chat.update`) by
//!   its decided form, without buttons, and the outcome is replied in the
//!   thread.
//!
//! - Voted: the card is re-rendered to show who approved so far.
//!
//! Notices arrive through the outbox, in order per request and retried
//! until they go out, so a failed post is tried again later and a decision
//! never overtakes its card. Work on one request's card is serialised as
//! well, and the card is posted once whatever the number of attempts: a
//! card already on record is not posted again.

use std::sync::Arc;

use async_trait::async_trait;
use hitl_cards::slack::{decided_message, reminder_message, request_message};
use hitl_wire::ApprovalRecord;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{AdapterError, PLATFORM, Slack};
use crate::chat::ChatPlatform;
use crate::notify::{Notice, Notifier, NotifyError};
use crate::service::ApprovalService;
use crate::store::{MessageRef, ThreadRef};

#[async_trait]
impl Notifier for Slack {
    fn name(&self) -> &'static str {
        PLATFORM
    }

    async fn notify(&self, notice: Notice, record: &ApprovalRecord) -> Result<(), NotifyError> {
        let done = match notice {
            Notice::Created => self.post_card(record).await.map(|_| ()),
            Notice::Voted => self.refresh_card(record).await,
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
        if self.service.set(Arc::downgrade(service)).is_err() {
            tracing::warn!("the Slack adapter was attached twice; keeping the first service");
        }
        None
    }
}

impl Slack {
    /// Posts the request card unless it is already posted; returns where it is.
    pub(crate) async fn post_card(
        &self,
        record: &ApprovalRecord,
    ) -> Result<MessageRef, AdapterError> {
        let _card = self.locks.lock_card(&record.request_id).await;
        self.post_card_locked(record).await
    }

    async fn post_card_locked(&self, record: &ApprovalRecord) -> Result<MessageRef, AdapterError> {
        let svc = self.attached()?;
        let id = &record.request_id;
        if let Some(existing) = svc.message_ref(id, PLATFORM).await? {
            return Ok(existing);
        }
        let channel_key = record
            .channel
            .clone()
            .or_else(|| self.channel.clone())
            .ok_or_else(|| AdapterError::NoChannel(id.clone()))?;
        let message = request_message(record, svc.now(), &self.templates)?;
        let posted = match &record.session {
            None => {
                let p = self.web.post_message(&channel_key, None, &message).await?;
                MessageRef {
                    platform: PLATFORM.to_owned(),
                    thread: p.ts.clone(),
                    conversation: p.channel,
                    message: p.ts,
                    platform_ref: None,
                }
            }
            Some(session) => {
                // One session, one thread: whoever posts first starts it.
                let _thread = self
                    .locks
                    .lock(&format!("session:{channel_key}:{session}"))
                    .await;
                match svc.session_thread(PLATFORM, &channel_key, session).await? {
                    Some(t) => {
                        let p = self
                            .web
                            .post_message(&t.conversation, Some(&t.thread), &message)
                            .await?;
                        MessageRef {
                            platform: PLATFORM.to_owned(),
                            conversation: p.channel,
                            message: p.ts,
                            thread: t.thread,
                            platform_ref: None,
                        }
                    }
                    None => {
                        let p = self.web.post_message(&channel_key, None, &message).await?;
                        let t = svc
                            .put_session_thread(
                                PLATFORM,
                                &channel_key,
                                session,
                                ThreadRef {
                                    conversation: p.channel.clone(),
                                    thread: p.ts.clone(),
                                    platform_ref: None,
                                },
                            )
                            .await?;
                        MessageRef {
                            platform: PLATFORM.to_owned(),
                            conversation: p.channel,
                            thread: t.thread,
                            message: p.ts,
                            platform_ref: None,
                        }
                    }
                }
            }
        };
        svc.put_message_ref(id, posted.clone()).await?;
        tracing::info!(approval_id = %id, channel = %posted.conversation, ts = %posted.message, "request card posted to Slack");
        Ok(posted)
    }

    async fn post_reminder(&self, record: &ApprovalRecord) -> Result<(), AdapterError> {
        let _card = self.locks.lock_card(&record.request_id).await;
        // A card that never went out goes out now, and the reminder under it.
        let at = self.post_card_locked(record).await?;
        let svc = self.attached()?;
        let message = reminder_message(record, svc.now(), &self.templates)?;
        self.web
            .post_message(&at.conversation, Some(&at.thread), &message)
            .await?;
        Ok(())
    }

    async fn finish_card(&self, record: &ApprovalRecord) -> Result<(), AdapterError> {
        let _card = self.locks.lock_card(&record.request_id).await;
        let svc = self.attached()?;
        match svc.message_ref(&record.request_id, PLATFORM).await? {
            Some(at) => {
                ChatPlatform::update_card(self, &at, record).await?;
                ChatPlatform::reply_in_thread(self, &at, record).await?;
            }
            None => {
                let message = decided_message(record, svc.now(), &self.templates)?;
                // The request card never made it; say how it ended instead.
                let channel = record
                    .channel
                    .clone()
                    .or_else(|| self.channel.clone())
                    .ok_or_else(|| AdapterError::NoChannel(record.request_id.clone()))?;
                self.web.post_message(&channel, None, &message).await?;
            }
        }
        Ok(())
    }

    /// Re-renders a pending card (after a vote of a quorum, so it shows who
    /// approved so far).
    pub(crate) async fn refresh_card(&self, record: &ApprovalRecord) -> Result<(), AdapterError> {
        crate::chat::refresh_card(self, record).await
    }
}
