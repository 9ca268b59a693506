//! Every mistake in a policy file is refused with the file, the line and
//! the rule it is in, and says what was expected.

use hitl_mcp::{Policy, PolicyError};

/// Loads `lines` (joined with newlines) as `policy.toml` and returns the
/// error message.
fn error(lines: &[&str]) -> String {
    let text = lines.join("\n");
    match Policy::from_toml(&text, "policy.toml") {
        Ok(_) => panic!("should not load:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[track_caller]
fn assert_error(lines: &[&str], want: &str) {
    assert_eq!(error(lines), want);
}

#[test]
fn unknown_risk_names_file_line_and_rule() {
    assert_error(
        &[
            "# policy",
            "[[rule]]",
            "name = \"a\"",
            "risk = \"low\"",
            "",
            "[[rule]]",
            "name = \"b\"",
            "risk = \"high\"",
            "",
            "[[rule]]",
            "name = \"block-prod-db\"",
            "server = \"prod\"",
            "tool = \"query\"",
            "risk = \"severe\"",
        ],
        "policy.toml:14: rule 3 (\"block-prod-db\"): unknown risk \"severe\"; expected low, medium, high, critical",
    );
}

#[test]
fn rule_errors_without_a_name_give_the_number() {
    assert_error(
        &["[[rule]]", "tool = \"x\"", "action = \"maybe\""],
        "policy.toml:3: rule 1: unknown action \"maybe\"; expected allow, require_approval, deny",
    );
}

#[test]
fn unknown_keys_are_refused_everywhere() {
    assert_error(
        &["shadow = false", "strict = true"],
        "policy.toml:2: unknown key \"strict\"; expected one of shadow, auto_approve_low_risk, levels, rule",
    );
    assert_error(
        &[
            "[[rule]]",
            "name = \"r\"",
            "tools = \"x\"",
            "risk = \"low\"",
        ],
        "policy.toml:3: rule 1 (\"r\"): unknown key \"tools\"; expected one of name, description, server, tool, args, annotations, min_risk, risk, override, reasons, action, approvers, quorum, timeout_secs, channel, escalation",
    );
    assert_error(
        &[
            "[[rule]]",
            "name = \"r\"",
            "risk = \"low\"",
            "annotations = { readOnlyHint = true }",
        ],
        "policy.toml:4: rule 1 (\"r\"): unknown key \"readOnlyHint\"; expected one of read_only_hint, destructive_hint, idempotent_hint, open_world_hint",
    );
    assert_error(
        &[
            "[[rule]]",
            "risk = \"low\"",
            "args = [{ pointer = \"/a\", glob = \"x\", case = \"i\" }]",
        ],
        "policy.toml:3: rule 1: unknown key \"case\"; expected one of pointer, regex, glob",
    );
    assert_error(
        &["[levels.high]", "timeout = 5"],
        "policy.toml:2: [levels.high]: unknown key \"timeout\"; expected one of action, approvers, quorum, timeout_secs, channel, escalation",
    );
    assert_error(
        &["[levels.severe]", "action = \"deny\""],
        "policy.toml:1: unknown risk level \"severe\" in [levels]; expected low, medium, high, critical",
    );
    assert_error(
        &[
            "[[rule]]",
            "risk = \"low\"",
            "action = \"require_approval\"",
            "escalation = { after_secs = 5, who = \"x\" }",
        ],
        "policy.toml:4: rule 1: unknown key \"who\"; expected one of after_secs, to",
    );
    assert_error(
        &["[[rules]]", "risk = \"low\""],
        "policy.toml:1: unknown key \"rules\"; write each rule as a [[rule]] table",
    );
}

#[test]
fn wrong_types_say_what_was_expected() {
    assert_error(
        &["shadow = \"yes\""],
        "policy.toml:1: shadow must be true or false, not a string",
    );
    assert_error(
        &["[[rule]]", "name = \"r\"", "risk = 3"],
        "policy.toml:3: rule 1 (\"r\"): risk must be a string, not an integer",
    );
    assert_error(
        &["[[rule]]", "risk = \"low\"", "tool = 7"],
        "policy.toml:3: rule 1: tool must be a string or an array of strings, not an integer",
    );
    assert_error(
        &["[[rule]]", "risk = \"low\"", "tool = []"],
        "policy.toml:3: rule 1: tool must not be empty",
    );
    assert_error(
        &["[[rule]]", "risk = \"low\"", "reasons = \"one\""],
        "policy.toml:3: rule 1: reasons must be an array of strings, not a string",
    );
    assert_error(
        &["[rule]", "risk = \"low\""],
        "policy.toml:1: rule must be an array of tables: write each rule as [[rule]]",
    );
    assert_error(
        &["levels = 5"],
        "policy.toml:1: levels must be a table, not an integer",
    );
    assert_error(
        &["[[rule]]", "risk = \"low\"", "override = \"yes\""],
        "policy.toml:3: rule 1: override must be true or false, not a string",
    );
}

#[test]
fn approval_settings_need_require_approval() {
    assert_error(
        &[
            "[[rule]]",
            "name = \"r\"",
            "tool = \"x\"",
            "action = \"allow\"",
            "approvers = [\"bob\"]",
        ],
        "policy.toml:5: rule 1 (\"r\"): approvers only applies with action = \"require_approval\"",
    );
    assert_error(
        &["[[rule]]", "tool = \"x\"", "risk = \"high\"", "quorum = 2"],
        "policy.toml:4: rule 1: quorum needs action = \"require_approval\"",
    );
    assert_error(
        &["[levels.low]", "timeout_secs = 30"],
        "policy.toml:2: [levels.low]: timeout_secs needs action = \"require_approval\"",
    );
    assert_error(
        &["[levels.critical]", "action = \"deny\"", "channel = \"#x\""],
        "policy.toml:3: [levels.critical]: channel only applies with action = \"require_approval\"",
    );
}

#[test]
fn numbers_are_checked() {
    assert_error(
        &[
            "[[rule]]",
            "tool = \"x\"",
            "action = \"require_approval\"",
            "quorum = 0",
        ],
        "policy.toml:4: rule 1: quorum must be between 1 and 100, not 0",
    );
    assert_error(
        &[
            "[[rule]]",
            "tool = \"x\"",
            "action = \"require_approval\"",
            "timeout_secs = 0",
        ],
        "policy.toml:4: rule 1: timeout_secs must be between 1 and 604800, not 0",
    );
    assert_error(
        &["[levels.high]", "timeout_secs = 9999999"],
        "policy.toml:2: [levels.high]: timeout_secs must be between 1 and 604800, not 9999999",
    );
    assert_error(
        &["[levels.high]", "quorum = \"two\""],
        "policy.toml:2: [levels.high]: quorum must be a whole number, not a string",
    );
    assert_error(
        &[
            "[[rule]]",
            "name = \"pair\"",
            "tool = \"x\"",
            "action = \"require_approval\"",
            "approvers = [\"alice\"]",
            "quorum = 2",
        ],
        "policy.toml:6: rule 1 (\"pair\"): quorum 2 needs at least 2 approvers, but approvers names only 1 (and no group:)",
    );
    assert_error(
        &[
            "[[rule]]",
            "tool = \"x\"",
            "action = \"require_approval\"",
            "timeout_secs = 60",
            "escalation = { after_secs = 60 }",
        ],
        "policy.toml:5: rule 1: escalation.after_secs (60) must be less than timeout_secs (60)",
    );
    assert_error(
        &[
            "[[rule]]",
            "tool = \"x\"",
            "action = \"require_approval\"",
            "escalation = { to = \"x\" }",
        ],
        "policy.toml:4: rule 1: escalation needs after_secs",
    );
}

#[test]
fn patterns_are_compiled_at_load() {
    assert_error(
        &[
            "[[rule]]",
            "name = \"r\"",
            "risk = \"low\"",
            "args = [{ pointer = \"/a\", regex = \"(unclosed\" }]",
        ],
        "policy.toml:4: rule 1 (\"r\"): invalid regex \"(unclosed\": unclosed group",
    );
    assert_error(
        &["[[rule]]", "risk = \"low\"", "tool = \"[abc\""],
        "policy.toml:3: rule 1: invalid tool glob \"[abc\": unclosed character class; missing ']'",
    );
    assert_error(
        &["[[rule]]", "risk = \"low\"", "server = [\"ok\", \"{a,b\"]"],
        "policy.toml:3: rule 1: invalid server glob \"{a,b\": unclosed alternate group; missing '}' (maybe escape '{' with '[{]'?)",
    );
    assert_error(
        &[
            "[[rule]]",
            "risk = \"low\"",
            "args = [{ pointer = \"/a\", glob = \"[x\" }]",
        ],
        "policy.toml:3: rule 1: invalid glob \"[x\": unclosed character class; missing ']'",
    );
    assert_error(
        &[
            "[[rule]]",
            "risk = \"low\"",
            "args = [{ pointer = \"path\", glob = \"x\" }]",
        ],
        "policy.toml:3: rule 1: args[1].pointer \"path\": a JSON pointer starts with \"/\"",
    );
    assert_error(
        &[
            "[[rule]]",
            "risk = \"low\"",
            "args = [{ pointer = \"/a~2\", glob = \"x\" }]",
        ],
        "policy.toml:3: rule 1: args[1].pointer \"/a~2\": \"~\" must be written \"~0\" (and \"/\" inside a key \"~1\")",
    );
    assert_error(
        &[
            "[[rule]]",
            "risk = \"low\"",
            "args = [{ pointer = \"/a\", glob = \"x\", regex = \"y\" }]",
        ],
        "policy.toml:3: rule 1: args[1] has both glob and regex; use one",
    );
    assert_error(
        &["[[rule]]", "risk = \"low\"", "args = [{ glob = \"x\" }]"],
        "policy.toml:3: rule 1: args[1] needs a pointer (a JSON pointer such as \"/path\")",
    );
    assert_error(
        &[
            "[[rule]]",
            "risk = \"low\"",
            "",
            "[[rule.args]]",
            "pointer = \"/a\"",
        ],
        "policy.toml:4: rule 1: args[1] needs a regex or a glob",
    );
}

#[test]
fn rules_must_do_something_and_be_named_once() {
    assert_error(
        &[
            "shadow = true",
            "",
            "[[rule]]",
            "name = \"idle\"",
            "tool = \"x\"",
        ],
        "policy.toml:3: rule 1 (\"idle\"): a rule needs a risk, an action, or both",
    );
    assert_error(
        &[
            "[[rule]]",
            "name = \"a\"",
            "risk = \"low\"",
            "",
            "[[rule]]",
            "name = \"a\"",
            "risk = \"high\"",
        ],
        "policy.toml:6: rule 2 (\"a\"): rule name \"a\" is already used by rule 1",
    );
    assert_error(
        &["[[rule]]", "name = \"\"", "risk = \"low\""],
        "policy.toml:2: rule 1 (\"\"): name must not be empty",
    );
}

#[test]
fn syntax_errors_name_the_line_and_the_rule() {
    let msg = error(&[
        "shadow = true",
        "[[rule]]",
        "name = \"broken\"",
        "risk = \"low",
        "action = \"deny\"",
    ]);
    assert!(
        msg.starts_with("policy.toml:4: rule 1 (\"broken\"): invalid TOML: "),
        "{msg}"
    );
    let msg = error(&["shadow = true", "shadow = false"]);
    assert_eq!(msg, "policy.toml:2: invalid TOML: duplicate key");
}

#[test]
fn an_unreadable_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.toml");
    let err = Policy::load(&path).unwrap_err();
    assert!(matches!(err, PolicyError::Read { .. }));
    assert_eq!(
        err.to_string(),
        format!("{}: cannot read the policy file", path.display())
    );
}

#[test]
fn errors_carry_their_parts() {
    let err = Policy::from_toml("[[rule]]\nname = \"n\"\nrisk = \"x\"\n", "p.toml").unwrap_err();
    let PolicyError::Invalid(e) = err else {
        panic!("expected an invalid policy");
    };
    assert_eq!(
        (e.file.as_str(), e.line, e.rule, e.rule_name.as_deref()),
        ("p.toml", 3, Some(1), Some("n"))
    );
}
