-- Issue 11: photos stored before schema 3 have no owner, and their references were dropped. A
-- store that holds documents is marked for a one-time pass at the next start, in Rust (it needs
-- the documents parsed): references are recorded again, and each blob without an owner is given
-- to the manager of the first visit that references it (`photos::adopt_unowned`).
INSERT OR IGNORE INTO server_meta (key, value)
SELECT 'upgrade:adopt_photos', x'01' WHERE EXISTS (SELECT 1 FROM documents);
