//! Socket Mode: the fake's `apps.connections.open` hands out a
//! `ws://127.0.0.1` URL served here; real envelopes (interactive,
//! slash_commands, events_api) come down the socket, each is acknowledged
//! with its `envelope_id`, and the decisions land as over HTTP.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hitl_bot::service::Settings;
use hitl_bot::slack::socket_mode::SocketMode;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::{SlackBot, payloads};

const APP_TOKEN: &str = "xapp-1-A0HITL-1700000000-0123456789abcdef";

/// The Slack side of the socket: send envelopes, read acknowledgements.
struct SlackSocket {
    send: mpsc::UnboundedSender<Value>,
    acks: mpsc::UnboundedReceiver<Value>,
}

impl SlackSocket {
    /// Serves one WebSocket connection on 127.0.0.1; returns its URL.
    async fn serve() -> (String, SlackSocket) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "ws://{}/link/?ticket=abc123&app_id=A0HITL",
            listener.local_addr().unwrap()
        );
        let (send, mut outbox) = mpsc::unbounded_channel::<Value>();
        let (ack_tx, acks) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            let (mut sink, mut stream) = ws.split();
            let hello = json!({
                "type": "hello", "num_connections": 1,
                "debug_info": {"host": "applink-test", "build_number": 1, "approximate_connection_time": 18060},
                "connection_info": {"app_id": "A0HITL"}
            });
            sink.send(Message::text(hello.to_string())).await.unwrap();
            loop {
                tokio::select! {
                    Some(envelope) = outbox.recv() => {
                        sink.send(Message::text(envelope.to_string())).await.unwrap();
                    }
                    msg = stream.next() => match msg {
                        Some(Ok(Message::Text(t))) => {
                            let _ = ack_tx.send(serde_json::from_str::<Value>(t.as_str()).unwrap());
                        }
                        Some(Ok(Message::Ping(p))) => { let _ = sink.send(Message::Pong(p)).await; }
                        Some(Ok(_)) => {}
                        _ => return,
                    }
                }
            }
        });
        (url, SlackSocket { send, acks })
    }

    /// Sends an envelope and waits for its acknowledgement.
    async fn deliver(&mut self, kind: &str, envelope_id: &str, payload: Value) -> Value {
        let envelope = json!({
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": 0,
            "retry_reason": ""
        });
        self.send.send(envelope).unwrap();
        let ack = tokio::time::timeout(Duration::from_secs(10), self.acks.recv())
            .await
            .expect("no acknowledgement")
            .unwrap();
        assert_eq!(ack["envelope_id"], envelope_id, "{ack}");
        ack
    }
}

#[tokio::test]
async fn envelopes_over_the_socket_decide_like_http_requests() {
    // No signing secret: Socket Mode only, no HTTP endpoints.
    let bot = SlackBot::start_with(Settings::default(), |c| c.signing_secrets.clear()).await;
    let (url, mut socket) = SlackSocket::serve().await;
    bot.fake.set_socket_url(&url);
    let mode = SocketMode::start(
        bot.slack.clone(),
        &bot.fake.url,
        &SecretString::from(APP_TOKEN),
        1,
    )
    .await
    .unwrap();
    let opened = bot.fake.wait_for("apps.connections.open", 1).await;
    assert_eq!(
        opened[0].auth.as_deref(),
        Some(format!("Bearer {APP_TOKEN}").as_str())
    );

    // A click on the card.
    let (_, a) = bot.create_posted(json!({"request_id": "sock-1"})).await;
    let message = bot.fake.message(&a.message);
    let ack = socket
        .deliver(
            "interactive",
            "env-click-1",
            payloads::block_actions("U0ALICE", "hitl_approve", "sock-1", &a, &message),
        )
        .await;
    assert!(
        ack.get("payload").is_none(),
        "a bare acknowledgement: {ack}"
    );
    let r = bot.server.record("sock-1").await;
    assert_eq!(
        (r["status"].as_str(), r["approver"].as_str()),
        (Some("approved"), Some("U0ALICE"))
    );
    bot.fake.wait_for("chat.update", 1).await;

    // A reply in a card's thread.
    let (_, b) = bot.create_posted(json!({"request_id": "sock-2"})).await;
    let event = payloads::thread_message(
        "Ev0SOCK",
        "U0BOB42",
        &b.conversation,
        &b.thread,
        "reject use the staging bucket",
    );
    socket.deliver("events_api", "env-event-1", event).await;
    let r = bot.server.record("sock-2").await;
    assert_eq!(
        (r["status"].as_str(), r["reason"].as_str()),
        (Some("rejected"), Some("use the staging bucket"))
    );

    // The slash command; its answer travels in the acknowledgement.
    let (_, _c) = bot.create_posted(json!({"request_id": "sock-3"})).await;
    let fields: serde_json::Map<String, Value> =
        payloads::command_fields("U0CAROL", "approve sock-3")
            .into_iter()
            .map(|(k, v)| (k.to_owned(), json!(v)))
            .collect();
    let ack = socket
        .deliver("slash_commands", "env-cmd-1", Value::Object(fields))
        .await;
    assert_eq!(ack["payload"]["response_type"], "ephemeral", "{ack}");
    assert!(
        ack["payload"]["text"]
            .as_str()
            .unwrap()
            .starts_with(":white_check_mark: You approved `sock-3`"),
        "{ack}"
    );
    assert_eq!(bot.server.record("sock-3").await["status"], "approved");

    // The reject modal, opened and submitted over the socket.
    let (_, d) = bot.create_posted(json!({"request_id": "sock-4"})).await;
    let message = bot.fake.message(&d.message);
    socket
        .deliver(
            "interactive",
            "env-click-2",
            payloads::block_actions("U0DAN42", "hitl_reject", "sock-4", &d, &message),
        )
        .await;
    let view = bot.fake.wait_for("views.open", 1).await[0].body["view"].clone();
    socket
        .deliver(
            "interactive",
            "env-view-1",
            payloads::view_submission("U0DAN42", &view, "not now"),
        )
        .await;
    let r = bot.server.record("sock-4").await;
    assert_eq!(
        (r["status"].as_str(), r["reason"].as_str()),
        (Some("rejected"), Some("not now"))
    );
    // A second submission is refused inside the modal, through the ack.
    let ack = socket
        .deliver(
            "interactive",
            "env-view-2",
            payloads::view_submission("U0ERIN4", &view, "me too"),
        )
        .await;
    assert_eq!(ack["payload"]["response_action"], "errors", "{ack}");
    assert_eq!(
        ack["payload"]["errors"]["hitl_reason"],
        "Already rejected by U0DAN42: not now."
    );

    // `/approvals pending`: the list card, exactly as rendered.
    bot.create_posted(json!({"request_id": "sock-5", "tool": "drop_table"}))
        .await;
    let fields: serde_json::Map<String, Value> = payloads::command_fields("U0CAROL", "pending")
        .into_iter()
        .map(|(k, v)| (k.to_owned(), json!(v)))
        .collect();
    let ack = socket
        .deliver("slash_commands", "env-cmd-2", Value::Object(fields))
        .await;
    assert_eq!(ack["payload"]["response_type"], "ephemeral", "{ack}");
    assert!(
        ack["payload"]["blocks"].to_string().contains("`sock-5`"),
        "{ack:#}"
    );
    // `show ID`: the request card with its buttons.
    let fields: serde_json::Map<String, Value> = payloads::command_fields("U0CAROL", "show sock-5")
        .into_iter()
        .map(|(k, v)| (k.to_owned(), json!(v)))
        .collect();
    let ack = socket
        .deliver("slash_commands", "env-cmd-3", Value::Object(fields))
        .await;
    let blocks = ack["payload"]["blocks"].to_string();
    assert!(
        blocks.contains("hitl_approve") && blocks.contains("drop_table"),
        "{ack:#}"
    );

    mode.shutdown().await;
    bot.stop().await;
}
