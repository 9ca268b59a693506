//! Benchmark of the Slack click path: signed interaction -> signature
//! checked -> decision recorded -> HTTP answer, paced at 200 requests/s on
//! loopback, open loop (each request is timed from when it was due, so a
//! slow answer cannot hide the ones queued behind it). A real server with a
//! real SQLite file; the Slack notifier talks to a fake Web API in the same
//! process (card posts, then `chat.update` and a thread reply per decision).
//! Run: `cargo bench -p hitl-bot --bench slack`.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::post;
use hitl_bot::Running;
use hitl_bot::api::auth::Tokens;
use hitl_bot::clock::Clock;
use hitl_bot::notify::Notifier;
use hitl_bot::service::{ApprovalService, Settings};
use hitl_bot::slack::{PLATFORM, Slack, SlackConfig};
use hitl_bot::store::sqlite::SqliteStore;
use hitl_cards::Templates;
use hitl_wire::Status;
use hitl_wire::api::CreateApproval;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::Sha256;

const SECRET: &str = "bench-signing-secret-0123456789ab";
const RATE: u64 = 200;
const REQUESTS: usize = 2000;
const RUNS: usize = 3;

/// A Web API that says yes to everything, with Slack's answer shapes.
async fn fake_slack() -> String {
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(1));
    let app = Router::new().route(
        "/api/{method}",
        post(move |Path(method): Path<String>, body: axum::Json<Value>| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            async move {
                let ts = format!("1700000000.{n:06}");
                axum::Json(match method.as_str() {
                    "chat.postMessage" => json!({"ok": true, "channel": "C0BENCH", "ts": ts,
                        "message": {"type": "message", "ts": ts, "text": body["text"]}}),
                    "chat.update" => {
                        json!({"ok": true, "channel": body["channel"], "ts": body["ts"],
                        "message": {"type": "message", "text": body["text"]}})
                    }
                    _ => json!({"ok": true}),
                })
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

struct Bench {
    url: String,
    svc: Arc<ApprovalService>,
    running: Running,
    _dir: tempfile::TempDir,
}

async fn start() -> Bench {
    let api_url = fake_slack().await;
    let mut config = SlackConfig::new(SecretString::from("xoxb-bench"));
    config.signing_secrets = vec![SecretString::from(SECRET)];
    config.channel = Some("#approvals".to_owned());
    config.api_url = api_url;
    let slack = Slack::new(config, Templates::builtin()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("bench.db")).unwrap();
    let settings = Settings {
        default_timeout_secs: 3600,
        ..Settings::default()
    };
    let running = Running::start(
        Arc::new(store),
        settings,
        Clock::System,
        vec![slack.clone() as Arc<dyn Notifier>],
    )
    .await
    .unwrap();
    let svc = running.service.clone();
    let router = hitl_bot::app_with_slack(
        svc.clone(),
        Tokens::new(SecretString::from("bench-token"), None),
        Some(slack),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = running.shutdown_token();
    tokio::spawn(hitl_bot::serve(listener, router, async move {
        stop.cancelled().await
    }));
    Bench {
        url,
        svc,
        running,
        _dir: dir,
    }
}

fn sign(ts: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("v0:{ts}:{body}").as_bytes());
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("v0={hex}")
}

/// A `block_actions` click on Approve, form-encoded as Slack sends it.
fn click(id: &str, user: &str) -> String {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": user, "username": "bench", "team_id": "T0BENCH"},
        "api_app_id": "A0BENCH",
        "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": "C0BENCH"},
        "trigger_id": "1.2.3",
        "team": {"id": "T0BENCH", "domain": "bench"},
        "channel": {"id": "C0BENCH", "name": "approvals"},
        "response_url": "https://hooks.slack.com/actions/T0BENCH/1/x",
        "actions": [{"action_id": "hitl_approve", "block_id": "b", "value": id, "type": "button",
                     "text": {"type": "plain_text", "text": "Approve"}, "action_ts": "1700000000.1"}]
    });
    serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One run: `REQUESTS` clicks at `RATE`/s; returns (p50, p99, max).
async fn run() -> (Duration, Duration, Duration) {
    let b = start().await;
    let mut ids = Vec::with_capacity(REQUESTS);
    for i in 0..REQUESTS {
        let body: CreateApproval = serde_json::from_value(json!({
            "tool": "write_file", "server": "filesystem", "risk": "high", "requester": "agent",
            "arguments": {"path": format!("/tmp/bench-{i}.txt"), "content": "x".repeat(200)},
            "reasons": ["file write"]
        }))
        .unwrap();
        ids.push(b.svc.create(body).await.unwrap().0.request_id);
    }
    // Every card is out before the clicks start.
    for id in &ids {
        while b.svc.message_ref(id, PLATFORM).await.unwrap().is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let http = reqwest::Client::new();
    let ts = chrono::Utc::now().timestamp();
    let requests: Vec<(String, String, String)> = ids
        .iter()
        .map(|id| {
            let body = click(id, "U0BENCHER");
            (id.clone(), sign(ts, &body), body)
        })
        .collect();
    let period = Duration::from_nanos(1_000_000_000 / RATE);
    let started = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(REQUESTS);
    for (i, (id, sig, body)) in requests.into_iter().enumerate() {
        let due = started + period * i as u32;
        tokio::time::sleep_until(due).await;
        let (http, url, svc) = (http.clone(), b.url.clone(), b.svc.clone());
        tasks.push(tokio::spawn(async move {
            let resp = http
                .post(format!("{url}/slack/interactions"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-slack-request-timestamp", ts.to_string())
                .header("x-slack-signature", sig)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let _ = resp.bytes().await.unwrap();
            let took = due.elapsed();
            assert!(status.is_success(), "{status}");
            // The decision was recorded before the answer.
            assert_eq!(svc.get(&id).await.unwrap().status, Status::Approved);
            took
        }));
    }
    let mut samples = Vec::with_capacity(REQUESTS);
    for t in tasks {
        samples.push(t.await.unwrap());
    }
    b.running.stop().await;
    samples.sort();
    (
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        *samples.last().unwrap(),
    )
}

fn main() {
    hitl_bot::install_tls_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let (mut p50s, mut p99s, mut maxes) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..RUNS {
            let (p50, p99, max) = run().await;
            p50s.push(ms(p50));
            p99s.push(ms(p99));
            maxes.push(ms(max));
        }
        println!(
            "signed Slack click -> decision recorded -> HTTP answer, {REQUESTS} at {RATE}/s x {RUNS} runs: \
             p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (median of runs; p50 runs {p50s:.2?}, p99 runs {p99s:.2?}, max runs {maxes:.2?})",
            median(p50s.clone()),
            median(p99s.clone()),
            median(maxes.clone())
        );
    });
}
