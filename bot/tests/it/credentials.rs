//! Only people decide: each finding of the security review, replayed over
//! HTTP against a real server and shown refused with nothing changed.

use hitl_bot::credentials::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{BotProcess, TOKEN, TestServer, bin};

#[tokio::test]
async fn a_requester_credential_cannot_decide_whatever_name_it_gives() {
    let s = TestServer::start().await;
    s.create(json!({"request_id": "forged"})).await;
    let bound = s.credential(Role::Requester, Some("agent-7")).await;
    let before = s.snapshot().await;
    for token in [TOKEN, bound.as_str()] {
        for body in [
            json!({"action": "approve", "approver": "alice"}),
            json!({"action": "approve"}),
            json!({"action": "reject", "approver": "alice", "reason": "x"}),
        ] {
            let (status, err) = s
                .post_as(token, "/v1/approvals/forged/decision", body)
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
            assert_eq!(err["code"], "wrong_role", "{err}");
        }
    }
    assert_eq!(
        s.snapshot().await,
        before,
        "a refused decision changed nothing"
    );
    s.stop().await;
}

#[tokio::test]
async fn the_decision_identity_comes_from_the_credential() {
    let s = TestServer::start().await;
    s.create(json!({"request_id": "d1"})).await;
    s.create(json!({"request_id": "d2"})).await;
    let alice = s.approver_token("alice").await;
    let before = s.snapshot().await;
    let (status, err) = s
        .post_as(
            &alice,
            "/v1/approvals/d1/decision",
            json!({"action": "approve", "approver": "bob"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    assert_eq!(err["code"], "actor_mismatch");
    assert_eq!(s.snapshot().await, before);
    // The same person, written another way, is accepted and recorded as the credential names them.
    let (status, r) = s
        .post_as(
            &alice,
            "/v1/approvals/d1/decision",
            json!({"action": "approve", "approver": " ALICE "}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["approver"], "alice");
    let (status, r) = s
        .post_as(
            &alice,
            "/v1/approvals/d2/decision",
            json!({"action": "approve"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["approver"], "alice");
    // No credential, or an unknown one, is no one.
    let resp = s
        .http
        .post(format!("{}/v1/approvals/d2/decision", s.url))
        .json(&json!({"action": "approve"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    s.stop().await;
}

#[tokio::test]
async fn one_approver_credential_is_one_vote_however_the_name_is_written() {
    let s = TestServer::start().await;
    s.create(json!({"request_id": "q2", "quorum": 2})).await;
    let alice = s.approver_token("alice").await;
    let (status, r) = s
        .post_as(
            &alice,
            "/v1/approvals/q2/decision",
            json!({"action": "approve", "approver": "alice"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let before = s.snapshot().await;
    let (status, err) = s
        .post_as(
            &alice,
            "/v1/approvals/q2/decision",
            json!({"action": "approve", "approver": "ALICE"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["code"], "duplicate_vote", "{err}");
    assert_eq!(s.snapshot().await, before);
    let r = s.record("q2").await;
    assert_eq!(r["status"], "pending");
    assert_eq!(r["approvals"].as_array().unwrap().len(), 1);
    s.stop().await;
}

#[tokio::test]
async fn self_approval_is_not_dodged_by_spelling() {
    let s = TestServer::start().await;
    let me = s.credential(Role::Requester, Some("U123")).await;
    let (status, r) = s
        .post_as(
            &me,
            "/v1/approvals",
            json!({"request_id": "mine", "tool": "deploy", "arguments": {}, "risk": "high", "requester": "U123"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(r["requester"], "slack:U123");
    let before = s.snapshot().await;
    for who in ["U123 ", "u123", "<@U123>", "slack:u123"] {
        let (status, err) = s.decide("mine", "approve", who, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}: {err}");
        assert_eq!(err["code"], "self_approval", "{who}: {err}");
    }
    assert_eq!(s.snapshot().await, before);
    // A bound requester cannot ask as someone else either.
    let (status, err) = s
        .post_as(
            &me,
            "/v1/approvals",
            json!({"tool": "deploy", "arguments": {}, "risk": "high", "requester": "bob"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    assert_eq!(err["code"], "actor_mismatch");
    s.stop().await;
}

#[tokio::test]
async fn cancel_records_the_credential_not_the_body() {
    let s = TestServer::start().await;
    let agent = s.credential(Role::Requester, Some("agent-7")).await;
    let (status, _) = s
        .post_as(
            &agent,
            "/v1/approvals",
            json!({"request_id": "c1", "tool": "deploy", "arguments": {}, "risk": "high", "requester": "agent-7"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, r) = s
        .post_as(
            &agent,
            "/v1/approvals/c1/cancel",
            json!({"by": "alice", "reason": "done"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["approver"], "agent-7", "{r}");
    let (_, audit) = s.get_approver("/v1/approvals/c1/audit").await;
    let actors: Vec<_> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap().to_owned())
        .collect();
    assert!(!actors.iter().any(|a| a == "alice"), "{actors:?}");
    // An empty body is accepted too.
    let (status, _) = s
        .post_as(
            &agent,
            "/v1/approvals",
            json!({"request_id": "c2", "tool": "deploy", "arguments": {}, "risk": "high", "requester": "agent-7"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let resp = s
        .http
        .post(format!("{}/v1/approvals/c2/cancel", s.url))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    s.stop().await;
}

#[tokio::test]
async fn a_requester_sees_only_its_own_requests() {
    let s = TestServer::start().await;
    let a = s.credential(Role::Requester, Some("agent-a")).await;
    let b = s.credential(Role::Requester, Some("agent-b")).await;
    let body = |id: &str| json!({"request_id": id, "tool": "deploy", "arguments": {}, "risk": "high", "requester": "agent-a"});
    assert_eq!(
        s.post_as(&a, "/v1/approvals", body("of-a")).await.0,
        StatusCode::CREATED
    );
    s.create(json!({"request_id": "of-shared"})).await;
    let before = s.snapshot().await;
    for (path, post) in [
        ("/v1/approvals/of-a", false),
        ("/v1/approvals/of-a/audit", false),
        ("/v1/approvals/of-a/cancel", true),
        ("/v1/approvals/of-shared", false),
    ] {
        let (status, err) = if post {
            s.post_as(&b, path, json!({})).await
        } else {
            s.get_as(&b, path).await
        };
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {err}");
    }
    // Re-using someone else's id shows nothing of it.
    let mut as_b = body("of-a");
    as_b["requester"] = json!("agent-b");
    let (status, err) = s.post_as(&b, "/v1/approvals", as_b).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert!(err.get("record").is_none(), "{err}");
    // The shared token does not see a bound requester's request, nor may it ask as one.
    let (status, _) = s.get("/v1/approvals/of-a").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, err) = s
        .post(
            "/v1/approvals",
            json!({"tool": "t", "arguments": {}, "risk": "high", "requester": "agent-a"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    let (_, list) = s.get_as(&b, "/v1/approvals").await;
    assert_eq!(list["approvals"], json!([]));
    let (_, list) = s.get_as(&a, "/v1/approvals").await;
    let ids: Vec<_> = list["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["request_id"].clone())
        .collect();
    assert_eq!(ids, [json!("of-a")]);
    let (status, _) = s.get_as(&a, "/v1/audit").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(s.snapshot().await, before);
    // Approvers read every request; /metrics takes any credential; /healthz none.
    let alice = s.approver_token("alice").await;
    assert_eq!(
        s.get_as(&alice, "/v1/approvals/of-a").await.0,
        StatusCode::OK
    );
    assert_eq!(s.get_as(&a, "/metrics").await.0, StatusCode::OK);
    assert_eq!(s.get_as(&alice, "/metrics").await.0, StatusCode::OK);
    let resp = s
        .http
        .get(format!("{}/metrics", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = s
        .http
        .get(format!("{}/healthz", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // An approver may not create, cancel or claim.
    assert_eq!(
        s.post_as(&alice, "/v1/approvals", body("x")).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.post_as(&alice, "/v1/approvals/of-a/cancel", json!({}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    s.stop().await;
}

async fn cli(args: &[&str], data_dir: &std::path::Path) -> (bool, String, String) {
    let out = tokio::process::Command::new(bin())
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("HITL_TOKEN")
        .env_remove("HITL_CONFIG")
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_running_serve_honours_new_and_revoked_tokens_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let bot = BotProcess::start(dir.path(), Some(TOKEN)).await;
    let http = crate::support::http();
    let create = json!({"request_id": "rv", "tool": "deploy", "arguments": {}, "risk": "high", "requester": "agent"});
    let resp = http
        .post(format!("{}/v1/approvals", bot.url))
        .bearer_auth(TOKEN)
        .json(&create)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);

    let (ok, out, err) = cli(&["token", "create", "--approver", "carol"], dir.path()).await;
    assert!(ok, "{err}");
    let token = out.lines().last().unwrap().trim().to_owned();
    let (ok, listing, _) = cli(&["token", "list"], dir.path()).await;
    assert!(ok);
    assert!(
        listing.contains("carol") && listing.contains("approver"),
        "{listing}"
    );
    assert!(!listing.contains(&token), "the list never shows a token");
    let id = listing
        .lines()
        .find(|l| l.contains("carol"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();

    let list = |t: String| {
        let http = http.clone();
        let url = format!("{}/v1/approvals", bot.url);
        async move { http.get(url).bearer_auth(t).send().await.unwrap().status() }
    };
    assert_eq!(
        list(token.clone()).await,
        StatusCode::OK,
        "a new token works at once"
    );
    let (ok, _, err) = cli(&["token", "revoke", &id], dir.path()).await;
    assert!(ok, "{err}");
    assert_eq!(
        list(token.clone()).await,
        StatusCode::UNAUTHORIZED,
        "a revoked token is refused at once"
    );
    let resp = http
        .post(format!("{}/v1/approvals/rv/decision", bot.url))
        .bearer_auth(&token)
        .json(&json!({"action": "approve"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let (ok, _, err) = cli(&["token", "revoke", &id], dir.path()).await;
    assert!(!ok && err.contains("no credential"), "{err}");
    bot.kill().await;
}

#[cfg(unix)]
#[tokio::test]
async fn the_local_credentials_and_database_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // A database left world-readable by an older version is tightened.
    let db = dir.path().join("hitl.db");
    std::fs::write(&db, b"").unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let bot = BotProcess::start(dir.path(), None).await;
    for name in [
        "token",
        "approver-token",
        "hitl.db",
        "hitl.db-wal",
        "hitl.db-shm",
    ] {
        let path = dir.path().join(name);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}");
    }
    // The terminal commands decide with the local approver credential, no extra step.
    let http = crate::support::http();
    let requester = std::fs::read_to_string(dir.path().join("token")).unwrap();
    let resp = http
        .post(format!("{}/v1/approvals", bot.url))
        .bearer_auth(requester.trim())
        .json(&json!({"request_id": "local", "tool": "deploy", "arguments": {}, "risk": "high", "requester": "agent"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let out = tokio::process::Command::new(bin())
        .args(["approve", "local"])
        .env("HITL_DATA_DIR", dir.path())
        .env("HITL_APPROVAL_URL", &bot.url)
        .env_remove("HITL_TOKEN")
        .env_remove("HITL_APPROVER")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    bot.kill().await;
}

#[tokio::test]
async fn a_blank_token_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    for blank in ["", "   "] {
        let out = tokio::process::Command::new(bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("HITL_TOKEN", blank)
            .env_remove("HITL_CONFIG")
            .output()
            .await
            .unwrap();
        assert!(!out.status.success(), "{blank:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("empty or blank"), "{err}");
    }
}

#[tokio::test]
async fn a_request_may_only_narrow_the_configured_approvers() {
    let settings = hitl_bot::service::Settings {
        default_approvers: vec!["alice".into(), "group:sre".into()],
        groups: [("sre".to_owned(), vec!["bob".to_owned(), "carol".to_owned()])]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let s = TestServer::start_with(settings).await;
    let before = s.snapshot().await;
    for approvers in [
        json!(["mallory"]),
        json!(["alice", "eve"]),
        json!(["group:other"]),
    ] {
        let (status, err) = s
            .post(
                "/v1/approvals",
                json!({"tool": "t", "arguments": {}, "risk": "high", "requester": "agent", "approvers": approvers}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{approvers}: {err}");
        assert_eq!(err["code"], "approver_not_allowed", "{err}");
    }
    assert_eq!(s.snapshot().await, before, "nothing created");
    // Narrowing is fine: one listed person, a group member, the group itself.
    for approvers in [json!(["ALICE"]), json!(["carol"]), json!(["group:sre"])] {
        let r = s.create(json!({"approvers": approvers})).await;
        assert_eq!(r["status"], "pending");
    }
    // And the request's list then binds: mallory cannot decide one for carol.
    let r = s
        .create(json!({"request_id": "for-carol", "approvers": ["carol"]}))
        .await;
    assert_eq!(r["approvers"], json!(["carol"]));
    let (status, err) = s.decide("for-carol", "approve", "alice", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    s.stop().await;
}

#[tokio::test]
async fn an_approval_is_claimed_once_and_only_within_its_window() {
    let args = json!({"path": "/tmp/hitl-test.txt", "content": "hello"});
    // Default window (600 s): the first claim runs, a second is spent.
    let s = TestServer::start().await;
    s.create(json!({"request_id": "run-once"})).await;
    assert_eq!(
        s.decide("run-once", "approve", "alice", None).await.0,
        StatusCode::OK
    );
    let claim = json!({"arguments": args});
    let (status, r) = s
        .post("/v1/approvals/run-once/execution", claim.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let (status, err) = s
        .post("/v1/approvals/run-once/execution", claim.clone())
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["code"], "already_executed");
    s.stop().await;

    // A window of 0 s: any claim after the decision's instant is too late.
    let s = TestServer::start_with(hitl_bot::service::Settings {
        claim_window_secs: 0,
        ..Default::default()
    })
    .await;
    s.create(json!({"request_id": "late"})).await;
    assert_eq!(
        s.decide("late", "approve", "alice", None).await.0,
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let before = s.snapshot().await;
    let (status, err) = s.post("/v1/approvals/late/execution", claim).await;
    assert_eq!(status, StatusCode::GONE, "{err}");
    assert_eq!(err["code"], "claim_expired", "{err}");
    assert_eq!(
        hitl_client::ErrorCode::parse(err["code"].as_str().unwrap()),
        hitl_client::ErrorCode::ClaimExpired
    );
    assert!(
        hitl_client::ErrorCode::ClaimExpired.approval_spent(),
        "the gateway asks again"
    );
    assert_eq!(s.snapshot().await, before, "nothing changed");
    assert!(s.record("late").await.get("executed_at").is_none());
    s.stop().await;
}

/// A requester's page is filled from its own requests: the filter runs
/// before the limit, so others' requests never leave it short.
#[tokio::test]
async fn a_requesters_page_is_full_of_its_own_requests() {
    let s = TestServer::start().await;
    let a = s.credential(Role::Requester, Some("agent-a")).await;
    for i in 0..2 {
        let body = json!({"request_id": format!("a-{i}"), "tool": "deploy", "arguments": {}, "risk": "high", "requester": "agent-a"});
        assert_eq!(
            s.post_as(&a, "/v1/approvals", body).await.0,
            StatusCode::CREATED
        );
    }
    for i in 0..30 {
        s.create(json!({"request_id": format!("shared-{i}")})).await;
    }
    let (status, list) = s.get_as(&a, "/v1/approvals?status=pending&limit=2").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mut ids: Vec<String> = list["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["request_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    assert_eq!(ids, ["a-0", "a-1"]);
    let (_, list) = s.get_as(&a, "/v1/approvals?limit=1").await;
    assert_eq!(list["approvals"].as_array().unwrap().len(), 1, "{list}");
    s.stop().await;
}
