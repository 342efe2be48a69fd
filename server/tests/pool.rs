//! The public pool's rules on the server with a clock the test moves: the daily claim cap resets
//! with the branch's local day, a locked customer is never swept, new rules move every due date,
//! and a sweep re-checks a customer whose visit arrived after its due date was written.

use fieldsync_core::domain::{self, Action, CustomerKind, OwnerChangeReason, PoolRules, Profile};
use fieldsync_core::sync::protocol::{Claim, SyncRequest};
use fieldsync_server::accounts::Role;
use fieldsync_server::customers as docs;
use fieldsync_server::pool;
use fieldsync_server::store::{Db, DocumentStore, PoolStore};

mod common;
use common::*;

const DAY: i64 = 86_400_000;

fn set_rules(db: &Db, rules: PoolRules) {
    db.write_blocking(|s| pool::set_rules(s, "b1", &rules, NOW)).unwrap();
}

/// M1's customers, entered at NOW and pushed; then returned to the pool by a supervisor.
fn pooled(db: &Db, m1: &mut Manager, n: usize) -> Vec<String> {
    let ids: Vec<String> = (0..n).map(|i| m1.customer(&format!("客户{i}"), None)).collect();
    m1.sync(db, &ids.iter().map(String::as_str).collect::<Vec<_>>());
    let s1 = user("S1", Role::Supervisor, "b1");
    db.write_blocking(|s| pool::reassign(s, &s1, &ids, &domain::Owner::default(), NOW)).unwrap();
    ids
}

fn claim(db: &Db, m: &Manager, customer: &str, at: i64) -> (bool, String) {
    let claims = vec![Claim { intent_id: format!("i-{customer}-{at}"), customer_id: customer.into(), at }];
    let answer = db.sync_blocking(&m.user, &m.device, SyncRequest { cursor: 1, claims, ..Default::default() }, at);
    let result = answer.unwrap().0.claims.remove(0);
    (result.accepted, result.reason)
}

#[test]
fn the_daily_claim_cap_resets_with_the_branchs_local_day() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    branch_with_managers(&db);
    set_rules(&db, PoolRules { daily_claim_cap: Some(1), claim_cooldown_days: None, ..PoolRules::default() });
    let mut m1 = Manager::new(&dir, "M1", "b1");
    let m2 = Manager::new(&dir, "M2", "b1");
    let ids = pooled(&db, &mut m1, 3);
    // NOW is 2025-07-21 08:00 in China; the local day ends 16 hours later.
    assert!(claim(&db, &m2, &ids[0], NOW).0);
    let (accepted, reason) = claim(&db, &m2, &ids[1], NOW + 15 * 3_600_000);
    assert!(!accepted && reason.contains("今日领取已达上限") && reason.contains("daily claim limit"), "{reason}");
    assert!(claim(&db, &m2, &ids[1], NOW + 17 * 3_600_000).0, "a new local day");
    // A claim's outcome is on the customer, with who took it from whom.
    let changes = db.with(|c| c.owner_changes_of(&ids[1]).unwrap());
    assert_eq!(changes[0].change.reason, OwnerChangeReason::Claimed);
    assert_eq!(changes[0].change.to.manager_id.as_deref(), Some("M2"));
    assert_eq!(changes[1].change.reason, OwnerChangeReason::Assigned);
    assert_eq!(changes[1].change.by, "S1");
}

#[test]
fn the_former_owner_waits_out_the_cooldown_and_the_cap_on_customers_holds() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    branch_with_managers(&db);
    set_rules(
        &db,
        PoolRules { daily_claim_cap: None, max_owned: Some(1), claim_cooldown_days: Some(30), ..PoolRules::default() },
    );
    let mut m1 = Manager::new(&dir, "M1", "b1");
    let m2 = Manager::new(&dir, "M2", "b1");
    let ids = pooled(&db, &mut m1, 3);
    let (accepted, reason) = claim(&db, &m1, &ids[0], NOW + 29 * DAY);
    assert!(!accepted && reason.contains("30"), "{reason}");
    assert!(claim(&db, &m1, &ids[0], NOW + 31 * DAY).0, "the cooldown is over");
    assert!(claim(&db, &m2, &ids[1], NOW).0);
    let (accepted, reason) = claim(&db, &m2, &ids[2], NOW);
    assert!(!accepted && reason.contains("名下客户已达上限"), "{reason}");
}

#[test]
fn locked_customers_stay_and_new_rules_move_every_due_date() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    branch_with_managers(&db);
    let mut m1 = Manager::new(&dir, "M1", "b1");
    let (a, b) = (m1.customer("甲", None), m1.customer("乙", None));
    m1.sync(&db, &[&a, &b]);
    let created = NOW - 1000 * MIN;
    // The defaults: 90 days without a visit.
    let due = |id: &str| db.with(|c| c.pool_state(id).unwrap()).and_then(|(_, d)| d).map(|d| d.at);
    assert_eq!(due(&a), Some(created + 90 * DAY));
    set_rules(&db, PoolRules { recycle_after_days: Some(10), warn_days: 3, ..PoolRules::default() });
    assert_eq!(due(&a), Some(created + 10 * DAY), "new rules move the due dates at once");
    let s1 = user("S1", Role::Supervisor, "b1");
    db.write_blocking(|s| docs::write_decision(s, &s1, &b, &Action::SetLocked { locked: true }, NOW)).unwrap();
    assert_eq!(due(&b), None, "a locked customer is never due");
    assert_eq!(db.write_blocking(|s| pool::sweep(s, "b1", created + 9 * DAY)).unwrap(), 0);
    assert_eq!(db.write_blocking(|s| pool::sweep(s, "b1", created + 11 * DAY)).unwrap(), 1);
    let scope = |id: &str| db.with(|c| c.document(id).unwrap().unwrap().scope.to_string());
    assert_eq!(scope(&a), "pool");
    assert_eq!(scope(&b), "m:M1");
    let history = db.with(|c| c.owner_changes_of(&a).unwrap());
    assert_eq!((history[0].change.reason, history[0].change.by.as_str()), (OwnerChangeReason::Recycled, pool::RULES));
}

#[test]
fn a_sweep_checks_the_document_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    branch_with_managers(&db);
    set_rules(&db, PoolRules { recycle_after_days: Some(10), warn_days: 3, ..PoolRules::default() });
    let mut m1 = Manager::new(&dir, "M1", "b1");
    let a = m1.customer("甲", None);
    m1.sync(&db, &[&a]);
    // Its row says due in 10 days; the stored row is made stale on purpose (as a rule change
    // racing a push could leave it), and the sweep must not trust it.
    db.with(|c| c.execute("UPDATE pool_state SET due_at = 0 WHERE customer_id = ?1", [&a]).unwrap());
    assert_eq!(db.write_blocking(|s| pool::sweep(s, "b1", NOW)).unwrap(), 0);
    assert!(db.with(|c| c.pool_state(&a).unwrap()).unwrap().1.unwrap().at > NOW, "the row is brought up to date");
}

#[test]
fn a_profile_born_after_today_is_refused_by_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    branch_with_managers(&db);
    let mut m1 = Manager::new(&dir, "M1", "b1");
    // The tablet's clock says 2099 (so its own check lets the date through); the server's does not.
    let mut profile = Profile::new(CustomerKind::Individual, "未来人", "韩桥村");
    profile.birthday = Some(domain::Birthday { year: Some(2098), month: 1, day: 1, lunar: false, leap_month: false });
    let id = m1.tablet.create_customer(profile, 4_070_908_800_000).unwrap();
    let changes = m1.tablet.document_changes(&id).unwrap();
    let push = vec![fieldsync_core::sync::protocol::DocChanges { customer_id: id.clone(), changes }];
    let answer = db.sync_blocking(&m1.user, &m1.device, SyncRequest { cursor: 1, push, ..Default::default() }, NOW);
    let outcome = &answer.unwrap().0.pushed[0].outcome;
    assert!(format!("{outcome:?}").contains("profile.birthday"), "{outcome:?}");
    assert!(db.with(|c| c.document(&id).unwrap()).is_none(), "nothing stored");
}
