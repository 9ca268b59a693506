//! The signing keys of one token issuer, from its OpenID metadata and JWKS,
//! cached.
//!
//! Nothing is fetched at start-up: the first token to check fetches the
//! metadata, then its `jwks_uri`. The keys are kept for
//! [`CachePolicy::max_age`] (12 h); a token naming a key id the cache does
//! not have triggers a refetch, at most once per
//! [`CachePolicy::refetch_every`], so forged tokens with made-up key ids
//! cannot make the bot call out. A failed fetch is retried at most once per
//! [`CachePolicy::retry_after_failure`]; meanwhile stale keys are still used
//! and, without any, tokens are refused. Every fetch is bounded by
//! [`CachePolicy::timeout`], so an unreachable issuer costs a request at
//! most that long and the answer is a 401, never a hang or a 5xx.
//!
//! Only RSA signature keys are kept (`kty` RSA, `use` absent or `sig`,
//! `alg` absent or RS256), with their `endorsements` (the channels a Bot
//! Framework key may sign for), which `jsonwebtoken`'s JWK type drops.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::service_url;

/// How long keys are kept and how often the issuer may be called.
#[derive(Debug, Clone, Copy)]
pub struct CachePolicy {
    /// Keys older than this are refetched (Microsoft: at most every 12 h is enough).
    pub max_age: Duration,
    /// The least time between two fetches caused by unknown key ids.
    pub refetch_every: Duration,
    /// The least time between two attempts after a failed fetch.
    pub retry_after_failure: Duration,
    /// The most one fetch (metadata and keys together) may take.
    pub timeout: Duration,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(12 * 3600),
            refetch_every: Duration::from_secs(300),
            retry_after_failure: Duration::from_secs(10),
            timeout: Duration::from_millis(1000),
        }
    }
}

/// One signing key.
pub struct SigningKey {
    pub decoding: DecodingKey,
    /// The channels this key may sign for (`msteams`…); `None` when the
    /// JWKS does not say (Entra keys).
    pub endorsements: Option<Vec<String>>,
}

/// Why no key could be found for a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the token's signing key {kid:?} is not published by its issuer")]
    Unknown { kid: String },
    #[error(
        "the issuer's signing keys cannot be fetched right now ({why}); the token cannot be checked"
    )]
    Unavailable { why: String },
}

#[derive(Default)]
struct State {
    keys: Option<Arc<HashMap<String, Arc<SigningKey>>>>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
    last_failed: bool,
}

/// The cached keys of one issuer.
pub struct KeySource {
    metadata_url: String,
    http: reqwest::Client,
    policy: CachePolicy,
    state: Mutex<State>,
}

/// Largest metadata or JWKS document read.
const DOCUMENT_LIMIT: usize = 512 * 1024;

impl KeySource {
    pub fn new(metadata_url: String, http: reqwest::Client, policy: CachePolicy) -> Self {
        Self {
            metadata_url,
            http,
            policy,
            state: Mutex::new(State::default()),
        }
    }

    /// The key with id `kid`, fetching (see the module docs) if needed.
    pub async fn key(&self, kid: &str) -> Result<Arc<SigningKey>, KeyError> {
        // One fetch at a time: waiting callers use its result.
        let mut state = self.state.lock().await;
        let now = Instant::now();
        let known = state.keys.as_ref().and_then(|k| k.get(kid).cloned());
        if should_fetch(&state, known.is_some(), now, &self.policy) {
            state.last_attempt = Some(now);
            match tokio::time::timeout(self.policy.timeout, self.fetch()).await {
                Ok(Ok(keys)) => {
                    tracing::info!(url = %self.metadata_url, keys = keys.len(), "fetched Teams token signing keys");
                    state.keys = Some(Arc::new(keys));
                    state.fetched_at = Some(now);
                    state.last_failed = false;
                }
                Ok(Err(why)) => fail(&mut state, &self.metadata_url, why),
                Err(_) => fail(
                    &mut state,
                    &self.metadata_url,
                    format!("no answer within {} ms", self.policy.timeout.as_millis()),
                ),
            }
        }
        let Some(keys) = &state.keys else {
            return Err(KeyError::Unavailable {
                why: format!("{} did not answer with keys", self.metadata_url),
            });
        };
        keys.get(kid).cloned().ok_or_else(|| KeyError::Unknown {
            kid: kid.to_string(),
        })
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<SigningKey>>, String> {
        #[derive(Deserialize)]
        struct Metadata {
            jwks_uri: String,
        }
        let metadata: Metadata = self.get_json(&self.metadata_url).await?;
        let jwks: Jwks = self.get_json(&metadata.jwks_uri).await?;
        Ok(jwks.signing_keys())
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let url = service_url::parse(url).map_err(|e| e.to_string())?;
        let mut resp = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("{url} answered {}", resp.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| format!("{url}: {e}"))? {
            body.extend_from_slice(&chunk);
            if body.len() > DOCUMENT_LIMIT {
                return Err(format!("{url} sent more than {DOCUMENT_LIMIT} bytes"));
            }
        }
        serde_json::from_slice(&body).map_err(|e| format!("{url}: not the expected JSON: {e}"))
    }
}

fn fail(state: &mut State, url: &str, why: String) {
    let stale = state.keys.is_some();
    tracing::warn!(url, error = %why, using_stale_keys = stale, "cannot fetch Teams token signing keys");
    state.last_failed = true;
}

/// Whether to call the issuer now (the rules in the module docs).
fn should_fetch(state: &State, kid_known: bool, now: Instant, policy: &CachePolicy) -> bool {
    let since = |t: Option<Instant>| t.map(|t| now.saturating_duration_since(t));
    let since_attempt = since(state.last_attempt);
    if state.last_failed && since_attempt.is_some_and(|d| d < policy.retry_after_failure) {
        return false;
    }
    let fresh = state.keys.is_some() && since(state.fetched_at).is_some_and(|d| d < policy.max_age);
    if !fresh {
        return true;
    }
    !kid_known && since_attempt.is_none_or(|d| d >= policy.refetch_every)
}

#[derive(Deserialize)]
struct Jwks {
    #[serde(default)]
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    #[serde(default)]
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    endorsements: Option<Vec<String>>,
}

impl Jwks {
    fn signing_keys(self) -> HashMap<String, Arc<SigningKey>> {
        self.keys
            .into_iter()
            .filter(|k| k.kty == "RSA")
            .filter(|k| k.use_.as_deref().is_none_or(|u| u == "sig"))
            .filter(|k| k.alg.as_deref().is_none_or(|a| a == "RS256"))
            .filter_map(|k| {
                let decoding =
                    DecodingKey::from_rsa_components(k.n.as_deref()?, k.e.as_deref()?).ok()?;
                Some((
                    k.kid?,
                    Arc::new(SigningKey {
                        decoding,
                        endorsements: k.endorsements,
                    }),
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(
        keys: bool,
        fetched: Option<u64>,
        attempt: Option<u64>,
        failed: bool,
        now: Instant,
    ) -> State {
        let ago = |s: u64| now - Duration::from_secs(s);
        State {
            keys: keys.then(Default::default),
            fetched_at: fetched.map(ago),
            last_attempt: attempt.map(ago),
            last_failed: failed,
        }
    }

    #[test]
    fn the_issuer_is_called_only_when_the_rules_say_so() {
        let p = CachePolicy::default();
        let now = Instant::now() + Duration::from_secs(100_000);
        // Nothing cached yet: fetch.
        assert!(should_fetch(
            &state(false, None, None, false, now),
            false,
            now,
            &p
        ));
        // Fresh keys, known kid: no call.
        assert!(!should_fetch(
            &state(true, Some(60), Some(60), false, now),
            true,
            now,
            &p
        ));
        // Fresh keys, unknown kid, last call a minute ago: no call (rate limit).
        assert!(!should_fetch(
            &state(true, Some(60), Some(60), false, now),
            false,
            now,
            &p
        ));
        // ... six minutes ago: one refetch.
        assert!(should_fetch(
            &state(true, Some(360), Some(360), false, now),
            false,
            now,
            &p
        ));
        // Keys older than 12 h: refetch even for a known kid.
        assert!(should_fetch(
            &state(true, Some(12 * 3600), Some(12 * 3600), false, now),
            true,
            now,
            &p
        ));
        // ... but not within 10 s of a failed attempt.
        assert!(!should_fetch(
            &state(true, Some(13 * 3600), Some(5), true, now),
            true,
            now,
            &p
        ));
        assert!(!should_fetch(
            &state(false, None, Some(5), true, now),
            false,
            now,
            &p
        ));
        assert!(should_fetch(
            &state(false, None, Some(11), true, now),
            false,
            now,
            &p
        ));
    }

    #[test]
    fn only_rsa_signature_keys_with_id_are_kept() {
        let jwks: Jwks = serde_json::from_value(serde_json::json!({ "keys": [
            { "kty": "RSA", "kid": "a", "n": "sXch", "e": "AQAB", "endorsements": ["msteams"] },
            { "kty": "RSA", "kid": "b", "n": "sXch", "e": "AQAB", "use": "enc" },
            { "kty": "RSA", "kid": "c", "n": "sXch", "e": "AQAB", "alg": "RS512" },
            { "kty": "EC", "kid": "d", "crv": "P-256", "x": "x", "y": "y" },
            { "kty": "RSA", "n": "sXch", "e": "AQAB" },
            { "kty": "RSA", "kid": "f", "n": "sXch", "e": "AQAB", "alg": "RS256", "use": "sig", "x5c": ["MIIB"] }
        ]})).unwrap();
        let keys = jwks.signing_keys();
        let mut ids: Vec<&String> = keys.keys().collect();
        ids.sort();
        assert_eq!(ids, ["a", "f"]);
        assert_eq!(
            keys["a"].endorsements.as_deref(),
            Some(&["msteams".to_string()][..])
        );
        assert!(keys["f"].endorsements.is_none());
    }
}
