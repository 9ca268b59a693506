//! The outbox router: DynamoDB stream records in, one SQS FIFO message per
//! new outbox row out, on its channel's queue.
//!
//! On Lambda nothing runs after a response, so the long-lived drainers
//! ([`crate::outbox::drain`]) have no process to run in. Instead the table's
//! stream (terraform/dynamodb.tf) feeds this router, which puts each new
//! outbox row on `OUTBOX_QUEUE_URLS[channel]` with message group = request
//! id (one request's notices stay in order; other requests are not held up)
//! and deduplication id = the row's key (a stream record delivered twice is
//! one message). The queue's drain ([`super::drain`]) delivers it; a failing
//! channel backs up only its own queue, and retries wait in the queue.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// Where each channel's notices are queued: `OUTBOX_QUEUE_URLS`, a JSON
/// object of channel name to queue URL (terraform/main.tf sets it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxQueues(HashMap<String, String>);

impl OutboxQueues {
    /// Parses `OUTBOX_QUEUE_URLS`; an error names what is wrong, never
    /// guesses.
    pub fn parse(text: &str) -> Result<Self, String> {
        let map: HashMap<String, String> = serde_json::from_str(text).map_err(|e| {
            format!("OUTBOX_QUEUE_URLS must be a JSON object of channel to SQS queue URL: {e}")
        })?;
        if let Some((channel, _)) = map
            .iter()
            .find(|(c, u)| c.trim().is_empty() || u.trim().is_empty())
        {
            return Err(format!(
                "OUTBOX_QUEUE_URLS has a blank channel or queue URL (channel {channel:?})"
            ));
        }
        Ok(Self(map))
    }

    pub fn from_map(map: HashMap<String, String>) -> Self {
        Self(map)
    }

    pub fn url(&self, channel: &str) -> Option<&str> {
        self.0.get(channel).map(String::as_str)
    }

    /// The channel whose queue has this ARN (an SQS event names its queue
    /// by ARN; the URL ends with the queue's name, as the ARN does).
    pub fn channel_of_arn(&self, arn: &str) -> Option<&str> {
        let name = arn.rsplit(':').next()?;
        self.0
            .iter()
            .find(|(_, url)| url.rsplit('/').next() == Some(name))
            .map(|(c, _)| c.as_str())
    }
}

/// The body of one queued notice: the outbox row's key. The drain reads
/// the row itself, so the queue never holds a record's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxMessage {
    pub request_id: String,
    pub seq: i64,
    pub channel: String,
}

impl OutboxMessage {
    /// The row's key as the queue's deduplication id (at most 128
    /// printable ASCII characters; a longer key is hashed).
    pub fn dedup_id(&self) -> String {
        let key = format!(
            "REQ#{}|OUT#{:020}#{}",
            self.request_id, self.seq, self.channel
        );
        sqs_id(key)
    }

    /// The message group: the request, so its notices go out in order.
    pub fn group_id(&self) -> String {
        sqs_id(self.request_id.clone())
    }
}

/// SQS ids (group and deduplication) are 1 to 128 characters of printable
/// ASCII; anything else is replaced by its SHA-256, which is stable.
fn sqs_id(v: String) -> String {
    if !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()) {
        v
    } else {
        hex::encode(Sha256::digest(v.as_bytes()))
    }
}

/// One record of a DynamoDB stream event, as Lambda delivers it (and as the
/// dynamodbstreams API returns it). Unknown fields are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct StreamRecord {
    #[serde(rename = "eventName", default)]
    pub event_name: String,
    pub dynamodb: StreamChange,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StreamChange {
    #[serde(rename = "SequenceNumber", default)]
    pub sequence_number: String,
    #[serde(rename = "NewImage", default)]
    pub new_image: Option<HashMap<String, Value>>,
}

#[derive(Debug, Deserialize)]
pub struct StreamEvent {
    #[serde(rename = "Records")]
    pub records: Vec<StreamRecord>,
}

/// What a stream record means to the router.
#[derive(Debug, PartialEq, Eq)]
pub enum Routed {
    /// A new outbox row: queue it.
    Notice(OutboxMessage),
    /// Anything else the table writes (records, audit, settling a row).
    Ignored,
}

impl StreamRecord {
    /// A new outbox row, or `Ignored`; an outbox row missing a field it
    /// always has is an error (the record is reported as failed, never
    /// dropped).
    pub fn routed(&self) -> Result<Routed, String> {
        let Some(img) = &self.dynamodb.new_image else {
            return Ok(Routed::Ignored);
        };
        let s = |k: &str| img.get(k).and_then(|v| v.get("S")).and_then(Value::as_str);
        if self.event_name != "INSERT" || s("kind") != Some("outbox") {
            return Ok(Routed::Ignored);
        }
        let field = |k: &str| {
            s(k).map(str::to_owned)
                .ok_or_else(|| format!("outbox row without {k}"))
        };
        let seq = img
            .get("seq")
            .and_then(|v| v.get("N"))
            .and_then(Value::as_str)
            .and_then(|n| n.parse::<i64>().ok())
            .ok_or("outbox row without a numeric seq")?;
        Ok(Routed::Notice(OutboxMessage {
            request_id: field("request_id")?,
            seq,
            channel: field("channel")?,
        }))
    }
}

/// Puts the stream's new outbox rows on their channels' queues.
#[derive(Debug, Clone)]
pub struct OutboxRouter {
    sqs: aws_sdk_sqs::Client,
    queues: OutboxQueues,
}

impl OutboxRouter {
    pub fn new(sqs: aws_sdk_sqs::Client, queues: OutboxQueues) -> Self {
        Self { sqs, queues }
    }

    /// Routes one stream batch in order. The answer is the partial batch
    /// response: the first record that could not be queued and every one
    /// after it (the stream is retried from there; messages already sent
    /// are deduplicated by the queue).
    pub async fn route(&self, event: StreamEvent) -> Value {
        let mut failed_from = None;
        for (i, record) in event.records.iter().enumerate() {
            if let Err(e) = self.route_one(record).await {
                tracing::error!(
                    sequence_number = %record.dynamodb.sequence_number,
                    error = %e,
                    "outbox router: cannot queue a notice; the stream retries it"
                );
                failed_from = Some(i);
                break;
            }
        }
        let failures: Vec<Value> = failed_from
            .map(|i| &event.records[i..])
            .unwrap_or_default()
            .iter()
            .map(|r| json!({"itemIdentifier": r.dynamodb.sequence_number}))
            .collect();
        json!({ "batchItemFailures": failures })
    }

    async fn route_one(&self, record: &StreamRecord) -> Result<(), String> {
        let msg = match record.routed()? {
            Routed::Ignored => return Ok(()),
            Routed::Notice(m) => m,
        };
        let url = self.queues.url(&msg.channel).ok_or_else(|| {
            format!(
                "no queue for channel {:?} in OUTBOX_QUEUE_URLS (request {})",
                msg.channel, msg.request_id
            )
        })?;
        let body = serde_json::to_string(&msg).map_err(|e| e.to_string())?;
        self.sqs
            .send_message()
            .queue_url(url)
            .message_group_id(msg.group_id())
            .message_deduplication_id(msg.dedup_id())
            .message_body(body)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "SQS SendMessage to the {} queue: {}",
                    msg.channel,
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                )
            })?;
        tracing::debug!(channel = %msg.channel, approval_id = %msg.request_id, seq = msg.seq, "outbox router: queued");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(event: &str, image: Value) -> StreamRecord {
        serde_json::from_value(json!({
            "eventName": event,
            "dynamodb": {"SequenceNumber": "1", "NewImage": image}
        }))
        .unwrap()
    }

    #[test]
    fn only_new_outbox_rows_are_routed() {
        let row = json!({"kind": {"S": "outbox"}, "request_id": {"S": "R1"},
            "seq": {"N": "3"}, "channel": {"S": "slack"}});
        assert_eq!(
            record("INSERT", row.clone()).routed().unwrap(),
            Routed::Notice(OutboxMessage {
                request_id: "R1".into(),
                seq: 3,
                channel: "slack".into()
            })
        );
        assert_eq!(record("MODIFY", row).routed().unwrap(), Routed::Ignored);
        assert_eq!(
            record("INSERT", json!({"sk": {"S": "REC"}}))
                .routed()
                .unwrap(),
            Routed::Ignored
        );
        let err = record(
            "INSERT",
            json!({"kind": {"S": "outbox"}, "seq": {"N": "1"}}),
        )
        .routed()
        .unwrap_err();
        assert!(err.contains("without request_id"), "{err}");
    }

    #[test]
    fn queue_ids_stay_within_sqs_rules() {
        let m = OutboxMessage {
            request_id: "R1".into(),
            seq: 7,
            channel: "sns".into(),
        };
        assert_eq!(m.dedup_id(), "REQ#R1|OUT#00000000000000000007#sns");
        assert_eq!(m.group_id(), "R1");
        let long = OutboxMessage {
            request_id: "é".repeat(100),
            ..m
        };
        assert_eq!(long.group_id().len(), 64);
        assert_eq!(long.dedup_id().len(), 64);
    }

    #[test]
    fn queue_urls_are_parsed_strictly() {
        let q = OutboxQueues::parse(
            r#"{"slack": "https://sqs.eu-west-1.amazonaws.com/1/hitl-prod-outbox-slack.fifo"}"#,
        )
        .unwrap();
        assert_eq!(
            q.channel_of_arn("arn:aws:sqs:eu-west-1:1:hitl-prod-outbox-slack.fifo"),
            Some("slack")
        );
        assert_eq!(q.channel_of_arn("arn:aws:sqs:eu-west-1:1:other.fifo"), None);
        assert!(
            OutboxQueues::parse("[]")
                .unwrap_err()
                .contains("JSON object")
        );
        assert!(OutboxQueues::parse(r#"{"slack": " "}"#).is_err());
    }
}
