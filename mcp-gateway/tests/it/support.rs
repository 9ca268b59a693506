//! Helpers shared by the test modules.

use hitl_mcp::{Policy, ToolAnnotations, ToolCall, Verdict};
use hitl_wire::Risk;
use serde_json::Value;

/// Parses JSON written in a test.
pub fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("bad test JSON {text}: {e}"))
}

/// The default policy's verdict on a call.
pub fn verdict(tool: &str, args: &str) -> Verdict {
    let args = json(args);
    Policy::default().evaluate(&ToolCall::new(tool, &args))
}

/// The default policy's verdict on a call with annotations.
pub fn verdict_annotated(tool: &str, args: &str, annotations: &str) -> Verdict {
    let args = json(args);
    let annotations: ToolAnnotations = serde_json::from_str(annotations).unwrap();
    Policy::default().evaluate(&ToolCall::new(tool, &args).with_annotations(annotations))
}

/// A policy from TOML text, or a panic with the error.
pub fn policy(toml: &str) -> Policy {
    Policy::from_toml(toml, "policy.toml").unwrap_or_else(|e| panic!("policy should load: {e}"))
}

/// Checks a table of calls against expected risks and reports every miss
/// at once, with the verdict's reasons.
pub fn check_table(cases: &[(&str, &str, Risk)]) {
    let mut misses = Vec::new();
    for (tool, args, want) in cases {
        let v = verdict(tool, args);
        if v.risk != *want {
            misses.push(format!(
                "{tool} {args}: want {want}, got {} ({:?})",
                v.risk,
                v.reason_strings()
            ));
        }
    }
    assert!(
        misses.is_empty(),
        "{} of {} cases wrong:\n{}",
        misses.len(),
        cases.len(),
        misses.join("\n")
    );
}

/// Checks a table of shell commands, each run through a `run_command` tool.
pub fn check_shell(cases: &[(&str, Risk)]) {
    let rows: Vec<(String, Risk)> = cases
        .iter()
        .map(|(cmd, risk)| (serde_json::json!({ "command": cmd }).to_string(), *risk))
        .collect();
    let table: Vec<(&str, &str, Risk)> = rows
        .iter()
        .map(|(args, risk)| ("run_command", args.as_str(), *risk))
        .collect();
    check_table(&table);
}

/// Checks a table of SQL texts, each run through an `execute_sql` tool.
pub fn check_sql(cases: &[(&str, Risk)]) {
    let rows: Vec<(String, Risk)> = cases
        .iter()
        .map(|(sql, risk)| (serde_json::json!({ "sql": sql }).to_string(), *risk))
        .collect();
    let table: Vec<(&str, &str, Risk)> = rows
        .iter()
        .map(|(args, risk)| ("execute_sql", args.as_str(), *risk))
        .collect();
    check_table(&table);
}
