-- The server's store as issue 3 left it (before versioned migrations): every statement is
-- idempotent, so a store of that time that has no version yet passes through unchanged.

CREATE TABLE IF NOT EXISTS branches (id TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outlets (id TEXT PRIMARY KEY, branch_id TEXT NOT NULL REFERENCES branches(id), name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    branch_id TEXT NOT NULL REFERENCES branches(id),
    outlet_id TEXT REFERENCES outlets(id),
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS devices (
    device_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    registered_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash BLOB PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices(device_id),
    user_id TEXT NOT NULL REFERENCES users(id),
    issued_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS login_failures (username TEXT PRIMARY KEY, failures INTEGER NOT NULL, first_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS documents (
    customer_id TEXT PRIMARY KEY,
    branch_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    village TEXT NOT NULL DEFAULT '',
    updated_seq INTEGER NOT NULL,
    snapshot BLOB NOT NULL DEFAULT x'',
    snapshot_seq INTEGER NOT NULL DEFAULT 0,
    rows BLOB NOT NULL DEFAULT x'',
    pool_entry BLOB NOT NULL DEFAULT x''
);
CREATE INDEX IF NOT EXISTS documents_scope ON documents (branch_id, scope, village, customer_id);
CREATE TABLE IF NOT EXISTS log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    branch_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    hash BLOB,
    bytes BLOB,
    device_id TEXT,
    from_scope TEXT,
    to_scope TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS log_change ON log (customer_id, hash) WHERE hash IS NOT NULL;
CREATE INDEX IF NOT EXISTS log_customer ON log (customer_id, seq);
CREATE INDEX IF NOT EXISTS log_branch ON log (branch_id, seq);
CREATE TABLE IF NOT EXISTS planned (
    customer_id TEXT NOT NULL,
    manager_id TEXT NOT NULL,
    planned_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS planned_customer ON planned (customer_id);
CREATE INDEX IF NOT EXISTS planned_manager ON planned (manager_id, planned_at);
CREATE TABLE IF NOT EXISTS server_meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);

CREATE TABLE IF NOT EXISTS photo_refs (
    hash TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    PRIMARY KEY (hash, customer_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS photo_refs_customer ON photo_refs (customer_id);
