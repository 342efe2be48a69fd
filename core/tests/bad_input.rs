//! Every public write refuses invalid data with a typed error and leaves the store unchanged:
//! the document heads, the typed file and every projection row are compared before and after.

mod common;

use common::*;
use fieldsync_core::Error;
use fieldsync_core::document::CustomerDoc;
use fieldsync_core::domain::*;
use fieldsync_core::store::Store;

/// Everything observable about one customer and the projections.
fn snapshot(store: &mut Store, id: &str) -> (Vec<automerge::ChangeHash>, CustomerFile, Vec<String>) {
    (store.heads(id).unwrap(), store.customer_file(id).unwrap(), store.projection_dump().unwrap())
}

/// Asserts that `action` fails with an error matching `expected` and that nothing changed.
fn refused(store: &mut Store, id: &str, action: Action, expected: impl Fn(&Error) -> bool) {
    let before = snapshot(store, id);
    let err = store.apply(id, &action, NOW + 2 * HOUR).expect_err("action should be refused");
    assert!(expected(&err), "unexpected error for {}: {err:?}", action.name());
    assert_eq!(snapshot(store, id), before, "{} changed the store", action.name());
    let text = err.to_string();
    for secret in ["13812341234", "422822196408275665", "杨桂敏"] {
        assert!(!text.contains(secret), "error text leaks personal data: {text}");
    }
}

fn invalid(field: &'static str) -> impl Fn(&Error) -> bool {
    move |e| matches!(e, Error::Invalid(v) if v.field == field)
}

fn setup() -> (tempfile::TempDir, Store, String) {
    let (dir, mut store) = store("M1");
    let id = store.create_customer(profile("杨桂敏", "韩桥村"), NOW).unwrap();
    (dir, store, id)
}

#[test]
fn profile_errors() {
    let (_dir, mut store, id) = setup();
    let mut p = profile("杨桂敏", "韩桥村");
    p.id_number = Some("422822196408275664".into());
    refused(&mut store, &id, Action::UpdateProfile { profile: p }, invalid("profile.id_number"));
    let mut p = profile("杨桂敏", "韩桥村");
    p.phone = Some("1381234123x".into());
    refused(&mut store, &id, Action::UpdateProfile { profile: p }, invalid("profile.phone"));
    let mut p = profile("杨桂敏", "韩桥村");
    p.location = Some(GeoPoint { lat: 95.0, lng: 105.0, accuracy_m: 5.0 });
    refused(&mut store, &id, Action::UpdateProfile { profile: p }, invalid("profile.location"));
    let mut p = profile("杨桂敏", "韩桥村");
    p.birthday = Some(Birthday { year: Some(1990), month: 2, day: 30, lunar: false, leap_month: false });
    refused(&mut store, &id, Action::UpdateProfile { profile: p }, invalid("profile.birthday"));
    let mut p = profile("杨桂敏", "韩桥村");
    p.name = "名".repeat(500);
    refused(&mut store, &id, Action::UpdateProfile { profile: p }, invalid("profile.name"));
    // Creating with a bad profile stores nothing at all.
    let mut p = profile("杨桂敏", "韩桥村");
    p.id_number = Some("123".into());
    let before = store.projection_dump().unwrap();
    assert!(matches!(store.create_customer(p, NOW), Err(Error::Invalid(_))));
    assert_eq!(store.projection_dump().unwrap(), before);
    assert_eq!(store.customer_ids().unwrap().len(), 1);
}

#[test]
fn visit_errors() {
    let (_dir, mut store, id) = setup();
    let mut spoofed = here(NOW);
    spoofed.position = GeoPoint { lat: 0.0, lng: 0.0, accuracy_m: 5.0 };
    let start = |c: CheckPoint| Action::StartVisit {
        visit_id: "v1".into(),
        purpose: VisitPurpose::Care,
        channel: Channel::InPerson,
        check_in: c,
    };
    refused(&mut store, &id, start(spoofed), invalid("visit.check_in.position"));
    let mut nan = here(NOW);
    nan.position.lng = f64::INFINITY;
    refused(&mut store, &id, start(nan), invalid("visit.check_in.position"));
    refused(&mut store, &id, start(here(12)), invalid("visit.check_in.at"));
    store.apply(&id, &start(here(NOW)), NOW).unwrap();

    let mut d = details("x");
    d.costs.gift_fen = -1;
    let out = |d: VisitDetails, at: i64| Action::CheckOut { visit_id: "v1".into(), check_out: here(at), details: d };
    refused(&mut store, &id, out(d, NOW + HOUR), invalid("visit.costs.gift_fen"));
    refused(&mut store, &id, out(details("x"), NOW - HOUR), invalid("visit.check_out.at"));
    let mut d = details("x");
    d.photos = vec!["not-a-hash".into()];
    refused(&mut store, &id, out(d, NOW + HOUR), invalid("visit.photos"));
    let mut d = details("x");
    d.photos = vec!["a".repeat(64), "a".repeat(64)];
    refused(&mut store, &id, out(d, NOW + HOUR), invalid("visit.photos"));
    refused(&mut store, &id, Action::CheckIn { visit_id: "v1".into(), check_in: here(NOW) }, |e| {
        matches!(e, Error::Transition { entity: "visit", from: "in_progress", .. })
    });
    refused(&mut store, &id, Action::AbandonVisit { visit_id: "nope".into() }, |e| {
        matches!(e, Error::NotFound { what: "visit", .. })
    });
    refused(&mut store, &id, start(here(NOW)), |e| matches!(e, Error::AlreadyExists { what: "visit", .. }));
    store.apply(&id, &out(details("好"), NOW + HOUR), NOW + HOUR).unwrap();
    refused(&mut store, &id, Action::AbandonVisit { visit_id: "v1".into() }, |e| {
        matches!(e, Error::Transition { from: "completed", to: "abandoned", .. })
    });
}

#[test]
fn another_managers_visit_is_not_yours() {
    let (dir, mut store, id) = setup();
    complete_visit(&mut store, &id, NOW, "x");
    let visit_id = store.customer_360(&id).unwrap().visits[0].id.clone();
    store.sign_in(manager("M2")).unwrap();
    refused(&mut store, &id, Action::UpdateVisit { visit_id, details: details("改") }, |e| {
        matches!(e, Error::NotYours { what: "visit" })
    });
    drop(dir);
}

#[test]
fn lead_errors() {
    let (_dir, mut store, id) = setup();
    let lead = |amount: i64| NewLead {
        id: "l1".into(),
        product: Product::Loan,
        amount_fen: amount,
        source: LeadSource::Visit,
        expected_close: None,
        probability: None,
        visit_id: None,
        notes: String::new(),
        catalog_id: None,
    };
    refused(&mut store, &id, Action::AddLead { lead: lead(-100) }, invalid("lead.amount_fen"));
    let mut with_visit = lead(100);
    with_visit.visit_id = Some("ghost".into());
    refused(&mut store, &id, Action::AddLead { lead: with_visit }, invalid("lead.visit_id"));
    store.apply(&id, &Action::AddLead { lead: lead(5_000_000) }, NOW).unwrap();
    let mv = |stage, reason: Option<&str>| Action::MoveLead {
        lead_id: "l1".into(),
        stage,
        lost_reason: reason.map(String::from),
    };
    refused(&mut store, &id, mv(LeadStage::Lost, None), invalid("lead.lost_reason"));
    store.apply(&id, &mv(LeadStage::Won, None), NOW).unwrap();
    refused(&mut store, &id, mv(LeadStage::New, None), |e| {
        matches!(e, Error::Transition { entity: "lead", from: "won", to: "new" })
    });
    refused(&mut store, &id, mv(LeadStage::Lost, Some("利率")), |e| matches!(e, Error::Transition { .. }));
}

#[test]
fn server_decided_fields_are_refused_on_a_tablet() {
    let (_dir, mut store, id) = setup();
    complete_visit(&mut store, &id, NOW, "x");
    let visit_id = store.customer_360(&id).unwrap().visits[0].id.clone();
    let review = Review {
        decision: ReviewDecision::Approved,
        comment: "好".into(),
        reviewer_id: "M1".into(),
        reviewer_name: "我".into(),
        at: NOW,
    };
    let attempts = [
        (Action::assign(Owner { manager_id: Some("M1".into()), manager_name: None }), "owner"),
        (Action::SetValueTier { tier: Some(ValueTier::PrivateBanking), as_of: None }, "value_tier"),
        (Action::SetLifecycle { lifecycle: Some(Lifecycle::Advocate) }, "lifecycle"),
        (Action::WriteReview { visit_id, review }, "reviews"),
        (
            Action::ResolveIntent {
                intent_id: "i1".into(),
                outcome: IntentOutcome { accepted: true, reason: String::new(), at: NOW },
            },
            "intent_outcomes",
        ),
    ];
    for (action, field) in attempts {
        refused(&mut store, &id, action, |e| matches!(e, Error::ServerDecided { field: f } if *f == field));
    }
    // Even a supervisor's tablet cannot: reviews go through the server.
    store
        .sign_in(fieldsync_core::store::User { id: "S1".into(), name: "主任".into(), role: Role::Supervisor })
        .unwrap();
    refused(&mut store, &id, Action::SetValueTier { tier: None, as_of: None }, |e| {
        matches!(e, Error::ServerDecided { .. })
    });
    // Signing in as the server is refused too.
    let server = fieldsync_core::store::User { id: "srv".into(), name: "srv".into(), role: Role::Server };
    assert!(matches!(store.sign_in(server), Err(Error::ServerDecided { .. })));
    // What a tablet may write is an intent, which the server resolves; a claim is for a pool
    // customer, and this one is the manager's own from its creation.
    assert_eq!(store.customer_file(&id).unwrap().server.owner.manager_id.as_deref(), Some("M1"));
    let claim = Action::RequestClaim { intent_id: "i1".into() };
    assert!(matches!(store.apply(&id, &claim, NOW), Err(Error::Transition { .. })));
}

#[test]
fn no_user_no_writes() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("d.db"), None).unwrap();
    assert!(matches!(store.create_customer(profile("张三", "村"), NOW), Err(Error::NotSignedIn)));
    assert!(store.customer_ids().unwrap().is_empty());
}

#[test]
fn unknown_customer_is_not_found() {
    let (_dir, mut store, _id) = setup();
    let before = store.projection_dump().unwrap();
    let r = store.apply("0198-nope", &Action::AbandonVisit { visit_id: "v".into() }, NOW);
    assert!(matches!(r, Err(Error::NotFound { what: "customer", .. })));
    assert!(matches!(store.customer_360("nope"), Err(Error::NotFound { .. })));
    assert_eq!(store.projection_dump().unwrap(), before);
}

/// A document as another replica would send it.
fn remote_changes(store: &mut Store, id: &str) -> Vec<u8> {
    store.document_changes(id).unwrap()
}

#[test]
fn corrupt_changes_from_another_replica_are_refused() {
    let (_dir, mut other, id) = setup();
    complete_visit(&mut other, &id, NOW, "远端");
    let good = remote_changes(&mut other, &id);
    let (_dir2, mut store) = store("M1");
    let before = store.projection_dump().unwrap();

    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x55;
    let truncated = &good[..good.len() - 3];
    let garbage: Vec<u8> = (0..500u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"junk");
    for (name, bytes) in [
        ("flipped", flipped.as_slice()),
        ("truncated", truncated),
        ("garbage", garbage.as_slice()),
        ("trailing", trailing.as_slice()),
        ("magic only", &good[..8]),
    ] {
        let err = store.merge(&id, bytes).expect_err(name);
        assert!(matches!(err, Error::CorruptChanges { .. }), "{name}: {err:?}");
        assert_eq!(store.projection_dump().unwrap(), before, "{name}");
        assert!(store.customer_ids().unwrap().is_empty(), "{name}");
    }
    // An ID that is not an ID is refused before anything is parsed.
    assert!(matches!(store.merge("../../etc", &good), Err(Error::Invalid(_))));
    // The good bytes still merge afterwards, and merging twice is harmless.
    assert!(store.merge(&id, &good).unwrap().new_bytes > 0);
    assert_eq!(store.merge(&id, &good).unwrap().new_bytes, 0);
    assert_eq!(store.customer_file(&id).unwrap(), other.customer_file(&id).unwrap());
}

#[test]
fn changes_with_missing_history_are_refused() {
    let (_dir, mut other, id) = setup();
    let base = other.heads(&id).unwrap();
    complete_visit(&mut other, &id, NOW, "远端");
    let mut doc = CustomerDoc::load(&id, &other.document_changes(&id).unwrap(), other.actor()).unwrap();
    let only_new = doc.changes_since(&base);
    let (_dir2, mut store) = store("M2");
    let err = store.merge(&id, &only_new).unwrap_err();
    assert!(matches!(err, Error::MissingDependencies { .. }), "{err:?}");
    assert!(store.customer_ids().unwrap().is_empty());
}

#[test]
fn a_document_under_another_customers_id_is_refused() {
    let (_dir, mut other, id) = setup();
    let bytes = remote_changes(&mut other, &id);
    let (_dir2, mut store) = store("M2");
    let err = store.merge("0198aaaa-0000-7000-8000-000000000000", &bytes).unwrap_err();
    assert!(matches!(err, Error::SchemaMismatch { .. }), "{err:?}");
    assert!(store.customer_ids().unwrap().is_empty());
}

#[test]
fn a_document_that_does_not_fit_the_schema_is_refused() {
    use automerge::ReadDoc;
    use automerge::transaction::Transactable;
    let (_dir, mut other, id) = setup();
    let bytes = remote_changes(&mut other, &id);
    // A replica that writes a number where the schema has a string.
    let mut raw = automerge::AutoCommit::load(&bytes).unwrap();
    let profile = match raw.get(automerge::ROOT, "profile").unwrap() {
        Some((_, obj)) => obj,
        None => panic!("no profile"),
    };
    raw.put(&profile, "name", 42_i64).unwrap();
    raw.commit();
    let forged = raw.save_after(&other.heads(&id).unwrap());
    other.merge(&id, &forged).expect_err("schema mismatch must be refused");
    assert_eq!(other.customer_file(&id).unwrap().profile.name, "杨桂敏");
    // And a document from a newer app version is refused with its own error.
    let mut newer = automerge::AutoCommit::load(&bytes).unwrap();
    newer.put(automerge::ROOT, "schema", 99_u64).unwrap();
    newer.commit();
    let newer_bytes = newer.save_after(&other.heads(&id).unwrap());
    assert!(matches!(other.merge(&id, &newer_bytes), Err(Error::NewerDocument { found: 99, .. })));
}

#[test]
fn a_batch_with_one_bad_document_keeps_the_others() {
    let (_dir, mut other, a) = setup();
    let b = other.create_customer(profile("李四", "张坪村"), NOW).unwrap();
    let good_a = remote_changes(&mut other, &a);
    let good_b = remote_changes(&mut other, &b);
    let (_dir2, mut store) = store("M2");
    let results =
        store.merge_batch([(a.as_str(), good_a.as_slice()), (b.as_str(), &good_b[..10]), ("x", &b""[..])]).unwrap();
    assert!(results[0].is_ok());
    assert!(matches!(results[1], Err(Error::CorruptChanges { .. })));
    assert!(results[2].is_ok(), "an empty change set is a no-op: {:?}", results[2]);
    assert_eq!(store.customer_ids().unwrap(), vec![a.clone()]);
    assert_eq!(store.customer_file(&a).unwrap(), other.customer_file(&a).unwrap());
}
