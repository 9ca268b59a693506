//! Which Bot Connector service URLs the bot trusts, and comparing them.
//!
//! An activity names the connector (`serviceUrl`) that the bot answers and
//! posts to, with the bot's own access token. An attacker who could make the
//! bot trust a URL of theirs would receive that token, so the URL must be on
//! an allowlist: Microsoft's public Teams hosts by default, plus the entries
//! of `TEAMS_ALLOWED_SERVICE_URLS`. Entries are matched on scheme, host and
//! port, never on a wildcard (anyone can register a name under
//! `trafficmanager.net`): a bare host name means `https` on 443, and a local
//! test connector on one port admits no other port. Plain `http` is only
//! accepted for loopback hosts.

use std::fmt;
use std::net::IpAddr;

use url::Url;

/// Microsoft's public Teams connector hosts (https, port 443).
pub const DEFAULT_HOSTS: [&str; 3] = [
    "smba.trafficmanager.net",
    "smba.onyx.prod.teams.trafficmanager.net",
    "smba.infra.gcc.teams.microsoft.com",
];

/// Why a URL is not a service URL the bot may use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceUrlError {
    #[error("{} is not a valid URL: {why}", shown(.url))]
    Invalid { url: String, why: String },
    #[error("{} uses http, which is only accepted for loopback hosts; use https", shown(.url))]
    PlainHttp { url: String },
    #[error(
        "service URL {} is not allowed: add its origin to TEAMS_ALLOWED_SERVICE_URLS if it is a genuine connector",
        shown(.url)
    )]
    NotAllowed { url: String },
    #[error(
        "TEAMS_ALLOWED_SERVICE_URLS entry {entry:?} has a wildcard; list each connector host exactly"
    )]
    Wildcard { entry: String },
}

/// `raw` as errors and logs may show it: scheme, host, port and path, never
/// a user name, password, query or fragment (where secrets ride along).
pub fn shown(raw: &str) -> String {
    match Url::parse(raw.trim()) {
        Ok(u) => {
            let host = u.host_str().unwrap_or_default();
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            let extra = if u.username().is_empty() && u.password().is_none() && u.query().is_none()
            {
                ""
            } else {
                " (user name, password and query not shown)"
            };
            format!("\"{}://{host}{port}{}\"{extra}", u.scheme(), u.path())
        }
        Err(_) => "(a value that is not a URL, not shown)".to_string(),
    }
}

/// Scheme, host and port: what an allowlist entry pins down.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// The allowlist of connector origins.
#[derive(Debug, Clone)]
pub struct ServiceUrlPolicy {
    allowed: Vec<Origin>,
}

impl Default for ServiceUrlPolicy {
    fn default() -> Self {
        Self {
            allowed: DEFAULT_HOSTS
                .iter()
                .map(|host| Origin {
                    scheme: "https".to_string(),
                    host: (*host).to_string(),
                    port: 443,
                })
                .collect(),
        }
    }
}

impl ServiceUrlPolicy {
    /// Microsoft's hosts plus `extra` (URLs, or bare host names for https
    /// on 443). An entry that is not a URL, uses a wildcard, or is plain
    /// http to a host that is not loopback is an error.
    pub fn new(extra: &[String]) -> Result<Self, ServiceUrlError> {
        let mut policy = Self::default();
        for entry in extra.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            if entry.contains('*') {
                return Err(ServiceUrlError::Wildcard {
                    entry: entry.to_string(),
                });
            }
            let url = if entry.contains("://") {
                entry.to_string()
            } else {
                format!("https://{entry}/")
            };
            let origin = origin(&parse(&url)?);
            if !policy.allowed.contains(&origin) {
                policy.allowed.push(origin);
            }
        }
        Ok(policy)
    }

    /// The URL, parsed, if it is an allowed connector; its path is kept
    /// (a connector's base URL ends with a region, like `/amer/`).
    pub fn check(&self, service_url: &str) -> Result<Url, ServiceUrlError> {
        let url = parse(service_url)?;
        if self.allowed.contains(&origin(&url)) {
            Ok(url)
        } else {
            Err(ServiceUrlError::NotAllowed {
                url: service_url.to_string(),
            })
        }
    }

    /// The allowed origins, for logs and error messages.
    pub fn origins(&self) -> Vec<String> {
        self.allowed.iter().map(Origin::to_string).collect()
    }
}

/// Parses a URL that the bot will send a secret to: https, or http to a
/// loopback host (for local test peers).
pub fn parse(raw: &str) -> Result<Url, ServiceUrlError> {
    let url = Url::parse(raw.trim()).map_err(|e| ServiceUrlError::Invalid {
        url: raw.to_string(),
        why: e.to_string(),
    })?;
    if url.host_str().is_none_or(str::is_empty)
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
    {
        // HTTP clients log request URLs at debug: nothing secret may be in one.
        return Err(ServiceUrlError::Invalid {
            url: raw.to_string(),
            why: "needs a host, and no user name, password or query string".to_string(),
        });
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(ServiceUrlError::PlainHttp {
            url: raw.to_string(),
        }),
        other => Err(ServiceUrlError::Invalid {
            url: raw.to_string(),
            why: format!("scheme {other:?} is neither https nor http"),
        }),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

fn origin(url: &Url) -> Origin {
    Origin {
        scheme: url.scheme().to_string(),
        host: url.host_str().unwrap_or_default().to_ascii_lowercase(),
        port: url.port_or_known_default().unwrap_or(0),
    }
}

/// A service URL in the form two copies of it are compared in: lower case,
/// without trailing slashes (Microsoft sends both spellings).
pub fn normalise(service_url: &str) -> String {
    service_url
        .trim()
        .trim_end_matches('/')
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(extra: &[&str]) -> ServiceUrlPolicy {
        ServiceUrlPolicy::new(&extra.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn urls_carrying_secrets_are_refused_without_repeating_them() {
        for raw in [
            "https://bot:s3cr3t@login.example.com/token",
            "https://:s3cr3t@login.example.com/token",
            "https://login.example.com/token?key=s3cr3t",
            "http://bot:s3cr3t@127.0.0.1:9/token?key=s3cr3t",
            "not a url s3cr3t",
        ] {
            let e = parse(raw).unwrap_err().to_string();
            assert!(!e.contains("s3cr3t"), "{raw}: {e}");
        }
        let e = parse("http://bot:s3cr3t@127.0.0.1:9/token")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("127.0.0.1:9/token") && e.contains("not shown"),
            "{e}"
        );
        let e = parse("http://example.com/amer/").unwrap_err().to_string();
        assert!(e.contains("\"http://example.com/amer/\""), "{e}");
    }

    #[test]
    fn microsoft_hosts_are_allowed_by_default_and_nothing_else() {
        let p = ServiceUrlPolicy::default();
        for ok in [
            "https://smba.trafficmanager.net/amer/",
            "https://SMBA.trafficmanager.net/emea",
            "https://smba.onyx.prod.teams.trafficmanager.net/",
            "https://smba.infra.gcc.teams.microsoft.com/gcc/",
            "https://smba.trafficmanager.net:443/amer/",
        ] {
            assert!(p.check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://evil.trafficmanager.net/amer/",
            "https://smba.trafficmanager.net.evil.example/",
            "https://smba.trafficmanager.net:8443/amer/",
            "http://smba.trafficmanager.net/amer/",
            "https://user@smba.trafficmanager.net/",
            "ftp://smba.trafficmanager.net/",
            "not a url",
        ] {
            assert!(p.check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn extra_entries_match_scheme_host_and_port() {
        let p = policy(&["http://127.0.0.1:4000", "connector.example.com"]);
        assert!(p.check("http://127.0.0.1:4000/amer/").is_ok());
        assert!(p.check("http://127.0.0.1:4001/amer/").is_err());
        assert!(p.check("https://127.0.0.1:4000/amer/").is_err());
        assert!(p.check("https://connector.example.com/x/").is_ok());
        assert!(p.check("https://connector.example.com:8443/x/").is_err());
        assert!(p.check("http://connector.example.com/x/").is_err());
    }

    #[test]
    fn wildcards_and_plain_http_to_remote_hosts_are_refused() {
        let err = |e: &str| ServiceUrlPolicy::new(&[e.to_string()]).unwrap_err();
        assert!(matches!(
            err("*.trafficmanager.net"),
            ServiceUrlError::Wildcard { .. }
        ));
        assert!(matches!(
            err("http://10.0.0.5:80"),
            ServiceUrlError::PlainHttp { .. }
        ));
        assert!(matches!(err("https://"), ServiceUrlError::Invalid { .. }));
    }

    #[test]
    fn normalising_ignores_case_and_trailing_slashes() {
        assert_eq!(
            normalise("https://SMBA.trafficmanager.net/amer/"),
            normalise("https://smba.trafficmanager.net/amer")
        );
    }
}
