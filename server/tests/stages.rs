//! Tiers from an imported asset file and lifecycle stages computed by the server, with a clock the
//! test moves: a bad line is reported (by number, never by value) and the rest imported, an older
//! snapshot changes nothing, and stages follow the file and time.

use fieldsync_core::domain::{self, Action, Lifecycle, ValueTier};
use fieldsync_server::stages;
use fieldsync_server::store::Db;

mod common;
use common::*;

const DAY: i64 = 86_400_000;

fn branch(db: &Db) {
    db.with(|c| {
        c.execute("INSERT OR IGNORE INTO branches (id, name) VALUES ('b1', 'b1')", []).unwrap();
    });
}

fn file_of(db: &Db, id: &str) -> domain::CustomerFile {
    db.with(|c| fieldsync_server::customers::load(c, id, &automerge::ActorId::random()))
        .unwrap()
        .unwrap()
        .file()
        .clone()
}

#[test]
fn tiers_follow_an_imported_asset_file_and_bad_lines_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    branch(&db);
    let mut m1 = Manager::new(&dir, "M1", "b1");
    let a = m1.customer("甲", None); // ID_NUMBER
    m1.sync(&db, &[&a]);
    // A second customer, with another valid ID number.
    let mut profile = domain::Profile::new(domain::CustomerKind::Individual, "乙", "韩桥村");
    profile.id_number = Some("422822196408275665".into());
    let b = m1.tablet.create_customer(profile, NOW).unwrap();
    m1.sync(&db, &[&b]);

    let csv = format!(
        "id_number,as_of,assets_yuan\n\
         {lower},2025-07-01,1500000.50\n\
         422822196408275665,2025-07-01,80000\n\
         422822196408275664,2025-07-01,100\n\
         11010519491231002X,2025-13-01,100\n\
         11010519491231002X,2025-07-01,-5\n\
         11010519491231002X,2025-07-01\n\
         440106199001011235,2025-07-01,100\n\
         11010519491231002X,2099-01-01,100\n",
        lower = ID_NUMBER.to_lowercase()
    );
    let report = db.write_blocking(|s| stages::import_assets(s, "b1", csv.as_bytes(), NOW)).unwrap();
    assert_eq!((report.imported, report.unchanged), (2, 0), "{report:?}");
    let refused: Vec<(u64, &str)> = report.rejected.iter().map(|r| (r.line, r.code)).collect();
    assert_eq!(
        refused,
        [(4, "id_number"), (5, "as_of"), (6, "assets_yuan"), (7, "columns"), (8, "no_customer"), (9, "as_of")]
    );
    let text = format!("{report:?}");
    assert!(!text.contains("4228221964") && !text.contains("1101051949"), "the report never holds an ID number");

    let fa = file_of(&db, &a);
    assert_eq!(fa.server.value_tier, Some(ValueTier::HighNetWorth));
    let as_of = fa.server.tier_as_of.unwrap();
    assert_eq!(domain::china_today(as_of), jiff::civil::date(2025, 7, 1));
    assert_eq!(file_of(&db, &b).server.value_tier, Some(ValueTier::Medium));

    // An older snapshot changes nothing; a newer one moves the tier and its date.
    let older = format!("id_number,as_of,assets_yuan\n{ID_NUMBER},2025-06-01,10\n");
    let report = db.write_blocking(|s| stages::import_assets(s, "b1", older.as_bytes(), NOW)).unwrap();
    assert_eq!((report.imported, report.unchanged), (0, 1));
    assert_eq!(file_of(&db, &a).server.value_tier, Some(ValueTier::HighNetWorth));
    let newer = format!("id_number,as_of,assets_yuan\n{ID_NUMBER},2025-07-20,7000000\n");
    db.write_blocking(|s| stages::import_assets(s, "b1", newer.as_bytes(), NOW)).unwrap();
    assert_eq!(file_of(&db, &a).server.value_tier, Some(ValueTier::PrivateBanking));

    // Garbage is refused line by line, never a panic: binary, a missing header, an empty file.
    for junk in [&b"\xff\xfe\x00garbage\n\x00\x01,\x02"[..], b"", b"only-a-header\n", b"a,b,c\n\n\n,,,,,\n"] {
        let report = db.write_blocking(|s| stages::import_assets(s, "b1", junk, NOW)).unwrap();
        assert_eq!(report.imported, 0);
    }
}

#[test]
fn stages_follow_the_file_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    branch(&db);
    let mut m1 = Manager::new(&dir, "M1", "b1");
    let a = m1.customer("甲", None);
    m1.sync(&db, &[&a]);
    // Never computed yet: due at once; the sweep writes it (a push never waits for it).
    assert_eq!(file_of(&db, &a).server.lifecycle, None);
    assert_eq!(db.write_blocking(|s| stages::sweep(s, "b1", NOW)).unwrap(), 1);
    let f = file_of(&db, &a);
    assert_eq!((f.server.lifecycle, f.server.lifecycle_as_of), (Some(Lifecycle::NonCustomer), Some(NOW)));
    assert_eq!(db.write_blocking(|s| stages::sweep(s, "b1", NOW)).unwrap(), 0, "nothing due twice");

    // A visit and a won lead on the tablet: first-time customer at the next sweep.
    m1.visit(&a, HOME, NOW, NOW + 30 * MIN, NOW + 30 * MIN, &[]);
    let lead = domain::NewLead {
        id: "l1".into(),
        product: domain::Product::Deposit,
        amount_fen: 5_000_000,
        source: domain::LeadSource::Visit,
        expected_close: None,
        probability: None,
        visit_id: None,
        notes: String::new(),
        catalog_id: None,
    };
    m1.tablet.apply(&a, &Action::AddLead { lead }, NOW + 31 * MIN).unwrap();
    let won = Action::MoveLead { lead_id: "l1".into(), stage: domain::LeadStage::Won, lost_reason: None };
    m1.tablet.apply(&a, &won, NOW + 32 * MIN).unwrap();
    m1.sync(&db, &[&a]);
    assert_eq!(db.write_blocking(|s| stages::sweep(s, "b1", NOW + HOUR)).unwrap(), 1);
    assert_eq!(file_of(&db, &a).server.lifecycle, Some(Lifecycle::FirstTime));
    // 180 quiet days later: dormant; not before.
    let quiet = NOW + 32 * MIN + 180 * DAY;
    assert_eq!(db.write_blocking(|s| stages::sweep(s, "b1", quiet - MIN)).unwrap(), 0);
    assert_eq!(db.write_blocking(|s| stages::sweep(s, "b1", quiet)).unwrap(), 1);
    assert_eq!(file_of(&db, &a).server.lifecycle, Some(Lifecycle::Dormant));
    assert_eq!(db.write_blocking(|s| stages::sweep(s, "b1", quiet + DAY)).unwrap(), 0, "dormant stays put");
    // A visit wakes it up at the next sweep.
    m1.visit(&a, HOME, quiet + DAY, quiet + DAY + 30 * MIN, quiet + DAY + 30 * MIN, &[]);
    m1.sync(&db, &[&a]);
    assert_eq!(db.write_blocking(|s| stages::sweep(s, "b1", quiet + 2 * DAY)).unwrap(), 1);
    assert_eq!(file_of(&db, &a).server.lifecycle, Some(Lifecycle::FirstTime));
}

#[test]
fn an_import_larger_than_one_request_takes_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    branch(&db);
    let mut m1 = Manager::new(&dir, "M1", "b1");
    let a = m1.customer("甲", None);
    m1.sync(&db, &[&a]);
    let mut csv = format!("id_number,as_of,assets_yuan\n{ID_NUMBER},2025-07-01,2000000\n");
    for _ in 0..stages::MAX_IMPORT_LINES {
        csv.push_str("11010519491231002X,2025-07-01,1\n");
    }
    let result = db.write_blocking(|s| stages::import_assets(s, "b1", csv.as_bytes(), NOW));
    assert!(matches!(result, Err(fieldsync_server::customers::PushError::TooLarge(_))), "{result:?}");
    assert_eq!(file_of(&db, &a).server.value_tier, None, "nothing of it was taken");
}
