//! The chat seam: what every chat platform shares. A platform adapter
//! (Slack today, Teams next) translates its payloads onto this and renders
//! what comes back; the rules live here once.
//!
//! - [`grammar`]: commands and thread replies, parsed into [`ChatCommand`]
//!   and [`Reply`].
//! - [`resolve`]: which request a thread reply means (from the store's
//!   message references, or the id it names); ambiguous: ask.
//! - [`decision`]: a decision by a platform identity, and what follows it
//!   ([`FollowUp`]: tell the person, refresh the card).
//! - [`commands`]: running a [`ChatCommand`] into an [`Answer`].
//! - [`deadline`]: answering within the platform's deadline, the rest after.
//! - [`ordering`]: per-card locks, so updates to one card apply in order.
//!
//! A platform implements [`ChatPlatform`]: who a user is (their identity
//! and the groups the platform vouches for), how to post and update a card,
//! reply in its thread and tell one person something privately.

pub mod commands;
pub mod deadline;
pub mod decision;
pub mod grammar;
pub mod ordering;
pub mod resolve;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hitl_wire::ApprovalRecord;
use hitl_wire::api::DecisionAction;

use crate::service::{ApprovalService, Decider, ServiceError};
use crate::store::MessageRef;

pub use commands::run_command;
pub use decision::{
    FollowUp, check_decider, decide, decide_at, follow_up, on_thread_reply, refresh_card,
};
pub use grammar::{ChatCommand, Reply, parse_command, parse_reply};
pub use ordering::KeyedLocks;
pub use resolve::Target;

/// What a person is told, before a platform renders it (Slack mrkdwn, a
/// Teams message or card).
#[derive(Debug)]
pub enum Answer {
    /// The command list.
    Help,
    /// A command word the grammar does not know, then the command list.
    Unknown(String),
    /// A command lacks the request id; `usage` shows how to give it.
    WhichOne { usage: &'static str },
    /// The pending requests, soonest deadline first.
    Pending(Vec<ApprovalRecord>),
    /// One request, with its buttons while it waits.
    Show(ApprovalRecord),
    /// The person's decision was recorded (a vote, or the final one).
    Recorded {
        action: DecisionAction,
        record: ApprovalRecord,
    },
    /// Nothing changed, and why.
    Refused { id: String, error: ServiceError },
    /// A thread reply named no request and every one in the thread is final.
    AllDecided,
    /// A thread reply named no request and these wait in the thread.
    Ambiguous(Vec<String>),
    /// The decision is still being recorded; its answer follows.
    Working(String),
    /// Something failed that the person can only retry.
    Failed,
}

/// One chat platform, as the seam needs it.
#[async_trait]
pub trait ChatPlatform: Send + Sync + 'static {
    /// Where a person spoke (a channel, a thread): where private answers go.
    type Place: Clone + Send + Sync + 'static;
    /// The platform's failures; the service's errors convert into it.
    type Error: std::fmt::Display + From<ServiceError> + Send + 'static;

    /// The platform's name in message references and identities (`slack`).
    fn name(&self) -> &'static str;

    /// How long the platform waits for an answer (see [`deadline`]).
    fn deadline(&self) -> Duration;

    /// The approval service, once it runs.
    fn service(&self) -> Option<Arc<ApprovalService>>;

    /// Per-card ordering for this platform's cards.
    fn cards(&self) -> &KeyedLocks;

    /// `user` (the platform's verified id for them) as a decider of
    /// `record`: their identity and the record's approver groups this
    /// platform vouches they belong to. A failed lookup vouches for nothing.
    async fn decider(&self, record: &ApprovalRecord, user: &str) -> Decider;

    /// Whether `user`, acting at `place` (None: away from the card, or not
    /// known), is one of the platform's default deciders of `record`, a
    /// request that names no approvers; a refusal says why
    /// (`Refusal::NotADecider`). Asked before deciding, listing and showing
    /// such a request. A failed lookup refuses. By default every verified
    /// user of the platform may decide; Slack narrows it to full members of
    /// its workspace in the card's channel.
    async fn default_decider(
        &self,
        _record: &ApprovalRecord,
        _user: &str,
        _place: Option<&Self::Place>,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    /// Tells `user` alone, where they spoke (Slack: an ephemeral message).
    async fn tell(
        &self,
        place: &Self::Place,
        user: &str,
        answer: &Answer,
    ) -> Result<(), Self::Error>;

    /// Posts the request's card unless it is posted; returns where it is.
    async fn post_card(&self, record: &ApprovalRecord) -> Result<MessageRef, Self::Error>;

    /// Replaces the card at `at` by `record`'s current form.
    async fn update_card(
        &self,
        at: &MessageRef,
        record: &ApprovalRecord,
    ) -> Result<(), Self::Error>;

    /// Says in the card's thread how `record` stands (its outcome).
    async fn reply_in_thread(
        &self,
        at: &MessageRef,
        record: &ApprovalRecord,
    ) -> Result<(), Self::Error>;
}

/// The service, or the error a platform reports before it runs.
pub fn service_of<P: ChatPlatform + ?Sized>(p: &P) -> Result<Arc<ApprovalService>, ServiceError> {
    p.service()
        .ok_or_else(|| ServiceError::Unavailable("the approval service is not running".to_owned()))
}

#[cfg(test)]
mod tests;
