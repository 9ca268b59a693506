//! The signature check in front of every Slack HTTP endpoint, as an axum
//! extractor: handlers only ever receive a verified, typed payload.
//!
//! In order, from the headers alone: a signature and a timestamp within 5
//! minutes of the service's clock (overflow-safe), a declared length within
//! [`BODY_LIMIT`]; then the body is read, up to [`BODY_LIMIT`] and within
//! [`BODY_TIMEOUT`]; the `v0` signature over the raw
//! body is checked with slack-morphism's `SlackEventSignatureVerifier`
//! (HMAC-SHA256, constant-time compare, its own 5-minute window on the
//! system clock) against every live signing secret (two while rotating);
//! a signature seen before is refused as a replay (kept in the store until
//! its signed timestamp leaves the window, so a restart does not reopen
//! it); only then is the
//! body parsed. Every refusal is a JSON error (401, or 413/408 for the
//! body) and changes nothing.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderMap, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use slack_morphism::prelude::SlackSigningSecret;
use slack_morphism::signature_verifier::{
    SlackEventSignatureVerifier, SlackEventSignatureVerifierError,
};

use super::payloads::SlackBody;
use super::{PLATFORM, Slack};
use crate::api::error::AppError;

/// Largest body accepted from Slack. Commands and events are a few KiB;
/// an interaction carries the clicked card, which our cards keep to tens of
/// KiB (form-encoded). Bigger is not Slack.
pub const BODY_LIMIT: usize = 256 * 1024;

/// How long the body of a Slack request may take to arrive once its
/// headers passed. Slack sends the whole request at once.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// How far a request's timestamp may be from now (Slack's rule).
pub const WINDOW_SECS: i64 = 300;

const SIGNATURE_HEADER: &str = SlackEventSignatureVerifier::SLACK_SIGNED_HASH_HEADER;
const TIMESTAMP_HEADER: &str = SlackEventSignatureVerifier::SLACK_SIGNED_TIMESTAMP;

/// The live signing secrets, as slack-morphism verifiers.
pub struct Signing {
    verifiers: Vec<SlackEventSignatureVerifier>,
}

impl Signing {
    pub fn new(secrets: &[SecretString]) -> Self {
        Self {
            verifiers: secrets
                .iter()
                .filter(|s| !s.expose_secret().is_empty())
                .map(|s| {
                    SlackEventSignatureVerifier::new(&SlackSigningSecret(
                        s.expose_secret().to_owned(),
                    ))
                })
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.verifiers.is_empty()
    }

    /// Whether `signature` signs `body` at `timestamp` with any live secret.
    /// Every secret is tried, so timing does not tell which one matched.
    fn verify(&self, signature: &str, body: &str, timestamp: &str) -> Result<(), &'static str> {
        let mut ok = false;
        let mut stale = false;
        for v in &self.verifiers {
            match v.verify(signature, body, timestamp) {
                Ok(()) => ok = true,
                Err(SlackEventSignatureVerifierError::IncorrectOrExpiredTimestampError(_)) => {
                    stale = true
                }
                Err(_) => {}
            }
        }
        match (ok, stale) {
            (true, _) => Ok(()),
            (false, true) => Err("the request timestamp is more than 5 minutes from now"),
            (false, false) => Err("invalid X-Slack-Signature"),
        }
    }
}

/// A Slack request whose signature checked out, with its parsed body.
#[derive(Debug)]
pub struct Verified<T> {
    pub body: T,
    /// `X-Slack-Retry-Num`: set on Slack's redeliveries of an event.
    pub retry_num: Option<u32>,
}

impl<T: SlackBody + Send> FromRequest<Arc<Slack>> for Verified<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, slack: &Arc<Slack>) -> Result<Self, AppError> {
        // Everything the headers can refuse is refused before a byte of the
        // body is read: a stranger's upload costs no memory and no wait.
        let headers = req.headers();
        let signature = header(headers, SIGNATURE_HEADER)?.to_owned();
        let timestamp = header(headers, TIMESTAMP_HEADER)?.to_owned();
        let retry_num = headers
            .get("x-slack-retry-num")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let too_large = || {
            AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("request body is larger than {} KiB", BODY_LIMIT / 1024),
            )
        };
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let svc = slack.service().map_err(|e| {
            tracing::error!(error = %e, "Slack request before the service started");
            AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the service is starting",
            )
        })?;
        let ts: i64 = timestamp
            .parse()
            .map_err(|_| AppError::unauthorized("X-Slack-Request-Timestamp is not a number"))?;
        // Our own clock first (injectable), then slack-morphism's (system) check.
        let now = svc.now().timestamp();
        if !within_window(now, ts) {
            return Err(AppError::unauthorized(
                "the request timestamp is more than 5 minutes from now",
            ));
        }
        if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
            return Err(too_large());
        }
        let read = axum::body::to_bytes(req.into_body(), BODY_LIMIT);
        let too_slow = || {
            AppError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "the request body did not arrive within {} s",
                    BODY_TIMEOUT.as_secs()
                ),
            )
        };
        let bytes = match tokio::time::timeout(BODY_TIMEOUT, read).await {
            Ok(Ok(bytes)) => bytes,
            // The server's idle timeout on bodies may fire first.
            Ok(Err(e)) if timed_out(&e) => return Err(too_slow()),
            Ok(Err(_)) => return Err(too_large()),
            Err(_) => return Err(too_slow()),
        };
        // Slack signs UTF-8 text; other bytes cannot carry a valid signature.
        let body = std::str::from_utf8(&bytes)
            .map_err(|_| AppError::unauthorized("invalid X-Slack-Signature"))?;
        slack
            .signing
            .verify(&signature, body, &timestamp)
            .map_err(AppError::unauthorized)?;
        // A signature covers the timestamp, so it can only be replayed while
        // that timestamp is inside the window: remember it until then, by the
        // signed timestamp rather than by when it arrived.
        let key = format!("{PLATFORM}:sig:{signature}");
        let first = svc
            .claim_once(&key, replay_memory(now, ts))
            .await
            .map_err(AppError::from)?;
        if !first {
            return Err(AppError::unauthorized(
                "this request was already received (replay)",
            ));
        }
        Ok(Verified {
            body: T::parse(body.as_bytes())?,
            retry_num,
        })
    }
}

/// Whether reading a body failed on the server's idle timeout.
fn timed_out(e: &axum::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Whether a request signed at `ts` may be accepted at `now` (both Unix
/// seconds). Any `i64` is safe: a difference that does not fit is outside.
fn within_window(now: i64, ts: i64) -> bool {
    now.checked_sub(ts)
        .is_some_and(|d| d.unsigned_abs() <= WINDOW_SECS as u64)
}

/// How long a signature must be remembered, seen at `now`, so that a replay
/// is refused for as long as its timestamp `ts` is inside the window (plus
/// a minute for clocks that disagree). Only called within the window.
fn replay_memory(now: i64, ts: i64) -> Duration {
    let until = ts.saturating_add(WINDOW_SECS + 60);
    Duration::from_secs(until.saturating_sub(now).max(60) as u64)
}

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, AppError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            AppError::unauthorized(format!("missing {name} header: not a signed Slack request"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_holds_at_every_i64() {
        let now = 1_800_000_000;
        assert!(within_window(now, now));
        assert!(within_window(now, now - WINDOW_SECS));
        assert!(within_window(now, now + WINDOW_SECS));
        assert!(!within_window(now, now - WINDOW_SECS - 1));
        assert!(!within_window(now, now + WINDOW_SECS + 1));
        for ts in [i64::MAX, i64::MIN, i64::MIN + 1, 0, -1] {
            assert!(!within_window(now, ts), "{ts}");
        }
        assert!(!within_window(i64::MIN, i64::MAX));
        assert!(!within_window(i64::MAX, i64::MIN));
    }

    #[test]
    fn a_signature_is_remembered_until_its_timestamp_leaves_the_window() {
        let now = 1_800_000_000;
        // Signed 5 minutes ahead: acceptable until ts + 300, so remembered
        // past that, not just 10 minutes from arrival.
        let ts = now + WINDOW_SECS;
        let kept = replay_memory(now, ts).as_secs() as i64;
        assert!(now + kept > ts + WINDOW_SECS, "{kept}");
        // Signed 5 minutes ago: it leaves the window now; a minute's margin.
        assert_eq!(replay_memory(now, now - WINDOW_SECS).as_secs(), 60);
        assert_eq!(
            replay_memory(now, i64::MAX).as_secs(),
            u64::try_from(i64::MAX - now).unwrap()
        );
    }
}
