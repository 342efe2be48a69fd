//! A tablet with one bad document never stops syncing: whatever in a server reply concerns one
//! document (a snapshot that does not match, changes that fail to merge or would panic
//! automerge, a reconcile message that fails, a malformed customer ID) sets that document or
//! entry aside, and the rest of the reply is applied together with its cursor.

mod common;

use std::collections::HashMap;

use automerge::Change;
use common::*;
use fieldsync_core::document::{CustomerDoc, parse_changes};
use fieldsync_core::store::{CustomerFilter, Rows, Store, SyncBatch};
use fieldsync_core::sync::protocol::{DocChanges, Listing, PoolEntry, Snapshot, SyncMessage, SyncResponse};

/// The server side of the test: a store holding the branch's documents.
fn server_copy(store: &mut Store, id: &str) -> (Snapshot, CustomerDoc) {
    let mut doc = CustomerDoc::load(id, &store.document_changes(id).unwrap(), store.actor()).unwrap();
    let snapshot =
        Snapshot { customer_id: id.to_string(), document: doc.save_uncompressed(), rows: Rows::of(doc.file()) };
    (snapshot, doc)
}

fn listed(store: &Store) -> Vec<String> {
    let page = store.customers(&CustomerFilter::default(), 100, None).unwrap();
    let mut ids: Vec<String> = page.items.iter().map(|c| c.customer_id.clone()).collect();
    ids.sort();
    ids
}

fn apply(store: &mut Store, response: SyncResponse) -> fieldsync_core::store::SyncApplied {
    store.apply_sync_response(&SyncBatch::default(), response, &mut HashMap::new(), NOW).expect("the reply is applied")
}

const BAD_ID: &str = "../../not-an-id";

#[test]
fn one_bad_document_does_not_stop_the_rest() {
    let (_dir, mut server) = store("M1");
    let a = server.create_customer(profile("甲", "韩桥村"), NOW).unwrap();
    let b = server.create_customer(profile("乙", "韩桥村"), NOW).unwrap();
    let c = server.create_customer(profile("丙", "张坪村"), NOW).unwrap();
    let (snap_a, _) = server_copy(&mut server, &a);
    let (mut snap_b, _) = server_copy(&mut server, &b);
    let (snap_c, mut doc_c) = server_copy(&mut server, &c);
    // B's snapshot carries C's rows: it does not match its customer.
    snap_b.rows = snap_c.rows.clone();
    let mut bad_snapshot = snap_c.clone();
    bad_snapshot.customer_id = BAD_ID.into();

    let (_tdir, mut tablet) = store("M1");
    let first = SyncResponse {
        cursor: 10,
        listing: Some(Listing { documents: vec![a.clone(), BAD_ID.into(), b.clone(), c.clone()], pool: vec![] }),
        snapshots: vec![snap_a, bad_snapshot, snap_b, snap_c],
        purge: vec![BAD_ID.into()],
        pool: vec![PoolEntry {
            customer_id: BAD_ID.into(),
            name_masked: "张*".into(),
            kind: "individual".into(),
            village: "韩桥村".into(),
            tier: None,
        }],
        changes: vec![DocChanges { customer_id: BAD_ID.into(), changes: vec![1, 2, 3] }],
        // Garbage where a reconcile message of A should be.
        reconcile: vec![SyncMessage { customer_id: a.clone(), message: vec![0x42, 0xff, 0xff] }],
        ..Default::default()
    };
    let applied = apply(&mut tablet, first);
    assert_eq!(tablet.sync_cursor().unwrap(), 10, "the cursor advances");
    assert_eq!(applied.documents_received, 2);
    let mut expected = vec![a.clone(), c.clone()];
    expected.sort();
    assert_eq!(tablet.customer_ids().unwrap(), expected, "A and C arrive, B is set aside");
    assert_eq!(listed(&tablet), expected);
    // B is not asked for again and again (the session would loop); it is in the quarantine.
    assert_eq!(tablet.pending_fetches().unwrap(), 0);
    let quarantined: Vec<String> = tablet.quarantined().unwrap().into_iter().map(|q| q.customer_id).collect();
    assert!(quarantined.contains(&b), "{quarantined:?}");
    assert!(quarantined.contains(&a), "the failed reconcile message is recorded: {quarantined:?}");
    assert!(tablet.pool(None).unwrap().is_empty());
    assert_eq!(tablet.customer_file(&a).unwrap().profile.name, "甲");

    // Next reply: changes for A that would panic automerge (a skipped sequence number), good
    // changes for C.
    let heads_c = doc_c.heads();
    complete_visit(&mut server, &c, NOW, "走访");
    let new_c =
        CustomerDoc::load(&c, &server.document_changes(&c).unwrap(), server.actor()).unwrap().changes_since(&heads_c);
    let a_changes = parse_changes(&server.document_changes(&a).unwrap()).unwrap();
    complete_visit(&mut server, &a, NOW, "走访");
    let a_next = parse_changes(&server.document_changes(&a).unwrap()).unwrap();
    let next: &Change = a_next.iter().find(|ch| !a_changes.iter().any(|o| o.hash() == ch.hash())).unwrap();
    let mut expanded = next.decode();
    expanded.seq += 5;
    let crafted = Change::from(expanded);
    let a_before = tablet.document_changes(&a).unwrap();
    let second = SyncResponse {
        cursor: 20,
        changes: vec![
            DocChanges { customer_id: a.clone(), changes: crafted.raw_bytes().to_vec() },
            DocChanges { customer_id: c.clone(), changes: new_c },
        ],
        ..Default::default()
    };
    apply(&mut tablet, second);
    assert_eq!(tablet.sync_cursor().unwrap(), 20);
    assert_eq!(tablet.document_changes(&a).unwrap(), a_before, "A is left as it was");
    assert_eq!(tablet.customer_file(&c).unwrap().visits.len(), 1, "C's changes arrive");
    doc_c.merge(&c, parse_changes(&server.document_changes(&c).unwrap()).unwrap()).unwrap();
    assert_eq!(&tablet.customer_file(&c).unwrap(), doc_c.file());
    let a_quarantined = tablet.quarantined().unwrap().into_iter().filter(|q| q.customer_id == a).count();
    assert_eq!(a_quarantined, 2);

    // The projections still equal a rebuild from the documents.
    let dump = tablet.projection_dump().unwrap();
    tablet.rebuild_projections().unwrap();
    assert_eq!(tablet.projection_dump().unwrap(), dump);
}

/// A reconcile message whose changes would panic automerge is refused and leaves the document
/// and the rest of the reply alone.
#[test]
fn a_bad_reconcile_message_is_set_aside() {
    use automerge::sync::{ChunkList, Message, MessageVersion};
    let (_dir, mut server) = store("M1");
    let a = server.create_customer(profile("甲", "韩桥村"), NOW).unwrap();
    let b = server.create_customer(profile("乙", "韩桥村"), NOW).unwrap();
    let (snap_a, _) = server_copy(&mut server, &a);
    let (snap_b, _) = server_copy(&mut server, &b);
    let (_tdir, mut tablet) = store("M1");
    apply(&mut tablet, SyncResponse { cursor: 1, snapshots: vec![snap_a, snap_b], ..Default::default() });

    let base = parse_changes(&server.document_changes(&a).unwrap()).unwrap();
    complete_visit(&mut server, &a, NOW, "走访");
    let all = parse_changes(&server.document_changes(&a).unwrap()).unwrap();
    let next = all.iter().find(|ch| !base.iter().any(|o| o.hash() == ch.hash())).unwrap();
    let mut expanded = next.decode();
    expanded.operations[0].obj =
        automerge::legacy::ObjectId::Id(automerge::legacy::OpId(9_999, next.actor_id().clone()));
    let crafted = Change::from(expanded);
    let message = Message {
        heads: vec![crafted.hash()],
        need: vec![],
        have: vec![],
        changes: ChunkList::from(vec![crafted.raw_bytes().to_vec()]),
        flags: None,
        version: MessageVersion::V1,
    }
    .encode();
    let before = tablet.document_changes(&a).unwrap();
    let (snap_b2, _) = {
        server
            .apply(&b, &fieldsync_core::domain::Action::UpdateProfile { profile: profile("乙二", "韩桥村") }, NOW)
            .unwrap();
        server_copy(&mut server, &b)
    };
    let b_changes = server.document_changes(&b).unwrap();
    let applied = apply(
        &mut tablet,
        SyncResponse {
            cursor: 2,
            reconcile: vec![SyncMessage { customer_id: a.clone(), message }],
            changes: vec![DocChanges { customer_id: b.clone(), changes: b_changes }],
            ..Default::default()
        },
    );
    assert_eq!(applied.quarantined, 1);
    assert_eq!(tablet.sync_cursor().unwrap(), 2);
    assert_eq!(tablet.document_changes(&a).unwrap(), before);
    assert_eq!(tablet.customer_file(&b).unwrap().profile.name, "乙二");
    assert_eq!(snap_b2.rows.customer.name, "乙二");
    assert!(tablet.reconciling().unwrap().is_empty());
}
