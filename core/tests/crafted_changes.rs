//! Changes crafted to panic automerge 0.12 (each parses, with a valid checksum and hash) are
//! refused with a clear error and change nothing, whether merged into a document, into a store,
//! or carried by a sync message; and well-formed batches, in any order, still merge.
//!
//! Each crafted change is a real change of a customer document, decoded, altered and encoded
//! again (`ExpandedChange` -> `Change::from`), so only the alteration is malformed. Each test
//! also shows that automerge itself panics on the same input, so the refusal is not vacuous.

mod common;

use std::num::NonZeroU64;
use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::legacy::{ElementId, Key, ObjectId, OpId};
use automerge::sync::{ChunkList, Message, MessageVersion, State};
use automerge::{ActorId, AutoCommit, Change, ExpandedChange};
use common::*;
use fieldsync_core::Error;
use fieldsync_core::document::{CustomerDoc, parse_changes};
use fieldsync_core::store::Store;

/// A customer written on one tablet: its ID and its changes (create; start visit; check-out, whose
/// change inserts into the visit's `products` list).
struct Source {
    _dir: tempfile::TempDir,
    store: Store,
    id: String,
    history: Vec<Change>,
}

fn source() -> Source {
    let (dir, mut store) = store("M1");
    let id = store.create_customer(profile("杨桂敏", "韩桥村"), NOW).unwrap();
    complete_visit(&mut store, &id, NOW, "走访");
    let history = parse_changes(&store.document_changes(&id).unwrap()).unwrap();
    assert_eq!(history.len(), 3);
    Source { _dir: dir, store, id, history }
}

fn bytes(changes: &[Change]) -> Vec<u8> {
    changes.iter().flat_map(|c| c.raw_bytes().to_vec()).collect()
}

/// `change` decoded, altered by `f`, and encoded again with a fresh checksum and hash.
fn recode(change: &Change, f: impl FnOnce(&mut ExpandedChange)) -> Change {
    let mut expanded = change.decode();
    f(&mut expanded);
    Change::from(expanded)
}

/// Whether automerge panics applying `crafted` on top of `base`, or when the result is then saved
/// or its changes collected (what every store does next).
fn automerge_panics(base: &[Change], crafted: &Change) -> bool {
    let mut doc = AutoCommit::new();
    doc.apply_changes(base.to_vec()).unwrap();
    let crafted = crafted.clone();
    catch_unwind(AssertUnwindSafe(move || {
        if doc.apply_changes([crafted]).is_ok() {
            doc.get_changes(&[]);
            doc.save();
        }
    }))
    .is_err()
}

fn expect_corrupt<T: std::fmt::Debug>(result: fieldsync_core::Result<T>, case: &str) -> String {
    match result {
        Err(Error::CorruptChanges { reason }) => {
            for secret in ["13812341234", "422822196408275665", "杨桂敏"] {
                assert!(!reason.contains(secret), "{case}: the reason leaks personal data: {reason}");
            }
            // Refused by the checks, not merely contained after automerge panicked.
            assert!(!reason.contains("could not process"), "{case}: not caught by the checks: {reason}");
            reason
        }
        other => panic!("{case}: expected a CorruptChanges error, got {other:?}"),
    }
}

/// Cases automerge 0.12 catches with a `debug_assert` only.
const DEBUG_ONLY: [&str; 1] = ["missing predecessor"];

/// The whole refusal check for one crafted change applied on top of `history[..base_len]`.
fn refused_everywhere(case: &str, base_len: usize, craft: impl FnOnce(&Source) -> Change) {
    let src = source();
    let base = &src.history[..base_len];
    let crafted = craft(&src);

    // (i) It parses: checksum and hash are valid, it is a different change.
    let parsed = parse_changes(crafted.raw_bytes()).unwrap_or_else(|e| panic!("{case}: does not parse: {e}"));
    assert_eq!(parsed.len(), 1, "{case}");
    assert!(!src.history.iter().any(|c| c.hash() == crafted.hash()), "{case}: not altered");
    // ...and automerge panics on it (where automerge checks the case only in a `debug_assert`,
    // a build without debug assertions takes the change silently instead, which is no better).
    let checked_only_in_debug = DEBUG_ONLY.contains(&case) && !cfg!(debug_assertions);
    assert!(
        automerge_panics(base, &crafted) || checked_only_in_debug,
        "{case}: automerge does not panic on it, the case is vacuous"
    );

    // (ii) Merged into a customer document: a clear error, the document and its bytes unchanged.
    let actor = ActorId::random();
    let mut doc = CustomerDoc::load(&src.id, &bytes(base), &actor).unwrap();
    let (heads, saved, file) = (doc.heads(), doc.save(), doc.file().clone());
    let reason = expect_corrupt(doc.merge(&src.id, vec![crafted.clone()]), case);
    eprintln!("{case}: refused: {reason}");
    assert_eq!((doc.heads(), doc.save(), doc.file().clone()), (heads, saved, file), "{case}: document changed");
    // The document still takes good changes afterwards.
    if base_len < src.history.len() {
        doc.merge(&src.id, src.history[base_len..].to_vec()).unwrap();
    }

    // Merged into a store (a real SQLite file): refused, nothing written.
    let (_dir, mut target) = store("M2");
    target.merge(&src.id, &bytes(base)).unwrap();
    let before = (target.document_changes(&src.id).unwrap(), target.projection_dump().unwrap());
    expect_corrupt(target.merge(&src.id, crafted.raw_bytes()), case);
    // Hidden inside an otherwise good batch, it fails the whole batch.
    let mut batch = src.history[base_len..].to_vec();
    batch.insert(0, crafted.clone());
    expect_corrupt(target.merge(&src.id, &bytes(&batch)), case);
    assert_eq!((target.document_changes(&src.id).unwrap(), target.projection_dump().unwrap()), before, "{case}");
    // A customer new to the store, sent with the crafted change: nothing stored.
    let (_dir3, mut fresh) = store("M3");
    let mut whole = base.to_vec();
    whole.push(crafted.clone());
    expect_corrupt(fresh.merge(&src.id, &bytes(&whole)), case);
    assert!(fresh.customer_ids().unwrap().is_empty(), "{case}");

    // (iii) Carried by a sync message: refused, document and sync state unchanged.
    let message = Message {
        heads: vec![crafted.hash()],
        need: vec![],
        have: vec![],
        changes: ChunkList::from(vec![crafted.raw_bytes().to_vec()]),
        flags: None,
        version: MessageVersion::V1,
    }
    .encode();
    let mut doc = CustomerDoc::load(&src.id, &bytes(base), &actor).unwrap();
    let saved = doc.save();
    let mut state = State::new();
    let state_before = state.encode();
    expect_corrupt(doc.receive_sync_message(&mut state, &message), case);
    assert_eq!(state.encode(), state_before, "{case}: sync state changed");
    assert!(state.their_heads.is_none(), "{case}");
    assert_eq!(doc.save(), saved, "{case}");
    drop(src.store);
}

#[test]
fn a_sequence_number_that_skips() {
    refused_everywhere("seq skips", 1, |s| recode(&s.history[1], |e| e.seq = 3));
}

#[test]
fn a_sequence_number_used_twice() {
    // A second seq 2 with other content: automerge reports this one itself, the check must too.
    let src = source();
    let twin = recode(&src.history[1], |e| e.time += 1);
    let mut doc = CustomerDoc::load(&src.id, &bytes(&src.history[..2]), &ActorId::random()).unwrap();
    let saved = doc.save();
    assert!(doc.check_changes(std::slice::from_ref(&twin)).is_err());
    assert!(doc.merge(&src.id, vec![twin]).is_err());
    assert_eq!(doc.save(), saved);
}

#[test]
fn an_actor_used_before_its_first_change() {
    let stranger = ActorId::random();
    refused_everywhere("actor not introduced", 1, |s| recode(&s.history[1], |e| e.actor_id = stranger));
}

#[test]
fn an_operation_naming_an_actor_no_change_introduced() {
    // The change's own actor is new and its seq 1 is fine; one operation names a third actor.
    let (author, ghost) = (ActorId::random(), ActorId::random());
    refused_everywhere("foreign actor in an operation", 1, |s| {
        recode(&s.history[1], |e| {
            e.actor_id = author;
            e.seq = 1;
            e.operations[1].obj = ObjectId::Id(OpId(1, ghost));
        })
    });
}

#[test]
fn an_operation_on_an_object_that_does_not_exist() {
    refused_everywhere("missing object", 1, |s| {
        let a = s.history[0].actor_id().clone();
        recode(&s.history[1], |e| e.operations[0].obj = ObjectId::Id(OpId(9_999, a)))
    });
}

fn insert_op(change: &Change) -> usize {
    change.decode().operations.iter().position(|o| o.insert).expect("the check-out inserts a product")
}

#[test]
fn an_insert_after_a_list_element_that_does_not_exist() {
    refused_everywhere("missing list element (insert)", 2, |s| {
        let a = s.history[0].actor_id().clone();
        let i = insert_op(&s.history[2]);
        recode(&s.history[2], |e| e.operations[i].key = Key::Seq(ElementId::Id(OpId(9_999, a))))
    });
}

#[test]
fn an_update_of_a_list_element_that_does_not_exist() {
    refused_everywhere("missing list element (update)", 2, |s| {
        let a = s.history[0].actor_id().clone();
        let i = insert_op(&s.history[2]);
        recode(&s.history[2], |e| {
            e.operations[i].key = Key::Seq(ElementId::Id(OpId(9_999, a)));
            e.operations[i].insert = false;
        })
    });
}

#[test]
fn a_map_key_on_a_list() {
    refused_everywhere("map key on a list", 2, |s| {
        let i = insert_op(&s.history[2]);
        recode(&s.history[2], |e| {
            e.operations[i].key = Key::Map("k".into());
            e.operations[i].insert = false;
        })
    });
}

#[test]
fn an_overwrite_of_an_operation_that_does_not_exist() {
    refused_everywhere("missing predecessor", 1, |s| {
        let a = s.history[0].actor_id().clone();
        recode(&s.history[1], |e| e.operations[0].pred = vec![OpId(9_999, a)].into())
    });
}

#[test]
fn operations_that_overlap_earlier_ones() {
    refused_everywhere("overlapping operation IDs", 1, |s| {
        recode(&s.history[1], |e| e.start_op = NonZeroU64::new(1).unwrap())
    });
}

// ---------------------------------------------------------------------------------------------
// No false refusals.
// ---------------------------------------------------------------------------------------------

/// Two tablets edit the same customer concurrently; every order of their changes that automerge
/// accepts merges, and gives the document automerge gives.
#[test]
fn well_formed_batches_merge_in_any_order() {
    let src = source();
    let mut one = src.store;
    let id = src.id;
    let (_dir2, mut two) = store("M2");
    two.merge(&id, &one.document_changes(&id).unwrap()).unwrap();
    let shared = one.heads(&id).unwrap();
    for n in 0..3 {
        complete_visit(&mut one, &id, NOW + n * HOUR, &format!("甲{n}"));
        complete_visit(&mut two, &id, NOW + n * HOUR + 60_000, &format!("乙{n}"));
    }
    let mine = CustomerDoc::load(&id, &one.document_changes(&id).unwrap(), one.actor()).unwrap().changes();
    let mut theirs_doc = CustomerDoc::load(&id, &two.document_changes(&id).unwrap(), two.actor()).unwrap();
    let theirs_new = parse_changes(&theirs_doc.changes_since(&shared)).unwrap();
    let mine_new: Vec<Change> = parse_changes(
        &CustomerDoc::load(&id, &one.document_changes(&id).unwrap(), one.actor()).unwrap().changes_since(&shared),
    )
    .unwrap();
    assert_eq!((mine_new.len(), theirs_new.len()), (6, 6));

    // Interleaved, one of each in turn (causal order within each tablet).
    let interleaved: Vec<Change> = mine_new.iter().zip(&theirs_new).flat_map(|(a, b)| [b.clone(), a.clone()]).collect();
    // Reversed: automerge sorts a batch by its dependencies itself.
    let reversed: Vec<Change> = interleaved.iter().rev().cloned().collect();
    let expected = {
        let mut doc = AutoCommit::new();
        doc.apply_changes(mine.clone()).unwrap();
        doc.apply_changes(theirs_new.clone()).unwrap();
        doc.get_heads()
    };
    let shared_bytes = {
        let mut d = CustomerDoc::load(&id, &two.document_changes(&id).unwrap(), two.actor()).unwrap();
        let all = d.changes();
        let keep: Vec<Change> = all.into_iter().filter(|c| !theirs_new.iter().any(|t| t.hash() == c.hash())).collect();
        bytes(&keep)
    };
    for (name, batch) in [("interleaved", &interleaved), ("reversed", &reversed)] {
        let mut doc = CustomerDoc::load(&id, &shared_bytes, &ActorId::random()).unwrap();
        doc.merge(&id, batch.clone()).unwrap_or_else(|e| panic!("{name}: refused: {e}"));
        let mut heads = doc.heads();
        heads.sort();
        let mut want = expected.clone();
        want.sort();
        assert_eq!(heads, want, "{name}");
        // The whole history from nothing, in that order too.
        let mut everything = parse_changes(&shared_bytes).unwrap();
        everything.extend(batch.iter().cloned());
        let (built, _) = CustomerDoc::from_changes(&id, everything, &ActorId::random()).unwrap().unwrap();
        assert_eq!(built.file(), doc.file(), "{name}");
    }

    // Through the stores: each takes the other's changes, then both agree.
    one.merge(&id, &bytes(&theirs_new)).unwrap();
    two.merge(&id, &bytes(&mine_new)).unwrap();
    assert_eq!(one.customer_file(&id).unwrap(), two.customer_file(&id).unwrap());
    assert_eq!(one.customer_file(&id).unwrap().visits.len(), 7);

    // A whole-document chunk (what the server ships to a new tablet), into an empty store and
    // into one holding part of it.
    let whole = theirs_doc.save();
    let (_dir3, mut three) = store("M3");
    assert!(three.merge(&id, &whole).unwrap().new_bytes > 0);
    assert_eq!(three.customer_file(&id).unwrap(), theirs_doc.file().clone());
    let (_dir4, mut four) = store("M4");
    four.merge(&id, &shared_bytes).unwrap();
    four.merge(&id, &one.document_changes(&id).unwrap()).unwrap();
    four.merge(&id, &whole).unwrap();
    assert_eq!(four.customer_file(&id).unwrap(), one.customer_file(&id).unwrap());
    // A sync message with well-formed changes is taken.
    let mut message_doc = CustomerDoc::load(&id, &shared_bytes, &ActorId::random()).unwrap();
    let message = Message {
        heads: theirs_doc.heads(),
        need: vec![],
        have: vec![],
        changes: ChunkList::from(theirs_new.iter().map(|c| c.raw_bytes().to_vec()).collect::<Vec<_>>()),
        flags: None,
        version: MessageVersion::V1,
    }
    .encode();
    let incoming = message_doc.receive_sync_message(&mut State::new(), &message).unwrap();
    assert_eq!(parse_changes(&incoming).unwrap().len(), 6);
    message_doc.merge(&id, parse_changes(&incoming).unwrap()).unwrap();
    assert_eq!(message_doc.file(), theirs_doc.file());
}

/// A document (or a change) that adds a top-level key the schema does not know is refused,
/// whichever way it arrives; a well-formed received document loads as foreign data.
#[test]
fn unknown_top_level_keys_are_refused() {
    use automerge::transaction::Transactable;
    let src = source();
    let good = CustomerDoc::load_foreign(&src.id, &bytes(&src.history), &ActorId::random()).unwrap();
    assert_eq!(good.file().visits.len(), 1);

    let mut raw = AutoCommit::load(&bytes(&src.history)).unwrap();
    let heads = raw.get_heads();
    raw.put(automerge::ROOT, "13812341234", "hidden").unwrap();
    raw.commit();
    let change = raw.save_after(&heads);
    let whole = raw.save();
    let schema = |r: fieldsync_core::Result<_>| match r {
        Err(Error::SchemaMismatch { path, .. }) => assert!(!path.contains("1381234"), "the key is echoed: {path}"),
        other => panic!("expected a schema mismatch, got {other:?}"),
    };
    schema(CustomerDoc::load(&src.id, &whole, &ActorId::random()).map(|_| ()));
    let mut doc = CustomerDoc::load(&src.id, &bytes(&src.history), &ActorId::random()).unwrap();
    let saved = doc.save();
    schema(doc.merge(&src.id, parse_changes(&change).unwrap()).map(|_| ()));
    assert_eq!(doc.save(), saved);
    let (_dir, mut store) = store("M2");
    schema(store.merge(&src.id, &whole).map(|_| ()));
    assert!(store.customer_ids().unwrap().is_empty());
    store.merge(&src.id, &bytes(&src.history)).unwrap();
    schema(store.merge(&src.id, &change).map(|_| ()));
    assert_eq!(store.customer_file(&src.id).unwrap(), good.file().clone());
}
