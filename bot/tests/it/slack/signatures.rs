//! No decision without a verified signature: forged, tampered, stale,
//! unsigned and replayed requests are refused with a JSON 401 and change
//! nothing; a previous signing secret still works while it is rotated out.

use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::json;

use super::{SIGNING_SECRET, SlackBot, payloads, sign_all};

#[tokio::test]
async fn forged_tampered_stale_and_unsigned_clicks_are_refused_and_change_nothing() {
    let bot = SlackBot::start().await;
    let (_, at) = bot.create_posted(json!({"request_id": "sig-1"})).await;
    let message = bot.fake.message(&at.message);
    let click = payloads::click("U0ALICE", "hitl_approve", "sig-1", &at, &message);
    let now = chrono::Utc::now().timestamp();
    let good = sign_all(
        SIGNING_SECRET,
        &[click.clone(), click.clone().at(now - 301)],
    )
    .await;
    let forged = sign_all(
        "0000-not-the-signing-secret-0000",
        std::slice::from_ref(&click),
    )
    .await;
    let before = bot.server.snapshot().await;
    let calls_before = bot.fake.calls().len();

    // Signed with another secret.
    let (status, err) = bot.send(&forged[0]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{err}");
    assert_eq!(err["code"], "unauthorized");
    assert_eq!(err["message"], "invalid X-Slack-Signature");

    // A valid signature over another body: Mallory's name in Alice's click.
    let mut tampered = good[0].clone();
    tampered.request.body = tampered.request.body.replace("U0ALICE", "U0MALLORY");
    let (status, err) = bot.send(&tampered).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{err}");

    // Signed correctly, but more than 5 minutes old.
    let (status, err) = bot.send(&good[1]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("5 minutes"),
        "{err}"
    );

    // No signature at all.
    let resp = bot
        .server
        .http
        .post(format!("{}/slack/interactions", bot.server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(click.body.clone())
        .send()
        .await
        .unwrap();
    let (status, err) = crate::support::read(resp).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("x-slack-signature"),
        "{err}"
    );

    assert_eq!(bot.server.snapshot().await, before);
    assert_eq!(bot.fake.calls().len(), calls_before, "Slack was called");
    assert_eq!(bot.server.record("sig-1").await["status"], "pending");

    // The genuine click goes through once.
    let (status, body) = bot.send(&good[0]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(bot.server.record("sig-1").await["status"], "approved");
    bot.stop().await;
}

#[tokio::test]
async fn a_replayed_request_is_refused_even_when_it_would_change_nothing() {
    let bot = SlackBot::start().await;
    bot.create_posted(json!({"request_id": "replay-1"})).await;
    let signed = sign_all(SIGNING_SECRET, &[payloads::command("U0ALICE", "pending")]).await;
    let (status, first) = bot.send(&signed[0]).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let before = bot.server.snapshot().await;
    let (status, err) = bot.send(&signed[0]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{err}");
    assert!(err["message"].as_str().unwrap().contains("replay"), "{err}");
    assert_eq!(bot.server.snapshot().await, before);
    bot.stop().await;
}

#[tokio::test]
async fn the_previous_signing_secret_works_while_rotating() {
    const OLD: &str = "old-signing-secret-still-live-123";
    let bot = SlackBot::start_with(Default::default(), |c| {
        c.signing_secrets = vec![SecretString::from(SIGNING_SECRET), SecretString::from(OLD)];
    })
    .await;
    let with_old = sign_all(OLD, &[payloads::command("U0ALICE", "help")]).await;
    let (status, body) = bot.send(&with_old[0]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let with_other = sign_all(
        "retired-secret-no-longer-live-00",
        &[payloads::command("U0ALICE", "help")],
    )
    .await;
    let (status, _) = bot.send(&with_other[0]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    bot.stop().await;
}

#[tokio::test]
async fn without_a_signing_secret_the_endpoints_do_not_exist() {
    let bot = SlackBot::start_with(Default::default(), |c| c.signing_secrets.clear()).await;
    let (status, _) = bot.send_one(payloads::command("U0ALICE", "help")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    bot.stop().await;
}
