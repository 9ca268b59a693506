//! Every feature of the policy file: matching on server, tool glob,
//! argument pointer + regex or glob, annotations and min_risk; rule order;
//! risk floors and overrides; actions with approvers, quorum, timeout,
//! channel and escalation; levels; auto-approval; shadow mode; hiding
//! tools that are denied outright.

use hitl_mcp::{Action, ActionKind, Policy, ToolAnnotations, ToolCall, Verdict};
use hitl_wire::Risk::{self, Critical, High, Low, Medium};

use crate::support::{json, policy};

fn eval(p: &Policy, server: Option<&str>, tool: &str, args: &str) -> Verdict {
    let args = json(args);
    let mut call = ToolCall::new(tool, &args);
    if let Some(s) = server {
        call = call.with_server(s);
    }
    p.evaluate(&call)
}

fn eval_annotated(p: &Policy, tool: &str, annotations: &str) -> Verdict {
    let args = json("{}");
    let a: ToolAnnotations = serde_json::from_str(annotations).unwrap();
    p.evaluate(&ToolCall::new(tool, &args).with_annotations(a))
}

fn rule_of(v: &Verdict) -> Option<&str> {
    v.rule.as_deref()
}

#[test]
fn server_patterns_match_the_server_name() {
    let p = policy(
        r#"
        [[rule]]
        name = "prod"
        server = "prod-*"
        risk = "critical"

        [[rule]]
        name = "listed"
        server = ["staging", "qa-?"]
        risk = "high"
        "#,
    );
    assert_eq!(
        rule_of(&eval(&p, Some("prod-db"), "list_tables", "{}")),
        Some("prod")
    );
    assert_eq!(
        eval(&p, Some("prod-db"), "list_tables", "{}").risk,
        Critical
    );
    assert_eq!(
        rule_of(&eval(&p, Some("staging"), "x", "{}")),
        Some("listed")
    );
    assert_eq!(rule_of(&eval(&p, Some("qa-1"), "x", "{}")), Some("listed"));
    assert_eq!(rule_of(&eval(&p, Some("qa-12"), "x", "{}")), None);
    assert_eq!(
        rule_of(&eval(&p, Some("dev-db"), "list_tables", "{}")),
        None
    );
    // A rule about servers never matches a call without one.
    assert_eq!(rule_of(&eval(&p, None, "list_tables", "{}")), None);
}

#[test]
fn tool_patterns_are_globs_or_exact_names() {
    let p = policy(
        r#"
        [[rule]]
        name = "deploys"
        tool = ["deploy_*", "*_deploy", "release"]
        risk = "high"

        [[rule]]
        name = "braces"
        tool = "{get,list}_secret*"
        action = "deny"
        "#,
    );
    for tool in ["deploy_api", "canary_deploy", "release"] {
        assert_eq!(
            rule_of(&eval(&p, None, tool, "{}")),
            Some("deploys"),
            "{tool}"
        );
    }
    for tool in ["deploy", "released", "pre_release"] {
        assert_eq!(rule_of(&eval(&p, None, tool, "{}")), None, "{tool}");
    }
    assert!(eval(&p, None, "get_secret_value", "{}").is_denied());
    assert!(eval(&p, None, "list_secrets", "{}").is_denied());
    assert!(!eval(&p, None, "put_secret", "{}").is_denied());
}

#[test]
fn argument_pointer_with_regex() {
    let p = policy(
        r#"
        [[rule]]
        name = "prod-sql"
        args = [{ pointer = "/sql", regex = "(?i)\\bprod_" }]
        risk = "critical"

        [[rule]]
        name = "big-batch"
        args = [{ pointer = "/options/batch/size", regex = "^[0-9]{4,}$" }]
        risk = "high"

        [[rule]]
        name = "flagged"
        args = [{ pointer = "/dry_run", regex = "^false$" }]
        risk = "high"
        "#,
    );
    assert_eq!(
        rule_of(&eval(
            &p,
            None,
            "q",
            r#"{"sql": "select * from PROD_users"}"#
        )),
        Some("prod-sql")
    );
    assert_eq!(
        rule_of(&eval(&p, None, "q", r#"{"sql": "select * from users"}"#)),
        None
    );
    // Numbers and booleans match by their JSON text.
    assert_eq!(
        rule_of(&eval(
            &p,
            None,
            "q",
            r#"{"options": {"batch": {"size": 5000}}}"#
        )),
        Some("big-batch")
    );
    assert_eq!(
        rule_of(&eval(
            &p,
            None,
            "q",
            r#"{"options": {"batch": {"size": 50}}}"#
        )),
        None
    );
    assert_eq!(
        rule_of(&eval(&p, None, "q", r#"{"dry_run": false}"#)),
        Some("flagged")
    );
    // A missing value or the wrong shape never matches.
    assert_eq!(rule_of(&eval(&p, None, "q", r#"{"options": 5}"#)), None);
    assert_eq!(rule_of(&eval(&p, None, "q", "{}")), None);
}

#[test]
fn argument_pointer_with_glob() {
    let p = policy(
        r#"
        [[rule]]
        name = "srv-tree"
        args = [{ pointer = "/path", glob = "/srv/**" }]
        risk = "high"

        [[rule]]
        name = "one-level"
        args = [{ pointer = "/path", glob = "/data/*.csv" }]
        risk = "medium"

        [[rule]]
        name = "any-listed"
        args = [{ pointer = "/paths", glob = "**/*.pem" }]
        risk = "critical"

        [[rule]]
        name = "second"
        args = [{ pointer = "/files/1", glob = "*.lock" }]
        risk = "high"

        [[rule]]
        name = "escaped-key"
        args = [{ pointer = "/a~1b/c~0d", glob = "x" }]
        risk = "high"
        "#,
    );
    assert_eq!(
        rule_of(&eval(&p, None, "w", r#"{"path": "/srv/app/a/b.txt"}"#)),
        Some("srv-tree")
    );
    assert_eq!(
        rule_of(&eval(&p, None, "w", r#"{"path": "/data/x.csv"}"#)),
        Some("one-level")
    );
    // `*` does not cross a `/`.
    assert_eq!(
        rule_of(&eval(&p, None, "w", r#"{"path": "/data/sub/x.csv"}"#)),
        None
    );
    // Arrays match when any element does.
    assert_eq!(
        rule_of(&eval(
            &p,
            None,
            "w",
            r#"{"paths": ["a.txt", "certs/x.pem"]}"#
        )),
        Some("any-listed")
    );
    assert_eq!(
        rule_of(&eval(&p, None, "w", r#"{"files": ["a", "Cargo.lock"]}"#)),
        Some("second")
    );
    assert_eq!(
        rule_of(&eval(&p, None, "w", r#"{"files": ["Cargo.lock"]}"#)),
        None
    );
    assert_eq!(
        rule_of(&eval(&p, None, "w", r#"{"a/b": {"c~d": "x"}}"#)),
        Some("escaped-key")
    );
}

#[test]
fn every_condition_of_a_rule_must_hold() {
    let p = policy(
        r#"
        [[rule]]
        name = "all"
        server = "db"
        tool = "run_*"
        args = [{ pointer = "/sql", regex = "users" }, { pointer = "/env", glob = "prod" }]
        risk = "critical"
        "#,
    );
    let full = r#"{"sql": "select * from users", "env": "prod"}"#;
    assert_eq!(rule_of(&eval(&p, Some("db"), "run_sql", full)), Some("all"));
    assert_eq!(rule_of(&eval(&p, Some("other"), "run_sql", full)), None);
    assert_eq!(rule_of(&eval(&p, Some("db"), "sql", full)), None);
    assert_eq!(
        rule_of(&eval(
            &p,
            Some("db"),
            "run_sql",
            r#"{"sql": "select * from users", "env": "dev"}"#
        )),
        None
    );
}

#[test]
fn annotation_conditions_use_mcp_defaults() {
    let p = policy(
        r#"
        [[rule]]
        name = "read-only"
        annotations = { read_only_hint = true }
        risk = "low"
        action = "allow"

        [[rule]]
        name = "additive"
        annotations = { destructive_hint = false }
        risk = "medium"

        [[rule]]
        name = "closed-world"
        annotations = { open_world_hint = false, idempotent_hint = true }
        risk = "medium"

        [[rule]]
        name = "destructive"
        annotations = { destructive_hint = true }
        risk = "high"
        "#,
    );
    assert_eq!(
        rule_of(&eval_annotated(&p, "t", r#"{"readOnlyHint": true}"#)),
        Some("read-only")
    );
    assert_eq!(
        rule_of(&eval_annotated(&p, "t", r#"{"destructiveHint": false}"#)),
        Some("additive")
    );
    assert_eq!(
        rule_of(&eval_annotated(
            &p,
            "t",
            r#"{"destructiveHint": true, "openWorldHint": false, "idempotentHint": true}"#
        )),
        Some("closed-world")
    );
    // No annotations: destructive and open-world by the MCP defaults.
    assert_eq!(rule_of(&eval_annotated(&p, "t", "{}")), Some("destructive"));
}

#[test]
fn min_risk_matches_on_the_builtin_rating() {
    let p = policy(
        r#"
        [[rule]]
        name = "prod-risky"
        server = "prod"
        min_risk = "high"
        action = "require_approval"
        approvers = ["group:sre"]
        quorum = 2
        "#,
    );
    let v = eval(&p, Some("prod"), "write_file", r#"{"path": "/srv/x"}"#);
    assert_eq!(rule_of(&v), Some("prod-risky"));
    assert_eq!(v.approval().unwrap().quorum, 2);
    let v = eval(&p, Some("prod"), "read_file", r#"{"path": "/srv/x"}"#);
    assert_eq!(rule_of(&v), None);
    assert!(v.is_allowed());
}

#[test]
fn the_first_matching_rule_decides() {
    let p = policy(
        r#"
        [[rule]]
        name = "first"
        tool = "write_*"
        risk = "high"
        reasons = ["first wins"]

        [[rule]]
        name = "second"
        tool = "write_file"
        action = "deny"
        "#,
    );
    let v = eval(&p, None, "write_file", r#"{"path": "/tmp/x"}"#);
    assert_eq!(rule_of(&v), Some("first"));
    assert!(!v.is_denied());
    assert_eq!(v.reasons[0], "first wins");
}

#[test]
fn a_rule_risk_is_a_floor_unless_it_overrides() {
    let p = policy(
        r#"
        [[rule]]
        name = "sandbox"
        server = "sandbox"
        risk = "low"
        override = true
        action = "allow"

        [[rule]]
        name = "trusted-shell"
        tool = "run_command"
        risk = "low"
        action = "allow"
        reasons = ["our build box"]
        "#,
    );
    // The arguments show more than the rule expected: the risk rises and
    // the stricter action (critical needs approval) wins over `allow`.
    let v = eval(&p, None, "run_command", r#"{"command": "rm -rf /"}"#);
    assert_eq!(v.risk, Critical);
    assert_eq!(v.action.kind(), ActionKind::RequireApproval);
    assert_eq!(v.approval().unwrap().timeout_secs, 900);
    assert_eq!(rule_of(&v), Some("trusted-shell"));
    assert_eq!(v.reasons[0], "our build box");
    assert!(v.reasons.iter().any(|r| r.contains("rm -r")));
    // A shell command at the baseline stays high, and high needs approval.
    let v = eval(&p, None, "run_command", r#"{"command": "ls"}"#);
    assert_eq!(
        (v.risk, v.action.kind()),
        (High, ActionKind::RequireApproval)
    );
    // With override the rule sets the risk and action exactly...
    let v = eval(
        &p,
        Some("sandbox"),
        "run_command",
        r#"{"command": "rm -rf build"}"#,
    );
    assert_eq!((v.risk, v.action.kind()), (Low, ActionKind::Allow));
    assert_eq!(v.reasons, vec!["policy rule \"sandbox\""]);
    // ...except below a system- or secret-path finding.
    let v = eval(
        &p,
        Some("sandbox"),
        "run_command",
        r#"{"command": "rm -rf /"}"#,
    );
    assert_eq!(
        (v.risk, v.action.kind()),
        (Critical, ActionKind::RequireApproval)
    );
}

#[test]
fn a_rule_can_raise_the_risk_above_the_builtin_rating() {
    let p = policy(
        r#"
        [[rule]]
        name = "billing"
        tool = "get_invoice*"
        risk = "critical"
        reasons = ["billing data"]
        "#,
    );
    let v = eval(&p, None, "get_invoices", "{}");
    assert_eq!(v.risk, Critical);
    assert_eq!(v.reasons, vec!["billing data"]);
    assert_eq!(v.approval().unwrap().timeout_secs, 900);
}

#[test]
fn actions_carry_approval_settings() {
    let p = policy(
        r#"
        [[rule]]
        name = "deploys"
        tool = "deploy"
        risk = "high"
        action = "require_approval"
        approvers = ["alice", "group:release"]
        quorum = 2
        timeout_secs = 1800
        channel = "C0RELEASES"
        escalation = { after_secs = 600, to = "group:leads" }

        [[rule]]
        name = "never"
        tool = "format_disk"
        action = "deny"
        reasons = ["never from an agent"]

        [[rule]]
        name = "fine"
        tool = "ping"
        action = "allow"
        "#,
    );
    let v = eval(&p, None, "deploy", "{}");
    let a = v.approval().unwrap();
    assert_eq!(
        &*a.approvers,
        ["alice".to_string(), "group:release".to_string()]
    );
    assert_eq!((a.quorum, a.timeout_secs), (2, 1800));
    assert_eq!(a.channel.as_deref(), Some("C0RELEASES"));
    let esc = a.escalation.as_deref().unwrap();
    assert_eq!(
        (esc.after_secs, esc.to.as_deref()),
        (600, Some("group:leads"))
    );
    assert_eq!(
        serde_json::to_value(&v).unwrap(),
        json(
            r#"{"risk": "high", "action": "require_approval", "reasons": ["merges, deploys, installs or moves money: hard to undo", "policy rule \"deploys\""],
                "rule": "deploys", "approvers": ["alice", "group:release"], "quorum": 2,
                "timeout_secs": 1800, "channel": "C0RELEASES",
                "escalation": {"after_secs": 600, "to": "group:leads"}}"#
        )
    );

    let v = eval(&p, None, "format_disk", "{}");
    assert_eq!(v.action, Action::Deny);
    assert_eq!(
        serde_json::to_value(&v).unwrap(),
        json(
            r#"{"risk": "high", "action": "deny", "reasons": ["never from an agent"], "rule": "never"}"#
        )
    );
    let v = eval(&p, None, "ping", "{}");
    assert_eq!(v.action, Action::Allow);
    assert_eq!(rule_of(&v), Some("fine"));
}

#[test]
fn levels_map_risks_to_actions() {
    let p = policy(
        r#"
        [levels.low]
        action = "require_approval"
        timeout_secs = 60

        [levels.medium]
        action = "require_approval"
        approvers = ["group:team"]

        [levels.high]
        approvers = ["group:sre"]
        quorum = 2

        [levels.critical]
        action = "deny"
        "#,
    );
    let v = eval(&p, None, "read_file", r#"{"path": "/tmp/x"}"#);
    assert_eq!((v.risk, v.approval().unwrap().timeout_secs), (Low, 60));
    let v = eval(&p, None, "create_issue", "{}");
    assert_eq!(v.risk, Medium);
    assert_eq!(
        &*v.approval().unwrap().approvers,
        ["group:team".to_string()]
    );
    // A level without an action keeps its default one.
    let v = eval(&p, None, "write_file", r#"{"path": "/tmp/x"}"#);
    let a = v.approval().unwrap();
    assert_eq!((a.quorum, a.timeout_secs), (2, 300));
    assert!(eval(&p, None, "run_command", r#"{"command": "reboot"}"#).is_denied());
}

#[test]
fn command_line_defaults_fill_what_the_file_leaves_unset() {
    let mut p = policy(
        r#"
        [levels.high]
        approvers = ["group:sre"]
        timeout_secs = 120
        "#,
    );
    p.set_default_approvers(vec!["oncall".into()]);
    p.set_default_timeout_secs(Some(45));
    let v = eval(&p, None, "write_file", r#"{"path": "/tmp/x"}"#);
    let a = v.approval().unwrap();
    assert_eq!(
        (&*a.approvers, a.timeout_secs),
        (&["group:sre".to_string()][..], 120)
    );
    let v = eval(&p, None, "run_command", r#"{"command": "reboot"}"#);
    let a = v.approval().unwrap();
    assert_eq!(
        (&*a.approvers, a.timeout_secs),
        (&["oncall".to_string()][..], 45)
    );
}

#[test]
fn auto_approve_low_risk_lets_low_calls_run() {
    let toml = r#"
        [levels.low]
        action = "require_approval"

        [levels.medium]
        action = "require_approval"

        [[rule]]
        name = "no-reads-of-x"
        tool = "read_x"
        risk = "low"
        action = "deny"
    "#;
    let mut p = policy(toml);
    assert!(!p.auto_approve_low_risk());
    let read = r#"{"path": "/tmp/x"}"#;
    assert_eq!(
        eval(&p, None, "read_file", read).action.kind(),
        ActionKind::RequireApproval
    );
    p.set_auto_approve_low_risk(true);
    let v = eval(&p, None, "read_file", read);
    assert_eq!(v.action, Action::Allow);
    assert!(
        v.reasons
            .iter()
            .any(|r| r.contains("auto_approve_low_risk"))
    );
    // Medium still waits, and a denial stays a denial.
    assert_eq!(
        eval(&p, None, "create_issue", "{}").action.kind(),
        ActionKind::RequireApproval
    );
    assert!(eval(&p, None, "read_x", "{}").is_denied());
    // The same from the file.
    let p = policy(&format!("auto_approve_low_risk = true\n{toml}"));
    assert!(p.auto_approve_low_risk());
    assert!(eval(&p, None, "read_file", read).is_allowed());
}

#[test]
fn shadow_mode_is_read_and_leaves_verdicts_alone() {
    let p = policy("shadow = true\n");
    assert!(p.shadow());
    let v = eval(&p, None, "run_command", r#"{"command": "reboot"}"#);
    assert_eq!(v.action.kind(), ActionKind::RequireApproval);
    assert!(!policy("shadow = false\n").shadow());
    assert!(!Policy::default().shadow());
}

#[test]
fn tools_denied_outright_are_hidden() {
    let p = policy(
        r#"
        [[rule]]
        name = "ok-tmp"
        tool = "purge_cache"
        args = [{ pointer = "/dir", glob = "/tmp/**" }]
        action = "allow"

        [[rule]]
        name = "no-purge"
        tool = "purge_*"
        action = "deny"

        [[rule]]
        name = "no-prod-writes"
        server = "prod"
        tool = "write_*"
        action = "deny"

        [[rule]]
        name = "some-deletes"
        tool = "delete_row"
        args = [{ pointer = "/table", regex = "^audit" }]
        action = "deny"

        [[rule]]
        name = "destructive"
        annotations = { destructive_hint = true, read_only_hint = false }
        server = "legacy"
        action = "deny"
        "#,
    );
    let none = ToolAnnotations::default();
    assert!(p.is_denied_outright(None, "purge_logs", none));
    // An earlier rule lets some calls of purge_cache through.
    assert!(!p.is_denied_outright(None, "purge_cache", none));
    assert!(p.is_denied_outright(Some("prod"), "write_file", none));
    assert!(!p.is_denied_outright(Some("dev"), "write_file", none));
    // Only some calls of delete_row are denied.
    assert!(!p.is_denied_outright(None, "delete_row", none));
    let read_only = ToolAnnotations {
        read_only_hint: Some(true),
        ..none
    };
    assert!(p.is_denied_outright(Some("legacy"), "anything", none));
    assert!(!p.is_denied_outright(Some("legacy"), "anything", read_only));

    let tools = [
        ("purge_logs", none),
        ("read_file", none),
        ("write_file", none),
    ];
    assert_eq!(
        p.hidden_tools(Some("prod"), tools),
        vec!["purge_logs", "write_file"]
    );
    assert_eq!(p.hidden_tools(Some("dev"), tools), vec!["purge_logs"]);
    assert!(Policy::default().hidden_tools(None, tools).is_empty());
}

#[test]
fn levels_that_deny_hide_tools_that_can_only_reach_them() {
    let p = policy(
        r#"
        [levels.high]
        action = "deny"
        [levels.critical]
        action = "deny"
        "#,
    );
    let none = ToolAnnotations::default();
    // A shell is at least high whatever it runs.
    assert!(p.is_denied_outright(None, "run_command", none));
    assert!(p.is_denied_outright(
        None,
        "x",
        ToolAnnotations {
            destructive_hint: Some(true),
            ..none
        }
    ));
    // A reader can be low (or critical, for a secret path): not hidden.
    assert!(!p.is_denied_outright(None, "read_file", none));
    // A database tool may only read.
    assert!(!p.is_denied_outright(None, "execute_sql", none));
}

#[test]
fn rules_without_names_are_labelled_by_number() {
    let p = policy(
        r#"
        [[rule]]
        tool = "a"
        risk = "high"

        [[rule]]
        tool = "b"
        action = "deny"
        "#,
    );
    assert_eq!(p.rule_count(), 2);
    let v = eval(&p, None, "b", "{}");
    assert_eq!(rule_of(&v), Some("rule 2"));
    assert_eq!(
        v.reasons,
        vec!["standard operation", "policy rule \"rule 2\""]
    );
}

#[test]
fn other_sections_can_share_the_file() {
    let text = "[gateway]\nlisten = \"127.0.0.1:1\"\n\n[[upstream]]\nname = \"fs\"\n";
    assert!(Policy::from_toml(text, "gateway.toml").is_err());
    let p =
        Policy::from_toml_with_sections(text, "gateway.toml", &["gateway", "upstream"]).unwrap();
    assert_eq!(p.rule_count(), 0);
}

#[test]
fn risk_levels_are_ordered_as_expected() {
    let ordered: Vec<Risk> = vec![Low, Medium, High, Critical];
    let mut sorted = ordered.clone();
    sorted.sort();
    assert_eq!(ordered, sorted);
}
