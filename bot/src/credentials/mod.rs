//! Credentials with roles: who may call which `/v1` route.
//!
//! A credential is a high-entropy random token; the store keeps only its
//! SHA-256 ([`hash`]), so a copy of the database does not hand out tokens.
//! Each one has a [`Role`] and, for approvers always and for requesters
//! optionally, the person it is bound to. The decision endpoint takes the
//! approver's identity from here, never from the request body.

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::people::Identity;

/// Prefix of every credential this service issues (helps secret scanners).
pub const TOKEN_PREFIX: &str = "hitl_";

/// What a credential may do (the table in the README, "Credentials").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Gateways: create, read and wait on their own requests, cancel them,
    /// claim execution.
    Requester,
    /// One person: read every request, decide.
    Approver,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Requester => "requester",
            Role::Approver => "approver",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "requester" => Some(Role::Requester),
            "approver" => Some(Role::Approver),
            _ => None,
        }
    }
}

/// A stored credential, without its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Credential {
    /// Short public id, for `token list` and `token revoke`.
    pub id: String,
    pub role: Role,
    /// The person (approver) or requester name it is bound to.
    pub who: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A credential as the store writes it.
#[derive(Debug, Clone)]
pub struct NewCredential {
    pub credential: Credential,
    /// [`hash`] of the token.
    pub hash: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("an approver credential must name one person: {0}")]
    BadApprover(String),
    #[error("a requester credential's name: {0}")]
    BadRequester(String),
}

/// Makes a new credential: the token (shown once) and what the store keeps.
/// `who` is checked as a person (approvers must name exactly one).
pub fn issue(
    role: Role,
    who: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(String, NewCredential), CredentialError> {
    let who = match (role, who) {
        (Role::Approver, None) => {
            return Err(CredentialError::BadApprover("no one was named".into()));
        }
        (Role::Approver, Some(w)) => Some(
            Identity::parse(w)
                .map_err(|e| CredentialError::BadApprover(e.to_string()))?
                .to_string(),
        ),
        (Role::Requester, Some(w)) => Some(
            Identity::parse(w)
                .map_err(|e| CredentialError::BadRequester(e.to_string()))?
                .to_string(),
        ),
        (Role::Requester, None) => None,
    };
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
    let mut id = [0u8; 6];
    rand::rng().fill_bytes(&mut id);
    let credential = Credential {
        id: format!("cred_{}", hex::encode(id)),
        role,
        who,
        created_at: now,
    };
    let hash = hash(&token);
    Ok((token, NewCredential { credential, hash }))
}

/// What the store keys credentials by: hex SHA-256 of the token. Lookups
/// by this hash need no constant-time compare: an attacker who can time
/// them learns about hashes, not tokens.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let now = Utc::now();
        let (t1, c1) = issue(Role::Approver, Some("  Alice "), now).unwrap();
        let (t2, c2) = issue(Role::Approver, Some("alice"), now).unwrap();
        assert_ne!(t1, t2);
        assert_ne!(c1.credential.id, c2.credential.id);
        assert_eq!(c1.hash, hash(&t1));
        assert!(!c1.hash.contains(&t1[TOKEN_PREFIX.len()..]));
        assert_eq!(c1.credential.who.as_deref(), Some("alice"));
        assert!(t1.len() > 60, "{t1}");
    }

    #[test]
    fn an_approver_names_one_person() {
        let now = Utc::now();
        for bad in [
            None,
            Some(""),
            Some("  "),
            Some("group:sre"),
            Some("S0123ABC"),
        ] {
            assert!(issue(Role::Approver, bad, now).is_err(), "{bad:?}");
        }
        let (_, c) = issue(Role::Approver, Some("email:Alice@Example.com"), now).unwrap();
        assert_eq!(c.credential.who.as_deref(), Some("email:alice@example.com"));
        let (_, r) = issue(Role::Requester, None, now).unwrap();
        assert_eq!(r.credential.who, None);
    }
}
