//! The Teams adapter on the real router and service (SQLite), against the
//! local token issuer (PyJWT) and the fake Bot Connector: a request is
//! posted as a card, an `Action.Execute` click is answered with the
//! refreshed card and the card is replaced for everyone; refusals change
//! nothing; commands, `Action.Submit`, conversation updates, duplicates
//! and the outgoing webhook. Every card the bot sent is checked by
//! Microsoft's `adaptivecards` library at the end of each test.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hitl_bot::Running;
use hitl_bot::api::auth::Tokens;
use hitl_bot::clock::Clock;
use hitl_bot::notify::Notifier;
use hitl_bot::service::{ApprovalService, Settings};
use hitl_bot::store::sqlite::SqliteStore;
use hitl_bot::teams::Teams;
use hitl_bot::teams::settings::TeamsSettings;
use hitl_cards::Templates;
use hitl_wire::api::CreateApproval;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};

use super::fake::{APP_PASSWORD, FakeConnector, Recorded};
use super::{APP_ID, Issuer, TENANT, bf_claims, http, settings};

const CHANNEL: &str = "19:ops@thread.tacv2";
const ANA: &str = "6b3c5e2f-0000-4000-8000-000000000001";
const BEN: &str = "6b3c5e2f-0000-4000-8000-000000000002";
const WEBHOOK_SECRET: &str = "c2VjcmV0LXdlYmhvb2sta2V5LWJ5LXRlYW1zLTAxMjM0NTY3ODk=";

/// The bot with Teams on, its connector and issuer, on 127.0.0.1.
struct Bot {
    url: String,
    service: Arc<ApprovalService>,
    running: Option<Running>,
    issuer: Issuer,
    fake: FakeConnector,
    http: reqwest::Client,
    /// Every card the bot answered an invoke with.
    answered: Mutex<Vec<Value>>,
    _dir: tempfile::TempDir,
}

fn teams_settings(issuer: &Issuer, fake: &FakeConnector, configured: bool) -> TeamsSettings {
    TeamsSettings {
        app_password: Some(SecretString::from(APP_PASSWORD)),
        token_url: Some(fake.token_url(TENANT)),
        allowed_service_urls: vec![fake.url.clone()],
        service_url: configured.then(|| fake.service_url()),
        conversation_id: configured.then(|| CHANNEL.to_owned()),
        webhook_secrets: vec![SecretString::from(WEBHOOK_SECRET)],
        ..settings(issuer)
    }
}

impl Bot {
    async fn start() -> Self {
        Self::start_with(true, |s| s).await
    }

    async fn start_with(configured: bool, f: impl FnOnce(TeamsSettings) -> TeamsSettings) -> Self {
        let issuer = Issuer::start();
        let fake = FakeConnector::start().await;
        let teams = Teams::new(
            &f(teams_settings(&issuer, &fake, configured)),
            Templates::builtin(),
            Clock::System,
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("hitl.db")).unwrap();
        let mut settings = Settings::default();
        settings.outbox.first_backoff = Duration::from_millis(50);
        settings.outbox.poll = Duration::from_millis(50);
        let running = Running::start(
            Arc::new(store),
            settings,
            Clock::System,
            vec![teams.clone() as Arc<dyn Notifier>],
        )
        .await
        .unwrap();
        let service = running.service.clone();
        let router = hitl_bot::app_with_chat(
            service.clone(),
            Tokens::new(SecretString::from(crate::support::TOKEN), None),
            None,
            Some(teams),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = running.shutdown_token();
        tokio::spawn(async move {
            hitl_bot::serve(listener, router, async move { stop.cancelled().await })
                .await
                .unwrap();
        });
        Self {
            url,
            service,
            running: Some(running),
            issuer,
            fake,
            http: http(),
            answered: Mutex::new(Vec::new()),
            _dir: dir,
        }
    }

    async fn create(&self, body: Value) -> hitl_wire::ApprovalRecord {
        let body: CreateApproval = serde_json::from_value(body).unwrap();
        self.service.create(body).await.unwrap().0
    }

    async fn token(&self) -> String {
        self.issuer
            .mint(json!({ "claims": bf_claims(&self.fake.service_url()) }))
            .await
    }

    /// POSTs a signed activity to `/teams/messages`.
    async fn send(&self, activity: &Value) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(format!("{}/teams/messages", self.url))
            .bearer_auth(self.token().await)
            .json(activity)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if body["type"] == hitl_cards::teams::CONTENT_TYPE {
            self.answered.lock().unwrap().push(body["value"].clone());
        }
        (status, body)
    }

    /// Waits until the connector saw a call matching `pred`.
    async fn wait_call(&self, what: &str, pred: impl Fn(&Recorded) -> bool) -> Recorded {
        for _ in 0..200 {
            if let Some(c) = self.fake.connector_calls().into_iter().find(|c| pred(c)) {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "no {what} at the connector: {:#?}",
            self.fake.connector_calls()
        );
    }

    async fn status(&self, id: &str) -> String {
        self.service.get(id).await.unwrap().status.to_string()
    }

    /// Every Adaptive Card the bot sent or answered, checked by Microsoft's
    /// library.
    fn validate_cards(&self) {
        let mut entries = Vec::new();
        for (n, c) in self.fake.connector_calls().iter().enumerate() {
            let body: Value = serde_json::from_str(&c.body).unwrap_or(Value::Null);
            for a in body["attachments"].as_array().into_iter().flatten() {
                entries.push(json!({ "name": format!("{} {} #{n}", c.method, c.path), "card": a["content"] }));
            }
        }
        for (n, card) in self.answered.lock().unwrap().iter().enumerate() {
            entries.push(json!({ "name": format!("invoke answer #{n}"), "card": card }));
        }
        assert!(!entries.is_empty(), "no card was sent");
        validate(&entries);
    }

    async fn stop(mut self) {
        self.validate_cards();
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }
}

#[allow(clippy::disallowed_methods)]
fn validate(entries: &[Value]) {
    let modules = std::env::var_os("HITL_NODE_MODULES")
        .filter(|p| !p.is_empty())
        .expect(
            "set HITL_NODE_MODULES to a node_modules with adaptivecards (./scripts/test does this)",
        );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec(entries).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cards/tests/teams/validate.js");
    let out = std::process::Command::new("node")
        .arg(script)
        .arg(file.path())
        .env("NODE_PATH", modules)
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "adaptivecards refused a card the bot sent:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn request(id: &str) -> Value {
    json!({"request_id": id, "tool": "deploy", "server": "prod-ops", "risk": "high",
           "requester": "agent", "arguments": {"env": "prod", "api_key": "sk-live-0123456789abcdef"},
           "reasons": ["deploys to production"]})
}

fn from(aad: &str) -> Value {
    json!({ "id": format!("29:1{aad}"), "name": "Someone", "aadObjectId": aad })
}

/// A click on the card posted as `root` (Action.Execute).
fn click(activity_id: &str, service_url: &str, who: &str, data: Value) -> Value {
    let verb = data["decision"].clone();
    json!({
        "type": "invoke", "name": "adaptiveCard/action", "id": activity_id,
        "serviceUrl": service_url, "channelId": "msteams", "from": from(who),
        "conversation": { "conversationType": "channel", "tenantId": TENANT, "id": format!("{CHANNEL};messageid=1700000000001"), "isGroup": true },
        "recipient": { "id": format!("28:{APP_ID}"), "name": "hitl" },
        "channelData": { "tenant": { "id": TENANT } },
        "value": { "action": { "type": "Action.Execute", "verb": verb, "data": data }, "trigger": "manual" }
    })
}

fn message(
    activity_id: &str,
    service_url: &str,
    who: &str,
    text: &str,
    value: Option<Value>,
) -> Value {
    let mut m = json!({
        "type": "message", "id": activity_id,
        "serviceUrl": service_url, "channelId": "msteams", "from": from(who),
        "conversation": { "conversationType": "channel", "tenantId": TENANT, "id": format!("{CHANNEL};messageid=1700000000001") },
        "recipient": { "id": format!("28:{APP_ID}"), "name": "hitl" },
        "text": text,
    });
    if let Some(v) = value {
        m["value"] = v;
    }
    m
}

fn card_text(card: &Value) -> String {
    card.to_string()
}

#[tokio::test]
async fn an_approve_click_is_answered_with_the_refreshed_card_and_replaces_it_for_everyone() {
    let bot = Bot::start().await;
    let su = bot.fake.service_url();
    bot.create(request("apr_click")).await;
    let posted = bot
        .wait_call("card post", |c| {
            c.method == "POST" && c.path.ends_with("/activities")
        })
        .await;
    assert!(
        posted.path.contains("19:ops@thread.tacv2"),
        "{}",
        posted.path
    );
    assert!(
        !posted.body.contains("sk-live-0123456789abcdef"),
        "a secret reached the card"
    );
    assert!(posted.body.contains("Action.Execute"));

    let (status, body) = bot
        .send(&click(
            "c-1",
            &su,
            ANA,
            json!({"requestId": "apr_click", "decision": "approve"}),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["statusCode"], 200);
    assert_eq!(body["type"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(body["value"]["type"], "AdaptiveCard");
    let card = card_text(&body["value"]);
    assert!(
        card.contains("Approved") || card.contains("approved"),
        "{card}"
    );
    assert!(
        !card.contains("Action.Execute"),
        "a decided card keeps its buttons: {card}"
    );
    let record = bot.service.get("apr_click").await.unwrap();
    assert_eq!(record.status.to_string(), "approved");
    assert_eq!(
        record.approver.as_deref(),
        Some(format!("teams:{ANA}").as_str())
    );

    // Everyone's card is replaced (PUT on the posted activity).
    let put = bot
        .wait_call("card replacement", |c| c.method == "PUT")
        .await;
    assert!(put.path.ends_with("/activities/1700000000001") || put.path.contains("/activities/"));
    assert!(!put.body.contains("Action.Execute"));

    // Someone else's later click changes nothing and says why.
    let (status, body) = bot
        .send(&click(
            "c-2",
            &su,
            BEN,
            json!({"requestId": "apr_click", "decision": "reject", "reason": "no"}),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["type"], "application/vnd.microsoft.activity.message");
    assert!(
        body["value"].as_str().unwrap().contains("already approved"),
        "{body}"
    );
    let after = bot.service.get("apr_click").await.unwrap();
    assert_eq!(after.approver, record.approver);
    assert_eq!(after.decided_at, record.decided_at);

    // The same activity delivered again changes nothing either.
    let (status, body) = bot
        .send(&click(
            "c-1",
            &su,
            ANA,
            json!({"requestId": "apr_click", "decision": "approve"}),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["type"], "application/vnd.microsoft.card.adaptive");
    bot.stop().await;
}

#[tokio::test]
async fn refusals_are_messages_and_change_nothing_and_a_reject_records_its_reason() {
    let bot = Bot::start().await;
    let su = bot.fake.service_url();
    bot.create(
        json!({"request_id": "apr_own", "tool": "rm", "risk": "high",
                      "requester": format!("teams:{ANA}"), "arguments": {}}),
    )
    .await;
    bot.create(json!({"request_id": "apr_only_ben", "tool": "rm", "risk": "high",
                      "requester": "agent", "arguments": {}, "approvers": [format!("teams:{BEN}")]}))
        .await;

    let (_, own) = bot
        .send(&click(
            "r-1",
            &su,
            ANA,
            json!({"requestId": "apr_own", "decision": "approve"}),
        ))
        .await;
    assert!(
        own["value"].as_str().unwrap().contains("cannot approve"),
        "{own}"
    );
    let (_, not_listed) = bot
        .send(&click(
            "r-2",
            &su,
            ANA,
            json!({"requestId": "apr_only_ben", "decision": "approve"}),
        ))
        .await;
    assert!(
        not_listed["value"]
            .as_str()
            .unwrap()
            .contains("may not decide"),
        "{not_listed}"
    );
    let (_, no_reason) = bot
        .send(&click(
            "r-3",
            &su,
            BEN,
            json!({"requestId": "apr_only_ben", "decision": "reject"}),
        ))
        .await;
    assert!(
        no_reason["value"].as_str().unwrap().contains("reason"),
        "{no_reason}"
    );
    let (_, unknown) = bot
        .send(&click(
            "r-4",
            &su,
            BEN,
            json!({"requestId": "apr_nope", "decision": "approve"}),
        ))
        .await;
    assert!(
        unknown["value"].as_str().unwrap().contains("no request"),
        "{unknown}"
    );
    assert_eq!(bot.status("apr_own").await, "pending");
    assert_eq!(bot.status("apr_only_ben").await, "pending");

    // A refresh shows buttons only to someone who may decide.
    let refresh = |id: &str, who: &str| {
        let mut a = click(id, &su, who, json!({"requestId": "apr_only_ben"}));
        a["value"]["action"]["verb"] = json!("refresh");
        a["value"]["trigger"] = json!("automatic");
        a
    };
    let (_, for_ana) = bot.send(&refresh("r-5", ANA)).await;
    assert!(
        !card_text(&for_ana["value"]).contains("Action.Execute"),
        "{for_ana}"
    );
    let (_, for_ben) = bot.send(&refresh("r-6", BEN)).await;
    assert!(
        card_text(&for_ben["value"]).contains("Action.Execute"),
        "{for_ben}"
    );

    let (_, rejected) = bot
        .send(&click(
            "r-7",
            &su,
            BEN,
            json!({"requestId": "apr_only_ben", "decision": "reject", "reason": "wrong host"}),
        ))
        .await;
    assert_eq!(
        rejected["type"], "application/vnd.microsoft.card.adaptive",
        "{rejected}"
    );
    let record = bot.service.get("apr_only_ben").await.unwrap();
    assert_eq!(record.status.to_string(), "rejected");
    assert_eq!(record.reason.as_deref(), Some("wrong host"));
    bot.stop().await;
}

#[tokio::test]
async fn commands_and_submits_are_answered_in_the_conversation() {
    let bot = Bot::start().await;
    let su = bot.fake.service_url();
    bot.create(request("apr_cmd1")).await;
    bot.create(request("apr_cmd2")).await;
    bot.wait_call("second card", |c| c.body.contains("apr_cmd2"))
        .await;

    let (status, _) = bot
        .send(&message("m-1", &su, ANA, "<at>hitl</at> pending", None))
        .await;
    assert_eq!(status, StatusCode::OK);
    let reply = bot
        .wait_call("pending reply", |c| c.path.ends_with("/activities/m-1"))
        .await;
    // Ids are escaped for Teams Markdown (`apr\_cmd1`).
    assert!(
        reply.body.contains("cmd1") && reply.body.contains("cmd2"),
        "{}",
        reply.body
    );
    assert!(
        reply.body.contains("Pending approvals (2)"),
        "{}",
        reply.body
    );

    bot.send(&message(
        "m-2",
        &su,
        ANA,
        "<at>hitl</at> approve apr_cmd1 looks fine",
        None,
    ))
    .await;
    let said = bot
        .wait_call("approve reply", |c| c.path.ends_with("/activities/m-2"))
        .await;
    assert!(said.body.contains("You approved"), "{}", said.body);
    let r = bot.service.get("apr_cmd1").await.unwrap();
    assert_eq!(r.approver.as_deref(), Some(format!("teams:{ANA}").as_str()));
    assert_eq!(r.reason.as_deref(), Some("looks fine"));

    // An older client's Action.Submit arrives as a message with the data.
    bot.send(&message(
        "m-3",
        &su,
        BEN,
        "",
        Some(json!({"requestId": "apr_cmd2", "decision": "reject", "reason": "not today"})),
    ))
    .await;
    bot.wait_call("submit reply", |c| c.path.ends_with("/activities/m-3"))
        .await;
    assert_eq!(bot.status("apr_cmd2").await, "rejected");

    // Unknown activity types are 200 and ignored.
    let mut typing = message("m-4", &su, ANA, "", None);
    typing["type"] = json!("typing");
    assert_eq!(bot.send(&typing).await.0, StatusCode::OK);
    bot.stop().await;
}

#[tokio::test]
async fn a_conversation_the_bot_joins_is_where_cards_go_when_none_is_configured() {
    let bot = Bot::start_with(false, |s| s).await;
    let su = bot.fake.service_url();
    let mut joined = message("u-1", &su, ANA, "", None);
    joined["type"] = json!("conversationUpdate");
    joined["conversation"]["id"] = json!("19:learned@thread.tacv2");
    joined["membersAdded"] = json!([{ "id": format!("28:{APP_ID}") }]);
    assert_eq!(bot.send(&joined).await.0, StatusCode::OK);
    bot.create(request("apr_learned")).await;
    let posted = bot
        .wait_call("card post", |c| {
            c.method == "POST" && c.body.contains("apr_learned")
        })
        .await;
    assert!(
        posted.path.contains("19:learned@thread.tacv2"),
        "{}",
        posted.path
    );
    bot.stop().await;
}

#[tokio::test]
async fn a_throttled_connector_is_retried_and_the_card_goes_out_once() {
    let bot = Bot::start().await;
    bot.fake.answer_next(429, &[("Retry-After", "0")]);
    bot.fake.answer_next(503, &[]);
    bot.create(request("apr_retry")).await;
    bot.wait_call("card post", |c| c.body.contains("apr_retry"))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let posts = bot
        .fake
        .connector_calls()
        .into_iter()
        .filter(|c| c.method == "POST" && c.body.contains("apr_retry"))
        .count();
    assert_eq!(posts, 3, "two refused tries, then one card");
    assert_eq!(bot.fake.token_calls(), 1, "the token is cached");
    let deliveries = bot.service.deliveries("apr_retry").await.unwrap();
    assert!(
        deliveries.iter().any(|d| d.channel == "teams"),
        "{deliveries:?}"
    );
    bot.stop().await;
}

#[tokio::test]
async fn the_outgoing_webhook_lists_for_anyone_and_lets_only_configured_people_decide() {
    let bot = Bot::start_with(true, |mut s| {
        s.webhook_deciders = vec![format!("teams:{BEN}")];
        s
    })
    .await;
    bot.create(request("apr_hook")).await;
    // Requests that name no approvers are listed to the people who may
    // decide them by default: members of the card's conversation.
    bot.wait_call("card post", |c| {
        c.method == "POST" && c.path.ends_with("/activities")
    })
    .await;
    let post = |body: Value| {
        let bytes = serde_json::to_vec(&body).unwrap();
        let sig = super::webhook::sign(WEBHOOK_SECRET, &bytes);
        bot.http
            .post(format!("{}/teams/webhook", bot.url))
            .header("authorization", sig)
            .header("content-type", "application/json")
            .body(bytes)
            .send()
    };
    let su = "https://smba.trafficmanager.net/amer/";
    let resp = post(message("w-1", su, ANA, "<at>hitl</at> pending", None))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = resp.json().await.unwrap();
    assert!(v["text"].as_str().unwrap().contains("apr_hook"), "{v}");

    let resp = post(message(
        "w-2",
        su,
        ANA,
        "<at>hitl</at> approve apr_hook",
        None,
    ))
    .await
    .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert!(v["text"].as_str().unwrap().contains("off"), "{v}");
    assert_eq!(bot.status("apr_hook").await, "pending");

    // A replay of a message already received is refused.
    let resp = post(message("w-1", su, ANA, "<at>hitl</at> pending", None))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    let resp = post(message(
        "w-3",
        su,
        BEN,
        "approve apr_hook via webhook",
        None,
    ))
    .await
    .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert!(v["text"].as_str().unwrap().contains("You approved"), "{v}");
    assert_eq!(bot.status("apr_hook").await, "approved");

    // A wrong HMAC gets nothing.
    let resp = bot
        .http
        .post(format!("{}/teams/webhook", bot.url))
        .header("authorization", "HMAC AAAA")
        .json(&message("w-4", su, BEN, "pending", None))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    bot.stop().await;
}

#[tokio::test]
async fn a_card_refreshes_for_the_approvers_the_bot_has_seen() {
    let bot = Bot::start().await;
    let su = bot.fake.service_url();
    // Ben talks to the bot once: his MRI is learned from the activity.
    bot.send(&message("s-1", &su, BEN, "help", None)).await;
    bot.wait_call("help reply", |c| c.path.ends_with("/activities/s-1"))
        .await;
    bot.create(
        json!({"request_id": "apr_refresh", "tool": "rm", "risk": "high",
                      "requester": "agent", "arguments": {},
                      "approvers": [format!("teams:{BEN}"), format!("teams:{ANA}")]}),
    )
    .await;
    let posted = bot
        .wait_call("card post", |c| {
            c.body.contains("Action.Execute") && c.method == "POST"
        })
        .await;
    let body: Value = serde_json::from_str(&posted.body).unwrap();
    let refresh = &body["attachments"][0]["content"]["refresh"];
    assert_eq!(
        refresh["userIds"],
        json!([format!("29:1{BEN}")]),
        "{refresh}"
    );
    assert_eq!(refresh["action"]["verb"], "refresh");
    bot.stop().await;
}

#[tokio::test]
async fn with_no_approvers_only_members_of_the_cards_conversation_in_the_bots_tenant_decide() {
    const GUEST: &str = "6b3c5e2f-0000-4000-8000-0000000000a1";
    const VISITOR: &str = "6b3c5e2f-0000-4000-8000-0000000000a2";
    const OUTSIDER: &str = "6b3c5e2f-0000-4000-8000-0000000000a3";
    const STRANGER: &str = "6b3c5e2f-0000-4000-8000-0000000000a4";
    let bot = Bot::start().await;
    let su = bot.fake.service_url();
    bot.fake.set_member(GUEST, Some(("guest", TENANT)));
    bot.fake.set_member(VISITOR, Some(("anonymous", TENANT)));
    bot.fake.set_member(
        OUTSIDER,
        Some(("user", "0c2e4d6f-1111-4222-8333-444455556666")),
    );
    bot.fake.set_member(STRANGER, None);
    bot.create(request("apr_default")).await;
    bot.wait_call("card post", |c| {
        c.method == "POST" && c.path.ends_with("/activities")
    })
    .await;
    let approve = json!({"requestId": "apr_default", "decision": "approve"});

    for (n, (who, why)) in [
        (GUEST, "guests"),
        (VISITOR, "guests"),
        (OUTSIDER, "tenant"),
        (STRANGER, "members of the conversation"),
    ]
    .into_iter()
    .enumerate()
    {
        let (status, body) = bot
            .send(&click(&format!("d-{n}"), &su, who, approve.clone()))
            .await;
        assert_eq!(status, StatusCode::OK);
        let text = body["value"].as_str().unwrap_or_default();
        assert!(
            text.contains("may not decide") && text.contains(why),
            "{who}: {body}"
        );
        assert_eq!(bot.status("apr_default").await, "pending", "{who}");
        // Nor do they get live buttons on a refresh.
        let mut refresh = click(
            &format!("d-r{n}"),
            &su,
            who,
            json!({"requestId": "apr_default"}),
        );
        refresh["value"]["action"]["verb"] = json!("refresh");
        refresh["value"]["trigger"] = json!("automatic");
        let (_, card) = bot.send(&refresh).await;
        assert!(
            !card_text(&card["value"]).contains("Action.Execute"),
            "{who}: {card}"
        );
    }
    // The roster was asked with the channel's id, not the thread's.
    let asked = bot
        .wait_call("roster lookup", |c| {
            c.method == "GET" && c.path.contains("/members/")
        })
        .await;
    assert!(!asked.path.contains("messageid"), "{}", asked.path);

    // A roster that cannot be read refuses and is asked again next time.
    bot.fake.fail_roster(Some(503));
    let (_, body) = bot.send(&click("d-10", &su, ANA, approve.clone())).await;
    assert!(
        body["value"]
            .as_str()
            .unwrap_or_default()
            .contains("could not confirm"),
        "{body}"
    );
    assert_eq!(bot.status("apr_default").await, "pending");
    bot.fake.fail_roster(None);
    let before = bot.fake.roster_calls();
    let (_, body) = bot.send(&click("d-11", &su, ANA, approve)).await;
    assert_eq!(
        body["type"], "application/vnd.microsoft.card.adaptive",
        "{body}"
    );
    assert!(
        bot.fake.roster_calls() > before,
        "the failure was not cached"
    );
    let record = bot.service.get("apr_default").await.unwrap();
    assert_eq!(record.status.to_string(), "approved");
    assert_eq!(record.approvals[0].approver, format!("teams:{ANA}"));
    bot.stop().await;
}
