//! The `hitl-bot` binary as a Lambda function, under a small fake of the
//! Lambda Runtime API on 127.0.0.1 that speaks the real protocol
//! (`GET /2018-06-01/runtime/invocation/next`, `POST .../{id}/response`,
//! `.../{id}/error`), fed function URL events (payload format 2.0) as AWS
//! sends them.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc};

use crate::store_contract::Moto;
use crate::support::{TOKEN, bin};

/// What the runtime answered for one invocation.
#[derive(Debug)]
struct Outcome {
    id: String,
    ok: bool,
    body: Value,
}

#[derive(Clone)]
struct Fake {
    events: Arc<Mutex<mpsc::UnboundedReceiver<(String, Value)>>>,
    outcomes: mpsc::UnboundedSender<Outcome>,
}

async fn next(State(f): State<Fake>) -> (HeaderMap, String) {
    // The real API holds the request until there is an event.
    let (id, event) = f.events.lock().await.recv().await.unwrap();
    let mut h = HeaderMap::new();
    h.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
    let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
    h.insert(
        "lambda-runtime-deadline-ms",
        deadline.to_string().parse().unwrap(),
    );
    h.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:hitl"
            .parse()
            .unwrap(),
    );
    h.insert(
        "lambda-runtime-trace-id",
        "Root=1-67a1b2c3-0123456789abcdef01234567;Sampled=0"
            .parse()
            .unwrap(),
    );
    h.insert("content-type", "application/json".parse().unwrap());
    (h, event.to_string())
}

async fn answer(State(f): State<Fake>, Path((id, kind)): Path<(String, String)>, body: String) {
    let body = serde_json::from_str(&body).unwrap_or(Value::String(body));
    f.outcomes
        .send(Outcome {
            id,
            ok: kind == "response",
            body,
        })
        .unwrap();
}

/// A function URL event as AWS sends it; `target` may carry a query.
fn url_event(method: &str, target: &str, body: Option<Value>) -> Value {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let host = "abcdefghij.lambda-url.us-east-1.on.aws";
    let mut headers = json!({
        "host": host,
        "user-agent": "hitl-mcp/0.1",
        "x-forwarded-proto": "https",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-port": "443",
        "x-amzn-trace-id": "Root=1-67a1b2c3-0123456789abcdef01234567",
        "authorization": format!("Bearer {TOKEN}"),
        "accept": "application/json",
    });
    if body.is_some() {
        headers["content-type"] = json!("application/json");
    }
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghij",
            "domainName": host,
            "domainPrefix": "abcdefghij",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "hitl-mcp/0.1"
            },
            "requestId": "c7a1b2c3-0000-4000-8000-000000000001",
            "routeKey": "$default",
            "stage": "$default",
            "time": "03/Dec/2026:07:00:00 +0000",
            "timeEpoch": 1_796_281_200_000_i64
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_function_url_events_under_the_runtime_api() {
    serves_function_url_events(&["serve"], None, &[("HITL_TOKEN", TOKEN)]).await;
}

/// How the container image starts it: the Lambda base image runs
/// /var/runtime/bootstrap with no arguments and the image command in
/// `_HANDLER`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_bootstrap_without_arguments_serves_under_the_runtime_api() {
    serves_function_url_events(&[], Some("api"), &[("HITL_TOKEN", TOKEN)]).await;
}

/// As deployed by terraform/: no token in the environment, only the
/// Secrets Manager secret that holds it (here in moto).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_token_comes_from_the_secret_the_environment_names() {
    let moto = Moto::start().await;
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&moto.url)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "test", "test", None, None, "static",
        ))
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        )
        .load()
        .await;
    let secret = json!({"HITL_TOKEN": TOKEN, "HITL_TOKEN_PREVIOUS": "", "SLACK_BOT_TOKEN": ""});
    let arn = aws_sdk_secretsmanager::Client::new(&conf)
        .create_secret()
        .name("hitl-test/bot")
        .secret_string(secret.to_string())
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let env = [
        ("HITL_SECRET_ARN", arn.as_str()),
        ("AWS_ENDPOINT_URL", moto.url.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ];
    serves_function_url_events(&[], Some("api"), &env).await;
}

async fn serves_function_url_events(args: &[&str], handler: Option<&str>, env: &[(&str, &str)]) {
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (outcomes_tx, mut outcomes) = mpsc::unbounded_channel();
    let fake = Fake {
        events: Arc::new(Mutex::new(events_rx)),
        outcomes: outcomes_tx,
    };
    let app = axum::Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(answer))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(bin());
    command
        .args(args)
        .env_remove("_HANDLER")
        .env_remove("HITL_TOKEN")
        .env_remove("HITL_SECRET_ARN")
        .envs(env.iter().copied());
    if let Some(h) = handler {
        command.env("_HANDLER", h);
    }
    let _child = command
        .env_remove("HITL_CONFIG")
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "hitl")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/hitl")
        .env("HITL_DATA_DIR", dir.path())
        .env("HITL_LAMBDA_MAX_WAIT_SECS", "2")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();

    let mut invoke = async |id: &str, event: Value| -> Outcome {
        events_tx.send((id.to_owned(), event)).unwrap();
        let out = tokio::time::timeout(Duration::from_secs(30), outcomes.recv())
            .await
            .expect("the function answered")
            .unwrap();
        assert_eq!(out.id, id);
        out
    };

    let health = invoke("inv-1", url_event("GET", "/healthz", None)).await;
    assert!(health.ok, "{health:?}");
    assert_eq!(health.body["statusCode"], 200, "{health:?}");

    let create = json!({
        "request_id": "apr_lambda_1",
        "tool": "write_file",
        "arguments": {"path": "/etc/motd"},
        "risk": "high",
        "requester": "agent",
    });
    let created = invoke("inv-2", url_event("POST", "/v1/approvals", Some(create))).await;
    assert!(created.ok, "{created:?}");
    let status = created.body["statusCode"].as_u64().unwrap();
    assert!(status == 200 || status == 201, "{created:?}");
    let record: Value = serde_json::from_str(created.body["body"].as_str().unwrap()).unwrap();
    assert_eq!(record["request_id"], "apr_lambda_1", "{record}");

    let got = invoke(
        "inv-3",
        url_event("GET", "/v1/approvals/apr_lambda_1", None),
    )
    .await;
    assert_eq!(got.body["statusCode"], 200, "{got:?}");
    let record: Value = serde_json::from_str(got.body["body"].as_str().unwrap()).unwrap();
    assert_eq!(record["status"], "pending");
    assert_eq!(got.body["headers"]["content-type"], "application/json");

    // Long-polls longer than the cap (2 s here) are valid: they end at the
    // cap with nothing decided, and the caller polls again. Uncapped, these
    // would outlast the runtime's 30 s wait for an answer.
    let polled = invoke(
        "inv-3a",
        url_event("GET", "/v1/approvals/apr_lambda_1?wait=300", None),
    )
    .await;
    assert_eq!(polled.body["statusCode"], 200, "{polled:?}");
    let record: Value = serde_json::from_str(polled.body["body"].as_str().unwrap()).unwrap();
    assert_eq!(record["status"], "pending");
    let polled = invoke(
        "inv-3b",
        url_event(
            "POST",
            "/v1/approvals/wait",
            Some(json!({"request_ids": ["apr_lambda_1"], "wait_secs": 300})),
        ),
    )
    .await;
    assert_eq!(polled.body["statusCode"], 200, "{polled:?}");
    let list: Value = serde_json::from_str(polled.body["body"].as_str().unwrap()).unwrap();
    assert_eq!(list["approvals"], json!([]), "{list}");
    // Past what any caller may ask, it is still refused.
    let refused = invoke(
        "inv-3c",
        url_event("GET", "/v1/approvals/apr_lambda_1?wait=301", None),
    )
    .await;
    assert_eq!(refused.body["statusCode"], 400, "{refused:?}");

    // Without the token: the same router refuses, through Lambda too.
    let mut anon = url_event("GET", "/v1/approvals/apr_lambda_1", None);
    anon["headers"]
        .as_object_mut()
        .unwrap()
        .remove("authorization");
    let refused = invoke("inv-4", anon).await;
    assert_eq!(refused.body["statusCode"], 401, "{refused:?}");

    // An event that is none of the four kinds is an invocation error that
    // says what was expected.
    let odd = invoke("inv-5", json!({"version": "0", "detail": {}})).await;
    assert!(!odd.ok, "{odd:?}");
    assert!(
        odd.body.to_string().contains("function URL event"),
        "{odd:?}"
    );
    // Outbox queue records reach a function that drains no outbox: refused
    // by name, so the queue keeps them (and they end in its dead-letter
    // queue) instead of being lost.
    let queued = invoke(
        "inv-6",
        json!({"Records": [{"eventSource": "aws:sqs", "messageId": "m1", "receiptHandle": "h1",
            "body": "{}", "eventSourceARN": "arn:aws:sqs:us-east-1:1:hitl-outbox-slack.fifo"}]}),
    )
    .await;
    assert!(!queued.ok, "{queued:?}");
    assert!(
        queued.body.to_string().contains("drains no outbox"),
        "{queued:?}"
    );
}

/// An image command the binary has no entry point for stops the cold start
/// with a message naming it, instead of a usage screen.
#[tokio::test]
async fn an_unknown_image_command_is_refused_by_name() {
    let out = tokio::process::Command::new(bin())
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env("_HANDLER", "reports")
        .env_remove("HITL_CONFIG")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"reports\"") && err.contains("api, tasks, router or drain"),
        "{err}"
    );
}

/// The fake runtime on its own, for the tests that spawn the binary
/// themselves.
struct Runtime {
    api: String,
    events: mpsc::UnboundedSender<(String, Value)>,
    outcomes: mpsc::UnboundedReceiver<Outcome>,
}

impl Runtime {
    async fn start() -> Self {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (outcomes_tx, outcomes) = mpsc::unbounded_channel();
        let fake = Fake {
            events: Arc::new(Mutex::new(events_rx)),
            outcomes: outcomes_tx,
        };
        let app = axum::Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(answer))
            .with_state(fake);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            api,
            events: events_tx,
            outcomes,
        }
    }

    async fn invoke(&mut self, id: &str, event: Value) -> Outcome {
        self.events.send((id.to_owned(), event)).unwrap();
        let out = tokio::time::timeout(Duration::from_secs(30), self.outcomes.recv())
            .await
            .expect("the function answered")
            .unwrap();
        assert_eq!(out.id, id);
        out
    }
}

/// The image's `router` command starts with neither a table nor the
/// service's credentials, and turns a DynamoDB stream batch (as the event
/// source mapping delivers it) into messages on the channel's FIFO queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_router_image_command_queues_stream_records_without_the_service() {
    let moto = Moto::start().await;
    let conf = crate::aws_emulator::sdk_config(&moto.url).await;
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let queue = sqs
        .create_queue()
        .queue_name("hitl-outbox-sns.fifo")
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let mut rt = Runtime::start().await;
    let dir = tempfile::tempdir().unwrap();
    let _child = tokio::process::Command::new(bin())
        .env_remove("HITL_TOKEN")
        .env_remove("HITL_SECRET_ARN")
        .env_remove("TABLE_NAME")
        .env_remove("HITL_CONFIG")
        .env("_HANDLER", "router")
        .env("OUTBOX_QUEUE_URLS", json!({ "sns": queue }).to_string())
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_LAMBDA_RUNTIME_API", &rt.api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "hitl-router")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/hitl-router")
        .env("HITL_DATA_DIR", dir.path())
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();

    let stream_arn =
        "arn:aws:dynamodb:us-east-1:123456789012:table/hitl/stream/2026-12-03T00:00:00.000";
    let record = |seq: &str, image: Value| {
        json!({
            "eventID": format!("ev-{seq}"),
            "eventName": "INSERT",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "ApproximateCreationDateTime": 1_796_300_000,
                "Keys": {"pk": image["pk"], "sk": image["sk"]},
                "NewImage": image,
                "SequenceNumber": seq,
                "SizeBytes": 200,
                "StreamViewType": "NEW_IMAGE"
            },
            "eventSourceARN": stream_arn
        })
    };
    let batch = json!({"Records": [
        record("100", json!({"pk": {"S": "REQ#apr_r1"}, "sk": {"S": "REC"}, "record": {"S": "{}"}})),
        record("101", json!({"pk": {"S": "REQ#apr_r1"}, "sk": {"S": "OUT#00000000000000000001#sns"},
            "kind": {"S": "outbox"}, "channel": {"S": "sns"}, "request_id": {"S": "apr_r1"},
            "seq": {"N": "1"}, "notice": {"S": "created"}})),
    ]});
    let routed = rt.invoke("inv-1", batch).await;
    assert!(routed.ok, "{routed:?}");
    assert_eq!(routed.body, json!({"batchItemFailures": []}));
    let got = sqs
        .receive_message()
        .queue_url(&queue)
        .max_number_of_messages(10)
        .message_system_attribute_names(
            aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId,
        )
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    let messages = got.messages();
    assert_eq!(
        messages.len(),
        1,
        "only the outbox row is queued: {messages:?}"
    );
    let body: Value = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"request_id": "apr_r1", "seq": 1, "channel": "sns"})
    );
    assert_eq!(
        messages[0].attributes().unwrap()
            [&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId],
        "apr_r1"
    );

    // A row for a channel with no queue fails from that record on, so the
    // stream retries it (and its dead-letter queue keeps it), never drops it.
    let orphan = json!({"Records": [
        record("102", json!({"pk": {"S": "REQ#apr_r2"}, "sk": {"S": "OUT#00000000000000000001#teams"},
            "kind": {"S": "outbox"}, "channel": {"S": "teams"}, "request_id": {"S": "apr_r2"},
            "seq": {"N": "1"}})),
    ]});
    let refused = rt.invoke("inv-2", orphan).await;
    assert!(refused.ok, "{refused:?}");
    assert_eq!(
        refused.body,
        json!({"batchItemFailures": [{"itemIdentifier": "102"}]})
    );

    // The router is not the API.
    let url = rt.invoke("inv-3", url_event("GET", "/healthz", None)).await;
    assert!(!url.ok, "{url:?}");
    assert!(url.body.to_string().contains("outbox router"), "{url:?}");
}

/// A Microsoft token endpoint and Bot Connector in one small app: the
/// token endpoint records the client secret each grant presents.
async fn teams_endpoints() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    let secrets = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = secrets.clone();
    let app = axum::Router::new()
        .route(
            "/{tenant}/oauth2/v2.0/token",
            post(move |body: String| {
                let seen = seen.clone();
                async move {
                    let form: Vec<(String, String)> =
                        serde_urlencoded::from_str(&body).unwrap_or_default();
                    if let Some((_, s)) = form.iter().find(|(k, _)| k == "client_secret") {
                        seen.lock().unwrap().push(s.clone());
                    }
                    axum::Json(json!({"token_type": "Bearer", "expires_in": 3599,
                        "ext_expires_in": 3599, "access_token": "eyJ0eXAiOiJKV1QifQ.e30.c2ln"}))
                }
            }),
        )
        .route(
            "/amer/v3/conversations/{id}/activities",
            post(|| async {
                (
                    axum::http::StatusCode::CREATED,
                    axum::Json(json!({"id": "1700000000999"})),
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, secrets)
}

/// `HMAC <base64(hmac_sha256(b64decode(secret), body))>`, by Python's hmac.
fn teams_webhook_signature(secret: &str, body: &str) -> String {
    use std::io::Write as _;
    let script = "import base64,hashlib,hmac,sys\n\
        key=base64.b64decode(sys.argv[1]); body=sys.stdin.buffer.read()\n\
        print(base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode())";
    let mut child = std::process::Command::new(crate::teams::python())
        .args(["-c", script, secret])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    format!("HMAC {}", String::from_utf8(out.stdout).unwrap().trim())
}

/// As deployed by terraform/: Teams' app password and the outgoing
/// webhook's security token are only in the secret (moto's), the rest of
/// Teams' settings in the environment. The card is posted with the
/// password from the secret, and /teams/webhook takes only bodies signed
/// with the token from the secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_teams_credentials_come_from_the_secret_the_environment_names() {
    const PASSWORD: &str = "teams~password~from~the~secret~42";
    const WEBHOOK: &str = "d2ViaG9vay10b2tlbi1mcm9tLXRoZS1zZWNyZXQtMDEyMw==";
    let moto = Moto::start().await;
    let conf = crate::aws_emulator::sdk_config(&moto.url).await;
    let secret = json!({"HITL_TOKEN": TOKEN, "TEAMS_APP_PASSWORD": PASSWORD,
        "TEAMS_WEBHOOK_SECRET": WEBHOOK, "TEAMS_WEBHOOK_SECRET_PREVIOUS": ""});
    let arn = aws_sdk_secretsmanager::Client::new(&conf)
        .create_secret()
        .name("hitl-teams/bot")
        .secret_string(secret.to_string())
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let (teams, grants) = teams_endpoints().await;
    let mut rt = Runtime::start().await;
    let dir = tempfile::tempdir().unwrap();
    let _child = tokio::process::Command::new(bin())
        .env_remove("HITL_TOKEN")
        .env_remove("TEAMS_APP_PASSWORD")
        .env_remove("TEAMS_WEBHOOK_SECRET")
        .env_remove("HITL_CONFIG")
        .env("_HANDLER", "api")
        .env("HITL_SECRET_ARN", &arn)
        .env("TEAMS_APP_ID", crate::teams::APP_ID)
        .env("TEAMS_TENANT_ID", crate::teams::TENANT)
        .env("TEAMS_SERVICE_URL", format!("{teams}/amer/"))
        .env("TEAMS_ALLOWED_SERVICE_URLS", &teams)
        .env(
            "TEAMS_TOKEN_URL",
            format!("{teams}/{}/oauth2/v2.0/token", crate::teams::TENANT),
        )
        .env("TEAMS_CONVERSATION_ID", "19:approvals@thread.tacv2")
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_LAMBDA_RUNTIME_API", &rt.api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "hitl-api")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/hitl-api")
        .env("HITL_DATA_DIR", dir.path())
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();

    let create = json!({"request_id": "apr_teams_secret", "tool": "write_file",
        "arguments": {"path": "/etc/motd"}, "risk": "high", "requester": "agent"});
    let created = rt
        .invoke("inv-1", url_event("POST", "/v1/approvals", Some(create)))
        .await;
    assert!(created.ok, "{created:?}");
    // The card goes out after the answer (this function drains its own
    // outbox: no queues are set); its token grant shows the password.
    for _ in 0..200 {
        if !grants.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        grants.lock().unwrap().first().map(String::as_str),
        Some(PASSWORD)
    );

    let body = json!({
        "type": "message",
        "id": "1700000000123",
        "serviceUrl": "https://smba.trafficmanager.net/amer/",
        "channelId": "msteams",
        "from": {"id": "29:1abc", "name": "Ana", "aadObjectId": "6b3c5e2f-0000-4000-8000-000000000001"},
        "conversation": {"id": "19:abc@thread.tacv2;messageid=1700000000123", "conversationType": "channel", "tenantId": crate::teams::TENANT},
        "text": "<at>hitl</at> pending",
        "textFormat": "plain",
        "entities": [{"type": "mention", "text": "<at>hitl</at>", "mentioned": {"id": "28:x", "name": "hitl"}}]
    });
    let webhook = |id: &str, signature: String| {
        let mut event = url_event("POST", "/teams/webhook", Some(body.clone()));
        event["headers"]["authorization"] = json!(signature);
        event["requestContext"]["requestId"] = json!(id);
        event
    };
    let wrong = "b3RoZXItdG9rZW4tbm90LWluLXRoZS1zZWNyZXQtMDEy";
    let refused = rt
        .invoke(
            "inv-2",
            webhook("r2", teams_webhook_signature(wrong, &body.to_string())),
        )
        .await;
    assert_eq!(refused.body["statusCode"], 401, "{refused:?}");
    let answered = rt
        .invoke(
            "inv-3",
            webhook("r3", teams_webhook_signature(WEBHOOK, &body.to_string())),
        )
        .await;
    assert_eq!(answered.body["statusCode"], 200, "{answered:?}");
    let reply: Value = serde_json::from_str(answered.body["body"].as_str().unwrap()).unwrap();
    assert_eq!(reply["type"], "message", "{reply}");
}
