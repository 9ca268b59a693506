//! Long values are cut within Block Kit's limits with a visible note, never
//! through an entity, a mention or a code fence.

use std::borrow::Cow;

use hitl_cards::slack::limits::{self, fit_message, truncate, truncation_note};
use hitl_cards::{Templates, slack};
use serde_json::{Value, json};

use crate::fixtures::{huge_request, now, pending_list};

fn len(s: &str) -> usize {
    s.chars().count()
}

#[test]
fn text_within_the_limit_is_untouched() {
    assert!(matches!(truncate("hello", 5), Cow::Borrowed("hello")));
    assert!(matches!(truncate("", 0), Cow::Borrowed("")));
}

#[test]
fn a_cut_says_how_many_characters_were_left_out() {
    let text = "x".repeat(200);
    let cut = truncate(&text, 100);
    assert!(len(&cut) <= 100, "{}", len(&cut));
    let kept = cut.split('…').next().unwrap();
    assert_eq!(cut, format!("{kept}{}", truncation_note(200 - len(kept))));
    assert!(cut.ends_with(" more characters)"));
}

#[test]
fn a_cut_never_splits_an_entity_and_counts_it_as_one_character() {
    let text = "&amp;".repeat(100); // 500 characters, 100 shown
    for limit in 60..80 {
        let cut = truncate(&text, limit);
        assert!(len(&cut) <= limit);
        let kept = cut.split('…').next().unwrap();
        assert_eq!(kept.len() % 5, 0, "limit {limit}: {kept:?}");
        assert!(
            kept.chars()
                .collect::<Vec<_>>()
                .chunks(5)
                .all(|c| c.iter().collect::<String>() == "&amp;")
        );
        let entities = kept.len() / 5;
        assert!(cut.ends_with(&truncation_note(100 - entities)), "{cut}");
    }
    let mixed = format!("{}{}", "a".repeat(48), "&lt;&gt;".repeat(10));
    for limit in 85..95 {
        let cut = truncate(&mixed, limit);
        let kept = cut.split('…').next().unwrap();
        assert!(
            !kept.ends_with('&')
                && !kept.ends_with("&l")
                && !kept.ends_with("&lt")
                && !kept.ends_with("&g"),
            "{kept:?}"
        );
    }
}

#[test]
fn a_cut_never_splits_a_mention() {
    let text = format!(
        "{}<@U024BE7LH> and more text {}",
        "a".repeat(40),
        "b".repeat(100)
    );
    for limit in 80..95 {
        let cut = truncate(&text, limit);
        let kept = cut.split('…').next().unwrap();
        assert!(
            !kept.contains('<') || kept.contains("<@U024BE7LH>"),
            "limit {limit}: {kept:?}"
        );
    }
}

#[test]
fn a_cut_inside_a_code_block_closes_it() {
    let text = format!("*Arguments*\n```\n{}\n```", "line\n".repeat(200));
    let cut = truncate(&text, 300);
    assert!(len(&cut) <= 300);
    assert_eq!(cut.matches("```").count(), 2, "{cut}");
    assert!(cut.contains("\n```\n… (truncated, "), "{cut}");
}

#[test]
fn tiny_limits_get_a_bare_ellipsis() {
    let cut = truncate("a very long confirm button label indeed", 30);
    assert_eq!(len(&cut), 30);
    assert!(cut.ends_with('…'));
}

fn text_obj(kind: &str, text: &str) -> Value {
    json!({ "type": kind, "text": text })
}

/// One message with every limited place overfilled; after fitting, each is
/// within its limit and ends with the note.
#[test]
fn every_block_kit_limit_is_enforced() {
    let long = "y".repeat(5000);
    let button = json!({
        "type": "button", "action_id": "b", "value": "v", "text": text_obj("plain_text", &long),
        "confirm": {
            "title": text_obj("plain_text", &long), "text": text_obj("mrkdwn", &long),
            "confirm": text_obj("plain_text", &long), "deny": text_obj("plain_text", &long),
        },
    });
    let mut message = json!({
        "text": "z".repeat(50_000),
        "blocks": [
            { "type": "header", "text": text_obj("plain_text", &long) },
            { "type": "section", "text": text_obj("mrkdwn", &long),
              "fields": (0..12).map(|_| text_obj("mrkdwn", &long)).collect::<Vec<_>>(),
              "accessory": button.clone() },
            { "type": "context", "elements": (0..12).map(|_| text_obj("mrkdwn", &long)).collect::<Vec<_>>() },
            { "type": "actions", "elements": (0..30).map(|_| button.clone()).collect::<Vec<_>>() },
            { "type": "section", "text": text_obj("mrkdwn", "  ") },
        ],
    });
    fit_message(&mut message);

    let check = |v: &Value, limit: usize, what: &str| {
        let s = v["text"].as_str().unwrap();
        assert!(len(s) <= limit, "{what}: {} > {limit}", len(s));
        assert!(
            s.ends_with(" more characters)") || s.ends_with('…'),
            "{what}: no note"
        );
    };
    assert!(len(message["text"].as_str().unwrap()) <= limits::MESSAGE_TEXT);
    let b = &message["blocks"];
    check(&b[0]["text"], limits::HEADER_TEXT, "header");
    check(&b[1]["text"], limits::SECTION_TEXT, "section");
    let fields = b[1]["fields"].as_array().unwrap();
    assert_eq!(fields.len(), limits::SECTION_FIELDS);
    fields[..9]
        .iter()
        .for_each(|f| check(f, limits::SECTION_FIELD_TEXT, "field"));
    assert_eq!(fields[9]["text"], "… (truncated, 3 more fields)");
    let elements = b[2]["elements"].as_array().unwrap();
    assert_eq!(elements.len(), limits::CONTEXT_ELEMENTS);
    elements[..9]
        .iter()
        .for_each(|e| check(e, limits::CONTEXT_TEXT, "context"));
    assert_eq!(elements[9]["text"], "… (truncated, 3 more items)");
    let buttons = b[3]["elements"].as_array().unwrap();
    assert_eq!(buttons.len(), limits::ACTIONS_ELEMENTS);
    for button in buttons.iter().chain([&b[1]["accessory"]]) {
        check(&button["text"], limits::BUTTON_TEXT, "button");
        check(
            &button["confirm"]["title"],
            limits::CONFIRM_TITLE,
            "confirm title",
        );
        check(
            &button["confirm"]["text"],
            limits::CONFIRM_TEXT,
            "confirm text",
        );
        check(
            &button["confirm"]["confirm"],
            limits::CONFIRM_BUTTON,
            "confirm label",
        );
        check(
            &button["confirm"]["deny"],
            limits::CONFIRM_BUTTON,
            "deny label",
        );
    }
    assert_eq!(
        b[4]["text"]["text"], "—",
        "empty text is replaced: Slack refuses it"
    );
}

#[test]
fn a_message_keeps_at_most_fifty_blocks() {
    let mut message = json!({
        "text": "t",
        "blocks": (0..60).map(|i| json!({ "type": "section", "text": text_obj("mrkdwn", &i.to_string()) })).collect::<Vec<_>>(),
    });
    fit_message(&mut message);
    let blocks = message["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), limits::MAX_BLOCKS);
    assert_eq!(blocks[48]["text"]["text"], "48");
    assert_eq!(
        blocks[49]["elements"][0]["text"],
        "… (truncated, 11 more blocks)"
    );
}

#[test]
fn a_huge_request_renders_within_every_limit_with_notes() {
    let message = slack::request_message(&huge_request(), now(), &Templates::builtin()).unwrap();
    let blocks = message["blocks"].as_array().unwrap();
    let header = blocks[0]["text"]["text"].as_str().unwrap();
    assert!(
        len(header) <= limits::HEADER_TEXT && header.contains("more characters)"),
        "{header}"
    );
    for field in blocks[1]["fields"].as_array().unwrap() {
        assert!(len(field["text"].as_str().unwrap()) <= limits::SECTION_FIELD_TEXT);
    }
    let sections: Vec<&str> = blocks
        .iter()
        .filter(|b| b["type"] == "section")
        .filter_map(|b| b["text"]["text"].as_str())
        .collect();
    for text in &sections {
        assert!(len(text) <= limits::SECTION_TEXT, "{}", len(text));
    }
    // The prompt of 4000 `<` is cut on entity boundaries and counted as shown.
    let prompt = sections
        .iter()
        .find(|s| s.starts_with("*What the agent says*"))
        .unwrap();
    let kept = prompt
        .trim_start_matches("*What the agent says*\n")
        .split('…')
        .next()
        .unwrap();
    assert_eq!(kept.len() % 4, 0, "only whole &lt; entities");
    assert!(
        prompt.ends_with(&truncation_note(4000 - kept.len() / 4)),
        "{prompt}"
    );
    // The arguments stay a closed code block.
    let args = sections
        .iter()
        .find(|s| s.starts_with("*Arguments*"))
        .unwrap();
    assert_eq!(args.matches("```").count(), 2);
    assert!(args.ends_with(" more characters)"), "{args}");
    // One huge value is shortened on its own, so the path after it still shows.
    assert!(
        args.contains("xxx… (truncated, 9000 more characters)"),
        "{args}"
    );
    assert!(args.contains("\"path\": \"/tmp/big.txt\""), "{args}");
}

#[test]
fn a_long_pending_list_is_counted_not_cut() {
    let message =
        slack::pending_list_message(&pending_list(60), now(), &Templates::builtin()).unwrap();
    let blocks = message["blocks"].as_array().unwrap();
    assert!(blocks.len() <= limits::MAX_BLOCKS);
    let items = blocks.iter().filter(|b| b["type"] == "section").count();
    assert_eq!(items, hitl_cards::model::MAX_LISTED);
    let all = serde_json::to_string(&message).unwrap();
    assert!(all.contains("… and 40 more, not listed here."), "{all}");
    assert_eq!(message["text"], "60 pending approval requests");
}
