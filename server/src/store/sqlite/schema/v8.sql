-- v8: the read models keyed by customer and entity. A visit's, lead's or reminder's ID is unique
-- only within its customer's document (a tablet chooses it), so keyed by that ID alone, one
-- customer's rows could overwrite another's. The rows are rebuilt from the documents at the next
-- start; the arrival facts keep their values.

DROP TABLE rm_visit_photos;
DROP TABLE rm_visits;
DROP TABLE rm_leads;
DROP TABLE rm_reminders;

CREATE TABLE rm_visits (
    customer_id TEXT NOT NULL,
    visit_id TEXT NOT NULL,
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
    travel_kmh REAL,
    photo_reused INTEGER NOT NULL DEFAULT 0,
    clock_offset_ms INTEGER,
    flags INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (customer_id, visit_id)
) WITHOUT ROWID;
CREATE INDEX rm_visits_branch_at ON rm_visits (branch_id, at);
-- Covering the overview's visits per manager per day (no lookup of the rows themselves).
CREATE INDEX rm_visits_days ON rm_visits (branch_id, at, manager_id, manager_name, status);
CREATE INDEX rm_visits_manager_at ON rm_visits (manager_id, at, customer_id, visit_id);
CREATE INDEX rm_visits_flagged ON rm_visits (branch_id, at) WHERE flags != 0;

CREATE TABLE rm_visit_photos (
    hash TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    visit_id TEXT NOT NULL,
    branch_id TEXT NOT NULL,
    PRIMARY KEY (hash, customer_id, visit_id)
) WITHOUT ROWID;
CREATE INDEX rm_visit_photos_visit ON rm_visit_photos (customer_id, visit_id);

CREATE TABLE rm_leads (
    customer_id TEXT NOT NULL,
    lead_id TEXT NOT NULL,
    branch_id TEXT NOT NULL,
    owner_id TEXT,
    product TEXT NOT NULL,
    stage TEXT NOT NULL,
    amount_fen INTEGER NOT NULL,
    probability INTEGER NOT NULL,
    expected_close INTEGER,
    visit_id TEXT,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (customer_id, lead_id)
) WITHOUT ROWID;
CREATE INDEX rm_leads_branch ON rm_leads (branch_id, stage, amount_fen);

CREATE TABLE rm_reminders (
    customer_id TEXT NOT NULL,
    reminder_id TEXT NOT NULL,
    branch_id TEXT NOT NULL,
    owner_id TEXT,
    kind TEXT NOT NULL,
    due_at INTEGER NOT NULL,
    done_at INTEGER,
    PRIMARY KEY (customer_id, reminder_id)
) WITHOUT ROWID;
CREATE INDEX rm_reminders_branch ON rm_reminders (branch_id, due_at);

-- Covering the overview's village coverage and overdue follow-ups.
CREATE INDEX rm_customers_coverage ON rm_customers (branch_id, village, scope, last_visit_at);
CREATE INDEX rm_customers_overdue ON rm_customers (branch_id, next_follow_up_at, owner_id, owner_name, scope);

-- The arrival facts, now per customer too. Those recorded by visit ID alone are dropped: their
-- customer cannot be told for certain (v6 and v7 were development versions).
CREATE TABLE visit_arrivals_v8 (
    customer_id TEXT NOT NULL,
    visit_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    clock_offset_ms INTEGER,
    PRIMARY KEY (customer_id, visit_id)
) WITHOUT ROWID;
DROP TABLE visit_arrivals;
ALTER TABLE visit_arrivals_v8 RENAME TO visit_arrivals;

INSERT OR IGNORE INTO server_meta (key, value)
SELECT 'upgrade:rebuild_read_models', x'01' WHERE EXISTS (SELECT 1 FROM documents);
