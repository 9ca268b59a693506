//! API tokens read from Secrets Manager (moto's) rotate without a restart:
//! a token put in the secret is accepted on its first use (a refused token
//! reads the secret again, at most so often), the old one keeps working as
//! `HITL_TOKEN_PREVIOUS`, and a token dropped from the secret stops working
//! at the next periodic read.

use std::sync::Arc;
use std::time::Duration;

use hitl_bot::Running;
use hitl_bot::api::auth::{TokenSource, Tokens};
use hitl_bot::clock::Clock;
use hitl_bot::lambda::secrets::SecretTokens;
use hitl_bot::service::Settings;
use hitl_bot::store::sqlite::SqliteStore;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::json;

use crate::store_contract::Moto;

async fn put(sm: &aws_sdk_secretsmanager::Client, arn: &str, current: &str, previous: &str) {
    sm.put_secret_value()
        .secret_id(arn)
        .secret_string(json!({"HITL_TOKEN": current, "HITL_TOKEN_PREVIOUS": previous}).to_string())
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_api_tokens_take_effect_without_a_restart() {
    let moto = Moto::start().await;
    let conf = crate::aws_emulator::sdk_config(&moto.url).await;
    let sm = aws_sdk_secretsmanager::Client::new(&conf);
    let arn = sm
        .create_secret()
        .name("hitl-rotation")
        .secret_string(json!({"HITL_TOKEN": "token-one"}).to_string())
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let every = Duration::from_secs(3);
    let after_refusal = Duration::from_secs(2);
    let source = Arc::new(SecretTokens::with_intervals(
        sm.clone(),
        &arn,
        every,
        after_refusal,
    ));
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("hitl.db")).unwrap();
    let running = Running::start(Arc::new(store), Settings::default(), Clock::System, vec![])
        .await
        .unwrap();
    let tokens = Tokens::new(SecretString::from("token-one"), None)
        .with_source(source.clone() as Arc<dyn TokenSource>);
    let router = hitl_bot::app(running.service.clone(), tokens);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = running.shutdown_token();
    tokio::spawn(hitl_bot::serve(listener, router, async move {
        stop.cancelled().await
    }));
    let http = reqwest::Client::new();
    let status = |token: &'static str| {
        let http = http.clone();
        let url = format!("{base}/v1/approvals");
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };

    assert_eq!(status("token-one").await, StatusCode::OK);
    assert_eq!(source.reads(), 0, "nothing is read while the token matches");

    // Rotated: the new token works at once (its refusal reads the secret),
    // the old one still works.
    put(&sm, &arn, "token-two", "token-one").await;
    assert_eq!(status("token-two").await, StatusCode::OK);
    assert_eq!(source.reads(), 1);
    assert_eq!(status("token-one").await, StatusCode::OK);

    // Refused tokens read the secret at most once per `after_refusal`:
    // these come too soon after the last.
    assert_eq!(status("not-a-token").await, StatusCode::UNAUTHORIZED);
    assert_eq!(status("not-a-token").await, StatusCode::UNAUTHORIZED);
    assert_eq!(source.reads(), 1);

    // Rotated again, dropping token-one: it keeps working until the next
    // periodic read, then is refused.
    put(&sm, &arn, "token-three", "token-two").await;
    assert_eq!(status("token-one").await, StatusCode::OK);
    tokio::time::sleep(every).await;
    assert_eq!(status("token-two").await, StatusCode::OK);
    assert_eq!(source.reads(), 2, "the periodic read");
    assert_eq!(status("token-three").await, StatusCode::OK);
    assert_eq!(source.reads(), 2);
    assert_eq!(status("token-one").await, StatusCode::UNAUTHORIZED);
    assert_eq!(source.reads(), 3, "the refusal looked once more");

    // A malformed secret changes nothing.
    sm.put_secret_value()
        .secret_id(&arn)
        .secret_string("not json")
        .send()
        .await
        .unwrap();
    tokio::time::sleep(every).await;
    assert_eq!(status("token-three").await, StatusCode::OK);
    assert_eq!(source.reads(), 4);
    running.stop().await;
}
