//! What people type to the bot, on any platform: commands (`pending`,
//! `show ID`, `approve ID [reason]`, `reject ID reason`, `help`) and thread
//! replies (`approve [ID] [reason]`, `reject [ID] reason`), parsed into
//! platform-neutral values. Platforms strip their own markup first (Slack's
//! `&lt;` escapes, Teams' `<at>` mentions).

use hitl_wire::api::DecisionAction;

/// A command addressed to the bot (Slack's `/approvals …`, a Teams message
/// to the bot or its outgoing webhook).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatCommand {
    /// `help`, or nothing at all.
    Help,
    /// `pending` (or `list`): what is waiting for a decision.
    Pending,
    /// `show ID`: one request. `None`: the id is missing.
    Show { id: Option<String> },
    /// `approve ID [reason]`, `reject ID reason`. `id` is `None` when it is
    /// missing; `reason` is `None` when empty.
    Decide {
        action: DecisionAction,
        id: Option<String>,
        reason: Option<String>,
    },
    /// A first word the grammar does not know, lower-cased.
    Unknown(String),
}

/// A thread reply that decides: the action and the words after it, which
/// may name one of the thread's requests (see [`super::resolve`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub action: DecisionAction,
    pub rest: String,
}

/// The first word and the trimmed rest.
fn first_word(text: &str) -> (&str, &str) {
    match text.split_once(char::is_whitespace) {
        Some((first, rest)) => (first, rest.trim()),
        None => (text, ""),
    }
}

fn non_empty(s: &str) -> Option<String> {
    Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Parses a command. Words are case-insensitive; ids and reasons are kept
/// as typed.
pub fn parse_command(text: &str) -> ChatCommand {
    let (sub, rest) = first_word(text.trim());
    let sub = sub.to_ascii_lowercase();
    match sub.as_str() {
        "" | "help" => ChatCommand::Help,
        "pending" | "list" => ChatCommand::Pending,
        "show" => ChatCommand::Show {
            id: rest.split_whitespace().next().map(str::to_owned),
        },
        "approve" | "reject" => {
            let action = if sub == "approve" {
                DecisionAction::Approve
            } else {
                DecisionAction::Reject
            };
            let (id, reason) = first_word(rest);
            ChatCommand::Decide {
                action,
                id: non_empty(id),
                reason: non_empty(reason),
            }
        }
        _ => ChatCommand::Unknown(sub),
    }
}

/// Parses a thread reply: `approve …` / `reject …` (any case, an optional
/// trailing `.` or `!` on the word). Anything else is conversation: `None`.
pub fn parse_reply(text: &str) -> Option<Reply> {
    let (first, rest) = first_word(text.trim());
    let action = match first
        .trim_end_matches(['.', '!'])
        .to_ascii_lowercase()
        .as_str()
    {
        "approve" => DecisionAction::Approve,
        "reject" => DecisionAction::Reject,
        _ => return None,
    };
    Some(Reply {
        action,
        rest: rest.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(action: DecisionAction, id: Option<&str>, reason: Option<&str>) -> ChatCommand {
        ChatCommand::Decide {
            action,
            id: id.map(str::to_owned),
            reason: reason.map(str::to_owned),
        }
    }

    #[test]
    fn commands_parse_case_insensitively_keeping_ids_and_reasons() {
        assert_eq!(parse_command(""), ChatCommand::Help);
        assert_eq!(parse_command("  HELP "), ChatCommand::Help);
        assert_eq!(parse_command("pending"), ChatCommand::Pending);
        assert_eq!(parse_command("List"), ChatCommand::Pending);
        assert_eq!(
            parse_command("show apr_AbC extra"),
            ChatCommand::Show {
                id: Some("apr_AbC".into())
            }
        );
        assert_eq!(parse_command("show"), ChatCommand::Show { id: None });
        assert_eq!(
            parse_command("Approve apr_1"),
            decide(DecisionAction::Approve, Some("apr_1"), None)
        );
        assert_eq!(
            parse_command("reject  apr_1   Wrong host,  use staging "),
            decide(
                DecisionAction::Reject,
                Some("apr_1"),
                Some("Wrong host,  use staging")
            )
        );
        assert_eq!(
            parse_command("reject"),
            decide(DecisionAction::Reject, None, None)
        );
        assert_eq!(
            parse_command("frobnicate now"),
            ChatCommand::Unknown("frobnicate".into())
        );
        // A word that merely starts like a command is not one.
        assert_eq!(
            parse_command("approved apr_1"),
            ChatCommand::Unknown("approved".into())
        );
    }

    #[test]
    fn replies_that_decide() {
        let r = parse_reply("Approve").unwrap();
        assert_eq!(r.action, DecisionAction::Approve);
        assert_eq!(r.rest, "");
        let r = parse_reply("  reject   wrong <host>  ").unwrap();
        assert_eq!(r.action, DecisionAction::Reject);
        assert_eq!(r.rest, "wrong <host>");
        assert_eq!(
            parse_reply("approve!").unwrap().action,
            DecisionAction::Approve
        );
        assert_eq!(parse_reply("Reject. no").unwrap().rest, "no");
    }

    #[test]
    fn conversation_is_not_a_reply() {
        assert!(parse_reply("approved? not sure").is_none());
        assert!(parse_reply("I'd approve this").is_none());
        assert!(parse_reply("").is_none());
        assert!(parse_reply("   ").is_none());
    }
}
