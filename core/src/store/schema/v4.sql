-- user_version 4: what a customer's return to the public pool is computed from (see
-- domain/pool.rs, RecycleBasis), so the countdown list reads rows; NULL recycle_from: no rule
-- returns the customer (pool, closed, locked). Projections are rebuilt after this migration.
ALTER TABLE customers ADD COLUMN recycle_from INTEGER;
ALTER TABLE customers ADD COLUMN recycle_lead_at INTEGER;
ALTER TABLE customers ADD COLUMN recycle_stage TEXT;
-- Duplicate checks (查重) within what the tablet holds: the phone (canonical) and a digest of the
-- ID number (the number itself stays out of the projection).
ALTER TABLE customers ADD COLUMN id_key TEXT;
CREATE INDEX customers_phone ON customers (phone) WHERE phone IS NOT NULL;
CREATE INDEX customers_id_key ON customers (id_key) WHERE id_key IS NOT NULL;
