//! Wiring of `hitl-mcp serve`: the upstream, the shared state, and the
//! downstream transport (stdio, or Streamable HTTP with `--listen`).

#![allow(deprecated)]

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::serve::ListenerExt;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::ServiceExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use super::hold::HoldSettings;
use super::passthrough::{Answering, AnsweringSessions};
use super::upstream::{Routes, Upstream, UpstreamSpec};
use super::{Gateway, Shared};
use crate::approval::ApprovalClient;
use crate::policy::Policy;

/// Everything `hitl-mcp serve` needs, resolved.
pub struct Proxy {
    /// The upstreams by name (for policy rules and approval cards); at
    /// least one, names unique.
    pub upstreams: Vec<(String, UpstreamSpec)>,
    /// Streamable HTTP address; stdio when `None`.
    pub listen: Option<SocketAddr>,
    /// Bearer token HTTP clients must present.
    pub listen_token: Option<secrecy::SecretString>,
    /// Host headers accepted besides localhost (DNS-rebinding guard).
    pub allowed_hosts: Vec<String>,
    pub approvals: ApprovalClient,
    pub hold: HoldSettings,
    /// Caps on held calls, per session and in all.
    pub held: super::limits::HeldCounts,
    /// Upstream sessions per server at most (one per capability set).
    pub max_upstream_sessions: usize,
    pub policy: Arc<Policy>,
}

/// The gateway's clientInfo; each upstream session declares its clients'
/// capabilities in place of these.
fn client_config() -> ClientConfig {
    let caps = ClientCapabilities::builder()
        .enable_roots()
        .enable_roots_list_changed()
        .enable_sampling()
        .enable_elicitation()
        .build();
    ClientConfig::new(
        caps,
        Implementation::new("hitl-mcp", env!("CARGO_PKG_VERSION")),
    )
}

/// Runs the gateway until the client goes away (stdio) or `stop` (both).
pub async fn run(opts: Proxy, stop: CancellationToken) -> anyhow::Result<()> {
    let routes = Arc::new(Routes::default());
    let upstreams: Vec<_> = opts
        .upstreams
        .iter()
        .enumerate()
        .map(|(i, (name, spec))| {
            Upstream::new(
                i,
                name,
                spec.clone(),
                routes.clone(),
                client_config(),
                opts.max_upstream_sessions,
            )
        })
        .collect();
    // Upstreams start when the first client initializes, so anything they
    // ask at start (roots, sampling) has a client to answer it.
    for up in &upstreams {
        up.supervise(stop.clone());
    }
    let shared = Shared::new(
        upstreams,
        routes,
        opts.policy,
        opts.approvals,
        opts.hold,
        opts.held,
    );
    match opts.listen {
        None => {
            let stdio = rmcp::transport::IntoTransport::<rmcp::RoleServer, std::io::Error, _>::into_transport(
                rmcp::transport::io::stdio_pipes(),
            );
            let running = Gateway::session(&shared)
                .serve(Answering::new(stdio))
                .await
                .context("MCP handshake with the client on stdio failed")?;
            tokio::select! {
                r = running.waiting() => { r.context("gateway session ended abnormally")?; }
                _ = stop.cancelled() => {}
            }
        }
        Some(addr) => {
            let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"]
                .iter()
                .map(|h| (*h).to_owned())
                .collect();
            hosts.extend(opts.allowed_hosts.iter().cloned());
            let config = StreamableHttpServerConfig::default()
                .with_cancellation_token(stop.child_token())
                .with_allowed_hosts(hosts.clone())
                // A browser page may only reach the gateway from an origin
                // on an accepted host (the MCP spec's DNS-rebinding guard);
                // clients that are not browsers send no Origin and pass.
                .with_allowed_origins(allowed_origins(&hosts))
                .enforce_origin_validation();
            let factory_shared = shared.clone();
            let service = StreamableHttpService::new(
                move || Ok(Gateway::session(&factory_shared)),
                Arc::new(AnsweringSessions(LocalSessionManager::default())),
                config,
            );
            let mut router = axum::Router::new()
                .nest_service("/mcp", service)
                .layer(axum::middleware::from_fn(session_closed_is_no_content));
            if let Some(token) = opts.listen_token {
                router = router.layer(axum::middleware::from_fn_with_state(
                    Arc::new(token),
                    require_bearer,
                ));
            }
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            tracing::info!(listen = %listener.local_addr()?, "hitl-mcp serving MCP over Streamable HTTP at /mcp");
            axum::serve(listener.tap_io(no_delay), router)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
                .context("HTTP server failed")?;
        }
    }
    Ok(())
}

/// Refuses HTTP requests without `Authorization: Bearer <listen token>`
/// (constant-time compare), before they reach the MCP session layer.
async fn require_bearer(
    axum::extract::State(token): axum::extract::State<Arc<secrecy::SecretString>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use secrecy::ExposeSecret;
    use subtle::ConstantTimeEq;

    let presented = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "));
    // A missing header is no credential at all, never an empty one.
    let valid =
        presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(token.expose_secret().as_bytes())));
    if valid {
        next.run(req).await
    } else {
        (
            axum::http::StatusCode::UNAUTHORIZED,
            [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(serde_json::json!({
                "code": "unauthorized",
                "message": "this gateway needs `Authorization: Bearer <token>` (its --listen-token)"
            })),
        )
            .into_response()
    }
}

/// Every accepted connection sends at once: MCP answers are small, and with
/// Nagle's algorithm on, the last piece of a response waits for the client's
/// delayed ACK (about 40 ms per request on a keep-alive connection).
pub fn no_delay(stream: &mut tokio::net::TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::warn!(error = %e, "cannot set TCP_NODELAY on a client connection");
    }
}

/// Browser origins accepted: `http(s)://HOST:any-port` for each accepted host.
fn allowed_origins(hosts: &[String]) -> Vec<String> {
    hosts
        .iter()
        .flat_map(|h| {
            // A bare IPv6 address is bracketed in an origin; a host given
            // with its port matches that port only; otherwise any port.
            let authority = if h.parse::<std::net::Ipv6Addr>().is_ok() {
                format!("[{h}]:*")
            } else if h.contains(':') {
                h.clone()
            } else {
                format!("{h}:*")
            };
            [
                format!("http://{authority}"),
                format!("https://{authority}"),
            ]
        })
        .collect()
}

/// A session `DELETE` is answered 204 No Content: the session is gone, and
/// there is nothing to say (the SDKs treat 202 as a failed termination).
async fn session_closed_is_no_content(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let delete = req.method() == axum::http::Method::DELETE;
    let mut resp = next.run(req).await;
    if delete && resp.status() == axum::http::StatusCode::ACCEPTED {
        *resp.status_mut() = axum::http::StatusCode::NO_CONTENT;
        *resp.body_mut() = axum::body::Body::empty();
        resp.headers_mut().remove(axum::http::header::CONTENT_TYPE);
        resp.headers_mut()
            .remove(axum::http::header::CONTENT_LENGTH);
    }
    resp
}
