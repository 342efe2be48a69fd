//! The store interface's conformance, part `DocumentStore`: the same calls on the SQLite store and
//! on the PostgreSQL store give the same results, with real customer documents (automerge
//! changes made by `CustomerDoc`), scope moves, snapshots, planned visits, pool entries, every
//! role's view, the store's epoch and its other meta values.

mod common;

use automerge::{ActorId, Change};
use common::pg::PgTest;
use common::{HOUR, NOW};
use fieldsync_core::document::{CustomerDoc, parse_changes};
use fieldsync_core::domain::{self, Action, Channel, Ctx, CustomerKind, Profile, VisitPurpose};
use fieldsync_core::store::Rows;
use fieldsync_server::accounts::{Role, User};
use fieldsync_server::customers::pool_entry;
use fieldsync_server::policy::{Scope, View};
use fieldsync_server::store::documents::{DocumentState, DocumentStore};
use fieldsync_server::store::{StoreError, StoreResult};

const DAY: i64 = 24 * HOUR;
/// Today, as a device's first sync names it ([`NOW`] is a midnight).
const TODAY: (i64, i64) = (NOW, NOW + DAY);

/// A customer document built once (its changes are then the same bytes on both stores).
struct Customer {
    id: &'static str,
    branch: &'static str,
    village: &'static str,
    /// Its changes, in order.
    changes: Vec<Change>,
    /// The document after `changes`.
    doc: CustomerDoc,
}

fn ctx(manager: &str) -> Ctx {
    Ctx { user_id: manager.into(), user_name: manager.into(), role: domain::Role::Manager, now: NOW }
}

fn customer(id: &'static str, branch: &'static str, manager: &str, name: &str, village: &'static str) -> Customer {
    let actor = ActorId::from(format!("actor-{id}").as_bytes());
    let action =
        Action::CreateCustomer { id: id.into(), profile: Profile::new(CustomerKind::Individual, name, village) };
    let (doc, first) = CustomerDoc::create(&actor, &action, &ctx(manager)).unwrap();
    let mut c = Customer { id, branch, village, changes: parse_changes(&first).unwrap(), doc };
    // A second change: the profile again, with the occupation filled in.
    let mut profile = c.doc.file().profile.clone();
    profile.occupation = "种植户".into();
    c.apply(manager, &Action::UpdateProfile { profile });
    c
}

impl Customer {
    fn apply(&mut self, manager: &str, action: &Action) -> Vec<Change> {
        let committed = self.doc.apply(action, &ctx(manager)).unwrap().unwrap();
        let new = parse_changes(&committed.change).unwrap();
        self.changes.extend(new.iter().cloned());
        new
    }

    fn plan(&mut self, manager: &str, visit_id: &str, at: i64) -> Vec<Change> {
        self.apply(
            manager,
            &Action::PlanVisit {
                visit_id: visit_id.into(),
                purpose: VisitPurpose::Marketing,
                channel: Channel::InPerson,
                planned_at: at,
            },
        )
    }
}

/// Every customer of the scenario, and what it needs beyond them.
struct Fixture {
    customers: Vec<Customer>,
    /// `c1` saved as a snapshot after its first three changes.
    c1_snapshot: Vec<u8>,
    /// `c1`'s change after its snapshot.
    c1_later: Vec<Change>,
}

impl Fixture {
    fn new() -> Fixture {
        let mut c1 = customer("c1", "b1", "M1", "张三", "韩桥村");
        c1.plan("M1", "v1", NOW + 3 * HOUR);
        let c1_snapshot = c1.doc.save();
        let mut profile = c1.doc.file().profile.clone();
        profile.address = "韩桥村三组".into();
        let c1_later = c1.apply("M1", &Action::UpdateProfile { profile });
        let mut c3 = customer("c3", "b1", "M1", "王五", "韩桥村");
        // Planned exactly at the end of today: tomorrow's.
        c3.plan("M1", "v3", NOW + DAY);
        let mut c9 = customer("c9", "b1", "M1", "钱九", "北山村");
        c9.plan("M1", "v9", NOW + 5 * HOUR);
        let customers = vec![
            customer("a0", "b1", "M1", "周一", "韩桥村"),
            c1,
            customer("c2", "b1", "M1", "李四", "东湾村"),
            c3,
            customer("c4", "b1", "M2", "赵六", "西岭村"),
            customer("c5", "b1", "M1", "孙七", "东湾村"),
            customer("c6", "b1", "M2", "吴八", "韩桥村"),
            customer("c7", "b2", "M3", "郑十", "韩桥村"),
            customer("c8", "b1", "M1", "冯一", "西岭村"),
            c9,
            customer("c10", "b1", "M1", "陈二", "北山村"),
            customer("c11", "b1", "M1", "褚三", "东湾村"),
            customer("c12", "b1", "M2", "卫四", "西岭村"),
        ];
        Fixture { customers, c1_snapshot, c1_later }
    }

    fn get(&self, id: &str) -> &Customer {
        self.customers.iter().find(|c| c.id == id).unwrap()
    }
}

fn user(id: &str, branch: &str, role: Role) -> User {
    common::user(id, role, branch)
}

fn users() -> Vec<User> {
    vec![
        user("M1", "b1", Role::Manager),
        user("M2", "b1", Role::Manager),
        user("M3", "b2", Role::Manager),
        user("S1", "b1", Role::Supervisor),
        user("A1", "b1", Role::Admin),
        user("A2", "b2", Role::Admin),
        user("S9", "b9", Role::Supervisor),
    ]
}

/// A result, with the store's own errors (which differ between the stores) told apart only from
/// its decoding errors.
fn res<T: std::fmt::Debug>(r: StoreResult<T>) -> String {
    match r {
        Ok(v) => format!("Ok({v:?})"),
        Err(StoreError::Corrupt(what)) => format!("Corrupt({what})"),
        Err(_) => "Err(database)".into(),
    }
}

/// A short digest of bytes, to compare them without printing them.
fn digest(bytes: &[u8]) -> String {
    let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3));
    format!("{}B#{h:016x}", bytes.len())
}

/// Reads the log as `user` after `since` up to `until`, stopping after `stop_after` entries.
fn scan<S: DocumentStore + ?Sized>(store: &S, user: &User, since: i64, until: i64, stop_after: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let result = store.scan_log(user, since, until, &mut |e| {
        seen.push(format!(
            "{} {} {:?} {:?} {:?} {}",
            e.seq,
            e.customer_id,
            e.change.as_deref().map(digest),
            e.device_id,
            e.from_scope,
            e.scope_now
        ));
        Ok(seen.len() < stop_after)
    });
    seen.push(res(result));
    seen
}

/// What a scenario saw, to compare across the stores.
fn scenario<S: DocumentStore + ?Sized>(store: &S, fx: &Fixture, setup: impl Fn(&str)) -> Vec<String> {
    let mut seen = Vec::new();
    let ids: Vec<&str> = fx.customers.iter().map(|c| c.id).chain(["nope"]).collect();
    let m1 = user("M1", "b1", Role::Manager);
    let owned = |m: &str| Scope::Owned(m.into());

    // An empty store.
    let actor = store.server_actor().unwrap();
    assert!(!actor.to_bytes().is_empty());
    seen.push(format!("actor stable: {}", store.server_actor().unwrap() == actor));
    seen.push(format!("head {}", res(store.log_head())));
    seen.push(format!("document {}", res(store.document("c1"))));
    seen.push(format!("bytes {}", res(store.document_bytes("c1"))));
    seen.push(format!("size {}", res(store.stored_size("c1"))));
    seen.push(format!("after snapshot {}", res(store.changes_after_snapshot("c1"))));
    seen.push(format!("snapshot {}", res(store.snapshot("c1"))));
    seen.push(format!("pool entry {}", res(store.pool_entry("c1"))));
    seen.push(format!("live {}", res(store.live_documents())));
    seen.push(format!("listing {}", res(store.listing(&m1, TODAY))));
    seen.push(format!("scan {:?}", scan(store, &m1, 0, 100, usize::MAX)));
    seen.push(format!("moves {}", res(store.moves_since("c1", 0))));
    seen.push(format!("has {}", res(store.has_change("c1", &fx.get("c1").changes[0].hash()))));

    // Changes: each logged once, whatever the batches repeat.
    let c1 = fx.get("c1");
    seen.push(format!("c1 first {}", res(store.append_changes("b1", "c1", &c1.changes[..2], Some("tab-1")))));
    seen.push(format!("c1 again {}", res(store.append_changes("b1", "c1", &c1.changes[..3], None))));
    let twice = [c1.changes[0].clone(), c1.changes[0].clone()];
    seen.push(format!("c1 twice {}", res(store.append_changes("b1", "c1", &twice, Some("tab-1")))));
    seen.push(format!("nothing {}", res(store.append_changes("b1", "c1", &[], Some("tab-1")))));
    let c1_head = store.log_head().unwrap();
    seen.push(format!("head {c1_head}"));
    for c in fx.customers.iter().filter(|c| c.id != "c1") {
        let device = (c.id != "c4").then_some("tab-2");
        // A batch holding one change twice, then the whole history again.
        let batch = [c.changes[0].clone(), c.changes[0].clone(), c.changes[1].clone()];
        let first = store.append_changes(c.branch, c.id, &batch, device);
        let again = store.append_changes(c.branch, c.id, &c.changes, device);
        seen.push(format!("{} {} {}", c.id, res(first), res(again)));
    }
    for c in &fx.customers {
        let hashes: Vec<bool> = c.changes.iter().map(|ch| store.has_change(c.id, &ch.hash()).unwrap()).collect();
        seen.push(format!("{} has {hashes:?}", c.id));
    }
    // A change is known per customer.
    seen.push(format!("has elsewhere {}", res(store.has_change("c2", &c1.changes[0].hash()))));
    seen.push(format!("has nope {}", res(store.has_change("nope", &c1.changes[0].hash()))));

    // Their states, at the log's head.
    let save = |c: &Customer, branch: &str, scope: &Scope, planned: &[(&str, i64)]| {
        let file = c.doc.file();
        let state = DocumentState {
            customer_id: c.id,
            branch_id: branch,
            scope,
            village: c.village,
            version: store.log_head().unwrap(),
            rows: &Rows::of(file),
            pool_entry: &pool_entry(file),
            planned,
        };
        store.save_document(&state).unwrap();
    };
    for c in &fx.customers {
        let scope = match c.id {
            "c4" => Scope::Pool,
            "c6" | "c12" => owned("M2"),
            "c7" => owned("M3"),
            // Stored as `m:`, which is no scope at all.
            "c8" => owned(""),
            _ => owned("M1"),
        };
        let planned: &[(&str, i64)] = match c.id {
            "c1" => &[("M1", NOW + 3 * HOUR)],
            "c3" => &[("M1", NOW + DAY), ("M2", NOW + 2 * HOUR)],
            "c9" => &[("M1", NOW + 5 * HOUR)],
            // Before today.
            "c6" => &[("M1", NOW - 1)],
            _ => &[],
        };
        save(c, c.branch, &scope, planned);
    }
    // A stored scope that does not parse.
    setup("UPDATE documents SET scope = 'zzz' WHERE customer_id = 'c11'");
    for id in &ids {
        seen.push(format!("document {id} {}", res(store.document(id))));
    }
    seen.push(format!("listing M1 {}", res(store.listing(&m1, TODAY))));
    seen.push(format!("listing M1 tomorrow {}", res(store.listing(&m1, (NOW + DAY, NOW + 2 * DAY)))));
    seen.push(format!("listing M1 no day {}", res(store.listing(&m1, (0, 0)))));

    // Scope moves.
    store.log_move("b1", "c2", &owned("M1"), &Scope::Pool).unwrap();
    save(fx.get("c2"), "b1", &Scope::Pool, &[]);
    store.log_move("b1", "c5", &owned("M1"), &Scope::Closed).unwrap();
    save(fx.get("c5"), "b1", &Scope::Closed, &[]);
    let before_c12 = store.log_head().unwrap();
    for i in 0..130 {
        let (from, to) = if i % 2 == 0 { (owned("M2"), Scope::Pool) } else { (Scope::Pool, owned("M2")) };
        store.log_move("b1", "c12", &from, &to).unwrap();
    }
    save(fx.get("c12"), "b1", &owned("M2"), &[]);
    // A move in the other branch (to a manager of the same ID as one of b1's): not read in b1.
    store.log_move("b2", "c7", &owned("M3"), &owned("M1")).unwrap();
    save(fx.get("c7"), "b2", &owned("M1"), &[]);
    seen.push(format!("head after moves {}", res(store.log_head())));

    // The snapshot of c1, folding its first three changes; then a move (not a change) and its
    // fourth change.
    seen.push(format!(
        "c1 snapshot before {}",
        res(store.snapshot("c1").map(|s| s.map(|s| (digest(&s.bytes), s.stale))))
    ));
    store.save_snapshot("c1", &fx.c1_snapshot, c1_head).unwrap();
    let snap = store.snapshot("c1").unwrap().unwrap();
    assert_eq!(snap.bytes, fx.c1_snapshot);
    assert_eq!(snap.rows, Rows::of(c1.doc.file()));
    seen.push(format!("c1 snapshot {} {} {:?}", digest(&snap.bytes), snap.stale, snap.rows));
    seen.push(format!("c1 after snapshot {}", res(store.changes_after_snapshot("c1"))));
    store.log_move("b1", "c1", &owned("M1"), &Scope::Pool).unwrap();
    save(c1, "b1", &Scope::Pool, &[("M1", NOW + 3 * HOUR)]);
    seen.push(format!("listing M1 c1 in pool {}", res(store.listing(&m1, TODAY))));
    seen.push(format!("c1 stale after a move {}", res(store.snapshot("c1").map(|s| s.map(|s| s.stale)))));
    let before_later = store.log_head().unwrap();
    seen.push(format!("c1 later {}", res(store.append_changes("b1", "c1", &fx.c1_later, Some("tab-1")))));
    store.log_move("b1", "c1", &Scope::Pool, &owned("M1")).unwrap();
    // Planned visits are replaced: c1's today's visit went.
    save(c1, "b1", &owned("M1"), &[]);
    seen.push(format!("c1 stale {}", res(store.snapshot("c1").map(|s| s.map(|s| s.stale)))));
    seen.push(format!("c1 after snapshot {}", res(store.changes_after_snapshot("c1"))));
    seen.push(format!("listing M1 c1 unplanned {}", res(store.listing(&m1, TODAY))));
    // Without a snapshot: the whole log; none saved yet: empty bytes, stale.
    seen.push(format!("c2 after snapshot {}", res(store.changes_after_snapshot("c2"))));
    seen.push(format!("c2 snapshot {}", res(store.snapshot("c2").map(|s| s.map(|s| (digest(&s.bytes), s.stale))))));
    seen.push(format!("nope after snapshot {}", res(store.changes_after_snapshot("nope"))));
    store.save_snapshot("nope", b"x", 3).unwrap();
    seen.push(format!("nope snapshot {}", res(store.snapshot("nope"))));

    // The bytes a document loads from.
    for c in &fx.customers {
        let bytes = store.document_bytes(c.id).unwrap().unwrap();
        let loaded = CustomerDoc::load(c.id, &bytes, &actor).unwrap();
        assert_eq!(loaded.file(), c.doc.file(), "{}", c.id);
        let size = store.stored_size(c.id).unwrap();
        assert_eq!(size, bytes.len(), "{}", c.id);
        seen.push(format!("{} bytes {} size {size}", c.id, digest(&bytes)));
    }
    let c1_bytes = store.document_bytes("c1").unwrap().unwrap();
    let c1_expected: Vec<u8> =
        fx.c1_snapshot.iter().copied().chain(fx.c1_later[0].raw_bytes().iter().copied()).collect();
    assert_eq!(c1_bytes, c1_expected);
    seen.push(format!("nope bytes {} size {}", res(store.document_bytes("nope")), res(store.stored_size("nope"))));

    // A document's branch stays its first.
    save(fx.get("c2"), "b9", &Scope::Pool, &[]);
    seen.push(format!("c2 {}", res(store.document("c2"))));

    // Deletion: c9's planned visit goes with it (the village 北山村 no longer comes first).
    seen.push(format!("listing M1 c9 planned {}", res(store.listing(&m1, TODAY))));
    store.log_move("b1", "c9", &owned("M1"), &Scope::Deleted).unwrap();
    let head = store.log_head().unwrap();
    store.mark_deleted("c9", head).unwrap();
    store.mark_deleted("nope", head).unwrap();
    seen.push(format!("c9 {}", res(store.document("c9"))));
    seen.push(format!("listing M1 c9 deleted {}", res(store.listing(&m1, TODAY))));
    seen.push(format!("live {}", res(store.live_documents())));

    // Pool entries.
    for id in ["c4", "c2", "c7", "nope"] {
        seen.push(format!("pool entry {id} {}", res(store.pool_entry(id))));
    }

    // Every user's view, and the log each reads.
    let head = store.log_head().unwrap();
    seen.push(format!("head {head}"));
    for u in users() {
        let visible = store.listing(&u, TODAY).unwrap();
        seen.push(format!("listing {} {:?}", u.id, visible));
        // The one visibility rule decides.
        for id in &ids {
            let view = store.document(id).unwrap().map_or(View::None, |m| m.view(&u));
            assert_eq!(visible.documents.contains(&id.to_string()), view == View::Full, "{} {id}", u.id);
            assert_eq!(visible.pool.contains(&id.to_string()), view == View::Masked, "{} {id}", u.id);
        }
        // Changes of customers the user sees nothing of are not read; moves always are.
        let mut read = Vec::new();
        store
            .scan_log(&u, 0, head, &mut |e| {
                read.push((e.customer_id, e.change.is_some()));
                Ok(true)
            })
            .unwrap();
        for (id, change) in &read {
            let view = store.document(id).unwrap().map_or(View::None, |m| m.view(&u));
            assert!(!change || view != View::None, "{} read a change of {id}", u.id);
        }
        for id in &ids {
            let meta = store.document(id).unwrap();
            let view = meta.as_ref().map_or(View::None, |m| m.view(&u));
            let changes = read.iter().filter(|(i, change)| i == id && *change).count();
            assert_eq!(changes > 0, view != View::None, "{} {id}", u.id);
        }
        let all = scan(store, &u, 0, head, usize::MAX);
        seen.push(format!("scan {} {all:?}", u.id));
        seen.push(format!("scan {} after {before_c12} {:?}", u.id, scan(store, &u, before_c12, head, usize::MAX)));
        seen.push(format!("scan {} up to {before_later} {:?}", u.id, scan(store, &u, 0, before_later, usize::MAX)));
        seen.push(format!("scan {} at head {:?}", u.id, scan(store, &u, head, head + 10, usize::MAX)));
        seen.push(format!("scan {} backwards {:?}", u.id, scan(store, &u, 20, 10, usize::MAX)));
        for stop in [1, 127, 128, 129] {
            let part = scan(store, &u, 0, head, stop);
            assert_eq!(part.len(), stop.min(all.len() - 1) + 1, "{} stop {stop}", u.id);
            seen.push(format!("scan {} stop {stop} {part:?}", u.id));
        }
    }
    // A manager reads the branch's moves and their own and the pool's changes.
    let m1_all = scan(store, &m1, 0, head, usize::MAX);
    assert!(m1_all.len() > 140, "{m1_all:?}");
    assert!(m1_all.iter().any(|e| e.contains(" c4 Some(")), "{m1_all:?}");
    assert!(!m1_all.iter().any(|e| e.contains(" c6 Some(")), "{m1_all:?}");
    // The callback may use the store between the rows it is given (past the first batch of rows
    // too), as the pull does.
    let mut scopes = Vec::new();
    store
        .scan_log(&m1, 0, head, &mut |e| {
            let meta = store.document(&e.customer_id)?;
            scopes.push(format!("{}:{}", e.seq, meta.map_or("none".into(), |m| m.scope.to_string())));
            Ok(scopes.len() < 140)
        })
        .unwrap();
    assert_eq!(scopes.len(), 140);
    seen.push(format!("scan using the store {scopes:?}"));
    // A failure of the callback ends the scan with it.
    let failed = store.scan_log(&m1, 0, head, &mut |_| Err(StoreError::Corrupt("callback")));
    seen.push(format!("scan failed {}", res(failed)));

    // Moves of one customer.
    seen.push(format!("moves c1 {}", res(store.moves_since("c1", 0))));
    seen.push(format!("moves c1 later {}", res(store.moves_since("c1", before_later))));
    seen.push(format!("moves c12 {}", res(store.moves_since("c12", before_c12 + 126))));
    seen.push(format!("moves c3 {}", res(store.moves_since("c3", 0))));
    seen.push(format!("moves nope {}", res(store.moves_since("nope", 0))));

    // One-time upgrades.
    setup("INSERT INTO server_meta (key, value) VALUES ('upgrade:adopt', unhex('01'))");
    seen.push(format!("upgrade {}", res(store.upgrade_pending("adopt"))));
    seen.push(format!("upgrade other {}", res(store.upgrade_pending("other"))));
    store.upgrade_done("adopt").unwrap();
    store.upgrade_done("other").unwrap();
    seen.push(format!("upgrade done {}", res(store.upgrade_pending("adopt"))));

    // The epoch and the last backup.
    let epoch = store.store_epoch().unwrap();
    seen.push(format!("epoch set {}", epoch != 0));
    let renewed = store.renew_store_epoch().unwrap();
    seen.push(format!(
        "epoch renewed {} {}",
        renewed != epoch && renewed != 0,
        store.store_epoch().unwrap() == renewed
    ));
    setup("UPDATE server_meta SET value = unhex('6a756e6b') WHERE key = 'epoch'");
    seen.push(format!("epoch junk {}", res(store.store_epoch())));
    setup("UPDATE server_meta SET value = unhex('ff') WHERE key = 'epoch'");
    seen.push(format!("epoch not utf-8 {}", res(store.store_epoch())));
    setup("DELETE FROM server_meta WHERE key = 'epoch'");
    seen.push(format!("epoch none {}", res(store.store_epoch())));
    let renewed = store.renew_store_epoch().unwrap();
    seen.push(format!("epoch minted {}", renewed != 0 && store.store_epoch().unwrap() == renewed));
    seen.push(format!("backup {}", res(store.last_backup_at())));
    store.set_last_backup_at(NOW).unwrap();
    seen.push(format!("backup {}", res(store.last_backup_at())));
    store.set_last_backup_at(-5).unwrap();
    seen.push(format!("backup {}", res(store.last_backup_at())));
    setup("UPDATE server_meta SET value = unhex('31322e35') WHERE key = 'last_backup_at'");
    seen.push(format!("backup junk {}", res(store.last_backup_at())));

    // Damaged stored values.
    setup("UPDATE documents SET rows = unhex('ff'), pool_entry = unhex('ff') WHERE customer_id = 'c5'");
    seen.push(format!("c5 snapshot {}", res(store.snapshot("c5").map(|s| s.map(|s| s.stale)))));
    seen.push(format!("c5 pool entry {}", res(store.pool_entry("c5"))));
    setup("DELETE FROM server_meta WHERE key = 'actor'");
    seen.push(format!("no actor {}", res(store.server_actor())));
    seen
}

#[test]
fn documents_behave_the_same_on_both_stores() {
    let fx = Fixture::new();
    let pg = PgTest::new();
    let on_pg = pg.write(|store| {
        // SQLite's `unhex`, for the scenario's raw SQL.
        store
            .batch("CREATE FUNCTION unhex(text) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$ SELECT decode($1, 'hex') $$")
            .unwrap();
        scenario(store, &fx, |sql| store.batch(sql).unwrap())
    });
    let on_sqlite = {
        let dir = tempfile::tempdir().unwrap();
        let db = fieldsync_server::store::Db::open(dir.path()).unwrap();
        db.with(|conn| {
            let tx = conn.transaction().unwrap();
            let seen = scenario(&*tx, &fx, |sql| tx.execute_batch(sql).unwrap());
            tx.commit().unwrap();
            seen
        })
    };
    for (i, (p, s)) in on_pg.iter().zip(&on_sqlite).enumerate() {
        assert_eq!(p, s, "step {i}");
    }
    assert_eq!(on_pg.len(), on_sqlite.len());

    // A few values as they should be, whatever both stores say.
    let has = |prefix: &str| on_sqlite.iter().find(|s| s.starts_with(prefix)).cloned().unwrap_or_default();
    assert_eq!(has("head "), "head Ok(0)");
    assert_eq!(has("c1 first"), "c1 first Ok(2)");
    assert_eq!(has("c1 again"), "c1 again Ok(1)");
    assert_eq!(has("c1 twice"), "c1 twice Ok(0)");
    // A change already logged still took a sequence number (SQLite's AUTOINCREMENT under
    // `INSERT OR IGNORE`): 2 new, then 1 of 3 new.
    assert_eq!(has("head 5"), "head 5");
    assert_eq!(has("c2 Ok"), "c2 Ok(2) Ok(0)");
    // Today's planned customers first, then their villages, then the rest by village (ties by ID).
    assert!(has("listing M1 Ok").contains(r#"documents: ["c9", "c1", "c10", "a0", "c3", "c2", "c5"], pool: ["c4"]"#));
    assert_eq!(has("c1 stale Ok"), "c1 stale Ok(Some(true))");
    assert_eq!(has("c1 stale after a move"), "c1 stale after a move Ok(Some(false))");
    assert_eq!(has("epoch junk"), "epoch junk Ok(0)");
    assert_eq!(has("backup Ok(Some(1753056000000))"), "backup Ok(Some(1753056000000))");
    assert_eq!(has("c5 snapshot"), "c5 snapshot Corrupt(rows)");
    assert_eq!(has("c5 pool entry"), "c5 pool entry Ok(None)");
    assert_eq!(has("no actor"), "no actor Err(database)");
    assert_eq!(has("scan failed"), "scan failed Corrupt(callback)");
}
