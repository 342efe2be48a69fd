//! One automerge document per customer: the typed [`CustomerFile`] kept in step with its
//! automerge document, one commit per action.
//!
//! Foreign data (changes, sync messages, received documents) is checked before automerge applies
//! it ([`check`]), and every automerge call on it runs under [`contain`] on a copy of the
//! document, so a malformed input fails with [`Error::CorruptChanges`] and changes nothing.

mod cached;
mod check;
mod contain;

pub use contain::contain;

use std::collections::HashMap;

use automerge::transaction::CommitOptions;
use automerge::{ActorId, AutoCommit, Change, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, Value};
use autosurgeon::{reconcile, reconcile_prop};

use self::check::Facts;
use crate::domain::{Action, Ctx, CustomerFile, SCHEMA_VERSION, Touched};
use crate::error::{Error, Result};

/// What one action committed.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    /// The change's bytes, to append to storage and to send to other replicas.
    pub change: Vec<u8>,
    /// The part of the customer file it changed, so only those projection rows are rewritten.
    pub touched: Touched,
}

/// A customer document and its typed view, always equal to `hydrate(doc)`.
#[derive(Debug, Clone)]
pub struct CustomerDoc {
    doc: AutoCommit,
    file: CustomerFile,
    /// What the checks of foreign changes know about this document's history; built on first
    /// need, then brought up to date from the changes added since.
    facts: Option<Facts>,
}

impl CustomerDoc {
    /// Creates the document of a new customer; `action` must be [`Action::CreateCustomer`].
    /// Returns the document and the bytes of its first change.
    pub fn create(actor: &ActorId, action: &Action, ctx: &Ctx) -> Result<(Self, Vec<u8>)> {
        let Action::CreateCustomer { id, profile } = action else {
            return Err(Error::NotFound { what: "customer", id: String::new() });
        };
        let mut placeholder = CustomerFile::new(id.clone(), profile.clone(), String::new(), 0);
        action.apply(&mut placeholder, ctx)?;
        let mut doc = AutoCommit::new().with_actor(actor.clone());
        reconcile(&mut doc, &placeholder)?;
        doc.commit_with(commit_options(action, ctx));
        let change = last_change(&mut doc)?;
        Ok((CustomerDoc { doc, file: placeholder, facts: None }, change))
    }

    /// Loads a stored document (a snapshot followed by change chunks) and checks its schema.
    pub fn load(customer_id: &str, bytes: &[u8], actor: &ActorId) -> Result<Self> {
        contain("document", || {
            let doc = load_raw(bytes, actor)?;
            let file = typed_view(customer_id, &doc)?;
            Ok(CustomerDoc { doc, file, facts: None })
        })
    }

    /// Loads a document received whole from another replica: like [`CustomerDoc::load`], and its
    /// whole history must also pass the checks foreign changes pass (so nothing in it can make
    /// automerge panic later, when it is saved or changes are merged into it).
    pub fn load_foreign(customer_id: &str, bytes: &[u8], actor: &ActorId) -> Result<Self> {
        let mut doc = Self::load(customer_id, bytes, actor)?;
        contain("document", || doc.refresh_facts())?;
        Ok(doc)
    }

    /// Loads a stored document and merges changes into it, building the typed view once. Returns
    /// `None` when every change was already there (nothing to store, no typed view built).
    pub fn load_and_merge(
        customer_id: &str,
        stored: &[u8],
        changes: Vec<Change>,
        actor: &ActorId,
    ) -> Result<Option<(Self, Vec<u8>)>> {
        let mut doc = contain("document", || load_raw(stored, actor))?;
        let mut facts = None;
        contain("document", || refresh(&mut doc, &mut facts))?;
        Self::built(customer_id, doc, facts.unwrap_or_default(), changes)
    }

    /// Builds a document from changes received from another replica (a customer new to this
    /// store). Returns `None` when there were no changes at all.
    pub fn from_changes(customer_id: &str, changes: Vec<Change>, actor: &ActorId) -> Result<Option<(Self, Vec<u8>)>> {
        Self::new_from(customer_id, changes, actor)
    }

    /// [`Self::from_changes`], returning the changes as they were received (parsed, checked and
    /// applied: each once, in an order where each comes after its dependencies) instead of saving
    /// them again as bytes. For a caller that stores them by hash (the server's log): it needs
    /// neither automerge's re-encoding of the changes (`save_after`) nor to parse its bytes again.
    ///
    /// The changes automerge writes itself (every tablet's) are saved again byte for byte as they
    /// came; only an encoding automerge would not write itself could differ, and here it keeps the
    /// bytes, and so the hash, its sender knows the change by.
    pub fn from_changes_as_received(
        customer_id: &str,
        changes: Vec<Change>,
        actor: &ActorId,
    ) -> Result<Option<(Self, Vec<Change>)>> {
        Self::new_from(customer_id, changes, actor)
    }

    fn new_from<N: NewChanges>(customer_id: &str, changes: Vec<Change>, actor: &ActorId) -> Result<Option<(Self, N)>> {
        Self::built(customer_id, AutoCommit::new().with_actor(actor.clone()), Facts::default(), changes)
    }

    /// `changes` merged into `doc` (described by `facts`), as a document of its own.
    fn built<N: NewChanges>(
        customer_id: &str,
        doc: AutoCommit,
        mut facts: Facts,
        changes: Vec<Change>,
    ) -> Result<Option<(Self, N)>> {
        let merged = merged(customer_id, doc, &mut facts, changes)?;
        Ok(merged.map(|(doc, file, new)| (CustomerDoc { doc, file, facts: Some(facts) }, new)))
    }

    /// Checks foreign changes against this document without applying them: what [`Self::merge`]
    /// checks first. For callers that want to refuse a malformed batch early (e.g. outside a lock).
    pub fn check_changes(&mut self, changes: &[Change]) -> Result<()> {
        let facts = self.facts()?;
        contain("changes", || check::check(facts, changes).map_err(corrupt)).map(|_| ())
    }

    /// The facts of this document, brought up to its heads.
    fn facts(&mut self) -> Result<&Facts> {
        let CustomerDoc { doc, facts, .. } = self;
        contain("document", || refresh(doc, facts))?;
        Ok(self.facts.get_or_insert_default())
    }

    fn refresh_facts(&mut self) -> Result<()> {
        refresh(&mut self.doc, &mut self.facts)
    }

    pub fn file(&self) -> &CustomerFile {
        &self.file
    }

    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// Every change of the document, for sending it whole to another replica.
    pub fn changes(&mut self) -> Vec<Change> {
        self.doc.get_changes(&[])
    }

    /// Whether the document holds the change with this hash.
    pub fn has_change(&self, hash: &ChangeHash) -> bool {
        self.doc.get_change_by_hash(hash).is_some()
    }

    /// The changes since `heads`, concatenated.
    pub fn changes_since(&mut self, heads: &[ChangeHash]) -> Vec<u8> {
        self.doc.save_after(heads)
    }

    /// The whole document in automerge's compact form.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// The whole document without automerge's own DEFLATE of large columns: what the server ships,
    /// since the sync frame's zstd compresses the raw columns better, across documents.
    pub fn save_uncompressed(&mut self) -> Vec<u8> {
        self.doc.save_nocompress()
    }

    /// Applies a user action as one commit. Returns the new change and what it touched, or `None`
    /// if the action changed nothing. On error the document is unchanged.
    pub fn apply(&mut self, action: &Action, ctx: &Ctx) -> Result<Option<Committed>> {
        if matches!(action, Action::CreateCustomer { .. }) {
            return Err(Error::AlreadyExists { what: "customer", id: self.file.id.clone() });
        }
        let mut next = self.file.clone();
        let touched = action.apply(&mut next, ctx)?;
        if let Err(e) = write_touched(&mut self.doc, &next, &touched) {
            self.doc.rollback();
            return Err(e);
        }
        if self.doc.commit_with(commit_options(action, ctx)).is_none() {
            return Ok(None);
        }
        let change = last_change(&mut self.doc)?;
        self.file = next;
        Ok(Some(Committed { change, touched }))
    }

    /// The next message of automerge's sync protocol towards a peer, for reconciling a document
    /// whose history the two sides disagree about; `None` when there is nothing to send. The
    /// message is built from what the peer said before (in `state`), so it is foreign input too:
    /// should automerge panic on it (an empty Bloom filter divides by zero), the state starts over
    /// and the error says so.
    pub fn sync_message(&mut self, state: &mut automerge::sync::State) -> Result<Option<Vec<u8>>> {
        use automerge::sync::SyncDoc;
        let doc = &mut self.doc;
        let message = contain("sync message", || Ok(doc.sync().generate_sync_message(state)));
        if message.is_err() {
            *state = automerge::sync::State::new();
        }
        Ok(message?.map(automerge::sync::Message::encode))
    }

    /// Reads a peer's sync message into `state` and returns the changes it carried that are new
    /// here, concatenated, for the caller to merge through the usual checks. The document itself is
    /// not changed.
    pub fn receive_sync_message(&self, state: &mut automerge::sync::State, message: &[u8]) -> Result<Vec<u8>> {
        use automerge::sync::SyncDoc;
        let message = contain("sync message", || {
            automerge::sync::Message::decode(message)
                .map_err(|e| Error::CorruptChanges { reason: format!("sync message: {e}") })
        })?;
        let mut copy = self.doc.clone();
        // The changes a message carries are checked like any others before automerge sees them.
        let carried: Vec<u8> = message.changes.iter().flatten().copied().collect();
        if !carried.is_empty() {
            let changes = parse_changes(&carried)?;
            let mut facts = self.facts.clone();
            contain("sync message", || {
                refresh(&mut copy, &mut facts)?;
                check::check(facts.as_ref().unwrap_or(&Facts::default()), &changes).map_err(corrupt)
            })?;
        }
        // On a copy of the state too: a refused message leaves the caller's state as it was.
        let mut next_state = state.clone();
        let incoming = contain("sync message", || {
            let before = copy.get_heads();
            copy.sync().receive_sync_message(&mut next_state, message)?;
            Ok(copy.get_changes(&before).iter().flat_map(|c| c.raw_bytes().to_vec()).collect())
        })?;
        *state = next_state;
        Ok(incoming)
    }

    /// Merges changes from another replica. Returns the bytes of the changes that were new here
    /// (empty if all were known). On error (missing dependencies, a result that does not match
    /// the schema) the document is unchanged.
    pub fn merge(&mut self, customer_id: &str, changes: Vec<Change>) -> Result<Vec<u8>> {
        self.merge_into(customer_id, changes)
    }

    /// [`Self::merge`], returning the changes that were new as they were received (see
    /// [`Self::from_changes_as_received`]); empty if all were known.
    pub fn merge_as_received(&mut self, customer_id: &str, changes: Vec<Change>) -> Result<Vec<Change>> {
        self.merge_into(customer_id, changes)
    }

    fn merge_into<N: NewChanges>(&mut self, customer_id: &str, changes: Vec<Change>) -> Result<N> {
        self.facts()?;
        // The facts are brought up to date in place, and only once the merge succeeded (a copy of
        // them would cost as much as the document's whole history).
        let facts = self.facts.get_or_insert_default();
        match merged(customer_id, self.doc.clone(), facts, changes)? {
            Some((doc, file, new)) => {
                self.doc = doc;
                self.file = file;
                Ok(new)
            }
            None => Ok(N::default()),
        }
    }
}

fn load_raw(bytes: &[u8], actor: &ActorId) -> Result<AutoCommit> {
    let doc = AutoCommit::load(bytes).map_err(|e| Error::CorruptChanges { reason: e.to_string() })?;
    Ok(doc.with_actor(actor.clone()))
}

/// How [`merged`] hands back the changes that were new.
trait NewChanges: Default {
    /// Whether the received changes are kept aside for [`NewChanges::collect`].
    const KEEPS_RECEIVED: bool;
    /// The new changes: `doc` is the document after the merge, `before` its heads before it,
    /// `order` the hashes of the changes applied (each after its dependencies) and `received` the
    /// changes as received, by hash (empty unless [`NewChanges::KEEPS_RECEIVED`]).
    fn collect(
        doc: &mut AutoCommit,
        before: &[ChangeHash],
        order: Vec<ChangeHash>,
        received: HashMap<ChangeHash, Change>,
    ) -> Self;
}

/// The new changes saved by automerge, concatenated.
impl NewChanges for Vec<u8> {
    const KEEPS_RECEIVED: bool = false;
    fn collect(
        doc: &mut AutoCommit,
        before: &[ChangeHash],
        _: Vec<ChangeHash>,
        _: HashMap<ChangeHash, Change>,
    ) -> Self {
        doc.save_after(before)
    }
}

/// The new changes as received.
impl NewChanges for Vec<Change> {
    const KEEPS_RECEIVED: bool = true;
    fn collect(
        _: &mut AutoCommit,
        _: &[ChangeHash],
        order: Vec<ChangeHash>,
        mut received: HashMap<ChangeHash, Change>,
    ) -> Self {
        order.iter().filter_map(|hash| received.remove(hash)).collect()
    }
}

/// Checks foreign changes against `doc` (described by `facts`, up to date), applies them to it
/// (owned, so a failure leaves the caller's document alone) and builds the typed view of the
/// result; `facts` learn the new changes only when all this succeeded. `None` when nothing was
/// new.
fn merged<N: NewChanges>(
    customer_id: &str,
    mut doc: AutoCommit,
    facts: &mut Facts,
    changes: Vec<Change>,
) -> Result<Option<(AutoCommit, CustomerFile, N)>> {
    let admitted = contain("changes", || check::check(facts, &changes).map_err(corrupt))?;
    let order = if N::KEEPS_RECEIVED { admitted.hashes().collect() } else { Vec::new() };
    let received =
        if N::KEEPS_RECEIVED { changes.iter().map(|c| (c.hash(), c.clone())).collect() } else { HashMap::new() };
    contain("changes", move || {
        let before = doc.get_heads();
        doc.apply_changes(changes)?;
        let missing = doc.get_missing_deps(&[]);
        if !missing.is_empty() {
            return Err(Error::MissingDependencies { customer_id: customer_id.to_string(), missing: missing.len() });
        }
        if doc.get_heads() == before {
            return Ok(None);
        }
        let file = typed_view(customer_id, &doc)?;
        let new = N::collect(&mut doc, &before, order, received);
        facts.absorb(admitted, doc.get_heads());
        Ok(Some((doc, file, new)))
    })
}

/// Brings `facts` up to `doc`'s heads, checking the changes added since as foreign changes are
/// checked (a document received whole is verified this way before anything is merged into it).
fn refresh(doc: &mut AutoCommit, facts: &mut Option<Facts>) -> Result<()> {
    let heads = doc.get_heads();
    if facts.as_ref().is_some_and(|f| f.heads == heads) {
        return Ok(());
    }
    let mut current = facts.take().unwrap_or_default();
    let changes = doc.get_changes(&current.heads);
    let admitted = check::check(&current, &changes).map_err(corrupt)?;
    current.absorb(admitted, heads);
    *facts = Some(current);
    Ok(())
}

fn corrupt(reason: String) -> Error {
    Error::CorruptChanges { reason }
}

fn commit_options(action: &Action, ctx: &Ctx) -> CommitOptions {
    CommitOptions::default().with_message(action.name().to_string()).with_time(ctx.now / 1000)
}

fn last_change(doc: &mut AutoCommit) -> Result<Vec<u8>> {
    doc.get_last_local_change()
        .map(|c| c.raw_bytes().to_vec())
        .ok_or_else(|| Error::CorruptChanges { reason: "commit produced no change".into() })
}

/// The top-level keys of a customer document: the fields of [`CustomerFile`].
const ROOT_KEYS: [&str; 13] = [
    "schema",
    "id",
    "created_by",
    "created_at",
    "profile",
    "contacts",
    "visits",
    "leads",
    "reminders",
    "interactions",
    "intents",
    "reviews",
    "server",
];

/// Hydrates the typed view and checks it is this customer's document in a version we read.
fn typed_view(customer_id: &str, doc: &AutoCommit) -> Result<CustomerFile> {
    let mismatch = |path: &str| Error::SchemaMismatch { customer_id: customer_id.to_string(), path: path.to_string() };
    // Every read below goes through one cache of the document's objects (see `cached.rs`).
    let view = cached::Cached::whole(doc);
    match autosurgeon::ReadDoc::get(&view, &ROOT, "schema")? {
        Some((Value::Scalar(s), _)) => match s.as_u64() {
            Some(v) if v > SCHEMA_VERSION => {
                return Err(Error::NewerDocument {
                    customer_id: customer_id.to_string(),
                    found: v,
                    supported: SCHEMA_VERSION,
                });
            }
            Some(_) => {}
            None => return Err(mismatch("schema")),
        },
        _ => return Err(mismatch("schema")),
    }
    // Keys the schema does not know would be carried along unseen by every replica (and could
    // hide data from validation): refused. The key itself is not echoed, it is foreign text.
    if !view.all_keys(&ROOT, |key| ROOT_KEYS.contains(&key)) {
        return Err(mismatch("(a top-level key the schema does not know)"));
    }
    let file = hydrate_file(&view).map_err(|e| mismatch(&e.to_string()))?;
    if file.id != customer_id {
        return Err(mismatch("id"));
    }
    Ok(file)
}

/// The customer file from the cached view: what `hydrate` gives, with the maps of entities
/// hydrated from the cache's keys (autosurgeon's own map hydration lists a map's keys with
/// `map_range`, straight from the document: about a fifth of a new document's hydration).
fn hydrate_file(view: &cached::Cached) -> std::result::Result<CustomerFile, autosurgeon::HydrateError> {
    use autosurgeon::hydrate_prop;
    Ok(CustomerFile {
        schema: hydrate_prop(view, &ROOT, "schema")?,
        id: hydrate_prop(view, &ROOT, "id")?,
        created_by: hydrate_prop(view, &ROOT, "created_by")?,
        created_at: hydrate_prop(view, &ROOT, "created_at")?,
        profile: hydrate_prop(view, &ROOT, "profile")?,
        contacts: entities(view, "contacts")?,
        visits: entities(view, "visits")?,
        leads: entities(view, "leads")?,
        reminders: entities(view, "reminders")?,
        interactions: entities(view, "interactions")?,
        intents: entities(view, "intents")?,
        reviews: entities(view, "reviews")?,
        server: hydrate_prop(view, &ROOT, "server")?,
    })
}

/// A root map of entities keyed by ID, as `hydrate_prop` gives it, each entity hydrated through
/// the cache.
fn entities<T: autosurgeon::Hydrate>(
    view: &cached::Cached,
    key: &str,
) -> std::result::Result<std::collections::BTreeMap<String, T>, autosurgeon::HydrateError> {
    let keys = match autosurgeon::ReadDoc::get(view, &ROOT, key)? {
        Some((Value::Object(ObjType::Map), obj)) => view.map_keys(&obj).map(|keys| (obj, keys)),
        _ => None,
    };
    // Anything but a map the cache holds: autosurgeon's own answer (or error).
    let Some((obj, keys)) = keys else { return autosurgeon::hydrate_prop(view, &ROOT, key) };
    keys.into_iter()
        .map(|id| {
            let entity = autosurgeon::hydrate_prop(view, &obj, id.as_str())?;
            Ok((id, entity))
        })
        .collect()
}

/// The map object at a root key, which every document has from its first commit.
fn root_map(doc: &AutoCommit, key: &str) -> Result<ObjId> {
    match doc.get(ROOT, key)? {
        Some((Value::Object(ObjType::Map), id)) => Ok(id),
        _ => Err(Error::SchemaMismatch { customer_id: String::new(), path: key.to_string() }),
    }
}

/// Writes one entity of `file` (or removes it, if `file` no longer has it) into the document.
fn write_entry<V: autosurgeon::Reconcile>(doc: &mut AutoCommit, key: &str, id: &str, value: Option<&V>) -> Result<()> {
    use automerge::transaction::Transactable;
    let obj = root_map(doc, key)?;
    match value {
        Some(v) => reconcile_prop(doc, &obj, id, v)?,
        None => doc.delete(&obj, id)?,
    }
    Ok(())
}

fn write_touched(doc: &mut AutoCommit, file: &CustomerFile, touched: &Touched) -> Result<()> {
    match touched {
        Touched::Everything => reconcile(doc, file)?,
        Touched::Profile => reconcile_prop(doc, ROOT, "profile", &file.profile)?,
        Touched::Server => reconcile_prop(doc, ROOT, "server", &file.server)?,
        Touched::Contact(id) => write_entry(doc, "contacts", id, file.contacts.get(id))?,
        Touched::Visit(id) => write_entry(doc, "visits", id, file.visits.get(id))?,
        Touched::Lead(id) => write_entry(doc, "leads", id, file.leads.get(id))?,
        Touched::Reminder(id) => write_entry(doc, "reminders", id, file.reminders.get(id))?,
        Touched::Interaction(id) => write_entry(doc, "interactions", id, file.interactions.get(id))?,
        Touched::Intent(id) => write_entry(doc, "intents", id, file.intents.get(id))?,
        Touched::Review(id) => write_entry(doc, "reviews", id, file.reviews.get(id))?,
    }
    Ok(())
}

/// Splits bytes received from another replica into changes, strictly: any corrupt, truncated or
/// unknown chunk fails the whole input (automerge's own incremental load would skip it silently).
/// Accepts change chunks and whole-document chunks (a server-built snapshot).
pub fn parse_changes(bytes: &[u8]) -> Result<Vec<Change>> {
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    let corrupt = |reason: &str| Error::CorruptChanges { reason: reason.to_string() };
    let mut changes = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.len() < 10 || rest[..4] != MAGIC {
            return Err(corrupt("not an automerge chunk"));
        }
        let chunk_type = rest[8];
        let (len, leb_len) = read_uleb(&rest[9..]).ok_or_else(|| corrupt("bad chunk length"))?;
        let total = 9usize
            .checked_add(leb_len)
            .and_then(|n| n.checked_add(usize::try_from(len).ok()?))
            .ok_or_else(|| corrupt("bad chunk length"))?;
        if total > rest.len() {
            return Err(corrupt("truncated chunk"));
        }
        let (chunk, tail) = rest.split_at(total);
        match chunk_type {
            0 => {
                let loaded = contain("document", || {
                    let doc = automerge::Automerge::load(chunk).map_err(|e| corrupt(&e.to_string()))?;
                    Ok(doc.get_changes(&[]))
                })?;
                changes.extend(loaded);
            }
            1 | 2 => {
                // automerge 0.12 panics on some chunks it cannot represent (an operation counter
                // past u32): contained like any other foreign input.
                let change = contain("change", || Change::try_from(chunk).map_err(|e| corrupt(&e.to_string())))?;
                // The header's checksum is the start of the change's hash; automerge does not check
                // it when parsing, so a flipped byte would otherwise pass as a different change.
                if change.hash().0[..4] != chunk[4..8] {
                    return Err(corrupt("checksum mismatch"));
                }
                changes.push(change);
            }
            _ => return Err(corrupt("unknown chunk type")),
        }
        rest = tail;
    }
    Ok(changes)
}

/// True when `bytes` is exactly one whole-document chunk (the form `save()` produces).
pub fn is_single_document_chunk(bytes: &[u8]) -> bool {
    bytes.len() > 9
        && bytes[8] == 0
        && read_uleb(&bytes[9..])
            .is_some_and(|(len, n)| usize::try_from(len).is_ok_and(|len| 9 + n + len == bytes.len()))
}

fn read_uleb(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f).checked_shl(7 * i as u32)?;
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use autosurgeon::hydrate;

    #[test]
    fn root_keys_are_the_fields_of_a_customer_file() {
        let file = CustomerFile::new(
            "c".into(),
            crate::domain::Profile::new(crate::domain::CustomerKind::Individual, "n", "v"),
            "u".into(),
            0,
        );
        let mut doc = AutoCommit::new();
        reconcile(&mut doc, &file).unwrap();
        let mut keys: Vec<String> = doc.keys(ROOT).collect();
        let mut expected: Vec<String> = ROOT_KEYS.iter().map(|k| k.to_string()).collect();
        keys.sort();
        expected.sort();
        assert_eq!(keys, expected);
    }

    /// A customer edited on two tablets concurrently and by the server: every change of it, in
    /// the order automerge saves them.
    fn concurrent_history(seed: u64) -> (String, Vec<Change>) {
        use crate::domain::{CustomerKind, Owner, Profile, Role};
        let ctx = |role| Ctx { user_id: "m1".into(), user_name: "经理".into(), role, now: 1_753_056_000_000 };
        let id = crate::ids::new_id();
        let create = Action::CreateCustomer {
            id: id.clone(),
            profile: Profile::new(CustomerKind::Individual, "张三", "韩桥村"),
        };
        let (mut a, _) = CustomerDoc::create(&ActorId::from([1u8; 16]), &create, &ctx(Role::Manager)).unwrap();
        let mut b = a.clone();
        b.doc.set_actor(ActorId::from([2u8; 16]));
        let mut rng = crate::workload::SplitMix64::new(seed);
        for _ in 0..2 {
            for doc in [&mut a, &mut b] {
                let visit =
                    crate::workload::recorded_visit(&mut rng, &crate::ids::new_id(), 1_753_000_000_000, 30.5, 114.3);
                doc.apply(&visit, &ctx(Role::Manager)).unwrap();
            }
        }
        let mut server = CustomerDoc::from_changes(&id, a.changes(), &ActorId::from([3u8; 16])).unwrap().unwrap().0;
        server.merge(&id, b.changes()).unwrap();
        // The customer passes to another manager: a change of the server's.
        let owner = Owner { manager_id: Some("m2".into()), manager_name: Some("经理二".into()) };
        server.apply(&Action::assign(owner), &ctx(Role::Server)).unwrap().unwrap();
        (id, server.changes())
    }

    fn raw(changes: &[Change]) -> Vec<u8> {
        changes.iter().flat_map(|c| c.raw_bytes().to_vec()).collect()
    }

    #[test]
    fn changes_as_received_are_the_changes_automerge_saves() {
        for seed in 0..4 {
            let (id, history) = concurrent_history(seed);
            let actor = ActorId::from([9u8; 16]);
            // A new document, from changes in saving order and again shuffled, with repeats.
            let (saved, new_bytes) = CustomerDoc::from_changes(&id, history.clone(), &actor).unwrap().unwrap();
            let (kept, new) = CustomerDoc::from_changes_as_received(&id, history.clone(), &actor).unwrap().unwrap();
            assert_eq!(raw(&new), new_bytes);
            assert_eq!(kept.file(), saved.file());
            let mut shuffled = history.clone();
            shuffled.reverse();
            shuffled.push(history[0].clone());
            let (_, new_bytes) = CustomerDoc::from_changes(&id, shuffled.clone(), &actor).unwrap().unwrap();
            let (mut kept, new) = CustomerDoc::from_changes_as_received(&id, shuffled, &actor).unwrap().unwrap();
            let mut by_hash: Vec<_> = new.iter().map(|c| (c.hash(), c.raw_bytes().to_vec())).collect();
            let mut saved_by_hash: Vec<_> =
                parse_changes(&new_bytes).unwrap().iter().map(|c| (c.hash(), c.raw_bytes().to_vec())).collect();
            by_hash.sort();
            saved_by_hash.sort();
            assert_eq!(by_hash, saved_by_hash);
            // Each after its dependencies.
            for (i, c) in new.iter().enumerate() {
                assert!(c.deps().iter().all(|d| new[..i].iter().any(|e| e.hash() == *d)));
            }
            assert_eq!(kept.heads(), saved.clone().heads());

            // Merged into a document that has part of the history.
            let split = history.len() / 2;
            let (base, _) = CustomerDoc::from_changes(&id, history[..split].to_vec(), &actor).unwrap().unwrap();
            let (mut one, mut two) = (base.clone(), base.clone());
            let new_bytes = one.merge(&id, history.clone()).unwrap();
            let new = two.merge_as_received(&id, history.clone()).unwrap();
            assert_eq!(raw(&new), new_bytes);
            assert_eq!(new.len(), history.len() - split);
            assert_eq!(one.file(), two.file());
            assert_eq!(one.heads(), two.heads());
            // Nothing new, then a change whose dependencies are missing: the document stays as it
            // was and takes the rest later.
            assert!(two.merge_as_received(&id, history.clone()).unwrap().is_empty());
            let mut three = base.clone();
            let err = three.merge_as_received(&id, history[split + 1..].to_vec()).unwrap_err();
            assert!(matches!(err, Error::MissingDependencies { .. }), "{err:?}");
            assert_eq!(three.heads(), base.clone().heads());
            assert_eq!(three.merge_as_received(&id, history.clone()).unwrap().len(), history.len() - split);
            assert_eq!(three.file(), one.file());
        }
    }

    /// The typed view is autosurgeon's own hydration of the document (with the maps of entities
    /// read from the cache), for documents edited concurrently, and it fails where that fails.
    #[test]
    fn the_typed_view_is_autosurgeons_hydration() {
        use automerge::transaction::Transactable;
        for seed in 0..4 {
            let (id, history) = concurrent_history(seed);
            let doc = CustomerDoc::from_changes(&id, history, &ActorId::from([9u8; 16])).unwrap().unwrap().0;
            let whole: CustomerFile = hydrate(&doc.doc).unwrap();
            assert_eq!(typed_view(&id, &doc.doc).unwrap(), whole);
            assert!(!whole.visits.is_empty() && whole.server.owner.manager_id.is_some());

            // An entity map that is a list, or a scalar: refused, as autosurgeon refuses it.
            for bad in [ObjType::List, ObjType::Text] {
                let mut broken = doc.doc.clone();
                broken.put_object(ROOT, "visits", bad).unwrap();
                assert!(hydrate::<_, CustomerFile>(&broken).is_err());
                let err = typed_view(&id, &broken).unwrap_err();
                assert!(matches!(err, Error::SchemaMismatch { .. }), "{err:?}");
            }
            let mut broken = doc.doc.clone();
            broken.put(ROOT, "leads", 7).unwrap();
            assert!(matches!(typed_view(&id, &broken).unwrap_err(), Error::SchemaMismatch { .. }));
            // A visit that is not a visit.
            let mut broken = doc.doc.clone();
            let visits = root_map(&broken, "visits").unwrap();
            broken.put(&visits, "v-junk", "not a visit").unwrap();
            assert!(matches!(typed_view(&id, &broken).unwrap_err(), Error::SchemaMismatch { .. }));
        }
    }
}
