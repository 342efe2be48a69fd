-- user_version 3: sync. Each document tracks what the server has acknowledged, and whether its
-- projection rows came from the server unchecked; the public pool, first-sync progress,
-- quarantined changes, pool claims and documents under reconciliation get tables of their own.
ALTER TABLE documents ADD COLUMN local_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE documents ADD COLUMN pushed_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE documents ADD COLUMN acked_heads BLOB NOT NULL DEFAULT x'';
ALTER TABLE documents ADD COLUMN unchecked INTEGER NOT NULL DEFAULT 0;
-- Everything written before sync existed is local and unpushed.
UPDATE documents SET local_seq = next_seq;
CREATE INDEX documents_unpushed ON documents (customer_id) WHERE local_seq > pushed_seq;
CREATE INDEX documents_unchecked ON documents (customer_id) WHERE unchecked = 1;
CREATE TABLE pool (
    customer_id TEXT PRIMARY KEY,
    name_masked TEXT NOT NULL,
    kind TEXT NOT NULL,
    village TEXT NOT NULL,
    tier TEXT
);
CREATE INDEX pool_village ON pool (village, customer_id);
CREATE TABLE sync_pending (
    customer_id TEXT PRIMARY KEY,
    rank INTEGER NOT NULL,
    pool INTEGER NOT NULL
);
CREATE INDEX sync_pending_rank ON sync_pending (rank);
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    code TEXT NOT NULL,
    message_zh TEXT NOT NULL,
    message_en TEXT NOT NULL,
    changes BLOB NOT NULL
);
CREATE TABLE claims (
    intent_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE reconcile (
    customer_id TEXT PRIMARY KEY,
    state BLOB NOT NULL
);
-- Photos taken on this device (and ones fetched to view), content-addressed by SHA-256; uploaded
-- separately from documents, after them.
CREATE TABLE photos (
    hash TEXT PRIMARY KEY,
    bytes BLOB NOT NULL,
    uploaded INTEGER NOT NULL
);
CREATE INDEX photos_unsent ON photos (hash) WHERE uploaded = 0;
