//! Server-side validation of pushed changes, on real customer documents built with the core.
//! A tampered tablet can produce any change, so "forged" changes here are made with the server's
//! own rules (`Role::Server`) under a manager's name.

use fieldsync_core::document::CustomerDoc;
use fieldsync_core::domain::*;
use fieldsync_server::accounts::{Role as ServerRole, User};
use fieldsync_server::policy::Refusal;
use fieldsync_server::policy::write::{Entity, Op};

/// The write policy with a branch whose active managers are M1 and M2 (named as their IDs).
fn check(before: Option<&CustomerFile>, after: &CustomerFile, writer: &User) -> Result<(), Refusal> {
    let directory = |id: &str| ["M1", "M2"].contains(&id).then(|| id.to_string());
    fieldsync_server::policy::write::check(before, after, writer, &directory)
}

const NOW: i64 = 1_753_056_000_000;

fn user(id: &str, role: ServerRole) -> User {
    User { id: id.into(), branch_id: "b1".into(), outlet_id: None, username: id.into(), display_name: id.into(), role }
}

fn ctx(id: &str, role: Role) -> Ctx {
    Ctx { user_id: id.into(), user_name: id.into(), role, now: NOW }
}

fn here() -> CheckPoint {
    CheckPoint {
        at: NOW,
        position: GeoPoint { lat: 31.68, lng: 105.42, accuracy_m: 10.0 },
        provider: LocationProvider::Gps,
        mock_location: false,
    }
}

fn start(id: &str) -> Action {
    Action::StartVisit {
        visit_id: id.into(),
        purpose: VisitPurpose::Care,
        channel: Channel::InPerson,
        check_in: here(),
    }
}

/// A customer created by M1 and assigned to M1 by the server.
fn owned_by_m1() -> CustomerDoc {
    let actor = fieldsync_core::ids::new_actor();
    let create = Action::CreateCustomer {
        id: "c1".into(),
        profile: Profile::new(CustomerKind::Individual, "张三", "韩桥村"),
    };
    let (mut doc, _) = CustomerDoc::create(&actor, &create, &ctx("M1", Role::Manager)).unwrap();
    let owner = Owner { manager_id: Some("M1".into()), manager_name: None };
    doc.apply(&Action::assign(owner), &ctx("server", Role::Server)).unwrap();
    doc
}

fn after(doc: &CustomerDoc, action: &Action, as_: Ctx) -> CustomerFile {
    let mut copy = doc.clone();
    copy.apply(action, &as_).unwrap();
    copy.file().clone()
}

#[test]
fn a_manager_edits_their_own_customer_and_visits() {
    let doc = owned_by_m1();
    let m1 = user("M1", ServerRole::Manager);
    assert_eq!(check(Some(doc.file()), &after(&doc, &start("v1"), ctx("M1", Role::Manager)), &m1), Ok(()));
    let mut p = doc.file().profile.clone();
    p.occupation = "养殖户".into();
    assert_eq!(
        check(Some(doc.file()), &after(&doc, &Action::UpdateProfile { profile: p }, ctx("M1", Role::Manager)), &m1),
        Ok(())
    );
}

#[test]
fn a_new_customer_must_be_the_writers_and_carry_no_decisions() {
    let actor = fieldsync_core::ids::new_actor();
    let create = Action::CreateCustomer {
        id: "c2".into(),
        profile: Profile::new(CustomerKind::Household, "李家", "张坪村"),
    };
    let (doc, _) = CustomerDoc::create(&actor, &create, &ctx("M2", Role::Manager)).unwrap();
    assert_eq!(check(None, doc.file(), &user("M2", ServerRole::Manager)), Ok(()));
    assert_eq!(check(None, doc.file(), &user("M1", ServerRole::Manager)), Err(Refusal::ForgedAuthor));
    let tiered = after(
        &doc,
        &Action::SetValueTier { tier: Some(ValueTier::PrivateBanking), as_of: None },
        ctx("M2", Role::Server),
    );
    assert_eq!(check(None, &tiered, &user("M2", ServerRole::Manager)), Err(Refusal::ServerDecided("value_tier")));
}

#[test]
fn managers_cannot_write_server_decisions_or_reviews() {
    let doc = owned_by_m1();
    let m1 = user("M1", ServerRole::Manager);
    let forged = |action: Action| after(&doc, &action, ctx("M1", Role::Server));
    let cases = [
        (Action::assign(Owner { manager_id: Some("M9".into()), manager_name: None }), "owner"),
        (Action::SetValueTier { tier: Some(ValueTier::High), as_of: None }, "value_tier"),
        (Action::SetLifecycle { lifecycle: Some(Lifecycle::Dormant) }, "lifecycle"),
    ];
    for (action, field) in cases {
        assert_eq!(check(Some(doc.file()), &forged(action), &m1), Err(Refusal::ServerDecided(field)));
    }
    let with_visit = {
        let mut d = doc.clone();
        d.apply(&start("v1"), &ctx("M1", Role::Manager)).unwrap();
        d
    };
    let review = |by: &str| Review {
        decision: ReviewDecision::Approved,
        comment: "自己批准".into(),
        reviewer_id: by.into(),
        reviewer_name: by.into(),
        at: NOW,
    };
    let reviewed = after(
        &with_visit,
        &Action::WriteReview { visit_id: "v1".into(), review: review("M1") },
        ctx("M1", Role::Server),
    );
    assert_eq!(check(Some(with_visit.file()), &reviewed, &m1), Err(Refusal::ServerDecided("reviews")));
    // A supervisor may review (signed as themselves) and reassign (to a manager of the branch).
    let s1 = user("S1", ServerRole::Supervisor);
    let signed = after(
        &with_visit,
        &Action::WriteReview { visit_id: "v1".into(), review: review("S1") },
        ctx("S1", Role::Server),
    );
    assert_eq!(check(Some(with_visit.file()), &signed, &s1), Ok(()));
    assert_eq!(check(Some(with_visit.file()), &reviewed, &s1), Err(Refusal::ForgedAuthor), "signed as M1");
    let m2 = Owner { manager_id: Some("M2".into()), manager_name: Some("M2".into()) };
    let reassigned = after(&doc, &Action::assign(m2), ctx("S1", Role::Server));
    assert_eq!(check(Some(doc.file()), &reassigned, &s1), Ok(()));
    // Never tiers, even for a supervisor.
    assert_eq!(
        check(Some(doc.file()), &forged(Action::SetValueTier { tier: None, as_of: None }), &s1),
        Ok(()),
        "no change is fine"
    );
    let tier = forged(Action::SetValueTier { tier: Some(ValueTier::Low), as_of: None });
    assert_eq!(check(Some(doc.file()), &tier, &s1), Err(Refusal::ServerDecided("value_tier")));
}

#[test]
fn another_managers_customer_and_visits_are_off_limits() {
    let doc = owned_by_m1();
    let m2 = user("M2", ServerRole::Manager);
    let edited = after(&doc, &start("v9"), ctx("M2", Role::Manager));
    assert_eq!(check(Some(doc.file()), &edited, &m2), Err(Refusal::NotYourCustomer));
    // M1 cannot touch a visit M2 recorded (e.g. when covering for a colleague).
    let with_m2_visit = {
        let mut d = doc.clone();
        d.apply(&start("v2"), &ctx("M2", Role::Manager)).unwrap();
        d
    };
    let edited = after(&with_m2_visit, &Action::AbandonVisit { visit_id: "v2".into() }, ctx("M1", Role::Supervisor));
    assert_eq!(check(Some(with_m2_visit.file()), &edited, &user("M1", ServerRole::Manager)), Err(Refusal::OthersVisit));
}

#[test]
fn pool_customers_take_only_claim_intents_from_their_author() {
    let actor = fieldsync_core::ids::new_actor();
    let create = Action::CreateCustomer {
        id: "c3".into(),
        profile: Profile::new(CustomerKind::Individual, "王五", "韩桥村"),
    };
    let (pool, _) = CustomerDoc::create(&actor, &create, &ctx("server", Role::Server)).unwrap();
    let m2 = user("M2", ServerRole::Manager);
    let claim = after(&pool, &Action::RequestClaim { intent_id: "i1".into() }, ctx("M2", Role::Manager));
    assert_eq!(check(Some(pool.file()), &claim, &m2), Ok(()));
    let forged_claim = after(&pool, &Action::RequestClaim { intent_id: "i1".into() }, ctx("M7", Role::Manager));
    assert_eq!(check(Some(pool.file()), &forged_claim, &m2), Err(Refusal::ForgedAuthor));
    let edit = after(&pool, &start("v1"), ctx("M2", Role::Manager));
    assert_eq!(check(Some(pool.file()), &edit, &m2), Err(Refusal::NotYourCustomer));
}

#[test]
fn refusals_explain_themselves_in_chinese_and_english() {
    for r in [
        Refusal::NotYourCustomer,
        Refusal::ServerDecided("owner"),
        Refusal::OthersVisit,
        Refusal::ForgedAuthor,
        Refusal::Closed,
        Refusal::ApprovedVisit,
        Refusal::UnknownOwner,
        Refusal::ForeignActor,
        Refusal::NotAllowed { entity: Entity::Visit, op: Op::Delete },
        Refusal::Invalid("visit.costs".into()),
    ] {
        assert!(!r.code().is_empty());
        assert!(r.message_zh().chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{r:?}");
        assert!(!r.message_en().is_empty());
    }
}

fn with_visits(doc: &CustomerDoc, visits: &[(&str, &str)]) -> CustomerDoc {
    let mut d = doc.clone();
    for (id, by) in visits {
        d.apply(&start(id), &ctx(by, Role::Manager)).unwrap();
    }
    d
}

#[test]
fn nobody_deletes_a_visit_lead_or_claim_not_even_their_own() {
    let doc = with_visits(&owned_by_m1(), &[("v1", "M1"), ("v2", "M2")]);
    let m1 = user("M1", ServerRole::Manager);
    for victim in ["v1", "v2"] {
        let mut gone = doc.file().clone();
        gone.visits.remove(victim);
        assert_eq!(
            check(Some(doc.file()), &gone, &m1),
            Err(Refusal::NotAllowed { entity: Entity::Visit, op: Op::Delete }),
            "{victim}"
        );
        assert_eq!(
            check(Some(doc.file()), &gone, &user("S1", ServerRole::Supervisor)),
            Err(Refusal::NotAllowed { entity: Entity::Visit, op: Op::Delete })
        );
    }
}

#[test]
fn a_customer_in_the_pool_or_closed_is_not_its_creators_to_edit() {
    // M1 created the customer; it went to the pool.
    let mut pool = owned_by_m1();
    pool.apply(&Action::assign(Owner::default()), &ctx("server", Role::Server)).unwrap();
    let m1 = user("M1", ServerRole::Manager);
    let mut p = pool.file().profile.clone();
    p.occupation = "改".into();
    let edited = after(&pool, &Action::UpdateProfile { profile: p.clone() }, ctx("M1", Role::Manager));
    assert_eq!(check(Some(pool.file()), &edited, &m1), Err(Refusal::NotYourCustomer));
    // Closed while M1 still owns it: read-only for M1, and for a supervisor but their decisions.
    let mut closed = owned_by_m1();
    closed.apply(&Action::SetLifecycle { lifecycle: Some(Lifecycle::Closed) }, &ctx("server", Role::Server)).unwrap();
    let edited = after(&closed, &Action::UpdateProfile { profile: p }, ctx("M1", Role::Manager));
    assert_eq!(check(Some(closed.file()), &edited, &m1), Err(Refusal::Closed));
    let visit = after(&closed, &start("v7"), ctx("S1", Role::Manager));
    assert_eq!(check(Some(closed.file()), &visit, &user("S1", ServerRole::Supervisor)), Err(Refusal::Closed));
    let reopened =
        after(&closed, &Action::SetLifecycle { lifecycle: Some(Lifecycle::Repeat) }, ctx("S1", Role::Server));
    assert_eq!(check(Some(closed.file()), &reopened, &user("S1", ServerRole::Supervisor)), Ok(()));
}

#[test]
fn a_claim_cannot_be_deleted_or_re_signed_by_another_manager() {
    let actor = fieldsync_core::ids::new_actor();
    let create = Action::CreateCustomer {
        id: "c4".into(),
        profile: Profile::new(CustomerKind::Individual, "王五", "韩桥村"),
    };
    let (mut pool, _) = CustomerDoc::create(&actor, &create, &ctx("server", Role::Server)).unwrap();
    pool.apply(&Action::RequestClaim { intent_id: "i1".into() }, &ctx("M1", Role::Manager)).unwrap();
    let m2 = user("M2", ServerRole::Manager);
    let mut deleted = pool.file().clone();
    deleted.intents.remove("i1");
    assert_eq!(
        check(Some(pool.file()), &deleted, &m2),
        Err(Refusal::NotAllowed { entity: Entity::Intent, op: Op::Delete })
    );
    let mut resigned = pool.file().clone();
    resigned.intents.get_mut("i1").unwrap().by = "M2".into();
    assert_eq!(check(Some(pool.file()), &resigned, &m2), Err(Refusal::NotYourCustomer));
}

#[test]
fn a_supervisor_over_sync_can_do_what_the_endpoints_allow_and_no_more() {
    let doc = with_visits(&owned_by_m1(), &[("v1", "M1")]);
    let s1 = user("S1", ServerRole::Supervisor);
    let assign = |manager_id: &str, name: Option<&str>| {
        let owner = Owner { manager_id: Some(manager_id.into()), manager_name: name.map(Into::into) };
        after(&doc, &Action::assign(owner), ctx("S1", Role::Server))
    };
    // Another branch's manager, an unknown user, the admin, a forged name: refused.
    for (id, name) in [("M9", Some("M9")), ("ghost", None), ("A1", Some("A1")), ("M2", Some("张三"))] {
        assert_eq!(check(Some(doc.file()), &assign(id, name), &s1), Err(Refusal::UnknownOwner), "{id}");
    }
    assert_eq!(check(Some(doc.file()), &assign("M2", Some("M2")), &s1), Ok(()));
    // Their own accompanied visit: yes. A manager's visit: no.
    let own = after(&doc, &start("v5"), ctx("S1", Role::Manager));
    assert_eq!(check(Some(doc.file()), &own, &s1), Ok(()));
    let abandoned = after(&doc, &Action::AbandonVisit { visit_id: "v1".into() }, ctx("S1", Role::Supervisor));
    assert_eq!(check(Some(doc.file()), &abandoned, &s1), Err(Refusal::OthersVisit));
    // The profile is the manager's.
    let mut p = doc.file().profile.clone();
    p.occupation = "改".into();
    let edited = after(&doc, &Action::UpdateProfile { profile: p }, ctx("S1", Role::Manager));
    assert_eq!(
        check(Some(doc.file()), &edited, &s1),
        Err(Refusal::NotAllowed { entity: Entity::Profile, op: Op::Edit })
    );
}

#[test]
fn the_owner_history_and_the_lock_are_supervisors_decisions_signed_as_themselves() {
    let doc = owned_by_m1();
    let m1 = user("M1", ServerRole::Manager);
    let s1 = user("S1", ServerRole::Supervisor);
    let m2 = Owner { manager_id: Some("M2".into()), manager_name: Some("M2".into()) };
    // The lock: a supervisor's, never a manager's.
    let locked = after(&doc, &Action::SetLocked { locked: true }, ctx("M1", Role::Server));
    assert_eq!(check(Some(doc.file()), &locked, &m1), Err(Refusal::ServerDecided("locked")));
    assert_eq!(check(Some(doc.file()), &locked, &s1), Ok(()));
    // A reassignment recorded as another supervisor's, or to someone other than the new owner.
    let as_s2 = after(&doc, &Action::assign(m2.clone()), ctx("S2", Role::Server));
    assert_eq!(as_s2.server.owner_history.len(), 1);
    assert_eq!(check(Some(doc.file()), &as_s2, &s1), Err(Refusal::ForgedAuthor));
    let mut wrong_to = after(&doc, &Action::assign(m2.clone()), ctx("S1", Role::Server));
    assert_eq!(check(Some(doc.file()), &wrong_to, &s1), Ok(()));
    wrong_to.server.owner_history.values_mut().for_each(|c| c.to = Owner::default());
    assert_eq!(check(Some(doc.file()), &wrong_to, &s1), Err(Refusal::ForgedAuthor));
    // A history entry with no change of owner, or a rewritten or deleted one: refused.
    let mut invented = doc.file().clone();
    let entry = OwnerChange {
        from: Owner::default(),
        to: doc.file().server.owner.clone(),
        reason: OwnerChangeReason::Claimed,
        by: "S1".into(),
        at: NOW,
    };
    invented.server.owner_history.insert("k".into(), entry);
    assert_eq!(check(Some(doc.file()), &invented, &m1), Err(Refusal::ServerDecided("owner_history")));
    let moved = after(&doc, &Action::assign(m2), ctx("S1", Role::Server));
    let mut rewritten = moved.clone();
    rewritten.server.owner_history.values_mut().for_each(|c| c.at += 1);
    assert_eq!(
        check(Some(&moved), &rewritten, &s1),
        Err(Refusal::NotAllowed { entity: Entity::OwnerHistory, op: Op::Edit })
    );
    let mut erased = moved.clone();
    erased.server.owner_history.clear();
    assert_eq!(
        check(Some(&moved), &erased, &s1),
        Err(Refusal::NotAllowed { entity: Entity::OwnerHistory, op: Op::Delete })
    );
}

#[test]
fn an_approved_visit_is_final_for_its_manager() {
    let mut doc = with_visits(&owned_by_m1(), &[("v1", "M1")]);
    let review = Review {
        decision: ReviewDecision::Approved,
        comment: String::new(),
        reviewer_id: "S1".into(),
        reviewer_name: "S1".into(),
        at: NOW,
    };
    doc.apply(&Action::WriteReview { visit_id: "v1".into(), review }, &ctx("server", Role::Server)).unwrap();
    let abandoned = after(&doc, &Action::AbandonVisit { visit_id: "v1".into() }, ctx("M1", Role::Manager));
    assert_eq!(check(Some(doc.file()), &abandoned, &user("M1", ServerRole::Manager)), Err(Refusal::ApprovedVisit));
}
