//! The Bot Connector client against the fake connector: one token for many
//! posts, cards posted and replaced, ids encoded, 429/5xx typed for the
//! outbox with `Retry-After`, a revoked token renewed once, and nothing
//! ever sent to a connector off the allowlist.

use std::time::Duration;

use hitl_bot::teams::activity::card_message;
use hitl_bot::teams::connector::{Connector, ConnectorError};
use hitl_bot::teams::settings::TeamsSettings;
use hitl_cards::{Templates, teams};
use secrecy::SecretString;
use serde_json::{Value, json};

use super::fake::{APP_PASSWORD, FakeConnector};
use super::{APP_ID, TENANT};

const CHANNEL: &str = "19:abc@thread.tacv2";

fn settings(fake: &FakeConnector) -> TeamsSettings {
    TeamsSettings {
        app_id: APP_ID.to_string(),
        app_password: Some(SecretString::from(APP_PASSWORD)),
        tenant_id: Some(TENANT.to_string()),
        token_url: Some(fake.token_url(TENANT)),
        allowed_service_urls: vec![fake.url.clone()],
        ..TeamsSettings::default()
    }
}

fn connector(fake: &FakeConnector) -> Connector {
    Connector::new(&settings(fake), super::http()).unwrap()
}

fn request_card() -> Value {
    let record = hitl_wire::ApprovalRecord {
        request_id: "apr_9".into(),
        status: hitl_wire::Status::Pending,
        requester: "agent".into(),
        agent_prompt: None,
        proposed_action: None,
        tool: "write_file".into(),
        server: None,
        arguments: json!({ "path": "/tmp/x" }),
        arguments_hash: hitl_wire::arguments_hash(&json!({ "path": "/tmp/x" })),
        arguments_executed: None,
        executed_at: None,
        risk: hitl_wire::Risk::High,
        reasons: vec![],
        approvers: vec![],
        quorum: 1,
        approvals: vec![],
        approver: None,
        reason: None,
        timestamp: chrono::Utc::now(),
        expires_at: chrono::Utc::now() + chrono::Duration::minutes(15),
        decided_at: None,
        escalation: None,
        reminded_at: None,
        notification_sent: false,
        session: None,
        channel: None,
    };
    teams::request_card(
        &record,
        chrono::Utc::now(),
        &Templates::builtin(),
        teams::Extras::default(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_card_is_posted_and_replaced_with_one_cached_token() {
    let fake = FakeConnector::start().await;
    let c = connector(&fake);
    let activity = card_message(request_card());
    let posted = c
        .send_to_conversation(&fake.service_url(), CHANNEL, &activity)
        .await
        .unwrap();
    assert!(!posted.id.is_empty());
    c.update_activity(&fake.service_url(), CHANNEL, &posted.id, &activity)
        .await
        .unwrap();
    c.send_to_conversation(&fake.service_url(), CHANNEL, &activity)
        .await
        .unwrap();
    assert_eq!(fake.token_calls(), 1, "the token is cached");
    let calls = fake.connector_calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[0].method, "POST");
    assert_eq!(
        calls[0].path,
        "/amer/v3/conversations/19:abc@thread.tacv2/activities"
    );
    assert_eq!(calls[1].method, "PUT");
    assert_eq!(
        calls[1].path,
        format!(
            "/amer/v3/conversations/19:abc@thread.tacv2/activities/{}",
            posted.id
        )
    );
    assert_eq!(
        calls[0].authorization.as_deref(),
        Some("Bearer eyJ0eXAi.fake-access-token-1")
    );
    let body: Value = serde_json::from_str(&calls[0].body).unwrap();
    assert_eq!(body["type"], "message");
    assert_eq!(
        body["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(body["attachments"][0]["content"]["version"], "1.5");
    // The token request was a client-credentials grant for the connector.
    let token = &fake.calls()[0];
    assert!(token.body.contains("grant_type=client_credentials"));
    assert!(
        token
            .body
            .contains("scope=https%3A%2F%2Fapi.botframework.com%2F.default")
    );
}

#[tokio::test]
async fn thread_ids_with_separators_are_one_encoded_path_segment() {
    let fake = FakeConnector::start().await;
    let c = connector(&fake);
    let thread = "19:abc@thread.tacv2;messageid=1700000000000";
    c.send_to_conversation(
        &fake.service_url(),
        thread,
        &json!({ "type": "message", "text": "hi" }),
    )
    .await
    .unwrap();
    c.update_activity(
        &fake.service_url(),
        "a:1/../x",
        "1:2/3",
        &json!({ "type": "message" }),
    )
    .await
    .unwrap();
    let calls = fake.connector_calls();
    assert_eq!(
        calls[0].path,
        "/amer/v3/conversations/19:abc@thread.tacv2;messageid=1700000000000/activities"
    );
    assert_eq!(
        calls[1].path,
        "/amer/v3/conversations/a:1%2F..%2Fx/activities/1:2%2F3"
    );
}

#[tokio::test]
async fn throttling_and_server_errors_are_retryable_with_retry_after() {
    let fake = FakeConnector::start().await;
    let c = connector(&fake);
    let activity = json!({ "type": "message", "text": "hi" });
    fake.answer_next(429, &[("retry-after", "7")]);
    fake.answer_next(503, &[]);
    fake.answer_next(400, &[]);
    let err = c
        .send_to_conversation(&fake.service_url(), CHANNEL, &activity)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Throttled { .. }), "{err}");
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    let err = c
        .send_to_conversation(&fake.service_url(), CHANNEL, &activity)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConnectorError::Server { status: 503, .. }),
        "{err}"
    );
    assert!(err.is_retryable());
    let err = c
        .send_to_conversation(&fake.service_url(), CHANNEL, &activity)
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("scripted 400"), "{err}");
    // And then it works again.
    c.send_to_conversation(&fake.service_url(), CHANNEL, &activity)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_revoked_token_is_renewed_once_and_an_expiring_one_in_time() {
    let fake = FakeConnector::start().await;
    let c = connector(&fake);
    let activity = json!({ "type": "message", "text": "hi" });
    c.send_to_conversation(&fake.service_url(), CHANNEL, &activity)
        .await
        .unwrap();
    fake.revoke_tokens();
    c.send_to_conversation(&fake.service_url(), CHANNEL, &activity)
        .await
        .unwrap();
    assert_eq!(fake.token_calls(), 2);

    // A token that lives 2 s is renewed half-way, before it expires.
    let fake = FakeConnector::start().await;
    fake.set_token_lifetime(2);
    let c = connector(&fake);
    c.send_to_conversation(&fake.service_url(), CHANNEL, &activity)
        .await
        .unwrap();
    c.send_to_conversation(&fake.service_url(), CHANNEL, &activity)
        .await
        .unwrap();
    assert_eq!(fake.token_calls(), 1);
}

#[tokio::test]
async fn bad_credentials_say_so_without_the_secret() {
    let fake = FakeConnector::start().await;
    let c = Connector::new(
        &TeamsSettings {
            app_password: Some(SecretString::from("wrong-secret-value")),
            ..settings(&fake)
        },
        super::http(),
    )
    .unwrap();
    let err = c
        .send_to_conversation(&fake.service_url(), CHANNEL, &json!({ "type": "message" }))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, ConnectorError::TokenRefused { status: 401, .. }),
        "{text}"
    );
    assert!(text.contains("AADSTS7000215"), "{text}");
    assert!(!text.contains("wrong-secret-value"), "{text}");
    assert!(!format!("{err:?}").contains("wrong-secret-value"));
    assert!(fake.connector_calls().is_empty());

    let none = Connector::new(
        &TeamsSettings {
            app_password: None,
            ..settings(&fake)
        },
        super::http(),
    )
    .unwrap();
    let err = none
        .send_to_conversation(&fake.service_url(), CHANNEL, &json!({ "type": "message" }))
        .await
        .unwrap_err();
    assert_eq!(err, ConnectorError::NoCredentials);
}

#[tokio::test]
async fn nothing_is_ever_sent_to_a_connector_off_the_allowlist() {
    let fake = FakeConnector::start().await;
    let other = FakeConnector::start().await;
    let c = connector(&fake);
    for service_url in [
        other.service_url(),
        "http://192.0.2.10/amer/".to_string(),
        "https://smba.trafficmanager.net.evil.example/amer/".to_string(),
    ] {
        let err = c
            .send_to_conversation(&service_url, CHANNEL, &json!({ "type": "message" }))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ConnectorError::ServiceUrl(_)),
            "{service_url}: {err}"
        );
        assert!(!err.is_retryable());
    }
    assert!(
        other.calls().is_empty(),
        "the unlisted connector was called"
    );
    assert_eq!(fake.calls().len(), 0, "not even a token was fetched");

    // A token URL in plain http to a remote host is refused at start.
    let err = Connector::new(
        &TeamsSettings {
            token_url: Some("http://login.example.com/token".into()),
            ..settings(&fake)
        },
        super::http(),
    )
    .err()
    .unwrap();
    assert!(
        err.to_string().contains("only accepted for loopback"),
        "{err}"
    );
}
