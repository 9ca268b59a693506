//! The set of card templates: compiled in, optionally replaced file by file
//! from an override folder.
//!
//! The override folder mirrors `cards/` in the repository: a file at
//! `DIR/slack/request.json` replaces the built-in `cards/slack/request.json`,
//! so a team can copy the folder, restyle a card and point the bot at it
//! without rebuilding. Overrides are checked when they are loaded, by shape
//! and by rendering each one for a sample record, so a broken file stops the
//! start-up with its name in the error instead of failing on the first real
//! request. A `.json` file with a name that is not a template is an error
//! too: it is almost always a typo that would otherwise be ignored.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use chrono::{DateTime, Duration, TimeZone, Utc};
use hitl_wire::{ApprovalRecord, Escalation, Risk, Status, Vote};
use serde_json::{Value, json};

use crate::{CardError, slack, teams};

/// One template of the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Card {
    SlackRequest,
    SlackApproved,
    SlackRejected,
    SlackExpired,
    SlackCancelled,
    SlackReminder,
    SlackPendingList,
    TeamsRequest,
    TeamsProgress,
    TeamsApproved,
    TeamsRejected,
    TeamsExpired,
    TeamsCancelled,
    TeamsReminder,
    TeamsPendingList,
}

impl Card {
    const ALL: [Card; 15] = [
        Card::SlackRequest,
        Card::SlackApproved,
        Card::SlackRejected,
        Card::SlackExpired,
        Card::SlackCancelled,
        Card::SlackReminder,
        Card::SlackPendingList,
        Card::TeamsRequest,
        Card::TeamsProgress,
        Card::TeamsApproved,
        Card::TeamsRejected,
        Card::TeamsExpired,
        Card::TeamsCancelled,
        Card::TeamsReminder,
        Card::TeamsPendingList,
    ];

    fn is_teams(self) -> bool {
        self.path().starts_with("teams/")
    }

    /// The path under `cards/` (and under an override folder).
    pub(crate) fn path(self) -> &'static str {
        match self {
            Card::SlackRequest => "slack/request.json",
            Card::SlackApproved => "slack/approved.json",
            Card::SlackRejected => "slack/rejected.json",
            Card::SlackExpired => "slack/expired.json",
            Card::SlackCancelled => "slack/cancelled.json",
            Card::SlackReminder => "slack/reminder.json",
            Card::SlackPendingList => "slack/pending_list.json",
            Card::TeamsRequest => "teams/request.json",
            Card::TeamsProgress => "teams/progress.json",
            Card::TeamsApproved => "teams/approved.json",
            Card::TeamsRejected => "teams/rejected.json",
            Card::TeamsExpired => "teams/expired.json",
            Card::TeamsCancelled => "teams/cancelled.json",
            Card::TeamsReminder => "teams/reminder.json",
            Card::TeamsPendingList => "teams/pending_list.json",
        }
    }

    fn builtin_source(self) -> &'static str {
        match self {
            Card::SlackRequest => include_str!("../slack/request.json"),
            Card::SlackApproved => include_str!("../slack/approved.json"),
            Card::SlackRejected => include_str!("../slack/rejected.json"),
            Card::SlackExpired => include_str!("../slack/expired.json"),
            Card::SlackCancelled => include_str!("../slack/cancelled.json"),
            Card::SlackReminder => include_str!("../slack/reminder.json"),
            Card::SlackPendingList => include_str!("../slack/pending_list.json"),
            Card::TeamsRequest => include_str!("../teams/request.json"),
            Card::TeamsProgress => include_str!("../teams/progress.json"),
            Card::TeamsApproved => include_str!("../teams/approved.json"),
            Card::TeamsRejected => include_str!("../teams/rejected.json"),
            Card::TeamsExpired => include_str!("../teams/expired.json"),
            Card::TeamsCancelled => include_str!("../teams/cancelled.json"),
            Card::TeamsReminder => include_str!("../teams/reminder.json"),
            Card::TeamsPendingList => include_str!("../teams/pending_list.json"),
        }
    }
}

/// A template and where it came from (for error messages).
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) template: Value,
    pub(crate) origin: String,
}

/// The card templates to render with: [`Templates::builtin`], or
/// [`Templates::load`] with an override folder. Build it once at start-up.
#[derive(Debug, Clone)]
pub struct Templates {
    /// Indexed by `Card as usize`, in the order of [`Card::ALL`].
    entries: Vec<Entry>,
}

static BUILTIN: LazyLock<Templates> = LazyLock::new(|| Templates {
    entries: Card::ALL
        .iter()
        .map(|card| Entry {
            // The built-in files are parsed and rendered by the crate's tests,
            // so they are known to be valid JSON.
            template: serde_json::from_str(card.builtin_source())
                .expect("built-in card template is valid JSON"),
            origin: format!("built-in cards/{}", card.path()),
        })
        .collect(),
});

impl Default for Templates {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Templates {
    /// The templates compiled into the binary (`cards/slack/*.json`).
    pub fn builtin() -> Templates {
        BUILTIN.clone()
    }

    /// The built-in templates, with every file found under `overrides`
    /// replacing the built-in of the same path. `None` is the built-ins.
    pub fn load(overrides: Option<&Path>) -> Result<Templates, CardError> {
        let mut templates = Templates::builtin();
        let Some(dir) = overrides else {
            return Ok(templates);
        };
        if !dir.is_dir() {
            return Err(CardError::Override {
                path: dir.to_path_buf(),
                message: "is not a folder".to_string(),
            });
        }
        reject_unknown_files(dir)?;
        let mut replaced = Vec::new();
        for card in Card::ALL {
            let path = dir.join(card.path());
            if !path.is_file() {
                continue;
            }
            let text = fs::read_to_string(&path).map_err(|error| CardError::Io {
                path: path.clone(),
                error,
            })?;
            let template: Value = serde_json::from_str(&text).map_err(|e| CardError::Override {
                path: path.clone(),
                message: format!("is not valid JSON: {e}"),
            })?;
            let shape = if card.is_teams() {
                check_teams_shape(&template)
            } else {
                check_shape(&template)
            };
            shape.map_err(|message| CardError::Override {
                path: path.clone(),
                message,
            })?;
            templates.entries[card as usize] = Entry {
                template,
                origin: path.display().to_string(),
            };
            replaced.push((card, path));
        }
        for (card, path) in replaced {
            dry_run(card, &templates).map_err(|e| {
                let why = match e {
                    CardError::Template { error, .. } => error.to_string(),
                    other => other.to_string(),
                };
                CardError::Override {
                    path,
                    message: format!("does not render for a sample request: {why}"),
                }
            })?;
        }
        Ok(templates)
    }

    pub(crate) fn get(&self, card: Card) -> &Entry {
        &self.entries[card as usize]
    }
}

/// A `.json` file in a platform folder that is not one of our templates.
fn reject_unknown_files(dir: &Path) -> Result<(), CardError> {
    let platforms: Vec<&str> = Card::ALL
        .iter()
        .filter_map(|c| c.path().split_once('/').map(|(platform, _)| platform))
        .collect();
    for platform in platforms {
        let folder = dir.join(platform);
        if !folder.is_dir() {
            continue;
        }
        let entries = fs::read_dir(&folder).map_err(|error| CardError::Io {
            path: folder.clone(),
            error,
        })?;
        for entry in entries {
            let path: PathBuf = entry
                .map_err(|error| CardError::Io {
                    path: folder.clone(),
                    error,
                })?
                .path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let relative = format!("{platform}/{name}");
            let known = Card::ALL.iter().any(|c| c.path() == relative);
            if name.ends_with(".json") && !known {
                let expected: Vec<&str> = Card::ALL
                    .iter()
                    .filter_map(|c| c.path().strip_prefix(&format!("{platform}/")))
                    .collect();
                return Err(CardError::Override {
                    path,
                    message: format!(
                        "is not a card template; expected one of: {}",
                        expected.join(", ")
                    ),
                });
            }
        }
    }
    Ok(())
}

/// What every Slack template must look like: what Block Kit Builder takes.
fn check_shape(template: &Value) -> Result<(), String> {
    let Some(object) = template.as_object() else {
        return Err("must be a JSON object like {\"blocks\": [...]}".to_string());
    };
    if let Some(key) = object
        .keys()
        .find(|k| !matches!(k.as_str(), "blocks" | "text"))
    {
        return Err(format!(
            "has an unknown top-level key {key:?}; only \"blocks\" and \"text\" are used"
        ));
    }
    match object.get("blocks") {
        Some(Value::Array(blocks)) if blocks.iter().all(Value::is_object) => {}
        Some(Value::Array(_)) => return Err("\"blocks\" must be a list of objects".to_string()),
        _ => return Err("must have \"blocks\": [...]".to_string()),
    }
    if object.get("text").is_some_and(|t| !t.is_string()) {
        return Err("\"text\" must be a string".to_string());
    }
    Ok(())
}

/// What every Teams template must look like: an Adaptive Card of the
/// version the renderer speaks, and no placeholder in an action's title
/// (Teams shows titles without Markdown, so a value there could not be
/// escaped).
fn check_teams_shape(template: &Value) -> Result<(), String> {
    let Some(object) = template.as_object() else {
        return Err("must be a JSON object like {\"type\": \"AdaptiveCard\", ...}".to_string());
    };
    if object.get("type").and_then(Value::as_str) != Some("AdaptiveCard") {
        return Err("must have \"type\": \"AdaptiveCard\"".to_string());
    }
    if object.get("version").and_then(Value::as_str) != Some(teams::VERSION) {
        return Err(format!("must have \"version\": \"{}\"", teams::VERSION));
    }
    match object.get("body") {
        Some(Value::Array(body)) if body.iter().all(Value::is_object) => {}
        _ => return Err("must have \"body\": [...], a list of elements".to_string()),
    }
    fn titles(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                let is_action = map
                    .get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.starts_with("Action."));
                if let (true, Some(Value::String(title))) = (is_action, map.get("title")) {
                    out.push(title.clone());
                }
                map.values().for_each(|child| titles(child, out));
            }
            Value::Array(items) => items.iter().for_each(|item| titles(item, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    titles(template, &mut found);
    if let Some(title) = found.iter().find(|t| t.contains("${")) {
        return Err(format!(
            "an action title has a placeholder ({title:?}); action titles are shown as plain text, so write them out"
        ));
    }
    Ok(())
}

/// Renders one template for a sample record, to catch unknown placeholders.
fn dry_run(card: Card, templates: &Templates) -> Result<Value, CardError> {
    let now = sample_now();
    match card {
        Card::SlackRequest => {
            slack::request_message(&sample_record(Status::Pending), now, templates)
        }
        Card::SlackApproved => {
            slack::decided_message(&sample_record(Status::Approved), now, templates)
        }
        Card::SlackRejected => {
            slack::decided_message(&sample_record(Status::Rejected), now, templates)
        }
        Card::SlackExpired => {
            slack::decided_message(&sample_record(Status::Expired), now, templates)
        }
        Card::SlackCancelled => {
            slack::decided_message(&sample_record(Status::Cancelled), now, templates)
        }
        Card::SlackReminder => {
            slack::reminder_message(&sample_record(Status::Pending), now, templates)
        }
        Card::SlackPendingList => {
            let records = [
                sample_record(Status::Pending),
                sample_record(Status::Pending),
            ];
            slack::pending_list_message(&records, now, templates)
        }
        Card::TeamsRequest | Card::TeamsProgress => {
            let refresh = ["29:sample-user".to_string()];
            let extras = teams::Extras {
                refresh_user_ids: &refresh,
                note: Some("sample note"),
            };
            let view = if card == Card::TeamsRequest {
                teams::View::Decide
            } else {
                teams::View::Status
            };
            teams::card(
                &sample_record(Status::Pending),
                now,
                templates,
                view,
                extras,
            )
        }
        Card::TeamsApproved => teams_decided(Status::Approved, templates),
        Card::TeamsRejected => teams_decided(Status::Rejected, templates),
        Card::TeamsExpired => teams_decided(Status::Expired, templates),
        Card::TeamsCancelled => teams_decided(Status::Cancelled, templates),
        Card::TeamsReminder => {
            teams::reminder_card(&sample_record(Status::Pending), now, templates)
        }
        Card::TeamsPendingList => {
            let records = [
                sample_record(Status::Pending),
                sample_record(Status::Pending),
            ];
            teams::pending_list_card(&records, now, templates)
        }
    }
}

fn teams_decided(status: Status, templates: &Templates) -> Result<Value, CardError> {
    teams::decided_card(
        &sample_record(status),
        sample_now(),
        templates,
        Some("sample note"),
    )
}

fn sample_now() -> DateTime<Utc> {
    // A fixed, valid date: `single()` only fails for ambiguous local times,
    // which UTC does not have.
    Utc.with_ymd_and_hms(2026, 1, 5, 13, 51, 0)
        .single()
        .unwrap_or_default()
}

/// A record with every optional field set, so a dry run reaches every
/// `$when` branch that shows something.
fn sample_record(status: Status) -> ApprovalRecord {
    let created = sample_now() - Duration::minutes(1);
    let decided = status.is_final().then_some(sample_now());
    let arguments = json!({ "path": "/etc/hosts", "content": "127.0.0.1 localhost" });
    ApprovalRecord {
        request_id: "sample-request".to_string(),
        status,
        requester: "agent@example".to_string(),
        agent_prompt: Some("Add a hosts entry".to_string()),
        proposed_action: Some("Write /etc/hosts".to_string()),
        tool: "write_file".to_string(),
        server: Some("filesystem".to_string()),
        arguments_hash: hitl_wire::arguments_hash(&arguments),
        arguments,
        arguments_executed: None,
        executed_at: None,
        risk: Risk::High,
        reasons: vec!["writes outside the workspace".to_string()],
        approvers: vec!["U0SAMPLE1".to_string()],
        quorum: 2,
        approvals: vec![Vote {
            approver: "U0SAMPLE1".to_string(),
            at: created,
            reason: None,
        }],
        approver: decided.map(|_| "U0SAMPLE2".to_string()),
        reason: decided.map(|_| "sample reason".to_string()),
        timestamp: created,
        expires_at: created + Duration::minutes(15),
        decided_at: decided,
        escalation: Some(Escalation {
            after_secs: 300,
            to: Some("S0SAMPLE1".to_string()),
        }),
        reminded_at: None,
        notification_sent: true,
        session: Some("sample-session".to_string()),
        channel: None,
    }
}
