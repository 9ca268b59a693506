//! [`ApiClient`]: every call of HTTP API v1 the gateway and the terminal
//! commands make. Every failure is a [`ClientError`]; callers that hold a
//! tool call treat any of them as "do not run" (fail closed).

use std::time::Duration;

use hitl_wire::ApprovalRecord;
use hitl_wire::api::{
    ApprovalList, AuditPage, Cancel, CreateApproval, Decision, DecisionAction, ErrorBody,
    Execution, WaitAny,
};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{ClientError, ErrorCode};

/// Requests to the approval service at once, per client. A burst of a
/// thousand held calls shares a few connections instead of opening one
/// each and keeping them in the pool.
const MAX_IN_FLIGHT: usize = 16;

/// Longest `wait` the service accepts by default.
const MAX_WAIT_SECS: u64 = 300;

/// How much of a non-JSON error page is quoted in an error.
const QUOTE_CHARS: usize = 200;

#[derive(Debug, Clone)]
pub struct ApiClient {
    /// The service's base URL; a path in it (an API gateway stage) is kept.
    base: reqwest::Url,
    token: Option<SecretString>,
    http: reqwest::Client,
    in_flight: std::sync::Arc<tokio::sync::Semaphore>,
}

/// A listing of requests: those read, and those that could not be.
#[derive(Debug, Default)]
pub struct Listing {
    pub approvals: Vec<ApprovalRecord>,
    pub unreadable: Vec<Unreadable>,
}

/// A listed record this client could not read (too deep for a JSON
/// reader, or not what API v1 describes).
#[derive(Debug)]
pub struct Unreadable {
    /// Its id, when even that could not be read: `None`.
    pub request_id: Option<String>,
    pub error: String,
}

/// `ApprovalList` with each record left as raw JSON. Skipping over a raw
/// value does not recurse, so any depth is read.
#[derive(serde::Deserialize)]
struct RawList {
    approvals: Vec<Box<serde_json::value::RawValue>>,
}

impl Listing {
    fn read(list: RawList) -> Self {
        #[derive(serde::Deserialize)]
        struct Id {
            request_id: String,
        }
        let mut out = Listing::default();
        for raw in list.approvals {
            match serde_json::from_str::<ApprovalRecord>(raw.get()) {
                Ok(r) => out.approvals.push(r),
                Err(e) => out.unreadable.push(Unreadable {
                    // Only the id is read; the rest is skipped, not parsed.
                    request_id: serde_json::from_str::<Id>(raw.get())
                        .ok()
                        .map(|i| i.request_id),
                    error: e.to_string(),
                }),
            }
        }
        out
    }
}

impl ApiClient {
    /// A client of the service at `base_url`; refused when that is not an
    /// http(s) URL, or is plain http to another machine (the token and the
    /// calls' arguments would cross the network in clear text).
    pub fn new(base_url: &str, token: Option<SecretString>) -> Result<Self, ClientError> {
        // Checked on the URL as shown, so a refusal never repeats a secret.
        let shown = without_secrets(base_url);
        if reqwest::Url::parse(base_url).is_ok() {
            crate::local::check_outbound_base(&shown, "the approval service URL")
                .map_err(ClientError::Protocol)?;
        }
        let base = reqwest::Url::parse(base_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base())
            .ok_or_else(|| {
                ClientError::Protocol(format!(
                    "the approval service URL {:?} is not an http(s) URL, such as {}",
                    without_secrets(base_url),
                    crate::local::DEFAULT_URL
                ))
            })?;
        // Err only means a provider is already installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(MAX_IN_FLIGHT)
            .build()
            .map_err(|e| ClientError::Protocol(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            in_flight: std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
            base,
            token,
            http,
        })
    }

    /// The base URL without userinfo or query, fit for messages.
    pub fn base_for_display(&self) -> String {
        without_secrets(self.base.as_str())
    }

    /// Sends `req` and reads the answer. Boxed: a reqwest future is large,
    /// and every held call keeps one of these in its state while it waits.
    fn send<'a, T: DeserializeOwned + 'a>(
        &'a self,
        req: reqwest::RequestBuilder,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, ClientError>> + Send + 'a>>
    {
        Box::pin(self.send_inner(req))
    }

    async fn send_inner<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
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
                ClientError::Protocol(if e.is_data() {
                    format!("the approval service's answer is not what HTTP API v1 returns: {e}")
                } else {
                    format!("the approval service's answer is not JSON: {e}")
                })
            });
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(e) => Err(ClientError::Api {
                status: status.as_u16(),
                code: ErrorCode::parse(&e.code),
                message: e.message,
                record: e.record,
            }),
            Err(_) => Err(ClientError::Protocol(format!(
                "the approval service answered {status}: {}",
                String::from_utf8_lossy(&bytes)
                    .chars()
                    .take(QUOTE_CHARS)
                    .collect::<String>()
            ))),
        }
    }

    fn unreachable(&self, e: &reqwest::Error) -> ClientError {
        // The innermost cause reads best ("Connection refused").
        let mut cause: &dyn std::error::Error = e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        ClientError::Unreachable {
            url: self.base_for_display(),
            cause: cause.to_string(),
        }
    }

    /// `base` + `segments`, each segment percent-encoded.
    fn url_of(&self, segments: &[&str]) -> reqwest::Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// `base` + `/v1/approvals` + `segments`.
    fn url(&self, segments: &[&str]) -> reqwest::Url {
        let mut all = vec!["v1", "approvals"];
        all.extend_from_slice(segments);
        self.url_of(&all)
    }

    pub async fn create(&self, body: &CreateApproval) -> Result<ApprovalRecord, ClientError> {
        self.send(self.http.post(self.url(&[])).json(body)).await
    }

    pub async fn get(&self, id: &str) -> Result<ApprovalRecord, ClientError> {
        self.send(self.http.get(self.url(&[id]))).await
    }

    /// Long-polls: answers when the request is final or after `wait`.
    pub async fn wait(&self, id: &str, wait: Duration) -> Result<ApprovalRecord, ClientError> {
        let secs = wait.as_secs().min(MAX_WAIT_SECS);
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
    ) -> Result<Vec<ApprovalRecord>, ClientError> {
        let secs = wait.as_secs().min(MAX_WAIT_SECS);
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

    /// Requests the credential may see, newest first, optionally of one
    /// status. Each record is read on its own, so one this client cannot
    /// read is reported in `unreadable` and the others are still listed.
    pub async fn list(&self, status: Option<&str>, limit: usize) -> Result<Listing, ClientError> {
        let mut query = vec![("limit", limit.to_string())];
        if let Some(s) = status {
            query.push(("status", s.to_owned()));
        }
        let list: RawList = self
            .send(self.http.get(self.url(&[])).query(&query))
            .await?;
        Ok(Listing::read(list))
    }

    /// Pending requests the credential may see (at most 100).
    pub async fn pending(&self) -> Result<Listing, ClientError> {
        self.list(Some("pending"), 100).await
    }

    /// Approves or rejects as the person the (approver) credential names;
    /// `approver`, when given, must name that same person.
    pub async fn decide(
        &self,
        id: &str,
        action: DecisionAction,
        approver: Option<&str>,
        reason: Option<String>,
    ) -> Result<ApprovalRecord, ClientError> {
        let body = Decision {
            action,
            approver: approver.map(str::to_owned),
            reason,
        };
        self.send(self.http.post(self.url(&[id, "decision"])).json(&body))
            .await
    }

    /// Withdraws a request this (requester) credential made.
    pub async fn cancel(&self, id: &str, reason: &str) -> Result<ApprovalRecord, ClientError> {
        let body = Cancel {
            by: None,
            reason: Some(reason.to_owned()),
        };
        self.send(self.http.post(self.url(&[id, "cancel"])).json(&body))
            .await
    }

    /// Claims the approval for this one run; refused unless approved, unused,
    /// still within its claim window, and for exactly these arguments.
    pub async fn record_execution(
        &self,
        id: &str,
        arguments: Value,
    ) -> Result<ApprovalRecord, ClientError> {
        let body = Execution { arguments };
        self.send(self.http.post(self.url(&[id, "execution"])).json(&body))
            .await
    }

    /// One page of the audit trail (of one request, or of all).
    pub async fn audit_page(
        &self,
        request_id: Option<&str>,
        after: i64,
        limit: usize,
    ) -> Result<AuditPage, ClientError> {
        let url = match request_id {
            Some(id) => self.url(&[id, "audit"]),
            None => self.url_of(&["v1", "audit"]),
        };
        let query = [("after", after.to_string()), ("limit", limit.to_string())];
        self.send(self.http.get(url).query(&query)).await
    }

    /// One page of the audit trail from `cursor` (a page's `next_cursor`;
    /// `None`: the oldest entry).
    pub async fn audit_from(
        &self,
        request_id: Option<&str>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<AuditPage, ClientError> {
        let url = match request_id {
            Some(id) => self.url(&[id, "audit"]),
            None => self.url_of(&["v1", "audit"]),
        };
        let mut query = vec![("limit", limit.to_string())];
        if let Some(c) = cursor {
            query.push(("cursor", c.to_owned()));
        }
        self.send(self.http.get(url).query(&query)).await
    }
}

/// `url` without userinfo, query or fragment: what may appear in messages
/// and logs.
pub fn without_secrets(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if !u.cannot_be_a_base() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        // Not a URL with a host: cut anything that could be userinfo or a query.
        _ => {
            let cut = url.split(['?', '#']).next().unwrap_or("");
            match cut.rsplit_once('@') {
                Some((_, host)) => format!("…@{host}"),
                None => cut.to_owned(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_messages_carry_no_userinfo_or_query() {
        assert_eq!(
            without_secrets("https://user:pw@api.example/stage/?key=sk-1#x"),
            "https://api.example/stage/"
        );
        assert_eq!(without_secrets("user:pw@host?x=1"), "…@host");
        let e = ApiClient::new("ftp://u:secret@host/", None).unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn one_unreadable_record_does_not_hide_the_others() {
        let good = r#"{"request_id":"fine","status":"pending","requester":"a","tool":"t","arguments":{},"arguments_hash":"sha256:00","risk":"high","quorum":1,"timestamp":"2026-01-01T00:00:00Z","expires_at":"2026-01-01T00:05:00Z"}"#;
        let mut deep = "1".to_owned();
        for _ in 0..200 {
            deep = format!("{{\"a\":{deep}}}");
        }
        let text = format!(
            r#"{{"approvals":[{good},{{"request_id":"odd","status":"maybe"}},{{"request_id":"deep","x":{deep}}},{{"no_id":1}}]}}"#
        );
        let listing = Listing::read(serde_json::from_str(&text).unwrap());
        assert_eq!(listing.approvals.len(), 1);
        assert_eq!(listing.approvals[0].request_id, "fine");
        let ids: Vec<_> = listing
            .unreadable
            .iter()
            .map(|u| u.request_id.as_deref())
            .collect();
        assert_eq!(ids, [Some("odd"), Some("deep"), None]);
    }

    #[test]
    fn plain_http_is_accepted_only_to_this_machine() {
        for ok in [
            "https://approvals.example/",
            "http://127.0.0.1:8080",
            "http://localhost:1/stage",
            "http://[::1]:9/",
        ] {
            assert!(ApiClient::new(ok, None).is_ok(), "{ok}");
        }
        for bad in [
            "http://approvals.example:8080/",
            "http://10.0.0.5/",
            "http://u:pw-secret@approvals.example/?k=sk-1",
        ] {
            let e = ApiClient::new(bad, None).unwrap_err().to_string();
            assert!(e.contains("use https://"), "{e}");
            assert!(!e.contains("pw-secret") && !e.contains("sk-1"), "{e}");
        }
    }

    #[test]
    fn paths_keep_the_base_path_and_encode_ids() {
        let c = ApiClient::new("https://h.example/stage", None).unwrap();
        assert_eq!(
            c.url(&["a/b", "cancel"]).as_str(),
            "https://h.example/stage/v1/approvals/a%2Fb/cancel"
        );
        assert_eq!(
            c.url_of(&["v1", "audit"]).as_str(),
            "https://h.example/stage/v1/audit"
        );
    }
}
