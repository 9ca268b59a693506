//! The Lambda host: the same binary, when the Lambda runtime starts it
//! (`AWS_LAMBDA_RUNTIME_API` is set), answers invocations instead of
//! listening on a port.
//!
//! The binary tells apart four kinds of payload:
//! - a function URL event (payload format 2.0): it goes through the same
//!   axum router as `hitl-bot serve`, and the answer is the function URL
//!   response;
//! - a workflow task from the state machine (`{"task": ...}`,
//!   [`crate::workflow::tasks`]): its answer is the task's result;
//! - a DynamoDB stream batch (`Records[].eventSource == "aws:dynamodb"`):
//!   new outbox rows go to their channels' queues ([`router`]);
//! - an SQS batch (`"aws:sqs"`): queued notices are delivered ([`drain`]).
//!
//! Both batch kinds answer a partial batch response (`batchItemFailures`).
//! Anything else is refused with an error that says what was expected.

pub mod drain;
pub mod router;
pub mod secrets;

use axum::Router;
use axum::body::Body;
use base64::Engine as _;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_http::request::LambdaRequest;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use std::sync::Arc;

use crate::workflow::tasks::{Task, Tasks};
use drain::{QueueDrain, QueueEvent};
use router::{OutboxRouter, StreamEvent};

/// Largest response body read back from the router (the function URL limit
/// is 6 MB).
const MAX_BODY: usize = 6 * 1024 * 1024;

/// What one invocation carries.
#[derive(Debug)]
enum Invocation {
    Http(Box<ApiGatewayV2httpRequest>),
    Task(Task),
    Stream(StreamEvent),
    Queue(QueueEvent),
}

fn classify(payload: Value) -> Result<Invocation, String> {
    if let Some(records) = payload.get("Records").and_then(Value::as_array) {
        let source = records
            .first()
            .and_then(|r| r.get("eventSource").or_else(|| r.get("EventSource")))
            .and_then(Value::as_str)
            .unwrap_or("");
        return match source {
            "aws:dynamodb" => serde_json::from_value(payload)
                .map(Invocation::Stream)
                .map_err(|e| format!("not a DynamoDB stream event: {e}")),
            "aws:sqs" => serde_json::from_value(payload)
                .map(Invocation::Queue)
                .map_err(|e| format!("not an SQS event: {e}")),
            // An empty batch has nothing to do, whatever its source.
            "" if records.is_empty() => Ok(Invocation::Queue(QueueEvent {
                records: Vec::new(),
            })),
            other => Err(format!(
                "event records from {other:?}: this function takes DynamoDB stream (aws:dynamodb) and SQS (aws:sqs) records"
            )),
        };
    }
    if payload.get("task").is_some() {
        return Task::parse(&payload)
            .map(Invocation::Task)
            .map_err(|e| e.to_string());
    }
    if payload.pointer("/requestContext/http").is_some() {
        return serde_json::from_value(payload)
            .map(|r| Invocation::Http(Box::new(r)))
            .map_err(|e| format!("not a function URL event: {e}"));
    }
    Err("unknown invocation: expected a function URL event (payload format 2.0), a workflow task ({\"task\": ...}), or DynamoDB stream or SQS records".to_owned())
}

/// The outbox's entry points on this function, when it has them.
#[derive(Clone, Default)]
pub struct Outbox {
    pub router: Option<OutboxRouter>,
    pub drain: Option<Arc<QueueDrain>>,
}

/// Runs the Lambda runtime loop until the runtime stops the process.
pub async fn run(
    router: Router,
    tasks: Option<Tasks>,
    outbox: Outbox,
) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| {
        let router = router.clone();
        let tasks = tasks.clone();
        let outbox = outbox.clone();
        async move { invoke(router, tasks.as_ref(), &outbox, ev.payload).await }
    }))
    .await
}

/// The router function's loop: it needs neither the store nor the
/// service's credentials, only the queues, so it starts without them.
pub async fn run_router(router: OutboxRouter) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| {
        let router = router.clone();
        async move {
            match classify(ev.payload)? {
                Invocation::Stream(s) => Ok::<Value, lambda_runtime::Error>(router.route(s).await),
                _ => Err("this is the outbox router: it takes DynamoDB stream records only".into()),
            }
        }
    }))
    .await
}

async fn invoke(
    router: Router,
    tasks: Option<&Tasks>,
    outbox: &Outbox,
    payload: Value,
) -> Result<Value, lambda_runtime::Error> {
    match classify(payload)? {
        Invocation::Stream(s) => match &outbox.router {
            Some(r) => Ok(r.route(s).await),
            None => Err("DynamoDB stream records, but OUTBOX_QUEUE_URLS is not set: this function routes no outbox".into()),
        },
        Invocation::Queue(q) if q.records.is_empty() => Ok(serde_json::json!({"batchItemFailures": []})),
        Invocation::Queue(q) => match &outbox.drain {
            Some(d) => Ok(d.drain(q).await),
            None => Err("SQS records, but this function drains no outbox (it needs TABLE_NAME and OUTBOX_QUEUE_URLS)".into()),
        },
        Invocation::Task(task) => match tasks {
            Some(t) => Ok(t.run(task).await?),
            None => Err("this function has no Step Functions workflow (STATE_MACHINE_ARN is not set), so it runs no workflow tasks".into()),
        },
        Invocation::Http(req) => Ok(url_request(router, *req).await?),
    }
}

/// One function URL request through the router, answered in the function
/// URL's response format.
async fn url_request(router: Router, req: ApiGatewayV2httpRequest) -> Result<Value, String> {
    let request: axum::http::Request<lambda_http::Body> = LambdaRequest::ApiGatewayV2(req).into();
    let (parts, body) = request.into_parts();
    let body = match body {
        lambda_http::Body::Text(s) => Body::from(s),
        lambda_http::Body::Binary(b) => Body::from(b),
        _ => Body::empty(),
    };
    let response = router
        .oneshot(axum::http::Request::from_parts(parts, body))
        .await
        .map_err(|e| format!("the router failed: {e}"))?;
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|e| format!("cannot read the response body: {e}"))?;
    let mut headers = serde_json::Map::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let Ok(v) = value.to_str() else { continue };
        if name == axum::http::header::SET_COOKIE {
            cookies.push(Value::from(v));
        } else if let Some(Value::String(old)) = headers.get_mut(name.as_str()) {
            old.push_str(", ");
            old.push_str(v);
        } else {
            headers.insert(name.as_str().to_owned(), Value::from(v));
        }
    }
    let (body, base64) = match String::from_utf8(bytes.to_vec()) {
        Ok(text) => (text, false),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(&bytes),
            true,
        ),
    };
    Ok(json!({
        "statusCode": parts.status.as_u16(),
        "headers": headers,
        "cookies": cookies,
        "body": body,
        "isBase64Encoded": base64,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invocations_are_told_apart() {
        assert!(matches!(
            classify(json!({"task": "wake", "request_id": "a"})),
            Ok(Invocation::Task(_))
        ));
        let err = classify(json!({"Records": [{"eventSource": "aws:s3"}]})).unwrap_err();
        assert!(err.contains("aws:s3"), "{err}");
        assert!(matches!(
            classify(
                json!({"Records": [{"eventSource": "aws:dynamodb", "eventName": "INSERT",
                "dynamodb": {"SequenceNumber": "1"}}]})
            ),
            Ok(Invocation::Stream(_))
        ));
        assert!(matches!(
            classify(
                json!({"Records": [{"eventSource": "aws:sqs", "messageId": "m",
                "receiptHandle": "h", "body": "{}", "eventSourceARN": "arn:aws:sqs:r:1:q.fifo"}]})
            ),
            Ok(Invocation::Queue(_))
        ));
        let err = classify(json!({"version": "2.0"})).unwrap_err();
        assert!(err.contains("function URL event"), "{err}");
        let err = classify(json!({"task": "dance"})).unwrap_err();
        assert!(err.contains("not a hitl workflow task"), "{err}");
    }
}
