-- v10: the public pool's rules (src/pool.rs): each branch's rules, every change of owner as a
-- row (the documents hold the history; these rows answer the claim caps and the pages), and when
-- each customer is due back in the pool (and whether it is locked). Built from the documents at the next start.

CREATE TABLE branch_pool_rules (
    branch_id TEXT PRIMARY KEY,
    -- The rules as JSON (fieldsync_core::domain::PoolRules); `version` tells tablets they changed.
    rules TEXT NOT NULL,
    version INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE owner_changes (
    customer_id TEXT NOT NULL,
    change_key TEXT NOT NULL,
    branch_id TEXT NOT NULL,
    from_id TEXT,
    from_name TEXT,
    to_id TEXT,
    to_name TEXT,
    reason TEXT NOT NULL,
    by_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (customer_id, change_key)
) WITHOUT ROWID;
CREATE INDEX owner_changes_to ON owner_changes (to_id, reason, at);
CREATE INDEX owner_changes_from ON owner_changes (from_id, customer_id, at);

-- Every live customer: locked by a supervisor, and when it is due back in the pool (NULL: never).
CREATE TABLE pool_state (
    customer_id TEXT PRIMARY KEY,
    branch_id TEXT NOT NULL,
    locked INTEGER NOT NULL,
    due_at INTEGER,
    warn_at INTEGER,
    cause TEXT
) WITHOUT ROWID;
CREATE INDEX pool_state_due ON pool_state (branch_id, due_at) WHERE due_at IS NOT NULL;

INSERT OR IGNORE INTO server_meta (key, value)
SELECT 'upgrade:rebuild_read_models', x'01' WHERE EXISTS (SELECT 1 FROM documents);

-- Duplicate checks across a branch (src/duplicates.rs): each live customer's canonical phone and
-- a digest of its ID number (the number itself stays in the document).
CREATE TABLE customer_keys (
    customer_id TEXT PRIMARY KEY,
    branch_id TEXT NOT NULL,
    phone TEXT,
    id_key TEXT
) WITHOUT ROWID;
CREATE INDEX customer_keys_phone ON customer_keys (branch_id, phone) WHERE phone IS NOT NULL;
CREATE INDEX customer_keys_id ON customer_keys (branch_id, id_key) WHERE id_key IS NOT NULL;

-- Tiers and lifecycle stages (src/stages.rs): each branch's thresholds and dormancy period, the
-- latest financial-asset snapshot of each customer from the core banking system (source data:
-- a rebuild keeps it), and when each customer's stage must be computed again (now, after a
-- change the stage depends on; later, when it would turn dormant).
CREATE TABLE branch_customer_rules (
    branch_id TEXT PRIMARY KEY,
    rules TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE asset_snapshots (
    customer_id TEXT PRIMARY KEY,
    branch_id TEXT NOT NULL,
    as_of INTEGER NOT NULL,
    assets_fen INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE stage_state (
    customer_id TEXT PRIMARY KEY,
    branch_id TEXT NOT NULL,
    refresh_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX stage_state_due ON stage_state (branch_id, refresh_at);

-- Reminders the server writes into the documents (src/reminders.rs): when each customer's next
-- birthday reminder is to be written (ahead of the day, so the tablet has it offline).
CREATE TABLE birthday_due (
    customer_id TEXT PRIMARY KEY,
    branch_id TEXT NOT NULL,
    write_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX birthday_due_at ON birthday_due (branch_id, write_at);

-- The branch's product catalog (src/catalog.rs): products as JSON (a removed one stays, inactive,
-- so tablets learn that the catalog changed), and the brochures by SHA-256.
CREATE TABLE catalog_products (
    branch_id TEXT NOT NULL,
    product_id TEXT NOT NULL,
    product TEXT NOT NULL,
    active INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (branch_id, product_id)
) WITHOUT ROWID;

CREATE TABLE catalog_files (
    hash TEXT PRIMARY KEY,
    bytes BLOB NOT NULL
) WITHOUT ROWID;

-- Territories (src/territories.rs): each village of a branch with its outlet and the managers
-- responsible for it (JSON list of user IDs).
CREATE TABLE territories (
    branch_id TEXT NOT NULL,
    village TEXT NOT NULL,
    outlet_id TEXT,
    manager_ids TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (branch_id, village)
) WITHOUT ROWID;

-- Targets (src/targets.rs): when each lead was won, for the month's progress; each branch's
-- monthly targets, the branch's ('' as the manager) and each manager's.
ALTER TABLE rm_leads ADD COLUMN won_at INTEGER;
CREATE INDEX rm_leads_won ON rm_leads (branch_id, won_at) WHERE won_at IS NOT NULL;

CREATE TABLE targets (
    branch_id TEXT NOT NULL,
    month TEXT NOT NULL,
    manager_id TEXT NOT NULL,
    visits INTEGER NOT NULL,
    new_customers INTEGER NOT NULL,
    leads_won INTEGER NOT NULL,
    amount_won_fen INTEGER NOT NULL,
    PRIMARY KEY (branch_id, month, manager_id)
) WITHOUT ROWID;
CREATE INDEX rm_customers_new ON rm_customers (owner_id, created_at);
CREATE INDEX rm_leads_won_by ON rm_leads (created_by, won_at) WHERE won_at IS NOT NULL;

-- Campaigns (src/campaigns.rs): a supervisor's campaign (a product, a period, the filters that
-- chose its members) and its members, each given a task on their manager's tablet.
CREATE TABLE campaigns (
    campaign_id TEXT PRIMARY KEY,
    branch_id TEXT NOT NULL,
    name TEXT NOT NULL,
    product TEXT NOT NULL,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    filters TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX campaigns_branch ON campaigns (branch_id, starts_at);

CREATE TABLE campaign_members (
    campaign_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    PRIMARY KEY (campaign_id, customer_id)
) WITHOUT ROWID;

-- Each customer's tags, by hand and by the server's rules (a JSON list), for campaigns' filters.
ALTER TABLE rm_customers ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
