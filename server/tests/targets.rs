//! Monthly targets: a branch's target splits evenly among its managers, and the progress counted
//! from the synced visits, customers and won leads matches what the tablets did.

use fieldsync_core::domain::{self, Action, Measures};
use fieldsync_server::accounts::Role;
use fieldsync_server::store::Db;
use fieldsync_server::targets;

mod common;
use common::*;

#[test]
fn a_branch_target_splits_and_progress_follows_the_synced_work() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    branch_with_managers(&db);
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

    let (rows, branch) = db.write_blocking(|s| targets::branch_month(s, "b1", jiff::civil::date(2025, 7, 1))).unwrap();
    let m1_row = rows.iter().find(|(name, _, _)| name == "M1").unwrap();
    assert_eq!(m1_row.1, Measures { visits: 31, new_customers: 5, leads_won: 2, amount_won_fen: 1_000_001 });
    assert_eq!(m1_row.2, Measures { visits: 1, new_customers: 2, leads_won: 1, amount_won_fen: 5_000_000 });
    assert_eq!(branch, Some((target, m1_row.2)));
    // The manager's own month, as their tablet gets it.
    let progress = db.write_blocking(|s| targets::progress(s, &user("M1", Role::Manager, "b1"), NOW)).unwrap().unwrap();
    assert_eq!((progress.month.as_str(), progress.done.visits, progress.target.visits), ("2025-07", 1, 31));
    // August has no target: nothing to show.
    let august = NOW + 31 * 24 * 60 * MIN;
    assert_eq!(db.write_blocking(|s| targets::progress(s, &user("M1", Role::Manager, "b1"), august)).unwrap(), None);
}
