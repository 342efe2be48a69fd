-- user_version 4: what a customer's return to the public pool is computed from (see
-- domain/pool.rs, RecycleBasis), so the countdown list reads rows; NULL recycle_from: no rule
-- returns the customer (pool, closed, locked). Projections are rebuilt after this migration.
ALTER TABLE customers ADD COLUMN recycle_from INTEGER;
ALTER TABLE customers ADD COLUMN recycle_lead_at INTEGER;
ALTER TABLE customers ADD COLUMN recycle_stage TEXT;
