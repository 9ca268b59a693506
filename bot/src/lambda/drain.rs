//! The outbox drain on Lambda: one SQS FIFO queue per channel (filled by
//! [`super::router`]), one batch of queued notices per invocation.
//!
//! Each message names an outbox row. The drain leases that row
//! ([`DynamoStore::outbox_take`]), delivers it with the channel's notifier
//! and settles it exactly as the long-lived drainer does
//! ([`crate::outbox::drain::Attempt`]), so the record's `notifications`
//! read the same on both hosts. A failed delivery is answered as a batch
//! item failure (`ReportBatchItemFailures`) with the message's visibility
//! set to the row's backoff, so the retry waits in the queue, not in a
//! running function; other requests in the batch, and other channels'
//! queues, go on. Within one message group (one request) the messages
//! after a failure are handed back too, so a request's notices keep their
//! order.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::router::{OutboxMessage, OutboxQueues};
use crate::clock::Clock;
use crate::notify::Notifier;
use crate::outbox::drain::{Attempt, Attempted, chrono_duration};
use crate::service::ApprovalService;
use crate::store::dynamo::{DynamoStore, Take};

/// The longest visibility timeout SQS allows.
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 3600);

/// An SQS event as Lambda delivers it; unknown fields are ignored.
#[derive(Debug, Deserialize)]
pub struct QueueEvent {
    #[serde(rename = "Records")]
    pub records: Vec<QueueMessage>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct QueueMessage {
    #[serde(rename = "messageId")]
    pub message_id: String,
    #[serde(rename = "receiptHandle")]
    pub receipt_handle: String,
    pub body: String,
    #[serde(default)]
    pub attributes: HashMap<String, String>,
    #[serde(rename = "eventSourceARN")]
    pub event_source_arn: String,
}

/// Why a message goes back to its queue, and when it should be seen again
/// (`None`: after the queue's visibility timeout).
#[derive(Debug)]
struct Back {
    why: String,
    after: Option<Duration>,
}

/// Delivers queued notices with the notifiers the service was built with.
pub struct QueueDrain {
    pub store: DynamoStore,
    pub sqs: aws_sdk_sqs::Client,
    pub queues: OutboxQueues,
    pub notifiers: Vec<Arc<dyn Notifier>>,
    pub service: Arc<ApprovalService>,
    pub clock: Clock,
}

impl QueueDrain {
    /// Drains one batch; the answer is the partial batch response.
    pub async fn drain(&self, event: QueueEvent) -> Value {
        // Message groups in the order they first appear, each in order.
        let mut groups: Vec<(String, Vec<&QueueMessage>)> = Vec::new();
        for m in &event.records {
            let g = m
                .attributes
                .get("MessageGroupId")
                .cloned()
                .unwrap_or_else(|| m.message_id.clone());
            match groups.iter_mut().find(|(id, _)| *id == g) {
                Some((_, ms)) => ms.push(m),
                None => groups.push((g, vec![m])),
            }
        }
        let outcomes =
            futures::future::join_all(groups.iter().map(|(_, ms)| self.drain_group(ms))).await;
        let failures: Vec<Value> = outcomes
            .into_iter()
            .flatten()
            .map(|id| json!({"itemIdentifier": id}))
            .collect();
        json!({ "batchItemFailures": failures })
    }

    /// One request's messages in order; the ids handed back.
    async fn drain_group(&self, messages: &[&QueueMessage]) -> Vec<String> {
        for (i, m) in messages.iter().enumerate() {
            let Err(back) = self.drain_one(m).await else {
                continue;
            };
            tracing::warn!(
                message_id = %m.message_id,
                error = %back.why,
                retry_in_secs = back.after.map(|d| d.as_secs()),
                "outbox drain: notice handed back to its queue"
            );
            let rest = &messages[i..];
            if let Some(after) = back.after {
                for r in rest {
                    self.show_again(r, after).await;
                }
            }
            return rest.iter().map(|r| r.message_id.clone()).collect();
        }
        Vec::new()
    }

    async fn drain_one(&self, m: &QueueMessage) -> Result<(), Back> {
        let back = |why: String| Back { why, after: None };
        let msg: OutboxMessage = serde_json::from_str(&m.body)
            .map_err(|e| back(format!("not an outbox message: {e}")))?;
        let queue_channel = self.queues.channel_of_arn(&m.event_source_arn);
        if queue_channel != Some(msg.channel.as_str()) {
            return Err(back(format!(
                "a {} notice arrived from queue {} (channel {:?} in OUTBOX_QUEUE_URLS)",
                msg.channel, m.event_source_arn, queue_channel
            )));
        }
        let notifier = self
            .notifiers
            .iter()
            .find(|n| n.name() == msg.channel)
            .ok_or_else(|| {
                back(format!(
                    "channel {} is not configured on this function",
                    msg.channel
                ))
            })?;
        let settings = &self.service.settings().outbox;
        let now = self.clock.now();
        let until = now + chrono_duration(settings.lease);
        let after = |t: DateTime<Utc>| Some((t - now).to_std().unwrap_or_default());
        let take = self
            .store
            .outbox_take(&msg.channel, &msg.request_id, msg.seq, now, until)
            .await
            .map_err(|e| back(format!("cannot read the outbox row: {e}")))?;
        let row = match take {
            Take::Leased(row) => *row,
            Take::Settled | Take::Gone => return Ok(()),
            Take::Waiting => {
                return Err(Back {
                    why: "an earlier notice of this request is still pending".into(),
                    after: Some(settings.first_backoff),
                });
            }
            Take::NotYet(at) => {
                return Err(Back {
                    why: "its next attempt is not due yet".into(),
                    after: after(at),
                });
            }
            Take::Busy(until) => {
                return Err(Back {
                    why: "another process is delivering it".into(),
                    after: after(until + chrono::Duration::seconds(1)),
                });
            }
        };
        let attempted = Attempt {
            store: &self.store,
            notifier: notifier.as_ref(),
            settings,
            clock: &self.clock,
            service: Some(&self.service),
        }
        .run(row, until)
        .await;
        match attempted {
            Attempted::Delivered | Attempted::GaveUp => Ok(()),
            Attempted::Retry { next_at } => Err(Back {
                why: "delivery failed".into(),
                after: after(next_at),
            }),
            Attempted::LeaseLost | Attempted::NotRecorded => Err(Back {
                why: "the outcome is not recorded; tried again when the lease runs out".into(),
                after: Some(settings.lease),
            }),
        }
    }

    /// Sets when a handed-back message is seen again (its backoff). A
    /// failure only means the queue's own visibility timeout applies.
    async fn show_again(&self, m: &QueueMessage, after: Duration) {
        let Some(url) = self
            .queues
            .channel_of_arn(&m.event_source_arn)
            .and_then(|c| self.queues.url(c))
        else {
            return;
        };
        let secs = after.min(MAX_VISIBILITY).as_secs() as i32;
        if let Err(e) = self
            .sqs
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(&m.receipt_handle)
            .visibility_timeout(secs)
            .send()
            .await
        {
            tracing::warn!(message_id = %m.message_id, error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "outbox drain: cannot set the retry delay; the queue's visibility timeout applies");
        }
    }
}
