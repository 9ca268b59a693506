//! The gateway's client of the approval service (HTTP API v1).
//!
//! Every failure here is a reason to hold the call back: the proxy turns any
//! error into "not run" (fail closed).

use std::time::Duration;

use hitl_wire::ApprovalRecord;
use hitl_wire::api::{ApprovalList, Cancel, CreateApproval, ErrorBody, Execution, WaitAny};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("cannot reach the approval service at {url}: {cause}")]
    Unreachable { url: String, cause: String },
    #[error("the approval service refused: {message} ({code})")]
    Api {
        status: u16,
        code: String,
        message: String,
        record: Option<Box<ApprovalRecord>>,
    },
    /// Not the JSON the API speaks (a proxy's error page, a wrong URL...).
    #[error("{0}")]
    Protocol(String),
}

#[derive(Debug, Clone)]
pub struct ApprovalClient {
    /// The service's base URL; a path in it (an API gateway stage) is kept.
    base: reqwest::Url,
    token: Option<SecretString>,
    http: reqwest::Client,
    /// Bounds the requests in flight, and so the connections: a burst of a
    /// thousand held calls shares a few connections instead of opening one
    /// each and keeping them in the pool.
    in_flight: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Requests to the approval service at once, per gateway.
const MAX_IN_FLIGHT: usize = 16;

impl ApprovalClient {
    /// A client of the service at `base_url`; refused when that is not an
    /// http(s) URL.
    pub fn new(base_url: &str, token: Option<SecretString>) -> Result<Self, ApprovalError> {
        let base = reqwest::Url::parse(base_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base())
            .ok_or_else(|| {
                ApprovalError::Protocol(format!(
                    "the approval service URL {base_url:?} is not an http(s) URL, such as http://127.0.0.1:8787"
                ))
            })?;
        // Err only means a provider is already installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(MAX_IN_FLIGHT)
            .build()
            .unwrap_or_default();
        Ok(Self {
            in_flight: std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
            base,
            token,
            http,
        })
    }

    /// Sends `req` and reads the answer. Boxed: a reqwest future is large,
    /// and every held call keeps one of these in its state while it waits.
    fn send<'a, T: DeserializeOwned + 'a>(
        &'a self,
        req: reqwest::RequestBuilder,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, ApprovalError>> + Send + 'a>>
    {
        Box::pin(self.send_inner(req))
    }

    async fn send_inner<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ApprovalError> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t.expose_secret()),
            None => req,
        };
        // The semaphore is never closed, so acquiring cannot fail.
        let _permit = self.in_flight.acquire().await.ok();
        let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| self.unreachable(&e))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| {
                ApprovalError::Protocol(if e.is_data() {
                    format!("the approval service's answer is not what HTTP API v1 returns: {e}")
                } else {
                    format!("the approval service's answer is not JSON: {e}")
                })
            });
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(e) => Err(ApprovalError::Api {
                status: status.as_u16(),
                code: e.code,
                message: e.message,
                record: e.record,
            }),
            Err(_) => Err(ApprovalError::Protocol(format!(
                "the approval service answered {status}: {}",
                String::from_utf8_lossy(&bytes)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ))),
        }
    }

    fn unreachable(&self, e: &reqwest::Error) -> ApprovalError {
        let mut cause: &dyn std::error::Error = e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        ApprovalError::Unreachable {
            url: self.base.to_string(),
            cause: cause.to_string(),
        }
    }

    /// `base` + `/v1/approvals` + `segments`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> reqwest::Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend(["v1", "approvals"])
                .extend(segments);
        }
        url
    }

    pub async fn create(&self, body: &CreateApproval) -> Result<ApprovalRecord, ApprovalError> {
        self.send(self.http.post(self.url(&[])).json(body)).await
    }

    pub async fn get(&self, id: &str) -> Result<ApprovalRecord, ApprovalError> {
        self.send(self.http.get(self.url(&[id]))).await
    }

    /// Long-polls: answers when the request is final or after `wait`.
    pub async fn wait(&self, id: &str, wait: Duration) -> Result<ApprovalRecord, ApprovalError> {
        let secs = wait.as_secs().clamp(0, 300);
        let req = self
            .http
            .get(self.url(&[id]))
            .query(&[("wait", secs.to_string())])
            .timeout(Duration::from_secs(secs + 30));
        self.send(req).await
    }

    /// Long-polls several requests at once: answers with those that are
    /// final as soon as one is, or with none after `wait`.
    pub async fn wait_any(
        &self,
        ids: &[String],
        wait: Duration,
    ) -> Result<Vec<ApprovalRecord>, ApprovalError> {
        let secs = wait.as_secs().clamp(0, 300);
        let body = WaitAny {
            request_ids: ids.to_vec(),
            wait_secs: secs,
        };
        let req = self
            .http
            .post(self.url(&["wait"]))
            .json(&body)
            .timeout(Duration::from_secs(secs + 30));
        let list: ApprovalList = self.send(req).await?;
        Ok(list.approvals)
    }

    pub async fn cancel(
        &self,
        id: &str,
        by: &str,
        reason: &str,
    ) -> Result<ApprovalRecord, ApprovalError> {
        let body = Cancel {
            by: Some(by.to_owned()),
            reason: Some(reason.to_owned()),
        };
        self.send(self.http.post(self.url(&[id, "cancel"])).json(&body))
            .await
    }

    /// Claims the approval for this one run; refused unless approved, unused
    /// and for exactly these arguments.
    pub async fn record_execution(
        &self,
        id: &str,
        arguments: Value,
    ) -> Result<ApprovalRecord, ApprovalError> {
        let body = Execution { arguments };
        self.send(self.http.post(self.url(&[id, "execution"])).json(&body))
            .await
    }

    pub async fn pending(&self) -> Result<Vec<ApprovalRecord>, ApprovalError> {
        let list: ApprovalList = self
            .send(
                self.http
                    .get(self.url(&[]))
                    .query(&[("status", "pending"), ("limit", "100")]),
            )
            .await?;
        Ok(list.approvals)
    }
}
