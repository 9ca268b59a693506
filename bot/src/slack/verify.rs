//! The signature check in front of every Slack HTTP endpoint, as an axum
//! extractor: handlers only ever receive a verified, typed payload.
//!
//! In order: the body is read up to [`BODY_LIMIT`]; the timestamp must be
//! within 5 minutes of the service's clock; the `v0` signature over the raw
//! body is checked with slack-morphism's `SlackEventSignatureVerifier`
//! (HMAC-SHA256, constant-time compare, its own 5-minute window on the
//! system clock) against every live signing secret (two while rotating);
//! a signature seen before within the window is refused as a replay (kept in
//! the store, so a restart does not reopen the window); only then is the
//! body parsed. Every refusal is a 401 with a JSON error and changes
//! nothing.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use slack_morphism::prelude::SlackSigningSecret;
use slack_morphism::signature_verifier::{
    SlackEventSignatureVerifier, SlackEventSignatureVerifierError,
};

use super::payloads::SlackBody;
use super::{PLATFORM, Slack};
use crate::api::error::AppError;

/// Largest body accepted from Slack. Interaction payloads carry the clicked
/// message, so they can be tens of KiB; none comes near this.
pub const BODY_LIMIT: usize = 1024 * 1024;

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
        let headers = req.headers().clone();
        let signature = header(&headers, SIGNATURE_HEADER)?;
        let timestamp = header(&headers, TIMESTAMP_HEADER)?;
        let retry_num = headers
            .get("x-slack-retry-num")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let bytes = axum::body::to_bytes(req.into_body(), BODY_LIMIT)
            .await
            .map_err(|_| {
                AppError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("request body is larger than {} KiB", BODY_LIMIT / 1024),
                )
            })?;
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
        if (svc.now().timestamp() - ts).abs() > WINDOW_SECS {
            return Err(AppError::unauthorized(
                "the request timestamp is more than 5 minutes from now",
            ));
        }
        // Slack signs UTF-8 text; other bytes cannot carry a valid signature.
        let body = std::str::from_utf8(&bytes)
            .map_err(|_| AppError::unauthorized("invalid X-Slack-Signature"))?;
        slack
            .signing
            .verify(signature, body, timestamp)
            .map_err(AppError::unauthorized)?;
        // A signature covers the timestamp, so it can only be replayed inside
        // the window; remember it a little longer than that.
        let key = format!("{PLATFORM}:sig:{signature}");
        let first = svc
            .claim_once(&key, Duration::from_secs(2 * WINDOW_SECS as u64))
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
