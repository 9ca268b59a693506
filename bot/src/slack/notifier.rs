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
//! Work on one request's card is serialised, so a decision that lands while
//! its card is still being posted updates the card once it exists. A post
//! that fails (after the client's retries) leaves the request pending and
//! `notification_sent` false; a background task posts such cards again.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use hitl_cards::slack::{decided_message, reminder_message, request_message};
use hitl_wire::{ApprovalRecord, Status};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{AdapterError, PLATFORM, Slack, replies};
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
        shutdown: &CancellationToken,
    ) -> Option<JoinHandle<()>> {
        if self.service.set(Arc::downgrade(service)).is_err() {
            tracing::warn!("the Slack adapter was attached twice; keeping the first service");
        }
        let me = self.arc()?;
        Some(tokio::spawn(repost_loop(
            Arc::downgrade(&me),
            shutdown.clone(),
        )))
    }
}

fn card_key(request_id: &str) -> String {
    format!("card:{request_id}")
}

impl Slack {
    /// Posts the request card unless it is already posted; returns where it is.
    pub(crate) async fn post_card(
        &self,
        record: &ApprovalRecord,
    ) -> Result<MessageRef, AdapterError> {
        let _card = self.locks.lock(&card_key(&record.request_id)).await;
        self.post_card_locked(record).await
    }

    async fn post_card_locked(&self, record: &ApprovalRecord) -> Result<MessageRef, AdapterError> {
        let svc = self.service()?;
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
        let _card = self.locks.lock(&card_key(&record.request_id)).await;
        // A card that never went out goes out now, and the reminder under it.
        let at = self.post_card_locked(record).await?;
        let svc = self.service()?;
        let message = reminder_message(record, svc.now(), &self.templates)?;
        self.web
            .post_message(&at.conversation, Some(&at.thread), &message)
            .await?;
        Ok(())
    }

    async fn finish_card(&self, record: &ApprovalRecord) -> Result<(), AdapterError> {
        let _card = self.locks.lock(&card_key(&record.request_id)).await;
        let svc = self.service()?;
        let message = decided_message(record, svc.now(), &self.templates)?;
        match svc.message_ref(&record.request_id, PLATFORM).await? {
            Some(at) => {
                self.web
                    .update_message(&at.conversation, &at.message, &message)
                    .await?;
                self.web
                    .post_message(
                        &at.conversation,
                        Some(&at.thread),
                        &replies::outcome(record),
                    )
                    .await?;
            }
            None => {
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
        if record.status != Status::Pending {
            return Ok(());
        }
        let _card = self.locks.lock(&card_key(&record.request_id)).await;
        let svc = self.service()?;
        // Read again under the lock: the request may have been decided since.
        let current = svc.get(&record.request_id).await?;
        if current.status != Status::Pending {
            return Ok(());
        }
        if let Some(at) = svc.message_ref(&current.request_id, PLATFORM).await? {
            let message = request_message(&current, svc.now(), &self.templates)?;
            self.web
                .update_message(&at.conversation, &at.message, &message)
                .await?;
        }
        Ok(())
    }

    /// Posts the cards of pending requests that never reached Slack.
    async fn repost_missing(&self) -> Result<usize, AdapterError> {
        let svc = self.service()?;
        let grace = chrono::Duration::from_std(self.repost_every).unwrap_or_default();
        let now = svc.now();
        let mut posted = 0;
        for record in svc.pending().await? {
            if record.notification_sent || now - record.timestamp < grace {
                continue;
            }
            // Skip a card that is being posted (or retried) right now.
            let Some(_card) = self.locks.try_lock(&card_key(&record.request_id)) else {
                continue;
            };
            if svc
                .message_ref(&record.request_id, PLATFORM)
                .await?
                .is_some()
            {
                continue;
            }
            match self.post_card_locked(&record).await {
                Ok(_) => {
                    posted += 1;
                    if let Err(e) = svc.mark_notified(&record.request_id).await {
                        tracing::debug!(approval_id = %record.request_id, error = %e, "notification_sent not recorded");
                    }
                }
                Err(e) => {
                    tracing::warn!(approval_id = %record.request_id, error = %e, "re-posting the card to Slack failed")
                }
            }
        }
        Ok(posted)
    }
}

/// Every `repost_every`, posts the cards that failed to go out.
async fn repost_loop(slack: Weak<Slack>, shutdown: CancellationToken) {
    let every = match slack.upgrade() {
        Some(s) => s.repost_every,
        None => return,
    };
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                let Some(slack) = slack.upgrade() else { return };
                match slack.repost_missing().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(posted = n, "re-posted Slack cards that had failed"),
                    Err(e) => tracing::warn!(error = %e, "re-posting Slack cards failed"),
                }
            }
        }
    }
}
