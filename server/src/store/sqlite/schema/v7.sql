-- v7: the supervisor web app's sessions, and each branch's time zone (pages show times in it).

-- A browser's session: the cookie holds the token, the table its hash. `csrf` is the token every
-- form of the session must carry; `branch_id` is the branch the pages show (an admin chooses).
CREATE TABLE web_sessions (
    token_hash BLOB PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    branch_id TEXT NOT NULL REFERENCES branches(id),
    csrf TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX web_sessions_user ON web_sessions (user_id);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);

ALTER TABLE branches ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'Asia/Shanghai';

-- Each device's last sync as the supervisor pages show it: when, from which app version, and the
-- pushes the server refused then (and in all).
CREATE TABLE device_syncs (
    device_id TEXT PRIMARY KEY,
    last_sync_at INTEGER NOT NULL,
    app_version TEXT NOT NULL,
    refused_last INTEGER NOT NULL,
    refused_total INTEGER NOT NULL
) WITHOUT ROWID;
