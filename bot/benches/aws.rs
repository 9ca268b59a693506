//! Benchmarks of the AWS back end, offline. Run:
//! `HITL_AWS_PYTHON=.deps/aws-venv/bin/python cargo bench -p hitl-bot --bench aws`.
//!
//! - release: the service on DynamoDB with the Step Functions workflow, both
//!   on moto's server; a decision through the service → a long-poll on the
//!   same request answered, and → the execution SUCCEEDED (moto's
//!   interpreter, polled every 2 ms), per request;
//! - cold start: the `hitl-bot` binary spawned under a fake Lambda Runtime
//!   API on 127.0.0.1 → its first function URL event (GET /healthz) answered.
//!
//! Medians of 3 runs; the machine is shared and noisy.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::disallowed_methods)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sfn::types::ExecutionStatus;
use axum::routing::{get, post};
use hitl_bot::Running;
use hitl_bot::clock::Clock;
use hitl_bot::service::Settings;
use hitl_bot::store::Store;
use hitl_bot::store::dynamo::DynamoStore;
use hitl_bot::workflow::Workflow;
use hitl_bot::workflow::step_functions::StepFunctionsWorkflow;
use hitl_bot::workflow::tasks::{Task, Tasks};
use hitl_wire::api::DecisionAction;
use serde_json::{Value, json};

#[path = "../tests/shared/aws.rs"]
mod aws_emulator;
use aws_emulator::{Moto, create_table, root, sdk_config};

const RUNS: usize = 3;
const REQUESTS: usize = 20;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// One run: medians (ms) of decision → long-poll answered and decision →
/// execution SUCCEEDED.
async fn release_run() -> (f64, f64) {
    let m = Moto::start().await;
    let conf = sdk_config(&m.url).await;
    let ddb = aws_sdk_dynamodb::Client::new(&conf);
    let sfn = aws_sdk_sfn::Client::new(&conf);
    let store: Arc<dyn Store> = {
        create_table(&ddb, "hitl").await;
        Arc::new(DynamoStore::new(ddb.clone(), "hitl".to_owned(), None))
    };
    let asl = std::fs::read_to_string(root().join("terraform/state-machine.asl.json"))
        .unwrap()
        .replace(
            "${tasks_function_arn}",
            "arn:aws:lambda:us-east-1:123456789012:function:hitl-tasks",
        );
    let machine = sfn
        .create_state_machine()
        .name("hitl")
        .definition(asl)
        .role_arn("arn:aws:iam::123456789012:role/hitl-states")
        .send()
        .await
        .unwrap()
        .state_machine_arn;
    let wf = StepFunctionsWorkflow::new(sfn.clone(), machine, store.clone(), Clock::System);
    let running = Running::start_on(
        store,
        Settings::default(),
        Clock::System,
        vec![],
        Some(Arc::new(wf.clone()) as Arc<dyn Workflow>),
    )
    .await
    .unwrap();
    let svc = running.service.clone();
    let tasks = Tasks::new(svc.clone(), wf.clone());
    let (mut polls, mut execs) = (Vec::new(), Vec::new());
    for i in 0..REQUESTS {
        let id = format!("apr_bench_{i}");
        svc.create(
            serde_json::from_value(json!({
                "request_id": id, "tool": "write_file", "risk": "high",
                "requester": "agent", "approvers": ["alice"], "timeout_secs": 600,
            }))
            .unwrap(),
        )
        .await
        .unwrap();
        // Play the Lambda: hand the scheduled task to the entry point.
        let arn = wf.execution_arn(&id).unwrap();
        let payload = loop {
            let h = sfn
                .get_execution_history()
                .execution_arn(&arn)
                .send()
                .await
                .unwrap();
            if let Some(d) = h
                .events()
                .iter()
                .find_map(|e| e.task_scheduled_event_details())
            {
                break serde_json::from_str::<Value>(d.parameters()).unwrap()["Payload"].clone();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        tasks.run(Task::parse(&payload).unwrap()).await.unwrap();
        let waiter = {
            let svc = svc.clone();
            let id = id.clone();
            tokio::spawn(async move {
                svc.wait(&id, Duration::from_secs(30)).await.unwrap();
                Instant::now()
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let t0 = Instant::now();
        svc.decide(&id, DecisionAction::Approve, "alice", None)
            .await
            .unwrap();
        let released = waiter.await.unwrap();
        polls.push((released - t0).as_secs_f64() * 1000.0);
        loop {
            let d = sfn
                .describe_execution()
                .execution_arn(&arn)
                .send()
                .await
                .unwrap();
            if d.status() == &ExecutionStatus::Succeeded {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        execs.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    running.stop().await;
    (median(polls), median(execs))
}

/// Spawn → first function URL event answered, under a fake Runtime API.
async fn cold_start() -> f64 {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let answered = Arc::new(tokio::sync::Notify::new());
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let event = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": "/healthz", "rawQueryString": "",
        "headers": {"host": "x.lambda-url.us-east-1.on.aws", "x-forwarded-proto": "https"},
        "requestContext": {"accountId": "anonymous", "apiId": "x", "domainName": "x.lambda-url.us-east-1.on.aws",
            "domainPrefix": "x", "http": {"method": "GET", "path": "/healthz", "protocol": "HTTP/1.1",
            "sourceIp": "203.0.113.7", "userAgent": "bench"}, "requestId": "r", "routeKey": "$default",
            "stage": "$default", "time": "03/Dec/2026:07:00:00 +0000", "timeEpoch": 1_796_281_200_000_i64},
        "isBase64Encoded": false
    });
    let a = answered.clone();
    let app = axum::Router::new()
        .route(
            "/2018-06-01/runtime/invocation/next",
            get(move || {
                let rx = rx.clone();
                let event = event.clone();
                async move {
                    rx.lock().await.recv().await;
                    (
                        [
                            ("lambda-runtime-aws-request-id", "inv-1"),
                            ("lambda-runtime-deadline-ms", "99999999999999"),
                            (
                                "lambda-runtime-invoked-function-arn",
                                "arn:aws:lambda:us-east-1:123456789012:function:hitl",
                            ),
                        ],
                        event.to_string(),
                    )
                }
            }),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(move || {
                let a = a.clone();
                async move { a.notify_one() }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    tx.send(()).unwrap();
    let t0 = Instant::now();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hitl-bot"))
        .arg("serve")
        .env_remove("HITL_CONFIG")
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "hitl")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("HITL_TOKEN", "bench-token-0123456789")
        .env("HITL_DATA_DIR", dir.path())
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    answered.notified().await;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    child.kill().await.unwrap();
    server.abort();
    ms
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    hitl_bot::install_tls_provider();
    let mut polls = Vec::new();
    let mut execs = Vec::new();
    for run in 0..RUNS {
        let (p, e) = release_run().await;
        println!(
            "run {run}: decision → long-poll answered p50 {p:.2} ms; → execution SUCCEEDED p50 {e:.2} ms"
        );
        polls.push(p);
        execs.push(e);
    }
    let mut colds = Vec::new();
    for _ in 0..(RUNS * 3) {
        colds.push(cold_start().await);
    }
    println!("cold starts (ms): {colds:.1?}");
    println!(
        "median of runs: long-poll {:.2} ms, execution {:.2} ms, cold start {:.1} ms",
        median(polls),
        median(execs),
        median(colds)
    );
}
