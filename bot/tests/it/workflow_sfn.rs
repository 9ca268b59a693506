//! The Step Functions workflow: the state machine of
//! terraform/state-machine.asl.json run by moto's interpreter, with the
//! service on SQLite and on DynamoDB alike. moto does not run the Lambda
//! tasks (no Docker), so each test plays the function: it reads the payload
//! the execution scheduled from the execution history and hands it to the
//! bot's task entry point, as Lambda would.
//!
//! moto cannot stop an execution during a callback wait, so the cancel case
//! runs against a recorded-request fake on 127.0.0.1 that speaks the Step
//! Functions JSON protocol (`x-amz-target: AWSStepFunctions.*`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use axum::http::HeaderMap;
use hitl_bot::Running;
use hitl_bot::clock::Clock;
use hitl_bot::service::{ApprovalService, Settings};
use hitl_bot::store::Store;
use hitl_bot::workflow::Workflow;
use hitl_bot::workflow::step_functions::{StepFunctionsWorkflow, execution_name};
use hitl_bot::workflow::tasks::{Task, Tasks};
use hitl_wire::Status;
use hitl_wire::api::DecisionAction;
use serde_json::{Value, json};

use crate::store_contract::{Backend, Moto};

const TASKS_FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:hitl-tasks";

async fn sfn_client(url: &str) -> aws_sdk_sfn::Client {
    aws_sdk_sfn::Client::new(&crate::aws_emulator::sdk_config(url).await)
}

/// The committed ASL with its placeholders filled, as terraform fills them.
fn definition() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../terraform/state-machine.asl.json");
    let asl = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str::<Value>(&asl).expect("the committed ASL is valid JSON");
    asl.replace("${tasks_function_arn}", TASKS_FUNCTION)
}

/// A service whose workflow is a state machine on moto.
struct Rig {
    running: Option<Running>,
    service: Arc<ApprovalService>,
    store: Arc<dyn Store>,
    sfn: aws_sdk_sfn::Client,
    workflow: StepFunctionsWorkflow,
    tasks: Tasks,
    _backend: Backend,
    _moto: Option<Moto>,
}

impl Rig {
    async fn start(backend: Backend) -> Self {
        // The DynamoDB back end brings its moto; SQLite borrows one for SFN.
        let (moto, own) = match &backend.moto {
            Some(m) => (m.url.clone(), None),
            None => {
                let m = Moto::start().await;
                (m.url.clone(), Some(m))
            }
        };
        let sfn = sfn_client(&moto).await;
        let machine = sfn
            .create_state_machine()
            .name(format!("hitl-{}", std::process::id()))
            .definition(definition())
            .role_arn("arn:aws:iam::123456789012:role/hitl-states")
            .send()
            .await
            .unwrap()
            .state_machine_arn;
        Self::on(backend, sfn, machine, own, Settings::default()).await
    }

    async fn on(
        backend: Backend,
        sfn: aws_sdk_sfn::Client,
        machine: String,
        moto: Option<Moto>,
        settings: Settings,
    ) -> Self {
        let store = backend.store.clone();
        let workflow =
            StepFunctionsWorkflow::new(sfn.clone(), machine, store.clone(), Clock::System);
        let running = Running::start_on(
            store.clone(),
            settings,
            Clock::System,
            vec![],
            Some(Arc::new(workflow.clone()) as Arc<dyn Workflow>),
        )
        .await
        .unwrap();
        let service = running.service.clone();
        Self {
            tasks: Tasks::new(service.clone(), workflow.clone()),
            running: Some(running),
            service,
            store,
            sfn,
            workflow,
            _backend: backend,
            _moto: moto,
        }
    }

    async fn create(&self, id: &str) {
        self.create_with(id, json!({})).await
    }

    async fn create_with(&self, id: &str, extra: Value) {
        let mut body = json!({
            "request_id": id,
            "tool": "write_file",
            "server": "filesystem",
            "arguments": {"path": "/etc/motd"},
            "risk": "high",
            "requester": "agent",
            "approvers": ["alice"],
            "timeout_secs": 600,
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        self.service
            .create(serde_json::from_value(body).unwrap())
            .await
            .unwrap();
    }

    /// The payload of the execution's latest scheduled task, once there is
    /// one newer than `seen` tasks.
    async fn scheduled_task(&self, id: &str, seen: usize) -> Value {
        let arn = self.workflow.execution_arn(id).unwrap();
        for _ in 0..100 {
            let history = self
                .sfn
                .get_execution_history()
                .execution_arn(&arn)
                .send()
                .await
                .unwrap();
            let payloads: Vec<Value> = history
                .events()
                .iter()
                .filter_map(|e| e.task_scheduled_event_details())
                .map(|d| serde_json::from_str::<Value>(d.parameters()).unwrap()["Payload"].clone())
                .collect();
            if payloads.len() > seen {
                return payloads.last().unwrap().clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the execution of {id} scheduled no task");
    }

    async fn execution(
        &self,
        id: &str,
        want: ExecutionStatus,
    ) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
        let arn = self.workflow.execution_arn(id).unwrap();
        let mut last = None;
        for _ in 0..100 {
            let d = self
                .sfn
                .describe_execution()
                .execution_arn(&arn)
                .send()
                .await
                .unwrap();
            if d.status() == &want {
                return d;
            }
            last = Some(d.status().clone());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the execution of {id} is {last:?}, not {want:?}");
    }

    async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }
}

/// Runs a case against the service on SQLite and on DynamoDB.
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite_store {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::sqlite()).await })*
        }
        mod dynamo_store {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::dynamo().await).await })*
        }
    };
}

both_stores!(
    approval_resumes_the_execution_with_the_stored_token,
    rejection_fails_the_wait_with_hitl_rejected,
    a_decision_before_the_token_arrives_is_answered_by_the_task,
    wake_reminds_escalates_and_expires,
);

async fn approval_resumes_the_execution_with_the_stored_token(b: Backend) {
    let rig = Rig::start(b).await;
    rig.create("apr_sfn_ok").await;
    let payload = rig.scheduled_task("apr_sfn_ok", 0).await;
    assert_eq!(payload["task"], "await_decision");
    assert_eq!(payload["request_id"], "apr_sfn_ok");
    let token = payload["task_token"].as_str().unwrap().to_owned();
    let answer = rig.tasks.run(Task::parse(&payload).unwrap()).await.unwrap();
    assert_eq!(answer["stored"], true);
    assert_eq!(
        rig.store.task_token("apr_sfn_ok").await.unwrap().as_deref(),
        Some(token.as_str())
    );

    rig.service
        .decide(
            "apr_sfn_ok",
            DecisionAction::Approve,
            "alice",
            Some("fine".into()),
        )
        .await
        .unwrap();
    let done = rig
        .execution("apr_sfn_ok", ExecutionStatus::Succeeded)
        .await;
    let output: Value = serde_json::from_str(done.output().unwrap()).unwrap();
    assert_eq!(output["decision"]["status"], "approved");
    assert_eq!(output["decision"]["approver"], "alice");
    assert_eq!(output["decision"]["reason"], "fine");
    // The token was spent: moto refuses it now, so the one sent was the
    // execution's own.
    let again = rig
        .sfn
        .send_task_success()
        .task_token(&token)
        .output("{}")
        .send()
        .await;
    assert!(again.is_err(), "the token should have been used");
    rig.stop().await;
}

async fn rejection_fails_the_wait_with_hitl_rejected(b: Backend) {
    let rig = Rig::start(b).await;
    rig.create("apr_sfn_no").await;
    let payload = rig.scheduled_task("apr_sfn_no", 0).await;
    rig.tasks.run(Task::parse(&payload).unwrap()).await.unwrap();
    rig.service
        .decide(
            "apr_sfn_no",
            DecisionAction::Reject,
            "alice",
            Some("no".into()),
        )
        .await
        .unwrap();
    // The Catch on hitl.Rejected ends it in the Rejected state.
    let done = rig
        .execution("apr_sfn_no", ExecutionStatus::Succeeded)
        .await;
    let output: Value = serde_json::from_str(done.output().unwrap()).unwrap();
    assert_eq!(output["decision"]["Error"], "hitl.Rejected", "{output}");
    let cause: Value = serde_json::from_str(output["decision"]["Cause"].as_str().unwrap()).unwrap();
    assert_eq!(cause["status"], "rejected");
    rig.stop().await;
}

async fn a_decision_before_the_token_arrives_is_answered_by_the_task(b: Backend) {
    let rig = Rig::start(b).await;
    rig.create("apr_sfn_early").await;
    let payload = rig.scheduled_task("apr_sfn_early", 0).await;
    // Decided while the task is on its way: nothing to resume yet.
    rig.service
        .decide("apr_sfn_early", DecisionAction::Approve, "alice", None)
        .await
        .unwrap();
    let answer = rig.tasks.run(Task::parse(&payload).unwrap()).await.unwrap();
    assert_eq!(answer["stored"], false);
    assert_eq!(rig.store.task_token("apr_sfn_early").await.unwrap(), None);
    let done = rig
        .execution("apr_sfn_early", ExecutionStatus::Succeeded)
        .await;
    let output: Value = serde_json::from_str(done.output().unwrap()).unwrap();
    assert_eq!(output["decision"]["status"], "approved");
    rig.stop().await;
}

#[test]
fn task_payloads_with_mistakes_are_refused() {
    for bad in [
        json!({"task": "await_decision", "request_id": "x"}),
        json!({"task": "launch", "request_id": "x"}),
        json!({"task": "wake", "request_id": "x", "extra": 1}),
        json!("wake"),
    ] {
        let err = Task::parse(&bad).unwrap_err().to_string();
        assert!(err.contains("not a hitl workflow task"), "{bad}: {err}");
    }
}

/// A Step Functions endpoint that records every call and answers it.
#[derive(Clone, Default)]
struct Recorder {
    calls: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Recorder {
    async fn start(self) -> String {
        let me = self.clone();
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let me = me.clone();
                async move {
                    let target = headers
                        .get("x-amz-target")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    let answer = match target.as_str() {
                        "AWSStepFunctions.StartExecution" => json!({
                            "executionArn": format!(
                                "arn:aws:states:us-east-1:123456789012:execution:hitl:{}",
                                body["name"].as_str().unwrap_or("")
                            ),
                            "startDate": 1.7e9,
                        }),
                        "AWSStepFunctions.StopExecution" => json!({"stopDate": 1.7e9}),
                        _ => json!({}),
                    };
                    me.calls.lock().unwrap().push((target, body));
                    (
                        [("content-type", "application/x-amz-json-1.0")],
                        answer.to_string(),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    fn calls(&self) -> Vec<(String, Value)> {
        self.calls.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_the_execution() {
    let recorder = Recorder::default();
    let url = recorder.clone().start().await;
    let machine = "arn:aws:states:us-east-1:123456789012:stateMachine:hitl";
    let rig = Rig::on(
        Backend::sqlite(),
        sfn_client(&url).await,
        machine.into(),
        None,
        Settings::default(),
    )
    .await;
    rig.create("apr.odd:id").await;
    rig.service
        .cancel(
            "apr.odd:id",
            Some("agent".into()),
            Some("not needed".into()),
        )
        .await
        .unwrap();
    assert_eq!(
        rig.service.get("apr.odd:id").await.unwrap().status,
        Status::Cancelled
    );
    let calls = recorder.calls();
    let name = execution_name("apr.odd:id");
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].0, "AWSStepFunctions.StartExecution");
    assert_eq!(calls[0].1["stateMachineArn"], machine);
    assert_eq!(calls[0].1["name"], name.as_str());
    let input: Value = serde_json::from_str(calls[0].1["input"].as_str().unwrap()).unwrap();
    assert_eq!(input["request_id"], "apr.odd:id");
    let wake = input["wake"]["next_wake_seconds"].as_u64().unwrap();
    assert!((599..=600).contains(&wake), "{wake}");
    assert_eq!(calls[1].0, "AWSStepFunctions.StopExecution");
    assert_eq!(
        calls[1].1["executionArn"],
        format!("arn:aws:states:us-east-1:123456789012:execution:hitl:{name}")
    );
    assert!(calls[1].1["cause"].as_str().unwrap().contains("not needed"));
    rig.stop().await;
}

/// The `wake` task on a timed-out wait: not yet due → wait again for the
/// rest; at the escalation time → escalated; at the deadline → expired
/// through the service's conditional write, and the request's waiting task
/// is resumed with the expiry. The service's own sweep is slowed right down
/// so only the workflow fires the timers.
async fn wake_reminds_escalates_and_expires(b: Backend) {
    let recorder = Recorder::default();
    let url = recorder.clone().start().await;
    let machine = "arn:aws:states:us-east-1:123456789012:stateMachine:hitl";
    let mut settings = Settings::default();
    settings.replicas.sweep_every = Duration::from_secs(3600);
    let rig = Rig::on(b, sfn_client(&url).await, machine.into(), None, settings).await;
    let id = "apr_sfn_wake";
    rig.create_with(
        id,
        json!({"timeout_secs": 3, "escalation": {"after_secs": 1, "to": "group:oncall"}}),
    )
    .await;
    let token = json!({"task": "await_decision", "request_id": id, "task_token": "tok-1"});
    rig.tasks.run(Task::parse(&token).unwrap()).await.unwrap();
    let wake = || async {
        let task = json!({"task": "wake", "request_id": id, "execution": "x"});
        rig.tasks.run(Task::parse(&task).unwrap()).await.unwrap()
    };

    let early = wake().await;
    assert_eq!(early["action"], "none", "{early}");
    assert_eq!(early["status"], "pending");
    assert_eq!(early["next_wake_seconds"], 1, "{early}");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let escalated = wake().await;
    assert_eq!(escalated["action"], "escalated", "{escalated}");
    assert_eq!(escalated["status"], "pending");
    let rest = escalated["next_wake_seconds"].as_u64().unwrap();
    assert!((1..=2).contains(&rest), "{escalated}");
    assert!(rig.service.get(id).await.unwrap().reminded_at.is_some());

    // A fresh wait hands out a fresh token.
    let token = json!({"task": "await_decision", "request_id": id, "task_token": "tok-2"});
    rig.tasks.run(Task::parse(&token).unwrap()).await.unwrap();
    assert_eq!(
        rig.store.task_token(id).await.unwrap().as_deref(),
        Some("tok-2")
    );

    tokio::time::sleep(Duration::from_millis(2000)).await;
    let expired = wake().await;
    assert_eq!(expired["status"], "expired", "{expired}");
    assert_eq!(rig.service.get(id).await.unwrap().status, Status::Expired);
    let resumed: Vec<Value> = recorder
        .calls()
        .into_iter()
        .filter(|(t, _)| t == "AWSStepFunctions.SendTaskSuccess")
        .map(|(_, b)| b)
        .collect();
    assert_eq!(resumed.len(), 1, "{resumed:?}");
    assert_eq!(resumed[0]["taskToken"], "tok-2");
    let output: Value = serde_json::from_str(resumed[0]["output"].as_str().unwrap()).unwrap();
    assert_eq!(output["status"], "expired");
    rig.stop().await;
}
