//! `hitl-mcp scan` against the official MCP servers from npm (installed
//! by ./scripts/test into .deps/node): over stdio, and over Streamable HTTP.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hitl_mcp::Policy;
use serde_json::Value;

#[allow(clippy::disallowed_methods)] // tests read where ./scripts/test put the npm peers
fn peer(package: &str) -> PathBuf {
    let dir = std::env::var_os("HITL_NODE_MODULES")
        .expect("set HITL_NODE_MODULES to the npm MCP test peers (./scripts/test does this)");
    PathBuf::from(dir)
        .join("@modelcontextprotocol")
        .join(package)
        .join("dist/index.js")
}

fn scan(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hitl-mcp"))
        .arg("scan")
        .args(args)
        .env_remove("HITL_CONFIG")
        .env_remove("HITL_DATA_DIR")
        .output()
        .expect("run hitl-mcp scan");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn scan_judges_each_tool_of_the_filesystem_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = peer("server-filesystem");
    let (code, out, err) = scan(&[
        "--json",
        "--name",
        "fs",
        "--",
        "node",
        server.to_str().unwrap(),
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let reports: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let risk = |tool: &str| {
        reports
            .iter()
            .find(|r| r["tool"] == tool)
            .unwrap_or_else(|| panic!("{tool} not listed: {out}"))["risk"]
            .clone()
    };
    assert!(reports.len() >= 10, "{out}");
    assert_eq!(risk("read_text_file"), "low");
    assert_eq!(risk("list_directory"), "low");
    assert_eq!(risk("write_file"), "high");
    assert_eq!(risk("move_file"), "high");
    assert!(reports.iter().all(|r| r["unsure"] == false), "{out}");
}

#[test]
fn scan_writes_a_starting_policy_that_loads() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    let server = peer("server-everything");
    let (code, out, err) = scan(&[
        "--output",
        file.to_str().unwrap(),
        "--",
        "node",
        server.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    // The table names the server and every tool, riskiest first.
    assert!(out.starts_with("everything: "), "{out}");
    assert!(out.contains("get-sum"), "{out}");
    let policy = Policy::load(&file).unwrap();
    let tools = out.lines().count() - 1;
    assert_eq!(policy.rule_count(), tools, "{out}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("tool = \"echo\""), "{text}");
    // An existing file is kept unless --force.
    let (code, _, err) = scan(&[
        "--output",
        file.to_str().unwrap(),
        "--",
        "node",
        server.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("already exists; pass --force"), "{err}");
}

#[test]
fn scan_reaches_a_server_by_url() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = Command::new("node")
        .arg(peer("server-everything"))
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the server did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    let url = format!("http://127.0.0.1:{port}/mcp");
    let (code, out, err) = scan(&["--upstream-url", &url]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("127.0.0.1: "), "{out}");
    assert!(out.contains("echo"), "{out}");
}

#[test]
fn scan_needs_exactly_one_server() {
    let (code, _, err) = scan(&[]);
    assert_eq!(code, 2);
    assert!(err.contains("name the server to scan"), "{err}");
    let (code, _, err) = scan(&["--upstream-url", "http://127.0.0.1:9/mcp", "--", "x"]);
    assert_eq!(code, 2);
    assert!(err.contains("not both"), "{err}");
}
