-- What the chat adapters need to find their messages again after a restart.
-- Times are Unix milliseconds (UTC).

-- Where a request's card was posted, per platform: the card is updated in
-- place once decided, and replies in its thread are mapped back to it.
-- `thread_ts` is the thread the card lives in (its own `ts` when it is the
-- thread's first message).
CREATE TABLE message_refs (
    request_id TEXT NOT NULL REFERENCES approvals (request_id) ON DELETE CASCADE,
    platform   TEXT NOT NULL,
    channel    TEXT NOT NULL,
    ts         TEXT NOT NULL,
    thread_ts  TEXT NOT NULL,
    PRIMARY KEY (request_id, platform)
);
CREATE INDEX message_refs_by_thread ON message_refs (platform, channel, thread_ts);

-- The thread that groups one agent session's requests in one channel.
-- `channel_key` is the channel as configured (a name or an id); `channel` is
-- the id the platform answered with.
CREATE TABLE session_threads (
    platform    TEXT NOT NULL,
    channel_key TEXT NOT NULL,
    session     TEXT NOT NULL,
    channel     TEXT NOT NULL,
    thread_ts   TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (platform, channel_key, session)
);
CREATE INDEX session_threads_by_created ON session_threads (created_at);

-- Keys seen once (delivered event ids, request signatures), kept until they
-- expire: a second claim of a live key is refused.
CREATE TABLE once_keys (
    key        TEXT PRIMARY KEY NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX once_keys_by_expiry ON once_keys (expires_at);
