//! The MCP gateway (`hitl-mcp`): it sits in an MCP client's config in front
//! of any MCP server, lets safe tool calls through at once, and holds risky
//! ones until a person approves them in Slack or Teams.
//!
//! Modules:
//! - [`policy`]: the risk policy. Rules from a TOML file and the built-in
//!   analysis of tool names, arguments (shell commands, SQL, paths) and
//!   annotations give each call a risk, reasons and an action (allow,
//!   require approval, deny). No I/O after loading.
//! - [`proxy`]: the MCP proxy: the server side clients talk to, the upstream
//!   connection, and the hold of risky calls ([`proxy::hold`]).
//! - [`approval`]: the client of the approval service's HTTP API v1.
//! - [`scan`]: `hitl-mcp scan`: the policy's verdict on each tool a server
//!   lists, and a starting policy file.
//! - [`commands`]: the `hitl-mcp` subcommands as plain functions, so the
//!   binary (`main.rs`) only parses the command line.

pub mod approval;
pub mod commands;
pub mod policy;
pub mod proxy;
pub mod scan;

pub use policy::{
    Action, ActionKind, Approval, ConfigError, Policy, PolicyError, Reason, ToolAnnotations,
    ToolCall, Verdict,
};
