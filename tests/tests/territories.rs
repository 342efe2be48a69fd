//! Territories with real tablets and the real server: the villages an admin gives a manager reach
//! their tablet with the next sync, and their customer list and pool view follow them offline;
//! a territory naming someone who is not a manager of the branch, or an outlet it lacks, is
//! refused and changes nothing.

use fieldsync_core::domain::{CustomerKind, Profile, Territory};
use fieldsync_core::store::CustomerFilter;
use fieldsync_tests::{TestServer, device, now_ms, post_json, sync};
use serde_json::json;

#[test]
fn a_managers_list_and_pool_follow_their_villages() {
    let (server, branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let mut sup = device(dir.path(), "sup", &server.url(), "sup");
    let admin = server.store();
    let set = |village: &str, outlet: Option<&str>, managers: &[&str]| {
        let t = Territory {
            village: village.into(),
            outlet_id: outlet.map(Into::into),
            manager_ids: managers.iter().map(|m| m.to_string()).collect(),
        };
        admin.write_blocking(|s| fieldsync_server::territories::set(s, &branch.id, t, now_ms()))
    };
    set("韩桥村", None, &[&branch.m1]).unwrap();
    set("张坪村", None, &[&branch.m2]).unwrap();
    // Refused: a supervisor as the responsible manager, another branch's supervisor, an outlet
    // the branch lacks.
    assert!(set("王庄村", None, &[&branch.supervisor]).is_err());
    assert!(set("王庄村", None, &[&branch.other_supervisor]).is_err());
    assert!(set("王庄村", Some("no-such-outlet"), &[&branch.m1]).is_err());

    let new = |d: &mut fieldsync_ffi::Device, name: &str, village: &str| {
        d.store().create_customer(Profile::new(CustomerKind::Individual, name, village), now_ms()).unwrap()
    };
    let mine = new(&mut m1, "张三", "韩桥村");
    let elsewhere = new(&mut m1, "李四", "张坪村");
    let pool_mine = new(&mut m1, "王五", "韩桥村");
    let pool_other = new(&mut m1, "赵六", "张坪村");
    sync(&mut m1).unwrap();
    let moved = json!({"customer_ids": [pool_mine, pool_other], "manager_id": null});
    assert_eq!(post_json(&mut sup, "/api/v1/customers/owner", moved), 200);
    sync(&mut m1).unwrap();

    assert_eq!(m1.store().my_villages().unwrap(), ["韩桥村"]);
    let villages = m1.store().my_villages().unwrap();
    let filter = CustomerFilter { villages, ..Default::default() };
    let listed: Vec<String> =
        m1.store().customers(&filter, 50, None).unwrap().items.into_iter().map(|c| c.customer_id).collect();
    assert_eq!(listed, vec![mine.clone()]);
    assert!(!listed.contains(&elsewhere));
    let pool: Vec<String> = m1.store().pool_in_my_villages().unwrap().into_iter().map(|p| p.customer_id).collect();
    assert_eq!(pool, vec![pool_mine]);
    assert_eq!(m1.store().pool(None).unwrap().len(), 2, "the whole pool is still there to look at");
}
