//! insta JSON snapshots of every rendered card (`cargo insta review` to
//! accept a change). Ids and times are fixed by the fixtures and `now`.

use serde_json::Value;

use crate::fixtures::all_messages;

fn snapshot_all(prefix: &str) {
    let messages: Vec<(String, Value)> = all_messages()
        .into_iter()
        .filter(|(name, _)| name.starts_with(prefix))
        .collect();
    assert!(!messages.is_empty(), "no fixture starts with {prefix}");
    for (name, message) in messages {
        // Key order does not matter to Slack; sorting keeps the snapshots
        // stable if another crate turns on serde_json's `preserve_order`.
        insta::with_settings!({ sort_maps => true, prepend_module_to_snapshot => false }, {
            insta::assert_json_snapshot!(name, message);
        });
    }
}

#[test]
fn request_cards_show_tool_risk_reasons_arguments_deadline_and_buttons() {
    snapshot_all("request_");
}

#[test]
fn decided_cards_say_who_decided_when_and_why() {
    snapshot_all("decided_");
}

#[test]
fn reminders_mention_the_escalation_target() {
    snapshot_all("reminder_");
}

#[test]
fn pending_lists_show_each_request_and_count_the_rest() {
    snapshot_all("pending_list_");
}
