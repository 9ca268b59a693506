//! Wire and domain types shared by the approval service (`hitl-bot`), the MCP
//! gateway (`hitl-mcp`) and the card templates.
//!
//! - [`approval`]: the approval record, its status and risk level.
//! - [`api`]: request and response bodies of HTTP API v1.
//! - [`canonical`]: canonical JSON and the argument hash that binds an
//!   approval to the exact call it was given for.
//! - [`depth`]: how deep JSON nests, on the raw bytes, and the cap on
//!   arguments.
//!
//! Keep this crate free of I/O and heavy dependencies: both binaries and the
//! card renderer link it.

pub mod api;
pub mod approval;
pub mod canonical;
pub mod depth;

pub use approval::{ApprovalRecord, Escalation, Risk, Status, Vote};
pub use canonical::{arguments_hash, canonical_json};
pub use depth::{MAX_ARGUMENT_DEPTH, json_depth};
