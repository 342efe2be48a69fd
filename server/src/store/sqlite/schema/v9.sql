-- v9: visits per manager per local day (the branch's time zone), kept as counts for the
-- overview (see src/read_model/days.rs). Built from the visits at the next start.

CREATE TABLE rm_visit_days (
    branch_id TEXT NOT NULL,
    manager_id TEXT NOT NULL,
    day INTEGER NOT NULL,
    manager_name TEXT NOT NULL,
    visits INTEGER NOT NULL,
    PRIMARY KEY (branch_id, manager_id, day)
) WITHOUT ROWID;
CREATE INDEX rm_visit_days_branch ON rm_visit_days (branch_id, day);

INSERT OR IGNORE INTO server_meta (key, value)
SELECT 'upgrade:rebuild_read_models', x'01' WHERE EXISTS (SELECT 1 FROM documents);
