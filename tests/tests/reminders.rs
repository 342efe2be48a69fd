//! Reminders the server writes ahead of time reach the tablet and stay there offline: a product
//! maturity the core banking system reports, and a lunar birthday on its solar day; the tablet's
//! "today" list merges them with its follow-ups and planned visits.

use fieldsync_core::domain::{Birthday, CustomerKind, Profile, ReminderKind};
use fieldsync_core::store::TodayKind;
use fieldsync_tests::attack::Client;
use fieldsync_tests::{TestServer, device, now_ms, sync};

/// Midnight starting `day` in China, UTC ms.
fn midnight(day: jiff::civil::Date) -> i64 {
    day.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8))).unwrap().timestamp().as_millisecond()
}

#[test]
fn reminders_reach_the_tablet_ahead_of_time_and_show_offline_on_their_day() {
    let (server, branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let mut sup = device(dir.path(), "sup", &server.url(), "sup");
    let mut profile = Profile::new(CustomerKind::Individual, "杨桂敏", "韩桥村");
    profile.id_number = Some("11010519491231002X".into());
    // 八月十五 by the lunar calendar.
    profile.birthday = Some(Birthday { year: Some(1949), month: 8, day: 15, lunar: true, leap_month: false });
    let customer = m1.store().create_customer(profile, now_ms()).unwrap();
    sync(&mut m1).unwrap();

    let today = fieldsync_core::domain::china_today(now_ms());
    let maturity = today.checked_add(jiff::Span::new().days(3)).unwrap();
    let csv = format!(
        "id_number,kind,date,product,amount_yuan\n11010519491231002X,maturity,{maturity},三年期定期存款,50000\n"
    );
    let (status, body) = Client::of_device(&mut sup).post("/api/v1/imports/product-events", "text/csv", csv.as_bytes());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    // The next Mid-Autumn day's reminder, written 30 days ahead by the server's sweep.
    let mid_autumn = fieldsync_core::domain::birthday::next_on_or_after(
        &Birthday { year: None, month: 8, day: 15, lunar: true, leap_month: false },
        today,
    )
    .unwrap();
    let ahead = midnight(mid_autumn) - 29 * 86_400_000;
    let db = server.store();
    assert_eq!(db.write_blocking(|s| fieldsync_server::reminders::sweep(s, &branch.id, ahead)).unwrap(), 1);
    drop(db);
    sync(&mut m1).unwrap();

    // Offline from here: the server is gone.
    drop(server);
    let day = |d: jiff::civil::Date| (midnight(d), midnight(d.tomorrow().unwrap()));
    let (start, end) = day(maturity);
    let items = m1.store().today(start, end).unwrap();
    let reminder = items.iter().find(|i| i.kind == TodayKind::Reminder).expect("the maturity is on its day");
    assert_eq!(
        (reminder.customer_id.as_str(), reminder.reminder_kind),
        (customer.as_str(), Some(ReminderKind::Maturity))
    );
    assert!(!reminder.overdue);
    let (start, end) = day(mid_autumn);
    let items = m1.store().today(start, end).unwrap();
    assert!(
        items.iter().any(|i| i.reminder_kind == Some(ReminderKind::Birthday) && i.at >= start && i.at < end),
        "the birthday is on the Mid-Autumn day: {items:?}"
    );
    // The day after the maturity, it is still listed, as overdue, until done.
    let (start, end) = day(maturity.tomorrow().unwrap());
    let items = m1.store().today(start, end).unwrap();
    assert!(items.iter().any(|i| i.reminder_kind == Some(ReminderKind::Maturity) && i.overdue));
}
