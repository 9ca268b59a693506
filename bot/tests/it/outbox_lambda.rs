//! The outbox as it runs on Lambda, against moto: a create writes outbox
//! rows into DynamoDB; the table's stream (read with boto3, shaped as the
//! event source mapping delivers it) goes through the router, which puts
//! one message per row on its channel's SQS FIFO queue (group = request
//! id); the messages, received from moto's queues and shaped as Lambda's
//! SQS event, go through the drain, which delivers with the real Slack
//! notifier (to a fake Slack on 127.0.0.1) and the real SNS notifier, and
//! records delivery on the row. A failing channel's messages come back as
//! batch item failures while the other channel delivers; once it works
//! again, the message the queue shows again is delivered.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use hitl_bot::Running;
use hitl_bot::clock::Clock;
use hitl_bot::lambda::drain::{QueueDrain, QueueEvent};
use hitl_bot::lambda::router::{OutboxQueues, OutboxRouter};
use hitl_bot::notify::Notifier;
use hitl_bot::notify::sns::SnsNotifier;
use hitl_bot::outbox::{DeliveryState, OutboxSettings};
use hitl_bot::service::Settings;
use hitl_bot::slack::{Slack, SlackConfig};
use hitl_bot::store::dynamo::DynamoStore;
use hitl_cards::Templates;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::slack::fake::FakeSlack;
use crate::slack::{BOT_TOKEN, CHANNEL, quick_retries};
use crate::store_contract::Moto;

struct Queue {
    url: String,
    arn: String,
}

async fn fifo_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> Queue {
    let url = sqs
        .create_queue()
        .queue_name(format!("{name}.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::DeduplicationScope, "messageGroup")
        .attributes(QueueAttributeName::FifoThroughputLimit, "perMessageGroupId")
        .attributes(QueueAttributeName::VisibilityTimeout, "60")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    Queue { url, arn }
}

/// Receives what the queue shows now, as Lambda's SQS event.
async fn receive(sqs: &aws_sdk_sqs::Client, q: &Queue, want: usize) -> Value {
    let mut records = Vec::new();
    for _ in 0..10 {
        let out = sqs
            .receive_message()
            .queue_url(&q.url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in out.messages() {
            let attributes: HashMap<String, String> = m
                .attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                        .collect()
                })
                .unwrap_or_default();
            records.push(json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": attributes,
                "messageAttributes": {},
                "md5OfBody": m.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": q.arn,
                "awsRegion": "us-east-1",
            }));
        }
        if records.len() >= want {
            break;
        }
    }
    json!({ "Records": records })
}

fn failures(answer: &Value) -> Vec<String> {
    answer["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

/// What the SQS event source mapping does with a batch: hand it to the
/// function, then delete every message not reported as failed. Returns
/// the failed message ids.
async fn drain_batch(
    drain: &QueueDrain,
    sqs: &aws_sdk_sqs::Client,
    q: &Queue,
    event: Value,
) -> Vec<String> {
    let answer = drain
        .drain(serde_json::from_value::<QueueEvent>(event.clone()).unwrap())
        .await;
    let failed = failures(&answer);
    for r in event["Records"].as_array().unwrap() {
        if !failed.iter().any(|f| r["messageId"] == f.as_str()) {
            sqs.delete_message()
                .queue_url(&q.url)
                .receipt_handle(r["receiptHandle"].as_str().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    failed
}

/// The stream's records not seen before, as the next batch the event
/// source mapping would deliver (moto's stream is read from the start each
/// time, and moto forgets a FIFO deduplication id once its message is
/// deleted, where SQS keeps it for 5 minutes).
fn next_batch(event: Value, seen: &mut Vec<String>) -> Value {
    let records: Vec<Value> = event["Records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            let n = r["dynamodb"]["SequenceNumber"].as_str().unwrap().to_owned();
            let new = !seen.contains(&n);
            seen.push(n);
            new
        })
        .cloned()
        .collect();
    json!({ "Records": records })
}

fn request(id: &str) -> hitl_wire::api::CreateApproval {
    serde_json::from_value(json!({
        "request_id": id,
        "tool": "drop_table",
        "server": "postgres",
        "arguments": {"table": "users"},
        "risk": "high",
        "requester": "agent",
        "approvers": ["alice"],
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_router_and_queue_drain_deliver_each_channel_on_its_own() {
    let moto = Moto::start().await;
    let table = moto.create_table().await;
    let conf = crate::aws_emulator::sdk_config(&moto.url).await;
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let sns = aws_sdk_sns::Client::new(&conf);
    let topic = sns
        .create_topic()
        .name("hitl-events")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let slack_q = fifo_queue(&sqs, "hitl-test-outbox-slack").await;
    let sns_q = fifo_queue(&sqs, "hitl-test-outbox-sns").await;
    let queues = OutboxQueues::from_map(HashMap::from([
        ("slack".to_owned(), slack_q.url.clone()),
        ("sns".to_owned(), sns_q.url.clone()),
    ]));

    let fake = FakeSlack::start().await;
    let mut config = SlackConfig::new(SecretString::from(BOT_TOKEN));
    config.channel = Some(CHANNEL.to_owned());
    config.api_url = fake.url.clone();
    config.retry = quick_retries();
    let slack = Slack::new(config, Templates::builtin()).unwrap();
    let notifiers: Vec<Arc<dyn Notifier>> = vec![
        slack.clone(),
        Arc::new(SnsNotifier::new(sns.clone(), &topic)),
    ];
    let store = DynamoStore::new(moto.client.clone(), &table, None);
    let settings = Settings {
        outbox: OutboxSettings {
            // As on Lambda: only the queues deliver.
            drain_in_process: false,
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(1),
            ..OutboxSettings::default()
        },
        ..Settings::default()
    };
    let running = Running::start(
        Arc::new(store.clone()),
        settings,
        Clock::System,
        notifiers.clone(),
    )
    .await
    .unwrap();
    let svc = running.service.clone();
    let router = OutboxRouter::new(sqs.clone(), queues.clone());
    let drain = QueueDrain {
        store,
        sqs: sqs.clone(),
        queues,
        notifiers,
        service: svc.clone(),
        clock: Clock::System,
    };

    // 1. Both channels work.
    let mut seen = Vec::new();
    svc.create(request("apr_one")).await.unwrap();
    let stream = next_batch(
        crate::aws_emulator::stream_event(&moto.url, &table),
        &mut seen,
    );
    let routed = router
        .route(serde_json::from_value(stream.clone()).unwrap())
        .await;
    assert_eq!(failures(&routed), Vec::<String>::new());
    // The same batch again (the stream retries a batch) queues nothing
    // new: the deduplication id is the row's key.
    router.route(serde_json::from_value(stream).unwrap()).await;
    for (q, channel) in [(&slack_q, "slack"), (&sns_q, "sns")] {
        let event = receive(&sqs, q, 1).await;
        let records = event["Records"].as_array().unwrap();
        assert_eq!(records.len(), 1, "{channel}: one notice (created): {event}");
        assert_eq!(records[0]["attributes"]["MessageGroupId"], "apr_one");
        let body: Value = serde_json::from_str(records[0]["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["channel"], channel);
        assert_eq!(body["request_id"], "apr_one");
        let failed = drain_batch(&drain, &sqs, q, event).await;
        assert_eq!(failed, Vec::<String>::new(), "{channel}");
    }
    let posted = fake.calls_of("chat.postMessage");
    assert_eq!(posted.len(), 1, "one card posted");
    let d = svc.deliveries("apr_one").await.unwrap();
    assert!(
        d.len() == 2 && d.iter().all(|d| d.state == DeliveryState::Delivered),
        "{d:?}"
    );
    assert!(svc.get("apr_one").await.unwrap().notification_sent);

    // 2. Slack is down: its notice comes back as a failure, SNS delivers.
    fake.set_down(true);
    svc.create(request("apr_two")).await.unwrap();
    let stream = next_batch(
        crate::aws_emulator::stream_event(&moto.url, &table),
        &mut seen,
    );
    assert_eq!(
        failures(&router.route(serde_json::from_value(stream).unwrap()).await),
        Vec::<String>::new()
    );
    let slack_event = receive(&sqs, &slack_q, 1).await;
    let slack_ids: Vec<String> = slack_event["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["messageId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(slack_ids.len(), 1, "{slack_event}");
    let sns_event = receive(&sqs, &sns_q, 1).await;
    let (slack_failed, sns_failed) = tokio::join!(
        drain_batch(&drain, &sqs, &slack_q, slack_event),
        drain_batch(&drain, &sqs, &sns_q, sns_event),
    );
    assert_eq!(slack_failed, slack_ids);
    assert_eq!(sns_failed, Vec::<String>::new());
    let d = svc.deliveries("apr_two").await.unwrap();
    let of = |c: &str| d.iter().find(|d| d.channel == c).unwrap().clone();
    assert_eq!(of("sns").state, DeliveryState::Delivered, "{d:?}");
    assert_eq!(of("slack").state, DeliveryState::Pending, "{d:?}");
    assert_eq!(of("slack").attempts, 1, "{d:?}");
    assert!(of("slack").last_error.is_some(), "{d:?}");

    // 3. Slack is back: the queue shows the notice again after its backoff
    // (the drain set its visibility to it, well under the queue's 60 s),
    // and this time it goes out.
    fake.set_down(false);
    let retried = receive(&sqs, &slack_q, 1).await;
    assert_eq!(
        retried["Records"].as_array().unwrap().len(),
        1,
        "shown again after the backoff: {retried}"
    );
    assert_eq!(
        drain_batch(&drain, &sqs, &slack_q, retried).await,
        Vec::<String>::new()
    );
    let d = svc.deliveries("apr_two").await.unwrap();
    assert!(
        d.iter().all(|d| d.state == DeliveryState::Delivered),
        "{d:?}"
    );
    let cards = fake
        .served()
        .into_iter()
        .filter(|c| c.method == "chat.postMessage")
        .count();
    assert_eq!(cards, 2, "one card per request reached Slack");
    running.stop().await;
}
