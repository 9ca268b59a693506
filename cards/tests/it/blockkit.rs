//! Every rendered message (and every raw template file) checked against
//! Block Kit's rules by `cards/tests/blockkit/validate_blocks.py`, which uses
//! Python slack_sdk's block models plus the documented limits they miss.
//!
//! The interpreter comes from `HITL_TEST_PYTHON`; without it the tests fail
//! rather than skip, so a CI that forgot the install step cannot pass.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::fixtures::all_messages;

const MISSING_PYTHON: &str =
    "set HITL_TEST_PYTHON to a python with slack_sdk (./scripts/test does this)";

/// The one place the tests read the environment. clippy.toml bans
/// `std::env::var*` to keep settings in the binaries' clap config; a test
/// harness has no clap, and reading at run time (not `option_env!`) means a
/// changed variable takes effect without a rebuild.
#[allow(clippy::disallowed_methods)]
fn test_python() -> OsString {
    std::env::var_os("HITL_TEST_PYTHON")
        .filter(|p| !p.is_empty())
        .expect(MISSING_PYTHON)
}

fn validator() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/blockkit/validate_blocks.py")
}

/// Runs the validator on `entries`; returns (passed, what it printed).
fn validate(entries: &[Value]) -> (bool, String) {
    let python = test_python();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("messages.json");
    std::fs::write(&file, serde_json::to_vec_pretty(entries).unwrap()).unwrap();
    let output = Command::new(&python)
        .arg(validator())
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python:?}: {e}; {MISSING_PYTHON}"));
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if printed.contains("ModuleNotFoundError") {
        panic!("{python:?} has no slack_sdk: {printed}\n{MISSING_PYTHON}");
    }
    (output.status.success(), printed)
}

#[test]
fn every_rendered_message_passes_block_kit_checks() {
    let entries: Vec<Value> = all_messages()
        .into_iter()
        .map(|(name, message)| json!({ "name": name, "kind": "message", "message": message }))
        .collect();
    let (ok, printed) = validate(&entries);
    assert!(ok, "Block Kit check failed:\n{printed}");
    assert!(
        printed.contains(&format!("OK: {} messages", entries.len())),
        "{printed}"
    );
}

/// What makes a template paste into Block Kit Builder: valid Block Kit with
/// the placeholders as plain strings, directives only in `block_id`.
#[test]
fn every_template_file_is_valid_block_kit_as_it_is() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("slack");
    let mut entries = Vec::new();
    for file in std::fs::read_dir(&dir).unwrap() {
        let path = file.unwrap().path();
        let template: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        entries.push(json!({ "name": name, "kind": "template", "message": template }));
    }
    assert_eq!(entries.len(), 7, "one file per card");
    let (ok, printed) = validate(&entries);
    assert!(ok, "a template is not valid Block Kit as it is:\n{printed}");
}

/// The validator itself must catch what it claims to, or a pass means nothing.
#[test]
fn the_validator_rejects_each_kind_of_broken_message() {
    let button = |action_id: &str, style: &str| {
        json!({ "type": "button", "action_id": action_id, "style": style,
                "text": { "type": "plain_text", "text": "Go" }, "value": "x" })
    };
    let section =
        |text: &str| json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } });
    let cases = [
        (
            "bad_style",
            json!([{ "type": "actions", "elements": [button("a", "red")] }]),
            "is not one of",
        ),
        (
            "duplicate_action_id",
            json!([{ "type": "actions", "elements": [button("a", "primary"), button("a", "danger")] }]),
            "already used",
        ),
        (
            "too_many_blocks",
            Value::Array((0..51).map(|_| section("x")).collect()),
            "51 blocks > 50",
        ),
        (
            "typo_key",
            json!([{ "type": "section", "txet": "x", "text": { "type": "mrkdwn", "text": "x" } }]),
            "dropped",
        ),
        (
            "unknown_type",
            json!([{ "type": "sectoin", "text": { "type": "mrkdwn", "text": "x" } }]),
            "not recognised",
        ),
        (
            "header_too_long",
            json!([{ "type": "header", "text": { "type": "plain_text", "text": "h".repeat(151) } }]),
            "header",
        ),
        (
            "section_too_long",
            json!([section(&"s".repeat(3001))]),
            "section",
        ),
        (
            "field_too_long",
            json!([{ "type": "section", "fields": [{ "type": "mrkdwn", "text": "f".repeat(2001) }] }]),
            "2001 characters > 2000",
        ),
        (
            "button_text_too_long",
            json!([{ "type": "actions", "elements": [{ "type": "button", "action_id": "a",
                     "text": { "type": "plain_text", "text": "b".repeat(76) }, "value": "x" }] }]),
            "actions",
        ),
        ("empty_text", json!([section(" ")]), "empty text"),
    ];
    for (name, blocks, expected) in cases {
        let entries =
            [json!({ "name": name, "message": { "text": "fallback", "blocks": blocks } })];
        let (ok, printed) = validate(&entries);
        assert!(!ok, "{name} passed the validator:\n{printed}");
        assert!(
            printed.contains(expected),
            "{name}: expected {expected:?} in:\n{printed}"
        );
    }
    let no_text = [json!({ "name": "no_text", "message": { "blocks": [section("x")] } })];
    let (ok, printed) = validate(&no_text);
    assert!(!ok && printed.contains("notification text"), "{printed}");
}
