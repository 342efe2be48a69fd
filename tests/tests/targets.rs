//! A manager's month on a real tablet: their progress against the target (the server's count
//! arrives with a sync, the visits made offline since are added on the tablet), and the tasks a
//! supervisor's campaign gives their customers.

use fieldsync_core::domain::{CustomerKind, Measures, Profile, VisitDetails};
use fieldsync_server::store::Db;
use fieldsync_tests::{TestServer, device, now_ms, record_visit, sync};

#[test]
fn the_months_progress_reaches_the_tablet_and_counts_offline_visits() {
    let (server, branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let (month, start) = fieldsync_core::domain::targets::china_month(now_ms());
    let target = Measures { visits: 40, new_customers: 4, leads_won: 2, amount_won_fen: 10_000_000 };
    Db::open(server.data.path())
        .unwrap()
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
    let db = Db::open(server.data.path()).unwrap();
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
