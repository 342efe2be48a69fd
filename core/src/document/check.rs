//! Checks foreign changes against a document before automerge applies them.
//!
//! automerge 0.12 accepts into its parser changes that it then panics on while applying them, or
//! later while saving or collecting changes (see `docs` of [`check`]). Each rule below refuses
//! one such shape; every rule holds for any history automerge itself writes, so a well-formed
//! batch is never refused.
//!
//! The cost is proportional to the incoming changes: what is known about the document (actors,
//! sequence numbers, operations and objects) is kept in [`Facts`], built once per loaded document
//! and brought up to date from the changes added since.

use std::collections::VecDeque;

// foldhash: a fast hash seeded per process (the keys come from foreign changes), where SipHash and
// growing maps were a tenth of a pushed document's cost.
use foldhash::{HashMap, HashMapExt as _, HashSet, HashSetExt as _};
use std::hash::BuildHasher as _;
use std::sync::OnceLock;

use automerge::legacy::{ElementId, Key, ObjectId, OpId, OpType};
use automerge::{ActorId, Change, ChangeHash, ObjType};

/// An operation ID with the actor interned: `(counter, actor index in Facts)`.
type Id = (u64, u32);

/// What kind of keys an object takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Map,
    Seq,
}

/// Where an operation sits: the object and the key (a map key's hash, or the list element).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Prop(u64),
    Elem(Id),
}

#[derive(Debug, Clone, Copy)]
struct OpFact {
    obj: Option<Id>,
    slot: Slot,
    /// The shape of the object this operation makes, if it makes one.
    makes: Option<Shape>,
    /// An inserting operation is a list element others can be keyed on.
    insert: bool,
}

#[derive(Debug, Clone, Default)]
struct ActorFacts {
    index: u32,
    max_seq: u64,
}

/// What the checks need to know about a document's history.
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    /// The heads these facts describe.
    pub(crate) heads: Vec<ChangeHash>,
    actors: HashMap<ActorId, ActorFacts>,
    /// Largest operation counter of each change (a change's operations must come after its
    /// dependencies' operations).
    max_op: HashMap<ChangeHash, u64>,
    ops: HashMap<Id, OpFact>,
}

/// What an admitted batch adds to the facts, kept apart until automerge accepted the batch.
#[derive(Debug, Default)]
pub(crate) struct Admitted {
    actors: Vec<(ActorId, u64)>,
    max_op: Vec<(ChangeHash, u64)>,
    /// The batch's operations (moved whole into a new document's facts, not inserted again).
    ops: HashMap<Id, OpFact>,
}

impl Admitted {
    /// The hashes of the changes admitted, in the order they were checked (each after its
    /// dependencies).
    pub(crate) fn hashes(&self) -> impl Iterator<Item = ChangeHash> + '_ {
        self.max_op.iter().map(|(hash, _)| *hash)
    }
}

impl Facts {
    /// Adds what `admitted` learned; `heads` are the document's heads after the batch.
    pub(crate) fn absorb(&mut self, admitted: Admitted, heads: Vec<ChangeHash>) {
        for (actor, seq) in admitted.actors {
            let next = self.actors.len() as u32;
            let entry = self.actors.entry(actor).or_insert(ActorFacts { index: next, max_seq: 0 });
            entry.max_seq = entry.max_seq.max(seq);
        }
        self.max_op.extend(admitted.max_op);
        if self.ops.is_empty() {
            self.ops = admitted.ops;
        } else {
            self.ops.extend(admitted.ops);
        }
        self.heads = heads;
    }
}

/// The batch being checked, on top of the document's facts.
struct Batch<'a> {
    facts: &'a Facts,
    /// Actors new in this batch, indexed after the document's.
    new_actors: HashMap<ActorId, u32>,
    max_seq: HashMap<u32, u64>,
    max_op: HashMap<ChangeHash, u64>,
    ops: HashMap<Id, OpFact>,
    admitted: Admitted,
}

impl Batch<'_> {
    fn actor(&self, actor: &ActorId) -> Option<u32> {
        self.facts.actors.get(actor).map(|a| a.index).or_else(|| self.new_actors.get(actor).copied())
    }

    fn intern(&mut self, actor: &ActorId) -> u32 {
        if let Some(i) = self.actor(actor) {
            return i;
        }
        let i = (self.facts.actors.len() + self.new_actors.len()) as u32;
        self.new_actors.insert(actor.clone(), i);
        i
    }

    fn max_seq(&self, actor: u32, id: &ActorId) -> u64 {
        self.max_seq.get(&actor).copied().or_else(|| self.facts.actors.get(id).map(|a| a.max_seq)).unwrap_or(0)
    }

    fn op(&self, id: &Id) -> Option<&OpFact> {
        self.ops.get(id).or_else(|| self.facts.ops.get(id))
    }

    fn id(&self, op: &OpId) -> Result<Id, String> {
        let actor = self.actor(op.actor()).ok_or("an operation names an actor the document does not know")?;
        Ok((op.counter(), actor))
    }

    fn dep_max_op(&self, hash: &ChangeHash) -> Option<u64> {
        self.max_op.get(hash).or_else(|| self.facts.max_op.get(hash)).copied()
    }
}

/// Checks `changes` (foreign, just parsed) against a document described by `facts`. Changes the
/// document already has are skipped; changes whose dependencies are missing are left to
/// automerge, which keeps them aside without applying them (the caller then reports the missing
/// history). On success returns what the batch adds to the facts.
///
/// The panics of automerge 0.12 this prevents, and the rule that prevents each:
/// - a sequence number that skips (`change_graph.rs`, `assert_eq!` on the actor's sequence):
///   each change's seq follows its actor's previous change, which must be in the document or an
///   ancestor in the batch;
/// - an actor used before the change that introduces it (`batch.rs`, `lookup_actor(..).unwrap()`):
///   every actor a change lists must be known, or introduced by an earlier change of the batch;
/// - an operation on an object that does not exist (`batch.rs`, "Missing from Index"), or keyed
///   on a list element that does not exist (`batch.rs`, `assert!(self.entry.is_empty())` and the
///   `pos.unwrap()` of updates nobody placed): objects and elements must exist, with the right
///   kind of key;
/// - a predecessor that does not exist, or operation IDs that overlap another change's
///   (`collector.rs`, unwraps when changes are later collected for `save`/`get_changes`):
///   predecessors must exist in the same slot and come before the operation, and a change's
///   operations must come after all of its dependencies' operations;
/// - an author on a change other than an actor's first (`change_graph.rs`, `assert!`).
pub(crate) fn check(facts: &Facts, changes: &[Change]) -> Result<Admitted, String> {
    let mut batch = Batch {
        facts,
        new_actors: HashMap::new(),
        max_seq: HashMap::new(),
        max_op: HashMap::new(),
        ops: HashMap::new(),
        admitted: Admitted::default(),
    };
    // Per change of the batch, the highest seq of each actor among its ancestors in the batch.
    let mut clocks: HashMap<ChangeHash, HashMap<u32, u64>> = HashMap::new();
    for change in ready_in_order(facts, changes) {
        let clock = admit(&mut batch, change, &clocks)?;
        clocks.insert(change.hash(), clock);
    }
    let Batch { facts, new_actors, max_seq, ops, mut admitted, .. } = batch;
    admitted.ops = ops;
    // New actors first, in the order the batch numbered them, so `absorb` gives them the same
    // indexes; then the new sequence numbers of actors the document already had.
    let mut fresh: Vec<(u32, ActorId)> = new_actors.into_iter().map(|(a, i)| (i, a)).collect();
    fresh.sort_unstable_by_key(|(i, _)| *i);
    for (i, a) in fresh {
        admitted.actors.push((a, max_seq.get(&i).copied().unwrap_or(0)));
    }
    for (a, f) in &facts.actors {
        if let Some(seq) = max_seq.get(&f.index) {
            admitted.actors.push((a.clone(), *seq));
        }
    }
    Ok(admitted)
}

/// The changes automerge would apply now, in an order where each comes after its dependencies
/// (automerge's own order is one such order; the rules do not depend on which).
fn ready_in_order<'c>(facts: &Facts, changes: &'c [Change]) -> Vec<&'c Change> {
    let mut fresh: Vec<&Change> = Vec::new();
    let mut seen = HashSet::new();
    for c in changes {
        let hash = c.hash();
        if !facts.max_op.contains_key(&hash) && seen.insert(hash) {
            fresh.push(c);
        }
    }
    let in_batch: HashMap<ChangeHash, usize> = fresh.iter().enumerate().map(|(i, c)| (c.hash(), i)).collect();
    let mut waiting = vec![0usize; fresh.len()];
    let mut dependents: HashMap<ChangeHash, Vec<usize>> = HashMap::new();
    let mut unready = vec![false; fresh.len()];
    for (i, c) in fresh.iter().enumerate() {
        for dep in c.deps() {
            if facts.max_op.contains_key(dep) {
                continue;
            }
            if in_batch.contains_key(dep) {
                waiting[i] += 1;
                dependents.entry(*dep).or_default().push(i);
            } else {
                unready[i] = true;
            }
        }
    }
    let mut queue: VecDeque<usize> = (0..fresh.len()).filter(|&i| waiting[i] == 0 && !unready[i]).collect();
    let mut order = Vec::new();
    while let Some(i) = queue.pop_front() {
        order.push(fresh[i]);
        for &d in dependents.get(&fresh[i].hash()).map_or(&[][..], Vec::as_slice) {
            waiting[d] -= 1;
            if waiting[d] == 0 && !unready[d] {
                queue.push_back(d);
            }
        }
    }
    order
}

fn admit(
    batch: &mut Batch<'_>,
    change: &Change,
    clocks: &HashMap<ChangeHash, HashMap<u32, u64>>,
) -> Result<HashMap<u32, u64>, String> {
    let seq = change.seq();
    if seq == 0 {
        return Err("a change has sequence number 0".into());
    }
    if change.author().is_some() && seq != 1 {
        return Err("an author on a change other than its actor's first".into());
    }
    // The actors a change lists must all be known before it is applied; only its own actor may be
    // introduced by it, and only with its first change.
    for other in change.other_actor_ids() {
        if batch.actor(other).is_none() {
            return Err("a change names an actor that was never introduced".into());
        }
    }
    let known_actor = batch.actor(change.actor_id());
    if known_actor.is_none() && seq != 1 {
        return Err("an actor's first change is missing".into());
    }
    let actor = batch.intern(change.actor_id());

    let mut clock: HashMap<u32, u64> = HashMap::new();
    let mut deps_max_op = 0;
    for dep in change.deps() {
        deps_max_op = deps_max_op.max(batch.dep_max_op(dep).ok_or("a dependency is unknown")?);
        if let Some(dep_clock) = clocks.get(dep) {
            for (a, s) in dep_clock {
                let e = clock.entry(*a).or_default();
                *e = (*e).max(*s);
            }
        }
    }
    let previous = batch.max_seq(actor, change.actor_id());
    if seq != previous + 1 {
        return Err(if seq <= previous {
            "a sequence number is used twice".into()
        } else {
            "a sequence number skips".into()
        });
    }
    // The actor's previous change must come first in any order automerge may choose: it is in
    // the document, or an ancestor of this change in the batch.
    let in_document = batch.facts.actors.get(change.actor_id()).is_some_and(|a| a.max_seq == seq - 1);
    if seq > 1 && !in_document && clock.get(&actor).copied().unwrap_or(0) < seq - 1 {
        return Err("a change does not follow its actor's previous change".into());
    }
    let start = change.start_op().get();
    if start <= deps_max_op {
        return Err("a change's operations overlap those it depends on".into());
    }
    let len = change.len() as u64;
    let max_op = start.checked_add(len.saturating_sub(1)).ok_or("operation counter overflow")?;

    let expanded = change.decode();
    batch.ops.reserve(expanded.operations.len());
    for (i, op) in expanded.operations.iter().enumerate() {
        let id = (start + i as u64, actor);
        let fact = check_op(batch, id, op)?;
        batch.ops.insert(id, fact);
    }

    batch.max_seq.insert(actor, seq);
    batch.max_op.insert(change.hash(), max_op);
    batch.admitted.max_op.push((change.hash(), max_op));
    clock.insert(actor, seq);
    Ok(clock)
}

fn check_op(batch: &Batch<'_>, id: Id, op: &automerge::legacy::Op) -> Result<OpFact, String> {
    let (obj, shape) = match &op.obj {
        ObjectId::Root => (None, Shape::Map),
        ObjectId::Id(o) => {
            let obj = batch.id(o)?;
            let made = batch.op(&obj).and_then(|f| f.makes).ok_or("an operation on an object that does not exist")?;
            (Some(obj), made)
        }
    };
    let slot = match (&op.key, shape) {
        (Key::Map(prop), Shape::Map) if !op.insert => Slot::Prop(prop_hash(prop)),
        (Key::Seq(ElementId::Head), Shape::Seq) if op.insert => Slot::Elem(id),
        (Key::Seq(ElementId::Id(e)), Shape::Seq) => {
            let elem = batch.id(e)?;
            let target = batch.op(&elem).ok_or("an operation on a list element that does not exist")?;
            if !target.insert || target.obj != obj || elem.0 >= id.0 {
                return Err("an operation on a list element that does not exist".into());
            }
            if op.insert { Slot::Elem(id) } else { Slot::Elem(elem) }
        }
        _ => return Err("an operation's key does not fit its object".into()),
    };
    for pred in op.pred.iter() {
        let pred_id = batch.id(pred)?;
        let p = batch.op(&pred_id).ok_or("an operation overwrites one that does not exist")?;
        if p.obj != obj || p.slot != slot || pred_id.0 >= id.0 {
            return Err("an operation overwrites one that does not exist".into());
        }
    }
    let makes = match &op.action {
        OpType::Make(ObjType::Map | ObjType::Table) => Some(Shape::Map),
        OpType::Make(ObjType::List | ObjType::Text) => Some(Shape::Seq),
        OpType::Put(_) | OpType::Delete | OpType::Increment(_) => None,
        // Marks (rich text) are not part of the schema; their rules are not checked here.
        OpType::MarkBegin(_) | OpType::MarkEnd(_) => return Err("marks are not used in customer documents".into()),
    };
    if op.insert && matches!(op.action, OpType::Delete | OpType::Increment(_)) {
        return Err("an inserted element must carry a value".into());
    }
    Ok(OpFact { obj, slot, makes, insert: op.insert })
}

/// A map key's hash, seeded once per process: a key cannot be chosen to collide with another and
/// pass for it (facts live only in this process's memory).
fn prop_hash(prop: &str) -> u64 {
    static STATE: OnceLock<foldhash::fast::RandomState> = OnceLock::new();
    STATE.get_or_init(Default::default).hash_one(prop)
}
