//! The screens' queries: today's plan, follow-ups, reminders, leads and the funnel, paging.

mod common;

use common::*;
use fieldsync_core::Error;
use fieldsync_core::domain::*;
use fieldsync_core::store::CustomerFilter;

fn new_lead(id: &str, product: Product, amount_fen: i64) -> Action {
    Action::AddLead {
        lead: NewLead {
            id: id.into(),
            product,
            amount_fen,
            source: LeadSource::Visit,
            expected_close: Some(NOW + 30 * DAY),
            probability: None,
            visit_id: None,
            notes: String::new(),
            catalog_id: None,
        },
    }
}

#[test]
fn todays_plan_has_planned_and_in_progress_visits_of_the_day() {
    let (_dir, mut store) = store("M1");
    let a = store.create_customer(profile("张三", "韩桥村"), NOW).unwrap();
    let b = store.create_customer(profile("李四", "张坪村"), NOW).unwrap();
    let plan = |id: &str, at: i64| Action::PlanVisit {
        visit_id: id.into(),
        purpose: VisitPurpose::FollowUp,
        channel: Channel::InPerson,
        planned_at: at,
    };
    store.apply(&a, &plan("today-late", NOW + 5 * HOUR), NOW).unwrap();
    store.apply(&b, &plan("today-early", NOW + HOUR), NOW).unwrap();
    store.apply(&a, &plan("tomorrow", NOW + DAY + HOUR), NOW).unwrap();
    store.apply(&b, &plan("abandoned", NOW + 2 * HOUR), NOW).unwrap();
    store.apply(&b, &Action::AbandonVisit { visit_id: "abandoned".into() }, NOW).unwrap();
    store.apply(&a, &plan("yesterday", NOW - DAY), NOW).unwrap();
    store.apply(&a, &Action::CheckIn { visit_id: "yesterday".into(), check_in: here(NOW) }, NOW).unwrap();

    let day: Vec<String> = store.todays_plan(NOW, NOW + DAY).unwrap().into_iter().map(|v| v.visit_id).collect();
    assert_eq!(day, vec!["yesterday", "today-early", "today-late"]);
    let first = &store.todays_plan(NOW, NOW + DAY).unwrap()[0];
    assert_eq!(first.status, VisitStatus::InProgress);
    assert_eq!(first.customer_name, "张三");

    // Another manager's plan is not mine.
    store.sign_in(manager("M2")).unwrap();
    assert!(store.todays_plan(NOW, NOW + DAY).unwrap().is_empty());
}

#[test]
fn overdue_follow_ups_come_from_the_latest_completed_visit() {
    let (_dir, mut store) = store("M1");
    let a = store.create_customer(profile("张三", "韩桥村"), NOW).unwrap();
    let b = store.create_customer(profile("李四", "韩桥村"), NOW).unwrap();
    complete_visit(&mut store, &a, NOW - 20 * DAY, "旧"); // next contact NOW + 7 days (from details())
    let v = complete_visit(&mut store, &b, NOW - 10 * DAY, "旧");
    let mut d = details("改期");
    d.next_contact_at = Some(NOW - 3 * DAY);
    store.apply(&b, &Action::UpdateVisit { visit_id: v, details: d }, NOW).unwrap();
    let overdue = store.overdue_follow_ups(NOW, 10, None).unwrap();
    assert_eq!(overdue.items.iter().map(|c| c.customer_id.clone()).collect::<Vec<_>>(), vec![b.clone()]);
    let later = store.overdue_follow_ups(NOW + 8 * DAY, 1, None).unwrap();
    assert_eq!(later.items[0].customer_id, b);
    let rest = store.overdue_follow_ups(NOW + 8 * DAY, 1, later.next.as_deref()).unwrap();
    assert_eq!(rest.items[0].customer_id, a);
    assert!(rest.next.is_none());
}

#[test]
fn upcoming_reminders_skip_done_ones() {
    let (_dir, mut store) = store("M1");
    let a = store.create_customer(profile("张三", "韩桥村"), NOW).unwrap();
    let reminder = |id: &str, kind, due_at| Action::AddReminder {
        reminder: Reminder { id: id.into(), kind, due_at, note: "到期".into(), done_at: None },
    };
    store.apply(&a, &reminder("r1", ReminderKind::Maturity, NOW + 2 * DAY), NOW).unwrap();
    store.apply(&a, &reminder("r2", ReminderKind::Birthday, NOW + DAY), NOW).unwrap();
    store.apply(&a, &reminder("r3", ReminderKind::Repayment, NOW + 40 * DAY), NOW).unwrap();
    store.apply(&a, &reminder("r4", ReminderKind::FollowUp, NOW - DAY), NOW).unwrap();
    store.apply(&a, &Action::CompleteReminder { reminder_id: "r4".into() }, NOW).unwrap();
    let due = store.upcoming_reminders(NOW + 30 * DAY, 50, None).unwrap();
    let ids: Vec<_> = due.items.iter().map(|r| r.reminder_id.as_str()).collect();
    assert_eq!(ids, ["r2", "r1"]);
    assert_eq!(due.items[0].kind, ReminderKind::Birthday);
    let err = store.apply(&a, &Action::CompleteReminder { reminder_id: "r4".into() }, NOW).unwrap_err();
    assert!(matches!(err, Error::Transition { entity: "reminder", .. }));
}

#[test]
fn open_leads_and_the_funnel() {
    let (_dir, mut store) = store("M1");
    let a = store.create_customer(profile("张三", "韩桥村"), NOW).unwrap();
    let b = store.create_customer(profile("李四", "韩桥村"), NOW).unwrap();
    store.apply(&a, &new_lead("l1", Product::Loan, 30_000_000), NOW).unwrap();
    store.apply(&a, &new_lead("l2", Product::Deposit, 5_000_000), NOW).unwrap();
    store.apply(&b, &new_lead("l3", Product::Wealth, 10_000_000), NOW).unwrap();
    store.apply(&b, &new_lead("l4", Product::Card, 0), NOW).unwrap();
    let mv = |id: &str, stage| Action::MoveLead { lead_id: id.into(), stage, lost_reason: None };
    store.apply(&a, &mv("l1", LeadStage::Qualified), NOW).unwrap();
    store.apply(&b, &mv("l4", LeadStage::Won), NOW).unwrap();
    let lost = Action::MoveLead { lead_id: "l2".into(), stage: LeadStage::Lost, lost_reason: Some("利率".into()) };
    store.apply(&a, &lost, NOW).unwrap();

    let open = store.open_leads(None, 50, None).unwrap();
    assert_eq!(open.items.iter().map(|l| l.lead_id.as_str()).collect::<Vec<_>>(), ["l1", "l3"]);
    let qualified = store.open_leads(Some(LeadStage::Qualified), 50, None).unwrap();
    assert_eq!(qualified.items.len(), 1);
    assert_eq!(qualified.items[0].probability, 40);
    assert!(matches!(store.open_leads(Some(LeadStage::Won), 50, None), Err(Error::Invalid(_))));
    // Paging: one per page, largest amount first.
    let p1 = store.open_leads(None, 1, None).unwrap();
    let p2 = store.open_leads(None, 1, p1.next.as_deref()).unwrap();
    assert_eq!((p1.items[0].lead_id.as_str(), p2.items[0].lead_id.as_str()), ("l1", "l3"));
    assert!(p2.next.is_none());

    let funnel = store.funnel().unwrap();
    let at = |s: LeadStage| funnel.iter().find(|f| f.stage == s).unwrap().clone();
    assert_eq!((at(LeadStage::New).count, at(LeadStage::New).amount_fen), (1, 10_000_000));
    assert_eq!((at(LeadStage::Qualified).count, at(LeadStage::Qualified).amount_fen), (1, 30_000_000));
    assert_eq!(at(LeadStage::Won).count, 1);
    assert_eq!((at(LeadStage::Lost).count, at(LeadStage::Lost).amount_fen), (1, 5_000_000));
    assert_eq!(funnel.len(), LeadStage::ALL.len());
}

#[test]
fn customer_lists_filter_and_page() {
    let (_dir, mut store) = store("M1");
    let names = ["张三", "赵四", "安平", "单丽", "王五", "李六"];
    for (i, n) in names.iter().enumerate() {
        let village = if i % 2 == 0 { "韩桥村" } else { "张坪村" };
        store.create_customer(profile(n, village), NOW).unwrap();
    }
    // Pages of two, sorted by the usual pinyin: an ping, dan li, li liu, wang wu, zhang san, zhao si.
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store.customers(&CustomerFilter::default(), 2, cursor.as_deref()).unwrap();
        assert!(page.items.len() <= 2);
        all.extend(page.items.into_iter().map(|c| c.name));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(all, ["安平", "单丽", "李六", "王五", "张三", "赵四"]);
    let village = CustomerFilter { village: Some("张坪村".into()), ..Default::default() };
    let in_village: Vec<_> = store.customers(&village, 50, None).unwrap().items.into_iter().map(|c| c.name).collect();
    assert_eq!(in_village, ["单丽", "李六", "赵四"]);
    // Heteronyms: 单 is found as dan and as shan.
    for q in ["dl", "sl"] {
        let f = CustomerFilter { search: Some(q.into()), ..Default::default() };
        assert_eq!(store.customers(&f, 50, None).unwrap().items[0].name, "单丽", "{q}");
    }
    // A manager's new customers are theirs from the start, offline too.
    let mine = CustomerFilter { owner: Some(Some("M1".into())), ..Default::default() };
    assert_eq!(store.customers(&mine, 50, None).unwrap().items.len(), 6);
    let pool = CustomerFilter { owner: Some(None), ..Default::default() };
    assert!(store.customers(&pool, 50, None).unwrap().items.is_empty());
    let tier = CustomerFilter { tier: Some(ValueTier::High), ..Default::default() };
    assert!(store.customers(&tier, 50, None).unwrap().items.is_empty());
    // A forged cursor is a typed error, not a panic; a page size of 0 is clamped.
    assert!(matches!(store.customers(&CustomerFilter::default(), 2, Some("garbage")), Err(Error::Invalid(_))));
    assert!(matches!(store.overdue_follow_ups(NOW, 2, Some("x\u{1}y")), Err(Error::Invalid(_))));
    assert_eq!(store.customers(&CustomerFilter::default(), 0, None).unwrap().items.len(), 1);
}

#[test]
fn search_ranks_exact_matches_first_and_pages_through_ranks() {
    let (_dir, mut store) = store("M1");
    // Names that "zs" finds in three ways: exactly (张三, initials), from the start (张三丰),
    // inside (李张松: 张松 from the second character).
    for (name, phone) in
        [("李张松", "13900000001"), ("张三丰", "13900000002"), ("张三", "13900000003"), ("王五", "13912345678")]
    {
        let mut p = profile(name, "韩桥村");
        p.phone = Some(phone.into());
        store.create_customer(p, NOW).unwrap();
    }
    let names = |q: &str, page: u32| {
        let f = CustomerFilter { search: Some(q.into()), ..Default::default() };
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let got = store.customers(&f, page, cursor.as_deref()).unwrap();
            all.extend(got.items.into_iter().map(|c| c.name));
            match got.next {
                Some(next) => cursor = Some(next),
                None => return all,
            }
        }
    };
    for page in [1, 2, 50] {
        assert_eq!(names("zs", page), ["张三", "张三丰", "李张松"], "page of {page}");
    }
    assert_eq!(names("zhang san", 50), ["张三", "张三丰"]);
    assert_eq!(names("张s", 50), ["张三", "张三丰", "李张松"]);
    // Phone digits anywhere in the number; the whole number first.
    assert_eq!(names("1234", 50), ["王五"]);
    assert_eq!(names("13900000003", 50), ["张三"]);
    // Equal ranks come by pinyin (li zhang song, zhang san, zhang san feng), across pages of one.
    assert_eq!(names("0000000", 1), ["李张松", "张三", "张三丰"]);
    assert!(names("qqq", 50).is_empty());
}

#[test]
fn the_360_view_orders_visits_newest_first_and_shows_reviews() {
    let (_dir, mut store) = store("M1");
    let a = store.create_customer(profile("张三", "韩桥村"), NOW).unwrap();
    let old = complete_visit(&mut store, &a, NOW - 10 * DAY, "旧");
    let new = complete_visit(&mut store, &a, NOW - DAY, "新");
    let contact = Contact {
        id: "c1".into(),
        name: "张妻".into(),
        role: String::new(),
        phone: Some("13700001111".into()),
        relation: Relation::Spouse,
        influence: 3,
        key_decision_maker: true,
        preferences: "不喜欢电话打扰".into(),
        notes: String::new(),
    };
    store.apply(&a, &Action::UpsertContact { contact }, NOW).unwrap();
    // A review written at the branch arrives as a change from the server.
    let mut server = fieldsync_core::document::CustomerDoc::load(
        &a,
        &store.document_changes(&a).unwrap(),
        &fieldsync_core::ids::new_actor(),
    )
    .unwrap();
    let srv = Ctx { user_id: "S1".into(), user_name: "主任".into(), role: Role::Server, now: NOW };
    let review = Review {
        decision: ReviewDecision::Returned,
        comment: "请补充照片".into(),
        reviewer_id: "S1".into(),
        reviewer_name: "主任".into(),
        at: NOW,
    };
    let heads = store.heads(&a).unwrap();
    server.apply(&Action::WriteReview { visit_id: old.clone(), review }, &srv).unwrap();
    store.merge(&a, &server.changes_since(&heads)).unwrap();

    let view = store.customer_360(&a).unwrap();
    assert_eq!(view.visits.iter().map(|v| v.id.clone()).collect::<Vec<_>>(), vec![new, old.clone()]);
    assert_eq!(view.contacts[0].relation, Relation::Spouse);
    assert_eq!(view.reviews.len(), 1);
    assert_eq!(view.reviews[0].0, old);
    assert_eq!(view.reviews[0].1.comment, "请补充照片");
    // The review is also in the visit projection, for "returned" badges in lists.
    assert!(store.projection_dump().unwrap().iter().any(|r| r.contains("returned")));
}

#[test]
fn purge_removes_a_customer_that_left_scope() {
    let (_dir, mut store) = store("M1");
    let a = store.create_customer(profile("张三", "韩桥村"), NOW).unwrap();
    complete_visit(&mut store, &a, NOW, "x");
    assert!(store.purge(&a).unwrap());
    assert!(store.projection_dump().unwrap().is_empty());
    assert!(matches!(store.customer_360(&a), Err(Error::NotFound { .. })));
    assert!(!store.purge(&a).unwrap());
    store.create_customer(profile("李四", "韩桥村"), NOW).unwrap();
}

#[test]
fn a_second_file_with_the_same_id_number_or_phone_is_flagged_however_it_was_typed() {
    use fieldsync_core::store::DuplicateField;
    let (_dir, mut store) = store("M1");
    // Profiles with nothing in common but what each case sets.
    let profile = |name: &str, village: &str| {
        let mut p = profile(name, village);
        p.phone = None;
        p.id_number = None;
        p
    };
    let mut first = profile("杨桂敏", "韩桥村");
    first.phone = Some("13812345678".into());
    first.id_number = Some("11010519491231002X".into());
    let a = store.create_customer(first, NOW).unwrap();
    let mut other = profile("王五", "韩桥村");
    other.phone = Some("13900000000".into());
    store.create_customer(other, NOW).unwrap();

    // The form checks what was typed, before saving: spaces, +86, a lower-case x.
    let mut typed = profile("杨桂敏", "张坪村");
    typed.id_number = Some(" 11010519491231002x".into());
    let found = store.possible_duplicates(&typed).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].customer_id.as_str(), found[0].matched), (a.as_str(), DuplicateField::IdNumber));
    let mut typed = profile("杨桂民", "张坪村");
    typed.phone = Some("+86 138-1234-5678".into());
    let found = store.possible_duplicates(&typed).unwrap();
    assert_eq!((found.len(), found[0].matched), (1, DuplicateField::Phone));
    assert_eq!(found[0].phone_masked.as_deref(), Some("138****5678"), "a list shows the phone masked");
    typed.phone = Some("13700000000".into());
    assert!(store.possible_duplicates(&typed).unwrap().is_empty());

    // Saved anyway (a manager may know better), each file flags the other.
    let mut second = profile("杨桂敏", "张坪村");
    second.phone = Some("+86 138 1234 5678".into());
    let b = store.create_customer(second, NOW).unwrap();
    let view = store.customer_360(&b).unwrap();
    assert_eq!(view.duplicates.iter().map(|d| d.customer_id.clone()).collect::<Vec<_>>(), vec![a.clone()]);
    assert_eq!(store.customer_360(&a).unwrap().duplicates[0].customer_id, b);
}

#[test]
fn lists_filter_by_a_tag_given_by_hand() {
    let (_dir, mut store) = store("M1");
    let mut tagged = profile("张三", "韩桥村");
    tagged.tags.0.insert("种植大户".into());
    let a = store.create_customer(tagged, NOW).unwrap();
    store.create_customer(profile("李四", "韩桥村"), NOW).unwrap();
    let by = |tag: &str| CustomerFilter { tag: Some(tag.into()), ..Default::default() };
    let found: Vec<String> =
        store.customers(&by("种植大户"), 50, None).unwrap().items.into_iter().map(|c| c.customer_id).collect();
    assert_eq!(found, vec![a]);
    assert!(store.customers(&by("养殖户"), 50, None).unwrap().items.is_empty());
    assert!(store.customers(&by("%"), 50, None).unwrap().items.is_empty(), "a tag is compared, never a pattern");
}
