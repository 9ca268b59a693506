//! The embedded store: one SQLite file in WAL mode, bundled SQLite.
//!
//! Records are kept as JSON beside the columns we filter on. One thread owns
//! the connection and runs every operation; operations that queue up while a
//! transaction commits run together in the next one (group commit), each in
//! its own savepoint so one failure rolls back only itself. Callers hear back
//! only after the commit, so a decision reported as won is on disk. Writes run
//! in `BEGIN IMMEDIATE` with a version check, so a second process on the same
//! file cannot interleave a decision either.

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hitl_wire::api::AuditEvent;
use hitl_wire::{ApprovalRecord, Status};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{AuditFrom, Inserted, ListFilter, MessageRef, Step, Store, StoreError, ThreadRef};
use crate::credentials::{Credential, NewCredential, Role};
use crate::lifecycle::AuditEntry;
use crate::notify::Notice;
use crate::outbox::{Delivery, DeliveryState, OutboxRow, Settle};
use crate::workflow::{Timer, TimerKind, timers_of};

/// Schema migrations, applied in order at open; `PRAGMA user_version` holds
/// how many have run. Append only: never edit a shipped migration.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_approvals.sql"),
    include_str!("migrations/0002_chat.sql"),
    include_str!("migrations/0003_conversations.sql"),
    include_str!("migrations/0004_outbox.sql"),
    include_str!("migrations/0005_replicas.sql"),
    include_str!("migrations/0006_credentials.sql"),
    include_str!("migrations/0007_task_tokens.sql"),
];

/// Most operations one transaction carries; bounds the latency of the first.
const MAX_BATCH: usize = 128;

/// One operation for the store thread: runs against the connection (or is
/// told the transaction could not start) and returns how to answer once the
/// commit's outcome is known.
type Job = Box<dyn FnOnce(Option<&Connection>) -> Reply + Send>;
type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;

#[derive(Clone)]
pub struct SqliteStore {
    jobs: mpsc::Sender<Job>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Backend(format!("stored record is not valid JSON: {e}"))
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies migrations.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Backend(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        create_private(path)?;
        let mut conn = Connection::open(path).map_err(|e| {
            StoreError::Backend(format!("cannot open database {}: {e}", path.display()))
        })?;
        // WAL lets readers run beside the writer; NORMAL sync is durable
        // across process crashes (only a power cut can lose the last commit).
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn)?;
        // Files an older version (or a umask) left more open are tightened
        // now that WAL mode has made the -wal and -shm files.
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            tighten(Path::new(&p))?;
        }
        let (jobs, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("hitl-sqlite".to_owned())
            .spawn(move || run_store_thread(conn, rx))
            .map_err(|e| StoreError::Backend(format!("cannot start the store thread: {e}")))?;
        Ok(Self {
            jobs,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the store thread inside the next transaction and answers
    /// after that transaction commits.
    async fn with_conn<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = match conn {
                Some(conn) => in_savepoint(conn, f),
                None => Err(StoreError::Backend("cannot begin a transaction".to_owned())),
            };
            Box::new(move |commit: Result<(), String>| {
                let answer = match commit {
                    Ok(()) => result,
                    Err(e) => Err(StoreError::Backend(format!("commit failed: {e}"))),
                };
                // The caller may have gone away (request cancelled); nothing to do.
                let _ = tx.send(answer);
            })
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Backend("the store thread has stopped".to_owned()))?;
        rx.await
            .map_err(|_| StoreError::Backend("the store thread dropped the operation".to_owned()))?
    }
}

/// Runs `f` in a savepoint: its writes stay only if it succeeds.
fn in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.execute_batch("SAVEPOINT op")?;
    match f(conn) {
        Ok(v) => {
            conn.execute_batch("RELEASE op")?;
            Ok(v)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO op; RELEASE op")?;
            Err(e)
        }
    }
}

/// The store thread: takes every queued job into one transaction.
fn run_store_thread(conn: Connection, jobs: mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let began = conn.execute_batch("BEGIN IMMEDIATE");
        if let Err(e) = &began {
            tracing::error!(error = %e, "store: cannot begin a transaction");
        }
        let replies: Vec<Reply> = batch
            .into_iter()
            .map(|job| job(began.as_ref().ok().map(|_| &conn)))
            .collect();
        let outcome = match began {
            Ok(()) => conn.execute_batch("COMMIT").map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                e.to_string()
            }),
            Err(e) => Err(e.to_string()),
        };
        for reply in replies {
            reply(outcome.clone());
        }
    }
}

/// Creates an empty database file readable by its owner only, before SQLite
/// opens it: records hold tool arguments, and SQLite gives the -wal and -shm
/// files the same mode as the database.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Backend(format!(
            "cannot create database {}: {e}",
            path.display()
        ))),
    }
}

/// Makes an existing file owner-only (0600); refuses to go on when it
/// cannot, since the database holds tool arguments and credential hashes.
fn tighten(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = match std::fs::metadata(path) {
            Ok(m) => m.permissions().mode(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(StoreError::Backend(format!(
                    "cannot read the mode of {}: {e}",
                    path.display()
                )));
            }
        };
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
                |e| {
                    StoreError::Backend(format!(
                        "{} is readable by other users (mode {:o}) and cannot be made owner-only: {e}; chmod 600 it or run as its owner",
                        path.display(),
                        mode & 0o777
                    ))
                },
            )?;
        }
    }
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let done: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let done = usize::try_from(done).unwrap_or(usize::MAX);
    if done > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!(
            "the database was written by a newer hitl-bot (schema {done}, this build knows {}); upgrade hitl-bot",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn read_record(json: String) -> Result<ApprovalRecord, StoreError> {
    Ok(serde_json::from_str(&json)?)
}

fn append_audit(conn: &Connection, request_id: &str, a: &AuditEntry) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO audit (request_id, at, actor, action, from_status, to_status, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            request_id,
            millis(a.at),
            a.actor,
            a.action,
            a.from_status.map(Status::as_str),
            a.to_status.as_str(),
            serde_json::to_string(&a.detail)?,
        ],
    )?;
    Ok(())
}

/// Writes `notice` for each channel, in the transaction of the change.
fn enqueue(
    conn: &Connection,
    outbox: &[String],
    record: &ApprovalRecord,
    seq: i64,
    notice: Notice,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    if outbox.is_empty() {
        return Ok(());
    }
    let json = serde_json::to_string(record)?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO outbox (channel, request_id, seq, notice, record, state, attempts, created_at, next_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?6)",
    )?;
    for channel in outbox {
        stmt.execute(params![
            channel,
            record.request_id,
            seq,
            notice.as_str(),
            json,
            millis(at)
        ])?;
    }
    Ok(())
}

/// A pending row is a request's head on its channel when no earlier row of
/// the same request is still pending: notices go out in order.
const OUTBOX_HEAD: &str = "NOT EXISTS (SELECT 1 FROM outbox p WHERE p.channel = o.channel
     AND p.request_id = o.request_id AND p.state = 'pending' AND p.seq < o.seq)";

fn timer_of((request_id, kind, due_at): (String, String, i64)) -> Option<Timer> {
    Some(Timer {
        request_id,
        kind: TimerKind::parse(&kind)?,
        due_at: from_millis(due_at),
    })
}

fn status_of(s: String) -> Result<Status, StoreError> {
    s.parse().map_err(StoreError::Backend)
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert(
        &self,
        record: ApprovalRecord,
        audit: AuditEntry,
        outbox: &[String],
    ) -> Result<Inserted, StoreError> {
        let outbox = outbox.to_vec();
        self.with_conn(move |tx| {
            let existing: Option<String> = tx
                .query_row(
                    "SELECT record FROM approvals WHERE request_id = ?1",
                    [&record.request_id],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(json) = existing {
                return Ok(Inserted::Existing(read_record(json)?));
            }
            tx.execute(
                "INSERT INTO approvals (request_id, status, created_at, expires_at, decided_at, version, record)
                 VALUES (?1, ?2, ?3, ?4, NULL, 1, ?5)",
                params![
                    record.request_id,
                    record.status.as_str(),
                    millis(record.timestamp),
                    millis(record.expires_at),
                    serde_json::to_string(&record)?,
                ],
            )?;
            append_audit(tx, &record.request_id, &audit)?;
            let mut timer = tx.prepare_cached(
                "INSERT INTO timers (request_id, kind, due_at) VALUES (?1, ?2, ?3)",
            )?;
            for t in timers_of(&record) {
                timer.execute(params![t.request_id, t.kind.as_str(), millis(t.due_at)])?;
            }
            enqueue(tx, &outbox, &record, 1, Notice::Created, audit.at)?;
            Ok(Inserted::Created(record))
        })
        .await
    }

    async fn get(&self, request_id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
        let id = request_id.to_owned();
        self.with_conn(move |conn| {
            let json: Option<String> = conn
                .prepare_cached("SELECT record FROM approvals WHERE request_id = ?1")?
                .query_row([&id], |r| r.get(0))
                .optional()?;
            json.map(read_record).transpose()
        })
        .await
    }

    async fn finals_among(
        &self,
        request_ids: &[String],
    ) -> Result<Vec<ApprovalRecord>, StoreError> {
        let ids = request_ids.to_vec();
        self.with_conn(move |conn| {
            let mut out = Vec::with_capacity(ids.len());
            // SQLite caps bound parameters; 500 per statement is well inside.
            for chunk in ids.chunks(500) {
                let marks = vec!["?"; chunk.len()].join(",");
                let sql = format!(
                    "SELECT record FROM approvals WHERE status != 'pending' AND request_id IN ({marks})"
                );
                let mut stmt = conn.prepare(&sql)?;
                let rows = stmt.query_map(rusqlite::params_from_iter(chunk.iter()), |r| {
                    r.get::<_, String>(0)
                })?;
                for json in rows {
                    out.push(read_record(json?)?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn list(&self, filter: ListFilter) -> Result<Vec<ApprovalRecord>, StoreError> {
        self.with_conn(move |conn| {
            let limit = filter.limit as i64;
            let rows: Vec<String> = match filter.status {
                Some(st) => conn
                    .prepare_cached(
                        "SELECT record FROM approvals WHERE status = ?1 ORDER BY created_at DESC LIMIT ?2",
                    )?
                    .query_map(params![st.as_str(), limit], |r| r.get(0))?
                    .collect::<Result<_, _>>()?,
                None => conn
                    .prepare_cached("SELECT record FROM approvals ORDER BY created_at DESC LIMIT ?1")?
                    .query_map([limit], |r| r.get(0))?
                    .collect::<Result<_, _>>()?,
            };
            rows.into_iter().map(read_record).collect()
        })
        .await
    }

    async fn pending(&self) -> Result<Vec<ApprovalRecord>, StoreError> {
        self.with_conn(|conn| {
            let rows: Vec<String> = conn
                .prepare_cached(
                    "SELECT record FROM approvals WHERE status = 'pending' ORDER BY expires_at",
                )?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            rows.into_iter().map(read_record).collect()
        })
        .await
    }

    async fn count_pending(&self) -> Result<u64, StoreError> {
        self.with_conn(|conn| {
            let n: i64 = conn
                .prepare_cached("SELECT COUNT(*) FROM approvals WHERE status = 'pending'")?
                .query_row([], |r| r.get(0))?;
            Ok(n as u64)
        })
        .await
    }

    async fn transition(
        &self,
        request_id: &str,
        step: Step,
        outbox: &[String],
    ) -> Result<ApprovalRecord, StoreError> {
        let id = request_id.to_owned();
        let outbox = outbox.to_vec();
        self.with_conn(move |tx| {
            let row: Option<(String, i64)> = tx
                .query_row(
                    "SELECT record, version FROM approvals WHERE request_id = ?1",
                    [&id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((json, version)) = row else {
                return Err(StoreError::NotFound(id));
            };
            let current = read_record(json)?;
            let t = step(&current)?;
            let changed = tx.execute(
                "UPDATE approvals SET status = ?1, decided_at = ?2, version = version + 1, record = ?3
                 WHERE request_id = ?4 AND version = ?5",
                params![
                    t.record.status.as_str(),
                    t.record.decided_at.map(millis),
                    serde_json::to_string(&t.record)?,
                    id,
                    version,
                ],
            )?;
            // The transaction holds the write lock from the read, so the
            // version cannot have moved; if it did, refuse rather than guess.
            if changed != 1 {
                return Err(StoreError::Backend(format!("concurrent write to {id}; retry")));
            }
            append_audit(tx, &id, &t.audit)?;
            if t.record.status.is_final() && !current.status.is_final() {
                tx.prepare_cached("DELETE FROM timers WHERE request_id = ?1")?
                    .execute([&id])?;
                tx.prepare_cached("INSERT INTO finals (request_id, at) VALUES (?1, ?2)")?
                    .execute(params![id, millis(t.audit.at)])?;
            } else if t.record.reminded_at.is_some() && current.reminded_at.is_none() {
                tx.prepare_cached("DELETE FROM timers WHERE request_id = ?1 AND kind = 'remind'")?
                    .execute([&id])?;
            }
            if let Some(notice) = t.notice() {
                enqueue(tx, &outbox, &t.record, version + 1, notice, t.audit.at)?;
            }
            Ok(t.record)
        })
        .await
    }

    async fn outbox_claim(
        &self,
        channel: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let channel = channel.to_owned();
        self.with_conn(move |tx| {
            let sql = format!(
                "SELECT o.request_id, o.seq, o.notice, o.record, o.attempts, o.created_at FROM outbox o
                 WHERE o.channel = ?1 AND o.state = 'pending' AND o.next_at <= ?2
                   AND (o.lease_until IS NULL OR o.lease_until <= ?2) AND {OUTBOX_HEAD}
                 ORDER BY o.next_at LIMIT ?3"
            );
            let rows: Vec<(String, i64, String, String, i64, i64)> = tx
                .prepare_cached(&sql)?
                .query_map(params![channel, millis(now), limit as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
                })?
                .collect::<Result<_, _>>()?;
            let mut lease = tx.prepare_cached(
                "UPDATE outbox SET lease_until = ?4 WHERE channel = ?1 AND request_id = ?2 AND seq = ?3",
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for (request_id, seq, notice, record, attempts, created_at) in rows {
                lease.execute(params![channel, request_id, seq, millis(lease_until)])?;
                out.push(OutboxRow {
                    channel: channel.clone(),
                    request_id,
                    seq,
                    notice: notice.parse().map_err(StoreError::Backend)?,
                    record: read_record(record)?,
                    attempts: attempts as u32,
                    created_at: from_millis(created_at),
                });
            }
            Ok(out)
        })
        .await
    }

    async fn outbox_renew(
        &self,
        channel: &str,
        request_id: &str,
        seq: i64,
        held_until: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let key = (channel.to_owned(), request_id.to_owned(), seq);
        self.with_conn(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE outbox SET lease_until = ?5
                     WHERE channel = ?1 AND request_id = ?2 AND seq = ?3 AND lease_until = ?4",
                )?
                .execute(params![
                    key.0,
                    key.1,
                    key.2,
                    millis(held_until),
                    millis(lease_until)
                ])?;
            Ok(n == 1)
        })
        .await
    }

    async fn outbox_settle(
        &self,
        channel: &str,
        request_id: &str,
        seq: i64,
        outcome: Settle,
    ) -> Result<(), StoreError> {
        let key = (channel.to_owned(), request_id.to_owned(), seq);
        self.with_conn(move |tx| {
            let (state, next_at, error, delivered_at) = match outcome {
                Settle::Delivered { at } => ("delivered", None, None, Some(millis(at))),
                Settle::Retry { next_at, error } => {
                    ("pending", Some(millis(next_at)), Some(error), None)
                }
                Settle::Failed { error, .. } => ("failed", None, Some(error), None),
            };
            tx.prepare_cached(
                "UPDATE outbox SET state = ?4, attempts = attempts + 1, lease_until = NULL,
                   next_at = COALESCE(?5, next_at), last_error = COALESCE(?6, last_error),
                   delivered_at = COALESCE(?7, delivered_at)
                 WHERE channel = ?1 AND request_id = ?2 AND seq = ?3",
            )?
            .execute(params![
                key.0,
                key.1,
                key.2,
                state,
                next_at,
                error,
                delivered_at
            ])?;
            Ok(())
        })
        .await
    }

    async fn outbox_next_due(&self, channel: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let channel = channel.to_owned();
        self.with_conn(move |conn| {
            let sql = format!(
                "SELECT MIN(MAX(o.next_at, COALESCE(o.lease_until, 0))) FROM outbox o
                 WHERE o.channel = ?1 AND o.state = 'pending' AND {OUTBOX_HEAD}"
            );
            let at: Option<i64> = conn
                .prepare_cached(&sql)?
                .query_row([&channel], |r| r.get(0))?;
            Ok(at.map(from_millis))
        })
        .await
    }

    async fn timers(&self) -> Result<Vec<Timer>, StoreError> {
        self.with_conn(|conn| {
            let rows: Vec<(String, String, i64)> = conn
                .prepare_cached("SELECT request_id, kind, due_at FROM timers ORDER BY due_at")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?;
            Ok(rows.into_iter().filter_map(timer_of).collect())
        })
        .await
    }

    async fn claim_timer(
        &self,
        request_id: &str,
        kind: TimerKind,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let id = request_id.to_owned();
        self.with_conn(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE timers SET lease_until = ?4 WHERE request_id = ?1 AND kind = ?2
                       AND (lease_until IS NULL OR lease_until <= ?3)",
                )?
                .execute(params![id, kind.as_str(), millis(now), millis(lease_until)])?;
            Ok(n == 1)
        })
        .await
    }

    async fn renew_timer(
        &self,
        request_id: &str,
        kind: TimerKind,
        held_until: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let id = request_id.to_owned();
        self.with_conn(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE timers SET lease_until = ?4 WHERE request_id = ?1 AND kind = ?2
                       AND lease_until = ?3",
                )?
                .execute(params![
                    id,
                    kind.as_str(),
                    millis(held_until),
                    millis(lease_until)
                ])?;
            Ok(n == 1)
        })
        .await
    }

    async fn release_timer(&self, request_id: &str, kind: TimerKind) -> Result<(), StoreError> {
        let id = request_id.to_owned();
        self.with_conn(move |tx| {
            tx.prepare_cached(
                "UPDATE timers SET lease_until = NULL WHERE request_id = ?1 AND kind = ?2",
            )?
            .execute(params![id, kind.as_str()])?;
            Ok(())
        })
        .await
    }

    async fn claim_due_timers(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Timer>, StoreError> {
        self.with_conn(move |tx| {
            let rows: Vec<(String, String, i64)> = tx
                .prepare_cached(
                    "SELECT request_id, kind, due_at FROM timers
                     WHERE due_at <= ?1 AND (lease_until IS NULL OR lease_until <= ?1)
                     ORDER BY due_at LIMIT ?2",
                )?
                .query_map(params![millis(now), limit as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<Result<_, _>>()?;
            let mut lease = tx.prepare_cached(
                "UPDATE timers SET lease_until = ?3 WHERE request_id = ?1 AND kind = ?2",
            )?;
            for (id, kind, _) in &rows {
                lease.execute(params![id, kind, millis(lease_until)])?;
            }
            Ok(rows.into_iter().filter_map(timer_of).collect())
        })
        .await
    }

    async fn finals_since(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, String), StoreError> {
        let after: Option<i64> = match cursor {
            None => None,
            Some(c) => Some(
                c.parse()
                    .map_err(|_| StoreError::Backend(format!("not a finals cursor: {c:?}")))?,
            ),
        };
        self.with_conn(move |conn| {
            let Some(after) = after else {
                let head: i64 = conn
                    .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM finals")?
                    .query_row([], |r| r.get(0))?;
                return Ok((Vec::new(), head.to_string()));
            };
            let rows: Vec<(i64, String)> = conn
                .prepare_cached(
                    "SELECT seq, request_id FROM finals WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )?
                .query_map(params![after, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let next = rows.last().map(|(seq, _)| *seq).unwrap_or(after);
            Ok((
                rows.into_iter().map(|(_, id)| id).collect(),
                next.to_string(),
            ))
        })
        .await
    }

    async fn deliveries(&self, request_id: &str) -> Result<Vec<Delivery>, StoreError> {
        let id = request_id.to_owned();
        self.with_conn(move |conn| {
            let rows: Vec<(String, String, i64, Option<String>, Option<i64>)> = conn
                .prepare_cached(
                    "SELECT channel, state, attempts, last_error, delivered_at FROM outbox
                     WHERE request_id = ?1 ORDER BY channel, seq",
                )?
                .query_map([&id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?
                .collect::<Result<_, _>>()?;
            let mut out: Vec<Delivery> = Vec::new();
            for (channel, state, attempts, error, delivered_at) in rows {
                if out.last().is_none_or(|d| d.channel != channel) {
                    out.push(Delivery {
                        channel: channel.clone(),
                        state: DeliveryState::Delivered,
                        attempts: 0,
                        last_error: None,
                        delivered_at: None,
                    });
                }
                let Some(d) = out.last_mut() else { continue };
                d.attempts += attempts as u32;
                if error.is_some() {
                    d.last_error = error;
                }
                if let Some(at) = delivered_at {
                    d.delivered_at = Some(from_millis(at));
                }
                d.state = match (d.state, state.as_str()) {
                    (DeliveryState::Failed, _) | (_, "failed") => DeliveryState::Failed,
                    (DeliveryState::Pending, _) | (_, "pending") => DeliveryState::Pending,
                    _ => DeliveryState::Delivered,
                };
            }
            Ok(out)
        })
        .await
    }

    async fn audit(
        &self,
        request_id: Option<&str>,
        from: AuditFrom,
        limit: usize,
    ) -> Result<(Vec<AuditEvent>, Option<String>), StoreError> {
        let after = match from {
            AuditFrom::Start => 0,
            AuditFrom::Seq(seq) => seq,
            AuditFrom::Cursor(c) => audit_cursor_seq(&c)?,
        };
        let id = request_id.map(str::to_owned);
        self.with_conn(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, request_id, at, actor, action, from_status, to_status, detail FROM audit
                 WHERE seq > ?1 AND (?2 IS NULL OR request_id = ?2) ORDER BY seq LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![after, id, limit as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (seq, request_id, at, actor, action, from, to, detail) = row?;
                out.push(AuditEvent {
                    seq,
                    request_id,
                    at: from_millis(at),
                    actor,
                    action,
                    from_status: from.map(status_of).transpose()?,
                    to_status: status_of(to)?,
                    detail: serde_json::from_str(&detail)?,
                });
            }
            let next = (out.len() == limit)
                .then(|| out.last().map(|e| audit_cursor(e.seq)))
                .flatten();
            Ok((out, next))
        })
        .await
    }

    async fn purge(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        self.with_conn(move |tx| {
            let cutoff = millis(cutoff);
            tx.execute(
                "DELETE FROM audit WHERE request_id IN
                   (SELECT request_id FROM approvals WHERE status != 'pending' AND decided_at < ?1)",
                [cutoff],
            )?;
            // Message references go with their records (ON DELETE CASCADE).
            let n = tx.execute("DELETE FROM approvals WHERE status != 'pending' AND decided_at < ?1", [cutoff])?;
            tx.execute("DELETE FROM session_threads WHERE created_at < ?1", [cutoff])?;
            // Long-polls follow the finals for seconds; an hour is plenty.
            tx.execute("DELETE FROM finals WHERE at < ?1", [cutoff.max(millis(Utc::now()) - 3_600_000)])?;
            Ok(n as u64)
        })
        .await
    }

    async fn put_message_ref(&self, request_id: &str, r: MessageRef) -> Result<(), StoreError> {
        let id = request_id.to_owned();
        self.with_conn(move |tx| {
            tx.prepare_cached(
                "INSERT INTO message_refs (request_id, platform, conversation, message_id, thread_id, platform_ref)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (request_id, platform) DO UPDATE
                 SET conversation = excluded.conversation, message_id = excluded.message_id,
                     thread_id = excluded.thread_id, platform_ref = excluded.platform_ref",
            )?
            .execute(params![id, r.platform, r.conversation, r.message, r.thread, r.platform_ref])
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    StoreError::NotFound(id.clone())
                }
                e => e.into(),
            })?;
            Ok(())
        })
        .await
    }

    async fn message_ref(
        &self,
        request_id: &str,
        platform: &str,
    ) -> Result<Option<MessageRef>, StoreError> {
        let (id, platform) = (request_id.to_owned(), platform.to_owned());
        self.with_conn(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT conversation, message_id, thread_id, platform_ref FROM message_refs
                     WHERE request_id = ?1 AND platform = ?2",
                )?
                .query_row(params![id, platform], |r| {
                    Ok(MessageRef {
                        platform: platform.clone(),
                        conversation: r.get(0)?,
                        message: r.get(1)?,
                        thread: r.get(2)?,
                        platform_ref: r.get(3)?,
                    })
                })
                .optional()?)
        })
        .await
    }

    async fn requests_in_thread(
        &self,
        platform: &str,
        conversation: &str,
        thread: &str,
    ) -> Result<Vec<String>, StoreError> {
        let args = (
            platform.to_owned(),
            conversation.to_owned(),
            thread.to_owned(),
        );
        self.with_conn(move |conn| {
            let ids = conn
                .prepare_cached(
                    "SELECT m.request_id FROM message_refs m JOIN approvals a USING (request_id)
                     WHERE m.platform = ?1 AND m.conversation = ?2 AND m.thread_id = ?3
                     ORDER BY a.created_at, m.message_id",
                )?
                .query_map(params![args.0, args.1, args.2], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(ids)
        })
        .await
    }

    async fn session_thread(
        &self,
        platform: &str,
        channel_key: &str,
        session: &str,
    ) -> Result<Option<ThreadRef>, StoreError> {
        let args = (
            platform.to_owned(),
            channel_key.to_owned(),
            session.to_owned(),
        );
        self.with_conn(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT conversation, thread_id, platform_ref FROM session_threads
                     WHERE platform = ?1 AND channel_key = ?2 AND session = ?3",
                )?
                .query_row(params![args.0, args.1, args.2], |r| {
                    Ok(ThreadRef {
                        conversation: r.get(0)?,
                        thread: r.get(1)?,
                        platform_ref: r.get(2)?,
                    })
                })
                .optional()?)
        })
        .await
    }

    async fn put_session_thread(
        &self,
        platform: &str,
        channel_key: &str,
        session: &str,
        thread: ThreadRef,
        now: DateTime<Utc>,
    ) -> Result<ThreadRef, StoreError> {
        let args = (
            platform.to_owned(),
            channel_key.to_owned(),
            session.to_owned(),
        );
        self.with_conn(move |tx| {
            tx.prepare_cached(
                "INSERT INTO session_threads (platform, channel_key, session, conversation, thread_id, platform_ref, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (platform, channel_key, session) DO NOTHING",
            )?
            .execute(params![
                args.0,
                args.1,
                args.2,
                thread.conversation,
                thread.thread,
                thread.platform_ref,
                millis(now)
            ])?;
            Ok(tx
                .prepare_cached(
                    "SELECT conversation, thread_id, platform_ref FROM session_threads
                     WHERE platform = ?1 AND channel_key = ?2 AND session = ?3",
                )?
                .query_row(params![args.0, args.1, args.2], |r| {
                    Ok(ThreadRef {
                        conversation: r.get(0)?,
                        thread: r.get(1)?,
                        platform_ref: r.get(2)?,
                    })
                })?)
        })
        .await
    }

    async fn claim_once(
        &self,
        key: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let key = key.to_owned();
        self.with_conn(move |tx| {
            // Forget expired claims first, so an old key can be claimed again
            // and the table stays as small as the live window.
            tx.prepare_cached("DELETE FROM once_keys WHERE expires_at <= ?1")?
                .execute([millis(now)])?;
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO once_keys (key, expires_at) VALUES (?1, ?2)
                     ON CONFLICT (key) DO NOTHING",
                )?
                .execute(params![key, millis(expires_at)])?;
            Ok(inserted == 1)
        })
        .await
    }

    async fn put_credential(&self, c: NewCredential) -> Result<(), StoreError> {
        self.with_conn(move |tx| {
            let cred = c.credential;
            tx.prepare_cached(
                "INSERT INTO credentials (id, token_hash, role, who, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                cred.id,
                c.hash,
                cred.role.as_str(),
                cred.who,
                millis(cred.created_at)
            ])?;
            Ok(())
        })
        .await
    }

    async fn credential_by_hash(&self, hash: &str) -> Result<Option<Credential>, StoreError> {
        let hash = hash.to_owned();
        self.with_conn(move |tx| {
            tx.prepare_cached(
                "SELECT id, role, who, created_at FROM credentials WHERE token_hash = ?1",
            )?
            .query_row([hash], credential_row)
            .optional()?
            .transpose()
        })
        .await
    }

    async fn credentials(&self) -> Result<Vec<Credential>, StoreError> {
        self.with_conn(move |tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT id, role, who, created_at FROM credentials ORDER BY created_at, id",
            )?;
            let rows = stmt.query_map([], credential_row)?;
            rows.map(|r| r?).collect()
        })
        .await
    }

    async fn revoke_credential(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.with_conn(move |tx| {
            let n = tx
                .prepare_cached("DELETE FROM credentials WHERE id = ?1")?
                .execute([id])?;
            Ok(n == 1)
        })
        .await
    }

    async fn put_task_token(&self, request_id: &str, token: &str) -> Result<bool, StoreError> {
        let (id, token) = (request_id.to_owned(), token.to_owned());
        self.with_conn(move |tx| {
            let n = tx
                .prepare_cached(
                    "INSERT INTO task_tokens (request_id, token)
                     SELECT request_id, ?2 FROM approvals WHERE request_id = ?1 AND status = 'pending'
                     ON CONFLICT (request_id) DO UPDATE SET token = excluded.token",
                )?
                .execute(params![id, token])?;
            Ok(n == 1)
        })
        .await
    }

    async fn task_token(&self, request_id: &str) -> Result<Option<String>, StoreError> {
        let id = request_id.to_owned();
        self.with_conn(move |tx| {
            Ok(tx
                .prepare_cached("SELECT token FROM task_tokens WHERE request_id = ?1")?
                .query_row([id], |r| r.get(0))
                .optional()?)
        })
        .await
    }
}

/// One `credentials` row; a role this build does not know fails closed.
fn credential_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Credential, StoreError>> {
    let id: String = r.get(0)?;
    let role: String = r.get(1)?;
    let who: Option<String> = r.get(2)?;
    let created_at: i64 = r.get(3)?;
    Ok(match Role::parse(&role) {
        Some(role) => Ok(Credential {
            id,
            role,
            who,
            created_at: from_millis(created_at),
        }),
        None => Err(StoreError::Backend(format!(
            "credential {id} has an unknown role {role:?}"
        ))),
    })
}

/// The audit cursor after entry `seq`. Opaque to callers: the prefix keeps
/// them from mistaking it for a count, and lets the format change.
fn audit_cursor(seq: i64) -> String {
    format!("sq1.{seq}")
}

fn audit_cursor_seq(cursor: &str) -> Result<i64, StoreError> {
    cursor
        .strip_prefix("sq1.")
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|seq| *seq >= 0)
        .ok_or_else(|| {
            StoreError::BadCursor(format!(
                "`cursor` {cursor:?} is not one this service gave out; pass a page's `next_cursor` as it is"
            ))
        })
}
