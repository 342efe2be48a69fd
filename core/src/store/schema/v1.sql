-- The device store as first released (user_version 1). Kept verbatim: the migration test builds a
-- database from this file and checks that opening it with the current code yields the current schema.
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE documents (
    customer_id TEXT PRIMARY KEY,
    snapshot BLOB NOT NULL,
    next_seq INTEGER NOT NULL,
    chunks INTEGER NOT NULL
);
CREATE TABLE doc_chunks (
    customer_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (customer_id, seq)
);
CREATE TABLE customers (
    customer_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    name_sort TEXT NOT NULL,
    name_initials TEXT NOT NULL,
    phone TEXT,
    id_number_masked TEXT,
    village TEXT NOT NULL,
    tier TEXT,
    lifecycle TEXT,
    owner_id TEXT,
    owner_name TEXT,
    created_by TEXT NOT NULL,
    last_visit_at INTEGER,
    next_follow_up_at INTEGER,
    open_leads INTEGER NOT NULL
);
CREATE INDEX customers_sort ON customers (name_sort, customer_id);
CREATE INDEX customers_village ON customers (village, name_sort, customer_id);
CREATE INDEX customers_tier ON customers (tier, name_sort, customer_id);
CREATE INDEX customers_lifecycle ON customers (lifecycle, name_sort, customer_id);
CREATE INDEX customers_owner ON customers (owner_id, name_sort, customer_id);
CREATE INDEX customers_follow_up ON customers (next_follow_up_at) WHERE next_follow_up_at IS NOT NULL;
CREATE TABLE visits (
    customer_id TEXT NOT NULL,
    visit_id TEXT NOT NULL,
    manager_id TEXT NOT NULL,
    status TEXT NOT NULL,
    purpose TEXT NOT NULL,
    channel TEXT NOT NULL,
    planned_at INTEGER,
    check_in_at INTEGER,
    check_out_at INTEGER,
    next_contact_at INTEGER,
    cost_fen INTEGER NOT NULL,
    mock_location INTEGER NOT NULL,
    review TEXT,
    PRIMARY KEY (customer_id, visit_id)
);
CREATE INDEX visits_manager_status ON visits (manager_id, status);
CREATE INDEX visits_planned ON visits (planned_at) WHERE planned_at IS NOT NULL;
CREATE TABLE leads (
    customer_id TEXT NOT NULL,
    lead_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    product TEXT NOT NULL,
    amount_fen INTEGER NOT NULL,
    probability INTEGER NOT NULL,
    expected_close INTEGER,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (customer_id, lead_id)
);
CREATE INDEX leads_stage ON leads (stage, created_at);
