//! Reminders the server writes ahead of time, with a clock the test moves: lunar birthdays on the
//! right solar day across several years (a leap month, a 30th day in a month of 29), and the core
//! banking system's product events imported line by line.

use fieldsync_core::domain::{self, Birthday, CustomerKind, Profile, ReminderKind};
use fieldsync_server::reminders;
use fieldsync_server::store::Db;

mod common;
use common::*;

/// 09:00 in China on a day, UTC ms.
fn morning(y: i16, m: i8, d: i8) -> i64 {
    jiff::civil::date(y, m, d)
        .at(9, 0, 0, 0)
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .unwrap()
        .timestamp()
        .as_millisecond()
}

const DAY: i64 = 86_400_000;

fn setup(dir: &tempfile::TempDir) -> (Db, Manager) {
    let db = Db::open(dir.path()).unwrap();
    db.with(|c| {
        c.execute("INSERT OR IGNORE INTO branches (id, name) VALUES ('b1', 'b1')", []).unwrap();
    });
    let m1 = Manager::new(dir, "M1", "b1");
    (db, m1)
}

fn with_birthday(db: &Db, m1: &mut Manager, name: &str, birthday: Birthday, created: i64) -> String {
    let mut profile = Profile::new(CustomerKind::Individual, name, "韩桥村");
    profile.birthday = Some(birthday);
    let id = m1.tablet.create_customer(profile, created).unwrap();
    m1.sync(db, &[&id]);
    id
}

fn birthday_reminders(db: &Db, id: &str) -> Vec<(String, i64)> {
    let doc = db.with(|c| fieldsync_server::customers::load(c, id, &automerge::ActorId::random())).unwrap().unwrap();
    let mut out: Vec<(String, i64)> = doc
        .file()
        .reminders
        .values()
        .filter(|r| r.kind == ReminderKind::Birthday)
        .map(|r| (r.id.clone(), r.due_at))
        .collect();
    out.sort();
    out
}

fn sweep(db: &Db, at: i64) -> usize {
    db.write_blocking(|s| reminders::sweep(s, "b1", at)).unwrap()
}

#[test]
fn lunar_birthdays_fall_on_the_right_solar_day_year_after_year() {
    let dir = tempfile::tempdir().unwrap();
    let (db, mut m1) = setup(&dir);
    let lunar = |month, day, leap_month| Birthday { year: Some(1960), month, day, lunar: true, leap_month };
    let created = morning(2023, 1, 1);
    // 八月十五 (Mid-Autumn): 2023-09-29, 2024-09-17, 2025-10-06, 2026-09-25.
    let mid_autumn = with_birthday(&db, &mut m1, "中秋", lunar(8, 15, false), created);
    // 闰二月初一: 2023 has the leap month (2023-03-22); 2024 has none (二月初一, 2024-03-10).
    let leap = with_birthday(&db, &mut m1, "闰月", lunar(2, 1, true), created);
    // 腊月三十: the twelfth months of lunar 2022 and 2023 have 30 days (2023-01-21, 2024-02-09), that
    // of 2024 only 29: its last day (2025-01-28).
    let thirtieth = with_birthday(&db, &mut m1, "除夕", lunar(12, 30, false), created);

    // Nothing before 30 days ahead; each on its day at 09:00 once within them.
    assert_eq!(sweep(&db, morning(2023, 2, 19)), 0);
    assert_eq!(sweep(&db, morning(2023, 2, 20)), 1, "闰二月初一 2023 is 30 days ahead");
    assert_eq!(birthday_reminders(&db, &leap), [("birthday-20230322".to_string(), morning(2023, 3, 22))]);
    for year_end in [morning(2023, 12, 31), morning(2024, 12, 31), morning(2025, 12, 31), morning(2026, 12, 31)] {
        // Sweeping every week of the year, as the server would (more often, in fact).
        let mut at = year_end - 365 * DAY;
        while at <= year_end {
            sweep(&db, at);
            at += 7 * DAY;
        }
    }
    let days = |id: &str| birthday_reminders(&db, id).into_iter().map(|(id, _)| id).collect::<Vec<_>>();
    assert_eq!(days(&mid_autumn), ["birthday-20230929", "birthday-20240917", "birthday-20251006", "birthday-20260925"]);
    assert_eq!(days(&leap)[..2], ["birthday-20230322", "birthday-20240310"]);
    assert_eq!(days(&thirtieth)[..3], ["birthday-20230121", "birthday-20240209", "birthday-20250128"]);
    // Written once: another sweep the same day adds nothing.
    assert_eq!(sweep(&db, morning(2026, 12, 31)), 0);
}

#[test]
fn product_events_become_reminders_and_bad_lines_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (db, mut m1) = setup(&dir);
    let a = m1.customer("甲", None); // ID_NUMBER
    m1.sync(&db, &[&a]);
    let csv = format!(
        "id_number,kind,date,product,amount_yuan\n\
         {ID_NUMBER},maturity,2025-08-01,三年期定期存款,50000\n\
         {ID_NUMBER},dividend,2025-08-15,稳健理财一号,\n\
         {ID_NUMBER},bonus,2025-08-15,稳健理财一号,1\n\
         {ID_NUMBER},repayment,2025-02-30,农户小额贷款,3000\n\
         {ID_NUMBER},repayment,2025-09-01,,3000\n\
         {ID_NUMBER},repayment,2025-09-01,农户小额贷款,-1\n\
         422822196408275665,repayment,2025-09-01,农户小额贷款,3000\n\
         123,repayment,2025-09-01,农户小额贷款,3000\n"
    );
    let report = db.write_blocking(|s| reminders::import_events(s, "b1", csv.as_bytes(), NOW)).unwrap();
    assert_eq!(report.imported, 2, "{report:?}");
    let codes: Vec<(u64, &str)> = report.rejected.iter().map(|r| (r.line, r.code)).collect();
    assert_eq!(
        codes,
        [(4, "kind"), (5, "date"), (6, "product"), (7, "amount_yuan"), (8, "no_customer"), (9, "id_number")]
    );
    assert!(!format!("{report:?}").contains("1101051949"));
    let doc = db.with(|c| fieldsync_server::customers::load(c, &a, &automerge::ActorId::random())).unwrap().unwrap();
    let mut got: Vec<(ReminderKind, i64, String)> =
        doc.file().reminders.values().map(|r| (r.kind, r.due_at, r.note.clone())).collect();
    got.sort_by_key(|g| g.1);
    assert_eq!(got[0].0, domain::ReminderKind::Maturity);
    assert_eq!(got[0].1, morning(2025, 8, 1));
    assert!(got[0].2.contains("三年期定期存款") && got[0].2.contains("50000.00 元"), "{}", got[0].2);
    assert_eq!(got[1].0, domain::ReminderKind::Dividend);
    // The same file again: nothing new.
    let again = db.write_blocking(|s| reminders::import_events(s, "b1", csv.as_bytes(), NOW)).unwrap();
    assert_eq!((again.imported, again.unchanged), (0, 2));
}
