-- v11: complaints and their handling. Each complaint a customer's file records is a row (the
-- scorecard counts those handled within the branch's limit), and the customer rules, which now
-- hold that limit and reach the tablets with the branch's settings, carry a version like the
-- pool's rules. The rows are built from the documents at the next start.

CREATE TABLE rm_complaints (
    customer_id TEXT NOT NULL,
    interaction_id TEXT NOT NULL,
    branch_id TEXT NOT NULL,
    owner_id TEXT,
    captured_at INTEGER NOT NULL,
    resolved_at INTEGER,
    PRIMARY KEY (customer_id, interaction_id)
) WITHOUT ROWID;
CREATE INDEX rm_complaints_branch ON rm_complaints (branch_id, captured_at);

ALTER TABLE branch_customer_rules ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

INSERT OR IGNORE INTO server_meta (key, value)
SELECT 'upgrade:rebuild_read_models', x'01' WHERE EXISTS (SELECT 1 FROM documents);
