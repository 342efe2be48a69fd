-- user_version 6: each customer's oldest complaint not yet handled, for the "today" list's
-- deadline (the branch's limit after it was recorded). Projections are rebuilt after this
-- migration.
ALTER TABLE customers ADD COLUMN complaint_id TEXT;
ALTER TABLE customers ADD COLUMN complaint_at INTEGER;
CREATE INDEX customers_complaint ON customers (complaint_at) WHERE complaint_at IS NOT NULL;
-- The photos this tablet took (not fetched from the server): when the server turns out to have
-- lost history (restored from a backup), they are offered to it again (an upload asks first and
-- sends nothing the server holds).
ALTER TABLE photos ADD COLUMN own INTEGER NOT NULL DEFAULT 0;
