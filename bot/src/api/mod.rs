//! HTTP API v1 (`/v1/...`), `/healthz` and `/metrics`.
//!
//! Every `/v1` route and `/metrics` need a credential ([`auth::Caller`]);
//! its role decides what a route allows (see `approvals`). Bodies are capped
//! at [`extract::BODY_LIMIT`]; errors are JSON `{code, message}`.

pub mod approvals;
pub mod auth;
pub mod error;
pub mod extract;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::service::ApprovalService;
use auth::{Auth, Tokens};
use error::AppError;

/// The API routes, authenticated with `tokens`.
pub fn router(svc: Arc<ApprovalService>, tokens: Tokens) -> Router {
    router_with(svc, tokens, Router::new())
}

/// The API routes plus `extra` (the chat adapters' endpoints, which bring
/// their own authentication), under the same fallbacks, body limit and
/// request metrics.
pub fn router_with(svc: Arc<ApprovalService>, tokens: Tokens, extra: Router) -> Router {
    let v1 = Router::new()
        .route(
            "/v1/approvals",
            post(approvals::create).get(approvals::list),
        )
        .route("/v1/approvals/wait", post(approvals::wait_any))
        .route("/v1/approvals/{id}", get(approvals::get))
        .route("/v1/approvals/{id}/decision", post(approvals::decide))
        .route("/v1/approvals/{id}/cancel", post(approvals::cancel))
        .route("/v1/approvals/{id}/execution", post(approvals::execution))
        .route("/v1/approvals/{id}/audit", get(approvals::audit_of))
        .route("/v1/audit", get(approvals::audit_all))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(
            Auth {
                tokens,
                svc: svc.clone(),
            },
            auth::require_credential,
        ));
    Router::new()
        .merge(v1)
        .route("/healthz", get(healthz))
        .with_state(svc.clone())
        .merge(extra)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(extract::BODY_LIMIT))
        .layer(middleware::from_fn_with_state(svc, count_requests))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

async fn metrics(State(svc): State<Arc<ApprovalService>>) -> Result<Response, AppError> {
    let pending = svc.count_pending().await?;
    let body = svc.metrics().render(pending);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response())
}

async fn not_found() -> AppError {
    AppError::not_found("no such endpoint; see the HTTP API in the README")
}

async fn method_not_allowed() -> AppError {
    AppError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this endpoint",
    )
}

/// Counts every request by route template (not raw path, to bound the labels).
async fn count_requests(
    State(svc): State<Arc<ApprovalService>>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    svc.metrics().http_request(&method, &route, status);
    tracing::debug!(%method, %route, status, elapsed_ms = started.elapsed().as_millis() as u64, "http request");
    response
}
