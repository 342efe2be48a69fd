-- user_version 7: documents being reconciled because the server lost them (its store was restored
-- from a backup: a new store epoch). The server may lack this tablet's own changes, or the whole
-- customer; a `gone` answer then means "offer it whole", not "delete it".
ALTER TABLE reconcile ADD COLUMN lost INTEGER NOT NULL DEFAULT 0;
