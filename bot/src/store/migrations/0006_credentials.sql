-- Credentials with roles. Only the SHA-256 of each token is kept.
-- Times are Unix milliseconds (UTC).
CREATE TABLE credentials (
    id         TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL CHECK (role IN ('requester', 'approver')),
    who        TEXT,
    created_at INTEGER NOT NULL,
    CHECK (role = 'requester' OR who IS NOT NULL)
);
