//! The proxy's costs, measured against the official MCP "everything" server
//! from npm (installed by ./scripts/test into .deps/node).
//!
//! Run: `cargo bench -p hitl-mcp --bench proxy` (after ./scripts/test once).
//!
//! 1. Added latency per auto-allowed call: the same rmcp client calls `echo`
//!    directly on the upstream and through `hitl-mcp`, interleaved in one run;
//!    medians and p99 of each, the difference and the ratio.
//! 2. 1,000 calls held at once in one gateway: the gateway's resident memory
//!    while they wait, then every one released by a decision and checked.

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::expect_used,
    clippy::disallowed_methods
)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hitl_bot::Running;
use hitl_bot::api::auth::Tokens;
use hitl_bot::clock::Clock;
use hitl_bot::service::Settings;
use hitl_bot::store::sqlite::SqliteStore;
use hitl_wire::Status;
use hitl_wire::api::DecisionAction;
use rmcp::RoleClient;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RunningService, ServiceExt};
use rmcp::transport::TokioChildProcess;
use secrecy::SecretString;
use serde_json::json;

const TOKEN: &str = "bench-token";

fn everything() -> PathBuf {
    let dir = std::env::var_os("HITL_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.deps/node/node_modules")
        });
    let bin = dir.join(".bin/mcp-server-everything");
    assert!(
        bin.exists(),
        "{} is missing: run ./scripts/test once to install the MCP test peers",
        bin.display()
    );
    bin
}

fn filesystem() -> PathBuf {
    everything().with_file_name("mcp-server-filesystem")
}

async fn client(cmd: tokio::process::Command) -> RunningService<RoleClient, ()> {
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    ().serve(transport).await.unwrap()
}

fn gateway_cmd(bot_url: &str, extra: &[&str]) -> tokio::process::Command {
    gateway_cmd_for(bot_url, extra, &[everything().into_os_string()])
}

fn gateway_cmd_for(
    bot_url: &str,
    extra: &[&str],
    upstream: &[std::ffi::OsString],
) -> tokio::process::Command {
    // HITL_BENCH_WRAP runs the gateway under a profiler, e.g.
    // "valgrind --tool=massif --massif-out-file=/tmp/massif.out".
    let mut cmd = match std::env::var("HITL_BENCH_WRAP") {
        Ok(wrap) if !wrap.is_empty() => {
            let mut parts = wrap.split_whitespace();
            let mut c = tokio::process::Command::new(parts.next().unwrap());
            c.args(parts).arg(env!("CARGO_BIN_EXE_hitl-mcp"));
            c
        }
        _ => tokio::process::Command::new(env!("CARGO_BIN_EXE_hitl-mcp")),
    };
    cmd.arg("serve").args(extra).arg("--").args(upstream);
    cmd.env("HITL_APPROVAL_URL", bot_url)
        .env("HITL_TOKEN", TOKEN)
        .env("RUST_LOG", "error");
    cmd
}

async fn call(
    c: &RunningService<RoleClient, ()>,
    tool: &str,
    args: &serde_json::Value,
) -> Duration {
    let args = args.as_object().cloned().unwrap();
    let t = Instant::now();
    let r = c
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args))
        .await
        .unwrap();
    let d = t.elapsed();
    assert_ne!(r.is_error, Some(true), "{tool}: {r:?}");
    d
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e6
}

async fn start_bot() -> (String, Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("bench.db")).unwrap();
    let settings = Settings {
        default_timeout_secs: 3600,
        ..Settings::default()
    };
    let running = Running::start(Arc::new(store), settings, Clock::System, Vec::new())
        .await
        .unwrap();
    let router = hitl_bot::app(
        running.service.clone(),
        Tokens::new(SecretString::from(TOKEN), None),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = running.shutdown_token();
    tokio::spawn(hitl_bot::serve(listener, router, async move {
        stop.cancelled().await
    }));
    (url, running, dir)
}

/// One tool, called directly on its upstream and through the gateway by the
/// same kind of client, interleaved so both see the same machine.
async fn added_latency(
    bot_url: &str,
    upstream: &[std::ffi::OsString],
    tool: &str,
    args: serde_json::Value,
    calls: usize,
) {
    let mut direct_cmd = tokio::process::Command::new(&upstream[0]);
    direct_cmd.args(&upstream[1..]);
    let direct = client(direct_cmd).await;
    // HITL_BENCH_RELAY=socat puts a plain byte relay where the gateway goes:
    // the floor any proxy in its own process pays for the two extra hops.
    let relay = std::env::var("HITL_BENCH_RELAY")
        .ok()
        .filter(|r| r == "socat");
    let gated = match relay {
        Some(_) => {
            let exec = upstream
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ");
            let mut cmd = tokio::process::Command::new("socat");
            cmd.arg("-").arg(format!("EXEC:{exec}"));
            client(cmd).await
        }
        None => client(gateway_cmd_for(bot_url, &[], upstream)).await,
    };
    for _ in 0..200 {
        call(&direct, tool, &args).await;
        call(&gated, tool, &args).await;
    }
    let (mut d, mut g) = (Vec::with_capacity(calls), Vec::with_capacity(calls));
    for _ in 0..calls {
        d.push(call(&direct, tool, &args).await);
        g.push(call(&gated, tool, &args).await);
    }
    d.sort();
    g.sort();
    let (d50, g50) = (pct(&d, 0.5), pct(&g, 0.5));
    println!(
        "auto-allowed {tool}, {calls} calls each, interleaved: direct p50 {d50:.0} us p99 {:.0} us; through {} p50 {g50:.0} us p99 {:.0} us; added p50 {:.0} us, ratio {:.2}x",
        pct(&d, 0.99),
        if std::env::var("HITL_BENCH_RELAY").is_ok() {
            "socat"
        } else {
            "hitl-mcp"
        },
        pct(&g, 0.99),
        g50 - d50,
        g50 / d50
    );
    let _ = direct.cancel().await;
    let _ = gated.cancel().await;
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn thousand_held(bot_url: &str, running: &Running, n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("policy.toml");
    std::fs::write(&config, "[[rule]]\nname = \"hold-echo\"\ntool = \"echo\"\nrisk = \"high\"\naction = \"require_approval\"\n").unwrap();
    let cmd = gateway_cmd(
        bot_url,
        &["--config", config.to_str().unwrap(), "--hold-budget", "600"],
    );
    // HITL_BENCH_GATEWAY_LOG=FILE keeps the gateway's log (with
    // HITL_BENCH_WRAP="env RUST_LOG=hitl_mcp=debug" for detail).
    let stderr = match std::env::var("HITL_BENCH_GATEWAY_LOG") {
        Ok(path) => std::process::Stdio::from(std::fs::File::create(path).unwrap()),
        Err(_) => std::process::Stdio::null(),
    };
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(stderr)
        .spawn()
        .unwrap();
    let pid = transport.id().unwrap();
    let c = Arc::new(().serve(transport).await.unwrap());
    let idle = rss_kib(pid);
    let started = Instant::now();
    let calls: Vec<_> = (0..n)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move {
                let args = json!({"message": format!("held {i}")})
                    .as_object()
                    .cloned()
                    .unwrap();
                c.call_tool(CallToolRequestParams::new("echo").with_arguments(args))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let svc = running.service.clone();
    let pending = loop {
        let p = svc.list(Some(Status::Pending), 1000).await.unwrap();
        if p.len() >= n {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let all_held = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held_rss = rss_kib(pid);
    let released = Instant::now();
    for r in &pending {
        svc.decide(&r.request_id, DecisionAction::Approve, "alice", None)
            .await
            .unwrap();
    }
    let mut ok = 0;
    for (i, call) in calls.into_iter().enumerate() {
        let r = call.await.unwrap();
        let text = r.content[0]
            .as_text()
            .map(|t| t.text.clone())
            .unwrap_or_default();
        if r.is_error != Some(true) && text.starts_with("Echo: held ") {
            ok += 1;
        } else {
            panic!("call {i} not released correctly: {text}");
        }
    }
    // Close stdin so the gateway exits on its own (profilers write then).
    if let Ok(c) = Arc::try_unwrap(c) {
        let _ = c.cancel().await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!(
        "{n} calls held at once in one gateway: all held after {:.1} s; gateway RSS {:.1} MB idle, {:.1} MB with {n} held; all {ok} released and answered {:.2} s after the decisions began",
        all_held.as_secs_f64(),
        idle as f64 / 1024.0,
        held_rss as f64 / 1024.0,
        released.elapsed().as_secs_f64()
    );
}

fn main() {
    hitl_bot::install_tls_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (url, running, _dir) = start_bot().await;
        // HITL_BENCH_ONLY=held, =echo or =read runs only that part.
        let only = std::env::var("HITL_BENCH_ONLY").unwrap_or_default();
        let runs = |part: &str| only.is_empty() || only == part;
        if runs("echo") {
            let ever = [everything().into_os_string()];
            for _ in 0..3 {
                added_latency(&url, &ever, "echo", json!({"message": "hello"}), 2000).await;
            }
        }
        if runs("read") {
            // A tool that does some work: reading a 64 KiB file.
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("notes.txt");
            std::fs::write(&file, "a line of notes\n".repeat(4096)).unwrap();
            let fs = [
                filesystem().into_os_string(),
                dir.path().as_os_str().to_owned(),
            ];
            for _ in 0..3 {
                added_latency(&url, &fs, "read_text_file", json!({"path": file}), 1000).await;
            }
        }
        if runs("held") {
            thousand_held(&url, &running, 1000).await;
        }
        running.stop().await;
    });
}
