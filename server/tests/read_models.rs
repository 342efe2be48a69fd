//! The supervisor pages' read models: written with every accepted change and decision, their
//! evidence flags computed as visits arrive, and always equal to a rebuild from the documents.

use fieldsync_core::domain::{Action, Channel, Review, ReviewDecision, VisitDetails, VisitPurpose};
use fieldsync_server::accounts::{self, Role};
use fieldsync_server::customers;
use fieldsync_server::read_model::{self, evidence::Flag, evidence::Rules};
use fieldsync_server::store::Db;
use rusqlite::types::Value;

mod common;

use common::*;

/// Every read model table (and the pool's rows, rebuilt with them), sorted, as values.
fn read_models(dir: &tempfile::TempDir) -> Vec<(String, Vec<Vec<Value>>)> {
    let conn = rusqlite::Connection::open(dir.path().join("server.db")).unwrap();
    [
        "rm_customers",
        "rm_visits",
        "rm_visit_photos",
        "rm_leads",
        "rm_reminders",
        "rm_complaints",
        "rm_visit_days",
        "owner_changes",
        "pool_state",
        "customer_keys",
        "stage_state",
        "birthday_due",
    ]
    .iter()
    .map(|table| {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {table} ORDER BY 1, 2")).unwrap();
        let columns = stmt.column_count();
        let rows = stmt
            .query_map([], |r| (0..columns).map(|i| r.get::<_, Value>(i)).collect::<Result<Vec<_>, _>>())
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        (table.to_string(), rows)
    })
    .collect()
}

/// A visit's flags as its row holds them.
fn flags_of(db: &Db, visit_id: &str) -> Vec<Flag> {
    let bits = db
        .with(|c| c.query_row("SELECT flags FROM rm_visits WHERE visit_id = ?1", [visit_id], |r| r.get(0)).ok())
        .unwrap_or_else(|| panic!("no row for visit {visit_id}"));
    Flag::in_bits(bits).collect()
}

/// After every kind of write (new visits, a far one, a short one, one entered afterwards, a mock
/// location, a tablet with a wrong clock, impossible travel, a photo used twice, a review, a
/// photo removed, a customer deleted), the incrementally kept rows equal a rebuild, and each
/// visit carries exactly the flags it earned.
#[test]
fn the_rows_kept_with_each_write_equal_a_rebuild_and_carry_their_flags() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let branch = db.write_blocking(|s| accounts::create_branch(s, "示范支行", NOW, "test")).unwrap();
    let mut m1 = Manager::new(&dir, "M1", &branch);
    let mut m2 = Manager::new(&dir, "M2", &branch);
    let far = (HOME.0 + 0.02, HOME.1); // 2.2 km north
    let town = (HOME.0 + 0.45, HOME.1); // 50 km north

    let a = m1.customer("张三", Some(HOME));
    let b = m1.customer("李四", Some(HOME));
    let c = m1.customer("王五", None);
    let d = m1.customer("赵六", Some(HOME));
    let t0 = NOW - 600 * MIN;
    let fine = m1.visit(&a, HOME, t0, t0 + 30 * MIN, t0 + 30 * MIN, &["a1"]);
    let far_off = m1.visit(&b, far, t0 + 60 * MIN, t0 + 90 * MIN, t0 + 90 * MIN, &[]);
    let short = m1.visit(&a, HOME, t0 + 120 * MIN, t0 + 122 * MIN, t0 + 122 * MIN, &[]);
    let afterwards = m1.visit(&c, HOME, t0 + 150 * MIN, t0 + 180 * MIN, t0 + 400 * MIN, &[]);
    // 50 km in ten minutes after the visit before.
    let rushed = m1.visit(&d, town, t0 + 190 * MIN, t0 + 220 * MIN, t0 + 220 * MIN, &["d1"]);
    m1.sync(&db, &[&a, &b, &c, &d]);

    assert_eq!(flags_of(&db, &fine), vec![]);
    assert_eq!(flags_of(&db, &far_off), vec![Flag::Far]);
    assert_eq!(flags_of(&db, &short), vec![Flag::Short]);
    assert_eq!(flags_of(&db, &afterwards), vec![Flag::AfterTheFact]);
    assert_eq!(flags_of(&db, &rushed), vec![Flag::Far, Flag::Travel]);

    // Another manager's tablet, its clock 20 minutes fast, reuses M1's photo, with a mock location.
    m2.device.clock_offset_ms = Some(20 * MIN);
    let e = m2.customer("钱七", Some(HOME));
    let visit_id = fieldsync_core::ids::new_id();
    let t1 = NOW - 100 * MIN;
    let mut check_in = at(HOME.0, HOME.1, t1);
    check_in.mock_location = true;
    let action = Action::RecordVisit {
        visit_id: visit_id.clone(),
        purpose: VisitPurpose::FollowUp,
        channel: Channel::InPerson,
        check_in,
        check_out: at(HOME.0, HOME.1, t1 + 20 * MIN),
        details: VisitDetails { photos: vec!["a1".repeat(32)], ..VisitDetails::default() },
    };
    m2.tablet.apply(&e, &action, t1 + 20 * MIN).unwrap();
    m2.sync(&db, &[&e]);
    assert_eq!(flags_of(&db, &visit_id), vec![Flag::PhotoReused, Flag::Mock, Flag::Clock]);
    // M1's visit with that photo is flagged too, though nothing of its own document changed.
    assert_eq!(flags_of(&db, &fine), vec![Flag::PhotoReused]);
    assert_eq!(read_models(&dir), rebuilt(&dir), "after the first pushes");

    // A supervisor returns a visit: the row shows the decision.
    let supervisor = user("S1", Role::Supervisor, &branch);
    let review = Review {
        decision: ReviewDecision::Returned,
        comment: "请补充照片".into(),
        reviewer_id: "S1".into(),
        reviewer_name: "S1".into(),
        at: NOW,
    };
    db.write_blocking(|s| {
        customers::write_decision(s, &supervisor, &b, &Action::WriteReview { visit_id: far_off.clone(), review }, NOW)
    })
    .unwrap();
    let row = db.write_blocking(|s| s.rm_visit(&b, &far_off)).unwrap().unwrap();
    assert_eq!((row.review.as_str(), row.review_comment.as_deref()), ("returned", Some("请补充照片")));

    // M2 takes the photo off its visit: M1's visit is no longer flagged.
    m2.tablet
        .apply(&e, &Action::UpdateVisit { visit_id: visit_id.clone(), details: VisitDetails::default() }, NOW)
        .unwrap();
    m2.sync(&db, &[&e]);
    assert_eq!(flags_of(&db, &fine), vec![]);
    assert_eq!(flags_of(&db, &visit_id), vec![Flag::Mock, Flag::Clock]);

    // The customer of the two visits before the rushed one is deleted: the rushed visit's travel
    // is judged from the visit before those.
    let c_visit_before = m1.visit(&c, HOME, t0 + 185 * MIN, t0 + 187 * MIN, t0 + 187 * MIN, &[]);
    m1.sync(&db, &[&c]);
    assert_eq!(flags_of(&db, &rushed), vec![Flag::Far, Flag::Travel]);
    db.write_blocking(|s| customers::delete_customer(s, &branch, &c, "admin", NOW)).unwrap();
    assert!(db.write_blocking(|s| s.rm_visit(&c, &c_visit_before)).unwrap().is_none());
    // From the short visit, 68 minutes before: 44 km/h.
    assert_eq!(flags_of(&db, &rushed), vec![Flag::Far], "judged from the short visit at home");
    assert_eq!(read_models(&dir), rebuilt(&dir), "after reviews, edits and a deletion");

    // A branch that allows more: the rules re-judge its visits.
    db.write_blocking(|s| {
        read_model::set_rules(s, &branch, &Rules { far_m: 10_000, max_kmh: 1000, ..Rules::default() })
    })
    .unwrap();
    assert_eq!(flags_of(&db, &far_off), vec![]);
    assert_eq!(flags_of(&db, &rushed), vec![Flag::Far]);
    assert_eq!(read_models(&dir), rebuilt(&dir), "after new thresholds");
}

/// Rebuilds in a copy of the store and returns its read models; the store itself is untouched.
fn rebuilt(dir: &tempfile::TempDir) -> Vec<(String, Vec<Vec<Value>>)> {
    let copy = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("server.db")).unwrap();
    conn.execute("VACUUM INTO ?1", [copy.path().join("server.db").to_str().unwrap()]).unwrap();
    let other = Db::open(copy.path()).unwrap();
    other.write_blocking(read_model::rebuild).unwrap();
    drop(other);
    read_models(&copy)
}

/// A store written before the read models existed gets them when the server opens it (the
/// migration that added them asks for a build; the build runs once).
#[test]
fn a_store_from_before_the_read_models_gets_them_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let branch = db.write_blocking(|s| accounts::create_branch(s, "示范支行", NOW, "test")).unwrap();
    let mut m1 = Manager::new(&dir, "M1", &branch);
    let a = m1.customer("张三", Some(HOME));
    let visit = m1.visit(&a, HOME, NOW - 90 * MIN, NOW - 60 * MIN, NOW - 60 * MIN, &["a1"]);
    m1.sync(&db, &[&a]);
    drop(db);
    let expected = read_models(&dir);
    assert_eq!(expected[1].1.len(), 1, "one visit row");

    // What a v5 store holds: documents, no read models, and the v6 migration's request.
    let conn = rusqlite::Connection::open(dir.path().join("server.db")).unwrap();
    conn.execute_batch(
        "DELETE FROM rm_visit_photos; DELETE FROM rm_visits; DELETE FROM rm_leads; DELETE FROM rm_reminders;
         DELETE FROM rm_complaints; DELETE FROM rm_customers; INSERT INTO server_meta (key, value) VALUES ('upgrade:rebuild_read_models', x'01');",
    )
    .unwrap();
    drop(conn);
    let db = Db::open(dir.path()).unwrap();
    assert_eq!(read_models(&dir), expected);
    assert_eq!(flags_of(&db, &visit), vec![]);
    // Done once: rows removed later stay removed until a rebuild is asked for.
    drop(db);
    rusqlite::Connection::open(dir.path().join("server.db")).unwrap().execute_batch("DELETE FROM rm_visits;").unwrap();
    let db = Db::open(dir.path()).unwrap();
    assert!(read_models(&dir)[1].1.is_empty());
    db.write_blocking(read_model::rebuild).unwrap();
    assert_eq!(read_models(&dir), expected);
}

mod random_writes {
    use proptest::prelude::*;

    use super::*;

    /// One thing a tablet or the branch does.
    #[derive(Debug, Clone)]
    enum Op {
        /// Manager `m` records a visit at customer `c` (theirs) in place `place`, starting in
        /// slot `slot` (20 minutes each), lasting `minutes`, with a photo of the `photo` pool.
        Visit { m: usize, c: usize, place: usize, slot: i64, minutes: i64, photo: Option<u8>, late: bool, phone: bool },
        /// Manager `m` replaces the photos of their `nth` visit.
        Photos { m: usize, nth: usize, photo: Option<u8> },
        /// Manager `m` syncs.
        Sync { m: usize },
        /// The branch deletes manager `m`'s customer `c`.
        Delete { m: usize, c: usize },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (
                (0..2usize, 0..2usize, 0..3usize, 0..20i64),
                (prop_oneof![Just(2i64), Just(30)], prop::option::of(0..3u8), any::<bool>(), prop::bool::weighted(0.2)),
            )
                .prop_map(|((m, c, place, slot), (minutes, photo, late, phone))| Op::Visit {
                    m, c, place, slot, minutes, photo, late, phone,
                }),
            1 => (0..2usize, 0..8usize, prop::option::of(0..3u8)).prop_map(|(m, nth, photo)| Op::Photos { m, nth, photo }),
            2 => (0..2usize).prop_map(|m| Op::Sync { m }),
            1 => (0..2usize, 0..2usize).prop_map(|(m, c)| Op::Delete { m, c }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Whatever the order of visits, photo edits, syncs and deletions, the rows kept with
        /// each write equal a rebuild.
        #[test]
        fn kept_rows_equal_a_rebuild(ops in prop::collection::vec(op(), 1..24)) {
            let dir = tempfile::tempdir().unwrap();
            let db = Db::open(dir.path()).unwrap();
            let branch = db.write_blocking(|s| accounts::create_branch(s, "示范支行", NOW, "test")).unwrap();
            let places = [HOME, (HOME.0 + 0.02, HOME.1), (HOME.0 + 0.45, HOME.1)];
            let mut managers = [Manager::new(&dir, "M1", &branch), Manager::new(&dir, "M2", &branch)];
            let customers: Vec<Vec<String>> = managers
                .iter_mut()
                .map(|m| (0..2).map(|i| m.customer(&format!("客户{i}"), Some(HOME))).collect())
                .collect();
            let mut deleted = std::collections::HashSet::new();
            let mut visits: [Vec<(String, String)>; 2] = [Vec::new(), Vec::new()];
            let photo = |p: Option<u8>| p.map(|p| format!("{p:x}").repeat(64)).into_iter().collect::<Vec<_>>();
            for op in ops {
                match op {
                    Op::Visit { m, c, place, slot, minutes, photo: p, late, phone } => {
                        let customer = customers[m][c].clone();
                        if deleted.contains(&customer) { continue; }
                        let start = NOW - 1000 * MIN + slot * 20 * MIN;
                        let end = start + minutes * MIN;
                        let visit_id = fieldsync_core::ids::new_id();
                        let action = Action::RecordVisit {
                            visit_id: visit_id.clone(),
                            purpose: VisitPurpose::Marketing,
                            channel: if phone { Channel::Phone } else { Channel::InPerson },
                            check_in: at(places[place].0, places[place].1, start),
                            check_out: at(places[place].0, places[place].1, end),
                            details: VisitDetails { photos: photo(p), ..VisitDetails::default() },
                        };
                        let entered = if late { end + 100 * MIN } else { end };
                        managers[m].tablet.apply(&customer, &action, entered).unwrap();
                        visits[m].push((customer, visit_id));
                    }
                    Op::Photos { m, nth, photo: p } => {
                        let Some((customer, visit_id)) = visits[m].get(nth).cloned() else { continue };
                        if deleted.contains(&customer) { continue; }
                        let details = VisitDetails { photos: photo(p), ..VisitDetails::default() };
                        managers[m].tablet.apply(&customer, &Action::UpdateVisit { visit_id, details }, NOW).unwrap();
                    }
                    Op::Sync { m } => {
                        let live: Vec<&str> =
                            customers[m].iter().filter(|c| !deleted.contains(*c)).map(String::as_str).collect();
                        managers[m].sync(&db, &live);
                    }
                    Op::Delete { m, c } => {
                        let customer = customers[m][c].clone();
                        if deleted.contains(&customer) { continue; }
                        // Only what the server holds can be deleted there.
                        managers[m].sync(&db, &[&customer]);
                        db.write_blocking(|s| customers::delete_customer(s, &branch, &customer, "admin", NOW)).unwrap();
                        deleted.insert(customer);
                    }
                }
            }
            prop_assert_eq!(read_models(&dir), rebuilt(&dir));
        }
    }
}

/// The demo branch, seeded customer by customer with its tricks, holds the rows a rebuild makes.
#[test]
fn the_demo_branch_rows_equal_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    fieldsync_server::demo::seed(&db, 12, fieldsync_server::routes::now_ms()).unwrap();
    drop(db);
    let kept = read_models(&dir);
    let rebuilt = rebuilt(&dir);
    for ((table, a), (_, b)) in kept.iter().zip(&rebuilt) {
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x, y, "{table}");
        }
        assert_eq!(a.len(), b.len(), "{table}");
    }
}

/// A visit's ID is a tablet's choice: another tablet reusing it on another customer gets its own
/// row and leaves the first one as it was.
#[test]
fn a_visit_id_reused_on_another_customer_overwrites_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let branch = db.write_blocking(|s| accounts::create_branch(s, "示范支行", NOW, "test")).unwrap();
    let mut m1 = Manager::new(&dir, "M1", &branch);
    let mut m2 = Manager::new(&dir, "M2", &branch);
    let a = m1.customer("张三", Some(HOME));
    let visit = m1.visit(&a, HOME, NOW - 60 * MIN, NOW - 30 * MIN, NOW - 30 * MIN, &[]);
    m1.sync(&db, &[&a]);
    let before = read_models(&dir);

    let b = m2.customer("李四", None);
    let action = Action::RecordVisit {
        visit_id: visit.clone(),
        purpose: VisitPurpose::Care,
        channel: Channel::Phone,
        check_in: at(HOME.0 + 1.0, HOME.1, NOW - 20 * MIN),
        check_out: at(HOME.0 + 1.0, HOME.1, NOW - 10 * MIN),
        details: VisitDetails::default(),
    };
    m2.tablet.apply(&b, &action, NOW - 10 * MIN).unwrap();
    m2.sync(&db, &[&b]);
    let first = db.write_blocking(|s| s.rm_visit(&a, &visit)).unwrap().unwrap();
    let second = db.write_blocking(|s| s.rm_visit(&b, &visit)).unwrap().unwrap();
    assert_eq!((first.manager_id.as_str(), first.channel.as_str()), ("M1", "in_person"));
    assert_eq!((second.manager_id.as_str(), second.channel.as_str()), ("M2", "phone"));
    let after = read_models(&dir);
    let visits_of = |rows: &[(String, Vec<Vec<Value>>)], customer: &str| -> Vec<Vec<Value>> {
        rows[1].1.iter().filter(|r| r[0] == Value::Text(customer.to_string())).cloned().collect()
    };
    assert_eq!(visits_of(&after, &a), visits_of(&before, &a));
    assert_eq!(after, rebuilt(&dir));
}
