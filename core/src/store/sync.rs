//! The store's side of sync: what to send next, and applying what the server answered, each
//! response in one transaction together with the new cursor, so a sync cut at any point resumes
//! from the last applied response and nothing is applied twice.
//!
//! Bookkeeping per document: `local_seq`/`pushed_seq` say whether local writes await a push,
//! `acked_heads` are the heads the server is known to hold (a push sends the changes after them).
//! A first sync lists the device's scope into `sync_pending` and fetches it in that order.

use std::collections::HashMap;

use automerge::ChangeHash;
use automerge::sync::State;
use rusqlite::{Connection, OptionalExtension, params};

use super::documents;
use super::projection;
use super::{Store, in_savepoint, load_doc, merge_one, meta_get, meta_set};
use crate::document::CustomerDoc;
use crate::domain::{Problem, ValidationError};
use crate::error::{Error, Result};

/// Where the server store's epoch of the last answer is kept (see `SyncRequest::epoch`).
const EPOCH_KEY: &str = "server_epoch";
use crate::sync::protocol::{
    BranchSettings, Claim, DocChanges, PoolEntry, PushOutcome, Refusal, Snapshot, SyncMessage, SyncRequest,
    SyncResponse,
};

/// Pushed bytes per request; the rest goes in the next round trip.
const MAX_PUSH_BYTES: usize = 2 * 1024 * 1024;
/// Documents asked for whole per request (the server also stops at the response budget).
const MAX_FETCH: usize = 500;
/// Reconciliation messages per request (after a restored server every document is reconciled:
/// a hundred a round trip keeps each request's cost on the server bounded).
const MAX_RECONCILE: usize = 100;

/// One request and what it carried, to settle the answer against.
#[derive(Debug, Clone, Default)]
pub struct SyncBatch {
    pub request: SyncRequest,
    pushed: Vec<PushedDoc>,
}

#[derive(Debug, Clone)]
struct PushedDoc {
    customer_id: String,
    local_seq: i64,
    heads: Vec<ChangeHash>,
    changes: usize,
}

/// What applying one response did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncApplied {
    pub pushed_changes: usize,
    pub documents_received: usize,
    pub changes_received: usize,
    pub purged: usize,
    pub quarantined: usize,
    /// Documents still to fetch whole (first sync, restores).
    pub pending: usize,
    pub more: bool,
}

/// A change the server refused, kept for inspection.
#[derive(Debug, Clone, PartialEq)]
pub struct QuarantinedChange {
    pub customer_id: String,
    pub at: i64,
    pub code: String,
    pub message_zh: String,
    pub message_en: String,
    pub changes: Vec<u8>,
}

/// A public-pool customer as the tablet holds it (masked).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PoolSummary {
    pub customer_id: String,
    pub name_masked: String,
    pub kind: String,
    pub village: String,
    pub tier: Option<String>,
    /// `pending`, `accepted` or `rejected` when this device asked to claim it.
    pub claim: Option<String>,
}

/// Where the branch's settings (see [`BranchSettings`]) are kept in `meta`.
const SETTINGS_KEY: &str = "branch_settings";
/// Where the manager's month as the server last counted it is kept in `meta`.
const PROGRESS_KEY: &str = "month_progress";

impl Store {
    /// The branch's settings as the last sync brought them (`None` before the first sync).
    pub fn branch_settings(&self) -> Result<Option<BranchSettings>> {
        Ok(meta_get(&self.conn, SETTINGS_KEY)?.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// The branch's product catalog as the last sync brought it.
    pub fn catalog(&self) -> Result<Vec<crate::domain::CatalogProduct>> {
        Ok(self.branch_settings()?.map(|s| s.catalog).unwrap_or_default())
    }

    /// The signed-in manager's month: the target and what the server had counted at the last
    /// sync, plus the visits this tablet completed since (offline too). `None` without a target
    /// for the month of `now` (`month` as `2026-12`, `month_start` its first instant).
    pub fn month_progress(
        &self,
        month: &str,
        month_start: i64,
        now: i64,
    ) -> Result<Option<crate::domain::MonthProgress>> {
        let user = self.user.as_ref().ok_or(Error::NotSignedIn)?;
        let stored: Option<crate::domain::MonthProgress> =
            meta_get(&self.conn, PROGRESS_KEY)?.and_then(|b| serde_json::from_slice(&b).ok());
        let Some(mut progress) = stored.filter(|p| p.month == month) else { return Ok(None) };
        let since = progress.as_of.max(month_start);
        let local: i64 = self.conn.query_row(
            "SELECT count(*) FROM visits WHERE manager_id = ?1 AND status = 'completed'
                 AND check_out_at > ?2 AND check_out_at <= ?3",
            params![user.id, since, now],
            |r| r.get(0),
        )?;
        progress.done.visits += local;
        Ok(Some(progress))
    }

    /// The villages the signed-in manager is responsible for, as the last sync brought them.
    pub fn my_villages(&self) -> Result<Vec<String>> {
        let user = self.user.as_ref().ok_or(Error::NotSignedIn)?;
        let territories = self.branch_settings()?.map(|s| s.territories).unwrap_or_default();
        Ok(territories.into_iter().filter(|t| t.manager_ids.contains(&user.id)).map(|t| t.village).collect())
    }

    /// Brochures of the catalog this device does not hold yet (fetched after a sync).
    pub fn brochures_to_fetch(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for hash in self.catalog()?.into_iter().filter_map(|p| p.brochure) {
            let held: bool =
                self.conn.query_row("SELECT EXISTS (SELECT 1 FROM files WHERE hash = ?1)", [&hash], |r| r.get(0))?;
            if !held && !out.contains(&hash) {
                out.push(hash);
            }
        }
        Ok(out)
    }

    /// Keeps a fetched brochure, if it is one the catalog names and its bytes match its hash.
    pub fn keep_brochure(&mut self, hash: &str, bytes: &[u8]) -> Result<()> {
        let named = self.catalog()?.iter().any(|p| p.brochure.as_deref() == Some(hash));
        if !named || bytes.len() > crate::domain::catalog::MAX_BROCHURE || super::photos::sha256_hex(bytes) != hash {
            return Err(Error::Invalid(ValidationError::new("brochure", Problem::BadChecksum)));
        }
        self.conn.execute("INSERT OR IGNORE INTO files (hash, bytes) VALUES (?1, ?2)", params![hash, bytes])?;
        Ok(())
    }

    /// A brochure held on this device (`None`: not fetched yet).
    pub fn brochure(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.conn.query_row("SELECT bytes FROM files WHERE hash = ?1", [hash], |r| r.get(0)).optional()?)
    }

    /// The server sequence number this device has pulled up to (0 before the first sync).
    pub fn sync_cursor(&self) -> Result<u64> {
        Ok(meta_get(&self.conn, "sync_cursor")?
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    /// Documents with local writes the server has not acknowledged yet.
    pub fn unpushed(&self) -> Result<Vec<String>> {
        documents::unpushed(&self.conn)
    }

    /// Documents still to be fetched whole.
    pub fn pending_fetches(&self) -> Result<usize> {
        Ok(self.conn.query_row("SELECT count(*) FROM sync_pending", [], |r| r.get::<_, i64>(0))? as usize)
    }

    /// Documents whose history is being reconciled with the server.
    pub fn reconciling(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare("SELECT customer_id FROM reconcile ORDER BY customer_id")?;
        let ids = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    /// Asks to take a customer from the branch's public pool; the server decides at the next sync
    /// (the first valid claim wins). Returns the intent ID.
    pub fn claim_from_pool(&mut self, customer_id: &str, now: i64) -> Result<String> {
        self.user.as_ref().ok_or(Error::NotSignedIn)?;
        let in_pool: bool = self
            .conn
            .query_row("SELECT 1 FROM pool WHERE customer_id = ?1", [customer_id], |_| Ok(()))
            .optional()?
            .is_some();
        if !in_pool {
            return Err(Error::NotFound { what: "pool customer", id: customer_id.to_string() });
        }
        if let Some(existing) = self
            .conn
            .query_row(
                "SELECT intent_id FROM claims WHERE customer_id = ?1 AND status = 'pending'",
                [customer_id],
                |r| r.get::<_, String>(0),
            )
            .optional()?
        {
            return Ok(existing);
        }
        let intent_id = crate::ids::new_id();
        self.conn.execute(
            "INSERT INTO claims (intent_id, customer_id, at, status, reason) VALUES (?1, ?2, ?3, 'pending', '')",
            params![intent_id, customer_id, now],
        )?;
        Ok(intent_id)
    }

    /// The pool customers of a village (all villages when `None`), masked, with this device's claims.
    /// The public pool in the signed-in manager's villages (their territory), offline.
    pub fn pool_in_my_villages(&self) -> Result<Vec<PoolSummary>> {
        let mine = self.my_villages()?;
        Ok(self.pool(None)?.into_iter().filter(|p| mine.contains(&p.village)).collect())
    }

    pub fn pool(&self, village: Option<&str>) -> Result<Vec<PoolSummary>> {
        let mut stmt = self.conn.prepare(
            "SELECT p.customer_id, p.name_masked, p.kind, p.village, p.tier,
                 (SELECT status FROM claims c WHERE c.customer_id = p.customer_id ORDER BY at DESC LIMIT 1)
             FROM pool p WHERE ?1 IS NULL OR p.village = ?1 ORDER BY p.village, p.customer_id",
        )?;
        let rows = stmt
            .query_map([village], |r| {
                Ok(PoolSummary {
                    customer_id: r.get(0)?,
                    name_masked: r.get(1)?,
                    kind: r.get(2)?,
                    village: r.get(3)?,
                    tier: r.get(4)?,
                    claim: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Changes the server refused, newest first.
    pub fn quarantined(&self) -> Result<Vec<QuarantinedChange>> {
        let mut stmt = self.conn.prepare(
            "SELECT customer_id, at, code, message_zh, message_en, changes FROM quarantine ORDER BY id DESC",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(QuarantinedChange {
                    customer_id: r.get(0)?,
                    at: r.get(1)?,
                    code: r.get(2)?,
                    message_zh: r.get(3)?,
                    message_en: r.get(4)?,
                    changes: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Builds the next request: unacknowledged local changes, pending claims, documents to fetch,
    /// and the next automerge sync message of each document under reconciliation.
    pub fn next_sync_request(
        &mut self,
        today: Option<(i64, i64)>,
        max_bytes: u32,
        states: &mut HashMap<String, State>,
    ) -> Result<SyncBatch> {
        let mut batch = SyncBatch {
            request: SyncRequest {
                cursor: self.sync_cursor()?,
                today,
                max_bytes,
                settings_version: self.branch_settings()?.map_or(0, |s| s.version),
                epoch: meta_get(&self.conn, EPOCH_KEY)?
                    .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
                    .map_or(0, u64::from_le_bytes),
                ..Default::default()
            },
            pushed: Vec::new(),
        };
        let reconciling = self.reconciling()?;
        let mut push_bytes = 0;
        for customer_id in documents::unpushed(&self.conn)? {
            if push_bytes >= MAX_PUSH_BYTES {
                break;
            }
            if reconciling.contains(&customer_id) {
                continue;
            }
            let row = documents::sync_row(&self.conn, &customer_id)?
                .ok_or_else(|| Error::NotFound { what: "customer", id: customer_id.clone() })?;
            let (changes, heads) =
                self.read_doc(&customer_id, |doc| (doc.changes_since(&row.acked_heads), doc.heads()))?;
            push_bytes += changes.len();
            batch.pushed.push(PushedDoc {
                customer_id: customer_id.clone(),
                local_seq: row.local_seq,
                heads,
                changes: crate::document::parse_changes(&changes).map_or(0, |c| c.len()),
            });
            batch.request.push.push(DocChanges { customer_id, changes });
        }
        let mut stmt =
            self.conn.prepare_cached("SELECT intent_id, customer_id, at FROM claims WHERE status = 'pending'")?;
        batch.request.claims = stmt
            .query_map([], |r| Ok(Claim { intent_id: r.get(0)?, customer_id: r.get(1)?, at: r.get(2)? }))?
            .collect::<rusqlite::Result<_>>()?;
        drop(stmt);
        let mut stmt = self.conn.prepare_cached("SELECT customer_id FROM sync_pending ORDER BY rank LIMIT ?1")?;
        batch.request.fetch = stmt.query_map([MAX_FETCH as i64], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        drop(stmt);
        for customer_id in reconciling {
            if batch.request.reconcile.len() >= MAX_RECONCILE {
                break;
            }
            let state = states.entry(customer_id.clone()).or_default();
            let message = match self.read_doc(&customer_id, |doc| doc.sync_message(state))? {
                Ok(message) => message,
                // The server's last message could not be answered: start over next round.
                Err(e) => {
                    tracing::warn!(customer_id, error = %e, "a reconciliation message could not be built");
                    continue;
                }
            };
            match message {
                Some(message) => batch.request.reconcile.push(SyncMessage { customer_id, message }),
                None if state.their_heads.is_some() => {
                    // Nothing left to say and the server has answered: both sides hold the same
                    // history again.
                    let heads = self.heads(&customer_id)?;
                    let row = documents::sync_row(&self.conn, &customer_id)?;
                    let tx = self.conn.transaction()?;
                    documents::set_acked(&tx, &customer_id, &heads, row.map(|r| r.local_seq))?;
                    tx.execute("DELETE FROM reconcile WHERE customer_id = ?1", [&customer_id])?;
                    tx.commit()?;
                    states.remove(&customer_id);
                }
                None => {}
            }
        }
        Ok(batch)
    }

    /// Applies one response in one transaction, with its cursor.
    pub fn apply_sync_response(
        &mut self,
        batch: &SyncBatch,
        response: SyncResponse,
        states: &mut HashMap<String, State>,
        now: i64,
    ) -> Result<SyncApplied> {
        let mut applied = SyncApplied { more: response.more, ..Default::default() };
        let tx = self.conn.transaction()?;
        let mut loaded: Vec<(String, CustomerDoc)> = Vec::new();

        for result in &response.pushed {
            let Some(sent) = batch.pushed.iter().find(|p| p.customer_id == result.customer_id) else {
                // An answer to a reconciliation message: what the device offered that way was
                // refused, so its document is restored from the server like a refused push.
                let reconciled = batch.request.reconcile.iter().any(|m| m.customer_id == result.customer_id);
                if reconciled && !matches!(result.outcome, PushOutcome::Accepted { .. } | PushOutcome::MissingHistory) {
                    let id = &result.customer_id;
                    let ours = own_unacknowledged(&tx, &mut self.cache, &self.actor, id, states)?;
                    states.remove(id);
                    if ours.is_empty() {
                        // Nothing of this tablet's was refused (another's work, which only its
                        // author can give back): the server's copy replaces it, nothing is kept.
                        self.cache.pop(id);
                        purge(&tx, id)?;
                        fetch_first(&tx, id)?;
                    } else {
                        quarantine(&tx, &mut self.cache, id, &refusal_of(&result.outcome), &ours, now)?;
                        applied.quarantined += 1;
                    }
                }
                continue;
            };
            match &result.outcome {
                PushOutcome::Accepted { .. } => {
                    documents::set_acked(&tx, &sent.customer_id, &sent.heads, Some(sent.local_seq))?;
                    applied.pushed_changes += sent.changes;
                }
                PushOutcome::MissingHistory => {
                    tx.execute(
                        "INSERT OR IGNORE INTO reconcile (customer_id, state) VALUES (?1, x'')",
                        [&sent.customer_id],
                    )?;
                    // The server lost history (restored from a backup): it may have lost this
                    // tablet's photos too. Each is asked about again after the sync; only what
                    // the server lacks is sent.
                    tx.execute("UPDATE photos SET uploaded = 0 WHERE own = 1 AND uploaded = 1", [])?;
                    states.insert(sent.customer_id.clone(), State::new());
                }
                PushOutcome::Refused(_) | PushOutcome::NotFound | PushOutcome::Corrupt => {
                    let pushed = batch.request.push.iter().find(|p| p.customer_id == sent.customer_id);
                    let changes = pushed.map_or(&[][..], |p| &p.changes);
                    quarantine(&tx, &mut self.cache, &sent.customer_id, &refusal_of(&result.outcome), changes, now)?;
                    applied.quarantined += 1;
                }
            }
        }

        if response.epoch != 0 {
            let held = meta_get(&tx, EPOCH_KEY)?
                .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
                .map_or(0, u64::from_le_bytes);
            if held != 0 && held != response.epoch {
                // The server's store was restored from a backup: it may have lost what this
                // tablet gave it since. Every document held here is reconciled, which offers
                // the server what it lacks, and every photo taken here is offered again.
                tracing::info!("the server's store was restored; every document is offered to it again");
                tx.execute(
                    "INSERT INTO reconcile (customer_id, state, lost) SELECT customer_id, x'', 1 FROM documents WHERE 1
                     ON CONFLICT (customer_id) DO UPDATE SET lost = 1",
                    [],
                )?;
                tx.execute("UPDATE photos SET uploaded = 0 WHERE own = 1 AND uploaded = 1", [])?;
                states.clear();
            }
            meta_set(&tx, EPOCH_KEY, response.epoch.to_le_bytes().to_vec())?;
        }
        // The branch's rules, kept for offline use; a server's rules this build finds out of
        // bounds are not taken (the previous ones stay).
        if let Some(settings) = &response.settings
            && settings.pool_rules.validate().is_ok()
        {
            let mut settings = settings.clone();
            // A catalog product or territory this build finds invalid is left out; the rest are
            // kept.
            settings.catalog.retain(|p| p.validate().is_ok());
            settings.territories.retain(|t| t.validate().is_ok());
            // Plain values: serialising them cannot fail.
            meta_set(&tx, SETTINGS_KEY, serde_json::to_vec(&settings).unwrap_or_default())?;
            // Brochures no product refers to any more go.
            let keep: Vec<&str> = settings.catalog.iter().filter_map(|p| p.brochure.as_deref()).collect();
            let mut stmt = tx.prepare("SELECT hash FROM files")?;
            let held: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            drop(stmt);
            for hash in held.iter().filter(|h| !keep.contains(&h.as_str())) {
                tx.execute("DELETE FROM files WHERE hash = ?1", [hash])?;
            }
        }

        if let Some(progress) = &response.progress {
            // Plain values: serialising them cannot fail.
            meta_set(&tx, PROGRESS_KEY, serde_json::to_vec(progress).unwrap_or_default())?;
        }

        for claim in &response.claims {
            tx.execute(
                "UPDATE claims SET status = ?2, reason = ?3 WHERE intent_id = ?1",
                params![claim.intent_id, if claim.accepted { "accepted" } else { "rejected" }, claim.reason],
            )?;
        }

        if let Some(listing) = &response.listing {
            // Every listed customer is fetched whole, even one this device already holds (written
            // here before the first sync): the server may have changes to it from before the
            // listing's cursor. What this response serves is taken off the list below.
            let mut insert =
                tx.prepare_cached("INSERT OR IGNORE INTO sync_pending (customer_id, rank, pool) VALUES (?1, ?2, ?3)")?;
            for (rank, id) in listing.documents.iter().enumerate() {
                if valid_id(id) {
                    insert.execute(params![id, rank as i64 + 1, false])?;
                }
            }
            let base = listing.documents.len() as i64 + 1;
            for (rank, id) in listing.pool.iter().enumerate() {
                if valid_id(id) {
                    insert.execute(params![id, base + rank as i64, true])?;
                }
            }
            drop(insert);
            // A document reconciled after a restore gets what the server has that way.
            tx.execute(
                "DELETE FROM sync_pending WHERE customer_id IN (SELECT customer_id FROM reconcile WHERE lost = 1)",
                [],
            )?;
        }
        for customer_id in &response.gone {
            if !valid_id(customer_id) {
                continue;
            }
            if is_lost(&tx, customer_id)? {
                // A restored server lacks the whole customer (created since its backup): offered
                // whole if this tablet wrote any of it; the server decides as for any push.
                let ours = match self.cache.pop(customer_id).map_or_else(|| load_doc(&tx, &self.actor, customer_id), Ok)
                {
                    Ok(mut doc) => doc.changes().iter().any(|c| c.actor_id() == &self.actor),
                    Err(e @ (Error::Sqlite(_) | Error::Io(_))) => return Err(e),
                    // A document that does not load has nothing to offer.
                    Err(_) => false,
                };
                tx.execute("DELETE FROM reconcile WHERE customer_id = ?1", [customer_id])?;
                states.remove(customer_id);
                if ours {
                    tx.execute(
                        "UPDATE documents SET acked_heads = x'', pushed_seq = local_seq - 1 WHERE customer_id = ?1",
                        [customer_id],
                    )?;
                    continue;
                }
            }
            self.cache.pop(customer_id);
            purge(&tx, customer_id)?;
            applied.purged += 1;
        }
        for customer_id in &response.purge {
            if !valid_id(customer_id) {
                continue;
            }
            self.cache.pop(customer_id);
            purge(&tx, customer_id)?;
            applied.purged += 1;
        }

        for snapshot in response.snapshots {
            if !valid_id(&snapshot.customer_id) {
                continue;
            }
            let customer_id = snapshot.customer_id.clone();
            let bytes = snapshot.document.clone();
            let stored = one_document(&tx, &customer_id, &bytes, || {
                store_snapshot(&tx, &mut self.cache, &self.actor, snapshot, &mut loaded)
            })?;
            if stored {
                applied.documents_received += 1;
            } else {
                // Not asked for again: the server would send the same bytes, and the session
                // would loop. The local document, if any, stays as it was.
                tx.execute("DELETE FROM sync_pending WHERE customer_id = ?1", [&customer_id])?;
                self.cache.pop(&customer_id);
                applied.quarantined += 1;
            }
        }

        for DocChanges { customer_id, changes } in response.changes {
            if !valid_id(&customer_id) {
                continue;
            }
            if is_pending(&tx, &customer_id)? {
                // The document will arrive whole, newer than these changes.
                continue;
            }
            if !documents::exists(&tx, &customer_id)? {
                fetch_first(&tx, &customer_id)?;
                continue;
            }
            applied.changes_received += crate::document::parse_changes(&changes).map_or(0, |c| c.len());
            merge_from_server(&tx, &mut self.cache, &self.actor, &customer_id, &changes, states, &mut loaded)?;
        }

        for entry in &response.pool {
            // The server sends a masked entry only to a device that may no longer see the customer
            // whole (returned to the pool): any document of it goes.
            if !valid_id(&entry.customer_id) {
                continue;
            }
            if documents::exists(&tx, &entry.customer_id)? {
                self.cache.pop(&entry.customer_id);
                purge(&tx, &entry.customer_id)?;
                applied.purged += 1;
            }
            tx.execute("DELETE FROM sync_pending WHERE customer_id = ?1", [&entry.customer_id])?;
            upsert_pool(&tx, entry)?;
        }

        for SyncMessage { customer_id, message } in &response.reconcile {
            if !valid_id(customer_id) || !documents::exists(&tx, customer_id)? {
                continue;
            }
            let state = states.entry(customer_id.clone()).or_default();
            let taken = one_document(&tx, customer_id, message, || {
                let doc = match self.cache.pop(customer_id) {
                    Some(doc) => doc,
                    None => load_doc(&tx, &self.actor, customer_id)?,
                };
                let incoming = doc.receive_sync_message(state, message);
                self.cache.put(customer_id.clone(), doc);
                let incoming = incoming?;
                if !incoming.is_empty()
                    && let (_, Some(doc)) = merge_one(&tx, &mut self.cache, &self.actor, customer_id, &incoming)?
                {
                    loaded.push((customer_id.clone(), doc));
                }
                Ok(())
            })?;
            if !taken {
                // The document keeps what it has; reconciliation starts over when a push needs it.
                tx.execute("DELETE FROM reconcile WHERE customer_id = ?1", [customer_id])?;
                states.remove(customer_id);
                applied.quarantined += 1;
            }
        }

        meta_set(&tx, "sync_cursor", response.cursor.to_be_bytes().to_vec())?;
        applied.pending = tx.query_row("SELECT count(*) FROM sync_pending", [], |r| r.get::<_, i64>(0))? as usize;
        tx.commit()?;
        for (id, doc) in loaded {
            self.cache.put(id, doc);
        }
        Ok(applied)
    }

    /// Parses documents that arrived as server snapshots and replaces their rows with rows computed
    /// here; a document that does not parse is quarantined and fetched again. Returns how many were
    /// checked. Meant for idle time after a first sync.
    pub fn check_received(&mut self, limit: u32) -> Result<usize> {
        let ids = documents::unchecked(&self.conn, limit)?;
        // A few dozen documents per transaction: one durable commit for many rewrites.
        for batch in ids.chunks(64) {
            let tx = self.conn.transaction()?;
            for id in batch {
                // The first parse stores the document compacted (snapshots travel without
                // automerge's own compression: the frame's zstd does better).
                let checked = in_savepoint(&tx, || load_doc(&tx, &self.actor, id).map(drop))?;
                match checked {
                    Ok(()) => {}
                    Err(Error::Sqlite(e)) => return Err(Error::Sqlite(e)),
                    Err(e) => {
                        tracing::warn!(customer_id = %id, error = %e, "a received document did not parse");
                        let bytes = documents::load(&tx, id)?.unwrap_or_default();
                        record_quarantine(
                            &tx,
                            id,
                            "unreadable",
                            "收到的客户档案无法读取",
                            "a received document did not parse",
                            &bytes,
                            0,
                        )?;
                        self.cache.pop(id);
                        purge(&tx, id)?;
                        fetch_first(&tx, id)?;
                    }
                }
            }
            tx.commit()?;
        }
        Ok(ids.len())
    }

    /// Deletes every customer, change, pool entry, quarantined change, claim and sync state, the
    /// signed-in user and every app setting but the device's ID: the remote wipe of a revoked
    /// tablet. The file is vacuumed so no old page keeps
    /// the data.
    pub fn wipe(&mut self) -> Result<()> {
        self.cache.clear();
        let tx = self.conn.transaction()?;
        for table in [
            "doc_chunks",
            "documents",
            "customers",
            "visits",
            "leads",
            "reminders",
            "pool",
            "sync_pending",
            "quarantine",
            "claims",
            "reconcile",
            "photos",
        ] {
            tx.execute(&format!("DELETE FROM {table}"), [])?;
        }
        // The device keeps its ID, so the server still knows it as the revoked device.
        tx.execute("DELETE FROM meta WHERE key <> 'app.device_id'", [])?;
        tx.commit()?;
        self.conn.execute_batch("VACUUM")?;
        self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        self.user = None;
        let actor = crate::ids::new_actor();
        meta_set(&self.conn, "actor", actor.to_bytes().to_vec())?;
        self.actor = actor;
        Ok(())
    }
}

/// A customer ID from the server that is not an ID is skipped (and logged without its value):
/// one bad entry never stops the rest of a response.
fn valid_id(id: &str) -> bool {
    let valid = crate::domain::error::check::id("customer_id", id).is_ok();
    if !valid {
        tracing::warn!(len = id.len(), "a malformed customer ID in a sync response was skipped");
    }
    valid
}

/// Runs one document's part of a response behind a savepoint. A failure that concerns only that
/// document (bytes that do not parse or fit, a panic contained in automerge, a snapshot that does
/// not match) rolls that part back and is kept in the quarantine with the bytes that caused it;
/// the rest of the response goes on. Storage errors abort the whole response. Returns whether
/// the part was applied.
fn one_document(conn: &Connection, customer_id: &str, bytes: &[u8], work: impl FnOnce() -> Result<()>) -> Result<bool> {
    match in_savepoint(conn, work)? {
        Ok(()) => Ok(true),
        Err(e @ (Error::Sqlite(_) | Error::Io(_))) => Err(e),
        Err(e) => {
            tracing::warn!(customer_id, error = %e, "a document in a sync response was set aside");
            record_quarantine(
                conn,
                customer_id,
                "bad_from_server",
                "服务器发来的数据无法应用",
                "data from the server could not be applied",
                bytes,
                0,
            )?;
            Ok(false)
        }
    }
}

/// The refusal a push outcome other than `Accepted` and `MissingHistory` stands for.
fn refusal_of(outcome: &PushOutcome) -> Refusal {
    let (code, zh, en) = match outcome {
        PushOutcome::Refused(refusal) => return refusal.clone(),
        PushOutcome::NotFound => {
            ("not_found", "服务器上没有这个客户，或您无权查看", "the server has no such customer visible to you")
        }
        _ => ("corrupt", "变更数据已损坏", "the changes were corrupt"),
    };
    Refusal { code: code.into(), message_zh: zh.into(), message_en: en.into() }
}

/// This tablet's changes of a reconciled document beyond the heads the server last said it has
/// (or, before it said, the heads it acknowledged), concatenated: what a refused reconciliation
/// leaves aside.
fn own_unacknowledged(
    conn: &Connection,
    cache: &mut lru::LruCache<String, CustomerDoc>,
    actor: &automerge::ActorId,
    customer_id: &str,
    states: &HashMap<String, State>,
) -> Result<Vec<u8>> {
    if !documents::exists(conn, customer_id)? {
        return Ok(Vec::new());
    }
    let mut doc = match cache.pop(customer_id).map_or_else(|| load_doc(conn, actor, customer_id), Ok) {
        Ok(doc) => doc,
        Err(e @ (Error::Sqlite(_) | Error::Io(_))) => return Err(e),
        // A document that does not load is kept whole.
        Err(_) => return Ok(documents::load(conn, customer_id)?.unwrap_or_default()),
    };
    let heads = match states.get(customer_id).and_then(|s| s.their_heads.clone()) {
        Some(heads) => heads,
        None => documents::sync_row(conn, customer_id)?.map(|r| r.acked_heads).unwrap_or_default(),
    };
    let known: Vec<ChangeHash> = heads.into_iter().filter(|h| doc.has_change(h)).collect();
    let changes = crate::document::parse_changes(&doc.changes_since(&known)).unwrap_or_default();
    cache.put(customer_id.to_string(), doc);
    Ok(changes.into_iter().filter(|c| c.actor_id() == actor).flat_map(|c| c.raw_bytes().to_vec()).collect())
}

/// Whether a document is being reconciled because the server lost it (see schema v7).
fn is_lost(conn: &Connection, customer_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM reconcile WHERE customer_id = ?1 AND lost = 1")?
        .query_row([customer_id], |_| Ok(()))
        .optional()?
        .is_some())
}

fn is_pending(conn: &Connection, customer_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM sync_pending WHERE customer_id = ?1")?
        .query_row([customer_id], |_| Ok(()))
        .optional()?
        .is_some())
}

pub(super) fn purge(conn: &Connection, customer_id: &str) -> Result<()> {
    // Photos fetched to view are a cache and may belong to the customer leaving: dropped. Photos
    // taken here and not yet uploaded are this user's own work and stay queued.
    conn.prepare_cached("DELETE FROM photos WHERE uploaded = 1")?.execute([])?;
    documents::delete(conn, customer_id)?;
    projection::delete(conn, customer_id)?;
    for table in ["pool", "sync_pending", "reconcile"] {
        conn.prepare_cached(&format!("DELETE FROM {table} WHERE customer_id = ?1"))?.execute([customer_id])?;
    }
    Ok(())
}

fn upsert_pool(conn: &Connection, e: &PoolEntry) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO pool (customer_id, name_masked, kind, village, tier) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![e.customer_id, e.name_masked, e.kind, e.village, e.tier])?;
    Ok(())
}

fn record_quarantine(
    conn: &Connection,
    customer_id: &str,
    code: &str,
    zh: &str,
    en: &str,
    changes: &[u8],
    now: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO quarantine (customer_id, at, code, message_zh, message_en, changes) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![customer_id, now, code, zh, en, changes])?;
    Ok(())
}

/// Keeps the refused changes aside, drops the local document and asks for the server's copy.
fn quarantine(
    conn: &Connection,
    cache: &mut lru::LruCache<String, CustomerDoc>,
    customer_id: &str,
    refusal: &Refusal,
    changes: &[u8],
    now: i64,
) -> Result<()> {
    record_quarantine(conn, customer_id, &refusal.code, &refusal.message_zh, &refusal.message_en, changes, now)?;
    cache.pop(customer_id);
    purge(conn, customer_id)?;
    fetch_first(conn, customer_id)
}

/// Asks for a customer whole at the next sync, ahead of the rest of a listing.
fn fetch_first(conn: &Connection, customer_id: &str) -> Result<()> {
    conn.prepare_cached("INSERT OR IGNORE INTO sync_pending (customer_id, rank, pool) VALUES (?1, 0, 0)")?
        .execute([customer_id])?;
    Ok(())
}

/// Stores a document sent whole. A document new here is kept as the bytes that came, with the
/// server's rows, unparsed until first use or [`Store::check_received`]; one already here is
/// merged like any changes.
fn store_snapshot(
    conn: &Connection,
    cache: &mut lru::LruCache<String, CustomerDoc>,
    actor: &automerge::ActorId,
    snapshot: Snapshot,
    loaded: &mut Vec<(String, CustomerDoc)>,
) -> Result<()> {
    let Snapshot { customer_id, document, rows } = snapshot;
    conn.prepare_cached("DELETE FROM sync_pending WHERE customer_id = ?1")?.execute([&customer_id])?;
    conn.prepare_cached("DELETE FROM pool WHERE customer_id = ?1")?.execute([&customer_id])?;
    if documents::exists(conn, &customer_id)? {
        let (_, doc) = merge_one(conn, cache, actor, &customer_id, &document)?;
        if let Some(doc) = doc {
            loaded.push((customer_id, doc));
        }
        return Ok(());
    }
    if rows.customer.customer_id != customer_id || !crate::document::is_single_document_chunk(&document) {
        return Err(Error::CorruptChanges { reason: "a snapshot does not match its customer".into() });
    }
    documents::create(conn, &customer_id, &document, true)?;
    projection::insert(conn, &rows)?;
    Ok(())
}

/// Merges changes pulled from the server. The server holds them, so a document with no local
/// writes pending is then fully acknowledged. Missing history starts a reconciliation; anything
/// else the store refuses is kept aside and leaves the document as it was.
fn merge_from_server(
    conn: &Connection,
    cache: &mut lru::LruCache<String, CustomerDoc>,
    actor: &automerge::ActorId,
    customer_id: &str,
    changes: &[u8],
    states: &mut HashMap<String, State>,
    loaded: &mut Vec<(String, CustomerDoc)>,
) -> Result<()> {
    let merged = in_savepoint(conn, || {
        let (_, doc) = merge_one(conn, cache, actor, customer_id, changes)?;
        if let Some(mut doc) = doc {
            let row = documents::sync_row(conn, customer_id)?;
            if row.is_some_and(|r| r.local_seq <= r.pushed_seq) {
                documents::set_acked(conn, customer_id, &doc.heads(), None)?;
            }
            loaded.push((customer_id.to_string(), doc));
        }
        Ok(())
    })?;
    match merged {
        Ok(()) => {}
        Err(Error::MissingDependencies { .. }) => {
            conn.execute("INSERT OR IGNORE INTO reconcile (customer_id, state) VALUES (?1, x'')", [customer_id])?;
            states.entry(customer_id.to_string()).or_default();
        }
        Err(Error::Sqlite(e)) => return Err(Error::Sqlite(e)),
        Err(e) => {
            tracing::warn!(customer_id, error = %e, "changes from the server were refused");
            record_quarantine(
                conn,
                customer_id,
                "bad_from_server",
                "服务器发来的变更无法应用",
                "changes from the server could not be applied",
                changes,
                0,
            )?;
        }
    }
    Ok(())
}
