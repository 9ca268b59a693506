//! Bounded fuzzing of the policy file parser: arbitrary text and mutations
//! of the shipped template either load or are refused with an error that
//! names the file; nothing panics. Fixed case counts keep it to seconds.

use hitl_mcp::Policy;
use proptest::prelude::*;

const TEMPLATE: &str = include_str!("../../src/policy/default-policy.toml");

fn check(text: &str) -> Result<(), TestCaseError> {
    if let Err(e) = Policy::from_toml(text, "policy.toml") {
        let msg = e.to_string();
        prop_assert!(msg.contains("policy.toml"), "error without the file: {msg}");
    }
    Ok(())
}

/// TOML-ish lines built from the policy's own keys and values.
fn policy_line() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "name",
        "tool",
        "server",
        "risk",
        "action",
        "override",
        "approvers",
        "timeout_secs",
        "shadow",
        "auto_approve_low_risk",
        "args",
        "path",
        "command",
        "sql",
        "reason",
    ]);
    let value = prop_oneof![
        Just("\"low\"".to_owned()),
        Just("\"critical\"".to_owned()),
        Just("\"deny\"".to_owned()),
        Just("\"require_approval\"".to_owned()),
        Just("true".to_owned()),
        Just("[\"a\", \"b\"]".to_owned()),
        Just("{ x = 1 }".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        "\"[ -~]{0,20}\"",
        "[ -~]{0,20}",
    ];
    prop_oneof![
        (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        prop::sample::select(vec![
            "[[rule]]",
            "[levels]",
            "[gateway]",
            "[[rule.match]]",
            "[x]",
            ""
        ])
        .prop_map(str::to_owned),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_text_loads_or_is_refused_naming_the_file(text in "\\PC{0,400}") {
        check(&text)?;
    }

    #[test]
    fn policy_shaped_lines_load_or_are_refused(lines in prop::collection::vec(policy_line(), 0..24)) {
        check(&lines.join("\n"))?;
    }

    #[test]
    fn mutations_of_the_template_load_or_are_refused(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let mut bytes = TEMPLATE.as_bytes().to_vec();
        for (at, byte, kind) in edits {
            let i = at.index(bytes.len().max(1)).min(bytes.len().saturating_sub(1));
            match kind {
                0 if !bytes.is_empty() => bytes[i] = byte,
                1 if !bytes.is_empty() => { bytes.remove(i); }
                _ => bytes.insert(i, byte),
            }
        }
        check(&String::from_utf8_lossy(&bytes))?;
    }
}

#[test]
fn the_template_itself_loads() {
    Policy::from_toml(TEMPLATE, "policy.toml").unwrap();
}
