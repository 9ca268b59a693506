//! The Teams adapter ([`Teams`]) and Teams as a [`ChatPlatform`]: who a
//! Teams user is (`teams:<aadObjectId>`, linked through `[[people]]`), and
//! how the seam's answers and card updates look in Teams (Adaptive Cards,
//! Markdown replies in the conversation, card replacement by `PUT`).

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use hitl_cards::Templates;
use hitl_cards::redact::redact_text;
use hitl_cards::teams::{self as cards, Extras, View, escape, mention};
use hitl_wire::api::DecisionAction;
use hitl_wire::{ApprovalRecord, Status};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::activity::card_message;
use super::connector::{Connector, ConnectorError};
use super::settings::{SettingsError, TeamsSettings};
use super::{PLATFORM, TeamsAuth, WebhookAuth};
use crate::chat::{Answer, ChatPlatform, KeyedLocks, deadline};
use crate::clock::Clock;
use crate::lifecycle::Refusal;
use crate::service::{ApprovalService, Decider, ServiceError};
use crate::store::MessageRef;

/// Why the Teams adapter cannot do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum TeamsError {
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Card(#[from] hitl_cards::CardError),
    #[error(
        "no Teams conversation for request {0}: set TEAMS_CONVERSATION_ID (and TEAMS_SERVICE_URL), or add the bot to a channel so it learns one"
    )]
    NoConversation(String),
    #[error("the approval service is not running")]
    NotAttached,
}

/// The Teams adapter, shared by the notifier and the HTTP endpoints.
pub struct Teams {
    pub(crate) auth: Arc<TeamsAuth>,
    pub(crate) webhook: Arc<WebhookAuth>,
    pub(crate) connector: Connector,
    pub(crate) templates: Templates,
    /// Where requests are posted when no conversation was learned.
    pub(crate) service_url: Option<String>,
    pub(crate) conversation_id: Option<String>,
    /// Who may decide through the outgoing webhook (`teams:…`); empty: nobody.
    pub(crate) webhook_deciders: Vec<String>,
    /// The bot's tenant (TEAMS_TENANT_ID): default deciders must be of it.
    pub(crate) tenant_id: Option<String>,
    pub(crate) rosters: super::deciders::Rosters,
    service: OnceLock<Weak<ApprovalService>>,
    locks: KeyedLocks,
}

impl std::fmt::Debug for Teams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Teams")
            .field("service_url", &self.service_url)
            .field("conversation_id", &self.conversation_id)
            .finish_non_exhaustive()
    }
}

/// Where a person spoke: the conversation to answer in, and the activity
/// to answer (a reply lands in its thread).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Place {
    pub service_url: String,
    pub conversation_id: String,
    pub reply_to: Option<String>,
}

/// What a Teams message reference keeps besides the ids: the connector it
/// was posted through and the exact conversation id posted to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamsRef {
    pub service_url: String,
    pub conversation_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
}

impl TeamsRef {
    pub fn parse(platform_ref: Option<&str>) -> Option<Self> {
        serde_json::from_str(platform_ref?).ok()
    }
}

impl Teams {
    /// The adapter from its settings. Checks them and calls nobody: keys and
    /// tokens are fetched on first use.
    pub fn new(
        settings: &TeamsSettings,
        templates: Templates,
        clock: Clock,
    ) -> Result<Arc<Self>, SettingsError> {
        crate::install_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let auth = TeamsAuth::new(settings, http.clone(), clock)?;
        Self::with_auth(settings, templates, auth, http)
    }

    /// The same with a token check of the caller's making (cache policy).
    pub fn with_auth(
        settings: &TeamsSettings,
        templates: Templates,
        auth: TeamsAuth,
        http: reqwest::Client,
    ) -> Result<Arc<Self>, SettingsError> {
        settings.validate()?;
        let connector = Connector::new(settings, http).map_err(|e| match e {
            ConnectorError::ServiceUrl(error) => SettingsError::Url {
                setting: "TEAMS_TOKEN_URL",
                error,
            },
            other => SettingsError::Url {
                setting: "TEAMS_TOKEN_URL",
                error: super::service_url::ServiceUrlError::Invalid {
                    url: settings.token_url(),
                    why: other.to_string(),
                },
            },
        })?;
        Ok(Arc::new(Self {
            auth: Arc::new(auth),
            webhook: Arc::new(WebhookAuth::new(&settings.webhook_secrets)?),
            connector,
            templates,
            service_url: settings.service_url.clone(),
            conversation_id: settings
                .conversation_id
                .clone()
                .filter(|c| !c.trim().is_empty()),
            webhook_deciders: settings
                .webhook_deciders
                .iter()
                .map(|d| d.trim().to_owned())
                .filter(|d| !d.is_empty())
                .collect(),
            tenant_id: settings.tenant_id.clone().filter(|t| !t.trim().is_empty()),
            rosters: super::deciders::Rosters::default(),
            service: OnceLock::new(),
            locks: KeyedLocks::default(),
        }))
    }

    /// Whether the outgoing webhook endpoint is on (a secret is set).
    pub fn has_webhook(&self) -> bool {
        !self.webhook.is_empty()
    }

    pub(crate) fn attach_service(&self, service: &Arc<ApprovalService>) {
        if self.service.set(Arc::downgrade(service)).is_err() {
            tracing::warn!("the Teams adapter was attached twice; keeping the first service");
        }
    }

    pub(crate) fn attached(&self) -> Result<Arc<ApprovalService>, TeamsError> {
        self.service
            .get()
            .and_then(Weak::upgrade)
            .ok_or(TeamsError::NotAttached)
    }

    /// Whether `user` (an AAD object id) may decide `record` now: on its
    /// approver list, not its requester, and not yet among its votes.
    pub(crate) async fn may_decide_now(&self, record: &ApprovalRecord, user: &str) -> bool {
        let Ok(svc) = self.attached() else {
            return false;
        };
        let decider = ChatPlatform::decider(self, record, user).await;
        let people = svc.people();
        let may = record.status == Status::Pending
            && svc.may_decide(record, &decider)
            && !people.might_be_same(&decider.id, &record.requester)
            && !record
                .approvals
                .iter()
                .any(|v| people.same(&v.approver, &decider.id));
        // The roster is asked last, and only for requests that name nobody.
        may && (!record.approvers.is_empty()
            || ChatPlatform::default_decider(self, record, user, None)
                .await
                .is_ok())
    }

    /// The card for `record` as `view` shows it, with `note` for the
    /// person viewing.
    pub(crate) fn card_for(
        &self,
        record: &ApprovalRecord,
        view: View,
        note: Option<&str>,
    ) -> Result<Value, TeamsError> {
        self.card_with_refresh(record, view, note, &[])
    }

    /// [`Self::card_for`] with a `refresh` for these user MRIs.
    pub(crate) fn card_with_refresh(
        &self,
        record: &ApprovalRecord,
        view: View,
        note: Option<&str>,
        refresh_user_ids: &[String],
    ) -> Result<Value, TeamsError> {
        let now = self.attached()?.now();
        let extras = Extras {
            refresh_user_ids,
            note,
        };
        Ok(cards::card(record, now, &self.templates, view, extras)?)
    }

    /// `answer` as a message activity.
    pub(crate) fn activity_for(&self, answer: &Answer) -> Value {
        match self.render(answer) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "cannot render a Teams answer");
                text_activity(FAILED)
            }
        }
    }

    fn render(&self, answer: &Answer) -> Result<Value, TeamsError> {
        Ok(match answer {
            Answer::Pending(records) => {
                let now = self.attached()?.now();
                card_message(cards::pending_list_card(records, now, &self.templates)?)
            }
            Answer::Show(record) => card_message(self.card_for(record, View::Decide, None)?),
            other => text_activity(&answer_text(other)),
        })
    }

    /// Posts `activity` as a reply where the person spoke.
    pub(crate) async fn reply(&self, place: &Place, activity: &Value) -> Result<(), TeamsError> {
        match &place.reply_to {
            Some(id) => {
                self.connector
                    .reply_to_activity(&place.service_url, &place.conversation_id, id, activity)
                    .await?;
            }
            None => {
                self.connector
                    .send_to_conversation(&place.service_url, &place.conversation_id, activity)
                    .await?;
            }
        }
        Ok(())
    }
}

const FAILED: &str = "⚠️ Something went wrong; please try again.";

/// A plain message activity in Teams Markdown.
pub(crate) fn text_activity(text: &str) -> Value {
    json!({ "type": "message", "textFormat": "markdown", "text": text })
}

fn code(id: &str) -> String {
    format!("`{}`", id.replace('`', "'"))
}

/// What a person is told, as Teams Markdown (every value escaped).
pub(crate) fn answer_text(answer: &Answer) -> String {
    match answer {
        Answer::Help => HELP.to_owned(),
        Answer::Unknown(word) => format!("I don't know {}.\n\n{HELP}", code(word)),
        Answer::WhichOne { usage } => format!("Which one? {}", code(usage)),
        Answer::Pending(records) => pending_text(records),
        Answer::Show(record) => record_line(record),
        Answer::Recorded { action, record } => recorded(*action, record),
        Answer::Refused { id, error } => refusal(id, error),
        Answer::AllDecided => "Every request here is already decided.".to_owned(),
        Answer::Ambiguous(ids) => format!(
            "{} requests are waiting here ({}); say which: `approve ID` or `reject ID reason`.",
            ids.len(),
            ids.iter().map(|i| code(i)).collect::<Vec<_>>().join(", ")
        ),
        Answer::Working(id) => format!("⏳ Working on {}…", code(id)),
        Answer::Failed => FAILED.to_owned(),
    }
}

const HELP: &str = "Commands: `pending` (what waits for a decision), `show ID`, \
`approve ID [reason]`, `reject ID reason`, `help`.";

fn what(r: &ApprovalRecord) -> String {
    match &r.server {
        Some(s) => format!("{} on {}", code(&r.tool), escape(s)),
        None => code(&r.tool),
    }
}

fn record_line(r: &ApprovalRecord) -> String {
    format!(
        "{}: {} ({}, {}), requested by {}",
        code(&r.request_id),
        what(r),
        escape(&r.risk.to_string()),
        r.status,
        mention(&r.requester)
    )
}

/// The pending list as text (the outgoing webhook cannot carry buttons).
pub(crate) fn pending_text(records: &[ApprovalRecord]) -> String {
    if records.is_empty() {
        return "Nothing is waiting for a decision.".to_owned();
    }
    let mut lines = vec![format!("{} waiting for a decision:", records.len())];
    for r in records.iter().take(20) {
        lines.push(format!("- {}", record_line(r)));
    }
    if records.len() > 20 {
        lines.push(format!("… and {} more", records.len() - 20));
    }
    lines.join("\n\n")
}

fn recorded(action: DecisionAction, r: &ApprovalRecord) -> String {
    let id = code(&r.request_id);
    match (action, r.status) {
        (_, Status::Pending) => {
            let need = r.quorum as usize;
            format!(
                "Your approval of {id} is recorded: {} of {need} approvals so far.",
                r.approvals.len()
            )
        }
        (DecisionAction::Approve, _) => format!("You approved {id} ({}).", what(r)),
        (DecisionAction::Reject, _) => format!("You rejected {id} ({}).", what(r)),
    }
}

/// Why nothing changed, for the person who tried.
pub(crate) fn refusal(id: &str, e: &ServiceError) -> String {
    let id = code(id);
    match e {
        ServiceError::NotFound(_) => format!("There is no request {id}."),
        ServiceError::Refused(Refusal::AlreadyFinal(r)) => {
            let who = r.approver.as_deref().map(mention).unwrap_or_default();
            let reason = r
                .reason
                .as_deref()
                .map(|x| format!(": {}", escape(&redact_text(x))))
                .unwrap_or_default();
            match r.status {
                Status::Approved => format!("{id} was already approved by {who}{reason}."),
                Status::Rejected => format!("{id} was already rejected by {who}{reason}."),
                Status::Expired => format!("{id} already expired."),
                Status::Cancelled => format!("{id} was already withdrawn by the agent."),
                Status::Pending => format!("{id} is still pending."),
            }
        }
        ServiceError::Refused(Refusal::ReasonRequired) => {
            format!("To reject {id}, type a reason so the agent can adapt.")
        }
        ServiceError::Refused(r) => format!("Nothing changed for {id}: {}", escape(&r.to_string())),
        ServiceError::Invalid(m) => format!("Nothing changed for {id}: {}", escape(m)),
        _ => format!(
            "Your decision on {id} could not be recorded, so nothing changed; please try again."
        ),
    }
}

/// The outcome said in the card's thread after it was replaced.
pub(crate) fn outcome(r: &ApprovalRecord) -> String {
    let id = code(&r.request_id);
    let who = r.approver.as_deref().map(mention).unwrap_or_default();
    let reason = r
        .reason
        .as_deref()
        .filter(|x| !x.trim().is_empty())
        .map(|x| format!(": {}", escape(&redact_text(x))))
        .unwrap_or_default();
    match r.status {
        Status::Approved => format!("✅ {id} ({}) approved by {who}{reason}.", what(r)),
        Status::Rejected => format!("❌ {id} ({}) rejected by {who}{reason}.", what(r)),
        Status::Expired => format!("⌛ {id} ({}) expired without a decision.", what(r)),
        Status::Cancelled => format!("{id} ({}) was withdrawn by the agent.", what(r)),
        Status::Pending => format!("{id} is still pending."),
    }
}

#[async_trait]
impl ChatPlatform for Teams {
    type Place = Place;
    type Error = TeamsError;

    fn name(&self) -> &'static str {
        PLATFORM
    }

    fn deadline(&self) -> Duration {
        deadline::TEAMS_INVOKE
    }

    fn service(&self) -> Option<Arc<ApprovalService>> {
        self.service.get().and_then(Weak::upgrade)
    }

    fn cards(&self) -> &KeyedLocks {
        &self.locks
    }

    /// Teams vouches for no groups (that would need Microsoft Graph): a
    /// Teams user is their AAD object id, and `[[people]]` links them to
    /// their other ids.
    async fn decider(&self, _record: &ApprovalRecord, user: &str) -> Decider {
        Decider::new(format!("{PLATFORM}:{user}"))
    }

    /// Members of the card's conversation, of the bot's tenant, never
    /// guests (the connector's roster, see [`super::deciders`]).
    async fn default_decider(
        &self,
        record: &ApprovalRecord,
        user: &str,
        _place: Option<&Place>,
    ) -> Result<(), ServiceError> {
        let svc = crate::chat::service_of(self)?;
        let refused = |why: String| {
            ServiceError::Refused(Refusal::NotADecider {
                approver: format!("{PLATFORM}:{user}"),
                why,
            })
        };
        let posted = svc
            .message_ref(&record.request_id, PLATFORM)
            .await?
            .and_then(|at| TeamsRef::parse(at.platform_ref.as_deref()));
        let Some(at) = posted else {
            return Err(refused(super::deciders::NotDefault::NotPosted.to_string()));
        };
        let tenant = self.tenant_id.as_deref().or(at.tenant_id.as_deref());
        self.rosters
            .check(
                &self.connector,
                &at.service_url,
                &at.conversation_id,
                user,
                tenant,
            )
            .await
            .map_err(|e| refused(e.to_string()))
    }

    async fn tell(&self, place: &Place, _user: &str, answer: &Answer) -> Result<(), TeamsError> {
        self.reply(place, &self.activity_for(answer)).await
    }

    async fn post_card(&self, record: &ApprovalRecord) -> Result<MessageRef, TeamsError> {
        Teams::post_card(self, record).await
    }

    async fn update_card(
        &self,
        at: &MessageRef,
        record: &ApprovalRecord,
    ) -> Result<(), TeamsError> {
        let Some(r) = TeamsRef::parse(at.platform_ref.as_deref()) else {
            return Err(TeamsError::Service(ServiceError::Internal(format!(
                "the Teams card of {} has no connector reference",
                record.request_id
            ))));
        };
        let svc = self.attached()?;
        let mris = super::references::approver_mris(&svc, record).await;
        let card = self.card_with_refresh(record, View::Decide, None, &mris)?;
        let mut activity = card_message(card);
        activity["id"] = Value::from(at.message.clone());
        self.connector
            .update_activity(&r.service_url, &r.conversation_id, &at.message, &activity)
            .await?;
        Ok(())
    }

    async fn reply_in_thread(
        &self,
        at: &MessageRef,
        record: &ApprovalRecord,
    ) -> Result<(), TeamsError> {
        let Some(r) = TeamsRef::parse(at.platform_ref.as_deref()) else {
            return Ok(());
        };
        let place = Place {
            service_url: r.service_url,
            conversation_id: r.conversation_id,
            reply_to: Some(at.thread.clone()),
        };
        self.reply(&place, &text_activity(&outcome(record))).await
    }
}
