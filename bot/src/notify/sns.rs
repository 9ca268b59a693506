//! Amazon SNS as an outbox channel: one message per notice, with message
//! attributes (`event`, `risk`, `status`, `tool`, `server`) that
//! subscription filter policies match on (for example only critical
//! requests to an on-call SMS).
//!
//! The message carries what a person needs to find the request, never the
//! tool's arguments (they may hold secrets; their hash identifies them) and
//! never a link that decides anything: decisions are made where approvers
//! authenticate (the API, Slack, Teams). A retried delivery can publish the
//! same notice twice; `notice_id` lets subscribers drop the repeat.

use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;
use hitl_wire::ApprovalRecord;
use serde_json::json;

use super::{Notice, Notifier, NotifyError};

const CHANNEL: &str = "sns";
/// SNS subjects: at most 100 printable ASCII characters.
const MAX_SUBJECT: usize = 100;

#[derive(Clone)]
pub struct SnsNotifier {
    client: Client,
    topic_arn: String,
}

impl std::fmt::Debug for SnsNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnsNotifier")
            .field("topic_arn", &self.topic_arn)
            .finish_non_exhaustive()
    }
}

impl SnsNotifier {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }

    /// A client from the SDK's own settings (region, credentials,
    /// AWS_ENDPOINT_URL*).
    pub async fn from_env(topic_arn: &str) -> Self {
        let sdk = crate::store::dynamo::sdk_config().await;
        Self::new(Client::new(&sdk), topic_arn)
    }
}

/// The message body of a notice.
pub fn message(notice: Notice, r: &ApprovalRecord) -> serde_json::Value {
    json!({
        "notice_id": format!("{}:{}:{}", r.request_id, notice.as_str(), r.reminded_at.or(r.decided_at).unwrap_or(r.timestamp).timestamp_millis()),
        "event": notice.as_str(),
        "request_id": r.request_id,
        "status": r.status.as_str(),
        "risk": r.risk.to_string(),
        "tool": r.tool,
        "server": r.server,
        "requester": r.requester,
        "reasons": r.reasons,
        "arguments_hash": r.arguments_hash,
        "approvers": r.approvers,
        "approver": r.approver,
        "reason": r.reason,
        "created_at": r.timestamp,
        "expires_at": r.expires_at,
        "decided_at": r.decided_at,
        "escalated_to": r.escalation.as_ref().and_then(|e| e.to.clone()),
    })
}

/// A subject line: printable ASCII only, within SNS's limit.
pub fn subject(notice: Notice, r: &ApprovalRecord) -> String {
    let raw = format!(
        "hitl {} [{}] {} on {}",
        notice.as_str(),
        r.risk,
        r.tool,
        r.server.as_deref().unwrap_or("-")
    );
    raw.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(MAX_SUBJECT)
        .collect()
}

fn attr(v: &str) -> Result<MessageAttributeValue, NotifyError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .map_err(|e| NotifyError {
            channel: CHANNEL,
            message: e.to_string(),
        })
}

#[async_trait]
impl Notifier for SnsNotifier {
    fn name(&self) -> &'static str {
        CHANNEL
    }

    async fn notify(&self, notice: Notice, r: &ApprovalRecord) -> Result<(), NotifyError> {
        let risk = r.risk.to_string();
        let mut publish = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject(notice, r))
            .message(message(notice, r).to_string())
            .message_attributes("event", attr(notice.as_str())?)
            .message_attributes("risk", attr(&risk)?)
            .message_attributes("status", attr(r.status.as_str())?)
            .message_attributes("tool", attr(&r.tool)?);
        // SNS refuses empty attribute values: a request on no server has none.
        if let Some(server) = r.server.as_deref().filter(|s| !s.is_empty()) {
            publish = publish.message_attributes("server", attr(server)?);
        }
        publish.send().await.map(|_| ()).map_err(|e| NotifyError {
            channel: CHANNEL,
            message: format!(
                "cannot publish to {}: {}",
                self.topic_arn,
                aws_sdk_sns::error::DisplayErrorContext(e)
            ),
        })
    }
}
