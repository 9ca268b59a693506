//! Who people are, across chat platforms.
//!
//! Approver lists, groups, requesters and deciders are strings people type
//! (config files, API bodies, Slack mentions). [`Identity::parse`] turns one
//! into a platform and an id, normalised the way that platform compares ids:
//!
//! | written as | identity |
//! |---|---|
//! | `slack:U0ABC`, `U0ABC`, `<@U0ABC>`, `<@U0ABC\|alice>` | Slack member id, upper-cased |
//! | `teams:<AAD object id>` or `teams:<UPN>` | lower-cased (both are case-insensitive) |
//! | `teams:29:…` (a Bot Framework user id) | kept as written (case-sensitive) |
//! | `email:alice@example.com` | lower-cased |
//! | any other non-empty text (`alice`) | a local person, trimmed and case-folded |
//!
//! [`People`] links one person's identities on several platforms (the
//! config's `[[people]]`), so self-approval, quorum ("2 different people")
//! and allowlists count a person once whichever platform they decide from.
//! Groups are not people: `group:NAME` names a configured group, and
//! [`platform_group`] recognises groups a chat platform keeps (Slack user
//! groups `S…`), whose members only that platform can vouch for.

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;

/// The platform an identity belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Platform {
    Slack,
    Teams,
    Email,
    /// A bare name: a person known to this service only (CLI, API).
    Local,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Slack => "slack",
            Platform::Teams => "teams",
            Platform::Email => "email",
            Platform::Local => "local",
        }
    }
}

/// One person on one platform, normalised for comparison.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    platform: Platform,
    id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("a person must be named: the value is empty")]
    Empty,
    #[error("{0:?} is not a valid {1} id: {2}")]
    Invalid(String, &'static str, &'static str),
    #[error("{0:?} names a group, not a person")]
    Group(String),
}

impl Identity {
    /// Parses what a person or a platform wrote (see the module table).
    pub fn parse(raw: &str) -> Result<Self, IdentityError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(IdentityError::Empty);
        }
        if let Some(id) = slack_mention(s) {
            return Self::slack(id);
        }
        if let Some(rest) = strip_prefix_ci(s, "slack:") {
            let rest = rest.trim();
            return Self::slack(slack_mention(rest).unwrap_or(rest));
        }
        if let Some(rest) = strip_prefix_ci(s, "teams:") {
            return Self::teams(rest.trim());
        }
        if let Some(rest) = strip_prefix_ci(s, "email:") {
            return Self::email(rest.trim());
        }
        if s.starts_with("group:") || platform_group(s).is_some() {
            return Err(IdentityError::Group(s.to_owned()));
        }
        if looks_like_slack_user(s) {
            return Self::slack(s);
        }
        Ok(Self {
            platform: Platform::Local,
            id: s.to_lowercase(),
        })
    }

    /// A Slack member id (`U…`, or `W…` on Enterprise Grid).
    pub fn slack(id: &str) -> Result<Self, IdentityError> {
        let id = id.trim().to_ascii_uppercase();
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(IdentityError::Invalid(
                id,
                "Slack member",
                "expected letters and digits such as U0123ABC",
            ));
        }
        Ok(Self {
            platform: Platform::Slack,
            id,
        })
    }

    /// A Teams user: an Entra object id or UPN, or a Bot Framework user id.
    pub fn teams(id: &str) -> Result<Self, IdentityError> {
        let id = id.trim();
        if id.is_empty() || id.chars().any(char::is_whitespace) {
            return Err(IdentityError::Invalid(
                id.to_owned(),
                "Teams user",
                "expected an Entra object id, a UPN or a Bot Framework user id, without spaces",
            ));
        }
        // Object ids (GUIDs) and UPNs compare case-insensitively; Bot
        // Framework ids (`29:…`) are opaque and compared as sent.
        let id = if is_guid(id) || id.contains('@') {
            id.to_lowercase()
        } else {
            id.to_owned()
        };
        Ok(Self {
            platform: Platform::Teams,
            id,
        })
    }

    pub fn email(address: &str) -> Result<Self, IdentityError> {
        let a = address.trim();
        match a.split_once('@') {
            Some((user, domain))
                if !user.is_empty() && !domain.is_empty() && !a.contains(char::is_whitespace) =>
            {
                Ok(Self {
                    platform: Platform::Email,
                    id: a.to_lowercase(),
                })
            }
            _ => Err(IdentityError::Invalid(
                a.to_owned(),
                "email",
                "expected an address such as alice@example.com",
            )),
        }
    }

    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// The id on its platform, normalised.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// `slack:U0ABC`, `teams:…`, `email:…`, or the bare (case-folded) name.
impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.platform {
            Platform::Local => f.write_str(&self.id),
            p => write!(f, "{}:{}", p.as_str(), self.id),
        }
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// `<@U0ABC>` or `<@U0ABC|name>`: the id inside.
fn slack_mention(s: &str) -> Option<&str> {
    let inner = s.strip_prefix("<@")?.strip_suffix('>')?;
    let id = inner.split('|').next()?.trim();
    (!id.is_empty()).then_some(id)
}

/// A bare Slack member id as Slack writes them: `U`/`W`, then capitals and
/// digits with at least one digit (so a name like `WALTER` stays a name).
fn looks_like_slack_user(s: &str) -> bool {
    s.len() >= 2
        && (s.starts_with('U') || s.starts_with('W'))
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && s.bytes().any(|b| b.is_ascii_digit())
}

fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The platform that keeps the group an approver entry names, if it names
/// one: Slack user groups (`S0123ABC`, `slack:S0123ABC`,
/// `<!subteam^S0123ABC|sre>`). Only a decider from that platform can be
/// vouched into it.
pub fn platform_group(entry: &str) -> Option<(Platform, &str)> {
    let e = entry.trim();
    let e = strip_prefix_ci(e, "slack:").map(str::trim).unwrap_or(e);
    let e = e
        .strip_prefix("<!subteam^")
        .map(|rest| {
            rest.trim_end_matches('>')
                .split('|')
                .next()
                .unwrap_or_default()
        })
        .unwrap_or(e);
    let slack_group = e.len() >= 7
        && e.starts_with('S')
        && e.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && e.bytes().any(|b| b.is_ascii_digit());
    slack_group.then_some((Platform::Slack, e))
}

/// One person as the config links them: `[[people]] name = "Alice", ids =
/// ["slack:U0ALICE", "teams:alice@example.com"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonConfig {
    /// For people to read (logs, errors); not used for matching.
    #[serde(default)]
    pub name: Option<String>,
    /// Their identities on each platform, in any form [`Identity::parse`] takes.
    pub ids: Vec<String>,
}

/// A linked person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: Option<String>,
    pub ids: Vec<Identity>,
}

/// Every linked person, looked up by any of their identities.
#[derive(Debug, Clone, Default)]
pub struct People {
    people: Vec<Person>,
    by_identity: HashMap<Identity, usize>,
}

impl People {
    /// Links the configured people; an identity listed for two people, a
    /// group, or a person with no ids is refused.
    pub fn new(config: &[PersonConfig]) -> Result<Self, String> {
        let mut me = Self::default();
        for (i, p) in config.iter().enumerate() {
            let label = p.name.clone().unwrap_or_else(|| format!("people[{i}]"));
            if p.ids.is_empty() {
                return Err(format!("{label}: `ids` must list at least one identity"));
            }
            let mut ids = Vec::new();
            for raw in &p.ids {
                let id = Identity::parse(raw).map_err(|e| format!("{label}: {e}"))?;
                if let Some(other) = me.by_identity.insert(id.clone(), i)
                    && other != i
                {
                    let first = me.people[other].name.clone();
                    return Err(format!(
                        "{id} is listed for two people ({} and {label}); each identity belongs to one person",
                        first.unwrap_or_else(|| format!("people[{other}]"))
                    ));
                }
                ids.push(id);
            }
            me.people.push(Person {
                name: p.name.clone(),
                ids,
            });
        }
        Ok(me)
    }

    /// The person an identity belongs to, if linked.
    pub fn person(&self, id: &Identity) -> Option<&Person> {
        self.by_identity.get(id).map(|&i| &self.people[i])
    }

    /// What comparisons use for `raw`: the linked person (`person:N`), else
    /// the identity itself. Text that does not parse as a person (a group,
    /// an empty string) is compared as written, trimmed.
    pub fn key(&self, raw: &str) -> String {
        match Identity::parse(raw) {
            Ok(id) => match self.by_identity.get(&id) {
                Some(i) => format!("person:{i}"),
                None => id.to_string(),
            },
            Err(_) => raw.trim().to_owned(),
        }
    }

    /// Whether `a` and `b` name the same person.
    pub fn same(&self, a: &str, b: &str) -> bool {
        self.key(a) == self.key(b)
    }

    /// Whether `a` and `b` could be one person under any reading: [`Self::same`],
    /// or a bare name that is a Slack id written in lower case (`u123` and
    /// `U123`). For the checks that refuse (self-approval, one vote per
    /// person), where guessing "different" would let someone through;
    /// allowlists, which grant, use [`Self::same`].
    pub fn might_be_same(&self, a: &str, b: &str) -> bool {
        self.same(a, b) || loose(a).is_some_and(|x| loose(b).is_some_and(|y| x == y))
    }

    pub fn is_empty(&self) -> bool {
        self.people.is_empty()
    }
}

/// A Slack or bare id, case-folded with its platform dropped.
fn loose(raw: &str) -> Option<String> {
    let id = Identity::parse(raw).ok()?;
    matches!(id.platform, Platform::Slack | Platform::Local).then(|| id.id.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusing_checks_treat_a_lower_case_slack_id_as_the_same_person() {
        let people = People::default();
        for (a, b) in [
            ("U123", "u123"),
            ("U123 ", "slack:U123"),
            ("<@U123>", "u123"),
            ("alice", "ALICE"),
        ] {
            assert!(people.might_be_same(a, b), "{a} / {b}");
        }
        assert!(!people.same("U123", "u123"), "allowlists stay strict");
        assert!(!people.might_be_same("U123", "U124"));
        assert!(!people.might_be_same("email:a@x.io", "a@x.io"));
    }

    fn shown(raw: &str) -> String {
        Identity::parse(raw)
            .map(|i| i.to_string())
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn identities_are_normalised_per_platform() {
        let table = [
            ("U0ALICE1", "slack:U0ALICE1"),
            ("  U0ALICE1 ", "slack:U0ALICE1"),
            ("<@U0ALICE1>", "slack:U0ALICE1"),
            ("<@U0ALICE1|alice>", "slack:U0ALICE1"),
            ("slack:u0alice1", "slack:U0ALICE1"),
            ("SLACK:<@U0ALICE1>", "slack:U0ALICE1"),
            ("W012AB3CD", "slack:W012AB3CD"),
            (
                "teams:6B1F2C3D-0000-4A5B-9C8D-ABCDEF012345",
                "teams:6b1f2c3d-0000-4a5b-9c8d-abcdef012345",
            ),
            ("teams:Alice@Contoso.com", "teams:alice@contoso.com"),
            ("teams:29:1AbC-xyZ", "teams:29:1AbC-xyZ"),
            ("email:Alice@Example.COM", "email:alice@example.com"),
            ("Alice", "alice"),
            ("WALTER", "walter"),
            ("agent one", "agent one"),
        ];
        let wrong: Vec<_> = table
            .iter()
            .filter(|(raw, want)| shown(raw) != *want)
            .map(|(raw, want)| format!("{raw:?}: got {}, want {want}", shown(raw)))
            .collect();
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn bad_identities_say_what_is_wrong() {
        for raw in [
            "",
            "  ",
            "slack:",
            "slack:U 1",
            "teams:",
            "email:alice",
            "group:sre",
            "S0123ABC",
        ] {
            assert!(Identity::parse(raw).is_err(), "{raw:?} parsed");
        }
        let e = Identity::parse("email:nobody").unwrap_err().to_string();
        assert!(e.contains("alice@example.com"), "{e}");
    }

    #[test]
    fn platform_groups_are_recognised_in_every_form() {
        for raw in [
            "S0123ABC",
            "slack:S0123ABC",
            "<!subteam^S0123ABC|sre>",
            "<!subteam^S0123ABC>",
        ] {
            assert_eq!(
                platform_group(raw),
                Some((Platform::Slack, "S0123ABC")),
                "{raw}"
            );
        }
        for raw in ["U0123ABC", "group:sre", "SAMANTHA", "sam"] {
            assert_eq!(platform_group(raw), None, "{raw}");
        }
    }

    #[test]
    fn linked_identities_are_one_person() {
        let people = People::new(&[PersonConfig {
            name: Some("Alice".into()),
            ids: vec![
                "slack:U0ALICE1".into(),
                "teams:alice@contoso.com".into(),
                "alice".into(),
            ],
        }])
        .unwrap();
        assert!(people.same("<@U0ALICE1>", "teams:ALICE@contoso.com"));
        assert!(people.same("Alice", "U0ALICE1"));
        assert!(!people.same("U0BOB1", "U0ALICE1"));
        assert!(people.same("U0BOB1", "slack:u0bob1"));
    }

    #[test]
    fn one_identity_cannot_belong_to_two_people() {
        let e = People::new(&[
            PersonConfig {
                name: Some("A".into()),
                ids: vec!["U0X1".into()],
            },
            PersonConfig {
                name: Some("B".into()),
                ids: vec!["slack:U0X1".into()],
            },
        ])
        .unwrap_err();
        assert!(e.contains("two people"), "{e}");
        assert!(
            People::new(&[PersonConfig {
                name: None,
                ids: vec![]
            }])
            .is_err()
        );
        assert!(
            People::new(&[PersonConfig {
                name: None,
                ids: vec!["group:sre".into()]
            }])
            .is_err()
        );
    }
}
