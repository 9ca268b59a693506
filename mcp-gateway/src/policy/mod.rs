//! The risk policy: which tool calls run at once, which wait for a person,
//! and which never run.
//!
//! A [`Policy`] is loaded once from a TOML file ([`Policy::load`]) or built
//! from the defaults ([`Policy::default`]), then asked about each call with
//! [`Policy::evaluate`], which returns a [`Verdict`]: a [`Risk`], an
//! [`Action`] and the reasons. Evaluation does no I/O and allocates only the
//! verdict's reason list; all patterns are compiled at load time.
//!
//! How a verdict is reached:
//! 1. The built-in analysis (`builtin`) rates the call from the tool's
//!    name, its arguments (shell commands, SQL and paths are analysed, not
//!    matched as strings) and its annotations.
//! 2. The policy file's rules are tried in order; the first that matches
//!    decides. A rule's risk is a floor: if the built-in analysis finds the
//!    call riskier, the higher risk stands, and the action becomes the
//!    stricter of the rule's and that level's. A rule with `override = true`
//!    sets the risk and action exactly, even lower.
//! 3. Without a matching rule, the risk level's action applies: by default
//!    low and medium are allowed, high needs approval (300 s), critical
//!    needs approval (900 s).
//! 4. With `auto_approve_low_risk`, a low-risk call that would wait for
//!    approval runs at once instead.
//!
//! Modules: `config` reads the TOML file, `rules` matches rules,
//! `builtin` with `shell`, `sql` and `paths` is the built-in
//! analysis, `findings` collects what it finds.

mod builtin;
mod cli;
mod code;
mod config;
mod findings;
mod markers;
mod paths;
mod rules;
mod shell;
mod sql;

use std::fmt;
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

use hitl_wire::{Escalation, Risk};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

pub use config::{ConfigError, PolicyError};

use findings::Findings;
use rules::Rule;

/// The commented default policy that `hitl-mcp init-config` writes. It
/// loads without error and behaves exactly like [`Policy::default`].
pub const DEFAULT_POLICY_TOML: &str = include_str!("default-policy.toml");

/// Seconds an approval waits by default, below critical risk.
pub const DEFAULT_TIMEOUT_SECS: u64 = 300;
/// Seconds an approval waits by default for a critical call.
pub const DEFAULT_CRITICAL_TIMEOUT_SECS: u64 = 900;

/// The MCP annotations of a tool (`tools/list`), as the server declares
/// them. They are hints from a server the gateway does not control: they
/// can raise a call's risk, never hide what its arguments show.
///
/// Deserializes from the MCP wire shape (`{"readOnlyHint": true, ...}`);
/// other fields (such as `title`) are ignored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolAnnotations {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_hint: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destructive_hint: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent_hint: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_world_hint: Option<bool>,
}

/// One `tools/call` to judge. Borrowed: building one costs nothing.
#[derive(Clone, Copy, Debug)]
pub struct ToolCall<'a> {
    /// The upstream server's name, as the gateway's config names it.
    pub server: Option<&'a str>,
    /// The tool's name as the upstream knows it (without any prefix the
    /// gateway adds to avoid collisions).
    pub tool: &'a str,
    /// The call's `arguments` object.
    pub arguments: &'a Value,
    pub annotations: ToolAnnotations,
    /// The tool's description from `tools/list`: evidence that can only
    /// raise the risk.
    pub description: Option<&'a str>,
}

impl<'a> ToolCall<'a> {
    pub fn new(tool: &'a str, arguments: &'a Value) -> Self {
        ToolCall {
            server: None,
            tool,
            arguments,
            annotations: ToolAnnotations::default(),
            description: None,
        }
    }

    pub fn with_server(mut self, server: &'a str) -> Self {
        self.server = Some(server);
        self
    }

    pub fn with_annotations(mut self, annotations: ToolAnnotations) -> Self {
        self.annotations = annotations;
        self
    }

    /// The annotations as `tools/list` sent them (a JSON object); values
    /// that are not booleans are ignored.
    pub fn with_annotations_json(self, annotations: &Value) -> Self {
        self.with_annotations(ToolAnnotations::from_json(annotations))
    }

    /// The tool's description from `tools/list`.
    pub fn with_description(mut self, description: &'a str) -> Self {
        self.description = Some(description);
        self
    }
}

impl ToolAnnotations {
    /// Reads the hints from an MCP `annotations` object, ignoring other
    /// fields and non-boolean values.
    pub fn from_json(value: &Value) -> Self {
        let hint = |name: &str| value.get(name).and_then(Value::as_bool);
        ToolAnnotations {
            read_only_hint: hint("readOnlyHint"),
            destructive_hint: hint("destructiveHint"),
            idempotent_hint: hint("idempotentHint"),
            open_world_hint: hint("openWorldHint"),
        }
    }
}

/// What to do with a call, as a plain tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Allow,
    RequireApproval,
    Deny,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Allow => "allow",
            ActionKind::RequireApproval => "require_approval",
            ActionKind::Deny => "deny",
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an approval is to be asked for: the fields of `POST /v1/approvals`
/// that the policy decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    /// Who may decide: user ids and `group:NAME`. Empty: the approval
    /// service's default approvers.
    pub approvers: Arc<[String]>,
    /// Distinct approvals needed.
    pub quorum: u32,
    /// Seconds until the request expires (and the call is refused).
    pub timeout_secs: u64,
    /// Where to ask, when not the service's default channel.
    pub channel: Option<Arc<str>>,
    /// A reminder or escalation part-way to the deadline.
    pub escalation: Option<Arc<Escalation>>,
}

/// What to do with a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Run it at once.
    Allow,
    /// Hold it until a person approves (or refuse it when they reject, or
    /// when the timeout passes).
    RequireApproval(Approval),
    /// Never run it.
    Deny,
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Allow => ActionKind::Allow,
            Action::RequireApproval(_) => ActionKind::RequireApproval,
            Action::Deny => ActionKind::Deny,
        }
    }
}

/// One reason for a verdict, written for the person who decides and for
/// the model that reads a refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason(ReasonText);

#[derive(Clone, Debug, PartialEq, Eq)]
enum ReasonText {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Reason {
    pub(crate) fn from_static(text: &'static str) -> Self {
        Reason(ReasonText::Static(text))
    }

    pub(crate) fn shared(text: &str) -> Self {
        Reason(ReasonText::Shared(Arc::from(text)))
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            ReasonText::Static(s) => s,
            ReasonText::Shared(s) => s,
        }
    }
}

impl Deref for Reason {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for Reason {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The policy's answer about one call.
///
/// Serializes as `{"risk": "...", "action": "...", "reasons": [...]}`, plus
/// `"rule"` when a rule decided, and for approvals `"approvers"` (when
/// any), `"quorum"`, `"timeout_secs"`, `"channel"` and `"escalation"`
/// (when set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub risk: Risk,
    pub action: Action,
    /// Never empty.
    pub reasons: Vec<Reason>,
    /// The rule that decided: its name, or `rule N` (1-based) when it has
    /// none. `None` when the built-in defaults decided.
    pub rule: Option<Arc<str>>,
}

impl Verdict {
    pub fn is_allowed(&self) -> bool {
        matches!(self.action, Action::Allow)
    }

    pub fn is_denied(&self) -> bool {
        matches!(self.action, Action::Deny)
    }

    /// How to ask, when the call needs approval.
    pub fn approval(&self) -> Option<&Approval> {
        match &self.action {
            Action::RequireApproval(a) => Some(a),
            _ => None,
        }
    }

    /// The reasons as owned strings (for `POST /v1/approvals`).
    pub fn reason_strings(&self) -> Vec<String> {
        self.reasons.iter().map(|r| r.as_str().to_owned()).collect()
    }
}

impl Serialize for Verdict {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("risk", &self.risk)?;
        map.serialize_entry("action", self.action.kind().as_str())?;
        map.serialize_entry("reasons", &self.reasons)?;
        if let Some(rule) = &self.rule {
            map.serialize_entry("rule", &**rule)?;
        }
        if let Action::RequireApproval(a) = &self.action {
            if !a.approvers.is_empty() {
                map.serialize_entry("approvers", &*a.approvers)?;
            }
            map.serialize_entry("quorum", &a.quorum)?;
            map.serialize_entry("timeout_secs", &a.timeout_secs)?;
            if let Some(channel) = &a.channel {
                map.serialize_entry("channel", &**channel)?;
            }
            if let Some(escalation) = &a.escalation {
                map.serialize_entry("escalation", &**escalation)?;
            }
        }
        map.end()
    }
}

/// An action as configured, before defaults are filled in.
#[derive(Clone, Debug)]
pub(crate) enum ActionSpec {
    Allow,
    RequireApproval(Arc<ApprovalSpec>),
    Deny,
}

impl ActionSpec {
    fn strictness(&self) -> u8 {
        match self {
            ActionSpec::Allow => 0,
            ActionSpec::RequireApproval(_) => 1,
            ActionSpec::Deny => 2,
        }
    }
}

/// Approval settings as configured; unset fields take the policy's
/// defaults when a verdict is made.
#[derive(Clone, Debug, Default)]
pub(crate) struct ApprovalSpec {
    pub(crate) approvers: Arc<[String]>,
    pub(crate) quorum: Option<u32>,
    pub(crate) timeout_secs: Option<u64>,
    pub(crate) channel: Option<Arc<str>>,
    pub(crate) escalation: Option<Arc<Escalation>>,
}

/// The tool name rules use for resource reads.
pub const RESOURCE_READ: &str = "resources/read";

const AUTO_APPROVED: &str = "low risk: runs without approval (auto_approve_low_risk)";

/// The loaded policy. Cheap to share behind an `Arc`; evaluation takes
/// `&self` and may run on many threads at once.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Indexed by risk: low, medium, high, critical.
    levels: [ActionSpec; 4],
    rules: Vec<Rule>,
    shadow: bool,
    auto_approve_low_risk: bool,
    default_approvers: Arc<[String]>,
    default_timeout_secs: Option<u64>,
    /// Directories whose content is secret beyond the built-in list.
    secret_dirs: Arc<[Vec<String>]>,
}

fn level_index(risk: Risk) -> usize {
    match risk {
        Risk::Low => 0,
        Risk::Medium => 1,
        Risk::High => 2,
        Risk::Critical => 3,
    }
}

impl Default for Policy {
    /// The built-in policy: low and medium run, high and critical wait for
    /// approval (300 s and 900 s), no rules.
    fn default() -> Self {
        Policy {
            levels: default_levels(),
            rules: Vec::new(),
            shadow: false,
            auto_approve_low_risk: false,
            default_approvers: Arc::from(Vec::new()),
            default_timeout_secs: None,
            secret_dirs: Arc::from(Vec::new()),
        }
    }
}

pub(crate) fn default_levels() -> [ActionSpec; 4] {
    [
        ActionSpec::Allow,
        ActionSpec::Allow,
        ActionSpec::RequireApproval(Arc::new(ApprovalSpec::default())),
        // The longer timeout for critical calls comes from `resolve`, so
        // that `--timeout` can still change it.
        ActionSpec::RequireApproval(Arc::new(ApprovalSpec::default())),
    ]
}

impl Policy {
    /// Reads and checks a policy file. Errors name the file, the line and
    /// the rule.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        Self::load_with_sections(path, &[])
    }

    /// Like [`Policy::load`], for a file that also holds other top-level
    /// sections (read by other parts of the gateway): their names are
    /// accepted and skipped; any other unknown key is an error.
    pub fn load_with_sections(path: &Path, other_sections: &[&str]) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml_with_sections(&text, &path.display().to_string(), other_sections)
    }

    /// Parses policy text; `file` names it in error messages.
    pub fn from_toml(text: &str, file: &str) -> Result<Policy, PolicyError> {
        Self::from_toml_with_sections(text, file, &[])
    }

    /// Like [`Policy::from_toml`], skipping the named top-level sections.
    pub fn from_toml_with_sections(
        text: &str,
        file: &str,
        other_sections: &[&str],
    ) -> Result<Policy, PolicyError> {
        config::parse(text, file, other_sections).map_err(PolicyError::Invalid)
    }

    /// Shadow mode: every call is evaluated and its verdict recorded, but
    /// nothing is held, denied or hidden. The proxy reads this flag; the
    /// verdicts themselves are unchanged.
    pub fn shadow(&self) -> bool {
        self.shadow
    }

    pub fn set_shadow(&mut self, shadow: bool) {
        self.shadow = shadow;
    }

    /// Whether low-risk calls that would wait for approval run at once.
    pub fn auto_approve_low_risk(&self) -> bool {
        self.auto_approve_low_risk
    }

    /// Sets `auto_approve_low_risk` (the `--auto-approve-low-risk` flag
    /// turns it on over the file's setting).
    pub fn set_auto_approve_low_risk(&mut self, on: bool) {
        self.auto_approve_low_risk = on;
    }

    /// Approvers for approvals whose level or rule names none
    /// (`--approver`, `DEFAULT_APPROVER`).
    pub fn set_default_approvers(&mut self, approvers: Vec<String>) {
        self.default_approvers = Arc::from(approvers);
    }

    /// Timeout for approvals whose level or rule sets none (`--timeout`,
    /// `APPROVAL_TIMEOUT`); `None` keeps 300 s, and 900 s for critical.
    pub fn set_default_timeout_secs(&mut self, secs: Option<u64>) {
        self.default_timeout_secs = secs;
    }

    /// Treats everything under `dir` as secret (hitl's configured data
    /// folder, `HITL_DATA_DIR`: its API token and database). The default
    /// data folders on every OS are secret already.
    pub fn add_secret_dir(&mut self, dir: &Path) {
        let parts = paths::dir_components(&dir.to_string_lossy());
        if parts.is_empty() || (parts.len() == 1 && parts[0] == "~") {
            return;
        }
        let mut dirs: Vec<Vec<String>> = self.secret_dirs.to_vec();
        dirs.push(parts);
        self.secret_dirs = Arc::from(dirs);
    }

    fn context(&self) -> builtin::Context<'_> {
        builtin::Context {
            secret_dirs: &self.secret_dirs,
        }
    }

    /// Whether a tool's name says something the built-in analysis
    /// understands (a verb it knows); when not, the verdict rests on the
    /// arguments, annotations and description alone, and `scan` flags it.
    pub fn understands_name(tool: &str) -> bool {
        builtin::classify_name(tool).evidence
    }

    /// Number of rules loaded.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Judges one call.
    pub fn evaluate(&self, call: &ToolCall<'_>) -> Verdict {
        let facts = builtin::CallFacts {
            tool: call.tool,
            arguments: call.arguments,
            annotations: call.annotations,
            description: call.description,
        };
        let found = builtin::assess(&facts, self.context());
        let rule = self.rules.iter().find(|r| r.matches(call, found.risk()));
        self.decide(&found, rule)
    }

    /// Judges a `resources/read` of `uri` from `server`: `file:` URIs are
    /// judged as paths, `http(s):` URIs as network reads, credentials,
    /// system paths and metadata endpoints are critical. Rules see it as
    /// a call of the tool `resources/read` with arguments `{"uri": URI}`.
    pub fn evaluate_resource(&self, server: &str, uri: &str) -> Verdict {
        let found = builtin::assess_resource(uri, self.context());
        let arguments = serde_json::json!({ "uri": uri });
        let call = ToolCall::new(RESOURCE_READ, &arguments).with_server(server);
        let rule = self.rules.iter().find(|r| r.matches(&call, found.risk()));
        self.decide(&found, rule)
    }

    fn decide(&self, found: &Findings, rule: Option<&Rule>) -> Verdict {
        let builtin_risk = found.risk();
        let builtin_reasons = || found.reasons().iter().map(|r| Reason::from_static(r));
        let (risk, spec, mut reasons, label) = match rule {
            None => (
                builtin_risk,
                &self.levels[level_index(builtin_risk)],
                builtin_reasons().collect::<Vec<_>>(),
                None,
            ),
            Some(rule) => {
                let stated = rule.risk.unwrap_or(builtin_risk);
                // No rule lowers a call below a system- or secret-path
                // finding, not even with `override = true`.
                let overrides = rule.override_builtin && !found.sensitive_path();
                let risk = if overrides {
                    stated
                } else {
                    stated.max(builtin_risk)
                };
                let level = &self.levels[level_index(risk)];
                let spec = match &rule.action {
                    None => level,
                    Some(own) if !overrides && builtin_risk > stated => {
                        // The arguments show more than the rule expected:
                        // its action may not be lenient enough any more.
                        if own.strictness() >= level.strictness() {
                            own
                        } else {
                            level
                        }
                    }
                    Some(own) => own,
                };
                // The rule's own reasons come first. The built-in ones are
                // added when they explain the level: when the analysis
                // raised it past the rule's risk, or the rule says nothing.
                let silent = rule.reasons.is_empty();
                let builtin_explains = if overrides {
                    rule.risk.is_none() && silent
                } else {
                    builtin_risk > stated || (builtin_risk == risk && silent)
                };
                let mut reasons =
                    Vec::with_capacity(rule.reasons.len() + found.reasons().len() + 1);
                reasons.extend(rule.reasons.iter().cloned());
                if builtin_explains {
                    reasons.extend(builtin_reasons());
                }
                if silent {
                    reasons.push(rule.fallback_reason.clone());
                }
                (risk, spec, reasons, Some(rule.label.clone()))
            }
        };
        let mut action = self.resolve(spec, risk);
        if risk == Risk::Low
            && self.auto_approve_low_risk
            && matches!(action, Action::RequireApproval(_))
        {
            action = Action::Allow;
            reasons.push(Reason::from_static(AUTO_APPROVED));
        }
        Verdict {
            risk,
            action,
            reasons,
            rule: label,
        }
    }

    fn resolve(&self, spec: &ActionSpec, risk: Risk) -> Action {
        match spec {
            ActionSpec::Allow => Action::Allow,
            ActionSpec::Deny => Action::Deny,
            ActionSpec::RequireApproval(a) => {
                let fallback = if risk == Risk::Critical {
                    DEFAULT_CRITICAL_TIMEOUT_SECS
                } else {
                    DEFAULT_TIMEOUT_SECS
                };
                Action::RequireApproval(Approval {
                    approvers: if a.approvers.is_empty() {
                        self.default_approvers.clone()
                    } else {
                        a.approvers.clone()
                    },
                    quorum: a.quorum.unwrap_or(1),
                    timeout_secs: a
                        .timeout_secs
                        .or(self.default_timeout_secs)
                        .unwrap_or(fallback),
                    channel: a.channel.clone(),
                    escalation: a.escalation.clone(),
                })
            }
        }
    }

    /// Whether the policy denies every call of this tool, whatever its
    /// arguments: such tools can be left out of `tools/list`. (In shadow
    /// mode the proxy should hide nothing; this answer ignores the mode.)
    pub fn is_denied_outright(
        &self,
        server: Option<&str>,
        tool: &str,
        annotations: ToolAnnotations,
    ) -> bool {
        let floor = builtin::floor(tool, annotations);
        for rule in &self.rules {
            if !rule.matches_tool(server, tool, annotations) {
                continue;
            }
            let always_denies = match &rule.action {
                Some(ActionSpec::Deny) => true,
                Some(_) => false,
                None => {
                    let from = if rule.override_builtin {
                        rule.risk.unwrap_or(floor)
                    } else {
                        rule.risk.unwrap_or(floor).max(floor)
                    };
                    let to = if rule.override_builtin && rule.risk.is_some() {
                        from
                    } else {
                        Risk::Critical
                    };
                    self.levels_deny(from, to)
                }
            };
            if rule.matches_every_call(floor) {
                return always_denies;
            }
            if !always_denies {
                // Some calls match this rule and are not denied.
                return false;
            }
        }
        self.levels_deny(floor, Risk::Critical)
    }

    fn levels_deny(&self, from: Risk, to: Risk) -> bool {
        Risk::ALL
            .iter()
            .filter(|r| **r >= from && **r <= to)
            .all(|r| matches!(self.levels[level_index(*r)], ActionSpec::Deny))
    }

    /// The tools among `tools` that [`Policy::is_denied_outright`] would
    /// hide from `tools/list`.
    pub fn hidden_tools<'t>(
        &self,
        server: Option<&str>,
        tools: impl IntoIterator<Item = (&'t str, ToolAnnotations)>,
    ) -> Vec<&'t str> {
        tools
            .into_iter()
            .filter(|(name, annotations)| self.is_denied_outright(server, name, *annotations))
            .map(|(name, _)| name)
            .collect()
    }
}
