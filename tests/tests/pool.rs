//! The public pool's rules through the real server on loopback and real tablets: a neglected
//! customer returns to the pool on schedule (the clock moved by sweeping "as of" a later time)
//! and leaves its old owner's tablet, the countdown shows offline and resets with a visit, the
//! daily cap, the cap on customers owned and the former owner's cooldown hold, and supervisors
//! move customers in bulk, every change recorded on the customer.

use fieldsync_core::domain::{CustomerKind, OwnerChangeReason, PoolRules, Profile, RecycleCause, VisitDetails};
use fieldsync_ffi::Device;
use fieldsync_tests::{Branch, TestServer, device, now_ms, record_visit, sync};
use serde_json::json;

const DAY: i64 = 86_400_000;

fn new_customer(device: &mut Device, name: &str, created_at: i64) -> String {
    let mut profile = Profile::new(CustomerKind::Individual, name, "韩桥村");
    profile.phone = Some("13812345678".into());
    device.store().create_customer(profile, created_at).unwrap()
}

/// A second handle on the running server's store, as the admin commands open it.
fn admin_db(server: &TestServer) -> fieldsync_tests::StoreHandle {
    server.store()
}

fn set_rules(server: &TestServer, branch: &Branch, rules: PoolRules) {
    admin_db(server).write_blocking(|s| fieldsync_server::pool::set_rules(s, &branch.id, &rules, now_ms())).unwrap();
}

fn sweep_at(server: &TestServer, branch: &Branch, at: i64) -> usize {
    admin_db(server).write_blocking(|s| fieldsync_server::pool::sweep(s, &branch.id, at)).unwrap()
}

fn post(device: &mut Device, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let (status, bytes) = device.transport().unwrap().post_json(path, &body).unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

#[test]
fn a_neglected_customer_returns_to_the_pool_on_schedule_and_leaves_its_old_owners_tablet() {
    let (server, branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let mut sup = device(dir.path(), "sup", &server.url(), "sup");
    let rules = PoolRules {
        recycle_after_days: Some(60),
        recycle_without_lead_progress_days: None,
        warn_days: 7,
        ..PoolRules::default()
    };
    set_rules(&server, &branch, rules.clone());
    let now = now_ms();
    // Entered 30 days ago and never visited: due in 30 days, warned from day 23.
    let neglected = new_customer(&mut m1, "赵六", now - 30 * DAY);
    let visited = new_customer(&mut m1, "钱七", now - 30 * DAY);
    sync(&mut m1).unwrap();
    assert_eq!(m1.store().pool_rules().unwrap(), Some(rules), "the rules reach the tablet");

    // Offline, the tablet counts down by the same rule the server applies.
    let warned = m1.store().recycle_warnings(now + 25 * DAY).unwrap();
    let mut ids: Vec<&str> = warned.iter().map(|w| w.customer_id.as_str()).collect();
    ids.sort();
    let mut want = vec![neglected.as_str(), visited.as_str()];
    want.sort();
    assert_eq!(ids, want);
    let w = warned.iter().find(|w| w.customer_id == neglected).unwrap();
    assert_eq!((w.days_left, w.due.cause, w.name.as_str()), (5, RecycleCause::NoVisit, "赵六"));
    assert!(m1.store().recycle_warnings(now + 20 * DAY).unwrap().is_empty(), "no warning before the period");
    let view = m1.store().customer_360(&neglected).unwrap();
    assert_eq!(view.recycle.map(|d| d.at), Some(now - 30 * DAY + 60 * DAY));
    // A visit, offline, resets the countdown at once.
    record_visit(&mut m1, &visited, VisitDetails { notes: "上门了解需求".into(), ..VisitDetails::default() });
    let warned = m1.store().recycle_warnings(now + 25 * DAY).unwrap();
    assert_eq!(warned.iter().map(|w| w.customer_id.clone()).collect::<Vec<_>>(), vec![neglected.clone()]);
    sync(&mut m1).unwrap();

    // The server's sweep as of day 29 returns nothing; as of day 31, the neglected customer only.
    assert_eq!(sweep_at(&server, &branch, now + 29 * DAY), 0);
    assert_eq!(sweep_at(&server, &branch, now + 31 * DAY), 1);
    assert_eq!(sweep_at(&server, &branch, now + 31 * DAY), 0, "a second sweep finds nothing more");
    let report = sync(&mut m1).unwrap();
    assert_eq!(report.purged, 1);
    assert_eq!(m1.store().customer_ids().unwrap(), vec![visited.clone()]);
    let pool = m1.store().pool(None).unwrap();
    assert_eq!(pool.iter().map(|p| p.customer_id.clone()).collect::<Vec<_>>(), vec![neglected.clone()]);

    // The supervisor sees why and when, on the customer.
    sync(&mut sup).unwrap();
    let history = sup.store().customer_360(&neglected).unwrap().owner_history;
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].reason, OwnerChangeReason::Recycled);
    assert_eq!(history[0].from.manager_id.as_deref(), Some(branch.m1.as_str()));
    assert_eq!(history[0].to.manager_id, None);
    assert_eq!(history[0].at, now + 31 * DAY);
}

#[test]
fn caps_and_the_former_owners_cooldown_hold_and_every_change_is_recorded() {
    let (server, branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let mut m2 = device(dir.path(), "m2", &server.url(), "m2");
    let mut sup = device(dir.path(), "sup", &server.url(), "sup");
    set_rules(
        &server,
        &branch,
        PoolRules { daily_claim_cap: Some(2), max_owned: None, claim_cooldown_days: Some(30), ..PoolRules::default() },
    );
    let now = now_ms();
    let ids: Vec<String> = ["孙一", "周二", "吴三", "郑四"].iter().map(|n| new_customer(&mut m1, n, now)).collect();
    sync(&mut m1).unwrap();

    // m1 leaves the bank: the supervisor returns all their customers to the pool at once.
    let (status, body) =
        post(&mut sup, "/api/v1/customers/owner", json!({"from_manager_id": branch.m1, "manager_id": null}));
    assert_eq!((status, body["moved"].as_u64()), (200, Some(4)), "{body}");
    sync(&mut m1).unwrap();
    assert!(m1.store().customer_ids().unwrap().is_empty());
    assert_eq!(m1.store().pool(None).unwrap().len(), 4);

    // The former owner may not take one back within the cooldown.
    m1.store().claim_from_pool(&ids[0], now_ms()).unwrap();
    sync(&mut m1).unwrap();
    let claims = m1.store().pool(None).unwrap();
    let mine = claims.iter().find(|p| p.customer_id == ids[0]).unwrap();
    assert_eq!(mine.claim.as_deref(), Some("rejected"));
    assert!(m1.store().customer_ids().unwrap().is_empty());

    // m2 asks for three offline; the daily cap lets two through, in the order they reach the server.
    sync(&mut m2).unwrap();
    for id in &ids[0..3] {
        m2.store().claim_from_pool(id, now_ms()).unwrap();
    }
    sync(&mut m2).unwrap();
    let mut won = m2.store().customer_ids().unwrap();
    won.sort();
    assert_eq!(won.len(), 2, "{won:?}");
    let refused = m2.store().pool(None).unwrap().into_iter().filter(|p| p.claim.as_deref() == Some("rejected")).count();
    assert_eq!(refused, 1);

    // The cap on customers owned: m2 owns 2 now.
    set_rules(
        &server,
        &branch,
        PoolRules { daily_claim_cap: None, max_owned: Some(2), claim_cooldown_days: None, ..PoolRules::default() },
    );
    // Nobody asked for the fourth yet.
    m2.store().claim_from_pool(&ids[3], now_ms()).unwrap();
    sync(&mut m2).unwrap();
    assert_eq!(m2.store().customer_ids().unwrap().len(), 2, "the cap on customers owned holds");

    // Every change of hands is on the customer: created, bulk-released, claimed.
    sync(&mut sup).unwrap();
    let history = sup.store().customer_360(&won[0]).unwrap().owner_history;
    let reasons: Vec<_> = history.iter().map(|c| c.reason).collect();
    assert_eq!(reasons, [OwnerChangeReason::Claimed, OwnerChangeReason::Assigned]);
    assert_eq!(history[1].by, branch.supervisor);
    assert_eq!(history[0].by, branch.m2);
}

#[test]
fn bulk_moves_refuse_bad_requests_and_change_nothing() {
    let (server, branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let mut sup = device(dir.path(), "sup", &server.url(), "sup");
    let mut sup2 = device(dir.path(), "sup2", &server.url(), "sup2");
    let a = new_customer(&mut m1, "冯一", now_ms());
    sync(&mut m1).unwrap();
    let before = server.documents_fingerprint();
    let path = "/api/v1/customers/owner";
    // Neither a list nor a manager; both; too many; a manager of no branch; a customer of another
    // branch; a manager of another branch asked by its supervisor; a manager as the caller.
    let too_many: Vec<String> = (0..1001).map(|i| format!("c{i}")).collect();
    let cases = [
        ("sup", json!({"manager_id": null}), 400),
        ("sup", json!({"customer_ids": [a], "from_manager_id": branch.m1, "manager_id": null}), 400),
        ("sup", json!({"customer_ids": too_many, "manager_id": null}), 400),
        ("sup", json!({"customer_ids": [a], "manager_id": "nobody"}), 422),
        ("sup", json!({"customer_ids": [a, "x-other"], "manager_id": null}), 404),
        ("sup", json!({"customer_ids": [a], "manager_id": null, "extra": 1}), 400),
        ("sup2", json!({"customer_ids": [a], "manager_id": null}), 404),
        ("m1", json!({"customer_ids": [a], "manager_id": null}), 403),
    ];
    for (who, body, want) in cases {
        let device = match who {
            "sup" => &mut sup,
            "sup2" => &mut sup2,
            _ => &mut m1,
        };
        let (status, answer) = post(device, path, body.clone());
        assert_eq!(status, want, "{who}: {body} → {answer}");
    }
    assert_eq!(server.documents_fingerprint(), before, "a refused bulk move changes nothing");
}
