//! People across platforms: one person linked on Slack and Teams is one
//! person to self-approval, quorum and allowlists.

use hitl_bot::people::{People, PersonConfig};
use hitl_bot::service::Settings;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::TestServer;

fn alice_on_two_platforms() -> Settings {
    Settings {
        people: People::new(&[PersonConfig {
            name: Some("Alice".into()),
            ids: vec!["slack:U0ALICE1".into(), "teams:alice@contoso.com".into()],
        }])
        .unwrap(),
        ..Settings::default()
    }
}

#[tokio::test]
async fn a_linked_person_cannot_approve_their_own_request_from_either_platform() {
    let s = TestServer::start_with(alice_on_two_platforms()).await;
    let r = s
        .create(json!({"request_id": "self-1", "requester": "teams:alice@contoso.com"}))
        .await;
    assert_eq!(r["status"], "pending");
    let before = s.snapshot().await;
    for who in [
        "U0ALICE1",
        "<@U0ALICE1>",
        "slack:u0alice1",
        "teams:Alice@Contoso.com",
    ] {
        let (status, body) = s.decide("self-1", "approve", who, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains("cannot approve"),
            "{who}: {body}"
        );
    }
    assert_eq!(
        s.snapshot().await,
        before,
        "a refused approval changed nothing"
    );
    // Somebody else may.
    let (status, body) = s.decide("self-1", "approve", "U0BOB1", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "approved");
    s.stop().await;
}

#[tokio::test]
async fn a_linked_person_counts_once_toward_a_quorum() {
    let s = TestServer::start_with(alice_on_two_platforms()).await;
    // Three entries, two people: a quorum of 3 can never be met.
    let (status, body) = s
        .post(
            "/v1/approvals",
            json!({"tool": "t", "arguments": {}, "risk": "high", "requester": "agent-1",
                   "approvers": ["U0ALICE1", "teams:alice@contoso.com", "U0BOB1"], "quorum": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("only 2 distinct"),
        "{body}"
    );

    s.create(json!({"request_id": "q-1", "quorum": 2,
                    "approvers": ["U0ALICE1", "teams:alice@contoso.com", "U0BOB1"]}))
        .await;
    let (status, body) = s.decide("q-1", "approve", "U0ALICE1", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "pending");
    // Alice again, from Teams: the same person, so no second vote.
    let (status, body) = s
        .decide("q-1", "approve", "teams:alice@contoso.com", None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        s.record("q-1").await["approvals"].as_array().unwrap().len(),
        1
    );
    let (status, body) = s.decide("q-1", "approve", "slack:U0BOB1", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "approved");
    s.stop().await;
}

#[tokio::test]
async fn allowlists_match_a_person_by_any_of_their_identities() {
    let s = TestServer::start_with(alice_on_two_platforms()).await;
    s.create(json!({"request_id": "allow-1", "approvers": ["slack:U0ALICE1"]}))
        .await;
    let (status, body) = s
        .decide("allow-1", "reject", "teams:carol@contoso.com", Some("no"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = s
        .decide(
            "allow-1",
            "reject",
            "teams:alice@contoso.com",
            Some("not now"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "rejected");
    s.stop().await;
}

#[tokio::test]
async fn malformed_identities_are_refused_with_what_to_write() {
    let s = TestServer::start().await;
    let (status, body) = s
        .post(
            "/v1/approvals",
            json!({"tool": "t", "arguments": {}, "risk": "high", "requester": "agent-1",
                   "approvers": ["email:nobody"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("alice@example.com"),
        "{body}"
    );
    // A malformed person cannot be given an approver credential.
    let e = hitl_bot::credentials::issue(
        hitl_bot::credentials::Role::Approver,
        Some("slack:U 1"),
        chrono::Utc::now(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("U0123ABC"), "{e}");
    s.stop().await;
}
