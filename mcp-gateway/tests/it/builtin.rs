//! The built-in analysis without a policy file: tool names, paths,
//! argument shapes and annotations, and the default actions per level.

use hitl_mcp::{Action, ActionKind, Policy, ToolAnnotations, ToolCall};
use hitl_wire::Risk::{self, Critical, High, Low, Medium};

use crate::support::{check_table, json, verdict, verdict_annotated};

#[test]
fn tool_names_give_the_first_guess() {
    check_table(&[
        // Read-only operations.
        ("read_file", r#"{"path": "/home/u/notes.txt"}"#, Low),
        ("list_directory", r#"{"path": "/tmp"}"#, Low),
        ("get_file_info", r#"{"path": "src/main.rs"}"#, Low),
        ("search_files", r#"{"path": ".", "pattern": "*.rs"}"#, Low),
        ("listIssues", "{}", Low),
        ("getTinyImage", "{}", Low),
        ("git_status", r#"{"repo_path": "."}"#, Low),
        ("read_graph", "{}", Low),
        ("get_workflow_run", r#"{"run_id": 5}"#, Low),
        ("get_pull_request", r#"{"number": 5}"#, Low),
        ("fs.read", "{}", Low),
        // Standard operations.
        ("create_issue", r#"{"title": "x"}"#, Medium),
        ("update_issue", r#"{"number": 3}"#, Medium),
        ("add", r#"{"a": 1, "b": 2}"#, Medium),
        ("git_commit", r#"{"message": "x"}"#, Medium),
        (
            "create_entities",
            r#"{"entities": [{"name": "x"}]}"#,
            Medium,
        ),
        ("do_thing", "{}", Medium),
        // File writes.
        ("write_file", r#"{"path": "/tmp/x", "content": "hi"}"#, High),
        ("edit_file", r#"{"path": "src/a.rs", "edits": []}"#, High),
        ("create_directory", r#"{"path": "/tmp/x"}"#, High),
        ("move_file", r#"{"source": "a", "destination": "b"}"#, High),
        ("append_to_log", r#"{"text": "x"}"#, High),
        (
            "create_or_update_file",
            r#"{"path": "README.md", "content": "x"}"#,
            High,
        ),
        // Deletions.
        ("delete_file", r#"{"path": "/tmp/x"}"#, High),
        ("remove_branch", "{}", High),
        ("kill_process", r#"{"pid": 5}"#, High),
        // Network requests.
        ("fetch", r#"{"url": "https://example.com"}"#, High),
        ("http_request", r#"{"url": "https://example.com"}"#, High),
        ("slack_post_message", r#"{"text": "hi"}"#, High),
        ("send_email", r#"{"to": "a@example.com"}"#, High),
        (
            "browser_navigate",
            r#"{"url": "https://example.com"}"#,
            High,
        ),
        ("push_files", "{}", High),
        // Shell commands.
        ("execute_command", r#"{"command": "ls"}"#, High),
        ("run_command", r#"{"command": "npm test"}"#, High),
        ("shell", r#"{"command": "pwd"}"#, High),
        ("bash_exec", r#"{"script": "echo hi"}"#, High),
        ("puppeteer_evaluate", r#"{"script": "1+1"}"#, High),
        ("runTests", "{}", High),
    ]);
}

#[test]
fn system_and_secret_paths_are_critical() {
    check_table(&[
        ("read_file", r#"{"path": "/etc/passwd"}"#, Critical),
        ("read_file", r#"{"path": "/etc/shadow"}"#, Critical),
        ("read_file", r#"{"path": "~/.ssh/id_rsa"}"#, Critical),
        ("read_file", r#"{"path": "/home/u/.ssh/config"}"#, Critical),
        (
            "read_file",
            r#"{"path": "/home/u/.aws/credentials"}"#,
            Critical,
        ),
        ("read_file", r#"{"path": "/home/u/app/.env"}"#, Critical),
        ("read_file", r#"{"path": ".env.production"}"#, Critical),
        ("read_file", r#"{"path": "deploy/id_ed25519"}"#, Critical),
        ("read_file", r#"{"path": "certs/server.key"}"#, Critical),
        ("read_file", r#"{"path": "/home/u/.kube/config"}"#, Critical),
        (
            "read_file",
            r#"{"path": "/home/u/.docker/config.json"}"#,
            Critical,
        ),
        (
            "read_file",
            r#"{"path": "/home/u/.git-credentials"}"#,
            Critical,
        ),
        ("read_file", r#"{"path": "/home/u/.netrc"}"#, Critical),
        ("read_file", r#"{"path": "file:///etc/shadow"}"#, Critical),
        (
            "write_file",
            r#"{"path": "/etc/hosts", "content": "x"}"#,
            Critical,
        ),
        ("write_file", r#"{"path": "/usr/local/bin/tool"}"#, Critical),
        ("write_file", r#"{"path": "/boot/grub/grub.cfg"}"#, Critical),
        ("write_file", r#"{"path": "/tmp/../etc/hosts"}"#, Critical),
        ("write_file", r#"{"path": "//etc/./hosts"}"#, Critical),
        (
            "write_file",
            r#"{"path": "../../../../etc/cron.d/x"}"#,
            Critical,
        ),
        ("write_file", r#"{"path": "/ETC/hosts"}"#, Critical),
        (
            "write_file",
            r#"{"path": "C:\\Windows\\System32\\drivers\\etc\\hosts"}"#,
            Critical,
        ),
        ("write_file", r#"{"path": "/dev/sda"}"#, Critical),
        ("edit_file", r#"{"path": "~/.bashrc"}"#, Critical),
        (
            "write_file",
            r#"{"path": "repo/.git/hooks/pre-commit"}"#,
            Critical,
        ),
        ("write_file", r#"{"path": "/"}"#, Critical),
        (
            "move_file",
            r#"{"source": "/tmp/a", "destination": "/usr/bin/a"}"#,
            Critical,
        ),
        (
            "read_multiple_files",
            r#"{"paths": ["/tmp/a", "~/.aws/credentials"]}"#,
            Critical,
        ),
        (
            "copy",
            r#"{"options": {"target_dir": "/etc/nginx"}}"#,
            Critical,
        ),
        (
            "fetch",
            r#"{"url": "file:///home/u/.ssh/id_rsa"}"#,
            Critical,
        ),
        // Look-alikes that are not secrets.
        ("read_file", r#"{"path": ".env.example"}"#, Low),
        ("read_file", r#"{"path": "keys/id_rsa.pub"}"#, Low),
        ("read_file", r#"{"path": "etc/hosts"}"#, Low),
        ("read_file", r#"{"path": "/home/u/etc/passwd.txt"}"#, Low),
        ("read_file", r#"{"path": "docs/environment.md"}"#, Low),
        ("write_file", r#"{"path": "/dev/null"}"#, High),
        // A working directory or URL counts only when it is a secret.
        ("run_command", r#"{"command": "ls", "cwd": "/etc"}"#, High),
        (
            "run_command",
            r#"{"command": "ls", "cwd": "/home/u/.ssh"}"#,
            Critical,
        ),
    ]);
}

#[test]
fn commands_are_found_in_every_argument_shape() {
    check_table(&[
        ("run", r#"{"cmd": "rm -rf /"}"#, Critical),
        ("run", r#"{"command": ["rm", "-rf", "/"]}"#, Critical),
        (
            "run",
            r#"{"command": "rm", "args": ["-rf", "/"]}"#,
            Critical,
        ),
        ("run", r#"{"command": "ls", "args": ["-la"]}"#, High),
        (
            "run",
            r#"{"command": "bash", "args": ["-c", "rm -rf ~"]}"#,
            Critical,
        ),
        ("task", r#"{"options": {"command": "rm -rf /"}}"#, Critical),
        (
            "task",
            r#"{"steps": [{"script": "ls"}, {"script": "reboot"}]}"#,
            Critical,
        ),
        ("execute_command", r#"{"input": "rm -rf /"}"#, Critical),
        ("terminal", r#"{"text": "git push -f"}"#, Critical),
        ("exec", r#"{"argv": ["git", "push", "--force"]}"#, Critical),
        (
            "create_note",
            r#"{"body": "remember: never run rm -rf /"}"#,
            Medium,
        ),
    ]);
}

#[test]
fn annotations_are_hints_that_cannot_hide_arguments() {
    let cases: &[(&str, &str, &str, Risk)] = &[
        // readOnlyHint settles a guess the name left open...
        ("do_thing", "{}", r#"{"readOnlyHint": true}"#, Low),
        // ...but not one the name supports, nor what the arguments show.
        (
            "write_file",
            r#"{"path": "/tmp/x"}"#,
            r#"{"readOnlyHint": true}"#,
            High,
        ),
        (
            "run_command",
            r#"{"command": "rm -rf /"}"#,
            r#"{"readOnlyHint": true}"#,
            Critical,
        ),
        (
            "read_file",
            r#"{"path": "~/.ssh/id_rsa"}"#,
            r#"{"readOnlyHint": true}"#,
            Critical,
        ),
        (
            "do_thing",
            r#"{"sql": "DROP TABLE x"}"#,
            r#"{"readOnlyHint": true}"#,
            Critical,
        ),
        // destructiveHint raises.
        ("get_thing", "{}", r#"{"destructiveHint": true}"#, High),
        ("do_thing", "{}", r#"{"destructiveHint": true}"#, High),
        (
            "do_thing",
            "{}",
            r#"{"readOnlyHint": true, "destructiveHint": true}"#,
            High,
        ),
        // Other hints and `false` change nothing.
        ("do_thing", "{}", r#"{"destructiveHint": false}"#, Medium),
        (
            "write_file",
            r#"{"path": "/tmp/x"}"#,
            r#"{"destructiveHint": false}"#,
            High,
        ),
        (
            "do_thing",
            "{}",
            r#"{"idempotentHint": true, "openWorldHint": false}"#,
            Medium,
        ),
        ("do_thing", "{}", r#"{"title": "Does things"}"#, Medium),
    ];
    for (tool, args, annotations, want) in cases {
        let v = verdict_annotated(tool, args, annotations);
        assert_eq!(
            v.risk, *want,
            "{tool} {args} {annotations}: {:?}",
            v.reasons
        );
    }
    let v = verdict_annotated("do_thing", "{}", r#"{"destructiveHint": true}"#);
    assert!(v.reasons.iter().any(|r| r.contains("destructiveHint")));
}

#[test]
fn default_actions_follow_the_risk_level() {
    let low = verdict("read_file", r#"{"path": "/tmp/x"}"#);
    assert_eq!(low.action, Action::Allow);
    let medium = verdict("create_issue", "{}");
    assert_eq!(medium.action, Action::Allow);
    let high = verdict("write_file", r#"{"path": "/tmp/x"}"#);
    let a = high.approval().expect("high needs approval");
    assert_eq!((a.timeout_secs, a.quorum, a.approvers.len()), (300, 1, 0));
    let critical = verdict("run_command", r#"{"command": "rm -rf /"}"#);
    let a = critical.approval().expect("critical needs approval");
    assert_eq!(a.timeout_secs, 900);
    assert_eq!(critical.action.kind(), ActionKind::RequireApproval);
    assert!(critical.rule.is_none());
}

#[test]
fn verdict_json_has_the_documented_shape() {
    let v = verdict("read_file", r#"{"path": "/tmp/x"}"#);
    assert_eq!(
        serde_json::to_string(&v).unwrap(),
        r#"{"risk":"low","action":"allow","reasons":["read-only operation"]}"#
    );
    let v = verdict("write_file", r#"{"path": "/tmp/x"}"#);
    assert_eq!(
        serde_json::to_value(&v).unwrap(),
        json(
            r#"{"risk":"high","action":"require_approval","reasons":["writes files"],"quorum":1,"timeout_secs":300}"#
        )
    );
}

#[test]
fn reasons_explain_the_highest_level_only() {
    let v = verdict("run_command", r#"{"command": "sudo rm -rf /tmp/x"}"#);
    assert_eq!(v.risk, Critical);
    assert!(
        v.reasons.iter().all(|r| !r.contains("runs shell commands")),
        "{:?}",
        v.reasons
    );
    assert!(v.reasons.iter().any(|r| r.contains("rm -r")));
}

#[test]
fn evaluation_is_the_same_from_many_threads() {
    let policy = std::sync::Arc::new(Policy::default());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let policy = policy.clone();
            std::thread::spawn(move || {
                let args = json(r#"{"command": "ls && git push --force"}"#);
                (0..200)
                    .map(|_| policy.evaluate(&ToolCall::new("run_command", &args)).risk)
                    .all(|r| r == Critical)
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap());
    }
}

#[test]
fn annotations_deserialize_from_the_mcp_shape() {
    let a: ToolAnnotations = serde_json::from_str(
        r#"{"title": "x", "readOnlyHint": true, "destructiveHint": false, "idempotentHint": true, "openWorldHint": false}"#,
    )
    .unwrap();
    assert_eq!(
        a,
        ToolAnnotations {
            read_only_hint: Some(true),
            destructive_hint: Some(false),
            idempotent_hint: Some(true),
            open_world_hint: Some(false),
        }
    );
}
