-- The outbox: every notice for every configured notifier, written in the
-- same transaction as the change that causes it, drained by that notifier.
-- Times are Unix milliseconds (UTC).
--
-- `seq` is the record's version after the change, so a request's notices
-- keep their order without any sequence shared between requests. `record`
-- is the request as it was then (JSON), so each notice says what was true
-- when it was written. A row is leased (`lease_until`) while a process
-- delivers it; a lease that runs out (the process died) is claimed again.
CREATE TABLE outbox (
    channel      TEXT NOT NULL,
    request_id   TEXT NOT NULL REFERENCES approvals (request_id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    notice       TEXT NOT NULL,
    record       TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    next_at      INTEGER NOT NULL,
    lease_until  INTEGER,
    last_error   TEXT,
    delivered_at INTEGER,
    PRIMARY KEY (channel, request_id, seq)
);
CREATE INDEX outbox_due ON outbox (channel, next_at) WHERE state = 'pending';
