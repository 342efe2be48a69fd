//! One sync round trip on the server: prepare what the device pushed on a reader (parse, load,
//! merge, policy), take it (pushes, pool claims, automerge sync messages) in the writer's
//! transaction, where a refused document writes nothing and does not block the rest; then answer
//! with what the device's scope gained since its cursor, within the device's byte budget. The
//! runtime ([`crate::store::Db::sync`]) says which transaction each step runs in.

use std::collections::{HashMap, HashSet};

use automerge::ActorId;
use fieldsync_core::domain::{Action, IntentOutcome, Owner};
use fieldsync_core::sync::protocol::{
    self, ClaimResult, DocChanges, Listing, PushOutcome, PushResult, Refusal as WireRefusal, Snapshot, SyncMessage,
    SyncRequest, SyncResponse,
};

use crate::accounts::{Device, Role, User};
use crate::customers::{self, PushError, Writer};
use crate::limits::{self, Limit};
use crate::policy::{Scope, View};
use crate::store::Store;
use crate::store::documents::LogEntry;

const MIN_BUDGET: usize = 16 * 1024;
const MAX_BUDGET: usize = 8 * 1024 * 1024;

/// A decoded sync request, with each push's changes parsed once: `None` where they do not parse
/// (that document's problem, answered in its push result).
#[derive(Debug, Default)]
pub struct Decoded {
    pub request: SyncRequest,
    pub changes: Vec<Option<Vec<automerge::Change>>>,
}

/// Whether a request has anything for the writer (pushes, claims, reconciliation messages).
pub fn writes(request: &SyncRequest) -> bool {
    !request.push.is_empty() || !request.claims.is_empty() || !request.reconcile.is_empty()
}

impl From<SyncRequest> for Decoded {
    /// Parses the pushes of a request built in process (tests, tools), without the checks of
    /// [`decode_request`].
    fn from(request: SyncRequest) -> Decoded {
        let changes = request.push.iter().map(|p| fieldsync_core::document::parse_changes(&p.changes).ok()).collect();
        Decoded { request, changes }
    }
}

impl From<&SyncRequest> for Decoded {
    fn from(request: &SyncRequest) -> Decoded {
        Decoded::from(request.clone())
    }
}

/// Decodes a sync request body and checks what can be checked before any document is touched:
/// the inflated size, the number of items, no customer pushed twice, and the number of changes
/// and operations across the request (repeats count).
pub fn decode_request(body: &[u8]) -> Result<Decoded, crate::error::AppError> {
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
    let mut changes = Vec::with_capacity(request.push.len());
    for push in &request.push {
        let parsed = fieldsync_core::document::parse_changes(&push.changes).ok();
        if let Some(parsed) = &parsed {
            budget.spend(parsed).map_err(AppError::TooLarge)?;
        }
        changes.push(parsed);
    }
    Ok(Decoded { request, changes })
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
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub pushed: usize,
    pub accepted_changes: usize,
    pub refused: usize,
    pub snapshots: usize,
    pub changes: usize,
    pub purged: usize,
    /// Pushes committed as they were prepared: (their index in the request, the document's new
    /// version). Once the transaction commits, the runtime keeps those documents in its cache.
    pub committed: Vec<(usize, i64)>,
    /// Whether the writer took the request (and noted the device's sync in its transaction).
    pub taken: bool,
}

/// What the pushes of one request came to, worked out on a reader connection before the writer
/// takes the request: the expensive part (parse, load, merge, policy) off the writer lock.
#[derive(Debug, Default)]
pub struct PreparedRequest {
    pushes: Vec<Prepared>,
}

impl PreparedRequest {
    /// The documents of the pushes in `committed` (see [`Stats::committed`]), at their new
    /// versions.
    pub fn into_documents(
        self,
        committed: &[(usize, i64)],
    ) -> impl Iterator<Item = (String, i64, fieldsync_core::document::CustomerDoc)> {
        let mut pushes: Vec<Option<Prepared>> = self.pushes.into_iter().map(Some).collect();
        committed.iter().filter_map(move |&(i, version)| match pushes.get_mut(i)?.take()? {
            Prepared::Ready(customers::Prepared::Ready(ready)) => Some((ready.customer_id, version, ready.doc)),
            _ => None,
        })
    }
}

/// One push, prepared.
#[derive(Debug)]
enum Prepared {
    Ready(customers::Prepared),
    /// Refused already: the answer is known without the writer.
    Refused(PushOutcome),
}

/// Prepares every push of a request against the documents as they are now, from the changes
/// [`decode_request`] parsed (`changes`, one entry per push). A request over its allowance of
/// changes or operations fails whole.
pub fn prepare(
    reader: &dyn Store,
    cache: Option<&crate::doc_cache::DocCache>,
    user: &User,
    device: &Device,
    request: &SyncRequest,
    changes: Vec<Option<Vec<automerge::Change>>>,
    now: i64,
) -> Result<PreparedRequest, PushError> {
    let writer =
        Writer { user, device_id: &device.id, actors: &device.actors, clock_offset_ms: device.clock_offset_ms };
    let actor = reader.server_actor()?;
    let mut budget = Budget::default();
    let mut pushes = Vec::with_capacity(request.push.len());
    let mut parsed = changes.into_iter();
    for DocChanges { customer_id, .. } in &request.push {
        let prepared = match parsed.next().flatten() {
            Some(changes) => customers::prepare_push(
                reader,
                cache,
                &user.branch_id,
                writer,
                customer_id,
                changes,
                &actor,
                &mut budget,
                now,
            ),
            None => Err(PushError::Corrupt),
        };
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

/// A round trip's first step, on a reader of either store: the body decoded, and its pushes
/// prepared when it writes (`None`: it only reads).
pub fn decode_and_prepare(
    store: &dyn Store,
    docs: &crate::doc_cache::DocCache,
    user: &User,
    device: &Device,
    body: &[u8],
    now: i64,
) -> Result<(std::sync::Arc<SyncRequest>, Option<PreparedRequest>), crate::error::AppError> {
    let Decoded { request, changes } = decode_request(body)?;
    let prepared =
        if writes(&request) { Some(prepare(store, Some(docs), user, device, &request, changes, now)?) } else { None };
    Ok((std::sync::Arc::new(request), prepared))
}

/// A round trip's last step, on a reader of either store: the answer read and encoded.
pub fn answer_frame(
    store: &dyn Store,
    user: &User,
    device_id: &str,
    request: &SyncRequest,
    taken: SyncResponse,
    stats: Stats,
) -> Result<(Vec<u8>, Stats), crate::error::AppError> {
    let (response, stats) = answer(store, user, device_id, request, taken, stats)?;
    Ok((protocol::encode_at(&response, protocol::SERVER_LEVEL), stats))
}

/// What the device sent: pushes (prepared already, or `None`: prepared here), claims and
/// reconciliation messages, in the writer's transaction. A refused document writes nothing; an
/// error of the store fails the request (the runtime rolls its writes back).
pub fn take(
    store: &dyn Store,
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
    let writer =
        Writer { user, device_id: &device.id, actors: &device.actors, clock_offset_ms: device.clock_offset_ms };

    let actor = store.server_actor()?;
    let mut budget = Budget::default();
    for (i, DocChanges { customer_id, changes }) in request.push.iter().enumerate() {
        let mut push =
            || customers::push(store, &user.branch_id, writer, customer_id, changes, &actor, &mut budget, now);
        let outcome = match prepared.and_then(|p| p.pushes.get(i)) {
            Some(Prepared::Refused(outcome)) => Err(outcome.clone()),
            Some(Prepared::Ready(customers::Prepared::Known)) => {
                Ok(customers::Accepted { customer_id: customer_id.clone(), new_changes: 0, version: None })
            }
            Some(Prepared::Ready(customers::Prepared::Ready(ready))) => {
                let committed = match customers::commit_push(store, &user.branch_id, writer.arrival(now), ready) {
                    Ok(Some(accepted)) => {
                        stats.committed.extend(accepted.version.map(|v| (i, v)));
                        Ok(accepted)
                    }
                    // The document moved since it was read: prepared again, here.
                    Ok(None) => push(),
                    Err(e) => Err(e),
                };
                settle(committed)?
            }
            None => settle(push())?,
        };
        stats.pushed += 1;
        let outcome = match outcome {
            Ok(accepted) => {
                stats.accepted_changes += accepted.new_changes;
                PushOutcome::Accepted { new_changes: accepted.new_changes as u32 }
            }
            Err(outcome) => {
                stats.refused += 1;
                let reason = match &outcome {
                    PushOutcome::Refused(r) => r.code.clone(),
                    PushOutcome::MissingHistory => "missing_history".into(),
                    PushOutcome::NotFound => "not_found".into(),
                    PushOutcome::Corrupt => "corrupt".into(),
                    PushOutcome::Accepted { .. } => "accepted".into(),
                };
                metrics::counter!(crate::metrics::REFUSED, "reason" => reason).increment(1);
                outcome
            }
        };
        response.pushed.push(PushResult { customer_id: customer_id.clone(), outcome });
    }
    for claim in &request.claims {
        let result = match resolve_claim(store, user, claim, &actor, now) {
            Err(PushError::Store(e)) => return Err(PushError::Store(e)),
            other => other,
        };
        response.claims.push(result.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "a claim could not be resolved");
            ClaimResult { intent_id: claim.intent_id.clone(), accepted: false, reason: "internal".into() }
        }));
    }
    for message in &request.reconcile {
        reconcile(store, user, writer, message, &actor, &mut budget, now, &mut response)?;
    }
    store.note_device_sync(&device.id, now, device.app_version.as_deref().unwrap_or(""), stats.refused as i64)?;
    stats.taken = true;
    Ok((response, stats))
}

/// The answer to a committed request, read in the caller's (read) transaction, so the cursor
/// matches what was read.
pub fn answer(
    store: &dyn Store,
    user: &User,
    device_id: &str,
    request: &SyncRequest,
    response: SyncResponse,
    stats: Stats,
) -> Result<(SyncResponse, Stats), PushError> {
    answer_reaching(store, user, device_id, request, response, stats, Reach::All)?.ok_or(PushError::Internal)
}

/// [`answer`], if it is small: a pull of at most [`SMALL_ROWS`] log rows and [`SMALL_BYTES`] of
/// changes, with no whole document and no listing to send. The commit thread answers such requests
/// itself right after its commit, where the pages it just wrote are still in its cache (a reader's
/// cache starts cold after every commit); `None` leaves the answer to a reader.
pub fn answer_small(
    store: &dyn Store,
    user: &User,
    device_id: &str,
    request: &SyncRequest,
    response: SyncResponse,
    stats: Stats,
) -> Result<Option<(SyncResponse, Stats)>, PushError> {
    answer_reaching(store, user, device_id, request, response, stats, Reach::Small)
}

/// Log rows a small answer reads at most (see [`answer_small`]).
pub const SMALL_ROWS: usize = 64;
/// Bytes of changes a small answer carries at most.
pub const SMALL_BYTES: usize = 64 * 1024;

/// How far an answer may read: everything the request asks for, or only a small pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    All,
    Small,
}

/// The answer, or `None` when `reach` is [`Reach::Small`] and the answer is not.
fn answer_reaching(
    store: &dyn Store,
    user: &User,
    device_id: &str,
    request: &SyncRequest,
    mut response: SyncResponse,
    mut stats: Stats,
    reach: Reach,
) -> Result<Option<(SyncResponse, Stats)>, PushError> {
    // A device that last synced with another epoch of this store (restored from a backup since),
    // or whose cursor is past the log's head, saw history this store does not hold. It is listed
    // everything again, like a new device (what it holds is merged, nothing of it deleted), and
    // its cursor comes back to the head: otherwise the changes written from now on under the
    // numbers it already passed would never reach it.
    let head = store.log_head()?;
    let epoch = store.store_epoch()?;
    response.epoch = epoch;
    let relist = request.cursor == 0
        || (request.epoch != 0 && request.epoch != epoch)
        || i64::try_from(request.cursor).map_or(true, |c| c > head);
    if reach == Reach::Small && (relist || !request.fetch.is_empty()) {
        return Ok(None);
    }
    // The branch's settings, when the device's are older: two rows read when they are not.
    if request.settings_version < crate::catalog::settings_version(store, &user.branch_id)? {
        response.settings = Some(crate::catalog::settings(store, &user.branch_id)?);
    }
    let actor = store.server_actor()?;
    let budget = (request.max_bytes as usize).clamp(MIN_BUDGET, MAX_BUDGET);
    let mut used = protocol::encoded_len(&response);
    let mut fetch: Vec<String> = request.fetch.iter().filter(|id| customers::valid_id(id)).cloned().collect();
    if relist {
        if request.cursor != 0 {
            tracing::warn!(device = %device_id, cursor = request.cursor, "a device is past the log's head (a restored store): listed again");
        }
        let cursor = head;
        let visible = store.listing(user, request.today.unwrap_or((0, 0)))?;
        let listing = Listing { documents: visible.documents, pool: visible.pool };
        used += listing.documents.iter().chain(&listing.pool).map(|id| id.len() + 1).sum::<usize>();
        fetch.extend(listing.documents.iter().cloned());
        response.listing = Some(listing);
        response.cursor = cursor.max(1) as u64;
    }
    for id in &fetch {
        if used >= budget && (!response.snapshots.is_empty() || !response.pool.is_empty()) {
            break;
        }
        used += serve(store, user, id, &actor, &mut response)?;
    }
    stats.snapshots = response.snapshots.len();
    if !relist
        && !pull(
            store,
            user,
            device_id,
            (request.cursor, head),
            budget.saturating_sub(used),
            &actor,
            reach,
            &mut response,
        )?
    {
        return Ok(None);
    }
    stats.changes = response.changes.len();
    stats.purged = response.purge.len();
    // A manager's month, with the last page of a session (a few indexed counts).
    if user.role == Role::Manager && !response.more {
        response.progress = crate::targets::progress(store, user, crate::routes::now_ms())?;
    }
    Ok(Some((response, stats)))
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
/// Every decision is made before anything is written.
fn resolve_claim(
    store: &dyn Store,
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
    let Some(meta) = store.document(&claim.customer_id)?.filter(|m| m.branch_id == user.branch_id) else {
        return Ok(result(false, "不在公海中 / not in the pool"));
    };
    let Some(mut doc) = customers::load(store, &claim.customer_id, actor)? else {
        return Ok(result(false, "不在公海中 / not in the pool"));
    };
    if let Some(outcome) = doc.file().server.intent_outcomes.get(&claim.intent_id) {
        return Ok(result(outcome.accepted, &outcome.reason));
    }
    if meta.scope != Scope::Pool {
        return Ok(result(false, "已被领取或不在公海中 / already taken or not in the pool"));
    }
    if let Err(refusal) = crate::pool::check_claim(store, user, &claim.customer_id, now)? {
        return Ok(result(false, &refusal.reason()));
    }
    let intent_id = claim.intent_id.clone();
    let outcome = IntentOutcome { accepted: true, reason: String::new(), at: now };
    let owner = Owner { manager_id: Some(user.id.clone()), manager_name: Some(user.display_name.clone()) };
    let mut changes = Vec::new();
    for action in [
        Action::RequestClaim { intent_id: intent_id.clone() },
        Action::ResolveIntent { intent_id, outcome },
        Action::AssignOwner { owner, reason: fieldsync_core::domain::OwnerChangeReason::Claimed },
    ] {
        changes.extend(customers::server_change(&mut doc, &action, &user.id, now)?);
    }
    customers::commit_server_changes(store, &user.branch_id, &doc, &meta.scope, &changes)?;
    Ok(result(true, ""))
}

/// One round of automerge's sync protocol for a document the device and server disagree about.
/// Changes the device sends this way are validated like a push.
#[allow(clippy::too_many_arguments)]
fn reconcile(
    store: &dyn Store,
    user: &User,
    writer: Writer,
    message: &SyncMessage,
    actor: &ActorId,
    budget: &mut Budget,
    now: i64,
    response: &mut SyncResponse,
) -> Result<(), PushError> {
    let id = &message.customer_id;
    let visible = customers::valid_id(id) && store.document(id)?.is_some_and(|m| m.view(user) == View::Full);
    let Some(doc) = visible.then(|| customers::load(store, id, actor)).transpose()?.flatten() else {
        response.gone.push(id.clone());
        return Ok(());
    };
    let mut state = automerge::sync::State::new();
    let Ok(incoming) = doc.receive_sync_message(&mut state, &message.message) else {
        response.pushed.push(PushResult { customer_id: id.clone(), outcome: PushOutcome::Corrupt });
        return Ok(());
    };
    if !incoming.is_empty()
        && let Some(outcome) = take_offered(store, user, writer, id, &incoming, actor, budget, now)?
    {
        response.pushed.push(PushResult { customer_id: id.clone(), outcome });
        return Ok(());
    }
    let mut doc = customers::load(store, id, actor)?.ok_or(PushError::NotFound)?;
    match doc.sync_message(&mut state) {
        Ok(Some(reply)) => response.reconcile.push(SyncMessage { customer_id: id.clone(), message: reply }),
        Ok(None) => {}
        // What the device said cannot be answered (automerge would panic on it): that document's
        // answer, not the request's.
        Err(_) => response.pushed.push(PushResult { customer_id: id.clone(), outcome: PushOutcome::Corrupt }),
    }
    Ok(())
}

/// Takes the changes a device offered through reconciliation, validated like a push; `Some` is
/// the document's answer when they are not all taken. Offered changes the store lacks that were
/// made elsewhere (the store was restored from a backup and lost them) cannot be taken from this
/// device: its own changes that do not depend on them are, and the rest is refused as
/// [`crate::policy::Refusal::LostHistory`], so the device sets them aside instead of offering them forever.
#[allow(clippy::too_many_arguments)]
fn take_offered(
    store: &dyn Store,
    user: &User,
    writer: Writer,
    id: &str,
    incoming: &[u8],
    actor: &ActorId,
    budget: &mut Budget,
    now: i64,
) -> Result<Option<PushOutcome>, PushError> {
    let Ok(changes) = fieldsync_core::document::parse_changes(incoming) else { return Ok(Some(PushOutcome::Corrupt)) };
    let mut unknown = Vec::with_capacity(changes.len());
    for change in changes {
        if !store.has_change(id, &change.hash())? {
            unknown.push(change);
        }
    }
    let foreign = unknown.iter().any(|c| !writer.actors.contains(c.actor_id()));
    if !foreign {
        return match settle(customers::push(store, &user.branch_id, writer, id, incoming, actor, budget, now))? {
            Err(outcome) if outcome != PushOutcome::MissingHistory => Ok(Some(outcome)),
            _ => Ok(None),
        };
    }
    // The device's own changes whose dependencies the store holds or that come with them.
    let mut taken: Vec<automerge::Change> = Vec::new();
    let mut held: HashSet<automerge::ChangeHash> = HashSet::new();
    let mut own: Vec<automerge::Change> =
        unknown.into_iter().filter(|c| writer.actors.contains(c.actor_id())).collect();
    loop {
        let mut progressed = false;
        let mut rest = Vec::with_capacity(own.len());
        for change in own {
            let mut ready = true;
            for dep in change.deps() {
                if !held.contains(dep) && !store.has_change(id, dep)? {
                    ready = false;
                    break;
                }
            }
            if ready {
                held.insert(change.hash());
                taken.push(change);
                progressed = true;
            } else {
                rest.push(change);
            }
        }
        own = rest;
        if !progressed || own.is_empty() {
            break;
        }
    }
    if !taken.is_empty() {
        let bytes: Vec<u8> = taken.iter_mut().flat_map(|c| c.raw_bytes().to_vec()).collect();
        if let Err(outcome) = settle(customers::push(store, &user.branch_id, writer, id, &bytes, actor, budget, now))? {
            return Ok(Some(outcome));
        }
    }
    Ok(Some(wire_outcome(PushError::Refused(crate::policy::Refusal::LostHistory))))
}

/// Adds one customer, as the user may see it, to the response; returns the bytes added.
fn serve(
    store: &dyn Store,
    user: &User,
    id: &str,
    actor: &ActorId,
    response: &mut SyncResponse,
) -> Result<usize, PushError> {
    match store.document(id)?.map_or(View::None, |m| m.view(user)) {
        View::Full => match customers::snapshot(store, id, actor)? {
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
        View::Masked => match store.pool_entry(id)? {
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
}

/// The log after `since`, as this user may see it, up to `budget` bytes; `head` is the log's head
/// as the caller read it in the same transaction. `false` when `reach` is [`Reach::Small`] and
/// the pull is not small (the response is then to be thrown away).
#[allow(clippy::too_many_arguments)]
fn pull(
    store: &dyn Store,
    user: &User,
    device_id: &str,
    (since, head): (u64, i64),
    budget: usize,
    actor: &ActorId,
    reach: Reach,
    response: &mut SyncResponse,
) -> Result<bool, PushError> {
    let since = i64::try_from(since).unwrap_or(i64::MAX);
    response.cursor = head.max(since) as u64;
    let mut used = 0usize;
    let (mut rows, mut small) = (0usize, true);
    let mut decided: HashMap<String, Option<Decision>> = HashMap::new();
    let mut failure = None;
    let mut step = |entry: LogEntry| -> Result<bool, PushError> {
        rows += 1;
        if reach == Reach::Small && (rows > SMALL_ROWS || used > SMALL_BYTES) {
            small = false;
            return Ok(false);
        }
        if used >= budget && used > 0 {
            response.cursor = (entry.seq - 1) as u64;
            response.more = true;
            return Ok(false);
        }
        if !decided.contains_key(&entry.customer_id) {
            let decision = match entry.scope_now.view(user, &user.branch_id) {
                View::Full if entered_full_since(store, user, &entry.customer_id, since)? => {
                    if reach == Reach::Small {
                        small = false;
                        return Ok(false);
                    }
                    used += serve(store, user, &entry.customer_id, actor, response)?;
                    Some(Decision::Served)
                }
                View::Full => {
                    response.changes.push(DocChanges { customer_id: entry.customer_id.clone(), changes: Vec::new() });
                    Some(Decision::Changes(response.changes.len() - 1))
                }
                View::Masked => {
                    used += serve(store, user, &entry.customer_id, actor, response)?;
                    Some(Decision::Served)
                }
                View::None => match &entry.from_scope {
                    Some(from) if from.view(user, &user.branch_id) != View::None => {
                        response.purge.push(entry.customer_id.clone());
                        used += entry.customer_id.len() + 1;
                        Some(Decision::Purged)
                    }
                    // Nothing for this user, yet: a later move may still purge it.
                    _ => None,
                },
            };
            if decision.is_none() {
                return Ok(true);
            }
            decided.insert(entry.customer_id.clone(), decision);
        }
        if let (Some(Some(Decision::Changes(i))), Some(bytes)) = (decided.get(&entry.customer_id), &entry.change)
            && entry.device_id.as_deref() != Some(device_id)
        {
            used += bytes.len();
            response.changes[*i].changes.extend_from_slice(bytes);
        }
        Ok(true)
    };
    store.scan_log(user, since, head, &mut |entry| match step(entry) {
        Ok(go_on) => Ok(go_on),
        Err(PushError::Store(e)) => Err(e),
        Err(other) => {
            failure = Some(other);
            Ok(false)
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    response.changes.retain(|c| !c.changes.is_empty());
    // The scan stops once a row finds the answer over its bounds; the last row read may have
    // passed the bytes' bound too.
    Ok(small && (reach == Reach::All || used <= SMALL_BYTES))
}

/// Whether the customer came into the user's full view after `since` (reassigned to them, out of
/// the pool, reopened): the device may lack its history, so it gets the document whole.
fn entered_full_since(store: &dyn Store, user: &User, customer_id: &str, since: i64) -> Result<bool, PushError> {
    let view = |scope: &Scope| scope.view(user, &user.branch_id);
    Ok(store
        .moves_since(customer_id, since)?
        .iter()
        .any(|(from, to)| view(to) == View::Full && view(from) != View::Full))
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
        assert_eq!(decode_request(&fine).unwrap().request.claims.len(), limits::MAX_CLAIMS);
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
