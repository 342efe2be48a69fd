//! Authorization property test: random (writer, customer state, operation) tuples, each forged as a
//! tampered app would (the core builds the change with whatever role lets it), pushed through the
//! server's real sync handler on a real SQLite store, and compared with a small reference model of
//! the write policy written here from issue 11's words (not from the policy module): the answer
//! (accepted, not found, or the refusal code) and the stored state (changed as pushed, or not at
//! all).
//!
//! Cases: `FIELDSYNC_AUTHZ_CASES` (default 10,000). The store is built once; each case runs on it
//! and the store is then restored from an in-memory copy of every table.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::Instant;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjType, ROOT, ReadDoc};
use fieldsync_core::document::{CustomerDoc, parse_changes};
use fieldsync_core::domain::{
    Action, Channel, CheckPoint, Contact, Ctx, CustomerFile, CustomerKind, GeoPoint, LeadSource, Lifecycle,
    LocationProvider, NewLead, Owner, Product, Profile, Relation as ContactRelation, Review, ReviewDecision,
    Role as DomainRole, ValueTier, VisitDetails, VisitPurpose,
};
use fieldsync_core::ids::{new_actor, new_id};
use fieldsync_core::sync::protocol::{DocChanges, PushOutcome, SyncRequest};
use fieldsync_server::accounts::{self, Device, NewUser, Role, User};
use fieldsync_server::customers;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rusqlite::Connection;

const NOW: i64 = 1_753_056_000_000;

// ---------------------------------------------------------------------------------------------
// The tuples.
// ---------------------------------------------------------------------------------------------

/// Writers: managers, a supervisor and an admin of this branch (b1); the same of another (b2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Who {
    M1,
    M2,
    Sup,
    Admin,
    M3,
    Sup2,
    Admin2,
}

const WHO: [Who; 7] = [Who::M1, Who::M2, Who::Sup, Who::Admin, Who::M3, Who::Sup2, Who::Admin2];

impl Who {
    fn role(self) -> Role {
        match self {
            Who::M1 | Who::M2 | Who::M3 => Role::Manager,
            Who::Sup | Who::Sup2 => Role::Supervisor,
            Who::Admin | Who::Admin2 => Role::Admin,
        }
    }

    fn in_b1(self) -> bool {
        matches!(self, Who::M1 | Who::M2 | Who::Sup | Who::Admin)
    }
}

/// A customer of branch b1 as it stands before the change (all created by m1), or one new to the
/// server (created by the writer on their tablet, pushed with the change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum State {
    OwnedByM1,
    OwnedByM2,
    Pool,
    Closed,
    Deleted,
    New,
}

const STATES: [State; 6] = [State::OwnedByM1, State::OwnedByM2, State::Pool, State::Closed, State::Deleted, State::New];

/// The edits a tablet could push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    ProfileEdit,
    ContactAdd,
    ContactEdit,
    ContactDelete,
    VisitAdd,
    VisitEditOwn,
    VisitEditOthers,
    VisitDeleteOwn,
    VisitDeleteOthers,
    LeadAdd,
    LeadEdit,
    ReviewBySelf,
    ReviewSignedByOther,
    /// A manager of branch b1 other than the writer (m2, or m1 when m2 writes or already owns it).
    OwnerBranchManager,
    /// m3, a manager of branch b2.
    OwnerOtherBranch,
    OwnerNone,
    /// The admin of branch b1.
    OwnerAdmin,
    /// The writer themselves, under their display name.
    OwnerSelf,
    Lifecycle,
    ValueTier,
    ClaimOwn,
    ClaimOthers,
    ClaimDelete,
}

const OPS: [Op; 23] = [
    Op::ProfileEdit,
    Op::ContactAdd,
    Op::ContactEdit,
    Op::ContactDelete,
    Op::VisitAdd,
    Op::VisitEditOwn,
    Op::VisitEditOthers,
    Op::VisitDeleteOwn,
    Op::VisitDeleteOthers,
    Op::LeadAdd,
    Op::LeadEdit,
    Op::ReviewBySelf,
    Op::ReviewSignedByOther,
    Op::OwnerBranchManager,
    Op::OwnerOtherBranch,
    Op::OwnerNone,
    Op::OwnerAdmin,
    Op::OwnerSelf,
    Op::Lifecycle,
    Op::ValueTier,
    Op::ClaimOwn,
    Op::ClaimOthers,
    Op::ClaimDelete,
];

// ---------------------------------------------------------------------------------------------
// The reference model, from the issue's words.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Accepted,
    NotFound,
    Refused(&'static str),
    Other(String),
}

/// What the server must answer `who` pushing `op` on a customer in `state`.
fn model(who: Who, state: State, op: Op) -> Answer {
    use Answer::*;
    // Another branch's customer, or a deleted one, is answered as if it did not exist.
    if state == State::Deleted || (state != State::New && !who.in_b1()) {
        return NotFound;
    }
    // Value tiers are the server's alone, whoever asks.
    if op == Op::ValueTier {
        return Refused("server_decided");
    }
    // Nothing but a contact is ever deleted (visits and claims are history).
    if matches!(op, Op::VisitDeleteOwn | Op::VisitDeleteOthers | Op::ClaimDelete) {
        return Refused("not_allowed");
    }
    let decision = matches!(
        op,
        Op::OwnerBranchManager
            | Op::OwnerOtherBranch
            | Op::OwnerNone
            | Op::OwnerAdmin
            | Op::OwnerSelf
            | Op::Lifecycle
            | Op::ReviewBySelf
            | Op::ReviewSignedByOther
    );
    if who.role() == Role::Manager {
        // A manager's new customer may name its creator as owner; otherwise owners, lifecycles
        // and reviews are decided by the server (for supervisors).
        let names_writer = op == Op::OwnerSelf || (op == Op::OwnerOtherBranch && who == Who::M3);
        if names_writer && state == State::New {
            return Accepted;
        }
        if decision {
            return Refused("server_decided");
        }
        let serves =
            state == State::New || matches!((who, state), (Who::M1, State::OwnedByM1) | (Who::M2, State::OwnedByM2));
        return match state {
            State::Closed => Refused("customer_closed"),
            // On a pool customer a manager only adds their own claim.
            State::Pool => match op {
                Op::ClaimOwn => Accepted,
                Op::ClaimOthers => Refused("forged_author"),
                _ => Refused("not_your_customer"),
            },
            _ if !serves => Refused("not_your_customer"),
            _ => match op {
                Op::VisitEditOthers => Refused("others_visit"),
                // Claims are for pool customers.
                Op::ClaimOwn | Op::ClaimOthers => Refused("not_allowed"),
                _ => Accepted,
            },
        };
    }
    // Supervisors and admins: owners among the branch's managers (or the pool), lifecycles,
    // reviews signed by themselves, even on a closed customer; their own visits (accompanied
    // visits) on open ones; and what they put in a customer they create.
    let writer_in_b1 = who.in_b1();
    match op {
        Op::OwnerNone => Accepted,
        Op::OwnerBranchManager if writer_in_b1 => Accepted,
        Op::OwnerOtherBranch if !writer_in_b1 => Accepted,
        // Supervisors and admins own no customers.
        Op::OwnerBranchManager | Op::OwnerOtherBranch | Op::OwnerAdmin | Op::OwnerSelf => Refused("unknown_owner"),
        Op::Lifecycle | Op::ReviewBySelf => Accepted,
        Op::ReviewSignedByOther => Refused("forged_author"),
        _ if state == State::Closed => Refused("customer_closed"),
        Op::VisitAdd | Op::VisitEditOwn => Accepted,
        Op::VisitEditOthers => Refused("others_visit"),
        Op::ProfileEdit | Op::ContactAdd if state == State::New => Accepted,
        _ => Refused("not_allowed"),
    }
}

// ---------------------------------------------------------------------------------------------
// The world: a real store, real users and devices, one customer per state.
// ---------------------------------------------------------------------------------------------

struct Person {
    user: User,
    device: Device,
    actor: ActorId,
}

/// The one record a base document holds besides its profile and server fields: each customer is
/// as small as the operation on it allows, since hydrating a document is most of a case's cost
/// in a debug build, and the policy's answer for one record does not depend on the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Holds {
    Nothing,
    Contact,
    Lead,
    /// m2's claim.
    Claim,
    /// A visit recorded by this person.
    VisitOf(Who),
}

const HOLDS: [Holds; 8] = [
    Holds::Nothing,
    Holds::Contact,
    Holds::Lead,
    Holds::Claim,
    Holds::VisitOf(Who::M1),
    Holds::VisitOf(Who::M2),
    Holds::VisitOf(Who::Sup),
    Holds::VisitOf(Who::Admin),
];

/// The other manager of branch b1, whose records `who` may not touch.
fn other_manager(who: Who) -> Who {
    if who == Who::M2 { Who::M1 } else { Who::M2 }
}

/// The base document an operation runs on.
fn holds(who: Who, op: Op) -> Holds {
    match op {
        Op::ContactEdit | Op::ContactDelete => Holds::Contact,
        Op::LeadEdit => Holds::Lead,
        Op::ClaimDelete => Holds::Claim,
        // Another branch's writer has no visit here: "theirs" is m1's, for the forging only.
        Op::VisitEditOwn | Op::VisitDeleteOwn if who.in_b1() => Holds::VisitOf(who),
        Op::VisitEditOwn | Op::VisitDeleteOwn => Holds::VisitOf(Who::M1),
        Op::VisitEditOthers | Op::VisitDeleteOthers => Holds::VisitOf(other_manager(who)),
        Op::ReviewBySelf | Op::ReviewSignedByOther => Holds::VisitOf(Who::M2),
        _ => Holds::Nothing,
    }
}

/// What every case reads: the people and the base customers (the store itself is per thread).
struct World {
    people: HashMap<Who, Person>,
    /// Per existing state and record held: the customer's ID and its document as stored.
    customers: HashMap<(State, Holds), (String, Vec<u8>)>,
    /// The records' IDs (the same in every customer of b1, all created by m1 but the visits).
    contact: String,
    lead: String,
    claim: String,
    visits: HashMap<Who, String>,
    /// The log's head after the set-up: cases pull from there.
    cursor: u64,
}

/// One thread's copy of the store, and every table's rows after the set-up to restore.
struct Store {
    conn: Connection,
    tables: Vec<String>,
}

fn open(path: &std::path::Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    // The server's pragmas but `synchronous`: durability is not under test, and an fsync per
    // case would make 10,000 cases take minutes.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 60000;",
    )
    .unwrap();
    conn
}

impl Store {
    /// A copy of the set-up store at `path`, for one thread.
    fn copy_of(path: &std::path::Path, n: usize) -> Store {
        let copy = path.with_file_name(format!("server-{n}.db"));
        std::fs::copy(path, &copy).unwrap();
        let conn = open(&copy);
        let tables = keep_tables(&conn);
        Store { conn, tables }
    }
}

fn here(at: i64) -> CheckPoint {
    CheckPoint {
        at,
        position: GeoPoint { lat: 30.59, lng: 114.30, accuracy_m: 12.0 },
        provider: LocationProvider::Gps,
        mock_location: false,
    }
}

fn ctx(p: &Person, role: DomainRole) -> Ctx {
    Ctx { user_id: p.user.id.clone(), user_name: p.user.display_name.clone(), role, now: NOW }
}

fn contact(id: &str, notes: &str) -> Contact {
    Contact {
        id: id.to_string(),
        name: "王会计".into(),
        role: "财务".into(),
        phone: None,
        relation: ContactRelation::Other,
        influence: 1,
        key_decision_maker: false,
        preferences: String::new(),
        notes: notes.into(),
    }
}

fn record_visit(visit_id: &str) -> Action {
    Action::RecordVisit {
        visit_id: visit_id.to_string(),
        purpose: VisitPurpose::FollowUp,
        channel: Channel::InPerson,
        check_in: here(NOW - 3_600_000),
        check_out: here(NOW - 60_000),
        details: VisitDetails { notes: "走访".into(), ..Default::default() },
    }
}

fn new_lead(id: &str) -> NewLead {
    NewLead {
        id: id.to_string(),
        product: Product::Loan,
        amount_fen: 5_000_000,
        source: LeadSource::Visit,
        expected_close: None,
        probability: None,
        visit_id: None,
        notes: String::new(),
        catalog_id: None,
    }
}

fn apply(doc: &mut CustomerDoc, action: &Action, ctx: &Ctx) {
    doc.apply(action, ctx).unwrap().expect("the set-up action changes the document");
}

impl World {
    /// Builds the store at `path` (closed again, whole, when this returns) and the world.
    fn build(path: &std::path::Path) -> World {
        let mut conn = open(path);
        fieldsync_server::store::schema::migrate(&mut conn).unwrap();
        let b1 = accounts::create_branch(&conn, "城关支行", 0, "test").unwrap();
        let b2 = accounts::create_branch(&conn, "河口支行", 0, "test").unwrap();
        let specs = [
            (Who::M1, "m1", "王建国"),
            (Who::M2, "m2", "李秀英"),
            (Who::Sup, "sup", "张主任"),
            (Who::Admin, "admin", "钱行长"),
            (Who::M3, "m3", "周经理"),
            (Who::Sup2, "sup2", "赵主任"),
            (Who::Admin2, "admin2", "孙行长"),
        ];
        // Each user costs a password hash: two at a time, on their own connections.
        let ids: Vec<(Who, String)> = std::thread::scope(|s| {
            let threads: Vec<_> = specs
                .chunks(4)
                .map(|chunk| {
                    let (b1, b2) = (&b1, &b2);
                    s.spawn(move || {
                        let conn = open(path);
                        chunk
                            .iter()
                            .map(|&(who, username, name)| {
                                let branch_id = if who.in_b1() { b1 } else { b2 };
                                let new = NewUser {
                                    branch_id,
                                    outlet_id: None,
                                    username,
                                    display_name: name,
                                    role: who.role(),
                                    password: "authz-password-1",
                                };
                                (who, accounts::create_user(&conn, &new, 0, "test").unwrap())
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            threads.into_iter().flat_map(|t| t.join().unwrap()).collect()
        });
        let mut people = HashMap::new();
        for (who, id) in ids {
            let user = accounts::user_by_id(&conn, &id).unwrap().unwrap();
            let (device_id, actor) = (new_id(), new_actor());
            accounts::register_device(&conn, &user, &device_id, &actor, NOW).unwrap();
            let device =
                Device { id: device_id, actors: vec![actor.clone()], clock_offset_ms: None, app_version: None };
            people.insert(who, Person { user, device, actor });
        }

        // One customer per existing state and record held, written by their authors through the
        // core and stored as the server stores imports.
        let (contact_id, lead_id, claim_id) = (new_id(), new_id(), new_id());
        let visits: HashMap<Who, String> =
            [Who::M1, Who::M2, Who::Sup, Who::Admin].into_iter().map(|w| (w, new_id())).collect();
        let setup_actor = new_actor();
        let mut customers = HashMap::new();
        let existing = [State::OwnedByM1, State::OwnedByM2, State::Pool, State::Closed, State::Deleted];
        for (state, held) in existing.into_iter().flat_map(|s| HOLDS.map(|h| (s, h))) {
            let id = new_id();
            let m1 = &people[&Who::M1];
            let create = Action::CreateCustomer {
                id: id.clone(),
                profile: Profile::new(CustomerKind::Individual, "杨桂敏", "韩桥村"),
            };
            // Created by m1 with no owner yet: the set-up gives each state its owner.
            let (mut doc, _) = CustomerDoc::create(&setup_actor, &create, &ctx(m1, DomainRole::Server)).unwrap();
            let record = match held {
                Holds::Nothing => None,
                Holds::Contact => Some((Action::UpsertContact { contact: contact(&contact_id, "") }, Who::M1)),
                Holds::Lead => Some((Action::AddLead { lead: new_lead(&lead_id) }, Who::M1)),
                Holds::Claim => Some((Action::RequestClaim { intent_id: claim_id.clone() }, Who::M2)),
                Holds::VisitOf(who) => Some((record_visit(&visits[&who]), who)),
            };
            if let Some((action, author)) = record {
                apply(&mut doc, &action, &ctx(&people[&author], DomainRole::Server));
            }
            let owner_of = |who: Who| Owner {
                manager_id: Some(people[&who].user.id.clone()),
                manager_name: Some(people[&who].user.display_name.clone()),
            };
            let server = ctx(m1, DomainRole::Server);
            match state {
                State::OwnedByM2 => apply(&mut doc, &Action::assign(owner_of(Who::M2)), &server),
                State::Pool => {}
                _ => apply(&mut doc, &Action::assign(owner_of(Who::M1)), &server),
            }
            if state == State::Closed {
                apply(&mut doc, &Action::SetLifecycle { lifecycle: Some(Lifecycle::Closed) }, &server);
            }
            customers::store_server_changes(&conn, &b1, &id, &doc.save()).unwrap();
            if state == State::Deleted {
                customers::delete_customer(&conn, &b1, &id, "test", NOW).unwrap();
            }
            let stored = customers::load(&conn, &id, &ActorId::random()).unwrap().unwrap().save();
            customers.insert((state, held), (id, stored));
        }
        let cursor = fieldsync_server::store::DocumentStore::log_head(&conn).unwrap() as u64;
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
        drop(conn);
        World { people, customers, contact: contact_id, lead: lead_id, claim: claim_id, visits, cursor }
    }
}

/// Copies every table into an attached in-memory database, to restore after each case (whatever
/// tables the server's schema has).
fn keep_tables(conn: &Connection) -> Vec<String> {
    conn.execute_batch("ATTACH DATABASE ':memory:' AS base").unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for t in &tables {
        conn.execute_batch(&format!(r#"CREATE TABLE base."{t}" AS SELECT * FROM main."{t}""#)).unwrap();
    }
    tables
}

fn restore(conn: &Connection, tables: &[String]) {
    let mut sql = String::from("BEGIN; PRAGMA defer_foreign_keys = ON;");
    for t in tables {
        sql.push_str(&format!(r#"DELETE FROM main."{t}"; INSERT INTO main."{t}" SELECT * FROM base."{t}";"#));
    }
    sql.push_str("COMMIT;");
    conn.execute_batch(&sql).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Forging: the change a tampered app would push.
// ---------------------------------------------------------------------------------------------

/// One case ready to push: the customer, the changes, and the file the tablet built.
#[derive(Clone)]
struct Forged {
    customer_id: String,
    changes: Vec<u8>,
    file: CustomerFile,
}

impl std::fmt::Debug for Forged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Forged({}, {} bytes)", self.customer_id, self.changes.len())
    }
}

fn forge(world: &World, who: Who, state: State, op: Op) -> Option<Forged> {
    let me = &world.people[&who];
    let server = ctx(me, DomainRole::Server);
    let (customer_id, mut doc, mut changes) = if state == State::New {
        let id = new_id();
        let create = Action::CreateCustomer {
            id: id.clone(),
            profile: Profile::new(CustomerKind::Individual, "新客户", "韩桥村"),
        };
        let (doc, first) = CustomerDoc::create(&me.actor, &create, &server).unwrap();
        (id, doc, first)
    } else {
        let (id, bytes) = &world.customers[&(state, holds(who, op))];
        (id.clone(), CustomerDoc::load(id, bytes, &me.actor).unwrap(), Vec::new())
    };
    let before = doc.file().clone();
    let heads = doc.heads();
    let exists = |map_has: bool| map_has.then_some(());
    let id_of = |w: Who| world.people[&w].user.id.clone();
    let other_manager = other_manager(who);
    let own_visit = world.visits.get(&who).filter(|v| before.visits.contains_key(*v)).cloned();
    let others_visit = world.visits.get(&other_manager).filter(|v| before.visits.contains_key(*v)).cloned();
    let owner = |w: Option<Who>| Owner {
        manager_id: w.map(id_of),
        manager_name: w.map(|w| world.people[&w].user.display_name.clone()),
    };
    let action = match op {
        Op::ProfileEdit => {
            let mut profile = before.profile.clone();
            profile.occupation = "养殖户".into();
            Some(Action::UpdateProfile { profile })
        }
        Op::ContactAdd => Some(Action::UpsertContact { contact: contact(&new_id(), "") }),
        Op::ContactEdit => {
            exists(before.contacts.contains_key(&world.contact))?;
            Some(Action::UpsertContact { contact: contact(&world.contact, "改过") })
        }
        Op::ContactDelete => {
            exists(before.contacts.contains_key(&world.contact))?;
            Some(Action::RemoveContact { contact_id: world.contact.clone() })
        }
        Op::VisitAdd => Some(record_visit(&new_id())),
        Op::VisitEditOwn | Op::VisitEditOthers => {
            // Another branch's writer has no visit here: theirs is m1's, for the forging only.
            let visit_id = if op == Op::VisitEditOwn {
                own_visit.clone().or_else(|| (!who.in_b1()).then(|| world.visits[&Who::M1].clone()))?
            } else {
                others_visit.clone()?
            };
            Some(Action::UpdateVisit {
                visit_id, details: VisitDetails { notes: "改过".into(), ..Default::default() }
            })
        }
        Op::LeadAdd => Some(Action::AddLead { lead: new_lead(&new_id()) }),
        Op::LeadEdit => {
            exists(before.leads.contains_key(&world.lead))?;
            Some(Action::UpdateLead {
                lead_id: world.lead.clone(),
                amount_fen: 8_000_000,
                expected_close: None,
                probability: 30,
                notes: "改过".into(),
            })
        }
        Op::ReviewBySelf | Op::ReviewSignedByOther => {
            let visit_id = world.visits.get(&Who::M2).filter(|v| before.visits.contains_key(*v))?.clone();
            let signer = match (op, who) {
                (Op::ReviewBySelf, _) => who,
                (_, Who::Sup) => Who::Admin,
                (_, Who::Sup2) => Who::Admin2,
                (_, Who::Admin2) => Who::Sup2,
                _ => Who::Sup,
            };
            let p = &world.people[&signer];
            let review = Review {
                decision: ReviewDecision::Approved,
                comment: String::new(),
                reviewer_id: p.user.id.clone(),
                reviewer_name: p.user.display_name.clone(),
                at: NOW,
            };
            Some(Action::WriteReview { visit_id, review })
        }
        Op::OwnerBranchManager => {
            let target = if who == Who::M2 || before.server.owner.manager_id == Some(id_of(Who::M2)) {
                Who::M1
            } else {
                Who::M2
            };
            Some(Action::assign(owner(Some(target))))
        }
        Op::OwnerOtherBranch => Some(Action::assign(owner(Some(Who::M3)))),
        Op::OwnerNone => Some(Action::assign(owner(None))),
        Op::OwnerAdmin => Some(Action::assign(owner(Some(Who::Admin)))),
        Op::OwnerSelf => Some(Action::assign(owner(Some(who)))),
        Op::Lifecycle => Some(Action::SetLifecycle { lifecycle: Some(Lifecycle::Dormant) }),
        Op::ValueTier => Some(Action::SetValueTier { tier: Some(ValueTier::HighNetWorth), as_of: None }),
        Op::VisitDeleteOwn | Op::VisitDeleteOthers | Op::ClaimOwn | Op::ClaimOthers | Op::ClaimDelete => None,
    };
    match action {
        Some(action) => {
            doc.apply(&action, &server).ok()??;
        }
        // What no action of the core writes, written straight into automerge.
        None => {
            let mut raw = |edit: &dyn Fn(&mut AutoCommit)| {
                let mut am = AutoCommit::load(&doc.save()).unwrap().with_actor(me.actor.clone());
                edit(&mut am);
                am.commit();
                am.save()
            };
            let map = |am: &AutoCommit, key: &str| match am.get(ROOT, key).unwrap() {
                Some((automerge::Value::Object(ObjType::Map), id)) => id,
                other => panic!("{key}: {other:?}"),
            };
            let bytes = match op {
                Op::VisitDeleteOwn | Op::VisitDeleteOthers => {
                    let visit_id = if op == Op::VisitDeleteOwn {
                        own_visit.or_else(|| (!who.in_b1()).then(|| world.visits[&Who::M1].clone()))?
                    } else {
                        others_visit?
                    };
                    exists(before.visits.contains_key(&visit_id))?;
                    raw(&|am| {
                        let visits = map(am, "visits");
                        am.delete(&visits, visit_id.as_str()).unwrap();
                    })
                }
                Op::ClaimDelete => {
                    exists(before.intents.contains_key(&world.claim))?;
                    raw(&|am| {
                        let intents = map(am, "intents");
                        am.delete(&intents, world.claim.as_str()).unwrap();
                    })
                }
                _ => {
                    let by = if op == Op::ClaimOwn { id_of(who) } else { id_of(other_manager) };
                    let intent_id = new_id();
                    raw(&|am| {
                        let intents = map(am, "intents");
                        let intent = am.put_object(&intents, intent_id.as_str(), ObjType::Map).unwrap();
                        am.put(&intent, "id", intent_id.as_str()).unwrap();
                        am.put(&intent, "kind", "claim_from_pool").unwrap();
                        am.put(&intent, "by", by.as_str()).unwrap();
                        am.put(&intent, "at", NOW).unwrap();
                    })
                }
            };
            doc = CustomerDoc::load(&customer_id, &bytes, &me.actor).unwrap();
        }
    }
    changes.extend(doc.changes_since(&heads));
    assert!(!parse_changes(&changes).unwrap().is_empty());
    Some(Forged { customer_id, changes, file: doc.file().clone() })
}

// ---------------------------------------------------------------------------------------------
// One case through the server.
// ---------------------------------------------------------------------------------------------

/// What the server holds of a customer: the log's length and head, and the customer's row
/// (every column, whatever the schema has).
type Stored = (i64, i64, Option<Vec<rusqlite::types::Value>>);

fn stored_state(conn: &Connection, customer_id: &str) -> Stored {
    let (count, head) =
        conn.query_row("SELECT count(*), coalesce(max(seq), 0) FROM log", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    let mut stmt = conn.prepare_cached("SELECT * FROM documents WHERE customer_id = ?1").unwrap();
    let columns = stmt.column_count();
    let row =
        stmt.query_row([customer_id], |r| (0..columns).map(|i| r.get(i)).collect::<rusqlite::Result<Vec<_>>>()).ok();
    (count, head, row)
}

fn run_case(world: &World, store: &mut Store, forged: &Forged, who: Who, state: State, op: Op) -> Result<(), String> {
    let person = &world.people[&who];
    let request = SyncRequest {
        cursor: world.cursor,
        push: vec![DocChanges { customer_id: forged.customer_id.clone(), changes: forged.changes.clone() }],
        ..Default::default()
    };
    let before = stored_state(&store.conn, &forged.customer_id);
    let written = store.conn.total_changes();
    let result =
        fieldsync_server::store::sqlite::db::sync_on(&mut store.conn, &person.user, &person.device, &request, NOW);
    let answer = match &result {
        Ok((response, _)) => match response.pushed.first().map(|p| &p.outcome) {
            Some(PushOutcome::Accepted { new_changes }) if *new_changes > 0 => Answer::Accepted,
            Some(PushOutcome::NotFound) => Answer::NotFound,
            Some(PushOutcome::Refused(r)) => match model_code(&r.code) {
                Some(code) => Answer::Refused(code),
                None => Answer::Other(r.code.clone()),
            },
            other => Answer::Other(format!("{other:?}")),
        },
        Err(e) => Answer::Other(format!("error: {e}")),
    };
    let after = stored_state(&store.conn, &forged.customer_id);
    let stored = (answer == Answer::Accepted).then(|| {
        let actor = ActorId::random();
        customers::load(&store.conn, &forged.customer_id, &actor).unwrap().map(|d| d.file().clone())
    });
    // Only what wrote anything is undone (a refusal rolls back before writing).
    if store.conn.total_changes() != written {
        restore(&store.conn, &store.tables);
    }

    let expected = model(who, state, op);
    if answer != expected {
        return Err(format!("{who:?} {state:?} {op:?}: the server answered {answer:?}, the model says {expected:?}"));
    }
    if expected == Answer::Accepted {
        // Stored as the tablet built it; a manager's new customer is theirs.
        let mut want = forged.file.clone();
        if state == State::New && who.role() == Role::Manager {
            want.server.owner = Owner {
                manager_id: Some(person.user.id.clone()),
                manager_name: Some(person.user.display_name.clone()),
            };
        }
        if stored != Some(Some(want)) {
            return Err(format!("{who:?} {state:?} {op:?}: accepted, but the stored file is not what was pushed"));
        }
        if after.1 <= before.1 {
            return Err(format!("{who:?} {state:?} {op:?}: accepted, but nothing was appended"));
        }
    } else if after != before {
        return Err(format!("{who:?} {state:?} {op:?}: refused, but the store changed: {before:?} -> {after:?}"));
    }
    Ok(())
}

/// The refusal codes the model knows (as static strings, to compare with the model's).
fn model_code(code: &str) -> Option<&'static str> {
    [
        "not_your_customer",
        "customer_closed",
        "server_decided",
        "others_visit",
        "approved_visit",
        "forged_author",
        "unknown_owner",
        "foreign_actor",
        "not_allowed",
        "invalid",
    ]
    .into_iter()
    .find(|c| *c == code)
}

// ---------------------------------------------------------------------------------------------
// The property.
// ---------------------------------------------------------------------------------------------

/// Every (writer, state, operation) the core can build a change for, with its forged change.
fn combos(world: &World, threads: usize) -> Vec<(Who, State, Op, Forged)> {
    let all: Vec<(Who, State, Op)> =
        WHO.iter().flat_map(|&w| STATES.iter().flat_map(move |&s| OPS.iter().map(move |&o| (w, s, o)))).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = all
            .chunks(all.len().div_ceil(threads))
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .filter_map(|&(w, s, o)| forge(world, w, s, o).map(|f| (w, s, o, f)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn the_server_answers_every_write_as_the_policy_says() {
    let var = |name: &str, default: u32| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let cases = var("FIELDSYNC_AUTHZ_CASES", 10_000);
    let threads = var("FIELDSYNC_AUTHZ_THREADS", 2).max(1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    let started = Instant::now();
    let world = World::build(&path);
    let combos = combos(&world, threads as usize);
    let set_up = started.elapsed();
    assert!(combos.len() > 500, "{} combinations", combos.len());

    // Each thread draws its share of the cases on its own copy of the store.
    let results: Vec<(u32, Result<(), String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|n| {
                let (world, combos, path) = (&world, combos.clone(), &path);
                let share = cases / threads + u32::from(n < cases % threads);
                s.spawn(move || {
                    let store = RefCell::new(Store::copy_of(path, n as usize));
                    let config = Config { cases: share, failure_persistence: None, ..Config::default() };
                    let mut runner = TestRunner::new(config);
                    let ran = Cell::new(0u32);
                    let result = runner.run(&proptest::sample::select(combos), |(who, state, op, forged)| {
                        ran.set(ran.get() + 1);
                        run_case(world, &mut store.borrow_mut(), &forged, who, state, op).map_err(TestCaseError::fail)
                    });
                    (ran.get(), result.map_err(|e| e.to_string()))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ran: u32 = results.iter().map(|(n, _)| n).sum();
    eprintln!(
        "authorization: {ran} case runs ({cases} cases asked, {} combinations, {threads} threads) in {:.1?} (set-up {:.1?})",
        combos.len(),
        started.elapsed(),
        set_up
    );
    for (_, result) in results {
        if let Err(e) = result {
            panic!("{e}");
        }
    }
}
