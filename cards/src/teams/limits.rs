//! How big a Teams card may be, and cutting a rendered card down to it.
//!
//! Teams refuses a bot message over about 28 KB, card and envelope
//! together, and long texts make a card nobody reads. Texts are cut on the
//! final, escaped text, never through an escape (`\*`), and say how much was
//! left out: `… (truncated, N more characters)`, counting characters as
//! shown. Then, if the whole card is still too big, the longest text is
//! halved until it fits.

use std::borrow::Cow;

use serde_json::Value;

/// The most a rendered card may weigh as JSON, leaving room under Teams'
/// limit for the activity around it and the refresh list.
pub const MAX_CARD_BYTES: usize = 24_000;
/// One `TextBlock`'s text.
pub const TEXT: usize = 2000;
/// One fact's value.
pub const FACT_VALUE: usize = 600;
/// One fact's title.
pub const FACT_TITLE: usize = 100;
/// Lines of the arguments shown; the rest are counted.
pub const ARGUMENT_LINES: usize = 40;
/// Reasons listed one by one; the rest are counted.
pub const REASONS: usize = 10;

/// The shortest a text is cut to while making the whole card fit.
const MIN_TEXT: usize = 60;

/// The note that ends a cut text.
pub fn truncation_note(more: usize) -> String {
    format!("… (truncated, {more} more characters)")
}

/// Cuts `text` to at most `limit` characters (see the module docs). Text
/// that fits comes back unchanged.
pub fn truncate(text: &str, limit: usize) -> Cow<'_, str> {
    if text.chars().count() <= limit {
        return Cow::Borrowed(text);
    }
    let units = units(text);
    let total_shown = units.len();
    // The note for the whole text is at least as long as the real one.
    let reserve = truncation_note(total_shown).chars().count();
    let (mut kept_chars, mut kept_shown, mut end) = (0, 0, 0);
    for unit in &units {
        let chars = unit.chars().count();
        if kept_chars + chars + reserve > limit {
            break;
        }
        kept_chars += chars;
        kept_shown += 1;
        end += unit.len();
    }
    let kept = text[..end].trim_end_matches(['\n', ' ']);
    Cow::Owned(format!(
        "{kept}{}",
        truncation_note(total_shown - kept_shown)
    ))
}

/// The text split into what shows as one character: an escape pair (`\*`)
/// or a single character.
fn units(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let mut len = c.len_utf8();
        if c == '\\'
            && let Some(next) = rest[1..].chars().next()
        {
            len += next.len_utf8();
        }
        out.push(&rest[..len]);
        rest = &rest[len..];
    }
    out
}

/// Cuts a rendered card down to the limits (see the module docs).
pub fn fit_card(card: &mut Value) {
    each_text(card, &mut |text, limit| fit_string(text, limit));
    let mut rounds = 0;
    while serde_json::to_vec(card).map_or(0, |v| v.len()) > MAX_CARD_BYTES && rounds < 64 {
        rounds += 1;
        // The longest text, by its position in a walk of the card.
        let (mut at, mut longest, mut i) = (0, 0, 0);
        each_text(card, &mut |text, _| {
            let n = text.chars().count();
            if n > longest {
                (at, longest) = (i, n);
            }
            i += 1;
        });
        if longest <= MIN_TEXT {
            return;
        }
        let mut i = 0;
        each_text(card, &mut |text, _| {
            if i == at {
                fit_string(text, (longest / 2).max(MIN_TEXT));
            }
            i += 1;
        });
    }
}

fn fit_string(text: &mut String, limit: usize) {
    if let Cow::Owned(cut) = truncate(text, limit) {
        *text = cut;
    }
}

/// Calls `f` with every displayed text of the card and its limit: each
/// `TextBlock`'s text and each fact's title and value, at any depth.
fn each_text(v: &mut Value, f: &mut impl FnMut(&mut String, usize)) {
    match v {
        Value::Object(map) => {
            let is_text_block = map.get("type").and_then(Value::as_str) == Some("TextBlock");
            let is_fact =
                map.contains_key("title") && map.contains_key("value") && !map.contains_key("type");
            for (k, child) in map.iter_mut() {
                match (k.as_str(), child) {
                    ("text", Value::String(s)) if is_text_block => f(s, TEXT),
                    ("value", Value::String(s)) if is_fact => f(s, FACT_VALUE),
                    ("title", Value::String(s)) if is_fact => f(s, FACT_TITLE),
                    (_, child) => each_text(child, f),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| each_text(item, f)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_texts_are_untouched_and_long_ones_say_what_was_cut() {
        assert_eq!(truncate("hello", 10), "hello");
        let text = "x".repeat(100);
        let cut = truncate(&text, 50);
        assert!(cut.chars().count() <= 50, "{cut}");
        assert!(cut.ends_with(&truncation_note(100 - cut.find('…').unwrap())));
    }

    #[test]
    fn an_escape_pair_is_never_split() {
        let text = "\\*".repeat(100);
        let cut = truncate(&text, 60);
        let kept = &cut[..cut.find('…').unwrap()];
        assert_eq!(kept.len() % 2, 0, "{cut}");
        assert!(
            kept.chars()
                .collect::<Vec<_>>()
                .chunks(2)
                .all(|p| p == ['\\', '*'])
        );
        let more = 100 - kept.len() / 2;
        assert!(cut.ends_with(&truncation_note(more)), "{cut}");
    }

    #[test]
    fn a_card_too_big_as_a_whole_is_cut_until_it_fits() {
        let blocks: Vec<Value> = (0..40)
            .map(|_| json!({ "type": "TextBlock", "text": "y".repeat(1500) }))
            .collect();
        let mut card = json!({ "type": "AdaptiveCard", "body": blocks });
        fit_card(&mut card);
        assert!(serde_json::to_vec(&card).unwrap().len() <= MAX_CARD_BYTES);
        let text = card["body"][0]["text"].as_str().unwrap();
        assert!(text.contains("(truncated, "), "{text}");
    }
}
