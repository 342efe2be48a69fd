//! A manager's month on a real tablet: their progress against the target (the server's count
//! arrives with a sync, the visits made offline since are added on the tablet), and the tasks a
//! supervisor's campaign gives their customers.

use fieldsync_core::domain::{CustomerKind, Measures, Profile, VisitDetails};
use fieldsync_tests::{TestServer, device, now_ms, record_visit, sync};

#[test]
fn the_months_progress_reaches_the_tablet_and_counts_offline_visits() {
    let (server, branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let (month, start) = fieldsync_core::domain::targets::china_month(now_ms());
    let target = Measures { visits: 40, new_customers: 4, leads_won: 2, amount_won_fen: 10_000_000 };
    server
        .store()
        .write_blocking(|s| fieldsync_server::targets::set_branch_target(s, &branch.id, &month, &target))
        .unwrap();
    let customer =
        m1.store().create_customer(Profile::new(CustomerKind::Individual, "张三", "韩桥村"), now_ms()).unwrap();
    record_visit(&mut m1, &customer, VisitDetails { notes: "了解需求".into(), ..VisitDetails::default() });
    sync(&mut m1).unwrap();
    let progress = m1.store().month_progress(&month, start, now_ms()).unwrap().expect("a target this month");
    assert_eq!(progress.target.visits, 20, "half the branch's 40: two managers");
    assert_eq!((progress.done.visits, progress.done.new_customers), (1, 1));

    // Offline: the next visit counts at once.
    drop(server);
    record_visit(&mut m1, &customer, VisitDetails { notes: "再次走访".into(), ..VisitDetails::default() });
    let progress = m1.store().month_progress(&month, start, now_ms()).unwrap().unwrap();
    assert_eq!(progress.done.visits, 2);
}

#[test]
fn a_campaigns_task_reaches_the_members_manager_and_shows_offline() {
    use fieldsync_core::domain::{Product, ReminderKind};
    use fieldsync_core::store::TodayKind;
    let (server, branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let member =
        m1.store().create_customer(Profile::new(CustomerKind::Individual, "张三", "韩桥村"), now_ms()).unwrap();
    let other = m1.store().create_customer(Profile::new(CustomerKind::Individual, "李四", "张坪村"), now_ms()).unwrap();
    sync(&mut m1).unwrap();
    let db = server.store();
    let sup = db.write_blocking(|s| fieldsync_server::accounts::user_by_id(s, &branch.supervisor)).unwrap().unwrap();
    let new = fieldsync_server::campaigns::NewCampaign {
        name: "春季存款".into(),
        product: Product::Deposit,
        starts_at: now_ms() - 60_000,
        ends_at: now_ms() + 30 * 86_400_000,
        filter: fieldsync_server::store::campaigns::MemberFilter {
            village: Some("韩桥村".into()),
            ..Default::default()
        },
    };
    let (_, members) = db.write_blocking(|s| fieldsync_server::campaigns::create(s, &sup, &new, now_ms())).unwrap();
    assert_eq!(members, 1);
    // A manager may not start one.
    let m1_user = db.write_blocking(|s| fieldsync_server::accounts::user_by_id(s, &branch.m1)).unwrap().unwrap();
    assert!(db.write_blocking(|s| fieldsync_server::campaigns::create(s, &m1_user, &new, now_ms())).is_err());
    drop(db);
    sync(&mut m1).unwrap();
    drop(server);
    let (start, end) = (now_ms() - 86_400_000, now_ms() + 86_400_000);
    let tasks: Vec<_> = m1
        .store()
        .today(start, end)
        .unwrap()
        .into_iter()
        .filter(|i| i.kind == TodayKind::Reminder && i.reminder_kind == Some(ReminderKind::Campaign))
        .collect();
    assert_eq!(tasks.iter().map(|t| t.customer_id.clone()).collect::<Vec<_>>(), vec![member]);
    assert!(!tasks.iter().any(|t| t.customer_id == other));
}

#[test]
fn a_complaints_deadline_follows_the_branchs_limit_offline_and_the_scorecard_counts_it() {
    use fieldsync_core::domain::{Action, CustomerRules, Interaction, InteractionKind};
    use fieldsync_core::store::TodayKind;
    const DAY: i64 = 86_400_000;
    let (server, branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let customer =
        m1.store().create_customer(Profile::new(CustomerKind::Individual, "张三", "韩桥村"), now_ms()).unwrap();
    let captured = now_ms();
    let complaint = Interaction {
        id: "c1".into(),
        kind: InteractionKind::Complaint,
        summary: "柜台排队太久".into(),
        at: captured,
        captured_at: captured,
        visit_id: None,
        resolved_at: None,
        resolution: None,
    };
    m1.store().apply(&customer, &Action::AddInteraction { interaction: complaint }, captured).unwrap();
    let complaints = |m: &mut fieldsync_ffi::Device, from: i64, days: i64| {
        let items = m.store().today(from, from + days * DAY).unwrap();
        items.into_iter().filter(|i| i.kind == TodayKind::Complaint).map(|i| (i.item_id, i.at)).collect::<Vec<_>>()
    };
    // Before any sync: the regulator's 15 days.
    assert_eq!(complaints(&mut m1, captured, 16), vec![("c1".to_string(), captured + 15 * DAY)]);
    assert_eq!(complaints(&mut m1, captured, 14), vec![]);

    // The branch gives 3 days; the tablet learns it with its next sync.
    let db = server.store();
    let rules = CustomerRules { complaint_days: 3, ..CustomerRules::default() };
    db.write_blocking(|s| fieldsync_server::stages::set_rules(s, &branch.id, &rules, now_ms())).unwrap();
    sync(&mut m1).unwrap();
    assert_eq!(complaints(&mut m1, captured, 4), vec![("c1".to_string(), captured + 3 * DAY)]);
    // Past the deadline it is overdue.
    let late = m1.store().today(captured + 5 * DAY, captured + 6 * DAY).unwrap();
    assert!(late.iter().any(|i| i.kind == TodayKind::Complaint && i.overdue));

    // Handled before any sync: it leaves the list at once; synced, the scorecard counts it in time.
    let resolve =
        Action::ResolveInteraction { interaction_id: "c1".into(), resolution: "已致歉并加开窗口".into() };
    m1.store().apply(&customer, &resolve, now_ms()).unwrap();
    assert_eq!(complaints(&mut m1, captured, 30), vec![]);
    sync(&mut m1).unwrap();
    let first = jiff::Timestamp::from_millisecond(captured)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap());
    let cards = db
        .write_blocking(|s| {
            fieldsync_server::targets::scorecards(s, &branch.id, first.date().first_of_month(), now_ms())
        })
        .unwrap();
    let mine: Vec<_> =
        cards.iter().filter(|c| c.complaints > 0).map(|c| (c.complaints, c.complaints_in_time)).collect();
    assert_eq!(mine, vec![(1, 1)]);
}
