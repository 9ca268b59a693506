//! The Teams Adaptive Cards: insta snapshots of every card; every card
//! checked by Microsoft's `adaptivecards` library and rendered in headless
//! Chromium (the PNGs land in `target/tmp/teams-cards/`); every template
//! expanded by Microsoft's templating engine, as the Designer previews it;
//! Markdown from a record never turns into links, lists or emphasis; the
//! buttons hand the bot the request id, the decision and the reason.
//!
//! Node and its packages come from `HITL_NODE_MODULES` (set by
//! `./scripts/test`); without it the tests fail rather than skip.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use hitl_cards::teams::{self, Extras, View};
use hitl_cards::{Templates, template};
use serde_json::{Value, json};

use crate::fixtures::{
    all_teams_cards, now, quorum_request, refresh_users, shell_request, strings,
    teams_hostile_request,
};

const MISSING_NODE: &str =
    "set HITL_NODE_MODULES to a node_modules with adaptivecards (./scripts/test does this)";

/// The one place these tests read the environment (see `blockkit.rs`).
#[allow(clippy::disallowed_methods)]
fn node_modules() -> OsString {
    std::env::var_os("HITL_NODE_MODULES")
        .filter(|p| !p.is_empty())
        .expect(MISSING_NODE)
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/teams")
        .join(name)
}

/// Runs `node tests/teams/SCRIPT` with `args`; returns (passed, stdout, stderr).
fn node(name: &str, args: &[&Path]) -> (bool, String, String) {
    let output = Command::new("node")
        .arg(script(name))
        .args(args)
        .env("NODE_PATH", node_modules())
        .output()
        .unwrap_or_else(|e| panic!("cannot run node: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        !stderr.contains("Cannot find module"),
        "{stderr}\n{MISSING_NODE}"
    );
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).to_string(),
        stderr,
    )
}

fn write_json(dir: &Path, name: &str, value: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    path
}

fn entries(cards: &[(String, Value)]) -> Value {
    Value::Array(
        cards
            .iter()
            .map(|(name, card)| json!({ "name": name, "card": card }))
            .collect(),
    )
}

#[test]
fn teams_cards_match_their_snapshots() {
    for (name, card) in all_teams_cards() {
        insta::with_settings!({ sort_maps => true, prepend_module_to_snapshot => false }, {
            insta::assert_json_snapshot!(name, card);
        });
    }
}

#[test]
fn every_teams_card_passes_the_adaptivecards_library() {
    let dir = tempfile::tempdir().unwrap();
    let cards = all_teams_cards();
    let file = write_json(dir.path(), "cards.json", &entries(&cards));
    let (ok, out, err) = node("validate.js", &[&file]);
    assert!(ok, "adaptivecards refused a card:\n{out}{err}");
    assert!(out.contains(&format!("OK: {} cards", cards.len())), "{out}");
}

/// The check must catch what it claims to, or a pass means nothing.
#[test]
fn the_adaptivecards_check_refuses_broken_cards() {
    let card = |body: Value| json!({ "type": "AdaptiveCard", "version": "1.5", "body": body });
    let cases = [
        (
            "unknown_element",
            card(json!([{ "type": "TextBlok", "text": "x" }])),
        ),
        ("input_without_id", card(json!([{ "type": "Input.Text" }]))),
        (
            "duplicate_ids",
            card(json!([{ "type": "Input.Text", "id": "a" }, { "type": "Input.Text", "id": "a" }])),
        ),
        (
            "old_version",
            json!({ "type": "AdaptiveCard", "version": "1.2", "body": [{ "type": "TextBlock", "text": "x" }] }),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, card) in cases {
        let file = write_json(
            dir.path(),
            "cards.json",
            &json!([{ "name": name, "card": card }]),
        );
        let (ok, out, _) = node("validate.js", &[&file]);
        assert!(!ok, "{name} passed:\n{out}");
        assert!(out.contains(name), "{name}: {out}");
    }
}

/// Renders every card in Chromium, keeps the screenshots, and checks what a
/// person sees.
#[test]
fn every_teams_card_renders_in_chromium_as_a_person_sees_it() {
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("teams-cards");
    std::fs::create_dir_all(&out_dir).unwrap();
    let cards = all_teams_cards();
    let mut list = entries(&cards);
    for entry in list.as_array_mut().unwrap() {
        if entry["name"] == "teams_request_shell" {
            entry["click"] = json!("cache is disposable");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = write_json(dir.path(), "cards.json", &list);
    let (ok, out, err) = node("render.js", &[&file, &out_dir]);
    assert!(ok, "rendering failed:\n{err}");
    let report: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(report.len(), cards.len());
    for card in &report {
        let name = card["name"].as_str().unwrap();
        assert!(card["error"].is_null(), "{name}: {card}");
        let png = out_dir.join(format!("{name}.png"));
        let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
        assert!(size > 2000, "{name}: no screenshot at {}", png.display());
        assert_eq!(card["links"], 0, "{name} shows a link: {card}");
        assert_eq!(card["lists"], 0, "{name} shows a list: {card}");
        assert_eq!(card["headings"], 0, "{name}: {card}");
        let buttons: Vec<&str> = card["buttons"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        if name.starts_with("teams_request_") {
            assert_eq!(buttons, ["Approve", "Reject"], "{name}");
        } else {
            assert!(buttons.is_empty(), "{name} has buttons: {buttons:?}");
        }
    }
    let by_name = |n: &str| report.iter().find(|c| c["name"] == n).unwrap();

    // Bold comes only from the template's labels, never from a value.
    let labels = [
        "Why it needs approval",
        "Proposed action",
        "What the agent says",
        "Arguments",
        "Reason",
        "Approved",
        "Rejected",
        "Expired",
        "Withdrawn",
        "Still waiting for a decision:",
        "show ID",
        "approve ID",
        "reject ID reason",
    ];
    for card in &report {
        for bold in card["bold"].as_array().unwrap() {
            let bold = bold.as_str().unwrap();
            assert!(
                labels.contains(&bold) || by_name_is_tool_heading(card, bold),
                "{}: a value became bold: {bold:?}",
                card["name"]
            );
        }
        assert_eq!(card["italic"], 0, "{}: {card}", card["name"]);
    }

    // Hostile values show exactly as typed.
    let hostile = by_name("teams_request_hostile")["text"]
        .as_str()
        .unwrap()
        .to_string();
    for typed in [
        "**ADMIN** <at>Ana</at> &amp; [CEO](https://evil.example)",
        "[filesystem](https://evil.example)",
        "- approved by security",
        "1. click [here](https://evil.example)",
        "_urgent_",
        "**Risk: low** — ~~dangerous~~ `safe`",
        "write_file **now**",
    ] {
        assert!(
            hostile.contains(typed),
            "{typed:?} not shown as typed in:\n{hostile}"
        );
    }
    // The arguments keep their indentation.
    let shell = by_name("teams_request_shell")["text"].as_str().unwrap();
    assert!(
        shell.contains(
            "\u{a0}\u{a0}\"command\": \"rm -rf ./target/cache && cargo build --release\""
        ),
        "{shell}"
    );

    // The Approve button hands over the request id, the decision and the reason.
    let clicked = &by_name("teams_request_shell")["clicked"];
    assert_eq!(clicked["type"], "Action.Execute", "{clicked}");
    assert_eq!(clicked["verb"], "approve");
    assert_eq!(
        clicked["data"],
        json!({ "requestId": "apr_01JH2Q8Z5K3M", "decision": "approve", "reason": "cache is disposable" })
    );
}

/// The decided cards' headings (`**Approved** by …`) and the list's tool
/// names are bold by the template, around a value.
fn by_name_is_tool_heading(card: &Value, bold: &str) -> bool {
    card["name"]
        .as_str()
        .is_some_and(|n| n.starts_with("teams_pending_list_"))
        && (bold.starts_with("run_command")
            || bold.starts_with("execute_sql")
            || bold.starts_with("create_issue"))
}

#[test]
fn every_button_carries_the_request_id_and_the_decision_with_a_submit_fallback() {
    let users = refresh_users();
    let card = teams::request_card(
        &shell_request(),
        now(),
        &Templates::builtin(),
        Extras {
            refresh_user_ids: &users,
            note: None,
        },
    )
    .unwrap();
    assert_eq!(card["version"], "1.5");
    let actions = card["body"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "ActionSet")
        .unwrap()["actions"]
        .as_array()
        .unwrap()
        .clone();
    for (action, decision) in actions.iter().zip(["approve", "reject"]) {
        assert_eq!(action["type"], "Action.Execute");
        assert_eq!(action["verb"], decision);
        let data = json!({ "requestId": "apr_01JH2Q8Z5K3M", "decision": decision });
        assert_eq!(action["data"], data);
        assert_eq!(action["fallback"]["type"], "Action.Submit");
        assert_eq!(action["fallback"]["data"], data);
    }
    let input = card["body"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "Input.Text")
        .unwrap();
    assert_eq!(input["id"], teams::INPUT_REASON);
    assert_eq!(
        card["refresh"],
        json!({
            "action": { "type": "Action.Execute", "title": "Refresh", "verb": "refresh", "data": { "requestId": "apr_01JH2Q8Z5K3M" } },
            "userIds": users,
        })
    );
}

#[test]
fn refresh_names_only_user_mris_once_each_and_at_most_sixty() {
    let mut ids: Vec<String> = (0..80).map(|i| format!("29:user-{i}")).collect();
    ids.insert(0, "29:user-1".to_string());
    ids.insert(0, "8:orgid:not-a-user-mri".to_string());
    ids.insert(0, "29:".to_string());
    ids.insert(0, "29:has space".to_string());
    let kept = teams::refresh_user_ids(&ids);
    assert_eq!(kept.len(), teams::MAX_REFRESH_USERS);
    assert_eq!(kept[0], "29:user-1");
    assert_eq!(kept[1], "29:user-0");
    assert!(kept.iter().all(|id| id.starts_with("29:user-")));

    // No valid MRI: no refresh at all.
    let bad = ["ana@acme.dev".to_string()];
    let card = teams::request_card(
        &shell_request(),
        now(),
        &Templates::builtin(),
        Extras {
            refresh_user_ids: &bad,
            note: None,
        },
    )
    .unwrap();
    assert!(card.get("refresh").is_none(), "{}", card["refresh"]);
    // Decided cards never refresh.
    let decided = teams::card(
        &crate::fixtures::approved(),
        now(),
        &Templates::builtin(),
        View::Decide,
        Extras {
            refresh_user_ids: &refresh_users(),
            note: None,
        },
    )
    .unwrap();
    assert!(decided.get("refresh").is_none());
}

#[test]
fn quorum_progress_says_how_many_approvals_are_still_needed() {
    let card = teams::progress_card(
        &quorum_request(),
        now(),
        &Templates::builtin(),
        Extras::default(),
    )
    .unwrap();
    let texts: Vec<String> = strings(&card).into_iter().map(|(_, s)| s).collect();
    assert!(
        texts.iter().any(|t| t.contains("1 of 2 approvals")),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("Still needed: 1 more approval from group:dba")),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t.contains("U07QWERTY1")), "{texts:?}");
    assert!(
        !texts.iter().any(|t| t == "Approve"),
        "a status card has no buttons"
    );
}

#[test]
fn secrets_never_reach_a_teams_card() {
    for (name, card) in all_teams_cards() {
        let text = serde_json::to_string(&card).unwrap();
        for secret in [
            "AKIAIOSFODNN7EXAMPLE",
            "hunter2",
            "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
            "eyJhbGciOiJIUzI1NiJ9",
            "xoxb-1234-5678-abcdefgh",
            "9f86d081884c7d659a2feaa0c55ad015",
        ] {
            assert!(!text.contains(secret), "{name} shows {secret}");
        }
    }
}

#[test]
fn huge_values_are_cut_with_a_note_and_the_card_stays_under_teams_limit() {
    let cards = all_teams_cards();
    for (name, card) in &cards {
        let bytes = serde_json::to_vec(card).unwrap().len();
        assert!(
            bytes <= teams::limits::MAX_CARD_BYTES,
            "{name}: {bytes} bytes"
        );
    }
    let huge = &cards
        .iter()
        .find(|(n, _)| n == "teams_request_huge")
        .unwrap()
        .1;
    let texts: Vec<String> = strings(huge).into_iter().map(|(_, s)| s).collect();
    assert!(
        texts.iter().any(|t| t.contains("(truncated, ")),
        "no truncation note"
    );
    assert!(
        texts.iter().any(|t| t.contains("… and 190 more")),
        "reasons not counted"
    );
    // The path after the huge content is still shown.
    assert!(
        texts.iter().any(|t| t.contains("/tmp/big.txt")),
        "path pushed out"
    );
}

/// What the Designer shows: Microsoft's templating engine expands each file
/// with the sample data in `cards/teams/samples/` to what our engine makes
/// of it (before escaping, which the Designer does not do).
#[test]
fn every_template_previews_in_the_designer_as_the_bot_renders_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cases = Vec::new();
    let mut ours = Vec::new();
    for name in [
        "request",
        "progress",
        "approved",
        "rejected",
        "expired",
        "cancelled",
        "reminder",
        "pending_list",
    ] {
        let template: Value = serde_json::from_str(
            &std::fs::read_to_string(root.join(format!("teams/{name}.json"))).unwrap(),
        )
        .unwrap();
        let sample = root.join(format!("teams/samples/{name}.data.json"));
        let expected = designer_sample(name);
        update_or_compare(&sample, &expected);
        ours.push(template::render(&template, &expected, template::no_escape).unwrap());
        cases.push(json!({ "name": name, "template": template, "data": expected }));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = write_json(dir.path(), "cases.json", &Value::Array(cases));
    let (ok, out, err) = node("expand.js", &[&file]);
    assert!(ok, "{err}");
    let expanded: Vec<Value> = serde_json::from_str(&out).unwrap();
    for (theirs, ours) in expanded.iter().zip(&ours) {
        assert_eq!(
            stringify_numbers(theirs["card"].clone()),
            stringify_numbers(ours.clone()),
            "{} differs in the Designer",
            theirs["name"]
        );
    }
}

fn designer_sample(name: &str) -> Value {
    let now = now();
    match name {
        "pending_list" => {
            let records = crate::fixtures::pending_list(3);
            let mut data = hitl_cards::model::list_data(&records, now, teams::mention);
            data["items"] = Value::Array(
                records
                    .iter()
                    .map(|r| teams::designer_data(r, now))
                    .collect(),
            );
            data
        }
        "approved" => teams::designer_data(&crate::fixtures::approved(), now),
        "rejected" => teams::designer_data(&crate::fixtures::rejected(), now),
        "expired" => teams::designer_data(&crate::fixtures::expired(), now),
        "cancelled" => teams::designer_data(&crate::fixtures::cancelled(), now),
        "progress" => teams::designer_data(&quorum_request(), now),
        _ => teams::designer_data(&shell_request(), now),
    }
}

/// The committed sample data must be what the bot renders from; set
/// `HITL_UPDATE_SAMPLES=1` to rewrite it after changing the data model.
#[allow(clippy::disallowed_methods)]
fn update_or_compare(path: &Path, expected: &Value) {
    let text = serde_json::to_string_pretty(expected).unwrap() + "\n";
    if std::env::var_os("HITL_UPDATE_SAMPLES").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, &text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert_eq!(
        committed,
        text,
        "{} is stale: rerun with HITL_UPDATE_SAMPLES=1",
        path.display()
    );
}

/// The Designer keeps a lone `${number}` a number; ours always makes text.
fn stringify_numbers(v: Value) -> Value {
    match v {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Array(items) => Value::Array(items.into_iter().map(stringify_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, stringify_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

#[test]
fn teams_hostile_values_are_escaped_in_the_json_too() {
    let card = teams::request_card(
        &teams_hostile_request(),
        now(),
        &Templates::builtin(),
        Extras::default(),
    )
    .unwrap();
    for (at, text) in strings(&card) {
        if at.ends_with("/requestId") {
            assert_eq!(text, "apr_[x](y)", "ids round-trip unescaped");
            continue;
        }
        // Shown as plain text (notifications), where Markdown means nothing.
        if at == "/fallbackText" {
            continue;
        }
        let unescaped = text.replace("\\]", "").replace("\\[", "");
        assert!(!unescaped.contains("]("), "{at}: {text}");
        assert!(!text.contains("<at>"), "{at}: {text}");
    }
}
