//! The fixture every target runs against, built by real device<->server syncs in one process (the
//! server's own `sync::handle` behind an in-process transport, tablets' real stores driven by the
//! real sync engine), and the seed corpora captured from that traffic:
//!
//! - a branch with two managers and a supervisor, and a supervisor of another branch;
//! - customers created on a tablet (visits, leads, reminders), two imported from the reference
//!   workload generator (10 visits and 3 leads each), one reviewed by the supervisor, one
//!   reassigned to the other manager, one sent to the public pool;
//! - a second tablet's first sync (listing, snapshots in pages, pool entries), a supervisor's
//!   first sync, and a reconciliation after the server lost history (as after a restore);
//! - the first manager's tablet left with unpushed work and a pending pool claim: its store is the
//!   device fixture, and its next pushes are real changes that apply on the server fixture.
//!
//! Written to a folder as `server.db`, `device.db` and `info.txt`; the targets read it back with
//! [`Info::read`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use automerge::ActorId;
use fieldsync_core::document::{CustomerDoc, parse_changes};
use fieldsync_core::domain::{
    Action, LeadSource, NewLead, Owner, Product, Reminder, ReminderKind, Review, ReviewDecision, Role as DomainRole,
};
use fieldsync_core::store::{Store, User as DeviceUser};
use fieldsync_core::sync::protocol::{self, FrameError, SyncMessage, SyncRequest, SyncResponse};
use fieldsync_core::sync::{Reply, SyncOptions, Transport, TransportError, run};
use fieldsync_core::workload::{self, Book, SplitMix64};
use fieldsync_server::accounts::{self, Device, NewUser, Role, User};
use fieldsync_server::customers;
use fieldsync_server::store::Db;

use crate::input::{Addressed, Reply as ReplyInput, raw_frame};

pub const PASSWORD: &str = "fuzz-password-1";

/// Where the targets find the fixture: `$FIELDSYNC_FUZZ_FIXTURE`, else `fuzz/fixture`.
pub fn dir() -> PathBuf {
    std::env::var_os("FIELDSYNC_FUZZ_FIXTURE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("fixture"))
}

/// What the targets need to know about the fixture's stores.
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    /// The clock of the fixture: targets act a little after it.
    pub now: i64,
    /// Signed-in users with their registered devices: `(username, user id, device id, token)`.
    pub users: Vec<(String, String, String, String)>,
    /// The stored customers, in a fixed order: input headers pick them by index.
    pub customers: Vec<String>,
}

impl Info {
    pub fn read(dir: &Path) -> Result<Info, String> {
        let path = dir.join("info.txt");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!("{}: {e} (write the fixture first: scripts/fuzz.sh, or the seed_corpus binary)", path.display())
        })?;
        let mut info = Info { now: 0, users: Vec::new(), customers: Vec::new() };
        for line in text.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            match fields.as_slice() {
                ["now", now] => info.now = now.parse().map_err(|_| "bad now".to_string())?,
                ["user", name, id, device, token] => {
                    info.users.push((name.to_string(), id.to_string(), device.to_string(), token.to_string()))
                }
                ["customer", id] => info.customers.push(id.to_string()),
                _ => return Err(format!("{}: unreadable line {line:?}", path.display())),
            }
        }
        Ok(info)
    }

    fn write(&self, dir: &Path) -> std::io::Result<()> {
        let mut text = format!("now {}\n", self.now);
        for (name, id, device, token) in &self.users {
            text += &format!("user {name} {id} {device} {token}\n");
        }
        for id in &self.customers {
            text += &format!("customer {id}\n");
        }
        std::fs::write(dir.join("info.txt"), text)
    }
}

/// Seed inputs per target, named after what they came from.
pub type Seeds = BTreeMap<&'static str, Vec<(String, Vec<u8>)>>;

/// One recorded round trip: a label, the request frame, the response frame.
type Frames = Vec<(String, Vec<u8>, Vec<u8>)>;

/// A sync transport that calls the server's own round trip in this process, and records every
/// request and response frame.
struct InProcess<'a> {
    db: &'a Db,
    user: User,
    device: Device,
    now: i64,
    frames: &'a mut Frames,
    label: String,
}

impl Transport for InProcess<'_> {
    fn exchange(&mut self, frame: Vec<u8>) -> Result<Reply, TransportError> {
        // As the HTTP handler does: decode, one round trip, encode at the server's level.
        let request: SyncRequest = match protocol::decode(&frame) {
            Ok(request) => request,
            Err(FrameError::Version { .. }) => {
                return Ok(Reply::Rejected(fieldsync_server::AppError::UpgradeRequired.rejection()));
            }
            Err(e) => return Err(TransportError::Network(format!("the device sent a bad frame: {e}"))),
        };
        let answer = self.db.sync_blocking(&self.user, &self.device, request, self.now);
        let (response, _) =
            answer.map_err(|e| TransportError::Network(format!("the server failed a round trip: {e}")))?;
        let reply = protocol::encode_at(&response, protocol::SERVER_LEVEL);
        self.frames.push((self.label.clone(), frame, reply.clone()));
        Ok(Reply::Frame(reply))
    }
}

/// A signed-in tablet of the fixture.
struct Tablet {
    store: Store,
    user: User,
    device: Device,
    token: String,
}

struct Builder {
    dir: PathBuf,
    db: Db,
    now: i64,
    rng: SplitMix64,
    frames: Frames,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl Builder {
    fn tick(&mut self) -> i64 {
        self.now += 61_000;
        self.now
    }

    fn tablet(&mut self, user: &User, name: &str) -> Result<Tablet, String> {
        let mut store = Store::open(self.dir.join(format!("{name}.db")), None).map_err(err)?;
        let role = if user.role == Role::Manager { DomainRole::Manager } else { DomainRole::Supervisor };
        store.sign_in(DeviceUser { id: user.id.clone(), name: user.display_name.clone(), role }).map_err(err)?;
        let device_id = format!("fuzz-{name}");
        let actor: ActorId = store.actor().clone();
        let now = self.now;
        let (user, device, token) = self.db.with(|conn| -> Result<_, String> {
            let token = accounts::register_device(conn, user, &device_id, &actor, now).map_err(err)?;
            let who = accounts::authenticate(conn, &token, &device_id, now).map_err(err)?;
            Ok((who.user, who.device, token))
        })?;
        Ok(Tablet { store, user, device, token })
    }

    fn sync(&mut self, tablet: &mut Tablet, label: &str, first_page_bytes: u32) -> Result<(), String> {
        let now = self.tick();
        let mut transport = InProcess {
            db: &self.db,
            user: tablet.user.clone(),
            device: tablet.device.clone(),
            now,
            frames: &mut self.frames,
            label: label.to_string(),
        };
        let options = SyncOptions { now, first_page_bytes, ..Default::default() };
        run(&mut tablet.store, &mut transport, options, &mut |_| {}, &|| false).map_err(|e| format!("{label}: {e}"))?;
        Ok(())
    }

    fn visit(&mut self, tablet: &mut Tablet, customer: &str) -> Result<String, String> {
        let id = fieldsync_core::ids::new_id();
        let at = self.tick();
        let (start, out) = workload::visit_actions(&mut self.rng, &id, at, 30.59, 114.30);
        tablet.store.apply(customer, &start, at).map_err(err)?;
        let at = self.tick();
        tablet.store.apply(customer, &out, at).map_err(err)?;
        Ok(id)
    }

    fn lead(&mut self, tablet: &mut Tablet, customer: &str) -> Result<(), String> {
        let lead = NewLead {
            id: fieldsync_core::ids::new_id(),
            product: Product::Loan,
            amount_fen: 5_000_000,
            source: LeadSource::Visit,
            expected_close: None,
            probability: None,
            visit_id: None,
            notes: "想扩大养殖规模".into(),
            catalog_id: None,
        };
        let at = self.tick();
        tablet.store.apply(customer, &Action::AddLead { lead }, at).map_err(err)?;
        Ok(())
    }

    fn reminder(&mut self, tablet: &mut Tablet, customer: &str) -> Result<(), String> {
        let at = self.tick();
        let reminder = Reminder {
            id: fieldsync_core::ids::new_id(),
            kind: ReminderKind::FollowUp,
            due_at: at + 3 * 86_400_000,
            note: "回访贷款意向".into(),
            done_at: None,
        };
        tablet.store.apply(customer, &Action::AddReminder { reminder }, at).map_err(err)?;
        Ok(())
    }

    fn decide(&mut self, by: &User, customer: &str, action: Action) -> Result<(), String> {
        let now = self.tick();
        self.db.write_blocking(|store| customers::write_decision(store, by, customer, &action, now)).map_err(err)
    }
}

fn create_user(db: &Db, branch: &str, username: &str, name: &str, role: Role, now: i64) -> Result<User, String> {
    db.with(|conn| {
        let new =
            NewUser { branch_id: branch, outlet_id: None, username, display_name: name, role, password: PASSWORD };
        let id = accounts::create_user(conn, &new, now, "fuzz").map_err(err)?;
        accounts::user_by_id(conn, &id).map_err(err)?.ok_or_else(|| "the new user is missing".to_string())
    })
}

/// Copies a SQLite database into one self-contained file (no WAL beside it).
fn vacuum_into(conn: &rusqlite::Connection, to: &Path) -> Result<(), String> {
    let _ = std::fs::remove_file(to);
    conn.execute("VACUUM INTO ?1", [to.to_string_lossy()]).map_err(err)?;
    Ok(())
}

/// Builds the fixture in `dir` (replacing any there) and returns the seed corpora.
pub fn generate(dir: &Path) -> Result<Seeds, String> {
    std::fs::create_dir_all(dir).map_err(err)?;
    let work = dir.join("work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(err)?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_err(err)?.as_millis() as i64;
    // Everything happens over the last few days, so dates are plausible and tokens still valid.
    let start = now - 3 * 86_400_000;
    let db = Db::open(&work).map_err(err)?;
    let (b1, b2) = db.with(|conn| -> Result<_, String> {
        Ok((
            accounts::create_branch(conn, "城关支行", start, "fuzz").map_err(err)?,
            accounts::create_branch(conn, "河口支行", start, "fuzz").map_err(err)?,
        ))
    })?;
    let m1 = create_user(&db, &b1, "m1", "王建国", Role::Manager, start)?;
    let m2 = create_user(&db, &b1, "m2", "李秀英", Role::Manager, start)?;
    let sup = create_user(&db, &b1, "sup", "张主任", Role::Supervisor, start)?;
    let sup2 = create_user(&db, &b2, "sup2", "赵主任", Role::Supervisor, start)?;
    let mut b = Builder { dir: work.clone(), db, now: start, rng: SplitMix64::new(7), frames: Vec::new() };

    // Two customers of the reference shape, imported for m1 the way the demo seed does it.
    let book = Book { manager_id: m1.id.clone(), manager_name: m1.display_name.clone(), namespace: 9 };
    let mut imported = Vec::new();
    for record in workload::generate_branch(2, 11) {
        let prepared = workload::build_changes(&record, &book, &book.server_actor()).map_err(err)?;
        b.db.write_blocking(|store| {
            customers::store_server_changes(store, &b1, &prepared.customer_id, &prepared.bytes)
        })
        .map_err(err)?;
        imported.push(prepared.customer_id);
    }

    // m1's tablet records customers, visits, leads and reminders, and syncs.
    let mut a = b.tablet(&m1, "m1-a")?;
    let mut created = Vec::new();
    for (i, record) in workload::generate_branch(5, 23).iter().enumerate() {
        let profile = workload::to_profile(record.index, &record.profile).map_err(err)?;
        let at = b.tick();
        let id = a.store.create_customer(profile, at).map_err(err)?;
        if i < 4 {
            b.visit(&mut a, &id)?;
        }
        if i % 2 == 0 {
            b.lead(&mut a, &id)?;
        }
        if i == 1 {
            b.reminder(&mut a, &id)?;
        }
        created.push(id);
    }
    b.sync(&mut a, "m1-a first push", 64 * 1024)?;
    let first_visit = a.store.customer_file(&created[0]).map_err(err)?.visits.keys().next().cloned();

    // The supervisor reviews a visit, gives a customer to m2 and sends one to the pool.
    if let Some(visit_id) = first_visit {
        let review = Review {
            decision: ReviewDecision::Returned,
            comment: "请补充走访照片".into(),
            reviewer_id: sup.id.clone(),
            reviewer_name: sup.display_name.clone(),
            at: b.now,
        };
        b.decide(&sup, &created[0], Action::WriteReview { visit_id, review })?;
    }
    let to_m2 = Owner { manager_id: Some(m2.id.clone()), manager_name: Some(m2.display_name.clone()) };
    b.decide(&sup, &created[3], Action::assign(to_m2))?;
    b.decide(&sup, &created[4], Action::assign(Owner::default()))?;

    // m1 works on; the next sync pulls the review, purges the reassigned customer and gets the
    // pool entry.
    b.visit(&mut a, &created[0])?;
    let mut profile = a.store.customer_file(&created[1]).map_err(err)?.profile;
    profile.address = "韩桥村三组12号".into();
    let at = b.tick();
    a.store.apply(&created[1], &Action::UpdateProfile { profile }, at).map_err(err)?;
    b.visit(&mut a, &imported[0])?;
    b.sync(&mut a, "m1-a day's work", 64 * 1024)?;

    // m2 and the supervisor start their tablets (first syncs, small pages so there are several).
    let mut m2_tablet = b.tablet(&m2, "m2")?;
    b.sync(&mut m2_tablet, "m2 first sync", 1024)?;
    b.visit(&mut m2_tablet, &created[3])?;
    b.sync(&mut m2_tablet, "m2 push", 64 * 1024)?;
    let mut sup_tablet = b.tablet(&sup, "sup")?;
    b.sync(&mut sup_tablet, "sup first sync", 1024)?;
    let sup2_tablet = b.tablet(&sup2, "sup2")?;

    // The server loses the last two changes of a customer (a restore from an older backup): m1's
    // next edit builds on history the server lacks, and the two reconcile.
    b.db.with(|conn| -> Result<(), String> {
        conn.execute(
            "DELETE FROM log WHERE seq IN (SELECT seq FROM log WHERE customer_id = ?1 AND hash IS NOT NULL
                                           ORDER BY seq DESC LIMIT 2)",
            [&created[0]],
        )
        .map_err(err)?;
        conn.execute("UPDATE documents SET snapshot = x'', snapshot_seq = 0 WHERE customer_id = ?1", [&created[0]])
            .map_err(err)?;
        Ok(())
    })?;
    b.visit(&mut a, &created[0])?;
    b.sync(&mut a, "m1-a reconcile", 64 * 1024)?;

    // A second tablet of m1 starts from nothing: listing, snapshots in pages, pool entries.
    let mut a2 = b.tablet(&m1, "m1-b")?;
    b.sync(&mut a2, "m1-b first sync", 1024)?;

    // m1's tablet is left with unpushed work and a pending claim: the device fixture. Its next
    // request pushes real changes that apply on the server fixture.
    b.visit(&mut a, &created[1])?;
    b.lead(&mut a, &created[2])?;
    b.reminder(&mut a, &imported[1])?;
    let at = b.tick();
    a.store.claim_from_pool(&created[4], at).map_err(err)?;
    b.visit(&mut m2_tablet, &created[3])?;
    b.visit(&mut sup_tablet, &created[2])?;

    let mut customers: Vec<String> = imported.iter().chain(&created).cloned().collect();
    customers.sort();
    let users = [&a, &m2_tablet, &sup_tablet, &sup2_tablet]
        .iter()
        .map(|t| (t.user.username.clone(), t.user.id.clone(), t.device.id.clone(), t.token.clone()))
        .collect();
    let info = Info { now: b.tick(), users, customers: customers.clone() };
    b.db.with(|conn| vacuum_into(conn, &dir.join("server.db")))?;
    vacuum_into(a.store.connection(), &dir.join("device.db"))?;
    info.write(dir).map_err(err)?;

    // The last round: what the tablets' next syncs send and get, against a copy of the server, so
    // the fixture stays as it was. m1's frames answer exactly the device fixture's next request.
    let copy = dir.join("work-next");
    let _ = std::fs::remove_dir_all(&copy);
    std::fs::create_dir_all(&copy).map_err(err)?;
    std::fs::copy(dir.join("server.db"), copy.join("server.db")).map_err(err)?;
    let pending = {
        let db = Db::open(&copy).map_err(err)?;
        let mut next = Builder { dir: copy.clone(), db, now: info.now, rng: SplitMix64::new(8), frames: Vec::new() };
        next.sync(&mut a, "m1-a unpushed work", 64 * 1024)?;
        next.sync(&mut m2_tablet, "m2 unpushed work", 64 * 1024)?;
        next.sync(&mut sup_tablet, "sup unpushed work", 64 * 1024)?;
        next.frames
    };
    b.frames.extend(pending);

    let server_docs = b.db.with(|conn| -> Result<Vec<(String, CustomerDoc)>, String> {
        let actor = fieldsync_server::store::DocumentStore::server_actor(conn).map_err(err)?;
        let mut docs = Vec::new();
        for id in &customers {
            if let Some(doc) = customers::load(conn, id, &actor).map_err(err)? {
                docs.push((id.clone(), doc));
            }
        }
        Ok(docs)
    })?;
    let seeds = seeds(&info, &b.frames, server_docs, [(0, &mut a), (1, &mut m2_tablet), (2, &mut sup_tablet)])?;
    drop(b);
    let _ = std::fs::remove_dir_all(&work);
    let _ = std::fs::remove_dir_all(&copy);
    Ok(seeds)
}

/// The seed corpora: every frame for `frame_decode`, every response for `device_apply`, every
/// pushed document and each tablet's whole documents for `server_push`, every reconciliation
/// message plus fresh automerge sync rounds between each tablet and the server for
/// `server_reconcile`.
fn seeds(
    info: &Info,
    frames: &Frames,
    mut server_docs: Vec<(String, CustomerDoc)>,
    tablets: [(u8, &mut Tablet); 3],
) -> Result<Seeds, String> {
    let mut seeds = Seeds::new();
    let index = |id: &str| info.customers.iter().position(|c| c == id).map(|i| i as u8);
    let user_of = |label: &str| {
        let username = label.split(['-', ' ']).next().unwrap_or("");
        info.users.iter().position(|u| u.0 == username).unwrap_or(0) as u8
    };
    let slug = |label: &str| label.replace(|c: char| !c.is_ascii_alphanumeric(), "-");
    for (n, (label, request, response)) in frames.iter().enumerate() {
        let name = format!("{n:03}-{}", slug(label));
        let decoded_request: SyncRequest = protocol::decode(request).map_err(err)?;
        let decoded_response: SyncResponse = protocol::decode(response).map_err(err)?;
        let request_body = postcard::to_stdvec(&decoded_request).map_err(err)?;
        let response_body = postcard::to_stdvec(&decoded_response).map_err(err)?;
        let frame_seeds = seeds.entry("frame_decode").or_default();
        frame_seeds.push((format!("{name}-request"), request.clone()));
        frame_seeds.push((format!("{name}-request-raw"), raw_frame(&request_body)));
        frame_seeds.push((format!("{name}-response"), response.clone()));
        frame_seeds.push((format!("{name}-response-raw"), raw_frame(&response_body)));
        let reply = ReplyInput::write(false, &response_body);
        seeds.entry("device_apply").or_default().push((format!("{name}-response"), reply));
        let user = user_of(label);
        for (k, push) in decoded_request.push.iter().enumerate() {
            if let Some(customer) = index(&push.customer_id) {
                let input = Addressed::write(user, customer, false, &push.changes);
                seeds.entry("server_push").or_default().push((format!("{name}-push{k}"), input));
            }
        }
        for (k, SyncMessage { customer_id, message }) in decoded_request.reconcile.iter().enumerate() {
            if let Some(customer) = index(customer_id) {
                let input = Addressed::write(user, customer, false, message);
                seeds.entry("server_reconcile").or_default().push((format!("{name}-reconcile{k}"), input));
            }
        }
    }
    for (user, tablet) in tablets {
        for id in tablet.store.customer_ids().map_err(err)? {
            let Some(customer) = index(&id) else { continue };
            let Ok(changes) = tablet.store.document_changes(&id) else { continue };
            let input = Addressed::write(user, customer, false, &changes);
            seeds.entry("server_push").or_default().push((format!("whole-{user}-{customer}"), input));
            // Rounds of automerge's sync protocol from the tablet's copy towards the server's: the
            // first message (heads and a Bloom filter), then those carrying changes.
            let Some((_, server_doc)) = server_docs.iter_mut().find(|(s, _)| *s == id) else { continue };
            let parsed = parse_changes(&changes).map_err(err)?;
            let actor = tablet.store.actor().clone();
            let Some((mut ours_doc, _)) = CustomerDoc::from_changes(&id, parsed, &actor).map_err(err)? else {
                continue;
            };
            let mut ours = automerge::sync::State::new();
            let mut theirs = automerge::sync::State::new();
            for round in 0..4 {
                let Ok(Some(message)) = ours_doc.sync_message(&mut ours) else { break };
                let input = Addressed::write(user, customer, false, &message);
                let name = format!("rounds-{user}-{customer}-{round}");
                seeds.entry("server_reconcile").or_default().push((name, input));
                let _ = server_doc.receive_sync_message(&mut theirs, &message);
                let Ok(Some(reply)) = server_doc.sync_message(&mut theirs) else { break };
                let _ = ours_doc.receive_sync_message(&mut ours, &reply);
            }
        }
    }
    Ok(seeds)
}
