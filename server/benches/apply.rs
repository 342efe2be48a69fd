//! In-process cost of the server's sync round trip for one tablet pushing a new customer with
//! four visits (the sync benchmark's "server apply" request), on a real SQLite store: what the
//! group-commit thread spends per request, without HTTP.
//!
//! Beside it, the part of that request no design that keeps automerge documents can skip: parsing
//! the pushed changes and applying them to a new document (automerge alone; no validation, no
//! store). The ratio of the two is how much of a request is ours.
//!
//! `cargo bench -p fieldsync-server --bench apply`

use criterion::{Criterion, criterion_group, criterion_main};
use fieldsync_core::document::CustomerDoc;
use fieldsync_core::domain::{Action, Ctx, CustomerKind, Profile, Role};
use fieldsync_core::sync::protocol::{DocChanges, SyncRequest};
use fieldsync_core::workload;
use fieldsync_server::accounts::{self, NewUser};
use fieldsync_server::store::Db;

/// The request of a device that pulled up to `cursor` and now pushes a new customer.
fn new_customer(manager: &str, actor: &automerge::ActorId, i: u64, cursor: u64) -> SyncRequest {
    let ctx = Ctx {
        user_id: manager.to_string(),
        user_name: "客户经理01".into(),
        role: Role::Manager,
        now: 1_753_056_000_000,
    };
    let id = fieldsync_core::ids::new_id();
    let profile = Profile::new(CustomerKind::Individual, format!("新客户{i}"), "基准村");
    let (mut doc, _) = CustomerDoc::create(actor, &Action::CreateCustomer { id: id.clone(), profile }, &ctx).unwrap();
    let mut rng = workload::SplitMix64::new(i);
    for _ in 0..4 {
        let visit_id = fieldsync_core::ids::new_id();
        let record = workload::recorded_visit(&mut rng, &visit_id, ctx.now - 7_200_000, 30.5, 114.3);
        doc.apply(&record, &ctx).unwrap();
    }
    SyncRequest {
        cursor,
        max_bytes: 64 * 1024,
        push: vec![DocChanges { customer_id: id, changes: doc.changes_since(&[]) }],
        ..Default::default()
    }
}

fn apply(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let actor = fieldsync_core::ids::new_actor();
    let (user, device) = db.with(|conn| {
        let b = accounts::create_branch(conn, "基准支行", 0, "bench").unwrap();
        let new = NewUser {
            branch_id: &b,
            outlet_id: None,
            username: "bench-m1",
            display_name: "客户经理01",
            role: accounts::Role::Manager,
            password: "bench-password",
        };
        let id = accounts::create_user(conn, &new, 0, "bench").unwrap();
        let user = accounts::user_by_id(conn, &id).unwrap().unwrap();
        accounts::register_device(conn, &user, "bench-device", &actor, 0).unwrap();
        let device = accounts::Device {
            id: "bench-device".into(),
            actors: vec![actor.clone()],
            clock_offset_ms: None,
            app_version: None,
        };
        (user, device)
    });
    let mut i = 0;
    c.bench_function("server: one tablet pushes a new customer with 4 visits (5 changes)", |b| {
        b.iter_batched(
            || {
                i += 1;
                let head: i64 =
                    db.with(|conn| conn.query_row("SELECT coalesce(max(seq), 0) FROM log", [], |r| r.get(0))).unwrap();
                fieldsync_core::sync::protocol::encode(&new_customer(&user.id, &actor, i, head.max(1) as u64))
            },
            |frame| {
                let decoded = fieldsync_server::sync::decode_request(&frame).unwrap();
                db.sync_blocking(&user, &device, decoded, 1_753_056_000_000).unwrap()
            },
            criterion::BatchSize::SmallInput,
        )
    });
}

/// automerge's own cost of the same push: the five changes parsed from their bytes and applied to
/// an empty document.
fn automerge_floor(c: &mut Criterion) {
    let actor = fieldsync_core::ids::new_actor();
    let request = new_customer("bench-m1", &actor, 1, 1);
    let bytes = request.push[0].changes.clone();
    c.bench_function("automerge alone: parse and apply the same 5 changes to a new document", |b| {
        b.iter(|| {
            // Splits the chunks and parses each with automerge (`Change::try_from`).
            let changes = fieldsync_core::document::parse_changes(&bytes).unwrap();
            let mut doc = automerge::AutoCommit::new();
            doc.apply_changes(changes).unwrap();
            doc
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50);
    targets = apply, automerge_floor
}
criterion_main!(benches);
