//! `hitl-client`: what the approval service and its clients must agree on,
//! kept in one place so the two binaries cannot drift apart.
//!
//! Module map:
//! - [`api`]: [`ApiClient`], the one client of HTTP API v1 (the gateway's
//!   holds and `hitl-bot`'s terminal commands both use it).
//! - [`code`]: [`ErrorCode`], the stable error codes the service answers
//!   with; callers branch on these, never on HTTP statuses.
//! - [`error`]: [`ClientError`], what a call can fail with.
//! - [`bearer`]: parsing `Authorization: Bearer ...` and comparing secrets
//!   in constant time (the service's `/v1` check and the gateway's listen
//!   token use the same code).
//! - [`secret`]: [`Token`], a credential as a secret from the moment it is
//!   parsed; blank tokens are refused.
//! - [`ids`]: request ids and new tokens.
//! - [`local`]: the default URL and the data folder convention
//!   (`HITL_DATA_DIR`, the saved requester token, the local approver
//!   credential).

pub mod api;
pub mod bearer;
pub mod code;
pub mod error;
pub mod ids;
pub mod local;
pub mod secret;

pub use api::ApiClient;
pub use code::ErrorCode;
pub use error::ClientError;
pub use secret::Token;
