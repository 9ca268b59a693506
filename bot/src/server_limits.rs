//! What the HTTP server gives any one client at most: time to send a body,
//! and (on the endpoints anyone on the internet can reach) a share of the
//! requests in flight. Past a limit a request is refused at once, so
//! stalled or flooding clients cannot hold memory or slots for long.

use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::http::StatusCode;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::{BoxError, ServiceBuilder};
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::api::error::AppError;

/// Longest wait between two pieces of a request body, on every route.
/// Long-polls wait for an answer, not for their (small) body.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Chat platform requests (Slack, Teams) handled at once; more are answered
/// 503 at once. A request holds at most its body limit, for at most its body
/// timeout, so this bounds what unauthenticated clients can hold.
pub const CHAT_CONCURRENCY: usize = 64;

/// Every route: a body that stops arriving is cut off.
pub fn with_body_timeout(router: Router) -> Router {
    router.layer(RequestBodyTimeoutLayer::new(BODY_IDLE_TIMEOUT))
}

/// The chat platforms' endpoints: at most [`CHAT_CONCURRENCY`] in flight,
/// shared by all of them.
pub fn chat_endpoints(router: Router) -> Router {
    router.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(|_: BoxError| async {
                AppError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    format!(
                        "{CHAT_CONCURRENCY} chat platform requests are already in progress; retry shortly"
                    ),
                )
            }))
            .load_shed()
            .layer(GlobalConcurrencyLimitLayer::new(CHAT_CONCURRENCY)),
    )
}
