//! The customer documents part of the store's interface: the commit-ordered log devices pull
//! from, and per customer its branch, scope, saved snapshot, projection rows, masked pool entry
//! and planned visits.
//!
//! The log holds every accepted change once (keyed by customer and change hash, so a repeated
//! push is harmless) and every scope move (reassignment, to or from the pool, closing,
//! deletion), all under one sequence number assigned in commit order: a device's cursor never
//! passes a change committed late.

use automerge::{ActorId, Change};
use fieldsync_core::store::Rows;
use fieldsync_core::sync::protocol::PoolEntry;

use super::StoreResult;
use crate::accounts::User;
use crate::policy::{Scope, View};

/// A document's row: branch, scope, and version.
#[derive(Debug, Clone, PartialEq)]
pub struct DocMeta {
    pub branch_id: String,
    pub scope: Scope,
    /// The log's head when the document was last written: it changes with every write.
    pub version: i64,
}

impl DocMeta {
    /// What `user` sees of this document: [`Scope::view`] within the document's branch.
    pub fn view(&self, user: &User) -> View {
        self.scope.view(user, &self.branch_id)
    }
}

/// A document's current state as the server records it beside its log.
#[derive(Debug)]
pub struct DocumentState<'a> {
    pub customer_id: &'a str,
    pub branch_id: &'a str,
    pub scope: &'a Scope,
    pub village: &'a str,
    /// The log's head at this write: the document's new version.
    pub version: i64,
    pub rows: &'a Rows,
    pub pool_entry: &'a PoolEntry,
    /// Planned visits: (manager, planned at), so a first sync sends today's customers first.
    pub planned: &'a [(&'a str, i64)],
}

/// A document's saved bytes and rows, as a device receives it whole.
#[derive(Debug)]
pub struct StoredSnapshot {
    pub bytes: Vec<u8>,
    pub rows: Rows,
    /// Whether changes were logged after the snapshot (the snapshot alone is then out of date).
    pub stale: bool,
}

/// One entry of the log, as a device's pull reads it.
#[derive(Debug)]
pub struct LogEntry {
    pub seq: i64,
    pub customer_id: String,
    /// A change's bytes; `None` for a scope move.
    pub change: Option<Vec<u8>>,
    /// The device the change came from (`None`: the server's own).
    pub device_id: Option<String>,
    /// A scope move's origin.
    pub from_scope: Option<Scope>,
    /// The document's scope now.
    pub scope_now: Scope,
}

/// A new device's listing: the customers it sees whole, in the order to fetch them, and the pool
/// customers it sees masked.
#[derive(Debug, Default)]
pub struct Visible {
    pub documents: Vec<String>,
    pub pool: Vec<String>,
}

pub trait DocumentStore {
    /// The server's automerge actor (made when the store was created).
    fn server_actor(&self) -> StoreResult<ActorId>;

    /// The newest sequence number in the log (0 when it is empty).
    fn log_head(&self) -> StoreResult<i64>;

    fn document(&self, customer_id: &str) -> StoreResult<Option<DocMeta>>;

    /// The bytes a document loads from: its snapshot followed by the changes logged after it
    /// (`None`: no such document).
    fn document_bytes(&self, customer_id: &str) -> StoreResult<Option<Vec<u8>>>;

    /// The size of [`DocumentStore::document_bytes`] without reading them.
    fn stored_size(&self, customer_id: &str) -> StoreResult<usize>;

    /// Whether the log holds this change of this customer.
    fn has_change(&self, customer_id: &str, hash: &automerge::ChangeHash) -> StoreResult<bool>;

    /// Appends changes once each (keyed by hash); returns how many were new. The caller records
    /// the document's state after it ([`DocumentStore::save_document`] at the log's head) in the
    /// same transaction: a document's version is never below its last logged change, which the
    /// managers' log scan relies on to find what changed.
    fn append_changes(
        &self,
        branch_id: &str,
        customer_id: &str,
        changes: &[Change],
        device_id: Option<&str>,
    ) -> StoreResult<usize>;

    /// Logs a scope move (devices that lose or gain the customer learn of it from the log).
    fn log_move(&self, branch_id: &str, customer_id: &str, from: &Scope, to: &Scope) -> StoreResult<()>;

    /// Records a document's current state (inserting its row the first time).
    fn save_document(&self, state: &DocumentState) -> StoreResult<()>;

    /// Changes logged after the document's snapshot.
    fn changes_after_snapshot(&self, customer_id: &str) -> StoreResult<i64>;

    /// Replaces the document's snapshot with `bytes`, which fold the log up to `seq`.
    fn save_snapshot(&self, customer_id: &str, bytes: &[u8], seq: i64) -> StoreResult<()>;

    /// Marks a document deleted at `version`; its planned visits go.
    fn mark_deleted(&self, customer_id: &str, version: i64) -> StoreResult<()>;

    /// The saved snapshot and rows of a document.
    fn snapshot(&self, customer_id: &str) -> StoreResult<Option<StoredSnapshot>>;

    fn pool_entry(&self, customer_id: &str) -> StoreResult<Option<PoolEntry>>;

    /// What `user` sees of their branch: whole documents (today's planned customers first, then
    /// their villages, then the rest by village; `today` is the day's start and end) and masked
    /// pool entries.
    fn listing(&self, user: &User, today: (i64, i64)) -> StoreResult<Visible>;

    /// Reads the log of `user`'s branch after `since` up to `until`, in order, skipping changes
    /// of customers the user sees nothing of (scope moves are always read). `f` returns whether
    /// to go on.
    fn scan_log(
        &self,
        user: &User,
        since: i64,
        until: i64,
        f: &mut dyn FnMut(LogEntry) -> StoreResult<bool>,
    ) -> StoreResult<()>;

    /// Every document not deleted: (customer, branch).
    fn live_documents(&self) -> StoreResult<Vec<(String, String)>>;

    /// Whether the one-time upgrade `name` is still to run (a migration asked for it).
    fn upgrade_pending(&self, name: &str) -> StoreResult<bool>;

    /// Marks the one-time upgrade `name` done (in the transaction that did it).
    fn upgrade_done(&self, name: &str) -> StoreResult<()>;

    /// The store's epoch: minted with the store, and again when it is restored from a backup
    /// (a device that saw another epoch is listed again).
    fn store_epoch(&self) -> StoreResult<u64>;

    /// Mints a new epoch (a restored store); returns it.
    fn renew_store_epoch(&self) -> StoreResult<u64>;

    /// When the last backup of this store finished (`None`: never).
    fn last_backup_at(&self) -> StoreResult<Option<i64>>;

    fn set_last_backup_at(&self, at: i64) -> StoreResult<()>;

    /// A customer's scope moves after `since`: (from, to), in order.
    fn moves_since(&self, customer_id: &str, since: i64) -> StoreResult<Vec<(Scope, Scope)>>;
}
