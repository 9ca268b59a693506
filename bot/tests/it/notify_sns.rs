//! The SNS channel through the outbox, against moto: an SQS queue
//! subscribed with a filter policy on the message attributes hears only the
//! critical requests, with their attributes, and their decisions.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hitl_bot::Running;
use hitl_bot::clock::Clock;
use hitl_bot::notify::Notifier;
use hitl_bot::notify::sns::SnsNotifier;
use hitl_bot::outbox::DeliveryState;
use hitl_bot::service::Settings;
use hitl_bot::store::sqlite::SqliteStore;
use hitl_wire::api::DecisionAction;
use serde_json::{Value, json};

use crate::store_contract::Moto;

/// The filter policy of the README's example: only critical requests.
const ONLY_CRITICAL: &str = r#"{"risk": ["critical"]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_critical_notices_reach_a_filtered_subscription() {
    let moto = Moto::start().await;
    let conf = crate::aws_emulator::sdk_config(&moto.url).await;
    let sns = aws_sdk_sns::Client::new(&conf);
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let topic = sns
        .create_topic()
        .name("hitl-approvals")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let queue = sqs
        .create_queue()
        .queue_name("oncall")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .attributes("FilterPolicy", ONLY_CRITICAL)
        .send()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("hitl.db")).unwrap();
    let notifier: Arc<dyn Notifier> = Arc::new(SnsNotifier::new(sns.clone(), &topic));
    let running = Running::start(
        Arc::new(store),
        Settings::default(),
        Clock::System,
        vec![notifier],
    )
    .await
    .unwrap();
    let svc = running.service.clone();
    let create = |id: &str, risk: &str| {
        serde_json::from_value(json!({
            "request_id": id,
            "tool": "drop_table",
            "server": "postgres",
            "arguments": {"table": "users", "password": "hunter2"},
            "risk": risk,
            "requester": "agent",
            "approvers": ["alice"],
        }))
        .unwrap()
    };
    svc.create(create("apr_high", "high")).await.unwrap();
    svc.create(create("apr_crit", "critical")).await.unwrap();
    svc.decide("apr_high", DecisionAction::Approve, "alice", None)
        .await
        .unwrap();
    svc.decide(
        "apr_crit",
        DecisionAction::Reject,
        "alice",
        Some("no".into()),
    )
    .await
    .unwrap();

    // Both requests' notices are delivered (the outbox says so) before the
    // queue is read, so a missing one was filtered, not late.
    for id in ["apr_high", "apr_crit"] {
        let mut delivered = false;
        for _ in 0..100 {
            let d = svc.deliveries(id).await.unwrap();
            if !d.is_empty() && d.iter().all(|d| d.state == DeliveryState::Delivered) {
                delivered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(delivered, "{id}: {:?}", svc.deliveries(id).await.unwrap());
    }

    let mut got: Vec<Value> = Vec::new();
    for _ in 0..5 {
        let out = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in out.messages() {
            got.push(serde_json::from_str(m.body().unwrap()).unwrap());
        }
        if got.len() >= 2 {
            break;
        }
    }
    let events: Vec<(String, String)> = got
        .iter()
        .map(|envelope| {
            let body: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
            (
                body["request_id"].as_str().unwrap().to_owned(),
                body["event"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        events,
        vec![
            ("apr_crit".to_owned(), "created".to_owned()),
            ("apr_crit".to_owned(), "decided".to_owned())
        ],
        "{got:#?}"
    );
    let attrs = |i: usize| -> HashMap<String, String> {
        got[i]["MessageAttributes"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v["Value"].as_str().unwrap().to_owned()))
            .collect()
    };
    let created = attrs(0);
    assert_eq!(created["risk"], "critical");
    assert_eq!(created["status"], "pending");
    assert_eq!(created["tool"], "drop_table");
    assert_eq!(created["server"], "postgres");
    assert_eq!(created["event"], "created");
    assert_eq!(attrs(1)["status"], "rejected");
    for envelope in &got {
        let text = envelope["Message"].as_str().unwrap();
        // No secrets from the arguments, no links that act.
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("http"), "{text}");
    }
    running.stop().await;
    drop(moto);
}
