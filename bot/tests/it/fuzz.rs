//! Bounded fuzzing of what strangers can send: the Teams webhook HMAC, the
//! Slack request verifier and the API's body extractors. Never a panic or a
//! 5xx; malformed input is refused with an error and changes nothing; a
//! valid signature over a mutated body never verifies. Case counts are
//! fixed so each target runs in seconds.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hitl_bot::teams::WebhookAuth;
use hmac::{Hmac, KeyInit, Mac};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use secrecy::SecretString;
use sha2::Sha256;

use crate::slack::{SIGNING_SECRET, SlackBot};
use crate::support::{TOKEN, TestServer};

const PURE_CASES: u32 = 2000;
const HTTP_CASES: u32 = 300;

fn hmac_b64(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// `body` with one byte changed, inserted or removed: never equal to it.
fn mutate(body: &[u8], at: usize, byte: u8, kind: u8) -> Vec<u8> {
    let mut out = body.to_vec();
    let i = if out.is_empty() { 0 } else { at % out.len() };
    match kind % 3 {
        0 if !out.is_empty() => out[i] ^= byte | 1,
        1 if !out.is_empty() => {
            out.remove(i);
        }
        _ => out.insert(i.min(out.len()), byte),
    }
    out
}

/// Values from `strategy` without shrinking, for targets driven from async
/// code (each case is an HTTP request to a running server).
fn cases<S: Strategy>(strategy: S, n: u32) -> Vec<S::Value> {
    let mut runner = TestRunner::new(Config::with_cases(n));
    (0..n)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

proptest! {
    #![proptest_config(Config::with_cases(PURE_CASES))]

    #[test]
    fn teams_webhook_hmac_holds_only_for_the_exact_body(
        key in proptest::collection::vec(any::<u8>(), 1..64),
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        at in any::<usize>(), byte in any::<u8>(), kind in any::<u8>(),
        junk in ".{0,200}",
    ) {
        let auth = WebhookAuth::new(&[SecretString::from(STANDARD.encode(&key))]).unwrap();
        let sig = hmac_b64(&key, &body);
        prop_assert!(auth.verify(&sig, &body));
        let mutated = mutate(&body, at, byte, kind);
        prop_assert!(!auth.verify(&sig, &mutated), "a mutated body verified");
        // Anything as the signature: no panic, and no match by chance.
        prop_assert!(!auth.verify(&junk, &body));
        let mut other = key.clone();
        other[at % key.len()] ^= byte | 1;
        prop_assert!(!auth.verify(&hmac_b64(&other, &body), &body), "another key verified");
    }

    #[test]
    fn teams_webhook_secrets_that_are_not_base64_are_refused(secret in ".{0,100}") {
        let decodes = STANDARD.decode(secret.trim()).map(|k| !k.is_empty()).unwrap_or(false);
        let made = WebhookAuth::new(&[SecretString::from(secret.clone())]);
        prop_assert!(made.is_ok() || !decodes, "{secret:?}");
        if let Ok(auth) = made {
            prop_assert_eq!(auth.is_empty(), secret.trim().is_empty());
        }
    }
}

fn slack_sig(secret: &str, ts: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{ts}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn slack_verifier_refuses_mutated_and_malformed_requests() {
    let bot = SlackBot::start().await;
    let before = bot.server.snapshot().await;
    let strategy = (
        proptest::collection::vec(any::<u8>(), 0..4096),
        any::<usize>(),
        any::<u8>(),
        any::<u8>(),
        "[ -~]{0,80}",
        prop_oneof![Just(None), Just(Some(0i64)), (-400i64..400).prop_map(Some)],
        prop::sample::select(vec!["interactions", "events", "commands"]),
    );
    let (mut refused, mut mutated_refused) = (0, 0);
    for (body, at, byte, kind, junk, skew, endpoint) in cases(strategy, HTTP_CASES) {
        let url = format!("{}/slack/{endpoint}", bot.server.url);
        let ts = match skew {
            Some(s) => (chrono::Utc::now().timestamp() + s).to_string(),
            None => junk.clone(),
        };
        let send = |b: Vec<u8>, sig: String, ts: String| {
            bot.server
                .http
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-slack-request-timestamp", ts)
                .header("x-slack-signature", sig)
                .body(b)
                .send()
        };
        // A valid signature over the original, sent with a mutated body.
        let sig = slack_sig(SIGNING_SECRET, &ts, &body);
        let status = send(mutate(&body, at, byte, kind), sig, ts.clone())
            .await
            .unwrap()
            .status();
        assert!(
            status == 401 || status == 413,
            "mutated body: {status} on {endpoint}"
        );
        mutated_refused += 1;
        // Junk as the signature.
        let status = send(body.clone(), junk.clone(), ts.clone())
            .await
            .unwrap()
            .status();
        assert!(status == 401 || status == 413, "junk signature: {status}");
        // Correctly signed arbitrary bytes: refused as malformed or
        // answered, never a server error.
        let sig = slack_sig(SIGNING_SECRET, &ts, &body);
        let status = send(body.clone(), sig, ts).await.unwrap().status();
        assert!(!status.is_server_error(), "signed junk body: {status}");
        refused += 1;
    }
    assert_eq!(mutated_refused, HTTP_CASES);
    assert_eq!(refused, HTTP_CASES);
    assert_eq!(
        bot.server.snapshot().await,
        before,
        "fuzzed Slack requests changed nothing"
    );
}

#[tokio::test]
async fn api_body_extractors_refuse_malformed_bodies_and_change_nothing() {
    let server = TestServer::start().await;
    let before = server.snapshot().await;
    let json_ish = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2048),
        "[\\[\\]{}\",:0-9a-z ]{0,400}".prop_map(String::into_bytes),
        // Valid JSON of the wrong shape.
        any::<(i64, bool, String)>().prop_map(|(n, b, s)| {
            serde_json::json!({"tool": n, "arguments": b, "server": s, "timeout_secs": s})
                .to_string()
                .into_bytes()
        }),
    ];
    let ctype = prop::sample::select(vec![
        "application/json",
        "text/plain",
        "application/json; charset=utf-8",
        "",
    ]);
    let path = prop::sample::select(vec![
        "/v1/approvals",
        "/v1/approvals/wait",
        "/v1/approvals/NOSUCHREQ0/decision",
        "/v1/approvals/NOSUCHREQ0/cancel",
        "/v1/approvals/NOSUCHREQ0/execution",
    ]);
    for (body, ctype, path) in cases((json_ish, ctype, path), HTTP_CASES) {
        let mut req = server
            .http
            .post(format!("{}{path}", server.url))
            .bearer_auth(TOKEN)
            .body(body.clone());
        if !ctype.is_empty() {
            req = req.header("content-type", ctype);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(
            status.is_client_error(),
            "{path} {ctype:?} {:?}: {status} {text}",
            String::from_utf8_lossy(&body)
        );
        let err: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{path}: a JSON error, not {text:?}"));
        assert!(
            err["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{err}"
        );
    }
    assert_eq!(
        server.snapshot().await,
        before,
        "malformed bodies changed nothing"
    );
}

/// A base64url character other than `c`.
fn other_b64url(c: u8, pick: u8) -> u8 {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut next = ALPHABET[pick as usize % ALPHABET.len()];
    if next == c {
        next = ALPHABET[(pick as usize + 1) % ALPHABET.len()];
    }
    next
}

#[tokio::test]
async fn teams_tokens_mutated_or_malformed_never_reach_the_handler() {
    use crate::teams::{Edge, Issuer, SERVICE_URL, bf_claims, invoke, settings};
    use hitl_bot::teams::keys::CachePolicy;

    let issuer = Issuer::start();
    let edge = Edge::start(&settings(&issuer), CachePolicy::default()).await;
    let good = issuer
        .mint(serde_json::json!({ "claims": bf_claims(SERVICE_URL) }))
        .await;
    let activity = invoke("fz-1", SERVICE_URL, "msteams");
    let (status, body) = edge.send(Some(&good), &activity).await;
    assert_eq!(status, 200, "the unmutated token is accepted: {body}");
    let reached = edge.reached();
    let strategy = (any::<prop::sample::Index>(), any::<u8>(), "[ -~]{0,300}");
    for (at, pick, junk) in cases(strategy, HTTP_CASES) {
        // One character of the token changed. The last character of each
        // segment is left alone: its low bits may be padding.
        let bytes = good.as_bytes();
        let i = at.index(bytes.len());
        let ends_segment = i + 1 == bytes.len() || bytes[i + 1] == b'.';
        if bytes[i] != b'.' && !ends_segment {
            let mut t = bytes.to_vec();
            t[i] = other_b64url(t[i], pick);
            let t = String::from_utf8(t).unwrap();
            let (status, body) = edge.send(Some(&t), &activity).await;
            assert_eq!(status, 401, "token mutated at {i}: {body}");
        }
        // Junk as the token; a real-looking JWT shape around junk.
        for token in [junk.clone(), format!("{junk}.{junk}.{junk}")] {
            let (status, body) = edge.send(Some(&token), &activity).await;
            assert!(
                status == 401 || status == 400,
                "junk token: {status} {body}"
            );
        }
    }
    assert_eq!(
        edge.reached(),
        reached,
        "no refused request reached the handler"
    );
}
