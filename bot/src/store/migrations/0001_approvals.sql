-- Approval records and their audit history. Times are Unix milliseconds (UTC).
CREATE TABLE approvals (
    request_id TEXT PRIMARY KEY NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'expired', 'cancelled')),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    decided_at INTEGER,
    -- Bumped on every write; a write that finds another version lost a race.
    version    INTEGER NOT NULL,
    -- The full record as JSON (hitl_wire::ApprovalRecord).
    record     TEXT NOT NULL
);
CREATE INDEX approvals_by_status ON approvals (status, expires_at);
CREATE INDEX approvals_by_created ON approvals (created_at);
CREATE INDEX approvals_by_decided ON approvals (decided_at) WHERE decided_at IS NOT NULL;

CREATE TABLE audit (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id  TEXT NOT NULL,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX audit_by_request ON audit (request_id, seq);
