//! `POST /teams/webhook`: only a body signed with the outgoing webhook's
//! security token (HMAC-SHA256, made here by Python's `hmac`) gets through;
//! a second token works while the first is rotated out.

use std::process::Command;

use base64::Engine;
use hitl_bot::teams::keys::CachePolicy;
use hitl_bot::teams::settings::TeamsSettings;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::json;

use super::{Edge, Issuer, python, settings};

const SECRET: &str = "c2VjcmV0LXdlYmhvb2sta2V5LWJ5LXRlYW1zLTAxMjM0NTY3ODk=";
const NEXT_SECRET: &str = "bmV4dC13ZWJob29rLWtleS0wMTIzNDU2Nzg5YWJjZGVm";

/// `HMAC <base64(hmac_sha256(b64decode(secret), body))>`, by Python.
pub(super) fn sign(secret: &str, body: &[u8]) -> String {
    let script = "import base64,hashlib,hmac,sys\n\
        key=base64.b64decode(sys.argv[1]); body=sys.stdin.buffer.read()\n\
        print(base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode())";
    let mut child = Command::new(python())
        .args(["-c", script, secret])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    format!("HMAC {}", String::from_utf8(out.stdout).unwrap().trim())
}

fn message() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "type": "message",
        "id": "1700000000123",
        "serviceUrl": "https://smba.trafficmanager.net/amer/",
        "channelId": "msteams",
        "from": { "id": "29:1abc", "name": "Ana", "aadObjectId": "6b3c5e2f-0000-4000-8000-000000000001" },
        "conversation": { "id": "19:abc@thread.tacv2;messageid=1700000000123", "conversationType": "channel", "tenantId": "t" },
        "text": "<at>hitl</at> pending",
        "textFormat": "plain",
        "entities": [{ "type": "mention", "text": "<at>hitl</at>", "mentioned": { "id": "28:x", "name": "hitl" } }]
    }))
    .unwrap()
}

async fn post(edge: &Edge, auth: Option<String>, body: Vec<u8>) -> (StatusCode, serde_json::Value) {
    let mut req = edge
        .http
        .post(format!("{}/teams/webhook", edge.url))
        .body(body);
    if let Some(auth) = auth {
        req = req.header("authorization", auth);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or_default())
}

#[tokio::test]
async fn only_a_body_signed_with_a_live_secret_gets_through() {
    let issuer = Issuer::start();
    let edge = Edge::start(
        &TeamsSettings {
            webhook_secrets: vec![SecretString::from(SECRET), SecretString::from(NEXT_SECRET)],
            ..settings(&issuer)
        },
        CachePolicy::default(),
    )
    .await;
    let body = message();

    let (status, reply) = post(&edge, Some(sign(SECRET, &body)), body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["text"], "you said: pending");
    let (status, _) = post(&edge, Some(sign(NEXT_SECRET, &body)), body.clone()).await;
    assert_eq!(status, StatusCode::OK, "the rotated-in secret");
    assert_eq!(edge.reached(), 2);

    let other = base64::engine::general_purpose::STANDARD.encode("not-the-secret");
    let mut tampered = body.clone();
    let at = tampered.windows(7).position(|w| w == b"pending").unwrap();
    tampered[at..at + 7].copy_from_slice(b"approve");
    let mut latin1 = body.clone();
    latin1.push(0xE9);
    let cases = [
        ("another secret", Some(sign(&other, &body)), body.clone()),
        ("a tampered body", Some(sign(SECRET, &body)), tampered),
        ("no signature", None, body.clone()),
        (
            "a bearer token instead",
            Some("Bearer abc".to_string()),
            body.clone(),
        ),
        ("not base64", Some("HMAC %%%".to_string()), body.clone()),
        (
            "bytes that are not UTF-8",
            Some(sign(SECRET, &latin1)),
            latin1,
        ),
    ];
    for (what, auth, body) in cases {
        let (status, err) = post(&edge, auth, body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {err}");
        assert_eq!(err["code"], "unauthorized", "{what}");
    }
    assert_eq!(edge.reached(), 2, "a refused request reached the handler");

    let big = vec![b' '; 100 * 1024];
    let (status, _) = post(&edge, Some(sign(SECRET, &big)), big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn without_a_secret_every_webhook_request_is_refused() {
    let issuer = Issuer::start();
    let edge = Edge::start(&settings(&issuer), CachePolicy::default()).await;
    let body = message();
    let (status, _) = post(&edge, Some(sign(SECRET, &body)), body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let err = TeamsSettings {
        webhook_secrets: vec![SecretString::from("not base64!")],
        ..settings(&issuer)
    }
    .validate()
    .unwrap_err();
    assert!(err.to_string().contains("TEAMS_WEBHOOK_SECRET"), "{err}");
}
