//! [`DocumentStore`] on PostgreSQL, the twin of `store::sqlite::documents`: tables `log`,
//! `documents`, `planned` and `server_meta`. The log's `seq` is taken from the sequence `log_seq`
//! by writers holding the store's write lock until they commit, so sequence numbers are assigned
//! in commit order (docs/cursor.md), as SQLite's single writer assigns them.
//!
//! Also here: [`pg_visible`], the PostgreSQL twin of the SQL visibility rule
//! (`store::sqlite::visibility`), for the queries that filter by it.

use std::sync::LazyLock;

use automerge::{ActorId, Change, ChangeHash};
use fieldsync_core::store::Rows;
use fieldsync_core::sync::protocol::PoolEntry;

use super::PgStore;
use crate::accounts::{Role, User};
use crate::policy::{Scope, View};
use crate::store::documents::{DocMeta, DocumentState, DocumentStore, LogEntry, StoredSnapshot, Visible};
use crate::store::{StoreError, StoreResult};

/// Log rows a scan fetches per round trip (the scan stops early when its caller has enough).
const SCAN_BATCH: i32 = 128;

impl DocumentStore for PgStore<'_> {
    fn server_actor(&self) -> StoreResult<ActorId> {
        self.remembered("server_meta", "actor", "", || {
            let row = self.query_one("SELECT value FROM server_meta WHERE key = 'actor'", &[])?;
            let bytes: &[u8] = row.try_get(0)?;
            Ok(ActorId::from(bytes))
        })
    }

    fn log_head(&self) -> StoreResult<i64> {
        Ok(self.query_one("SELECT coalesce(max(seq), 0)::BIGINT FROM log", &[])?.try_get(0)?)
    }

    fn document(&self, customer_id: &str) -> StoreResult<Option<DocMeta>> {
        let Some(row) = self
            .query_opt("SELECT branch_id, scope, updated_seq FROM documents WHERE customer_id = $1", &[&customer_id])?
        else {
            return Ok(None);
        };
        Ok(Some(DocMeta {
            branch_id: row.try_get(0)?,
            scope: Scope::from_stored(row.try_get(1)?),
            version: row.try_get(2)?,
        }))
    }

    fn document_bytes(&self, customer_id: &str) -> StoreResult<Option<Vec<u8>>> {
        let Some(row) =
            self.query_opt("SELECT snapshot, snapshot_seq FROM documents WHERE customer_id = $1", &[&customer_id])?
        else {
            return Ok(None);
        };
        let mut bytes: Vec<u8> = row.try_get(0)?;
        let snapshot_seq: i64 = row.try_get(1)?;
        let rows = self.query(
            "SELECT bytes FROM log WHERE customer_id = $1 AND hash IS NOT NULL AND seq > $2 ORDER BY seq",
            &[&customer_id, &snapshot_seq],
        )?;
        for row in &rows {
            bytes.extend_from_slice(row.try_get::<_, &[u8]>(0)?);
        }
        Ok(Some(bytes))
    }

    fn stored_size(&self, customer_id: &str) -> StoreResult<usize> {
        let row = self.query_opt(
            "SELECT (length(d.snapshot) + coalesce((SELECT sum(length(l.bytes)) FROM log l
                 WHERE l.customer_id = d.customer_id AND l.hash IS NOT NULL AND l.seq > d.snapshot_seq), 0))::BIGINT
             FROM documents d WHERE d.customer_id = $1",
            &[&customer_id],
        )?;
        let size = match row {
            Some(row) => row.try_get::<_, Option<i64>>(0)?,
            None => None,
        };
        Ok(size.unwrap_or(0).max(0) as usize)
    }

    fn has_change(&self, customer_id: &str, hash: &ChangeHash) -> StoreResult<bool> {
        Ok(self
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM log WHERE customer_id = $1 AND hash = $2)",
                &[&customer_id, &hash.0.as_slice()],
            )?
            .try_get(0)?)
    }

    fn append_changes(
        &self,
        branch_id: &str,
        customer_id: &str,
        changes: &[Change],
        device_id: Option<&str>,
    ) -> StoreResult<usize> {
        // One statement for all of them, numbered in their order (the select list, `nextval`, is
        // computed after the ORDER BY). A change already logged is skipped by the unique index
        // `log_change`, having taken a sequence number as SQLite's `INSERT OR IGNORE` takes one
        // from AUTOINCREMENT: the same gaps (harmless: cursors only compare).
        if changes.is_empty() {
            return Ok(0);
        }
        let hashes: Vec<Vec<u8>> = changes.iter().map(|c| c.hash().0.to_vec()).collect();
        let bytes: Vec<&[u8]> = changes.iter().map(|c| c.raw_bytes()).collect();
        let inserted = self.execute(
            "INSERT INTO log (seq, branch_id, customer_id, hash, bytes, device_id)
             SELECT nextval('log_seq'), $4, $1, c.hash, c.bytes, $5
             FROM unnest($2::bytea[], $3::bytea[]) WITH ORDINALITY AS c (hash, bytes, n)
             ORDER BY c.n
             ON CONFLICT DO NOTHING",
            &[&customer_id, &hashes, &bytes, &branch_id, &device_id],
        )?;
        Ok(inserted as usize)
    }

    fn log_move(&self, branch_id: &str, customer_id: &str, from: &Scope, to: &Scope) -> StoreResult<()> {
        self.write(
            "INSERT INTO log (seq, branch_id, customer_id, from_scope, to_scope)
             VALUES (nextval('log_seq'), $4, $1, $2, $3)",
            &[&customer_id, &from.to_string(), &to.to_string(), &branch_id],
        )?;
        Ok(())
    }

    fn save_document(&self, state: &DocumentState) -> StoreResult<()> {
        let rows = postcard::to_stdvec(state.rows).map_err(|_| StoreError::Corrupt("rows"))?;
        let pool = postcard::to_stdvec(state.pool_entry).map_err(|_| StoreError::Corrupt("pool entry"))?;
        self.write(
            "INSERT INTO documents (customer_id, branch_id, scope, village, updated_seq, rows, pool_entry)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (customer_id) DO UPDATE SET scope = $3, village = $4, updated_seq = $5, rows = $6,
                 pool_entry = $7",
            &[
                &state.customer_id,
                &state.branch_id,
                &state.scope.to_string(),
                &state.village,
                &state.version,
                &rows,
                &pool,
            ],
        )?;
        self.write("DELETE FROM planned WHERE customer_id = $1", &[&state.customer_id])?;
        for &(manager_id, at) in state.planned {
            self.write(
                "INSERT INTO planned (customer_id, manager_id, planned_at) VALUES ($1, $2, $3)",
                &[&state.customer_id, &manager_id, &at],
            )?;
        }
        Ok(())
    }

    fn changes_after_snapshot(&self, customer_id: &str) -> StoreResult<i64> {
        Ok(self
            .query_one(
                "SELECT count(*) FROM log WHERE customer_id = $1 AND hash IS NOT NULL
                 AND seq > (SELECT snapshot_seq FROM documents WHERE customer_id = $1)",
                &[&customer_id],
            )?
            .try_get(0)?)
    }

    fn save_snapshot(&self, customer_id: &str, bytes: &[u8], seq: i64) -> StoreResult<()> {
        self.write(
            "UPDATE documents SET snapshot = $2, snapshot_seq = $3 WHERE customer_id = $1",
            &[&customer_id, &bytes, &seq],
        )?;
        Ok(())
    }

    fn mark_deleted(&self, customer_id: &str, version: i64) -> StoreResult<()> {
        self.write(
            "UPDATE documents SET scope = 'deleted', updated_seq = $2 WHERE customer_id = $1",
            &[&customer_id, &version],
        )?;
        self.write("DELETE FROM planned WHERE customer_id = $1", &[&customer_id])?;
        Ok(())
    }

    fn snapshot(&self, customer_id: &str) -> StoreResult<Option<StoredSnapshot>> {
        let Some(row) = self
            .query_opt("SELECT snapshot, snapshot_seq, rows FROM documents WHERE customer_id = $1", &[&customer_id])?
        else {
            return Ok(None);
        };
        let bytes: Vec<u8> = row.try_get(0)?;
        let snapshot_seq: i64 = row.try_get(1)?;
        let rows: Rows = postcard::from_bytes(row.try_get::<_, &[u8]>(2)?).map_err(|_| StoreError::Corrupt("rows"))?;
        let stale: bool = self
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM log WHERE customer_id = $1 AND hash IS NOT NULL AND seq > $2)",
                &[&customer_id, &snapshot_seq],
            )?
            .try_get(0)?;
        Ok(Some(StoredSnapshot { bytes, rows, stale }))
    }

    fn pool_entry(&self, customer_id: &str) -> StoreResult<Option<PoolEntry>> {
        let row = self.query_opt("SELECT pool_entry FROM documents WHERE customer_id = $1", &[&customer_id])?;
        let bytes: Option<Vec<u8>> = match row {
            Some(row) => Some(row.try_get(0)?),
            None => None,
        };
        Ok(bytes.and_then(|b| postcard::from_bytes(&b).ok()))
    }

    fn listing(&self, user: &User, today: (i64, i64)) -> StoreResult<Visible> {
        let sql = statements(user.role);
        let rows = self.query(&sql.listing, &[&user.branch_id, &user.id, &today.0, &today.1])?;
        let documents = rows.iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?;
        // Pool entries: what the user sees masked and not whole.
        let rows = self.query(&sql.pool, &[&user.branch_id, &user.id])?;
        let pool = rows.iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?;
        Ok(Visible { documents, pool })
    }

    fn scan_log(
        &self,
        user: &User,
        since: i64,
        until: i64,
        f: &mut dyn FnMut(LogEntry) -> StoreResult<bool>,
    ) -> StoreResult<()> {
        // Changes of customers the user cannot see now are not read at all; scope moves are
        // always read, since they may purge. The rows come through a portal a batch at a time,
        // so a scan its caller stops early reads little more than it used (as SQLite's stepping
        // does); `f` runs between batches, free to use the transaction itself.
        let sql = &statements(user.role).scan;
        let portal = self.rt.block_on(async {
            self.send_pending().await?;
            let statement = self.tx.prepare_cached(sql).await?;
            self.tx.bind(&statement, &[&user.branch_id, &since, &until, &user.id]).await
        })?;
        loop {
            let rows = self.rt.block_on(self.tx.query_portal(&portal, SCAN_BATCH))?;
            let last_batch = rows.len() < SCAN_BATCH as usize;
            for row in rows {
                let entry = LogEntry {
                    seq: row.try_get(0)?,
                    customer_id: row.try_get(1)?,
                    change: row.try_get(2)?,
                    device_id: row.try_get(3)?,
                    from_scope: row.try_get::<_, Option<&str>>(4)?.map(Scope::from_stored),
                    scope_now: Scope::from_stored(row.try_get(5)?),
                };
                if !f(entry)? {
                    return Ok(());
                }
            }
            if last_batch {
                return Ok(());
            }
        }
    }

    fn live_documents(&self) -> StoreResult<Vec<(String, String)>> {
        let rows = self
            .query("SELECT customer_id, branch_id FROM documents WHERE scope <> 'deleted' ORDER BY customer_id", &[])?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    }

    fn upgrade_pending(&self, name: &str) -> StoreResult<bool> {
        Ok(self
            .query_one("SELECT EXISTS (SELECT 1 FROM server_meta WHERE key = 'upgrade:' || $1::text)", &[&name])?
            .try_get(0)?)
    }

    fn upgrade_done(&self, name: &str) -> StoreResult<()> {
        self.execute("DELETE FROM server_meta WHERE key = 'upgrade:' || $1::text", &[&name])?;
        Ok(())
    }

    fn store_epoch(&self) -> StoreResult<u64> {
        let value = self.meta("epoch")?;
        Ok(value.and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok()).unwrap_or(0))
    }

    fn renew_store_epoch(&self) -> StoreResult<u64> {
        let epoch = crate::store::new_epoch();
        self.set_meta("epoch", epoch.to_string().into_bytes())?;
        Ok(epoch)
    }

    fn last_backup_at(&self) -> StoreResult<Option<i64>> {
        let value = self.meta("last_backup_at")?;
        Ok(value.and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok()))
    }

    fn set_last_backup_at(&self, at: i64) -> StoreResult<()> {
        self.set_meta("last_backup_at", at.to_string().into_bytes())
    }

    fn moves_since(&self, customer_id: &str, since: i64) -> StoreResult<Vec<(Scope, Scope)>> {
        let rows = self.query(
            "SELECT from_scope, to_scope FROM log WHERE customer_id = $1 AND seq > $2 AND hash IS NULL ORDER BY seq",
            &[&customer_id, &since],
        )?;
        rows.iter().map(|r| Ok((Scope::from_stored(r.try_get(0)?), Scope::from_stored(r.try_get(1)?)))).collect()
    }
}

impl PgStore<'_> {
    /// A value of `server_meta` (`None`: not set).
    fn meta(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        match self.query_opt("SELECT value FROM server_meta WHERE key = $1", &[&key])? {
            Some(row) => Ok(Some(row.try_get(0)?)),
            None => Ok(None),
        }
    }

    /// Sets a value of `server_meta` (SQLite's `INSERT OR REPLACE`).
    fn set_meta(&self, key: &str, value: Vec<u8>) -> StoreResult<()> {
        self.execute(
            "INSERT INTO server_meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&key, &value],
        )?;
        Ok(())
    }
}

/// The PostgreSQL twin of `store::sqlite::visibility::sql_visible` (itself the SQL twin of
/// [`Scope::view`]): a condition true for rows of `alias` (a table with `branch_id` and `scope`
/// columns) that `role` sees at least at `at_least`. `user` and `branch` are the SQL parameters
/// holding the user's ID and branch (e.g. `$3`). The user's parameter is cast to `text`, since in
/// some roles' conditions nothing else tells PostgreSQL its type.
fn pg_visible(role: Role, at_least: View, alias: &str, user: &str, branch: &str) -> String {
    let scope = format!("{alias}.scope");
    let rule = match (role, at_least) {
        (_, View::None) => "TRUE".to_string(),
        (Role::Supervisor | Role::Admin, _) => format!(
            "({user}::text IS NOT NULL AND ({scope} IN ('pool', 'closed') OR (substr({scope}, 1, 2) = 'm:' AND length({scope}) > 2)))"
        ),
        (Role::Manager, View::Full) => format!("{scope} = ('m:' || {user}::text)"),
        (Role::Manager, View::Masked) => format!("({scope} = ('m:' || {user}::text) OR {scope} = 'pool')"),
    };
    format!("({alias}.branch_id = {branch} AND {rule})")
}

/// The statements that depend on the user's role, built once per role (so each is one fixed
/// text, prepared once per connection).
struct RoleStatements {
    /// The documents a user sees whole, in the order to fetch them: `$1` branch, `$2` user,
    /// `$3`..`$4` today.
    listing: String,
    /// The pool entries a user sees masked and not whole: `$1` branch, `$2` user.
    pool: String,
    /// The log scan: `$1` branch, `$2` since, `$3` until, `$4` user.
    scan: String,
}

impl RoleStatements {
    fn of(role: Role) -> RoleStatements {
        let full = pg_visible(role, View::Full, "d", "$2", "$1");
        let masked = pg_visible(role, View::Masked, "d", "$2", "$1");
        RoleStatements {
            listing: format!(
                "WITH today AS (SELECT p.customer_id, d2.village FROM planned p JOIN documents d2 USING (customer_id)
                                WHERE p.manager_id = $2 AND p.planned_at >= $3 AND p.planned_at < $4)
                 SELECT d.customer_id FROM documents d
                 WHERE d.branch_id = $1 AND {full}
                 ORDER BY d.customer_id IN (SELECT customer_id FROM today) DESC,
                          d.village IN (SELECT village FROM today) DESC, d.village, d.customer_id"
            ),
            pool: format!(
                "SELECT customer_id FROM documents d WHERE d.branch_id = $1 AND {masked} AND NOT {full}
                 ORDER BY village, customer_id"
            ),
            scan: if role == Role::Manager { managers_scan() } else { branch_scan(role) },
        }
    }
}

static MANAGER: LazyLock<RoleStatements> = LazyLock::new(|| RoleStatements::of(Role::Manager));
static SUPERVISOR: LazyLock<RoleStatements> = LazyLock::new(|| RoleStatements::of(Role::Supervisor));
static ADMIN: LazyLock<RoleStatements> = LazyLock::new(|| RoleStatements::of(Role::Admin));

fn statements(role: Role) -> &'static RoleStatements {
    match role {
        Role::Manager => &MANAGER,
        Role::Supervisor => &SUPERVISOR,
        Role::Admin => &ADMIN,
    }
}

/// The columns of a scanned log row, in the order `scan_log` reads them into a [`LogEntry`].
const LOG_ENTRY: &str = "l.seq, l.customer_id, l.bytes, l.device_id, l.from_scope, d.scope";

/// A manager's scan: their own customers and the pool changed after the cursor, found through
/// their documents (a document's `updated_seq` is never below its last logged change, index
/// `documents_changed`), then each one's log; and every scope move of the branch (`log_moves`).
/// The same rows as [`branch_scan`] gives a manager, as on SQLite (where it is tested).
fn managers_scan() -> String {
    let visible = pg_visible(Role::Manager, View::Masked, "d", "$4", "$1");
    format!(
        "SELECT {LOG_ENTRY}
         FROM documents d JOIN log l ON l.customer_id = d.customer_id
         WHERE {visible} AND d.updated_seq > $2
           AND l.branch_id = $1 AND l.seq > $2 AND l.seq <= $3 AND l.hash IS NOT NULL
         UNION ALL
         SELECT {LOG_ENTRY}
         FROM log l JOIN documents d ON d.customer_id = l.customer_id
         WHERE l.branch_id = $1 AND l.hash IS NULL AND l.seq > $2 AND l.seq <= $3
         ORDER BY 1"
    )
}

/// The log of the user's branch in order, with the changes of customers `role` sees nothing of
/// left out.
fn branch_scan(role: Role) -> String {
    let visible = format!("({} OR l.hash IS NULL)", pg_visible(role, View::Masked, "d", "$4", "$1"));
    format!(
        "SELECT {LOG_ENTRY}
         FROM log l JOIN documents d ON d.customer_id = l.customer_id
         WHERE l.branch_id = $1 AND l.seq > $2 AND l.seq <= $3 AND {visible} ORDER BY l.seq"
    )
}
