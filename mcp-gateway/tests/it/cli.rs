//! The `hitl-mcp` binary: `evaluate`, `init-config`, `generate-config`,
//! `check-approval` (against a small fake approval service) and `serve`'s
//! options, as design section 4 gives them.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::mpsc;
use std::thread;

use serde_json::Value;

use crate::support::json;

/// Settings the binary reads from the environment; cleared so the tests
/// do not depend on the shell they run in.
const ENV: &[&str] = &[
    "HITL_APPROVAL_URL",
    "LAMBDA_FUNCTION_URL",
    "HITL_TOKEN",
    "HITL_CONFIG",
    "DEFAULT_APPROVER",
    "APPROVAL_TIMEOUT",
    "HITL_DATA_DIR",
];

fn hitl() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hitl-mcp"));
    for var in ENV {
        cmd.env_remove(var);
    }
    cmd
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run hitl-mcp");
    (
        status.code().unwrap_or(-1),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

fn evaluate(args: &[&str]) -> (i32, String, String) {
    run(hitl().arg("evaluate").args(args))
}

#[test]
fn evaluate_prints_one_json_object() {
    let (code, out, err) = evaluate(&["--tool", "read_file", "--args", r#"{"path": "/tmp/x"}"#]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "{\"risk\":\"low\",\"action\":\"allow\",\"reasons\":[\"read-only operation\"]}\n"
    );

    let cases = [
        (
            "run_command",
            r#"{"command": "sudo rm -rf /"}"#,
            "critical",
            "require_approval",
        ),
        (
            "run_command",
            r#"{"command": "bash -c \"rm -rf ~\""}"#,
            "critical",
            "require_approval",
        ),
        (
            "execute_sql",
            r#"{"sql": "SELECT 1; DROP TABLE x"}"#,
            "critical",
            "require_approval",
        ),
        (
            "execute_sql",
            r#"{"sql": "delete from t where id=1"}"#,
            "medium",
            "allow",
        ),
        (
            "write_file",
            r#"{"path": "/tmp/x"}"#,
            "high",
            "require_approval",
        ),
    ];
    for (tool, args, risk, action) in cases {
        let (code, out, err) = evaluate(&["--tool", tool, "--args", args]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.lines().count(), 1);
        let v = json(&out);
        assert_eq!(
            (v["risk"].as_str(), v["action"].as_str()),
            (Some(risk), Some(action)),
            "{tool} {args}: {out}"
        );
        assert!(v["reasons"].as_array().is_some_and(|r| !r.is_empty()));
    }
}

#[test]
fn evaluate_takes_server_annotations_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("policy.toml");
    std::fs::write(
        &config,
        "shadow = true\n\n[[rule]]\nname = \"prod\"\nserver = \"prod\"\naction = \"deny\"\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let (code, out, err) = evaluate(&[
        "--tool", "list_x", "--args", "{}", "--server", "prod", "--config", config,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        json(&out),
        json(
            r#"{"risk": "low", "action": "deny", "reasons": ["read-only operation", "policy rule \"prod\""], "rule": "prod", "shadow": true}"#
        )
    );
    // HITL_CONFIG is the fallback for --config.
    let (code, out, _) = run(hitl().env("HITL_CONFIG", config).args([
        "evaluate", "--tool", "x", "--args", "{}", "--server", "prod",
    ]));
    assert_eq!(code, 0);
    assert_eq!(json(&out)["action"], "deny");
    let (code, out, _) = evaluate(&[
        "--tool",
        "do_it",
        "--args",
        "{}",
        "--annotations",
        r#"{"destructiveHint": true}"#,
    ]);
    assert_eq!(code, 0);
    assert_eq!(json(&out)["risk"], "high");
}

#[test]
fn evaluate_takes_the_description_and_the_data_dir() {
    // The upstream's description can raise an unknown tool's risk.
    let (code, out, err) = evaluate(&[
        "--tool",
        "frobnicate",
        "--args",
        "{}",
        "--description",
        "Permanently deletes the workspace and everything in it.",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["risk"], "high", "{out}");
    // HITL_DATA_DIR makes that folder secret.
    let (code, out, err) = run(hitl()
        .env("HITL_DATA_DIR", "/srv/hitl-state")
        .args(["evaluate", "--tool", "read_file", "--args"])
        .arg(r#"{"path": "/srv/hitl-state/token"}"#));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["risk"], "critical", "{out}");
    let (_, out, _) = evaluate(&[
        "--tool",
        "read_file",
        "--args",
        r#"{"path": "/srv/hitl-state/token"}"#,
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["risk"], "low", "{out}");
}

#[test]
fn evaluate_reports_a_bad_config_file_with_its_line_and_rule() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "[[rule]]\nname = \"ok\"\nrisk = \"low\"\n\n[[rule]]\nname = \"block-prod-db\"\nrisk = \"severe\"\n",
    )
    .unwrap();
    let (code, out, err) = evaluate(&[
        "--tool",
        "x",
        "--args",
        "{}",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert_eq!(out, "");
    assert_eq!(
        err.trim_end(),
        format!(
            "hitl-mcp evaluate: {}:7: rule 2 (\"block-prod-db\"): unknown risk \"severe\"; expected low, medium, high, critical",
            config.display()
        )
    );
    let (code, _, err) = evaluate(&[
        "--tool",
        "x",
        "--args",
        "{}",
        "--config",
        "/nonexistent/p.toml",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("/nonexistent/p.toml: cannot read the policy file: "),
        "{err}"
    );
}

#[test]
fn evaluate_rejects_bad_arguments() {
    let (code, _, err) = evaluate(&["--tool", "x", "--args", "{not json"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("hitl-mcp evaluate: --args is not valid JSON: "),
        "{err}"
    );
    let (code, _, err) = evaluate(&["--tool", "x", "--args", "[1]"]);
    assert_eq!(code, 2);
    assert!(err.contains("--args must be a JSON object"), "{err}");
    let (code, _, err) = evaluate(&[
        "--tool",
        "x",
        "--args",
        "{}",
        "--annotations",
        r#"{"readOnlyHint": "yes"}"#,
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("readOnlyHint"), "{err}");
    let (code, _, _) = evaluate(&["--args", "{}"]);
    assert_eq!(code, 2);
}

#[test]
fn init_config_writes_a_policy_that_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conf/policy.toml");
    let (code, _, err) = run(hitl().args(["init-config", "--output"]).arg(&path));
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("# hitl-mcp policy"));
    let (code, out, err) = evaluate(&[
        "--tool",
        "write_file",
        "--args",
        r#"{"path": "/tmp/x"}"#,
        "--config",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)["timeout_secs"], 300);
    // It does not replace a file unless asked to.
    let (code, _, err) = run(hitl().args(["init-config", "--output"]).arg(&path));
    assert_eq!(code, 2);
    assert!(err.contains("already exists; pass --force"), "{err}");
    let (code, _, _) = run(hitl()
        .args(["init-config", "--force", "--output"])
        .arg(&path));
    assert_eq!(code, 0);
}

fn generate(args: &[&str]) -> Value {
    let (code, out, err) = run(hitl().arg("generate-config").args(args));
    assert_eq!(code, 0, "{err}");
    json(&out)
}

#[test]
fn generate_config_writes_each_clients_shape() {
    let upstream = [
        "--",
        "npx",
        "-y",
        "@modelcontextprotocol/server-filesystem",
        "/tmp",
    ];
    // A service on another machine: the token has to come from somewhere.
    let with = |client: &str| {
        let mut args = vec![
            "--approval-url",
            "https://hitl.example.com",
            "--client",
            client,
        ];
        args.extend(upstream);
        generate(&args)
    };
    // Desktop clients do not search the shell's PATH: the full path of this
    // hitl-mcp is written.
    let this = std::fs::canonicalize(env!("CARGO_BIN_EXE_hitl-mcp")).unwrap();
    let this = this.to_str().unwrap();
    let expected_args =
        json(r#"["serve", "--", "npx", "-y", "@modelcontextprotocol/server-filesystem", "/tmp"]"#);

    let desktop = with("claude-desktop");
    assert_eq!(
        desktop,
        serde_json::json!({ "mcpServers": { "hitl": {
            "command": this,
            "args": expected_args,
            "env": { "HITL_APPROVAL_URL": "https://hitl.example.com", "HITL_TOKEN": "REPLACE_WITH_HITL_TOKEN" }
        }}})
    );
    let cursor = with("cursor");
    assert_eq!(
        cursor["mcpServers"]["hitl"]["env"]["HITL_TOKEN"],
        "${env:HITL_TOKEN}"
    );
    assert_eq!(cursor["mcpServers"]["hitl"]["args"], expected_args);
    let code = with("claude-code");
    assert_eq!(code["mcpServers"]["hitl"]["type"], "stdio");
    assert_eq!(
        code["mcpServers"]["hitl"]["env"]["HITL_TOKEN"],
        "${HITL_TOKEN}"
    );
    let vscode = with("vscode");
    assert_eq!(vscode["servers"]["hitl"]["type"], "stdio");
    assert_eq!(vscode["servers"]["hitl"]["command"], this);
    assert_eq!(vscode["servers"]["hitl"]["args"], expected_args);
    assert_eq!(
        vscode["servers"]["hitl"]["env"]["HITL_TOKEN"],
        "${input:hitl-token}"
    );
    assert_eq!(vscode["inputs"][0]["id"], "hitl-token");
    assert_eq!(vscode["inputs"][0]["password"], true);
    assert!(vscode.get("mcpServers").is_none());
}

#[test]
fn generate_config_for_a_service_on_this_machine_needs_no_token() {
    for url in [
        "http://127.0.0.1:8787",
        "http://localhost:8787",
        "http://[::1]:8787",
    ] {
        for client in ["claude-desktop", "claude-code", "cursor", "vscode"] {
            let v = generate(&[
                "--approval-url",
                url,
                "--client",
                client,
                "--",
                "mcp-server-git",
            ]);
            let server = v.get("mcpServers").unwrap_or(&v["servers"])["hitl"].clone();
            assert_eq!(
                server["env"],
                serde_json::json!({ "HITL_APPROVAL_URL": url }),
                "{client} {url}"
            );
            assert!(v.get("inputs").is_none(), "{client}: nothing to prompt for");
        }
    }
}

#[test]
fn generate_config_options() {
    let v = generate(&[
        "--lambda-url",
        "https://abc.lambda-url.us-east-1.on.aws/",
        "--name",
        "files",
        "--token",
        "s3cret",
        "--config",
        "/etc/hitl/policy.toml",
        "--gateway-command",
        "/usr/local/bin/hitl-mcp",
    ]);
    let server = &v["mcpServers"]["files"];
    assert_eq!(server["command"], "/usr/local/bin/hitl-mcp");
    assert_eq!(
        server["args"],
        json(r#"["serve", "--config", "/etc/hitl/policy.toml"]"#)
    );
    assert_eq!(
        server["env"]["HITL_APPROVAL_URL"],
        "https://abc.lambda-url.us-east-1.on.aws/"
    );
    assert_eq!(server["env"]["HITL_TOKEN"], "s3cret");

    // The URL from either environment name, HITL_APPROVAL_URL first.
    let (code, out, _) = run(hitl()
        .env("LAMBDA_FUNCTION_URL", "http://lambda")
        .arg("generate-config"));
    assert_eq!(code, 0);
    assert_eq!(
        json(&out)["mcpServers"]["hitl"]["env"]["HITL_APPROVAL_URL"],
        "http://lambda"
    );
    let (_, out, _) = run(hitl()
        .env("LAMBDA_FUNCTION_URL", "http://lambda")
        .env("HITL_APPROVAL_URL", "http://hitl")
        .arg("generate-config"));
    assert_eq!(
        json(&out)["mcpServers"]["hitl"]["env"]["HITL_APPROVAL_URL"],
        "http://hitl"
    );
    // The token is never copied from the environment.
    let (_, out, _) = run(hitl().env("HITL_TOKEN", "from-env").args([
        "generate-config",
        "--approval-url",
        "http://x",
    ]));
    assert!(!out.contains("from-env"));

    let (code, _, err) = run(hitl().arg("generate-config"));
    assert_eq!(code, 2);
    assert!(err.contains("approval service URL is missing"), "{err}");
}

#[test]
fn generate_config_adds_to_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".vscode/mcp.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        r#"{"servers": {"other": {"type": "stdio", "command": "x"}}, "inputs": []}"#,
    )
    .unwrap();
    let (code, out, err) = run(hitl()
        .args([
            "generate-config",
            "--approval-url",
            "http://x",
            "--client",
            "vscode",
            "--output",
        ])
        .arg(&path)
        .args(["--", "uvx", "mcp-server-git"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "");
    let merged = json(&std::fs::read_to_string(&path).unwrap());
    assert_eq!(merged["servers"]["other"]["command"], "x");
    assert_eq!(
        merged["servers"]["hitl"]["args"],
        json(r#"["serve", "--", "uvx", "mcp-server-git"]"#)
    );
    assert_eq!(merged["inputs"].as_array().unwrap().len(), 1);
    // Again: the entry is replaced, the input not duplicated.
    let (code, _, _) = run(hitl()
        .args([
            "generate-config",
            "--approval-url",
            "http://x",
            "--client",
            "vscode",
            "--output",
        ])
        .arg(&path));
    assert_eq!(code, 0);
    let merged = json(&std::fs::read_to_string(&path).unwrap());
    assert_eq!(merged["servers"]["hitl"]["args"], json(r#"["serve"]"#));
    assert_eq!(merged["inputs"].as_array().unwrap().len(), 1);
    // A file that is not JSON is left alone.
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{oops").unwrap();
    let (code, _, err) = run(hitl()
        .args(["generate-config", "--approval-url", "http://x", "--output"])
        .arg(&broken));
    assert_eq!(code, 2);
    assert!(err.contains("not valid JSON; not changing it"), "{err}");
    assert_eq!(std::fs::read_to_string(&broken).unwrap(), "{oops");
}

/// A one-shot HTTP server: answers each of `answers` in turn and sends
/// back each request's head (request line and headers).
fn fake_service(answers: Vec<(u16, String)>) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for (status, body) in answers {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if stream.read(&mut byte).unwrap_or(0) == 0 {
                    break;
                }
                head.push(byte[0]);
            }
            let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
            let reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    (url, rx)
}

/// A record as `hitl-bot` serves it (GET /v1/approvals/{id}).
fn record(status: &str) -> String {
    format!(
        r#"{{"request_id": "req-1", "status": "{status}", "requester": "mcp-agent", "tool": "write_file",
            "arguments": {{"path": "/tmp/x"}}, "arguments_hash": "sha256:00", "risk": "high", "reasons": [],
            "approvers": [], "quorum": 1, "approvals": [], "timestamp": "2026-11-25T10:00:00Z",
            "expires_at": "2026-11-25T10:05:00Z", "notification_sent": true}}"#
    )
}

#[test]
fn check_approval_exit_codes_follow_the_status() {
    let (url, requests) = fake_service(vec![
        (200, record("approved")),
        (200, record("pending")),
        (200, record("rejected")),
    ]);
    let check = || {
        run(hitl().env("HITL_TOKEN", "tok-123").args([
            "check-approval",
            "--request-id",
            "req-1",
            "--approval-url",
            &url,
        ]))
    };
    let (code, out, err) = check();
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)["status"], "approved");
    let head = requests.recv().unwrap();
    assert!(
        head.starts_with("GET /v1/approvals/req-1 HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("authorization: bearer tok-123\r\n"),
        "{head}"
    );
    let (code, out, _) = check();
    assert_eq!((code, json(&out)["status"].as_str()), (1, Some("pending")));
    let (code, _, _) = check();
    assert_eq!(code, 1);
}

#[test]
fn check_approval_keeps_the_base_path_and_waits() {
    let (url, requests) = fake_service(vec![(200, record("approved"))]);
    let base = format!("{url}/stage/");
    let (code, _, err) = run(hitl().env("LAMBDA_FUNCTION_URL", &base).args([
        "check-approval",
        "--request-id",
        "a b/c",
        "--wait",
        "5",
    ]));
    assert_eq!(code, 0, "{err}");
    let head = requests.recv().unwrap();
    assert!(
        head.starts_with("GET /stage/v1/approvals/a%20b%2Fc?wait=5 HTTP/1.1\r\n"),
        "{head}"
    );
}

#[test]
fn check_approval_errors_exit_2() {
    let (url, _requests) = fake_service(vec![
        (
            404,
            r#"{"code": "not_found", "message": "no such request"}"#.into(),
        ),
        (
            401,
            r#"{"code": "unauthorized", "message": "bad token"}"#.into(),
        ),
        (500, "oops".into()),
        (200, "not json".into()),
    ]);
    let check = || {
        run(hitl().args([
            "check-approval",
            "--request-id",
            "nope",
            "--approval-url",
            &url,
        ]))
    };
    let (code, _, err) = check();
    assert_eq!(code, 2);
    assert!(
        err.contains("no approval request \"nope\": no such request"),
        "{err}"
    );
    let (code, _, err) = check();
    assert_eq!(code, 2);
    assert!(err.contains("refused the token"), "{err}");
    let (code, _, err) = check();
    assert_eq!(code, 2);
    assert!(err.contains("answered 500"), "{err}");
    let (code, _, err) = check();
    assert_eq!(code, 2);
    assert!(err.contains("not JSON"), "{err}");

    // Nothing listening.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, _, err) = run(hitl().args([
        "check-approval",
        "--request-id",
        "x",
        "--approval-url",
        &format!("http://127.0.0.1:{port}"),
    ]));
    assert_eq!(code, 2);
    assert!(err.contains("cannot reach the approval service"), "{err}");
    let (code, _, err) = run(hitl().args(["check-approval", "--request-id", "x"]));
    assert_eq!(code, 2);
    assert!(err.contains("approval service URL is missing"), "{err}");
}

#[test]
fn serve_accepts_every_documented_option_and_checks_them_before_starting() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("policy.toml");
    std::fs::write(&config, hitl_mcp::policy::DEFAULT_POLICY_TOML).unwrap();
    let (code, out, err) = run(hitl().args(["serve", "--config"]).arg(&config).args([
        "--approval-url",
        "http://127.0.0.1:8787",
        "--token",
        "t",
        "--listen",
        "127.0.0.1:0",
        "--upstream-url",
        "http://127.0.0.1:9000/mcp",
        "--approver",
        "alice",
        "--timeout",
        "120",
        "--auto-approve-low-risk",
        "--debug",
        "--",
        "npx",
        "-y",
        "@modelcontextprotocol/server-everything",
    ]));
    assert_ne!(code, 0);
    assert_eq!(out, "");
    assert_eq!(
        err.trim_end(),
        "hitl-mcp serve: give the upstream either as --upstream-url or as a command after --, not both"
    );

    // The seed's names, and every environment fallback.
    let (code, _, err) = run(hitl()
        .env("HITL_CONFIG", &config)
        .env("LAMBDA_FUNCTION_URL", "http://lambda")
        .env("HITL_TOKEN", "t")
        .env("DEFAULT_APPROVER", "bob")
        .env("APPROVAL_TIMEOUT", "60")
        .args(["serve", "--lambda-url", "https://x.example", "--", "cat"]));
    // Everything parsed and resolved: it got as far as waiting for an MCP
    // client on stdin, which is closed here.
    assert_ne!(code, 0);
    assert!(
        err.contains("hitl-mcp serve: MCP handshake with the client on stdio failed"),
        "{err}"
    );
    // Without an upstream there is nothing to proxy.
    let (code, _, err) = run(hitl().args(["serve"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("no upstream MCP server: put its command after --"),
        "{err}"
    );

    // Bad values are refused by the parser, before anything else.
    let (code, _, err) = run(hitl().env("APPROVAL_TIMEOUT", "soon").arg("serve"));
    assert_eq!(code, 2);
    assert!(err.contains("--timeout"), "{err}");
    let (code, _, err) = run(hitl().args(["serve", "--listen", "not-an-address"]));
    assert_eq!(code, 2);
    assert!(err.contains("--listen"), "{err}");
    // A bad policy file is reported as such.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "shadow = 1\n").unwrap();
    let (code, _, err) = run(hitl().args(["serve", "--config"]).arg(&bad));
    assert_eq!(code, 2);
    assert!(
        err.ends_with("bad.toml:1: shadow must be true or false, not an integer\n"),
        "{err}"
    );
}

#[test]
fn help_hides_secret_environment_values() {
    let (code, out, _) = run(hitl()
        .env("HITL_TOKEN", "very-secret")
        .args(["serve", "--help"]));
    assert_eq!(code, 0);
    assert!(out.contains("HITL_TOKEN"));
    assert!(!out.contains("very-secret"));
    assert!(out.contains("--lambda-url"));
}

#[test]
fn paths_in_output_are_unchanged() {
    assert!(Path::new(env!("CARGO_BIN_EXE_hitl-mcp")).exists());
}

#[test]
fn serve_refuses_bad_server_lists_before_starting_anything() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[[servers]]\nname = \"a\"\ncommand = [\"x\"]\n[[servers]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/mcp\"\n",
            "two upstreams are named \"a\"",
        ),
        (
            "[[servers]]\nname = \"a\"\ncommand = [\"x\"]\nurl = \"http://127.0.0.1:1/mcp\"\n",
            "[[servers]] entry 1 (\"a\"): give exactly one of",
        ),
        (
            "[[servers]]\nname = \"a__b\"\ncommand = [\"x\"]\n",
            "must not contain \"__\"",
        ),
        (
            "[[servers]]\nname = \"a\"\ncmd = [\"x\"]\n",
            "unknown field `cmd`",
        ),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("c{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let (code, _, err) = run(hitl().args(["serve", "--config"]).arg(&path));
        assert_eq!(code, 2, "{text}");
        assert!(err.contains(needle), "{text}: {err}");
    }
}

#[test]
fn plain_http_to_another_machine_is_refused_as_the_approval_url() {
    let (code, _, err) = run(hitl()
        .env(
            "HITL_APPROVAL_URL",
            "http://bob:pw-secret@approvals.example:8080/?k=1",
        )
        .env("HITL_TOKEN", "t")
        .args(["serve", "--", "true"])
        .stdin(std::process::Stdio::null()));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("plain http:// to another machine"), "{err}");
    assert!(!err.contains("pw-secret"), "{err}");
}

fn generate_http(data_dir: &Path, args: &[&str]) -> (i32, String, String) {
    run(hitl()
        .env("HITL_DATA_DIR", data_dir)
        .args(["generate-config", "--gateway-url"])
        .args(args))
}

#[test]
fn generate_config_for_a_running_http_gateway_writes_each_clients_shape() {
    let dir = tempfile::tempdir().unwrap();
    let url = "https://gw.example.com/mcp";
    let shape = |client: &str, token: Option<&str>| {
        let mut args = vec![url, "--client", client];
        if let Some(t) = token {
            args.extend(["--listen-token", t]);
        }
        let (code, out, err) = generate_http(dir.path(), &args);
        assert_eq!(code, 0, "{client}: {err}");
        json(&out)
    };
    let code = shape("claude-code", Some("s3cret"));
    assert_eq!(
        code,
        serde_json::json!({ "mcpServers": { "hitl": {
            "type": "http",
            "url": url,
            "headers": { "Authorization": "Bearer s3cret" }
        }}})
    );
    let cursor = shape("cursor", None);
    assert_eq!(
        cursor,
        serde_json::json!({ "mcpServers": { "hitl": {
            "url": url,
            "headers": { "Authorization": "Bearer ${env:HITL_LISTEN_TOKEN}" }
        }}})
    );
    assert_eq!(
        shape("claude-code", None)["mcpServers"]["hitl"]["headers"]["Authorization"],
        "Bearer ${HITL_LISTEN_TOKEN}"
    );
    let vscode = shape("vscode", None);
    assert_eq!(vscode["servers"]["hitl"]["type"], "http");
    assert_eq!(
        vscode["servers"]["hitl"]["headers"]["Authorization"],
        "Bearer ${input:hitl-listen-token}"
    );
    assert_eq!(vscode["inputs"][0]["id"], "hitl-listen-token");
    assert_eq!(vscode["inputs"][0]["password"], true);
    assert!(shape("vscode", Some("s3cret")).get("inputs").is_none());
    // A gateway elsewhere never makes a token here.
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

#[test]
fn generate_config_for_a_gateway_on_this_machine_saves_its_listen_token() {
    let dir = tempfile::tempdir().unwrap();
    let url = "http://127.0.0.1:8931/mcp";
    let (code, out, err) = generate_http(dir.path(), &[url, "--client", "claude-code"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("made a listen token"), "{err}");
    let path = dir.path().join("gateway-listen-token");
    let saved = std::fs::read_to_string(&path).unwrap();
    assert_eq!(saved.len(), 64, "256 random bits, hex");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let header = json(&out)["mcpServers"]["hitl"]["headers"]["Authorization"].clone();
    assert_eq!(header, format!("Bearer {saved}"));
    // The next client config gets the same token; nothing is made again.
    let (code, out, err) = generate_http(dir.path(), &[url, "--client", "cursor"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("made a listen token"), "{err}");
    assert_eq!(
        json(&out)["mcpServers"]["hitl"]["headers"]["Authorization"],
        header
    );
    // An explicit token wins and is not saved.
    let (_, out, _) = generate_http(dir.path(), &[url, "--listen-token", "mine"]);
    assert_eq!(
        json(&out)["mcpServers"]["hitl"]["headers"]["Authorization"],
        "Bearer mine"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), saved);
}

#[test]
fn generate_config_for_an_http_gateway_refuses_what_cannot_work() {
    let dir = tempfile::tempdir().unwrap();
    let refused = |args: &[&str], why: &str| {
        let (code, out, err) = generate_http(dir.path(), args);
        assert_ne!(code, 0, "{args:?} was accepted: {out}");
        assert!(err.contains(why), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?} printed a config: {out}");
    };
    refused(
        &["https://gw.example.com/mcp", "--client", "claude-desktop"],
        "Claude Desktop",
    );
    refused(
        &["http://gw.example.com/mcp", "--listen-token", "t"],
        "in the clear",
    );
    refused(&["https://u:p@gw.example.com/mcp"], "user name or password");
    refused(&["not a url"], "is not a URL");
    refused(&["ftp://gw.example.com/mcp"], "http:// or https://");
    refused(
        &["http://127.0.0.1:8931/mcp", "--", "mcp-server-git"],
        "already running",
    );
    refused(
        &["https://gw.example.com/mcp", "--listen-token", " "],
        "empty or blank",
    );
    // Nothing was saved by any refusal.
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
    // --listen-token only makes sense with --gateway-url.
    let (code, _, err) = run(hitl().args([
        "generate-config",
        "--approval-url",
        "http://127.0.0.1:8787",
        "--listen-token",
        "t",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--gateway-url"), "{err}");
}
