//! The terminal approver (`hitl-bot pending | approve | reject | audit export`)
//! against a running service, and the token the service generates for it.

use std::process::Output;

use serde_json::json;

use crate::support::{BotProcess, TOKEN, TestServer, bin};

async fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = tokio::process::Command::new(bin());
    cmd.args(args)
        .env_remove("HITL_TOKEN")
        .env_remove("HITL_APPROVAL_URL")
        .env("HITL_APPROVER", "cli:tester");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().await.unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn pending_approve_reject_and_audit_export() {
    let s = TestServer::start().await;
    s.create(json!({"request_id": "one", "tool": "delete_branch"}))
        .await;
    s.create(json!({"request_id": "two", "tool": "drop_table", "risk": "critical"}))
        .await;
    let approver = s.approver_token("cli:tester").await;
    let env = [
        ("HITL_APPROVAL_URL", s.url.as_str()),
        ("HITL_TOKEN", approver.as_str()),
    ];

    let out = run(&["pending"], &env).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listing = text(&out.stdout);
    assert!(listing.starts_with("ID"), "{listing}");
    assert!(
        listing.contains("one") && listing.contains("delete_branch"),
        "{listing}"
    );
    assert!(
        listing.contains("two") && listing.contains("critical"),
        "{listing}"
    );

    let out = run(&["approve", "one", "--reason", "ok by me"], &env).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "one approved by cli:tester: delete_branch on filesystem\n"
    );
    assert_eq!(s.record("one").await["reason"], "ok by me");

    let out = run(&["reject", "two", "--reason", "never in prod"], &env).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(s.record("two").await["status"], "rejected");

    // A second decision fails, naming the winner.
    let out = run(&["approve", "two"], &env).await;
    assert!(!out.status.success());
    assert_eq!(
        text(&out.stderr),
        "hitl-bot: two: already rejected by cli:tester: never in prod\n"
    );

    // Reject without a reason is refused by the CLI itself.
    let out = run(&["reject", "one"], &env).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--reason"));

    let out = run(&["pending"], &env).await;
    assert_eq!(text(&out.stdout), "no pending requests\n");

    let out = run(&["audit", "export", "--format", "jsonl"], &env).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let decisions: Vec<_> = lines
        .iter()
        .filter(|e| e["action"] == "approved" || e["action"] == "rejected")
        .map(|e| {
            (
                e["request_id"].as_str().unwrap(),
                e["actor"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(decisions, [("one", "cli:tester"), ("two", "cli:tester")]);
    assert!(
        lines
            .windows(2)
            .all(|w| w[0]["seq"].as_i64() < w[1]["seq"].as_i64())
    );

    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("audit.csv");
    let out = run(
        &[
            "audit",
            "export",
            "--format",
            "csv",
            "--output",
            csv_path.to_str().unwrap(),
        ],
        &env,
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let mut rows = csv.lines();
    assert_eq!(
        rows.next(),
        Some("seq,request_id,at,actor,action,from_status,to_status,detail")
    );
    let rejected = csv
        .lines()
        .find(|l| l.contains(",rejected,pending,rejected,"))
        .unwrap();
    assert!(
        rejected.contains(r#""{""reason"":""never in prod""}""#),
        "{rejected}"
    );
    assert_eq!(csv.lines().count(), lines.len() + 1);
    s.stop().await;
}

#[tokio::test]
async fn the_service_generates_a_private_token_the_cli_finds() {
    let dir = tempfile::tempdir().unwrap();
    let bot = BotProcess::start(dir.path(), None).await;
    let path = dir.path().join("token");
    let token = std::fs::read_to_string(&path).unwrap();
    assert_eq!(token.len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let data_dir = dir.path().to_str().unwrap();
    let env = [
        ("HITL_APPROVAL_URL", bot.url.as_str()),
        ("HITL_DATA_DIR", data_dir),
    ];
    let out = run(&["pending"], &env).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "no pending requests\n");
    // A wrong token is refused.
    let out = run(
        &["pending"],
        &[
            ("HITL_APPROVAL_URL", bot.url.as_str()),
            ("HITL_TOKEN", "nope"),
        ],
    )
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("invalid bearer token"),
        "{}",
        text(&out.stderr)
    );
    bot.kill().await;
    // A restart reuses the same token.
    let bot = BotProcess::start(dir.path(), None).await;
    assert_eq!(std::fs::read_to_string(&path).unwrap(), token);
    bot.kill().await;
}

#[tokio::test]
async fn an_unreachable_service_is_a_clear_error() {
    let port = crate::support::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let out = run(
        &["pending"],
        &[("HITL_APPROVAL_URL", url.as_str()), ("HITL_TOKEN", TOKEN)],
    )
    .await;
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot reach the approval service") && err.contains("hitl-bot serve"),
        "{err}"
    );
}

#[tokio::test]
async fn audit_csv_never_starts_a_cell_with_a_formula() {
    let s = TestServer::start().await;
    // A caller-chosen id a spreadsheet would read as a formula.
    s.create(json!({"request_id": "-2-1", "tool": "delete_branch"}))
        .await;
    let approver = s.approver_token("cli:tester").await;
    let env = [
        ("HITL_APPROVAL_URL", s.url.as_str()),
        ("HITL_TOKEN", approver.as_str()),
    ];
    let out = run(&["audit", "export", "--format", "csv"], &env).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    let created = csv.lines().find(|l| l.contains(",created,")).unwrap();
    assert!(created.contains(",'-2-1,"), "{created}");
    // The JSONL export keeps the value as it is.
    let out = run(&["audit", "export", "--format", "jsonl"], &env).await;
    assert!(text(&out.stdout).contains(r#""request_id":"-2-1""#));
    s.stop().await;
}

#[tokio::test]
async fn plain_http_to_another_machine_is_refused_as_slack_api_url() {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("SLACK_BOT_TOKEN", "xoxb-1-2-abc")
        .env("SLACK_API_URL", "http://slack.example/api/")
        .output()
        .await
        .unwrap();
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("SLACK_API_URL") && err.contains("use https://"),
        "{err}"
    );
}

#[tokio::test]
async fn pending_lists_every_request_when_one_stored_record_is_deep() {
    let s = TestServer::start().await;
    s.create(json!({"request_id": "readable", "tool": "delete_branch"}))
        .await;
    // A record stored before the API capped depth (or by another writer),
    // 125 levels deep: inside a listing that was past what a JSON reader
    // accepts, and the whole listing failed.
    for (id, levels) in [("deep-125", 125)] {
        let mut deep = json!("leaf");
        for _ in 0..levels {
            deep = json!({ "a": deep });
        }
        let body: hitl_wire::api::CreateApproval = serde_json::from_value(json!({
            "request_id": id, "tool": "t", "risk": "high", "requester": "a"
        }))
        .unwrap();
        s.service
            .create(hitl_wire::api::CreateApproval {
                arguments: deep,
                ..body
            })
            .await
            .unwrap();
    }
    let env = [("HITL_APPROVAL_URL", s.url.as_str()), ("HITL_TOKEN", TOKEN)];
    let out = run(&["pending"], &env).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listing = text(&out.stdout);
    assert!(
        listing.contains("readable") && listing.contains("delete_branch"),
        "{listing}"
    );
    assert!(listing.contains("deep-125"), "{listing}");
    s.stop().await;
}
