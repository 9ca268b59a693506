//! A small JSON templating engine shared by the Slack and Teams cards.
//!
//! It covers the part of Adaptive Card templating the cards use, for simple
//! paths only:
//!
//! - `${path.to.field}` inside any string is replaced by the value at that
//!   path (`${$root.x}` reaches the top of the data from inside a `$data`
//!   repetition, `${$index}` is the 0-based position of the current item).
//! - An object with `"$data": "${list}"` inside an array is repeated once per
//!   item of the list, with the item as the scope of its placeholders; with
//!   an object value, it only changes the scope.
//! - An object with `"$when": "${flag}"` (or `"${!flag}"`) is left out when the
//!   flag is false, null, empty or zero.
//!
//! Every inserted value goes through the caller's [`Escape`] function, so a
//! template cannot forget to escape. The data is built by code, which may
//! mark a fragment it has already made safe (a validated mention) as
//! `{"$raw": "..."}`; it is inserted as it is. A path that does not exist in
//! the data is an error, not an empty string, so a typo in a template shows
//! up the first time it is rendered; a null value renders as "".

use std::borrow::Cow;
use std::fmt;

use serde_json::{Map, Value};

/// Escapes one inserted value. `key` is the object key of the string the
/// value lands in (`None` inside an array), so an escaper can leave values
/// that are never displayed (Slack's `action_id`, `value`) untouched.
pub type Escape = fn(key: Option<&str>, raw: &str) -> String;

/// Leaves values as they are (for data that is not shown as markup).
pub fn no_escape(_key: Option<&str>, raw: &str) -> String {
    raw.to_string()
}

/// A template that cannot be filled: where in the template, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at {at}: {message}")]
pub struct TemplateError {
    /// JSON pointer into the template (`/blocks/3/text/text`), `/` for the root.
    pub at: String,
    pub message: String,
}

/// Fills a JSON template from `data`.
pub fn render(template: &Value, data: &Value, escape: Escape) -> Result<Value, TemplateError> {
    let scope = Scope::top(data);
    match node(template, &scope, None, &At::Root, escape)? {
        Out::One(v) => Ok(v),
        Out::Skip => Err(At::Root.error("the whole template was left out by its `$when`")),
        Out::Many(_) => Err(At::Root.error("`$data` with a list must sit inside an array")),
    }
}

/// Fills the placeholders of one string template (for example a message's
/// notification text).
pub fn render_str(template: &str, data: &Value, escape: Escape) -> Result<String, TemplateError> {
    let scope = Scope::top(data);
    fill(template, &scope, None, escape).map_err(|m| At::Root.error(m))
}

/// What placeholders are looked up in: the current `$data` item (the whole
/// data outside any), the whole data for `$root`, and the item's position.
#[derive(Clone, Copy)]
struct Scope<'a> {
    root: &'a Value,
    item: &'a Value,
    index: Option<usize>,
}

impl<'a> Scope<'a> {
    fn top(data: &'a Value) -> Self {
        Scope {
            root: data,
            item: data,
            index: None,
        }
    }
}

/// Where we are in the template, kept as a cheap linked list and only turned
/// into a JSON pointer when there is an error to report.
enum At<'a> {
    Root,
    Key(&'a At<'a>, &'a str),
    Index(&'a At<'a>, usize),
}

impl At<'_> {
    fn error(&self, message: impl Into<String>) -> TemplateError {
        TemplateError {
            at: self.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Root => f.write_str("/"),
            At::Key(parent, key) => write_parent(parent, f).and_then(|_| write!(f, "/{key}")),
            At::Index(parent, i) => write_parent(parent, f).and_then(|_| write!(f, "/{i}")),
        }
    }
}

fn write_parent(parent: &At<'_>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match parent {
        At::Root => Ok(()),
        other => write!(f, "{other}"),
    }
}

/// What one template node turns into: nothing (`$when` false), one value, or
/// several (`$data` over a list, only allowed inside an array).
enum Out {
    Skip,
    One(Value),
    Many(Vec<Value>),
}

fn node(
    v: &Value,
    scope: &Scope<'_>,
    key: Option<&str>,
    at: &At<'_>,
    escape: Escape,
) -> Result<Out, TemplateError> {
    match v {
        Value::String(s) => Ok(Out::One(Value::String(
            fill(s, scope, key, escape).map_err(|m| at.error(m))?,
        ))),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match node(item, scope, None, &At::Index(at, i), escape)? {
                    Out::Skip => {}
                    Out::One(v) => out.push(v),
                    Out::Many(vs) => out.extend(vs),
                }
            }
            Ok(Out::One(Value::Array(out)))
        }
        Value::Object(map) => match map.get("$data") {
            None => element(map, scope, at, escape),
            Some(data) => {
                let data_at = At::Key(at, "$data");
                let path = whole_placeholder(data).ok_or_else(|| {
                    data_at.error("`$data` must be a single placeholder like \"${items}\"")
                })?;
                let target = resolve(path, scope).map_err(|m| data_at.error(m))?;
                match target.as_ref() {
                    Value::Array(items) => {
                        let mut out = Vec::with_capacity(items.len());
                        for (i, item) in items.iter().enumerate() {
                            let inner = Scope {
                                root: scope.root,
                                item,
                                index: Some(i),
                            };
                            if let Out::One(v) = element(map, &inner, at, escape)? {
                                out.push(v);
                            }
                        }
                        Ok(Out::Many(out))
                    }
                    Value::Null => Ok(Out::Many(Vec::new())),
                    item @ Value::Object(_) => element(
                        map,
                        &Scope {
                            root: scope.root,
                            item,
                            index: None,
                        },
                        at,
                        escape,
                    ),
                    _ => Err(data_at.error(format!("`{path}` is neither a list nor an object"))),
                }
            }
        },
        other => Ok(Out::One(other.clone())),
    }
}

/// One object: checks `$when`, then fills every property but `$data`/`$when`.
fn element(
    map: &Map<String, Value>,
    scope: &Scope<'_>,
    at: &At<'_>,
    escape: Escape,
) -> Result<Out, TemplateError> {
    if let Some(when) = map.get("$when") {
        let when_at = At::Key(at, "$when");
        let cond = whole_placeholder(when).ok_or_else(|| {
            when_at.error("`$when` must be a single placeholder like \"${flag}\" or \"${!flag}\"")
        })?;
        let (negate, path) = match cond.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, cond),
        };
        let flag = resolve(path, scope).map_err(|m| when_at.error(m))?;
        if truthy(&flag) == negate {
            return Ok(Out::Skip);
        }
    }
    let mut out = Map::new();
    for (k, v) in map {
        if k == "$data" || k == "$when" {
            continue;
        }
        match node(v, scope, Some(k), &At::Key(at, k), escape)? {
            Out::Skip => {}
            Out::One(v) => {
                out.insert(k.clone(), v);
            }
            Out::Many(_) => {
                return Err(At::Key(at, k).error("`$data` with a list must sit inside an array"));
            }
        }
    }
    Ok(Out::One(Value::Object(out)))
}

/// `"${path}"` (and nothing else) -> `path`.
fn whole_placeholder(v: &Value) -> Option<&str> {
    let s = v.as_str()?.trim();
    let inner = s.strip_prefix("${")?.strip_suffix('}')?;
    (!inner.contains('}')).then(|| inner.trim())
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Replaces every `${path}` in `s`; the error is a message without location.
fn fill(s: &str, scope: &Scope<'_>, key: Option<&str>, escape: Escape) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed placeholder in {s:?}"))?;
        let path = after[..end].trim();
        match resolve(path, scope)?.as_ref() {
            Value::Null => {}
            Value::String(v) => out.push_str(&escape(key, v)),
            v @ (Value::Number(_) | Value::Bool(_)) => out.push_str(&escape(key, &v.to_string())),
            Value::Object(o) if raw_fragment(o).is_some() => {
                out.push_str(raw_fragment(o).unwrap_or_default());
            }
            Value::Array(_) | Value::Object(_) => {
                return Err(format!(
                    "`${{{path}}}` is a list or object; only text, numbers and flags can be inserted into a string (use `$data` for lists)"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `{"$raw": "..."}`: a fragment the data builder already made safe.
fn raw_fragment(o: &Map<String, Value>) -> Option<&str> {
    match o.get("$raw") {
        Some(Value::String(raw)) if o.len() == 1 => Some(raw),
        _ => None,
    }
}

/// Looks a simple path up: `a.b.0.c`, `$root.a`, `$index`.
fn resolve<'a>(path: &str, scope: &Scope<'a>) -> Result<Cow<'a, Value>, String> {
    if path == "$index" {
        return scope
            .index
            .map(|i| Cow::Owned(Value::from(i)))
            .ok_or_else(|| "`${$index}` is only defined inside a `$data` list".to_string());
    }
    let (mut current, rest) = match path.strip_prefix("$root") {
        Some("") => return Ok(Cow::Borrowed(scope.root)),
        Some(rest) if rest.starts_with('.') => (scope.root, &rest[1..]),
        _ => (scope.item, path),
    };
    for seg in rest.split('.') {
        if seg.is_empty()
            || !seg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "`${{{path}}}` is not a simple path (letters, digits, `_`, `-`, joined by `.`; expressions are not supported)"
            ));
        }
        current = match current {
            Value::Object(map) => map
                .get(seg)
                .ok_or_else(|| format!("unknown field `{seg}` in `${{{path}}}`"))?,
            Value::Array(items) => match seg.parse::<usize>() {
                Ok(i) => items.get(i).unwrap_or(&Value::Null),
                Err(_) => return Err(format!("`{seg}` in `${{{path}}}` is not a list index")),
            },
            Value::Null => &Value::Null,
            _ => {
                return Err(format!(
                    "`${{{path}}}`: `{seg}` is looked up in a value that has no fields"
                ));
            }
        };
    }
    Ok(Cow::Borrowed(current))
}
