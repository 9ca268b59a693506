//! A database written by the 0.1.0 release opens with this build, nothing
//! lost. The fixture (`bot/tests/fixtures/hitl-0.1.0.db`) was written by the
//! 0.1.0 `hitl-bot serve` with a fake Slack Web API
//! (`bot/tests/fixtures/make_0_1_0_db.py`): two pending requests in one
//! session thread (one with a first vote of a quorum of 2), one approved,
//! each with its card posted.

use std::sync::Arc;

use hitl_bot::store::sqlite::SqliteStore;
use hitl_bot::store::{AuditFrom, MessageRef, Store};
use hitl_wire::Status;

fn fixture_copy() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hitl.db");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hitl-0.1.0.db"),
        &db,
    )
    .unwrap();
    (dir, db)
}

#[tokio::test]
async fn a_release_0_1_database_opens_with_nothing_lost() {
    let (_dir, db) = fixture_copy();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db).unwrap());

    let p1 = store.get("fx-pending-1").await.unwrap().unwrap();
    assert_eq!(p1.status, Status::Pending);
    assert_eq!(p1.quorum, 2);
    assert_eq!(p1.approvals.len(), 1);
    assert_eq!(p1.approvals[0].approver, "U0ALICE");
    assert_eq!(
        p1.expires_at.to_rfc3339(),
        "2026-12-09T18:42:16.412814502+00:00"
    );
    assert!(p1.notification_sent);
    let pending: Vec<_> = store
        .pending()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.request_id, r.expires_at.timestamp_millis()))
        .collect();
    assert_eq!(
        pending,
        vec![
            ("fx-pending-1".to_owned(), 1796841736412),
            ("fx-pending-2".to_owned(), 1796841736549)
        ]
    );
    assert_eq!(
        store.get("fx-approved").await.unwrap().unwrap().status,
        Status::Approved
    );

    // Cards are found where 0.1.0 posted them, and thread replies map back.
    assert_eq!(
        store.message_ref("fx-pending-1", "slack").await.unwrap(),
        Some(MessageRef {
            platform: "slack".into(),
            conversation: "C0FIXTURE".into(),
            message: "1700000000.000001".into(),
            thread: "1700000000.000001".into(),
            platform_ref: None,
        })
    );
    assert_eq!(
        store
            .requests_in_thread("slack", "C0FIXTURE", "1700000000.000001")
            .await
            .unwrap(),
        vec!["fx-pending-1".to_owned(), "fx-pending-2".to_owned()]
    );
    let thread = store
        .session_thread("slack", "C0FIXTURE", "sess-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(thread.thread, "1700000000.000001");

    // Timers exist for what was pending, so the deadlines still hold.
    let timers: Vec<_> = store
        .timers()
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.request_id, t.kind.as_str(), t.due_at.timestamp_millis()))
        .collect();
    assert_eq!(
        timers,
        [
            ("fx-pending-1".to_owned(), "expire", 1796841736412),
            ("fx-pending-2".to_owned(), "expire", 1796841736549)
        ]
    );

    // The history is all there, in order.
    let actions: Vec<_> = store
        .audit(None, AuditFrom::Start, 100)
        .await
        .unwrap()
        .0
        .into_iter()
        .map(|e| format!("{}:{}", e.request_id, e.action))
        .collect();
    assert_eq!(
        actions,
        [
            "fx-pending-1:created",
            "fx-pending-1:notified",
            "fx-pending-2:created",
            "fx-pending-2:notified",
            "fx-approved:created",
            "fx-approved:notified",
            "fx-pending-1:voted",
            "fx-approved:approved",
        ]
    );
}

#[tokio::test]
async fn a_migrated_database_opens_again_unchanged() {
    let (_dir, db) = fixture_copy();
    drop(SqliteStore::open(&db).unwrap());
    let store = SqliteStore::open(&db).unwrap();
    assert_eq!(store.pending().await.unwrap().len(), 2);
}
