//! The device store: one SQLite file holding every customer document (snapshot + change chunks)
//! and the projection tables the screens read, always written in one transaction.
//!
//! WAL with `synchronous = FULL`: when a write returns, it survives a power cut.

mod db;
mod documents;
mod photos;
mod projection;
pub mod queries;
pub mod schema;
mod sync;

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use automerge::ActorId;
use lru::LruCache;
use rusqlite::{Connection, OptionalExtension};

pub use db::Key;
pub use photos::{MAX_PHOTO_BYTES, sha256_hex};
pub use projection::{CustomerRow, LeadRow, ReminderRow, Rows, VisitRow};
pub use queries::{
    Customer360, CustomerFilter, CustomerSummary, DuplicateField, DuplicateMatch, FunnelStage, LeadSummary, Page,
    RecycleWarning, ReminderSummary, TodayItem, TodayKind, VisitSummary,
};
pub use sync::{PoolSummary, QuarantinedChange, SyncApplied, SyncBatch};

use crate::document::{CustomerDoc, is_single_document_chunk, parse_changes};
use crate::domain::{Action, Ctx, CustomerFile, Profile, Role};
use crate::error::{Error, Result};
use documents::Origin;

/// Documents kept loaded between actions: a manager works on a handful of customers at a time.
const CACHE_DOCS: usize = 64;
/// A document with this many change chunks is folded into its snapshot during the next write.
const AUTO_COMPACT_CHUNKS: i64 = 64;

/// The signed-in user of this tablet.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub role: Role,
}

/// What one write did.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub customer_id: String,
    /// False when the action changed nothing (e.g. saving an unchanged form): no commit was made.
    pub changed: bool,
}

/// The result of merging one document's changes from another replica.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    pub customer_id: String,
    /// Bytes of the changes that were new here (0 when everything was already known).
    pub new_bytes: usize,
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    actor: ActorId,
    user: Option<User>,
    cache: LruCache<String, CustomerDoc>,
}

impl Store {
    /// Opens or creates the store. With a key the whole file, its WAL and journals are encrypted.
    pub fn open(path: impl AsRef<Path>, key: Option<&Key>) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        let (conn, rebuild) = db::open(&path, key)?;
        let actor = match meta_get(&conn, "actor")? {
            Some(bytes) => ActorId::from(bytes.as_slice()),
            None => {
                let actor = crate::ids::new_actor();
                meta_set(&conn, "actor", actor.to_bytes().to_vec())?;
                actor
            }
        };
        let user = match (meta_get(&conn, "user_id")?, meta_get(&conn, "user_name")?, meta_get(&conn, "user_role")?) {
            (Some(id), Some(name), Some(role)) => Some(User {
                id: String::from_utf8_lossy(&id).into_owned(),
                name: String::from_utf8_lossy(&name).into_owned(),
                role: role_from_code(&role),
            }),
            _ => None,
        };
        let mut store = Store { conn, path, actor, user, cache: LruCache::new(NonZeroUsize::new(CACHE_DOCS).unwrap()) };
        if rebuild {
            store.rebuild_projections()?;
        }
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This device's automerge actor.
    pub fn actor(&self) -> &ActorId {
        &self.actor
    }

    /// Records who uses this tablet; every later write is theirs.
    pub fn sign_in(&mut self, user: User) -> Result<()> {
        if user.role == Role::Server {
            return Err(Error::ServerDecided { field: "role" });
        }
        crate::domain::error::check::required("user.id", &user.id, 64)?;
        crate::domain::error::check::required("user.name", &user.name, 100)?;
        let tx = self.conn.transaction()?;
        meta_set(&tx, "user_id", user.id.as_bytes().to_vec())?;
        meta_set(&tx, "user_name", user.name.as_bytes().to_vec())?;
        meta_set(&tx, "user_role", role_code(user.role).as_bytes().to_vec())?;
        tx.commit()?;
        self.user = Some(user);
        Ok(())
    }

    /// A small setting of the app (server address, device ID, sign-in token), kept in the store so
    /// it is encrypted with it and wiped with it.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(meta_get(&self.conn, &format!("app.{key}"))?.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    pub fn set_setting(&mut self, key: &str, value: &str) -> Result<()> {
        meta_set(&self.conn, &format!("app.{key}"), value.as_bytes().to_vec())
    }

    pub fn user(&self) -> Option<&User> {
        self.user.as_ref()
    }

    fn ctx(&self, now: i64) -> Result<Ctx> {
        let user = self.user.as_ref().ok_or(Error::NotSignedIn)?;
        Ok(Ctx { user_id: user.id.clone(), user_name: user.name.clone(), role: user.role, now })
    }

    /// Creates a customer file; returns its new ID.
    pub fn create_customer(&mut self, profile: Profile, now: i64) -> Result<String> {
        let id = crate::ids::new_id();
        let action = Action::CreateCustomer { id: id.clone(), profile };
        let ctx = self.ctx(now)?;
        let (doc, change) = CustomerDoc::create(&self.actor, &action, &ctx)?;
        let tx = self.conn.transaction()?;
        documents::append(&tx, &id, &change, Origin::Local)?;
        projection::write(&tx, doc.file())?;
        tx.commit()?;
        self.cache.put(id.clone(), doc);
        Ok(id)
    }

    /// Applies one user action to one customer as one durable commit. On any error nothing changes.
    pub fn apply(&mut self, customer_id: &str, action: &Action, now: i64) -> Result<Written> {
        let ctx = self.ctx(now)?;
        if let Some(visit_id) = action.starts_visit()
            && let Some((_, busy)) = queries::visit_in_progress(&self.conn, &ctx.user_id)?
            && busy != visit_id
        {
            return Err(Error::VisitInProgress { in_progress: busy });
        }
        let mut doc = self.take_doc(customer_id)?;
        let result = (|| -> Result<bool> {
            let Some(committed) = doc.apply(action, &ctx)? else { return Ok(false) };
            let tx = self.conn.transaction()?;
            let chunks = documents::append(&tx, customer_id, &committed.change, Origin::Local)?;
            projection::write_touched(&tx, doc.file(), &committed.touched)?;
            if chunks.chunks >= AUTO_COMPACT_CHUNKS {
                documents::compact(&tx, customer_id, &doc.save(), chunks.next_seq)?;
            }
            tx.commit()?;
            Ok(true)
        })();
        // On error the document may hold a commit the database refused: it is dropped, not cached,
        // and loaded again from the database next time.
        let changed = result?;
        self.cache.put(customer_id.to_string(), doc);
        Ok(Written { customer_id: customer_id.to_string(), changed })
    }

    /// Merges changes of one customer received from another replica (the server, or another
    /// device in tests). Corrupt input, missing history or a result that does not fit the schema
    /// is refused and changes nothing.
    pub fn merge(&mut self, customer_id: &str, bytes: &[u8]) -> Result<Merged> {
        let tx = self.conn.transaction()?;
        let (merged, doc) = merge_one(&tx, &mut self.cache, &self.actor, customer_id, bytes)?;
        tx.commit()?;
        if let Some(doc) = doc {
            self.cache.put(customer_id.to_string(), doc);
        }
        Ok(merged)
    }

    /// Merges many documents' changes in one transaction. A document that is refused does not
    /// stop the others: each gets its own result.
    pub fn merge_batch<'a>(
        &mut self,
        batch: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Vec<Result<Merged>>> {
        let tx = self.conn.transaction()?;
        let mut results = Vec::new();
        let mut loaded = Vec::new();
        for (customer_id, bytes) in batch {
            let result = in_savepoint(&tx, || merge_one(&tx, &mut self.cache, &self.actor, customer_id, bytes))?;
            results.push(result.map(|(merged, doc)| {
                if let Some(doc) = doc {
                    loaded.push((customer_id.to_string(), doc));
                }
                merged
            }));
        }
        tx.commit()?;
        for (id, doc) in loaded.into_iter().rev().take(CACHE_DOCS) {
            self.cache.put(id, doc);
        }
        Ok(results)
    }

    /// Every change of a customer's document, for sending to another replica.
    pub fn document_changes(&mut self, customer_id: &str) -> Result<Vec<u8>> {
        self.read_doc(customer_id, |doc| doc.changes_since(&[]))
    }

    /// Heads of a customer's document (for sync and for tests of convergence).
    pub fn heads(&mut self, customer_id: &str) -> Result<Vec<automerge::ChangeHash>> {
        self.read_doc(customer_id, CustomerDoc::heads)
    }

    /// The whole customer file, typed.
    pub fn customer_file(&mut self, customer_id: &str) -> Result<CustomerFile> {
        self.read_doc(customer_id, |doc| doc.file().clone())
    }

    /// One customer's 360 view: profile, contacts, visits newest first, leads, reminders, reviews.
    /// Phone and ID numbers are whole here.
    pub fn customer_360(&mut self, customer_id: &str) -> Result<Customer360> {
        let mut view = Customer360::from_file(self.customer_file(customer_id)?);
        view.recycle = self.pool_rules()?.and_then(|rules| crate::domain::recycle_due(&view.file, &rules));
        let p = &view.file.profile;
        view.duplicates =
            queries::duplicates(&self.conn, p.id_number.as_deref(), p.phone.as_deref(), Some(customer_id))?;
        Ok(view)
    }

    /// Customers on this tablet with the ID number or phone of `profile` (as typed: normalised
    /// here first), for the form to flag a duplicate before it is saved.
    pub fn possible_duplicates(&self, profile: &Profile) -> Result<Vec<DuplicateMatch>> {
        let mut p = profile.clone();
        p.normalize();
        queries::duplicates(&self.conn, p.id_number.as_deref(), p.phone.as_deref(), None)
    }

    /// The branch's pool rules as the last sync brought them.
    pub fn pool_rules(&self) -> Result<Option<crate::domain::PoolRules>> {
        Ok(self.branch_settings()?.map(|s| s.pool_rules))
    }

    /// The signed-in manager's customers about to return to the pool (the warning period has
    /// begun at `now`), soonest first: offline, from the rules the last sync brought.
    pub fn recycle_warnings(&self, now: i64) -> Result<Vec<RecycleWarning>> {
        let user = self.user.as_ref().ok_or(Error::NotSignedIn)?;
        match self.pool_rules()? {
            Some(rules) => queries::recycle_warnings(&self.conn, &user.id, &rules, now),
            None => Ok(Vec::new()),
        }
    }

    pub fn customers(
        &self,
        filter: &CustomerFilter,
        page_size: u32,
        cursor: Option<&str>,
    ) -> Result<Page<CustomerSummary>> {
        queries::customers(&self.conn, filter, page_size, cursor)
    }

    pub fn overdue_follow_ups(&self, now: i64, page_size: u32, cursor: Option<&str>) -> Result<Page<CustomerSummary>> {
        queries::overdue_follow_ups(&self.conn, now, page_size, cursor)
    }

    /// The signed-in manager's plan for the day `[day_start, day_end)` (UTC ms of local midnights).
    pub fn todays_plan(&self, day_start: i64, day_end: i64) -> Result<Vec<VisitSummary>> {
        let user = self.user.as_ref().ok_or(Error::NotSignedIn)?;
        queries::visits_planned(&self.conn, &user.id, day_start, day_end)
    }

    /// The signed-in manager's day `[day_start, day_end)` (UTC ms of local midnights): planned
    /// visits, follow-ups, open reminders and complaints due by its end, overdue ones marked, in
    /// time order. Offline: reminders the server wrote ahead of time are here already, and a
    /// complaint's deadline follows the branch's limit as the last sync brought it.
    pub fn today(&self, day_start: i64, day_end: i64) -> Result<Vec<TodayItem>> {
        let user = self.user.as_ref().ok_or(Error::NotSignedIn)?;
        let days =
            self.branch_settings()?.map_or(crate::domain::DEFAULT_COMPLAINT_DAYS, |s| s.customer_rules.complaint_days);
        queries::today(&self.conn, &user.id, (day_start, day_end), i64::from(days) * crate::domain::pool::DAY_MS, 200)
    }

    pub fn upcoming_reminders(
        &self,
        until: i64,
        page_size: u32,
        cursor: Option<&str>,
    ) -> Result<Page<ReminderSummary>> {
        queries::upcoming_reminders(&self.conn, until, page_size, cursor)
    }

    pub fn open_leads(
        &self,
        stage: Option<crate::domain::LeadStage>,
        page_size: u32,
        cursor: Option<&str>,
    ) -> Result<Page<LeadSummary>> {
        queries::open_leads(&self.conn, stage, page_size, cursor)
    }

    pub fn funnel(&self) -> Result<Vec<FunnelStage>> {
        queries::funnel(&self.conn)
    }

    /// IDs of every customer held on this device.
    pub fn customer_ids(&self) -> Result<Vec<String>> {
        documents::all_ids(&self.conn)
    }

    /// Removes a customer that left this device's scope (reassigned, closed): its document and
    /// every projection row. Returns whether it was here.
    pub fn purge(&mut self, customer_id: &str) -> Result<bool> {
        self.cache.pop(customer_id);
        let tx = self.conn.transaction()?;
        let existed = documents::exists(&tx, customer_id)?;
        sync::purge(&tx, customer_id)?;
        tx.commit()?;
        Ok(existed)
    }

    /// Folds the change chunks of documents with at least `min_chunks` chunks into their snapshots
    /// and checkpoints the WAL. Returns how many documents were compacted. Meant for idle time
    /// (after a sync, when the app goes to the background), so user actions rarely pay for it.
    pub fn compact(&mut self, min_chunks: i64) -> Result<usize> {
        let ids = documents::needing_compaction(&self.conn, min_chunks.max(1))?;
        for id in &ids {
            let mut doc = self.take_doc(id)?;
            let tx = self.conn.transaction()?;
            let (_, next_seq) = documents::chunk_state(&tx, id)?.unwrap_or((0, 0));
            documents::compact(&tx, id, &doc.save(), next_seq)?;
            tx.commit()?;
            self.cache.put(id.clone(), doc);
        }
        self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(ids.len())
    }

    /// Rebuilds every projection table from the documents alone.
    pub fn rebuild_projections(&mut self) -> Result<()> {
        self.cache.clear();
        let tx = self.conn.transaction()?;
        projection::clear(&tx)?;
        for id in documents::all_ids(&tx)? {
            let bytes =
                documents::load(&tx, &id)?.ok_or_else(|| Error::NotFound { what: "customer", id: id.clone() })?;
            let doc = CustomerDoc::load(&id, &bytes, &self.actor)?;
            projection::write(&tx, doc.file())?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Every row of every projection table, in a stable order: for checking that projections equal
    /// a rebuild and that replicas agree.
    pub fn projection_dump(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for (table, order) in [
            ("customers", "customer_id"),
            ("visits", "customer_id, visit_id"),
            ("leads", "customer_id, lead_id"),
            ("reminders", "customer_id, reminder_id"),
        ] {
            let mut stmt = self.conn.prepare(&format!("SELECT * FROM {table} ORDER BY {order}"))?;
            let columns = stmt.column_count();
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let values: Vec<String> = (0..columns)
                    .map(|i| row.get::<_, rusqlite::types::Value>(i).map(|v| format!("{v:?}")))
                    .collect::<rusqlite::Result<_>>()?;
                out.push(format!("{table}: {}", values.join(" | ")));
            }
        }
        Ok(out)
    }

    /// The raw connection, for diagnostics and tests (e.g. `PRAGMA integrity_check`).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Reads from a document, loading it into the cache if needed.
    fn read_doc<T>(&mut self, customer_id: &str, read: impl FnOnce(&mut CustomerDoc) -> T) -> Result<T> {
        let mut doc = self.take_doc(customer_id)?;
        let value = read(&mut doc);
        self.cache.put(customer_id.to_string(), doc);
        Ok(value)
    }

    /// Takes a document out of the cache (or loads it); callers put it back when they succeed, so a
    /// failed write never leaves a half-applied document cached.
    fn take_doc(&mut self, customer_id: &str) -> Result<CustomerDoc> {
        if let Some(doc) = self.cache.pop(customer_id) {
            return Ok(doc);
        }
        load_doc(&self.conn, &self.actor, customer_id)
    }
}

fn load_doc(conn: &Connection, actor: &ActorId, customer_id: &str) -> Result<CustomerDoc> {
    let bytes = documents::load(conn, customer_id)?
        .ok_or_else(|| Error::NotFound { what: "customer", id: customer_id.to_string() })?;
    if !documents::sync_row(conn, customer_id)?.is_some_and(|row| row.unchecked) {
        return CustomerDoc::load(customer_id, &bytes, actor);
    }
    // First parse of a document received whole: checked as foreign data, then its rows are
    // replaced by rows computed here, what the server sent is recorded as what the server has,
    // and the bytes are stored compacted. All in one savepoint: one commit (one fsync) when no
    // transaction is open, and a process killed half-way leaves the server's rows, never a
    // customer missing from lists or a row without its kind.
    let mut doc = CustomerDoc::load_foreign(customer_id, &bytes, actor)?;
    let heads = doc.heads();
    let compacted = doc.save();
    in_savepoint(conn, || {
        projection::write(conn, doc.file())?;
        documents::set_acked(conn, customer_id, &heads, None)?;
        let (_, next_seq) = documents::chunk_state(conn, customer_id)?.unwrap_or((0, 0));
        documents::compact(conn, customer_id, &compacted, next_seq)
    })??;
    Ok(doc)
}

/// Runs `f` behind a savepoint of the caller's transaction: kept when `f` succeeds, rolled back
/// when it fails, so one document's failure leaves the rest of a batch. The outer error is the
/// savepoint's own; the inner result is `f`'s.
fn in_savepoint<T>(conn: &Connection, f: impl FnOnce() -> Result<T>) -> Result<Result<T>> {
    conn.execute_batch("SAVEPOINT doc")?;
    let result = f();
    conn.execute_batch(if result.is_ok() { "RELEASE doc" } else { "ROLLBACK TO doc; RELEASE doc" })?;
    Ok(result)
}

/// Merges one document inside the caller's transaction; returns the document to cache.
fn merge_one(
    conn: &Connection,
    cache: &mut LruCache<String, CustomerDoc>,
    actor: &ActorId,
    customer_id: &str,
    bytes: &[u8],
) -> Result<(Merged, Option<CustomerDoc>)> {
    crate::domain::error::check::id("customer_id", customer_id)?;
    let changes = parse_changes(bytes)?;
    let merged = |new_bytes: usize| Merged { customer_id: customer_id.to_string(), new_bytes };
    if let Some(mut doc) = cache.pop(customer_id) {
        // `merge` leaves the document as it was when it fails, so it goes back to the cache.
        let new_bytes = match doc.merge(customer_id, changes) {
            Ok(new_bytes) => new_bytes,
            Err(e) => {
                cache.put(customer_id.to_string(), doc);
                return Err(e);
            }
        };
        if !new_bytes.is_empty() {
            documents::append(conn, customer_id, &new_bytes, Origin::Remote)?;
            projection::write(conn, doc.file())?;
        }
        return Ok((merged(new_bytes.len()), Some(doc)));
    }
    if documents::sync_row(conn, customer_id)?.is_some_and(|row| row.unchecked) {
        let mut doc = load_doc(conn, actor, customer_id)?;
        let new_bytes = doc.merge(customer_id, changes)?;
        if !new_bytes.is_empty() {
            documents::append(conn, customer_id, &new_bytes, Origin::Remote)?;
            projection::write(conn, doc.file())?;
        }
        return Ok((merged(new_bytes.len()), Some(doc)));
    }
    if let Some(stored) = documents::load(conn, customer_id)? {
        return match CustomerDoc::load_and_merge(customer_id, &stored, changes, actor)? {
            None => Ok((merged(0), None)),
            Some((doc, new_bytes)) => {
                documents::append(conn, customer_id, &new_bytes, Origin::Remote)?;
                projection::write(conn, doc.file())?;
                Ok((merged(new_bytes.len()), Some(doc)))
            }
        };
    }
    // A customer new to this store: keep it compacted from the start. A whole document sent as one
    // chunk (a server-built snapshot) is stored as it came.
    let Some((mut doc, new_bytes)) = CustomerDoc::from_changes(customer_id, changes, actor)? else {
        return Ok((merged(0), None));
    };
    let snapshot = if is_single_document_chunk(bytes) { bytes.to_vec() } else { doc.save() };
    documents::create(conn, customer_id, &snapshot, false)?;
    projection::write(conn, doc.file())?;
    Ok((merged(new_bytes.len()), Some(doc)))
}

fn meta_get(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>> {
    Ok(conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()?)
}

fn meta_set(conn: &Connection, key: &str, value: Vec<u8>) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        rusqlite::params![key, value],
    )?;
    Ok(())
}

fn role_code(role: Role) -> &'static str {
    match role {
        Role::Manager => "manager",
        Role::Supervisor => "supervisor",
        Role::Server => "server",
    }
}

fn role_from_code(code: &[u8]) -> Role {
    match code {
        b"supervisor" => Role::Supervisor,
        _ => Role::Manager,
    }
}
