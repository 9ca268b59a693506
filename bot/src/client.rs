//! A small client of HTTP API v1, for the terminal approver commands
//! (`hitl-bot pending`, `approve`, `reject`, `audit export`).

use hitl_wire::ApprovalRecord;
use hitl_wire::api::{ApprovalList, AuditPage, Decision, DecisionAction, ErrorBody};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the approval service at {url}: {cause}; is `hitl-bot serve` running?")]
    Unreachable { url: String, cause: String },
    /// The service answered with an error body.
    #[error("{message} ({code}, HTTP {status})")]
    Api {
        status: u16,
        code: String,
        message: String,
        record: Option<Box<ApprovalRecord>>,
    },
    #[error("unexpected answer from {url}: {message}")]
    Protocol { url: String, message: String },
}

#[derive(Debug, Clone)]
pub struct ApiClient {
    base: String,
    token: SecretString,
    http: reqwest::Client,
}

impl ApiClient {
    pub fn new(base_url: &str, token: SecretString) -> Self {
        crate::install_tls_provider();
        Self {
            base: base_url.trim_end_matches('/').to_owned(),
            token,
            http: reqwest::Client::new(),
        }
    }

    async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<T, ClientError> {
        let resp = req
            .bearer_auth(self.token.expose_secret())
            .send()
            .await
            .map_err(|e| unreachable(url, &e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| unreachable(url, &e))?;
        if status.is_success() {
            serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol {
                url: url.to_owned(),
                message: e.to_string(),
            })
        } else {
            match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(e) => Err(ClientError::Api {
                    status: status.as_u16(),
                    code: e.code,
                    message: e.message,
                    record: e.record,
                }),
                Err(_) => Err(ClientError::Protocol {
                    url: url.to_owned(),
                    message: format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)),
                }),
            }
        }
    }

    pub async fn list(
        &self,
        status: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ApprovalRecord>, ClientError> {
        let url = format!("{}/v1/approvals", self.base);
        let mut query = vec![("limit", limit.to_string())];
        if let Some(s) = status {
            query.push(("status", s.to_owned()));
        }
        let list: ApprovalList = self.send(self.http.get(&url).query(&query), &url).await?;
        Ok(list.approvals)
    }

    pub async fn decide(
        &self,
        id: &str,
        action: DecisionAction,
        approver: &str,
        reason: Option<String>,
    ) -> Result<ApprovalRecord, ClientError> {
        let url = format!("{}/v1/approvals/{}/decision", self.base, urlencode(id));
        let body = Decision {
            action,
            approver: approver.to_owned(),
            reason,
        };
        self.send(self.http.post(&url).json(&body), &url).await
    }

    pub async fn audit_page(
        &self,
        request_id: Option<&str>,
        after: i64,
        limit: usize,
    ) -> Result<AuditPage, ClientError> {
        let url = match request_id {
            Some(id) => format!("{}/v1/approvals/{}/audit", self.base, urlencode(id)),
            None => format!("{}/v1/audit", self.base),
        };
        let query = [("after", after.to_string()), ("limit", limit.to_string())];
        self.send(self.http.get(&url).query(&query), &url).await
    }
}

/// The innermost cause reads best ("Connection refused"), not reqwest's wrapper.
fn unreachable(url: &str, e: &reqwest::Error) -> ClientError {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let url = url.split('?').next().unwrap_or(url).to_owned();
    ClientError::Unreachable {
        url,
        cause: cause.to_string(),
    }
}

/// Percent-encodes a path segment (ids are restricted, but be safe).
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~:".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
