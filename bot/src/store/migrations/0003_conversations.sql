-- Message references speak of conversations, messages and threads, not of
-- one platform's words (Slack's channel, ts and thread_ts keep their values:
-- a Slack message id is its ts). `platform_ref` is opaque to everything but
-- the platform's adapter: what it needs to find its message again (Teams:
-- service URL, tenant, activity id), as the adapter wrote it.
ALTER TABLE message_refs RENAME COLUMN channel TO conversation;
ALTER TABLE message_refs RENAME COLUMN ts TO message_id;
ALTER TABLE message_refs RENAME COLUMN thread_ts TO thread_id;
ALTER TABLE message_refs ADD COLUMN platform_ref TEXT;

ALTER TABLE session_threads RENAME COLUMN channel TO conversation;
ALTER TABLE session_threads RENAME COLUMN thread_ts TO thread_id;
ALTER TABLE session_threads ADD COLUMN platform_ref TEXT;
