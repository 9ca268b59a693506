//! The check in front of `POST /teams/webhook` (a Teams outgoing webhook),
//! as an axum extractor.
//!
//! Teams signs each request with the webhook's security token:
//! `Authorization: HMAC <base64(HMAC-SHA256(base64-decoded token, raw body))>`.
//! The body is read up to [`BODY_LIMIT`], must be UTF-8, and the HMAC is
//! compared in constant time against every live secret (two while one is
//! rotated out); only then is the body parsed. A refusal is a 401 with a
//! JSON error and changes nothing.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequest, Request};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde::de::DeserializeOwned;
use sha2::Sha256;

use super::activity::Activity;
use super::settings::SettingsError;
use crate::api::error::AppError;

/// Largest webhook body accepted: a message with its text and mentions.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The webhook's live secrets, decoded.
pub struct WebhookAuth {
    keys: Vec<SecretBox<Vec<u8>>>,
}

impl WebhookAuth {
    /// From the security tokens as Teams shows them (base64). Empty
    /// entries are skipped; one that is not base64 is an error.
    pub fn new(secrets: &[SecretString]) -> Result<Self, SettingsError> {
        let keys = secrets
            .iter()
            .map(|s| s.expose_secret().trim().to_string())
            .filter(|s| !s.is_empty())
            .map(|s| {
                STANDARD
                    .decode(s)
                    .ok()
                    .filter(|k| !k.is_empty())
                    .map(|k| SecretBox::new(Box::new(k)))
                    .ok_or(SettingsError::WebhookSecretNotBase64)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { keys })
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether `signature` (base64) is the HMAC of `body` under a live
    /// secret. Every secret is tried, so timing does not tell which matched.
    pub fn verify(&self, signature: &str, body: &[u8]) -> bool {
        let Ok(tag) = STANDARD.decode(signature.trim()) else {
            return false;
        };
        let mut ok = false;
        for key in &self.keys {
            // HMAC takes a key of any length, so this cannot fail.
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.expose_secret()) else {
                continue;
            };
            mac.update(body);
            ok |= mac.verify_slice(&tag).is_ok();
        }
        ok
    }
}

/// An outgoing-webhook request whose HMAC checked out, with its activity.
#[derive(Debug)]
pub struct WebhookVerified<T = Activity> {
    pub activity: T,
}

impl<S, T> FromRequest<S> for WebhookVerified<T>
where
    S: Send + Sync,
    Arc<WebhookAuth>: FromRef<S>,
    T: DeserializeOwned,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let auth = Arc::<WebhookAuth>::from_ref(state);
        let signature = req
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().strip_prefix("HMAC "))
            .map(str::to_string)
            .ok_or_else(|| {
                AppError::unauthorized(
                    "missing Authorization: HMAC signature: not a Teams outgoing webhook",
                )
            })?;
        let bytes = axum::body::to_bytes(req.into_body(), BODY_LIMIT)
            .await
            .map_err(|_| {
                AppError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("request body is larger than {} KiB", BODY_LIMIT / 1024),
                )
            })?;
        // Teams signs UTF-8 text; other bytes cannot carry a valid HMAC.
        if auth.is_empty()
            || std::str::from_utf8(&bytes).is_err()
            || !auth.verify(&signature, &bytes)
        {
            return Err(AppError::unauthorized("invalid HMAC signature"));
        }
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        let activity = serde_path_to_error::deserialize(de).map_err(|e| {
            AppError::bad_request(
                "invalid_activity",
                format!("invalid activity at {}: {}", e.path(), e.inner()),
            )
        })?;
        Ok(WebhookVerified { activity })
    }
}
