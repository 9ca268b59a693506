//! Which request a thread reply means. A card's thread is found from the
//! message references in the store; a session thread holds several cards.
//! The reply may name one of them (`approve ID`); otherwise the one still
//! waiting is meant. Several waiting and none named: the person is asked,
//! never guessed for.

use super::grammar::Reply;
use crate::service::{ApprovalService, ServiceError};

/// What a reply in a thread refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// This request, with this reason (`None`: none given).
    Request { id: String, reason: Option<String> },
    /// The thread is not one of ours: the reply is conversation.
    NotOurs,
    /// Every request in the thread is decided and none was named.
    AllDecided,
    /// Several requests wait in the thread and none was named: ask which.
    Ambiguous(Vec<String>),
}

fn reason(s: &str) -> Option<String> {
    Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// The request the reply's first word names, if it names one of `ids`
/// (case-insensitively), with the words after it as the reason.
pub fn named(ids: &[String], rest: &str) -> Option<Target> {
    let (word, after) = match rest.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r),
        None => (rest, ""),
    };
    ids.iter()
        .find(|id| id.eq_ignore_ascii_case(word))
        .map(|id| Target::Request {
            id: id.clone(),
            reason: reason(after),
        })
}

/// Without a name: the one request still `pending` in a thread of `ids`
/// (or the thread's only request, so that a late reply is told how it
/// ended); the whole `rest` is the reason.
pub fn unnamed(ids: &[String], pending: &[String], rest: &str) -> Target {
    match (pending, ids) {
        (_, []) => Target::NotOurs,
        ([one], _) | ([], [one]) => Target::Request {
            id: one.clone(),
            reason: reason(rest),
        },
        ([], _) => Target::AllDecided,
        (many, _) => Target::Ambiguous(many.to_vec()),
    }
}

/// Resolves `reply`, given in the thread `thread` of `conversation` on
/// `platform`, against the store's message references.
pub async fn resolve_reply(
    svc: &ApprovalService,
    platform: &str,
    conversation: &str,
    thread: &str,
    reply: &Reply,
) -> Result<Target, ServiceError> {
    let ids = svc
        .requests_in_thread(platform, conversation, thread)
        .await?;
    if ids.is_empty() {
        return Ok(Target::NotOurs);
    }
    if let Some(t) = named(&ids, &reply.rest) {
        return Ok(t);
    }
    let mut pending = Vec::new();
    for id in &ids {
        if !svc.get(id).await?.status.is_final() {
            pending.push(id.clone());
        }
    }
    Ok(unnamed(&ids, &pending, &reply.rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn request(id: &str, reason: Option<&str>) -> Target {
        Target::Request {
            id: id.into(),
            reason: reason.map(str::to_owned),
        }
    }

    #[test]
    fn a_named_request_is_taken_whatever_the_case_with_the_rest_as_reason() {
        let thread = ids(&["apr_A1", "apr_B2"]);
        assert_eq!(
            named(&thread, "APR_b2 wrong host"),
            Some(request("apr_B2", Some("wrong host")))
        );
        assert_eq!(named(&thread, "apr_A1"), Some(request("apr_A1", None)));
        assert_eq!(named(&thread, "apr_C3 no"), None);
        assert_eq!(named(&thread, "wrong host"), None);
        assert_eq!(named(&thread, ""), None);
    }

    #[test]
    fn the_one_waiting_request_is_meant_when_none_is_named() {
        let thread = ids(&["apr_1", "apr_2", "apr_3"]);
        assert_eq!(
            unnamed(&thread, &ids(&["apr_2"]), "wrong host"),
            request("apr_2", Some("wrong host"))
        );
        // A thread of one, already decided: decide it anyway, so the person
        // is told how it ended.
        assert_eq!(unnamed(&ids(&["apr_1"]), &[], ""), request("apr_1", None));
    }

    #[test]
    fn several_waiting_and_none_named_asks_rather_than_guesses() {
        let thread = ids(&["apr_1", "apr_2", "apr_3"]);
        assert_eq!(
            unnamed(&thread, &ids(&["apr_1", "apr_3"]), "looks fine"),
            Target::Ambiguous(ids(&["apr_1", "apr_3"]))
        );
        assert_eq!(unnamed(&thread, &[], "ok"), Target::AllDecided);
        assert_eq!(unnamed(&[], &[], "ok"), Target::NotOurs);
    }
}
