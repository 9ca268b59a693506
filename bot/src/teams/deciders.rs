//! Who decides a request that names no approvers, in Teams: members of the
//! conversation its card was posted in, with the role `user` (never a
//! guest or an anonymous meeting participant) and of the bot's tenant,
//! as the Bot Connector's roster says (`GET v3/conversations/{id}/members/
//! {userId}`). Answers are kept a minute; a roster that cannot be read
//! refuses, and is asked again next time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::connector::{Connector, ConnectorError, Member};

/// How long a roster answer is trusted.
pub const ROSTER_TTL: Duration = Duration::from_secs(60);

/// Why a Teams user is not among a request's default deciders.
#[derive(Debug, thiserror::Error)]
pub enum NotDefault {
    #[error(
        "the request's card is not posted in Teams, so nobody there may decide it by default; name approvers for it"
    )]
    NotPosted,
    #[error("only members of the conversation the card is in may decide it")]
    NotAMember,
    #[error("guests and anonymous participants may not decide")]
    Guest,
    #[error("only people of the bot's own Microsoft Entra tenant may decide")]
    OtherTenant,
    #[error("Teams could not confirm who may decide ({0}); try again in a moment")]
    Lookup(ConnectorError),
}

/// A roster answer (`None`: not a member) and when it was given.
type Seen = (Instant, Option<Member>);

/// Roster answers by (conversation, user).
#[derive(Default)]
pub struct Rosters {
    seen: Mutex<HashMap<(String, String), Seen>>,
}

impl Rosters {
    /// Whether `user` (an AAD object id) may decide by default a request
    /// whose card is in `conversation_id` at `service_url`. `tenant`: the
    /// bot's tenant (TEAMS_TENANT_ID), else the one the card was posted in.
    pub async fn check(
        &self,
        connector: &Connector,
        service_url: &str,
        conversation_id: &str,
        user: &str,
        tenant: Option<&str>,
    ) -> Result<(), NotDefault> {
        // A channel thread's id names its root message; the roster is the
        // channel's.
        let conversation = conversation_id
            .split_once(";messageid=")
            .map_or(conversation_id, |(c, _)| c);
        let member = self
            .member(connector, service_url, conversation, user)
            .await?;
        let Some(member) = member else {
            return Err(NotDefault::NotAMember);
        };
        if member.user_role.as_deref().map(str::to_ascii_lowercase) != Some("user".into()) {
            // Teams names guests `guest` and meeting visitors `anonymous`;
            // an account it gives no role is not known to be a member.
            return Err(NotDefault::Guest);
        }
        match (tenant, member.tenant_id.as_deref()) {
            (Some(want), Some(got)) if want.eq_ignore_ascii_case(got) => Ok(()),
            (None, _) => Ok(()),
            _ => Err(NotDefault::OtherTenant),
        }
    }

    async fn member(
        &self,
        connector: &Connector,
        service_url: &str,
        conversation: &str,
        user: &str,
    ) -> Result<Option<Member>, NotDefault> {
        let key = (conversation.to_owned(), user.to_owned());
        {
            let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((at, m)) = seen.get(&key)
                && at.elapsed() < ROSTER_TTL
            {
                return Ok(m.clone());
            }
        }
        let m = connector
            .conversation_member(service_url, conversation, user)
            .await
            .map_err(|e| {
                tracing::warn!(conversation, error = %e, "cannot read a Teams conversation's roster; refusing decisions that need it");
                NotDefault::Lookup(e)
            })?;
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.retain(|_, (at, _)| at.elapsed() < ROSTER_TTL);
        seen.insert(key, (Instant::now(), m.clone()));
        Ok(m)
    }
}
