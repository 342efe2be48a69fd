-- user_version 5: files the branch's settings refer to (the product catalog's brochures), kept
-- for offline use by their SHA-256.
CREATE TABLE files (
    hash TEXT PRIMARY KEY,
    bytes BLOB NOT NULL
);
-- The tags a customer carries, by hand (the profile) and by the server's rules, as a JSON list:
-- a filter of the lists. Projections are rebuilt after this migration.
ALTER TABLE customers ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
