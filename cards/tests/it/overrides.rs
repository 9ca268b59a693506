//! The override folder: a file there replaces the built-in of the same path;
//! broken files are refused with their name when loading.

use std::fs;
use std::path::Path;

use hitl_cards::{CardError, Templates, slack};
use serde_json::json;

use crate::fixtures::{approved, now, shell_request};

fn folder_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    dir
}

fn load_error(files: &[(&str, &str)]) -> String {
    let dir = folder_with(files);
    match Templates::load(Some(dir.path())) {
        Ok(_) => panic!("{files:?} loaded"),
        Err(e) => e.to_string(),
    }
}

const RESTYLED: &str = r#"{
  "text": "Please look at ${tool}",
  "blocks": [
    { "type": "section", "text": { "type": "mrkdwn", "text": "Restyled: ${tool} for ${requester}" } },
    { "block_id": "$when ${has_reasons}", "type": "context", "elements": [{ "type": "mrkdwn", "text": "${reasons_text}" }] },
    { "type": "actions", "elements": [
      { "type": "button", "action_id": "hitl_approve", "style": "primary", "text": { "type": "plain_text", "text": "OK" }, "value": "${request_id}" }
    ] }
  ]
}"#;

#[test]
fn no_folder_means_the_builtin_templates() {
    let record = shell_request();
    assert_eq!(
        slack::request_message(&record, now(), &Templates::load(None).unwrap()).unwrap(),
        slack::request_message(&record, now(), &Templates::builtin()).unwrap()
    );
}

#[test]
fn a_file_in_the_folder_replaces_that_template_only() {
    let dir = folder_with(&[
        ("slack/request.json", RESTYLED),
        ("README.md", "notes"),
        ("slack/notes.txt", "x"),
    ]);
    let templates = Templates::load(Some(dir.path())).unwrap();
    let message = slack::request_message(&shell_request(), now(), &templates).unwrap();
    assert_eq!(message["text"], "Please look at run_command");
    assert_eq!(
        message["blocks"][0]["text"]["text"],
        "Restyled: run_command for claude-code (ana@acme.dev)"
    );
    assert_eq!(message["blocks"][1]["type"], "context");
    assert!(
        message["blocks"][1].get("block_id").is_none(),
        "directive removed"
    );
    assert_eq!(
        message["blocks"][2]["elements"][0]["value"],
        "apr_01JH2Q8Z5K3M"
    );
    // The decided card still comes from the built-in.
    assert_eq!(
        slack::decided_message(&approved(), now(), &templates).unwrap(),
        slack::decided_message(&approved(), now(), &Templates::builtin()).unwrap()
    );
}

#[test]
fn overrides_may_use_the_engine_keys_too() {
    let template = json!({ "blocks": [
        { "$when": "${has_reason}", "type": "section", "text": { "type": "mrkdwn", "text": "Why: ${reason}" } },
        { "type": "section", "text": { "type": "mrkdwn", "text": "Done: ${tool}" } },
    ] })
    .to_string();
    let dir = folder_with(&[("slack/approved.json", &template)]);
    let templates = Templates::load(Some(dir.path())).unwrap();
    let message = slack::decided_message(&approved(), now(), &templates).unwrap();
    assert_eq!(
        message["blocks"][0]["text"]["text"],
        "Why: Cache is safe to drop; build is reproducible."
    );
    assert_eq!(
        message["text"],
        "Approved by U024BE7LH: run_command on shell"
    );
}

#[test]
fn malformed_json_is_an_error_naming_the_file() {
    let e = load_error(&[("slack/rejected.json", "{ \"blocks\": [ }")]);
    assert!(
        e.contains("slack/rejected.json") && e.contains("is not valid JSON"),
        "{e}"
    );
    assert!(e.contains("line 1"), "{e}");
}

#[test]
fn a_template_of_the_wrong_shape_is_an_error_naming_the_file() {
    for (text, expected) in [
        ("[]", "must be a JSON object"),
        ("{}", "must have \"blocks\""),
        (r#"{"blocks": ["x"]}"#, "list of objects"),
        (
            r#"{"blocks": [], "attachments": []}"#,
            "unknown top-level key \"attachments\"",
        ),
        (r#"{"blocks": [], "text": 5}"#, "\"text\" must be a string"),
    ] {
        let e = load_error(&[("slack/expired.json", text)]);
        assert!(
            e.contains("slack/expired.json") && e.contains(expected),
            "{text}: {e}"
        );
    }
}

#[test]
fn an_unknown_placeholder_is_found_at_load_time() {
    let text =
        r#"{"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "${toool}"}}]}"#;
    let e = load_error(&[("slack/reminder.json", text)]);
    assert!(e.contains("slack/reminder.json"), "{e}");
    assert!(
        e.contains("/blocks/0/text/text") && e.contains("unknown field `toool`"),
        "{e}"
    );
}

#[test]
fn a_bad_block_id_directive_is_an_error() {
    let text = r#"{"blocks": [{"block_id": "$whenever ${x}", "type": "divider"}]}"#;
    let e = load_error(&[("slack/pending_list.json", text)]);
    assert!(
        e.contains("slack/pending_list.json") && e.contains("is not a directive"),
        "{e}"
    );
}

#[test]
fn a_misnamed_template_file_is_an_error() {
    let e = load_error(&[("slack/requets.json", RESTYLED)]);
    assert!(
        e.contains("slack/requets.json") && e.contains("expected one of: request.json"),
        "{e}"
    );
}

#[test]
fn a_missing_folder_is_an_error() {
    let e = Templates::load(Some(Path::new("/nonexistent/hitl-cards"))).unwrap_err();
    assert!(matches!(e, CardError::Override { .. }));
    assert!(
        e.to_string().contains("/nonexistent/hitl-cards") && e.to_string().contains("not a folder"),
        "{e}"
    );
}

#[test]
fn a_card_for_the_wrong_status_is_refused() {
    let t = Templates::builtin();
    let e = slack::request_message(&approved(), now(), &t).unwrap_err();
    assert_eq!(
        e.to_string(),
        "request apr_01JH2Q8Z5K3M is approved; this card is for pending requests"
    );
    assert!(slack::decided_message(&shell_request(), now(), &t).is_err());
    assert!(slack::reminder_message(&approved(), now(), &t).is_err());
    assert_eq!(
        slack::card_message(&approved(), now(), &t).unwrap(),
        slack::decided_message(&approved(), now(), &t).unwrap()
    );
}
