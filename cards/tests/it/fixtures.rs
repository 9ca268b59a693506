//! Realistic records, a fixed `now`, and every message the tests render.

use chrono::{DateTime, Duration, TimeZone, Utc};
use hitl_cards::{Templates, slack};
use hitl_wire::{ApprovalRecord, Escalation, Risk, Status, Vote, arguments_hash};
use serde_json::{Value, json};

/// 13:51 UTC: one minute after the fixtures' requests were created.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 13, 51, 0).unwrap()
}

fn created() -> DateTime<Utc> {
    now() - Duration::minutes(1)
}

/// A bare record: the fields every request has.
pub fn base(request_id: &str, tool: &str, arguments: Value) -> ApprovalRecord {
    ApprovalRecord {
        request_id: request_id.to_string(),
        status: Status::Pending,
        requester: "claude-code (ana@acme.dev)".to_string(),
        agent_prompt: None,
        proposed_action: None,
        tool: tool.to_string(),
        server: None,
        arguments_hash: arguments_hash(&arguments),
        arguments,
        arguments_executed: None,
        executed_at: None,
        risk: Risk::Medium,
        reasons: Vec::new(),
        approvers: Vec::new(),
        quorum: 1,
        approvals: Vec::new(),
        approver: None,
        reason: None,
        timestamp: created(),
        expires_at: created() + Duration::minutes(15),
        decided_at: None,
        escalation: None,
        reminded_at: None,
        notification_sent: false,
        session: None,
        channel: None,
    }
}

/// A high-risk shell command from Claude Code, with everything filled in.
pub fn shell_request() -> ApprovalRecord {
    ApprovalRecord {
        agent_prompt: Some(
            "The tests fail because the old build cache is stale; clear it and rebuild."
                .to_string(),
        ),
        proposed_action: Some("Delete the build cache and run the release build".to_string()),
        server: Some("shell".to_string()),
        risk: Risk::High,
        reasons: vec![
            "runs a shell command".to_string(),
            "deletes files recursively (rm -rf)".to_string(),
        ],
        approvers: vec!["U024BE7LH".to_string(), "group:platform".to_string()],
        session: Some("sess-7f3a".to_string()),
        escalation: Some(Escalation {
            after_secs: 600,
            to: Some("S0614TZR7".to_string()),
        }),
        ..base(
            "apr_01JH2Q8Z5K3M",
            "run_command",
            json!({ "command": "rm -rf ./target/cache && cargo build --release", "cwd": "/home/ana/src/shop", "timeout_secs": 300 }),
        )
    }
}

/// A database migration needing two approvals, one already given.
pub fn quorum_request() -> ApprovalRecord {
    ApprovalRecord {
        server: Some("postgres-prod".to_string()),
        risk: Risk::Critical,
        reasons: vec![
            "writes to a production database".to_string(),
            "schema change (ALTER TABLE)".to_string(),
        ],
        proposed_action: Some("Add a NOT NULL column to orders with a default".to_string()),
        approvers: vec!["group:dba".to_string()],
        quorum: 2,
        approvals: vec![Vote {
            approver: "U07QWERTY1".to_string(),
            at: now() - Duration::seconds(20),
            reason: Some("looks fine".to_string()),
        }],
        expires_at: created() + Duration::hours(2) + Duration::minutes(5),
        ..base(
            "apr_01JH2QB3ZP9X",
            "execute_sql",
            json!({ "database": "shop", "sql": "ALTER TABLE orders ADD COLUMN region text NOT NULL DEFAULT 'eu';" }),
        )
    }
}

/// Secrets in the arguments and the prompt: every one must be redacted.
pub fn secrets_request() -> ApprovalRecord {
    ApprovalRecord {
        server: Some("deploy".to_string()),
        risk: Risk::Critical,
        reasons: vec!["deploys to production".to_string()],
        agent_prompt: Some(
            "Deploy with token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 please".to_string(),
        ),
        ..base(
            "apr_01JH2QC7W1RT",
            "deploy_service",
            json!({
                "service": "checkout",
                "env": { "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "DATABASE_PASSWORD": "hunter2", "REGION": "eu-west-1" },
                "headers": { "Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl" },
                "notify": "curl -H 'X-Slack: xoxb-1234-5678-abcdefgh' https://hooks.example/deploy",
                "signing_key": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
            }),
        )
    }
}

/// Nothing optional: no server, prompt, reasons or approvers.
pub fn minimal_request() -> ApprovalRecord {
    base(
        "apr_min",
        "create_issue",
        json!({ "title": "Flaky test", "labels": ["ci"] }),
    )
}

pub fn approved() -> ApprovalRecord {
    ApprovalRecord {
        status: Status::Approved,
        approver: Some("U024BE7LH".to_string()),
        reason: Some("Cache is safe to drop; build is reproducible.".to_string()),
        decided_at: Some(now() - Duration::seconds(30)),
        ..shell_request()
    }
}

pub fn rejected() -> ApprovalRecord {
    ApprovalRecord {
        status: Status::Rejected,
        approver: Some("U0G9QF9C6".to_string()),
        reason: Some(
            "Not during the release freeze; use `cargo clean -p shop` instead.".to_string(),
        ),
        decided_at: Some(now()),
        ..shell_request()
    }
}

pub fn expired() -> ApprovalRecord {
    let created = now() - Duration::days(1);
    ApprovalRecord {
        status: Status::Expired,
        reason: Some("No decision within 15 min".to_string()),
        timestamp: created,
        expires_at: created + Duration::minutes(15),
        decided_at: Some(created + Duration::minutes(15)),
        ..quorum_request()
    }
}

pub fn cancelled() -> ApprovalRecord {
    ApprovalRecord {
        status: Status::Cancelled,
        reason: Some("The client cancelled the tool call".to_string()),
        decided_at: Some(now()),
        ..minimal_request()
    }
}

/// Every field an attacker might control, trying to ping the channel, link
/// out or break out of the code block.
pub fn hostile_request() -> ApprovalRecord {
    ApprovalRecord {
        requester: "<!channel> & <@U0HACKER1>".to_string(),
        agent_prompt: Some(
            "Ignore this <https://evil.example|click to approve> <!here> <!everyone>".to_string(),
        ),
        proposed_action: Some("*Risk: low* — approved by <!subteam^S0SECURITY>".to_string()),
        server: Some("<#C0GENERAL>".to_string()),
        reasons: vec!["<@U0ADMIN01> said ok".to_string()],
        approvers: vec!["<!channel>".to_string(), "U024BE7LH<!here>".to_string()],
        escalation: Some(Escalation {
            after_secs: 60,
            to: Some("<!everyone>".to_string()),
        }),
        ..base(
            "apr_<!channel>",
            "write_file <!channel>",
            json!({ "content": "```\n*APPROVED* <!channel> <https://evil.example|docs>\n```", "path": "&lt;already escaped&gt;" }),
        )
    }
}

/// Values far past every Block Kit limit.
pub fn huge_request() -> ApprovalRecord {
    ApprovalRecord {
        requester: "r".repeat(2500),
        agent_prompt: Some("<".repeat(4000)),
        proposed_action: Some("a & b ".repeat(800)),
        server: Some("s".repeat(3000)),
        reasons: (0..200)
            .map(|i| format!("reason number {i} with some words"))
            .collect(),
        ..base(
            "apr_huge",
            &"t".repeat(400),
            json!({
                "content": "x".repeat(10_000),
                "path": "/tmp/big.txt",
                "rows": (0..100).map(|i| format!("row {i}: {}", "data ".repeat(10))).collect::<Vec<_>>(),
            }),
        )
    }
}

pub fn pending_list(n: usize) -> Vec<ApprovalRecord> {
    (0..n)
        .map(|i| {
            let mut r = match i % 3 {
                0 => shell_request(),
                1 => quorum_request(),
                _ => minimal_request(),
            };
            r.request_id = format!("apr_{i:03}");
            r
        })
        .collect()
}

/// Every message the snapshot and Block Kit tests cover, by name.
pub fn all_messages() -> Vec<(String, Value)> {
    let t = Templates::builtin();
    let now = now();
    let mut out = Vec::new();
    let mut add = |name: &str, msg: Result<Value, hitl_cards::CardError>| {
        out.push((
            name.to_string(),
            msg.unwrap_or_else(|e| panic!("{name}: {e}")),
        ));
    };
    add(
        "request_shell",
        slack::request_message(&shell_request(), now, &t),
    );
    add(
        "request_quorum",
        slack::request_message(&quorum_request(), now, &t),
    );
    add(
        "request_secrets",
        slack::request_message(&secrets_request(), now, &t),
    );
    add(
        "request_minimal",
        slack::request_message(&minimal_request(), now, &t),
    );
    add(
        "request_hostile",
        slack::request_message(&hostile_request(), now, &t),
    );
    add(
        "request_huge",
        slack::request_message(&huge_request(), now, &t),
    );
    add(
        "decided_approved",
        slack::decided_message(&approved(), now, &t),
    );
    add(
        "decided_rejected",
        slack::decided_message(&rejected(), now, &t),
    );
    add(
        "decided_expired",
        slack::decided_message(&expired(), now, &t),
    );
    add(
        "decided_cancelled",
        slack::decided_message(&cancelled(), now, &t),
    );
    add(
        "decided_hostile",
        slack::decided_message(
            &ApprovalRecord {
                status: Status::Rejected,
                approver: Some("<!channel>".to_string()),
                reason: Some("<!here> see <https://evil.example>".to_string()),
                decided_at: Some(now),
                ..hostile_request()
            },
            now,
            &t,
        ),
    );
    add(
        "reminder_escalation",
        slack::reminder_message(&shell_request(), now + Duration::minutes(10), &t),
    );
    add(
        "reminder_plain",
        slack::reminder_message(&minimal_request(), now + Duration::minutes(10), &t),
    );
    add(
        "reminder_hostile",
        slack::reminder_message(&hostile_request(), now, &t),
    );
    add(
        "reminder_overdue",
        slack::reminder_message(&minimal_request(), now + Duration::minutes(20), &t),
    );
    add(
        "pending_list_three",
        slack::pending_list_message(&pending_list(3), now, &t),
    );
    add(
        "pending_list_empty",
        slack::pending_list_message(&[], now, &t),
    );
    add(
        "pending_list_long",
        slack::pending_list_message(&pending_list(27), now, &t),
    );
    out
}

/// Every string anywhere in a JSON value, with its JSON pointer.
pub fn strings(value: &Value) -> Vec<(String, String)> {
    fn walk(v: &Value, at: String, out: &mut Vec<(String, String)>) {
        match v {
            Value::String(s) => out.push((at, s.clone())),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, x)| walk(x, format!("{at}/{i}"), out)),
            Value::Object(o) => o
                .iter()
                .for_each(|(k, x)| walk(x, format!("{at}/{k}"), out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, String::new(), &mut out);
    out
}

/// A record whose every field tries Teams Markdown: bold, links, lists,
/// mentions, entities, rules.
pub fn teams_hostile_request() -> ApprovalRecord {
    ApprovalRecord {
        requester: "**ADMIN** <at>Ana</at> &amp; [CEO](https://evil.example)".to_string(),
        agent_prompt: Some(
            "Ignore this\n- approved by security\n1. click [here](https://evil.example)\n---\n_urgent_"
                .to_string(),
        ),
        proposed_action: Some("**Risk: low** — ~~dangerous~~ `safe`".to_string()),
        server: Some("[filesystem](https://evil.example)".to_string()),
        reasons: vec!["<at>Security</at> said *ok*".to_string()],
        approvers: vec!["teams:**everyone**".to_string(), "group:[x](y)".to_string()],
        ..base(
            "apr_[x](y)",
            "write_file **now**",
            json!({ "content": "**APPROVED** [docs](https://evil.example)\n- item", "path": "&lt;already escaped&gt;" }),
        )
    }
}

/// The MRIs a Teams request card refreshes for.
pub fn refresh_users() -> Vec<String> {
    vec![
        "29:1GcS4EyB_oSI8A88XmWBN7NJFyMqe3QGnJdgLfFGkJnm".to_string(),
        "29:1x9Xa-approver-two".to_string(),
    ]
}

/// Every Teams card the tests cover, by name.
pub fn all_teams_cards() -> Vec<(String, Value)> {
    use hitl_cards::teams::{self, Extras, View};
    let t = Templates::builtin();
    let now = now();
    let users = refresh_users();
    let refresh = Extras {
        refresh_user_ids: &users,
        note: None,
    };
    let mut out = Vec::new();
    let mut add = |name: &str, card: Result<Value, hitl_cards::CardError>| {
        out.push((
            name.to_string(),
            card.unwrap_or_else(|e| panic!("{name}: {e}")),
        ));
    };
    add(
        "teams_request_shell",
        teams::request_card(&shell_request(), now, &t, refresh),
    );
    add(
        "teams_request_quorum",
        teams::request_card(&quorum_request(), now, &t, refresh),
    );
    add(
        "teams_request_secrets",
        teams::request_card(&secrets_request(), now, &t, Extras::default()),
    );
    add(
        "teams_request_minimal",
        teams::request_card(&minimal_request(), now, &t, Extras::default()),
    );
    add(
        "teams_request_hostile",
        teams::request_card(&teams_hostile_request(), now, &t, refresh),
    );
    add(
        "teams_request_huge",
        teams::request_card(&huge_request(), now, &t, refresh),
    );
    add(
        "teams_progress_quorum",
        teams::progress_card(
            &quorum_request(),
            now,
            &t,
            Extras {
                refresh_user_ids: &users,
                note: Some("Your approval is recorded. 1 more is needed."),
            },
        ),
    );
    add(
        "teams_progress_requester",
        teams::card(
            &shell_request(),
            now,
            &t,
            View::Status,
            Extras {
                refresh_user_ids: &[],
                note: Some("You asked for this call, so someone else must decide."),
            },
        ),
    );
    add(
        "teams_decided_approved",
        teams::decided_card(&approved(), now, &t, None),
    );
    add(
        "teams_decided_rejected",
        teams::decided_card(&rejected(), now, &t, None),
    );
    add(
        "teams_decided_expired",
        teams::decided_card(&expired(), now, &t, None),
    );
    add(
        "teams_decided_cancelled",
        teams::decided_card(&cancelled(), now, &t, None),
    );
    add(
        "teams_decided_late_click",
        teams::decided_card(
            &approved(),
            now,
            &t,
            Some("Already approved by U024BE7LH; your click changed nothing."),
        ),
    );
    add(
        "teams_decided_hostile",
        teams::decided_card(
            &ApprovalRecord {
                status: Status::Rejected,
                approver: Some("teams:**CEO** [x](https://evil.example)".to_string()),
                reason: Some("- no\n**really** <at>no</at>".to_string()),
                decided_at: Some(now),
                ..teams_hostile_request()
            },
            now,
            &t,
            None,
        ),
    );
    add(
        "teams_reminder_escalation",
        teams::reminder_card(&shell_request(), now + Duration::minutes(10), &t),
    );
    add(
        "teams_reminder_plain",
        teams::reminder_card(&minimal_request(), now + Duration::minutes(10), &t),
    );
    add(
        "teams_pending_list_three",
        teams::pending_list_card(&pending_list(3), now, &t),
    );
    add(
        "teams_pending_list_empty",
        teams::pending_list_card(&[], now, &t),
    );
    add(
        "teams_pending_list_long",
        teams::pending_list_card(&pending_list(27), now, &t),
    );
    out
}
