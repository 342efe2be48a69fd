-- Issue 11: accounts per branch, device actors, expiring tokens.

-- Head-office admins act in every branch; others within their own.
ALTER TABLE users ADD COLUMN head_office INTEGER NOT NULL DEFAULT 0;

-- A device is bound to a branch (kept when released, so only that branch can take it over).
ALTER TABLE devices ADD COLUMN branch_id TEXT;
ALTER TABLE devices ADD COLUMN released_at INTEGER;
UPDATE devices SET branch_id = (SELECT u.branch_id FROM users u WHERE u.id = devices.user_id);

-- The automerge actors a device registered at login: the only actors its pushes may use.
CREATE TABLE device_actors (
    actor BLOB PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices(device_id)
) WITHOUT ROWID;
CREATE INDEX device_actors_device ON device_actors (device_id);

-- Tokens expire unless used (30 days).
ALTER TABLE tokens ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
UPDATE tokens SET expires_at = issued_at + 2592000000;
CREATE INDEX tokens_device ON tokens (device_id);
