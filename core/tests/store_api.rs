//! The device store through its public API: a manager's day, the queries, and bad input.

mod common;

use common::*;
use fieldsync_core::Error;
use fieldsync_core::domain::*;
use fieldsync_core::store::CustomerFilter;

#[test]
fn a_managers_day_survives_reopening() {
    let (dir, mut store) = store("M1");
    let id = store.create_customer(profile("杨桂敏", "韩桥村"), NOW).unwrap();
    let visit = complete_visit(&mut store, &id, NOW + HOUR, "收入主要来自柑橘种植");
    drop(store);

    let mut store = fieldsync_core::store::Store::open(dir.path().join("device.db"), None).unwrap();
    let view = store.customer_360(&id).unwrap();
    assert_eq!(view.file.profile.name, "杨桂敏");
    assert_eq!(view.visits.len(), 1);
    assert_eq!(view.visits[0].id, visit);
    assert_eq!(view.visits[0].status, VisitStatus::Completed);
    assert_eq!(view.visits[0].notes, "收入主要来自柑橘种植");
    assert_eq!(store.user().unwrap().id, "M1");
}

#[test]
fn lists_mask_personal_data_and_360_shows_it() {
    let (_dir, mut store) = store("M1");
    let id = store.create_customer(profile("张三", "韩桥村"), NOW).unwrap();
    let page = store.customers(&CustomerFilter::default(), 20, None).unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].phone_masked.as_deref(), Some("138****1234"));
    assert_eq!(page.items[0].id_number_masked.as_deref(), Some("4228**********5665"));
    let view = store.customer_360(&id).unwrap();
    assert_eq!(view.file.profile.phone.as_deref(), Some("13812341234"));
}

#[test]
fn search_by_characters_initials_and_phone_suffix() {
    let (_dir, mut store) = store("M1");
    let zhang = store.create_customer(profile("张三", "韩桥村"), NOW).unwrap();
    let mut li = profile("李四", "张坪村");
    li.phone = Some("13900005678".into());
    let li = store.create_customer(li, NOW).unwrap();
    let find = |q: &str| -> Vec<String> {
        let f = CustomerFilter { search: Some(q.into()), ..Default::default() };
        store.customers(&f, 50, None).unwrap().items.into_iter().map(|c| c.customer_id).collect()
    };
    assert_eq!(find("zs"), vec![zhang.clone()]);
    assert_eq!(find("ZS"), vec![zhang.clone()]);
    assert_eq!(find("张"), vec![zhang.clone()]);
    assert_eq!(find("5678"), vec![li.clone()]);
    assert_eq!(find("1234"), vec![zhang.clone()]);
    assert!(find("%").is_empty());
    assert!(find("' OR 1=1 --").is_empty());
}

#[test]
fn one_visit_in_progress_per_manager() {
    let (_dir, mut store) = store("M1");
    let a = store.create_customer(profile("张三", "韩桥村"), NOW).unwrap();
    let b = store.create_customer(profile("李四", "韩桥村"), NOW).unwrap();
    let start = |id: &str| Action::StartVisit {
        visit_id: id.into(),
        purpose: VisitPurpose::FollowUp,
        channel: Channel::InPerson,
        check_in: here(NOW),
    };
    store.apply(&a, &start("v1"), NOW).unwrap();
    let before = store.projection_dump().unwrap();
    match store.apply(&b, &start("v2"), NOW) {
        Err(Error::VisitInProgress { in_progress }) => assert_eq!(in_progress, "v1"),
        other => panic!("expected VisitInProgress, got {other:?}"),
    }
    assert_eq!(store.projection_dump().unwrap(), before);
    store.apply(&a, &Action::AbandonVisit { visit_id: "v1".into() }, NOW).unwrap();
    store.apply(&b, &start("v2"), NOW).unwrap();
}
