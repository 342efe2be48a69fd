-- Issue 11: a photo belongs to its first uploader and is seen through that uploader's visits;
-- partial uploads expire; per-user upload quotas that survive restarts.

-- Who completed and verified each photo first, in which branch, and when: the owner, and the
-- ledger of the daily quota.
CREATE TABLE photos (
    hash TEXT PRIMARY KEY,
    uploader_id TEXT NOT NULL,
    branch_id TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    completed_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX photos_uploader ON photos (uploader_id, completed_at);

-- Uploads in progress, one per photo and user: the bytes reserved for the partial file (the
-- in-flight quota) and when it last grew (expiry).
CREATE TABLE photo_uploads (
    hash TEXT NOT NULL,
    user_id TEXT NOT NULL,
    received INTEGER NOT NULL,
    total INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, hash)
) WITHOUT ROWID;
CREATE INDEX photo_uploads_updated ON photo_uploads (updated_at);

-- A reference now names the manager of the visit it comes from: only the uploader's own visits
-- count. Earlier references did not record it and cannot be attributed; each customer's are
-- recorded again the next time its document is saved.
DROP TABLE photo_refs;
CREATE TABLE photo_refs (
    hash TEXT NOT NULL,
    manager_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    PRIMARY KEY (hash, manager_id, customer_id)
) WITHOUT ROWID;
CREATE INDEX photo_refs_customer ON photo_refs (customer_id);
