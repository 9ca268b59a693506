//! Where chat adapters keep their bookkeeping (card and thread references,
//! once-only claims), through the service so the store has one caller. None
//! of this changes a record.

use std::time::Duration;

use chrono::Utc;

use super::{ApprovalService, ServiceError};
use crate::store::{MessageRef, ThreadRef};

impl ApprovalService {
    /// Remembers where a request's card was posted.
    pub async fn put_message_ref(
        &self,
        request_id: &str,
        r: MessageRef,
    ) -> Result<(), ServiceError> {
        Ok(self.store.put_message_ref(request_id, r).await?)
    }

    /// Where a request's card was posted on `platform`.
    pub async fn message_ref(
        &self,
        request_id: &str,
        platform: &str,
    ) -> Result<Option<MessageRef>, ServiceError> {
        Ok(self.store.message_ref(request_id, platform).await?)
    }

    /// The requests whose cards live in one thread, oldest first.
    pub async fn requests_in_thread(
        &self,
        platform: &str,
        conversation: &str,
        thread: &str,
    ) -> Result<Vec<String>, ServiceError> {
        Ok(self
            .store
            .requests_in_thread(platform, conversation, thread)
            .await?)
    }

    /// The thread grouping an agent session's requests in a channel.
    pub async fn session_thread(
        &self,
        platform: &str,
        channel_key: &str,
        session: &str,
    ) -> Result<Option<ThreadRef>, ServiceError> {
        Ok(self
            .store
            .session_thread(platform, channel_key, session)
            .await?)
    }

    /// Remembers a session's thread unless one is stored; returns the stored one.
    pub async fn put_session_thread(
        &self,
        platform: &str,
        channel_key: &str,
        session: &str,
        thread: ThreadRef,
    ) -> Result<ThreadRef, ServiceError> {
        Ok(self
            .store
            .put_session_thread(platform, channel_key, session, thread, self.clock.now())
            .await?)
    }

    /// True the first time `key` is claimed within `ttl`; false for a repeat
    /// (a replayed signature, a redelivered event).
    pub async fn claim_once(&self, key: &str, ttl: Duration) -> Result<bool, ServiceError> {
        let now = self.clock.now();
        let expires = chrono::Duration::from_std(ttl)
            .ok()
            .and_then(|d| now.checked_add_signed(d))
            .unwrap_or(chrono::DateTime::<Utc>::MAX_UTC);
        Ok(self.store.claim_once(key, expires, now).await?)
    }
}
