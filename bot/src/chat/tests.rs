//! A second platform plugging into the seam: a Teams-shaped adapter whose
//! only code is the [`ChatPlatform`] translation, driven by Teams
//! activities, against a real service on a real SQLite file.

use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use hitl_wire::ApprovalRecord;
use hitl_wire::api::{CreateApproval, DecisionAction};
use serde_json::json;

use super::*;
use crate::Running;
use crate::clock::Clock;
use crate::service::Settings;
use crate::store::sqlite::SqliteStore;
use crate::teams::Activity;

/// Says everything it is asked to do, in order.
#[derive(Default)]
struct TeamsLike {
    service: OnceLock<Weak<ApprovalService>>,
    cards: KeyedLocks,
    did: Mutex<Vec<String>>,
}

fn said(answer: &Answer) -> String {
    match answer {
        Answer::Pending(records) => format!(
            "pending {}",
            records
                .iter()
                .map(|r| r.request_id.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ),
        Answer::Recorded { action, record } => {
            format!(
                "recorded {action:?} {} {}",
                record.request_id, record.status
            )
        }
        Answer::Refused { id, error } => format!("refused {id}: {error}"),
        Answer::Ambiguous(ids) => format!("which of {}", ids.join(",")),
        other => format!("{other:?}"),
    }
}

#[async_trait]
impl ChatPlatform for TeamsLike {
    type Place = String;
    type Error = ServiceError;

    fn name(&self) -> &'static str {
        crate::teams::PLATFORM
    }

    fn deadline(&self) -> Duration {
        deadline::TEAMS_INVOKE
    }

    fn service(&self) -> Option<Arc<ApprovalService>> {
        self.service.get().and_then(Weak::upgrade)
    }

    fn cards(&self) -> &KeyedLocks {
        &self.cards
    }

    async fn decider(&self, _record: &ApprovalRecord, user: &str) -> Decider {
        Decider::new(format!("teams:{user}"))
    }

    async fn tell(&self, place: &String, user: &str, answer: &Answer) -> Result<(), ServiceError> {
        self.log(format!("tell {user} in {place}: {}", said(answer)));
        Ok(())
    }

    async fn post_card(&self, record: &ApprovalRecord) -> Result<MessageRef, ServiceError> {
        self.log(format!("post {}", record.request_id));
        Err(ServiceError::Internal("not used".into()))
    }

    async fn update_card(
        &self,
        at: &MessageRef,
        record: &ApprovalRecord,
    ) -> Result<(), ServiceError> {
        let votes = record.approvals.len();
        self.log(format!("update {} to {} votes", at.message, votes));
        Ok(())
    }

    async fn reply_in_thread(
        &self,
        at: &MessageRef,
        record: &ApprovalRecord,
    ) -> Result<(), ServiceError> {
        self.log(format!("reply in {} for {}", at.thread, record.request_id));
        Ok(())
    }
}

impl TeamsLike {
    fn log(&self, line: String) {
        self.did.lock().unwrap().push(line);
    }

    /// Waits for the follow-up tasks to have said `n` things.
    async fn said(&self, n: usize) -> Vec<String> {
        for _ in 0..200 {
            let did = self.did.lock().unwrap().clone();
            if did.len() >= n {
                return did;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.did.lock().unwrap().clone()
    }
}

struct Setup {
    teams: Arc<TeamsLike>,
    running: Running,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("chat.db")).unwrap();
    let running = Running::start(
        Arc::new(store),
        Settings::default(),
        Clock::System,
        Vec::new(),
    )
    .await
    .unwrap();
    let teams = Arc::new(TeamsLike::default());
    let _ = teams.service.set(Arc::downgrade(&running.service));
    Setup {
        teams,
        running,
        _dir: dir,
    }
}

async fn create(s: &Setup, body: serde_json::Value) -> ApprovalRecord {
    let body: CreateApproval = serde_json::from_value(body).unwrap();
    s.running.service.create(body).await.unwrap().0
}

fn request(id: &str, quorum: u32) -> serde_json::Value {
    json!({"request_id": id, "tool": "deploy", "risk": "high", "requester": "teams:requester",
           "arguments": {"env": "prod"}, "reasons": ["deploys"], "quorum": quorum})
}

/// A message to the bot in a Teams channel, as the outgoing webhook gets it.
fn message(text: &str) -> Activity {
    serde_json::from_value(json!({
        "type": "message",
        "id": "1700000000001",
        "serviceUrl": "https://smba.trafficmanager.net/emea/",
        "channelId": "msteams",
        "from": { "id": "29:1abc", "name": "Ana", "aadObjectId": "ana-aad" },
        "conversation": { "id": "19:ops@thread.tacv2;messageid=1700000000000", "conversationType": "channel" },
        "recipient": { "id": "28:bot", "name": "hitl" },
        "text": text,
    }))
    .unwrap()
}

#[tokio::test]
async fn a_teams_pending_command_goes_through_the_seam() {
    let s = setup().await;
    create(&s, request("apr_soon", 1)).await;
    let decided = create(&s, request("apr_done", 1)).await;
    s.running
        .service
        .decide_as(
            &decided.request_id,
            DecisionAction::Approve,
            Decider::new("teams:bob"),
            None,
        )
        .await
        .unwrap();

    let activity = message("<at>hitl</at> Pending");
    let command = activity.chat_command();
    assert_eq!(command, ChatCommand::Pending);
    let user = activity.from.aad_object_id.clone().unwrap();
    let answer = run_command(&s.teams, activity.conversation.id.clone(), &user, command).await;
    assert_eq!(said(&answer), "pending apr_soon");
    s.running.stop().await;
}

#[tokio::test]
async fn a_teams_approve_command_records_the_teams_identity() {
    let s = setup().await;
    create(&s, request("apr_1", 1)).await;
    let activity = message("<at>hitl</at> approve apr_1 looks right");
    let answer = run_command(&s.teams, "ops".into(), "ana-aad", activity.chat_command()).await;
    assert_eq!(said(&answer), "recorded Approve apr_1 approved");
    let record = s.running.service.get("apr_1").await.unwrap();
    assert_eq!(record.approver.as_deref(), Some("teams:ana-aad"));
    assert_eq!(record.reason.as_deref(), Some("looks right"));

    // The requester may not approve their own request, from Teams either.
    create(&s, request("apr_2", 1)).await;
    let answer = run_command(
        &s.teams,
        "ops".into(),
        "requester",
        parse_command("approve apr_2"),
    )
    .await;
    assert!(matches!(answer, Answer::Refused { .. }), "{answer:?}");
    assert_eq!(
        s.running.service.get("apr_2").await.unwrap().status,
        hitl_wire::Status::Pending
    );
    s.running.stop().await;
}

#[tokio::test]
async fn a_teams_thread_reply_resolves_its_request_and_refreshes_the_card_after_a_vote() {
    let s = setup().await;
    let svc = s.running.service.clone();
    for id in ["apr_a", "apr_b"] {
        create(&s, request(id, 2)).await;
        svc.put_message_ref(
            id,
            MessageRef {
                platform: "teams".into(),
                conversation: "19:ops@thread.tacv2".into(),
                message: format!("msg-{id}"),
                thread: "root-1".into(),
                platform_ref: Some(
                    r#"{"serviceUrl":"https://smba.trafficmanager.net/emea/"}"#.into(),
                ),
            },
        )
        .await
        .unwrap();
    }
    let reply = |text: &str| parse_reply(text).unwrap();

    // Two wait in the thread and none is named: ask, decide nothing.
    on_thread_reply(
        &s.teams,
        "19:ops@thread.tacv2",
        "root-1",
        "thread".into(),
        "ana",
        reply("approve"),
    )
    .await
    .unwrap();
    // Named: the vote is recorded, the person told, the card refreshed.
    on_thread_reply(
        &s.teams,
        "19:ops@thread.tacv2",
        "root-1",
        "thread".into(),
        "ana",
        reply("approve APR_B fine"),
    )
    .await
    .unwrap();
    // Another platform's thread of the same name is not ours.
    on_thread_reply(
        &s.teams,
        "19:other@thread.tacv2",
        "root-1",
        "thread".into(),
        "ana",
        reply("approve"),
    )
    .await
    .unwrap();
    let did = s.teams.said(3).await;
    assert_eq!(
        did,
        vec![
            "tell ana in thread: which of apr_a,apr_b".to_owned(),
            "tell ana in thread: recorded Approve apr_b pending".to_owned(),
            "update msg-apr_b to 1 votes".to_owned(),
        ]
    );
    assert!(svc.get("apr_a").await.unwrap().approvals.is_empty());
    assert_eq!(svc.get("apr_b").await.unwrap().approvals.len(), 1);
    s.running.stop().await;
}
