//! Who is calling `/v1` and `/metrics`: the bearer token is resolved to a
//! [`Caller`] (the shared requester token, or a stored credential with a
//! role) that handlers receive as an extractor. Two shared tokens may be
//! live at once so one can be rotated without downtime.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use secrecy::{ExposeSecret, SecretString};

use super::error::AppError;
use crate::credentials::{self, Credential, Role};
use crate::service::ApprovalService;

/// The live API tokens (`HITL_TOKEN`, `HITL_TOKEN_PREVIOUS`), and where
/// rotated ones come from when they are read from a secret
/// ([`crate::lambda::secrets::SecretTokens`]).
#[derive(Clone)]
pub struct Tokens {
    live: Arc<std::sync::RwLock<LiveTokens>>,
    source: Option<Arc<dyn TokenSource>>,
}

struct LiveTokens {
    current: SecretString,
    previous: Option<SecretString>,
}

/// Where rotated tokens come from. `refresh` answers new tokens when it
/// read them; it decides itself whether a read is due (periodically, and
/// after a refused token at most so often), so calling it on every request
/// is cheap.
#[async_trait::async_trait]
pub trait TokenSource: Send + Sync + 'static {
    async fn refresh(&self, after_refusal: bool) -> Option<(SecretString, Option<SecretString>)>;
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens([redacted])")
    }
}

impl Tokens {
    pub fn new(current: SecretString, previous: Option<SecretString>) -> Self {
        Self {
            live: Arc::new(std::sync::RwLock::new(LiveTokens { current, previous })),
            source: None,
        }
    }

    /// Tokens that follow `source` as it rotates.
    pub fn with_source(mut self, source: Arc<dyn TokenSource>) -> Self {
        self.source = Some(source);
        self
    }

    /// Takes up rotated tokens if the source has them (see [`TokenSource`]).
    pub async fn refresh(&self, after_refusal: bool) {
        let Some(source) = &self.source else { return };
        if let Some((current, previous)) = source.refresh(after_refusal).await {
            let mut live = self.live.write().unwrap_or_else(|e| e.into_inner());
            *live = LiveTokens { current, previous };
        }
    }

    /// Constant-time match against every live token. A blank token (which
    /// start-up refuses) never matches.
    pub fn accepts(&self, presented: &str) -> bool {
        let eq = |t: &SecretString| {
            !t.expose_secret().trim().is_empty()
                && hitl_client::bearer::ct_eq(t.expose_secret(), presented)
        };
        let live = self.live.read().unwrap_or_else(|e| e.into_inner());
        // Evaluate both so timing does not reveal which one matched.
        let a = eq(&live.current);
        let b = live.previous.as_ref().is_some_and(eq);
        a | b
    }
}

/// Who made a `/v1` request.
#[derive(Debug, Clone)]
pub enum Caller {
    /// `HITL_TOKEN` or the token the local service saved for gateways: a
    /// requester bound to no name.
    Shared,
    /// A credential made with `hitl-bot token create`.
    Credential(Credential),
}

impl Caller {
    pub fn role(&self) -> Role {
        match self {
            Caller::Shared => Role::Requester,
            Caller::Credential(c) => c.role,
        }
    }

    /// The person or requester name the credential is bound to.
    pub fn who(&self) -> Option<&str> {
        match self {
            Caller::Shared => None,
            Caller::Credential(c) => c.who.as_deref(),
        }
    }

    /// Refuses unless the caller has `role` (403 `wrong_role`).
    pub fn require(&self, role: Role, doing: &str) -> Result<(), AppError> {
        if self.role() == role {
            return Ok(());
        }
        Err(AppError::new(
            StatusCode::FORBIDDEN,
            "wrong_role",
            format!(
                "{doing} needs {} credential; this is {} credential{}",
                article(role),
                article(self.role()),
                match role {
                    Role::Approver => " (make one with `hitl-bot token create --approver WHO`)",
                    Role::Requester => "",
                }
            ),
        ))
    }
}

fn article(r: Role) -> &'static str {
    match r {
        Role::Approver => "an approver",
        Role::Requester => "a requester",
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| AppError::unauthorized("no credential"))
    }
}

/// The state of [`require_credential`].
#[derive(Clone)]
pub struct Auth {
    pub tokens: Tokens,
    pub svc: Arc<ApprovalService>,
}

/// Resolves the bearer token to a [`Caller`]; 401 when it is missing or
/// matches nothing. Stored credentials are looked up by hash on every
/// request, so a new or revoked one holds at once, in every process.
pub async fn require_credential(
    State(auth): State<Auth>,
    mut req: Request,
    next: Next,
) -> Result<Response, AppError> {
    let header = req.headers().get(AUTHORIZATION).map(|h| h.as_bytes());
    let presented = hitl_client::bearer::parse(header)
        .map_err(|e| AppError::unauthorized(format!("{e} (set HITL_TOKEN)")))?;
    auth.tokens.refresh(false).await;
    let caller = if auth.tokens.accepts(presented) {
        Caller::Shared
    } else {
        match auth
            .svc
            .store()
            .credential_by_hash(&credentials::hash(presented))
            .await
        {
            Ok(Some(c)) => Caller::Credential(c),
            Ok(None) => {
                // Perhaps the token was rotated since the last read.
                auth.tokens.refresh(true).await;
                if !auth.tokens.accepts(presented) {
                    return Err(AppError::unauthorized("invalid bearer token"));
                }
                Caller::Shared
            }
            Err(e) => return Err(crate::service::ServiceError::from(e).into()),
        }
    };
    req.extensions_mut().insert(caller);
    Ok(next.run(req).await)
}
