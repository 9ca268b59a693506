//! Benchmarks of the approval service, on a real server on 127.0.0.1 with a
//! real SQLite file (WAL). Run: `cargo bench -p hitl-bot --bench approvals`.
//!
//! - wake: decision sent -> long-poll answered, per request (p50, p99);
//! - throughput: create + decide pairs per second over HTTP, and through the
//!   service without HTTP (the store's ceiling);
//! - memory: resident bytes per pending request (store + timers).
//!
//! Each figure is the median of several runs; the machine is shared and noisy.

#![allow(clippy::unwrap_used, clippy::print_stdout)]
// The counting allocator below needs `unsafe impl GlobalAlloc`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};

use std::sync::Arc;
use std::time::{Duration, Instant};

use hitl_bot::Running;
use hitl_bot::api::auth::Tokens;
use hitl_bot::clock::Clock;
use hitl_bot::service::{ApprovalService, Settings};
use hitl_bot::store::sqlite::SqliteStore;
use hitl_wire::Risk;
use hitl_wire::api::{CreateApproval, DecisionAction};
use secrecy::SecretString;
use serde_json::json;

/// Counts live heap bytes, so memory per pending request is exact rather
/// than read off a noisy RSS.
struct Counting;

static LIVE: AtomicI64 = AtomicI64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const TOKEN: &str = "bench-token";
const RUNS: usize = 3;

struct Server {
    url: String,
    /// An approver credential for "alice", who decides every request.
    approver: String,
    svc: Arc<ApprovalService>,
    running: Running,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bench.db");
    start_on(&db, dir).await
}

/// A server on the database file `db`; several may share one file, as
/// `hitl-bot` processes on one host do.
async fn start_on(db: &std::path::Path, dir: tempfile::TempDir) -> Server {
    let store = SqliteStore::open(db).unwrap();
    let settings = Settings {
        default_timeout_secs: 3600,
        ..Settings::default()
    };
    let running = Running::start(Arc::new(store), settings, Clock::System, Vec::new())
        .await
        .unwrap();
    let svc = running.service.clone();
    let (approver, cred) = hitl_bot::credentials::issue(
        hitl_bot::credentials::Role::Approver,
        Some("alice"),
        chrono::Utc::now(),
    )
    .unwrap();
    svc.store().put_credential(cred).await.unwrap();
    let router = hitl_bot::app(svc.clone(), Tokens::new(SecretString::from(TOKEN), None));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = running.shutdown_token();
    tokio::spawn(hitl_bot::serve(listener, router, async move {
        stop.cancelled().await
    }));
    Server {
        url,
        approver,
        svc,
        running,
        _dir: dir,
    }
}

fn body(i: usize) -> serde_json::Value {
    json!({"tool": "write_file", "server": "filesystem", "risk": "high", "requester": "bench",
           "arguments": {"path": format!("/tmp/bench-{i}.txt"), "content": "x".repeat(200)},
           "reasons": ["file write"]})
}

fn create_body(i: usize) -> CreateApproval {
    serde_json::from_value(body(i)).unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Decision sent -> long-poll answered, one request at a time.
async fn wake_latency(n: usize) -> (Duration, Duration) {
    let s = start().await;
    let http = reqwest::Client::new();
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let r: serde_json::Value = http
            .post(format!("{}/v1/approvals", s.url))
            .bearer_auth(TOKEN)
            .json(&body(i))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = r["request_id"].as_str().unwrap().to_owned();
        let poll = {
            let (http, url) = (http.clone(), format!("{}/v1/approvals/{id}?wait=60", s.url));
            tokio::spawn(async move {
                let resp = http.get(url).bearer_auth(TOKEN).send().await.unwrap();
                let _ = resp.bytes().await.unwrap();
                Instant::now()
            })
        };
        // Decide only once the long-poll is parked on its waiter.
        while s.svc.waiters().is_empty() {
            tokio::task::yield_now().await;
        }
        let sent = Instant::now();
        let resp = http
            .post(format!("{}/v1/approvals/{id}/decision", s.url))
            .bearer_auth(&s.approver)
            .json(&json!({"action": "approve", "approver": "alice"}))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
        let woke = poll.await.unwrap();
        samples.push(woke - sent);
    }
    s.running.stop().await;
    samples.sort();
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
}

/// Decision sent to server B -> long-poll on server A answered, one request
/// at a time: A and B share one SQLite file and nothing else, so A hears of
/// the decision only through its watcher of the store's finals.
async fn cross_process_wake_latency(n: usize) -> (Duration, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bench.db");
    let a = start_on(&db, tempfile::tempdir().unwrap()).await;
    let b = start_on(&db, dir).await;
    let http = reqwest::Client::new();
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let r: serde_json::Value = http
            .post(format!("{}/v1/approvals", a.url))
            .bearer_auth(TOKEN)
            .json(&body(i))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = r["request_id"].as_str().unwrap().to_owned();
        let poll = {
            let (http, url) = (http.clone(), format!("{}/v1/approvals/{id}?wait=60", a.url));
            tokio::spawn(async move {
                let resp = http.get(url).bearer_auth(TOKEN).send().await.unwrap();
                let body: serde_json::Value = resp.json().await.unwrap();
                (Instant::now(), body)
            })
        };
        while a.svc.waiters().is_empty() {
            tokio::task::yield_now().await;
        }
        let sent = Instant::now();
        let resp = http
            .post(format!("{}/v1/approvals/{id}/decision", b.url))
            .bearer_auth(&b.approver)
            .json(&json!({"action": "approve", "approver": "alice"}))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
        let (woke, record) = poll.await.unwrap();
        assert_eq!(record["status"], "approved", "A answered with the decision");
        samples.push(woke - sent);
    }
    a.running.stop().await;
    b.running.stop().await;
    samples.sort();
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
}

/// create + decide pairs per second over HTTP, `clients` at a time.
async fn http_throughput(pairs: usize, clients: usize) -> f64 {
    let s = start().await;
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, url, approver) = (http.clone(), s.url.clone(), s.approver.clone());
        tasks.push(tokio::spawn(async move {
            for i in (c..pairs).step_by(clients) {
                let r: serde_json::Value = http
                    .post(format!("{url}/v1/approvals"))
                    .bearer_auth(TOKEN)
                    .json(&body(i))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let id = r["request_id"].as_str().unwrap();
                let resp = http
                    .post(format!("{url}/v1/approvals/{id}/decision"))
                    .bearer_auth(&approver)
                    .json(&json!({"action": "approve", "approver": "alice"}))
                    .send()
                    .await
                    .unwrap();
                assert!(resp.status().is_success());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rate = pairs as f64 / started.elapsed().as_secs_f64();
    s.running.stop().await;
    rate
}

/// create + decide pairs per second through the service, no HTTP.
async fn service_throughput(pairs: usize, tasks: usize) -> f64 {
    let s = start().await;
    let started = Instant::now();
    let mut handles = Vec::new();
    for c in 0..tasks {
        let svc = s.svc.clone();
        handles.push(tokio::spawn(async move {
            for i in (c..pairs).step_by(tasks) {
                let (r, _) = svc.create(create_body(i)).await.unwrap();
                svc.decide(&r.request_id, DecisionAction::Approve, "alice", None)
                    .await
                    .unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let rate = pairs as f64 / started.elapsed().as_secs_f64();
    s.running.stop().await;
    rate
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// Heap and resident bytes added per pending request (timers, SQLite cache).
async fn memory_per_pending(n: usize) -> (f64, f64) {
    let s = start().await;
    // Warm up allocator and connection so the baseline is fair.
    for i in 0..100 {
        s.svc.create(create_body(i)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss_bytes();
    let heap_before = LIVE.load(Ordering::Relaxed);
    for i in 0..n {
        let mut b = create_body(i);
        b.risk = Risk::Critical;
        s.svc.create(b).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = rss_bytes();
    let heap_after = LIVE.load(Ordering::Relaxed);
    assert_eq!(s.svc.count_pending().await.unwrap(), (n + 100) as u64);
    s.running.stop().await;
    (
        (heap_after - heap_before) as f64 / n as f64,
        after.saturating_sub(before) as f64 / n as f64,
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
        let mut p50s = Vec::new();
        let mut p99s = Vec::new();
        for _ in 0..RUNS {
            let (p50, p99) = wake_latency(500).await;
            p50s.push(p50.as_secs_f64() * 1e3);
            p99s.push(p99.as_secs_f64() * 1e3);
        }
        println!(
            "wake latency (decision sent -> long-poll answered), 500 requests x {RUNS} runs: p50 {:.2} ms, p99 {:.2} ms (median of runs; p50 runs {p50s:.2?})",
            median(p50s.clone()),
            median(p99s)
        );

        let mut p50s = Vec::new();
        let mut p99s = Vec::new();
        for _ in 0..RUNS {
            let (p50, p99) = cross_process_wake_latency(200).await;
            p50s.push(p50.as_secs_f64() * 1e3);
            p99s.push(p99.as_secs_f64() * 1e3);
        }
        println!(
            "cross-process wake latency (decision on B -> long-poll on A answered, one SQLite file), 200 requests x {RUNS} runs: p50 {:.2} ms, p99 {:.2} ms (median of runs; p50 runs {p50s:.2?})",
            median(p50s.clone()),
            median(p99s)
        );

        let rates: Vec<f64> = {
            let mut v = Vec::new();
            for _ in 0..RUNS {
                v.push(http_throughput(5000, 16).await);
            }
            v
        };
        println!(
            "create + decide over HTTP, 16 clients, 5000 pairs x {RUNS} runs: {:.0} pairs/s (runs {rates:.0?})",
            median(rates.clone())
        );
        let rates: Vec<f64> = {
            let mut v = Vec::new();
            for _ in 0..RUNS {
                v.push(service_throughput(5000, 16).await);
            }
            v
        };
        println!(
            "create + decide through the service (no HTTP), 16 tasks, 5000 pairs x {RUNS} runs: {:.0} pairs/s (runs {rates:.0?})",
            median(rates.clone())
        );
        let mut heap = Vec::new();
        let mut rss = Vec::new();
        for _ in 0..RUNS {
            let (h, r) = memory_per_pending(20_000).await;
            heap.push(h);
            rss.push(r);
        }
        println!(
            "memory per pending request, 20000 pending x {RUNS} runs: {:.0} bytes heap, {:.0} bytes RSS (heap runs {heap:.0?}, RSS runs {rss:.0?})",
            median(heap.clone()),
            median(rss.clone())
        );
    });
}
