-- Version 2: room on each page of device_syncs for a row's next version. Every sync of every
-- device updates its row in place; with pages full (fillfactor 100) each update moves the row to
-- another page and adds an index entry for it, and the table and its index swell until vacuumed.
-- With room on the page, an update that changes no indexed column stays there (a HOT update: no
-- index entry, reclaimed by the page itself). Pages written from now on keep the room; no rewrite.
ALTER TABLE device_syncs SET (fillfactor = 70);
