//! The default policy that `init-config` writes loads, behaves like no
//! policy at all, documents every option, and its commented examples load
//! too once uncommented.

use hitl_mcp::policy::DEFAULT_POLICY_TOML;
use hitl_mcp::{Policy, ToolCall};

use crate::support::json;

#[test]
fn the_template_loads_and_matches_the_builtin_policy() {
    let from_file = Policy::from_toml(DEFAULT_POLICY_TOML, "hitl-policy.toml").unwrap();
    let builtin = Policy::default();
    assert!(!from_file.shadow());
    assert!(!from_file.auto_approve_low_risk());
    assert_eq!(from_file.rule_count(), 0);
    let calls = [
        ("read_file", r#"{"path": "/tmp/x"}"#),
        ("create_issue", "{}"),
        ("write_file", r#"{"path": "/tmp/x"}"#),
        ("run_command", r#"{"command": "rm -rf /"}"#),
        ("execute_sql", r#"{"sql": "DELETE FROM t"}"#),
    ];
    for (tool, args) in calls {
        let args = json(args);
        let call = ToolCall::new(tool, &args);
        assert_eq!(from_file.evaluate(&call), builtin.evaluate(&call), "{tool}");
    }
}

/// The template with its example rules uncommented.
fn with_examples() -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in DEFAULT_POLICY_TOML.lines() {
        if line.contains("BEGIN EXAMPLE RULES") {
            inside = true;
            continue;
        }
        if line.contains("END EXAMPLE RULES") {
            inside = false;
            continue;
        }
        if inside {
            out.push_str(
                line.strip_prefix("# ")
                    .unwrap_or(line.trim_start_matches('#')),
            );
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[test]
fn the_example_rules_load_and_work() {
    let p = Policy::from_toml(&with_examples(), "examples.toml").unwrap();
    assert_eq!(p.rule_count(), 5);
    let args = json(r#"{"sql": "DELETE FROM t WHERE id = 1"}"#);
    let v = p.evaluate(&ToolCall::new("query", &args).with_server("postgres-prod"));
    assert!(v.is_denied(), "{v:?}");
    let args = json(r#"{"path": "/tmp/agent-scratch/a/b.txt"}"#);
    assert!(p.evaluate(&ToolCall::new("write_file", &args)).is_allowed());
    let args = json("{}");
    let v = p.evaluate(&ToolCall::new("deploy_api", &args));
    assert_eq!(v.approval().unwrap().quorum, 2);
}

#[test]
fn the_template_documents_every_option() {
    let keys = [
        "shadow",
        "auto_approve_low_risk",
        "[levels.low]",
        "[levels.medium]",
        "[levels.high]",
        "[levels.critical]",
        "action",
        "approvers",
        "quorum",
        "timeout_secs",
        "channel",
        "escalation",
        "after_secs",
        "[[rule]]",
        "name",
        "description",
        "server",
        "tool",
        "args",
        "pointer",
        "regex",
        "glob",
        "annotations",
        "read_only_hint",
        "destructive_hint",
        "idempotent_hint",
        "open_world_hint",
        "min_risk",
        "risk",
        "override",
        "reasons",
        "allow",
        "require_approval",
        "deny",
    ];
    for key in keys {
        assert!(
            DEFAULT_POLICY_TOML.contains(key),
            "the template does not mention {key}"
        );
    }
}
