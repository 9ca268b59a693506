//! The token check in front of `POST /teams/messages`, as an axum
//! extractor: handlers only ever receive an activity whose token checked
//! out, with who sent it.
//!
//! In order, before the body is even parsed: the body is read up to
//! [`BODY_LIMIT`]; the `Authorization: Bearer` token must be an RS256 JWT
//! with a key id; its issuer picks the one key set it may be signed with
//! (Bot Framework, or, when switched on, the configured Entra tenant), and
//! any other issuer is refused; the signature must verify with that key;
//! the audience must be the app id; expiry and not-before hold with 5
//! minutes of skew on the service's clock. Then the body's `channelId` must
//! be among the signing key's endorsements, the token's `serviceurl` claim
//! must equal the body's `serviceUrl` (case and trailing slash aside), and
//! that `serviceUrl` must be on the allowlist. Entra tokens must also carry
//! the configured tenant (`tid`) and a caller (`azp` or `appid`) on the
//! allowlist. Only then is the body parsed. A refusal is a 401 (403 for a
//! connector not on the allowlist) with a JSON error and changes nothing;
//! an issuer that cannot be reached is a 401 too.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequest, Request};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::activity::Activity;
use super::keys::{CachePolicy, KeyError, KeySource};
use super::service_url::{self, ServiceUrlPolicy};
use super::settings::{BOT_FRAMEWORK_ISSUER, SettingsError, TeamsSettings};
use crate::api::error::AppError;
use crate::clock::Clock;

/// Largest activity accepted. Invokes carry the card's data, a few KiB.
pub const BODY_LIMIT: usize = 256 * 1024;

/// Allowed clock skew for `exp` and `nbf` (Bot Framework's rule).
pub const SKEW_SECS: i64 = 300;

/// Who issued a token that checked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerKind {
    BotFramework,
    Entra,
}

/// What a verified token says about its sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub issuer: IssuerKind,
    /// The calling application (`azp` or `appid`), when the token names one.
    pub caller: Option<String>,
    /// The tenant (`tid`), when the token names one.
    pub tenant: Option<String>,
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing Authorization: Bearer token: not a request from Teams")]
    NoToken,
    #[error("the bearer token is not a JWT: {0}")]
    Malformed(String),
    #[error("token algorithm {0} is not accepted; Teams tokens are RS256")]
    Algorithm(String),
    #[error("the token has no key id (kid)")]
    NoKeyId,
    #[error("token issuer {0:?} is not accepted")]
    Issuer(String),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's signing key is not endorsed for channel {0:?}")]
    NotEndorsed(String),
    #[error("the token's serviceurl claim does not match the activity's serviceUrl")]
    ServiceUrlClaim,
    #[error("Entra token from tenant {0:?}, not the configured tenant")]
    Tenant(String),
    #[error("Entra token from caller {0:?}, which is not on TEAMS_ENTRA_ALLOWED_CALLERS")]
    Caller(String),
    #[error(transparent)]
    ServiceUrl(#[from] service_url::ServiceUrlError),
}

impl From<AuthError> for AppError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::ServiceUrl(_) => {
                AppError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string())
            }
            AuthError::Key(KeyError::Unavailable { .. }) => {
                tracing::warn!(error = %e, "Teams request refused: keys unavailable");
                AppError::unauthorized(e.to_string())
            }
            _ => AppError::unauthorized(e.to_string()),
        }
    }
}

struct EntraAuth {
    keys: KeySource,
    issuers: Vec<String>,
    tenant: String,
    callers: HashSet<String>,
}

/// Everything the check needs: the app id, the issuers' key caches, the
/// connector allowlist and the clock. Build it once; it calls nobody until
/// the first request.
pub struct TeamsAuth {
    app_id: String,
    bot_framework: KeySource,
    entra: Option<EntraAuth>,
    service_urls: ServiceUrlPolicy,
    clock: Clock,
}

/// A token that checked out, before the activity is looked at.
struct Token {
    identity: Identity,
    endorsements: Option<Vec<String>>,
    service_url: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    serviceurl: Option<String>,
    #[serde(default)]
    tid: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    appid: Option<String>,
}

impl TeamsAuth {
    /// From the settings, with the default cache policy.
    pub fn new(
        settings: &TeamsSettings,
        http: reqwest::Client,
        clock: Clock,
    ) -> Result<Self, SettingsError> {
        Self::with_policy(settings, http, clock, CachePolicy::default())
    }

    pub fn with_policy(
        settings: &TeamsSettings,
        http: reqwest::Client,
        clock: Clock,
        policy: CachePolicy,
    ) -> Result<Self, SettingsError> {
        settings.validate()?;
        let entra = match (
            settings.entra.enabled,
            &settings.tenant_id,
            settings.entra_openid_url(),
        ) {
            (true, Some(tenant), Some(url)) => Some(EntraAuth {
                keys: KeySource::new(url, http.clone(), policy),
                issuers: settings.entra_issuers(),
                tenant: tenant.to_ascii_lowercase(),
                callers: settings
                    .entra
                    .allowed_callers
                    .iter()
                    .map(|c| c.trim().to_ascii_lowercase())
                    .filter(|c| !c.is_empty())
                    .collect(),
            }),
            (true, _, _) => return Err(SettingsError::EntraWithoutTenant),
            (false, _, _) => None,
        };
        Ok(Self {
            app_id: settings.app_id.trim().to_string(),
            bot_framework: KeySource::new(settings.openid_url.clone(), http, policy),
            entra,
            service_urls: settings.service_url_policy()?,
            clock,
        })
    }

    /// The connector allowlist this check enforces.
    pub fn service_urls(&self) -> &ServiceUrlPolicy {
        &self.service_urls
    }

    /// Checks a bearer token and the activity it came with (module docs).
    pub async fn check(
        &self,
        token: &str,
        service_url: &str,
        channel_id: &str,
    ) -> Result<Identity, AuthError> {
        let checked = self.check_token(token).await?;
        self.check_activity(checked, service_url, channel_id)
    }

    async fn check_token(&self, token: &str) -> Result<Token, AuthError> {
        // `alg: none` and other algorithms jsonwebtoken does not know fail
        // to parse here; the error then names the algorithm.
        let header = jsonwebtoken::decode_header(token).map_err(|e| unknown_alg(token, e))?;
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::Algorithm(format!("{:?}", header.alg)));
        }
        let kid = header
            .kid
            .filter(|k| !k.is_empty())
            .ok_or(AuthError::NoKeyId)?;
        let issuer = unverified_issuer(token)?;
        let (kind, keys, issuers): (IssuerKind, &KeySource, Vec<String>) =
            if issuer == BOT_FRAMEWORK_ISSUER {
                (
                    IssuerKind::BotFramework,
                    &self.bot_framework,
                    vec![issuer.clone()],
                )
            } else {
                match &self.entra {
                    Some(entra) if entra.issuers.contains(&issuer) => {
                        (IssuerKind::Entra, &entra.keys, entra.issuers.clone())
                    }
                    _ => return Err(AuthError::Issuer(issuer)),
                }
            };
        let key = keys.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&issuers);
        validation.set_audience(&[&self.app_id]);
        // Time is checked below on the service's (injectable) clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims = HashSet::from(["iss".to_string(), "aud".to_string()]);
        let data = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        let claims = data.claims;
        let now = self.clock.now().timestamp();
        let exp = claims
            .exp
            .ok_or_else(|| AuthError::Invalid("no exp claim".into()))?;
        if now > exp + SKEW_SECS {
            return Err(AuthError::Expired);
        }
        if claims.nbf.is_some_and(|nbf| nbf > now + SKEW_SECS) {
            return Err(AuthError::NotYetValid);
        }
        let caller = claims.azp.or(claims.appid);
        if let (IssuerKind::Entra, Some(entra)) = (kind, &self.entra) {
            let tid = claims.tid.clone().unwrap_or_default();
            if !tid.eq_ignore_ascii_case(&entra.tenant) {
                return Err(AuthError::Tenant(tid));
            }
            let who = caller.clone().unwrap_or_default();
            if !entra.callers.contains(&who.to_ascii_lowercase()) {
                return Err(AuthError::Caller(who));
            }
        }
        Ok(Token {
            identity: Identity {
                issuer: kind,
                caller,
                tenant: claims.tid,
            },
            endorsements: key.endorsements.clone(),
            service_url: claims.serviceurl,
        })
    }

    fn check_activity(
        &self,
        token: Token,
        service_url: &str,
        channel_id: &str,
    ) -> Result<Identity, AuthError> {
        // Bot Framework keys always list the channels they sign for; Entra
        // keys list none, and are bound by tenant and caller instead.
        match (&token.endorsements, token.identity.issuer) {
            (Some(e), _) if e.iter().any(|c| c == channel_id) => {}
            (None, IssuerKind::Entra) => {}
            _ => return Err(AuthError::NotEndorsed(channel_id.to_string())),
        }
        match (&token.service_url, token.identity.issuer) {
            (Some(claim), _)
                if service_url::normalise(claim) == service_url::normalise(service_url) => {}
            (None, IssuerKind::Entra) => {}
            _ => return Err(AuthError::ServiceUrlClaim),
        }
        self.service_urls.check(service_url)?;
        Ok(token.identity)
    }
}

/// A header `decode_header` could not read: an algorithm it does not know
/// (`none`, for one), named, or a malformed token.
fn unknown_alg(token: &str, error: jsonwebtoken::errors::Error) -> AuthError {
    #[derive(Deserialize)]
    struct Header {
        alg: Option<String>,
    }
    let alg = token
        .split('.')
        .next()
        .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
        .and_then(|h| serde_json::from_slice::<Header>(&h).ok())
        .and_then(|h| h.alg);
    match alg {
        Some(alg) => AuthError::Algorithm(alg),
        None => AuthError::Malformed(error.to_string()),
    }
}

/// The `iss` claim, read before the signature is checked only to choose the
/// key set the signature must verify against.
fn unverified_issuer(token: &str) -> Result<String, AuthError> {
    #[derive(Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    let payload = token
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .ok_or_else(|| AuthError::Malformed("unreadable payload".into()))?;
    serde_json::from_slice::<Iss>(&payload)
        .ok()
        .and_then(|c| c.iss)
        .ok_or_else(|| AuthError::Malformed("no iss claim".into()))
}

/// What the check reads of the body before it is parsed as a whole.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    service_url: String,
    channel_id: String,
}

/// A Teams request whose token checked out, with its parsed activity.
#[derive(Debug)]
pub struct Verified<T = Activity> {
    pub activity: T,
    pub identity: Identity,
    /// The activity's `id` and conversation, for duplicate detection.
    dedupe: Option<String>,
}

impl<T> Verified<T> {
    /// A key that is the same for every delivery of one activity (its id in
    /// its conversation), for the store's once-keys; `None` when Teams sent
    /// no id.
    pub fn once_key(&self) -> Option<&str> {
        self.dedupe.as_deref()
    }
}

impl<S, T> FromRequest<S> for Verified<T>
where
    S: Send + Sync,
    Arc<TeamsAuth>: FromRef<S>,
    T: DeserializeOwned,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let auth = Arc::<TeamsAuth>::from_ref(state);
        let token = bearer(req.headers()).ok_or(AuthError::NoToken)?.to_string();
        let bytes = axum::body::to_bytes(req.into_body(), BODY_LIMIT)
            .await
            .map_err(|_| {
                AppError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("request body is larger than {} KiB", BODY_LIMIT / 1024),
                )
            })?;
        let checked = auth.check_token(&token).await?;
        let envelope: Envelope = serde_json::from_slice(&bytes).map_err(|e| {
            AppError::bad_request(
                "invalid_activity",
                format!("not a Bot Framework activity: {e}"),
            )
        })?;
        let identity = auth.check_activity(checked, &envelope.service_url, &envelope.channel_id)?;
        let dedupe = once_key(&bytes);
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        let activity = serde_path_to_error::deserialize(de).map_err(|e| {
            AppError::bad_request(
                "invalid_activity",
                format!("invalid activity at {}: {}", e.path(), e.inner()),
            )
        })?;
        Ok(Verified {
            activity,
            identity,
            dedupe,
        })
    }
}

fn once_key(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Ids {
        id: Option<String>,
        conversation: Option<Conversation>,
    }
    #[derive(Deserialize)]
    struct Conversation {
        id: Option<String>,
    }
    let ids: Ids = serde_json::from_slice(body).ok()?;
    let id = ids.id.filter(|i| !i.is_empty())?;
    let conversation = ids.conversation.and_then(|c| c.id).unwrap_or_default();
    Some(format!("{}:activity:{conversation}:{id}", super::PLATFORM))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
