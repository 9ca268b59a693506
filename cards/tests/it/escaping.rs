//! Inserted values are escaped for mrkdwn: no mention, special command or
//! link can come from a record, whatever field it hides in.

use hitl_cards::Templates;
use hitl_cards::slack::{self, escape, escape_for_key, mention};
use regex::Regex;

use crate::fixtures::{all_messages, hostile_request, now, strings};

#[test]
fn escape_turns_slack_control_characters_into_entities() {
    assert_eq!(escape("a & b"), "a &amp; b");
    assert_eq!(escape("<!channel>"), "&lt;!channel&gt;");
    assert_eq!(escape("<@U0HACKER1>"), "&lt;@U0HACKER1&gt;");
    assert_eq!(escape("<!subteam^S0123ABCD>"), "&lt;!subteam^S0123ABCD&gt;");
    assert_eq!(
        escape("<https://evil.example|click>"),
        "&lt;https://evil.example|click&gt;"
    );
    assert_eq!(escape("<#C0GENERAL>"), "&lt;#C0GENERAL&gt;");
    // A value that is literally "&amp;" must show as typed, so it is escaped again.
    assert_eq!(escape("&amp;"), "&amp;amp;");
    assert_eq!(
        escape("plain text, *bold* and :emoji:"),
        "plain text, *bold* and :emoji:"
    );
}

#[test]
fn escape_breaks_code_fences_so_values_cannot_close_the_arguments_block() {
    let escaped = escape("```\n*APPROVED*\n```");
    assert!(!escaped.contains("```"), "{escaped:?}");
    assert!(!escaped.contains("``"), "{escaped:?}");
    assert_eq!(escaped.replace('\u{200B}', ""), "```\n*APPROVED*\n```");
    assert_eq!(escape("`inline`"), "`inline`");
}

#[test]
fn ids_that_slack_hands_back_are_not_escaped() {
    for key in ["value", "action_id", "block_id", "url"] {
        assert_eq!(escape_for_key(Some(key), "a&b<c>"), "a&b<c>", "{key}");
    }
    for key in [Some("text"), None, Some("title")] {
        assert_eq!(escape_for_key(key, "a&b<c>"), "a&amp;b&lt;c&gt;");
    }
}

#[test]
fn only_well_formed_slack_ids_become_mentions() {
    assert_eq!(mention("U024BE7LH"), "<@U024BE7LH>");
    assert_eq!(mention("W0123ABCD"), "<@W0123ABCD>");
    assert_eq!(mention("<@U024BE7LH>"), "<@U024BE7LH>");
    assert_eq!(mention("<@U024BE7LH|ana>"), "<@U024BE7LH>");
    assert_eq!(mention("S0614TZR7"), "<!subteam^S0614TZR7>");
    assert_eq!(
        mention("<!subteam^S0614TZR7|@oncall>"),
        "<!subteam^S0614TZR7>"
    );
    assert_eq!(mention("C0GENERAL1"), "<#C0GENERAL1>");
    assert_eq!(mention("group:platform"), "group:platform");
    assert_eq!(mention("ana@acme.dev"), "ana@acme.dev");
    assert_eq!(mention("UNKNOWNUSER"), "UNKNOWNUSER", "ids have digits");
    assert_eq!(mention("<!channel>"), "&lt;!channel&gt;");
    assert_eq!(mention("<!here>"), "&lt;!here&gt;");
    assert_eq!(mention("U024BE7LH<!here>"), "U024BE7LH&lt;!here&gt;");
    assert_eq!(
        mention("<@U024BE7LH> <!channel>"),
        "&lt;@U024BE7LH&gt; &lt;!channel&gt;"
    );
}

/// Every `<` in every rendered message opens a mention we made from a
/// validated id: nothing else (no `<!channel>`, no link) gets through.
#[test]
fn no_rendered_message_contains_markup_from_a_value() {
    let allowed = Regex::new(r"^<(?:@[UW][A-Z0-9]+|!subteam\^S[A-Z0-9]+|#[CG][A-Z0-9]+)>").unwrap();
    for (name, message) in all_messages() {
        for (at, text) in strings(&message) {
            if at.ends_with("/value") {
                continue; // Never displayed; checked below.
            }
            for (i, _) in text.match_indices('<') {
                assert!(
                    allowed.is_match(&text[i..]),
                    "{name}{at}: markup from a value: {text:?}"
                );
            }
            for forbidden in [
                "<!channel",
                "<!here",
                "<!everyone",
                "<http",
                "<#C0GENERAL",
                "<@U0HACKER1",
                "<@U0ADMIN01",
            ] {
                assert!(
                    !text.contains(forbidden),
                    "{name}{at}: {forbidden} in {text:?}"
                );
            }
        }
    }
}

#[test]
fn hostile_values_are_shown_as_typed() {
    let message = slack::request_message(&hostile_request(), now(), &Templates::builtin()).unwrap();
    let all: String = strings(&message)
        .into_iter()
        .map(|(_, s)| s + "\n")
        .collect();
    assert!(
        all.contains("&lt;!channel&gt; &amp; &lt;@U0HACKER1&gt;"),
        "requester"
    );
    assert!(
        all.contains("&lt;https://evil.example|click to approve&gt;"),
        "prompt link"
    );
    assert!(all.contains("&lt;#C0GENERAL&gt;"), "server");
    assert!(
        all.contains("&amp;lt;already escaped&amp;gt;"),
        "pre-escaped argument"
    );
    // The approvers list: a bare <!channel> and an id with a command glued on
    // are names, not mentions.
    assert!(
        all.contains("Can decide: &lt;!channel&gt;, U024BE7LH&lt;!here&gt;"),
        "{all}"
    );
}

#[test]
fn button_values_carry_the_request_id_unchanged() {
    let message = slack::request_message(&hostile_request(), now(), &Templates::builtin()).unwrap();
    let values: Vec<String> = strings(&message)
        .into_iter()
        .filter(|(at, _)| at.ends_with("/value"))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(values, ["apr_<!channel>", "apr_<!channel>"]);
}

#[test]
fn the_notification_text_is_escaped_too() {
    let message = slack::request_message(&hostile_request(), now(), &Templates::builtin()).unwrap();
    let text = message["text"].as_str().unwrap();
    assert!(!text.contains('<'), "{text}");
    assert!(
        text.contains("write_file &lt;!channel&gt; on &lt;#C0GENERAL&gt;"),
        "{text}"
    );
}
