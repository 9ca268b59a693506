-- The task token of a pending request's workflow step (Step Functions'
-- `.waitForTaskToken`): a decision resumes the execution with it. Written
-- only while the request is pending; it goes with the request.
CREATE TABLE task_tokens (
    request_id TEXT PRIMARY KEY NOT NULL REFERENCES approvals (request_id) ON DELETE CASCADE,
    token      TEXT NOT NULL
);
