//! Monthly targets: a branch's target splits evenly among its managers, and the progress counted
//! from the synced visits, customers and won leads matches what the tablets did.

use fieldsync_core::domain::{self, Action, Measures};
use fieldsync_server::accounts::{self, Role};
use fieldsync_server::store::Db;
use fieldsync_server::targets;

mod common;
use common::*;

#[test]
fn a_branch_target_splits_and_progress_follows_the_synced_work() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    branch_with_managers(&db);
    let outlet = |name: &str| db.write_blocking(|s| accounts::create_outlet(s, "b1", name, NOW, "test")).unwrap();
    let hanqiao = outlet("韩桥网点");
    outlet("空网点");
    db.with(|c| c.execute("UPDATE users SET outlet_id = ?1 WHERE id = 'M1'", [&hanqiao])).unwrap();
    // NOW is in July 2025.
    let target = Measures { visits: 61, new_customers: 10, leads_won: 4, amount_won_fen: 2_000_001 };
    assert_eq!(db.write_blocking(|s| targets::set_branch_target(s, "b1", "2025-07", &target)).unwrap(), 2);
    for bad in ["2025-7", "July", "2025-13", ""] {
        assert!(db.write_blocking(|s| targets::set_branch_target(s, "b1", bad, &target)).is_err(), "{bad}");
    }
    let negative = Measures { visits: -1, ..target };
    assert!(db.write_blocking(|s| targets::set_branch_target(s, "b1", "2025-07", &negative)).is_err());
    assert!(db.write_blocking(|s| targets::set_manager_target(s, "b1", "2025-07", "S1", &target)).is_err());

    // M1's work: two customers, a visit, a lead won.
    let mut m1 = Manager::new(&dir, "M1", "b1");
    let a = m1.customer("甲", None);
    let b = m1.customer("乙", None);
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
    m1.tablet.apply(&b, &Action::AddLead { lead }, NOW).unwrap();
    let won = Action::MoveLead { lead_id: "l1".into(), stage: domain::LeadStage::Won, lost_reason: None };
    m1.tablet.apply(&b, &won, NOW + MIN).unwrap();
    m1.sync(&db, &[&a, &b]);

    let month = db.write_blocking(|s| targets::branch_month(s, "b1", jiff::civil::date(2025, 7, 1))).unwrap();
    let m1_row = month.managers.iter().find(|l| l.name == "M1").unwrap();
    assert_eq!(m1_row.target, Measures { visits: 31, new_customers: 5, leads_won: 2, amount_won_fen: 1_000_001 });
    assert_eq!(m1_row.done, Measures { visits: 1, new_customers: 2, leads_won: 1, amount_won_fen: 5_000_000 });
    let branch = month.branch.as_ref().unwrap();
    assert_eq!((branch.target, branch.done), (target, m1_row.done));
    // The outlets' lines add up their managers': M1 works from 韩桥, M2 from no outlet.
    let outlets: Vec<_> = month.outlets.iter().map(|l| (l.name.as_str(), l.target, l.done)).collect();
    let none = Measures::default();
    assert_eq!(outlets, vec![("空网点", none, none), ("韩桥网点", m1_row.target, m1_row.done)]);
    // The manager's own month, as their tablet gets it.
    let progress = db.write_blocking(|s| targets::progress(s, &user("M1", Role::Manager, "b1"), NOW)).unwrap().unwrap();
    assert_eq!((progress.month.as_str(), progress.done.visits, progress.target.visits), ("2025-07", 1, 31));
    // August has no target: nothing to show.
    let august = NOW + 31 * 24 * 60 * MIN;
    assert_eq!(db.write_blocking(|s| targets::progress(s, &user("M1", Role::Manager, "b1"), august)).unwrap(), None);
}

#[test]
fn the_scorecard_counts_complaints_handled_within_the_branchs_limit() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    branch_with_managers(&db);
    let mut m1 = Manager::new(&dir, "M1", "b1");
    let a = m1.customer("甲", None);
    let b = m1.customer("乙", None);
    const DAY: i64 = 24 * 60 * MIN;
    let complaint = |id: &str| domain::Interaction {
        id: id.into(),
        kind: domain::InteractionKind::Complaint,
        summary: "排队太久".into(),
        at: NOW,
        captured_at: NOW,
        visit_id: None,
        resolved_at: None,
        resolution: None,
    };
    let resolve = |id: &str| Action::ResolveInteraction { interaction_id: id.into(), resolution: "已致歉".into() };
    // Handled on day 2 (in time), handled on day 20 (late), one still open, and a consultation,
    // which has no limit.
    for id in ["c1", "c2", "c3"] {
        m1.tablet.apply(&a, &Action::AddInteraction { interaction: complaint(id) }, NOW).unwrap();
    }
    let consultation = domain::Interaction { kind: domain::InteractionKind::Consultation, ..complaint("q1") };
    m1.tablet.apply(&b, &Action::AddInteraction { interaction: consultation }, NOW).unwrap();
    m1.tablet.apply(&a, &resolve("c1"), NOW + 2 * DAY).unwrap();
    m1.tablet.apply(&a, &resolve("c2"), NOW + 20 * DAY).unwrap();
    // A second resolution of the same complaint is refused, and changes nothing.
    assert!(m1.tablet.apply(&a, &resolve("c1"), NOW + 3 * DAY).is_err());
    m1.sync(&db, &[&a, &b]);

    let july = jiff::civil::date(2025, 7, 1);
    let card = |now: i64| {
        let cards = db.write_blocking(|s| targets::scorecards(s, "b1", july, now)).unwrap();
        let m1 = cards.into_iter().find(|c| c.manager_id == "M1").unwrap();
        (m1.complaints, m1.complaints_in_time, m1.complaints_late)
    };
    // On day 10 the open one is within the regulator's 15 days; on day 16 it is late too.
    assert_eq!(card(NOW + 10 * DAY), (3, 1, 1));
    assert_eq!(card(NOW + 16 * DAY), (3, 1, 2));
    // A branch giving 30 days: the one handled on day 20 was in time.
    let rules = domain::CustomerRules { complaint_days: 30, ..Default::default() };
    db.write_blocking(|s| fieldsync_server::stages::set_rules(s, "b1", &rules, NOW + 16 * DAY)).unwrap();
    assert_eq!(card(NOW + 16 * DAY), (3, 2, 0));
    // August's scorecard has none of July's complaints.
    let cards = db.write_blocking(|s| targets::scorecards(s, "b1", jiff::civil::date(2025, 8, 1), NOW)).unwrap();
    assert!(cards.iter().all(|c| c.complaints == 0));
}
