//! Who a Slack user is to the approval service.
//!
//! A person is their Slack user id (`U…`, or `W…` on Enterprise Grid): that
//! is what approver lists, config groups (`[groups] sre = ["U123"]`) and the
//! self-approval check compare. A request may also name Slack user groups
//! (`S…`) as approvers; Slack alone knows their members, so before deciding
//! the adapter asks (`usergroups.users.list`, cached for a minute) and hands
//! the service a [`Decider`] with the groups the person is in. A lookup that
//! fails counts as "not a member": it fails closed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hitl_wire::ApprovalRecord;

use super::client::SlackWeb;
use super::usergroup_id;
use crate::service::Decider;

/// How long a user group's member list is trusted.
const MEMBERS_TTL: Duration = Duration::from_secs(60);

/// A user group's members, and when they were listed.
type Members = (Instant, Arc<HashSet<String>>);

/// Cached user group members.
#[derive(Debug, Default)]
pub struct Directory {
    members: Mutex<HashMap<String, Members>>,
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
        let map = self.members.lock().unwrap_or_else(|p| p.into_inner());
        map.get(group)
            .filter(|(at, _)| at.elapsed() < MEMBERS_TTL)
            .map(|(_, m)| m.clone())
    }
}
