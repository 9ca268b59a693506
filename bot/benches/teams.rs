//! Benchmark of the Teams click path through the real `/teams/messages`
//! handler: a signed `adaptiveCard/action` invoke -> Bot Framework token
//! checked (RS256, cached keys, endorsements, serviceurl, allowlist) -> the
//! activity's once-key claimed -> decision recorded -> the refreshed card
//! built -> the invoke response, paced at 100 invokes/s on loopback, open
//! loop (each invoke timed from when it was due). A real service on a real
//! SQLite file; the tokens are signed by the test issuer
//! (`bot/tests/teams/issuer.py`, PyJWT), which also serves the keys.
//! Run: `HITL_TEST_PYTHON=.deps/venv/bin/python cargo bench -p hitl-bot --bench teams`.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use hitl_bot::Running;
use hitl_bot::clock::Clock;
use hitl_bot::notify::Notifier;
use hitl_bot::service::Settings;
use hitl_bot::store::sqlite::SqliteStore;
use hitl_bot::teams::Teams;
use hitl_bot::teams::settings::TeamsSettings;
use hitl_cards::Templates;
use hitl_wire::api::CreateApproval;
use serde_json::{Value, json};

const APP_ID: &str = "6e0fb6d4-0f5e-4c9a-9d4f-1a2b3c4d5e6f";
const SERVICE_URL: &str = "https://smba.trafficmanager.net/amer/";
const RATE: u64 = 100;
const REQUESTS: usize = 1000;
const RUNS: usize = 3;

/// The person who clicks, as the record names them.
const APPROVER: &str = "teams:6b3c5e2f-0000-4000-8000-00000000be9c";

#[allow(clippy::disallowed_methods)]
fn issuer() -> (std::process::Child, String) {
    let python =
        std::env::var("HITL_TEST_PYTHON").expect("set HITL_TEST_PYTHON to a python with PyJWT");
    let script = format!("{}/tests/teams/issuer.py", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().strip_prefix("PORT ").unwrap().to_string();
    (child, format!("http://127.0.0.1:{port}"))
}

fn invoke(i: usize, id: &str) -> Value {
    json!({
        "type": "invoke", "name": "adaptiveCard/action", "id": format!("bench-{i}"),
        "serviceUrl": SERVICE_URL, "channelId": "msteams",
        "from": { "id": "29:1bench", "name": "Bench", "aadObjectId": "6b3c5e2f-0000-4000-8000-00000000be9c" },
        "conversation": { "conversationType": "channel", "tenantId": "t", "id": "19:bench@thread.tacv2;messageid=1" },
        "recipient": { "id": format!("28:{APP_ID}") },
        "value": { "action": { "type": "Action.Execute", "verb": "approve",
                   "data": { "requestId": id, "decision": "approve", "reason": "ok" } }, "trigger": "manual" }
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn run(issuer_url: &str) -> (Duration, Duration, Duration) {
    let http = reqwest::Client::new();
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("bench.db")).unwrap();
    let settings = Settings {
        default_timeout_secs: 3600,
        ..Settings::default()
    };
    let running = Running::start(Arc::new(store), settings, Clock::System, vec![])
        .await
        .unwrap();
    let svc = running.service.clone();
    let teams_settings = TeamsSettings {
        app_id: APP_ID.to_string(),
        openid_url: format!("{issuer_url}/botframework/openid"),
        ..TeamsSettings::default()
    };
    // The adapter is attached to the service but not one of its notifiers:
    // with no conversation configured, posting cards is not what is timed.
    let teams = Teams::new(&teams_settings, Templates::builtin(), Clock::System).unwrap();
    let _ = teams.attach(&svc, &running.shutdown_token());
    let router = hitl_bot::teams::router(teams);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/teams/messages", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let now = chrono::Utc::now().timestamp();
    let token: Value = http
        .post(format!("{issuer_url}/mint"))
        .json(
            &json!({ "claims": { "iss": "https://api.botframework.com", "aud": APP_ID,
            "exp": now + 3600, "nbf": now - 60, "serviceurl": SERVICE_URL } }),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap().to_string();
    let mut bodies = Vec::with_capacity(REQUESTS);
    for i in 0..REQUESTS {
        let body: CreateApproval = serde_json::from_value(json!({
            "tool": "write_file", "server": "filesystem", "risk": "high", "requester": "agent",
            "arguments": {"path": format!("/tmp/bench-{i}.txt"), "content": "x".repeat(200)},
            "reasons": ["file write"],
            // Named, so the click needs no roster lookup (a request that
            // names nobody asks the connector who is in the conversation).
            "approvers": [APPROVER]
        }))
        .unwrap();
        let id = svc.create(body).await.unwrap().0.request_id;
        bodies.push(serde_json::to_vec(&invoke(i, &id)).unwrap());
    }
    // Warm the key cache with one invoke: in service the keys are fetched
    // once per 12 h.
    let warm: CreateApproval = serde_json::from_value(json!({
        "tool": "warm", "risk": "high", "requester": "agent", "arguments": {},
        "approvers": [APPROVER]
    }))
    .unwrap();
    let warm = svc.create(warm).await.unwrap().0.request_id;
    let resp = http
        .post(&url)
        .bearer_auth(&token)
        .json(&invoke(REQUESTS, &warm))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());

    let period = Duration::from_nanos(1_000_000_000 / RATE);
    let started = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(REQUESTS);
    for (i, body) in bodies.into_iter().enumerate() {
        let due = started + period * i as u32;
        tokio::time::sleep_until(due).await;
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let resp = http
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let answer: Value = resp.json().await.unwrap();
            let took = due.elapsed();
            assert!(status.is_success(), "{status} {answer}");
            assert_eq!(answer["type"], "application/vnd.microsoft.card.adaptive");
            took
        }));
    }
    let mut samples = Vec::with_capacity(REQUESTS);
    for t in tasks {
        samples.push(t.await.unwrap());
    }
    running.stop().await;
    samples.sort();
    (
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        *samples.last().unwrap(),
    )
}

fn main() {
    hitl_bot::install_tls_provider();
    let (mut child, issuer_url) = issuer();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut results = Vec::new();
    for run_no in 1..=RUNS {
        let r = rt.block_on(run(&issuer_url));
        println!(
            "run {run_no}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            r.0.as_secs_f64() * 1e3,
            r.1.as_secs_f64() * 1e3,
            r.2.as_secs_f64() * 1e3
        );
        results.push(r);
    }
    let med = |f: fn(&(Duration, Duration, Duration)) -> Duration| {
        let mut v: Vec<Duration> = results.iter().map(f).collect();
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1e3
    };
    println!(
        "median of {RUNS} runs ({REQUESTS} invokes at {RATE}/s): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        med(|r| r.0),
        med(|r| r.1),
        med(|r| r.2)
    );
    let _ = child.kill();
    let _ = child.wait();
}
