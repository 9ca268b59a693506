//! A credential as a secret type from the moment it is parsed: never
//! printed by `Debug`, compared in constant time, and never blank (an empty
//! token would otherwise read as "no authentication").

use secrecy::{ExposeSecret, SecretString};

/// A bearer credential.
#[derive(Clone)]
pub struct Token(SecretString);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token([redacted])")
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("{what} is empty or blank; give a real token or leave it unset")]
    Blank { what: String },
    #[error("{what} contains whitespace or control characters inside it")]
    BadCharacters { what: String },
}

impl Token {
    /// Parses `raw` (surrounding whitespace and a trailing newline from a
    /// file are dropped). `what` names the source for the error message
    /// (`HITL_TOKEN`, `--listen-token`, a file path).
    pub fn parse(raw: &str, what: &str) -> Result<Self, TokenError> {
        let t = raw.trim();
        if t.is_empty() {
            return Err(TokenError::Blank { what: what.into() });
        }
        if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(TokenError::BadCharacters { what: what.into() });
        }
        Ok(Self(SecretString::from(t.to_owned())))
    }

    /// [`Token::parse`] for an optional setting: unset stays `None`, but a
    /// setting that is present and blank is an error, never "no token".
    pub fn parse_opt(raw: Option<&str>, what: &str) -> Result<Option<Self>, TokenError> {
        raw.map(|r| Self::parse(r, what)).transpose()
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Constant-time comparison with a presented credential.
    pub fn matches(&self, presented: &str) -> bool {
        crate::bearer::ct_eq(self.expose(), presented)
    }

    pub fn into_secret(self) -> SecretString {
        self.0
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

impl From<Token> for SecretString {
    fn from(t: Token) -> Self {
        t.0
    }
}

impl TryFrom<SecretString> for Token {
    type Error = TokenError;
    fn try_from(s: SecretString) -> Result<Self, TokenError> {
        Token::parse(s.expose_secret(), "the token")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_tokens_are_refused_not_taken_as_none() {
        for raw in ["", " ", "\n", "\t \r\n"] {
            assert!(matches!(
                Token::parse(raw, "HITL_LISTEN_TOKEN"),
                Err(TokenError::Blank { .. })
            ));
            assert!(Token::parse_opt(Some(raw), "x").is_err());
        }
        assert!(Token::parse_opt(None, "x").unwrap().is_none());
        assert!(Token::parse("a b", "x").is_err());
        let t = Token::parse(" abc\n", "x").unwrap();
        assert_eq!(t.expose(), "abc");
        assert!(t.matches("abc"));
        assert!(!t.matches("abcd"));
        assert_eq!(format!("{t:?}"), "Token([redacted])");
    }
}
