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

use super::{Inserted, ListFilter, MessageRef, Step, Store, StoreError, ThreadRef};
use crate::lifecycle::AuditEntry;

/// Schema migrations, applied in order at open; `PRAGMA user_version` holds
/// how many have run. Append only: never edit a shipped migration.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_approvals.sql"),
    include_str!("migrations/0002_chat.sql"),
    include_str!("migrations/0003_conversations.sql"),
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

fn status_of(s: String) -> Result<Status, StoreError> {
    s.parse().map_err(StoreError::Backend)
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert(
        &self,
        record: ApprovalRecord,
        audit: AuditEntry,
    ) -> Result<Inserted, StoreError> {
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

    async fn transition(&self, request_id: &str, step: Step) -> Result<ApprovalRecord, StoreError> {
        let id = request_id.to_owned();
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
            Ok(t.record)
        })
        .await
    }

    async fn audit(
        &self,
        request_id: Option<&str>,
        after: i64,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
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
            Ok(out)
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
}
