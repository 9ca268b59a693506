//! Escaping for the Markdown that Teams renders in Adaptive Cards, and the
//! display of people.
//!
//! Teams reads Markdown in a `TextBlock`'s `text` and in a fact's `title`
//! and `value`: bold and italic (`**`, `*`, `_`), lists (`- `, `+ `, `1. `)
//! and links (`[text](url)`); it renders no HTML, and a mention needs an
//! entity the card does not carry. Every inserted value therefore has each
//! Markdown control character backslash-escaped (CommonMark's rule, which
//! Teams and the Adaptive Cards Designer follow: `\*` shows as `*`), line
//! starts that would open a list or a heading neutralised, leading spaces
//! kept as no-break spaces (Markdown would drop them, and the arguments'
//! indentation matters), and a line break turned into a paragraph break,
//! the only break Teams shows outside a list.

/// Characters with a meaning in Teams Markdown (or in the CommonMark that
/// the Designer and the JavaScript renderer use), escaped wherever they are.
const CONTROL: &[char] = &['\\', '*', '_', '[', ']', '`', '~', '<', '>', '&', '#', '|'];

/// Object keys whose values Teams never displays: ids and data handed back
/// to the bot in an invoke, which must round-trip unchanged.
const NOT_DISPLAYED: &[&str] = &[
    "requestId",
    "decision",
    "verb",
    "id",
    "url",
    "iconUrl",
    "style",
    "type",
    "version",
    "$schema",
    "associatedInputs",
];

/// Keys whose values Teams shows as plain text (no Markdown), where a
/// backslash would show as itself.
const PLAIN_TEXT: &[&str] = &["fallbackText", "speak", "placeholder", "label", "altText"];

/// Escapes one value for Teams Markdown (see the module docs).
pub fn escape(raw: &str) -> String {
    let text = raw.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push_str("\n\n");
        }
        escape_line(line, &mut out);
    }
    out
}

fn escape_line(line: &str, out: &mut String) {
    let body = line.trim_start_matches([' ', '\t']);
    for c in line[..line.len() - body.len()].chars() {
        // A tab is four columns in the arguments' pretty JSON.
        let n = if c == '\t' { 4 } else { 1 };
        (0..n).for_each(|_| out.push('\u{00A0}'));
    }
    // A list marker or rule (`-`, `+`, `=`) or an ordered-list number (`12.`,
    // `3)`) at the start of a line would turn the value into a list or a rule.
    let digits = body.bytes().take_while(u8::is_ascii_digit).count();
    let ordered = digits > 0
        && matches!(body.as_bytes().get(digits), Some(b'.' | b')'))
        && body[digits + 1..]
            .chars()
            .next()
            .is_none_or(char::is_whitespace);
    for (at, c) in body.char_indices() {
        let escape = CONTROL.contains(&c)
            || (at == 0 && matches!(c, '-' | '+' | '='))
            || (ordered && at == digits);
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
}

/// The [`crate::template::Escape`] used for Teams templates: Markdown
/// escaping for displayed values, none for ids the bot gets back and for
/// texts Teams shows without Markdown.
pub fn escape_for_key(key: Option<&str>, raw: &str) -> String {
    match key {
        Some(k) if NOT_DISPLAYED.contains(&k) || PLAIN_TEXT.contains(&k) => raw.to_string(),
        _ => escape(raw),
    }
}

/// How a person, group or channel named in a record is shown on a Teams
/// card: as escaped text. A Teams id (`teams:<AAD object id or UPN>`) is
/// shown without its platform prefix; every other id as it is written, so
/// an approver can tell a Slack id from a group. No value ever becomes a
/// mention: a Teams mention needs an entity, which only the bot can add for
/// an id it has validated.
pub fn mention(who: &str) -> String {
    let who = who.trim();
    escape(who.strip_prefix("teams:").unwrap_or(who))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_backslash_escaped() {
        assert_eq!(escape("**bold**"), "\\*\\*bold\\*\\*");
        assert_eq!(escape("write_file"), "write\\_file");
        assert_eq!(
            escape("[x](https://e.example)"),
            "\\[x\\](https://e.example)"
        );
        assert_eq!(escape("<at>Ana</at>"), "\\<at\\>Ana\\</at\\>");
        assert_eq!(escape("a \\ b"), "a \\\\ b");
        assert_eq!(escape("&lt;"), "\\&lt;");
        assert_eq!(escape("plain text, 42."), "plain text, 42.");
    }

    #[test]
    fn line_starts_cannot_open_lists_and_lines_stay_apart() {
        assert_eq!(escape("- a\n+ b\n1. c"), "\\- a\n\n\\+ b\n\n1\\. c");
        assert_eq!(escape("12) x"), "12\\) x");
        assert_eq!(escape("1.5 is fine"), "1.5 is fine");
        assert_eq!(escape("a - b"), "a - b");
        assert_eq!(escape("---"), "\\---");
        assert_eq!(escape("-1"), "\\-1");
        assert_eq!(escape("a\r\nb"), "a\n\nb");
    }

    #[test]
    fn leading_spaces_survive_as_no_break_spaces() {
        assert_eq!(escape("  \"a\": 1"), "\u{a0}\u{a0}\"a\": 1");
        assert_eq!(escape("\tx"), "\u{a0}\u{a0}\u{a0}\u{a0}x");
    }

    #[test]
    fn ids_and_plain_texts_are_left_alone() {
        assert_eq!(escape_for_key(Some("requestId"), "apr_1*"), "apr_1*");
        assert_eq!(escape_for_key(Some("fallbackText"), "a_b"), "a_b");
        assert_eq!(escape_for_key(Some("text"), "a_b"), "a\\_b");
        assert_eq!(escape_for_key(None, "a_b"), "a\\_b");
    }

    #[test]
    fn people_are_text_without_the_teams_prefix() {
        assert_eq!(mention("teams:ana@acme.dev"), "ana@acme.dev");
        assert_eq!(mention("group:dba"), "group:dba");
        assert_eq!(mention("U024BE7LH"), "U024BE7LH");
        assert_eq!(mention("<at>x</at>"), "\\<at\\>x\\</at\\>");
    }
}
