-- user_version 5: files the branch's settings refer to (the product catalog's brochures), kept
-- for offline use by their SHA-256.
CREATE TABLE files (
    hash TEXT PRIMARY KEY,
    bytes BLOB NOT NULL
);
