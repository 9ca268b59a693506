//! The table-driven suite: calls with the real tool names and argument
//! shapes of public MCP servers (`tests/data/server_calls.json`, which
//! records each server's package and version), each with the level the
//! rubric gives and why. Rubric: low = read-only; medium = standard,
//! reversible or collaborative changes; high = file writes, network
//! requests, shell commands, deploys, bounded deletes, merges, credential
//! or permission changes within limits; critical = system and credential
//! files, destructive or irreversible commands on stateful or shared
//! resources, remote code execution, exfiltration, metadata SSRF,
//! destructive SQL, admin grants, history rewrites.
//!
//! The figures in BENCHMARKS.md come from `server_table_figures` (run it
//! with `--nocapture`).

use hitl_mcp::{Policy, ToolCall};
use hitl_wire::Risk;
use serde_json::Value;

pub const TABLE: &str = include_str!("../data/server_calls.json");

fn risk_of(name: &str) -> Risk {
    match name {
        "low" => Risk::Low,
        "medium" => Risk::Medium,
        "high" => Risk::High,
        "critical" => Risk::Critical,
        other => panic!("unknown level {other:?} in the table"),
    }
}

/// Calls and exact answers for one server.
#[derive(Default)]
struct PerServer {
    calls: usize,
    exact: usize,
}

struct Figures {
    total: usize,
    per_server: std::collections::BTreeMap<String, PerServer>,
    exact: usize,
    unseen: Vec<String>,
    low_held: Vec<String>,
    misses: Vec<String>,
}

fn figures() -> Figures {
    let table: Value = serde_json::from_str(TABLE).unwrap();
    let calls = table["calls"].as_array().unwrap();
    let policy = Policy::default();
    let mut f = Figures {
        total: calls.len(),
        per_server: Default::default(),
        exact: 0,
        unseen: Vec::new(),
        low_held: Vec::new(),
        misses: Vec::new(),
    };
    for call in calls {
        let tool = call["tool"].as_str().unwrap();
        let args = &call["args"];
        let want = risk_of(call["want"].as_str().unwrap());
        let v = policy.evaluate(&ToolCall::new(tool, args));
        let line = format!(
            "{} {tool} {args}: want {want}, got {} ({:?}) -- {}",
            call["server"].as_str().unwrap(),
            v.risk,
            v.reason_strings(),
            call["why"].as_str().unwrap()
        );
        let server = f
            .per_server
            .entry(call["server"].as_str().unwrap().to_owned())
            .or_default();
        server.calls += 1;
        if v.risk == want {
            server.exact += 1;
            f.exact += 1;
        } else {
            f.misses.push(line.clone());
        }
        if want >= Risk::High && v.is_allowed() {
            f.unseen.push(line.clone());
        }
        if want == Risk::Low && !v.is_allowed() {
            f.low_held.push(line);
        }
    }
    f
}

#[test]
fn the_table_covers_enough_servers_and_calls() {
    let table: Value = serde_json::from_str(TABLE).unwrap();
    let servers = table["servers"].as_object().unwrap();
    let calls = table["calls"].as_array().unwrap();
    assert!(calls.len() >= 300, "{} calls", calls.len());
    assert!(servers.len() >= 25, "{} servers", servers.len());
    for call in calls {
        let server = call["server"].as_str().unwrap();
        assert!(servers.contains_key(server), "{server} has no source");
        assert!(!call["why"].as_str().unwrap().is_empty());
    }
}

#[test]
fn server_table_figures() {
    let f = figures();
    let accuracy = f.exact as f64 / f.total as f64;
    println!(
        "server table: {} calls, exact level {}/{} ({:.1}%), high or critical that would run unseen: {}, low calls held: {}",
        f.total,
        f.exact,
        f.total,
        accuracy * 100.0,
        f.unseen.len(),
        f.low_held.len()
    );
    let table: Value = serde_json::from_str(TABLE).unwrap();
    let sources = table["servers"].as_object().unwrap();
    println!("| server | source | version read | calls | exact |");
    println!("|---|---|---|---|---|");
    for (name, s) in &f.per_server {
        let source = &sources[name.as_str()];
        println!(
            "| {name} | {} | {} | {} | {} |",
            source[0].as_str().unwrap_or(""),
            source[1].as_str().unwrap_or(""),
            s.calls,
            s.exact
        );
    }
    for m in &f.misses {
        println!("  miss: {m}");
    }
    assert!(
        f.unseen.is_empty(),
        "high or critical calls that would run without approval:\n{}",
        f.unseen.join("\n")
    );
    assert!(
        f.low_held.len() <= f.total / 50,
        "too many read-only calls held:\n{}",
        f.low_held.join("\n")
    );
    assert!(accuracy >= 0.9, "exact-level accuracy {accuracy:.3}");
}
