//! Integration tests for `hitl-mcp`: the policy (built-in analysis, rules,
//! config errors, the default template), the command line, and held calls
//! answered as MCP tasks.

// clippy.toml allows unwrap in #[test] functions only; the helpers here
// are test code too, and a panic in them is a test failure.
#![allow(clippy::unwrap_used)]

mod builtin;
mod cli;
mod config_errors;
mod fuzz_analysis;
mod fuzz_policy;
mod review_holes;
mod rules;
mod scan;
mod servers;
mod shell;
mod sql;
mod support;
mod tasks;
mod template;
