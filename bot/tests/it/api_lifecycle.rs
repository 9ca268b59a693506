//! Every lifecycle transition over HTTP, and every illegal one refused with
//! a clear error and no change to the store.

use std::collections::HashMap;

use hitl_bot::service::Settings;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::TestServer;

#[tokio::test]
async fn create_is_pending_and_idempotent_on_request_id() {
    let s = TestServer::start().await;
    let r = s
        .create(json!({"request_id": "abc-1", "timeout_secs": 120}))
        .await;
    assert_eq!(r["status"], "pending");
    assert_eq!(r["request_id"], "abc-1");
    assert_eq!(r["quorum"], 1);
    assert!(r["arguments_hash"].as_str().unwrap().starts_with("sha256:"));
    // The same call again: 200 with the stored record, nothing new created.
    let body = json!({
        "request_id": "abc-1", "tool": "write_file", "server": "filesystem",
        "arguments": {"content": "hello", "path": "/tmp/hitl-test.txt"},
        "risk": "high", "requester": "agent-1", "timeout_secs": 120,
    });
    let (status, again) = s.post("/v1/approvals", body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    // `notification_sent` flips in the background once the notice is out.
    let without_notice = |mut v: serde_json::Value| {
        v.as_object_mut().unwrap().remove("notification_sent");
        v
    };
    assert_eq!(without_notice(again), without_notice(r));
    // The same id for a different call is refused.
    let mut other = body;
    other["arguments"]["path"] = json!("/etc/passwd");
    let (status, err) = s.post("/v1/approvals", other).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(err["code"], "request_id_conflict");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("already used for a different call")
    );
    let (_, list) = s.get("/v1/approvals").await;
    assert_eq!(list["approvals"].as_array().unwrap().len(), 1);
    s.stop().await;
}

#[tokio::test]
async fn generated_ids_are_short_and_typeable() {
    let s = TestServer::start().await;
    let id = s.create(json!({})).await["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 10);
    assert!(
        id.chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()),
        "{id}"
    );
    s.stop().await;
}

#[tokio::test]
async fn pending_to_approved_then_final() {
    let s = TestServer::start().await;
    let id = s.create(json!({})).await["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, r) = s.decide(&id, "approve", "alice", Some("looks fine")).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["status"], "approved");
    assert_eq!(r["approver"], "alice");
    assert_eq!(r["reason"], "looks fine");
    assert!(r["decided_at"].is_string());
    let before = s.snapshot().await;
    for (action, who, reason) in [("approve", "bob", None), ("reject", "bob", Some("no"))] {
        let (status, err) = s.decide(&id, action, who, reason).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(err["code"], "already_decided");
        assert_eq!(err["message"], "already approved by alice: looks fine");
        assert_eq!(err["record"]["approver"], "alice");
    }
    let (status, err) = s
        .post(&format!("/v1/approvals/{id}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(s.snapshot().await, before);
    s.stop().await;
}

#[tokio::test]
async fn pending_to_rejected_needs_a_reason() {
    let s = TestServer::start().await;
    let id = s.create(json!({})).await["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = s.snapshot().await;
    let (status, err) = s.decide(&id, "reject", "alice", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["code"], "reason_required");
    let (status, _) = s.decide(&id, "reject", "alice", Some("   ")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(s.snapshot().await, before);
    let (status, r) = s.decide(&id, "reject", "alice", Some("wrong file")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(r["status"], "rejected");
    assert_eq!(r["reason"], "wrong file");
    let (status, err) = s.decide(&id, "approve", "bob", None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(err["message"], "already rejected by alice: wrong file");
    s.stop().await;
}

#[tokio::test]
async fn pending_to_cancelled_and_a_later_click_runs_nothing() {
    let s = TestServer::start().await;
    let id = s.create(json!({})).await["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, r) = s
        .post(
            &format!("/v1/approvals/{id}/cancel"),
            json!({"reason": "client cancelled the call"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(r["status"], "cancelled");
    assert_eq!(r["approver"], "agent-1");
    let (status, err) = s.decide(&id, "approve", "alice", None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        err["message"],
        "already cancelled by agent-1: client cancelled the call"
    );
    let (status, err) = s
        .post(
            &format!("/v1/approvals/{id}/execution"),
            json!({"arguments": r["arguments"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(err["code"], "not_approved");
    s.stop().await;
}

#[tokio::test]
async fn cancel_accepts_an_empty_body() {
    let s = TestServer::start().await;
    let id = s.create(json!({})).await["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = s
        .http
        .post(format!("{}/v1/approvals/{id}/cancel", s.url))
        .bearer_auth(crate::support::TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    s.stop().await;
}

#[tokio::test]
async fn quorum_needs_distinct_allowed_approvers_and_no_self_approval() {
    let settings = Settings {
        groups: HashMap::from([(
            "sre".to_owned(),
            vec!["alice".to_owned(), "bob".to_owned(), "agent-1".to_owned()],
        )]),
        ..Settings::default()
    };
    let s = TestServer::start_with(settings).await;
    let id = s
        .create(json!({"approvers": ["group:sre", "carol"], "quorum": 2}))
        .await["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = s.snapshot().await;
    let (status, err) = s.decide(&id, "approve", "mallory", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(err["code"], "not_an_approver");
    assert_eq!(
        err["message"],
        "mallory may not decide this request; allowed approvers: group:sre, carol"
    );
    let (status, err) = s.decide(&id, "approve", "agent-1", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(err["code"], "self_approval");
    assert_eq!(s.snapshot().await, before);

    let (status, r) = s.decide(&id, "approve", "alice", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(r["status"], "pending");
    assert_eq!(r["approvals"].as_array().unwrap().len(), 1);
    let (status, err) = s.decide(&id, "approve", "alice", None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        err["message"],
        "alice has already approved; 1 of 2 approvals so far"
    );
    let (status, r) = s
        .decide(&id, "approve", "carol", Some("second pair of eyes"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(r["status"], "approved");
    assert_eq!(r["approver"], "carol");
    let voters: Vec<_> = r["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["approver"].clone())
        .collect();
    assert_eq!(voters, vec![json!("alice"), json!("carol")]);
    s.stop().await;
}

#[tokio::test]
async fn first_rejection_wins_over_partial_quorum() {
    let s = TestServer::start().await;
    let id = s
        .create(json!({"approvers": ["alice", "bob", "carol"], "quorum": 3}))
        .await["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.decide(&id, "approve", "alice", None).await;
    let (status, r) = s
        .decide(&id, "reject", "bob", Some("not during the freeze"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(r["status"], "rejected");
    assert_eq!(r["approver"], "bob");
    s.stop().await;
}

#[tokio::test]
async fn unmeetable_quorum_and_unknown_groups_are_refused_at_create() {
    let s = TestServer::start().await;
    let base = json!({"tool": "t", "risk": "high", "requester": "a"});
    for (extra, needle) in [
        (
            json!({"approvers": ["alice"], "quorum": 2}),
            "cannot be met",
        ),
        (
            json!({"approvers": ["group:nope"]}),
            "unknown approver group \"nope\"",
        ),
        (json!({"quorum": 0}), "`quorum` must be between 1 and 20"),
        (
            json!({"timeout_secs": 0}),
            "`timeout_secs` must be between 1",
        ),
        (json!({"request_id": "has space"}), "`request_id` must be"),
        (
            json!({"escalation": {"after_secs": 999, "to": "oncall"}, "timeout_secs": 60}),
            "escalation.after_secs",
        ),
    ] {
        let mut body = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, err) = s.post("/v1/approvals", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{extra}: {err}");
        assert!(
            err["message"].as_str().unwrap().contains(needle),
            "{extra}: {err}"
        );
    }
    let (_, list) = s.get("/v1/approvals").await;
    assert!(list["approvals"].as_array().unwrap().is_empty());
    s.stop().await;
}

#[tokio::test]
async fn execution_is_recorded_once_with_the_approved_arguments() {
    let s = TestServer::start().await;
    let r = s.create(json!({})).await;
    let id = r["request_id"].as_str().unwrap();
    let path = format!("/v1/approvals/{id}/execution");
    let (status, err) = s.post(&path, json!({"arguments": r["arguments"]})).await;
    assert_eq!(
        (status, err["code"].clone()),
        (StatusCode::CONFLICT, json!("not_approved"))
    );
    s.decide(id, "approve", "alice", None).await;
    let (status, err) = s
        .post(
            &path,
            json!({"arguments": {"path": "/etc/shadow", "content": "hello"}}),
        )
        .await;
    assert_eq!(
        (status, err["code"].clone()),
        (StatusCode::CONFLICT, json!("arguments_mismatch"))
    );
    // Key order does not matter: the canonical form is compared.
    let (status, done) = s
        .post(
            &path,
            json!({"arguments": {"content": "hello", "path": "/tmp/hitl-test.txt"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["arguments_executed"], r["arguments"]);
    assert!(done["executed_at"].is_string());
    let (status, err) = s.post(&path, json!({"arguments": r["arguments"]})).await;
    assert_eq!(
        (status, err["code"].clone()),
        (StatusCode::CONFLICT, json!("already_executed"))
    );
    s.stop().await;
}

#[tokio::test]
async fn list_filters_by_status_and_audit_records_every_change() {
    let s = TestServer::start().await;
    let a = s.create(json!({"request_id": "a"})).await;
    s.create(json!({"request_id": "b"})).await;
    s.decide("b", "reject", "alice", Some("no")).await;
    let (_, pending) = s.get("/v1/approvals?status=pending").await;
    let ids: Vec<_> = pending["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["request_id"].clone())
        .collect();
    assert_eq!(ids, vec![a["request_id"].clone()]);
    let (_, rejected) = s.get("/v1/approvals?status=rejected").await;
    assert_eq!(rejected["approvals"][0]["request_id"], "b");

    let (status, audit) = s.get("/v1/approvals/b/audit").await;
    assert_eq!(status, StatusCode::OK);
    let actions: Vec<_> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .filter(|a| *a != "notified")
        .collect();
    assert_eq!(actions, ["created", "rejected"]);
    let rejected = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "rejected")
        .unwrap();
    assert_eq!(rejected["actor"], "alice");
    assert_eq!(rejected["from_status"], "pending");
    assert_eq!(rejected["to_status"], "rejected");
    assert_eq!(rejected["detail"]["reason"], "no");
    let (status, _) = s.get("/v1/approvals/nope/audit").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test]
async fn unknown_request_is_404_with_a_message() {
    let s = TestServer::start().await;
    let (status, err) = s.get("/v1/approvals/does-not-exist").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["code"], "not_found");
    assert_eq!(
        err["message"],
        "no approval request with id \"does-not-exist\""
    );
    let (status, _) = s.decide("does-not-exist", "approve", "alice", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test]
async fn healthz_is_open_and_metrics_need_the_token() {
    let s = TestServer::start().await;
    let resp = s
        .http
        .get(format!("{}/healthz", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = s
        .http
        .get(format!("{}/metrics", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    let id = s.create(json!({})).await["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.create(json!({})).await;
    s.decide(&id, "approve", "alice", None).await;
    let text = s
        .http
        .get(format!("{}/metrics", s.url))
        .bearer_auth(crate::support::TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("hitl_approvals_pending 1\n"), "{text}");
    assert!(text.contains("hitl_approvals_created_total 2\n"), "{text}");
    assert!(
        text.contains("hitl_decision_latency_seconds_count 1\n"),
        "{text}"
    );
    assert!(
        text.contains("hitl_approvals_finished_total{status=\"approved\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("hitl_http_requests_total{method=\"POST\",route=\"/v1/approvals/{id}/decision\",status=\"200\"} 1\n"),
        "{text}"
    );
    s.stop().await;
}

#[tokio::test]
async fn retention_purges_old_final_records_but_never_pending_ones() {
    let settings = Settings {
        retention: Some(std::time::Duration::from_millis(50)),
        ..Settings::default()
    };
    let s = TestServer::start_with(settings).await;
    s.create(json!({"request_id": "old"})).await;
    s.create(json!({"request_id": "waiting"})).await;
    s.decide("old", "approve", "alice", None).await;
    tokio::time::sleep(std::time::Duration::from_millis(120)).await;
    assert_eq!(s.service.purge().await.unwrap(), 1);
    let (status, _) = s.get("/v1/approvals/old").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, audit) = s.get_approver("/v1/audit").await;
    assert!(
        audit["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["request_id"] == "waiting")
    );
    assert_eq!(s.record("waiting").await["status"], "pending");
    s.stop().await;
}

#[tokio::test]
async fn audit_pages_follow_an_opaque_cursor_and_the_old_seq_form() {
    let s = TestServer::start().await;
    for id in ["p1", "p2", "p3"] {
        s.create(json!({"request_id": id})).await;
        s.decide(id, "approve", "alice", None).await;
    }
    let (_, all) = s.get_approver("/v1/audit?limit=500").await;
    let everything: Vec<i64> = all["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert!(everything.len() >= 6, "{all}");
    assert!(all.get("next_cursor").is_none(), "one page: {all}");

    // By cursor, two at a time: every entry once, in order.
    let (mut by_cursor, mut by_seq) = (Vec::new(), Vec::new());
    let mut path = "/v1/audit?limit=2".to_owned();
    loop {
        let (status, page) = s.get_approver(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        by_cursor.extend(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/audit?limit=2&cursor={}", urlencode(c)),
            None => break,
        }
    }
    assert_eq!(by_cursor, everything);
    // The older `after=SEQ` form still pages the same on SQLite.
    let mut after = 0;
    loop {
        let (_, page) = s
            .get_approver(&format!("/v1/audit?limit=2&after={after}"))
            .await;
        by_seq.extend(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_i64().unwrap()),
        );
        match page["next_after"].as_i64() {
            Some(n) => after = n,
            None => break,
        }
    }
    assert_eq!(by_seq, everything);

    for bad in [
        "/v1/audit?cursor=12",
        "/v1/audit?cursor=sq1.x",
        "/v1/approvals/p1/audit?cursor=abc",
    ] {
        let (status, err) = s.get_approver(bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {err}");
        assert!(
            err["message"].as_str().unwrap().contains("next_cursor"),
            "{err}"
        );
    }
    let (status, err) = s.get_approver("/v1/audit?cursor=sq1.2&after=2").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["message"], "give `cursor` or `after`, not both");
    s.stop().await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
