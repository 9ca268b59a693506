//! One machine's conventions: where the service listens by default, where it
//! keeps its data, and the credential files it saves there for the gateway
//! and the terminal commands of the same user.
//!
//! The data folder is `--data-dir`, else `HITL_DATA_DIR`, else
//! `$XDG_DATA_HOME/hitl` (or the platform's data folder). Both binaries
//! resolve it here, so a gateway finds the token of a service started with
//! `HITL_DATA_DIR` too.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::secret::{Token, TokenError};

/// Where `hitl-bot serve` listens unless told otherwise.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8787";

/// The environment variable that moves the data folder.
pub const DATA_DIR_ENV: &str = "HITL_DATA_DIR";

/// The requester credential the local service saves for gateways.
pub const REQUESTER_TOKEN_FILE: &str = "token";

/// The approver credential the local service makes for the person who runs
/// it, used by `hitl-bot approve|reject|pending`.
pub const APPROVER_TOKEN_FILE: &str = "approver-token";

/// The platform's data folder for hitl, ignoring `HITL_DATA_DIR`.
pub fn platform_data_dir() -> PathBuf {
    dirs::data_dir()
        .map(|d| d.join("hitl"))
        .unwrap_or_else(|| PathBuf::from(".hitl"))
}

/// The data folder: `explicit`, else `HITL_DATA_DIR`, else the platform's.
pub fn data_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_owned();
    }
    // The one place outside the binaries' start-up that reads the
    // environment: the convention must resolve the same in both binaries,
    // including in code paths (the gateway's token lookup) with no flag.
    #[allow(clippy::disallowed_methods)]
    let env = std::env::var_os(DATA_DIR_ENV);
    match env {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => platform_data_dir(),
    }
}

/// The bearer token `hitl-mcp serve --listen` asks HTTP clients for when
/// no `--listen-token` is given, made by `hitl-mcp generate-config
/// --gateway-url` for the client config it writes.
pub const GATEWAY_LISTEN_TOKEN_FILE: &str = "gateway-listen-token";

pub fn gateway_listen_token_path(dir: &Path) -> PathBuf {
    dir.join(GATEWAY_LISTEN_TOKEN_FILE)
}

/// The token saved in `path`, or a new random one (256 bits, hex) written
/// owner-only. Returns the token and whether it was just made.
pub fn load_or_create_token(path: &Path) -> Result<(Token, bool), LocalError> {
    if let Some(t) = read_token(path)? {
        return Ok((t, false));
    }
    let fresh = crate::ids::new_token();
    if write_secret_file(path, &fresh)? {
        let t = Token::parse(&fresh, "a new token").map_err(|source| LocalError::Bad {
            path: path.display().to_string(),
            source,
        })?;
        return Ok((t, true));
    }
    // Another process made it first: use theirs.
    match read_token(path)? {
        Some(t) => Ok((t, false)),
        None => Err(LocalError::Read {
            path: path.display().to_string(),
            source: std::io::Error::other("the file vanished while it was being made"),
        }),
    }
}

pub fn requester_token_path(dir: &Path) -> PathBuf {
    dir.join(REQUESTER_TOKEN_FILE)
}

pub fn approver_token_path(dir: &Path) -> PathBuf {
    dir.join(APPROVER_TOKEN_FILE)
}

/// Why a credential file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}; delete it to have a new one made")]
    Bad { path: String, source: TokenError },
}

/// The token saved in `path`, if the file exists.
pub fn read_token(path: &Path) -> Result<Option<Token>, LocalError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Token::parse(&s, "the file")
            .map(Some)
            .map_err(|source| LocalError::Bad {
                path: path.display().to_string(),
                source,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(LocalError::Read {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Writes `secret` to a new file readable only by its owner (0600 on Unix).
/// Returns false, writing nothing, when the file already exists.
pub fn write_secret_file(path: &Path, secret: &str) -> Result<bool, LocalError> {
    let err = |source| LocalError::Write {
        path: path.display().to_string(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = match opts.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(err(e)),
    };
    f.write_all(secret.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)?;
    Ok(true)
}

/// Whether `url` points at this machine (127.0.0.0/8, ::1, `localhost`).
pub fn is_loopback_url(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    })
}

/// An outbound base URL (the approval service, Slack's Web API, a Bot
/// Framework endpoint): `https://`, or `http://` to this machine only, so a
/// typo cannot send tokens in clear text over a network.
pub fn check_outbound_base(url: &str, setting: &str) -> Result<(), String> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| format!("{setting} {url:?} is not a URL: {e}"))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_url(url) => Ok(()),
        "http" => Err(format!(
            "{setting} {url:?} uses plain http:// to another machine; use https:// (http:// is accepted only for 127.0.0.1, ::1 and localhost)"
        )),
        other => Err(format!(
            "{setting} {url:?} must be an https:// URL (got scheme {other:?})"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_files_are_owner_only_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = approver_token_path(&dir.path().join("sub"));
        assert!(write_secret_file(&path, "first").unwrap());
        assert!(!write_secret_file(&path, "second").unwrap());
        assert_eq!(read_token(&path).unwrap().unwrap().expose(), "first");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "  \n").unwrap();
        assert!(matches!(read_token(&path), Err(LocalError::Bad { .. })));
        assert!(read_token(&dir.path().join("none")).unwrap().is_none());
    }

    #[test]
    fn plain_http_only_to_this_machine() {
        for ok in [
            "https://slack.com/api/",
            "http://127.0.0.1:9000/api/",
            "http://127.8.9.10/",
            "http://[::1]:80/",
            "http://localhost:3000",
        ] {
            assert!(check_outbound_base(ok, "SLACK_API_URL").is_ok(), "{ok}");
        }
        for bad in [
            "http://slack.com/api/",
            "http://10.0.0.1/",
            "http://localhost.evil.example/",
            "ftp://127.0.0.1/",
            "not a url",
        ] {
            let e = check_outbound_base(bad, "SLACK_API_URL").unwrap_err();
            assert!(e.contains("SLACK_API_URL"), "{e}");
        }
    }
}
