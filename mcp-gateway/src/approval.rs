//! The gateway's client of the approval service: the shared API v1 client
//! of `hitl-client`, under the names the proxy uses. Every failure is a
//! reason to hold the call back: the proxy turns any error into "not run"
//! (fail closed), and branches on [`ErrorCode`]s, never on HTTP statuses.

pub use hitl_client::{ApiClient as ApprovalClient, ClientError as ApprovalError, ErrorCode};
