//! Bearer-token check for `/v1` and `/metrics`. Two tokens may be live at
//! once so a token can be rotated without downtime.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use secrecy::{ExposeSecret, SecretString};

use super::error::AppError;

#[derive(Clone)]
pub struct Tokens {
    current: SecretString,
    previous: Option<SecretString>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens([redacted])")
    }
}

impl Tokens {
    pub fn new(current: SecretString, previous: Option<SecretString>) -> Self {
        Self { current, previous }
    }

    /// Constant-time match against every live token.
    pub fn accepts(&self, presented: &str) -> bool {
        let eq = |t: &SecretString| hitl_client::bearer::ct_eq(t.expose_secret(), presented);
        // Evaluate both so timing does not reveal which one matched.
        let a = eq(&self.current);
        let b = self.previous.as_ref().is_some_and(eq);
        a | b
    }
}

pub async fn require_bearer(
    State(tokens): State<Tokens>,
    req: Request,
    next: Next,
) -> Result<Response, AppError> {
    let header = req.headers().get(AUTHORIZATION).map(|h| h.as_bytes());
    let presented = hitl_client::bearer::parse(header)
        .map_err(|e| AppError::unauthorized(format!("{e} (set HITL_TOKEN)")))?;
    if !tokens.accepts(presented) {
        return Err(AppError::unauthorized("invalid bearer token"));
    }
    Ok(next.run(req).await)
}
