-- The PostgreSQL store, version 1: the tables of the SQLite store at its schema 11, with
-- PostgreSQL's types (BIGINT for SQLite's integers, flags included, so both stores take the same
-- values; DOUBLE PRECISION; BYTEA) and byte-order text (COLLATE "C": lists sort as on SQLite,
-- whatever the database's locale). The log's `seq` is not an identity: it is taken from
-- `log_seq` under the store's write lock, so sequence numbers are assigned in commit order (see
-- docs/cursor.md).
CREATE SEQUENCE log_seq AS BIGINT;
CREATE TABLE branches (id TEXT COLLATE "C" PRIMARY KEY, name TEXT COLLATE "C" NOT NULL, time_zone TEXT COLLATE "C" NOT NULL DEFAULT 'Asia/Shanghai');
CREATE TABLE outlets (id TEXT COLLATE "C" PRIMARY KEY, branch_id TEXT COLLATE "C" NOT NULL REFERENCES branches(id), name TEXT COLLATE "C" NOT NULL);
CREATE TABLE users (
    id TEXT COLLATE "C" PRIMARY KEY,
    branch_id TEXT COLLATE "C" NOT NULL REFERENCES branches(id),
    outlet_id TEXT COLLATE "C" REFERENCES outlets(id),
    username TEXT COLLATE "C" NOT NULL UNIQUE,
    display_name TEXT COLLATE "C" NOT NULL,
    role TEXT COLLATE "C" NOT NULL,
    password_hash TEXT COLLATE "C" NOT NULL,
    active BIGINT NOT NULL DEFAULT 1
, head_office BIGINT NOT NULL DEFAULT 0);
CREATE TABLE devices (
    device_id TEXT COLLATE "C" PRIMARY KEY,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    registered_at BIGINT NOT NULL,
    revoked_at BIGINT
, branch_id TEXT COLLATE "C", released_at BIGINT);
CREATE TABLE tokens (
    token_hash BYTEA PRIMARY KEY,
    device_id TEXT COLLATE "C" NOT NULL REFERENCES devices(device_id),
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    issued_at BIGINT NOT NULL
, expires_at BIGINT NOT NULL DEFAULT 0);
CREATE TABLE login_failures (username TEXT COLLATE "C" PRIMARY KEY, failures BIGINT NOT NULL, first_at BIGINT NOT NULL);
CREATE TABLE audit (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT COLLATE "C" NOT NULL,
    action TEXT COLLATE "C" NOT NULL,
    subject TEXT COLLATE "C" NOT NULL
);
CREATE TABLE documents (
    customer_id TEXT COLLATE "C" PRIMARY KEY,
    branch_id TEXT COLLATE "C" NOT NULL,
    scope TEXT COLLATE "C" NOT NULL,
    village TEXT COLLATE "C" NOT NULL DEFAULT '',
    updated_seq BIGINT NOT NULL,
    snapshot BYTEA NOT NULL DEFAULT '\x'::bytea,
    snapshot_seq BIGINT NOT NULL DEFAULT 0,
    rows BYTEA NOT NULL DEFAULT '\x'::bytea,
    pool_entry BYTEA NOT NULL DEFAULT '\x'::bytea
);
CREATE INDEX documents_scope ON documents (branch_id, scope, village, customer_id);
CREATE TABLE log (
    seq BIGINT PRIMARY KEY,
    branch_id TEXT COLLATE "C" NOT NULL,
    customer_id TEXT COLLATE "C" NOT NULL,
    hash BYTEA,
    bytes BYTEA,
    device_id TEXT COLLATE "C",
    from_scope TEXT COLLATE "C",
    to_scope TEXT COLLATE "C"
);
CREATE UNIQUE INDEX log_change ON log (customer_id, hash) WHERE hash IS NOT NULL;
CREATE INDEX log_customer ON log (customer_id, seq);
CREATE INDEX log_branch ON log (branch_id, seq);
CREATE TABLE planned (
    customer_id TEXT COLLATE "C" NOT NULL,
    manager_id TEXT COLLATE "C" NOT NULL,
    planned_at BIGINT NOT NULL
);
CREATE INDEX planned_customer ON planned (customer_id);
CREATE INDEX planned_manager ON planned (manager_id, planned_at);
CREATE TABLE server_meta (key TEXT COLLATE "C" PRIMARY KEY, value BYTEA NOT NULL);
CREATE TABLE device_actors (
    actor BYTEA PRIMARY KEY,
    device_id TEXT COLLATE "C" NOT NULL REFERENCES devices(device_id)
);
CREATE INDEX device_actors_device ON device_actors (device_id);
CREATE INDEX tokens_device ON tokens (device_id);
CREATE TABLE photos (
    hash TEXT COLLATE "C" PRIMARY KEY,
    uploader_id TEXT COLLATE "C" NOT NULL,
    branch_id TEXT COLLATE "C" NOT NULL,
    bytes BIGINT NOT NULL,
    completed_at BIGINT NOT NULL
);
CREATE INDEX photos_uploader ON photos (uploader_id, completed_at);
CREATE TABLE photo_uploads (
    hash TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    received BIGINT NOT NULL,
    total BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, hash)
);
CREATE INDEX photo_uploads_updated ON photo_uploads (updated_at);
CREATE TABLE photo_refs (
    hash TEXT COLLATE "C" NOT NULL,
    manager_id TEXT COLLATE "C" NOT NULL,
    customer_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (hash, manager_id, customer_id)
);
CREATE INDEX photo_refs_customer ON photo_refs (customer_id);
CREATE INDEX documents_changed ON documents (branch_id, scope, updated_seq);
CREATE INDEX log_moves ON log (branch_id, seq) WHERE hash IS NULL;
CREATE TABLE rm_customers (
    customer_id TEXT COLLATE "C" PRIMARY KEY,
    branch_id TEXT COLLATE "C" NOT NULL,
    scope TEXT COLLATE "C" NOT NULL,
    owner_id TEXT COLLATE "C",
    owner_name TEXT COLLATE "C",
    name TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    phone_masked TEXT COLLATE "C",
    id_number_masked TEXT COLLATE "C",
    village TEXT COLLATE "C" NOT NULL,
    lat DOUBLE PRECISION,
    lng DOUBLE PRECISION,
    tier TEXT COLLATE "C",
    lifecycle TEXT COLLATE "C",
    last_visit_at BIGINT,
    next_follow_up_at BIGINT,
    open_leads BIGINT NOT NULL,
    created_at BIGINT NOT NULL
, tags TEXT COLLATE "C" NOT NULL DEFAULT '[]');
CREATE INDEX rm_customers_village ON rm_customers (branch_id, village);
CREATE INDEX rm_customers_owner ON rm_customers (owner_id, next_follow_up_at);
CREATE TABLE branch_evidence_rules (
    branch_id TEXT COLLATE "C" PRIMARY KEY REFERENCES branches(id),
    far_m BIGINT NOT NULL,
    short_s BIGINT NOT NULL,
    max_kmh BIGINT NOT NULL,
    clock_s BIGINT NOT NULL
);
CREATE TABLE web_sessions (
    token_hash BYTEA PRIMARY KEY,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    branch_id TEXT COLLATE "C" NOT NULL REFERENCES branches(id),
    csrf TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
CREATE TABLE device_syncs (
    device_id TEXT COLLATE "C" PRIMARY KEY,
    last_sync_at BIGINT NOT NULL,
    app_version TEXT COLLATE "C" NOT NULL,
    refused_last BIGINT NOT NULL,
    refused_total BIGINT NOT NULL
);
CREATE TABLE rm_visits (
    customer_id TEXT COLLATE "C" NOT NULL,
    visit_id TEXT COLLATE "C" NOT NULL,
    branch_id TEXT COLLATE "C" NOT NULL,
    manager_id TEXT COLLATE "C" NOT NULL,
    manager_name TEXT COLLATE "C" NOT NULL,
    village TEXT COLLATE "C" NOT NULL,
    status TEXT COLLATE "C" NOT NULL,
    purpose TEXT COLLATE "C" NOT NULL,
    channel TEXT COLLATE "C" NOT NULL,
    at BIGINT NOT NULL,
    planned_at BIGINT,
    check_in_at BIGINT,
    check_out_at BIGINT,
    in_lat DOUBLE PRECISION,
    in_lng DOUBLE PRECISION,
    in_accuracy_m DOUBLE PRECISION,
    out_lat DOUBLE PRECISION,
    out_lng DOUBLE PRECISION,
    distance_m DOUBLE PRECISION,
    duration_s BIGINT,
    mock_location BIGINT NOT NULL,
    after_the_fact BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    cost_fen BIGINT NOT NULL,
    photos BIGINT NOT NULL,
    notes TEXT COLLATE "C" NOT NULL,
    outcome TEXT COLLATE "C" NOT NULL,
    next_contact_at BIGINT,
    linked_leads BIGINT NOT NULL,
    review TEXT COLLATE "C" NOT NULL,
    reviewed_at BIGINT,
    reviewer_name TEXT COLLATE "C",
    review_comment TEXT COLLATE "C",
    travel_kmh DOUBLE PRECISION,
    photo_reused BIGINT NOT NULL DEFAULT 0,
    clock_offset_ms BIGINT,
    flags BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (customer_id, visit_id)
);
CREATE INDEX rm_visits_branch_at ON rm_visits (branch_id, at);
CREATE INDEX rm_visits_days ON rm_visits (branch_id, at, manager_id, manager_name, status);
CREATE INDEX rm_visits_manager_at ON rm_visits (manager_id, at, customer_id, visit_id);
CREATE INDEX rm_visits_flagged ON rm_visits (branch_id, at) WHERE flags != 0;
CREATE TABLE rm_visit_photos (
    hash TEXT COLLATE "C" NOT NULL,
    customer_id TEXT COLLATE "C" NOT NULL,
    visit_id TEXT COLLATE "C" NOT NULL,
    branch_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (hash, customer_id, visit_id)
);
CREATE INDEX rm_visit_photos_visit ON rm_visit_photos (customer_id, visit_id);
CREATE TABLE rm_leads (
    customer_id TEXT COLLATE "C" NOT NULL,
    lead_id TEXT COLLATE "C" NOT NULL,
    branch_id TEXT COLLATE "C" NOT NULL,
    owner_id TEXT COLLATE "C",
    product TEXT COLLATE "C" NOT NULL,
    stage TEXT COLLATE "C" NOT NULL,
    amount_fen BIGINT NOT NULL,
    probability BIGINT NOT NULL,
    expected_close BIGINT,
    visit_id TEXT COLLATE "C",
    created_by TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL, won_at BIGINT,
    PRIMARY KEY (customer_id, lead_id)
);
CREATE INDEX rm_leads_branch ON rm_leads (branch_id, stage, amount_fen);
CREATE TABLE rm_reminders (
    customer_id TEXT COLLATE "C" NOT NULL,
    reminder_id TEXT COLLATE "C" NOT NULL,
    branch_id TEXT COLLATE "C" NOT NULL,
    owner_id TEXT COLLATE "C",
    kind TEXT COLLATE "C" NOT NULL,
    due_at BIGINT NOT NULL,
    done_at BIGINT,
    PRIMARY KEY (customer_id, reminder_id)
);
CREATE INDEX rm_reminders_branch ON rm_reminders (branch_id, due_at);
CREATE INDEX rm_customers_coverage ON rm_customers (branch_id, village, scope, last_visit_at);
CREATE INDEX rm_customers_overdue ON rm_customers (branch_id, next_follow_up_at, owner_id, owner_name, scope);
CREATE TABLE visit_arrivals (
    customer_id TEXT COLLATE "C" NOT NULL,
    visit_id TEXT COLLATE "C" NOT NULL,
    device_id TEXT COLLATE "C" NOT NULL,
    received_at BIGINT NOT NULL,
    clock_offset_ms BIGINT,
    PRIMARY KEY (customer_id, visit_id)
);
CREATE TABLE rm_visit_days (
    branch_id TEXT COLLATE "C" NOT NULL,
    manager_id TEXT COLLATE "C" NOT NULL,
    day BIGINT NOT NULL,
    manager_name TEXT COLLATE "C" NOT NULL,
    visits BIGINT NOT NULL,
    PRIMARY KEY (branch_id, manager_id, day)
);
CREATE INDEX rm_visit_days_branch ON rm_visit_days (branch_id, day);
CREATE TABLE branch_pool_rules (
    branch_id TEXT COLLATE "C" PRIMARY KEY,
    -- The rules as JSON (fieldsync_core::domain::PoolRules); `version` tells tablets they changed.
    rules TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL
);
CREATE TABLE owner_changes (
    customer_id TEXT COLLATE "C" NOT NULL,
    change_key TEXT COLLATE "C" NOT NULL,
    branch_id TEXT COLLATE "C" NOT NULL,
    from_id TEXT COLLATE "C",
    from_name TEXT COLLATE "C",
    to_id TEXT COLLATE "C",
    to_name TEXT COLLATE "C",
    reason TEXT COLLATE "C" NOT NULL,
    by_id TEXT COLLATE "C" NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (customer_id, change_key)
);
CREATE INDEX owner_changes_to ON owner_changes (to_id, reason, at);
CREATE INDEX owner_changes_from ON owner_changes (from_id, customer_id, at);
CREATE TABLE pool_state (
    customer_id TEXT COLLATE "C" PRIMARY KEY,
    branch_id TEXT COLLATE "C" NOT NULL,
    locked BIGINT NOT NULL,
    due_at BIGINT,
    warn_at BIGINT,
    cause TEXT COLLATE "C"
);
CREATE INDEX pool_state_due ON pool_state (branch_id, due_at) WHERE due_at IS NOT NULL;
CREATE TABLE customer_keys (
    customer_id TEXT COLLATE "C" PRIMARY KEY,
    branch_id TEXT COLLATE "C" NOT NULL,
    phone TEXT COLLATE "C",
    id_key TEXT COLLATE "C"
);
CREATE INDEX customer_keys_phone ON customer_keys (branch_id, phone) WHERE phone IS NOT NULL;
CREATE INDEX customer_keys_id ON customer_keys (branch_id, id_key) WHERE id_key IS NOT NULL;
CREATE TABLE branch_customer_rules (
    branch_id TEXT COLLATE "C" PRIMARY KEY,
    rules TEXT COLLATE "C" NOT NULL
, version BIGINT NOT NULL DEFAULT 1);
CREATE TABLE asset_snapshots (
    customer_id TEXT COLLATE "C" PRIMARY KEY,
    branch_id TEXT COLLATE "C" NOT NULL,
    as_of BIGINT NOT NULL,
    assets_fen BIGINT NOT NULL
);
CREATE TABLE stage_state (
    customer_id TEXT COLLATE "C" PRIMARY KEY,
    branch_id TEXT COLLATE "C" NOT NULL,
    refresh_at BIGINT NOT NULL
);
CREATE INDEX stage_state_due ON stage_state (branch_id, refresh_at);
CREATE TABLE birthday_due (
    customer_id TEXT COLLATE "C" PRIMARY KEY,
    branch_id TEXT COLLATE "C" NOT NULL,
    write_at BIGINT NOT NULL
);
CREATE INDEX birthday_due_at ON birthday_due (branch_id, write_at);
CREATE TABLE catalog_products (
    branch_id TEXT COLLATE "C" NOT NULL,
    product_id TEXT COLLATE "C" NOT NULL,
    product TEXT COLLATE "C" NOT NULL,
    active BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (branch_id, product_id)
);
CREATE TABLE catalog_files (
    hash TEXT COLLATE "C" PRIMARY KEY,
    bytes BYTEA NOT NULL
);
CREATE TABLE territories (
    branch_id TEXT COLLATE "C" NOT NULL,
    village TEXT COLLATE "C" NOT NULL,
    outlet_id TEXT COLLATE "C",
    manager_ids TEXT COLLATE "C" NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (branch_id, village)
);
CREATE INDEX rm_leads_won ON rm_leads (branch_id, won_at) WHERE won_at IS NOT NULL;
CREATE TABLE targets (
    branch_id TEXT COLLATE "C" NOT NULL,
    month TEXT COLLATE "C" NOT NULL,
    manager_id TEXT COLLATE "C" NOT NULL,
    visits BIGINT NOT NULL,
    new_customers BIGINT NOT NULL,
    leads_won BIGINT NOT NULL,
    amount_won_fen BIGINT NOT NULL,
    PRIMARY KEY (branch_id, month, manager_id)
);
CREATE INDEX rm_customers_new ON rm_customers (owner_id, created_at);
CREATE INDEX rm_leads_won_by ON rm_leads (created_by, won_at) WHERE won_at IS NOT NULL;
CREATE TABLE campaigns (
    campaign_id TEXT COLLATE "C" PRIMARY KEY,
    branch_id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    product TEXT COLLATE "C" NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    filters TEXT COLLATE "C" NOT NULL,
    created_by TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX campaigns_branch ON campaigns (branch_id, starts_at);
CREATE TABLE campaign_members (
    campaign_id TEXT COLLATE "C" NOT NULL,
    customer_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (campaign_id, customer_id)
);
CREATE TABLE rm_complaints (
    customer_id TEXT COLLATE "C" NOT NULL,
    interaction_id TEXT COLLATE "C" NOT NULL,
    branch_id TEXT COLLATE "C" NOT NULL,
    owner_id TEXT COLLATE "C",
    captured_at BIGINT NOT NULL,
    resolved_at BIGINT,
    PRIMARY KEY (customer_id, interaction_id)
);
CREATE INDEX rm_complaints_branch ON rm_complaints (branch_id, captured_at);
