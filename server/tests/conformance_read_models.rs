//! The store interface's conformance, part `ReadModelStore`: the same calls on the SQLite store
//! and on the PostgreSQL store give the same results and leave the same rows.

mod common;

use common::pg::PgTest;
use fieldsync_server::read_model::evidence::{Measures, Rules};
use fieldsync_server::read_model::{Arrival, ComplaintRm, CustomerRm, LeadRm, ReminderRm, VisitRm};
use fieldsync_server::store::ReadModelStore;
use fieldsync_server::store::postgres::PgStore;
use tokio_postgres::types::Type;

/// The tables the read models keep, each with the order that lists it.
const TABLES: &[&str] = &[
    "SELECT * FROM rm_customers ORDER BY customer_id",
    "SELECT * FROM rm_visits ORDER BY customer_id, visit_id",
    "SELECT * FROM rm_visit_photos ORDER BY hash, customer_id, visit_id",
    "SELECT * FROM rm_leads ORDER BY customer_id, lead_id",
    "SELECT * FROM rm_reminders ORDER BY customer_id, reminder_id",
    "SELECT * FROM rm_complaints ORDER BY customer_id, interaction_id",
    "SELECT * FROM rm_visit_days ORDER BY branch_id, manager_id, day",
    "SELECT * FROM visit_arrivals ORDER BY customer_id, visit_id",
    "SELECT * FROM branch_evidence_rules ORDER BY branch_id",
];

fn customer(id: &str, branch: &str) -> CustomerRm {
    CustomerRm {
        customer_id: id.into(),
        branch_id: branch.into(),
        scope: "owned".into(),
        owner_id: Some("m1".into()),
        owner_name: Some("张三".into()),
        name: "李四".into(),
        kind: "individual".into(),
        phone_masked: Some("138****0001".into()),
        id_number_masked: Some("4201**********0011".into()),
        village: "东湖村".into(),
        lat: Some(30.5928),
        lng: Some(114.3055),
        tier: Some("a".into()),
        lifecycle: Some("active".into()),
        last_visit_at: Some(1_700_000_000_000),
        next_follow_up_at: Some(1_700_600_000_000),
        open_leads: 2,
        created_at: 1_690_000_000_000,
        tags: r#"["vip","养殖"]"#.into(),
    }
}

/// A visit (`key`: customer, visit): `inside` and `outside` are the check-in and check-out
/// positions.
fn visit(
    (customer_id, visit_id): (&str, &str),
    manager: &str,
    at: i64,
    status: &str,
    channel: &str,
    inside: Option<(f64, f64)>,
    outside: Option<(f64, f64)>,
) -> VisitRm {
    VisitRm {
        visit_id: visit_id.into(),
        customer_id: customer_id.into(),
        branch_id: "b1".into(),
        manager_id: manager.into(),
        manager_name: format!("经理{manager}"),
        village: "东湖村".into(),
        status: status.into(),
        purpose: "marketing".into(),
        channel: channel.into(),
        at,
        planned_at: Some(at - 3_600_000),
        check_in_at: inside.map(|_| at),
        check_out_at: outside.map(|_| at + 1_800_000),
        in_lat: inside.map(|p| p.0),
        in_lng: inside.map(|p| p.1),
        in_accuracy_m: inside.map(|_| 12.5),
        out_lat: outside.map(|p| p.0),
        out_lng: outside.map(|p| p.1),
        distance_m: inside.map(|_| 35.25),
        duration_s: outside.map(|_| 1800),
        mock_location: false,
        after_the_fact: false,
        created_at: at - 7_200_000,
        cost_fen: 0,
        photos: 0,
        notes: "谈了存款".into(),
        outcome: "interested".into(),
        next_contact_at: None,
        linked_leads: 0,
        review: "pending".into(),
        reviewed_at: None,
        reviewer_name: None,
        review_comment: None,
    }
}

fn lead(customer_id: &str, lead_id: &str, stage: &str, amount_fen: i64) -> LeadRm {
    LeadRm {
        lead_id: lead_id.into(),
        customer_id: customer_id.into(),
        branch_id: "b1".into(),
        owner_id: Some("m1".into()),
        product: "deposit".into(),
        stage: stage.into(),
        amount_fen,
        probability: 40,
        expected_close: Some(1_701_000_000_000),
        visit_id: Some("v1".into()),
        created_by: "m1".into(),
        created_at: 1_700_000_000_000,
        won_at: None,
    }
}

fn reminder(customer_id: &str, reminder_id: &str, due_at: i64, done_at: Option<i64>) -> ReminderRm {
    ReminderRm {
        reminder_id: reminder_id.into(),
        customer_id: customer_id.into(),
        branch_id: "b1".into(),
        owner_id: Some("m1".into()),
        kind: "follow_up".into(),
        due_at,
        done_at,
    }
}

fn complaint(customer_id: &str, interaction_id: &str, resolved_at: Option<i64>) -> ComplaintRm {
    ComplaintRm {
        interaction_id: interaction_id.into(),
        customer_id: customer_id.into(),
        branch_id: "b1".into(),
        owner_id: None,
        captured_at: 1_700_000_100_000,
        resolved_at,
    }
}

/// What a scenario saw, to compare across the stores. `setup` runs SQL; `dump` lists a query's
/// rows as text.
fn scenario<S: ReadModelStore + ?Sized>(
    store: &S,
    setup: impl Fn(&str),
    dump: impl Fn(&str) -> Vec<String>,
) -> Vec<String> {
    let mut seen = Vec::new();
    let tables = |seen: &mut Vec<String>| {
        for sql in TABLES {
            let rows = dump(sql);
            seen.push(if rows.is_empty() { format!("{sql}: none") } else { format!("{sql}: {}", rows.join(" ;; ")) });
        }
    };
    setup(
        "INSERT INTO branches (id, name, time_zone) VALUES ('b1', '东湖支行', 'Asia/Shanghai'), ('b2', '西岗支行', 'Asia/Shanghai')",
    );

    // Nothing yet.
    seen.push(format!("{:?}", store.rm_visit_keys("c1").unwrap()));
    seen.push(format!("{:?}", store.rm_visit("c1", "v1").unwrap()));
    seen.push(format!("{:?}", store.rm_flags("c1", "v1").unwrap()));
    seen.push(format!("{:?}", store.rm_cross_inputs("c1", "v1").unwrap()));
    seen.push(format!("{:?}", store.rm_all_visits().unwrap()));
    seen.push(format!("{:?}", store.rm_visit_times().unwrap()));
    seen.push(format!("{:?}", store.rm_count_day("b1", "m1", 0, i64::MAX).unwrap()));
    seen.push(format!("{:?}", store.rm_photo_sharers(&["h1".into()]).unwrap()));
    seen.push(format!("{:?}", store.evidence_rules("b1").unwrap()));

    // Customers: one full, one with every nullable column NULL; then the first replaced.
    store.rm_save_customer(&customer("c1", "b1")).unwrap();
    let bare = CustomerRm {
        owner_id: None,
        owner_name: None,
        phone_masked: None,
        id_number_masked: None,
        lat: None,
        lng: None,
        tier: None,
        lifecycle: None,
        last_visit_at: None,
        next_follow_up_at: None,
        open_leads: 0,
        tags: "[]".into(),
        ..customer("c2", "b1")
    };
    store.rm_save_customer(&bare).unwrap();
    store.rm_save_customer(&customer("c3", "b2")).unwrap();
    store
        .rm_save_customer(&CustomerRm {
            owner_id: None,
            owner_name: None,
            lat: Some(-0.5),
            open_leads: 3,
            next_follow_up_at: None,
            tags: "[]".into(),
            scope: "pool".into(),
            ..customer("c1", "b1")
        })
        .unwrap();
    // NULLs replaced by values.
    store.rm_save_customer(&CustomerRm { lat: Some(1.0), tier: Some("b".into()), ..bare.clone() }).unwrap();
    tables(&mut seen);

    // Visits of manager m1 (in person unless told) and m2; ties on time ordered by customer, visit.
    let here = Some((30.5928, 114.3055));
    let there = Some((30.6001, 114.3102));
    let v1 = visit(("c1", "v1"), "m1", 1000, "completed", "in_person", here, there);
    let v0 = visit(("c1", "v0"), "m1", 2000, "in_progress", "in_person", there, None);
    let v2 = visit(("c1", "v2"), "m1", 2000, "in_progress", "in_person", here, None);
    let v3 = visit(("c2", "v3"), "m1", 3000, "completed", "in_person", here, there);
    let v4 = visit(("c2", "v4"), "m1", 4000, "completed", "phone", None, None);
    let v5 = visit(("c2", "v5"), "m2", 1500, "planned", "in_person", None, None);
    let v6 =
        VisitRm { branch_id: "b2".into(), ..visit(("c3", "v6"), "m1", 2000, "completed", "in_person", there, here) };
    let v7 = VisitRm {
        manager_name: "经理m1(新)".into(),
        ..visit(("c2", "v7"), "m1", 2500, "abandoned", "wechat", None, None)
    };
    // Another manager at the same time as m1's visits.
    let v8 = visit(("c2", "v8"), "m0", 2000, "completed", "phone", None, None);
    for v in [&v1, &v0, &v2, &v3, &v4, &v5, &v6, &v7, &v8] {
        seen.push(format!("save {} {:?}", v.visit_id, store.rm_save_visit(v).unwrap()));
    }
    // An equal row is not rewritten; any difference is (NULL to value and back included).
    seen.push(format!("same {:?}", store.rm_save_visit(&v1).unwrap()));
    let reviewed = VisitRm {
        review: "approved".into(),
        reviewed_at: Some(5000),
        reviewer_name: Some("主管".into()),
        review_comment: Some("".into()),
        mock_location: true,
        cost_fen: 1250,
        photos: 2,
        ..v1.clone()
    };
    seen.push(format!("reviewed {:?}", store.rm_save_visit(&reviewed).unwrap()));
    seen.push(format!("reviewed again {:?}", store.rm_save_visit(&reviewed).unwrap()));
    seen.push(format!(
        "comment to NULL {:?}",
        store.rm_save_visit(&VisitRm { review_comment: None, ..reviewed.clone() }).unwrap()
    ));
    seen.push(format!("empty comment {:?}", store.rm_save_visit(&reviewed).unwrap()));
    // A NaN is stored as NULL (SQLite's way): NaN after NULL is no change.
    let nan = VisitRm { in_accuracy_m: Some(f64::NAN), ..v2.clone() };
    seen.push(format!("nan {:?}", store.rm_save_visit(&nan).unwrap()));
    seen.push(format!("nan again {:?}", store.rm_save_visit(&nan).unwrap()));
    seen.push(format!("{:?}", store.rm_visit("c1", "v2").unwrap()));
    seen.push(format!("{:?}", store.rm_visit("c1", "v1").unwrap()));
    seen.push(format!("{:?}", store.rm_visit("c1", "nope").unwrap()));

    // Cross-document measures: kept when the visit's own columns are rewritten.
    let cross =
        Measures { travel_kmh: Some(42.5), photo_reused: true, clock_offset_ms: Some(-700_000), ..Measures::default() };
    store.rm_set_cross("c1", "v1", &cross, 5).unwrap();
    store.rm_set_cross("c1", "v1", &cross, 5).unwrap();
    store.rm_set_cross("c2", "v3", &Measures { travel_kmh: Some(f64::NAN), ..Measures::default() }, 0).unwrap();
    store.rm_set_cross("c1", "nope", &cross, 1).unwrap();
    seen.push(format!("{:?}", store.rm_flags("c1", "v1").unwrap()));
    seen.push(format!("{:?}", store.rm_flags("c2", "v3").unwrap()));
    seen.push(format!("{:?}", store.rm_flags("c1", "nope").unwrap()));
    seen.push(format!(
        "notes {:?}",
        store.rm_save_visit(&VisitRm { notes: "改了".into(), ..reviewed.clone() }).unwrap()
    ));
    tables(&mut seen);

    // Photos: a duplicate hash is kept once; replacing them drops the old ones.
    store.rm_set_visit_photos("c1", "v1", "b1", &["h2".into(), "h1".into(), "h2".into()]).unwrap();
    store.rm_set_visit_photos("c2", "v3", "b1", &["h2".into()]).unwrap();
    store.rm_set_visit_photos("c3", "v6", "b2", &["h2".into(), "h9".into()]).unwrap();
    store.rm_set_visit_photos("c1", "v0", "b1", &["h0".into()]).unwrap();
    store.rm_set_visit_photos("c1", "v2", "b1", &[]).unwrap();
    seen.push(format!("{:?}", store.rm_visit_keys("c1").unwrap()));
    seen.push(format!("{:?}", store.rm_visit_keys("c2").unwrap()));
    seen.push(format!("{:?}", store.rm_visit_keys("nobody").unwrap()));
    seen.push(format!("{:?}", store.rm_photo_sharers(&["h2".into(), "h1".into(), "hx".into(), "h2".into()]).unwrap()));
    seen.push(format!("{:?}", store.rm_photo_sharers(&[]).unwrap()));

    // Arrivals: a later one replaces the earlier.
    let arrival = |device_id, received_at, clock_offset_ms| Arrival { device_id, received_at, clock_offset_ms };
    store.rm_record_arrival("c1", "v1", arrival("d1", 10, Some(5000))).unwrap();
    store.rm_record_arrival("c1", "v1", arrival("d2", 20, Some(-700_000))).unwrap();
    store.rm_record_arrival("c1", "v2", arrival("d1", 30, Some(1))).unwrap();
    store.rm_record_arrival("c1", "v2", arrival("d1", 40, None)).unwrap();
    store.rm_record_arrival("c2", "v3", arrival("d3", 50, Some(0))).unwrap();

    // The manager's visits after a point up to the first completed one in person.
    seen.push(format!("{:?}", store.rm_followers("m1", i64::MIN, "", "").unwrap()));
    seen.push(format!("{:?}", store.rm_followers("m1", 1000, "c1", "v1").unwrap()));
    seen.push(format!("{:?}", store.rm_followers("m1", 2000, "c1", "v0").unwrap()));
    seen.push(format!("{:?}", store.rm_followers("m1", 2000, "c3", "v6").unwrap()));
    seen.push(format!("{:?}", store.rm_followers("m1", 3000, "c2", "v3").unwrap()));
    seen.push(format!("{:?}", store.rm_followers("m2", 0, "", "").unwrap()));
    seen.push(format!("{:?}", store.rm_followers("nobody", 0, "", "").unwrap()));

    // Cross inputs: a shared photo in the branch, the arrival's clock, the previous check-out.
    for (c, v) in [("c1", "v1"), ("c1", "v0"), ("c1", "v2"), ("c2", "v3"), ("c2", "v4"), ("c3", "v6"), ("c2", "v5")] {
        seen.push(format!("{c}/{v} {:?}", store.rm_cross_inputs(c, v).unwrap()));
    }
    seen.push(format!("{:?}", store.rm_cross_inputs("c1", "nope").unwrap()));

    // Listings of visits.
    seen.push(format!("{:?}", store.rm_all_visits().unwrap()));
    seen.push(format!("{:?}", store.rm_branch_visits("b1").unwrap()));
    seen.push(format!("{:?}", store.rm_branch_visits("b2").unwrap()));
    seen.push(format!("{:?}", store.rm_branch_visits("b9").unwrap()));
    seen.push(format!("{:?}", store.rm_visit_times().unwrap()));

    // Day counts: planned visits do not count; [from, to); the branch; the greatest name.
    seen.push(format!("{:?}", store.rm_count_day("b1", "m1", 0, 2000).unwrap()));
    seen.push(format!("{:?}", store.rm_count_day("b1", "m1", 1000, 2001).unwrap()));
    seen.push(format!("{:?}", store.rm_count_day("b1", "m1", 0, 10_000).unwrap()));
    seen.push(format!("{:?}", store.rm_count_day("b2", "m1", 0, 10_000).unwrap()));
    seen.push(format!("{:?}", store.rm_count_day("b1", "m2", 0, 10_000).unwrap()));
    seen.push(format!("{:?}", store.rm_count_day("b1", "nobody", 0, 10_000).unwrap()));
    store.rm_set_day("b1", "m1", 19_700, "经理m1", 3).unwrap();
    store.rm_set_day("b1", "m1", 19_700, "经理m1(新)", 4).unwrap();
    store.rm_set_day("b1", "m1", 19_700, "经理m1(新)", 4).unwrap();
    store.rm_set_day("b1", "m1", 19_701, "经理m1", 1).unwrap();
    store.rm_set_day("b1", "m2", 19_700, "经理m2", 2).unwrap();
    store.rm_set_day("b2", "m1", 19_700, "经理m1", 7).unwrap();
    store.rm_set_day("b1", "m1", 19_701, "经理m1", 0).unwrap();
    store.rm_set_day("b1", "m9", 19_701, "经理m9", 0).unwrap();
    seen.push(format!("{:?}", dump(TABLES[6])));

    // Leads, reminders, complaints: made exactly the rows given, per customer.
    store.rm_save_leads("c1", &[lead("c1", "l1", "new", 100_000), lead("c1", "l2", "new", 200_000)]).unwrap();
    store.rm_save_leads("c2", &[lead("c2", "l9", "won", 5)]).unwrap();
    let l2 = LeadRm {
        owner_id: None,
        expected_close: None,
        visit_id: None,
        won_at: Some(1_700_500_000_000),
        stage: "won".into(),
        ..lead("c1", "l2", "won", 250_000)
    };
    store.rm_save_leads("c1", &[l2.clone(), lead("c1", "l3", "contacted", 0)]).unwrap();
    store.rm_save_leads("c1", &[l2.clone(), lead("c1", "l3", "contacted", 0)]).unwrap();
    store.rm_save_reminders("c1", &[reminder("c1", "r1", 100, None), reminder("c1", "r2", 200, None)]).unwrap();
    store.rm_save_reminders("c2", &[reminder("c2", "r9", 50, Some(60))]).unwrap();
    store
        .rm_save_reminders(
            "c1",
            &[ReminderRm { owner_id: None, ..reminder("c1", "r2", 250, Some(240)) }, reminder("c1", "r3", 300, None)],
        )
        .unwrap();
    store.rm_save_complaints("c1", &[complaint("c1", "i1", None), complaint("c1", "i2", Some(9))]).unwrap();
    store.rm_save_complaints("c2", &[complaint("c2", "i9", None)]).unwrap();
    store.rm_save_complaints("c1", &[complaint("c1", "i2", None)]).unwrap();
    store.rm_save_complaints("c2", &[]).unwrap();
    store.rm_save_leads("c3", &[]).unwrap();
    store.rm_save_reminders("c3", &[]).unwrap();

    // Thresholds: the defaults until set; an unknown branch is refused.
    store.set_evidence_rules("b1", &Rules { far_m: 800, short_s: 120, max_kmh: 90, clock_s: 300 }).unwrap();
    store.set_evidence_rules("b1", &Rules { far_m: 1000, short_s: 60, max_kmh: 80, clock_s: 600 }).unwrap();
    seen.push(format!("{:?}", store.evidence_rules("b1").unwrap()));
    seen.push(format!("{:?}", store.evidence_rules("b2").unwrap()));
    seen.push(format!("{:?}", store.evidence_rules("nope").unwrap()));
    setup("SAVEPOINT unknown_branch");
    seen.push(format!("unknown branch refused: {}", store.set_evidence_rules("nope", &Rules::default()).is_err()));
    setup("ROLLBACK TO SAVEPOINT unknown_branch");
    tables(&mut seen);

    // A visit removed takes its photos; a customer removed takes all its rows (not its arrivals).
    store.rm_delete_visit("c1", "v0").unwrap();
    store.rm_delete_visit("c1", "nope").unwrap();
    seen.push(format!("{:?}", store.rm_visit_keys("c1").unwrap()));
    store.rm_delete_customer("c1").unwrap();
    store.rm_delete_customer("nobody").unwrap();
    seen.push(format!("{:?}", store.rm_visit_keys("c1").unwrap()));
    tables(&mut seen);

    // Clearing leaves the arrivals and the thresholds.
    store.rm_clear().unwrap();
    tables(&mut seen);
    seen.push(format!("{:?}", store.rm_all_visits().unwrap()));
    seen
}

fn dump_sqlite(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
    use rusqlite::types::Value;
    let mut stmt = conn.prepare(sql).unwrap();
    let columns = stmt.column_count();
    stmt.query_map([], |r| {
        let mut cells = Vec::new();
        for i in 0..columns {
            cells.push(match r.get::<_, Value>(i)? {
                Value::Null => "NULL".to_string(),
                Value::Integer(v) => v.to_string(),
                Value::Real(v) => format!("{v:?}"),
                Value::Text(v) => format!("{v:?}"),
                Value::Blob(v) => format!("{v:?}"),
            });
        }
        Ok(cells.join(" | "))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn dump_pg(store: &PgStore, sql: &str) -> Vec<String> {
    let rows = store.query(sql, &[]).unwrap();
    rows.iter()
        .map(|r| {
            let cells: Vec<String> = r
                .columns()
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let cell = match *c.type_() {
                        Type::INT8 => r.get::<_, Option<i64>>(i).map(|v| v.to_string()),
                        Type::FLOAT8 => r.get::<_, Option<f64>>(i).map(|v| format!("{v:?}")),
                        Type::TEXT => r.get::<_, Option<String>>(i).map(|v| format!("{v:?}")),
                        Type::BYTEA => r.get::<_, Option<Vec<u8>>>(i).map(|v| format!("{v:?}")),
                        ref other => panic!("column {} of type {other}", c.name()),
                    };
                    cell.unwrap_or_else(|| "NULL".to_string())
                })
                .collect();
            cells.join(" | ")
        })
        .collect()
}

#[test]
fn read_models_behave_the_same_on_both_stores() {
    let pg = PgTest::new();
    let on_pg = pg.write(|store| scenario(store, |sql| store.batch(sql).unwrap(), |sql| dump_pg(store, sql)));
    let on_sqlite = {
        let dir = tempfile::tempdir().unwrap();
        let db = fieldsync_server::store::Db::open(dir.path()).unwrap();
        db.with(|conn| {
            let tx = conn.transaction().unwrap();
            let seen = scenario(&*tx, |sql| tx.execute_batch(sql).unwrap(), |sql| dump_sqlite(&tx, sql));
            tx.commit().unwrap();
            seen
        })
    };
    for (i, (p, s)) in on_pg.iter().zip(&on_sqlite).enumerate() {
        assert_eq!(p, s, "observation {i} differs");
    }
    assert_eq!(on_pg.len(), on_sqlite.len());

    // A few values as they should be, whichever store.
    let has = |needle: &str| on_sqlite.iter().any(|s| s.contains(needle));
    for expected in [
        "save v1 true",
        "same false",
        "reviewed true",
        "reviewed again false",
        "comment to NULL true",
        "empty comment true",
        "nan true",
        "nan again false",
        "notes true",
        "unknown branch refused: true",
        // The first completed visit in person ends the followers (a phone visit is not one).
        r#"[("c1", "v0"), ("c1", "v2"), ("c3", "v6")]"#,
        r#"[("c2", "v3")]"#,
        // Duplicate and unknown hashes as asked, sharers along (customer, visit).
        r#"[("c1", "v1"), ("c2", "v3"), ("c3", "v6"), ("c1", "v1"), ("c1", "v1"), ("c2", "v3"), ("c3", "v6")]"#,
        "Rules { far_m: 1000, short_s: 60, max_kmh: 80, clock_s: 600 }",
        "Rules { far_m: 500, short_s: 300, max_kmh: 120, clock_s: 600 }",
    ] {
        assert!(has(expected), "missing {expected}: {on_sqlite:#?}");
    }
    // The day counts: planned and other branches left out, the greatest name.
    for expected in ["(1, \"经理m1\")", "(3, \"经理m1\")", "(6, \"经理m1(新)\")", "(0, \"\")"] {
        assert!(on_sqlite.iter().any(|s| s == expected), "missing {expected}: {on_sqlite:#?}");
    }
    // The cross columns survive a rewrite of the visit's own: travel 42.5, reused, clock, flags 5.
    assert!(
        has("\"改了\" | \"interested\" | NULL | 0 | \"approved\" | 5000 | \"主管\" | \"\" | 42.5 | 1 | -700000 | 5"),
        "{on_sqlite:#?}"
    );
    // After the clear: the arrivals and the thresholds only.
    let last_tables = &on_sqlite[on_sqlite.len() - 1 - TABLES.len()..on_sqlite.len() - 1];
    assert!(last_tables[..7].iter().all(|t| t.ends_with(": none")), "{last_tables:#?}");
    assert!(!last_tables[7].ends_with(": none") && !last_tables[8].ends_with(": none"), "{last_tables:#?}");
    assert_eq!(on_sqlite.last().map(String::as_str), Some("[]"));
}
