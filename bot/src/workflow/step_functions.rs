//! The AWS workflow engine: one Step Functions execution per request, on
//! the state machine of terraform/state-machine.asl.json.
//!
//! The execution waits in a `.waitForTaskToken` task whose token the tasks
//! entry point ([`super::tasks`]) keeps with the record. A decision resumes
//! it with that token ([`Workflow::finish`]): SendTaskSuccess for an
//! approval (and an expiry found by another timer), SendTaskFailure
//! `hitl.Rejected` for a rejection; a cancel stops the execution. The wait
//! times out at the next timer; the `wake` task then asks the service what
//! is due, so reminders, escalation and expiry go through the store's
//! conditional writes like every other change.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::{ProvideErrorMetadata, SdkError};
use chrono::{DateTime, Utc};
use hitl_wire::{ApprovalRecord, Status};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Workflow, WorkflowError, timers_of};
use crate::clock::Clock;
use crate::store::Store;

/// Longest execution name Step Functions accepts.
const MAX_NAME: usize = 80;

/// The Step Functions engine; cheap to clone.
#[derive(Clone)]
pub struct StepFunctionsWorkflow {
    client: Client,
    state_machine_arn: String,
    store: Arc<dyn Store>,
    clock: Clock,
}

impl std::fmt::Debug for StepFunctionsWorkflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepFunctionsWorkflow")
            .field("state_machine_arn", &self.state_machine_arn)
            .finish_non_exhaustive()
    }
}

impl StepFunctionsWorkflow {
    pub fn new(
        client: Client,
        state_machine_arn: impl Into<String>,
        store: Arc<dyn Store>,
        clock: Clock,
    ) -> Self {
        Self {
            client,
            state_machine_arn: state_machine_arn.into(),
            store,
            clock,
        }
    }

    /// A client from the SDK's own settings (region, credentials,
    /// AWS_ENDPOINT_URL*).
    pub async fn from_env(state_machine_arn: &str, store: Arc<dyn Store>, clock: Clock) -> Self {
        let sdk = crate::store::dynamo::sdk_config().await;
        Self::new(Client::new(&sdk), state_machine_arn, store, clock)
    }

    pub fn state_machine_arn(&self) -> &str {
        &self.state_machine_arn
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The ARN of a request's execution.
    pub fn execution_arn(&self, request_id: &str) -> Result<String, WorkflowError> {
        execution_arn(&self.state_machine_arn, &execution_name(request_id))
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Seconds the execution waits before it wakes to ask what is due: until
    /// the record's next timer, at least one.
    pub fn next_wake_seconds(&self, r: &ApprovalRecord) -> u64 {
        next_wake_seconds(r, self.clock.now())
    }

    /// Resumes a waiting task with the record's final state. A token that is
    /// no longer live (the wait timed out, or the task was answered) is not an
    /// error: the execution reads the final state at its next step.
    pub async fn resume(&self, token: &str, r: &ApprovalRecord) -> Result<(), WorkflowError> {
        let output = json!({
            "request_id": r.request_id,
            "status": r.status.as_str(),
            "approver": r.approver,
            "reason": r.reason,
        })
        .to_string();
        let sent = if r.status == Status::Rejected {
            self.client
                .send_task_failure()
                .task_token(token)
                .error("hitl.Rejected")
                .cause(output)
                .send()
                .await
                .map(|_| ())
                .map_err(describe)
        } else {
            self.client
                .send_task_success()
                .task_token(token)
                .output(output)
                .send()
                .await
                .map(|_| ())
                .map_err(describe)
        };
        match sent {
            Ok(()) => Ok(()),
            Err((Some(code), _)) if STALE_TOKEN.contains(&code.as_str()) => {
                tracing::debug!(approval_id = %r.request_id, code, "the task token is no longer live");
                Ok(())
            }
            Err((_, msg)) => Err(WorkflowError(format!(
                "cannot resume the execution of {}: {msg}",
                r.request_id
            ))),
        }
    }
}

/// Errors that mean the token's task is over, not that the call failed.
const STALE_TOKEN: &[&str] = &["TaskTimedOut", "InvalidToken", "TaskDoesNotExist"];

fn describe<E, R>(e: SdkError<E, R>) -> (Option<String>, String)
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = e.code().map(str::to_owned);
    let msg = match &e {
        SdkError::ServiceError(se) => format!(
            "{}: {}",
            se.err().code().unwrap_or("error"),
            se.err().message().unwrap_or("")
        ),
        other => format!("{}", aws_sdk_sfn::error::DisplayErrorContext(other)),
    };
    (code, msg)
}

#[async_trait]
impl Workflow for StepFunctionsWorkflow {
    async fn start(&self, r: &ApprovalRecord) -> Result<(), WorkflowError> {
        let input = json!({
            "request_id": r.request_id,
            "wake": {
                "action": "started",
                "status": r.status.as_str(),
                "next_wake_seconds": self.next_wake_seconds(r),
            },
        });
        match self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(execution_name(&r.request_id))
            .input(input.to_string())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Started before (a retried create, a restart): that execution
            // is the request's.
            Err(e) if e.code() == Some("ExecutionAlreadyExists") => Ok(()),
            Err(e) => Err(WorkflowError(format!(
                "cannot start the execution of {}: {}",
                r.request_id,
                describe(e).1
            ))),
        }
    }

    async fn finish(&self, r: &ApprovalRecord) -> Result<(), WorkflowError> {
        if r.status == Status::Cancelled {
            return match self
                .client
                .stop_execution()
                .execution_arn(self.execution_arn(&r.request_id)?)
                .cause(format!(
                    "cancelled: {}",
                    r.reason.as_deref().unwrap_or("no reason given")
                ))
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if e.code() == Some("ExecutionDoesNotExist") => Ok(()),
                Err(e) => Err(WorkflowError(format!(
                    "cannot stop the execution of {}: {}",
                    r.request_id,
                    describe(e).1
                ))),
            };
        }
        let token = self
            .store
            .task_token(&r.request_id)
            .await
            .map_err(|e| WorkflowError(e.to_string()))?;
        match token {
            Some(t) => self.resume(&t, r).await,
            // The execution has not stored its token yet: its task finds the
            // record final and answers itself.
            None => Ok(()),
        }
    }
}

/// The execution name of a request: the id itself when Step Functions
/// accepts it (1-80 of `[A-Za-z0-9_-]`), else the allowed characters of it
/// (at most 47) and a hash of the whole id, so two ids never share a name.
pub fn execution_name(request_id: &str) -> String {
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if !request_id.is_empty() && request_id.len() <= MAX_NAME && request_id.chars().all(ok) {
        return request_id.to_owned();
    }
    let hash = hex::encode(&Sha256::digest(request_id.as_bytes())[..16]);
    let prefix: String = request_id.chars().filter(|c| ok(*c)).take(47).collect();
    format!("{prefix}-{hash}")
}

/// `arn:aws:states:<region>:<account>:stateMachine:<name>` →
/// `arn:aws:states:<region>:<account>:execution:<name>:<execution>`.
fn execution_arn(state_machine_arn: &str, name: &str) -> Result<String, WorkflowError> {
    let parts: Vec<&str> = state_machine_arn.split(':').collect();
    match parts.as_slice() {
        [
            arn,
            partition,
            "states",
            region,
            account,
            "stateMachine",
            machine,
        ] if *arn == "arn" => Ok(format!(
            "arn:{partition}:states:{region}:{account}:execution:{machine}:{name}"
        )),
        _ => Err(WorkflowError(format!(
            "STATE_MACHINE_ARN {state_machine_arn:?} is not a state machine ARN (arn:aws:states:<region>:<account>:stateMachine:<name>)"
        ))),
    }
}

/// Seconds until the record's next timer, at least one (Step Functions
/// needs a positive timeout; a wake that comes early simply waits again).
pub fn next_wake_seconds(r: &ApprovalRecord, now: DateTime<Utc>) -> u64 {
    let next = timers_of(r).iter().map(|t| t.due_at).min();
    match next {
        Some(at) => {
            let ms = (at - now).num_milliseconds().max(0);
            // Round up, so the wake is never before the timer.
            u64::try_from((ms + 999) / 1000).unwrap_or(1).max(1)
        }
        None => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_names_follow_the_naming_rules() {
        assert_eq!(execution_name("apr_01HZX-9"), "apr_01HZX-9");
        let long = "a".repeat(81);
        let odd = "req/with spaces:and.dots";
        for id in [long.as_str(), odd, "", "ünïcödé"] {
            let n = execution_name(id);
            assert!(
                (1..=MAX_NAME).contains(&n.len()),
                "{id:?} -> {n:?} ({} chars)",
                n.len()
            );
            assert!(
                n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{n:?}"
            );
        }
        // Ids that differ only in characters the rules drop stay distinct.
        assert_ne!(execution_name("a.b"), execution_name("a:b"));
        assert_ne!(execution_name(&long), execution_name(&"a".repeat(82)));
    }

    #[test]
    fn execution_arn_comes_from_the_state_machine_arn() {
        assert_eq!(
            execution_arn(
                "arn:aws:states:eu-west-1:123456789012:stateMachine:hitl-prod",
                "apr_1"
            )
            .unwrap(),
            "arn:aws:states:eu-west-1:123456789012:execution:hitl-prod:apr_1"
        );
        let err = execution_arn("hitl-prod", "apr_1").unwrap_err();
        assert!(err.to_string().contains("STATE_MACHINE_ARN"), "{err}");
    }
}
