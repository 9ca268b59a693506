//! The state machine's tasks (terraform/state-machine.asl.json): what the
//! execution asks the service. On Lambda the function is invoked with one of
//! these as its payload; anything else that can run the binary's library
//! (a test, another host) calls [`Tasks::run`] with the same JSON.
//!
//! - `await_decision` keeps the task token with the pending record; if the
//!   record is final already, it answers the token itself.
//! - `wake` fires what is due now (reminder, escalation, expiry), each
//!   through the service's leased timers and conditional writes, and says
//!   what happened and how long to wait for the next timer.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use super::step_functions::StepFunctionsWorkflow;
use super::{Due, TimerKind, WorkflowError, timers_of};
use crate::service::ApprovalService;

/// One task payload, as the state machine sends it.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "task", rename_all = "snake_case", deny_unknown_fields)]
pub enum Task {
    AwaitDecision {
        request_id: String,
        task_token: String,
        #[serde(default)]
        execution: Option<String>,
    },
    Wake {
        request_id: String,
        #[serde(default)]
        execution: Option<String>,
    },
}

impl Task {
    /// Reads a payload; the error names what is wrong with it.
    pub fn parse(payload: &Value) -> Result<Self, WorkflowError> {
        Task::deserialize(payload)
            .map_err(|e| WorkflowError(format!("not a hitl workflow task: {e}")))
    }
}

/// The task entry points of one service and its Step Functions engine.
#[derive(Debug, Clone)]
pub struct Tasks {
    service: Arc<ApprovalService>,
    workflow: StepFunctionsWorkflow,
}

impl Tasks {
    pub fn new(service: Arc<ApprovalService>, workflow: StepFunctionsWorkflow) -> Self {
        Self { service, workflow }
    }

    /// Runs one task; the answer is the task's result in the execution.
    pub async fn run(&self, task: Task) -> Result<Value, WorkflowError> {
        match task {
            Task::AwaitDecision {
                request_id,
                task_token,
                ..
            } => self.await_decision(&request_id, &task_token).await,
            Task::Wake { request_id, .. } => self.wake(&request_id).await,
        }
    }

    async fn await_decision(&self, id: &str, token: &str) -> Result<Value, WorkflowError> {
        let stored = self
            .workflow
            .store()
            .put_task_token(id, token)
            .await
            .map_err(|e| WorkflowError(e.to_string()))?;
        if stored {
            return Ok(json!({ "stored": true }));
        }
        // Final (decided before the token arrived) or unknown.
        let record = self
            .service
            .get(id)
            .await
            .map_err(|e| WorkflowError(e.to_string()))?;
        self.workflow.resume(token, &record).await?;
        Ok(json!({ "stored": false, "status": record.status.as_str() }))
    }

    async fn wake(&self, id: &str) -> Result<Value, WorkflowError> {
        let get = || async {
            self.service
                .get(id)
                .await
                .map_err(|e| WorkflowError(e.to_string()))
        };
        let before = get().await?;
        let now = self.workflow.now();
        let due: Vec<TimerKind> = timers_of(&before)
            .into_iter()
            .filter(|t| t.due_at <= now)
            .map(|t| t.kind)
            .collect();
        // The reminder first: when both are due, people still hear why the
        // request expired.
        for kind in [TimerKind::Remind, TimerKind::Expire] {
            if due.contains(&kind) {
                match kind {
                    TimerKind::Remind => Due::remind(&*self.service, id).await,
                    TimerKind::Expire => Due::expire(&*self.service, id).await,
                }
            }
        }
        let after = get().await?;
        let action = if before.reminded_at.is_none() && after.reminded_at.is_some() {
            match after.escalation.as_ref().and_then(|e| e.to.as_ref()) {
                Some(_) => "escalated",
                None => "reminded",
            }
        } else {
            "none"
        };
        Ok(json!({
            "action": action,
            "status": after.status.as_str(),
            "next_wake_seconds": self.workflow.next_wake_seconds(&after),
        }))
    }
}
