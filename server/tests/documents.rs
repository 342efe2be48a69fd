//! Pushing tablets' changes into the server's document store and pulling them on another
//! tablet, with real device stores on disk.

use fieldsync_core::domain::{self, Action, CustomerKind, Profile};
use fieldsync_core::store::{Store, User as DeviceUser};
use fieldsync_core::sync::protocol::{self, DocChanges, PushOutcome, SyncRequest, SyncResponse};
use fieldsync_server::accounts::{Device, Role, User};
use fieldsync_server::customers::{self as docs, PushError};
use fieldsync_server::policy::Refusal;
use fieldsync_server::store::Db;

const NOW: i64 = 1_753_056_000_000;

fn server_user(id: &str, role: Role) -> User {
    User { id: id.into(), branch_id: "b1".into(), outlet_id: None, username: id.into(), display_name: id.into(), role }
}

fn tablet(dir: &tempfile::TempDir, name: &str, user: &str) -> Store {
    let mut store = Store::open(dir.path().join(name), None).unwrap();
    store.sign_in(DeviceUser { id: user.into(), name: user.into(), role: domain::Role::Manager }).unwrap();
    store
}

/// A device as the server knows it once signed in: its ID and its store's actor.
fn device(id: &str, store: Option<&Store>) -> Device {
    Device {
        id: id.into(),
        actors: store.map(|s| vec![s.actor().clone()]).unwrap_or_default(),
        clock_offset_ms: None,
        app_version: None,
    }
}

/// One sync round trip through the server's handler (no HTTP), as `device` (pulls only).
fn round(db: &Db, user: &User, device_id: &str, request: SyncRequest) -> SyncResponse {
    round_as(db, user, &device(device_id, None), request)
}

fn round_as(db: &Db, user: &User, device: &Device, request: SyncRequest) -> SyncResponse {
    db.sync_blocking(user, device, request, NOW).unwrap().0
}

#[test]
fn a_customer_goes_from_one_tablet_through_the_server_to_another() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let mut a = tablet(&dir, "a.db", "M1");
    let mut b = tablet(&dir, "b.db", "M1");
    let id = a.create_customer(Profile::new(CustomerKind::Individual, "张三", "韩桥村"), NOW).unwrap();
    let bytes = a.document_changes(&id).unwrap();
    let m1 = server_user("M1", Role::Manager);
    let push = SyncRequest {
        cursor: 1,
        push: vec![DocChanges { customer_id: id.clone(), changes: bytes.clone() }],
        ..Default::default()
    };
    let tablet_a = device("tablet-a", Some(&a));
    let answer = round_as(&db, &m1, &tablet_a, push.clone());
    assert_eq!(answer.pushed[0].outcome, PushOutcome::Accepted { new_changes: 1 });
    // The device's own change does not come back to it, and it named its manager as owner
    // already: the server had nothing to add.
    assert!(answer.changes.is_empty(), "{answer:?}");
    // A repeated push is harmless.
    let again = round_as(&db, &m1, &tablet_a, SyncRequest { cursor: answer.cursor, ..push });
    assert_eq!(again.pushed[0].outcome, PushOutcome::Accepted { new_changes: 0 });
    assert!(again.changes.is_empty());

    // Another tablet of the same manager starts from a listing and gets the document whole.
    let pulled = round(&db, &m1, "tablet-b", SyncRequest::default());
    assert_eq!(pulled.listing.as_ref().unwrap().documents, vec![id.clone()]);
    assert!(pulled.changes.is_empty());
    for s in &pulled.snapshots {
        b.merge(&s.customer_id, &s.document).unwrap();
    }
    assert_eq!(b.customer_file(&id).unwrap(), a.customer_file(&id).unwrap());
    // The cursor moves on: nothing new after it.
    let after = round(&db, &m1, "tablet-b", SyncRequest { cursor: pulled.cursor, ..Default::default() });
    assert!(after.changes.is_empty() && after.snapshots.is_empty());
    // Another manager's scope and another branch see nothing; a supervisor sees the branch.
    let m2 = server_user("M2", Role::Manager);
    assert!(round(&db, &m2, "t2", SyncRequest { cursor: 1, ..Default::default() }).changes.is_empty());
    let listing = round(&db, &m2, "t2", SyncRequest::default()).listing.unwrap();
    assert!(listing.documents.is_empty() && listing.pool.is_empty());
    let mut other = server_user("S9", Role::Supervisor);
    other.branch_id = "b2".into();
    let listing = round(&db, &other, "t9", SyncRequest::default());
    assert!(listing.listing.unwrap().documents.is_empty() && listing.snapshots.is_empty());
    let sup = server_user("S1", Role::Supervisor);
    let first = round(&db, &sup, "t3", SyncRequest::default());
    assert_eq!(first.listing.unwrap().documents, vec![id.clone()]);
    assert_eq!(first.snapshots.len(), 1);
}

#[test]
fn bad_pushes_change_nothing_on_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let mut a = tablet(&dir, "a.db", "M1");
    let id = a.create_customer(Profile::new(CustomerKind::Individual, "张三", "韩桥村"), NOW).unwrap();
    let base = a.heads(&id).unwrap();
    let first = a.document_changes(&id).unwrap();
    let m1 = server_user("M1", Role::Manager);
    let actor = db.with(|c| fieldsync_server::store::DocumentStore::server_actor(c)).unwrap();
    let actors = vec![a.actor().clone()];
    let push = |user: &User, branch: &str, id: &str, bytes: &[u8]| {
        let mut user = user.clone();
        user.branch_id = branch.into();
        db.with(|c| {
            let tx = c.transaction().unwrap();
            let writer = docs::Writer { user: &user, device_id: "t", actors: &actors, clock_offset_ms: None };
            let mut budget = fieldsync_server::sync::Budget::default();
            let result = docs::push(&*tx, branch, writer, id, bytes, &actor, &mut budget, NOW);
            if result.is_ok() {
                tx.commit().unwrap();
            }
            result
        })
    };
    push(&m1, "b1", &id, &first).unwrap();
    let count = || {
        db.with(|c| c.query_row("SELECT count(*) FROM log WHERE hash IS NOT NULL", [], |r| r.get::<_, i64>(0)).unwrap())
    };
    assert_eq!(count(), 1, "the change, which names its manager as owner");

    // Garbage, truncated, and another branch's or a malformed document ID.
    assert!(matches!(push(&m1, "b1", &id, b"garbage"), Err(PushError::Corrupt)));
    assert!(matches!(push(&m1, "b1", &id, &first[..first.len() - 2]), Err(PushError::Corrupt)));
    assert!(matches!(push(&m1, "b2", &id, &first), Err(PushError::NotFound)));
    assert!(matches!(push(&m1, "b1", "../x", &first), Err(PushError::NotFound)));

    // Only the new changes, without the history they build on, from a device that lost it.
    let mut p = a.customer_file(&id).unwrap().profile;
    p.notes = "新".into();
    a.apply(&id, &Action::UpdateProfile { profile: p }, NOW).unwrap();
    let mut doc =
        fieldsync_core::document::CustomerDoc::load(&id, &a.document_changes(&id).unwrap(), a.actor()).unwrap();
    let only_new = doc.changes_since(&base);
    let other = "0198aaaa-0000-7000-8000-000000000001";
    let unknown = push(&m1, "b1", other, &only_new);
    assert!(matches!(unknown, Err(PushError::MissingHistory)), "{unknown:?}");

    // Another manager editing M1's customer is refused with a reason.
    let m2 = server_user("M2", Role::Manager);
    let mut p = a.customer_file(&id).unwrap().profile;
    p.occupation = "改".into();
    a.sign_in(DeviceUser { id: "M2".into(), name: "M2".into(), role: domain::Role::Manager }).unwrap();
    a.apply(&id, &Action::UpdateProfile { profile: p }, NOW).unwrap();
    let edit = a.document_changes(&id).unwrap();
    let refused = push(&m2, "b1", &id, &edit);
    assert!(matches!(refused, Err(PushError::Refused(Refusal::NotYourCustomer))), "{refused:?}");
    assert_eq!(count(), 1, "nothing refused was stored");
}

#[test]
fn a_batch_commits_once_and_one_bad_request_does_not_sink_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let mut a = tablet(&dir, "a.db", "M1");
    let mut b = tablet(&dir, "b.db", "M2");
    let ca = a.create_customer(Profile::new(CustomerKind::Individual, "张三", "韩桥村"), NOW).unwrap();
    let cb = b.create_customer(Profile::new(CustomerKind::Individual, "李四", "韩桥村"), NOW).unwrap();
    let (m1, m2) = (server_user("M1", Role::Manager), server_user("M2", Role::Manager));
    let push = |id: &str, bytes: Vec<u8>| SyncRequest {
        cursor: 1,
        push: vec![DocChanges { customer_id: id.to_string(), changes: bytes }],
        ..Default::default()
    };
    let ra = push(&ca, a.document_changes(&ca).unwrap());
    let rb = push(&cb, b.document_changes(&cb).unwrap());
    let too_many = SyncRequest {
        cursor: 1,
        fetch: vec!["x".into(); fieldsync_server::limits::MAX_ITEMS + 1],
        ..Default::default()
    };
    let (ta, tx, tb) = (device("ta", Some(&a)), device("tx", None), device("tb", Some(&b)));
    let jobs = [
        fieldsync_server::store::sqlite::db::Job { user: &m1, device: &ta, request: &ra, prepared: None, now: NOW },
        fieldsync_server::store::sqlite::db::Job {
            user: &m2,
            device: &tx,
            request: &too_many,
            prepared: None,
            now: NOW,
        },
        fieldsync_server::store::sqlite::db::Job { user: &m2, device: &tb, request: &rb, prepared: None, now: NOW },
    ];
    let answers = db.with(|c| fieldsync_server::store::sqlite::db::handle_batch(c, &jobs));
    assert_eq!(answers.len(), 3);
    assert!(answers[1].is_err());
    for i in [0, 2] {
        let (response, _) = answers[i].as_ref().unwrap();
        assert_eq!(response.pushed[0].outcome, PushOutcome::Accepted { new_changes: 1 });
    }
    // Both customers are stored, each its manager's from its creation.
    let rows: i64 =
        db.with(|c| c.query_row("SELECT count(*) FROM log WHERE hash IS NOT NULL", [], |r| r.get(0)).unwrap());
    assert_eq!(rows, 2);
}

/// Documents kept in the server's cache between pushes are served only at the version they were
/// committed at: a decision written meanwhile (outside the sync path) is never lost by a later
/// push that merges into a stale copy.
#[test]
fn a_cached_document_is_never_used_after_another_write() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut a = tablet(&dir, "a.db", "M1");
    let m1 = server_user("M1", Role::Manager);
    let s1 = server_user("S1", Role::Supervisor);
    let tablet_a = device("tablet-a", Some(&a));
    let id = a.create_customer(Profile::new(CustomerKind::Individual, "张三", "韩桥村"), NOW).unwrap();
    // Every change each time: the server takes only what is new to it.
    let push = |a: &mut Store| {
        let changes = a.document_changes(&id).unwrap();
        let request = SyncRequest {
            cursor: 1,
            push: vec![DocChanges { customer_id: id.clone(), changes }],
            ..Default::default()
        };
        let body = protocol::encode(&request).into();
        let (frame, _) = runtime.block_on(db.sync(m1.clone(), tablet_a.clone(), body, NOW)).unwrap();
        let answer: SyncResponse = protocol::decode(&frame).unwrap();
        assert!(matches!(answer.pushed[0].outcome, PushOutcome::Accepted { .. }), "{answer:?}");
    };
    // Pushed through the sync path: the document is kept in the cache.
    push(&mut a);
    // A supervisor's decision, written outside the sync path.
    let decision = Action::SetLifecycle { lifecycle: Some(domain::Lifecycle::QualifiedProspect) };
    let (s, cid, d) = (s1.clone(), id.clone(), decision.clone());
    runtime.block_on(db.write(move |store| docs::write_decision(store, &s, &cid, &d, NOW))).unwrap();
    // The tablet edits the customer and pushes again; then again (this time from the cache).
    let mut profile = Profile::new(CustomerKind::Individual, "张三", "韩桥村");
    profile.address = "韩桥村 3 组".into();
    a.apply(&id, &Action::UpdateProfile { profile: profile.clone() }, NOW + 1).unwrap();
    push(&mut a);
    profile.address = "韩桥村 4 组".into();
    a.apply(&id, &Action::UpdateProfile { profile }, NOW + 2).unwrap();
    push(&mut a);
    let stored = db
        .with(|c| {
            let actor = fieldsync_server::store::DocumentStore::server_actor(c).unwrap();
            docs::load(c, &id, &actor)
        })
        .unwrap()
        .unwrap();
    assert_eq!(stored.file().server.lifecycle, Some(domain::Lifecycle::QualifiedProspect));
    assert_eq!(stored.file().profile.address, "韩桥村 4 组");
    // What a new tablet of the supervisor receives has both, too.
    let first = round(&db, &s1, "tablet-s", SyncRequest { cursor: 0, max_bytes: 1 << 20, ..Default::default() });
    let snapshot = first.snapshots.iter().find(|s| s.customer_id == id).expect("served whole");
    let actor = automerge::ActorId::random();
    let served = fieldsync_core::document::CustomerDoc::load(&id, &snapshot.document, &actor).unwrap();
    assert_eq!(served.file().server.lifecycle, Some(domain::Lifecycle::QualifiedProspect));
    assert_eq!(served.file().profile.address, "韩桥村 4 组");
    // And the rows the server keeps beside the document (what lists are built from) agree.
    assert_eq!(snapshot.rows, fieldsync_core::store::Rows::of(served.file()));
    assert_eq!(snapshot.rows.customer.lifecycle.as_deref(), Some("qualified_prospect"));
}

/// A manager's new customer is theirs under their account's name: a tablet that named them
/// already costs the server nothing; a tablet that left the owner empty (an older app) or wrote
/// another name gets the server's assignment back; a tablet that names anyone else is refused.
#[test]
fn a_managers_new_customer_is_theirs_under_their_accounts_name() {
    use fieldsync_core::domain::{Ctx, Owner};
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let a = tablet(&dir, "a.db", "M1");
    let m1 = server_user("M1", Role::Manager);
    let tablet_a = device("tablet-a", Some(&a));
    let push = |owner: Option<Owner>| {
        let id = fieldsync_core::ids::new_id();
        let create = Action::CreateCustomer {
            id: id.clone(),
            profile: Profile::new(CustomerKind::Individual, "张三", "韩桥村"),
        };
        // The tablet's own create: the manager as owner, under the name the tablet knows.
        let ctx = Ctx { user_id: "M1".into(), user_name: "M1".into(), role: domain::Role::Manager, now: NOW };
        let (mut doc, _) = fieldsync_core::document::CustomerDoc::create(a.actor(), &create, &ctx).unwrap();
        if let Some(owner) = owner {
            // What another app would write instead, in the same first push.
            let server = Ctx { role: domain::Role::Server, ..ctx };
            doc.apply(&Action::assign(owner), &server).unwrap().unwrap();
        }
        let request = SyncRequest {
            cursor: 1,
            push: vec![DocChanges { customer_id: id.clone(), changes: doc.changes_since(&[]) }],
            ..Default::default()
        };
        let answer = round_as(&db, &m1, &tablet_a, request);
        let stored = db.with(|c| docs::load(c, &id, &automerge::ActorId::random())).unwrap();
        let comes_back = answer.changes.iter().any(|c| c.customer_id == id);
        (answer, comes_back, stored.map(|d| d.file().server.owner.clone()))
    };
    let mine = Owner { manager_id: Some("M1".into()), manager_name: Some("M1".into()) };

    let (answer, comes_back, owner) = push(None);
    assert_eq!(answer.pushed[0].outcome, PushOutcome::Accepted { new_changes: 1 });
    assert!(!comes_back, "nothing for the server to add: {answer:?}");
    assert_eq!(owner, Some(mine.clone()));

    for written in [Owner::default(), Owner { manager_id: Some("M1".into()), manager_name: Some("行长".into()) }] {
        let (answer, comes_back, owner) = push(Some(written.clone()));
        assert_eq!(answer.pushed[0].outcome, PushOutcome::Accepted { new_changes: 2 }, "{written:?}");
        assert!(comes_back, "the server's assignment comes back: {written:?}");
        assert_eq!(owner, Some(mine.clone()), "{written:?}");
    }

    let other = Owner { manager_id: Some("M2".into()), manager_name: Some("M2".into()) };
    let (answer, _, owner) = push(Some(other));
    assert!(matches!(&answer.pushed[0].outcome, PushOutcome::Refused(r) if r.code == "server_decided"), "{answer:?}");
    assert_eq!(owner, None, "nothing stored");
}

/// The commit thread answers a request itself when the answer is small (a short pull, nothing
/// whole to send): that answer is exactly what a reader would answer, for every user and cursor,
/// and anything bigger is left to a reader.
#[test]
fn a_small_answer_is_what_a_reader_answers_and_nothing_bigger_is_answered_small() {
    use fieldsync_server::sync::{SMALL_BYTES, SMALL_ROWS, Stats, answer, answer_small};
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let (m1, m2, s1) =
        (server_user("M1", Role::Manager), server_user("M2", Role::Manager), server_user("S1", Role::Supervisor));
    db.with(|c| {
        c.execute("INSERT OR IGNORE INTO branches (id, name) VALUES ('b1', 'b1')", []).unwrap();
        for u in [&m1, &m2] {
            c.execute(
                "INSERT INTO users (id, branch_id, username, display_name, role, password_hash)
                 VALUES (?1, 'b1', ?1, ?1, 'manager', 'x')",
                [&u.id],
            )
            .unwrap();
        }
    });
    let mut a = tablet(&dir, "a.db", "M1");
    let mut b = tablet(&dir, "b.db", "M2");
    let (tablet_a, tablet_b) = (device("tablet-a", Some(&a)), device("tablet-b", Some(&b)));
    let push = |store: &mut Store, user: &User, device: &Device, id: &str| {
        let changes = store.document_changes(id).unwrap();
        let request =
            SyncRequest { cursor: 1, push: vec![DocChanges { customer_id: id.into(), changes }], ..Default::default() };
        let answer = round_as(&db, user, device, request);
        assert!(matches!(answer.pushed[0].outcome, PushOutcome::Accepted { .. }), "{answer:?}");
    };
    let mut ids = Vec::new();
    for (i, (store, user, device)) in [(&mut a, &m1, &tablet_a), (&mut b, &m2, &tablet_b)].into_iter().enumerate() {
        for k in 0..3 {
            let id = store
                .create_customer(Profile::new(CustomerKind::Individual, "张三", format!("村{i}{k}")), NOW)
                .unwrap();
            push(store, user, device, &id);
            ids.push(id);
        }
    }
    // A supervisor gives one of M1's customers to M2 (M2's tablet lacks its history: it is sent
    // whole) and puts one in the pool (the managers see it masked).
    let owner = |u: &User| domain::Owner { manager_id: Some(u.id.clone()), manager_name: Some(u.display_name.clone()) };
    db.write_blocking(|s| docs::write_decision(s, &s1, &ids[0], &Action::assign(owner(&m2)), NOW)).unwrap();
    db.write_blocking(|s| docs::write_decision(s, &s1, &ids[1], &Action::assign(domain::Owner::default()), NOW))
        .unwrap();
    // M1's last customer changes more often than a small answer reads.
    for n in 0..SMALL_ROWS {
        let mut profile = Profile::new(CustomerKind::Individual, "张三", "村02");
        profile.address = format!("{n} 组");
        a.apply(&ids[2], &Action::UpdateProfile { profile }, NOW + n as i64).unwrap();
    }
    push(&mut a, &m1, &tablet_a, &ids[2]);
    // M2's last customer gets long notes, a few changes of several KB each: more bytes than a
    // small answer carries, in fewer rows than it reads.
    let mut chars = 0x4e00u32;
    for n in 0..12 {
        let mut profile = Profile::new(CustomerKind::Individual, "张三", "村12");
        profile.notes = (0..4000)
            .map(|_| {
                chars = 0x4e00 + (chars * 7919 + n) % 0x5000;
                char::from_u32(chars).unwrap()
            })
            .collect();
        b.apply(&ids[5], &Action::UpdateProfile { profile }, NOW + n as i64).unwrap();
    }
    let before_notes: u64 =
        db.with(|c| c.query_row("SELECT max(seq) FROM log", [], |r| r.get::<_, i64>(0)).unwrap()) as u64;
    push(&mut b, &m2, &tablet_b, &ids[5]);
    let head: u64 = db.with(|c| c.query_row("SELECT max(seq) FROM log", [], |r| r.get::<_, i64>(0)).unwrap()) as u64;

    let (mut small, mut left) = (0, 0);
    db.with(|c| {
        let tx = c.transaction().unwrap();
        let readers =
            [(&m1, "tablet-a"), (&m1, "another-of-m1"), (&m2, "tablet-b"), (&m2, "another-of-m2"), (&s1, "tablet-s")];
        for (user, device_id) in readers {
            for cursor in 1..=head + 1 {
                let request = SyncRequest { cursor, max_bytes: 1 << 20, ..Default::default() };
                let reader =
                    answer(&*tx, user, device_id, &request, SyncResponse::default(), Stats::default()).unwrap();
                match answer_small(&*tx, user, device_id, &request, SyncResponse::default(), Stats::default()).unwrap()
                {
                    Some((response, _)) => {
                        assert_eq!(response, reader.0, "{} on {device_id} after {cursor}", user.id);
                        let bytes: usize = response.changes.iter().map(|c| c.changes.len()).sum();
                        assert!(bytes <= SMALL_BYTES, "{bytes} bytes answered small after {cursor}");
                        small += 1;
                    }
                    None => left += 1,
                }
            }
        }
        // A first sync (a listing and whole documents) and a fetch are never small.
        for request in [
            SyncRequest { cursor: 0, ..Default::default() },
            SyncRequest { cursor: head, fetch: vec![ids[3].clone()], ..Default::default() },
        ] {
            let got = answer_small(&*tx, &m2, "tablet-b", &request, SyncResponse::default(), Stats::default()).unwrap();
            assert!(got.is_none(), "{request:?}");
        }
    });
    // Both kinds happened: the comparison above is not empty, and the long pull and M2's newly
    // owned customer were left to a reader.
    assert!(small > 0 && left > 0, "small {small}, left to a reader {left}");
    let leaves = |user: &User, device: &str, cursor: u64| {
        db.with(|c| {
            let request = SyncRequest { cursor, max_bytes: 1 << 20, ..Default::default() };
            answer_small(&*c, user, device, &request, SyncResponse::default(), Stats::default()).unwrap().is_none()
        })
    };
    assert!(leaves(&m1, "another-of-m1", 1), "a pull of more than {SMALL_ROWS} rows");
    assert!(leaves(&m2, "tablet-b", 1), "a customer M2 now owns is sent whole");
    assert!(leaves(&m2, "another-of-m2", before_notes), "a pull of more than {SMALL_BYTES} bytes");
    assert!(!leaves(&m2, "tablet-b", head), "nothing new is small");
}
