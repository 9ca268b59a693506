//! What the HTTP server gives any one client at most: time to send its
//! headers and its body, a connection among a bounded number, and (on the
//! endpoints anyone on the internet can reach) a share of the requests in
//! flight. Past a limit a request is refused or its connection closed at
//! once, so stalled or flooding clients cannot hold memory or slots for long.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

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

/// Longest wait for a request's headers, from the connection's start or
/// the end of its previous request; then the connection is closed.
/// (`axum::serve` sets none: a client that never finishes its headers
/// would hold a connection for ever.)
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections served at once; more wait in the listen backlog until one
/// closes. Each one idle past [`HEADER_READ_TIMEOUT`] is closed, so a
/// client holding many open slots loses them within that time.
pub const MAX_CONNECTIONS: usize = 4096;

/// Serves `app` on `listener` (HTTP/1.1) with [`HEADER_READ_TIMEOUT`] and
/// [`MAX_CONNECTIONS`], until `shutdown` resolves; then stops accepting,
/// asks every connection to finish its request in progress, and waits.
pub async fn serve_connections(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let stop = CancellationToken::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            // The semaphore is never closed, so acquiring cannot fail.
            Ok(p) = slots.clone().acquire_owned() => p,
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let conn =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::pin!(conn);
            let ended = tokio::select! {
                ended = conn.as_mut() => ended,
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    stop.cancel();
    // Every connection holds a slot until it ends: all slots back, all done.
    let _all = slots.acquire_many(MAX_CONNECTIONS as u32).await;
    Ok(())
}

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
