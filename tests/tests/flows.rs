//! Whole flows through the real server on loopback: a manager's day reaching the branch, a
//! review reaching the tablet, reassignment purging the old owner's tablet, the public pool,
//! closing a customer, and a revoked tablet wiped.

use fieldsync_core::domain::{CustomerKind, Profile, VisitDetails};
use fieldsync_core::sync::SyncError;
use fieldsync_ffi::{Device, DeviceError};
use fieldsync_tests::{TestServer, device, now_ms, post_json, record_visit, sync};
use serde_json::json;

/// Records a completed visit on `customer`; returns its ID.
fn visit(device: &mut Device, customer: &str, notes: &str) -> String {
    record_visit(device, customer, VisitDetails { notes: notes.into(), ..VisitDetails::default() })
}

fn new_customer(device: &mut Device, name: &str, village: &str) -> String {
    let mut profile = Profile::new(CustomerKind::Individual, name, village);
    profile.phone = Some("13812345678".into());
    device.store().create_customer(profile, now_ms()).unwrap()
}

#[test]
fn a_managers_day_reaches_the_branch_and_a_review_reaches_the_tablet() {
    let (server, _branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let mut sup = device(dir.path(), "sup", &server.url(), "sup");

    let customer = new_customer(&mut m1, "张三", "韩桥村");
    let visit_id = visit(&mut m1, &customer, "询问了存款需求");
    let report = sync(&mut m1).unwrap();
    assert_eq!(report.changes_pushed, 3, "create, start, check out");
    assert!(m1.store().unpushed().unwrap().is_empty());
    // The server assigned the new customer to its creator; that decision came back.
    let file = m1.store().customer_file(&customer).unwrap();
    assert_eq!(file.server.owner.manager_name.as_deref(), Some("王建国"));

    // A supervisor's new tablet gets the branch.
    sync(&mut sup).unwrap();
    assert_eq!(sup.store().customer_ids().unwrap(), vec![customer.clone()]);
    assert_eq!(sup.store().customer_file(&customer).unwrap(), m1.store().customer_file(&customer).unwrap());

    // The supervisor returns the visit with a comment at the branch.
    let status = post_json(
        &mut sup,
        &format!("/api/v1/customers/{customer}/reviews/{visit_id}"),
        json!({"decision": "returned", "comment": "请补充照片"}),
    );
    assert_eq!(status, 204);
    let report = sync(&mut m1).unwrap();
    assert_eq!(report.round_trips, 1);
    let view = m1.store().customer_360(&customer).unwrap();
    let (_, review) = view.reviews.iter().find(|(v, _)| v == &visit_id).expect("the review reached the tablet");
    assert_eq!(review.comment, "请补充照片");
    assert_eq!(review.decision.code(), "returned");
    let rows = m1.store().projection_dump().unwrap();
    assert!(rows.iter().any(|r| r.starts_with("visits: ") && r.contains("\"returned\"")), "{rows:?}");

    // A manager may not review.
    assert_eq!(
        post_json(
            &mut m1,
            &format!("/api/v1/customers/{customer}/reviews/{visit_id}"),
            json!({"decision": "approved", "comment": ""})
        ),
        403
    );
    // Everyone who holds the customer holds the same document.
    sync(&mut sup).unwrap();
    assert_eq!(sup.store().heads(&customer).unwrap(), m1.store().heads(&customer).unwrap());
    assert_eq!(sup.store().projection_dump().unwrap(), m1.store().projection_dump().unwrap());
}

#[test]
fn reassignment_purges_the_old_owner_and_delivers_the_whole_customer_to_the_new_one() {
    let (server, branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let mut m2 = device(dir.path(), "m2", &server.url(), "m2");
    let mut sup = device(dir.path(), "sup", &server.url(), "sup");
    let customer = new_customer(&mut m1, "李四", "张坪村");
    let kept = new_customer(&mut m1, "王五", "张坪村");
    visit(&mut m1, &customer, "第一次走访");
    sync(&mut m1).unwrap();
    sync(&mut m2).unwrap();
    assert!(m2.store().customer_ids().unwrap().is_empty(), "another manager's customers are not sent");

    let status = post_json(&mut sup, &format!("/api/v1/customers/{customer}/owner"), json!({"manager_id": branch.m2}));
    assert_eq!(status, 204);
    // Offline, m1 still edits it; the server refuses that, and m1 keeps the change aside.
    visit(&mut m1, &customer, "重新分配后的走访");
    let report = sync(&mut m1).unwrap();
    assert_eq!(report.quarantined, 1);
    assert_eq!(m1.store().customer_ids().unwrap(), vec![kept.clone()]);
    let quarantined = m1.store().quarantined().unwrap();
    assert_eq!(quarantined[0].customer_id, customer);
    assert_eq!(quarantined[0].code, "not_your_customer");
    assert!(!quarantined[0].changes.is_empty());
    assert!(m1.store().projection_dump().unwrap().iter().all(|r| !r.contains(&customer)));

    // m2 receives it whole, with its history, and can work on it.
    sync(&mut m2).unwrap();
    assert_eq!(m2.store().customer_ids().unwrap(), vec![customer.clone()]);
    let file = m2.store().customer_file(&customer).unwrap();
    assert_eq!(file.visits.len(), 1);
    assert_eq!(file.server.owner.manager_id.as_deref(), Some(branch.m2.as_str()));
    visit(&mut m2, &customer, "新客户经理的走访");
    let report = sync(&mut m2).unwrap();
    assert_eq!(report.quarantined, 0);
    sync(&mut sup).unwrap();
    assert_eq!(sup.store().customer_file(&customer).unwrap().visits.len(), 2);
}

#[test]
fn the_public_pool_is_masked_and_the_first_claim_wins() {
    let (server, _branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let mut m2 = device(dir.path(), "m2", &server.url(), "m2");
    let mut sup = device(dir.path(), "sup", &server.url(), "sup");
    let customer = new_customer(&mut m1, "赵六", "韩桥村");
    sync(&mut m1).unwrap();
    sync(&mut m2).unwrap();
    sync(&mut sup).unwrap();
    // Returned to the pool: m1 loses the document and sees a masked entry, like m2.
    assert_eq!(post_json(&mut sup, &format!("/api/v1/customers/{customer}/owner"), json!({"manager_id": null})), 204);
    sync(&mut m1).unwrap();
    sync(&mut m2).unwrap();
    for d in [&mut m1, &mut m2] {
        assert!(d.store().customer_ids().unwrap().is_empty());
        let pool = d.store().pool(None).unwrap();
        assert_eq!(pool.len(), 1);
        assert_eq!(pool[0].name_masked, "赵*");
        assert_eq!(pool[0].village, "韩桥村");
        let text = format!("{pool:?}");
        assert!(!text.contains("13812345678") && !text.contains("赵六"));
    }
    // Both ask for it offline; m2 syncs first and wins.
    m2.store().claim_from_pool(&customer, now_ms()).unwrap();
    m1.store().claim_from_pool(&customer, now_ms()).unwrap();
    sync(&mut m2).unwrap();
    sync(&mut m1).unwrap();
    assert_eq!(m2.store().customer_ids().unwrap(), vec![customer.clone()]);
    assert!(m2.store().pool(None).unwrap().is_empty());
    assert_eq!(m2.store().customer_file(&customer).unwrap().profile.name, "赵六");
    assert!(m1.store().customer_ids().unwrap().is_empty());
    assert!(m1.store().pool(None).unwrap().is_empty(), "taken customers leave the pool");
    // The supervisor sees the branch whole throughout.
    sync(&mut sup).unwrap();
    assert_eq!(sup.store().customer_file(&customer).unwrap().server.owner.manager_name.as_deref(), Some("李秀英"));
}

#[test]
fn a_closed_customer_leaves_managers_but_not_supervisors() {
    let (server, _branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let mut sup = device(dir.path(), "sup", &server.url(), "sup");
    let customer = new_customer(&mut m1, "钱七", "韩桥村");
    sync(&mut m1).unwrap();
    sync(&mut sup).unwrap();
    assert_eq!(
        post_json(&mut sup, &format!("/api/v1/customers/{customer}/lifecycle"), json!({"lifecycle": "closed"})),
        204
    );
    let report = sync(&mut m1).unwrap();
    assert_eq!(report.purged, 1);
    assert!(m1.store().customer_ids().unwrap().is_empty());
    sync(&mut sup).unwrap();
    assert_eq!(sup.store().customer_ids().unwrap(), vec![customer]);
}

#[test]
fn a_deleted_customer_leaves_every_device() {
    let (server, branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let mut sup = device(dir.path(), "sup", &server.url(), "sup");
    let customer = new_customer(&mut m1, "郑九", "韩桥村");
    let kept = new_customer(&mut m1, "冯十", "韩桥村");
    sync(&mut m1).unwrap();
    sync(&mut sup).unwrap();
    // Deleting needs the customer's own branch: another branch's admin finds nothing.
    let refused =
        server.write(|s| fieldsync_server::customers::delete_customer(s, &branch.other_branch, &customer, "t", 0));
    assert!(refused.is_err());
    server.write(|s| fieldsync_server::customers::delete_customer(s, &branch.id, &customer, "t", 0)).unwrap();
    for d in [&mut m1, &mut sup] {
        assert_eq!(sync(d).unwrap().purged, 1);
        assert_eq!(d.store().customer_ids().unwrap(), vec![kept.clone()]);
    }
    // A tablet that still pushes to it is answered as if it never existed.
    let mut late = device(dir.path(), "late", &server.url(), "sup");
    sync(&mut late).unwrap();
    assert_eq!(late.store().customer_ids().unwrap(), vec![kept]);
}

#[test]
fn a_revoked_tablet_is_refused_and_wiped() {
    let (server, _branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let mut sup = device(dir.path(), "sup", &server.url(), "sup");
    let customer = new_customer(&mut m1, "孙八", "韩桥村");
    visit(&mut m1, &customer, "走访");
    sync(&mut m1).unwrap();
    let device_id = m1.device_id().unwrap();
    assert_eq!(post_json(&mut sup, &format!("/api/v1/devices/{device_id}/revoke"), json!({})), 204);

    let err = sync(&mut m1).unwrap_err();
    assert!(matches!(&err, DeviceError::Sync(e) if matches!(**e, SyncError::Revoked)), "{err:?}");
    let store = m1.store();
    assert!(store.customer_ids().unwrap().is_empty());
    assert!(store.user().is_none());
    assert!(store.projection_dump().unwrap().is_empty());
    assert_eq!(store.sync_cursor().unwrap(), 0);
    assert!(store.setting("token").unwrap().is_none());
    // Nothing of the customer is left in the file.
    drop(m1);
    let bytes = std::fs::read(dir.path().join("m1.db")).unwrap();
    assert!(!bytes.windows("孙八".len()).any(|w| w == "孙八".as_bytes()));
    // The device cannot sign in again, and the customer is safe on the server.
    let mut again = Device::open(dir.path().join("m1.db"), None).unwrap();
    assert_eq!(again.device_id().unwrap(), device_id);
    let err = again.login(&server.url(), "m1", fieldsync_tests::PASSWORD).unwrap_err();
    assert!(
        matches!(&err, DeviceError::Http(e) if matches!(**e, fieldsync_ffi::HttpError::Server { status: 410, .. })),
        "{err:?}"
    );
    sync(&mut sup).unwrap();
    assert_eq!(sup.store().customer_ids().unwrap(), vec![customer]);
}
