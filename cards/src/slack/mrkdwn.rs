//! Escaping for Slack mrkdwn, and mentions that are safe to insert.
//!
//! Slack reads `<...>` as a mention, a special command (`<!channel>`) or a
//! link, and `&` starts an entity, so every inserted value has these three
//! characters turned into `&amp;`, `&lt;` and `&gt;` (Slack's documented
//! escaping; it shows them as the characters again). Runs of backticks are
//! broken with a zero-width space as well, so a value cannot close the code
//! block around the arguments and dress the rest of its text up as the card.

use std::sync::LazyLock;

use regex::Regex;

/// Object keys whose values Slack never displays: they are ids handed back in
/// interaction payloads, so they must round-trip unchanged.
const NOT_DISPLAYED: &[&str] = &["action_id", "block_id", "value", "url"];

/// Escapes one value for Slack mrkdwn (also right for `plain_text` and the
/// notification `text`).
pub fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut prev_backtick = false;
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '`' if prev_backtick => out.push_str("\u{200B}`"),
            c => out.push(c),
        }
        prev_backtick = c == '`';
    }
    out
}

/// The [`crate::template::Escape`] used for Slack templates: escapes every
/// displayed value; ids (`action_id`, `block_id`, `value`, `url`) stay as they
/// are, because Slack hands them back verbatim and never renders them.
pub fn escape_for_key(key: Option<&str>, raw: &str) -> String {
    match key {
        Some(k) if NOT_DISPLAYED.contains(&k) => raw.to_string(),
        _ => escape(raw),
    }
}

static USER: LazyLock<Regex> =
    LazyLock::new(|| id_regex(r"^<?@?(?P<id>[UW][A-Z0-9]{6,})(?:\|[^>]*)?>?$"));
static GROUP: LazyLock<Regex> =
    LazyLock::new(|| id_regex(r"^(?:<!subteam\^)?(?P<id>S[A-Z0-9]{6,})(?:\|[^>]*)?>?$"));
static CHANNEL: LazyLock<Regex> =
    LazyLock::new(|| id_regex(r"^<?#?(?P<id>[CG][A-Z0-9]{6,})(?:\|[^>]*)?>?$"));

fn id_regex(re: &str) -> Regex {
    // Constant patterns, exercised by the mention tests: compiling cannot fail.
    Regex::new(re).expect("static mention pattern compiles")
}

/// A Slack user (`U…`/`W…`), user group (`S…`) or channel (`C…`/`G…`) id,
/// bare or already in `<@U…>` / `<!subteam^S…>` / `<#C…>` form, becomes a
/// mention; anything else (a name, `group:sre`, an email) is escaped text.
/// Only a well-formed id is ever turned into markup, so a decider's name
/// cannot smuggle `<!channel>` in.
pub fn mention(who: &str) -> String {
    let who = who.trim();
    let id = |re: &Regex| {
        re.captures(who)
            .filter(|c| c["id"].chars().any(|ch| ch.is_ascii_digit()))
            .map(|c| c["id"].to_string())
    };
    if let Some(id) = id(&USER) {
        format!("<@{id}>")
    } else if let Some(id) = id(&GROUP) {
        format!("<!subteam^{id}>")
    } else if let Some(id) = id(&CHANNEL) {
        format!("<#{id}>")
    } else {
        escape(who)
    }
}
