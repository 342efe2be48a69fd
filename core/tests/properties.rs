//! Property tests: documents read back exactly what was written, and replicas that exchange the
//! same changes in any order end with identical documents and projections that equal a rebuild.

mod common;

use std::collections::BTreeSet;

use common::*;
use fieldsync_core::document::{CustomerDoc, parse_changes};
use fieldsync_core::domain::*;
use fieldsync_core::store::Store;
use proptest::prelude::*;

const VALID_IDS: [&str; 3] = ["422822196408275665", "11010519491231002X", "330102198001011248"];

fn arb_profile() -> impl Strategy<Value = Profile> {
    (
        prop::sample::select(CustomerKind::ALL),
        "[张王李赵单曾乐a-z]{1,4}",
        prop::option::of("1[3-9][0-9]{9}"),
        prop::option::of(prop::sample::select(&VALID_IDS[..])),
        prop::option::of((prop::option::of(1900i64..2020), 1u8..=12, 1u8..=28, any::<bool>())),
        prop::option::of((-89.0f64..89.0, -179.0f64..179.0, 0.0f64..500.0)),
        prop::collection::btree_set("[a-z养殖贷]{1,4}", 0..4),
        "\\PC{0,30}",
    )
        .prop_map(|(kind, name, phone, id, birthday, loc, tags, notes)| {
            let mut p = Profile::new(kind, name, "韩桥村");
            p.phone = phone;
            p.id_number = if kind == CustomerKind::Corporate { None } else { id.map(String::from) };
            p.birthday =
                birthday.map(|(year, month, day, lunar)| Birthday { year, month, day, lunar, leap_month: false });
            p.location = loc
                .filter(|(lat, lng, _)| (*lat, *lng) != (0.0, 0.0))
                .map(|(lat, lng, accuracy_m)| GeoPoint { lat, lng, accuracy_m });
            p.tags = Tags(tags);
            p.notes = notes;
            p
        })
}

fn arb_details() -> impl Strategy<Value = VisitDetails> {
    (
        "\\PC{0,40}",
        prop::collection::vec("[张王李]{2}", 0..3),
        0i64..100_000,
        prop::option::of(0i64..30),
        prop::collection::btree_set(prop::sample::select(Product::ALL), 0..3),
        prop::collection::btree_set("[0-9a-f]{64}", 0..2),
    )
        .prop_map(|(notes, participants, cost, next_days, products, photos)| VisitDetails {
            participants,
            notes,
            outcome: "有意向".into(),
            products: products.into_iter().collect(),
            next_step: "再访".into(),
            next_contact_at: next_days.map(|d| NOW + d * DAY),
            costs: Costs { transport_fen: cost, gift_fen: cost / 3, other_fen: 0 },
            photos: photos.into_iter().collect(),
            linked_leads: Vec::new(),
        })
}

/// A user operation; `usize` fields pick an existing entity by index (modulo the count).
#[derive(Debug, Clone)]
enum Op {
    Profile(Profile),
    Tag(String),
    Contact(String, Relation, u8),
    RemoveContact(usize),
    Plan(i64),
    Start,
    CheckIn(usize),
    CheckOut(usize, VisitDetails),
    EditVisit(usize, VisitDetails),
    Abandon(usize),
    Lead(Product, i64),
    MoveLead(usize, LeadStage),
    Reminder(ReminderKind, i64),
    CompleteReminder(usize),
    Interaction(InteractionKind, String),
    Claim,
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        arb_profile().prop_map(Op::Profile),
        "[a-z]{1,3}".prop_map(Op::Tag),
        ("[张王李]{2}", prop::sample::select(Relation::ALL), 0u8..=3).prop_map(|(n, r, i)| Op::Contact(n, r, i)),
        any::<usize>().prop_map(Op::RemoveContact),
        (0i64..72).prop_map(Op::Plan),
        Just(Op::Start),
        any::<usize>().prop_map(Op::CheckIn),
        (any::<usize>(), arb_details()).prop_map(|(i, d)| Op::CheckOut(i, d)),
        (any::<usize>(), arb_details()).prop_map(|(i, d)| Op::EditVisit(i, d)),
        any::<usize>().prop_map(Op::Abandon),
        (prop::sample::select(Product::ALL), 0i64..100_000_000).prop_map(|(p, a)| Op::Lead(p, a)),
        (any::<usize>(), prop::sample::select(LeadStage::ALL)).prop_map(|(i, s)| Op::MoveLead(i, s)),
        (prop::sample::select(ReminderKind::ALL), 0i64..60).prop_map(|(k, d)| Op::Reminder(k, d)),
        any::<usize>().prop_map(Op::CompleteReminder),
        (prop::sample::select(InteractionKind::ALL), "\\PC{1,20}").prop_map(|(k, s)| Op::Interaction(k, s)),
        Just(Op::Claim),
    ]
}

fn pick<V>(map: &std::collections::BTreeMap<String, V>, i: usize) -> Option<&String> {
    if map.is_empty() { None } else { map.keys().nth(i % map.len()) }
}

/// Turns an operation into an action against the current state of `file`.
fn to_action(op: &Op, file: &CustomerFile, seq: usize) -> Option<Action> {
    let id = || format!("e{seq:04}-{}", fieldsync_core::ids::new_id());
    Some(match op.clone() {
        Op::Profile(profile) => Action::UpdateProfile { profile },
        Op::Tag(tag) => {
            let mut profile = file.profile.clone();
            profile.tags.0.insert(tag);
            Action::UpdateProfile { profile }
        }
        Op::Contact(name, relation, influence) => Action::UpsertContact {
            contact: Contact {
                id: id(),
                name,
                role: String::new(),
                phone: None,
                relation,
                influence,
                key_decision_maker: influence == 3,
                preferences: String::new(),
                notes: String::new(),
            },
        },
        Op::RemoveContact(i) => Action::RemoveContact { contact_id: pick(&file.contacts, i)?.clone() },
        Op::Plan(h) => Action::PlanVisit {
            visit_id: id(),
            purpose: VisitPurpose::Marketing,
            channel: Channel::Phone,
            planned_at: NOW + h * HOUR,
        },
        Op::Start => Action::StartVisit {
            visit_id: id(),
            purpose: VisitPurpose::Care,
            channel: Channel::InPerson,
            check_in: here(NOW),
        },
        Op::CheckIn(i) => Action::CheckIn { visit_id: pick(&file.visits, i)?.clone(), check_in: here(NOW + HOUR) },
        Op::CheckOut(i, details) => {
            Action::CheckOut { visit_id: pick(&file.visits, i)?.clone(), check_out: here(NOW + 2 * HOUR), details }
        }
        Op::EditVisit(i, details) => Action::UpdateVisit { visit_id: pick(&file.visits, i)?.clone(), details },
        Op::Abandon(i) => Action::AbandonVisit { visit_id: pick(&file.visits, i)?.clone() },
        Op::Lead(product, amount_fen) => Action::AddLead {
            lead: NewLead {
                id: id(),
                product,
                amount_fen,
                source: LeadSource::Referral,
                expected_close: None,
                probability: None,
                visit_id: None,
                notes: String::new(),
                catalog_id: None,
            },
        },
        Op::MoveLead(i, stage) => Action::MoveLead {
            lead_id: pick(&file.leads, i)?.clone(),
            stage,
            lost_reason: (stage == LeadStage::Lost).then(|| "利率高".to_string()),
        },
        Op::Reminder(kind, days) => Action::AddReminder {
            reminder: Reminder { id: id(), kind, due_at: NOW + days * DAY, note: String::new(), done_at: None },
        },
        Op::CompleteReminder(i) => Action::CompleteReminder { reminder_id: pick(&file.reminders, i)?.clone() },
        Op::Interaction(kind, summary) => Action::AddInteraction {
            interaction: Interaction {
                id: id(),
                kind,
                summary,
                at: NOW,
                captured_at: NOW,
                visit_id: None,
                resolved_at: None,
                resolution: None,
            },
        },
        Op::Claim => Action::RequestClaim { intent_id: id() },
    })
}

/// Cases per property run: `default` in CI, or what `FIELDSYNC_PROPTEST_CASES` (else
/// `PROPTEST_CASES`) says, e.g. 100000 for the long mode run on demand.
fn cases(default: u32) -> u32 {
    ["FIELDSYNC_PROPTEST_CASES", "PROPTEST_CASES"]
        .iter()
        .find_map(|name| std::env::var(name).ok()?.trim().parse().ok())
        .unwrap_or(default)
}

fn ctx(user: &str, role: Role) -> Ctx {
    Ctx { user_id: user.into(), user_name: user.into(), role, now: NOW }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(48), failure_persistence: None, ..ProptestConfig::default() })]

    /// Every action's result reads back identically from the saved document, and a refused
    /// action leaves the document as it was.
    #[test]
    fn documents_read_back_what_was_written(profile in arb_profile(), ops in prop::collection::vec(arb_op(), 1..25)) {
        let actor = fieldsync_core::ids::new_actor();
        let create = Action::CreateCustomer { id: "c-1".into(), profile };
        let manager = ctx("M1", Role::Manager);
        let (mut doc, _) = CustomerDoc::create(&actor, &create, &manager).unwrap();
        for (seq, op) in ops.iter().enumerate() {
            let Some(action) = to_action(op, doc.file(), seq) else { continue };
            let before = (doc.heads(), doc.file().clone());
            match doc.apply(&action, &manager) {
                Ok(_) => {}
                Err(_) => prop_assert_eq!((doc.heads(), doc.file().clone()), before),
            }
            let reloaded = CustomerDoc::load("c-1", &doc.save(), &actor).unwrap();
            prop_assert_eq!(reloaded.file(), doc.file());
        }
    }
}

/// Something that happens during the property test below.
#[derive(Debug, Clone)]
enum Event {
    /// Replica `r` (0..3 tablets, 3 = the server) acts on customer `c`.
    Act(usize, usize, Box<Op>),
    /// The server decides something about customer `c`.
    Decide(usize, u8),
    /// Replica `from` sends customer `c` to replica `to`.
    Send(usize, usize, usize),
}

fn arb_event() -> impl Strategy<Value = Event> {
    prop_oneof![
        4 => (0usize..3, 0usize..2, arb_op()).prop_map(|(r, c, op)| Event::Act(r, c, Box::new(op))),
        1 => (0usize..2, any::<u8>()).prop_map(|(c, k)| Event::Decide(c, k)),
        3 => (0usize..4, 0usize..4, 0usize..2).prop_map(|(f, t, c)| Event::Send(f, t, c)),
    ]
}

struct Replicas {
    _dirs: Vec<tempfile::TempDir>,
    tablets: Vec<Store>,
    server: Vec<CustomerDoc>,
    ids: Vec<String>,
}

/// A signed-in store on a RAM file system where there is one. This property is about merging,
/// not durability (the crash tests cover that), and it spent most of its time in fsync: 1,000
/// cases took 266 s on disk and 71 s on /dev/shm (release build, busy 2-core machine).
fn scratch_store(user: &str) -> (tempfile::TempDir, Store) {
    let dir = tempfile::Builder::new()
        .prefix("fieldsync-prop")
        .tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap();
    let mut store = Store::open(dir.path().join("device.db"), None).unwrap();
    store.sign_in(manager(user)).unwrap();
    (dir, store)
}

impl Replicas {
    fn new() -> Self {
        let mut dirs = Vec::new();
        let mut tablets = Vec::new();
        for user in ["M1", "M2", "S1"] {
            let (dir, mut store) = scratch_store(user);
            if user == "S1" {
                store
                    .sign_in(fieldsync_core::store::User {
                        id: "S1".into(),
                        name: "主任".into(),
                        role: Role::Supervisor,
                    })
                    .unwrap();
            }
            dirs.push(dir);
            tablets.push(store);
        }
        let ids: Vec<String> =
            (0..2).map(|i| tablets[0].create_customer(profile(["张三", "李四"][i], "韩桥村"), NOW).unwrap()).collect();
        let actor = fieldsync_core::ids::new_actor();
        let server = ids
            .iter()
            .map(|id| CustomerDoc::load(id, &tablets[0].document_changes(id).unwrap(), &actor).unwrap())
            .collect();
        let mut r = Replicas { _dirs: dirs, tablets, server, ids };
        for c in 0..2 {
            for t in 1..3 {
                r.send(0, t, c);
            }
        }
        r
    }

    fn changes(&mut self, from: usize, c: usize) -> Option<Vec<u8>> {
        if from == 3 {
            return Some(self.server[c].changes_since(&[]));
        }
        self.tablets[from].document_changes(&self.ids[c]).ok()
    }

    fn send(&mut self, from: usize, to: usize, c: usize) {
        if from == to {
            return;
        }
        let Some(bytes) = self.changes(from, c) else { return };
        let id = self.ids[c].clone();
        if to == 3 {
            self.server[c].merge(&id, parse_changes(&bytes).unwrap()).unwrap();
        } else {
            self.tablets[to].merge(&id, &bytes).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(1000), failure_persistence: None, ..ProptestConfig::default() })]

    /// Three tablets and the server edit the same two customers concurrently and exchange
    /// changes in random order; after everyone has everything, all hold identical documents and
    /// identical projections, and the projections equal a rebuild from the documents.
    #[test]
    fn replicas_converge(events in prop::collection::vec(arb_event(), 1..40)) {
        let mut r = Replicas::new();
        for (seq, event) in events.iter().enumerate() {
            match event {
                Event::Act(t, c, op) => {
                    let id = r.ids[*c].clone();
                    let file = r.tablets[*t].customer_file(&id).unwrap();
                    if let Some(action) = to_action(op, &file, seq) {
                        let before = r.tablets[*t].projection_dump().unwrap();
                        if r.tablets[*t].apply(&id, &action, NOW).is_err() {
                            prop_assert_eq!(r.tablets[*t].projection_dump().unwrap(), before);
                            prop_assert_eq!(r.tablets[*t].customer_file(&id).unwrap(), file);
                        }
                    }
                }
                Event::Decide(c, k) => {
                    let doc = &mut r.server[*c];
                    let action = match k % 4 {
                        0 => Action::assign(Owner { manager_id: Some(format!("M{}", k % 2 + 1)), manager_name: None }),
                        1 => Action::SetValueTier { tier: Some(ValueTier::ALL[*k as usize % ValueTier::ALL.len()]), as_of: None },
                        2 => Action::SetLifecycle { lifecycle: Some(Lifecycle::ALL[*k as usize % Lifecycle::ALL.len()]) },
                        _ => match pick(&doc.file().visits, *k as usize) {
                            Some(visit_id) => Action::WriteReview {
                                visit_id: visit_id.clone(),
                                review: Review { decision: ReviewDecision::Returned, comment: "补充".into(), reviewer_id: "S1".into(), reviewer_name: "主任".into(), at: NOW },
                            },
                            None => continue,
                        },
                    };
                    doc.apply(&action, &ctx("server", Role::Server)).unwrap();
                }
                Event::Send(from, to, c) => r.send(*from, *to, *c),
            }
        }
        // Everyone sends everything to the server, then the server to everyone.
        for c in 0..2 {
            for t in 0..3 { r.send(t, 3, c); }
            for t in 0..3 { r.send(3, t, c); }
        }
        let expected_dump = r.tablets[0].projection_dump().unwrap();
        for c in 0..2 {
            let id = r.ids[c].clone();
            let server_file = r.server[c].file().clone();
            let server_heads: BTreeSet<_> = r.server[c].heads().into_iter().collect();
            for t in 0..3 {
                prop_assert_eq!(&r.tablets[t].customer_file(&id).unwrap(), &server_file);
                let heads: BTreeSet<_> = r.tablets[t].heads(&id).unwrap().into_iter().collect();
                prop_assert_eq!(&heads, &server_heads);
            }
        }
        for t in 0..3 {
            prop_assert_eq!(&r.tablets[t].projection_dump().unwrap(), &expected_dump);
            r.tablets[t].rebuild_projections().unwrap();
            prop_assert_eq!(&r.tablets[t].projection_dump().unwrap(), &expected_dump);
        }
    }
}
