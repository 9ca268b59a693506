//! `POST /teams/messages` only lets through activities whose Bot Framework
//! (or, when switched on, Entra) token checks out for this bot, this
//! channel and this connector. Every refusal from the list is a
//! 401/403 that reaches no handler, and a valid token still works after
//! each.

use std::time::{Duration, Instant};

use hitl_bot::teams::keys::CachePolicy;
use hitl_bot::teams::settings::TeamsSettings;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{
    APP_ID, CALLER, Edge, Issuer, SERVICE_URL, TENANT, bf_claims, entra_claims, entra_settings,
    invoke, settings,
};

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

#[tokio::test]
async fn every_forged_or_misdirected_token_is_refused_and_a_valid_one_still_works() {
    let issuer = Issuer::start();
    let edge = Edge::start(&entra_settings(&issuer), CachePolicy::default()).await;
    let good = issuer
        .mint(json!({ "claims": bf_claims(SERVICE_URL) }))
        .await;
    let activity = invoke("a-1", SERVICE_URL, "msteams");
    let now = chrono::Utc::now().timestamp();
    let evil = "https://smba.trafficmanager.net.evil.example/amer/";
    let other_tenant = "0b1c2d3e-0000-4000-8000-00000000beef";

    // (what, token spec or raw token, activity, status, message part)
    let cases: Vec<(&str, Option<Value>, Value, StatusCode, &str)> = vec![
        (
            "no token",
            None,
            activity.clone(),
            StatusCode::UNAUTHORIZED,
            "missing Authorization",
        ),
        (
            "not a JWT",
            Some(json!("not-a-jwt")),
            activity.clone(),
            StatusCode::UNAUTHORIZED,
            "not a JWT",
        ),
        (
            "a key not in the JWKS, under a published kid",
            Some(json!({ "key": "rogue", "kid": "bf1", "claims": bf_claims(SERVICE_URL) })),
            activity.clone(),
            StatusCode::UNAUTHORIZED,
            "InvalidSignature",
        ),
        (
            "a kid nobody published",
            Some(json!({ "key": "rogue", "kid": "made-up", "claims": bf_claims(SERVICE_URL) })),
            activity.clone(),
            StatusCode::UNAUTHORIZED,
            "not published",
        ),
        (
            "alg none",
            Some(json!({ "alg": "none", "kid": "bf1", "claims": bf_claims(SERVICE_URL) })),
            activity.clone(),
            StatusCode::UNAUTHORIZED,
            "algorithm none is not accepted",
        ),
        (
            "HS256 keyed with the public key",
            Some(json!({ "alg": "HS256", "claims": bf_claims(SERVICE_URL) })),
            activity.clone(),
            StatusCode::UNAUTHORIZED,
            "algorithm HS256 is not accepted",
        ),
        (
            "wrong audience",
            Some(json!({ "claims": with(bf_claims(SERVICE_URL), "aud", json!("another-bot")) })),
            activity.clone(),
            StatusCode::UNAUTHORIZED,
            "InvalidAudience",
        ),
        (
            "wrong issuer",
            Some(
                json!({ "claims": with(bf_claims(SERVICE_URL), "iss", json!("https://api.botframework.com.evil.example")) }),
            ),
            activity.clone(),
            StatusCode::UNAUTHORIZED,
            "issuer",
        ),
        (
            "expired beyond the 5-minute skew",
            Some(json!({ "claims": with(bf_claims(SERVICE_URL), "exp", json!(now - 301)) })),
            activity.clone(),
            StatusCode::UNAUTHORIZED,
            "expired",
        ),
        (
            "not valid for another 10 minutes",
            Some(json!({ "claims": with(bf_claims(SERVICE_URL), "nbf", json!(now + 600)) })),
            activity.clone(),
            StatusCode::UNAUTHORIZED,
            "not valid yet",
        ),
        (
            "no serviceurl claim",
            Some(json!({ "claims": without(bf_claims(SERVICE_URL), "serviceurl") })),
            activity.clone(),
            StatusCode::UNAUTHORIZED,
            "serviceurl claim",
        ),
        (
            "serviceurl claim unlike the activity's",
            Some(json!({ "claims": bf_claims("https://smba.trafficmanager.net/emea/") })),
            activity.clone(),
            StatusCode::UNAUTHORIZED,
            "serviceurl claim",
        ),
        (
            "serviceUrl off the allowlist",
            Some(json!({ "claims": bf_claims(evil) })),
            invoke("a-1", evil, "msteams"),
            StatusCode::FORBIDDEN,
            "is not allowed",
        ),
        (
            "a key not endorsed for msteams",
            Some(json!({ "key": "bf_webchat", "claims": bf_claims(SERVICE_URL) })),
            activity.clone(),
            StatusCode::UNAUTHORIZED,
            "not endorsed for channel \"msteams\"",
        ),
        (
            "a token for another channel than the activity's",
            Some(json!({ "claims": bf_claims(SERVICE_URL) })),
            invoke("a-1", SERVICE_URL, "slack"),
            StatusCode::UNAUTHORIZED,
            "not endorsed",
        ),
        (
            "an Entra token from a tenant not allowed",
            Some(
                json!({ "key": "entra1", "claims": with(with(entra_claims(), "iss", json!(format!("https://login.microsoftonline.com/{other_tenant}/v2.0"))), "tid", json!(other_tenant)) }),
            ),
            activity.clone(),
            StatusCode::UNAUTHORIZED,
            "issuer",
        ),
        (
            "an Entra token naming another tenant under ours",
            Some(
                json!({ "key": "entra1", "claims": with(entra_claims(), "tid", json!(other_tenant)) }),
            ),
            activity.clone(),
            StatusCode::UNAUTHORIZED,
            "tenant",
        ),
        (
            "an Entra token from a caller not on the allowlist",
            Some(
                json!({ "key": "entra1", "claims": with(entra_claims(), "azp", json!("11111111-2222-3333-4444-555555555555")) }),
            ),
            activity.clone(),
            StatusCode::UNAUTHORIZED,
            "TEAMS_ENTRA_ALLOWED_CALLERS",
        ),
        (
            "an Entra token signed with a Bot Framework key",
            Some(json!({ "key": "bf1", "claims": entra_claims() })),
            activity.clone(),
            StatusCode::UNAUTHORIZED,
            "not published",
        ),
        (
            "a Bot Framework token signed with an Entra key",
            Some(json!({ "key": "entra1", "claims": bf_claims(SERVICE_URL) })),
            activity.clone(),
            StatusCode::UNAUTHORIZED,
            "not published",
        ),
    ];

    for (accepted, (what, spec, activity, status, message)) in cases.into_iter().enumerate() {
        let token = match &spec {
            None => None,
            Some(Value::String(raw)) => Some(raw.clone()),
            Some(spec) => Some(issuer.mint(spec.clone()).await),
        };
        let (got, body) = edge.send(token.as_deref(), &activity).await;
        assert_eq!(got, status, "{what}: {body}");
        let text = body["message"].as_str().unwrap_or_default();
        assert!(
            text.contains(message),
            "{what}: expected {message:?} in {text:?}"
        );
        assert_eq!(edge.reached(), accepted, "{what} reached the handler");

        let (got, body) = edge
            .send(Some(&good), &invoke("a-1", SERVICE_URL, "msteams"))
            .await;
        assert_eq!(got, StatusCode::OK, "a valid token after {what}: {body}");
        assert_eq!(body["issuer"], "BotFramework");
        assert_eq!(body["request_id"], "apr_1");
    }
}

#[tokio::test]
async fn entra_tokens_are_accepted_only_when_switched_on() {
    let issuer = Issuer::start();
    let token = issuer
        .mint(json!({ "key": "entra1", "claims": entra_claims() }))
        .await;
    let v1 = issuer
        .mint(json!({ "key": "entra1", "claims": with(without(with(entra_claims(), "iss", json!(format!("https://sts.windows.net/{TENANT}/"))), "azp"), "appid", json!(CALLER)) }))
        .await;
    let activity = invoke("e-1", SERVICE_URL, "msteams");

    let off = Edge::start(&settings(&issuer), CachePolicy::default()).await;
    let (status, body) = off.send(Some(&token), &activity).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("issuer"),
        "{body}"
    );
    assert_eq!(
        issuer.hits("/entra/keys").await,
        0,
        "Entra keys fetched while off"
    );

    let on = Edge::start(&entra_settings(&issuer), CachePolicy::default()).await;
    for token in [&token, &v1] {
        let (status, body) = on.send(Some(token), &activity).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["issuer"], "Entra");
        assert_eq!(body["caller"], CALLER);
    }
}

#[test]
fn entra_tokens_cannot_be_switched_on_without_a_tenant_and_callers() {
    let on = |tenant: Option<&str>, callers: Vec<String>| TeamsSettings {
        app_id: APP_ID.to_string(),
        tenant_id: tenant.map(str::to_string),
        entra: hitl_bot::teams::settings::EntraSettings {
            enabled: true,
            openid_url: None,
            allowed_callers: callers,
        },
        ..TeamsSettings::default()
    };
    let err = on(None, vec![CALLER.into()])
        .validate()
        .unwrap_err()
        .to_string();
    assert!(err.contains("TEAMS_TENANT_ID"), "{err}");
    let err = on(Some(TENANT), vec![]).validate().unwrap_err().to_string();
    assert!(err.contains("TEAMS_ENTRA_ALLOWED_CALLERS"), "{err}");
    assert!(on(Some(TENANT), vec![CALLER.into()]).validate().is_ok());
    let err = TeamsSettings::default().validate().unwrap_err().to_string();
    assert!(err.contains("TEAMS_APP_ID"), "{err}");
    let wildcard = TeamsSettings {
        allowed_service_urls: vec!["*.trafficmanager.net".into()],
        ..on(Some(TENANT), vec![CALLER.into()])
    };
    assert!(
        wildcard
            .validate()
            .unwrap_err()
            .to_string()
            .contains("wildcard")
    );
}

#[tokio::test]
async fn the_serviceurl_claim_matches_whatever_the_case_and_trailing_slash() {
    let issuer = Issuer::start();
    let edge = Edge::start(&settings(&issuer), CachePolicy::default()).await;
    let token = issuer
        .mint(json!({ "claims": bf_claims("https://SMBA.trafficmanager.net/amer") }))
        .await;
    let (status, body) = edge
        .send(Some(&token), &invoke("c-1", SERVICE_URL, "msteams"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_local_connector_on_one_port_does_not_admit_the_others() {
    let issuer = Issuer::start();
    let allowed = "http://127.0.0.1:4100/amer/";
    let edge = Edge::start(
        &TeamsSettings {
            allowed_service_urls: vec!["http://127.0.0.1:4100".into()],
            ..settings(&issuer)
        },
        CachePolicy::default(),
    )
    .await;
    for (service_url, status) in [
        (allowed, StatusCode::OK),
        ("http://127.0.0.1:4101/amer/", StatusCode::FORBIDDEN),
        ("https://127.0.0.1:4100/amer/", StatusCode::FORBIDDEN),
        ("http://localhost:4100/amer/", StatusCode::FORBIDDEN),
    ] {
        let token = issuer
            .mint(json!({ "claims": bf_claims(service_url) }))
            .await;
        let (got, body) = edge
            .send(Some(&token), &invoke("p-1", service_url, "msteams"))
            .await;
        assert_eq!(got, status, "{service_url}: {body}");
    }
}

#[tokio::test]
async fn unreachable_metadata_is_a_fast_401_never_a_hang_or_a_5xx() {
    let issuer = Issuer::start();
    let token = issuer
        .mint(json!({ "claims": bf_claims(SERVICE_URL) }))
        .await;
    // A listener that accepts connections and never answers, and a port
    // that refuses them.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}/openid", silent.local_addr().unwrap());
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/openid", l.local_addr().unwrap())
    };
    for openid_url in [silent_url, closed] {
        let edge = Edge::start(
            &TeamsSettings {
                openid_url: openid_url.clone(),
                ..settings(&issuer)
            },
            CachePolicy::default(),
        )
        .await;
        let started = Instant::now();
        let (status, body) = edge
            .send(Some(&token), &invoke("u-1", SERVICE_URL, "msteams"))
            .await;
        let took = started.elapsed();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{openid_url}: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("cannot be fetched"),
            "{body}"
        );
        assert!(
            took < Duration::from_secs(2),
            "{openid_url}: answered after {took:?}"
        );
        // The next request does not wait on the issuer again.
        let started = Instant::now();
        let (status, _) = edge
            .send(Some(&token), &invoke("u-2", SERVICE_URL, "msteams"))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "retried at once"
        );
        assert_eq!(edge.reached(), 0);
    }
}

#[tokio::test]
async fn start_up_calls_nobody_and_forged_key_ids_cannot_make_the_bot_call_out() {
    let issuer = Issuer::start();
    // Microsoft's own endpoints: building the check must not touch them.
    let microsoft = TeamsSettings {
        app_id: APP_ID.to_string(),
        ..TeamsSettings::default()
    };
    hitl_bot::teams::TeamsAuth::new(&microsoft, super::http(), hitl_bot::clock::Clock::System)
        .unwrap();

    let edge = Edge::start(&settings(&issuer), CachePolicy::default()).await;
    assert_eq!(
        issuer.hits("/botframework/openid").await,
        0,
        "fetched at start-up"
    );
    for i in 0..20 {
        let forged = issuer
            .mint(json!({ "key": "rogue", "kid": format!("forged-{i}"), "claims": bf_claims(SERVICE_URL) }))
            .await;
        let (status, _) = edge
            .send(Some(&forged), &invoke("f-1", SERVICE_URL, "msteams"))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let good = issuer
        .mint(json!({ "claims": bf_claims(SERVICE_URL) }))
        .await;
    let (status, _) = edge
        .send(Some(&good), &invoke("f-2", SERVICE_URL, "msteams"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(issuer.hits("/botframework/openid").await, 1);
    assert_eq!(
        issuer.hits("/botframework/keys").await,
        1,
        "forged kids caused refetches"
    );
}

#[tokio::test]
async fn a_newly_published_key_is_fetched_when_a_token_names_it() {
    let issuer = Issuer::start();
    let policy = CachePolicy {
        refetch_every: Duration::ZERO,
        ..CachePolicy::default()
    };
    let edge = Edge::start(&settings(&issuer), policy).await;
    let old = issuer
        .mint(json!({ "claims": bf_claims(SERVICE_URL) }))
        .await;
    assert_eq!(
        edge.send(Some(&old), &invoke("r-1", SERVICE_URL, "msteams"))
            .await
            .0,
        StatusCode::OK
    );
    issuer.publish("bf2").await;
    let new = issuer
        .mint(json!({ "key": "bf2", "claims": bf_claims(SERVICE_URL) }))
        .await;
    let (status, body) = edge
        .send(Some(&new), &invoke("r-2", SERVICE_URL, "msteams"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(issuer.hits("/botframework/keys").await, 2);
}

#[tokio::test]
async fn the_handler_gets_a_once_key_per_activity_and_bad_bodies_are_refused() {
    let issuer = Issuer::start();
    let edge = Edge::start(&settings(&issuer), CachePolicy::default()).await;
    let token = issuer
        .mint(json!({ "claims": bf_claims(SERVICE_URL) }))
        .await;
    let activity = invoke("dup-1", SERVICE_URL, "msteams");
    let (_, first) = edge.send(Some(&token), &activity).await;
    let (_, again) = edge.send(Some(&token), &activity).await;
    assert_eq!(
        first["once_key"],
        "teams:activity:19:abc@thread.tacv2;messageid=1700000000000:dup-1"
    );
    assert_eq!(first["once_key"], again["once_key"]);

    // Unknown activity types and fields are accepted as they are.
    let mut typing = activity.clone();
    typing["type"] = json!("typing");
    typing["somethingNew"] = json!({ "x": 1 });
    let (status, body) = edge.send(Some(&token), &typing).await;
    assert_eq!(
        (status, body["type"].clone()),
        (StatusCode::OK, json!("typing"))
    );

    // A valid token does not make a broken body acceptable.
    let resp = edge
        .http
        .post(format!("{}/teams/messages", edge.url))
        .bearer_auth(&token)
        .body("{\"serviceUrl\": 1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = edge
        .http
        .post(format!("{}/teams/messages", edge.url))
        .bearer_auth(&token)
        .body(vec![b' '; 300 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(edge.reached(), 3);
}
