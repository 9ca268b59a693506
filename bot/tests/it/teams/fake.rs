//! A fake Bot Connector with its token endpoint, on 127.0.0.1, speaking the
//! real payloads: the client-credentials grant (form-encoded, Entra's JSON
//! answer and errors), `v3/conversations/{id}/activities` and
//! `v3/conversations/{id}/members/{userId}` (`TeamsChannelAccount`; by
//! default everyone is a member of [`super::TENANT`] with the role
//! `user`, changed with [`FakeConnector::set_member`]). It records
//! every request, accepts only tokens it issued, and can be told to answer
//! the next connector calls with given statuses and headers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use serde_json::{Value, json};

pub const APP_PASSWORD: &str = "fake~client~secret~0123456789";

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The path as sent, percent-encoding and all.
    pub path: String,
    pub authorization: Option<String>,
    pub body: String,
}

#[derive(Default)]
struct Inner {
    calls: Vec<Recorded>,
    issued: Vec<String>,
    /// Scripted answers for the next connector calls: status and headers.
    script: VecDeque<(u16, Vec<(String, String)>)>,
    token_lifetime: u64,
    /// Roster answers by user id: `None` is "not a member" (404).
    roster: std::collections::HashMap<String, Option<Value>>,
    /// The roster answers this status while set.
    roster_failing: Option<u16>,
}

#[derive(Clone)]
pub struct FakeConnector {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeConnector {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            token_lifetime: 3600,
            ..Inner::default()
        }));
        let router = Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/amer/v3/{*rest}", any(connector))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { url, inner }
    }

    pub fn service_url(&self) -> String {
        format!("{}/amer/", self.url)
    }

    pub fn token_url(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/token", self.url)
    }

    pub fn calls(&self) -> Vec<Recorded> {
        self.inner.lock().unwrap().calls.clone()
    }

    pub fn token_calls(&self) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.path.ends_with("/token"))
            .count()
    }

    pub fn connector_calls(&self) -> Vec<Recorded> {
        self.calls()
            .into_iter()
            .filter(|c| c.path.starts_with("/amer/"))
            .collect()
    }

    /// The next connector calls answer `status` with `headers`, in order.
    pub fn answer_next(&self, status: u16, headers: &[(&str, &str)]) {
        self.inner.lock().unwrap().script.push_back((
            status,
            headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ));
    }

    /// Tokens issued so far stop working (as after a credential reset).
    pub fn revoke_tokens(&self) {
        self.inner.lock().unwrap().issued.clear();
    }

    /// How the roster describes `user` (an AAD object id): `None` is not a
    /// member; otherwise `role` (`user`, `guest`, `anonymous`) in `tenant`.
    pub fn set_member(&self, user: &str, member: Option<(&str, &str)>) {
        let answer = member.map(|(role, tenant)| member_json(user, role, tenant));
        self.inner
            .lock()
            .unwrap()
            .roster
            .insert(user.to_owned(), answer);
    }

    /// The roster answers `status` (None: works again).
    pub fn fail_roster(&self, status: Option<u16>) {
        self.inner.lock().unwrap().roster_failing = status;
    }

    pub fn roster_calls(&self) -> usize {
        self.connector_calls()
            .iter()
            .filter(|c| c.method == "GET" && c.path.contains("/members/"))
            .count()
    }

    pub fn set_token_lifetime(&self, secs: u64) {
        self.inner.lock().unwrap().token_lifetime = secs;
    }
}

fn record(inner: &Mutex<Inner>, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) {
    inner.lock().unwrap().calls.push(Recorded {
        method: method.to_string(),
        path: uri.path().to_string(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: String::from_utf8_lossy(body).to_string(),
    });
}

async fn token(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(_tenant): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&inner, &method, &uri, &headers, &body);
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let get = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let form_ok = headers
        .get("content-type")
        .is_some_and(|v| v.as_bytes() == b"application/x-www-form-urlencoded");
    if !form_ok || get("grant_type") != Some("client_credentials") {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": "unsupported_grant_type", "error_description": "AADSTS70003: grant type not supported" }))).into_response();
    }
    if get("client_secret") != Some(APP_PASSWORD) || get("client_id") != Some(super::APP_ID) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({ "error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided." }))).into_response();
    }
    if get("scope") != Some("https://api.botframework.com/.default") {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": "invalid_scope", "error_description": "AADSTS70011: invalid scope" }))).into_response();
    }
    let mut inner = inner.lock().unwrap();
    let token = format!("eyJ0eXAi.fake-access-token-{}", inner.issued.len() + 1);
    inner.issued.push(token.clone());
    axum::Json(json!({
        "token_type": "Bearer",
        "expires_in": inner.token_lifetime,
        "ext_expires_in": inner.token_lifetime,
        "access_token": token,
    }))
    .into_response()
}

async fn connector(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&inner, &method, &uri, &headers, &body);
    let mut inner = inner.lock().unwrap();
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    if !inner.issued.contains(&bearer) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "message": "Authorization has been denied for this request." })),
        )
            .into_response();
    }
    if method == Method::GET {
        return roster(&inner, uri.path());
    }
    if let Some((status, headers)) = inner.script.pop_front() {
        let mut resp = (
            StatusCode::from_u16(status).unwrap(),
            axum::Json(
                json!({ "error": { "code": "Scripted", "message": format!("scripted {status}") } }),
            ),
        )
            .into_response();
        for (k, v) in headers {
            resp.headers_mut().insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        return resp;
    }
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if parsed.get("type").is_none() {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": { "code": "BadArgument", "message": "Activity type is required" } }))).into_response();
    }
    let id = format!("1700000000{:03}", inner.calls.len());
    axum::Json(json!({ "id": id })).into_response()
}

fn member_json(user: &str, role: &str, tenant: &str) -> Value {
    json!({
        "id": format!("29:1{user}"), "name": "Someone", "aadObjectId": user,
        "givenName": "Some", "surname": "One", "email": "someone@contoso.com",
        "userPrincipalName": "someone@contoso.com", "tenantId": tenant, "userRole": role
    })
}

/// `GET v3/conversations/{id}/members/{userId}`.
fn roster(inner: &Inner, path: &str) -> Response {
    let Some((_, user)) = path.rsplit_once("/members/") else {
        return (StatusCode::NOT_FOUND, "no such route").into_response();
    };
    if let Some(status) = inner.roster_failing {
        return (
            StatusCode::from_u16(status).unwrap(),
            axum::Json(
                json!({ "error": { "code": "ServiceError", "message": "roster unavailable" } }),
            ),
        )
            .into_response();
    }
    let user = percent_decode(user);
    match inner.roster.get(&user) {
        Some(Some(m)) => axum::Json(m.clone()).into_response(),
        Some(None) => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "error": { "code": "MemberNotFoundInConversation", "message": "The member could not be found in the conversation." } })),
        )
            .into_response(),
        None => axum::Json(member_json(&user, "user", super::TENANT)).into_response(),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
