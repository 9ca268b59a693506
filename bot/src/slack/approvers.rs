//! Who a Slack user is to the approval service.
//!
//! A person is their Slack user id (`U…`, or `W…` on Enterprise Grid): that
//! is what approver lists, config groups (`[groups] sre = ["U123"]`) and the
//! self-approval check compare. A request may also name Slack user groups
//! (`S…`) as approvers; Slack alone knows their members, so before deciding
//! the adapter asks (`usergroups.users.list`, cached for a minute) and hands
//! the service a [`Decider`] with the groups the person is in. A lookup that
//! fails counts as "not a member": it fails closed.
//!
//! A request that names no approvers may be decided by the Slack
//! workspace's own full members who are in the channel its card was posted
//! in ([`Directory::default_decider`]): never a guest, a bot, or a person
//! of another workspace (Slack Connect). A click on the card, or a reply in
//! its thread, shows the person is in that channel; anywhere else (a DM,
//! `/approvals`) the channel's members are asked of Slack. What Slack says
//! is trusted for a minute; when Slack cannot be asked, nobody is let in.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hitl_wire::ApprovalRecord;

use super::client::{SlackError, SlackWeb, UserStanding};
use super::usergroup_id;
use crate::service::Decider;

/// How long what Slack said (group and channel members, a user's
/// standing) is trusted.
const MEMBERS_TTL: Duration = Duration::from_secs(60);

/// A user group's members, and when they were listed.
type Members = (Instant, Arc<HashSet<String>>);

/// Cached answers from Slack.
#[derive(Debug, Default)]
pub struct Directory {
    members: Mutex<HashMap<String, Members>>,
    /// Channel members, by channel id.
    channels: Mutex<HashMap<String, Members>>,
    users: Mutex<HashMap<String, (Instant, UserStanding)>>,
    /// The bot's own workspace (`auth.test`), once known; it does not change.
    team: Mutex<Option<String>>,
}

/// Why a Slack user is not one of a request's default deciders.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotDefault {
    #[error("guests of the workspace cannot decide")]
    Guest,
    #[error("people from another workspace cannot decide")]
    OtherWorkspace,
    #[error("bots, apps and deactivated accounts cannot decide")]
    NotAPerson,
    #[error("only members of the channel <#{0}>, where it was posted, can decide it")]
    NotInChannel(String),
    #[error("its card is not in Slack yet, so nobody in Slack can decide it yet")]
    NotPosted,
    /// Slack could not be asked; nothing is assumed.
    #[error("Slack could not confirm who may decide ({0}); nothing changed, please try again")]
    Unverified(String),
}

impl From<SlackError> for NotDefault {
    fn from(e: SlackError) -> Self {
        NotDefault::Unverified(e.to_string())
    }
}

impl Directory {
    /// `user` as a decider of `record`: the record's Slack user groups that
    /// `user` is a member of are vouched for.
    pub async fn decider(&self, web: &SlackWeb, record: &ApprovalRecord, user: &str) -> Decider {
        let mut vouched = Vec::new();
        for entry in &record.approvers {
            let Some(group) = usergroup_id(entry) else {
                continue;
            };
            match self.members(web, group).await {
                Some(members) if members.contains(user) => vouched.push(entry.clone()),
                _ => {}
            }
        }
        Decider {
            id: user.to_owned(),
            vouched_groups: vouched,
        }
    }

    /// Whether `user` may decide a request that names no approvers, whose
    /// card is in `channel` (None: not posted). `seen_in_channel`: the person
    /// acted on the card itself or in its thread, in that channel.
    pub async fn default_decider(
        &self,
        web: &SlackWeb,
        channel: Option<&str>,
        user: &str,
        seen_in_channel: bool,
    ) -> Result<(), NotDefault> {
        let team = self.team(web).await?;
        let standing = self.standing(web, user).await?;
        if standing.not_a_person {
            return Err(NotDefault::NotAPerson);
        }
        if standing.guest {
            return Err(NotDefault::Guest);
        }
        let home = standing.team_id.as_deref() == Some(team.as_str())
            || standing.enterprise_teams.contains(&team);
        if !home {
            return Err(NotDefault::OtherWorkspace);
        }
        let Some(channel) = channel else {
            return Err(NotDefault::NotPosted);
        };
        if seen_in_channel {
            return Ok(());
        }
        if self.channel_members(web, channel).await?.contains(user) {
            Ok(())
        } else {
            Err(NotDefault::NotInChannel(channel.to_owned()))
        }
    }

    /// The bot's workspace id, asked of Slack once.
    pub async fn team(&self, web: &SlackWeb) -> Result<String, SlackError> {
        if let Some(t) = self.team.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Ok(t);
        }
        let t = web.team_id().await?;
        *self.team.lock().unwrap_or_else(|p| p.into_inner()) = Some(t.clone());
        Ok(t)
    }

    async fn standing(&self, web: &SlackWeb, user: &str) -> Result<UserStanding, SlackError> {
        if let Some(s) = fresh(&self.users, user) {
            return Ok(s);
        }
        let s = web.user_standing(user).await.inspect_err(|e| {
            tracing::warn!(user, error = %e, "cannot look up a Slack user; refusing their decision");
        })?;
        remember(&self.users, user, s.clone());
        Ok(s)
    }

    async fn channel_members(
        &self,
        web: &SlackWeb,
        channel: &str,
    ) -> Result<Arc<HashSet<String>>, SlackError> {
        if let Some(m) = fresh(&self.channels, channel) {
            return Ok(m);
        }
        let m = Arc::new(
            web.channel_members(channel)
                .await
                .inspect_err(|e| {
                    tracing::warn!(channel, error = %e, "cannot list a Slack channel's members; refusing decisions that need them");
                })?
                .into_iter()
                .collect::<HashSet<_>>(),
        );
        remember(&self.channels, channel, m.clone());
        Ok(m)
    }

    async fn members(&self, web: &SlackWeb, group: &str) -> Option<Arc<HashSet<String>>> {
        if let Some(m) = self.cached(group) {
            return Some(m);
        }
        match web.usergroup_members(group).await {
            Ok(users) => {
                let set = Arc::new(users.into_iter().collect::<HashSet<_>>());
                self.members
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(group.to_owned(), (Instant::now(), set.clone()));
                Some(set)
            }
            Err(e) => {
                tracing::warn!(usergroup = group, error = %e, "cannot list user group members; treating the user as not a member");
                None
            }
        }
    }

    fn cached(&self, group: &str) -> Option<Arc<HashSet<String>>> {
        fresh(&self.members, group)
    }
}

/// `key`'s cached value, if Slack said it within [`MEMBERS_TTL`].
fn fresh<T: Clone>(cache: &Mutex<HashMap<String, (Instant, T)>>, key: &str) -> Option<T> {
    let map = cache.lock().unwrap_or_else(|p| p.into_inner());
    map.get(key)
        .filter(|(at, _)| at.elapsed() < MEMBERS_TTL)
        .map(|(_, v)| v.clone())
}

fn remember<T>(cache: &Mutex<HashMap<String, (Instant, T)>>, key: &str, value: T) {
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    // Stale entries go when the map grows, so it holds about a minute's worth.
    if map.len() >= 10_000 {
        map.retain(|_, (at, _)| at.elapsed() < MEMBERS_TTL);
    }
    map.insert(key.to_owned(), (Instant::now(), value));
}
