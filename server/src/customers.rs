//! The server's customer documents: pushes checked and merged, the server's own decisions
//! applied, and each document's state recorded beside its log ([`crate::store::DocumentStore`]
//! keeps them).
//!
//! A document's scope ([`Scope`]) says who sees it; what a change may do is [`crate::policy::write`]'s.

use automerge::{ActorId, Change};
use fieldsync_core::document::{CustomerDoc, parse_changes};
use fieldsync_core::domain::{
    Action, Ctx, CustomerFile, Lifecycle, Owner, OwnerChangeReason, Role as DomainRole, VisitStatus,
};
use fieldsync_core::store::Rows;
use fieldsync_core::sync::protocol::PoolEntry;
use std::collections::HashSet;

use crate::accounts::{Role, User};
use crate::doc_cache::DocCache;
use crate::policy::{Refusal, Scope};
use crate::read_model::{self, Arrival, ReadRows};
pub use crate::store::documents::DocMeta;
use crate::store::documents::DocumentState;
use crate::store::{Store, StoreError};

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
    /// The device's clock minus the server's, as the request told it.
    pub clock_offset_ms: Option<i64>,
}

impl Writer<'_> {
    /// What the read models record of the visits this writer's push brings.
    pub fn arrival(&self, now: i64) -> Arrival<'_> {
        Arrival { device_id: self.device_id, received_at: now, clock_offset_ms: self.clock_offset_ms }
    }
}

/// The result of an accepted push.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub customer_id: String,
    /// Changes that were new to the server (0 for a repeated push).
    pub new_changes: usize,
    /// The document's version after this push (`None`: nothing was written).
    pub version: Option<i64>,
}

pub fn valid_id(customer_id: &str) -> bool {
    !customer_id.is_empty()
        && customer_id.len() <= 64
        && customer_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A customer of `branch_id` that is not deleted, with its scope.
fn live_in_branch(store: &dyn Store, branch_id: &str, customer_id: &str) -> Result<Option<DocMeta>, StoreError> {
    Ok(store.document(customer_id)?.filter(|m| m.branch_id == branch_id && m.scope != Scope::Deleted))
}

/// The active managers of a branch, as the write policy asks for them.
pub struct BranchDirectory<'c> {
    pub store: &'c dyn Store,
    pub branch_id: &'c str,
}

impl crate::policy::Directory for BranchDirectory<'_> {
    fn manager_name(&self, user_id: &str) -> Option<String> {
        let user = crate::accounts::user_by_id(self.store, user_id).ok().flatten()?;
        (user.branch_id == self.branch_id && user.role == Role::Manager).then_some(user.display_name)
    }
}

/// Loads a document: its snapshot and the changes logged after it.
pub fn load(store: &dyn Store, customer_id: &str, actor: &ActorId) -> Result<Option<CustomerDoc>, PushError> {
    match store.document_bytes(customer_id)? {
        Some(bytes) if !bytes.is_empty() => Ok(Some(CustomerDoc::load(customer_id, &bytes, actor)?)),
        _ => Ok(None),
    }
}

/// Loads a document at `version` (as the store's row says it is now), from the cache when it
/// holds that version.
pub fn load_at(
    store: &dyn Store,
    cache: Option<&DocCache>,
    customer_id: &str,
    version: i64,
    actor: &ActorId,
) -> Result<Option<CustomerDoc>, PushError> {
    if let Some(doc) = cache.and_then(|c| c.get(customer_id, version)) {
        return Ok(Some(doc));
    }
    load(store, customer_id, actor)
}

/// Validates and stores one document's pushed changes in the caller's transaction:
/// [`prepare_push`] and [`commit_push`] on one store. Nothing is written unless the push is
/// accepted.
#[allow(clippy::too_many_arguments)]
pub fn push(
    store: &dyn Store,
    branch_id: &str,
    writer: Writer,
    customer_id: &str,
    bytes: &[u8],
    actor: &ActorId,
    budget: &mut crate::sync::Budget,
    now: i64,
) -> Result<Accepted, PushError> {
    let changes = parse_changes(bytes).map_err(|_| PushError::Corrupt)?;
    match prepare_push(store, None, branch_id, writer, customer_id, changes, actor, budget, now)? {
        Prepared::Known => Ok(Accepted { customer_id: customer_id.to_string(), new_changes: 0, version: None }),
        Prepared::Ready(ready) => commit_push(store, branch_id, writer.arrival(now), &ready)?
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
    pub(crate) customer_id: String,
    /// The document's version when read; `None` for a new customer.
    base: Option<i64>,
    before_scope: Option<Scope>,
    /// The device's changes new to the server, then the server's own (a new customer's owner).
    device_changes: Vec<Change>,
    server_changes: Vec<Change>,
    pub(crate) doc: CustomerDoc,
    /// The read models' rows of the document as read (so the writer writes only what changed).
    rows_before: Option<ReadRows>,
}

/// Everything a push costs that needs no write: check the actors and limits, load, merge, apply
/// the write policy, and decide a new customer's owner. Runs on a reader, off the writer lock.
#[allow(clippy::too_many_arguments)]
pub fn prepare_push(
    store: &dyn Store,
    cache: Option<&DocCache>,
    branch_id: &str,
    writer: Writer,
    customer_id: &str,
    changes: Vec<Change>,
    actor: &ActorId,
    budget: &mut crate::sync::Budget,
    now: i64,
) -> Result<Prepared, PushError> {
    if !valid_id(customer_id) {
        return Err(PushError::NotFound);
    }
    let before_meta = store.document(customer_id)?;
    if before_meta.as_ref().is_some_and(|m| m.branch_id != branch_id || m.scope == Scope::Deleted) {
        return Err(PushError::NotFound);
    }
    // What the server already holds is harmless to receive again; anything new must have been
    // made on the pushing device, so nobody can write under another device's or the server's
    // actor (and take the sequence numbers that device's next change needs).
    let changes = unknown_changes(store, before_meta.is_some(), customer_id, changes)?;
    if changes.is_empty() {
        return Ok(Prepared::Known);
    }
    if changes.iter().any(|c| !writer.actors.contains(c.actor_id())) {
        return Err(PushError::Refused(Refusal::ForeignActor));
    }
    budget.spend(&changes).map_err(PushError::TooLarge)?;
    let incoming: usize = changes.iter().map(|c| c.raw_bytes().len()).sum();
    let stored = if before_meta.is_some() { store.stored_size(customer_id)? } else { 0 };
    if stored + incoming > crate::limits::MAX_DOCUMENT {
        return Err(PushError::TooLarge(crate::limits::Limit::Document));
    }
    let existing = match &before_meta {
        Some(meta) => load_at(store, cache, customer_id, meta.version, actor)?,
        None => None,
    };
    let before: Option<CustomerFile> = existing.as_ref().map(|d| d.file().clone());
    // The log keeps the changes as they came (by the hash their device knows them by).
    let merged = match existing {
        Some(mut doc) => {
            let new = doc.merge_as_received(customer_id, changes)?;
            (!new.is_empty()).then_some((doc, new))
        }
        None => CustomerDoc::from_changes_as_received(customer_id, changes, actor)?,
    };
    let Some((mut doc, device_changes)) = merged else { return Ok(Prepared::Known) };
    let directory = BranchDirectory { store, branch_id };
    crate::policy::write::check(before.as_ref(), doc.file(), writer.user, &directory).map_err(PushError::Refused)?;
    // Nobody is born after today: checked on the profile a push changes (the table above is the
    // same for every day, this one is not).
    if before.as_ref().is_none_or(|b| b.profile != doc.file().profile) {
        let today = fieldsync_core::domain::china_today(now);
        doc.file().profile.check_dates(today).map_err(|e| PushError::Refused(Refusal::Invalid(e.field)))?;
    }
    let mut server_changes = Vec::new();
    // A manager's new customer is theirs, under the name their account has (the policy let
    // through no owner, or the manager under any name): a change of the server's only when the
    // tablet did not write exactly that.
    let mine = Owner { manager_id: Some(writer.user.id.clone()), manager_name: Some(writer.user.display_name.clone()) };
    if before.is_none() && writer.user.role == Role::Manager && doc.file().server.owner != mine {
        server_changes = server_change(
            &mut doc,
            &Action::AssignOwner { owner: mine, reason: OwnerChangeReason::Created },
            &writer.user.id,
            now,
        )?;
    }
    let rows_before = before.as_ref().zip(before_meta.as_ref()).map(|(f, m)| ReadRows::of(f, branch_id, &m.scope));
    Ok(Prepared::Ready(Box::new(Ready {
        customer_id: customer_id.to_string(),
        rows_before,
        base: before_meta.as_ref().map(|m| m.version),
        before_scope: before_meta.map(|m| m.scope),
        device_changes,
        server_changes,
        doc,
    })))
}

/// Appends a prepared push, under the writer lock, if the document is still as it was read;
/// `None` when it moved meanwhile (the caller prepares it again under the lock).
pub fn commit_push(
    store: &dyn Store,
    branch_id: &str,
    arrival: Arrival,
    ready: &Ready,
) -> Result<Option<Accepted>, PushError> {
    if store.document(&ready.customer_id)?.map(|m| m.version) != ready.base {
        return Ok(None);
    }
    let id = &ready.customer_id;
    let inserted = store.append_changes(branch_id, id, &ready.device_changes, Some(arrival.device_id))?;
    store.append_changes(branch_id, id, &ready.server_changes, None)?;
    let write = read_model::Write { arrival: Some(arrival), before: ready.rows_before.as_ref() };
    let version = save_state(store, branch_id, &ready.doc, ready.before_scope.as_ref(), Fold::WhenLong, write)?;
    Ok(Some(Accepted { customer_id: id.clone(), new_changes: inserted, version: Some(version) }))
}

/// The changes the log does not hold yet, each once (a customer the store lacks holds none).
fn unknown_changes(
    store: &dyn Store,
    stored: bool,
    customer_id: &str,
    changes: Vec<Change>,
) -> Result<Vec<Change>, StoreError> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(changes.len());
    for change in changes {
        let hash = change.hash();
        if !seen.insert(hash) || (stored && store.has_change(customer_id, &hash)?) {
            continue;
        }
        out.push(change);
    }
    Ok(out)
}

/// Applies a decision of the server (an owner, a review, a claim's outcome) to a loaded document
/// and returns its change, for the caller to append once every decision of the write is made.
/// `on_behalf_of` is the user the decision is for or by.
pub fn server_change(
    doc: &mut CustomerDoc,
    action: &Action,
    on_behalf_of: &str,
    now: i64,
) -> Result<Vec<Change>, PushError> {
    let ctx = Ctx { user_id: on_behalf_of.to_string(), user_name: String::new(), role: DomainRole::Server, now };
    let Some(committed) = doc.apply(action, &ctx).map_err(PushError::from)? else {
        return Ok(Vec::new());
    };
    parse_changes(&committed.change).map_err(|_| PushError::Corrupt)
}

/// Writes a supervisor's decision (a review, an owner, a lifecycle) on one customer of their
/// branch, with its audit row, in the caller's transaction. The same write policy as a change
/// arriving by sync decides: the decision is applied to the file, then the file before and after
/// are checked for `by`. Returns `NotFound` for a customer the branch lacks.
pub fn write_decision(
    store: &dyn Store,
    by: &User,
    customer_id: &str,
    action: &Action,
    now: i64,
) -> Result<(), PushError> {
    if !valid_id(customer_id) {
        return Err(PushError::NotFound);
    }
    let branch_id = by.branch_id.as_str();
    let meta = live_in_branch(store, branch_id, customer_id)?.ok_or(PushError::NotFound)?;
    let actor = store.server_actor()?;
    let mut doc = load(store, customer_id, &actor)?.ok_or(PushError::NotFound)?;
    let before = doc.file().clone();
    let change = server_change(&mut doc, action, &by.id, now)?;
    if change.is_empty() {
        return Ok(());
    }
    let directory = BranchDirectory { store, branch_id };
    crate::policy::write::check(Some(&before), doc.file(), by, &directory).map_err(PushError::Refused)?;
    commit_server_changes(store, branch_id, &doc, &meta.scope, &change)?;
    crate::accounts::audit(store, now, &by.id, action.name(), customer_id)?;
    Ok(())
}

/// Appends what the server itself decided on a loaded document (a sweep, an import, a merge, a
/// claim) and records the document's new state, in the caller's transaction.
pub fn commit_server_changes(
    store: &dyn Store,
    branch_id: &str,
    doc: &CustomerDoc,
    previous_scope: &Scope,
    changes: &[Change],
) -> Result<(), PushError> {
    store.append_changes(branch_id, &doc.file().id, changes, None)?;
    save_state(store, branch_id, doc, Some(previous_scope), Fold::WhenLong, read_model::Write::default())?;
    Ok(())
}

/// Marks a customer deleted, in the caller's transaction: it leaves every device at their next
/// sync. The log keeps its history.
pub fn delete_customer(
    store: &dyn Store,
    branch_id: &str,
    customer_id: &str,
    by: &str,
    now: i64,
) -> Result<(), PushError> {
    let meta = live_in_branch(store, branch_id, customer_id)?.ok_or(PushError::NotFound)?;
    store.log_move(branch_id, customer_id, &meta.scope, &Scope::Deleted)?;
    store.mark_deleted(customer_id, store.log_head()?)?;
    crate::read_model::forget(store, customer_id)?;
    store.pool_forget(customer_id)?;
    store.forget_customer_keys(customer_id)?;
    store.set_refresh_at(customer_id, branch_id, None)?;
    store.set_birthday_due(customer_id, branch_id, None)?;
    crate::accounts::audit(store, now, by, "customer.delete", customer_id)?;
    Ok(())
}

/// Stores changes the server itself wrote (the demo branch, imports) in the caller's
/// transaction: no validation, the same idempotent append.
pub fn store_server_changes(
    store: &dyn Store,
    branch_id: &str,
    customer_id: &str,
    bytes: &[u8],
) -> Result<usize, PushError> {
    let changes = parse_changes(bytes).map_err(|_| PushError::Corrupt)?;
    let actor = store.server_actor()?;
    let before = store.document(customer_id)?;
    if before.as_ref().is_some_and(|m| m.branch_id != branch_id) {
        return Err(PushError::NotFound);
    }
    let merged = match load(store, customer_id, &actor)? {
        Some(mut doc) => {
            let new = doc.merge(customer_id, changes)?;
            (!new.is_empty()).then_some((doc, new))
        }
        None => CustomerDoc::from_changes(customer_id, changes, &actor)?,
    };
    let Some((doc, new_bytes)) = merged else { return Ok(0) };
    let new = parse_changes(&new_bytes).map_err(|_| PushError::Corrupt)?;
    let inserted = store.append_changes(branch_id, customer_id, &new, None)?;
    // Imported documents are stored with their snapshot, ready for a new tablet's first sync.
    save_state(store, branch_id, &doc, before.as_ref().map(|m| &m.scope), Fold::Now, read_model::Write::default())?;
    Ok(inserted)
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

/// Fold a document's log into a new snapshot once this many changes sit after the snapshot.
const SNAPSHOT_AFTER: i64 = 32;

/// When [`save_state`] folds a document's log into a new snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    /// Once [`SNAPSHOT_AFTER`] changes sit after the snapshot.
    WhenLong,
    /// Now (an import: the first tablet to ask gets a ready snapshot).
    Now,
}

/// Records a document's current state: scope (logging a move when it changed), rows, pool entry,
/// village, planned visits, photo references, the supervisor pages' read models (`arrival`:
/// the device push that brought this state), the pool's rows (changes of owner, due date) and the
/// duplicate checks' keys, when its stage is computed again and its next birthday reminder
/// written, and folds the log into a new snapshot as `fold`
/// says. Returns the document's new version.
pub fn save_state(
    store: &dyn Store,
    branch_id: &str,
    doc: &CustomerDoc,
    previous_scope: Option<&Scope>,
    fold: Fold,
    write: read_model::Write,
) -> Result<i64, StoreError> {
    let file = doc.file();
    let customer_id = file.id.as_str();
    let scope = scope_of(file);
    if let Some(previous) = previous_scope
        && *previous != scope
        && *previous != Scope::Deleted
    {
        store.log_move(branch_id, customer_id, previous, &scope)?;
    }
    let seq = store.log_head()?;
    let scope = if previous_scope == Some(&Scope::Deleted) { Scope::Deleted } else { scope };
    let planned: Vec<(&str, i64)> = file
        .visits
        .values()
        .filter(|v| v.status == VisitStatus::Planned)
        .filter_map(|v| Some((v.manager_id.as_str(), v.planned_at?)))
        .collect();
    store.save_document(&DocumentState {
        customer_id,
        branch_id,
        scope: &scope,
        village: &file.profile.village,
        version: seq,
        rows: &Rows::of(file),
        pool_entry: &pool_entry(file),
        planned: &planned,
    })?;
    let photos = file.visits.values().flat_map(|v| v.photos.iter().map(|h| (h.as_str(), v.manager_id.as_str())));
    crate::photos::record_refs(store, customer_id, photos)?;
    read_model::record(store, branch_id, file, &scope, write)?;
    crate::pool::record(store, branch_id, file, &scope)?;
    crate::duplicates::record(store, branch_id, file, &scope)?;
    crate::stages::record(store, branch_id, file, &scope)?;
    crate::reminders::record(store, branch_id, file, &scope)?;
    let fold_now = match fold {
        Fold::Now => true,
        Fold::WhenLong => store.changes_after_snapshot(customer_id)? >= SNAPSHOT_AFTER,
    };
    if fold_now {
        // Saving needs the document mutable (automerge closes its transaction); a copy, only on
        // the writes that fold, keeps the writer's common path free of it.
        store.save_snapshot(customer_id, &doc.clone().save_uncompressed(), seq)?;
    }
    Ok(seq)
}

/// A document whole, as a device receives it: its saved bytes (folding everything logged so far)
/// and its projection rows.
pub fn snapshot(store: &dyn Store, customer_id: &str, actor: &ActorId) -> Result<Option<(Vec<u8>, Rows)>, PushError> {
    let Some(saved) = store.snapshot(customer_id)? else { return Ok(None) };
    if !saved.stale && !saved.bytes.is_empty() {
        return Ok(Some((saved.bytes, saved.rows)));
    }
    // Built here and not stored: answers are read on readers, off the writer lock; the stored
    // snapshot is folded again as the document is written (see `save_state`).
    let Some(mut doc) = load(store, customer_id, actor)? else { return Ok(None) };
    Ok(Some((doc.save_uncompressed(), saved.rows)))
}
