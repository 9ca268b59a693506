//! Integration tests of the approval service: a real server on 127.0.0.1
//! with a real SQLite file, driven over HTTP (and, for restarts and the CLI,
//! through the `hitl-bot` binary itself).

#![allow(clippy::unwrap_used, clippy::type_complexity)]

#[path = "../shared/aws.rs"]
mod aws_emulator;
mod support;

mod api_lifecycle;
mod bad_input;
mod cli;
mod concurrency;
mod credentials;
mod fuzz;
mod identities;
mod lambda_host;
mod long_poll;
mod migration;
mod notify_sns;
mod outbox_lambda;
mod replicas;
mod restart;
mod secret_rotation;
mod slack;
mod store_contract;
mod teams;
mod timers;
mod workflow_sfn;
