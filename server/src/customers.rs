//! The server's customer documents.
//!
//! - `log`: every accepted change appended once, keyed by customer and change hash (a repeated push
//!   is harmless), and every scope move (reassignment, to or from the pool, closing, deletion), all
//!   under one commit-ordered sequence number that devices pull from. SQLite has one writer at a
//!   time, so sequence numbers are assigned in commit order and a cursor never skips a change
//!   committed late.
//! - `documents`: per customer, its branch and scope, a saved snapshot (folding the log up to
//!   `snapshot_seq`), the projection rows and masked pool entry of its current state, and its
//!   village; `planned` lists planned visits, so a first sync can send today's customers first.
//!
//! A document's scope ([`Scope`]) says who sees it; what a change may do is [`crate::policy::write`]'s.

use automerge::{ActorId, Change};
use fieldsync_core::document::{CustomerDoc, parse_changes};
use fieldsync_core::domain::{Action, Ctx, CustomerFile, Lifecycle, Owner, Role as DomainRole, VisitStatus};
use fieldsync_core::store::Rows;
use fieldsync_core::sync::protocol::PoolEntry;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashSet;

use crate::accounts::{Role, User};
use crate::policy::{Refusal, Scope};

/// Fold a document's log into a new snapshot once this many changes sit after the snapshot.
const SNAPSHOT_AFTER: i64 = 32;

/// Why a push of one document (or a decision on it) was not taken. The rest of a push goes on
/// regardless.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("the changes are corrupt")]
    Corrupt,
    #[error("the changes depend on history the server does not have")]
    MissingHistory,
    #[error("refused: {}", .0.message_en())]
    Refused(Refusal),
    /// Another branch's document, or a malformed ID: answered exactly like a document that
    /// does not exist.
    #[error("not found")]
    NotFound,
    /// A limit on a request's or a document's size.
    #[error("over the limit: {0:?}")]
    TooLarge(crate::limits::Limit),
    /// The domain refused a decision (e.g. a review of a visit the customer does not have).
    #[error("the action was refused: {0}")]
    Action(fieldsync_core::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A stored value that does not decode, or a dependency that panicked: the server's fault.
    #[error("internal error")]
    Internal,
}

impl From<rusqlite::Error> for PushError {
    fn from(e: rusqlite::Error) -> Self {
        PushError::Store(e.into())
    }
}

impl From<fieldsync_core::Error> for PushError {
    fn from(e: fieldsync_core::Error) -> Self {
        use fieldsync_core::Error as E;
        match e {
            E::MissingDependencies { .. } => PushError::MissingHistory,
            E::CorruptChanges { .. } | E::Automerge(_) => PushError::Corrupt,
            E::SchemaMismatch { .. } | E::NewerDocument { .. } => {
                PushError::Refused(Refusal::Invalid("document".into()))
            }
            E::Sqlite(e) => PushError::Store(e.into()),
            other => PushError::Action(other),
        }
    }
}

impl From<crate::accounts::AccountError> for PushError {
    fn from(e: crate::accounts::AccountError) -> Self {
        match e {
            crate::accounts::AccountError::Store(e) => PushError::Store(e),
            _ => PushError::Internal,
        }
    }
}

/// Who is writing: the signed-in user, the device the changes came from (so it is not sent its
/// own changes back) and the automerge actors registered to that device: a change new to the
/// server must be under one of them.
#[derive(Debug, Clone, Copy)]
pub struct Writer<'a> {
    pub user: &'a User,
    pub device_id: &'a str,
    pub actors: &'a [ActorId],
}

/// The result of an accepted push.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub customer_id: String,
    /// Changes that were new to the server (0 for a repeated push).
    pub new_changes: usize,
}

pub fn valid_id(customer_id: &str) -> bool {
    !customer_id.is_empty()
        && customer_id.len() <= 64
        && customer_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The server's automerge actor, created on first use.
pub fn server_actor(conn: &Connection) -> rusqlite::Result<ActorId> {
    if let Some(bytes) = conn
        .query_row("SELECT value FROM server_meta WHERE key = 'actor'", [], |r| r.get::<_, Vec<u8>>(0))
        .optional()?
    {
        return Ok(ActorId::from(bytes.as_slice()));
    }
    let actor = fieldsync_core::ids::new_actor();
    conn.execute("INSERT INTO server_meta (key, value) VALUES ('actor', ?1)", [actor.to_bytes()])?;
    Ok(actor)
}

/// A document's row: branch and scope.
#[derive(Debug, Clone, PartialEq)]
pub struct DocMeta {
    pub branch_id: String,
    pub scope: Scope,
}

impl DocMeta {
    /// What `user` sees of this document: [`Scope::view`] within the document's branch.
    pub fn view(&self, user: &User) -> crate::policy::View {
        self.scope.view(user, &self.branch_id)
    }
}

pub fn meta(conn: &Connection, customer_id: &str) -> rusqlite::Result<Option<DocMeta>> {
    conn.prepare_cached("SELECT branch_id, scope FROM documents WHERE customer_id = ?1")?
        .query_row([customer_id], |r| {
            Ok(DocMeta { branch_id: r.get(0)?, scope: Scope::from_stored(r.get_ref(1)?.as_str()?) })
        })
        .optional()
}

/// A customer of `branch_id` that is not deleted, with its scope.
fn live_in_branch(conn: &Connection, branch_id: &str, customer_id: &str) -> rusqlite::Result<Option<DocMeta>> {
    Ok(meta(conn, customer_id)?.filter(|m| m.branch_id == branch_id && m.scope != Scope::Deleted))
}

/// The active managers of a branch, as the write policy asks for them.
pub struct BranchDirectory<'c> {
    pub conn: &'c Connection,
    pub branch_id: &'c str,
}

impl crate::policy::Directory for BranchDirectory<'_> {
    fn manager_name(&self, user_id: &str) -> Option<String> {
        let user = crate::accounts::user_by_id(self.conn, user_id).ok().flatten()?;
        (user.branch_id == self.branch_id && user.role == Role::Manager).then_some(user.display_name)
    }
}

/// The newest sequence number in the log (0 when it is empty).
pub fn head(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT coalesce(max(seq), 0) FROM log")?.query_row([], |r| r.get(0))
}

/// Loads a document: its snapshot and the changes logged after it.
pub fn load(conn: &Connection, customer_id: &str, actor: &ActorId) -> Result<Option<CustomerDoc>, PushError> {
    let Some((mut bytes, snapshot_seq)) = conn
        .prepare_cached("SELECT snapshot, snapshot_seq FROM documents WHERE customer_id = ?1")?
        .query_row([customer_id], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?)))
        .optional()?
    else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT bytes FROM log WHERE customer_id = ?1 AND hash IS NOT NULL AND seq > ?2 ORDER BY seq",
    )?;
    let mut rows = stmt.query(params![customer_id, snapshot_seq])?;
    while let Some(row) = rows.next()? {
        bytes.extend_from_slice(row.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?);
    }
    if bytes.is_empty() {
        return Ok(None);
    }
    Ok(Some(CustomerDoc::load(customer_id, &bytes, actor)?))
}

/// Validates and stores one document's pushed changes inside the caller's transaction (the caller
/// wraps it in a savepoint, so a refusal leaves nothing behind): [`prepare_push`] and
/// [`commit_push`] on one connection.
#[allow(clippy::too_many_arguments)]
pub fn push(
    conn: &Connection,
    branch_id: &str,
    writer: Writer,
    customer_id: &str,
    bytes: &[u8],
    actor: &ActorId,
    budget: &mut crate::sync::Budget,
    now: i64,
) -> Result<Accepted, PushError> {
    match prepare_push(conn, branch_id, writer, customer_id, bytes, actor, budget, now)? {
        Prepared::Known => Ok(Accepted { customer_id: customer_id.to_string(), new_changes: 0 }),
        Prepared::Ready(ready) => commit_push(conn, branch_id, writer.device_id, &ready)?
            .ok_or_else(|| PushError::Refused(Refusal::Invalid("document".into()))),
    }
}

/// A push checked and merged against the document as a reader saw it, ready to be appended by
/// the writer if the document has not moved since.
#[derive(Debug)]
pub enum Prepared {
    /// Nothing new to the server.
    Known,
    Ready(Box<Ready>),
}

#[derive(Debug)]
pub struct Ready {
    customer_id: String,
    /// The document's version (`documents.updated_seq`) when read; `None` for a new customer.
    base: Option<i64>,
    before_scope: Option<Scope>,
    /// The device's changes new to the server, then the server's own (a new customer's owner).
    device_changes: Vec<Change>,
    server_changes: Vec<Change>,
    doc: CustomerDoc,
}

/// Everything a push costs that needs no write: parse, check the actors and limits, load, merge,
/// apply the write policy, and decide a new customer's owner. Runs on a reader connection, off
/// the writer lock.
#[allow(clippy::too_many_arguments)]
pub fn prepare_push(
    conn: &Connection,
    branch_id: &str,
    writer: Writer,
    customer_id: &str,
    bytes: &[u8],
    actor: &ActorId,
    budget: &mut crate::sync::Budget,
    now: i64,
) -> Result<Prepared, PushError> {
    if !valid_id(customer_id) {
        return Err(PushError::NotFound);
    }
    let changes = parse_changes(bytes).map_err(|_| PushError::Corrupt)?;
    let before_meta = meta(conn, customer_id)?;
    if before_meta.as_ref().is_some_and(|m| m.branch_id != branch_id || m.scope == Scope::Deleted) {
        return Err(PushError::NotFound);
    }
    // What the server already holds is harmless to receive again; anything new must have been
    // made on the pushing device, so nobody can write under another device's or the server's
    // actor (and take the sequence numbers that device's next change needs).
    let changes = unknown_changes(conn, customer_id, changes)?;
    if changes.is_empty() {
        return Ok(Prepared::Known);
    }
    if changes.iter().any(|c| !writer.actors.contains(c.actor_id())) {
        return Err(PushError::Refused(Refusal::ForeignActor));
    }
    budget.spend(&changes).map_err(PushError::TooLarge)?;
    let incoming: usize = changes.iter().map(|c| c.raw_bytes().len()).sum();
    if stored_size(conn, customer_id)? + incoming > crate::limits::MAX_DOCUMENT {
        return Err(PushError::TooLarge(crate::limits::Limit::Document));
    }
    let base = version(conn, customer_id)?;
    let existing = load(conn, customer_id, actor)?;
    let before: Option<CustomerFile> = existing.as_ref().map(|d| d.file().clone());
    let merged = match existing {
        Some(mut doc) => {
            let new_bytes = doc.merge(customer_id, changes)?;
            (!new_bytes.is_empty()).then_some((doc, new_bytes))
        }
        None => CustomerDoc::from_changes(customer_id, changes, actor)?,
    };
    let Some((mut doc, new_bytes)) = merged else { return Ok(Prepared::Known) };
    let directory = BranchDirectory { conn, branch_id };
    crate::policy::write::check(before.as_ref(), doc.file(), writer.user, &directory).map_err(PushError::Refused)?;
    let device_changes = parse_changes(&new_bytes).map_err(|_| PushError::Corrupt)?;
    let mut server_changes = Vec::new();
    if before.is_none() && writer.user.role == Role::Manager && doc.file().server.owner.manager_id.is_none() {
        let owner =
            Owner { manager_id: Some(writer.user.id.clone()), manager_name: Some(writer.user.display_name.clone()) };
        let ctx = Ctx { user_id: writer.user.id.clone(), user_name: String::new(), role: DomainRole::Server, now };
        if let Some(committed) = doc.apply(&Action::AssignOwner { owner }, &ctx)? {
            server_changes = parse_changes(&committed.change).map_err(|_| PushError::Corrupt)?;
        }
    }
    Ok(Prepared::Ready(Box::new(Ready {
        customer_id: customer_id.to_string(),
        base,
        before_scope: before_meta.map(|m| m.scope),
        device_changes,
        server_changes,
        doc,
    })))
}

/// Appends a prepared push, under the writer lock, if the document is still as it was read;
/// `None` when it moved meanwhile (the caller prepares it again under the lock).
pub fn commit_push(
    conn: &Connection,
    branch_id: &str,
    device_id: &str,
    ready: &Ready,
) -> Result<Option<Accepted>, PushError> {
    if version(conn, &ready.customer_id)? != ready.base {
        return Ok(None);
    }
    let id = &ready.customer_id;
    let inserted = append(conn, branch_id, id, &ready.device_changes, Some(device_id))?;
    append(conn, branch_id, id, &ready.server_changes, None)?;
    save_state(conn, branch_id, &ready.doc, ready.before_scope.as_ref(), Fold::WhenLong)?;
    Ok(Some(Accepted { customer_id: id.clone(), new_changes: inserted }))
}

/// A document's version: the log's head when it was last written (`None`: no such document).
fn version(conn: &Connection, customer_id: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT updated_seq FROM documents WHERE customer_id = ?1")?
        .query_row([customer_id], |r| r.get(0))
        .optional()
}

/// The bytes a document's load reads: its snapshot and the changes logged after it.
fn stored_size(conn: &Connection, customer_id: &str) -> rusqlite::Result<usize> {
    let size: Option<i64> = conn
        .prepare_cached(
            "SELECT length(d.snapshot) + coalesce((SELECT sum(length(l.bytes)) FROM log l
                 WHERE l.customer_id = d.customer_id AND l.hash IS NOT NULL AND l.seq > d.snapshot_seq), 0)
             FROM documents d WHERE d.customer_id = ?1",
        )?
        .query_row([customer_id], |r| r.get(0))
        .optional()?;
    Ok(size.unwrap_or(0).max(0) as usize)
}

/// The changes the log does not hold yet, each once.
fn unknown_changes(conn: &Connection, customer_id: &str, changes: Vec<Change>) -> rusqlite::Result<Vec<Change>> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM log WHERE customer_id = ?1 AND hash = ?2")?;
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(changes.len());
    for change in changes {
        let hash = change.hash();
        if !seen.insert(hash) || stmt.exists(params![customer_id, hash.0.as_slice()])? {
            continue;
        }
        out.push(change);
    }
    Ok(out)
}

/// Applies a decision of the server (an owner, a review, a claim's outcome) to a loaded document
/// and appends its change. `on_behalf_of` is the user the decision is for or by.
pub fn apply_server_action(
    conn: &Connection,
    branch_id: &str,
    doc: &mut CustomerDoc,
    action: &Action,
    on_behalf_of: &str,
    now: i64,
) -> Result<(), PushError> {
    let ctx = Ctx { user_id: on_behalf_of.to_string(), user_name: String::new(), role: DomainRole::Server, now };
    let Some(committed) = doc.apply(action, &ctx).map_err(PushError::from)? else {
        return Ok(());
    };
    let change = parse_changes(&committed.change).map_err(|_| PushError::Corrupt)?;
    append(conn, branch_id, &doc.file().id.clone(), &change, None)?;
    Ok(())
}

/// Writes a supervisor's decision (a review, an owner, a lifecycle) on one customer of their
/// branch in its own transaction, with its audit row. The same write policy as a change arriving
/// by sync decides: the decision is applied to the file, then the file before and after are
/// checked for `by`. Returns `NotFound` for a customer the branch lacks.
pub fn write_decision(
    conn: &mut Connection,
    by: &User,
    customer_id: &str,
    action: &Action,
    now: i64,
) -> Result<(), PushError> {
    let audit = action.name();
    if !valid_id(customer_id) {
        return Err(PushError::NotFound);
    }
    let branch_id = by.branch_id.as_str();
    let tx = conn.transaction()?;
    let meta = live_in_branch(&tx, branch_id, customer_id)?.ok_or(PushError::NotFound)?;
    let actor = server_actor(&tx)?;
    let mut doc = load(&tx, customer_id, &actor)?.ok_or(PushError::NotFound)?;
    let before = doc.file().clone();
    let ctx = Ctx { user_id: by.id.clone(), user_name: String::new(), role: DomainRole::Server, now };
    let Some(committed) = doc.apply(action, &ctx).map_err(PushError::from)? else {
        return Ok(());
    };
    let directory = BranchDirectory { conn: &tx, branch_id };
    crate::policy::write::check(Some(&before), doc.file(), by, &directory).map_err(PushError::Refused)?;
    let change = parse_changes(&committed.change).map_err(|_| PushError::Corrupt)?;
    append(&tx, branch_id, customer_id, &change, None)?;
    save_state(&tx, branch_id, &doc, Some(&meta.scope), Fold::WhenLong)?;
    crate::accounts::audit(&tx, now, &by.id, audit, customer_id)?;
    tx.commit()?;
    Ok(())
}

/// Marks a customer deleted: it leaves every device at their next sync. The log keeps its history.
pub fn delete_customer(
    conn: &mut Connection,
    branch_id: &str,
    customer_id: &str,
    by: &str,
    now: i64,
) -> Result<(), PushError> {
    let tx = conn.transaction()?;
    let meta = live_in_branch(&tx, branch_id, customer_id)?.ok_or(PushError::NotFound)?;
    log_move(&tx, branch_id, customer_id, &meta.scope, &Scope::Deleted)?;
    let seq = head(&tx)?;
    tx.execute(
        "UPDATE documents SET scope = 'deleted', updated_seq = ?2 WHERE customer_id = ?1",
        params![customer_id, seq],
    )?;
    tx.execute("DELETE FROM planned WHERE customer_id = ?1", [customer_id])?;
    crate::accounts::audit(&tx, now, by, "customer.delete", customer_id)?;
    tx.commit()?;
    Ok(())
}

/// Stores changes the server itself wrote (the demo branch, imports): no validation, same
/// idempotent append.
pub fn store_server_changes(
    conn: &mut Connection,
    branch_id: &str,
    customer_id: &str,
    bytes: &[u8],
) -> Result<usize, PushError> {
    let tx = conn.transaction()?;
    let inserted = store_server_changes_in(&tx, branch_id, customer_id, bytes)?;
    tx.commit()?;
    Ok(inserted)
}

/// [`store_server_changes`] inside the caller's transaction.
pub fn store_server_changes_in(
    tx: &Connection,
    branch_id: &str,
    customer_id: &str,
    bytes: &[u8],
) -> Result<usize, PushError> {
    let changes = parse_changes(bytes).map_err(|_| PushError::Corrupt)?;
    let actor = server_actor(tx)?;
    let before = meta(tx, customer_id)?;
    if before.as_ref().is_some_and(|m| m.branch_id != branch_id) {
        return Err(PushError::NotFound);
    }
    let merged = match load(tx, customer_id, &actor)? {
        Some(mut doc) => {
            let new = doc.merge(customer_id, changes)?;
            (!new.is_empty()).then_some((doc, new))
        }
        None => CustomerDoc::from_changes(customer_id, changes, &actor)?,
    };
    let Some((doc, new_bytes)) = merged else { return Ok(0) };
    let new = parse_changes(&new_bytes).map_err(|_| PushError::Corrupt)?;
    let inserted = append(tx, branch_id, customer_id, &new, None)?;
    // Imported documents are stored with their snapshot, ready for a new tablet's first sync.
    save_state(tx, branch_id, &doc, before.as_ref().map(|m| &m.scope), Fold::Now)?;
    Ok(inserted)
}

/// Appends changes once each (keyed by hash). Returns how many were new.
fn append(
    conn: &Connection,
    branch_id: &str,
    customer_id: &str,
    changes: &[Change],
    device_id: Option<&str>,
) -> rusqlite::Result<usize> {
    let mut inserted = 0;
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO log (branch_id, customer_id, hash, bytes, device_id) VALUES (?5, ?1, ?2, ?3, ?4)",
    )?;
    for change in changes {
        inserted +=
            stmt.execute(params![customer_id, change.hash().0.as_slice(), change.raw_bytes(), device_id, branch_id])?;
    }
    Ok(inserted)
}

fn log_move(conn: &Connection, branch_id: &str, customer_id: &str, from: &Scope, to: &Scope) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT INTO log (branch_id, customer_id, from_scope, to_scope) VALUES (?4, ?1, ?2, ?3)")?
        .execute(params![customer_id, from.to_string(), to.to_string(), branch_id])?;
    Ok(())
}

/// The scope a customer file's server fields put it in (deletion is not in the file).
pub fn scope_of(file: &CustomerFile) -> Scope {
    if file.server.lifecycle == Some(Lifecycle::Closed) {
        return Scope::Closed;
    }
    match &file.server.owner.manager_id {
        Some(manager) => Scope::Owned(manager.clone()),
        None => Scope::Pool,
    }
}

/// A pool customer's masked entry: the first character of the name, no phone, no ID number.
pub fn pool_entry(file: &CustomerFile) -> PoolEntry {
    let mut chars = file.profile.name.chars();
    let first = chars.next().map(String::from).unwrap_or_default();
    PoolEntry {
        customer_id: file.id.clone(),
        name_masked: first + &"*".repeat(chars.count().clamp(1, 3)),
        kind: file.profile.kind.code().to_string(),
        village: file.profile.village.clone(),
        tier: file.server.value_tier.map(|t| t.code().to_string()),
    }
}

/// When [`save_state`] folds a document's log into a new snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    /// Once [`SNAPSHOT_AFTER`] changes sit after the snapshot.
    WhenLong,
    /// Now (an import: the first tablet to ask gets a ready snapshot).
    Now,
}

/// Records a document's current state: scope (logging a move when it changed), rows, pool entry,
/// village and planned visits, and folds the log into a new snapshot as `fold` says.
pub fn save_state(
    conn: &Connection,
    branch_id: &str,
    doc: &CustomerDoc,
    previous_scope: Option<&Scope>,
    fold: Fold,
) -> rusqlite::Result<()> {
    let file = doc.file();
    let customer_id = file.id.clone();
    let scope = scope_of(file);
    if let Some(previous) = previous_scope
        && *previous != scope
        && *previous != Scope::Deleted
    {
        log_move(conn, branch_id, &customer_id, previous, &scope)?;
    }
    let rows = postcard::to_stdvec(&Rows::of(file)).expect("rows serialise");
    let pool = postcard::to_stdvec(&pool_entry(file)).expect("pool entries serialise");
    let seq = head(conn)?;
    let scope = if previous_scope == Some(&Scope::Deleted) { Scope::Deleted } else { scope };
    conn.prepare_cached(
        "INSERT INTO documents (customer_id, branch_id, scope, village, updated_seq, rows, pool_entry)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (customer_id) DO UPDATE SET scope = ?3, village = ?4, updated_seq = ?5, rows = ?6,
             pool_entry = ?7",
    )?
    .execute(params![customer_id, branch_id, scope.to_string(), file.profile.village, seq, rows, pool])?;
    conn.prepare_cached("DELETE FROM planned WHERE customer_id = ?1")?.execute([&customer_id])?;
    let mut insert =
        conn.prepare_cached("INSERT INTO planned (customer_id, manager_id, planned_at) VALUES (?1, ?2, ?3)")?;
    for visit in file.visits.values() {
        if let (VisitStatus::Planned, Some(at)) = (visit.status, visit.planned_at) {
            insert.execute(params![customer_id, visit.manager_id, at])?;
        }
    }
    let photos = file.visits.values().flat_map(|v| v.photos.iter().map(|h| (h.as_str(), v.manager_id.as_str())));
    crate::photos::record_refs(conn, &customer_id, photos)?;
    let fold_now = match fold {
        Fold::Now => true,
        Fold::WhenLong => {
            let tail: i64 = conn
                .prepare_cached(
                    "SELECT count(*) FROM log WHERE customer_id = ?1 AND hash IS NOT NULL
                     AND seq > (SELECT snapshot_seq FROM documents WHERE customer_id = ?1)",
                )?
                .query_row([&customer_id], |r| r.get(0))?;
            tail >= SNAPSHOT_AFTER
        }
    };
    if fold_now {
        // Saving needs the document mutable (automerge closes its transaction); a copy, only on
        // the writes that fold, keeps the writer's common path free of it.
        save_snapshot(conn, &customer_id, &mut doc.clone(), seq)?;
    }
    Ok(())
}

fn save_snapshot(conn: &Connection, customer_id: &str, doc: &mut CustomerDoc, seq: i64) -> rusqlite::Result<()> {
    let bytes = doc.save_uncompressed();
    conn.prepare_cached("UPDATE documents SET snapshot = ?2, snapshot_seq = ?3 WHERE customer_id = ?1")?
        .execute(params![customer_id, bytes, seq])?;
    Ok(())
}

/// A document whole, as a device receives it: its saved bytes (folding everything logged so far)
/// and its projection rows.
pub fn snapshot(conn: &Connection, customer_id: &str, actor: &ActorId) -> Result<Option<(Vec<u8>, Rows)>, PushError> {
    let Some((snapshot, snapshot_seq, rows)) = conn
        .prepare_cached("SELECT snapshot, snapshot_seq, rows FROM documents WHERE customer_id = ?1")?
        .query_row([customer_id], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?, r.get::<_, Vec<u8>>(2)?)))
        .optional()?
    else {
        return Ok(None);
    };
    let rows: Rows = postcard::from_bytes(&rows).map_err(|_| PushError::Internal)?;
    let newer: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM log WHERE customer_id = ?1 AND hash IS NOT NULL AND seq > ?2)")?
        .query_row(params![customer_id, snapshot_seq], |r| r.get(0))?;
    if !newer && !snapshot.is_empty() {
        return Ok(Some((snapshot, rows)));
    }
    // Built here and not stored: answers are read on reader connections, off the writer lock;
    // the stored snapshot is folded again as the document is written (see `save_state`).
    let Some(mut doc) = load(conn, customer_id, actor)? else { return Ok(None) };
    Ok(Some((doc.save_uncompressed(), rows)))
}

pub fn pool_entry_of(conn: &Connection, customer_id: &str) -> rusqlite::Result<Option<PoolEntry>> {
    let bytes: Option<Vec<u8>> = conn
        .prepare_cached("SELECT pool_entry FROM documents WHERE customer_id = ?1")?
        .query_row([customer_id], |r| r.get(0))
        .optional()?;
    Ok(bytes.and_then(|b| postcard::from_bytes(&b).ok()))
}
