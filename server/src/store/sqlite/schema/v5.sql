-- Issue 11: a manager's sync reads the log of their own customers and the pool only, found through
-- their documents (changed after the cursor), instead of every change of the branch; scope moves,
-- which may purge, have their own index.
CREATE INDEX documents_changed ON documents (branch_id, scope, updated_seq);
CREATE INDEX log_moves ON log (branch_id, seq) WHERE hash IS NULL;
