//! A manager's month against its target on a real tablet: the server's count arrives with a
//! sync, and the visits made offline since are added on the tablet.

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
