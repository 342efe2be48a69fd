//! Issue 11's attacks, each tried as an attacker would, from outside, through the real server on
//! loopback: crafted changes that panic automerge, requests that would hold the lock, writes the
//! policy forbids, accounts crossing branches, and JSON that does not parse. Each must get a clear
//! answer, leave the server's documents as they were and leave everyone else syncing.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use automerge::ActorId;
use automerge::transaction::Transactable;
use fieldsync_core::document::{CustomerDoc, parse_changes};
use fieldsync_core::domain::{
    Action, Channel, Ctx, CustomerKind, Owner, Profile, Review, ReviewDecision, Role, VisitDetails, VisitPurpose,
};
use fieldsync_core::ids::{new_actor, new_id};
use fieldsync_core::sync::protocol::{self, DocChanges, PushOutcome, SyncMessage, SyncRequest};
use fieldsync_server::accounts;
use fieldsync_tests::attack::*;
use fieldsync_tests::{TestServer, checkpoint, device, now_ms, record_visit, sync};

fn profile(name: &str) -> Profile {
    Profile::new(CustomerKind::Individual, name, "韩桥村")
}

fn start_visit() -> Action {
    Action::StartVisit {
        visit_id: new_id(),
        purpose: VisitPurpose::Marketing,
        channel: Channel::InPerson,
        check_in: checkpoint(now_ms()),
    }
}

fn edit_profile(bytes: &[u8], customer_id: &str) -> Action {
    let doc = CustomerDoc::load(customer_id, bytes, &ActorId::random()).unwrap();
    let mut profile = doc.file().profile.clone();
    profile.occupation = format!("养殖户{}", now_ms() % 1000);
    Action::UpdateProfile { profile }
}

/// The server answers: `/healthz` is 200 and a real device's sync goes through.
fn still_serving(server: &TestServer, device: &mut fieldsync_ffi::Device) {
    assert_eq!(healthz(&server.url()), 200, "the sync path is alive");
    sync(device).expect("another device's sync still succeeds");
}

// ---------------------------------------------------------------------------------------------
// One crafted change stops all sync until a restart.
// ---------------------------------------------------------------------------------------------

#[test]
fn crafted_changes_from_any_branch_are_refused_and_the_server_keeps_serving() {
    let (server, _branch) = TestServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &url, "m1");
    let customer = m1.store().create_customer(profile("张三"), now_ms()).unwrap();
    record_visit(&mut m1, &customer, VisitDetails::default());
    sync(&mut m1).unwrap();
    let m1_actor = m1.store().actor().clone();

    // Attackers: a manager with no right to the customer, a supervisor of the branch, and a
    // supervisor of another branch, each on a tampered app with its own registered actor.
    let (m2_actor, sup_actor, sup2_actor) = (new_actor(), new_actor(), new_actor());
    let m2 = Client::login_new(&url, "m2", &m2_actor);
    let sup = Client::login_new(&url, "sup", &sup_actor);
    let sup2 = Client::login_new(&url, "sup2", &sup2_actor);
    // The other branch's supervisor's own customer (a supervisor's new customer starts in the pool).
    let own = new_id();
    let ctx = Ctx { user_id: sup2.user_id.clone(), user_name: String::new(), role: Role::Supervisor, now: now_ms() };
    let (_, first) =
        CustomerDoc::create(&sup2_actor, &Action::CreateCustomer { id: own.clone(), profile: profile("李四") }, &ctx)
            .unwrap();
    assert!(matches!(sup2.push(&own, first), PushOutcome::Accepted { new_changes: 1 }));
    let before = server.documents_fingerprint();

    struct Target<'a> {
        who: &'a str,
        client: &'a Client,
        actor: &'a ActorId,
        role: Role,
        customer: &'a str,
        first_actor: &'a ActorId,
        /// Whether the attacker sees the document whole, so a reconciliation reaches automerge.
        reconciles: bool,
    }
    let targets = [
        Target {
            who: "m2",
            client: &m2,
            actor: &m2_actor,
            role: Role::Manager,
            customer: &customer,
            first_actor: &m1_actor,
            reconciles: false,
        },
        Target {
            who: "sup",
            client: &sup,
            actor: &sup_actor,
            role: Role::Supervisor,
            customer: &customer,
            first_actor: &m1_actor,
            reconciles: true,
        },
        Target {
            who: "sup2",
            client: &sup2,
            actor: &sup2_actor,
            role: Role::Supervisor,
            customer: &own,
            first_actor: &sup2_actor,
            reconciles: true,
        },
    ];
    for t in &targets {
        let base = server_bytes(&server, t.customer);
        let good = single(&forge(&base, t.customer, t.actor, &start_visit(), (&t.client.user_id, "x"), t.role));
        for (kind, change) in crafted(&good, t.first_actor) {
            let case = format!("{} / {kind}", t.who);
            assert!(parse_changes(change.raw_bytes()).is_ok(), "{case}: parses, checksum valid");
            assert!(automerge_panics(&base, &change), "{case}: automerge panics on it (the case is real)");

            // Pushed: refused for that document, in a well-formed 200 answer.
            let outcome = t.client.push(t.customer, change.raw_bytes().to_vec());
            assert_eq!(outcome, PushOutcome::Corrupt, "{case}: pushed");
            still_serving(&server, &mut m1);

            // Carried by a reconciliation message.
            let answer = t.client.reconcile(t.customer, sync_message(std::slice::from_ref(&change)));
            if t.reconciles {
                assert_eq!(answer.pushed.len(), 1, "{case}: {answer:?}");
                assert_eq!(answer.pushed[0].outcome, PushOutcome::Corrupt, "{case}: reconciled");
            } else {
                assert_eq!(answer.gone, vec![t.customer.to_string()], "{case}: not visible, not read");
            }
            still_serving(&server, &mut m1);
            assert_eq!(server.documents_fingerprint(), before, "{case}: nothing stored");
        }
    }

    // Another branch's customer: never reaches automerge.
    let base = server_bytes(&server, &customer);
    let good = single(&forge(&base, &customer, &sup2_actor, &start_visit(), (&sup2.user_id, "x"), Role::Supervisor));
    for (kind, change) in crafted(&good, &m1_actor) {
        assert_eq!(sup2.push(&customer, change.raw_bytes().to_vec()), PushOutcome::NotFound, "{kind}");
        let answer = sup2.reconcile(&customer, sync_message(&[change]));
        assert_eq!(answer.gone, vec![customer.clone()], "{kind}");
    }
    assert_eq!(server.documents_fingerprint(), before);

    // A crafted change next to a good push in one request: the good one is taken.
    let base = server_bytes(&server, &customer);
    let good = single(&forge(&base, &customer, &m2_actor, &start_visit(), (&m2.user_id, "x"), Role::Manager));
    let (_, crafted_change) = crafted(&good, &m1_actor).remove(0);
    let mine = new_id();
    let ctx = Ctx { user_id: m2.user_id.clone(), user_name: String::new(), role: Role::Manager, now: now_ms() };
    let (_, first) =
        CustomerDoc::create(&m2_actor, &Action::CreateCustomer { id: mine.clone(), profile: profile("王五") }, &ctx)
            .unwrap();
    let answer = m2.sync(&SyncRequest {
        cursor: 1,
        push: vec![
            DocChanges { customer_id: customer.clone(), changes: crafted_change.raw_bytes().to_vec() },
            DocChanges { customer_id: mine.clone(), changes: first },
        ],
        ..Default::default()
    });
    assert_eq!(answer.pushed[0].outcome, PushOutcome::Corrupt);
    assert!(matches!(answer.pushed[1].outcome, PushOutcome::Accepted { new_changes: 1 }), "{answer:?}");
    still_serving(&server, &mut m1);
}

// ---------------------------------------------------------------------------------------------
// One small request stalls everyone.
// ---------------------------------------------------------------------------------------------

#[test]
fn requests_over_the_limits_are_refused_with_their_codes_while_others_sync() {
    let (server, _branch) = TestServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &url, "m1");
    let mut m2 = device(dir.path(), "m2", &url, "m2");
    let mut sup = device(dir.path(), "sup", &url, "sup");
    let customer = m1.store().create_customer(profile("张三"), now_ms()).unwrap();
    sync(&mut m1).unwrap();
    // A supervisor's decision on the customer: a small change of the server's, which m1 receives.
    let path = format!("/api/v1/customers/{customer}/lifecycle");
    let (status, body) =
        sup.transport().unwrap().post_json(&path, &serde_json::json!({ "lifecycle": "dormant" })).unwrap();
    assert_eq!(status, 204, "{}", String::from_utf8_lossy(&body));
    sync(&mut m1).unwrap();
    sync(&mut m2).unwrap();
    // A tampered copy of m1's app re-sends one change the server already holds.
    let attacker = Client::of_device(&mut m1);
    // The smallest change the server holds (the supervisor's decision), so that 20,000 copies
    // stay under the inflated-size limit and the item limit is the one that answers.
    let changes = parse_changes(&m1.store().document_changes(&customer).unwrap()).unwrap();
    let known = changes.iter().map(|c| c.raw_bytes().to_vec()).min_by_key(Vec::len).unwrap();
    assert!(known.len() * 20_000 < fieldsync_server::limits::MAX_INFLATED, "{} bytes", known.len());
    let before = server.documents_fingerprint();

    let items = |n: usize| SyncRequest {
        cursor: 1,
        push: (0..n).map(|_| DocChanges { customer_id: customer.clone(), changes: known.clone() }).collect(),
        ..Default::default()
    };
    let flood = protocol::encode(&items(20_000));
    assert!(flood.len() < 4096, "the attack is small on the wire: {} bytes", flood.len());
    let expect = |frame: &[u8], status: u16, code: &str| {
        let (got, body) = attacker.post_sync(frame);
        assert_eq!((got, error_code(&body).as_str()), (status, code));
    };
    expect(&flood, 413, "too_many_items");
    // The same customer twice in one request, whether pushed or reconciled.
    expect(&protocol::encode(&items(2)), 400, "bad_frame");
    let twice = SyncRequest {
        cursor: 1,
        push: vec![DocChanges { customer_id: customer.clone(), changes: known.clone() }],
        reconcile: vec![SyncMessage { customer_id: customer.clone(), message: vec![0x42] }],
        ..Default::default()
    };
    expect(&protocol::encode(&twice), 400, "bad_frame");
    // One item carrying the known change 5,001 times; one inflating past the limit.
    let repeated = SyncRequest {
        cursor: 1,
        push: vec![DocChanges { customer_id: customer.clone(), changes: known.repeat(5_001) }],
        ..Default::default()
    };
    expect(&protocol::encode(&repeated), 413, "too_many_changes");
    let inflated = SyncRequest {
        cursor: 1,
        push: vec![DocChanges { customer_id: customer.clone(), changes: vec![0; 9 << 20] }],
        ..Default::default()
    };
    expect(&protocol::encode(&inflated), 413, "too_large");

    // The flood in a loop while another device works and syncs: every sync completes.
    let done = AtomicBool::new(false);
    let sent = AtomicUsize::new(0);
    let mine = std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::SeqCst) || sent.load(Ordering::SeqCst) == 0 {
                expect(&flood, 413, "too_many_items");
                sent.fetch_add(1, Ordering::SeqCst);
            }
        });
        let mine = m2.store().create_customer(profile("赵六"), now_ms()).unwrap();
        for _ in 0..3 {
            sync(&mut m2).expect("another device's sync completes during the flood");
        }
        record_visit(&mut m2, &mine, VisitDetails::default());
        sync(&mut m2).expect("and its pushes are taken");
        done.store(true, Ordering::SeqCst);
        mine
    });
    assert!(sent.load(Ordering::SeqCst) > 0);
    assert_eq!(server_file(&server, &mine).visits.len(), 1, "m2's work reached the server");
    let after: Vec<String> = server.documents_fingerprint().into_iter().filter(|l| !l.contains(&mine)).collect();
    assert_eq!(after, before, "the attacker's requests stored nothing");
    still_serving(&server, &mut m1);
}

// ---------------------------------------------------------------------------------------------
// Writes the policy forbids get through.
// ---------------------------------------------------------------------------------------------

#[test]
fn forbidden_writes_are_refused_over_sync() {
    let (server, branch) = TestServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let m3 = add_user(&server, &branch.other_branch, "m3", "周经理", accounts::Role::Manager);
    let admin = add_user(&server, &branch.id, "admin1", "钱行长", accounts::Role::Admin);
    let mut m1 = device(dir.path(), "m1", &url, "m1");
    let mut m2 = device(dir.path(), "m2", &url, "m2");
    let mut sup = device(dir.path(), "sup", &url, "sup");
    let m1_id = m1.store().user().unwrap().id.clone();
    let m2_id = m2.store().user().unwrap().id.clone();
    let sup_id = sup.store().user().unwrap().id.clone();
    let decide = |sup: &mut fieldsync_ffi::Device, path: String, body: serde_json::Value| {
        let (status, answer) = sup.transport().unwrap().post_json(&path, &body).unwrap();
        assert_eq!(status, 204, "{path}: {}", String::from_utf8_lossy(&answer));
    };

    // X: m2's customer with m2's visit, then given to m1: a document two managers wrote.
    let x = m2.store().create_customer(profile("共享客户"), now_ms()).unwrap();
    let m2_visit = record_visit(&mut m2, &x, VisitDetails::default());
    // Y: created by m1, gone to the pool, then claimed by m2 and back in the pool.
    // Z: created by m1, then closed.
    let y = m1.store().create_customer(profile("公海客户"), now_ms()).unwrap();
    let z = m1.store().create_customer(profile("关闭客户"), now_ms()).unwrap();
    sync(&mut m1).unwrap();
    sync(&mut m2).unwrap();
    sync(&mut sup).unwrap();
    let (y_before, z_before) = (m1.store().document_changes(&y).unwrap(), m1.store().document_changes(&z).unwrap());
    decide(&mut sup, format!("/api/v1/customers/{x}/owner"), serde_json::json!({ "manager_id": m1_id }));
    decide(&mut sup, format!("/api/v1/customers/{y}/owner"), serde_json::json!({ "manager_id": null }));
    decide(&mut sup, format!("/api/v1/customers/{z}/lifecycle"), serde_json::json!({ "lifecycle": "closed" }));
    sync(&mut m2).unwrap();
    let claim = m2.store().claim_from_pool(&y, now_ms()).unwrap();
    sync(&mut m2).unwrap();
    assert_eq!(server_file(&server, &y).server.owner.manager_id.as_deref(), Some(m2_id.as_str()));
    decide(&mut sup, format!("/api/v1/customers/{y}/owner"), serde_json::json!({ "manager_id": null }));
    sync(&mut m1).unwrap();
    sync(&mut sup).unwrap();
    assert!(server_file(&server, &y).intents.contains_key(&claim), "m2's claim is in the pool customer's file");

    let m1_client = Client::of_device(&mut m1);
    let m2_client = Client::of_device(&mut m2);
    let sup_client = Client::of_device(&mut sup);
    let m1_actor = m1.store().actor().clone();
    let sup_actor = sup.store().actor().clone();
    let before = server.documents_fingerprint();
    let refused = |client: &Client, customer: &str, changes: Vec<u8>, code: &str, case: &str| {
        assert_eq!(refusal(&client.push(customer, changes)), code, "{case}");
    };
    let m1_user = (m1_id.as_str(), "王建国");

    // A manager deletes, or edits, another manager's visit on a document they now own.
    let x_bytes = m1.store().document_changes(&x).unwrap();
    let delete_visit = forge_raw(&x_bytes, &m1_actor, |doc| {
        let visits = map_at(doc, &["visits"]);
        doc.delete(&visits, m2_visit.as_str()).unwrap();
    });
    refused(&m1_client, &x, delete_visit, "not_allowed", "delete another manager's visit");
    let edit = Action::UpdateVisit {
        visit_id: m2_visit.clone(),
        details: VisitDetails { notes: "改".into(), ..Default::default() },
    };
    // Built as a supervisor's tablet would, since the core refuses a manager's edit of it.
    let edit_visit = forge(&x_bytes, &x, &m1_actor, &edit, m1_user, Role::Supervisor);
    refused(&m1_client, &x, edit_visit, "others_visit", "edit another manager's visit");

    // A manager edits the customer they created after it went to the pool, or was closed.
    let edit_y = forge(&y_before, &y, &m1_actor, &edit_profile(&y_before, &y), m1_user, Role::Manager);
    refused(&m1_client, &y, edit_y, "not_your_customer", "edit a pool customer one created");
    let edit_z = forge(&z_before, &z, &m1_actor, &edit_profile(&z_before, &z), m1_user, Role::Manager);
    refused(&m1_client, &z, edit_z, "customer_closed", "edit a closed customer");

    // A manager deletes, or re-signs, another manager's claim on a pool customer (knowing the
    // document as the server holds it).
    let y_now = server_bytes(&server, &y);
    let delete_claim = forge_raw(&y_now, &m1_actor, |doc| {
        let intents = map_at(doc, &["intents"]);
        doc.delete(&intents, claim.as_str()).unwrap();
    });
    refused(&m1_client, &y, delete_claim, "not_allowed", "delete another manager's claim");
    let resign_claim = forge_raw(&y_now, &m1_actor, |doc| {
        let intent = map_at(doc, &["intents", claim.as_str()]);
        doc.put(&intent, "by", m1_id.as_str()).unwrap();
    });
    refused(&m1_client, &y, resign_claim, "not_your_customer", "re-sign another manager's claim");

    // Over sync, a supervisor sets an owner from another branch, one that does not exist, or the
    // admin; the JSON endpoint refuses the same.
    let x_now = server_bytes(&server, &x);
    let sup_user = (sup_id.as_str(), "张主任");
    for (case, id, name) in [
        ("another branch's manager", m3.as_str(), "周经理"),
        ("nobody", "0198aaaa-0000-7000-8000-00000000abcd", "无名"),
        ("the admin", admin.as_str(), "钱行长"),
    ] {
        let owner = Owner { manager_id: Some(id.to_string()), manager_name: Some(name.to_string()) };
        let change = forge(&x_now, &x, &sup_actor, &Action::assign(owner), sup_user, Role::Server);
        refused(&sup_client, &x, change, "unknown_owner", case);
        let (status, body) =
            sup_client.post_json(&format!("/api/v1/customers/{x}/owner"), &serde_json::json!({ "manager_id": id }));
        assert_eq!((status, error_code(&body).as_str()), (422, "unknown_owner"), "{case} by the endpoint");
    }
    // ...and signs a review as someone else, or under another name.
    for (case, reviewer_id, reviewer_name) in [
        ("as another supervisor", branch.other_supervisor.as_str(), "张主任"),
        ("as the admin", admin.as_str(), "钱行长"),
        ("under another name", sup_id.as_str(), "钱行长"),
    ] {
        let review = Review {
            decision: ReviewDecision::Approved,
            comment: String::new(),
            reviewer_id: reviewer_id.to_string(),
            reviewer_name: reviewer_name.to_string(),
            at: now_ms(),
        };
        let action = Action::WriteReview { visit_id: m2_visit.clone(), review };
        refused(&sup_client, &x, forge(&x_now, &x, &sup_actor, &action, sup_user, Role::Server), "forged_author", case);
    }

    // Changes under the server's actor, or under another device's actor at its next sequence
    // number (which would take the numbers that device's next change needs).
    let server_change = forge(&x_now, &x, &server_actor(&server), &edit_profile(&x_now, &x), m1_user, Role::Manager);
    refused(&m1_client, &x, server_change, "foreign_actor", "under the server's actor");
    let m1_next = forge(&x_now, &x, &m1_actor, &edit_profile(&x_now, &x), m1_user, Role::Manager);
    refused(&m2_client, &x, m1_next, "foreign_actor", "under another device's actor");
    assert_eq!(server.documents_fingerprint(), before, "nothing refused was stored");

    // That device's own next change is taken.
    let mut profile = m1.store().customer_file(&x).unwrap().profile;
    profile.occupation = "种粮大户".into();
    m1.store().apply(&x, &Action::UpdateProfile { profile }, now_ms()).unwrap();
    let progress = sync(&mut m1).unwrap();
    assert_eq!(progress.quarantined, 0);
    assert_eq!(server_file(&server, &x).profile.occupation, "种粮大户");
    // And a review signed by the supervisor themself goes through sync as through the endpoint.
    let x_now = server_bytes(&server, &x);
    let review = Review {
        decision: ReviewDecision::Returned,
        comment: "补充照片".into(),
        reviewer_id: sup_id.clone(),
        reviewer_name: "张主任".into(),
        at: now_ms(),
    };
    let action = Action::WriteReview { visit_id: m2_visit.clone(), review };
    let outcome = sup_client.push(&x, forge(&x_now, &x, &sup_actor, &action, sup_user, Role::Server));
    assert!(matches!(outcome, PushOutcome::Accepted { new_changes: 1 }), "{outcome:?}");
}

// ---------------------------------------------------------------------------------------------
// Accounts leak across branches.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_device_held_by_someone_else_is_refused_and_taken_over_only_within_the_branch() {
    let (server, _branch) = TestServer::start();
    let url = server.url();
    let login = |user: &str, device: &str| Client::login(&url, user, device, &new_actor());
    let whoami = |c: &Client| c.get("/api/v1/whoami").0;

    // Held: another user of the branch, or of another branch, is refused; the holder stays in.
    let d = new_id();
    let m1 = login("m1", &d).unwrap();
    assert_eq!(login("m2", &d).err(), Some((409, "device_in_use".to_string())));
    assert_eq!(login("sup2", &d).err(), Some((409, "device_in_use".to_string())));
    assert_eq!(whoami(&m1), 200, "the holder is still signed in");
    // Signed out: free for the branch only.
    assert_eq!(m1.post_json("/api/v1/logout", &serde_json::json!({})).0, 204);
    assert_eq!(whoami(&m1), 401, "a signed-out token ends");
    assert_eq!(login("sup2", &d).err(), Some((409, "device_in_use".to_string())));
    let m2 = login("m2", &d).unwrap();
    assert_eq!(whoami(&m2), 200);

    // Released by a supervisor of the branch, not of another branch, not by a manager.
    let e = new_id();
    let m1 = login("m1", &e).unwrap();
    let sup2 = login("sup2", &new_id()).unwrap();
    let release = format!("/api/v1/devices/{e}/release");
    assert_eq!(sup2.post_json(&release, &serde_json::json!({})).0, 404);
    assert_eq!(m2.post_json(&release, &serde_json::json!({})).0, 403);
    assert_eq!(whoami(&m1), 200);
    let sup = login("sup", &new_id()).unwrap();
    assert_eq!(sup.post_json(&release, &serde_json::json!({})).0, 204);
    assert_eq!(whoami(&m1), 401, "a released device's token ends");
    assert_eq!(login("sup2", &e).err(), Some((409, "device_in_use".to_string())));
    let m2_on_e = login("m2", &e).unwrap();
    assert_eq!(whoami(&m2_on_e), 200);
}

#[test]
fn revocation_stays_in_its_branch_and_is_told_only_to_the_last_token() {
    let (server, branch) = TestServer::start();
    let url = server.url();
    let admin1 = add_user(&server, &branch.id, "admin1", "钱行长", accounts::Role::Admin);
    let admin2 = add_user(&server, &branch.other_branch, "admin2", "孙行长", accounts::Role::Admin);
    let login = |user: &str, device: &str| Client::login(&url, user, device, &new_actor()).unwrap();
    let whoami = |c: &Client| c.get("/api/v1/whoami").0;

    let d = new_id();
    let old = login("m1", &d);
    let m1 = login("m1", &d);
    assert_eq!(whoami(&old), 401, "one live token per device");
    let revoke =
        |by: &Client, device: &str| by.post_json(&format!("/api/v1/devices/{device}/revoke"), &serde_json::json!({})).0;

    // An admin of another branch cannot; a supervisor cannot touch an admin's device.
    let a2 = login("admin2", &new_id());
    assert_eq!(revoke(&a2, &d), 404);
    let a1_device = new_id();
    let a1 = login("admin1", &a1_device);
    let sup = login("sup", &new_id());
    assert_eq!(revoke(&sup, &a1_device), 404);
    let release_admin = format!("/api/v1/devices/{a1_device}/release");
    assert_eq!(sup.post_json(&release_admin, &serde_json::json!({})).0, 404, "nor release it");
    assert_eq!(whoami(&a1), 200, "the admin is still signed in");
    assert_eq!(whoami(&m1), 200);
    // A head-office admin can.
    server.write(|s| accounts::set_head_office(s, &admin2, true, now_ms(), &admin1)).unwrap();
    assert_eq!(revoke(&a2, &d), 204);

    // Only the device's own last token hears that it is revoked.
    let (status, body) = m1.get("/api/v1/whoami");
    assert_eq!((status, error_code(&body).as_str()), (410, "device_revoked"));
    let forged = m1.with_token(&format!("{}{}", new_id().replace('-', ""), new_id().replace('-', "")));
    let (status, body) = forged.get("/api/v1/whoami");
    assert_eq!((status, error_code(&body).as_str()), (401, "unauthenticated"), "a forged token");
    assert_eq!(whoami(&old), 401, "an earlier token of the device");
    let elsewhere = m1.on_device(&new_id());
    assert_eq!(whoami(&elsewhere), 401, "the last token from another device ID");
    // A revoked device cannot sign in again until it is released.
    assert_eq!(Client::login(&url, "m1", &d, &new_actor()).err(), Some((410, "device_revoked".to_string())));

    // An unknown username and a wrong password get the same answer.
    let wrong = |username: &str| {
        let body = serde_json::json!({ "username": username, "password": "not-the-password", "device_id": new_id() });
        let (status, body) = raw_login(&url, body.to_string().as_bytes());
        (status, error_code(&body))
    };
    assert_eq!(wrong("m2"), (401, "wrong_credentials".to_string()));
    assert_eq!(wrong("nobody-at-all"), wrong("m2"));
    let _ = (admin1, sup);
}

#[test]
fn a_manager_of_another_branch_cannot_fetch_this_branchs_photo() {
    let (server, branch) = TestServer::start();
    let url = server.url();
    add_user(&server, &branch.other_branch, "m3", "周经理", accounts::Role::Manager);
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &url, "m1");
    let customer = m1.store().create_customer(profile("张三"), now_ms()).unwrap();
    let photo: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let hash = m1.store().add_photo(&photo).unwrap();
    record_visit(&mut m1, &customer, VisitDetails { photos: vec![hash.clone()], ..Default::default() });
    assert_eq!(sync(&mut m1).unwrap().photos_uploaded, 1);
    let path = format!("/api/v1/photos/{hash}");
    assert_eq!(Client::of_device(&mut m1).get(&path), (200, photo), "the owner fetches it");

    // Making the other branch's manager the owner, over sync or by the endpoint, is refused...
    let sup_actor = new_actor();
    let sup = Client::login_new(&url, "sup", &sup_actor);
    let m3 = Client::login_new(&url, "m3", &new_actor());
    let bytes = server_bytes(&server, &customer);
    let owner = Owner { manager_id: Some(m3.user_id.clone()), manager_name: Some("周经理".into()) };
    let change = forge(&bytes, &customer, &sup_actor, &Action::assign(owner), (&sup.user_id, "张主任"), Role::Server);
    assert_eq!(refusal(&sup.push(&customer, change)), "unknown_owner");
    let (status, _) =
        sup.post_json(&format!("/api/v1/customers/{customer}/owner"), &serde_json::json!({ "manager_id": m3.user_id }));
    assert_eq!(status, 422);
    // ...and knowing the hash is not enough.
    assert_eq!(m3.get(&path).0, 404, "a manager of another branch");
    let sup2 = Client::login_new(&url, "sup2", &new_actor());
    assert_eq!(sup2.get(&path).0, 404, "a supervisor of another branch");
}

// ---------------------------------------------------------------------------------------------
// JSON bodies that fail to parse.
// ---------------------------------------------------------------------------------------------

#[test]
fn json_that_does_not_parse_gets_bad_json_without_the_value() {
    let (server, _branch) = TestServer::start();
    let url = server.url();
    const SECRET: &str = "13812345678-SECRET";
    for body in [
        format!(r#"{{"username":"{SECRET}","password":"{SECRET}""#),
        format!(r#"{{"username":["{SECRET}"],"password":"x","device_id":"d"}}"#),
        format!(r#"{{"username":"{SECRET}"}}"#),
        format!(r#"{{"username":"m1","password":"{SECRET}","device_id":"d","actor":{{"{SECRET}":1}}}}"#),
        SECRET.to_string(),
    ] {
        let (status, answer) = raw_login(&url, body.as_bytes());
        assert_eq!((status, error_code(&answer).as_str()), (400, "bad_json"), "{body}");
        assert!(!String::from_utf8_lossy(&answer).contains("SECRET"), "echoed: {}", String::from_utf8_lossy(&answer));
    }
    let sup = Client::login_new(&url, "sup", &new_actor());
    let customer = new_id();
    for (path, body) in [
        (format!("/api/v1/customers/{customer}/lifecycle"), format!(r#"{{"lifecycle":["{SECRET}"]}}"#)),
        (format!("/api/v1/customers/{customer}/owner"), format!(r#"{{"manager_id":{{"{SECRET}":0}}}}"#)),
        (format!("/api/v1/customers/{customer}/reviews/{}", new_id()), format!(r#"{{"decision":"{SECRET}""#)),
    ] {
        let (status, answer) = sup.post(&path, "application/json", body.as_bytes());
        assert_eq!((status, error_code(&answer).as_str()), (400, "bad_json"), "{path}");
        assert!(!String::from_utf8_lossy(&answer).contains("SECRET"), "echoed: {}", String::from_utf8_lossy(&answer));
    }
}

// ---------------------------------------------------------------------------------------------
// A tablet with one bad document stops syncing altogether.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_tablet_with_one_refused_document_syncs_the_rest() {
    let (server, _branch) = TestServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &url, "m1");
    let closed = m1.store().create_customer(profile("张三"), now_ms()).unwrap();
    let open = m1.store().create_customer(profile("李四"), now_ms()).unwrap();
    sync(&mut m1).unwrap();
    // The supervisor closes one customer while the tablet is offline and edits it.
    let sup = Client::login_new(&url, "sup", &new_actor());
    let (status, _) =
        sup.post_json(&format!("/api/v1/customers/{closed}/lifecycle"), &serde_json::json!({ "lifecycle": "closed" }));
    assert_eq!(status, 204);
    let mut profile = m1.store().customer_file(&closed).unwrap().profile;
    profile.occupation = "离线修改".into();
    m1.store().apply(&closed, &Action::UpdateProfile { profile }, now_ms()).unwrap();
    let visit = record_visit(&mut m1, &open, VisitDetails::default());

    // The refused document is set aside; the other one's visit reaches the server.
    let progress = sync(&mut m1).expect("the sync goes on past the refused document");
    assert_eq!(progress.quarantined, 1, "{progress:?}");
    assert!(server_file(&server, &open).visits.contains_key(&visit));
    assert_ne!(server_file(&server, &closed).profile.occupation, "离线修改");
    // And the tablet keeps syncing.
    let visit2 = record_visit(&mut m1, &open, VisitDetails::default());
    sync(&mut m1).unwrap();
    assert!(server_file(&server, &open).visits.contains_key(&visit2));
}

/// A reconciliation message whose Bloom filter has no bits (58 bytes, found by the colleagues'
/// fuzzing: `server/tests/fuzz_regressions.rs`), sent through HTTP for one's own customer. The
/// panic inside automerge is contained (the server keeps serving), but the request is answered
/// 500 `internal` instead of a per-document refusal in a 200 answer.
#[test]
fn a_reconcile_message_with_an_empty_bloom_filter_gets_a_per_document_answer() {
    const EMPTY_BLOOM_MESSAGE: [u8; 58] = [
        0x42, 0x01, 0xbf, 0xad, 0xcb, 0x0e, 0x96, 0x69, 0x07, 0xe3, 0xcb, 0x82, 0x95, 0x1d, 0x45, 0x3a, 0x86, 0x30,
        0x25, 0xa8, 0x5a, 0x24, 0x52, 0x2f, 0x1e, 0x49, 0x74, 0x67, 0x32, 0x7c, 0x32, 0xa0, 0x8c, 0xaf, 0x00, 0x01,
        0x00, 0x10, 0x01, 0x00, 0x00, 0x00, 0x42, 0xc4, 0xae, 0xb4, 0x9c, 0x1d, 0x22, 0xf7, 0xca, 0x59, 0xe1, 0x13,
        0x00, 0x02, 0x02, 0x84,
    ];
    let (server, _branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let customer = m1.store().create_customer(profile("张三"), now_ms()).unwrap();
    sync(&mut m1).unwrap();
    let before = server.documents_fingerprint();
    let attacker = Client::of_device(&mut m1);
    let request = SyncRequest {
        cursor: 1,
        reconcile: vec![SyncMessage { customer_id: customer.clone(), message: EMPTY_BLOOM_MESSAGE.to_vec() }],
        ..Default::default()
    };
    let (status, body) = attacker.post_sync(&protocol::encode(&request));
    // Whatever the answer, the server keeps serving and stores nothing.
    still_serving(&server, &mut m1);
    assert_eq!(server.documents_fingerprint(), before);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}
