//! The store interface's conformance, the rules' part: `PoolStore`, `DuplicateStore`,
//! `StageStore`, `ReminderStore`, `TargetStore`, `CampaignStore`, `CatalogStore` and
//! `TerritoryStore` give the same results on the SQLite store and on the PostgreSQL store.
//!
//! Each scenario runs on both stores, records what every call answered, and checks the values
//! that matter against what they should be (so both stores being wrong the same way fails too).
//! A call the database refuses ends its scenario: PostgreSQL aborts the transaction after it.

mod common;

use std::fmt::Debug;

use common::pg::PgTest;
use fieldsync_core::domain::{
    CatalogProduct, CustomerRules, Measures, Owner, OwnerChange, OwnerChangeReason, PoolRules, Product, RecycleCause,
    RecycleDue, Territory,
};
use fieldsync_server::store::campaigns::{CampaignRow, MemberFilter};
use fieldsync_server::store::{
    CampaignStore, CatalogStore, Db, DuplicateStore, PoolStore, ReminderStore, StageStore, StoreError, StoreResult,
    TargetStore, TerritoryStore,
};

/// The traits under test, as one object type for the runner.
trait Rules:
    PoolStore + DuplicateStore + StageStore + ReminderStore + TargetStore + CampaignStore + CatalogStore + TerritoryStore
{
}

impl<T> Rules for T where
    T: PoolStore
        + DuplicateStore
        + StageStore
        + ReminderStore
        + TargetStore
        + CampaignStore
        + CatalogStore
        + TerritoryStore
        + ?Sized
{
}

/// Runs raw SQL (the same text on both stores) to seed a scenario.
type Setup<'a> = &'a dyn Fn(&str);

/// Runs `scenario` on SQLite, then on PostgreSQL (each in one transaction of a fresh store),
/// checks they saw the same, and returns it.
fn on_both(scenario: impl Fn(&dyn Rules, Setup) -> Vec<String>) -> Vec<String> {
    eprintln!("--- on SQLite");
    let on_sqlite = {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        db.with(|conn| {
            let tx = conn.transaction().unwrap();
            let seen = scenario(&*tx, &|sql| tx.execute_batch(sql).unwrap());
            tx.commit().unwrap();
            seen
        })
    };
    eprintln!("--- on PostgreSQL");
    let pg = PgTest::new();
    let on_pg = pg.write(|store| scenario(store, &|sql| store.batch(sql).unwrap()));
    for (sqlite, pg) in on_sqlite.iter().zip(&on_pg) {
        assert_eq!(sqlite, pg, "SQLite (left) and PostgreSQL (right) differ");
    }
    assert_eq!(on_sqlite.len(), on_pg.len());
    on_sqlite
}

/// What a call answered, comparable across the stores (their own errors differ in wording).
fn show<T: Debug>(r: StoreResult<T>) -> String {
    match r {
        Ok(v) => format!("{v:?}"),
        Err(StoreError::Corrupt(what)) => format!("corrupt {what}"),
        Err(_) => "database error".to_string(),
    }
}

/// Records what a call answered.
macro_rules! see {
    ($seen:ident, $call:expr) => {{
        let got = show($call);
        $seen.push(format!("{} => {}", stringify!($call), got));
    }};
}

/// Records what a call answered, and checks it is `want` (as `{:?}`, or the text `show` gives).
macro_rules! check {
    ($seen:ident, $call:expr, $want:expr) => {{
        let got = show($call);
        assert_eq!(got, $want, "{}", stringify!($call));
        $seen.push(format!("{} => {}", stringify!($call), got));
    }};
}

fn shown<T: Debug>(v: T) -> String {
    format!("{v:?}")
}

fn text(v: Option<&str>) -> String {
    v.map_or("NULL".to_string(), |v| format!("'{v}'"))
}

fn int(v: Option<i64>) -> String {
    v.map_or("NULL".to_string(), |v| v.to_string())
}

// ---------------------------------------------------------------------------------------------
// PoolStore

fn owner(id: &str, name: Option<&str>) -> Owner {
    Owner { manager_id: Some(id.into()), manager_name: name.map(Into::into) }
}

fn change(from: Owner, to: Owner, reason: OwnerChangeReason, by: &str, at: i64) -> OwnerChange {
    OwnerChange { from, to, reason, by: by.into(), at }
}

fn due(at: i64, warn_from: i64, cause: RecycleCause) -> RecycleDue {
    RecycleDue { at, warn_from, cause }
}

fn pool<S: PoolStore + ?Sized>(store: &S, setup: Setup) -> Vec<String> {
    let mut seen = Vec::new();

    // Rules: none, set, replaced (the version is the caller's, even a lower one).
    let rules = PoolRules::default();
    let stricter = PoolRules {
        recycle_after_days: Some(30),
        recycle_without_lead_progress_days: None,
        exempt_lead_stage: None,
        daily_claim_cap: None,
        ..PoolRules::default()
    };
    check!(seen, store.pool_rules("b1"), "None");
    see!(seen, store.set_pool_rules("b1", &rules, 5));
    check!(seen, store.pool_rules("b1"), shown(Some((&rules, 5))));
    see!(seen, store.set_pool_rules("b1", &stricter, 6));
    check!(seen, store.pool_rules("b1"), shown(Some((&stricter, 6))));
    see!(seen, store.set_pool_rules("b1", &rules, 3));
    check!(seen, store.pool_rules("b1"), shown(Some((&rules, 3))));
    check!(seen, store.pool_rules("nope"), "None");
    setup("INSERT INTO branch_pool_rules (branch_id, rules, version) VALUES ('bad', '{\"warn_days\": ', 9)");
    check!(seen, store.pool_rules("bad"), "corrupt pool rules");

    // Changes of owner: recorded once (a key seen again is ignored), newest key first, keys
    // compared as bytes ("2" > "10" > "1").
    let m1 = || owner("M1", Some("张三"));
    let m2 = || owner("M2", None);
    let claimed = change(Owner::default(), m1(), OwnerChangeReason::Claimed, "M1", 100);
    let assigned = change(m1(), m2(), OwnerChangeReason::Assigned, "S1", 200);
    let released = change(m2(), Owner::default(), OwnerChangeReason::Released, "M2", 300);
    let again = change(Owner::default(), m1(), OwnerChangeReason::Claimed, "M1", 400);
    see!(seen, store.save_owner_changes("c1", "b1", &[("1", &claimed), ("10", &assigned), ("2", &released)]));
    see!(seen, store.save_owner_changes("c1", "b1", &[("1", &released)]));
    see!(seen, store.save_owner_changes("c2", "b1", &[("1", &again)]));
    see!(seen, store.save_owner_changes("c3", "b1", &[]));
    let rows = store.owner_changes_of("c1").unwrap();
    assert_eq!(rows.iter().map(|r| r.change.at).collect::<Vec<_>>(), [300, 200, 100]);
    assert_eq!(rows[2].change, claimed);
    assert!(rows.iter().all(|r| r.customer_id == "c1"));
    see!(seen, store.owner_changes_of("c1"));
    check!(seen, store.owner_changes_of("c3"), "[]");
    check!(seen, store.owner_changes_of("nope"), "[]");
    check!(seen, store.claims_won_since("M1", 100), "2");
    check!(seen, store.claims_won_since("M1", 101), "1");
    check!(seen, store.claims_won_since("M1", 401), "0");
    check!(seen, store.claims_won_since("M2", 0), "0");
    check!(seen, store.claims_won_since("nope", i64::MIN), "0");
    check!(seen, store.last_lost("M1", "c1"), "Some(200)");
    check!(seen, store.last_lost("M2", "c1"), "Some(300)");
    check!(seen, store.last_lost("M1", "c2"), "None");
    check!(seen, store.last_lost("nope", "nope"), "None");

    // Owned customers come from the documents.
    setup(
        "INSERT INTO documents (customer_id, branch_id, scope, updated_seq) VALUES
         ('c3', 'b1', 'm:M1', 1), ('c1', 'b1', 'm:M1', 2), ('c2', 'b1', 'm:M2', 3), ('c4', 'b2', 'm:M1', 4),
         ('c5', 'b1', 'pool', 5), ('c6', 'b1', 'm:M10', 6), ('c7', 'b1', 'M:M1', 7)",
    );
    check!(seen, store.owned_count("b1", "M1"), "2");
    check!(seen, store.owned_by("b1", "M1"), shown(["c1", "c3"]));
    check!(seen, store.owned_by("b2", "M1"), shown(["c4"]));
    check!(seen, store.owned_count("b1", "M"), "0");
    check!(seen, store.owned_by("b1", "M"), "[]");
    check!(seen, store.owned_count("nope", "M1"), "0");
    check!(seen, store.owned_by("nope", "M1"), "[]");

    // Pool state: due dates (ties broken by customer), locks, updates, moves between branches.
    see!(seen, store.set_pool_state("c1", "b1", false, Some(&due(50, 40, RecycleCause::NoVisit))));
    see!(seen, store.set_pool_state("c2", "b1", true, Some(&due(50, 40, RecycleCause::NoLeadProgress))));
    see!(seen, store.set_pool_state("c3", "b1", false, Some(&due(20, 10, RecycleCause::NoVisit))));
    see!(seen, store.set_pool_state("c4", "b2", false, Some(&due(10, 5, RecycleCause::NoVisit))));
    see!(seen, store.set_pool_state("c5", "b1", true, None));
    see!(seen, store.set_pool_state("c6", "b3", false, Some(&due(60, 50, RecycleCause::NoVisit))));
    check!(seen, store.pool_state("c1"), shown(Some((false, Some(due(50, 40, RecycleCause::NoVisit))))));
    check!(seen, store.pool_state("c2"), shown(Some((true, Some(due(50, 40, RecycleCause::NoLeadProgress))))));
    check!(seen, store.pool_state("c5"), shown(Some((true, None::<RecycleDue>))));
    check!(seen, store.pool_state("nope"), "None");
    check!(seen, store.pool_due_by("b1", 50, 10), shown(["c3", "c1", "c2"]));
    see!(seen, store.set_pool_state("c1", "b1", false, Some(&due(50, 40, RecycleCause::NoVisit))));
    see!(seen, store.set_pool_state("c3", "b1", true, Some(&due(70, 60, RecycleCause::NoLeadProgress))));
    check!(seen, store.pool_state("c3"), shown(Some((true, Some(due(70, 60, RecycleCause::NoLeadProgress))))));
    check!(seen, store.pool_due_by("b1", 50, 10), shown(["c1", "c2"]));
    check!(seen, store.pool_due_by("b1", 100, 10), shown(["c1", "c2", "c3"]));
    check!(seen, store.pool_due_by("b1", 100, 2), shown(["c1", "c2"]));
    check!(seen, store.pool_due_by("b1", 100, 1), shown(["c1"]));
    check!(seen, store.pool_due_by("b1", 100, 0), "[]");
    check!(seen, store.pool_due_by("b1", 49, 10), "[]");
    check!(seen, store.pool_due_by("nope", i64::MAX, u32::MAX), "[]");
    // By branch, although b2's customer is due first.
    check!(seen, store.branches_with_due(100), shown(["b1", "b2", "b3"]));
    check!(seen, store.branches_with_due(10), shown(["b2"]));
    check!(seen, store.branches_with_due(9), "[]");
    see!(seen, store.set_pool_state("c4", "b1", false, None));
    check!(seen, store.pool_state("c4"), shown(Some((false, None::<RecycleDue>))));
    check!(seen, store.branches_with_due(i64::MAX), shown(["b1", "b3"]));
    see!(seen, store.pool_forget("c2"));
    see!(seen, store.pool_forget("nope"));
    check!(seen, store.pool_state("c2"), "None");

    // Rows as another writer may have left them: a partial due date, a lock of 2, bad codes.
    setup(
        "INSERT INTO pool_state (customer_id, branch_id, locked, due_at, warn_at, cause) VALUES
         ('c7', 'b1', 0, 30, NULL, 'no_visit'), ('c8', 'b1', 2, NULL, NULL, NULL), ('c9', 'b4', 0, 1, 1, 'weird')",
    );
    check!(seen, store.pool_state("c7"), shown(Some((false, None::<RecycleDue>))));
    check!(seen, store.pool_state("c8"), shown(Some((true, None::<RecycleDue>))));
    check!(seen, store.pool_state("c9"), "corrupt recycle cause");
    check!(seen, store.pool_due_by("b1", 100, 10), shown(["c7", "c1", "c3"]));
    setup(
        "INSERT INTO owner_changes (customer_id, change_key, branch_id, from_id, from_name, to_id, to_name, reason, by_id, at)
         VALUES ('c9', 'k', 'b4', NULL, NULL, 'M1', NULL, 'weird', 'M1', 5)",
    );
    check!(seen, store.owner_changes_of("c9"), "corrupt owner change reason");

    // Cleared: the changes and the states, not the rules.
    see!(seen, store.pool_clear());
    check!(seen, store.owner_changes_of("c1"), "[]");
    check!(seen, store.pool_state("c1"), "None");
    check!(seen, store.claims_won_since("M1", 0), "0");
    check!(seen, store.last_lost("M1", "c1"), "None");
    check!(seen, store.branches_with_due(i64::MAX), "[]");
    check!(seen, store.pool_rules("b1"), shown(Some((&rules, 3))));
    seen
}

#[test]
fn pool_behaves_the_same_on_both_stores() {
    on_both(|store, setup| pool(store, setup));
}

// ---------------------------------------------------------------------------------------------
// DuplicateStore

fn duplicates<S: DuplicateStore + ?Sized>(store: &S, _setup: Setup) -> Vec<String> {
    let mut seen = Vec::new();
    check!(seen, store.duplicate_pairs("b1", 100), "[]");
    see!(seen, store.save_customer_keys("c2", "b1", Some("13800000001"), Some("k1")));
    see!(seen, store.save_customer_keys("c1", "b1", Some("13800000001"), Some("k1")));
    see!(seen, store.save_customer_keys("c3", "b1", Some("13800000001"), None));
    see!(seen, store.save_customer_keys("c5", "b1", None, Some("k2")));
    see!(seen, store.save_customer_keys("c4", "b1", None, Some("k2")));
    see!(seen, store.save_customer_keys("c6", "b2", Some("13800000001"), Some("k1")));
    see!(seen, store.save_customer_keys("c7", "b1", None, None));
    see!(seen, store.save_customer_keys("c8", "b1", None, None));
    let pair = |a: &str, b: &str, by_id| (a.to_string(), b.to_string(), by_id);
    let pairs = |v: Vec<(String, String, bool)>| {
        shown(
            v.into_iter()
                .map(|(a, b, by_id)| fieldsync_server::store::duplicates::DuplicatePair { a, b, by_id })
                .collect::<Vec<_>>(),
        )
    };
    // c1 and c2 share both keys: once, as an ID match; ID matches first.
    check!(
        seen,
        store.duplicate_pairs("b1", 100),
        pairs(vec![pair("c1", "c2", true), pair("c4", "c5", true), pair("c1", "c3", false), pair("c2", "c3", false)])
    );
    check!(seen, store.duplicate_pairs("b1", 1), pairs(vec![pair("c1", "c2", true)]));
    // The limit counts the phone match of c1 and c2 before it is folded into their ID match.
    check!(seen, store.duplicate_pairs("b1", 3), pairs(vec![pair("c1", "c2", true), pair("c4", "c5", true)]));
    check!(
        seen,
        store.duplicate_pairs("b1", 4),
        pairs(vec![pair("c1", "c2", true), pair("c4", "c5", true), pair("c1", "c3", false)])
    );
    check!(seen, store.duplicate_pairs("b1", 0), "[]");
    check!(seen, store.duplicate_pairs("b2", 100), "[]");
    check!(seen, store.duplicate_pairs("nope", u32::MAX), "[]");
    // Updates: the same keys again, a phone dropped, a customer moved to another branch.
    see!(seen, store.save_customer_keys("c1", "b1", Some("13800000001"), Some("k1")));
    see!(seen, store.save_customer_keys("c3", "b1", None, None));
    see!(seen, store.save_customer_keys("c5", "b2", Some("13800000001"), Some("k2")));
    check!(seen, store.duplicate_pairs("b1", 100), pairs(vec![pair("c1", "c2", true)]));
    check!(seen, store.duplicate_pairs("b2", 100), pairs(vec![pair("c5", "c6", false)]));
    see!(seen, store.forget_customer_keys("c1"));
    see!(seen, store.forget_customer_keys("nope"));
    check!(seen, store.duplicate_pairs("b1", 100), "[]");
    see!(seen, store.clear_customer_keys());
    check!(seen, store.duplicate_pairs("b2", 100), "[]");
    seen
}

#[test]
fn duplicates_behave_the_same_on_both_stores() {
    on_both(|store, setup| duplicates(store, setup));
}

// ---------------------------------------------------------------------------------------------
// StageStore

fn stages<S: StageStore + ?Sized>(store: &S, setup: Setup) -> Vec<String> {
    let mut seen = Vec::new();

    // Rules and their versions; a row written before versions has the schema's default, 1.
    let rules = CustomerRules::default();
    let other = CustomerRules { high_fen: 1_000, medium_fen: 10, dormant_after_days: 30, complaint_days: 3 };
    check!(seen, store.customer_rules("b1"), "None");
    see!(seen, store.set_customer_rules("b1", &rules, 1000));
    check!(seen, store.customer_rules("b1"), shown(Some((&rules, 1000))));
    see!(seen, store.set_customer_rules("b1", &other, 1001));
    check!(seen, store.customer_rules("b1"), shown(Some((&other, 1001))));
    setup(
        "INSERT INTO branch_customer_rules (branch_id, rules) VALUES
         ('b0', '{\"high_fen\": 9, \"medium_fen\": 3, \"dormant_after_days\": 7}'), ('bad', '[]')",
    );
    let old = CustomerRules { high_fen: 9, medium_fen: 3, dormant_after_days: 7, ..CustomerRules::default() };
    check!(seen, store.customer_rules("b0"), shown(Some((&old, 1))));
    see!(seen, store.set_customer_rules("b0", &rules, 2));
    check!(seen, store.customer_rules("b0"), shown(Some((&rules, 2))));
    check!(seen, store.customer_rules("bad"), "corrupt customer rules");
    check!(seen, store.customer_rules("nope"), "None");

    // Asset snapshots: replaced whole.
    check!(seen, store.asset_snapshot("c1"), "None");
    see!(seen, store.save_asset_snapshot("c1", "b1", 100, 5_000_000));
    check!(seen, store.asset_snapshot("c1"), "Some((100, 5000000))");
    see!(seen, store.save_asset_snapshot("c1", "b2", 50, 0));
    check!(seen, store.asset_snapshot("c1"), "Some((50, 0))");
    see!(seen, store.save_asset_snapshot("c2", "b1", i64::MIN, i64::MAX));
    check!(seen, store.asset_snapshot("c2"), shown(Some((i64::MIN, i64::MAX))));

    // Customers by ID-number digest (the duplicate checks' rows).
    setup(
        "INSERT INTO customer_keys (customer_id, branch_id, phone, id_key) VALUES
         ('k3', 'b1', NULL, 'X'), ('k1', 'b1', '138', 'X'), ('k2', 'b2', NULL, 'X'), ('k4', 'b1', '138', NULL),
         ('k0', 'b1', NULL, 'Y')",
    );
    check!(seen, store.customers_with_id_key("b1", "X"), shown(["k1", "k3"]));
    check!(seen, store.customers_with_id_key("b1", "x"), "[]");
    check!(seen, store.customers_with_id_key("b1", ""), "[]");
    check!(seen, store.customers_with_id_key("nope", "X"), "[]");

    // When stages are computed again.
    see!(seen, store.set_refresh_at("c3", "b1", Some(50)));
    see!(seen, store.set_refresh_at("c1", "b1", Some(50)));
    see!(seen, store.set_refresh_at("c2", "b1", Some(20)));
    see!(seen, store.set_refresh_at("c4", "b2", Some(10)));
    see!(seen, store.set_refresh_at("c5", "b3", Some(70)));
    see!(seen, store.set_refresh_at("c1", "b1", Some(50)));
    see!(seen, store.set_refresh_at("nope", "b1", None));
    check!(seen, store.refresh_due("b1", 50, 10), shown(["c2", "c1", "c3"]));
    check!(seen, store.refresh_due("b1", 50, 2), shown(["c2", "c1"]));
    check!(seen, store.refresh_due("b1", 50, 0), "[]");
    check!(seen, store.refresh_due("b1", 19, 10), "[]");
    check!(seen, store.refresh_due("nope", i64::MAX, u32::MAX), "[]");
    check!(seen, store.branches_with_refresh(100), shown(["b1", "b2", "b3"]));
    check!(seen, store.branches_with_refresh(10), shown(["b2"]));
    check!(seen, store.branches_with_refresh(9), "[]");
    see!(seen, store.set_refresh_at("c2", "b1", None));
    see!(seen, store.set_refresh_at("c4", "b1", Some(60)));
    see!(seen, store.set_refresh_at("c3", "b1", Some(i64::MIN)));
    check!(seen, store.refresh_due("b1", 100, 10), shown(["c3", "c1", "c4"]));
    check!(seen, store.branches_with_refresh(100), shown(["b1", "b3"]));
    see!(seen, store.clear_stage_state());
    check!(seen, store.refresh_due("b1", i64::MAX, 10), "[]");
    check!(seen, store.branches_with_refresh(i64::MAX), "[]");
    // Snapshots are source data: they stay.
    check!(seen, store.asset_snapshot("c1"), "Some((50, 0))");
    seen
}

#[test]
fn stages_behave_the_same_on_both_stores() {
    on_both(|store, setup| stages(store, setup));
}

// ---------------------------------------------------------------------------------------------
// ReminderStore

fn reminders<S: ReminderStore + ?Sized>(store: &S, _setup: Setup) -> Vec<String> {
    let mut seen = Vec::new();
    check!(seen, store.birthdays_due("b1", i64::MAX, 10), "[]");
    check!(seen, store.branches_with_birthdays(i64::MAX), "[]");
    see!(seen, store.set_birthday_due("c3", "b1", Some(50)));
    see!(seen, store.set_birthday_due("c1", "b1", Some(50)));
    see!(seen, store.set_birthday_due("c2", "b1", Some(20)));
    see!(seen, store.set_birthday_due("c9", "b9", Some(5)));
    see!(seen, store.set_birthday_due("c4", "b2", Some(10)));
    see!(seen, store.set_birthday_due("c1", "b1", Some(50)));
    see!(seen, store.set_birthday_due("nope", "b1", None));
    check!(seen, store.birthdays_due("b1", 50, 10), shown(["c2", "c1", "c3"]));
    check!(seen, store.birthdays_due("b1", 50, 1), shown(["c2"]));
    check!(seen, store.birthdays_due("b1", 50, 0), "[]");
    check!(seen, store.birthdays_due("b1", 19, 10), "[]");
    check!(seen, store.birthdays_due("nope", i64::MAX, u32::MAX), "[]");
    check!(seen, store.branches_with_birthdays(100), shown(["b1", "b2", "b9"]));
    check!(seen, store.branches_with_birthdays(10), shown(["b2", "b9"]));
    check!(seen, store.branches_with_birthdays(4), "[]");
    // No birthday known any more; moved to another branch; a date far back.
    see!(seen, store.set_birthday_due("c2", "b1", None));
    see!(seen, store.set_birthday_due("c9", "b1", Some(60)));
    see!(seen, store.set_birthday_due("c3", "b1", Some(i64::MIN)));
    check!(seen, store.birthdays_due("b1", 100, 10), shown(["c3", "c1", "c9"]));
    check!(seen, store.branches_with_birthdays(100), shown(["b1", "b2"]));
    see!(seen, store.clear_birthday_due());
    check!(seen, store.birthdays_due("b1", i64::MAX, 10), "[]");
    check!(seen, store.branches_with_birthdays(i64::MAX), "[]");
    seen
}

#[test]
fn reminders_behave_the_same_on_both_stores() {
    on_both(|store, setup| reminders(store, setup));
}

// ---------------------------------------------------------------------------------------------
// The read models targets and campaigns count against (plain rows, the same SQL on both).

#[allow(clippy::too_many_arguments)]
fn customer_row(
    id: &str,
    branch: &str,
    scope: &str,
    owner: Option<&str>,
    village: &str,
    tier: Option<&str>,
    lifecycle: Option<&str>,
    last_visit_at: Option<i64>,
    created_at: i64,
    tags: &str,
) -> String {
    format!(
        "INSERT INTO rm_customers (customer_id, branch_id, scope, owner_id, owner_name, name, kind, village, tier,
             lifecycle, last_visit_at, open_leads, created_at, tags)
         VALUES ('{id}', '{branch}', '{scope}', {}, NULL, '客户', 'individual', '{village}', {}, {}, {}, 0, {created_at},
             '{tags}')",
        text(owner),
        text(tier),
        text(lifecycle),
        int(last_visit_at)
    )
}

fn visit_row(customer: &str, visit: &str, branch: &str, manager: &str, status: &str, at: i64, review: &str) -> String {
    format!(
        "INSERT INTO rm_visits (customer_id, visit_id, branch_id, manager_id, manager_name, village, status, purpose,
             channel, at, mock_location, after_the_fact, created_at, cost_fen, photos, notes, outcome, linked_leads,
             review)
         VALUES ('{customer}', '{visit}', '{branch}', '{manager}', '经理', '村', '{status}', 'follow_up', 'in_person',
             {at}, 0, 0, {at}, 0, 0, '', '', 0, '{review}')"
    )
}

#[allow(clippy::too_many_arguments)]
fn lead_row(
    customer: &str,
    lead: &str,
    branch: &str,
    product: &str,
    amount_fen: i64,
    created_by: &str,
    created_at: i64,
    won_at: Option<i64>,
) -> String {
    format!(
        "INSERT INTO rm_leads (customer_id, lead_id, branch_id, owner_id, product, stage, amount_fen, probability,
             created_by, created_at, won_at)
         VALUES ('{customer}', '{lead}', '{branch}', NULL, '{product}', 'won', {amount_fen}, 100, '{created_by}',
             {created_at}, {})",
        int(won_at)
    )
}

fn complaint_row(
    customer: &str,
    id: &str,
    branch: &str,
    owner: Option<&str>,
    at: i64,
    resolved: Option<i64>,
) -> String {
    format!(
        "INSERT INTO rm_complaints (customer_id, interaction_id, branch_id, owner_id, captured_at, resolved_at)
         VALUES ('{customer}', '{id}', '{branch}', {}, {at}, {})",
        text(owner),
        int(resolved)
    )
}

/// The period counted is [1000, 2000).
fn seed_read_models(setup: Setup) {
    let vip = r#"["vip","老客户"]"#;
    for sql in [
        customer_row("c8", "b1", "m:M2", Some("M2"), "西村", Some("high"), None, Some(1000), 1999, r#"["5"]"#),
        customer_row("c1", "b1", "m:M1", Some("M1"), "东村", Some("high"), Some("active"), Some(1999), 1500, vip),
        customer_row("c2", "b1", "m:M2", Some("M2"), "西村", Some("medium"), None, Some(2000), 500, "[]"),
        customer_row("c3", "b1", "pool", None, "东村", None, None, None, 1200, r#"["vip"]"#),
        customer_row("c4", "b1", "closed", Some("M1"), "北村", None, None, Some(1500), 1600, "[]"),
        customer_row("c5", "b1", "M:M1", Some("M1"), "A村", None, None, None, 1000, r#"["vip",5]"#),
        customer_row("c6", "b2", "m:M1", Some("M1"), "东村", Some("high"), None, Some(1500), 1500, vip),
        customer_row("c7", "b1", "deleted", Some("M1"), "东村", None, None, Some(1500), 999, "[]"),
        visit_row("c2", "v3", "b1", "M2", "completed", 2000, "returned"),
        visit_row("c2", "v4", "b1", "M2", "planned", 1500, "returned"),
        visit_row("c1", "v1", "b1", "M1", "completed", 1000, "returned"),
        visit_row("c1", "v2", "b1", "M1", "completed", 1999, "approved"),
        visit_row("c6", "v5", "b2", "M1", "completed", 1500, "pending"),
        visit_row("c3", "v6", "b1", "M3", "completed", 999, "returned"),
        lead_row("c1", "l1", "b1", "dep-3y", 100_000, "M1", 1100, Some(1500)),
        lead_row("c1", "l2", "b1", "loan", 5, "M1", 900, Some(1999)),
        lead_row("c2", "l3", "b1", "dep-3y", 7, "M2", 1500, None),
        lead_row("c8", "l4", "b1", "dep-3y", 3, "M1", 2000, Some(2000)),
        // Beyond a float's exact integers: both stores count it as a float does.
        lead_row("c6", "l5", "b2", "dep-3y", 9_007_199_254_740_993, "M1", 1000, Some(1000)),
        complaint_row("c1", "i1", "b1", Some("M1"), 1000, Some(1100)),
        complaint_row("c1", "i2", "b1", Some("M1"), 1500, Some(1601)),
        complaint_row("c1", "i3", "b1", Some("M1"), 1900, None),
        complaint_row("c2", "i4", "b1", Some("M2"), 1999, None),
        complaint_row("c3", "i5", "b1", None, 1500, Some(1500)),
        complaint_row("c2", "i6", "b1", Some("M2"), 2000, Some(2000)),
        complaint_row("c6", "i7", "b2", Some("M1"), 1500, None),
    ] {
        setup(&sql);
    }
}

// ---------------------------------------------------------------------------------------------
// TargetStore

fn measures(visits: i64, new_customers: i64, leads_won: i64, amount_won_fen: i64) -> Measures {
    Measures { visits, new_customers, leads_won, amount_won_fen }
}

fn targets<S: TargetStore + ?Sized>(store: &S, setup: Setup) -> Vec<String> {
    let mut seen = Vec::new();
    check!(seen, store.targets("b1", "2026-03"), "[]");
    see!(seen, store.set_target("b1", "2026-03", "M2", &measures(10, 2, 1, 500)));
    see!(seen, store.set_target("b1", "2026-03", "", &measures(100, 20, 10, 5_000)));
    see!(seen, store.set_target("b1", "2026-03", "M1", &measures(1, 1, 1, 1)));
    see!(seen, store.set_target("b1", "2026-04", "M1", &measures(7, 7, 7, 7)));
    see!(seen, store.set_target("b2", "2026-03", "M1", &measures(8, 8, 8, 8)));
    see!(seen, store.set_target("b1", "2026-03", "M1", &measures(30, 0, -1, i64::MAX)));
    check!(
        seen,
        store.targets("b1", "2026-03"),
        shown(vec![
            (String::new(), measures(100, 20, 10, 5_000)),
            ("M1".to_string(), measures(30, 0, -1, i64::MAX)),
            ("M2".to_string(), measures(10, 2, 1, 500)),
        ])
    );
    check!(seen, store.targets("b1", "2026-05"), "[]");
    check!(seen, store.targets("nope", "2026-03"), "[]");

    // Nothing counted yet.
    check!(seen, store.done("b1", 1000, 2000), "[]");
    check!(seen, store.returned_reviews("b1", 1000, 2000), "[]");
    check!(seen, store.complaints("b1", 1000, 2000, 100, 5000), "[]");
    check!(seen, store.village_visits("b1", 1000, 2000), "[]");
    check!(seen, store.done_by("M1", 1000, 2000), shown(measures(0, 0, 0, 0)));

    seed_read_models(setup);
    check!(
        seen,
        store.done("b1", 1000, 2000),
        shown(vec![("M1".to_string(), measures(2, 3, 2, 100_005)), ("M2".to_string(), measures(0, 1, 0, 0))])
    );
    see!(seen, store.done("b1", 0, i64::MAX));
    see!(seen, store.done("b2", 1000, 2000));
    check!(seen, store.done("b1", 2000, 1000), "[]");
    check!(seen, store.done("nope", i64::MIN, i64::MAX), "[]");
    check!(
        seen,
        store.returned_reviews("b1", 1000, 2000),
        shown(vec![("M1".to_string(), 1i64), ("M2".to_string(), 1)])
    );
    see!(seen, store.returned_reviews("b1", i64::MIN, i64::MAX));
    check!(seen, store.returned_reviews("b2", 1000, 2000), "[]");
    // In time: handled within 100 ms. Late: handled after, or open past it at `now`.
    check!(
        seen,
        store.complaints("b1", 1000, 2000, 100, 5000),
        shown(vec![("M1".to_string(), 3i64, 1i64, 2i64), ("M2".to_string(), 1, 0, 1)])
    );
    check!(
        seen,
        store.complaints("b1", 1000, 2000, 100, 2050),
        shown(vec![("M1".to_string(), 3i64, 1i64, 2i64), ("M2".to_string(), 1, 0, 0)])
    );
    // A limit past the integers' range (SQLite goes over to floats; PostgreSQL to NUMERIC).
    check!(
        seen,
        store.complaints("b1", 1000, 2000, i64::MAX, i64::MAX),
        shown(vec![("M1".to_string(), 3i64, 2i64, 0i64), ("M2".to_string(), 1, 0, 0)])
    );
    see!(seen, store.complaints("b1", 1000, 2000, i64::MIN, i64::MIN));
    see!(seen, store.complaints("b1", i64::MIN, i64::MAX, 0, 0));
    check!(seen, store.complaints("nope", 1000, 2000, 100, 5000), "[]");
    check!(
        seen,
        store.village_visits("b1", 1000, 2000),
        shown(vec![("A村".to_string(), 1i64, 0i64), ("东村".to_string(), 2, 1), ("西村".to_string(), 2, 1)])
    );
    see!(seen, store.village_visits("b1", i64::MIN, i64::MAX));
    check!(seen, store.village_visits("nope", 1000, 2000), "[]");
    check!(seen, store.done_by("M1", 1000, 2000), shown(measures(3, 4, 3, 9_007_199_254_840_998)));
    check!(seen, store.done_by("M2", 1000, 2000), shown(measures(0, 1, 0, 0)));
    see!(seen, store.done_by("M1", i64::MIN, i64::MAX));
    check!(seen, store.done_by("nope", 1000, 2000), shown(measures(0, 0, 0, 0)));
    seen
}

#[test]
fn targets_behave_the_same_on_both_stores() {
    on_both(|store, setup| targets(store, setup));
}

// ---------------------------------------------------------------------------------------------
// CampaignStore

fn campaign(id: &str, branch: &str, product: &str, starts_at: i64, ends_at: i64) -> CampaignRow {
    CampaignRow {
        campaign_id: id.into(),
        branch_id: branch.into(),
        name: format!("{product} 活动"),
        product: product.into(),
        starts_at,
        ends_at,
        filters: r#"{"village":"东村"}"#.into(),
        created_by: "S1".into(),
        created_at: starts_at - 100,
    }
}

fn campaigns<S: CampaignStore + ?Sized>(store: &S, setup: Setup) -> Vec<String> {
    let mut seen = Vec::new();
    seed_read_models(setup);
    let k1 = campaign("k1", "b1", "dep-3y", 1000, 2000);
    let k2 = campaign("k2", "b1", "loan", 1000, 3000);
    let k0 = campaign("k0", "b1", "dep-3y", 500, 900);
    let k3 = campaign("k3", "b2", "dep-3y", 5000, 6000);
    check!(seen, store.campaigns("b1"), "[]");
    let members = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    see!(seen, store.save_campaign(&k1, &members(&["c1", "c2", "c1", "c9"])));
    see!(seen, store.save_campaign(&k2, &[]));
    see!(seen, store.save_campaign(&k0, &members(&["c1"])));
    see!(seen, store.save_campaign(&k3, &members(&["c6"])));
    // Latest first; the same start by ID.
    check!(seen, store.campaigns("b1"), shown(vec![&k1, &k2, &k0]));
    check!(seen, store.campaigns("b2"), shown(vec![&k3]));
    check!(seen, store.campaigns("nope"), "[]");
    check!(seen, store.campaign("k1"), shown(Some(&k1)));
    check!(seen, store.campaign("nope"), "None");

    // Members: customers served by a manager (scope as SQLite's LIKE: ASCII case ignored).
    let all = MemberFilter::default();
    let by = |village: Option<&str>, tier: Option<&str>, lifecycle: Option<&str>, tag: Option<&str>| MemberFilter {
        village: village.map(Into::into),
        tier: tier.map(Into::into),
        lifecycle: lifecycle.map(Into::into),
        tag: tag.map(Into::into),
    };
    check!(seen, store.choose_members("b1", &all, 100), shown(["c1", "c2", "c5", "c8"]));
    check!(seen, store.choose_members("b1", &all, 2), shown(["c1", "c2"]));
    check!(seen, store.choose_members("b1", &all, 0), "[]");
    check!(seen, store.choose_members("b2", &all, u32::MAX), shown(["c6"]));
    check!(seen, store.choose_members("nope", &all, 100), "[]");
    check!(seen, store.choose_members("b1", &by(Some("东村"), None, None, None), 100), shown(["c1"]));
    check!(seen, store.choose_members("b1", &by(None, Some("high"), None, None), 100), shown(["c1", "c8"]));
    check!(seen, store.choose_members("b1", &by(None, None, Some("active"), None), 100), shown(["c1"]));
    check!(seen, store.choose_members("b1", &by(None, None, None, Some("vip")), 100), shown(["c1", "c5"]));
    check!(seen, store.choose_members("b1", &by(None, None, None, Some("老客户")), 100), shown(["c1"]));
    // A tag matches a text element only (not the number 5), and whole (not a part).
    check!(seen, store.choose_members("b1", &by(None, None, None, Some("5")), 100), shown(["c8"]));
    check!(seen, store.choose_members("b1", &by(None, None, None, Some("vi")), 100), "[]");
    check!(seen, store.choose_members("b1", &by(None, None, None, Some("")), 100), "[]");
    check!(seen, store.choose_members("b1", &by(Some("西村"), Some("high"), None, None), 100), shown(["c8"]));
    check!(seen, store.choose_members("b1", &by(Some("西村"), Some("high"), Some("active"), None), 100), "[]");
    check!(seen, store.choose_members("b1", &by(Some("A村"), None, None, Some("vip")), 100), shown(["c5"]));

    // Counts over the campaign's period: c1 visited, c1 and c2 responded, c1 converted; the
    // member without rows counts as a member only.
    check!(
        seen,
        store.campaign_counts(&k1),
        shown(fieldsync_server::store::campaigns::CampaignCounts {
            members: 3,
            contacted: 1,
            responded: 2,
            converted: 1
        })
    );
    see!(seen, store.campaign_counts(&k2));
    see!(seen, store.campaign_counts(&k0));
    see!(seen, store.campaign_counts(&k3));
    see!(seen, store.campaign_counts(&campaign("k1", "b1", "loan", 0, i64::MAX)));
    see!(seen, store.campaign_counts(&campaign("nope", "b1", "dep-3y", 0, i64::MAX)));

    // The same campaign again is refused (last: PostgreSQL aborts the transaction).
    check!(seen, store.save_campaign(&k1, &[]), "database error");
    seen
}

#[test]
fn campaigns_behave_the_same_on_both_stores() {
    on_both(|store, setup| campaigns(store, setup));
}

// ---------------------------------------------------------------------------------------------
// CatalogStore

fn product(id: &str, brochure: Option<&str>) -> CatalogProduct {
    CatalogProduct {
        id: id.into(),
        kind: Product::Deposit,
        name: "三年定期".into(),
        term: "3 年".into(),
        rate_bp: Some(275),
        description: "稳健".into(),
        brochure: brochure.map(Into::into),
    }
}

fn catalog<S: CatalogStore + ?Sized>(store: &S, setup: Setup) -> Vec<String> {
    let mut seen = Vec::new();
    check!(seen, store.catalog("b1"), "[]");
    check!(seen, store.catalog_version("b1"), "0");
    let p1 = product("p1", Some("h1"));
    let p2 = product("p2", None);
    let p3 = product("p3", Some("h2"));
    see!(seen, store.put_catalog_product("b1", &p2, 100));
    see!(seen, store.put_catalog_product("b1", &p1, 200));
    see!(seen, store.put_catalog_product("b2", &p3, 300));
    check!(seen, store.catalog("b1"), shown([&p1, &p2]));
    check!(seen, store.catalog_version("b1"), "200");
    // Replaced; the version is the latest change's time, even an earlier one.
    let p1b = CatalogProduct { rate_bp: None, name: "三年定期（新）".into(), ..p1.clone() };
    see!(seen, store.put_catalog_product("b1", &p1b, 150));
    check!(seen, store.catalog("b1"), shown([&p1b, &p2]));
    check!(seen, store.catalog_version("b1"), "150");
    // Withdrawn once.
    check!(seen, store.remove_catalog_product("b1", "p2", 400), "true");
    check!(seen, store.remove_catalog_product("b1", "p2", 500), "false");
    check!(seen, store.remove_catalog_product("b1", "nope", 600), "false");
    check!(seen, store.remove_catalog_product("b2", "p1", 700), "false");
    check!(seen, store.catalog("b1"), shown([&p1b]));
    check!(seen, store.catalog_version("b1"), "400");
    check!(seen, store.catalog_version("b2"), "300");
    see!(seen, store.put_catalog_product("b1", &p2, 450));
    check!(seen, store.catalog("b1"), shown([&p1b, &p2]));
    check!(seen, store.catalog_version("nope"), "0");

    // Brochures: stored once; found only through an active product of the branch.
    let bytes: &[u8] = &[0, 255, 1, 2, 0x5c, 0x78];
    see!(seen, store.save_catalog_file("h1", bytes));
    see!(seen, store.save_catalog_file("h1", b"other"));
    see!(seen, store.save_catalog_file("h3", &[]));
    check!(seen, store.catalog_file("b1", "h1"), shown(Some(bytes)));
    check!(seen, store.catalog_file("b2", "h1"), "None");
    check!(seen, store.catalog_file("b2", "h2"), "None");
    check!(seen, store.catalog_file("b1", "h3"), "None");
    check!(seen, store.catalog_file("nope", "h1"), "None");
    see!(seen, store.put_catalog_product("b2", &product("p4", Some("h3")), 800));
    check!(seen, store.catalog_file("b2", "h3"), "Some([])");
    check!(seen, store.remove_catalog_product("b1", "p1", 900), "true");
    check!(seen, store.catalog_file("b1", "h1"), "None");

    // Rows that do not decode: an error when listed, ignored when withdrawn.
    setup(
        "INSERT INTO catalog_products (branch_id, product_id, product, active, updated_at) VALUES
         ('b5', 'x', 'not json', 1, 1), ('b6', 'x', 'not json', 0, 7)",
    );
    check!(seen, store.catalog("b5"), "corrupt catalog product");
    check!(seen, store.catalog_file("b5", "h1"), "corrupt catalog product");
    check!(seen, store.catalog_version("b5"), "1");
    check!(seen, store.catalog("b6"), "[]");
    check!(seen, store.catalog_version("b6"), "7");
    seen
}

#[test]
fn catalog_behaves_the_same_on_both_stores() {
    on_both(|store, setup| catalog(store, setup));
}

// ---------------------------------------------------------------------------------------------
// TerritoryStore

fn territory(village: &str, outlet_id: Option<&str>, managers: &[&str]) -> Territory {
    Territory {
        village: village.into(),
        outlet_id: outlet_id.map(Into::into),
        manager_ids: managers.iter().map(|m| m.to_string()).collect(),
    }
}

fn territories<S: TerritoryStore + ?Sized>(store: &S, setup: Setup) -> Vec<String> {
    let mut seen = Vec::new();
    check!(seen, store.territories("b1"), "[]");
    check!(seen, store.territories_version("b1"), "0");
    let west = territory("西村", Some("o1"), &[]);
    let east = territory("东村", None, &["M2", "M1"]);
    see!(seen, store.set_territory("b1", &west, 100));
    see!(seen, store.set_territory("b1", &east, 200));
    // No outlet and no managers: not listed, but a change.
    see!(seen, store.set_territory("b1", &territory("北村", None, &[]), 300));
    see!(seen, store.set_territory("b2", &territory("东村", Some("o2"), &["M3"]), 50));
    check!(seen, store.territories("b1"), shown([&east, &west]));
    check!(seen, store.territories_version("b1"), "300");
    check!(seen, store.territories_version("b2"), "50");
    let east2 = territory("东村", Some("o3"), &["M1"]);
    see!(seen, store.set_territory("b1", &east2, 250));
    check!(seen, store.territories("b1"), shown([&east2, &west]));
    check!(seen, store.territories_version("b1"), "300");
    see!(seen, store.set_territory("b1", &territory("西村", None, &[]), 400));
    check!(seen, store.territories("b1"), shown([&east2]));
    check!(seen, store.territories_version("b1"), "400");
    check!(seen, store.territories("nope"), "[]");
    check!(seen, store.territories_version("nope"), "0");

    // Rows as another writer may have left them.
    setup(
        "INSERT INTO territories (branch_id, village, outlet_id, manager_ids, updated_at) VALUES
         ('b7', 'v', NULL, 'not json', 1), ('b8', 'v', NULL, '[]', 5), ('b8', 'w', NULL, ' []', 6)",
    );
    check!(seen, store.territories("b7"), "corrupt territory managers");
    check!(seen, store.territories("b8"), shown([territory("w", None, &[])]));
    check!(seen, store.territories_version("b8"), "6");
    seen
}

#[test]
fn territories_behave_the_same_on_both_stores() {
    on_both(|store, setup| territories(store, setup));
}

// ---------------------------------------------------------------------------------------------
// Settings versions across the traits, as `crate::catalog::next_version` bumps them.

fn settings_version<S: Rules + ?Sized>(store: &S, branch_id: &str) -> i64 {
    let pool = store.pool_rules(branch_id).unwrap().map_or(1, |(_, v)| v);
    let customers = store.customer_rules(branch_id).unwrap().map_or(1, |(_, v)| v);
    pool.max(customers)
        .max(store.catalog_version(branch_id).unwrap())
        .max(store.territories_version(branch_id).unwrap())
}

fn next_version<S: Rules + ?Sized>(store: &S, branch_id: &str, now: i64) -> i64 {
    now.max(settings_version(store, branch_id) + 1)
}

fn versions<S: Rules + ?Sized>(store: &S, _setup: Setup) -> Vec<String> {
    let mut seen = Vec::new();
    check!(seen, Ok(settings_version(store, "b1")), "1");
    let v = next_version(store, "b1", 1000);
    see!(seen, store.set_pool_rules("b1", &PoolRules::default(), v));
    // The clock set back: still later than every earlier change.
    let v = next_version(store, "b1", 500);
    see!(seen, store.set_customer_rules("b1", &CustomerRules::default(), v));
    check!(seen, store.customer_rules("b1").map(|r| r.map(|(_, v)| v)), "Some(1001)");
    let v = next_version(store, "b1", 2000);
    see!(seen, store.put_catalog_product("b1", &product("p1", None), v));
    let v = next_version(store, "b1", 1500);
    see!(seen, store.set_territory("b1", &territory("东村", Some("o1"), &[]), v));
    check!(seen, store.territories_version("b1"), "2001");
    let v = next_version(store, "b1", 0);
    see!(seen, store.set_pool_rules("b1", &PoolRules::default(), v));
    check!(seen, store.pool_rules("b1").map(|r| r.map(|(_, v)| v)), "Some(2002)");
    let v = next_version(store, "b1", 0);
    see!(seen, store.remove_catalog_product("b1", "p1", v));
    check!(seen, store.catalog_version("b1"), "2003");
    let v = next_version(store, "b1", 0);
    see!(seen, store.set_customer_rules("b1", &CustomerRules::default(), v));
    check!(seen, Ok(settings_version(store, "b1")), "2004");
    // Another branch's versions are its own.
    check!(seen, Ok(settings_version(store, "b2")), "1");
    seen
}

#[test]
fn settings_versions_bump_the_same_on_both_stores() {
    on_both(|store, setup| versions(store, setup));
}
