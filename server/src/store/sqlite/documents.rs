//! [`DocumentStore`] on SQLite: tables `log`, `documents` and `planned`. SQLite has one writer
//! at a time, so the log's `seq` (an integer primary key) is assigned in commit order.

use automerge::{ActorId, Change, ChangeHash};
use fieldsync_core::store::Rows;
use fieldsync_core::sync::protocol::PoolEntry;
use rusqlite::{Connection, OptionalExtension, params};

use super::visibility::sql_visible;
use crate::accounts::{Role, User};
use crate::policy::{Scope, View};
use crate::store::documents::{DocMeta, DocumentState, DocumentStore, LogEntry, StoredSnapshot, Visible};
use crate::store::{StoreError, StoreResult};

/// Makes the server's actor on a new store (at migration, so readers never need to write it).
pub(super) fn ensure_server_actor(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO server_meta (key, value) VALUES ('actor', ?1)",
        [fieldsync_core::ids::new_actor().to_bytes()],
    )?;
    conn.execute(
        "INSERT OR IGNORE INTO server_meta (key, value) VALUES ('epoch', ?1)",
        [super::super::new_epoch().to_string().into_bytes()],
    )?;
    Ok(())
}

impl DocumentStore for Connection {
    fn server_actor(&self) -> StoreResult<ActorId> {
        let bytes: Vec<u8> =
            self.prepare_cached("SELECT value FROM server_meta WHERE key = 'actor'")?.query_row([], |r| r.get(0))?;
        Ok(ActorId::from(bytes.as_slice()))
    }

    fn log_head(&self) -> StoreResult<i64> {
        Ok(self.prepare_cached("SELECT coalesce(max(seq), 0) FROM log")?.query_row([], |r| r.get(0))?)
    }

    fn document(&self, customer_id: &str) -> StoreResult<Option<DocMeta>> {
        Ok(self
            .prepare_cached("SELECT branch_id, scope, updated_seq FROM documents WHERE customer_id = ?1")?
            .query_row([customer_id], |r| {
                Ok(DocMeta {
                    branch_id: r.get(0)?,
                    scope: Scope::from_stored(r.get_ref(1)?.as_str()?),
                    version: r.get(2)?,
                })
            })
            .optional()?)
    }

    fn document_bytes(&self, customer_id: &str) -> StoreResult<Option<Vec<u8>>> {
        let Some((mut bytes, snapshot_seq)) = self
            .prepare_cached("SELECT snapshot, snapshot_seq FROM documents WHERE customer_id = ?1")?
            .query_row([customer_id], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?)))
            .optional()?
        else {
            return Ok(None);
        };
        let mut stmt = self.prepare_cached(
            "SELECT bytes FROM log WHERE customer_id = ?1 AND hash IS NOT NULL AND seq > ?2 ORDER BY seq",
        )?;
        let mut rows = stmt.query(params![customer_id, snapshot_seq])?;
        while let Some(row) = rows.next()? {
            bytes.extend_from_slice(row.get_ref(0)?.as_blob()?);
        }
        Ok(Some(bytes))
    }

    fn stored_size(&self, customer_id: &str) -> StoreResult<usize> {
        let size: Option<i64> = self
            .prepare_cached(
                "SELECT length(d.snapshot) + coalesce((SELECT sum(length(l.bytes)) FROM log l
                     WHERE l.customer_id = d.customer_id AND l.hash IS NOT NULL AND l.seq > d.snapshot_seq), 0)
                 FROM documents d WHERE d.customer_id = ?1",
            )?
            .query_row([customer_id], |r| r.get(0))
            .optional()?;
        Ok(size.unwrap_or(0).max(0) as usize)
    }

    fn has_change(&self, customer_id: &str, hash: &ChangeHash) -> StoreResult<bool> {
        Ok(self
            .prepare_cached("SELECT 1 FROM log WHERE customer_id = ?1 AND hash = ?2")?
            .exists(params![customer_id, hash.0.as_slice()])?)
    }

    fn append_changes(
        &self,
        branch_id: &str,
        customer_id: &str,
        changes: &[Change],
        device_id: Option<&str>,
    ) -> StoreResult<usize> {
        let mut inserted = 0;
        let mut stmt = self.prepare_cached(
            "INSERT OR IGNORE INTO log (branch_id, customer_id, hash, bytes, device_id) VALUES (?5, ?1, ?2, ?3, ?4)",
        )?;
        for change in changes {
            inserted += stmt.execute(params![
                customer_id,
                change.hash().0.as_slice(),
                change.raw_bytes(),
                device_id,
                branch_id
            ])?;
        }
        Ok(inserted)
    }

    fn log_move(&self, branch_id: &str, customer_id: &str, from: &Scope, to: &Scope) -> StoreResult<()> {
        self.prepare_cached("INSERT INTO log (branch_id, customer_id, from_scope, to_scope) VALUES (?4, ?1, ?2, ?3)")?
            .execute(params![customer_id, from.to_string(), to.to_string(), branch_id])?;
        Ok(())
    }

    fn save_document(&self, state: &DocumentState) -> StoreResult<()> {
        let rows = postcard::to_stdvec(state.rows).map_err(|_| StoreError::Corrupt("rows"))?;
        let pool = postcard::to_stdvec(state.pool_entry).map_err(|_| StoreError::Corrupt("pool entry"))?;
        self.prepare_cached(
            "INSERT INTO documents (customer_id, branch_id, scope, village, updated_seq, rows, pool_entry)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (customer_id) DO UPDATE SET scope = ?3, village = ?4, updated_seq = ?5, rows = ?6,
                 pool_entry = ?7",
        )?
        .execute(params![
            state.customer_id,
            state.branch_id,
            state.scope.to_string(),
            state.village,
            state.version,
            rows,
            pool
        ])?;
        self.prepare_cached("DELETE FROM planned WHERE customer_id = ?1")?.execute([state.customer_id])?;
        let mut insert =
            self.prepare_cached("INSERT INTO planned (customer_id, manager_id, planned_at) VALUES (?1, ?2, ?3)")?;
        for (manager_id, at) in state.planned {
            insert.execute(params![state.customer_id, manager_id, at])?;
        }
        Ok(())
    }

    fn changes_after_snapshot(&self, customer_id: &str) -> StoreResult<i64> {
        Ok(self
            .prepare_cached(
                "SELECT count(*) FROM log WHERE customer_id = ?1 AND hash IS NOT NULL
                 AND seq > (SELECT snapshot_seq FROM documents WHERE customer_id = ?1)",
            )?
            .query_row([customer_id], |r| r.get(0))?)
    }

    fn save_snapshot(&self, customer_id: &str, bytes: &[u8], seq: i64) -> StoreResult<()> {
        self.prepare_cached("UPDATE documents SET snapshot = ?2, snapshot_seq = ?3 WHERE customer_id = ?1")?
            .execute(params![customer_id, bytes, seq])?;
        Ok(())
    }

    fn mark_deleted(&self, customer_id: &str, version: i64) -> StoreResult<()> {
        self.prepare_cached("UPDATE documents SET scope = 'deleted', updated_seq = ?2 WHERE customer_id = ?1")?
            .execute(params![customer_id, version])?;
        self.prepare_cached("DELETE FROM planned WHERE customer_id = ?1")?.execute([customer_id])?;
        Ok(())
    }

    fn snapshot(&self, customer_id: &str) -> StoreResult<Option<StoredSnapshot>> {
        let Some((bytes, snapshot_seq, rows)) = self
            .prepare_cached("SELECT snapshot, snapshot_seq, rows FROM documents WHERE customer_id = ?1")?
            .query_row([customer_id], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?, r.get::<_, Vec<u8>>(2)?)))
            .optional()?
        else {
            return Ok(None);
        };
        let rows: Rows = postcard::from_bytes(&rows).map_err(|_| StoreError::Corrupt("rows"))?;
        let stale: bool = self
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM log WHERE customer_id = ?1 AND hash IS NOT NULL AND seq > ?2)",
            )?
            .query_row(params![customer_id, snapshot_seq], |r| r.get(0))?;
        Ok(Some(StoredSnapshot { bytes, rows, stale }))
    }

    fn pool_entry(&self, customer_id: &str) -> StoreResult<Option<PoolEntry>> {
        let bytes: Option<Vec<u8>> = self
            .prepare_cached("SELECT pool_entry FROM documents WHERE customer_id = ?1")?
            .query_row([customer_id], |r| r.get(0))
            .optional()?;
        Ok(bytes.and_then(|b| postcard::from_bytes(&b).ok()))
    }

    fn listing(&self, user: &User, today: (i64, i64)) -> StoreResult<Visible> {
        let full = sql_visible(user.role, View::Full, "d", "?2", "?1");
        let sql = format!(
            "WITH today AS (SELECT p.customer_id, d2.village FROM planned p JOIN documents d2 USING (customer_id)
                            WHERE p.manager_id = ?2 AND p.planned_at >= ?3 AND p.planned_at < ?4)
             SELECT d.customer_id FROM documents d
             WHERE d.branch_id = ?1 AND {full}
             ORDER BY d.customer_id IN (SELECT customer_id FROM today) DESC,
                      d.village IN (SELECT village FROM today) DESC, d.village, d.customer_id"
        );
        let mut stmt = self.prepare(&sql)?;
        let documents = stmt
            .query_map(params![user.branch_id, user.id, today.0, today.1], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        // Pool entries: what the user sees masked and not whole.
        let masked = sql_visible(user.role, View::Masked, "d", "?2", "?1");
        let mut stmt = self.prepare(&format!(
            "SELECT customer_id FROM documents d WHERE d.branch_id = ?1 AND {masked} AND NOT {full}
             ORDER BY village, customer_id"
        ))?;
        let pool = stmt.query_map(params![user.branch_id, user.id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(Visible { documents, pool })
    }

    fn scan_log(
        &self,
        user: &User,
        since: i64,
        until: i64,
        f: &mut dyn FnMut(LogEntry) -> StoreResult<bool>,
    ) -> StoreResult<()> {
        // Changes of customers the user cannot see now are not read at all (their bytes stay on
        // disk); scope moves are always read, since they may purge.
        let sql = if user.role == Role::Manager { managers_scan() } else { branch_scan(user.role) };
        let mut stmt = self.prepare_cached(&sql)?;
        let mut rows = stmt.query(params![user.branch_id, since, until, user.id])?;
        while let Some(row) = rows.next()? {
            let entry = LogEntry {
                seq: row.get(0)?,
                customer_id: row.get(1)?,
                change: row.get(2)?,
                device_id: row.get(3)?,
                from_scope: row.get_ref(4)?.as_str_or_null()?.map(Scope::from_stored),
                scope_now: Scope::from_stored(row.get_ref(5)?.as_str()?),
            };
            if !f(entry)? {
                break;
            }
        }
        Ok(())
    }

    fn live_documents(&self) -> StoreResult<Vec<(String, String)>> {
        let mut stmt = self.prepare_cached(
            "SELECT customer_id, branch_id FROM documents WHERE scope <> 'deleted' ORDER BY customer_id",
        )?;
        let ids = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    fn upgrade_pending(&self, name: &str) -> StoreResult<bool> {
        Ok(self.prepare_cached("SELECT 1 FROM server_meta WHERE key = 'upgrade:' || ?1")?.exists([name])?)
    }

    fn upgrade_done(&self, name: &str) -> StoreResult<()> {
        self.prepare_cached("DELETE FROM server_meta WHERE key = 'upgrade:' || ?1")?.execute([name])?;
        Ok(())
    }

    fn store_epoch(&self) -> StoreResult<u64> {
        let value: Option<Vec<u8>> = self
            .prepare_cached("SELECT value FROM server_meta WHERE key = 'epoch'")?
            .query_row([], |r| r.get(0))
            .optional()?;
        Ok(value.and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok()).unwrap_or(0))
    }

    fn renew_store_epoch(&self) -> StoreResult<u64> {
        let epoch = super::super::new_epoch();
        self.prepare_cached("INSERT OR REPLACE INTO server_meta (key, value) VALUES ('epoch', ?1)")?
            .execute([epoch.to_string().into_bytes()])?;
        Ok(epoch)
    }

    fn last_backup_at(&self) -> StoreResult<Option<i64>> {
        let value: Option<Vec<u8>> = self
            .prepare_cached("SELECT value FROM server_meta WHERE key = 'last_backup_at'")?
            .query_row([], |r| r.get(0))
            .optional()?;
        Ok(value.and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok()))
    }

    fn set_last_backup_at(&self, at: i64) -> StoreResult<()> {
        self.prepare_cached("INSERT OR REPLACE INTO server_meta (key, value) VALUES ('last_backup_at', ?1)")?
            .execute([at.to_string().into_bytes()])?;
        Ok(())
    }

    fn moves_since(&self, customer_id: &str, since: i64) -> StoreResult<Vec<(Scope, Scope)>> {
        let mut stmt = self.prepare_cached(
            "SELECT from_scope, to_scope FROM log WHERE customer_id = ?1 AND seq > ?2 AND hash IS NULL ORDER BY seq",
        )?;
        let moves = stmt
            .query_map(params![customer_id, since], |r| {
                Ok((Scope::from_stored(r.get_ref(0)?.as_str()?), Scope::from_stored(r.get_ref(1)?.as_str()?)))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(moves)
    }
}

/// The columns of a scanned log row, in the order `scan_log` reads them into a [`LogEntry`].
const LOG_ENTRY: &str = "l.seq, l.customer_id, l.bytes, l.device_id, l.from_scope, d.scope";

/// A manager's scan: they see their own customers and the pool, so those changed after the cursor
/// are found through their documents (a document's `updated_seq` is never below its last logged
/// change) and the other managers' changes are not even passed over; then every scope move of
/// the branch. The same rows as [`branch_scan`] (tested). CROSS JOIN and `+l.branch_id` hold
/// SQLite to that plan: the changed documents (`documents_changed`), then each one's log
/// (`log_customer`); the moves through `log_moves` (the plan is tested too).
fn managers_scan() -> String {
    let visible = sql_visible(Role::Manager, View::Masked, "d", "?4", "?1");
    format!(
        "SELECT {LOG_ENTRY}
         FROM documents d CROSS JOIN log l ON l.customer_id = d.customer_id
         WHERE {visible} AND d.updated_seq > ?2
           AND +l.branch_id = ?1 AND l.seq > ?2 AND l.seq <= ?3 AND l.hash IS NOT NULL
         UNION ALL
         SELECT {LOG_ENTRY}
         FROM log l CROSS JOIN documents d ON d.customer_id = l.customer_id
         WHERE l.branch_id = ?1 AND l.hash IS NULL AND l.seq > ?2 AND l.seq <= ?3
         ORDER BY 1"
    )
}

/// The log of the user's branch in order, with the changes of customers `role` sees nothing of
/// left out: the scan for every role, and the reference the managers' own scan is tested against.
fn branch_scan(role: Role) -> String {
    let visible = format!("({} OR l.hash IS NULL)", sql_visible(role, View::Masked, "d", "?4", "?1"));
    // CROSS JOIN keeps SQLite reading the log from the cursor on, rather than every document of
    // the branch (the visibility condition also names the documents' branch).
    format!(
        "SELECT {LOG_ENTRY}
         FROM log l CROSS JOIN documents d ON d.customer_id = l.customer_id
         WHERE l.branch_id = ?1 AND l.seq > ?2 AND l.seq <= ?3 AND {visible} ORDER BY l.seq"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::scope::tests::user;

    fn scan(conn: &Connection, user: &User, since: i64, until: i64) -> Vec<(i64, String, Option<String>, String)> {
        let mut seen = Vec::new();
        conn.scan_log(user, since, until, &mut |e| {
            seen.push((e.seq, e.customer_id, e.device_id, e.scope_now.to_string()));
            Ok(true)
        })
        .unwrap();
        seen
    }

    /// A manager's scan, found through their documents, reads exactly the rows the branch's scan
    /// reads for them: their own customers' and the pool's changes, every scope move of the
    /// branch, in order, for any cursor.
    #[test]
    fn a_managers_scan_reads_what_the_branch_scan_reads_for_them() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        let scopes = ["m:u1", "m:u2", "pool", "closed", "deleted", "m:u3"];
        let mut rng = 7u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        // Documents in two branches, changes and moves interleaved; each document's
        // `updated_seq` is the log's head when it was last written, as `save_state` leaves it.
        let mut scope_of: Vec<usize> = vec![0; 12];
        for _ in 0..300 {
            let doc = (next() % 12) as usize;
            let (id, branch) = (format!("c{doc}"), if doc < 9 { "b1" } else { "b2" });
            let device = ["d1", "d2", ""][(next() % 3) as usize];
            if next() % 5 == 0 {
                let to = (next() % scopes.len() as u64) as usize;
                conn.execute(
                    "INSERT INTO log (branch_id, customer_id, from_scope, to_scope) VALUES (?1, ?2, ?3, ?4)",
                    params![branch, id, scopes[scope_of[doc]], scopes[to]],
                )
                .unwrap();
                scope_of[doc] = to;
            } else {
                let hash = next().to_le_bytes();
                conn.execute(
                    "INSERT INTO log (branch_id, customer_id, hash, bytes, device_id) VALUES (?1, ?2, ?3, ?3, ?4)",
                    params![branch, id, hash.as_slice(), (!device.is_empty()).then_some(device)],
                )
                .unwrap();
            }
            let head: i64 = conn.query_row("SELECT max(seq) FROM log", [], |r| r.get(0)).unwrap();
            conn.execute(
                "INSERT INTO documents (customer_id, branch_id, scope, updated_seq) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (customer_id) DO UPDATE SET scope = ?3, updated_seq = ?4",
                params![id, branch, scopes[scope_of[doc]], head],
            )
            .unwrap();
        }
        let reference = |user: &User, since: i64, until: i64| {
            let mut stmt = conn.prepare(&branch_scan(user.role)).unwrap();
            stmt.query_map(params![user.branch_id, since, until, user.id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(3)?, r.get(5)?))
            })
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap()
        };
        let managers =
            [user("u1", "b1", Role::Manager), user("u2", "b1", Role::Manager), user("u3", "b2", Role::Manager)];
        let mut read = 0;
        for manager in &managers {
            for (since, until) in [(0, 300), (0, 120), (57, 300), (150, 151), (299, 300), (300, 400)] {
                let got = scan(&conn, manager, since, until);
                assert_eq!(got, reference(manager, since, until), "{} after {since} up to {until}", manager.id);
                read += got.len();
            }
        }
        assert!(read > 100, "the fixture gives the managers something to read ({read} rows)");

        // Through the changed documents and the moves' index, never the branch's whole log.
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", managers_scan()))
            .unwrap()
            .query_map(params!["b1", 0, 1, "u1"], |r| r.get(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains("USING INDEX documents_changed") && plan.contains("USING INDEX log_moves"), "{plan}");
        assert!(!plan.contains("log_branch"), "{plan}");
    }
}
