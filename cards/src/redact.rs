//! Redaction of secrets in tool arguments and free text, before anything is
//! shown on a card or (later) written to a log.
//!
//! Two rules, applied recursively:
//! - by key: the value of any object key that names a secret (`password`,
//!   `api_key`, `Authorization`, `session_id`, `X-Auth-Token`, ...) becomes
//!   `"[redacted]"`, whatever its type, except `null` and booleans, which
//!   carry nothing; a key that merely hints at key material (`key`,
//!   `signature`, `hmac`, `salt`) is redacted when its value is a long
//!   high-entropy hex or base64 string;
//! - by value: strings that look like credentials (AWS access key ids,
//!   `Bearer` tokens, GitHub, Slack, GitLab and npm tokens, OpenAI,
//!   Anthropic, Stripe and Google keys, PEM private keys, JWTs,
//!   `password=...` pairs, `curl -u user:pass`, `sshpass -p`, MySQL's
//!   `-ppass`, passwords in URLs) are cut out wherever they
//!   appear, leaving the rest of the text readable; then the formats of
//!   gitleaks' maintained rule set ([`gitleaks`]), some 200 providers.
//!
//! Redaction fails towards hiding: `max_tokens` is redacted too, because
//! "token" is in its name. That is the price of never showing a real token.

pub mod gitleaks;

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};
use serde_json::{Map, Value};

/// What a redacted value or fragment is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Key names containing one of these (lowercased, with `_`, `-`, `.` and
/// spaces removed) hold secrets.
const SECRET_KEY_PARTS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "authorization",
    "privatekey",
    "accesskey",
    "credential",
    "cookie",
    "session",
];

/// Key names with one of these as a whole word (`auth`, `x-auth`, `db_pwd`)
/// hold secrets; as substrings they would catch `author` or `pwdhash`-like
/// false friends.
const SECRET_KEY_WORDS: &[&str] = &["auth", "pwd", "pass"];

/// Key names with one of these as a word hold key material when the value
/// looks random (`signing_key`, `hmacKey`, `sig`).
const KEY_MATERIAL_WORDS: &[&str] = &["key", "sig", "signature", "hmac", "salt", "nonce"];

/// Returns a copy of `value` with secrets replaced by [`REDACTED`]. Object
/// keys come out sorted, so the result reads the same whatever order the
/// agent sent.
pub fn redact_value(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for key in keys {
                let item = &map[key.as_str()];
                out.insert(key.clone(), redact_entry(key, item));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(redact_value).collect()),
        Value::String(s) => Value::String(redact_text(s).into_owned()),
        other => other.clone(),
    }
}

fn redact_entry(key: &str, item: &Value) -> Value {
    let hides = match item {
        Value::Null | Value::Bool(_) => false,
        Value::String(s) if s.is_empty() => false,
        Value::String(s) => is_secret_key(key) || (is_key_material_key(key) && looks_random(s)),
        _ => is_secret_key(key),
    };
    if hides {
        Value::String(REDACTED.to_string())
    } else {
        redact_value(item)
    }
}

/// Whether an object key names a secret (see the module docs).
pub fn is_secret_key(key: &str) -> bool {
    let squashed: String = key
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_KEY_PARTS.iter().any(|part| squashed.contains(part))
        || key_words(key).any(|w| SECRET_KEY_WORDS.contains(&w.as_str()))
}

fn is_key_material_key(key: &str) -> bool {
    key_words(key).any(|w| KEY_MATERIAL_WORDS.contains(&w.as_str()))
}

/// Splits `signingKey`, `signing_key`, `Signing-Key` into lowercase words.
fn key_words(key: &str) -> impl Iterator<Item = String> + '_ {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in key.chars() {
        if !c.is_alphanumeric() {
            words.push(std::mem::take(&mut word));
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower {
            words.push(std::mem::take(&mut word));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        word.extend(c.to_lowercase());
    }
    words.push(word);
    words.into_iter().filter(|w| !w.is_empty())
}

/// A long hex or base64 string with high character entropy: what keys,
/// signatures and salts look like, and what words and ids do not.
fn looks_random(s: &str) -> bool {
    let s = s.trim();
    let hex = s.len() >= 32 && s.chars().all(|c| c.is_ascii_hexdigit());
    let base64 = s.len() >= 20
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_'))
        && s.chars().any(|c| c.is_ascii_digit())
        && s.chars().any(|c| c.is_ascii_alphabetic());
    // Hex tops out at 4 bits per character, base64 at 6; real keys come close,
    // identifiers like `aaaa-bbbb-1111` do not.
    (hex && shannon_entropy(s) >= 3.0) || (base64 && shannon_entropy(s) >= 3.5)
}

fn shannon_entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[usize::from(b)] += 1;
    }
    let len = s.len() as f64;
    counts
        .iter()
        .filter(|&&n| n > 0)
        .map(|&n| {
            let p = f64::from(n) / len;
            -p * p.log2()
        })
        .sum()
}

/// One value pattern and what to put in place of a match.
struct Pattern {
    regex: Regex,
    /// `$name` references keep the harmless part (the `Bearer ` prefix, the
    /// `password=` key) in front of the redaction mark.
    replacement: &'static str,
}

static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    let p = |re: &str, replacement: &'static str| Pattern {
        // The patterns are constants checked by the redaction tests, so
        // compiling them cannot fail at run time.
        regex: Regex::new(re).expect("static redaction pattern compiles"),
        replacement,
    };
    vec![
        // PEM private keys, with or without the END line (a cut-off paste).
        p(
            r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\z)",
            REDACTED,
        ),
        // AWS access key ids (long-term AKIA, temporary ASIA).
        p(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", REDACTED),
        // GitHub tokens: personal, OAuth, user-to-server, server-to-server, refresh, fine-grained.
        p(
            r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{22,})",
            REDACTED,
        ),
        // Slack bot, user, app-level and config tokens.
        p(r"\bxox[bpasre]-[A-Za-z0-9-]{8,}", REDACTED),
        p(r"\bxapp-[A-Za-z0-9-]{8,}", REDACTED),
        // JSON Web Tokens: base64url header starting `{"`, payload, optional signature.
        p(
            r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.?[A-Za-z0-9_-]*",
            REDACTED,
        ),
        // HTTP bearer tokens, wherever they appear.
        p(
            r"(?i)\b(?P<scheme>bearer)\s+[A-Za-z0-9._~+/=-]{8,}",
            "${scheme} [redacted]",
        ),
        // An Authorization header's whole value (Basic, token, custom schemes).
        p(
            r#"(?i)(?P<key>\b(?:proxy-)?authorization["']?\s*[:=]\s*["']?)[^"'\r\n]+"#,
            "${key}[redacted]",
        ),
        // `password=...`, `"api_key": "..."`, `secret: ...` in commands and config text.
        p(
            r#"(?i)(?P<key>\b[a-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?|auth\b)[a-z0-9_.-]*["']?\s*[:=]\s*["']?)[^\s"'&;,]{4,}"#,
            "${key}[redacted]",
        ),
        // `--password hunter2`, `-token abc` on command lines.
        p(
            r#"(?i)(?P<key>(?:^|\s)--?[a-z0-9_-]*(?:password|passwd|pwd|secret|token|api-?key|access-?key|private-?key|credentials?)[a-z0-9_-]*\s+["']?)[^\s"'-][^\s"']{3,}"#,
            "${key}[redacted]",
        ),
        // Passwords given as flags: `curl -u user:pass` (and `--user`,
        // `--proxy-user`, `-U`), `sshpass -p pass`, and MySQL's attached
        // `-ppass` (only its tools: elsewhere `-p` is a port or a flag set).
        p(
            r#"(?P<key>(?:^|\s)(?:-u|-U|--user|--proxy-user)(?:\s+|=)["']?[^\s:"']*:)[^\s"']+"#,
            "${key}[redacted]",
        ),
        p(
            r#"(?P<key>\bsshpass\b[^|;&\n]*?\s-p\s*["']?)[^\s"']+"#,
            "${key}[redacted]",
        ),
        p(
            r#"(?P<key>\b(?:mysql[a-z]*|mariadb[a-z-]*)\b[^|;&\n]*?\s-p)[^\s"']+"#,
            "${key}[redacted]",
        ),
        // Well-known key formats: OpenAI and Anthropic `sk-`, Stripe secret
        // and restricted keys, Google API keys, GitLab and npm tokens.
        p(r"\bsk-[A-Za-z0-9_-]{20,}", REDACTED),
        p(r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{10,}", REDACTED),
        p(r"\bAIza[0-9A-Za-z_-]{35}", REDACTED),
        p(r"\bglpat-[0-9A-Za-z_-]{20,}", REDACTED),
        p(r"\bnpm_[A-Za-z0-9]{36}\b", REDACTED),
        // Passwords in URLs: scheme://user:password@host.
        p(
            r"(?P<prefix>[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)[^/\s@]+@",
            "${prefix}[redacted]@",
        ),
    ]
});

/// Cuts credential-looking fragments out of free text (see the module docs).
pub fn redact_text(text: &str) -> Cow<'_, str> {
    let out = hand_rules(text);
    match gitleaks::redact(&out) {
        Cow::Borrowed(_) => out,
        Cow::Owned(more) => Cow::Owned(more),
    }
}

fn hand_rules(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    for pattern in PATTERNS.iter() {
        if let Cow::Owned(replaced) = pattern.regex.replace_all(&out, |caps: &Captures<'_>| {
            let mut dst = String::new();
            caps.expand(pattern.replacement, &mut dst);
            dst
        }) {
            out = Cow::Owned(replaced);
        }
    }
    out
}
