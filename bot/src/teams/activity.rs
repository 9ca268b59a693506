//! Bot Framework activities as Teams sends them, and the bodies the bot
//! answers with. Unknown fields are ignored and unknown activity types kept
//! by name, so a new Teams feature never makes a valid request fail.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// `type` of an activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum ActivityType {
    Message,
    Invoke,
    ConversationUpdate,
    InstallationUpdate,
    MessageReaction,
    Event,
    /// Any other type, by name; the handler answers 200 and ignores it.
    Other(String),
}

impl From<String> for ActivityType {
    fn from(s: String) -> Self {
        match s.as_str() {
            "message" => Self::Message,
            "invoke" => Self::Invoke,
            "conversationUpdate" => Self::ConversationUpdate,
            "installationUpdate" => Self::InstallationUpdate,
            "messageReaction" => Self::MessageReaction,
            "event" => Self::Event,
            _ => Self::Other(s),
        }
    }
}

impl From<ActivityType> for String {
    fn from(t: ActivityType) -> Self {
        match t {
            ActivityType::Message => "message".into(),
            ActivityType::Invoke => "invoke".into(),
            ActivityType::ConversationUpdate => "conversationUpdate".into(),
            ActivityType::InstallationUpdate => "installationUpdate".into(),
            ActivityType::MessageReaction => "messageReaction".into(),
            ActivityType::Event => "event".into(),
            ActivityType::Other(s) => s,
        }
    }
}

/// A user or bot: the MRI (`29:…`, `28:…` for bots) and, for users, the
/// Entra object id.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelAccount {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad_object_id: Option<String>,
}

/// A channel, group chat or personal chat.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationAccount {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_group: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl ConversationAccount {
    /// The conversation without a thread: a channel message's conversation
    /// id is `<channel>;messageid=<root id>`, and its channel is the part
    /// before `;messageid=`. Conversations are matched by this part.
    pub fn channel_part(&self) -> &str {
        channel_part(&self.id)
    }
}

/// See [`ConversationAccount::channel_part`].
pub fn channel_part(conversation_id: &str) -> &str {
    conversation_id
        .split_once(";messageid=")
        .map_or(conversation_id, |(channel, _)| channel)
}

/// One activity (the fields the bot uses; the rest are ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    #[serde(rename = "type")]
    pub kind: ActivityType,
    /// Unique within the conversation; the key of duplicate detection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    pub service_url: String,
    pub channel_id: String,
    #[serde(default)]
    pub from: ChannelAccount,
    #[serde(default)]
    pub conversation: ConversationAccount,
    #[serde(default)]
    pub recipient: ChannelAccount,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The invoke's name (`adaptiveCard/action`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// An invoke's payload, or an `Action.Submit`'s data on a message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_data: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members_added: Vec<ChannelAccount>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members_removed: Vec<ChannelAccount>,
}

/// The invoke name of a Universal Action (`Action.Execute`, or a refresh).
pub const ADAPTIVE_CARD_ACTION: &str = "adaptiveCard/action";

/// What a card action asks: its verb and its `data` (with the typed
/// reason merged in by Teams).
#[derive(Debug, Clone, PartialEq)]
pub struct CardAction {
    pub verb: Option<String>,
    pub request_id: Option<String>,
    pub decision: Option<String>,
    pub reason: Option<String>,
    /// `automatic` for a refresh Teams triggered itself, `manual` for a click.
    pub trigger: Option<String>,
}

impl Activity {
    /// The tenant, from the conversation or the channel data.
    pub fn tenant_id(&self) -> Option<&str> {
        self.conversation.tenant_id.as_deref().or_else(|| {
            self.channel_data
                .as_ref()?
                .pointer("/tenant/id")
                .and_then(Value::as_str)
        })
    }

    /// The `Action.Execute` (or refresh) of an `adaptiveCard/action` invoke.
    pub fn card_action(&self) -> Option<CardAction> {
        if self.kind != ActivityType::Invoke || self.name.as_deref() != Some(ADAPTIVE_CARD_ACTION) {
            return None;
        }
        let value = self.value.as_ref()?;
        let action = value.get("action")?;
        let data = action.get("data").unwrap_or(&Value::Null);
        Some(CardAction {
            verb: str_field(action, "verb"),
            request_id: str_field(data, hitl_cards::teams::DATA_REQUEST_ID),
            decision: str_field(data, hitl_cards::teams::DATA_DECISION),
            reason: str_field(data, hitl_cards::teams::INPUT_REASON),
            trigger: str_field(value, "trigger"),
        })
    }

    /// An `Action.Submit` from an older client: a message whose `value`
    /// carries the button's data.
    pub fn submitted_action(&self) -> Option<CardAction> {
        if self.kind != ActivityType::Message {
            return None;
        }
        let data = self.value.as_ref()?;
        let request_id = str_field(data, hitl_cards::teams::DATA_REQUEST_ID)?;
        Some(CardAction {
            verb: str_field(data, hitl_cards::teams::DATA_DECISION),
            request_id: Some(request_id),
            decision: str_field(data, hitl_cards::teams::DATA_DECISION),
            reason: str_field(data, hitl_cards::teams::INPUT_REASON),
            trigger: Some("manual".to_string()),
        })
    }

    /// The message text with `<at>…</at>` mentions (the bot's own name in a
    /// channel) removed and spaces trimmed.
    pub fn command_text(&self) -> String {
        let text = self.text.as_deref().unwrap_or_default();
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("<at>") {
            out.push_str(&rest[..start]);
            match rest[start..].find("</at>") {
                Some(end) => rest = &rest[start + end + "</at>".len()..],
                None => {
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The message as a command to the bot, in the grammar every platform
    /// shares (`pending`, `show ID`, `approve ID`, `reject ID reason`).
    pub fn chat_command(&self) -> crate::chat::ChatCommand {
        crate::chat::parse_command(&self.command_text())
    }
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The answer to an `adaptiveCard/action` invoke that replaces the card for
/// the person who clicked (or whose client refreshed).
pub fn invoke_card_response(card: Value) -> Value {
    json!({ "statusCode": 200, "type": hitl_cards::teams::CONTENT_TYPE, "value": card })
}

/// The answer to an `adaptiveCard/action` invoke that shows a message and
/// leaves the card as it is (a refusal: "you cannot approve your own call").
pub fn invoke_message_response(text: &str) -> Value {
    json!({ "statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": text })
}

/// A message activity carrying one Adaptive Card.
pub fn card_message(card: Value) -> Value {
    json!({
        "type": "message",
        "attachments": [hitl_cards::teams::attachment(card)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `adaptiveCard/action` invoke as Teams sends it (trimmed from
    /// Microsoft's documentation), with fields the bot does not know.
    fn invoke() -> Value {
        json!({
            "type": "invoke",
            "name": "adaptiveCard/action",
            "id": "f:7a1b",
            "timestamp": "2026-01-05T13:51:02.123Z",
            "localTimestamp": "2026-01-05T14:51:02.123+01:00",
            "serviceUrl": "https://smba.trafficmanager.net/emea/",
            "channelId": "msteams",
            "from": { "id": "29:1abc", "name": "Ana", "aadObjectId": "6b3c5e2f-0000-4000-8000-000000000001" },
            "conversation": { "conversationType": "channel", "tenantId": "t-1", "id": "19:abc@thread.tacv2;messageid=1700000000000", "isGroup": true },
            "recipient": { "id": "28:bot", "name": "hitl" },
            "entities": [{ "type": "clientInfo", "locale": "en-US" }],
            "channelData": { "tenant": { "id": "t-1" }, "source": { "name": "message" }, "legacy": { "replyToId": "1:x" } },
            "replyToId": "1700000000000",
            "value": {
                "action": { "type": "Action.Execute", "title": "Approve", "verb": "approve", "data": { "requestId": "apr_1", "decision": "approve", "reason": "ok " } },
                "trigger": "manual"
            },
            "locale": "en-US"
        })
    }

    #[test]
    fn an_invoke_gives_its_action_data_and_tolerates_unknown_fields() {
        let a: Activity = serde_json::from_value(invoke()).unwrap();
        assert_eq!(a.kind, ActivityType::Invoke);
        assert_eq!(a.conversation.channel_part(), "19:abc@thread.tacv2");
        assert_eq!(a.tenant_id(), Some("t-1"));
        assert_eq!(
            a.card_action().unwrap(),
            CardAction {
                verb: Some("approve".into()),
                request_id: Some("apr_1".into()),
                decision: Some("approve".into()),
                reason: Some("ok".into()),
                trigger: Some("manual".into()),
            }
        );
        assert_eq!(a.submitted_action(), None);
    }

    #[test]
    fn unknown_types_are_kept_by_name() {
        let mut v = invoke();
        v["type"] = json!("typing");
        let a: Activity = serde_json::from_value(v).unwrap();
        assert_eq!(a.kind, ActivityType::Other("typing".into()));
        assert_eq!(a.card_action(), None);
        assert_eq!(serde_json::to_value(&a).unwrap()["type"], "typing");
    }

    #[test]
    fn a_submit_from_an_older_client_arrives_as_a_message_value() {
        let mut v = invoke();
        v["type"] = json!("message");
        v["value"] = json!({ "requestId": "apr_2", "decision": "reject", "reason": "no" });
        let a: Activity = serde_json::from_value(v).unwrap();
        let action = a.submitted_action().unwrap();
        assert_eq!(action.request_id.as_deref(), Some("apr_2"));
        assert_eq!(action.decision.as_deref(), Some("reject"));
        assert_eq!(action.reason.as_deref(), Some("no"));
    }

    #[test]
    fn the_bots_mention_is_stripped_from_commands() {
        let mut v = invoke();
        v["type"] = json!("message");
        v["text"] = json!("<at>hitl</at>  approve   apr_1\n");
        let a: Activity = serde_json::from_value(v).unwrap();
        assert_eq!(a.command_text(), "approve apr_1");
        assert_eq!(channel_part("a:1@thread.skype"), "a:1@thread.skype");
    }
}
