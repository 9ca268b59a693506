//! `Authorization: Bearer <credential>`: the one parser and the one
//! constant-time comparison, for the service's `/v1` check and the
//! gateway's listen token.

use subtle::ConstantTimeEq;

/// Why a header is no credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    #[error("missing `Authorization: Bearer <token>` header")]
    Missing,
    #[error("the Authorization header must be `Bearer <token>` with a non-empty token")]
    Malformed,
}

/// The credential in an `Authorization` header value. A missing header is
/// no credential, and so is `Bearer ` with nothing (or only blanks) after it.
pub fn parse(header: Option<&[u8]>) -> Result<&str, BearerError> {
    let raw = header.ok_or(BearerError::Missing)?;
    let text = std::str::from_utf8(raw).map_err(|_| BearerError::Malformed)?;
    let (scheme, rest) = text.split_once(' ').ok_or(BearerError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(BearerError::Malformed);
    }
    let token = rest.trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(BearerError::Malformed);
    }
    Ok(token)
}

/// Constant-time equality (length may leak; the contents do not).
pub fn ct_eq(expected: &str, presented: &str) -> bool {
    bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_non_empty_bearer_is_a_credential() {
        assert_eq!(parse(None), Err(BearerError::Missing));
        for bad in [
            &b""[..],
            b"Bearer",
            b"Bearer ",
            b"Bearer    ",
            b"Basic abc",
            b"Bearer a b",
            b"\xff\xfe",
        ] {
            assert_eq!(parse(Some(bad)), Err(BearerError::Malformed), "{bad:?}");
        }
        assert_eq!(parse(Some(b"Bearer abc")), Ok("abc"));
        assert_eq!(parse(Some(b"bearer  abc ")), Ok("abc"));
        assert!(ct_eq("abc", "abc"));
        assert!(!ct_eq("abc", "abd"));
        assert!(!ct_eq("abc", ""));
    }
}
