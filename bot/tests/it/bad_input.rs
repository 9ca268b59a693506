//! Bad input gets a 4xx with a message, and the store is unchanged.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TOKEN, TestServer, read};

async fn raw(
    s: &TestServer,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let url = format!("{}{path}", s.url);
    let mut req = match method {
        "GET" => s.http.get(url),
        _ => s
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(body),
    };
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    read(req.send().await.unwrap()).await
}

#[tokio::test]
async fn every_bad_request_is_refused_with_a_message_and_changes_nothing() {
    let s = TestServer::start().await;
    let id = s.create(json!({"request_id": "victim"})).await["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bearer = format!("Bearer {TOKEN}");
    let good = br#"{"tool":"t","risk":"high","requester":"a"}"#.to_vec();
    let huge = {
        let mut v = br#"{"tool":"t","risk":"high","requester":"a","agent_prompt":""#.to_vec();
        v.extend(std::iter::repeat_n(b'x', 2 * 1024 * 1024));
        v.extend(br#""}"#);
        v
    };
    let decision = format!("/v1/approvals/{id}/decision");
    let approver = format!("Bearer {}", s.approver_token("x").await);
    let cases: Vec<(
        &str,
        String,
        Option<String>,
        Vec<u8>,
        StatusCode,
        &str,
        &str,
    )> = vec![
        (
            "POST",
            "/v1/approvals".into(),
            None,
            good.clone(),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing `Authorization",
        ),
        (
            "POST",
            "/v1/approvals".into(),
            Some("Bearer wrong".into()),
            good.clone(),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "invalid bearer token",
        ),
        (
            "POST",
            "/v1/approvals".into(),
            Some(format!("Basic {TOKEN}")),
            good.clone(),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "must be `Bearer <token>`",
        ),
        (
            "GET",
            "/v1/approvals".into(),
            None,
            vec![],
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing",
        ),
        (
            "POST",
            decision.clone(),
            Some("Bearer wrong".into()),
            br#"{"action":"approve","approver":"x"}"#.to_vec(),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "invalid bearer token",
        ),
        (
            "POST",
            "/v1/approvals".into(),
            Some(bearer.clone()),
            b"{\"tool\": ".to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "not valid JSON",
        ),
        (
            "POST",
            "/v1/approvals".into(),
            Some(bearer.clone()),
            br#"{"tool":"t","risk":"high","requester":"a"} trailing"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "trailing characters",
        ),
        (
            "POST",
            "/v1/approvals".into(),
            Some(bearer.clone()),
            br#"{"tool":"t","risk":"high","requester":"a","colour":"red"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "unknown field `colour`",
        ),
        (
            "POST",
            "/v1/approvals".into(),
            Some(bearer.clone()),
            br#"{"tool":"t","risk":"severe","requester":"a"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "at `risk`: unknown variant `severe`",
        ),
        (
            "POST",
            "/v1/approvals".into(),
            Some(bearer.clone()),
            br#"{"tool":"t","risk":"high"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "missing field `requester`",
        ),
        (
            "POST",
            "/v1/approvals".into(),
            Some(bearer.clone()),
            br#"{"tool":"t","risk":"high","requester":"a","quorum":"two"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "at `quorum`",
        ),
        (
            "POST",
            "/v1/approvals".into(),
            Some(bearer.clone()),
            br#"{"tool":"t","risk":"high","requester":"a","escalation":{"after_secs":1,"cc":"x"}}"#
                .to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "at `escalation.cc`: unknown field `cc`",
        ),
        (
            "POST",
            "/v1/approvals".into(),
            Some(bearer.clone()),
            huge,
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "larger than 1024 KiB",
        ),
        (
            "POST",
            decision.clone(),
            Some(approver.clone()),
            br#"{"action":"maybe","approver":"x"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "at `action`: unknown variant `maybe`",
        ),
        (
            "POST",
            decision.clone(),
            Some(approver.clone()),
            br#"{"action":"approve","approver":"y"}"#.to_vec(),
            StatusCode::FORBIDDEN,
            "actor_mismatch",
            "this credential decides as x",
        ),
        (
            "POST",
            decision.clone(),
            Some(approver.clone()),
            br#""approve""#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "invalid type: string",
        ),
        (
            "GET",
            "/v1/approvals?status=maybe".into(),
            Some(bearer.clone()),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "unknown status \"maybe\"",
        ),
        (
            "GET",
            "/v1/approvals?limit=0".into(),
            Some(bearer.clone()),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "`limit` must be between 1 and 1000",
        ),
        (
            "GET",
            "/v1/approvals?colour=red".into(),
            Some(bearer.clone()),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "unknown field `colour`",
        ),
        (
            "GET",
            format!("/v1/approvals/{id}?wait=soon"),
            Some(bearer.clone()),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "wait",
        ),
        (
            "GET",
            "/v2/approvals".into(),
            Some(bearer.clone()),
            vec![],
            StatusCode::NOT_FOUND,
            "not_found",
            "no such endpoint",
        ),
    ];
    let before = s.snapshot().await;
    for (method, path, auth, body, want_status, want_code, needle) in cases {
        let (status, err) = raw(&s, method, &path, auth.as_deref(), body).await;
        assert_eq!(status, want_status, "{method} {path}: {err}");
        assert_eq!(err["code"], want_code, "{method} {path}: {err}");
        let message = err["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(needle),
            "{method} {path}: {message:?} lacks {needle:?}"
        );
        assert_eq!(
            s.snapshot().await,
            before,
            "{method} {path} changed the store"
        );
    }
    assert_eq!(s.record(&id).await["status"], "pending");
    s.stop().await;
}

#[tokio::test]
async fn wrong_method_is_a_json_405() {
    let s = TestServer::start().await;
    let resp = s
        .http
        .delete(format!("{}/v1/approvals", s.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let (status, err) = read(resp).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(err["code"], "method_not_allowed");
    s.stop().await;
}

fn nested(levels: usize) -> Value {
    let mut v = json!("leaf");
    for _ in 0..levels {
        v = json!({ "a": v });
    }
    v
}

#[tokio::test]
async fn arguments_nested_past_64_levels_are_refused_before_parsing() {
    let s = TestServer::start().await;
    let bearer = format!("Bearer {TOKEN}");
    let before = s.snapshot().await;
    // 65 and 125 levels (the issue's finding), and deeper than serde_json's
    // own recursion limit, which must not turn into a different error.
    for levels in [65, 125, 5_000] {
        let mut bytes = br#"{"tool":"t","risk":"high","requester":"a","arguments":"#.to_vec();
        bytes.extend(std::iter::repeat_n(&b"{\"a\":"[..], levels).flatten());
        bytes.extend(b"1");
        bytes.extend(std::iter::repeat_n(b'}', levels + 1));
        let (status, err) = raw(&s, "POST", "/v1/approvals", Some(&bearer), bytes).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{levels}: {err}");
        assert_eq!(err["code"], "too_deep", "{levels}: {err}");
        assert!(
            err["message"].as_str().unwrap().contains("at most 64"),
            "{err}"
        );
        assert_eq!(
            s.snapshot().await,
            before,
            "{levels} levels changed the store"
        );
    }
    // Exactly 64 levels is accepted, and the record reads back.
    let id = s
        .create(json!({"request_id": "deep64", "arguments": nested(64)}))
        .await["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(s.record(&id).await["arguments"], nested(64));
    s.stop().await;
}

/// A client that never finishes its headers loses the connection after
/// the header-read timeout (10 s), instead of holding it for ever.
#[tokio::test]
async fn a_connection_with_half_a_header_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start().await;
    let addr = server
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ")
        .await
        .unwrap();
    // Generous: the timeout is 10 s; a server without one never closes.
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(std::time::Duration::from_secs(40), async {
        let mut got = Vec::new();
        loop {
            match slow.read(&mut buf).await {
                Ok(0) | Err(_) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let got = read.expect("the server still holds a connection whose headers never ended");
    let text = String::from_utf8_lossy(&got);
    assert!(!text.contains("200 OK"), "{text}");
    // The server still serves everyone else.
    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}
