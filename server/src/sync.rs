//! One sync round trip on the server: take what the device sent (pushes, pool claims, automerge
//! sync messages) in one transaction, each document behind its own savepoint so a refusal does not
//! block the rest; then answer with what the device's scope gained since its cursor, within the
//! device's byte budget.

use std::collections::HashMap;

use automerge::ActorId;
use fieldsync_core::domain::{Action, IntentOutcome, Owner};
use fieldsync_core::sync::protocol::{
    self, ClaimResult, DocChanges, Listing, PushOutcome, PushResult, Refusal as WireRefusal, Snapshot, SyncMessage,
    SyncRequest, SyncResponse,
};
use rusqlite::{Connection, Savepoint, params};

use crate::accounts::{Device, Role, User};
use crate::customers::{self, PushError, Writer};
use crate::limits::{self, Limit};
use crate::policy::scope::{Scope, View, sql_visible};

const MIN_BUDGET: usize = 16 * 1024;
const MAX_BUDGET: usize = 8 * 1024 * 1024;

/// Decodes a sync request body and checks what can be checked before any document is touched:
/// the inflated size, the number of items, no customer pushed twice, and the number of changes
/// and operations across the request.
pub fn decode_request(body: &[u8]) -> Result<SyncRequest, crate::error::AppError> {
    use crate::error::AppError;
    let request: SyncRequest = protocol::decode_within(body, limits::MAX_INFLATED).map_err(|e| match e {
        protocol::FrameError::Version { .. } => AppError::UpgradeRequired,
        protocol::FrameError::TooLarge => AppError::TooLarge(Limit::Inflated),
        other => AppError::BadFrame(other.to_string()),
    })?;
    let items = request.push.len() + request.claims.len() + request.fetch.len() + request.reconcile.len();
    if items > limits::MAX_ITEMS || request.claims.len() > limits::MAX_CLAIMS {
        return Err(AppError::TooLarge(Limit::Items));
    }
    let mut claimed = std::collections::HashSet::new();
    if !request.claims.iter().all(|c| claimed.insert(&c.customer_id)) {
        return Err(AppError::BadFrame("a customer is claimed twice in one request".into()));
    }
    let mut seen = std::collections::HashSet::new();
    if !request
        .push
        .iter()
        .map(|p| &p.customer_id)
        .chain(request.reconcile.iter().map(|m| &m.customer_id))
        .all(|id| seen.insert(id))
    {
        return Err(AppError::BadFrame("a customer appears twice in one request".into()));
    }
    let mut budget = Budget::default();
    for push in &request.push {
        // Unparsable bytes are that document's problem, answered in its push result.
        if let Ok(changes) = fieldsync_core::document::parse_changes(&push.changes) {
            budget.spend(&changes).map_err(AppError::TooLarge)?;
        }
    }
    Ok(request)
}

/// What is left of a request's allowance of changes and operations.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    changes: usize,
    ops: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget { changes: limits::MAX_CHANGES, ops: limits::MAX_OPS }
    }
}

impl Budget {
    pub fn spend(&mut self, changes: &[automerge::Change]) -> Result<(), Limit> {
        self.changes = self.changes.checked_sub(changes.len()).ok_or(Limit::Changes)?;
        let ops = changes.iter().map(automerge::Change::len).sum::<usize>();
        self.ops = self.ops.checked_sub(ops).ok_or(Limit::Operations)?;
        Ok(())
    }
}

/// What one round trip did, for the log line (no personal data).
#[derive(Debug, Default)]
pub struct Stats {
    pub pushed: usize,
    pub accepted_changes: usize,
    pub refused: usize,
    pub snapshots: usize,
    pub changes: usize,
    pub purged: usize,
}

/// One round trip on one connection (tests, tools): prepared, taken and committed, then answered.
pub fn handle(
    conn: &mut Connection,
    user: &User,
    device: &Device,
    request: SyncRequest,
    now: i64,
) -> Result<(SyncResponse, Stats), PushError> {
    let prepared = prepare(conn, user, device, &request, now)?;
    let job = Job { user, device, request: &request, prepared: Some(&prepared), now };
    let (taken, stats) = handle_batch(conn, &[job]).pop().expect("one answer per job")?;
    answer(conn, user, &device.id, &request, taken, stats)
}

/// What the pushes of one request came to, worked out on a reader connection before the writer
/// takes the request: the expensive part (parse, load, merge, policy) off the writer lock.
#[derive(Debug, Default)]
pub struct PreparedRequest {
    pushes: Vec<Prepared>,
}

/// One push, prepared.
#[derive(Debug)]
enum Prepared {
    Ready(customers::Prepared),
    /// Refused already: the answer is known without the writer.
    Refused(PushOutcome),
}

/// Prepares every push of a request against the documents as they are now. A request over its
/// allowance of changes or operations fails whole.
pub fn prepare(
    reader: &Connection,
    user: &User,
    device: &Device,
    request: &SyncRequest,
    now: i64,
) -> Result<PreparedRequest, PushError> {
    let writer = Writer { user, device_id: &device.id, actors: &device.actors };
    let actor = customers::server_actor(reader)?;
    let mut budget = Budget::default();
    let mut pushes = Vec::with_capacity(request.push.len());
    for DocChanges { customer_id, changes } in &request.push {
        let prepared =
            customers::prepare_push(reader, &user.branch_id, writer, customer_id, changes, &actor, &mut budget, now);
        match prepared {
            Err(PushError::TooLarge(limit @ (Limit::Changes | Limit::Operations))) => {
                return Err(PushError::TooLarge(limit));
            }
            Err(PushError::Store(e)) => return Err(PushError::Store(e)),
            Err(e) => pushes.push(Prepared::Refused(wire_outcome(e))),
            Ok(ready) => pushes.push(Prepared::Ready(ready)),
        }
    }
    Ok(PreparedRequest { pushes })
}

/// One sync request waiting in a batch, with its pushes prepared (or `None`: prepared under the
/// lock).
#[derive(Clone, Copy)]
pub struct Job<'a> {
    pub user: &'a User,
    pub device: &'a Device,
    pub request: &'a SyncRequest,
    pub prepared: Option<&'a PreparedRequest>,
    pub now: i64,
}

/// Group commit: what several devices sent is taken in one transaction (each request behind its own
/// savepoint, so one request's failure leaves the others) and made durable with one commit. One
/// fsync serves the whole batch. Returns each request's push, claim and reconciliation results;
/// the rest of the answer is read afterwards ([`answer`]), on any connection.
pub fn handle_batch(conn: &mut Connection, jobs: &[Job]) -> Vec<Result<(SyncResponse, Stats), PushError>> {
    let all_failed = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "a sync batch failed in the store");
        jobs.iter().map(|_| Err(PushError::Internal)).collect()
    };
    let mut tx = match conn.transaction() {
        Ok(tx) => tx,
        Err(e) => return all_failed(&e),
    };
    let mut taken = Vec::with_capacity(jobs.len());
    for job in jobs {
        let mut sp = match tx.savepoint() {
            Ok(sp) => sp,
            Err(e) => return all_failed(&e),
        };
        let result = take(&mut sp, job.user, job.device, job.request, job.prepared, job.now);
        // A savepoint dropped without commit rolls back: a failed request leaves nothing.
        if result.is_ok()
            && let Err(e) = sp.commit()
        {
            return all_failed(&e);
        }
        taken.push(result);
    }
    if let Err(e) = tx.commit() {
        return all_failed(&e);
    }
    taken
}

/// What the device sent: pushes, claims, reconciliation messages, inside the caller's transaction.
fn take(
    tx: &mut Savepoint,
    user: &User,
    device: &Device,
    request: &SyncRequest,
    prepared: Option<&PreparedRequest>,
    now: i64,
) -> Result<(SyncResponse, Stats), PushError> {
    let mut response = SyncResponse::default();
    let mut stats = Stats::default();
    if request.push.len() + request.claims.len() + request.fetch.len() + request.reconcile.len() > limits::MAX_ITEMS {
        return Err(PushError::TooLarge(Limit::Items));
    }
    let writer = Writer { user, device_id: &device.id, actors: &device.actors };

    let actor = customers::server_actor(tx)?;
    let mut budget = Budget::default();
    for (i, DocChanges { customer_id, changes }) in request.push.iter().enumerate() {
        let mut push = |c: &Connection| {
            customers::push(c, &user.branch_id, writer, customer_id, changes, &actor, &mut budget, now)
        };
        let outcome = match prepared.and_then(|p| p.pushes.get(i)) {
            Some(Prepared::Refused(outcome)) => Err(outcome.clone()),
            Some(Prepared::Ready(customers::Prepared::Known)) => {
                Ok(customers::Accepted { customer_id: customer_id.clone(), new_changes: 0 })
            }
            Some(Prepared::Ready(customers::Prepared::Ready(ready))) => in_savepoint(tx, |c| {
                match customers::commit_push(c, &user.branch_id, &device.id, ready)? {
                    Some(accepted) => Ok(accepted),
                    // The document moved since it was read: prepared again, here.
                    None => push(c),
                }
            })
            .map_err(PushError::Store)
            .and_then(settle)?,
            None => in_savepoint(tx, push).map_err(PushError::Store).and_then(settle)?,
        };
        stats.pushed += 1;
        let outcome = match outcome {
            Ok(accepted) => {
                stats.accepted_changes += accepted.new_changes;
                PushOutcome::Accepted { new_changes: accepted.new_changes as u32 }
            }
            Err(outcome) => {
                stats.refused += 1;
                outcome
            }
        };
        response.pushed.push(PushResult { customer_id: customer_id.clone(), outcome });
    }
    for claim in &request.claims {
        let result = in_savepoint(tx, |c| resolve_claim(c, user, claim, &actor, now))?;
        response.claims.push(result.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "a claim could not be resolved");
            ClaimResult { intent_id: claim.intent_id.clone(), accepted: false, reason: "internal".into() }
        }));
    }
    for message in &request.reconcile {
        reconcile(tx, user, writer, message, &actor, &mut budget, now, &mut response)?;
    }
    Ok((response, stats))
}

/// The answer to a committed request, read in one transaction so the cursor matches what was read.
pub fn answer(
    conn: &mut Connection,
    user: &User,
    device_id: &str,
    request: &SyncRequest,
    mut response: SyncResponse,
    mut stats: Stats,
) -> Result<(SyncResponse, Stats), PushError> {
    let tx = conn.transaction()?;
    let actor = customers::server_actor(&tx)?;
    let budget = (request.max_bytes as usize).clamp(MIN_BUDGET, MAX_BUDGET);
    let mut used = protocol::encoded_len(&response);
    let mut fetch: Vec<String> = request.fetch.iter().filter(|id| customers::valid_id(id)).cloned().collect();
    if request.cursor == 0 {
        let (listing, cursor) = list(&tx, user, request.today)?;
        used += listing.documents.iter().chain(&listing.pool).map(|id| id.len() + 1).sum::<usize>();
        fetch.extend(listing.documents.iter().cloned());
        response.listing = Some(listing);
        response.cursor = cursor;
    }
    for id in &fetch {
        if used >= budget && (!response.snapshots.is_empty() || !response.pool.is_empty()) {
            break;
        }
        used += serve(&tx, user, id, &actor, &mut response)?;
    }
    stats.snapshots = response.snapshots.len();
    if request.cursor != 0 {
        pull(&tx, user, device_id, request.cursor, budget.saturating_sub(used), &actor, &mut response)?;
    }
    tx.commit()?;
    stats.changes = response.changes.len();
    stats.purged = response.purge.len();
    Ok((response, stats))
}

/// Runs `f` behind a savepoint: rolled back when it fails (the transaction goes on).
fn in_savepoint<T>(
    tx: &mut Savepoint,
    f: impl FnOnce(&Connection) -> Result<T, PushError>,
) -> Result<Result<T, PushError>, crate::store::StoreError> {
    // Dropped without commit, a savepoint rolls back.
    let sp = tx.savepoint()?;
    match f(&sp) {
        Ok(v) => {
            sp.commit()?;
            Ok(Ok(v))
        }
        Err(PushError::Store(e)) => Err(e),
        Err(e) => Ok(Err(e)),
    }
}

/// A push's result as the device hears it, or the whole request's failure.
fn settle(r: Result<customers::Accepted, PushError>) -> Result<Result<customers::Accepted, PushOutcome>, PushError> {
    match r {
        Ok(accepted) => Ok(Ok(accepted)),
        Err(e) => as_outcome(e).map(Err),
    }
}

/// A push's failure: the whole request's when it is over its allowance (or the store failed),
/// else that document's answer.
fn as_outcome(e: PushError) -> Result<PushOutcome, PushError> {
    match e {
        PushError::TooLarge(limit @ (Limit::Changes | Limit::Operations)) => Err(PushError::TooLarge(limit)),
        PushError::Store(e) => Err(PushError::Store(e)),
        other => Ok(wire_outcome(other)),
    }
}

fn wire_outcome(e: PushError) -> PushOutcome {
    match e {
        PushError::Corrupt => PushOutcome::Corrupt,
        PushError::MissingHistory => PushOutcome::MissingHistory,
        PushError::NotFound => PushOutcome::NotFound,
        PushError::Refused(r) => PushOutcome::Refused(WireRefusal {
            code: r.code().to_string(),
            message_zh: r.message_zh(),
            message_en: r.message_en(),
        }),
        PushError::TooLarge(limit) => PushOutcome::Refused(WireRefusal {
            code: limit.code().into(),
            message_zh: limit.message_zh().into(),
            message_en: limit.message_en().into(),
        }),
        PushError::Action(_) | PushError::Store(_) | PushError::Internal => {
            tracing::warn!(error = %e, "a push failed");
            PushOutcome::Refused(WireRefusal {
                code: "invalid".into(),
                message_zh: "变更无法应用".into(),
                message_en: "the changes could not be applied".into(),
            })
        }
    }
}

/// A claim on a pool customer: the first valid claim wins; a repeated claim gets the same answer.
fn resolve_claim(
    tx: &Connection,
    user: &User,
    claim: &protocol::Claim,
    actor: &ActorId,
    now: i64,
) -> Result<ClaimResult, PushError> {
    let result = |accepted: bool, reason: &str| ClaimResult {
        intent_id: claim.intent_id.clone(),
        accepted,
        reason: reason.to_string(),
    };
    if user.role != Role::Manager {
        return Ok(result(false, "只有客户经理可以领取 / only managers claim customers"));
    }
    if !customers::valid_id(&claim.customer_id) || !customers::valid_id(&claim.intent_id) {
        return Ok(result(false, "不在公海中 / not in the pool"));
    }
    let Some(meta) = customers::meta(tx, &claim.customer_id)?.filter(|m| m.branch_id == user.branch_id) else {
        return Ok(result(false, "不在公海中 / not in the pool"));
    };
    let Some(mut doc) = customers::load(tx, &claim.customer_id, actor)? else {
        return Ok(result(false, "不在公海中 / not in the pool"));
    };
    if let Some(outcome) = doc.file().server.intent_outcomes.get(&claim.intent_id) {
        return Ok(result(outcome.accepted, &outcome.reason));
    }
    if meta.scope != Scope::Pool {
        return Ok(result(false, "已被领取或不在公海中 / already taken or not in the pool"));
    }
    let intent_id = claim.intent_id.clone();
    customers::apply_server_action(
        tx,
        &user.branch_id,
        &mut doc,
        &Action::RequestClaim { intent_id: intent_id.clone() },
        &user.id,
        now,
    )?;
    let outcome = IntentOutcome { accepted: true, reason: String::new(), at: now };
    customers::apply_server_action(
        tx,
        &user.branch_id,
        &mut doc,
        &Action::ResolveIntent { intent_id, outcome },
        &user.id,
        now,
    )?;
    let owner = Owner { manager_id: Some(user.id.clone()), manager_name: Some(user.display_name.clone()) };
    customers::apply_server_action(tx, &user.branch_id, &mut doc, &Action::AssignOwner { owner }, &user.id, now)?;
    customers::save_state(tx, &user.branch_id, &doc, Some(&meta.scope), customers::Fold::WhenLong)?;
    Ok(result(true, ""))
}

/// One round of automerge's sync protocol for a document the device and server disagree about.
/// Changes the device sends this way are validated like a push.
#[allow(clippy::too_many_arguments)]
fn reconcile(
    tx: &mut Savepoint,
    user: &User,
    writer: Writer,
    message: &SyncMessage,
    actor: &ActorId,
    budget: &mut Budget,
    now: i64,
    response: &mut SyncResponse,
) -> Result<(), PushError> {
    let id = &message.customer_id;
    let visible = customers::valid_id(id) && customers::meta(tx, id)?.is_some_and(|m| m.view(user) == View::Full);
    let Some(doc) = visible.then(|| customers::load(tx, id, actor)).transpose()?.flatten() else {
        response.gone.push(id.clone());
        return Ok(());
    };
    let mut state = automerge::sync::State::new();
    let Ok(incoming) = doc.receive_sync_message(&mut state, &message.message) else {
        response.pushed.push(PushResult { customer_id: id.clone(), outcome: PushOutcome::Corrupt });
        return Ok(());
    };
    if !incoming.is_empty() {
        let pushed =
            in_savepoint(tx, |c| customers::push(c, &user.branch_id, writer, id, &incoming, actor, budget, now))?;
        if let Err(e) = pushed {
            if let PushError::TooLarge(limit @ (Limit::Changes | Limit::Operations)) = e {
                return Err(PushError::TooLarge(limit));
            }
            let outcome = wire_outcome(e);
            if outcome != PushOutcome::MissingHistory {
                response.pushed.push(PushResult { customer_id: id.clone(), outcome });
                return Ok(());
            }
        }
    }
    let mut doc = customers::load(tx, id, actor)?.ok_or(PushError::NotFound)?;
    match doc.sync_message(&mut state) {
        Ok(Some(reply)) => response.reconcile.push(SyncMessage { customer_id: id.clone(), message: reply }),
        Ok(None) => {}
        // What the device said cannot be answered (automerge would panic on it): that document's
        // answer, not the request's.
        Err(_) => response.pushed.push(PushResult { customer_id: id.clone(), outcome: PushOutcome::Corrupt }),
    }
    Ok(())
}

/// A new device's scope in the order to fetch it (today's planned customers, their villages, the
/// rest by village), and the cursor it is current as of.
fn list(tx: &Connection, user: &User, today: Option<(i64, i64)>) -> rusqlite::Result<(Listing, u64)> {
    let cursor = customers::head(tx)?;
    let (start, end) = today.unwrap_or((0, 0));
    let full = sql_visible(user.role, View::Full, "d", "?2", "?1");
    let sql = format!(
        "WITH today AS (SELECT p.customer_id, d2.village FROM planned p JOIN documents d2 USING (customer_id)
                        WHERE p.manager_id = ?2 AND p.planned_at >= ?3 AND p.planned_at < ?4)
         SELECT d.customer_id FROM documents d
         WHERE d.branch_id = ?1 AND {full}
         ORDER BY d.customer_id IN (SELECT customer_id FROM today) DESC,
                  d.village IN (SELECT village FROM today) DESC, d.village, d.customer_id"
    );
    let mut stmt = tx.prepare(&sql)?;
    let documents =
        stmt.query_map(params![user.branch_id, user.id, start, end], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    // Pool entries: what the user sees masked and not whole.
    let masked = sql_visible(user.role, View::Masked, "d", "?2", "?1");
    let mut stmt = tx.prepare(&format!(
        "SELECT customer_id FROM documents d WHERE d.branch_id = ?1 AND {masked} AND NOT {full}
         ORDER BY village, customer_id"
    ))?;
    let pool = stmt.query_map(params![user.branch_id, user.id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    Ok((Listing { documents, pool }, cursor.max(1) as u64))
}

/// Adds one customer, as the user may see it, to the response; returns the bytes added.
fn serve(
    tx: &Connection,
    user: &User,
    id: &str,
    actor: &ActorId,
    response: &mut SyncResponse,
) -> Result<usize, PushError> {
    match customers::meta(tx, id)?.map_or(View::None, |m| m.view(user)) {
        View::Full => match customers::snapshot(tx, id, actor)? {
            Some((document, rows)) => {
                let snapshot = Snapshot { customer_id: id.to_string(), document, rows };
                let size = protocol::encoded_len(&snapshot);
                response.snapshots.push(snapshot);
                Ok(size)
            }
            None => {
                response.gone.push(id.to_string());
                Ok(id.len())
            }
        },
        View::Masked => match customers::pool_entry_of(tx, id)? {
            Some(entry) => {
                let size = protocol::encoded_len(&entry);
                response.pool.push(entry);
                Ok(size)
            }
            None => Ok(0),
        },
        View::None => {
            response.gone.push(id.to_string());
            Ok(id.len() + 1)
        }
    }
}

/// What a device gets for one customer in a page of the log.
enum Decision {
    Changes(usize),
    Served,
    Purged,
    Skip,
}

/// The log after `since`, as this user may see it, up to `budget` bytes.
fn pull(
    tx: &Connection,
    user: &User,
    device_id: &str,
    since: u64,
    budget: usize,
    actor: &ActorId,
    response: &mut SyncResponse,
) -> Result<(), PushError> {
    let since = i64::try_from(since).unwrap_or(i64::MAX);
    let head = customers::head(tx)?;
    response.cursor = head.max(since) as u64;
    let mut used = 0usize;
    let mut decided: HashMap<String, Decision> = HashMap::new();
    // Changes of customers the user cannot see now are not read at all (their bytes stay on disk);
    // scope moves are always looked at, since they may purge.
    let visible = format!("({} OR l.hash IS NULL)", sql_visible(user.role, View::Masked, "d", "?4", "?1"));
    // CROSS JOIN keeps SQLite reading the log from the cursor on, rather than every document of
    // the branch (the visibility condition also names the documents' branch).
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT l.seq, l.customer_id, l.bytes, l.device_id, l.from_scope, l.to_scope, d.scope
         FROM log l CROSS JOIN documents d ON d.customer_id = l.customer_id
         WHERE l.branch_id = ?1 AND l.seq > ?2 AND l.seq <= ?3 AND {visible} ORDER BY l.seq"
    ))?;
    let mut rows = stmt.query(params![user.branch_id, since, head, user.id])?;
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let customer_id: String = row.get(1)?;
        let bytes: Option<Vec<u8>> = row.get(2)?;
        let from_device: Option<String> = row.get(3)?;
        let from_scope: Option<String> = row.get(4)?;
        let scope_now: String = row.get(6)?;
        if used >= budget && used > 0 {
            response.cursor = (seq - 1) as u64;
            response.more = true;
            break;
        }
        let decision = match decided.get(&customer_id) {
            Some(d) => d,
            None => {
                let d = match Scope::from_stored(&scope_now).view(user, &user.branch_id) {
                    View::Full if entered_full_since(tx, user, &customer_id, since)? => {
                        used += serve(tx, user, &customer_id, actor, response)?;
                        Decision::Served
                    }
                    View::Full => {
                        response.changes.push(DocChanges { customer_id: customer_id.clone(), changes: Vec::new() });
                        Decision::Changes(response.changes.len() - 1)
                    }
                    View::Masked => {
                        used += serve(tx, user, &customer_id, actor, response)?;
                        Decision::Served
                    }
                    View::None => match &from_scope {
                        Some(from) if Scope::from_stored(from).view(user, &user.branch_id) != View::None => {
                            response.purge.push(customer_id.clone());
                            used += customer_id.len() + 1;
                            Decision::Purged
                        }
                        _ => Decision::Skip,
                    },
                };
                if matches!(d, Decision::Skip) {
                    continue;
                }
                decided.entry(customer_id.clone()).or_insert(d)
            }
        };
        if let (Decision::Changes(i), Some(bytes)) = (decision, bytes)
            && from_device.as_deref() != Some(device_id)
        {
            used += bytes.len();
            response.changes[*i].changes.extend_from_slice(&bytes);
        }
    }
    response.changes.retain(|c| !c.changes.is_empty());
    Ok(())
}

/// Whether the customer came into the user's full view after `since` (reassigned to them, out of
/// the pool, reopened): the device may lack its history, so it gets the document whole.
fn entered_full_since(tx: &Connection, user: &User, customer_id: &str, since: i64) -> rusqlite::Result<bool> {
    let mut stmt =
        tx.prepare_cached("SELECT from_scope, to_scope FROM log WHERE customer_id = ?1 AND seq > ?2 AND hash IS NULL")?;
    let mut rows = stmt.query(params![customer_id, since])?;
    while let Some(row) = rows.next()? {
        let (from, to): (String, String) = (row.get(0)?, row.get(1)?);
        let view = |scope: &str| Scope::from_stored(scope).view(user, &user.branch_id);
        if view(&to) == View::Full && view(&from) != View::Full {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AppError;
    use fieldsync_core::sync::protocol::Claim;

    fn claims(ids: impl Iterator<Item = String>) -> Vec<u8> {
        let claims = ids.map(|id| Claim { intent_id: format!("i-{id}"), customer_id: id, at: 0 }).collect();
        protocol::encode(&SyncRequest { cursor: 1, claims, ..Default::default() })
    }

    #[test]
    fn claims_are_bounded_and_never_repeated_in_one_request() {
        let many = claims((0..=limits::MAX_CLAIMS).map(|i| format!("c{i}")));
        assert!(matches!(decode_request(&many), Err(AppError::TooLarge(Limit::Items))));
        let twice = claims(["c1".to_string(), "c1".to_string()].into_iter());
        assert!(matches!(decode_request(&twice), Err(AppError::BadFrame(_))));
        let fine = claims((0..limits::MAX_CLAIMS).map(|i| format!("c{i}")));
        assert_eq!(decode_request(&fine).unwrap().claims.len(), limits::MAX_CLAIMS);
    }

    #[test]
    fn a_request_that_would_inflate_past_the_limit_is_refused_before_inflating() {
        let bomb = {
            let mut frame = b"FSY".to_vec();
            frame.push(protocol::VERSION);
            frame.push(1);
            frame.extend(zstd::bulk::compress(&vec![0u8; limits::MAX_INFLATED + 1], 1).unwrap());
            frame
        };
        assert!(matches!(decode_request(&bomb), Err(AppError::TooLarge(Limit::Inflated))));
    }
}
