-- What lets several processes share one database.
-- Times are Unix milliseconds (UTC).

-- The timers of pending requests: written with the request, deleted when it
-- is final (or, for the reminder, once it went out). A process fires a
-- timer only after leasing it (`lease_until`), so two never fire one; a
-- lease left by a process that died runs out and another takes the timer.
CREATE TABLE timers (
    request_id  TEXT NOT NULL REFERENCES approvals (request_id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('remind', 'expire')),
    due_at      INTEGER NOT NULL,
    lease_until INTEGER,
    PRIMARY KEY (request_id, kind)
);
CREATE INDEX timers_by_due ON timers (due_at);

-- Requests that became final, in commit order: long-polls in every process
-- follow it to wake when another process recorded the decision. Readers
-- keep an opaque cursor (here: the last seq seen); old entries are purged.
CREATE TABLE finals (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    at         INTEGER NOT NULL
);

-- Timers for the requests that were pending when this migration ran.
INSERT INTO timers (request_id, kind, due_at)
    SELECT request_id, 'expire', expires_at FROM approvals WHERE status = 'pending';
INSERT INTO timers (request_id, kind, due_at)
    SELECT request_id, 'remind',
           created_at + 1000 * json_extract(record, '$.escalation.after_secs')
    FROM approvals
    WHERE status = 'pending'
      AND json_extract(record, '$.escalation.after_secs') IS NOT NULL
      AND json_extract(record, '$.reminded_at') IS NULL
      AND created_at + 1000 * json_extract(record, '$.escalation.after_secs') < expires_at;
