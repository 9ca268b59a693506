//! The stable error codes of HTTP API v1 (`{"code": ..., "message": ...}`).
//! The service writes them and the clients branch on them; a code this
//! version does not know is kept as [`ErrorCode::Other`], never guessed.

use std::fmt;

macro_rules! codes {
    ($($variant:ident => $text:literal,)*) => {
        /// One error code of HTTP API v1.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($variant,)*
            /// A code from a newer service.
            Other(String),
        }

        impl ErrorCode {
            /// Every code this version knows.
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub fn as_str(&self) -> &str {
                match self {
                    $(ErrorCode::$variant => $text,)*
                    ErrorCode::Other(s) => s,
                }
            }

            /// The known code spelled `s`, or [`ErrorCode::Other`].
            pub fn parse(s: &str) -> Self {
                match s {
                    $($text => ErrorCode::$variant,)*
                    other => ErrorCode::Other(other.to_owned()),
                }
            }

            /// The static spelling of a known code (for the service's
            /// error type, which keeps `&'static str`).
            pub fn as_static(&self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $text,)*
                    ErrorCode::Other(_) => "other",
                }
            }
        }
    };
}

codes! {
    // Authentication and authorisation.
    Unauthorized => "unauthorized",
    Forbidden => "forbidden",
    WrongRole => "wrong_role",
    NotYours => "not_yours",
    ActorMismatch => "actor_mismatch",
    ApproverNotAllowed => "approver_not_allowed",
    // Input.
    BodyTooLarge => "body_too_large",
    UnreadableBody => "unreadable_body",
    MalformedJson => "malformed_json",
    InvalidBody => "invalid_body",
    InvalidQuery => "invalid_query",
    InvalidRequest => "invalid_request",
    TooDeep => "too_deep",
    NotFound => "not_found",
    MethodNotAllowed => "method_not_allowed",
    RequestIdConflict => "request_id_conflict",
    // The request's state.
    AlreadyDecided => "already_decided",
    DuplicateVote => "duplicate_vote",
    NotAnApprover => "not_an_approver",
    SelfApproval => "self_approval",
    ReasonRequired => "reason_required",
    Expired => "expired",
    NotApproved => "not_approved",
    AlreadyExecuted => "already_executed",
    ClaimExpired => "claim_expired",
    ArgumentsMismatch => "arguments_mismatch",
    NoChange => "no_change",
    // The service.
    Internal => "internal",
    Unavailable => "unavailable",
    Timeout => "timeout",
}

impl ErrorCode {
    /// The credential was missing, unknown or not allowed to do this.
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            ErrorCode::Unauthorized
                | ErrorCode::Forbidden
                | ErrorCode::WrongRole
                | ErrorCode::NotYours
                | ErrorCode::ActorMismatch
        )
    }

    /// The approval can never be used to run the call: it is gone, spent, or
    /// its time to be claimed has passed. A held call must ask again.
    pub fn approval_spent(&self) -> bool {
        matches!(
            self,
            ErrorCode::NotFound
                | ErrorCode::NotYours
                | ErrorCode::AlreadyExecuted
                | ErrorCode::ClaimExpired
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(ErrorCode::parse(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_code_round_trips_and_unknown_ones_are_kept() {
        for c in ErrorCode::ALL {
            assert_eq!(&ErrorCode::parse(c.as_str()), c);
            assert_eq!(c.as_static(), c.as_str());
        }
        assert_eq!(
            ErrorCode::parse("from_the_future"),
            ErrorCode::Other("from_the_future".into())
        );
        let json = serde_json::to_string(&ErrorCode::SelfApproval).unwrap();
        assert_eq!(json, "\"self_approval\"");
        let back: ErrorCode = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ErrorCode::SelfApproval);
    }
}
