//! Policy evaluations per second on one thread, for a realistic mix of
//! tool calls against a policy file with a handful of rules.
//!
//! Run with `taskset -c 0 cargo bench -p hitl-mcp --bench policy` (Linux;
//! `taskset` pins it to one core). Without `--bench` (as under `cargo
//! test --benches`) it runs one short batch as a smoke test.
#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::hint::black_box;
use std::time::Instant;

use hitl_mcp::{Policy, ToolAnnotations, ToolCall};
use serde_json::{Value, json};

/// A policy file like a team would write: server and tool globs, argument
/// regexes and globs, annotations, a level change.
const POLICY: &str = r#"
[levels.high]
approvers = ["group:oncall"]

[[rule]]
name = "prod-db-writes"
server = "postgres-prod"
min_risk = "medium"
action = "deny"

[[rule]]
name = "deploys"
tool = ["deploy_*", "*_deploy"]
risk = "high"
action = "require_approval"
approvers = ["group:release"]
quorum = 2

[[rule]]
name = "scratch"
tool = ["write_file", "edit_file"]
args = [{ pointer = "/path", glob = "/tmp/scratch/**" }]
risk = "low"
override = true
action = "allow"

[[rule]]
name = "prod-kubectl"
tool = "run_command"
args = [{ pointer = "/command", regex = "kubectl .*--context[= ]prod" }]
risk = "critical"

[[rule]]
name = "secrets-server"
server = "vault*"
tool = "{get,read}_secret*"
action = "deny"

[[rule]]
name = "destructive-legacy"
server = "legacy"
annotations = { destructive_hint = true }
risk = "high"

[[rule]]
name = "big-exports"
tool = "export_*"
args = [{ pointer = "/limit", regex = "^[0-9]{5,}$" }]
risk = "high"
"#;

struct Case {
    server: &'static str,
    tool: &'static str,
    args: Value,
    annotations: ToolAnnotations,
}

fn case(server: &'static str, tool: &'static str, args: Value) -> Case {
    Case {
        server,
        tool,
        args,
        annotations: ToolAnnotations::default(),
    }
}

/// The mix: mostly reads and small writes, some shell and SQL, a few
/// dangerous calls.
fn mix() -> Vec<Case> {
    let read_only = ToolAnnotations {
        read_only_hint: Some(true),
        ..ToolAnnotations::default()
    };
    let mut cases = vec![
        case(
            "filesystem",
            "read_file",
            json!({"path": "/home/dev/project/src/main.rs"}),
        ),
        case(
            "filesystem",
            "list_directory",
            json!({"path": "/home/dev/project"}),
        ),
        case(
            "filesystem",
            "search_files",
            json!({"path": "/home/dev/project", "pattern": "*.rs"}),
        ),
        case(
            "filesystem",
            "write_file",
            json!({"path": "/home/dev/project/notes.md", "content": "x".repeat(2048)}),
        ),
        case(
            "filesystem",
            "edit_file",
            json!({"path": "/tmp/scratch/a.txt", "edits": [{"oldText": "a", "newText": "b"}]}),
        ),
        case(
            "github",
            "create_issue",
            json!({"owner": "o", "repo": "r", "title": "Bug", "body": "Steps..."}),
        ),
        case(
            "github",
            "get_pull_request",
            json!({"owner": "o", "repo": "r", "pull_number": 42}),
        ),
        case(
            "shell",
            "run_command",
            json!({"command": "ls -la && git status"}),
        ),
        case(
            "shell",
            "run_command",
            json!({"command": "cargo test --workspace 2>&1 | tail -n 50"}),
        ),
        case(
            "shell",
            "run_command",
            json!({"command": "sudo rm -rf /var/lib/app"}),
        ),
        case(
            "postgres",
            "query",
            json!({"sql": "SELECT id, name FROM users WHERE id = $1"}),
        ),
        case(
            "postgres",
            "query",
            json!({"sql": "UPDATE orders SET status = 'shipped' WHERE id = 7"}),
        ),
        case(
            "postgres-prod",
            "query",
            json!({"sql": "DELETE FROM sessions"}),
        ),
        case(
            "fetch",
            "fetch",
            json!({"url": "https://docs.example.com/page", "max_length": 5000}),
        ),
        case(
            "memory",
            "search_nodes",
            json!({"query": "project deadlines"}),
        ),
        case(
            "ci",
            "deploy_api",
            json!({"env": "staging", "version": "1.2.3"}),
        ),
    ];
    cases.push(Case {
        annotations: read_only,
        ..case("everything", "echo", json!({"message": "hello"}))
    });
    cases
}

fn evals_per_sec(policy: &Policy, calls: &[ToolCall<'_>], rounds: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..rounds {
        for call in calls {
            black_box(policy.evaluate(black_box(call)));
        }
    }
    (rounds * calls.len()) as f64 / start.elapsed().as_secs_f64()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    // The policy is a constant above: a mistake in it should stop the bench.
    let policy = Policy::from_toml(POLICY, "bench-policy.toml").expect("the bench policy loads");
    let cases = mix();
    let calls: Vec<ToolCall<'_>> = cases
        .iter()
        .map(|c| {
            ToolCall::new(c.tool, &c.args)
                .with_server(c.server)
                .with_annotations(c.annotations)
        })
        .collect();

    let (batches, rounds) = if full { (15, 20_000) } else { (1, 50) };
    // Warm up caches and the regex engines' lazy state.
    evals_per_sec(&policy, &calls, rounds / 10 + 1);
    let mut rates: Vec<f64> = (0..batches)
        .map(|_| evals_per_sec(&policy, &calls, rounds))
        .collect();
    let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let max = rates.iter().copied().fold(0.0, f64::max);
    let med = median(&mut rates);

    if full {
        println!("per call (median of 9 batches of 20000 evaluations):");
        for (case, call) in cases.iter().zip(&calls) {
            let mut one: Vec<f64> = (0..9)
                .map(|_| evals_per_sec(&policy, std::slice::from_ref(call), 20_000))
                .collect();
            let verdict = policy.evaluate(call);
            println!(
                "  {:>8.0} ns  {:<15} {:<17} -> {} {}",
                1e9 / median(&mut one),
                case.server,
                case.tool,
                verdict.risk,
                verdict.action.kind()
            );
        }
    }
    println!(
        "policy evaluate: {:.2} M evals/s median ({:.2}-{:.2} over {batches} batches of {} calls; \
         1 thread, {}-call mix, {} rules)",
        med / 1e6,
        min / 1e6,
        max / 1e6,
        rounds * calls.len(),
        calls.len(),
        policy.rule_count()
    );
}
