//! Reads the policy file (TOML). Every key is checked, unknown keys are
//! errors, patterns are compiled here once, and every error names the
//! file, the line and the rule:
//!
//! ```text
//! policy.toml:14: rule 3 ("block-prod-db"): unknown risk "severe"; expected low, medium, high, critical
//! ```
//!
//! The document is walked through `toml`'s spanned tree (`DeTable`) rather
//! than derived with serde, so each message can point at the exact key or
//! value and say what was expected.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use globset::GlobBuilder;
use hitl_wire::{Escalation, Risk};
use regex::Regex;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::rules::{AnnotationCondition, ArgCondition, NamePattern, Rule, ValueMatcher};
use super::{ActionSpec, ApprovalSpec, Policy, Reason, default_levels, level_index};

/// The longest approval timeout accepted: a week.
const MAX_TIMEOUT_SECS: i64 = 7 * 24 * 3600;

/// A policy file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{path}: cannot read the policy file")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Invalid(ConfigError),
}

/// A mistake in a policy file, with where it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file as it was named when loading.
    pub file: String,
    /// 1-based line of the offending key or value.
    pub line: usize,
    /// 1-based number of the `[[rule]]` it is in, if any.
    pub rule: Option<usize>,
    /// That rule's name, if it has one.
    pub rule_name: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        match (self.rule, &self.rule_name) {
            (Some(n), Some(name)) => write!(f, "rule {n} ({name:?}): ")?,
            (Some(n), None) => write!(f, "rule {n}: ")?,
            _ => {}
        }
        f.write_str(&self.message)
    }
}

type Value<'i> = Spanned<DeValue<'i>>;
type Key<'i> = Spanned<std::borrow::Cow<'i, str>>;

/// Where errors are reported from: the file and, inside a rule, which one.
struct Cx<'a> {
    text: &'a str,
    file: &'a str,
    rule: Option<usize>,
    rule_name: Option<String>,
}

impl Cx<'_> {
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn err(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_owned(),
            line: self.line(span.start),
            rule: self.rule,
            rule_name: self.rule_name.clone(),
            message: message.into(),
        }
    }
}

/// Table entries in the order they appear in the file, so the first
/// mistake reported is the first one written.
fn entries<'t, 'i>(table: &'t DeTable<'i>) -> Vec<(&'t Key<'i>, &'t Value<'i>)> {
    let mut v: Vec<_> = table.iter().collect();
    v.sort_by_key(|(k, _)| k.span().start);
    v
}

fn unknown_key(cx: &Cx<'_>, key: &Key<'_>, expected: &[&str]) -> ConfigError {
    cx.err(
        key.span(),
        format!(
            "unknown key {:?}; expected one of {}",
            key.get_ref(),
            expected.join(", ")
        ),
    )
}

fn type_err(cx: &Cx<'_>, name: &str, value: &Value<'_>, want: &str) -> ConfigError {
    cx.err(
        value.span(),
        format!(
            "{name} must be {want}, not {}",
            article(value.get_ref().type_str())
        ),
    )
}

fn article(type_name: &str) -> String {
    match type_name.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {type_name}"),
        _ => format!("a {type_name}"),
    }
}

fn string<'v>(cx: &Cx<'_>, name: &str, value: &'v Value<'_>) -> Result<&'v str, ConfigError> {
    value
        .get_ref()
        .as_str()
        .ok_or_else(|| type_err(cx, name, value, "a string"))
}

fn boolean(cx: &Cx<'_>, name: &str, value: &Value<'_>) -> Result<bool, ConfigError> {
    value
        .get_ref()
        .as_bool()
        .ok_or_else(|| type_err(cx, name, value, "true or false"))
}

fn integer(
    cx: &Cx<'_>,
    name: &str,
    value: &Value<'_>,
    min: i64,
    max: i64,
) -> Result<i64, ConfigError> {
    let n = value
        .get_ref()
        .as_integer()
        .and_then(|i| i64::from_str_radix(i.as_str(), i.radix()).ok())
        .ok_or_else(|| type_err(cx, name, value, "a whole number"))?;
    if n < min || n > max {
        return Err(cx.err(
            value.span(),
            format!("{name} must be between {min} and {max}, not {n}"),
        ));
    }
    Ok(n)
}

fn table<'t, 'i>(
    cx: &Cx<'_>,
    name: &str,
    value: &'t Value<'i>,
) -> Result<&'t DeTable<'i>, ConfigError> {
    value
        .get_ref()
        .as_table()
        .ok_or_else(|| type_err(cx, name, value, "a table"))
}

/// A string or a non-empty array of strings.
fn strings<'v>(
    cx: &Cx<'_>,
    name: &str,
    value: &'v Value<'_>,
) -> Result<Vec<(&'v str, Range<usize>)>, ConfigError> {
    if let Some(s) = value.get_ref().as_str() {
        return Ok(vec![(s, value.span())]);
    }
    let Some(items) = value.get_ref().as_array() else {
        return Err(type_err(cx, name, value, "a string or an array of strings"));
    };
    if items.iter().next().is_none() {
        return Err(cx.err(value.span(), format!("{name} must not be empty")));
    }
    items
        .iter()
        .map(|item| Ok((string(cx, name, item)?, item.span())))
        .collect()
}

/// An array of strings, possibly empty.
fn string_list(cx: &Cx<'_>, name: &str, value: &Value<'_>) -> Result<Vec<String>, ConfigError> {
    let Some(items) = value.get_ref().as_array() else {
        return Err(type_err(cx, name, value, "an array of strings"));
    };
    items
        .iter()
        .map(|item| string(cx, name, item).map(str::to_owned))
        .collect()
}

fn risk(cx: &Cx<'_>, name: &str, value: &Value<'_>) -> Result<Risk, ConfigError> {
    let s = string(cx, name, value)?;
    Risk::ALL
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or_else(|| {
            cx.err(
                value.span(),
                format!("unknown risk {s:?}; expected low, medium, high, critical"),
            )
        })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ActionName {
    Allow,
    RequireApproval,
    Deny,
}

fn action_name(cx: &Cx<'_>, value: &Value<'_>) -> Result<ActionName, ConfigError> {
    match string(cx, "action", value)? {
        "allow" => Ok(ActionName::Allow),
        "require_approval" => Ok(ActionName::RequireApproval),
        "deny" => Ok(ActionName::Deny),
        other => Err(cx.err(
            value.span(),
            format!("unknown action {other:?}; expected allow, require_approval, deny"),
        )),
    }
}

/// `action` and the approval settings beside it, in a rule or a level.
#[derive(Default)]
struct ActionFields {
    action: Option<ActionName>,
    approval: ApprovalSpec,
    /// The first approval setting seen, for an error if the action is not
    /// `require_approval`.
    first_approval_key: Option<(String, Range<usize>)>,
    quorum_span: Option<Range<usize>>,
    escalation_span: Option<Range<usize>>,
}

const ACTION_KEYS: &[&str] = &[
    "action",
    "approvers",
    "quorum",
    "timeout_secs",
    "channel",
    "escalation",
];

impl ActionFields {
    /// Takes the key if it is one of [`ACTION_KEYS`]; returns whether it was.
    fn take(&mut self, cx: &Cx<'_>, key: &Key<'_>, value: &Value<'_>) -> Result<bool, ConfigError> {
        let name = key.get_ref().as_ref();
        match name {
            "action" => {
                self.action = Some(action_name(cx, value)?);
                return Ok(true);
            }
            "approvers" => {
                let list = string_list(cx, name, value)?;
                if list.iter().any(|a| a.trim().is_empty()) {
                    return Err(cx.err(value.span(), "approvers must not hold empty names"));
                }
                self.approval.approvers = Arc::from(list);
            }
            "quorum" => {
                self.approval.quorum = Some(integer(cx, name, value, 1, 100)? as u32);
                self.quorum_span = Some(value.span());
            }
            "timeout_secs" => {
                self.approval.timeout_secs =
                    Some(integer(cx, name, value, 1, MAX_TIMEOUT_SECS)? as u64);
            }
            "channel" => {
                let s = string(cx, name, value)?;
                if s.trim().is_empty() {
                    return Err(cx.err(value.span(), "channel must not be empty"));
                }
                self.approval.channel = Some(Arc::from(s));
            }
            "escalation" => {
                let t = table(cx, name, value)?;
                let mut after_secs = None;
                let mut to = None;
                for (k, v) in entries(t) {
                    match k.get_ref().as_ref() {
                        "after_secs" => {
                            after_secs =
                                Some(
                                    integer(cx, "escalation.after_secs", v, 1, MAX_TIMEOUT_SECS)?
                                        as u64,
                                )
                        }
                        "to" => to = Some(string(cx, "escalation.to", v)?.to_owned()),
                        _ => return Err(unknown_key(cx, k, &["after_secs", "to"])),
                    }
                }
                let Some(after_secs) = after_secs else {
                    return Err(cx.err(value.span(), "escalation needs after_secs"));
                };
                self.approval.escalation = Some(Arc::new(Escalation { after_secs, to }));
                self.escalation_span = Some(value.span());
            }
            _ => return Ok(false),
        }
        if self.first_approval_key.is_none() {
            self.first_approval_key = Some((name.to_owned(), key.span()));
        }
        Ok(true)
    }

    /// Checks the settings against each other and builds the action.
    /// `default` is the action when none is written (a level's own).
    fn finish(
        self,
        cx: &Cx<'_>,
        default: Option<ActionName>,
    ) -> Result<Option<ActionSpec>, ConfigError> {
        let action = self.action.or(default);
        if let Some((key, span)) = &self.first_approval_key
            && action != Some(ActionName::RequireApproval)
        {
            let msg = if self.action.is_none() {
                format!("{key} needs action = \"require_approval\"")
            } else {
                format!("{key} only applies with action = \"require_approval\"")
            };
            return Err(cx.err(span.clone(), msg));
        }
        let spec = &self.approval;
        if let (Some(quorum), Some(span)) = (spec.quorum, &self.quorum_span) {
            let people = spec.approvers.len();
            let any_group = spec.approvers.iter().any(|a| a.starts_with("group:"));
            if people > 0 && !any_group && quorum as usize > people {
                return Err(cx.err(
                    span.clone(),
                    format!(
                        "quorum {quorum} needs at least {quorum} approvers, but approvers names only {people} (and no group:)"
                    ),
                ));
            }
        }
        if let (Some(esc), Some(timeout), Some(span)) =
            (&spec.escalation, spec.timeout_secs, &self.escalation_span)
            && esc.after_secs >= timeout
        {
            return Err(cx.err(
                span.clone(),
                format!(
                    "escalation.after_secs ({}) must be less than timeout_secs ({timeout})",
                    esc.after_secs
                ),
            ));
        }
        Ok(action.map(|a| match a {
            ActionName::Allow => ActionSpec::Allow,
            ActionName::Deny => ActionSpec::Deny,
            ActionName::RequireApproval => ActionSpec::RequireApproval(Arc::new(self.approval)),
        }))
    }
}

const TOP_KEYS: &[&str] = &["shadow", "auto_approve_low_risk", "levels", "rule"];
const RULE_KEYS: &[&str] = &[
    "name",
    "description",
    "server",
    "tool",
    "args",
    "annotations",
    "min_risk",
    "risk",
    "override",
    "reasons",
    "action",
    "approvers",
    "quorum",
    "timeout_secs",
    "channel",
    "escalation",
];
const ARG_KEYS: &[&str] = &["pointer", "regex", "glob"];
const ANNOTATION_KEYS: &[&str] = &[
    "read_only_hint",
    "destructive_hint",
    "idempotent_hint",
    "open_world_hint",
];

pub(crate) fn parse(
    text: &str,
    file: &str,
    other_sections: &[&str],
) -> Result<Policy, ConfigError> {
    let cx = Cx {
        text,
        file,
        rule: None,
        rule_name: None,
    };
    let doc = DeTable::parse(text).map_err(|e| syntax_error(&cx, &e))?;
    let mut policy = Policy::default();
    let mut levels = default_levels();
    for (key, value) in entries(doc.get_ref()) {
        match key.get_ref().as_ref() {
            "shadow" => policy.shadow = boolean(&cx, "shadow", value)?,
            "auto_approve_low_risk" => {
                policy.auto_approve_low_risk = boolean(&cx, "auto_approve_low_risk", value)?
            }
            "levels" => parse_levels(&cx, value, &mut levels)?,
            "rule" => policy.rules = parse_rules(&cx, value)?,
            k if other_sections.contains(&k) => {}
            "rules" => {
                return Err(cx.err(
                    key.span(),
                    "unknown key \"rules\"; write each rule as a [[rule]] table",
                ));
            }
            _ => {
                let mut expected: Vec<&str> = TOP_KEYS.to_vec();
                expected.extend_from_slice(other_sections);
                return Err(unknown_key(&cx, key, &expected));
            }
        }
    }
    policy.levels = levels;
    Ok(policy)
}

/// A TOML syntax error, placed in its rule when the error sits inside a
/// `[[rule]]` table.
fn syntax_error(cx: &Cx<'_>, e: &toml::de::Error) -> ConfigError {
    let offset = e.span().map_or(0, |s| s.start);
    let mut rule = None;
    let mut rule_name = None;
    let mut pos = 0usize;
    for line in cx.text.split_inclusive('\n') {
        if pos > offset {
            break;
        }
        let trimmed = line.trim();
        if trimmed.starts_with("[[rule]]") {
            rule = Some(rule.unwrap_or(0) + 1);
            rule_name = None;
        } else if trimmed.starts_with('[') {
            rule = None;
            rule_name = None;
        } else if rule.is_some()
            && pos + line.len() <= offset
            && let Some(v) = trimmed.strip_prefix("name").map(str::trim_start)
            && let Some(v) = v.strip_prefix('=')
        {
            rule_name = Some(v.trim().trim_matches(['"', '\'']).to_owned());
        }
        pos += line.len();
    }
    ConfigError {
        file: cx.file.to_owned(),
        line: cx.line(offset),
        rule,
        rule_name,
        message: format!("invalid TOML: {}", e.message().trim()),
    }
}

fn parse_levels(
    cx: &Cx<'_>,
    value: &Value<'_>,
    levels: &mut [ActionSpec; 4],
) -> Result<(), ConfigError> {
    let t = table(cx, "levels", value)?;
    for (key, value) in entries(t) {
        let name = key.get_ref().as_ref();
        let Some(risk) = Risk::ALL.into_iter().find(|r| r.as_str() == name) else {
            return Err(cx.err(
                key.span(),
                format!(
                    "unknown risk level {name:?} in [levels]; expected low, medium, high, critical"
                ),
            ));
        };
        let default = match levels[level_index(risk)] {
            ActionSpec::Allow => ActionName::Allow,
            ActionSpec::Deny => ActionName::Deny,
            ActionSpec::RequireApproval(_) => ActionName::RequireApproval,
        };
        let parse_level = || -> Result<ActionSpec, ConfigError> {
            let t = table(cx, "the level", value)?;
            let mut fields = ActionFields::default();
            for (k, v) in entries(t) {
                if !fields.take(cx, k, v)? {
                    return Err(unknown_key(cx, k, ACTION_KEYS));
                }
            }
            // A level always has an action: its default when none is written.
            Ok(fields
                .finish(cx, Some(default))?
                .unwrap_or(ActionSpec::Allow))
        };
        levels[level_index(risk)] = parse_level().map_err(|mut e| {
            e.message = format!("[levels.{name}]: {}", e.message);
            e
        })?;
    }
    Ok(())
}

fn parse_rules(cx: &Cx<'_>, value: &Value<'_>) -> Result<Vec<Rule>, ConfigError> {
    let Some(items) = value.get_ref().as_array() else {
        return Err(cx.err(
            value.span(),
            "rule must be an array of tables: write each rule as [[rule]]",
        ));
    };
    let mut rules: Vec<Rule> = Vec::new();
    let mut names: Vec<(String, usize)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let number = i + 1;
        let Some(t) = item.get_ref().as_table() else {
            let cx = Cx {
                text: cx.text,
                file: cx.file,
                rule: Some(number),
                rule_name: None,
            };
            return Err(type_err(&cx, "a rule", item, "a table"));
        };
        let name = t
            .get("name")
            .and_then(|v| v.get_ref().as_str())
            .map(str::to_owned);
        let rcx = Cx {
            text: cx.text,
            file: cx.file,
            rule: Some(number),
            rule_name: name.clone(),
        };
        let rule = parse_rule(&rcx, number, item.span(), t)?;
        if let Some(n) = &name {
            if let Some((_, first)) = names.iter().find(|(other, _)| other == n) {
                let span = t.get("name").map_or(item.span(), |v| v.span());
                return Err(rcx.err(
                    span,
                    format!("rule name {n:?} is already used by rule {first}"),
                ));
            }
            names.push((n.clone(), number));
        }
        rules.push(rule);
    }
    Ok(rules)
}

fn parse_rule(
    cx: &Cx<'_>,
    number: usize,
    header: Range<usize>,
    t: &DeTable<'_>,
) -> Result<Rule, ConfigError> {
    let mut label: Arc<str> = Arc::from(format!("rule {number}"));
    let mut servers = Vec::new();
    let mut tools = Vec::new();
    let mut args = Vec::new();
    let mut annotations = AnnotationCondition::default();
    let mut min_risk = None;
    let mut risk_level = None;
    let mut override_builtin = false;
    let mut reasons = Vec::new();
    let mut fields = ActionFields::default();

    for (key, value) in entries(t) {
        let k = key.get_ref().as_ref();
        if fields.take(cx, key, value)? {
            continue;
        }
        match k {
            "name" => {
                let s = string(cx, k, value)?;
                if s.trim().is_empty() {
                    return Err(cx.err(value.span(), "name must not be empty"));
                }
                label = Arc::from(s);
            }
            "description" => {
                string(cx, k, value)?;
            }
            "server" => servers = name_patterns(cx, k, value)?,
            "tool" => tools = name_patterns(cx, k, value)?,
            "args" => args = arg_conditions(cx, value)?,
            "annotations" => annotations = annotation_condition(cx, value)?,
            "min_risk" => min_risk = Some(risk(cx, k, value)?),
            "risk" => risk_level = Some(risk(cx, k, value)?),
            "override" => override_builtin = boolean(cx, k, value)?,
            "reasons" => {
                reasons = string_list(cx, k, value)?
                    .iter()
                    .map(|s| Reason::shared(s))
                    .collect();
            }
            _ => return Err(unknown_key(cx, key, RULE_KEYS)),
        }
    }
    if risk_level.is_none() && fields.action.is_none() && fields.first_approval_key.is_none() {
        return Err(cx.err(header, "a rule needs a risk, an action, or both"));
    }
    let action = fields.finish(cx, None)?;
    let fallback_reason = Reason::shared(&format!("policy rule {label:?}"));
    Ok(Rule {
        label,
        servers,
        tools,
        args,
        annotations,
        min_risk,
        risk: risk_level,
        override_builtin,
        action,
        reasons,
        fallback_reason,
    })
}

fn has_glob_chars(s: &str) -> bool {
    s.contains(['*', '?', '[', ']', '{', '}', '\\'])
}

fn name_patterns(
    cx: &Cx<'_>,
    name: &str,
    value: &Value<'_>,
) -> Result<Vec<NamePattern>, ConfigError> {
    strings(cx, name, value)?
        .into_iter()
        .map(|(s, span)| {
            if !has_glob_chars(s) {
                return Ok(NamePattern::Exact(s.into()));
            }
            // The common shapes skip the glob engine.
            if let Some(prefix) = s.strip_suffix('*').filter(|p| !has_glob_chars(p)) {
                return Ok(NamePattern::Prefix(prefix.into()));
            }
            if let Some(suffix) = s.strip_prefix('*').filter(|p| !has_glob_chars(p)) {
                return Ok(NamePattern::Suffix(suffix.into()));
            }
            GlobBuilder::new(s)
                .literal_separator(false)
                .case_insensitive(true)
                .build()
                .map(|g| NamePattern::Glob(g.compile_matcher()))
                .map_err(|e| cx.err(span, format!("invalid {name} glob {s:?}: {}", e.kind())))
        })
        .collect()
}

fn arg_conditions(cx: &Cx<'_>, value: &Value<'_>) -> Result<Vec<ArgCondition>, ConfigError> {
    let Some(items) = value.get_ref().as_array() else {
        return Err(type_err(
            cx,
            "args",
            value,
            "an array of tables ({ pointer = \"/path\", glob = \"...\" })",
        ));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let what = format!("args[{}]", i + 1);
        let t = table(cx, &what, item)?;
        let mut pointer = None;
        let mut matcher: Option<(&str, ValueMatcher)> = None;
        for (k, v) in entries(t) {
            let key = k.get_ref().as_ref();
            match key {
                "pointer" => {
                    let s = string(cx, &format!("{what}.pointer"), v)?;
                    pointer = Some(
                        parse_pointer(s)
                            .map_err(|m| cx.err(v.span(), format!("{what}.pointer {s:?}: {m}")))?,
                    );
                }
                "regex" | "glob" => {
                    if let Some((other, _)) = &matcher {
                        return Err(cx.err(
                            k.span(),
                            format!("{what} has both {other} and {key}; use one"),
                        ));
                    }
                    let s = string(cx, &format!("{what}.{key}"), v)?;
                    let m = if key == "regex" {
                        Regex::new(s).map(ValueMatcher::Regex).map_err(|e| {
                            cx.err(
                                v.span(),
                                format!("invalid regex {s:?}: {}", regex_message(&e)),
                            )
                        })?
                    } else {
                        GlobBuilder::new(s)
                            .literal_separator(true)
                            .build()
                            .map(|g| ValueMatcher::Glob(g.compile_matcher()))
                            .map_err(|e| {
                                cx.err(v.span(), format!("invalid glob {s:?}: {}", e.kind()))
                            })?
                    };
                    matcher = Some((if key == "regex" { "regex" } else { "glob" }, m));
                }
                _ => return Err(unknown_key(cx, k, ARG_KEYS)),
            }
        }
        let Some(pointer) = pointer else {
            return Err(cx.err(
                item.span(),
                format!("{what} needs a pointer (a JSON pointer such as \"/path\")"),
            ));
        };
        let Some((_, matcher)) = matcher else {
            return Err(cx.err(item.span(), format!("{what} needs a regex or a glob")));
        };
        out.push(ArgCondition { pointer, matcher });
    }
    Ok(out)
}

/// Splits an RFC 6901 JSON pointer into unescaped reference tokens.
fn parse_pointer(s: &str) -> Result<Vec<String>, String> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = s.strip_prefix('/') else {
        return Err("a JSON pointer starts with \"/\"".into());
    };
    rest.split('/')
        .map(|token| {
            let mut out = String::with_capacity(token.len());
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                if c == '~' {
                    match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => {
                            return Err(
                                "\"~\" must be written \"~0\" (and \"/\" inside a key \"~1\")"
                                    .into(),
                            );
                        }
                    }
                } else {
                    out.push(c);
                }
            }
            Ok(out)
        })
        .collect()
}

/// The last line of a regex syntax error, which says what is wrong.
fn regex_message(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: ").map(str::to_owned))
        .unwrap_or_else(|| text.lines().last().unwrap_or("").trim().to_owned())
}

fn annotation_condition(
    cx: &Cx<'_>,
    value: &Value<'_>,
) -> Result<AnnotationCondition, ConfigError> {
    let t = table(cx, "annotations", value)?;
    let mut c = AnnotationCondition::default();
    for (k, v) in entries(t) {
        let key = k.get_ref().as_ref();
        let slot = match key {
            "read_only_hint" => &mut c.read_only,
            "destructive_hint" => &mut c.destructive,
            "idempotent_hint" => &mut c.idempotent,
            "open_world_hint" => &mut c.open_world,
            _ => return Err(unknown_key(cx, k, ANNOTATION_KEYS)),
        };
        *slot = Some(boolean(cx, &format!("annotations.{key}"), v)?);
    }
    Ok(c)
}
