//! Duplicate customers (查重) with real tablets and the real server: a second file with the same
//! phone is flagged on the tablet that holds both; across the branch the server pairs files with
//! the same ID number (typed differently on two tablets), and a supervisor merges them without
//! losing either history.

use fieldsync_core::domain::{CustomerKind, Profile, VisitDetails};
use fieldsync_core::store::DuplicateField;
use fieldsync_ffi::Device;
use fieldsync_tests::{TestServer, device, now_ms, post_json, record_visit, sync};
use serde_json::json;

fn customer(device: &mut Device, name: &str, phone: &str, id_number: Option<&str>) -> String {
    let mut profile = Profile::new(CustomerKind::Individual, name, "韩桥村");
    profile.phone = Some(phone.into());
    profile.id_number = id_number.map(Into::into);
    device.store().create_customer(profile, now_ms()).unwrap()
}

#[test]
fn a_duplicate_is_flagged_and_merged_without_losing_either_history() {
    let (server, branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let mut m2 = device(dir.path(), "m2", &server.url(), "m2");
    let mut sup = device(dir.path(), "sup", &server.url(), "sup");

    // On one tablet: the form flags a second file with the same phone, typed another way.
    let a = customer(&mut m1, "杨桂敏", "13812345678", Some("11010519491231002X"));
    let mut typed = Profile::new(CustomerKind::Individual, "杨桂敏", "张坪村");
    typed.phone = Some("+86 138 1234 5678".into());
    let flagged = m1.store().possible_duplicates(&typed).unwrap();
    assert_eq!(
        (flagged.len(), flagged[0].customer_id.as_str(), flagged[0].matched),
        (1, a.as_str(), DuplicateField::Phone)
    );

    // Across the branch: m2 enters the same person (ID with a lower-case x) with a new phone.
    let b = customer(&mut m2, "杨桂敏", "13900001111", Some("11010519491231002x"));
    record_visit(&mut m1, &a, VisitDetails { notes: "第一位客户经理的走访".into(), ..VisitDetails::default() });
    record_visit(&mut m2, &b, VisitDetails { notes: "第二位客户经理的走访".into(), ..VisitDetails::default() });
    sync(&mut m1).unwrap();
    sync(&mut m2).unwrap();
    let pairs = server.store().write_blocking(|s| fieldsync_server::duplicates::pairs(s, &branch.id)).unwrap();
    assert_eq!(pairs.len(), 1);
    assert!(pairs[0].by_id, "paired by the ID number, however it was typed");

    // A manager may not merge; a supervisor keeps m1's file.
    assert_eq!(post_json(&mut m2, "/api/v1/customers/merge", json!({"kept": b, "merged": a})), 403);
    assert_eq!(post_json(&mut sup, "/api/v1/customers/merge", json!({"kept": a, "merged": a})), 404);
    assert_eq!(post_json(&mut sup, "/api/v1/customers/merge", json!({"kept": a, "merged": b})), 204);
    sync(&mut m1).unwrap();
    let report = sync(&mut m2).unwrap();
    assert_eq!(report.purged, 1, "the merged file leaves its manager's tablet");
    assert!(m2.store().customer_ids().unwrap().is_empty());
    let file = m1.store().customer_file(&a).unwrap();
    let mut notes: Vec<String> = file.visits.values().map(|v| v.notes.clone()).collect();
    notes.sort();
    assert_eq!(notes, ["第一位客户经理的走访", "第二位客户经理的走访"], "both histories are kept");
    assert_eq!(file.profile.phone.as_deref(), Some("13812345678"), "the kept file's own fields stay");
    sync(&mut sup).unwrap();
    assert_eq!(sup.store().customer_ids().unwrap(), vec![a.clone()]);
    // Merged once: a second request finds nothing to merge.
    assert_eq!(post_json(&mut sup, "/api/v1/customers/merge", json!({"kept": a, "merged": b})), 404);
}
