//! Integration tests of hitl-cards: snapshots of every rendered Slack card,
//! Block Kit rule checks through Python slack_sdk, the Teams Adaptive Cards
//! (checked by Microsoft's adaptivecards library and rendered in Chromium),
//! escaping, redaction, truncation, the template engine and override folders.

// Helpers outside `#[test]` functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used)]

mod blockkit;
mod escaping;
mod fixtures;
mod overrides;
mod redaction;
mod snapshots;
mod teams;
mod template;
mod truncation;
