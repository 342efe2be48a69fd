-- v6: the read models of the supervisor pages (see src/read_model/). Projections of the documents,
-- written in the transaction that records each document's state, rebuildable from the documents
-- and the arrival facts: `fieldsync-server admin rebuild-read-models`.

CREATE TABLE rm_customers (
    customer_id TEXT PRIMARY KEY,
    branch_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    owner_id TEXT,
    owner_name TEXT,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    phone_masked TEXT,
    id_number_masked TEXT,
    village TEXT NOT NULL,
    lat REAL,
    lng REAL,
    tier TEXT,
    lifecycle TEXT,
    last_visit_at INTEGER,
    next_follow_up_at INTEGER,
    open_leads INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX rm_customers_village ON rm_customers (branch_id, village);
CREATE INDEX rm_customers_owner ON rm_customers (owner_id, next_follow_up_at);

-- One row per visit. `at` is when it happened (check-in) or is planned; the evidence measures
-- (distance, duration, travel, photo reuse, clock offset) are kept so each flag can say why.
CREATE TABLE rm_visits (
    visit_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    branch_id TEXT NOT NULL,
    manager_id TEXT NOT NULL,
    manager_name TEXT NOT NULL,
    village TEXT NOT NULL,
    status TEXT NOT NULL,
    purpose TEXT NOT NULL,
    channel TEXT NOT NULL,
    at INTEGER NOT NULL,
    planned_at INTEGER,
    check_in_at INTEGER,
    check_out_at INTEGER,
    in_lat REAL,
    in_lng REAL,
    in_accuracy_m REAL,
    out_lat REAL,
    out_lng REAL,
    distance_m REAL,
    duration_s INTEGER,
    mock_location INTEGER NOT NULL,
    after_the_fact INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    cost_fen INTEGER NOT NULL,
    photos INTEGER NOT NULL,
    notes TEXT NOT NULL,
    outcome TEXT NOT NULL,
    next_contact_at INTEGER,
    linked_leads INTEGER NOT NULL,
    review TEXT NOT NULL,
    reviewed_at INTEGER,
    reviewer_name TEXT,
    review_comment TEXT,
    -- Across documents: from the manager's previous visit, photos shared with other visits, and
    -- the arrival facts; kept current by the writes that change them.
    travel_kmh REAL,
    photo_reused INTEGER NOT NULL DEFAULT 0,
    clock_offset_ms INTEGER,
    flags INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX rm_visits_branch_at ON rm_visits (branch_id, at);
CREATE INDEX rm_visits_manager_at ON rm_visits (manager_id, at, visit_id);
CREATE INDEX rm_visits_customer ON rm_visits (customer_id);
CREATE INDEX rm_visits_flagged ON rm_visits (branch_id, at) WHERE flags != 0;

CREATE TABLE rm_visit_photos (
    hash TEXT NOT NULL,
    visit_id TEXT NOT NULL,
    branch_id TEXT NOT NULL,
    PRIMARY KEY (hash, visit_id)
) WITHOUT ROWID;
CREATE INDEX rm_visit_photos_visit ON rm_visit_photos (visit_id);

CREATE TABLE rm_leads (
    lead_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    branch_id TEXT NOT NULL,
    owner_id TEXT,
    product TEXT NOT NULL,
    stage TEXT NOT NULL,
    amount_fen INTEGER NOT NULL,
    probability INTEGER NOT NULL,
    expected_close INTEGER,
    visit_id TEXT,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX rm_leads_branch ON rm_leads (branch_id, stage);
CREATE INDEX rm_leads_customer ON rm_leads (customer_id);

CREATE TABLE rm_reminders (
    reminder_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    branch_id TEXT NOT NULL,
    owner_id TEXT,
    kind TEXT NOT NULL,
    due_at INTEGER NOT NULL,
    done_at INTEGER
) WITHOUT ROWID;
CREATE INDEX rm_reminders_branch ON rm_reminders (branch_id, due_at);
CREATE INDEX rm_reminders_customer ON rm_reminders (customer_id);

-- Facts no document holds: when the server first received each visit, from which device, and
-- how far that device's clock was from the server's then. Never rebuilt: the rebuild reads them.
CREATE TABLE visit_arrivals (
    visit_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    clock_offset_ms INTEGER
) WITHOUT ROWID;

-- Each branch's evidence thresholds (a branch without a row uses the defaults in
-- src/read_model/evidence.rs).
CREATE TABLE branch_evidence_rules (
    branch_id TEXT PRIMARY KEY REFERENCES branches(id),
    far_m INTEGER NOT NULL,
    short_s INTEGER NOT NULL,
    max_kmh INTEGER NOT NULL,
    clock_s INTEGER NOT NULL
) WITHOUT ROWID;

INSERT OR IGNORE INTO server_meta (key, value)
SELECT 'upgrade:rebuild_read_models', x'01' WHERE EXISTS (SELECT 1 FROM documents);
