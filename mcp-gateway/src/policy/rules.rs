//! Rules from the policy file, compiled: name patterns, argument
//! conditions (JSON pointer + regex or glob) and annotation conditions.
//! Everything here is built once at load time and only read afterwards.

use std::sync::Arc;

use globset::GlobMatcher;
use hitl_wire::Risk;
use regex::Regex;
use serde_json::Value;

use super::{ActionSpec, Reason, ToolAnnotations, ToolCall, paths};

/// A server or tool name pattern, compared without regard to ASCII case
/// (`deny delete_*` also stops `Delete_File`).
#[derive(Clone, Debug)]
pub(crate) enum NamePattern {
    /// No glob characters: compared as a string.
    Exact(Box<str>),
    /// `prefix*`
    Prefix(Box<str>),
    /// `*suffix`
    Suffix(Box<str>),
    Glob(GlobMatcher),
}

impl NamePattern {
    fn matches(&self, name: &str) -> bool {
        let n = name.as_bytes();
        match self {
            NamePattern::Exact(s) => name.eq_ignore_ascii_case(s),
            NamePattern::Prefix(p) => {
                n.len() >= p.len() && n[..p.len()].eq_ignore_ascii_case(p.as_bytes())
            }
            NamePattern::Suffix(p) => {
                n.len() >= p.len() && n[n.len() - p.len()..].eq_ignore_ascii_case(p.as_bytes())
            }
            NamePattern::Glob(g) => g.is_match(name),
        }
    }
}

/// How an argument value is tested.
#[derive(Clone, Debug)]
pub(crate) enum ValueMatcher {
    /// Matches anywhere in the value unless anchored.
    Regex(Regex),
    /// Matches the whole value; `*` stays within a path segment, `**`
    /// crosses segments.
    Glob(GlobMatcher),
}

impl ValueMatcher {
    fn matches_raw(&self, s: &str) -> bool {
        match self {
            ValueMatcher::Regex(r) => r.is_match(s),
            ValueMatcher::Glob(g) => g.is_match(s),
        }
    }

    /// A path-looking string is also tested in its normalised form
    /// (`/tmp/x/../../etc/cron.d/j` is `/etc/cron.d/j`). A lenient rule
    /// (one that can let a call through) must match both forms, a strict
    /// one either, so `..` can neither smuggle a path into an allow rule
    /// nor out of a deny rule.
    fn matches_str(&self, s: &str, lenient: bool) -> bool {
        let raw = self.matches_raw(s);
        match paths::normalise(s) {
            Some(norm) if norm != s => {
                let normalised = self.matches_raw(&norm);
                if lenient {
                    raw && normalised
                } else {
                    raw || normalised
                }
            }
            _ => raw,
        }
    }

    /// Strings are tested as they are (and normalised, when paths);
    /// numbers, booleans and null by their JSON text; arrays match when any
    /// element does.
    fn matches(&self, value: &Value, lenient: bool) -> bool {
        match value {
            Value::String(s) => self.matches_str(s, lenient),
            Value::Number(n) => self.matches_raw(&n.to_string()),
            Value::Bool(b) => self.matches_raw(if *b { "true" } else { "false" }),
            Value::Null => self.matches_raw("null"),
            // A lenient rule must hold for every element, a strict one
            // for any.
            Value::Array(items) => {
                let mut scalars = items.iter().filter(|i| !i.is_array() && !i.is_object());
                if lenient {
                    !items.is_empty()
                        && items.iter().all(|i| !i.is_array() && !i.is_object())
                        && scalars.all(|item| self.matches(item, lenient))
                } else {
                    scalars.any(|item| self.matches(item, lenient))
                }
            }
            Value::Object(_) => false,
        }
    }
}

/// One argument condition: the value at a JSON pointer matches.
#[derive(Clone, Debug)]
pub(crate) struct ArgCondition {
    /// The pointer's reference tokens, unescaped (`~1` -> `/`, `~0` -> `~`).
    pub(crate) pointer: Vec<String>,
    pub(crate) matcher: ValueMatcher,
}

impl ArgCondition {
    fn matches(&self, arguments: &Value, lenient: bool) -> bool {
        let mut v = arguments;
        for token in &self.pointer {
            v = match v {
                Value::Object(map) => match map.get(token.as_str()) {
                    Some(next) => next,
                    None => return false,
                },
                Value::Array(items) => match array_index(token).and_then(|i| items.get(i)) {
                    Some(next) => next,
                    None => return false,
                },
                _ => return false,
            };
        }
        self.matcher.matches(v, lenient)
    }
}

/// An array index as RFC 6901 writes it: digits, no leading zero.
fn array_index(token: &str) -> Option<usize> {
    if token.is_empty() || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    if !token.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    token.parse().ok()
}

/// Required annotation values; `None` means either.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct AnnotationCondition {
    pub(crate) read_only: Option<bool>,
    pub(crate) destructive: Option<bool>,
    pub(crate) idempotent: Option<bool>,
    pub(crate) open_world: Option<bool>,
}

impl AnnotationCondition {
    fn is_empty(&self) -> bool {
        self.read_only.is_none()
            && self.destructive.is_none()
            && self.idempotent.is_none()
            && self.open_world.is_none()
    }

    /// Absent hints take the MCP defaults: not read-only, destructive (when
    /// not read-only), not idempotent, open world.
    fn matches(&self, a: ToolAnnotations) -> bool {
        let read_only = a.read_only_hint.unwrap_or(false);
        let destructive = !read_only && a.destructive_hint.unwrap_or(true);
        let idempotent = !read_only && a.idempotent_hint.unwrap_or(false);
        let open_world = a.open_world_hint.unwrap_or(true);
        self.read_only.is_none_or(|want| want == read_only)
            && self.destructive.is_none_or(|want| want == destructive)
            && self.idempotent.is_none_or(|want| want == idempotent)
            && self.open_world.is_none_or(|want| want == open_world)
    }
}

/// One `[[rule]]`, compiled.
#[derive(Clone, Debug)]
pub(crate) struct Rule {
    /// The rule's name, or `rule N`.
    pub(crate) label: Arc<str>,
    /// Any of these server names (empty: any server).
    pub(crate) servers: Vec<NamePattern>,
    /// Any of these tool names (empty: any tool).
    pub(crate) tools: Vec<NamePattern>,
    /// All of these argument conditions.
    pub(crate) args: Vec<ArgCondition>,
    pub(crate) annotations: AnnotationCondition,
    /// Only when the built-in analysis rates the call at least this risky.
    pub(crate) min_risk: Option<Risk>,
    pub(crate) risk: Option<Risk>,
    pub(crate) override_builtin: bool,
    pub(crate) action: Option<ActionSpec>,
    pub(crate) reasons: Vec<Reason>,
    /// Said when the rule gives no reasons of its own.
    pub(crate) fallback_reason: Reason,
}

impl Rule {
    /// Whether the rule applies to this tool at all (server, name,
    /// annotations), whatever the arguments.
    pub(crate) fn matches_tool(
        &self,
        server: Option<&str>,
        tool: &str,
        annotations: ToolAnnotations,
    ) -> bool {
        if !self.servers.is_empty() {
            let Some(server) = server else {
                return false;
            };
            if !self.servers.iter().any(|p| p.matches(server)) {
                return false;
            }
        }
        if !self.tools.is_empty() && !self.tools.iter().any(|p| p.matches(tool)) {
            return false;
        }
        self.annotations.is_empty() || self.annotations.matches(annotations)
    }

    pub(crate) fn matches(&self, call: &ToolCall<'_>, builtin_risk: Risk) -> bool {
        self.min_risk.is_none_or(|min| builtin_risk >= min)
            && self.matches_tool(call.server, call.tool, call.annotations)
            && self
                .args
                .iter()
                .all(|c| c.matches(call.arguments, self.lenient()))
    }

    /// Whether the rule can let a call run that the levels alone would
    /// hold: it allows, lowers the risk, or sets it to low or medium.
    fn lenient(&self) -> bool {
        self.override_builtin
            || matches!(self.action, Some(ActionSpec::Allow))
            || matches!(self.risk, Some(Risk::Low | Risk::Medium))
    }

    /// Whether every call of a tool that passes [`Rule::matches_tool`]
    /// also matches, given the least built-in risk such a call can get.
    pub(crate) fn matches_every_call(&self, floor: Risk) -> bool {
        self.args.is_empty() && self.min_risk.is_none_or(|min| floor >= min)
    }
}
