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

#[test]
fn one_commit_per_action_and_none_for_a_no_op() {
    let (_dir, mut store) = store("M1");
    let id = store.create_customer(profile("张三", "韩桥村"), NOW).unwrap();
    complete_visit(&mut store, &id, NOW, "x"); // two actions: start, check out
    let count = |store: &mut fieldsync_core::store::Store| {
        fieldsync_core::document::parse_changes(&store.document_changes(&id).unwrap()).unwrap().len()
    };
    assert_eq!(count(&mut store), 3);
    // Saving the profile form unchanged makes no commit.
    let same = store.customer_file(&id).unwrap().profile;
    let written = store.apply(&id, &Action::UpdateProfile { profile: same.clone() }, NOW).unwrap();
    assert!(!written.changed);
    assert_eq!(count(&mut store), 3);
    // Changing one field is one small commit.
    let mut p = same;
    p.occupation = "养殖户".into();
    let before = store.document_changes(&id).unwrap().len();
    assert!(store.apply(&id, &Action::UpdateProfile { profile: p }, NOW).unwrap().changed);
    assert_eq!(count(&mut store), 4);
    let grown = store.document_changes(&id).unwrap().len() - before;
    assert!(grown < 200, "a one-field edit should be a small change, was {grown} bytes");
}

#[test]
fn compaction_folds_chunks_and_keeps_the_document() {
    let (dir, mut store) = store("M1");
    let id = store.create_customer(profile("张三", "韩桥村"), NOW).unwrap();
    let chunks = |store: &fieldsync_core::store::Store| -> i64 {
        store.connection().query_row("SELECT count(*) FROM doc_chunks", [], |r| r.get(0)).unwrap()
    };
    for i in 0..30 {
        let mut p = store.customer_file(&id).unwrap().profile;
        p.notes = format!("第{i}次");
        store.apply(&id, &Action::UpdateProfile { profile: p }, NOW).unwrap();
    }
    assert_eq!(chunks(&store), 31);
    let before = store.customer_file(&id).unwrap();
    let heads = store.heads(&id).unwrap();
    assert_eq!(store.compact(100).unwrap(), 0, "below the threshold nothing is compacted");
    assert_eq!(store.compact(10).unwrap(), 1);
    assert_eq!(chunks(&store), 0);
    drop(store);
    let mut store = fieldsync_core::store::Store::open(dir.path().join("device.db"), None).unwrap();
    assert_eq!(store.customer_file(&id).unwrap(), before);
    assert_eq!(store.heads(&id).unwrap(), heads);
    // Writing on goes on appending after the snapshot; many chunks fold automatically.
    for i in 0..70 {
        let mut p = store.customer_file(&id).unwrap().profile;
        p.notes = format!("再{i}次");
        store.apply(&id, &Action::UpdateProfile { profile: p }, NOW).unwrap();
    }
    assert!(chunks(&store) < 64, "auto-compaction keeps chunk counts bounded: {}", chunks(&store));
    drop(store);
    let mut store = fieldsync_core::store::Store::open(dir.path().join("device.db"), None).unwrap();
    assert_eq!(store.customer_file(&id).unwrap().profile.notes, "再69次");
}

#[test]
fn signing_in_needs_a_real_user() {
    let (_dir, mut store) = store("M1");
    let blank = fieldsync_core::store::User { id: " ".into(), name: "x".into(), role: Role::Manager };
    assert!(matches!(store.sign_in(blank), Err(Error::Invalid(_))));
    assert_eq!(store.user().unwrap().id, "M1");
}

/// A name typed with a compatibility ideograph (U+F9E1, which NFC maps to 李) or a combining
/// accent is stored, listed and found as its NFC form; a name with a direction override is
/// refused and the store is unchanged.
#[test]
fn names_are_stored_nfc_and_direction_overrides_refused() {
    let (_dir, mut store) = store("M1");
    let id = store.create_customer(profile("\u{F9E1}四", "韩桥村"), NOW).unwrap();
    assert_eq!(store.customer_file(&id).unwrap().profile.name, "李四");
    let find = |store: &mut fieldsync_core::store::Store, q: &str| -> Vec<(String, String)> {
        let f = CustomerFilter { search: Some(q.into()), ..Default::default() };
        store.customers(&f, 50, None).unwrap().items.into_iter().map(|c| (c.customer_id, c.name)).collect()
    };
    assert_eq!(find(&mut store, "李四"), vec![(id.clone(), "李四".to_string())]);
    assert_eq!(find(&mut store, "ls"), vec![(id.clone(), "李四".to_string())], "pinyin keys come from the NFC name");

    let mut p = store.customer_file(&id).unwrap().profile;
    p.notes = "Nguye\u{302}\u{303}n\r\n第二行".into();
    store.apply(&id, &Action::UpdateProfile { profile: p.clone() }, NOW).unwrap();
    assert_eq!(store.customer_file(&id).unwrap().profile.notes, "Nguy\u{1EC5}n\n第二行");

    let before = (store.heads(&id).unwrap(), store.customer_file(&id).unwrap(), store.projection_dump().unwrap());
    p.name = "李\u{202E}四".into();
    match store.apply(&id, &Action::UpdateProfile { profile: p }, NOW) {
        Err(Error::Invalid(e)) => assert_eq!(e, ValidationError::new("profile.name", Problem::DirectionControl)),
        other => panic!("expected profile.name refused, got {other:?}"),
    }
    assert_eq!(
        (store.heads(&id).unwrap(), store.customer_file(&id).unwrap(), store.projection_dump().unwrap()),
        before
    );
}
