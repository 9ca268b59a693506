//! Held calls answered as MCP tasks (SEP-2663) for a client that declares
//! the tasks extension: the official rmcp client against `hitl-mcp`, the
//! npm "everything" server upstream, and a real approval service on
//! 127.0.0.1.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hitl_bot::Running;
use hitl_bot::api::auth::Tokens;
use hitl_bot::clock::Clock;
use hitl_bot::service::Settings;
use hitl_bot::store::sqlite::SqliteStore;
use hitl_wire::Status;
use hitl_wire::api::DecisionAction;
use rmcp::RoleClient;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CancelTaskParams, ClientCapabilities, ClientConfig,
    GetTaskParams, Implementation, TaskPayload, TaskStatus,
};
use rmcp::service::{RunningService, ServiceExt};
use rmcp::transport::TokioChildProcess;
use secrecy::SecretString;
use serde_json::json;

const TOKEN: &str = "tasks-test-token";

struct World {
    running: Running,
    client: RunningService<RoleClient, ClientConfig>,
    _dir: tempfile::TempDir,
}

#[allow(clippy::disallowed_methods)] // tests read where ./scripts/test put the npm peers
fn everything() -> PathBuf {
    let dir = std::env::var_os("HITL_NODE_MODULES")
        .expect("set HITL_NODE_MODULES to the npm MCP test peers (./scripts/test does this)");
    PathBuf::from(dir).join(".bin/mcp-server-everything")
}

async fn world() -> World {
    hitl_bot::install_tls_provider();
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("t.db")).unwrap();
    let running = Running::start(
        Arc::new(store),
        Settings::default(),
        Clock::System,
        Vec::new(),
    )
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

    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[[rule]]\nname = \"hold-echo\"\ntool = \"echo\"\nrisk = \"high\"\naction = \"require_approval\"\ntimeout_secs = 60\n",
    )
    .unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_hitl-mcp"));
    cmd.arg("serve")
        .arg("--config")
        .arg(&policy)
        .arg("--")
        .arg(everything());
    cmd.env("HITL_APPROVAL_URL", &url)
        .env("HITL_TOKEN", TOKEN)
        .env("RUST_LOG", "error");
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let config = ClientConfig::new(
        ClientCapabilities::builder().enable_tasks().build(),
        Implementation::new("tasks-test", "1"),
    );
    let client = config.serve(transport).await.unwrap();
    World {
        running,
        client,
        _dir: dir,
    }
}

async fn start_held_task(w: &World, message: &str) -> String {
    let args = json!({"message": message}).as_object().cloned().unwrap();
    let response = w
        .client
        .call_tool_once(CallToolRequestParams::new("echo").with_arguments(args))
        .await
        .unwrap();
    let CallToolResponse::Task(created) = response else {
        panic!("expected a task, got {response:?}");
    };
    assert_eq!(created.task.status, TaskStatus::Working);
    assert!(
        created.task.task_id.starts_with("hitl-"),
        "{:?}",
        created.task
    );
    assert!(
        created
            .task
            .status_message
            .as_deref()
            .unwrap_or("")
            .contains("waiting for approval of echo")
    );
    created.task.task_id
}

async fn wait_for(w: &World, task_id: &str, status: TaskStatus) -> TaskPayload {
    for _ in 0..200 {
        let got = w
            .client
            .get_task(GetTaskParams::new(task_id))
            .await
            .unwrap();
        if got.task.status() == status {
            return got.task.payload;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("task {task_id} never reached {status:?}");
}

async fn the_request(w: &World) -> String {
    let pending = w
        .running
        .service
        .list(Some(Status::Pending), 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    pending[0].request_id.clone()
}

#[tokio::test]
async fn a_held_call_becomes_a_task_that_completes_with_the_result_once_approved() {
    let w = world().await;
    let task = start_held_task(&w, "as a task").await;
    let id = the_request(&w).await;
    assert_eq!(task, format!("hitl-{id}"));
    let still = w.client.get_task(GetTaskParams::new(&task)).await.unwrap();
    assert_eq!(still.task.status(), TaskStatus::Working);
    w.running
        .service
        .decide(&id, DecisionAction::Approve, "alice", None)
        .await
        .unwrap();
    let TaskPayload::Completed { result } = wait_for(&w, &task, TaskStatus::Completed).await else {
        unreachable!()
    };
    assert_eq!(result["content"][0]["text"], "Echo: as a task");
    assert_ne!(result.get("isError"), Some(&json!(true)));
    let record = w.running.service.get(&id).await.unwrap();
    assert!(
        record.executed_at.is_some(),
        "the approval was claimed once"
    );
    w.running.stop().await;
}

#[tokio::test]
async fn a_rejected_task_completes_with_the_reason_and_nothing_runs() {
    let w = world().await;
    let task = start_held_task(&w, "never").await;
    let id = the_request(&w).await;
    w.running
        .service
        .decide(&id, DecisionAction::Reject, "bob", Some("not today".into()))
        .await
        .unwrap();
    let TaskPayload::Completed { result } = wait_for(&w, &task, TaskStatus::Completed).await else {
        unreachable!()
    };
    assert_eq!(result["isError"], json!(true));
    assert!(
        result["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("rejected by bob: not today")
    );
    assert!(
        w.running
            .service
            .get(&id)
            .await
            .unwrap()
            .executed_at
            .is_none()
    );
    w.running.stop().await;
}

#[tokio::test]
async fn cancelling_the_task_withdraws_the_request() {
    let w = world().await;
    let task = start_held_task(&w, "withdrawn").await;
    let id = the_request(&w).await;
    w.client
        .cancel_task(CancelTaskParams::new(&task))
        .await
        .unwrap();
    wait_for(&w, &task, TaskStatus::Cancelled).await;
    assert_eq!(
        w.running.service.get(&id).await.unwrap().status,
        Status::Cancelled
    );
    // A later click runs nothing.
    assert!(
        w.running
            .service
            .decide(&id, DecisionAction::Approve, "alice", None)
            .await
            .is_err()
    );
    let unknown = w.client.get_task(GetTaskParams::new("hitl-NOPE")).await;
    assert!(unknown.is_err());
    w.running.stop().await;
}
